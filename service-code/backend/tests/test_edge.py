"""The public edge of the backend, against a real JWKS (keys generated here), real Redis
and PostgreSQL, and a fake Ollama/Qdrant: who may call, how often, what a flood costs."""

from __future__ import annotations

import json
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import jwt
import pytest
from app import main
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm
from sutazai_common.config import ConfigError
from sutazai_testing import FakeUpstream, PostgresServer, RedisServer, TokenIssuer

CLIENT_ID = "frontend-app-client"
AUDIENCE = "sutazai-api"
SERVICE_AUDIENCE = "sutazai-test-backend"


def issuers(token_issuer: TokenIssuer) -> list[dict[str, Any]]:
    """One server, three issuers with their own rules (told apart by `iss`)."""
    return [
        {
            "kind": "cognito",
            "issuer": f"{token_issuer.url}/cognito",
            "jwks_url": token_issuer.jwks_url,
            "client_ids": [CLIENT_ID],
        },
        {
            "kind": "oidc",
            "issuer": token_issuer.url,
            "jwks_url": token_issuer.jwks_url,
            "audiences": [AUDIENCE],
        },
        {
            "kind": "kubernetes",
            "issuer": f"{token_issuer.url}/k8s",
            "jwks_url": token_issuer.jwks_url,
            "audiences": [SERVICE_AUDIENCE],
        },
    ]


def cognito(issuer: TokenIssuer, subject: str = "alice", **claims: Any) -> str:
    fields: dict[str, Any] = {"client_id": CLIENT_ID, "token_use": "access", **claims}
    return issuer.token(subject, issuer=f"{issuer.url}/cognito", **fields)


def oidc(issuer: TokenIssuer, subject: str = "alice", **claims: Any) -> str:
    return issuer.token(subject, **{"aud": AUDIENCE, **claims})


def workload(issuer: TokenIssuer, name: str, namespace: str = "sutazai-agent") -> str:
    return issuer.token(
        f"system:serviceaccount:{namespace}:{name}",
        issuer=f"{issuer.url}/k8s",
        aud=SERVICE_AUDIENCE,
    )


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def start(mp: pytest.MonkeyPatch, token_issuer: TokenIssuer, **env: str) -> TestClient:
    mp.setenv("AUTH_ISSUERS", json.dumps(issuers(token_issuer)))
    for k, v in env.items():
        mp.setenv(k, v)
    return TestClient(main.app)


@pytest.fixture
def uploads(clean_env: pytest.MonkeyPatch, tmp_path: Any) -> Iterator[None]:
    clean_env.setattr(main, "UPLOAD_DIR", tmp_path / "uploads")
    yield


# ── who may call ─────────────────────────────────────────────────────────────────────────


