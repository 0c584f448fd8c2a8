"""Run every built image the way the platform does (read-only root, the catalog's
uid:gid, tmpfs on its writable paths, no capabilities, no new privileges) and check
the run contract the catalog declares (probes, metrics, writable paths) from the host."""

from __future__ import annotations

import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from . import hermetic
from .imagelib import (
    SERVICE_CODE,
    ImageNode,
    RunContract,
    contract,
    contracts,
    graph,
    http_get,
    http_json,
    image_ref,
    image_user,
    run_hardened,
)

pytestmark = pytest.mark.images

HTTP_SERVICES = [c for c in contracts() if c.http]
BASES = [n for n in graph() if n.kind == "base"]
# Paths no workload may write (the image's own files under a read-only root), where the
# image has the directory (/srv/app and /opt/venv are the Python services').
READ_ONLY = ("/x", "/etc/x", "/usr/x", "/srv/app/x", "/opt/venv/x")


@pytest.mark.parametrize("base", BASES, ids=lambda n: n.name)
def test_base_images(podman: Callable[..., Any], base: ImageNode) -> None:
    user = image_user(base)
    info = podman(
        "image",
        "inspect",
        "--format",
        "{{.Config.User}}|{{json .Config.Env}}",
        image_ref(base.name),
    ).stdout.strip()
    configured, env = info.split("|", 1)
    assert configured == user
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env
    out = podman(
        "run",
        "--rm",
        "--read-only",
        "--user",
        user,
        "--cap-drop",
        "ALL",
        image_ref(base.name),
        "python",
        "-c",
        f"import {hermetic.BASE_MODULES[base.name]}, sys; print(sys.prefix)",
    ).stdout.strip()
    assert out == "/opt/venv"


def _check_hardening(c: Any, svc: RunContract) -> None:
    assert c.exec("id", "-u") == (0, str(svc.uid)) and c.exec("id", "-g") == (0, str(svc.gid))
    for path in READ_ONLY:
        if c.exec("test", "-d", str(Path(path).parent))[0] != 0:
            continue
        rc, out = c.exec("touch", path)
        assert rc != 0 and "Read-only file system" in out, (path, out)
    for path in svc.writable:
        rc, out = c.exec("touch", f"{path}/written-by-{svc.uid}")
        assert rc == 0, f"{path} must be writable by {svc.user}: {out}"
    assert c.exec("grep", "-E", "^CapEff:\\s+0+$", "/proc/1/status")[0] == 0
    assert c.exec("grep", "-E", "^NoNewPrivs:\\s+1$", "/proc/1/status")[0] == 0
    for command in svc.exec_checks:
        assert c.exec(*command)[0] == 0, command


