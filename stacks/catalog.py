"""The service catalog: every SutazAI service, described once, as data.

`stacks/catalog.yaml` holds the data; this module is its schema and the graph queries the
rest of the program uses. Tiers, renderers, network rules, Vault policies and scrape
configs all read the same `ServiceSpec`s, so a service is added in exactly one place.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from enum import StrEnum
from functools import cached_property
from pathlib import Path
from typing import Annotated, Literal, Self

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from stacks.errors import ConfigError, format_validation_error

CATALOG_FILE = Path(__file__).with_name("catalog.yaml")
# The directory that holds Pulumi.yaml: Pulumi runs the program (and its providers) there, so
# paths handed to providers are relative to it and the same in every checkout.
PROJECT_DIR = Path(__file__).resolve().parent.parent
SERVICE_CODE_DIR = PROJECT_DIR / "service-code"

_QUANTITY_CPU = re.compile(r"^([0-9]+m|[0-9]+(\.[0-9]+)?)$")
_QUANTITY_MEM = re.compile(r"^[0-9]+(Ki|Mi|Gi|Ti)$")
_DNS_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
# A peer in a service's env, secret_env or secret_files (see wiring.py): ${service.host},
# ${service.port}, ${service.port.<name>}, or ${service.<fact>}, one of the service's
# `connection` facts (${redis.scheme}). ${service.user} / ${service.password} are credentials
# (CREDENTIAL_REFERENCE), never addresses.
ENV_REFERENCE = re.compile(
    r"\$\{([a-z0-9-]+)\.(?!(?:user|password)\})([a-z][a-z0-9_]*)(?:\.([a-z0-9-]+))?\}"
)
# The same in a service's own `client_env`, which names no service: ${host}, ${port.bolt},
# ${scheme}.
SELF_REFERENCE = re.compile(r"\$\{([a-z][a-z0-9_]*)(?:\.([a-z0-9-]+))?\}")
# What a reference may name besides `connection` facts.
ADDRESS_PARTS = frozenset({"host", "port"})
_RESERVED_FACTS = ADDRESS_PARTS | {"user", "password", "provisioning"}
_FACT_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
# ${peer.user}, ${peer.password} in `secret_env` / `secret_files`: the credential this service
# holds for a peer that issues client credentials (rendered by the Secrets component).
CREDENTIAL_REFERENCE = re.compile(r"\$\{([a-z0-9-]+)\.(user|password)\}")
# ${provisioning} in an issuer's command, args or provisioning.apply: the path of its
# server-side client file (Redis ACL, PostgreSQL roles SQL, Neo4j user script).
PROVISIONING_REFERENCE = "${provisioning}"
_SECRET_FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9._-]*$")


class Tier(StrEnum):
    DATA = "data"
    CORE = "core"
    VECTOR = "vector"
    AGENT = "agent"
    PLATFORM = "platform"
    MONITORING = "monitoring"


class Segment(StrEnum):
    """Network segments of the analysis' "Network Segmentation" recommendation."""

    DATA = "data"
    APPLICATION = "application"
    MANAGEMENT = "management"


