"""Pure functions of the catalog that the Docker renderer applies (no Pulumi resources here).

Kept apart from the renderer so each rule can be tested on its own: quantity conversion,
which networks a container joins, host ports for ingress services, the tmpfs options that
let a non-root user write to its writable paths, and where read-only files are delivered.
"""

from __future__ import annotations

import posixpath
import re
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from components.configs.observability import SCRAPER
from components.platform import SECRETS_DIR
from stacks.catalog import Catalog, Resources, Segment, ServiceSpec

# Every port a stack publishes on the host (127.0.0.1 only) is a base plus the stack's
# offset: 0 for `dev`, and for every other stack on the same engine (dev-<owner>) a stable
# offset derived from its name, so two stacks do not fight over a port and a developer's
# URLs stay the same between `pulumi up`s. The bases are far enough apart that no offset
# makes two kinds collide: ingress 18000+ (HOST_PORT_SLOTS of them), the dev Vault at its
# configured port (8200+), the log receiver at 12201+.
HOST_PORT_BASE = 18000
HOST_PORT_SLOTS = 10  # ingress ports per stack, and the step between stack offsets
HOST_PORT_STACKS = 99  # distinct offsets for non-dev stacks
LOG_RECEIVER_PORT_BASE = 12201
DEV_STACK = "dev"

_MEMORY = re.compile(r"^([0-9]+)(Ki|Mi|Gi|Ti)$")
_MEMORY_FACTOR_KI = {"Ki": 1, "Mi": 1024, "Gi": 1024**2, "Ti": 1024**3}


