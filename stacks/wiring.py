"""How services find each other: addresses and connection env derived from the catalog graph.

Both renderers use this, so a Kubernetes pod and a Docker container of the same service get
the same variables; only the host names differ (a Service DNS name vs a container name).

References in env values:
- in a service's own `env` (and its `secret_env` / `secret_files`, filled by the Secrets
  component the same way): `${postgres.host}`, `${postgres.port}`, `${neo4j.port.bolt}`,
  and the peer's `connection` facts, `${redis.scheme}`, `${redis.tls}`;
- in a service's `client_env` (what its clients get): `${host}`, `${port}`, `${port.bolt}`,
  `${scheme}`.

Every reference resolves at what the client actually reaches: the pooler of a pooled
service, the managed endpoint of a service that runs managed in this stack (whose
`managed_in_prod.connection` facts replace the in-cluster ones: ElastiCache's `rediss`).
One code path, so a URL in a Vault-rendered env file and a plain env variable agree.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping

import pulumi

from stacks.catalog import ENV_REFERENCE as _REFERENCE
from stacks.catalog import SELF_REFERENCE as _SELF_REFERENCE
from stacks.catalog import Catalog, ServiceSpec

AddressOf = Callable[[str], pulumi.Input[str]]


def managed_services(catalog: Catalog, *, use_managed: bool) -> frozenset[str]:
    """The services that run as AWS managed services in a stack that uses them (prod, and a
    stack restoring a database snapshot: `StackConfig.uses_managed_data`)."""
    return frozenset(s.name for s in catalog if use_managed and s.managed_in_prod is not None)


def connection_facts(spec: ServiceSpec, managed: bool) -> dict[str, str]:
    """What clients know about reaching `spec`: its `connection`, with the managed service's
    facts where it runs managed."""
    facts = dict(spec.connection)
    if managed and spec.managed_in_prod is not None:
        facts.update(spec.managed_in_prod.connection)
    return facts


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
    template: str,
    catalog: Catalog,
    address_of: AddressOf,
    client: str,
    peer: str | None,
    managed: frozenset[str],
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
        elif what == "port":
            target = catalog[connect_to]
            # A named port of the logical service maps to the pooler's primary port.
            if port_name and connect_to == service:
                port = target.port(port_name)
            else:
                port = target.primary_port
            pieces.append(str(port.port))
        else:
            facts = connection_facts(catalog[connect_to], connect_to in managed)
            if what not in facts:
                raise ValueError(
                    f"{client}: env reference '{match.group(0)}': {connect_to} declares no "
                    f"connection fact {what!r}"
                )
            pieces.append(facts[what])
        position = match.end()
    pieces.append(template[position:])
    return pulumi.Output.concat(*pieces)


def fill_references(
    template: str,
    catalog: Catalog,
    address_of: AddressOf,
    client: str,
    managed: frozenset[str] = frozenset(),
) -> pulumi.Output[str]:
    """`${service.host}`, `${service.port[.name]}` and `${service.<fact>}` in `client`'s
    template, as `_fill` does for its env (pooled services resolve to their pooler, managed
    ones to their managed facts). Other `${...}` (Vault values) stay as they are."""
    return _fill(template, catalog, address_of, client, None, managed)


def service_env(
    spec: ServiceSpec,
    catalog: Catalog,
    address_of: AddressOf,
    managed: frozenset[str] = frozenset(),
) -> dict[str, pulumi.Output[str]]:
    """The full non-secret env of a service: its peers' client_env, then its own env.

    Peers it `talks_to` but lists in `unused_peers` give it nothing.

    `managed`: peers that run as AWS managed services in this stack (`managed_services`);
    references to them resolve to their managed `connection` facts (e.g. a TLS URL scheme).
    """
    env: dict[str, pulumi.Output[str]] = {}
    for peer in spec.connects_to:
        if peer not in catalog.services:
            continue
        for key, template in catalog[peer].client_env.items():
            env[key] = _fill(template, catalog, address_of, spec.name, peer, managed)
    for peer_map in spec.peer_maps:
        env[peer_map.env] = _peer_map(spec, catalog, address_of, peer_map.url)
    for key, template in spec.env.items():
        named = {m.group(1) for m in _REFERENCE.finditer(template)}
        if named - set(catalog.services):
            continue  # it points at a disabled service, like a dropped talks_to edge
        env[key] = _fill(template, catalog, address_of, spec.name, None, managed)
    return env


def _peer_map(
    spec: ServiceSpec, catalog: Catalog, address_of: AddressOf, url: str
) -> pulumi.Output[str]:
    urls: dict[str, pulumi.Output[str]] = {}
    for peer in spec.connects_to:
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
