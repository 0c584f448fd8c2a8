"""The one interface both workload renderers implement (design invariant 3).

Tiers call `platform.deploy(spec, parent)` and never ask which platform they run on.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import pulumi

from stacks.catalog import Catalog, ServiceSpec
from stacks.config import StackConfig

# Where secrets appear inside every container, on both platforms; the service reads
# <ENV>_FILE. On Kubernetes an in-memory volume the Vault Agent fills. On Docker (dev only)
# a per-container named volume the engine uploads the files into: on the host's disk, in
# plain text there (see components/docker/platform.py).
SECRETS_DIR = "/vault/secrets"


# The service that tells people about alerts. It holds the receivers' secrets (Slack webhook
# URLs, PagerDuty routing keys), which only an operator can provide: written to Vault at
# <kv mount>/alertmanager/receiver-<name>, never generated or stored by the program.
ALERT_ROUTER = "alertmanager"


def alert_receiver_secret(receiver: str) -> str:
    """The Vault name (under the alert router's path) and file name of a receiver's secret."""
    return f"receiver-{receiver}"


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
    # Whether a service has pods (and so its ServiceAccount) in the cluster: a managed
    # service (ElastiCache) has none, and a Vault role bound to it would bind nothing.
    runs_in_cluster: Callable[[ServiceSpec], bool] = field(default=lambda _spec: True)


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


def serves_browser(catalog: Catalog, spec: ServiceSpec) -> bool:
    """An ingress service no other ingress service calls is a browser UI (the frontend);
    the one they call is the bearer-token API (the same split as `ingress_hosts`)."""
    return spec.ingress and not is_api(catalog, spec)


def is_api(catalog: Catalog, spec: ServiceSpec) -> bool:
    """The public API: an ingress service that another ingress service calls (the backend)."""
    return spec.ingress and any(s.ingress and spec.name in s.talks_to for s in catalog)


def workload_token_apis(catalog: Catalog, spec: ServiceSpec) -> list[ServiceSpec]:
    """The API services `spec` calls with a workload token of its own: every API it talks
    to, unless it is a UI itself (a UI forwards its users' tokens). Both renderers give it
    one token file per API (`token_file_variable` points at it)."""
    if spec.ingress:
        return []
    return [api for api in catalog if is_api(catalog, api) and api.name in spec.talks_to]


def token_file_variable(api: ServiceSpec) -> str:
    """The env variable naming a caller's token file for `api`, e.g. BACKEND_TOKEN_FILE."""
    return api.name.upper().replace("-", "_") + "_TOKEN_FILE"


def edge_env(
    config: StackConfig, issuers: Sequence[pulumi.Input[dict[str, object]]]
) -> dict[str, pulumi.Input[str]]:
    """The backend's edge settings: trusted issuers (AUTH_ISSUERS), limits, body caps.
    Authentication off (never in prod) is AUTH_DISABLED; no issuer is no entry at all."""
    edge = config.edge
    env: dict[str, pulumi.Input[str]] = {
        "SUTAZAI_ENVIRONMENT": config.environment,
        "RATE_LIMIT_CHAT": edge.chat_rate_limit,
        "RATE_LIMIT_API": edge.api_rate_limit,
        "MAX_BODY_BYTES": str(edge.max_body_kib * 1024),
        "MAX_UPLOAD_BYTES": str(edge.max_upload_mib * 1024 * 1024),
    }
    if edge.authentication == "off":
        env["AUTH_DISABLED"] = "true"
    env["AUTH_ISSUERS"] = pulumi.Output.all(*issuers).apply(
        lambda entries: json.dumps(list(entries), sort_keys=True)
    )
    return env


def oidc_issuers(config: StackConfig) -> list[pulumi.Input[dict[str, object]]]:
    """The AUTH_ISSUERS entry of an external OIDC issuer from config (none for Cognito, whose
    pool the Kubernetes edge creates, or with authentication off)."""
    idp = config.edge.identity_provider
    if config.edge.authentication == "off" or idp.kind != "oidc":
        # cognito: the Kubernetes edge's pool; local: the Docker stack's dev issuer.
        return []
    entry: dict[str, object] = {
        "kind": "oidc",
        "issuer": idp.issuer,
        "jwks_url": idp.jwks_url,
        "audiences": list(idp.audiences),
    }
    return [entry]
