"""The dev stacks' local issuer (app.dev_issuer), served over real HTTP, against the real
backend auth: what it mints is accepted, and everything an attacker could bend is not."""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
import uvicorn
from app import dev_issuer, main
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from sutazai_common.config import ConfigError
from sutazai_testing import PostgresServer, free_port, wait_port

USER_AUDIENCE = "sutazai-dev-backend-users"
BACKEND_AUDIENCE = "sutazai-dev-backend"
NAMESPACE = "sutazai-dev"


class RunningIssuer:
    def __init__(self, url: str, identity_dir: Path) -> None:
        self.url = url
        self.identity_dir = identity_dir

    def login(self, username: str = "alice") -> str:
        r = httpx.post(f"{self.url}/login", json={"username": username}, timeout=5)
        r.raise_for_status()
        body = r.json()
        assert body["token_type"] == "Bearer" and body["expires_in"] > 0
        return body["access_token"]

    def workload_token(self, service: str, file: str = "backend-token") -> str:
        return (self.identity_dir / service / file).read_text(encoding="utf-8")

    def auth_issuers(self) -> str:
        """What the Docker renderer gives the backend (components/docker/issuer.py)."""
        return json.dumps(
            [
                {
                    "kind": "oidc",
                    "issuer": self.url,
                    "jwks_url": f"{self.url}/jwks",
                    "audiences": [USER_AUDIENCE],
                },
                {
                    "kind": "kubernetes",
                    "issuer": f"{self.url}/workloads",
                    "jwks_url": f"{self.url}/workloads/jwks",
                    "audiences": [BACKEND_AUDIENCE],
                },
            ]
        )


@pytest.fixture
def issuer(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[RunningIssuer]:
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    for service in ("autogpt", "crewai"):
        (tmp_path / service).mkdir()
    workloads = {
        s: {"namespace": NAMESPACE, "audiences": {"backend-token": BACKEND_AUDIENCE}}
        for s in ("autogpt", "crewai")
    }
    clean_env.setenv("DEV_ISSUER_URL", url)
    clean_env.setenv("DEV_USER_AUDIENCE", USER_AUDIENCE)
    clean_env.setenv("DEV_WORKLOADS", json.dumps(workloads))
    clean_env.setenv("DEV_IDENTITY_DIR", str(tmp_path))
    clean_env.setenv("DEV_WORKLOAD_TOKEN_SECONDS", "10")
    server = uvicorn.Server(
        uvicorn.Config(dev_issuer.app, host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_port(port)
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield RunningIssuer(url, tmp_path)
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def backend(
    clean_env: pytest.MonkeyPatch, issuer: RunningIssuer, tmp_path: Path
) -> Iterator[TestClient]:
    clean_env.setattr(main, "UPLOAD_DIR", tmp_path / "uploads")
    clean_env.setenv("AUTH_ISSUERS", issuer.auth_issuers())
    clean_env.setenv("AUTH_JWKS_COOLDOWN_SECONDS", "0")
    with TestClient(main.app) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _segments(token: str) -> list[dict[str, Any]]:
    head, body, _ = token.split(".")
    return [json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4))) for p in (head, body)]