def memory_mb(quantity: str) -> int:
    """A Kubernetes memory quantity as pulumi-docker's `memory` unit (MiB, rounded up).

    >>> memory_mb("512Mi"), memory_mb("1Gi"), memory_mb("1536Ki")
    (512, 1024, 2)
    """
    match = _MEMORY.match(quantity)
    if match is None:
        raise ValueError(f"'{quantity}' is not a memory quantity such as 512Mi or 2Gi")
    kib = int(match.group(1)) * _MEMORY_FACTOR_KI[match.group(2)]
    return max(1, -(-kib // 1024))


def cpu_cores(quantity: str) -> float:
    """A Kubernetes CPU quantity in cores: 250m -> 0.25, "2" -> 2.0."""
    if quantity.endswith("m"):
        return int(quantity[:-1]) / 1000
    return float(quantity)


def docker_cpus(quantity: str) -> str:
    """The CPU limit as Docker's `--cpus` string (pulumi-docker `cpus`, NanoCPUs): 250m -> 0.25."""
    cores = cpu_cores(quantity)
    return f"{cores:.3f}".rstrip("0").rstrip(".")


def cpu_shares(quantity: str) -> int:
    """The CPU request as a relative weight: 1 core = 1024 shares (Docker's default weight)."""
    return max(2, round(cpu_cores(quantity) * 1024))


class Profile(Protocol):
    """Who a container runs as and what it may use and write: what the hardening needs.

    A catalog `ServiceSpec` is one; a container that is no catalog service (the dev Vault
    server) states its own as a `ContainerProfile`.
    """

    @property
    def uid(self) -> int: ...
    @property
    def gid(self) -> int: ...
    @property
    def resources(self) -> Resources: ...
    @property
    def writable_paths(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class ContainerProfile:
    uid: int
    gid: int
    resources: Resources
    writable_paths: tuple[str, ...] = ()


def helper_profile(
    spec: ServiceSpec, resources: Resources, writable_paths: Sequence[str] = ()
) -> ContainerProfile:
    """A one-shot helper of a service (volume init, provisioning, model preload): the
    service's own user, with the helper's resources and writable paths."""
    return ContainerProfile(spec.uid, spec.gid, resources, tuple(writable_paths))


def tmpfs_options(profile: Profile, size: str = "64m") -> str:
    """Mount options for a writable tmpfs the (non-root) container user owns."""
    return f"rw,noexec,nosuid,nodev,size={size},uid={profile.uid},gid={profile.gid},mode=0700"


def tmpfs_for(profile: Profile) -> dict[str, str]:
    """Exactly the writable paths, each an in-memory filesystem owned by the user."""
    return {path: tmpfs_options(profile) for path in profile.writable_paths}


def network_segments(spec: ServiceSpec, catalog: Catalog) -> list[Segment]:
    """The segments whose network a container joins.

    Its own segment, plus the segment of every service it opens connections to (the catalog's
    network edges: `talks_to`, rerouted through poolers). A server never joins its clients'
    networks: the client comes to it. The metrics scraper also joins the segments of the
    scrape targets (derived from `scrape` entries, never hand-listed: scrape flows are not
    `talks_to` edges, and Kubernetes derives its NetworkPolicies from them the same way).
    """
    segments = {spec.segment}
    for peer in catalog.peers_of(spec.name):
        segments.add(catalog[peer].segment)
    if spec.name == SCRAPER:
        segments.update(s.segment for s in catalog.scrape_targets)
    return sorted(segments, key=list(Segment).index)


def stack_port_offset(stack: str) -> int:
    """What a stack adds to every host port it publishes: 0 for dev, stable per name."""
    if stack == DEV_STACK:
        return 0
    return HOST_PORT_SLOTS * (1 + zlib.crc32(stack.encode()) % HOST_PORT_STACKS)


def stack_host_port(base: int, stack: str) -> int:
    """The 127.0.0.1 port `stack` publishes for something `dev` publishes on `base`."""
    port = base + stack_port_offset(stack)
    if not 1024 <= port <= 65535:
        raise ValueError(f"host port {port} (base {base}) is outside 1024-65535")
    return port


def ingress_host_ports(catalog: Catalog, stack: str) -> dict[tuple[str, str], int]:
    """127.0.0.1 host port per (ingress service, port name), stable for a stack."""
    pairs = sorted((s.name, p.name) for s in catalog if s.ingress for p in s.ports)
    if len(pairs) > HOST_PORT_SLOTS:
        raise ValueError(
            f"{len(pairs)} ingress ports exceed the {HOST_PORT_SLOTS} host ports per stack"
        )
    return {
        pair: stack_host_port(HOST_PORT_BASE + index, stack) for index, pair in enumerate(pairs)
    }


def log_receiver_host_port(stack: str) -> int:
    """Where the engine's gelf log driver sends a stack's container output (Alloy, UDP)."""
    return stack_host_port(LOG_RECEIVER_PORT_BASE, stack)


@dataclass(frozen=True)
class FileMount:
    """A writable-at-create-time volume that read-only files are uploaded into."""

    path: str
    purpose: str  # "secrets" or "config"

    @property
    def volume_suffix(self) -> str:
        """secrets, or config-<directory> (a service may have several config directories)."""
        return self.purpose if self.purpose == "secrets" else f"config-{slug(self.path)}"


def _under(path: str, directory: str) -> bool:
    return path == directory or path.startswith(directory.rstrip("/") + "/")


def file_mounts(
    spec: ServiceSpec, secret_paths: list[str], config_paths: list[str] | None = None
) -> list[FileMount]:
    """Volumes that uploaded files land in, because a read-only root cannot take uploads.

    Docker copies an upload into a created container before it starts; with a read-only
    root filesystem it accepts the copy only into a writable volume mount, and a tmpfs is
    not mounted yet at that moment (the file would be hidden under it). So secrets go into
    a per-container volume at /vault/secrets, and each config file into a volume at its
    directory, unless that directory is already on the service's data volume.
    `config_paths`: every read-only file (the catalog's and the generated ones); default the
    catalog's `config_files`.
    """
    mounts: list[FileMount] = []
    if secret_paths:
        for path in secret_paths:
            if not _under(path, SECRETS_DIR):
                raise ValueError(f"{spec.name}: secret file {path} is outside {SECRETS_DIR}")
        mounts.append(FileMount(SECRETS_DIR, "secrets"))
    storage = spec.storage.path if spec.storage else None
    for path in sorted(spec.config_files if config_paths is None else config_paths):
        directory = posixpath.dirname(path)
        if any(_under(path, w) for w in spec.writable_paths):
            raise ValueError(
                f"{spec.name}: config file {path} lies under a writable tmpfs path, which "
                "cannot be pre-filled; move it out of writable_paths"
            )
        if storage and _under(path, storage):
            continue
        if _under(path, SECRETS_DIR):
            raise ValueError(f"{spec.name}: config file {path} is inside {SECRETS_DIR}")
        if any(_under(directory, m.path) for m in mounts if m.purpose == "config"):
            continue
        mounts.append(FileMount(directory, "config"))
    return mounts


def slug(value: str) -> str:
    """A name-safe form: llama3.1:8b -> llama3-1-8b, /etc/prometheus -> etc-prometheus."""
    return re.sub(r"[^a-z0-9]+", "-", value.lower()).strip("-")
