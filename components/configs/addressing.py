"""How generated config files address services on one platform (the renderer decides)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pulumi

from components.configs.alertmanager import AlertDelivery
from stacks.catalog import ServiceSpec


@dataclass(frozen=True)
class Addressing:
    """What a config generator may ask of the platform it renders for."""

    # The name clients use for a workload (Service DNS name, container name).
    host: Callable[[ServiceSpec], str]
    # A name that resolves to every replica (headless Service) for per-pod scraping, or None
    # to scrape `host` statically.
    every_replica: Callable[[ServiceSpec], str] | None = None
    # Kubernetes: the namespaces whose pod logs Alloy reads through the API.
    log_namespaces: Sequence[str] = ()
    # Docker: the UDP port inside the Alloy container that the engine's gelf log driver
    # pushes container output to. None (and no namespaces): Alloy collects nothing.
    gelf_port: int | None = None
    # External label that tells stacks apart in shared dashboards.
    stack_label: str = "sutazai"
    # Where a service is actually reached, by name: a managed endpoint (RDS) may be an Output.
    # None: `host` of its spec.
    address_of: Callable[[str], pulumi.Input[str]] | None = None
    # Services that run as AWS managed services in this stack (their servers speak TLS).
    managed: frozenset[str] = field(default_factory=frozenset)
    # Where Alertmanager sends alerts (the stack's receivers, the SNS topic it created).
    alert_delivery: AlertDelivery = field(default_factory=AlertDelivery)