@pytest.fixture
def volume(podman: Callable[..., Any], request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh named volume (what the platform gives a service's storage path)."""
    name = f"sutazai-test-{request.node.name}".translate(str.maketrans("[]", "--"))
    podman("volume", "rm", "-f", name, check=False)
    podman("volume", "create", name)
    yield name
    podman("volume", "rm", "-f", name, check=False)


@pytest.mark.parametrize("svc", HTTP_SERVICES, ids=lambda c: c.name)
def test_http_service_runs_hardened(
    podman: Callable[..., Any], svc: RunContract, request: pytest.FixtureRequest
) -> None:
    volume = request.getfixturevalue("volume") if svc.storage else None
    with run_hardened(svc, env=hermetic.START_ENV.get(svc.name), volume=volume) as c:
        c.wait_http(svc.health)
        if svc.metrics is not None:
            assert svc.metrics_port is not None
            status, body = http_get(f"{c.urls[svc.metrics_port]}{svc.metrics}")
            assert status == 200 and "http_requests_total" in body and "process_" in body
        status, body = http_get(f"{c.base_url}{svc.ready}")
        down = hermetic.EXPECTED_DOWN.get(svc.name, [])
        assert status == (503 if down else 200), body
        if down:
            assert f'"down":{str(down).replace(chr(39), chr(34)).replace(" ", "")}' in body
        _check_hardening(c, svc)


def test_faiss_index_survives_restart(podman: Callable[..., Any], volume: str) -> None:
    """The index lives on faiss' storage path, a volume that outlives the container."""
    svc = contract("faiss")
    assert svc.storage is not None
    with run_hardened(svc, env={"DIMENSION": "3"}, volume=volume) as c:
        c.wait_http(svc.health)
        status, body = http_json(f"{c.base_url}/add", {"vectors": [[1, 2, 3]], "ids": [7]})
        assert status == 200, body
    with run_hardened(svc, env={"DIMENSION": "3"}, volume=volume) as c:
        c.wait_http(svc.health)
        status, body = http_json(f"{c.base_url}/search", {"vectors": [[1, 2, 3]], "k": 1})
        assert body["results"][0][0]["id"] == 7


# Dev's authentication switch (refused in prod by the backend and by the stack config).
NO_AUTH = {"AUTH_DISABLED": "true", "SUTAZAI_ENVIRONMENT": "dev"}


def test_backend_upload_lands_in_tmp(podman: Callable[..., Any]) -> None:
    import urllib.request

    svc = contract("backend")
    # Bearer tokens are tested against the real backend in service-code/backend/tests
    # (test_edge.py); here the image's upload path is, with dev's switch that lets callers in.
    with run_hardened(svc, env=NO_AUTH) as c:
        c.wait_http(svc.health)
        boundary = "sutazai"
        data = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; '
            f'filename="a.txt"\r\n\r\nhello\r\n--{boundary}--\r\n'
        ).encode()
        req = urllib.request.Request(
            f"{c.base_url}/api/v1/files/upload",
            data=data,
            method="POST",
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            assert r.status == 201
        # Uploads are kept per user: /tmp/sutazai_uploads/<owner>/<id>-a.txt.
        rc, out = c.exec("ls", "-R", "/tmp/sutazai_uploads")
        assert rc == 0 and any(line.endswith("-a.txt") for line in out.split()), out


def test_pgbouncer_runs_hardened_with_mounted_config(podman: Callable[..., Any]) -> None:
    svc = contract("pgbouncer")
    cfg = SERVICE_CODE / "pgbouncer" / "config" / "pgbouncer.ini"
    with tempfile.TemporaryDirectory() as tmp:
        userlist = Path(tmp) / "userlist.txt"
        userlist.write_text('"sutazai" "not-a-real-secret"\n')
        userlist.chmod(0o444)
        args = [
            "-v",
            f"{cfg}:{hermetic.PGBOUNCER_CONFIG}:ro",
            "-v",
            f"{userlist}:{hermetic.PGBOUNCER_USERLIST}:ro",
        ]
        with run_hardened(svc, args=args) as c:
            assert svc.liveness.kind == svc.readiness.kind == "tcp"
            c.wait_tcp()
            assert c.exec("pg_isready", "-h", "127.0.0.1", "-p", str(svc.port))[0] == 0
            _check_hardening(c, svc)
            assert "Read-only file system" in c.exec("touch", "/etc/pgbouncer/x")[1]


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


@pytest.fixture
def secrets_dir() -> Iterator[Path]:
    d = Path(tempfile.mkdtemp(prefix="sutazai-secrets-"))
    d.chmod(0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.parametrize("name", hermetic.REAL_DATA_SERVICES)
def test_service_image_against_real_postgres_and_redis(
    podman: Callable[..., Any],
    name: str,
    postgres_server: Any,
    redis_server: Any,
    fake_upstream: Any,
    secrets_dir: Path,
) -> None:
    """The image (not the source tree) talks to real servers, with its secrets
    delivered as files the way Vault Agent does (/vault/secrets, *_FILE)."""
    svc = contract(name)
    if not _port_free(svc.port):
        pytest.skip(f"host port {svc.port} busy (host network is needed to reach loopback servers)")
    for secret, src in (
        ("postgres-password", postgres_server.password_file),
        ("redis-password", redis_server.password_file),
    ):
        (secrets_dir / secret).write_text(Path(src).read_text())
        (secrets_dir / secret).chmod(0o444)
    env = {
        **postgres_server.env(),
        **redis_server.env(),
        "POSTGRES_PASSWORD_FILE": "/vault/secrets/postgres-password",
        "REDIS_PASSWORD_FILE": "/vault/secrets/redis-password",
        "OLLAMA_BASE_URL": fake_upstream.url,
        "AGENT_CONSUMER_NAME": "image-test",
        **(NO_AUTH if name == "backend" else {}),
    }
    args = ["-v", f"{secrets_dir}:/vault/secrets:ro"]
    with run_hardened(svc, env=env, args=args, host_network=True) as c:
        c.wait_http(svc.health)
        status, body = http_get(f"{c.base_url}{svc.ready}")
        assert status == 200, body
        if name == "backend":
            status, reply = http_json(f"{c.base_url}/api/v1/chat", {"message": "ping"})
            assert status == 200 and reply["persisted"] and reply["response"] == "echo: ping"
            status, reply = http_json(f"{c.base_url}/api/v1/chat", {"message": "ping"})
            assert reply["cached"] is True
        else:
            status, reply = http_json(f"{c.base_url}/tasks", {"goal": "g", "max_steps": 1})
            assert status == 202
            deadline = time.monotonic() + 30
            while True:
                task = http_get(f"{c.base_url}/tasks/{reply['task_id']}")[1]
                if '"completed"' in task or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert '"status":"completed"' in task


def test_every_service_is_covered() -> None:
    """Every service the catalog builds runs here: the HTTP ones in
    test_http_service_runs_hardened, the rest (TCP-probed) in a test of their own;
    the test-only data names only services the catalog builds."""
    names = {c.name for c in contracts()}
    assert {c.name for c in contracts() if not c.http} == {"pgbouncer"}
    test_data = {
        *hermetic.START_ENV,
        *hermetic.EXPECTED_DOWN,
        *hermetic.REAL_DATA_SERVICES,
    }
    assert test_data <= names, test_data - names
    assert set(hermetic.BASE_MODULES) == {n.name for n in BASES}
