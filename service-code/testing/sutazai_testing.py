"""Pytest plugin: real PostgreSQL/Redis on loopback and a fake Ollama/Qdrant.

The servers are the Debian binaries, started in a temp dir for the session.
A test that needs one is skipped (with the reason) only if the binaries are
absent; any other start-up failure is an error.
"""

from __future__ import annotations

import glob
import json
import math
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

PG_PASSWORD = "pg-test-secret"
REDIS_PASSWORD = "redis-test-secret"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port}")


def pg_bindir() -> Path | None:
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name)
    )
    if candidates:
        return Path(candidates[-1]).parent
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


@dataclass
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    dbname: str
    password_file: Path

    def env(self) -> dict[str, str]:
        return {
            "POSTGRES_HOST": self.host,
            "POSTGRES_PORT": str(self.port),
            "POSTGRES_DB": self.dbname,
            "POSTGRES_USER": self.user,
            "POSTGRES_PASSWORD_FILE": str(self.password_file),
        }


@dataclass
class RedisServer:
    host: str
    port: int
    password_file: Path

    def env(self) -> dict[str, str]:
        return {
            "REDIS_HOST": self.host,
            "REDIS_PORT": str(self.port),
            "REDIS_PASSWORD_FILE": str(self.password_file),
        }


def _demote() -> list[str]:
    """PostgreSQL refuses to run as root: run it as `postgres`/`nobody`."""
    if os.geteuid() != 0:
        return []
    for name in ("postgres", "nobody"):
        try:
            pwd.getpwnam(name)
        except KeyError:
            continue
        return ["runuser", "-u", name, "--"]
    raise RuntimeError("running as root and no unprivileged user to run PostgreSQL")


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    bindir = pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL server binaries absent (apt-get install -y postgresql)")
    prefix = _demote()
    tmp = Path(tempfile.mkdtemp(prefix="sutazai-pg-"))
    data = tmp / "data"
    pwfile = tmp / "pwfile"
    pwfile.write_text(PG_PASSWORD + "\n")
    port = free_port()
    if prefix:
        shutil.chown(tmp, prefix[2])
        shutil.chown(pwfile, prefix[2])
    tmp.chmod(0o700)
    subprocess.run(
        [
            *prefix,
            str(bindir / "initdb"),
            "-D",
            str(data),
            "-U",
            "sutazai",
            "-A",
            "scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-sync",
            "-E",
            "UTF8",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    opts = (
        f"-c listen_addresses=127.0.0.1 -c port={port} "
        f"-c unix_socket_directories={tmp} -c fsync=off"
    )
    subprocess.run(
        [
            *prefix,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-l",
            str(tmp / "log"),
            "-o",
            opts,
            "-w",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    secret = tmp / "secret"
    secret.write_text(PG_PASSWORD + "\n")
    try:
        yield PostgresServer("127.0.0.1", port, "sutazai", PG_PASSWORD, "postgres", secret)
    finally:
        subprocess.run(
            [*prefix, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def running_redis() -> Iterator[RedisServer]:
    """A private redis-server on loopback with a password (tests, benchmarks)."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server binary absent (apt-get install -y redis-server)")
    tmp = Path(tempfile.mkdtemp(prefix="sutazai-redis-"))
    port = free_port()
    secret = tmp / "secret"
    secret.write_text(REDIS_PASSWORD + "\n")
    proc = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--requirepass",
            REDIS_PASSWORD,
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
        ],
        stdout=subprocess.DEVNULL,
    )
    try:
        wait_port(port)
        yield RedisServer("127.0.0.1", port, secret)
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server binary absent (apt-get install -y redis-server)")
    with running_redis() as server:
        yield server


# --------------------------------------------------------------------------
# Fake upstreams: Ollama + Qdrant + Chroma + generic /health, one tiny server.


@dataclass
class FakeUpstream:
    url: str
    calls: list[tuple[str, str, Any]] = field(default_factory=list)
    headers: list[dict[str, str]] = field(default_factory=list)
    collections: dict[str, dict[str, Any]] = field(default_factory=dict)
    healthy: bool = True
    # Set: it is a Qdrant with an API key, which every path but the open probes needs
    # (`api-key: <key>` or `Authorization: Bearer <key>`); 401 without it.
    api_key: str | None = None
    rejected: int = 0

    def count(self, method: str, path: str) -> int:
        return sum(1 for m, p, _ in self.calls if m == method and p == path)

    def headers_to(self, prefix: str) -> list[dict[str, str]]:
        """The headers of the requests whose path starts with ``prefix``, in order."""
        return [
            h for (_, p, _), h in zip(self.calls, self.headers, strict=True) if p.startswith(prefix)
        ]


# What Qdrant serves without its API key.
QDRANT_OPEN_PATHS = frozenset({"/", "/healthz", "/livez", "/readyz"})


def _cosine(a: list[float], b: list[float]) -> float:
    na = math.sqrt(sum(x * x for x in a)) or 1.0
    nb = math.sqrt(sum(x * x for x in b)) or 1.0
    return sum(x * y for x, y in zip(a, b, strict=False)) / (na * nb)


def _make_handler(state: FakeUpstream) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def _send(self, code: int, payload: Any) -> None:
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _body(self) -> Any:
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length else b""
            try:
                return json.loads(raw) if raw else None
            except ValueError:  # not JSON (e.g. OTLP protobuf)
                return raw.decode(errors="replace")

        def _route(self, method: str) -> None:
            path = self.path.split("?", 1)[0]
            body = self._body() if method in {"POST", "PUT", "PATCH", "DELETE"} else None
            state.calls.append((method, path, body))
            state.headers.append({k.lower(): v for k, v in self.headers.items()})
            if not state.healthy:
                return self._send(503, {"error": "down"})
            if state.api_key is not None and path not in QDRANT_OPEN_PATHS:
                bearer = self.headers.get("Authorization", "").removeprefix("Bearer ")
                if state.api_key not in {self.headers.get("api-key"), bearer}:
                    state.rejected += 1
                    return self._send(401, {"status": {"error": "Must provide an API key"}})
            parts = [p for p in path.split("/") if p]
            if path in {"/health", "/readyz", "/api/version", "/api/v2/heartbeat", "/"}:
                return self._send(200, {"status": "ok", "version": "0.0.0-fake"})
            if path == "/v1/traces" and method == "POST":  # an OTLP/HTTP collector
                return self._send(200, {})
            if path == "/api/tags":
                return self._send(200, {"models": [{"name": "tinyllama"}]})
            if path == "/api/generate" and method == "POST":
                prompt = str(body.get("prompt", "")) if isinstance(body, dict) else ""
                model = body.get("model") if isinstance(body, dict) else None
                # Ollama's timings (nanoseconds), as every non-streaming answer reports them.
                return self._send(
                    200,
                    {
                        "model": model,
                        "response": f"echo: {prompt[-200:]}",
                        "done": True,
                        "total_duration": 900_000_000,
                        "load_duration": 100_000_000,
                        "prompt_eval_count": 12,
                        "prompt_eval_duration": 200_000_000,
                        "eval_count": 30,
                        "eval_duration": 600_000_000,
                    },
                )
            if len(parts) >= 2 and parts[0] == "collections":
                return self._qdrant(method, parts[1], parts[2:], body)
            if path == "/echo":
                return self._send(
                    200, {"method": method, "body": body, "query": self.path.partition("?")[2]}
                )
            return self._send(404, {"error": f"no route {method} {path}"})

        def _qdrant(self, method: str, name: str, rest: list[str], body: Any) -> None:
            if not rest:
                if method == "GET":
                    if name in state.collections:
                        return self._send(200, {"result": {"status": "green"}})
                    return self._send(404, {"status": {"error": "Not found"}})
                if method == "PUT":
                    state.collections.setdefault(name, {})
                    return self._send(200, {"result": True})
            coll = state.collections.get(name)
            if coll is None:
                return self._send(404, {"status": {"error": "Not found"}})
            if rest == ["points"] and method == "PUT" and isinstance(body, dict):
                for point in body.get("points", []):
                    coll[str(point["id"])] = point
                return self._send(200, {"result": {"status": "completed"}})
            if rest == ["points", "search"] and method == "POST" and isinstance(body, dict):
                query = body["vector"]
                hits = sorted(
                    (
                        {
                            "id": p["id"],
                            "score": _cosine(query, p["vector"]),
                            "payload": p.get("payload"),
                        }
                        for p in coll.values()
                    ),
                    key=lambda h: -h["score"],
                )[: int(body.get("limit", 10))]
                return self._send(200, {"result": hits})
            return self._send(404, {"error": "unsupported"})

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

        def do_PUT(self) -> None:
            self._route("PUT")

        def do_DELETE(self) -> None:
            self._route("DELETE")

    return Handler


@pytest.fixture
def fake_upstream() -> Iterator[FakeUpstream]:
    state = FakeUpstream(url="")
    server = ThreadingHTTPServer(("127.0.0.1", 0), _make_handler(state))
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def dead_url() -> str:
    """A loopback URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """Drop every dependency variable so each test configures its own."""
    for name in list(os.environ):
        if name.split("_")[0] in {
            "POSTGRES",
            "REDIS",
            "NEO4J",
            "OLLAMA",
            "QDRANT",
            "CHROMADB",
            "FAISS",
            "BACKEND",
            "AGENTS",
            "SERVICE",
            "HEALTH",
            "READY",
            "AUTH",
            "RATE",
            "BREAKER",
            "SUTAZAI",
        }:
            monkeypatch.delenv(name, raising=False)
    return monkeypatch


# --------------------------------------------------------------------------
# A real token issuer: RSA keys generated here, a JWKS served over HTTP, tokens
# minted with PyJWT. Stands in for Cognito, an OIDC provider or the API server.


@dataclass
class TokenIssuer:
    url: str
    keys: list[tuple[str, Any]] = field(default_factory=list)  # (kid, private key), newest last
    jwks_fetches: int = 0
    # Set: the JWKS needs `Authorization: Bearer <it>` (as the API server's does).
    jwks_bearer: str | None = None

    @property
    def jwks_url(self) -> str:
        return f"{self.url}/.well-known/jwks.json"

    def rotate(self, *, keep_old: bool = True) -> str:
        """A new signing key (new kid) in the JWKS; the old one stays unless told otherwise."""
        from cryptography.hazmat.primitives.asymmetric import rsa

        kid = f"key-{len(self.keys) + 1}"
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.keys = [*(self.keys if keep_old else []), (kid, key)]
        return kid

    def jwks(self) -> dict[str, Any]:
        from jwt.algorithms import RSAAlgorithm

        out = []
        for kid, key in self.keys:
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            out.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": out}

    def token(
        self,
        subject: str = "alice",
        *,
        issuer: str | None = None,
        lifetime: int = 300,
        key: Any = None,
        kid: str | None = None,
        algorithm: str = "RS256",
        **claims: Any,
    ) -> str:
        """A signed JWT; pass claims (aud, client_id, token_use, ...) as the issuer would."""
        import jwt

        now = int(time.time())
        payload = {
            "iss": issuer if issuer is not None else self.url,
            "sub": subject,
            "iat": now,
            "exp": now + lifetime,
            **claims,
        }
        payload = {k: v for k, v in payload.items() if v is not None}
        current_kid, current_key = self.keys[-1]
        headers = {"kid": kid if kid is not None else current_kid}
        return jwt.encode(payload, key if key is not None else current_key, algorithm, headers)


@contextmanager
def serving_token_issuer() -> Iterator[TokenIssuer]:
    """A TokenIssuer with one key, its JWKS served on loopback (tests, benchmarks)."""
    state = TokenIssuer(url="")
    state.rotate()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            return

        def do_GET(self) -> None:
            if self.path != "/.well-known/jwks.json":
                self.send_response(404)
                self.end_headers()
                return
            if (
                state.jwks_bearer is not None
                and self.headers.get("Authorization") != f"Bearer {state.jwks_bearer}"
            ):
                self.send_response(401)
                self.end_headers()
                return
            state.jwks_fetches += 1
            data = json.dumps(state.jwks()).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def token_issuer() -> Iterator[TokenIssuer]:
    with serving_token_issuer() as issuer:
        yield issuer
