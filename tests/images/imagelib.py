"""Helpers shared by the image tests.

What is built and how each image runs comes from the service catalog
(stacks/catalog.yaml) through scripts/images/catalog_images.py; test-only
data (hermetic start env, fake upstreams, real-server runs) is in hermetic.py.
"""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SERVICE_CODE = REPO / "service-code"
# service-code/testing is no importable package path (hyphen): put it on sys.path.
if str(SERVICE_CODE / "testing") not in sys.path:
    sys.path.insert(0, str(SERVICE_CODE / "testing"))

from sutazai_testing import (  # noqa: E402  # pyright: ignore[reportMissingImports]
    dead_url,
    fake_upstream,
    postgres_server,
    redis_server,
)

from scripts.images import podman_env  # noqa: E402 - namespace package from the repo root
from scripts.images.catalog_images import (  # noqa: E402
    ImageNode,
    RunContract,
    build_graph,
    built_services,
    load_catalog,
    run_contract,
)

__all__ = ["dead_url", "fake_upstream", "podman_env", "postgres_server", "redis_server"]


@cache
def graph() -> tuple[ImageNode, ...]:
    """The catalog's build graph, parents first."""
    return tuple(build_graph(load_catalog()))


@cache
def contracts() -> tuple[RunContract, ...]:
    """The run contract of every service the catalog builds."""
    return tuple(run_contract(s) for s in built_services(load_catalog()))


def contract(name: str) -> RunContract:
    return next(c for c in contracts() if c.name == name)


BASE_USER = "10001:10001"


def image_user(node: ImageNode) -> str:
    """The numeric USER an image ends with: a service's catalog uid:gid; a base
    image's is the one every service built on it runs as (they must agree)."""
    if node.kind == "service":
        return contract(node.name).user
    catalog = load_catalog()
    users = {
        run_contract(spec).user
        for spec in built_services(catalog)
        if spec.build is not None
        and node.name in {b.name for b in catalog.base_chain(spec.build.base)}
    }
    if not users:
        # A base no service builds on (backup-jobs) keeps python-base's user; its pods run
        # as the service they serve, and its code is root-owned and world-readable.
        return BASE_USER
    assert len(users) == 1, f"services built on {node.name} disagree on uid:gid: {users}"
    return users.pop()


def image_ref(name: str) -> str:
    return f"localhost/sutazai/{name}:latest"


def hardened_flags(svc: RunContract) -> list[str]:
    """The hardening every workload gets from the Pulumi renderers, as podman flags:
    read-only root, an empty tmpfs (emptyDir) on each writable path, owned (`U`) by the
    catalog's uid:gid as fsGroup makes it on Kubernetes, and that uid:gid."""
    flags = ["--read-only", "--read-only-tmpfs=false"]
    for path in svc.tmpfs:
        flags += ["--tmpfs", f"{path}:rw,mode=1777,size=64m,U"]
    return [
        *flags,
        "--user",
        svc.user,
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
    ]


def http_get(url: str, timeout: float = 5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def http_json(url: str, payload: Any, timeout: float = 15.0) -> tuple[int, Any]:
    req = urllib.request.Request(
        url,
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"null")


@dataclass
class Container:
    id: str
    base_url: str | None  # the contract port
    port: int | None
    urls: dict[int, str] = field(default_factory=dict)  # container port -> host URL

    def exec(self, *cmd: str) -> tuple[int, str]:
        r = podman_env.podman("exec", self.id, *cmd, check=False)
        return r.returncode, (r.stdout + r.stderr).strip()

    def logs(self) -> str:
        r = podman_env.podman("logs", self.id, check=False)
        return r.stdout + r.stderr

    def wait_http(self, path: str | None = "/health", timeout: float = 60.0) -> None:
        assert path is not None, "the service has no HTTP probe"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if http_get(f"{self.base_url}{path}", timeout=2)[0] == 200:
                    return
            except OSError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"{path} never answered 200; logs:\n{self.logs()[-3000:]}")

    def wait_tcp(self, timeout: float = 30.0) -> None:
        assert self.port is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"\0\0\0\x08\x04\xd2\x16\x2f")  # SSLRequest: a pooler answers 1 byte
                    if s.recv(1):
                        return
            except OSError:
                time.sleep(0.3)
        raise AssertionError(f"nothing answers on TCP; logs:\n{self.logs()[-3000:]}")


@contextmanager
def run_hardened(
    svc: RunContract,
    *,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    volume: str | None = None,
    host_network: bool = False,
) -> Iterator[Container]:
    """Run the service's image as the platform does: its run contract's hardening,
    its env literals (overridden by `env`), its ports published on loopback, and
    `volume` (else a tmpfs) on its storage path."""
    cmd = ["run", "-d", "--init", *hardened_flags(svc)]
    ports: list[int] = sorted({svc.port} | ({svc.metrics_port} if svc.metrics_port else set()))
    if host_network:
        cmd += ["--network", "host"]
    else:
        for p in ports:
            cmd += ["-p", f"127.0.0.1::{p}"]
    if svc.storage:
        if volume:
            cmd += ["-v", f"{volume}:{svc.storage}"]
        else:
            cmd += ["--tmpfs", f"{svc.storage}:rw,mode=1777,U"]
    for k, v in {**svc.env, **(env or {})}.items():
        cmd += ["-e", f"{k}={v}"]
    cmd += [*(args or []), image_ref(svc.name)]
    cid = podman_env.podman(*cmd).stdout.strip()
    try:
        host = {p: p for p in ports}
        if not host_network:
            for p in ports:
                mapping = podman_env.podman("port", cid, str(p)).stdout.strip()
                host[p] = int(mapping.rsplit(":", 1)[1])
        urls = {p: f"http://127.0.0.1:{h}" for p, h in host.items()}
        yield Container(cid, urls[svc.port], host[svc.port], urls)
    finally:
        podman_env.podman("rm", "-f", "-t", "2", cid, check=False)
