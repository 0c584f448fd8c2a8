"""Typed stack configuration, validated before any resource is registered.

`StackConfig` is the one model of a stack file (`Pulumi.<stack>.yaml`, namespace `sutazai:`).
`load_stack_config(catalog)` reads every key Pulumi hands the program, rejects unknown keys
and other namespaces, validates the model, then runs `catalog_problems()` (the checks that
need the catalog too), and raises one `ConfigError` listing each bad key, its value and
what is allowed. Every check that needs only the config and the catalog lives here, so it
runs before the program registers anything; components never re-check the config, and
never read `pulumi.Config` (they receive this model, or parts of it).
"""

from __future__ import annotations

import difflib
import json
import re
from datetime import UTC, datetime
from ipaddress import IPv4Network, ip_address
from typing import TYPE_CHECKING, Annotated, Any, Literal, Self, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from stacks.catalog import Tier, cpu_quantity, memory_quantity, resources_problems
from stacks.errors import ConfigError, format_validation_error

if TYPE_CHECKING:
    from stacks.catalog import Catalog

NAMESPACE = "sutazai"
# Marks a template stack; `stacks.ephemeral create` drops it from the copies.
TEMPLATE_ONLY_KEY = f"{NAMESPACE}:templateOnly"

# EKS Kubernetes versions this program supports: each has a cluster-autoscaler build pinned in
# components/kubernetes/autoscaler.py (a test keeps the two lists equal).
EksVersion = Literal["1.30", "1.31", "1.32"]
EKS_VERSIONS: tuple[str, ...] = get_args(EksVersion)
# EKS service quota: nodes per managed node group.
EKS_MAX_NODES_PER_GROUP = 450
# In-house image tags get "-<12 hex>" appended (components/images.py); Docker tags are <= 128.
IMAGE_TAG_MAX_LENGTH = 128 - 13

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
# x86_64 EC2 families with NVIDIA GPUs that the NVIDIA EKS AMIs drive (g4ad is AMD, g5g is
# Arm, inf/trn are not GPUs).
GPU_INSTANCE_FAMILIES = (
    "g4dn", "g5", "g6", "g6e", "gr6", "p3", "p3dn", "p4d", "p4de", "p5", "p5e", "p5en",
)  # fmt: skip
_INSTANCE_TYPE = re.compile(r"^([a-z][a-z0-9-]*)\.([0-9]*[a-z0-9]+)$")
# Graviton (Arm) families carry a "g" right after the generation digit: m7g, c6gn, t4g, g5g.
_ARM_FAMILY = re.compile(r"^[a-z]+[0-9]+g")
_DNS_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")
_ACM_ARN = re.compile(
    r"^arn:(aws|aws-cn|aws-us-gov):acm:([a-z0-9-]+):([0-9]{12}):certificate/"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$"
)
_REGISTRY_PATH = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")
# Ollama model references: [host[:port]/][namespace/]model[:tag].
_OLLAMA_MODEL = re.compile(
    r"^(?:[a-z0-9][a-z0-9.-]{0,252}(?::[0-9]{1,5})?/)?"
    r"(?:[A-Za-z0-9][A-Za-z0-9_-]{0,79}/)?"
    r"[A-Za-z0-9][A-Za-z0-9._-]{0,79}"
    r"(?::[A-Za-z0-9][A-Za-z0-9._-]{0,79})?$"
)
_SHARED_STACK = re.compile(
    r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$"
)


def _pulumi_bool(value: object) -> object:
    """Pulumi hands booleans over as "true"/"false"; nothing else ("yes", "1", 1) is one."""
    if isinstance(value, str) and value in ("true", "false"):
        return value == "true"
    return value


# A top-level boolean key: a bool, or Pulumi's "true"/"false" string, and nothing else.
PulumiBool = Annotated[StrictBool, BeforeValidator(_pulumi_bool)]


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def model_slug(model: str) -> str:
    """The resource-name form of an Ollama model: llama3.1:8b -> llama3-1-8b."""
    return re.sub(r"[^a-z0-9]+", "-", model.lower()).strip("-")