TIER_SEGMENT: dict[Tier, Segment] = {
    Tier.DATA: Segment.DATA,
    Tier.VECTOR: Segment.DATA,
    Tier.CORE: Segment.APPLICATION,
    Tier.AGENT: Segment.APPLICATION,
    Tier.PLATFORM: Segment.APPLICATION,
    Tier.MONITORING: Segment.MANAGEMENT,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Port(_Strict):
    name: Annotated[str, Field(max_length=15, pattern=_DNS_LABEL.pattern)]
    port: Annotated[int, Field(ge=1, le=65535)]
    protocol: Literal["TCP", "UDP"] = "TCP"


class Probe(_Strict):
    """Exactly one of http (a path), tcp or exec, against one of the service's named ports."""

    http: str | None = None
    tcp: bool = False
    exec: list[str] | None = None
    port: str | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        kinds = [self.http is not None, self.tcp, self.exec is not None]
        if sum(kinds) != 1:
            raise ValueError("a probe takes exactly one of http, tcp or exec")
        if (self.http is not None or self.tcp) and self.port is None:
            raise ValueError("http and tcp probes name the port they use")
        return self


class Health(_Strict):
    liveness: Probe
    readiness: Probe
    # Slow starters (Neo4j, Ollama, Letta) get a startup probe that allows this long.
    startup_seconds: Annotated[int, Field(ge=0, le=1800)] = 0


class UpstreamImage(_Strict):
    repository: str
    tag: str
    digest: Annotated[str | None, Field(pattern=r"^sha256:[0-9a-f]{64}$")] = None

    @field_validator("tag")
    @classmethod
    def _pinned(cls, tag: str) -> str:
        if tag in ("", "latest") or tag.endswith("-latest"):
            raise ValueError(f"image tags must be pinned versions, never '{tag or 'empty'}'")
        return tag

    @property
    def reference(self) -> str:
        ref = f"{self.repository}:{self.tag}"
        return f"{ref}@{self.digest}" if self.digest else ref


class InHouseBuild(_Strict):
    """An image we build from service-code/<path> on top of one of our base images."""

    path: str
    base: str

    @field_validator("path")
    @classmethod
    def _exists(cls, path: str) -> str:
        if not (SERVICE_CODE_DIR / path / "Dockerfile").is_file():
            raise ValueError(f"service-code/{path}/Dockerfile does not exist")
        return path


class Resources(_Strict):
    cpu: str
    memory: str
    cpu_limit: str
    memory_limit: str

    @field_validator("cpu", "cpu_limit")
    @classmethod
    def _cpu(cls, value: str) -> str:
        return cpu_quantity(value)

    @field_validator("memory", "memory_limit")
    @classmethod
    def _memory(cls, value: str) -> str:
        return memory_quantity(value)

    @model_validator(mode="after")
    def _limits_cover_requests(self) -> Self:
        problems = resources_problems(self)
        if problems:
            key, message = problems[0]
            raise ValueError(f"at {key}: {message}")
        return self


_MEMORY_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40}


def cpu_quantity(value: str) -> str:
    if not _QUANTITY_CPU.fullmatch(value):
        raise ValueError(f"'{value}' is not a CPU quantity such as 250m or 2")
    return value


def memory_quantity(value: str) -> str:
    if not _QUANTITY_MEM.fullmatch(value):
        raise ValueError(f"'{value}' is not a memory quantity such as 512Mi or 2Gi")
    return value


def cpu_millicores(quantity: str) -> float:
    """A CPU quantity (250m, 2, 1.5) in millicores."""
    if quantity.endswith("m"):
        return float(quantity[:-1])
    return float(quantity) * 1000


def memory_bytes(quantity: str) -> int:
    """A memory quantity (512Mi, 2Gi) in bytes."""
    return int(quantity[:-2]) * _MEMORY_UNITS[quantity[-2:]]


def resources_problems(resources: Resources) -> list[tuple[str, str]]:
    """(field, problem) for zero quantities and limits below their requests."""
    problems: list[tuple[str, str]] = []
    cpu = cpu_millicores(resources.cpu), cpu_millicores(resources.cpu_limit)
    memory = memory_bytes(resources.memory), memory_bytes(resources.memory_limit)
    for key, value, amount in (
        ("cpu", resources.cpu, cpu[0]),
        ("cpu_limit", resources.cpu_limit, cpu[1]),
        ("memory", resources.memory, memory[0]),
        ("memory_limit", resources.memory_limit, memory[1]),
    ):
        if amount <= 0:
            problems.append((key, f"'{value}' is zero; a container needs a non-zero amount"))
    if min(cpu) > 0 and cpu[1] < cpu[0]:
        problems.append(
            ("cpu_limit", f"'{resources.cpu_limit}' is below the request cpu '{resources.cpu}'")
        )
    if min(memory) > 0 and memory[1] < memory[0]:
        problems.append(
            (
                "memory_limit",
                f"'{resources.memory_limit}' is below the request memory '{resources.memory}'",
            )
        )
    return problems


class Storage(_Strict):
    """Persistent data: a PVC (retained in prod) on Kubernetes, a named volume on Docker."""

    path: str
    size: Annotated[str, Field(pattern=_QUANTITY_MEM.pattern)]


class Gpu(_Strict):
    count: Annotated[int, Field(ge=1, le=8)] = 1
    # Runs on the CPU where no GPU exists (dev laptops), slowly.
    optional: bool = True


