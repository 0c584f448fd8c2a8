"""The service tiers: one ComponentResource per tier, each deploying its catalog services.

A tier knows nothing about the platform: it hands each `ServiceSpec` to `platform.deploy`.
"""

from __future__ import annotations

from typing import ClassVar

import pulumi

from components.platform import DeployedService, Platform
from stacks.catalog import ServiceSpec, Tier


class ServiceTier(pulumi.ComponentResource):
    tier: ClassVar[Tier]
    services: dict[str, DeployedService]

    def __init__(
        self,
        name: str,
        specs: list[ServiceSpec],
        platform: Platform,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__(f"sutazai:tiers:{type(self).__name__}", name, None, opts)
        wrong = [s.name for s in specs if s.tier != self.tier]
        if wrong:
            raise ValueError(f"{type(self).__name__} got services of another tier: {wrong}")
        self.services = {spec.name: platform.deploy(spec, parent=self) for spec in specs}
        self.register_outputs({"services": sorted(self.services)})


class DataTier(ServiceTier):
    """PostgreSQL (+PgBouncer), Redis, Neo4j."""

    tier = Tier.DATA


class CoreTier(ServiceTier):
    """Backend API, frontend, Ollama."""

    tier = Tier.CORE


class VectorTier(ServiceTier):
    """Qdrant, ChromaDB, FAISS."""

    tier = Tier.VECTOR


class AgentTier(ServiceTier):
    """AutoGPT, CrewAI, Letta, AgentGPT, Dify, LangFlow."""

    tier = Tier.AGENT


class PlatformServicesTier(ServiceTier):
    """MCP server, service hub, health monitor."""

    tier = Tier.PLATFORM


class MonitoringTier(ServiceTier):
    """Prometheus, Alertmanager, Grafana, Loki, Alloy, OpenTelemetry collector, Jaeger."""

    tier = Tier.MONITORING


TIER_COMPONENTS: dict[Tier, type[ServiceTier]] = {
    cls.tier: cls
    for cls in (DataTier, CoreTier, VectorTier, AgentTier, PlatformServicesTier, MonitoringTier)
}
