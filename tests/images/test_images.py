"""Run every built image the way the platform does (read-only root, uid
10001, no capabilities, no new privileges) and check the service contract
from the host."""

from __future__ import annotations

import shutil
import socket
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from .imagelib import SERVICE_CODE, http_get, http_json, image_ref, manifest, run_hardened, services

pytestmark = pytest.mark.images

HTTP_SERVICES = [s for s in services() if s["port"] == 8080]
DEAD = "127.0.0.1"  # inside the container nothing listens on its own loopback:1
# Required configuration so each service starts (dependencies deliberately unreachable).
START_ENV: dict[str, dict[str, str]] = {
    "agentgpt": {
        "POSTGRES_HOST": DEAD,
        "POSTGRES_PORT": "1",
        "REDIS_URL": f"redis://{DEAD}:1/0",
        "READY_TIMEOUT_SECONDS": "2",
    },
    "backend": {"POSTGRES_HOST": DEAD, "POSTGRES_PORT": "1", "READY_TIMEOUT_SECONDS": "2"},
    "faiss": {"DIMENSION": "4"},
}
EXPECTED_DOWN = {"agentgpt": ["postgres", "redis"], "backend": ["postgres"]}


@pytest.mark.parametrize(
    "base,modules",
    [
        ("python-base", "fastapi,uvicorn,pydantic,httpx,prometheus_client,sutazai_common"),
        ("web-base", "jinja2,multipart,sutazai_common"),
        ("data-base", "psycopg,psycopg_pool,redis,neo4j,sutazai_common"),
        ("ai-base", "numpy,faiss,psycopg,agent_runtime"),
        ("monitoring-base", "prometheus_client,httpx,sutazai_common"),
    ],
)
def test_base_images(podman: Callable[..., Any], base: str, modules: str) -> None:
    info = podman(
        "image", "inspect", "--format", "{{.Config.User}}|{{json .Config.Env}}", image_ref(base)
    ).stdout.strip()
    user, env = info.split("|", 1)
    assert user == "10001:10001"
    assert "PYTHONDONTWRITEBYTECODE=1" in env and "PYTHONUNBUFFERED=1" in env
    out = podman(
        "run",
        "--rm",
        "--read-only",
        "--user",
        "10001:10001",
        "--cap-drop",
        "ALL",
        image_ref(base),
        "python",
        "-c",
        f"import {modules}, sys; print(sys.prefix)",
    ).stdout.strip()
    assert out == "/opt/venv"


@pytest.mark.parametrize("svc", HTTP_SERVICES, ids=lambda s: s["name"])
def test_http_service_runs_hardened(podman: Callable[..., Any], svc: dict[str, Any]) -> None:
    name = svc["name"]
    args: list[str] = []
    volume = None
    if "/data/indices" in svc["writable"]:
        volume = f"sutazai-test-{name}-data"
        podman("volume", "rm", "-f", volume, check=False)
        podman("volume", "create", volume)
        args += ["-v", f"{volume}:/data/indices"]
    try:
        with run_hardened(image_ref(name), env=START_ENV.get(name), args=args) as c:
            c.wait_http("/health")
            status, body = http_get(f"{c.base_url}/metrics")
            assert status == 200 and "http_requests_total" in body and "process_" in body
            status, body = http_get(f"{c.base_url}/ready")
            down = EXPECTED_DOWN.get(name, [])
            assert status == (503 if down else 200), body
            if down:
                assert f'"down":{str(down).replace(chr(39), chr(34)).replace(" ", "")}' in body
            assert c.exec("id", "-u") == (0, "10001") and c.exec("id", "-g") == (0, "10001")
            for path in ("/x", "/srv/app/x", "/opt/venv/x", "/etc/x"):
                rc, out = c.exec("touch", path)
                assert rc != 0 and "Read-only file system" in out, (path, out)
            assert c.exec("touch", "/tmp/ok")[0] == 0
            assert c.exec("grep", "-E", "^CapEff:\\s+0+$", "/proc/1/status")[0] == 0
            assert c.exec("grep", "-E", "^NoNewPrivs:\\s+1$", "/proc/1/status")[0] == 0
            if volume:
                rc, _ = c.exec("touch", "/data/indices/writable")
                assert rc == 0, "the data volume must be writable by 10001"
    finally:
        if volume:
            podman("volume", "rm", "-f", volume, check=False)