class Secret(_Strict):
    """A credential the service owns. Generated, stored in Vault, delivered as a file.

    By default the container gets `<env>_FILE` pointing at the file (or `file_env`, for
    products with their own convention, e.g. Grafana's `GF_..._PASSWORD__FILE`).
    `env_from_file`: the product reads the value from `env` only and has no file variant
    (Dify, Letta, Langflow, Qdrant): the value is exported from the service's env file under
    /vault/secrets, which the container sources before it execs its entrypoint; the value
    never appears in the container's env spec, a manifest or state.

    `clients_env`: the secret is also the key its clients present (Qdrant's API key): every
    service that `talks_to` the owner gets it as a file named by `<clients_env>_FILE`, and
    its Vault policy reads the owner's path. Health pollers (services whose `peer_maps` poll
    health URLs, which products leave unauthenticated) do not.
    """

    name: Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$")]
    env: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")]
    length: Annotated[int, Field(ge=16, le=128)] = 32
    file_env: Annotated[str | None, Field(pattern=r"^[A-Z][A-Z0-9_]*$")] = None
    env_from_file: bool = False
    clients_env: Annotated[str | None, Field(pattern=r"^[A-Z][A-Z0-9_]*$")] = None

    @model_validator(mode="after")
    def _one_delivery(self) -> Self:
        if self.env_from_file and self.file_env is not None:
            raise ValueError("a secret is either env_from_file or named by file_env, not both")
        return self

    @property
    def path_env(self) -> str | None:
        """The env var that names the secret's file; None when exported from the env file."""
        if self.env_from_file:
            return None
        return self.file_env or f"{self.env}_FILE"


class Provisioning(_Strict):
    """How an issuer (`issues_client_credentials`) takes in its clients' credentials.

    The Secrets component renders the issuer's server-side file (SCRAM verifiers, an ACL,
    a user script) into its own /vault/secrets; `${provisioning}` in the service's `command`,
    `args` or `apply` stands for that file's path (e.g. Redis `--aclfile ${provisioning}`).
    `apply`: a command run next to the server, against 127.0.0.1, every time the server
    starts or the file changes (Kubernetes: the container's postStart hook; Docker: a
    one-shot container in the server's network namespace). It is retried until the server
    answers, for at most the service's startup allowance.
    """

    apply: Annotated[list[str] | None, Field(min_length=1)] = None


class HardeningException(_Strict):
    rule: Literal["read-only-root-filesystem", "kube-api-token"]
    reason: Annotated[str, Field(min_length=20)]


class Scrape(_Strict):
    """Prometheus scrapes `path` on `port`.

    `token`: one of the service's own `secrets` that its metrics endpoint requires (Qdrant's
    API key guards /metrics): the scraper gets it as a file and sends it as a bearer token.
    """

    port: str
    path: str = "/metrics"
    token: str | None = None


# The buckets of http_request_duration_seconds in the in-house services (prometheus_client's
# defaults, service-code/base/python-base/sutazai_common/service.py). A latency objective's
# threshold must be one of them: the SLI counts the requests in the bucket `le=threshold`.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
# The fastest burn rate alerted on (SRE workbook: 2% of a 30-day budget in 1 h). An objective
# whose budget times this is 100% or more could never page: refused.
FASTEST_BURN_RATE = 14.4
_MIN_OBJECTIVE = 100 * (1 - 1 / FASTEST_BURN_RATE)


def _check_objective(value: float) -> float:
    if not _MIN_OBJECTIVE < value < 100:
        raise ValueError(
            f"an objective is a percentage above {_MIN_OBJECTIVE:.2f} (below it, "
            f"{FASTEST_BURN_RATE} x the error budget exceeds 100% and could never page) and "
            f"below 100, got {value}"
        )
    return value


class LatencyObjective(_Strict):
    """`objective` percent of requests finish within `threshold_seconds`."""

    threshold_seconds: float
    objective: float

    @field_validator("threshold_seconds")
    @classmethod
    def _bucket(cls, value: float) -> float:
        if value not in LATENCY_BUCKETS:
            raise ValueError(
                f"{value} is not a bucket of http_request_duration_seconds; allowed: "
                f"{', '.join(str(b) for b in LATENCY_BUCKETS)}"
            )
        return value

    @field_validator("objective")
    @classmethod
    def _objective(cls, value: float) -> float:
        return _check_objective(value)


