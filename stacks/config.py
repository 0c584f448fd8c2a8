"""Typed stack configuration, validated before any resource is registered.

`StackConfig` is the one model of a stack file (`Pulumi.<stack>.yaml`, namespace `sutazai:`).
`load_stack_config()` reads every `sutazai:` key Pulumi hands the program, rejects unknown
keys, and raises one `ConfigError` listing each bad key, its value and what is allowed.
Components never read `pulumi.Config`; they receive this model (or parts of it).
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from ipaddress import IPv4Network
from typing import Annotated, Any, Literal, Self, get_origin

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from stacks.catalog import Resources, Tier
from stacks.errors import ConfigError, format_validation_error

NAMESPACE = "sutazai"
# Marks a template stack; `stacks.ephemeral create` drops it from the copies.
TEMPLATE_ONLY_KEY = f"{NAMESPACE}:templateOnly"

# EKS managed node group AMI types that ship the NVIDIA driver.
GPU_AMI_TYPES = ("AL2023_x86_64_NVIDIA", "BOTTLEROCKET_x86_64_NVIDIA", "AL2_x86_64_GPU")
CPU_AMI_TYPES = (
    "AL2023_x86_64_STANDARD",
    "AL2023_ARM_64_STANDARD",
    "BOTTLEROCKET_x86_64",
    "BOTTLEROCKET_ARM_64",
)

# ── stack names: headroom for every name derived from them ───────────────────────────────
# Physical names embed the stack name (sutazai-<stack>-...). The tightest ones, checked by
# the constraint check (stacks/constraints) on plans with the longest names allowed here:
# a stack with managed data (prod) names ElastiCache users sutazai-<stack>-data-redis-<client>
# within 40 characters, and an own cluster auto-names IAM roles
# sutazai-<stack>-cluster-cluster-autoscaler-<7> within 64. Ephemeral stacks (dev-<owner>)
# have neither (Docker, or namespaces on the shared cluster), so their limit is the owner's.
MAX_STACK_NAME_LENGTH = 18
EPHEMERAL_STACK_PREFIX = "dev-"
MAX_OWNER_LENGTH = 21
# Lowercase, since the names land in RDS, ElastiCache, DNS and Kubernetes names that are
# lowercase; no "--" (RDS and ElastiCache identifiers refuse two hyphens in a row).
STACK_NAME_PATTERN = re.compile(r"^[a-z](-?[a-z0-9])*$")
# An owner: 2-MAX_OWNER_LENGTH of the stack-name alphabet (the same single-hyphen rule).
OWNER_PATTERN = re.compile(rf"^(?=.{{2,{MAX_OWNER_LENGTH}}}$)[a-z](-?[a-z0-9])+$")
_OWNER = OWNER_PATTERN


class _Model(BaseModel):
    """Stack-file keys are camelCase, as Pulumi config keys usually are."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


