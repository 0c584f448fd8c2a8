"""How services find each other: addresses and connection env derived from the catalog graph.

Both renderers use this, so a Kubernetes pod and a Docker container of the same service get
the same variables; only the host names differ (a Service DNS name vs a container name).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

import pulumi

from stacks.catalog import Catalog, ServiceSpec

# ${service.host}, ${service.port}, ${service.port.<name>}; in client_env: ${host}, ${port}
_REFERENCE = re.compile(r"\$\{([a-z0-9-]+)\.(host|port)(?:\.([a-z0-9-]+))?\}")
_SELF_REFERENCE = re.compile(r"\$\{(host|port)\}")

AddressOf = Callable[[str], pulumi.Input[str]]


def reachable_as(catalog: Catalog, target: str) -> str:
    """The service a client actually connects to for `target` (its pooler, when pooled)."""
    spec = catalog[target]
    if spec.pooled_by and spec.pooled_by in catalog.services:
        return spec.pooled_by
    return target


def _fill(
    template: str, catalog: Catalog, address_of: AddressOf, default_target: str | None
) -> pulumi.Output[str]:
    """Substitute service references in one env value."""
    pieces: list[pulumi.Input[str]] = []
    position = 0
    pattern = _REFERENCE if default_target is None else _SELF_REFERENCE
    for match in pattern.finditer(template):
        pieces.append(template[position : match.start()])
        if default_target is None:
            service, what, port_name = match.group(1), match.group(2), match.group(3)
        else:
            service, what, port_name = default_target, match.group(1), None
        if service not in catalog.services:
            raise ValueError(f"env reference '{match.group(0)}' names no enabled service")
        connect_to = reachable_as(catalog, service)
        if what == "host":
            pieces.append(address_of(connect_to))
        else:
            spec = catalog[connect_to]
            port = spec.port(port_name) if port_name else spec.primary_port
            pieces.append(str(port.port))
        position = match.end()
    pieces.append(template[position:])
    return pulumi.Output.concat(*pieces)


def service_env(
    spec: ServiceSpec, catalog: Catalog, address_of: AddressOf
) -> dict[str, pulumi.Output[str]]:
    """The full non-secret env of a service: peers' client_env, then its own env."""
    env: dict[str, pulumi.Output[str]] = {}
    for peer in spec.talks_to:
        if peer not in catalog.services:
            continue
        for key, template in catalog[peer].client_env.items():
            env[key] = _fill(template, catalog, address_of, default_target=peer)
    for key, template in spec.env.items():
        env[key] = _fill(template, catalog, address_of, default_target=None)
    return env


def references_in(values: Mapping[str, str]) -> set[str]:
    """Services named by ${service.*} references (for validation and tests)."""
    return {m.group(1) for v in values.values() for m in _REFERENCE.finditer(v)}