class Slo(_Strict):
    """Service level objectives over 30 days of the service's HTTP requests (its /health,
    /ready and /metrics excluded): `availability` percent answered without a 5xx, and a
    `latency` objective. Rendered as recording rules and multi-window, multi-burn-rate alerts
    (components/configs/rules.py)."""

    availability: float | None = None
    latency: LatencyObjective | None = None

    @field_validator("availability")
    @classmethod
    def _availability(cls, value: float | None) -> float | None:
        return None if value is None else _check_objective(value)

    @model_validator(mode="after")
    def _some_objective(self) -> Self:
        if self.availability is None and self.latency is None:
            raise ValueError("an slo declares availability, latency or both")
        return self


class Cluster(_Strict):
    """The replicas form one cluster (Alertmanager's gossip): they reach each other on `port`
    over TCP and UDP (NetworkPolicy: only their own pods), and each starts with
    `<listen_arg>=0.0.0.0:<port>` and `<peer_arg>=<a name resolving to every replica>:<port>`.
    A single replica (or a platform without per-replica names) gets `<listen_arg>=`, which
    switches clustering off. Clients never reach `port`."""

    port: str
    listen_arg: Annotated[str, Field(pattern=r"^--[a-z][a-z0-9.-]*$")]
    peer_arg: Annotated[str, Field(pattern=r"^--[a-z][a-z0-9.-]*$")]


class PeerMap(_Strict):
    """An env var holding a JSON map {peer: URL} over the enabled `talks_to` peers.

    `base`: http://host:port of the peer's first port; `health`: its HTTP liveness URL.
    """

    env: Annotated[str, Field(pattern=r"^[A-Z][A-Z0-9_]*$")]
    url: Literal["base", "health"] = "base"


class Managed(_Strict):
    """In prod this service is an AWS managed service instead of a workload.

    `connection`: the facts that differ when clients reach the managed service, replacing
    the service's own `connection` entries (ElastiCache speaks TLS only: `scheme: rediss`,
    `tls: "true"`; RDS forces TLS: `sslmode: require`). Every key must be one the service's
    `connection` declares, so a reference resolves on every stack.
    """

    kind: Literal["rds-postgresql", "elasticache-redis"]
    engine_version: str
    connection: dict[str, str] = {}


_SECRETISH_ENV = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|CREDENTIAL)", re.I)