def test_only_verified_tokens_get_in(
    clean_env: pytest.MonkeyPatch, token_issuer: TokenIssuer, uploads: None
) -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public_pem = token_issuer.jwks()["keys"][0]["n"]
    now = int(time.time())
    rejected = {
        "no header": {},
        "not bearer": {"Authorization": f"Basic {cognito(token_issuer)}"},
        "empty bearer": {"Authorization": "Bearer "},
        "garbage": bearer("not.a.jwt"),
        "wrong audience": bearer(oidc(token_issuer, aud="someone-else")),
        "no audience": bearer(oidc(token_issuer, aud=None)),
        "audience as list without ours": bearer(oidc(token_issuer, aud=["x", "y"])),
        "cognito wrong client": bearer(cognito(token_issuer, client_id="other-client")),
        "cognito no client_id": bearer(cognito(token_issuer, client_id=None)),
        "cognito id token": bearer(cognito(token_issuer, token_use="id", aud=CLIENT_ID)),
        # A Cognito-shaped token presented under the OIDC issuer: no aud, so refused.
        "client_id under oidc": bearer(token_issuer.token("alice", client_id=AUDIENCE)),
        "expired": bearer(oidc(token_issuer, lifetime=-120)),
        "expired cognito": bearer(cognito(token_issuer, lifetime=-120)),
        "bad signature (our kid, other key)": bearer(oidc(token_issuer, key=other_key)),
        "unknown kid": bearer(oidc(token_issuer, key=other_key, kid="nobody")),
        "untrusted issuer": bearer(
            token_issuer.token("alice", issuer="https://evil", aud=AUDIENCE)
        ),
        "no exp": bearer(
            jwt.encode(
                {"iss": token_issuer.url, "sub": "a", "aud": AUDIENCE, "iat": now},
                token_issuer.keys[-1][1],
                "RS256",
                {"kid": token_issuer.keys[-1][0]},
            )
        ),
        "alg none": bearer(
            jwt.encode(
                {"iss": token_issuer.url, "sub": "a", "aud": AUDIENCE, "exp": now + 60},
                "",
                "none",
            )
        ),
        # Key confusion: the public key's modulus used as an HMAC secret.
        "hs256 with public material": bearer(
            jwt.encode(
                {"iss": token_issuer.url, "sub": "a", "aud": AUDIENCE, "exp": now + 60, "iat": now},
                public_pem,
                "HS256",
                {"kid": token_issuer.keys[-1][0]},
            )
        ),
    }
    with start(clean_env, token_issuer) as c:
        for case, headers in rejected.items():
            r = c.get("/api/v1/files", headers=headers)
            assert r.status_code == 401, (case, r.status_code, r.text)
            assert r.headers["WWW-Authenticate"].startswith("Bearer"), case
        for token in (oidc(token_issuer), cognito(token_issuer), workload(token_issuer, "mcp")):
            r = c.get("/api/v1/files", headers=bearer(token))
            assert r.status_code == 200, r.text
        # The contract endpoints stay open to the kubelet and Prometheus (in-cluster only).
        assert c.get("/health").status_code == 200
        assert c.get("/metrics").status_code == 200
        assert 'status="401"' in c.get("/metrics").text


def _signed(issuer: TokenIssuer, claims: dict[str, Any], key: Any = None, **header: Any) -> str:
    """Our issuer's claims and kid, with extra header fields, signed by `key` (default ours)."""
    kid, own = issuer.keys[-1]
    return jwt.encode(claims, key or own, "RS256", {"kid": kid, **header})