class NetworkConfig(_Model):
    """The VPC and its segmented subnets (one subnet per availability zone per segment)."""

    vpc_cidr: IPv4Network = Field(
        default=IPv4Network("10.40.0.0/16"), description="VPC CIDR block."
    )
    availability_zones: Annotated[int, Field(ge=2, le=6)] = Field(
        default=3, description="How many availability zones the VPC spans."
    )
    public_subnets: list[IPv4Network] = Field(
        default=[IPv4Network(f"10.40.{i}.0/24") for i in range(3)],
        description="Public subnets, for internet-facing load balancers and NAT only.",
    )
    application_subnets: list[IPv4Network] = Field(
        default=[IPv4Network(f"10.40.{16 * (i + 1)}.0/20") for i in range(3)],
        description="Private subnets for the EKS nodes (application tier).",
    )
    data_subnets: list[IPv4Network] = Field(
        default=[IPv4Network(f"10.40.{64 + i}.0/24") for i in range(3)],
        description="Isolated subnets for RDS and ElastiCache: no route to the internet.",
    )
    management_subnets: list[IPv4Network] = Field(
        default=[IPv4Network(f"10.40.{80 + i}.0/24") for i in range(3)],
        description="Private subnets for monitoring, ingress and operations.",
    )

    @model_validator(mode="after")
    def _subnets_fit(self) -> Self:
        groups = {
            "publicSubnets": self.public_subnets,
            "applicationSubnets": self.application_subnets,
            "dataSubnets": self.data_subnets,
            "managementSubnets": self.management_subnets,
        }
        seen: list[tuple[str, IPv4Network]] = []
        for key, subnets in groups.items():
            if len(subnets) != self.availability_zones:
                raise ValueError(
                    f"at {key}: needs one subnet per availability zone "
                    f"({self.availability_zones}), got {len(subnets)}"
                )
            for index, subnet in enumerate(subnets):
                where = f"{key}[{index}]"
                if not subnet.subnet_of(self.vpc_cidr):
                    raise ValueError(f"at {where}: {subnet} is outside vpcCidr {self.vpc_cidr}")
                for other_where, other in seen:
                    if subnet.overlaps(other):
                        raise ValueError(f"at {where}: {subnet} overlaps {other_where} ({other})")
                seen.append((where, subnet))
        return self


class NodeGroupConfig(_Model):
    instance_types: Annotated[list[str], Field(min_length=1)] = Field(
        description="EC2 instance types, most preferred first."
    )
    min_size: Annotated[int, Field(ge=0)] = Field(description="Minimum node count.")
    max_size: Annotated[int, Field(ge=1)] = Field(description="Maximum node count.")
    desired_size: Annotated[int, Field(ge=0)] = Field(description="Initial node count.")
    ami_type: str = Field(description="EKS managed node group AMI type.")
    disk_size_gib: Annotated[int, Field(ge=20, le=2000)] = Field(
        default=50, description="Root volume size (GiB); GPU nodes hold model images."
    )

    @field_validator("ami_type")
    @classmethod
    def _known_ami(cls, value: str) -> str:
        if value not in GPU_AMI_TYPES + CPU_AMI_TYPES:
            allowed = ", ".join(CPU_AMI_TYPES + GPU_AMI_TYPES)
            raise ValueError(f"'{value}' is not an EKS AMI type; allowed: {allowed}")
        return value

    @model_validator(mode="after")
    def _sizes(self) -> Self:
        if not self.min_size <= self.desired_size <= self.max_size:
            raise ValueError(
                f"at desiredSize: needs minSize <= desiredSize <= maxSize, got "
                f"{self.min_size} <= {self.desired_size} <= {self.max_size}"
            )
        return self


class NodeGroupsConfig(_Model):
    general: NodeGroupConfig = Field(
        default=NodeGroupConfig(
            instance_types=["m6i.2xlarge", "m6a.2xlarge"],
            min_size=3,
            max_size=12,
            desired_size=4,
            ami_type="AL2023_x86_64_STANDARD",
            disk_size_gib=80,
        ),
        description="CPU node group for everything but LLM inference.",
    )
    gpu: NodeGroupConfig = Field(
        default=NodeGroupConfig(
            instance_types=["g5.2xlarge", "g6.2xlarge"],
            min_size=2,
            max_size=6,
            desired_size=2,
            ami_type="AL2023_x86_64_NVIDIA",
            disk_size_gib=200,
        ),
        description="GPU node group for Ollama (tainted nvidia.com/gpu=true:NoSchedule).",
    )

    @field_validator("gpu")
    @classmethod
    def _gpu_ami(cls, group: NodeGroupConfig) -> NodeGroupConfig:
        if group.ami_type not in GPU_AMI_TYPES:
            raise ValueError(
                f"at amiType: the GPU node group needs an NVIDIA AMI "
                f"({', '.join(GPU_AMI_TYPES)}), got '{group.ami_type}'"
            )
        return group

    @field_validator("general")
    @classmethod
    def _general_ami(cls, group: NodeGroupConfig) -> NodeGroupConfig:
        if group.ami_type in GPU_AMI_TYPES:
            raise ValueError(
                f"at amiType: the general node group takes a CPU AMI "
                f"({', '.join(CPU_AMI_TYPES)}), got '{group.ami_type}'"
            )
        return group


