"""The images of service-code/ as the service catalog describes them.

`stacks/catalog.yaml` is the only description of the build graph and of each in-house
service's run contract; the build script and tests/images read them from here, through
`stacks.catalog.load_catalog()`. These are queries only: nothing here restates the catalog.

* `build_graph()`: root image -> base hierarchy -> services, parents first. Each node's
  `parent` is what its Dockerfile's `BASE_IMAGE` build argument gets.
* `run_contract()`: uid/gid, the probed port, health/ready/metrics paths (from the probes
  and `scrape`), writable paths (writable_paths + the storage path), exec checks.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script (build_all.py), not from the repo root
    sys.path.insert(0, str(REPO))

from stacks.catalog import Catalog, Probe, ServiceSpec, load_catalog  # noqa: E402

__all__ = [
    "ROOT",
    "ROOT_IMAGE",
    "ROOT_PACKAGES",
    "Check",
    "ImageNode",
    "RunContract",
    "build_graph",
    "built_services",
    "load_catalog",
    "run_contract",
]

# The catalog's name for "the root image" in `build.base` (base images say parent: null).
ROOT = "root"
# The root image these podman builds use. It stands in for `catalog.root_base_image`
# (python:3.11-slim-bookworm), which cannot be pulled here (no Docker Hub): the build script
# makes it with `debootstrap --variant=minbase bookworm` + these packages and imports it
# under this name. It is a detail of the local build, not part of the catalog.
ROOT_IMAGE = "localhost/debian-python:bookworm"
ROOT_PACKAGES = ("python3", "python3-venv", "ca-certificates")


@dataclass(frozen=True)
class ImageNode:
    name: str
    kind: Literal["base", "service"]
    context: str  # relative to service-code/
    parent: str  # a base image's name, or ROOT


def build_graph(catalog: Catalog) -> list[ImageNode]:
    """Every image we build, parents before children: the base hierarchy (catalog
    `base_images`) and then every service with a `build`."""
    parents = {b.name: b.parent for b in catalog.base_images}
    for name in parents:  # Catalog validates that parents exist, not that they end at root
        seen = [name]
        while (parent := parents[seen[-1]]) is not None:
            if parent in seen:
                raise ValueError(f"cycle in base_images: {' -> '.join([*seen, parent])}")
            seen.append(parent)
    nodes: list[ImageNode] = []
    done: set[str] = set()
    for base in catalog.base_images:
        for link in catalog.base_chain(base.name):
            if link.name not in done:
                done.add(link.name)
                nodes.append(ImageNode(link.name, "base", link.path, link.parent or ROOT))
    for spec in built_services(catalog):
        assert spec.build is not None
        nodes.append(ImageNode(spec.name, "service", spec.build.path, spec.build.base))
    return nodes


def built_services(catalog: Catalog) -> list[ServiceSpec]:
    """The in-house services (those the catalog builds from service-code/)."""
    return [s for s in catalog if s.build is not None]


@dataclass(frozen=True)
class Check:
    """A probe resolved to what a test does: GET port+path, connect to port, or exec."""

    kind: Literal["http", "tcp", "exec"]
    port: int | None = None
    path: str | None = None
    command: tuple[str, ...] = ()


@dataclass(frozen=True)
class RunContract:
    name: str
    uid: int
    gid: int
    port: int  # the port the liveness probe uses (else the first port)
    liveness: Check
    readiness: Check
    metrics: str | None  # the scrape path (on `metrics_port`), None when not scraped
    metrics_port: int | None
    writable: tuple[str, ...]  # writable_paths + the storage path
    storage: str | None  # the persistent path (a volume), if any
    config_files: tuple[str, ...]  # read-only files the platform mounts
    env: dict[str, str] = field(default_factory=dict)  # env literals (no ${...} references)

    @property
    def user(self) -> str:
        return f"{self.uid}:{self.gid}"

    @property
    def http(self) -> bool:
        return self.liveness.kind == self.readiness.kind == "http"

    @property
    def health(self) -> str | None:
        return self.liveness.path

    @property
    def ready(self) -> str | None:
        return self.readiness.path

    @property
    def tmpfs(self) -> tuple[str, ...]:
        """Writable paths that are scratch space (emptyDir / tmpfs), not the storage volume."""
        return tuple(p for p in self.writable if p != self.storage)

    @property
    def exec_checks(self) -> tuple[tuple[str, ...], ...]:
        return tuple(c.command for c in (self.liveness, self.readiness) if c.kind == "exec")


def _check(spec: ServiceSpec, probe: Probe) -> Check:
    port = spec.port(probe.port).port if probe.port is not None else None
    if probe.http is not None:
        return Check("http", port, probe.http)
    if probe.tcp:
        return Check("tcp", port)
    return Check("exec", port, command=tuple(probe.exec or ()))


def run_contract(spec: ServiceSpec) -> RunContract:
    liveness = _check(spec, spec.health.liveness)
    storage = spec.storage.path if spec.storage else None
    return RunContract(
        name=spec.name,
        uid=spec.uid,
        gid=spec.gid,
        port=liveness.port or spec.primary_port.port,
        liveness=liveness,
        readiness=_check(spec, spec.health.readiness),
        metrics=spec.scrape.path if spec.scrape else None,
        metrics_port=spec.port(spec.scrape.port).port if spec.scrape else None,
        writable=(*spec.writable_paths, *([storage] if storage else [])),
        storage=storage,
        config_files=tuple(spec.config_files),
        env={k: v for k, v in spec.env.items() if "${" not in v},
    )