def test_red_team_the_bearer_path(
    clean_env: pytest.MonkeyPatch, token_issuer: TokenIssuer, uploads: None
) -> None:
    """An attacker's ways around the checks, each refused; the honest spellings still work."""
    attacker = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = int(time.time())
    good = oidc(token_issuer)
    claims = {
        "iss": token_issuer.url,
        "sub": "alice",
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 300,
    }
    refused: dict[str, list[tuple[str, str]]] = {
        # The token anywhere but the Authorization header.
        "x-authorization": [("X-Authorization", f"Bearer {good}")],
        "x-amzn-oidc-accesstoken": [("x-amzn-oidc-accesstoken", good)],
        "cookie": [("Cookie", f"access_token={good}")],
        "no scheme": [("Authorization", good)],
        "scheme glued": [("Authorization", f"Bearer{good}")],
        "tab, not space": [("Authorization", f"Bearer\t{good}")],
        "two tokens": [("Authorization", f"Bearer {good} {good}")],
        # Two headers: whichever one a proxy looked at, we refuse the pair.
        "valid then forged": [
            ("Authorization", f"Bearer {good}"),
            ("Authorization", f"Bearer {oidc(token_issuer, key=attacker)}"),
        ],
        "forged then valid": [
            ("Authorization", f"Bearer {oidc(token_issuer, key=attacker)}"),
            ("Authorization", f"Bearer {good}"),
        ],
        "valid twice": [("Authorization", f"Bearer {good}"), ("authorization", f"Bearer {good}")],
        # Header games: keys are only ever taken from the issuer's configured JWKS.
        "kid path traversal": [
            (
                "Authorization",
                "Bearer " + oidc(token_issuer, key=attacker, kid="../../../../dev/null"),
            )
        ],
        "kid injection": [
            ("Authorization", "Bearer " + oidc(token_issuer, key=attacker, kid="' OR '1'='1"))
        ],
        "jku to the attacker's keys": [
            (
                "Authorization",
                "Bearer " + _signed(token_issuer, claims, attacker, jku="https://evil/jwks"),
            )
        ],
        "x5u to the attacker's cert": [
            (
                "Authorization",
                "Bearer " + _signed(token_issuer, claims, attacker, x5u="https://evil/c.pem"),
            )
        ],
        "embedded jwk": [
            (
                "Authorization",
                "Bearer "
                + _signed(
                    token_issuer,
                    claims,
                    attacker,
                    jwk=json.loads(RSAAlgorithm.to_jwk(attacker.public_key())),
                ),
            )
        ],
        "unknown crit extension": [
            (
                "Authorization",
                "Bearer " + _signed(token_issuer, claims, crit=["exp-hint"], **{"exp-hint": 1}),
            )
        ],
        # Time: not yet valid (beyond the 30 s leeway) is as bad as expired.
        "nbf in the future": [
            ("Authorization", "Bearer " + _signed(token_issuer, {**claims, "nbf": now + 3600}))
        ],
        "iat in the future": [
            ("Authorization", "Bearer " + _signed(token_issuer, {**claims, "iat": now + 3600}))
        ],
        "exp as a string": [
            ("Authorization", "Bearer " + _signed(token_issuer, {**claims, "exp": str(now + 300)}))
        ],
        # Subjects that would merge callers into one owner.
        "empty subject": [
            ("Authorization", "Bearer " + _signed(token_issuer, {**claims, "sub": ""}))
        ],
        "blank subject": [
            ("Authorization", "Bearer " + _signed(token_issuer, {**claims, "sub": "  "}))
        ],
        "numeric subject": [
            ("Authorization", "Bearer " + _signed(token_issuer, {**claims, "sub": 7}))
        ],
        # Size: refused before any parsing.
        "huge token": [
            ("Authorization", "Bearer " + _signed(token_issuer, {**claims, "pad": "x" * 20000}))
        ],
    }
    with start(clean_env, token_issuer) as c:
        for case, headers in refused.items():
            r = c.get("/api/v1/files", headers=httpx.Headers(headers))
            assert r.status_code == 401, (case, r.status_code, r.text)
        for spelling in (f"Bearer {good}", f"bearer {good}", f"BEARER {good}", f"Bearer  {good} "):
            r = c.get("/api/v1/files", headers={"Authorization": spelling})
            assert r.status_code == 200, (spelling, r.text)


def test_a_rotated_key_is_picked_up(
    clean_env: pytest.MonkeyPatch, token_issuer: TokenIssuer, uploads: None
) -> None:
    with start(clean_env, token_issuer, AUTH_JWKS_COOLDOWN_SECONDS="0") as c:
        assert c.get("/api/v1/files", headers=bearer(oidc(token_issuer))).status_code == 200
        fetched = token_issuer.jwks_fetches
        old = oidc(token_issuer)
        token_issuer.rotate(keep_old=False)
        new = oidc(token_issuer)
        # The new kid is unknown to the cache: one refetch, then it verifies.
        assert c.get("/api/v1/files", headers=bearer(new)).status_code == 200
        assert token_issuer.jwks_fetches == fetched + 1
        # The refetched set no longer has the retired key.
        assert c.get("/api/v1/files", headers=bearer(old)).status_code == 401


