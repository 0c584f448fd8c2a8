"""The one interface both workload renderers implement (design invariant 3).

Tiers call `platform.deploy(spec, parent)` and never ask which platform they run on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import pulumi

from stacks.catalog import ServiceSpec

# Where secrets appear inside every container, on both platforms; the service reads
# <ENV>_FILE. On Kubernetes an in-memory volume the Vault Agent fills. On Docker (dev only)
# a per-container named volume the engine uploads the files into: on the host's disk, in
# plain text there (see components/docker/platform.py).
SECRETS_DIR = "/vault/secrets"


def secret_file(owner: str, name: str) -> str:
    """Path of one secret file inside a container: /vault/secrets/<owner>-<name>."""
    return f"{SECRETS_DIR}/{owner}-{name}"


def shared_secret_file(holder: str, owner: str, secret: str) -> str:
    """Where `holder` finds `owner`'s own secret it presents to `owner` (an API key)."""
    return secret_file(holder, f"{owner}-{secret}")


@dataclass
class DeployedService:
    """What a tier gets back for one service."""

    spec: ServiceSpec
    # The DNS name other services use to reach it.
    host: pulumi.Input[str]
    # Resources a dependent can wait on (workload, Service, managed database...).
    resources: list[pulumi.Resource] = field(default_factory=list)


class Platform(Protocol):
    def deploy(self, spec: ServiceSpec, parent: pulumi.Resource) -> DeployedService:
        """Render one catalog service as resources under `parent`."""
        ...


@dataclass(frozen=True)
class KubernetesVaultBinding:
    """What the Secrets component needs from a cluster to bind Vault's Kubernetes auth."""

    # API server URL and CA that Vault uses for TokenReview.
    host: pulumi.Input[str]
    ca_certificate: pulumi.Input[str]
    # Provider for in-cluster objects (the Vault Agent injector, its namespace).
    provider: pulumi.ProviderResource
    # Where each service runs and which ServiceAccount it uses.
    namespace_of: Callable[[ServiceSpec], str]
    service_account_of: Callable[[ServiceSpec], str]
    # Namespace for the injector (and anything else Vault-side in the cluster).
    vault_namespace: str


@dataclass(frozen=True)
class DockerVaultBinding:
    """What the Secrets component needs on a local Docker engine to run and reach Vault."""

    provider: pulumi.ProviderResource | None
    # The management network a dev Vault container joins.
    network_name: pulumi.Input[str]
    # The 127.0.0.1 port a dev Vault container publishes (derived from the stack name like
    # every published port of the stack); None: the port of `vaultAddress`.
    host_port: int | None = None


VaultTarget = KubernetesVaultBinding | DockerVaultBinding