class ResourcesOverride(_Model):
    cpu: str | None = None
    memory: str | None = None
    cpu_limit: str | None = None
    memory_limit: str | None = None

    @model_validator(mode="after")
    def _quantities(self) -> Self:
        # Reuse the catalog's quantity rules by validating a full Resources with placeholders.
        Resources(
            cpu=self.cpu or "1",
            memory=self.memory or "1Mi",
            cpu_limit=self.cpu_limit or "1",
            memory_limit=self.memory_limit or "1Mi",
        )
        return self


class ServiceOverride(_Model):
    enabled: bool | None = Field(default=None, description="Deploy this service (default: yes).")
    replicas: Annotated[int, Field(ge=1, le=20)] | None = Field(
        default=None, description="Replica count (Kubernetes)."
    )
    resources: ResourcesOverride | None = Field(default=None, description="Requests and limits.")


_HTTPS_URL = r"^https://[^\s/]+(/[^\s]*)?$"


class IdentityProviderConfig(_Model):
    """Who signs users in: a Cognito user pool the program creates, or an external OIDC
    issuer. The ALB authenticates browser users with it; the backend verifies its tokens."""

    kind: Literal["cognito", "oidc", "local"] = Field(
        default="cognito",
        description="cognito: the program creates a user pool and app client; oidc: an "
        "external issuer described by the fields below; local: the Docker stack's own dev "
        "issuer (docker only; POST /login on its 127.0.0.1 port mints user tokens).",
    )
    issuer: Annotated[str, Field(pattern=f"({_HTTPS_URL})|^$")] = Field(
        default="", description="oidc: the issuer URL (the tokens' iss)."
    )
    authorization_endpoint: Annotated[str, Field(pattern=f"({_HTTPS_URL})|^$")] = Field(
        default="", description="oidc: the authorization endpoint the ALB redirects to."
    )
    token_endpoint: Annotated[str, Field(pattern=f"({_HTTPS_URL})|^$")] = Field(
        default="", description="oidc: the token endpoint."
    )
    user_info_endpoint: Annotated[str, Field(pattern=f"({_HTTPS_URL})|^$")] = Field(
        default="", description="oidc: the user info endpoint."
    )
    jwks_url: Annotated[str, Field(pattern=f"({_HTTPS_URL})|^$")] = Field(
        default="", description="oidc: the issuer's JWKS, which the backend verifies with."
    )
    audiences: list[Annotated[str, Field(min_length=1)]] = Field(
        default=[], description="oidc: the access tokens' aud values the backend accepts."
    )
    client_secret_name: Annotated[str, Field(pattern=r"^([a-z0-9][a-z0-9.-]{0,252})?$")] = Field(
        default="",
        description="oidc: the Kubernetes Secret (keys clientID, clientSecret) in the "
        "frontend's namespace the load balancer controller reads; created by the operator.",
    )

    @model_validator(mode="after")
    def _oidc_complete(self) -> Self:
        if self.kind == "oidc":
            required = (
                "issuer",
                "authorization_endpoint",
                "token_endpoint",
                "user_info_endpoint",
                "jwks_url",
                "client_secret_name",
            )
            missing = [to_camel(f) for f in required if not getattr(self, f)]
            if not self.audiences:
                missing.append("audiences")
            if missing:
                raise ValueError(f"an oidc identity provider needs {', '.join(missing)}")
        return self


