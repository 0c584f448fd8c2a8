"""How services find each other: addresses and connection env derived from the catalog graph.

Both renderers use this, so a Kubernetes pod and a Docker container of the same service get
the same variables; only the host names differ (a Service DNS name vs a container name).

References in env values:
- in a service's own `env`: `${postgres.host}`, `${postgres.port}`, `${neo4j.port.bolt}`;
- in a service's `client_env` (what its clients get): `${host}`, `${port}`, `${port.bolt}`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping

import pulumi

from stacks.catalog import ENV_REFERENCE as _REFERENCE
from stacks.catalog import Catalog, ServiceSpec

_SELF_REFERENCE = re.compile(r"\$\{(host|port)(?:\.([a-z0-9-]+))?\}")

AddressOf = Callable[[str], pulumi.Input[str]]


def reachable_as(catalog: Catalog, target: str, client: str | None = None) -> str:
    """The service `client` actually connects to for `target`: its pooler, when pooled.

    The pooler itself (and anything the catalog no longer holds) connects directly.
    """
    spec = catalog[target]
    pooler = spec.pooled_by
    if pooler and pooler in catalog.services and pooler != client:
        return pooler
    return target


def _fill(
    template: str, catalog: Catalog, address_of: AddressOf, client: str, peer: str | None
) -> pulumi.Output[str]:
    """Substitute service references in one env value (peer: the client_env's owner)."""
    pieces: list[pulumi.Input[str]] = []
    position = 0
    pattern = _REFERENCE if peer is None else _SELF_REFERENCE
    for match in pattern.finditer(template):
        pieces.append(template[position : match.start()])
        if peer is None:
            service, what, port_name = match.group(1), match.group(2), match.group(3)
        else:
            service, what, port_name = peer, match.group(1), match.group(2)
        if service not in catalog.services:
            raise ValueError(f"{client}: env reference '{match.group(0)}' names no enabled service")
        connect_to = reachable_as(catalog, service, client)
        if what == "host":
            pieces.append(address_of(connect_to))
        else:
            target = catalog[connect_to]
            # A named port of the logical service maps to the pooler's primary port.
            if port_name and connect_to == service:
                port = target.port(port_name)
            else:
                port = target.primary_port
            pieces.append(str(port.port))
        position = match.end()
    pieces.append(template[position:])
    return pulumi.Output.concat(*pieces)


def fill_references(
    template: str, catalog: Catalog, address_of: AddressOf, client: str
) -> pulumi.Output[str]:
    """`${service.host}` / `${service.port[.name]}` in `client`'s template, as `_fill` does
    for its env (pooled services resolve to their pooler). Other `${...}` stay as they are."""
    return _fill(template, catalog, address_of, client, None)


def service_env(
    spec: ServiceSpec,
    catalog: Catalog,
    address_of: AddressOf,
    managed: frozenset[str] = frozenset(),
) -> dict[str, pulumi.Output[str]]:
    """The full non-secret env of a service: its peers' client_env, then its own env.

    `managed`: peers that run as AWS managed services in this stack; their
    `managed_in_prod.client_env` entries (e.g. a TLS URL) replace the in-cluster ones.
    """
    env: dict[str, pulumi.Output[str]] = {}
    for peer in spec.talks_to:
        if peer not in catalog.services:
            continue
        peer_spec = catalog[peer]
        templates = dict(peer_spec.client_env)
        if peer in managed and peer_spec.managed_in_prod is not None:
            templates.update(peer_spec.managed_in_prod.client_env)
        for key, template in templates.items():
            env[key] = _fill(template, catalog, address_of, spec.name, peer)
    for peer_map in spec.peer_maps:
        env[peer_map.env] = _peer_map(spec, catalog, address_of, peer_map.url)
    for key, template in spec.env.items():
        named = {m.group(1) for m in _REFERENCE.finditer(template)}
        if named - set(catalog.services):
            continue  # it points at a disabled service, like a dropped talks_to edge
        env[key] = _fill(template, catalog, address_of, spec.name, None)
    return env


def _peer_map(
    spec: ServiceSpec, catalog: Catalog, address_of: AddressOf, url: str
) -> pulumi.Output[str]:
    urls: dict[str, pulumi.Output[str]] = {}
    for peer in spec.talks_to:
        if peer not in catalog.services:
            continue
        target = catalog[peer]
        probe = target.health.liveness
        if url == "health":
            if probe.http is None or probe.port is None:
                continue  # nothing to poll over HTTP (tcp/exec probes)
            port, path = target.port(probe.port).port, probe.http
        else:
            port, path = target.primary_port.port, ""
        urls[peer] = pulumi.Output.concat("http://", address_of(peer), f":{port}{path}")
    return pulumi.Output.all(**urls).apply(lambda resolved: json.dumps(resolved, sort_keys=True))


def references_in(values: Mapping[str, str]) -> set[str]:
    """Services named by ${service.*} references (for validation and tests)."""
    return {m.group(1) for v in values.values() for m in _REFERENCE.finditer(v)}