def test_unknown_kids_cannot_hammer_the_issuer(
    clean_env: pytest.MonkeyPatch, token_issuer: TokenIssuer, uploads: None
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    with start(clean_env, token_issuer, AUTH_JWKS_COOLDOWN_SECONDS="60") as c:
        assert c.get("/api/v1/files", headers=bearer(oidc(token_issuer))).status_code == 200
        fetched = token_issuer.jwks_fetches
        for i in range(20):
            forged = oidc(token_issuer, key=stranger, kid=f"random-{i}")
            assert c.get("/api/v1/files", headers=bearer(forged)).status_code == 401
        assert token_issuer.jwks_fetches == fetched  # within the cooldown: no refetch


def test_unreachable_keys_are_503_not_401(
    clean_env: pytest.MonkeyPatch, token_issuer: TokenIssuer, dead_url: str, uploads: None
) -> None:
    entries = [{**issuers(token_issuer)[1], "jwks_url": f"{dead_url}/jwks"}]
    clean_env.setenv("AUTH_ISSUERS", json.dumps(entries))
    with TestClient(main.app) as c:
        r = c.get("/api/v1/files", headers=bearer(oidc(token_issuer)))
        assert r.status_code == 503 and r.json()["detail"]["dependency"] == "jwks"


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("{}", "JSON list"),
        ("[1]", "AUTH_ISSUERS[0] must be an object"),
        ('[{"kind": "saml", "issuer": "https://x"}]', "AUTH_ISSUERS[0].kind"),
        ('[{"kind": "oidc", "issuer": "https://x", "jwks_url": "https://x/k"}]', "audiences"),
        ('[{"kind": "cognito", "issuer": "https://x"}]', "client_ids"),
        ('[{"kind": "oidc", "issuer": "x", "audiences": ["a"]}]', "AUTH_ISSUERS[0].issuer"),
        (
            '[{"kind": "oidc", "issuer": "https://x", "audiences": ["a"], "jwks_url": "file:///k"}]',
            "jwks_url",
        ),
        ('[{"kind": "oidc", "issuer": "https://x", "audience": ["a"]}]', "unknown keys"),
        ('[{"kind": "oidc", "issuer": "https://x", "audiences": "a"}]', "audiences"),
    ],
)
def test_bad_issuer_config_stops_the_start(
    clean_env: pytest.MonkeyPatch, raw: str, named: str
) -> None:
    clean_env.setenv("AUTH_ISSUERS", raw)
    with pytest.raises(ConfigError, match=re.escape(named)), TestClient(main.app):
        pass