class EdgeConfig(_Model):
    """The public edge: who may call (ALB + backend authentication), how often (WAF and
    backend limits), and its access logs."""

    authentication: Literal["required", "off"] = Field(
        default="required",
        description="off lets every caller in (no ALB authentication, the backend's "
        "AUTH_DISABLED); refused in prod.",
    )
    identity_provider: IdentityProviderConfig = Field(
        default=IdentityProviderConfig(), description="Cognito (created) or an external OIDC."
    )
    waf_rate_limit: Annotated[int, Field(ge=100, le=2_000_000_000)] = Field(
        default=2000,
        description="WAF: requests one client IP may make in 5 minutes before it is blocked.",
    )
    access_log_retention_days: Annotated[int, Field(ge=1, le=3650)] = Field(
        default=90, description="Days the ALB access logs are kept in their S3 bucket."
    )
    chat_rate_limit: Annotated[str, Field(pattern=r"^[1-9][0-9]*/(second|minute|hour|day)$")] = (
        Field(default="20/minute", description="Backend: chat requests per caller.")
    )
    api_rate_limit: Annotated[str, Field(pattern=r"^[1-9][0-9]*/(second|minute|hour|day)$")] = (
        Field(default="120/minute", description="Backend: API requests per caller.")
    )
    max_body_kib: Annotated[int, Field(ge=1, le=1024)] = Field(
        default=64, description="Backend: largest request body but uploads (KiB)."
    )
    max_upload_mib: Annotated[int, Field(ge=1, le=100)] = Field(
        default=10, description="Backend: largest upload (MiB)."
    )


class CiRunnerConfig(_Model):
    """GitHub Actions runners hosted in CodeBuild, in this stack's management subnets.

    The workflows that need the private EKS endpoint or Vault run there; see README (CI).
    """

    enabled: bool = Field(default=False, description="Create the in-VPC runner.")
    repository: Annotated[
        str, Field(pattern=r"^([A-Za-z0-9][A-Za-z0-9-]{0,38}/[A-Za-z0-9._-]{1,100})?$")
    ] = Field(default="", description="owner/name of the repository whose jobs it runs.")
    connection_arn: Annotated[
        str,
        Field(
            pattern=r"^(arn:aws[a-z-]*:(codeconnections|codestar-connections):[a-z0-9-]+:"
            r"[0-9]{12}:connection/[0-9a-f-]{36})?$"
        ),
    ] = Field(
        default="",
        description="The GitHub connection (bootstrap/ci output githubConnectionArn).",
    )
    workflows: list[Annotated[str, Field(pattern=r"^[A-Za-z0-9 ._-]{1,100}$")]] = Field(
        default=[], description="Names of the workflows whose jobs it may run."
    )
    compute_type: Literal[
        "BUILD_GENERAL1_SMALL", "BUILD_GENERAL1_MEDIUM", "BUILD_GENERAL1_LARGE"
    ] = Field(default="BUILD_GENERAL1_MEDIUM", description="CodeBuild compute size.")

    @model_validator(mode="after")
    def _complete_when_enabled(self) -> Self:
        if self.enabled:
            for key in ("repository", "connection_arn", "workflows"):
                if not getattr(self, key):
                    raise ValueError(f"at {to_camel(key)}: an enabled runner needs {key}")
        return self


