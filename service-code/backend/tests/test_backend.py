"""Backend against real PostgreSQL + Redis (Debian binaries) and a fake Ollama/Qdrant."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from app import main
from fastapi.testclient import TestClient
from sutazai_testing import FakeUpstream, PostgresServer, RedisServer


# These tests are about the routes themselves; callers, limits and breakers are
# tested in test_edge.py with a real issuer.
@pytest.fixture
def client(clean_env: pytest.MonkeyPatch) -> Iterator[TestClient]:
    clean_env.setenv("AUTH_DISABLED", "true")
    with TestClient(main.app) as c:
        yield c


def start(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> TestClient:
    for k, v in {"AUTH_DISABLED": "true", **env}.items():
        monkeypatch.setenv(k, v)
    return TestClient(main.app)


def value(metrics: str, series: str) -> float:
    """A series' value in Prometheus text (0 when absent: counters start there)."""
    for line in metrics.splitlines():
        if line.startswith(series + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_contract_without_dependencies(client: TestClient) -> None:
    assert client.get("/health").json()["status"] == "ok"
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["down"] == []
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "http_requests_total" in metrics.text and 'service="backend"' in metrics.text
    assert client.post("/api/v1/chat", json={"message": "hi"}).status_code == 503


def test_ready_names_what_is_down(clean_env: pytest.MonkeyPatch, dead_url: str) -> None:
    port = dead_url.rsplit(":", 1)[1]
    env = {
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": port,
        "POSTGRES_PASSWORD": "x",
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "OLLAMA_BASE_URL": dead_url,
        "READY_TIMEOUT_SECONDS": "2",
    }
    with start(clean_env, env) as c:
        r = c.get("/ready")
        assert r.status_code == 503
        assert r.json()["down"] == ["ollama", "postgres", "redis"]
        assert "x" not in {v.get("error") for v in r.json()["checks"].values()}
        clean_env.setenv("READY_IGNORE", "ollama,postgres,redis")
        assert c.get("/ready").status_code == 200
        services = c.get("/api/v1/health/services").json()["services"]
        assert services["postgres"]["status"] == "down"
        assert "sutazai_dependency_up" in c.get("/metrics").text


@pytest.mark.postgres
@pytest.mark.redis
def test_chat_is_cached_and_persisted(
    clean_env: pytest.MonkeyPatch,
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    fake_upstream: FakeUpstream,
) -> None:
    env = {**postgres_server.env(), **redis_server.env(), "OLLAMA_BASE_URL": fake_upstream.url}
    with start(clean_env, env) as c:
        assert c.get("/ready").json() | {"checks": None} == {
            "status": "ready",
            "service": "backend",
            "down": [],
            "checks": None,
        }
        before = c.get("/metrics").text
        first = c.post("/api/v1/chat", json={"message": "hello there", "model": "tinyllama"})
        assert first.status_code == 200, first.text
        body = first.json()
        assert body["response"] == "echo: hello there" and not body["cached"] and body["persisted"]
        second = c.post(
            "/api/v1/chat",
            json={"message": "hello there", "model": "tinyllama", "session_id": body["session_id"]},
        )
        assert second.json()["cached"] is True
        assert fake_upstream.count("POST", "/api/generate") == 1
        after = c.get("/metrics").text
        for series, grew in [
            ('sutazai_chat_cache_lookups_total{cache="chat",result="miss"}', 1),
            ('sutazai_chat_cache_lookups_total{cache="chat",result="hit"}', 1),
            ('sutazai_llm_request_duration_seconds_count{model="tinyllama",outcome="ok"}', 1),
            ('sutazai_llm_generated_tokens_total{model="tinyllama"}', 30),
        ]:
            assert value(after, series) - value(before, series) == grew, series
        history = c.get(f"/api/v1/chat/sessions/{body['session_id']}").json()["messages"]
        assert [m["role"] for m in history] == ["user", "assistant", "user", "assistant"]
        assert history[-1]["cached"] is True
        services = c.get("/api/v1/health/services").json()["services"]
        assert {n: s["status"] for n, s in services.items()} == {
            "postgres": "up",
            "redis": "up",
            "ollama": "up",
        }
        res = c.post(
            "/api/v1/agents/autogpt/results",
            json={"task_id": "t1", "status": "completed", "result": "done"},
        )
        assert res.status_code == 201
    # Startup again: schema creation is idempotent.
    with start(clean_env, env) as c:
        assert c.get("/ready").status_code == 200
    with psycopg.connect(
        host=postgres_server.host,
        port=postgres_server.port,
        user=postgres_server.user,
        password=postgres_server.password,
        dbname=postgres_server.dbname,
    ) as conn:
        count = conn.execute("SELECT count(*) FROM agent_results").fetchone()
        assert count is not None and count[0] >= 1


@pytest.mark.postgres
def test_wrong_password_file_is_not_ready(
    clean_env: pytest.MonkeyPatch,
    postgres_server: PostgresServer,
    tmp_path: Path,
) -> None:
    bad = tmp_path / "pw"
    bad.write_text("wrong\n")
    env = {
        **postgres_server.env(),
        "POSTGRES_PASSWORD_FILE": str(bad),
        "READY_TIMEOUT_SECONDS": "5",
    }
    with start(clean_env, env) as c:
        r = c.get("/ready")
        assert r.status_code == 503 and r.json()["down"] == ["postgres"]
        assert "wrong" not in r.text


def test_vectors_go_to_qdrant(clean_env: pytest.MonkeyPatch, fake_upstream: FakeUpstream) -> None:
    with start(clean_env, {"QDRANT_URL": fake_upstream.url}) as c:
        for i, vec in enumerate([[1.0, 0.0], [0.0, 1.0]]):
            r = c.post(
                "/api/v1/vectors/store",
                json={"collection": "docs", "id": i, "vector": vec, "payload": {"n": i}},
            )
            assert r.status_code == 200, r.text
        searches = 'sutazai_vector_search_duration_seconds_count{store="qdrant"}'
        before = value(c.get("/metrics").text, searches)
        hits = c.post(
            "/api/v1/vectors/search", json={"collection": "docs", "vector": [0.1, 0.9], "limit": 1}
        ).json()
        assert hits["results"][0]["payload"] == {"n": 1}
        assert value(c.get("/metrics").text, searches) == before + 1
        assert (
            c.post(
                "/api/v1/vectors/search", json={"collection": "nope", "vector": [1.0]}
            ).status_code
            == 404
        )


def test_qdrant_api_key_from_file_on_every_call(
    clean_env: pytest.MonkeyPatch,
    fake_upstream: FakeUpstream,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    fake_upstream.api_key = "qk-first"
    key = tmp_path / "qdrant-api-key"
    key.write_text("qk-first\n")
    env = {"QDRANT_URL": fake_upstream.url, "QDRANT_API_KEY_FILE": str(key)}
    with start(clean_env, env) as c:
        assert c.get("/ready").status_code == 200  # /readyz needs no key
        point = {"collection": "docs", "id": 1, "vector": [1.0, 0.0], "payload": {"n": 1}}
        assert c.post("/api/v1/vectors/store", json=point).status_code == 200
        search = {"collection": "docs", "vector": [1.0, 0.0]}
        assert c.post("/api/v1/vectors/search", json=search).json()["results"][0]["id"] == 1
        # Rotated by Vault Agent: the next call reads the new key, no restart.
        fake_upstream.api_key = "qk-second"
        key.write_text("qk-second\n")
        assert c.post("/api/v1/vectors/search", json=search).status_code == 200
        key.write_text("wrong\n")
        assert c.post("/api/v1/vectors/search", json=search).status_code == 502
        key.unlink()
        unreadable = c.post("/api/v1/vectors/search", json=search)
        assert unreadable.status_code == 503 and "qk-" not in unreadable.text
    sent = [h.get("api-key") for h in fake_upstream.headers_to("/collections")]
    assert sent == ["qk-first"] * 4 + ["qk-second", "wrong"]
    assert all("api-key" not in h for h in fake_upstream.headers_to("/readyz"))
    assert "qk-" not in caplog.text and "QDRANT_API_KEY_FILE" in caplog.text


def test_qdrant_with_a_key_rejects_a_caller_without_one(
    clean_env: pytest.MonkeyPatch, fake_upstream: FakeUpstream
) -> None:
    fake_upstream.api_key = "qk"
    with start(clean_env, {"QDRANT_URL": fake_upstream.url}) as c:
        r = c.post("/api/v1/vectors/search", json={"vector": [1.0]})
        assert r.status_code == 502 and "401" in r.text
        clean_env.setenv("QDRANT_API_KEY", "qk")  # the plain variable is the fallback
        assert c.post("/api/v1/vectors/search", json={"vector": [1.0]}).status_code == 404
    assert fake_upstream.rejected == 1


def test_vectors_without_qdrant(client: TestClient) -> None:
    assert client.post("/api/v1/vectors/search", json={"vector": [1.0]}).status_code == 503


def test_upload_and_agents(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, fake_upstream: FakeUpstream
) -> None:
    clean_env.setattr(main, "UPLOAD_DIR", tmp_path / "uploads")
    clean_env.setattr(main, "MAX_UPLOAD_BYTES", 10)
    with start(clean_env, {"AGENTS": f'{{"crewai": "{fake_upstream.url}"}}'}) as c:
        r = c.post("/api/v1/files/upload", files={"file": ("../../etc/evil.txt", b"hello")})
        assert r.status_code == 201 and r.json()["file_id"].endswith("-evil.txt")
        [stored] = (tmp_path / "uploads").glob(f"*/{r.json()['file_id']}")  # the caller's folder
        assert stored.read_bytes() == b"hello"
        assert c.post("/api/v1/files/upload", files={"file": ("big", b"x" * 11)}).status_code == 413
        assert len(c.get("/api/v1/files").json()["files"]) == 1
        agents = c.get("/api/v1/agents", params={"probe": "true"}).json()["agents"]
        assert agents == [{"name": "crewai", "url": fake_upstream.url, "status": "up"}]
