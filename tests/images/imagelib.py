"""Helpers shared by the image tests."""

from __future__ import annotations

import json
import socket
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

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

__all__ = ["dead_url", "fake_upstream", "podman_env", "postgres_server", "redis_server"]

# The hardening every workload gets from the Pulumi renderers, as podman flags.
HARDENED = [
    "--read-only",
    "--read-only-tmpfs=false",
    "--tmpfs",
    "/tmp:rw,mode=1777,size=64m",
    "--user",
    "10001:10001",
    "--cap-drop",
    "ALL",
    "--security-opt",
    "no-new-privileges",
]


def manifest() -> dict[str, Any]:
    return yaml.safe_load((SERVICE_CODE / "images.yaml").read_text())


def image_ref(name: str) -> str:
    return f"localhost/sutazai/{name}:latest"


def services() -> list[dict[str, Any]]:
    defaults = manifest()["defaults"]
    return [{**defaults, **i} for i in manifest()["images"] if i["kind"] == "service"]


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
    base_url: str | None
    port: int | None

    def exec(self, *cmd: str) -> tuple[int, str]:
        r = podman_env.podman("exec", self.id, *cmd, check=False)
        return r.returncode, (r.stdout + r.stderr).strip()

    def logs(self) -> str:
        r = podman_env.podman("logs", self.id, check=False)
        return r.stdout + r.stderr

    def wait_http(self, path: str = "/health", timeout: float = 60.0) -> None:
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
    ref: str,
    *,
    container_port: int | None = 8080,
    env: dict[str, str] | None = None,
    args: list[str] | None = None,
    host_network: bool = False,
) -> Iterator[Container]:
    cmd = ["run", "-d", "--init", *HARDENED]
    if host_network:
        cmd += ["--network", "host"]
    elif container_port is not None:
        cmd += ["-p", f"127.0.0.1::{container_port}"]
    for k, v in (env or {}).items():
        cmd += ["-e", f"{k}={v}"]
    cmd += [*(args or []), ref]
    cid = podman_env.podman(*cmd).stdout.strip()
    try:
        port: int | None = None
        if host_network:
            port = container_port
        elif container_port is not None:
            mapping = podman_env.podman("port", cid, str(container_port)).stdout.strip()
            port = int(mapping.rsplit(":", 1)[1])
        yield Container(cid, f"http://127.0.0.1:{port}" if port else None, port)
    finally:
        podman_env.podman("rm", "-f", "-t", "2", cid, check=False)