def test_auth_cannot_be_switched_off_in_prod(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("AUTH_DISABLED", "true")
    clean_env.setenv("SUTAZAI_ENVIRONMENT", "prod")
    with pytest.raises(ConfigError, match="AUTH_DISABLED"), TestClient(main.app):
        pass


def test_no_issuer_configured_lets_nobody_in(
    clean_env: pytest.MonkeyPatch, token_issuer: TokenIssuer, uploads: None
) -> None:
    with TestClient(main.app) as c:
        assert c.get("/api/v1/files", headers=bearer(oidc(token_issuer))).status_code == 401


# ── workloads ────────────────────────────────────────────────────────────────────────────


@pytest.mark.postgres
def test_only_an_agent_reports_its_own_results(
    clean_env: pytest.MonkeyPatch, token_issuer: TokenIssuer, postgres_server: PostgresServer
) -> None:
    result = {"task_id": "t1", "status": "completed", "result": "done"}
    with start(clean_env, token_issuer, **postgres_server.env()) as c:
        url = "/api/v1/agents/autogpt/results"
        assert (
            c.post(url, json=result, headers=bearer(workload(token_issuer, "autogpt"))).status_code
            == 201
        )
        forged = [
            workload(token_issuer, "crewai"),  # another agent
            oidc(token_issuer, "autogpt"),  # a user who calls himself autogpt
            token_issuer.token(  # a workload token for another audience
                "system:serviceaccount:sutazai-agent:autogpt",
                issuer=f"{token_issuer.url}/k8s",
                aud="another-stack-backend",
            ),
            token_issuer.token(  # not a ServiceAccount subject
                "autogpt", issuer=f"{token_issuer.url}/k8s", aud=SERVICE_AUDIENCE
            ),
        ]
        codes = [c.post(url, json=result, headers=bearer(t)).status_code for t in forged]
        assert codes == [403, 403, 401, 401]
        assert c.post(url, json=result).status_code == 401


def test_the_cluster_jwks_is_read_with_the_pods_own_rotating_token(
    clean_env: pytest.MonkeyPatch, token_issuer: TokenIssuer, tmp_path: Any, uploads: None
) -> None:
    """kind kubernetes: the API server's JWKS needs a bearer token, the pod's projected
    token, which the kubelet rotates: the file is read again for every fetch."""
    token_file = tmp_path / "kube-api-token"
    token_file.write_text("pod-token-1")
    token_issuer.jwks_bearer = "pod-token-1"
    entry = {**issuers(token_issuer)[2], "token_file": str(token_file)}
    clean_env.setenv("AUTH_ISSUERS", json.dumps([entry]))
    clean_env.setenv("AUTH_JWKS_COOLDOWN_SECONDS", "0")
    with TestClient(main.app) as c:
        ok = c.get("/api/v1/files", headers=bearer(workload(token_issuer, "mcp-server")))
        assert ok.status_code == 200, ok.text
        token_issuer.jwks_bearer = "pod-token-2"  # the kubelet rotated it
        token_file.write_text("pod-token-2")
        token_issuer.rotate(keep_old=False)  # a new key forces a refetch
        again = c.get("/api/v1/files", headers=bearer(workload(token_issuer, "mcp-server")))
        assert again.status_code == 200, again.text
        fetched = token_issuer.jwks_fetches
        token_issuer.jwks_bearer = "something-else"  # our token is refused: no new keys
        token_issuer.rotate(keep_old=False)
        refused = c.get("/api/v1/files", headers=bearer(workload(token_issuer, "mcp-server")))
        assert refused.status_code == 401 and token_issuer.jwks_fetches == fetched


# ── per-user data ────────────────────────────────────────────────────────────────────────


@pytest.mark.postgres
@pytest.mark.redis
def test_users_see_only_their_own_sessions_and_files(
    clean_env: pytest.MonkeyPatch,
    token_issuer: TokenIssuer,
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    fake_upstream: FakeUpstream,
    uploads: None,
) -> None:
    env = {**postgres_server.env(), **redis_server.env(), "OLLAMA_BASE_URL": fake_upstream.url}
    alice, bob = bearer(oidc(token_issuer, "alice")), bearer(cognito(token_issuer, "bob"))
    # The same subject at another issuer is another person.
    mallory = bearer(cognito(token_issuer, "alice"))
    with start(clean_env, token_issuer, **env) as c:
        first = c.post("/api/v1/chat", json={"message": f"secret {uuid.uuid4()}"}, headers=alice)
        assert first.status_code == 200, first.text
        session = first.json()["session_id"]
        assert c.get(f"/api/v1/chat/sessions/{session}", headers=alice).status_code == 200
        for other in (bob, mallory):
            assert c.get(f"/api/v1/chat/sessions/{session}", headers=other).status_code == 404
        calls = fake_upstream.count("POST", "/api/generate")
        hijack = {"message": f"append {uuid.uuid4()}", "session_id": session}
        assert c.post("/api/v1/chat", json=hijack, headers=bob).status_code == 404
        assert fake_upstream.count("POST", "/api/generate") == calls  # no inference for it
        assert len(c.get(f"/api/v1/chat/sessions/{session}", headers=alice).json()["messages"]) == 2

        up = c.post("/api/v1/files/upload", files={"file": ("a.txt", b"alice's")}, headers=alice)
        assert up.status_code == 201
        assert [f["file_id"] for f in c.get("/api/v1/files", headers=alice).json()["files"]] == [
            up.json()["file_id"]
        ]
        assert c.get("/api/v1/files", headers=bob).json()["files"] == []
        assert c.get("/api/v1/files", headers=mallory).json()["files"] == []


# ── how often ────────────────────────────────────────────────────────────────────────────


@pytest.mark.redis
def test_a_burst_over_the_limit_gets_429_and_never_reaches_the_llm(
    clean_env: pytest.MonkeyPatch,
    token_issuer: TokenIssuer,
    redis_server: RedisServer,
    fake_upstream: FakeUpstream,
) -> None:
    env = {**redis_server.env(), "OLLAMA_BASE_URL": fake_upstream.url}
    env |= {"RATE_LIMIT_CHAT": "3/minute", "RATE_LIMIT_API": "100/minute"}
    user = f"burst-{uuid.uuid4()}"  # Redis outlives a test: a subject of its own
    alice = bearer(oidc(token_issuer, user))
    with start(clean_env, token_issuer, **env) as c:
        answers = [
            c.post("/api/v1/chat", json={"message": f"m{i} {uuid.uuid4()}"}, headers=alice)
            for i in range(8)
        ]
        assert [r.status_code for r in answers] == [200] * 3 + [429] * 5
        assert all(1 <= int(r.headers["Retry-After"]) <= 60 for r in answers[3:])
        assert fake_upstream.count("POST", "/api/generate") == 3
        # Another user has a budget of their own.
        other = bearer(oidc(token_issuer, f"other-{uuid.uuid4()}"))
        assert c.post("/api/v1/chat", json={"message": "hi"}, headers=other).status_code == 200
        assert 'sutazai_rate_limited_total{limit="chat"} 5.0' in c.get("/metrics").text
    # The limit lives in Redis, so a restarted (or another) replica still enforces it.
    with start(clean_env, token_issuer, **env) as c:
        again = c.post("/api/v1/chat", json={"message": "again"}, headers=alice)
        assert again.status_code == 429


@pytest.mark.redis
def test_the_general_api_limit(
    clean_env: pytest.MonkeyPatch,
    token_issuer: TokenIssuer,
    redis_server: RedisServer,
    uploads: None,
) -> None:
    env = {**redis_server.env(), "RATE_LIMIT_API": "5/minute"}
    alice = bearer(oidc(token_issuer, f"api-{uuid.uuid4()}"))
    with start(clean_env, token_issuer, **env) as c:
        codes = [c.get("/api/v1/files", headers=alice).status_code for _ in range(7)]
        assert codes == [200] * 5 + [429] * 2


def test_chat_fails_closed_without_its_limiter(
    clean_env: pytest.MonkeyPatch,
    token_issuer: TokenIssuer,
    fake_upstream: FakeUpstream,
    dead_url: str,
    uploads: None,
) -> None:
    port = dead_url.rsplit(":", 1)[1]
    env = {"REDIS_URL": f"redis://127.0.0.1:{port}/0", "OLLAMA_BASE_URL": fake_upstream.url}
    with start(clean_env, token_issuer, **env) as c:
        r = c.post("/api/v1/chat", json={"message": "hi"}, headers=bearer(oidc(token_issuer)))
        assert r.status_code == 503 and r.json()["detail"]["dependency"] == "redis"
        assert fake_upstream.count("POST", "/api/generate") == 0
        # Cheap routes keep working through a Redis outage.
        assert c.get("/api/v1/files", headers=bearer(oidc(token_issuer))).status_code == 200


def test_bodies_are_capped(
    clean_env: pytest.MonkeyPatch,
    token_issuer: TokenIssuer,
    fake_upstream: FakeUpstream,
    uploads: None,
) -> None:
    clean_env.setattr(main, "MAX_BODY_BYTES", 1024)
    clean_env.setattr(main, "MAX_UPLOAD_BYTES", 4096)
    alice = bearer(oidc(token_issuer))
    with start(clean_env, token_issuer, OLLAMA_BASE_URL=fake_upstream.url) as c:
        big = {"message": "x" * 2000}
        assert c.post("/api/v1/chat", json=big, headers=alice).status_code == 413

        def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
            yield b'{"message": "'
            for _ in range(10):
                yield b"y" * 200
            yield b'"}'

        chunked = c.post(
            "/api/v1/chat",
            content=chunks(),
            headers={**alice, "Content-Type": "application/json"},
        )
        assert chunked.status_code == 413, chunked.text
        lying = c.post(
            "/api/v1/chat",
            content=b"{}",
            headers={**alice, "Content-Type": "application/json", "Content-Length": "nope"},
        )
        assert lying.status_code in {400, 413}
        upload = c.post(
            "/api/v1/files/upload", files={"file": ("big", b"z" * 30_000)}, headers=alice
        )
        assert upload.status_code == 413
        assert fake_upstream.count("POST", "/api/generate") == 0
        ok = c.post("/api/v1/chat", json={"message": "small"}, headers=alice)
        assert ok.status_code == 200


# ── what a dependency outage costs ───────────────────────────────────────────────────────


def test_a_dead_dependency_opens_its_circuit_and_service_recovers(
    clean_env: pytest.MonkeyPatch, token_issuer: TokenIssuer, fake_upstream: FakeUpstream
) -> None:
    env = {
        "OLLAMA_BASE_URL": fake_upstream.url,
        "QDRANT_URL": fake_upstream.url,
        "BREAKER_FAILURES": "3",
        "BREAKER_RECOVERY_SECONDS": "1",
        "RATE_LIMIT_CHAT": "1000/minute",
        "RATE_LIMIT_API": "1000/minute",
    }
    alice = bearer(oidc(token_issuer))
    with start(clean_env, token_issuer, **env) as c:
        assert c.post("/api/v1/chat", json={"message": "warm"}, headers=alice).status_code == 200
        fake_upstream.healthy = False
        failing = [
            c.post("/api/v1/chat", json={"message": f"q{i}"}, headers=alice) for i in range(3)
        ]
        assert {r.status_code for r in failing} == {503}
        assert all(r.json()["detail"]["dependency"] == "ollama" for r in failing)
        reached = fake_upstream.count("POST", "/api/generate")
        started = time.perf_counter()
        fast = [c.post("/api/v1/chat", json={"message": f"f{i}"}, headers=alice) for i in range(20)]
        elapsed = time.perf_counter() - started
        assert {r.status_code for r in fast} == {503}
        assert all(
            r.json()["detail"] == {"error": "circuit open", "dependency": "ollama"} for r in fast
        )
        assert all(int(r.headers["Retry-After"]) >= 1 for r in fast)
        assert fake_upstream.count("POST", "/api/generate") == reached  # nothing sent
        assert elapsed < 1.0, elapsed  # fast: no call, no timeout
        metrics = c.get("/metrics").text
        assert 'sutazai_circuit_open{dependency="ollama"} 1.0' in metrics
        # Qdrant has a breaker of its own: still closed, its calls go through.
        search = c.post("/api/v1/vectors/search", json={"vector": [1.0]}, headers=alice)
        assert search.status_code == 503 and search.json()["detail"]["dependency"] == "qdrant"

        fake_upstream.healthy = True
        time.sleep(1.1)
        back = c.post("/api/v1/chat", json={"message": "back"}, headers=alice)
        assert back.status_code == 200, back.text
        assert 'sutazai_circuit_open{dependency="ollama"} 0.0' in c.get("/metrics").text


def test_an_unreachable_dependency_is_503_fast(
    clean_env: pytest.MonkeyPatch, token_issuer: TokenIssuer, dead_url: str
) -> None:
    env = {"OLLAMA_BASE_URL": dead_url, "BREAKER_FAILURES": "2", "BREAKER_RECOVERY_SECONDS": "30"}
    alice = bearer(oidc(token_issuer))
    with start(clean_env, token_issuer, **env) as c:
        codes = []
        started = time.perf_counter()
        for i in range(6):
            r = c.post("/api/v1/chat", json={"message": f"x{i}"}, headers=alice)
            codes.append((r.status_code, r.json()["detail"]["dependency"]))
        assert codes == [(503, "ollama")] * 6
        assert time.perf_counter() - started < 2.0