def _reencode(token: str, header: dict[str, Any], claims: dict[str, Any]) -> str:
    """Same signature, other header/claims: what tampering in transit looks like."""

    def b64(value: dict[str, Any]) -> str:
        raw = json.dumps(value, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    return ".".join([b64(header), b64(claims), token.split(".")[2]])


def test_discovery_and_jwks_describe_two_issuers(issuer: RunningIssuer) -> None:
    users = httpx.get(f"{issuer.url}/.well-known/openid-configuration").json()
    workloads = httpx.get(f"{issuer.url}/workloads/.well-known/openid-configuration").json()
    assert users["issuer"] == issuer.url and users["jwks_uri"] == f"{issuer.url}/jwks"
    assert workloads["issuer"] == f"{issuer.url}/workloads"
    user_keys = httpx.get(users["jwks_uri"]).json()["keys"]
    workload_keys = httpx.get(workloads["jwks_uri"]).json()["keys"]
    # Public halves only, one key each, never shared between the two issuers.
    assert all("d" not in k for k in user_keys + workload_keys)
    assert {k["kid"] for k in user_keys}.isdisjoint({k["kid"] for k in workload_keys})


def test_what_it_mints_is_accepted(issuer: RunningIssuer, backend: TestClient) -> None:
    r = backend.get("/api/v1/files", headers=bearer(issuer.login("alice")))
    assert r.status_code == 200, r.text
    header, claims = _segments(issuer.workload_token("autogpt"))
    assert header["alg"] == "ES256"
    assert claims["sub"] == f"system:serviceaccount:{NAMESPACE}:autogpt"
    assert claims["aud"] == BACKEND_AUDIENCE and claims["exp"] - claims["iat"] == 10
    r = backend.get("/api/v1/files", headers=bearer(issuer.workload_token("autogpt")))
    assert r.status_code == 200, r.text


def test_users_are_users_and_workloads_are_workloads(
    issuer: RunningIssuer, backend: TestClient, clean_env: pytest.MonkeyPatch
) -> None:
    # A user token whose claims claim a workload's issuer keeps the user key's signature:
    # verified against the workload JWKS, it fails (one issuer's key never signs for another).
    header, claims = _segments(issuer.login("autogpt"))
    as_workload = {
        **claims,
        "iss": f"{issuer.url}/workloads",
        "aud": BACKEND_AUDIENCE,
        "sub": f"system:serviceaccount:{NAMESPACE}:autogpt",
    }
    forged = _reencode(issuer.login("autogpt"), header, as_workload)
    assert backend.get("/api/v1/files", headers=bearer(forged)).status_code == 401
    # User names cannot look like ServiceAccounts, nor be anything but a plain name.
    for name in ("system:serviceaccount:x:y", "", "A" * 100, "../etc", "alice bob"):
        assert httpx.post(f"{issuer.url}/login", json={"username": name}).status_code == 422
    assert httpx.post(f"{issuer.url}/login", json={"user": "x"}).status_code == 422
    # No endpoint mints workload tokens.
    for path in ("/workloads/login", "/workloads/token", "/token"):
        assert httpx.post(f"{issuer.url}{path}", json={"username": "a"}).status_code in {404, 405}


def test_tampered_expired_and_misdirected_tokens_are_refused(
    issuer: RunningIssuer, backend: TestClient
) -> None:
    token = issuer.login("alice")
    header, claims = _segments(token)
    stranger = ec.generate_private_key(ec.SECP256R1())
    now = int(time.time())
    refused = {
        "subject changed": _reencode(token, header, {**claims, "sub": "bob"}),
        "expiry extended": _reencode(token, header, {**claims, "exp": now + 86400}),
        "audience changed": _reencode(token, header, {**claims, "aud": "x"}),
        "alg none": _reencode(token, {"alg": "none"}, claims),
        "signature cut": token.rsplit(".", 1)[0] + ".",
        "our kid, another key": jwt.encode(claims, stranger, "ES256", headers=header),
        "expired": jwt.encode({**claims, "exp": now - 120}, stranger, "ES256", headers=header),
        "wrong audience for a workload": _reencode(
            issuer.workload_token("autogpt"),
            _segments(issuer.workload_token("autogpt"))[0],
            {**_segments(issuer.workload_token("autogpt"))[1], "aud": USER_AUDIENCE},
        ),
    }
    for case, forged in refused.items():
        r = backend.get("/api/v1/files", headers=bearer(forged))
        assert r.status_code == 401, (case, r.status_code, r.text)


def test_expired_tokens_from_the_issuer_itself_are_refused(
    clean_env: pytest.MonkeyPatch, issuer: RunningIssuer, backend: TestClient
) -> None:
    key: dev_issuer.SigningKey = dev_issuer.app.state.issuer.users
    # The issuer's own key, a token past its life and past the backend's 30 s leeway.
    old = key.sign("alice", USER_AUDIENCE, lifetime=10)
    header, claims = _segments(old)
    expired = jwt.encode(
        {
            **claims,
            "iat": claims["iat"] - 120,
            "nbf": claims["nbf"] - 120,
            "exp": claims["iat"] - 60,
        },
        key.private,
        "ES256",
        headers={"kid": header["kid"]},
    )
    assert backend.get("/api/v1/files", headers=bearer(expired)).status_code == 401
    assert backend.get("/api/v1/files", headers=bearer(old)).status_code == 200


@pytest.mark.postgres
def test_an_agent_reports_with_the_token_file_it_was_given(
    clean_env: pytest.MonkeyPatch, issuer: RunningIssuer, postgres_server: PostgresServer
) -> None:
    for key, value in postgres_server.env().items():
        clean_env.setenv(key, value)
    clean_env.setenv("AUTH_ISSUERS", issuer.auth_issuers())
    result = {"task_id": "t1", "status": "completed", "result": "done"}
    with TestClient(main.app) as c:
        url = "/api/v1/agents/autogpt/results"
        own = bearer(issuer.workload_token("autogpt"))
        other = bearer(issuer.workload_token("crewai"))
        user = bearer(issuer.login("autogpt"))
        assert c.post(url, json=result, headers=own).status_code == 201
        assert c.post(url, json=result, headers=other).status_code == 403
        assert c.post(url, json=result, headers=user).status_code == 403


def test_workload_tokens_are_refreshed_before_they_expire(issuer: RunningIssuer) -> None:
    path = issuer.identity_dir / "autogpt" / "backend-token"
    first = path.read_text(encoding="utf-8")
    assert path.stat().st_mode & 0o777 == 0o444
    deadline = time.monotonic() + 15
    while path.read_text(encoding="utf-8") == first and time.monotonic() < deadline:
        time.sleep(0.2)
    second = path.read_text(encoding="utf-8")
    assert second != first
    # Rewritten at 80 % of a 10 s life: the old one is still valid when replaced.
    assert _segments(second)[1]["iat"] < _segments(first)[1]["exp"]


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("[]", "JSON object"),
        ('{"Bad_Name": {"namespace": "n", "audiences": {"t": "a"}}}', "DEV_WORKLOADS.Bad_Name"),
        ('{"a": {"namespace": "n"}}', "exactly namespace and audiences"),
        ('{"a": {"namespace": "N!", "audiences": {"t": "a"}}}', "DEV_WORKLOADS.a.namespace"),
        ('{"a": {"namespace": "n", "audiences": {}}}', "DEV_WORKLOADS.a.audiences"),
        ('{"a": {"namespace": "n", "audiences": {"../x": "a"}}}', "'../x'"),
        ('{"a": {"namespace": "n", "audiences": {"t": ""}}}', "DEV_WORKLOADS.a.audiences.t"),
    ],
)
def test_bad_workload_config_is_named(raw: str, named: str) -> None:
    with pytest.raises(ConfigError, match=named.replace(".", r"\.")):
        dev_issuer.parse_workloads(raw)
