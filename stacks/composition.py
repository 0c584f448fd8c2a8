"""The top-level composition: config and catalog in, one `SutazAI` component out."""

from __future__ import annotations

import pulumi

from components.tiers import TIER_COMPONENTS
from stacks.catalog import Catalog
from stacks.config import StackConfig, catalog_problems
from stacks.errors import ConfigError


def effective_catalog(catalog: Catalog, config: StackConfig) -> Catalog:
    """The catalog this stack deploys: overrides applied, disabled services removed."""
    problems = catalog_problems(config, catalog)
    if problems:  # load_stack_config refused these already; a direct caller gets them here
        raise ConfigError("stack configuration", problems)
    result = catalog
    for name, override in config.services.items():
        spec = catalog[name]
        update: dict[str, object] = {}
        if override.replicas is not None:
            update["replicas"] = override.replicas
        if override.resources is not None:
            changes = override.resources.model_dump(exclude_none=True)
            update["resources"] = spec.resources.model_copy(update=changes)
        if update:
            result = result.with_service(spec.model_copy(update=update))
    disabled = {s.name for s in result if not config.service_enabled(s.name, s.tier)}
    return result.without(disabled)


def tag_set(config: StackConfig) -> dict[str, str]:
    """Tags on every AWS resource; the orphan sweeper finds ephemeral leftovers by them."""
    tags = {
        "sutazai:project": pulumi.get_project(),
        "sutazai:stack": pulumi.get_stack(),
        "sutazai:environment": config.environment,
        "managed-by": "pulumi",
    }
    if config.is_ephemeral:
        tags["sutazai:ephemeral-owner"] = config.ephemeral_owner
        tags["sutazai:expires-at"] = config.ephemeral_expires_at
    return tags


class SutazAI(pulumi.ComponentResource):
    """The whole platform for one stack.

    Order: infrastructure (network + cluster, or the local Docker networks), then Vault
    secrets (they bind to the cluster's ServiceAccounts), then images, then the tiers.
    """

    def __init__(
        self,
        name: str,
        config: StackConfig,
        catalog: Catalog,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("sutazai:index:SutazAI", name, None, opts)
        self.config = config
        self.catalog = effective_catalog(catalog, config)
        child = pulumi.ResourceOptions(parent=self)

        if config.platform == "kubernetes":
            from components.kubernetes import KubernetesInfrastructure

            infrastructure = KubernetesInfrastructure(
                f"{name}", config=config, catalog=self.catalog, tags=tag_set(config), opts=child
            )
        else:
            from components.docker import DockerInfrastructure

            infrastructure = DockerInfrastructure(
                f"{name}", config=config, catalog=self.catalog, opts=child
            )
        self.infrastructure = infrastructure

        from components.images import ImagesArgs, ServiceImages
        from components.secrets import Secrets

        self.secrets = Secrets(
            f"{name}-secrets",
            config=config,
            catalog=self.catalog,
            target=infrastructure.vault_target(),
            opts=child,
        )
        self.images = ServiceImages(
            f"{name}-images",
            ImagesArgs(
                catalog=self.catalog,
                tag=config.image_tag,
                registry=config.image_registry or infrastructure.default_registry(),
                push=config.platform == "kubernetes",
                protect=config.is_prod,
                aws_provider=infrastructure.aws_provider,
            ),
            opts=child,
        )

        platform = infrastructure.platform(images=self.images, secrets=self.secrets)
        self.tiers = {
            tier: component(f"{name}-{tier.value}", self.catalog.tier(tier), platform, opts=child)
            for tier, component in TIER_COMPONENTS.items()
            if self.catalog.tier(tier)
        }
        self.outputs: dict[str, pulumi.Input[object]] = {
            "services": sorted(self.catalog.services),
            **infrastructure.outputs(),
        }
        self.register_outputs(self.outputs)