def dns_name_problem(name: str, room: int = 253) -> str | None:
    """Why `name` is no RFC 1123 DNS name (lowercase labels of 1-63 characters), or None."""
    if not name:
        return "is empty"
    if len(name) > room:
        return f"is {len(name)} characters long; at most {room}"
    labels = name.split(".")
    for label in labels:
        if not _DNS_LABEL.fullmatch(label):
            return (
                f"has the label {label!r}: labels are 1-63 lowercase letters, digits or '-', "
                "starting and ending with a letter or digit"
            )
    if len(labels) > 1 and labels[-1].isdigit():
        return "is an IP address or ends in a numeric label; use a DNS name"
    return None


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
    availability_zones: Annotated[StrictInt, Field(ge=2, le=6)] = Field(
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
    instance_types: Annotated[list[str], Field(min_length=1, max_length=20)] = Field(
        description="EC2 instance types, most preferred first."
    )
    min_size: Annotated[StrictInt, Field(ge=0, le=EKS_MAX_NODES_PER_GROUP)] = Field(
        description="Minimum node count."
    )
    max_size: Annotated[StrictInt, Field(ge=1, le=EKS_MAX_NODES_PER_GROUP)] = Field(
        description="Maximum node count."
    )
    desired_size: Annotated[StrictInt, Field(ge=0, le=EKS_MAX_NODES_PER_GROUP)] = Field(
        description="Initial node count."
    )
    ami_type: str = Field(description="EKS managed node group AMI type.")
    disk_size_gib: Annotated[StrictInt, Field(ge=20, le=2000)] = Field(
        default=50, description="Root volume size (GiB); GPU nodes hold model images."
    )

    @field_validator("instance_types")
    @classmethod
    def _instance_types(cls, values: list[str]) -> list[str]:
        for index, value in enumerate(values):
            if not _INSTANCE_TYPE.fullmatch(value):
                raise ValueError(
                    f"at [{index}]: {value!r} is not an EC2 instance type such as m6i.2xlarge"
                )
        duplicates = sorted({v for v in values if values.count(v) > 1})
        if duplicates:
            raise ValueError(f"lists {duplicates} more than once")
        return values

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
        arm = self.ami_type.startswith(("AL2023_ARM", "BOTTLEROCKET_ARM"))
        for index, instance_type in enumerate(self.instance_types):
            family = instance_type.split(".", 1)[0]
            if bool(_ARM_FAMILY.match(family)) != arm:
                machine = "Arm (Graviton)" if arm else "x86_64"
                raise ValueError(
                    f"at instanceTypes[{index}]: {instance_type!r} does not run the {machine} "
                    f"AMI {self.ami_type}"
                )
        return self

    def gpu_problem(self) -> str | None:
        for index, instance_type in enumerate(self.instance_types):
            if instance_type.split(".", 1)[0] not in GPU_INSTANCE_FAMILIES:
                return (
                    f"at instanceTypes[{index}]: the GPU node group needs NVIDIA GPU instances "
                    f"({', '.join(f + '.*' for f in GPU_INSTANCE_FAMILIES)}), got {instance_type!r}"
                )
        return None


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
        problem = group.gpu_problem()
        if problem is not None:
            raise ValueError(problem)
        return group

    @field_validator("general")
    @classmethod
    def _general_ami(cls, group: NodeGroupConfig) -> NodeGroupConfig:
        if group.ami_type in GPU_AMI_TYPES:
            raise ValueError(
                f"at amiType: the general node group takes a CPU AMI "
                f"({', '.join(CPU_AMI_TYPES)}), got '{group.ami_type}'"
            )
        for index, instance_type in enumerate(group.instance_types):
            if instance_type.split(".", 1)[0] in GPU_INSTANCE_FAMILIES:
                raise ValueError(
                    f"at instanceTypes[{index}]: {instance_type!r} is a GPU instance; the "
                    "general node group takes CPU instances (GPUs go in nodeGroups.gpu)"
                )
        return group


class ResourcesOverride(_Model):
    cpu: str | None = None
    memory: str | None = None
    cpu_limit: str | None = None
    memory_limit: str | None = None

    # The catalog's quantity rules; zero amounts and limits below requests are checked on
    # the catalog's resources with these applied (catalog_problems).
    @field_validator("cpu", "cpu_limit")
    @classmethod
    def _cpu(cls, value: str | None) -> str | None:
        return None if value is None else cpu_quantity(value)

    @field_validator("memory", "memory_limit")
    @classmethod
    def _memory(cls, value: str | None) -> str | None:
        return None if value is None else memory_quantity(value)


class ServiceOverride(_Model):
    enabled: StrictBool | None = Field(
        default=None, description="Deploy this service (default: yes)."
    )
    replicas: Annotated[StrictInt, Field(ge=1, le=20)] | None = Field(
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
    waf_rate_limit: Annotated[StrictInt, Field(ge=100, le=2_000_000_000)] = Field(
        default=2000,
        description="WAF: requests one client IP may make in 5 minutes before it is blocked.",
    )
    access_log_retention_days: Annotated[StrictInt, Field(ge=1, le=3650)] = Field(
        default=90, description="Days the ALB access logs are kept in their S3 bucket."
    )
    chat_rate_limit: Annotated[str, Field(pattern=r"^[1-9][0-9]*/(second|minute|hour|day)$")] = (
        Field(default="20/minute", description="Backend: chat requests per caller.")
    )
    api_rate_limit: Annotated[str, Field(pattern=r"^[1-9][0-9]*/(second|minute|hour|day)$")] = (
        Field(default="120/minute", description="Backend: API requests per caller.")
    )
    max_body_kib: Annotated[StrictInt, Field(ge=1, le=1024)] = Field(
        default=64, description="Backend: largest request body but uploads (KiB)."
    )
    max_upload_mib: Annotated[StrictInt, Field(ge=1, le=100)] = Field(
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


Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[Severity, ...] = ("critical", "warning", "info")


class AlertReceiverConfig(_Model):
    """A person-facing integration of Alertmanager. Its secret (Slack webhook URL, PagerDuty
    routing key, webhook URL) is never in the stack file: an operator writes it to Vault at
    `<kv mount>/alertmanager/receiver-<name>` (field `value`), and Alertmanager reads it as
    a file."""

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9-]{0,30}$")] = Field(
        description="Receiver name (also its Vault path: alertmanager/receiver-<name>)."
    )
    kind: Literal["slack", "pagerduty", "webhook"] = Field(description="The integration.")
    severities: Annotated[list[Severity], Field(min_length=1)] = Field(
        default=["critical", "warning"], description="Alert severities it receives."
    )
    channel: str = Field(
        default="", description="Slack only: the channel; empty uses the webhook's own."
    )

    @model_validator(mode="after")
    def _channel_is_slack(self) -> Self:
        if self.channel and self.kind != "slack":
            raise ValueError(f"at channel: only a slack receiver has a channel, not {self.kind}")
        return self


class AlertingConfig(_Model):
    """Where Alertmanager sends alerts, by severity (routing: components/configs/alertmanager)."""

    sns_topic: bool = Field(
        default=False,
        description="Create an SNS topic (KMS-encrypted) that Alertmanager publishes to through "
        "IRSA and the CloudWatch alarms of the managed services notify (EKS stacks only).",
    )
    sns_severities: Annotated[list[Severity], Field(min_length=1)] = Field(
        default=["critical", "warning"], description="Alert severities published to SNS."
    )
    receivers: list[AlertReceiverConfig] = Field(
        default=[], description="Slack, PagerDuty or webhook receivers."
    )

    @model_validator(mode="after")
    def _unique_names(self) -> Self:
        names = [r.name for r in self.receivers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"at receivers: names must be unique, {duplicates} repeat")
        return self

    def destinations(self, severity: Severity) -> list[str]:
        """Who is told of an alert of this severity ('sns' and receiver names)."""
        found = ["sns"] if self.sns_topic and severity in self.sns_severities else []
        return found + [r.name for r in self.receivers if severity in r.severities]


# AWS Backup keeps recovery points at most this long (100 years); days, as AWS counts them.
MAX_RETENTION_DAYS = 36500
# A prod rule keeps at least a week (dailies) and four weeks (weeklies): a bad migration
# noticed after a long weekend, or a month-end report, still has a point to go back to.
PROD_MIN_DAILY_DAYS = 7
PROD_MIN_WEEKLY_DAYS = 28
# An AWS Backup vault lock in compliance mode becomes immutable after at least 3 days.
MIN_LOCK_GRACE_DAYS = 3
# EBS snapshot ids (what AWS Backup recovery points of volumes are) and RDS snapshot
# identifiers: a manual name, an AWS Backup `awsbackup:job-...` name, or a snapshot ARN.
EBS_SNAPSHOT_ID = re.compile(r"^snap-(?:[0-9a-f]{8}|[0-9a-f]{17})$")
RDS_SNAPSHOT_ID = re.compile(
    r"^(?:arn:aws[a-z-]*:rds:[a-z]{2}(?:-gov)?-[a-z]+-[0-9]:[0-9]{12}:snapshot:)?"
    r"(?:(?:rds|awsbackup):)?[a-zA-Z](?!.*--)[a-zA-Z0-9-]{0,254}(?<!-)$"
)
_ROLE_ARN = r"^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$"
# Five-field cron (minute hour day-of-month month day-of-week), as Kubernetes CronJobs take.
_CRON_FIELD = r"[0-9*/,-]+"
_CRON = rf"^{_CRON_FIELD}( {_CRON_FIELD}){{4}}$"

# Strict: `true` or 7.0 is no number of days.
RetentionDays = Annotated[int, Field(ge=1, le=MAX_RETENTION_DAYS, strict=True)]


class VaultLockConfig(_Model):
    """AWS Backup Vault Lock: nobody (root included) deletes a recovery point early."""

    enabled: bool = Field(default=False, description="Lock the backup vault.")
    min_retention_days: RetentionDays = Field(
        default=7, description="Recovery points are kept at least this long."
    )
    max_retention_days: RetentionDays = Field(
        default=400, description="No rule may keep recovery points longer than this."
    )
    changeable_for_days: Annotated[int, Field(ge=MIN_LOCK_GRACE_DAYS, strict=True)] | None = Field(
        default=None,
        description="Compliance mode: the lock becomes immutable after this many days "
        "(at least 3). Unset: governance mode (removable with IAM permissions).",
    )

    @model_validator(mode="after")
    def _range(self) -> Self:
        if self.min_retention_days > self.max_retention_days:
            raise ValueError(
                f"at minRetentionDays: {self.min_retention_days} is above maxRetentionDays "
                f"{self.max_retention_days}"
            )
        return self


class BackupConfig(_Model):
    """Backups (kubernetes platform, own cluster): AWS Backup of the EBS volumes and RDS,
    ElastiCache's own snapshots, and application snapshots (Qdrant) to S3."""

    enabled: bool = Field(
        default=False,
        description="Back up this stack's data (required in prod). A stack with backups "
        "keeps a vault that holds recovery points: destroy it only after they expire.",
    )
    daily_retention_days: RetentionDays = Field(
        default=7, description="Days a daily recovery point is kept (prod: at least 7)."
    )
    weekly_retention_days: RetentionDays = Field(
        default=35, description="Days a weekly recovery point is kept (prod: at least 28)."
    )
    copy_region: Annotated[str, Field(pattern=r"^([a-z]{2}(-gov)?-[a-z]+-[0-9])?$")] = Field(
        default="",
        description="Second region every recovery point is copied to (required in prod; "
        "not awsRegion).",
    )
    copy_retention_days: RetentionDays = Field(
        default=35, description="Days a copy is kept in copyRegion."
    )
    vault_lock: VaultLockConfig = Field(
        default=VaultLockConfig(), description="Vault Lock on the backup vaults."
    )
    elasticache_snapshot_retention_days: Annotated[int, Field(ge=1, le=35, strict=True)] = Field(
        default=7, description="Days ElastiCache keeps its daily snapshots (1-35)."
    )
    application_schedule: Annotated[str, Field(pattern=_CRON)] = Field(
        default="30 */6 * * *",
        description="Cron schedule (UTC) of the application snapshot jobs (Qdrant).",
    )
    bucket_retention_days: RetentionDays = Field(
        default=30, description="Days application snapshots stay in the backup bucket."
    )
    restore_drill_role_arns: list[Annotated[str, Field(pattern=_ROLE_ARN)]] = Field(
        default=[],
        description="IAM roles that deploy restore drills (in this account): they may read "
        "this stack's backups and are denied everything else on its resources.",
    )

    @model_validator(mode="after")
    def _retention(self) -> Self:
        if self.weekly_retention_days < self.daily_retention_days:
            raise ValueError(
                f"at weeklyRetentionDays: {self.weekly_retention_days} is shorter than "
                f"dailyRetentionDays {self.daily_retention_days}; a weekly point outlives "
                "the dailies"
            )
        lock = self.vault_lock
        if lock.enabled:
            for key, days in (
                ("dailyRetentionDays", self.daily_retention_days),
                ("weeklyRetentionDays", self.weekly_retention_days),
                ("copyRetentionDays", self.copy_retention_days),
            ):
                if not lock.min_retention_days <= days <= lock.max_retention_days:
                    raise ValueError(
                        f"at {key}: {days} days is outside the vault lock's "
                        f"{lock.min_retention_days}-{lock.max_retention_days} days; AWS "
                        "Backup would refuse every job of this rule"
                    )
        return self


class RestoreConfig(_Model):
    """Create this stack's data from backups instead of empty (a restore drill, or a real
    restore). Ids are read at creation: a volume or database that already exists is replaced."""

    volumes: dict[str, str] = Field(
        default={},
        description="Catalog service (with storage) -> EBS snapshot id (snap-...) its volume "
        "is created from.",
    )
    databases: dict[str, str] = Field(
        default={},
        description="Managed PostgreSQL service -> RDS snapshot identifier or ARN "
        "(awsbackup:job-... for AWS Backup) the instance is created from.",
    )
    availability_zone: Annotated[str, Field(pattern=r"^([a-z]{2}(-gov)?-[a-z]+-[0-9][a-z])?$")] = (
        Field(
            default="",
            description="Zone the restored volumes are created in; default: the VPC's first.",
        )
    )
    # Strict: only the boolean true confirms ("yes", 1 or "true" as a string do not).
    confirm_production_restore: Annotated[bool, Field(strict=True)] = Field(
        default=False,
        description="Must be true to restore into a prod stack: its live volumes and database "
        "are replaced by the snapshots.",
    )

    @field_validator("volumes")
    @classmethod
    def _volume_ids(cls, volumes: dict[str, str]) -> dict[str, str]:
        for service, snapshot in volumes.items():
            if not EBS_SNAPSHOT_ID.fullmatch(snapshot):
                raise ValueError(
                    f"at {service}: {snapshot!r} is not an EBS snapshot id (snap- and 8 or 17 "
                    "hex digits)"
                )
        return volumes

    @field_validator("databases")
    @classmethod
    def _database_ids(cls, databases: dict[str, str]) -> dict[str, str]:
        for service, snapshot in databases.items():
            if not RDS_SNAPSHOT_ID.fullmatch(snapshot):
                raise ValueError(
                    f"at {service}: {snapshot!r} is not an RDS snapshot identifier (a letter, "
                    "then letters, digits and single hyphens; optionally rds: or awsbackup:, "
                    "or a snapshot ARN)"
                )
        return databases

    @property
    def requested(self) -> bool:
        return bool(self.volumes or self.databases)


class StackConfig(_Model):
    """Everything a stack file may set, under the `sutazai:` namespace."""

    platform: Literal["kubernetes", "docker"] = Field(
        default="kubernetes",
        description="Where services run: an EKS cluster or a local Docker engine.",
    )
    environment: Literal["prod", "dev"] = Field(
        description="Required, no default: prod protects stateful resources and uses managed "
        "data services; dev is disposable.",
    )
    aws_region: Annotated[str, Field(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")] = Field(
        default="us-east-1", description="AWS region (kubernetes platform)."
    )
    network: NetworkConfig = Field(default=NetworkConfig(), description="VPC and segment subnets.")
    cluster_version: EksVersion = Field(default="1.31", description="EKS Kubernetes version.")
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
    vault_bootstrapped: PulumiBool = Field(
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
    image_tag: Annotated[
        str,
        Field(pattern=r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$", max_length=IMAGE_TAG_MAX_LENGTH),
    ] = Field(default="0.1.0", description="Tag for in-house images (never 'latest').")
    ollama_models: list[str] = Field(
        default=["llama3.1:8b"], description="Models preloaded into Ollama at start."
    )
    docker_host_gpu: PulumiBool = Field(
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
    template_only: PulumiBool = Field(
        default=False,
        description="A template stack (k8s-dev) that `stacks.ephemeral create` copies and "
        "that is never deployed itself: `pulumi up` refuses it (previews still run). The "
        "copies drop this key.",
    )
    alerting: AlertingConfig = Field(
        default=AlertingConfig(),
        description="Alert receivers: an SNS topic, Slack, PagerDuty or webhooks, by severity. "
        "Prod must page someone on critical alerts.",
    )
    backup: BackupConfig = Field(
        default=BackupConfig(),
        description="Backups: AWS Backup vault, plan and copies; ElastiCache snapshots; "
        "application snapshots.",
    )
    restore: RestoreConfig = Field(
        default=RestoreConfig(),
        description="Snapshot and backup ids this stack's volumes and databases are created "
        "from (restore drills).",
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
        if value and not _OWNER.fullmatch(value):
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

    @field_validator("domain")
    @classmethod
    def _domain(cls, value: str) -> str:
        # The API is published as api.<domain>: that name must fit too.
        problem = dns_name_problem(value, room=253 - len("api."))
        if problem is not None:
            raise ValueError(f"the domain {problem} (RFC 1123, e.g. sutazai.example.com)")
        return value

    @field_validator("vault_address")
    @classmethod
    def _vault_address(cls, value: str) -> str:
        problem = _url_problem(value)
        if problem is not None:
            raise ValueError(
                f"{problem}; expected http(s)://<host>[:<port>], e.g. https://vault.example.com:8200"
            )
        return value

    @field_validator("image_registry")
    @classmethod
    def _image_registry(cls, value: str) -> str:
        if value:
            problem = _registry_problem(value)
            if problem is not None:
                raise ValueError(
                    f"{problem}; expected <host>[:<port>][/<path>], e.g. "
                    "123456789012.dkr.ecr.us-east-1.amazonaws.com/sutazai"
                )
        return value

    @field_validator("shared_cluster_stack")
    @classmethod
    def _shared_cluster_stack(cls, value: str) -> str:
        if value and not _SHARED_STACK.fullmatch(value):
            raise ValueError("expected the fully qualified <org>/<project>/<stack>")
        return value

    @field_validator("ollama_models")
    @classmethod
    def _ollama_models(cls, models: list[str]) -> list[str]:
        taken: dict[str, str] = {}
        for index, model in enumerate(models):
            if not _OLLAMA_MODEL.fullmatch(model):
                raise ValueError(
                    f"at [{index}]: {model!r} is not an Ollama model such as "
                    "llama3.1:8b or namespace/model:tag"
                )
            slug = model_slug(model)
            if slug in taken:
                raise ValueError(
                    f"at [{index}]: {model!r} and {taken[slug]!r} both become the "
                    f"resource name {slug!r}; list each model once"
                )
            taken[slug] = model
        return models

    @model_validator(mode="after")
    def _cross_checks(self) -> Self:
        if bool(self.ephemeral_owner) != bool(self.ephemeral_expires_at):
            raise ValueError(
                "at ephemeralExpiresAt: ephemeral stacks set both ephemeralOwner "
                "and ephemeralExpiresAt"
            )
        self._check_aws_names()
        self._check_vault()
        if self.docker_host_gpu and self.platform != "docker":
            raise ValueError("at dockerHostGpu: only the docker platform reads it")
        if self.shared_cluster_stack and self.platform != "kubernetes":
            raise ValueError("at sharedClusterStack: only kubernetes stacks share a cluster")
        if self.environment == "prod":
            if self.ephemeral_owner:
                raise ValueError("at ephemeralOwner: a prod stack is never ephemeral")
            if self.platform != "kubernetes":
                raise ValueError("at platform: prod runs on kubernetes (EKS)")
            if self.shared_cluster_stack:
                raise ValueError("at sharedClusterStack: prod runs its own cluster")
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
            self._prod_backups()
            if self.restore.requested and not self.restore.confirm_production_restore:
                raise ValueError(
                    "at restore.confirmProductionRestore: restoring into prod replaces its live "
                    "volumes and database with the named snapshots; set it to true to confirm, "
                    "or restore into a drill stack"
                )
            if not self.tls_certificate_arn:
                raise ValueError(
                    "at tlsCertificateArn: prod serves the frontend and API over HTTPS; set the "
                    "ACM certificate ARN (arn:aws:acm:<region>:<account>:certificate/<id>)"
                )
            if urlsplit(self.vault_address).scheme != "https":
                raise ValueError(
                    f"at vaultAddress: prod talks to Vault over https only, got "
                    f"'{self.vault_address}'"
                )
            if "." not in self.domain:
                raise ValueError(
                    f"at domain: prod publishes a fully qualified name, got '{self.domain}'"
                )
        if self.restore.requested and (self.platform != "kubernetes" or self.shared_cluster_stack):
            raise ValueError(
                "at restore: a restore creates EBS volumes and RDS instances, so it runs in a "
                "kubernetes stack with a cluster of its own (no sharedClusterStack)"
            )
        if self.backup.enabled and (self.platform != "kubernetes" or self.shared_cluster_stack):
            raise ValueError(
                "at backup.enabled: backups are for a kubernetes stack with a cluster of its "
                "own (a shared-cluster or Docker stack has no volumes of its own to back up)"
            )
        if self.ci_runner.enabled and (
            self.platform != "kubernetes" or self.shared_cluster_stack or self.ephemeral_owner
        ):
            raise ValueError(
                "at ciRunner.enabled: a runner lives in the management subnets of a stack "
                "that has its own EKS network (not docker, shared-cluster or ephemeral stacks)"
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
        return self

    @model_validator(mode="after")
    def _alerts_reach_someone(self) -> Self:
        if self.alerting.sns_topic and (self.platform != "kubernetes" or self.shared_cluster_stack):
            raise ValueError(
                "at alerting.snsTopic: the SNS topic is published to through IRSA, which only a "
                "stack with its own EKS cluster has (platform kubernetes, no sharedClusterStack)"
            )
        monitoring = Tier.MONITORING not in self.disabled_tiers and self.service_enabled(
            "alertmanager", Tier.MONITORING
        )
        router = self.services.get("alertmanager")
        if self.is_prod and monitoring and router is not None and (router.replicas or 2) < 2:
            raise ValueError(
                "at services.alertmanager.replicas: prod runs Alertmanager highly available "
                f"(at least 2 replicas), got {router.replicas}"
            )
        if self.is_prod and monitoring and not self.alerting.destinations("critical"):
            raise ValueError(
                "at alerting: prod must tell a person about critical alerts; set "
                "alerting.snsTopic true or add a receiver whose severities include critical"
            )
        return self

    def _prod_backups(self) -> None:
        backup = self.backup
        if not backup.enabled:
            raise ValueError("at backup.enabled: prod keeps backups (set it to true)")
        if backup.daily_retention_days < PROD_MIN_DAILY_DAYS:
            raise ValueError(
                f"at backup.dailyRetentionDays: prod keeps dailies at least "
                f"{PROD_MIN_DAILY_DAYS} days, got {backup.daily_retention_days}"
            )
        if backup.weekly_retention_days < PROD_MIN_WEEKLY_DAYS:
            raise ValueError(
                f"at backup.weeklyRetentionDays: prod keeps weeklies at least "
                f"{PROD_MIN_WEEKLY_DAYS} days, got {backup.weekly_retention_days}"
            )
        if not backup.copy_region:
            raise ValueError(
                "at backup.copyRegion: prod copies its backups to a second region; name it"
            )
        if backup.copy_region == self.aws_region:
            raise ValueError(
                f"at backup.copyRegion: the copy must leave awsRegion ({self.aws_region}); "
                "name another region"
            )

    def _check_aws_names(self) -> None:
        partition = partition_of(self.aws_region)
        if self.tls_certificate_arn:
            match = _ACM_ARN.fullmatch(self.tls_certificate_arn)
            if match is None:
                raise ValueError(
                    f"at tlsCertificateArn: '{self.tls_certificate_arn}' is not an ACM "
                    "certificate ARN (arn:aws:acm:<region>:<12-digit account>:certificate/<uuid>)"
                )
            if match.group(2) != self.aws_region or match.group(1) != partition:
                raise ValueError(
                    f"at tlsCertificateArn: the load balancer takes a certificate of its own "
                    f"region ({partition}, {self.aws_region}), got '{self.tls_certificate_arn}'"
                )
        for index, arn in enumerate(self.cluster_admin_role_arns):
            if arn.split(":", 2)[1] != partition:
                raise ValueError(
                    f"at clusterAdminRoleArns[{index}]: '{arn}' is not in the partition "
                    f"{partition} of {self.aws_region}"
                )

    def _check_vault(self) -> None:
        if self.environment == "prod" and not self.vault_bootstrapped:
            raise ValueError("at vaultBootstrapped: prod uses an initialised Vault")
        if self.environment == "prod" and self.vault_mode == "container":
            raise ValueError("at vaultMode: prod uses an existing Vault, never a container")
        if self.vault_mode == "container" and self.platform != "docker":
            raise ValueError(
                "at vaultMode: 'container' runs a dev Vault on the local Docker engine; "
                "kubernetes stacks use an existing Vault (vaultMode: existing)"
            )
        if not self.vault_bootstrapped and self.vault_mode != "container":
            raise ValueError(
                "at vaultBootstrapped: false is only for a fresh dev Vault container "
                "(vaultMode: container) before its bootstrap; an existing Vault is managed"
            )
        own_network = self.platform == "kubernetes" and not self.shared_cluster_stack
        for index, cidr in enumerate(self.vault_cidrs):
            if own_network and cidr.overlaps(self.network.vpc_cidr):
                raise ValueError(
                    f"at vaultCidrs[{index}]: {cidr} overlaps the VPC {self.network.vpc_cidr}; "
                    "Vault lives outside it (routed through vaultRouteTarget)"
                )

    # --- derived ------------------------------------------------------------------------

    @property
    def is_prod(self) -> bool:
        return self.environment == "prod"

    @property
    def uses_managed_data(self) -> bool:
        """RDS/ElastiCache instead of in-cluster servers: prod, and a stack restoring a
        database snapshot (a restore drill needs the managed service to restore into)."""
        return self.is_prod or bool(self.restore.databases)

    @property
    def is_ephemeral(self) -> bool:
        return bool(self.ephemeral_owner)

    def service_enabled(self, name: str, tier: Tier) -> bool:
        override = self.services.get(name)
        if override is not None and override.enabled is not None:
            return override.enabled
        return tier not in self.disabled_tiers


def _url_problem(value: str) -> str | None:
    """Why `value` is no plain http(s)://host[:port] URL, or None."""
    if any(ord(c) < 33 or ord(c) == 127 for c in value):
        return "contains spaces or control characters"
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError as error:
        return str(error)
    if parts.scheme not in ("http", "https"):
        return f"'{value}' is not an http or https URL"
    if parts.username is not None or parts.password is not None:
        return "credentials never go in the address"
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        return f"'{value}' has a path, query or fragment"
    if port == 0:
        return "port 0 is no port"
    host = parts.hostname or ""
    try:
        address = ip_address(host)
    except ValueError:
        problem = dns_name_problem(host)
        return None if problem is None else f"the host '{host}' {problem}"
    if address.is_unspecified:
        return f"{host} is no host"
    return None


def _registry_problem(value: str) -> str | None:
    if "://" in value:
        return f"'{value.split('://')[0]}://' is a URL scheme; a registry is named without one"
    host, _, path = value.partition("/")
    name, _, port = host.partition(":")
    if port and not (port.isdigit() and 0 < int(port) < 65536):
        return f"'{port}' is not a port"
    if name != "localhost" and "." not in name and not port:
        return (
            f"'{name}' is not a registry host (Docker would read it as a Docker Hub "
            "namespace); name the host with its domain"
        )
    problem = dns_name_problem(name)
    if problem is not None:
        return f"the host '{name}' {problem}"
    if path or value.endswith("/"):
        for component in path.split("/"):
            if not _REGISTRY_PATH.fullmatch(component):
                return (
                    f"the path component '{component}' is not a repository name "
                    "(lowercase letters and digits, separated by . _ or -)"
                )
    return None


def catalog_problems(config: StackConfig, catalog: Catalog) -> list[str]:
    """What is wrong with this stack config given the catalog, one line each.

    Everything here needs the catalog: service overrides name catalog services, resource
    overrides keep limits at or above the catalog's requests, an enabled service keeps the
    peers it requires, a GPU service on Docker has a GPU or runs on the CPU.
    """
    problems: list[str] = []
    known = sorted(catalog.services)
    for name in sorted(set(config.services) - set(catalog.services)):
        hint = difflib.get_close_matches(name, known, n=1)
        suggestion = f" Did you mean '{hint[0]}'?" if hint else ""
        problems.append(
            f"{NAMESPACE}:services.{name}: not a catalog service.{suggestion} "
            f"Known services: {', '.join(known)}."
        )
    for name, override in sorted(config.services.items()):
        if name not in catalog.services or override.resources is None:
            continue
        changes = override.resources.model_dump(exclude_none=True)
        merged = catalog[name].resources.model_copy(update=changes)
        for field_name, problem in resources_problems(merged):
            key = to_camel(field_name)
            problems.append(f"{NAMESPACE}:services.{name}.resources.{key}: {problem}")
    enabled = {s.name for s in catalog if config.service_enabled(s.name, s.tier)}
    # The config key that turned a peer off -> {peer: the enabled services that need it}.
    missing: dict[str, dict[str, list[str]]] = {}
    for spec in catalog:
        if spec.name not in enabled:
            continue
        for peer in spec.required_peers:
            if peer in catalog.services and peer not in enabled:
                override = config.services.get(peer)
                where = (
                    f"services.{peer}.enabled"
                    if override is not None and override.enabled is False
                    else "disabledTiers"
                )
                missing.setdefault(where, {}).setdefault(peer, []).append(spec.name)
    for where, peers in missing.items():
        off = ", ".join(f"{peer} ({catalog[peer].tier.value} tier)" for peer in sorted(peers))
        needs = "; ".join(f"{peer} by {', '.join(users)}" for peer, users in sorted(peers.items()))
        problems.append(
            f"{NAMESPACE}:{where}: turns off {off}, which enabled services cannot work without "
            f"({needs}); enable them or disable those services too"
        )
    for spec in catalog:
        if spec.name not in enabled:
            continue
        if (
            spec.gpu is not None
            and not spec.gpu.optional
            and config.platform == "docker"
            and not config.docker_host_gpu
        ):
            problems.append(
                f"{NAMESPACE}:dockerHostGpu: {spec.name} needs a GPU; set it to true on a host "
                f"with the NVIDIA Container Toolkit, or disable {spec.name}"
            )
    return problems


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
STRUCTURED_KEYS = {
    info.alias or name
    for name, info in StackConfig.model_fields.items()
    if _is_structured(info.annotation)
}


def parse_config_bag(bag: dict[str, Any], catalog: Catalog | None = None) -> StackConfig:
    """Validate a Pulumi config bag ({"sutazai:key": value-as-string}) into a StackConfig.

    With a catalog, the checks that need it (catalog_problems) run too. A key of another
    namespace is refused: the program configures its providers itself, so `aws:region` or a
    misspelt `sutazi:domain` would be silently ignored.
    """
    raw: dict[str, Any] = {}
    problems: list[str] = []
    for full_key, value in sorted(bag.items()):
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            problems.append(
                f"{full_key}: only '{NAMESPACE}:' keys configure this program (its providers "
                f"are configured from them), got the namespace '{namespace}'"
            )
            continue
        if isinstance(value, str) and key in STRUCTURED_KEYS:
            try:
                value = json.loads(value)
            except json.JSONDecodeError as exc:
                problems.append(f"{full_key}: not valid structured config ({exc.msg})")
                continue
        raw[key] = value
    if problems:
        raise ConfigError("stack configuration", problems)
    try:
        config = StackConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(
            "stack configuration", format_validation_error(exc, StackConfig, f"{NAMESPACE}:")
        ) from None
    if catalog is not None:
        problems = catalog_problems(config, catalog)
        if problems:
            raise ConfigError("stack configuration", problems)
    return config


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


def load_stack_config(catalog: Catalog) -> StackConfig:
    """The running stack's config, from what the Pulumi engine passed to this program,
    checked against the catalog before anything registers."""
    import pulumi
    from pulumi.runtime import config as runtime_config

    bag: dict[str, Any] = dict(runtime_config.get_config_env())
    bag.update(runtime_config.CONFIG.get())
    config = parse_config_bag(bag, catalog)
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
