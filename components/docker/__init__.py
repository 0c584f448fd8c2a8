"""SutazAI on one local Docker engine: segmented networks and the Docker workload renderer.

`DockerInfrastructure` is what `stacks.composition.SutazAI` builds when
`sutazai:platform` is `docker`. It owns one network per segment (the data network is
internal: no route out), hands the Secrets component the management network for a dev
Vault, names the local image registry (images are built and loaded, never pushed) and
returns a `DockerPlatform` whose `deploy(spec, parent)` renders one catalog service.

Every name carries the Pulumi stack (via the component name, `sutazai-<stack>`), so `dev`
and any number of `dev-<owner>` stacks run side by side on one engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pulumi
import pulumi_docker as docker

from components.configs import observability
from components.docker import owners, rules
from components.docker.platform import (
    LABEL_PREFIX,
    DockerContext,
    DockerPlatform,
    DockerSecretSource,
)
from components.platform import DockerVaultBinding
from components.vault.server import VAULT_PORT, published_address
from stacks.catalog import Catalog, Segment
from stacks.config import StackConfig

if TYPE_CHECKING:
    from components.images import ServiceImages

__all__ = ["DockerInfrastructure", "DockerPlatform", "DockerSecretSource"]

# In-house images are tagged <registry>/sutazai/<service>:<imageTag> by ServiceImages;
# "localhost" keeps them local (localhost/sutazai/backend:dev) and never resolves to a
# public registry, so nothing is pushed or pulled by accident.
LOCAL_REGISTRY = "localhost"


class DockerInfrastructure(pulumi.ComponentResource):
    """Networks for the data / application / management segments on a local engine."""

    aws_provider = None  # nothing on AWS: images stay local

    def __init__(
        self,
        name: str,
        *,
        config: StackConfig,
        catalog: Catalog,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("sutazai:docker:DockerInfrastructure", name, None, opts)
        self._name = name
        self._config = config
        self._catalog = catalog
        self._stack = pulumi.get_stack()
        self.labels = {
            f"{LABEL_PREFIX}.project": pulumi.get_project(),
            f"{LABEL_PREFIX}.stack": self._stack,
            f"{LABEL_PREFIX}.environment": config.environment,
        }
        if config.is_ephemeral:
            # A local reaper can find an ephemeral stack's leftovers by these, as the AWS
            # sweeper does by tags.
            self.labels[f"{LABEL_PREFIX}.ephemeral-owner"] = config.ephemeral_owner
            self.labels[f"{LABEL_PREFIX}.expires-at"] = config.ephemeral_expires_at

        self.networks: dict[Segment, docker.Network] = {
            segment: docker.Network(
                f"{name}-{segment.value}",
                name=f"{name}-{segment.value}",
                driver="bridge",
                # The data segment has no way out: no gateway to the host or the internet.
                # Application needs egress (model pulls) and management publishes the dev
                # Vault's port to the host, so those two stay routable.
                internal=segment is Segment.DATA,
                labels=[
                    docker.NetworkLabelArgs(label=k, value=v)
                    for k, v in sorted(
                        {**self.labels, f"{LABEL_PREFIX}.segment": segment.value}.items()
                    )
                ],
                opts=pulumi.ResourceOptions(parent=self),
            )
            for segment in Segment
        }
        self._platform: DockerPlatform | None = None
        self.register_outputs({"networks": {s.value: n.name for s, n in self.networks.items()}})

    # --- what SutazAI asks of an infrastructure ------------------------------------------

    def vault_target(self) -> DockerVaultBinding:
        return DockerVaultBinding(
            provider=None,
            network_name=self.networks[Segment.MANAGEMENT].name,
            host_port=self._vault_host_port(),
        )

    def _vault_host_port(self) -> int:
        """The dev Vault's published port: vaultAddress's port (the dev stack's) plus this
        stack's offset, like every port the stack publishes."""
        base = urlparse(self._config.vault_address).port or VAULT_PORT
        return rules.stack_host_port(base, self._stack)

    def _log_receiver_port(self) -> int | None:
        """Where containers send their output, when the stack runs Alloy and Loki."""
        shipping = {observability.LOG_SHIPPER, observability.LOG_STORE} <= set(
            self._catalog.services
        )
        return rules.log_receiver_host_port(self._stack) if shipping else None

    def default_registry(self) -> str:
        return LOCAL_REGISTRY

    def platform(self, *, images: ServiceImages, secrets: DockerSecretSource) -> DockerPlatform:
        owner_image = owners.owner_image(self._name, self._catalog, LOCAL_REGISTRY, self)
        context = DockerContext(
            prefix=self._name,
            stack=self._stack,
            config=self._config,
            catalog=self._catalog,
            networks=self.networks,
            labels=self.labels,
            owner_image=owner_image,
            log_receiver_port=self._log_receiver_port(),
        )
        self._platform = DockerPlatform(context, images=images, secrets=secrets, parent=self)
        return self._platform

    def outputs(self) -> dict[str, pulumi.Input[object]]:
        """Where to reach the ingress services (127.0.0.1 only), and the network names."""
        ports = rules.ingress_host_ports(self._catalog, self._stack)
        urls = {
            spec.name: f"http://127.0.0.1:{ports[(spec.name, spec.primary_port.name)]}"
            for spec in self._catalog
            if spec.ingress
        }
        result: dict[str, pulumi.Input[object]] = {
            "urls": urls,
            "dockerNetworks": {s.value: n.name for s, n in self.networks.items()},
        }
        issuer = self._platform.issuer if self._platform is not None else None
        if issuer is not None:
            # Where a developer signs in: POST {"username": ...} returns a bearer token.
            result["devIssuer"] = f"http://127.0.0.1:{issuer.host_port}/login"
        if self._config.vault_mode == "container":
            # VAULT_ADDR for this stack's dev Vault (bootstrap, CLI).
            result["vaultAddress"] = published_address(
                self._config.vault_address, self._vault_host_port()
            )
        return result