def test_faiss_index_survives_restart(podman: Callable[..., Any]) -> None:
    volume = "sutazai-test-faiss-persist"
    podman("volume", "rm", "-f", volume, check=False)
    podman("volume", "create", volume)
    try:
        args = ["-v", f"{volume}:/data/indices"]
        with run_hardened(image_ref("faiss"), env={"DIMENSION": "3"}, args=args) as c:
            c.wait_http()
            status, body = http_json(f"{c.base_url}/add", {"vectors": [[1, 2, 3]], "ids": [7]})
            assert status == 200, body
        with run_hardened(image_ref("faiss"), env={"DIMENSION": "3"}, args=args) as c:
            c.wait_http()
            status, body = http_json(f"{c.base_url}/search", {"vectors": [[1, 2, 3]], "k": 1})
            assert body["results"][0][0]["id"] == 7
    finally:
        podman("volume", "rm", "-f", volume, check=False)


def test_backend_upload_lands_in_tmp(podman: Callable[..., Any]) -> None:
    import urllib.request

    with run_hardened(image_ref("backend")) as c:
        c.wait_http()
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
        rc, out = c.exec("ls", "/tmp/sutazai_uploads")
        assert rc == 0 and out.endswith("-a.txt")


def test_pgbouncer_runs_hardened_with_mounted_config(podman: Callable[..., Any]) -> None:
    cfg = SERVICE_CODE / "pgbouncer" / "config" / "pgbouncer.ini"
    with tempfile.TemporaryDirectory() as tmp:
        userlist = Path(tmp) / "userlist.txt"
        userlist.write_text('"sutazai" "not-a-real-secret"\n')
        userlist.chmod(0o444)
        args = [
            "-v",
            f"{cfg}:/etc/pgbouncer/pgbouncer.ini:ro",
            "-v",
            f"{userlist}:/etc/pgbouncer/userlist.txt:ro",
        ]
        with run_hardened(image_ref("pgbouncer"), container_port=6432, args=args) as c:
            c.wait_tcp()
            assert c.exec("pg_isready", "-h", "127.0.0.1", "-p", "6432")[0] == 0
            assert c.exec("id", "-u") == (0, "10001")
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
@pytest.mark.parametrize("name", ["backend", "agentgpt"])
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
    if not _port_free(8080):
        pytest.skip("host port 8080 busy (host network is needed to reach loopback servers)")
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
    }
    args = ["-v", f"{secrets_dir}:/vault/secrets:ro"]
    with run_hardened(image_ref(name), env=env, args=args, host_network=True) as c:
        c.wait_http()
        status, body = http_get(f"{c.base_url}/ready")
        assert status == 200, body
        if name == "backend":
            status, reply = http_json(f"{c.base_url}/api/v1/chat", {"message": "ping"})
            assert status == 200 and reply["persisted"] and reply["response"] == "echo: ping"
            status, reply = http_json(f"{c.base_url}/api/v1/chat", {"message": "ping"})
            assert reply["cached"] is True
        else:
            status, reply = http_json(f"{c.base_url}/tasks", {"goal": "g", "max_steps": 1})
            assert status == 202
            import time

            deadline = time.monotonic() + 30
            while True:
                task = http_get(f"{c.base_url}/tasks/{reply['task_id']}")[1]
                if '"completed"' in task or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            assert '"status":"completed"' in task


def test_every_service_is_covered() -> None:
    names = {s["name"] for s in services()}
    assert names == {s["name"] for s in HTTP_SERVICES} | {"pgbouncer"}
    assert "root" in {i["parent"] for i in manifest()["images"]}