class ServiceSpec(_Strict):
    name: Annotated[str, Field(pattern=_DNS_LABEL.pattern, max_length=40)]
    tier: Tier
    description: Annotated[str, Field(min_length=10)]
    image: UpstreamImage | None = None
    build: InHouseBuild | None = None
    # Why an in-house image stands in for an upstream product (AutoGPT, CrewAI, AgentGPT).
    served_as: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    ports: Annotated[list[Port], Field(min_length=1)]
    health: Health
    talks_to: list[str] = []
    uid: Annotated[int, Field(ge=1, le=2_147_483_647)]
    gid: Annotated[int, Field(ge=1, le=2_147_483_647)]
    writable_paths: list[str] = []
    storage: Storage | None = None
    resources: Resources
    gpu: Gpu | None = None
    secrets: list[Secret] = []
    # Credentials each client gets when it talks to this service (postgres, redis, neo4j).
    issues_client_credentials: bool = False
    # Non-secret env. Values may reference other services: ${postgres.host}, ${ollama.port}.
    env: dict[str, str] = {}
    # Env every client of this service gets, e.g. OLLAMA_BASE_URL: http://${host}:${port}.
    client_env: dict[str, str] = {}
    # Facts clients build their connection settings from, besides host and port: the URL
    # scheme, whether the server speaks TLS, the libpq sslmode. A client's env, secret_env
    # and secret_files name them as ${<service>.<fact>}, this service's client_env as
    # ${<fact>}. Like ${host}, they are the facts of what the client actually reaches: its
    # pooler when the service is pooled, the managed service's (`managed_in_prod.connection`)
    # where it runs managed. E.g. redis: {scheme: redis, tls: "false"}.
    connection: dict[str, str] = {}
    peer_maps: list[PeerMap] = []
    # Read-only files mounted into the container (path -> content), e.g. a neo4j.conf.
    config_files: dict[str, str] = {}
    # Env the product reads only as values (no *_FILE variant) and that holds credentials:
    # NAME -> template over ${peer.user}, ${peer.password} (this service's credential for
    # the peer) and ${peer.host}, ${peer.port}. Exported from the service's env file, which
    # the container sources before it execs `command` (see Secret.env_from_file).
    secret_env: dict[str, str] = {}
    # Secret files in other formats (file name -> the same kind of template), rendered into
    # /vault/secrets/<service>-<name> like every other secret, e.g. PgBouncer's userlist.txt.
    secret_files: dict[str, str] = {}
    provisioning: Provisioning | None = None
    replicas: Annotated[int, Field(ge=1, le=20)] = 1
    critical: bool = False
    # Clients reach this service through the pooler when the pooler is enabled.
    pooled_by: str | None = None
    managed_in_prod: Managed | None = None
    scrape: Scrape | None = None
    # In-house HTTP services only: the objectives read the metrics their shared app exports.
    slo: Slo | None = None
    cluster: Cluster | None = None
    ingress: bool = False
    exceptions: list[HardeningException] = []
    # `talks_to` peers the service does not connect to in this deployment, each with the
    # reason. The edge stays in the analysis' graph (`logical_edges`, the diagram), but
    # carries no traffic: no network flow, none of the peer's client env, connection
    # references or credentials (and so no Vault path for it).
    unused_peers: dict[str, Annotated[str, Field(min_length=20)]] = {}
    # `talks_to` peers the service cannot work without (the backend keeps its data in
    # PostgreSQL): a stack that disables one of them while this service is enabled is refused
    # before anything registers. Peers named in env, secret_env or secret_files templates are
    # required too (`required_peers`); the other peers are optional and their edges go.
    requires: list[str] = []
    # The configured models (sutazai:ollamaModels) are pulled into the service's storage
    # before it takes traffic (an Ollama server). Both renderers read this flag.
    preload_models: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if (self.image is None) == (self.build is None):
            raise ValueError("a service has exactly one of image (upstream) or build (in-house)")
        port_names = {p.name for p in self.ports}
        if len(port_names) != len(self.ports):
            raise ValueError("at ports: port names must be unique")
        for kind in ("liveness", "readiness"):
            probe: Probe = getattr(self.health, kind)
            if probe.port is not None and probe.port not in port_names:
                raise ValueError(
                    f"at health.{kind}.port: '{probe.port}' is not one of the ports "
                    f"{sorted(port_names)}"
                )
        if self.scrape is not None and self.scrape.port not in port_names:
            raise ValueError(
                f"at scrape.port: '{self.scrape.port}' is not one of {sorted(port_names)}"
            )
        if self.cluster is not None:
            if self.cluster.port not in port_names:
                raise ValueError(
                    f"at cluster.port: '{self.cluster.port}' is not one of {sorted(port_names)}"
                )
            if not self.args:
                raise ValueError(
                    "at cluster: the cluster flags are added to the service's own `args`; "
                    "list them (the image's default arguments would be replaced)"
                )
            if self.cluster.port == self.primary_port.name:
                raise ValueError("at cluster.port: clients use the first port; cluster on another")
        if self.slo is not None and (self.build is None or self.scrape is None):
            raise ValueError(
                "at slo: objectives need the in-house HTTP metrics (http_requests_total), so "
                "only a scraped in-house service (`build` and `scrape`) declares them"
            )
        for key, value in self.env.items():
            if _SECRETISH_ENV.search(key) and not key.endswith("_FILE"):
                raise ValueError(
                    f"at env.{key}: secrets never go in env literals; declare it under "
                    f"secrets and it is delivered as a file (value {value!r} refused)"
                )
        for path in [*self.writable_paths, *([self.storage.path] if self.storage else [])]:
            if not path.startswith("/"):
                raise ValueError(f"at writable_paths: '{path}' must be an absolute path")
        if self.storage and self.storage.path in self.writable_paths:
            raise ValueError(f"at storage.path: '{self.storage.path}' is also in writable_paths")
        self._check_secret_templates()
        self._check_provisioning()
        self._check_connection()
        self._check_peers()
        return self

    def _check_peers(self) -> None:
        unknown = sorted(set(self.unused_peers) - set(self.talks_to))
        if unknown:
            raise ValueError(f"at unused_peers: {unknown} are not in talks_to")
        unreached = sorted(set(self.requires) - set(self.connects_to))
        if unreached:
            raise ValueError(f"at requires: {unreached} are not peers it connects to (talks_to)")
        templates = {
            **{f"env.{k}": v for k, v in self.env.items()},
            **{f"secret_env.{k}": v for k, v in self.secret_env.items()},
            **{f"secret_files.{k}": v for k, v in self.secret_files.items()},
        }
        for where, template in templates.items():
            for pattern in (CREDENTIAL_REFERENCE, ENV_REFERENCE):
                for match in pattern.finditer(template):
                    if match.group(1) in self.unused_peers:
                        raise ValueError(
                            f"at {where}: '{match.group(0)}' names {match.group(1)!r}, which "
                            "is in unused_peers"
                        )
        if self.preload_models and self.storage is None:
            raise ValueError(
                "at preload_models: the models are pulled into the service's storage; "
                "give it `storage`"
            )

    def _check_connection(self) -> None:
        for key in self.connection:
            if key in _RESERVED_FACTS or not _FACT_NAME.match(key):
                raise ValueError(
                    f"at connection.{key}: a fact is a lowercase name other than "
                    f"{sorted(_RESERVED_FACTS)}"
                )
        if self.managed_in_prod is not None:
            if self.managed_in_prod.kind == "rds-postgresql" and self.database is None:
                raise ValueError(
                    "at connection.database: a managed PostgreSQL names the database RDS "
                    "creates and Vault's users connect to"
                )
            extra = sorted(set(self.managed_in_prod.connection) - set(self.connection))
            if extra:
                raise ValueError(
                    f"at managed_in_prod.connection: {extra} are not facts of the service's "
                    f"own `connection` {sorted(self.connection)}"
                )
        secret_names = {s.name for s in self.secrets}
        token = self.scrape.token if self.scrape is not None else None
        if token is not None and token not in secret_names:
            raise ValueError(
                f"at scrape.token: {token!r} is not one of its secrets {sorted(secret_names)}"
            )
        for secret in self.secrets:
            if secret.clients_env is not None and secret.clients_env == secret.env:
                raise ValueError(
                    f"at secrets.{secret.name}.clients_env: name the clients' variable, not "
                    f"the server's own {secret.env}"
                )

    def _check_secret_templates(self) -> None:
        for key in self.secret_env:
            if not re.fullmatch(r"[A-Z][A-Z0-9_]*", key):
                raise ValueError(f"at secret_env.{key}: not an environment variable name")
            if key in self.env:
                raise ValueError(f"at secret_env.{key}: also set in env")
        own = {s.env for s in self.secrets if s.env_from_file}
        clash = sorted(own & set(self.secret_env))
        if clash:
            raise ValueError(f"at secret_env: {clash} are also env_from_file secrets")
        for name in self.secret_files:
            if not _SECRET_FILE_NAME.match(name):
                raise ValueError(f"at secret_files.{name}: use lowercase letters, digits, . _ -")
        templates = {
            **{f"secret_env.{k}": v for k, v in self.secret_env.items()},
            **{f"secret_files.{k}": v for k, v in self.secret_files.items()},
        }
        for where, template in templates.items():
            for pattern in (CREDENTIAL_REFERENCE, ENV_REFERENCE):
                for match in pattern.finditer(template):
                    if match.group(1) not in self.talks_to:
                        raise ValueError(
                            f"at {where}: '{match.group(0)}' names {match.group(1)!r}, which "
                            f"is not in talks_to"
                        )
        if self.env_file_needed and not self.command:
            raise ValueError(
                "at command: a service with secret_env or env_from_file secrets names its "
                "image's entrypoint in `command`: the container sources its env file and "
                "then execs that command"
            )

    def _check_provisioning(self) -> None:
        uses = [
            a for a in [*(self.command or []), *(self.args or [])] if PROVISIONING_REFERENCE in a
        ]
        if self.provisioning is not None and self.provisioning.apply:
            uses += [a for a in self.provisioning.apply if PROVISIONING_REFERENCE in a]
        if (uses or self.provisioning is not None) and not self.issues_client_credentials:
            raise ValueError(
                "at provisioning: only a service that issues_client_credentials has a "
                "provisioning file"
            )

    @property
    def env_file_needed(self) -> bool:
        """Whether the container sources an env file of secrets before its entrypoint."""
        return bool(self.secret_env) or any(s.env_from_file for s in self.secrets)

    @property
    def database(self) -> str | None:
        """The application database of a PostgreSQL server: its `connection.database` fact,
        which its clients name as ${postgres.database} (or ${database} in its client_env)."""
        return self.connection.get("database")

    @property
    def connects_to(self) -> list[str]:
        """The `talks_to` peers it actually connects to: env, credentials, policies."""
        return [t for t in self.talks_to if t not in self.unused_peers]

    @property
    def required_peers(self) -> list[str]:
        """Peers it cannot work without: `requires`, and every peer its templates name."""
        named: set[str] = set(self.requires)
        for template in [
            *self.env.values(),
            *self.secret_env.values(),
            *self.secret_files.values(),
        ]:
            for pattern in (CREDENTIAL_REFERENCE, ENV_REFERENCE):
                named.update(match.group(1) for match in pattern.finditer(template))
        return sorted(named)

    @property
    def segment(self) -> Segment:
        return TIER_SEGMENT[self.tier]

    @property
    def stateful(self) -> bool:
        return self.storage is not None

    @property
    def in_house(self) -> bool:
        return self.build is not None

    def port(self, name: str) -> Port:
        return next(p for p in self.ports if p.name == name)

    @property
    def primary_port(self) -> Port:
        return self.ports[0]

    def exempt_from(self, rule: str) -> bool:
        return any(e.rule == rule for e in self.exceptions)