class StackConfig(_Model):
    """Everything a stack file may set, under the `sutazai:` namespace."""

    platform: Literal["kubernetes", "docker"] = Field(
        default="kubernetes",
        description="Where services run: an EKS cluster or a local Docker engine.",
    )
    environment: Literal["prod", "dev"] = Field(
        default="dev",
        description="prod protects stateful resources and uses managed data services; "
        "dev is disposable.",
    )
    aws_region: Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")] = Field(
        default="us-east-1", description="AWS region (kubernetes platform)."
    )
    network: NetworkConfig = Field(default=NetworkConfig(), description="VPC and segment subnets.")
    cluster_version: Annotated[str, Field(pattern=r"^1\.[0-9]{2}$")] = Field(
        default="1.31", description="EKS Kubernetes version."
    )
    cluster_public_access_cidrs: list[IPv4Network] = Field(
        default=[],
        description="CIDRs allowed to reach the EKS API publicly; empty keeps it private.",
    )
    cluster_admin_role_arns: list[
        Annotated[str, Field(pattern=r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$")]
    ] = Field(
        default=[],
        description="IAM roles granted cluster admin through EKS access entries (e.g. the CI "
        "deploy role); the stack's creator is not an admin by default.",
    )
    node_groups: NodeGroupsConfig = Field(
        default=NodeGroupsConfig(), description="General and GPU managed node groups."
    )
    ci_runner: CiRunnerConfig = Field(
        default=CiRunnerConfig(),
        description="GitHub Actions runners in CodeBuild in the management subnets, for the "
        "workflows that need the private EKS endpoint or Vault.",
    )
    shared_cluster_stack: str = Field(
        default="",
        description="Ephemeral kubernetes stacks: the stack (org/project/stack) whose "
        "kubeconfig output is the shared dev cluster.",
    )
    services: dict[str, ServiceOverride] = Field(
        default={},
        description="Per-service overrides keyed by catalog name: enabled, replicas, resources.",
    )
    disabled_tiers: list[Tier] = Field(
        default=[],
        description="Tiers not deployed (data, core, vector, agent, platform, monitoring).",
    )
    vault_address: str = Field(
        default="http://127.0.0.1:8200", description="Vault server address the program configures."
    )
    vault_auth_method: Literal["token", "aws"] = Field(
        default="token", description="How the program logs in to Vault: VAULT_TOKEN or AWS IAM."
    )
    vault_mode: Literal["existing", "container"] = Field(
        default="existing",
        description="Use an existing Vault, or run one as a container (dev only).",
    )
    vault_cidrs: list[IPv4Network] = Field(
        default=[],
        description="Where the Vault servers live: they may reach the EKS API (443) and the "
        "data subnets (5432), and Vault clients may reach them (8200). Required in prod.",
    )
    vault_route_target: Annotated[str, Field(pattern=r"^((tgw|pcx)-[0-9a-f]{8,17})?$")] = Field(
        default="",
        description="Transit gateway (tgw-...) or VPC peering connection (pcx-...) the VPC's "
        "private route tables use to reach vaultCidrs. Required in prod.",
    )
    vault_bootstrapped: bool = Field(
        default=True,
        description="The Vault at vaultAddress is initialised and unsealed, so the program "
        "manages its mounts, policies and roles (and fails without credentials). Set false "
        "only for a fresh dev Vault container until its bootstrap.",
    )
    vault_injector: Literal["deploy", "existing"] = Field(
        default="deploy",
        description="Deploy the Vault Agent injector, or use one already in the cluster.",
    )
    image_registry: str = Field(
        default="",
        description="Registry for in-house images; empty creates ECR repositories (prod) "
        "or keeps images local (docker).",
    )
    image_tag: Annotated[str, Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")] = Field(
        default="0.1.0", description="Tag for in-house images (never 'latest')."
    )
    ollama_models: list[str] = Field(
        default=["llama3.1:8b"], description="Models preloaded into Ollama at start."
    )
    docker_host_gpu: bool = Field(
        default=False, description="Docker platform: the host has an NVIDIA GPU for Ollama."
    )
    domain: str = Field(
        default="sutazai.example.com",
        description="DNS name for the frontend; the API is api.<domain>.",
    )
    tls_certificate_arn: str = Field(
        default="", description="ACM certificate for the ingress load balancer (required in prod)."
    )
    edge: EdgeConfig = Field(
        default=EdgeConfig(),
        description="Public edge: identity provider, authentication switch (never off in "
        "prod), WAF rate limit, access-log retention, backend limits.",
    )
    ephemeral_owner: str = Field(
        default="",
        description="Ephemeral stacks: the developer who owns it (set by stacks.ephemeral).",
    )
    ephemeral_expires_at: str = Field(
        default="", description="Ephemeral stacks: UTC expiry, ISO 8601 (set by stacks.ephemeral)."
    )
    template_only: bool = Field(
        default=False,
        description="A template stack (k8s-dev) that `stacks.ephemeral create` copies and "
        "that is never deployed itself: `pulumi up` refuses it (previews still run). The "
        "copies drop this key.",
    )
    policy_enforcement: Literal["mandatory", "advisory"] = Field(
        default="advisory",
        description="How the policy pack checks this stack: mandatory uses "
        "policies/config/prod.json (every rule blocks), advisory uses policies/config/dev.json "
        "(non-root/read-only and plain-text secrets still block).",
    )

    @field_validator("image_tag")
    @classmethod
    def _no_latest(cls, value: str) -> str:
        if value == "latest":
            raise ValueError("in-house images are never tagged 'latest'; use a version or commit")
        return value

    @field_validator("cluster_public_access_cidrs", "vault_cidrs")
    @classmethod
    def _not_world(cls, cidrs: list[IPv4Network]) -> list[IPv4Network]:
        for cidr in cidrs:
            if cidr.prefixlen == 0:
                raise ValueError(f"{cidr} opens this to the world; list the actual CIDRs")
        return cidrs

    @field_validator("ephemeral_owner")
    @classmethod
    def _owner(cls, value: str) -> str:
        if value and not _OWNER.match(value):
            raise ValueError(
                f"an owner is 2-{MAX_OWNER_LENGTH} lowercase letters, digits and single '-', "
                "starting with a letter, not ending with '-'"
            )
        return value

    @field_validator("ephemeral_expires_at")
    @classmethod
    def _expiry(cls, value: str) -> str:
        if value:
            parse_expiry(value)
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        if bool(self.ephemeral_owner) != bool(self.ephemeral_expires_at):
            raise ValueError(
                "at ephemeralExpiresAt: ephemeral stacks set both ephemeralOwner "
                "and ephemeralExpiresAt"
            )
        edge = self.edge
        if (
            self.platform == "docker"
            and edge.authentication == "required"
            and edge.identity_provider.kind == "cognito"
        ):
            raise ValueError(
                "at edge.authentication: on docker there is no load balancer to sign users in "
                "with Cognito; set edge.identityProvider.kind to local (the stack's dev "
                "issuer) or to an oidc issuer the backend can reach"
            )
        if self.platform != "docker" and edge.identity_provider.kind == "local":
            raise ValueError(
                "at edge.identityProvider.kind: local (the dev issuer) runs on docker stacks "
                "only; kubernetes stacks use cognito or oidc"
            )
        if self.ci_runner.enabled and (
            self.platform != "kubernetes" or self.shared_cluster_stack or self.ephemeral_owner
        ):
            raise ValueError(
                "at ciRunner.enabled: a runner lives in the management subnets of a stack "
                "that has its own EKS network (not docker, shared-cluster or ephemeral stacks)"
            )
        if self.environment == "prod":
            if self.ephemeral_owner:
                raise ValueError("at ephemeralOwner: a prod stack is never ephemeral")
            if self.vault_mode == "container":
                raise ValueError("at vaultMode: prod uses an existing Vault, never a container")
            if self.platform != "kubernetes":
                raise ValueError("at platform: prod runs on kubernetes (EKS)")
            if not self.vault_cidrs:
                raise ValueError(
                    "at vaultCidrs: prod needs the Vault servers' CIDRs, so the network lets "
                    "Vault reach RDS and the EKS API and nothing else reach 8200"
                )
            if not self.vault_route_target:
                raise ValueError(
                    "at vaultRouteTarget: prod needs the transit gateway or peering connection "
                    "that routes the VPC to vaultCidrs (tgw-... or pcx-...)"
                )
            if not self.vault_bootstrapped:
                raise ValueError("at vaultBootstrapped: prod uses an initialised Vault")
            if self.edge.authentication != "required":
                raise ValueError(
                    "at edge.authentication: prod always authenticates its callers; "
                    "'off' exists only outside prod"
                )
            if self.policy_enforcement != "mandatory":
                raise ValueError("at policyEnforcement: prod enforces every policy (mandatory)")
        return self

    # --- derived ------------------------------------------------------------------------

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def is_ephemeral(self) -> bool:
        return bool(self.ephemeral_owner)

    def service_enabled(self, name: str, tier: Tier) -> bool:
        override = self.services.get(name)
        if override is not None and override.enabled is not None:
            return override.enabled
        return tier not in self.disabled_tiers


def parse_expiry(value: str) -> datetime:
    """An ISO 8601 timestamp with a timezone (Z or an offset), returned in UTC."""
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"'{value}' is not an ISO 8601 timestamp such as 2026-12-01T18:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"'{value}' has no timezone; add Z for UTC")
    return parsed.astimezone(UTC)


def _is_structured(annotation: object) -> bool:
    """Lists, dicts and nested models arrive JSON-encoded in Pulumi's config bag."""
    origin = get_origin(annotation)
    if origin in (list, dict):
        return True
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


# Keys whose values are structured (JSON-encoded by Pulumi in the config bag).
_STRUCTURED = {
    info.alias or name
    for name, info in StackConfig.model_fields.items()
    if _is_structured(info.annotation)
}


def parse_config_bag(bag: dict[str, Any]) -> StackConfig:
    """Validate a Pulumi config bag ({"sutazai:key": value-as-string}) into a StackConfig."""
    raw: dict[str, Any] = {}
    problems: list[str] = []
    for full_key, value in sorted(bag.items()):
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        if isinstance(value, str) and key in _STRUCTURED:
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                problems.append(f"{full_key}: not valid structured config ({exc.msg})")
                continue
        raw[key] = value
    if problems:
        raise ConfigError("stack configuration", problems)
    try:
        return StackConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            "stack configuration", format_validation_error(exc, StackConfig, f"{NAMESPACE}:")
        ) from None


def validate_stack_name(stack: str, config: StackConfig) -> None:
    """Refuse a stack name that would push a derived physical name past its API's limit.

    An ephemeral stack is exactly dev-<owner> (the owner within MAX_OWNER_LENGTH); any
    other stack name is at most MAX_STACK_NAME_LENGTH characters.
    """
    if config.is_ephemeral:
        expected = f"{EPHEMERAL_STACK_PREFIX}{config.ephemeral_owner}"
        if stack != expected:
            raise ConfigError(
                "stack configuration",
                [
                    f"stack name '{stack}': an ephemeral stack of owner "
                    f"'{config.ephemeral_owner}' is named '{expected}'"
                ],
            )
        return
    if len(stack) > MAX_STACK_NAME_LENGTH or not STACK_NAME_PATTERN.match(stack):
        raise ConfigError(
            "stack configuration",
            [
                f"stack name '{stack}': use at most {MAX_STACK_NAME_LENGTH} lowercase letters, "
                "digits and single '-', starting with a letter (every physical name embeds "
                "it; RDS, ElastiCache and IAM cap theirs)"
            ],
        )


def load_stack_config() -> StackConfig:
    """The running stack's config, from what the Pulumi engine passed to this program."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    bag: dict[str, Any] = dict(runtime_config.get_config_env())
    bag.update(runtime_config.CONFIG.get())
    config = parse_config_bag(bag)
    validate_stack_name(pulumi.get_stack(), config)
    if config.template_only and not pulumi.runtime.is_dry_run():
        raise ConfigError(
            "stack configuration",
            [
                f"{TEMPLATE_ONLY_KEY}: stack '{pulumi.get_stack()}' is a template that is "
                "never deployed itself; create a copy (python -m stacks.ephemeral create "
                f"--from {pulumi.get_stack()}) and deploy that"
            ],
        )
    return config
