"""Config files generated from the catalog, the same for every platform.

Both renderers mount, read-only, exactly `config_files(spec, catalog, addressing)`: the
catalog's own `config_files` plus what is generated here, so a Prometheus, a PgBouncer or a
Grafana container gets the same configuration on EKS (a ConfigMap) and on the local Docker
engine (uploads). Only `Addressing` differs: how services are named, and where logs come from.

- `observability`: Prometheus (scrape targets and alert rules from the graph), Alertmanager,
  Loki, Alloy, the OpenTelemetry collector, Grafana data sources;
- `poolers`: PgBouncer's pgbouncer.ini for the server it pools.
"""

from __future__ import annotations

import pulumi

from components.configs import observability, poolers
from components.configs.addressing import Addressing
from stacks.catalog import Catalog, ServiceSpec

__all__ = ["Addressing", "config_files", "generated_config_files", "observability", "poolers"]


def generated_config_files(
    spec: ServiceSpec, catalog: Catalog, addressing: Addressing
) -> dict[str, pulumi.Input[str]]:
    """The generated files (path -> content) a service needs; {} for most services."""
    generated: dict[str, pulumi.Input[str]] = {}
    generated.update(observability.generated_config_files(spec, catalog, addressing))
    generated.update(poolers.pooler_config_files(spec, catalog, addressing))
    return generated


def config_files(
    spec: ServiceSpec, catalog: Catalog, addressing: Addressing
) -> dict[str, pulumi.Input[str]]:
    """Every read-only file of a service: the catalog's `config_files` and the generated
    ones. A path both define is a catalog error (the generator owns it)."""
    generated = generated_config_files(spec, catalog, addressing)
    clash = sorted(set(spec.config_files) & set(generated))
    if clash:
        raise ValueError(
            f"services.{spec.name}.config_files: {clash} are generated from the catalog"
        )
    return {**spec.config_files, **generated}