class BaseImage(_Strict):
    """One layer of the shared base-image hierarchy under service-code/base/."""

    name: Annotated[str, Field(pattern=_DNS_LABEL.pattern)]
    parent: str | None = None  # None: built FROM the root BASE_IMAGE

    @property
    def path(self) -> str:
        return f"base/{self.name}"


class Edge(_Strict):
    source: str
    target: str
    port: Port


class Catalog(_Strict):
    root_base_image: UpstreamImage
    base_images: list[BaseImage]
    services: dict[str, ServiceSpec]

    @model_validator(mode="before")
    @classmethod
    def _names_from_keys(cls, data: object) -> object:
        if isinstance(data, dict) and isinstance(data.get("services"), dict):
            services = data["services"]
            data = {
                **data,
                "services": {
                    name: {"name": name, **spec} if isinstance(spec, dict) else spec
                    for name, spec in services.items()
                },
            }
        return data

    @model_validator(mode="after")
    def _graph(self) -> Self:
        bases = {b.name for b in self.base_images}
        for base in self.base_images:
            if base.parent is not None and base.parent not in bases:
                raise ValueError(
                    f"at base_images: '{base.name}' has unknown parent '{base.parent}'"
                )
        for name, spec in self.services.items():
            if spec.name != name:
                raise ValueError(f"at services.{name}.name: must match its key")
            for target in spec.talks_to:
                if target not in self.services:
                    raise ValueError(
                        f"at services.{name}.talks_to: '{target}' is not a catalog service"
                    )
                if target == name:
                    raise ValueError(
                        f"at services.{name}.talks_to: a service cannot talk to itself"
                    )
            if spec.build is not None and spec.build.base not in bases | {"root"}:
                raise ValueError(
                    f"at services.{name}.build.base: '{spec.build.base}' is not a base image "
                    f"({', '.join(sorted(bases | {'root'}))})"
                )
            for key, value in spec.env.items():
                for match in ENV_REFERENCE.finditer(value):
                    if match.group(1) not in self.services:
                        raise ValueError(
                            f"at services.{name}.env.{key}: '{match.group(0)}' names no "
                            f"catalog service"
                        )
            for where, template in [
                *((f"env.{k}", v) for k, v in spec.env.items()),
                *((f"secret_env.{k}", v) for k, v in spec.secret_env.items()),
                *((f"secret_files.{k}", v) for k, v in spec.secret_files.items()),
            ]:
                for match in ENV_REFERENCE.finditer(template):
                    self._check_reference(
                        f"services.{name}.{where}", match.group(0), *match.group(1, 2, 3)
                    )
            for key, value in spec.client_env.items():
                for match in SELF_REFERENCE.finditer(value):
                    self._check_reference(
                        f"services.{name}.client_env.{key}",
                        match.group(0),
                        name,
                        *match.group(1, 2),
                    )
            for where, template in [
                *((f"secret_env.{k}", v) for k, v in spec.secret_env.items()),
                *((f"secret_files.{k}", v) for k, v in spec.secret_files.items()),
            ]:
                for match in CREDENTIAL_REFERENCE.finditer(template):
                    peer = self.services.get(match.group(1))
                    if peer is None or not peer.issues_client_credentials:
                        raise ValueError(
                            f"at services.{name}.{where}: '{match.group(0)}': "
                            f"{match.group(1)!r} issues no client credentials"
                        )
            if spec.pooled_by is not None and spec.pooled_by not in self.services:
                raise ValueError(
                    f"at services.{name}.pooled_by: '{spec.pooled_by}' is not a service"
                )
        return self

    def _check_reference(
        self, where: str, reference: str, service: str, what: str, port_name: str | None
    ) -> None:
        """A reference names a port the service has, or a fact it (and its pooler) declare."""
        target = self.services.get(service)
        if target is None:
            return  # reported above (env) or by the talks_to check (secret templates)
        if what == "port":
            if port_name is not None and port_name not in {p.name for p in target.ports}:
                raise ValueError(f"at {where}: '{reference}': {service} has no port {port_name!r}")
            return
        if port_name is not None:
            raise ValueError(f"at {where}: '{reference}': only a port takes a name")
        if what == "host":
            return
        # Clients of a pooled service reach the pooler: it must state the same fact.
        holders = [target]
        if target.pooled_by is not None and target.pooled_by in self.services:
            holders.append(self.services[target.pooled_by])
        for holder in holders:
            if what not in holder.connection:
                raise ValueError(
                    f"at {where}: '{reference}': {holder.name} declares no connection fact "
                    f"{what!r} ({sorted(holder.connection) or 'none'})"
                )

    # --- queries -------------------------------------------------------------------------

    def __iter__(self) -> Iterator[ServiceSpec]:  # type: ignore[override]
        return iter(self.services.values())

    def __getitem__(self, name: str) -> ServiceSpec:
        return self.services[name]

    def tier(self, tier: Tier) -> list[ServiceSpec]:
        return [s for s in self.services.values() if s.tier == tier]

    @cached_property
    def logical_edges(self) -> list[tuple[str, str]]:
        """The dependency graph as the analysis draws it: who calls whom."""
        return [(s.name, t) for s in self.services.values() for t in s.talks_to]

    @cached_property
    def network_edges(self) -> list[Edge]:
        """The flows the network must allow: logical edges, rerouted through poolers.

        A client of a pooled service (PostgreSQL behind PgBouncer) reaches the pooler, not the
        database; the pooler's own `talks_to` carries the last hop. An edge its source lists
        in `unused_peers` carries no traffic and gets no flow.
        """
        edges: list[Edge] = []
        seen: set[tuple[str, str]] = set()
        for source, target in self.logical_edges:
            if target in self.services[source].unused_peers:
                continue
            spec = self.services[target]
            if spec.pooled_by and spec.pooled_by in self.services and source != spec.pooled_by:
                target = spec.pooled_by
            if (source, target) in seen:
                continue
            seen.add((source, target))
            target_spec = self.services[target]
            for port in target_spec.ports:
                if target_spec.cluster is not None and port.name == target_spec.cluster.port:
                    continue  # the replicas' own gossip: never a client's
                edges.append(Edge(source=source, target=target, port=port))
        return edges

    def clients_of(self, name: str) -> list[str]:
        return sorted({e.source for e in self.network_edges if e.target == name})

    def peers_of(self, name: str) -> list[str]:
        return sorted({e.target for e in self.network_edges if e.source == name})

    @property
    def scrape_targets(self) -> list[ServiceSpec]:
        return [s for s in self.services.values() if s.scrape is not None]

    def base_chain(self, base: str) -> list[BaseImage]:
        """The base images from the root down to `base`, in build order."""
        by_name = {b.name: b for b in self.base_images}
        chain: list[BaseImage] = []
        current: str | None = base
        while current is not None and current != "root":
            image = by_name[current]
            chain.insert(0, image)
            current = image.parent
        return chain

    def without(self, names: set[str]) -> Catalog:
        """The catalog with services removed, and edges to them dropped."""
        kept = {
            n: s.model_copy(update={"talks_to": [t for t in s.talks_to if t not in names]})
            for n, s in self.services.items()
            if n not in names
        }
        for name, spec in kept.items():
            if spec.pooled_by in names:
                kept[name] = spec.model_copy(update={"pooled_by": None})
        return self.model_copy(update={"services": kept})

    def with_service(self, spec: ServiceSpec) -> Catalog:
        return self.model_copy(update={"services": {**self.services, spec.name: spec}})


def load_catalog(path: Path = CATALOG_FILE) -> Catalog:
    """Read and validate the catalog; every error names its key in the file."""
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ConfigError(str(path), [f"not valid YAML: {exc}"]) from None
    try:
        return Catalog.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(str(path), format_validation_error(exc, Catalog, "")) from None
