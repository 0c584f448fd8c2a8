from __future__ import annotations

from pathlib import Path

import pytest
from app import main
from fastapi.testclient import TestClient
from sutazai_testing import FakeUpstream, PostgresServer, RedisServer


def test_http_routing_and_tools(clean_env: pytest.MonkeyPatch, fake_upstream: FakeUpstream) -> None:
    clean_env.setenv("OLLAMA_BASE_URL", fake_upstream.url)
    clean_env.setenv("BACKEND_URL", fake_upstream.url)
    with TestClient(main.app) as c:
        assert c.get("/ready").status_code == 200
        assert [s["name"] for s in c.get("/services").json()["services"]] == ["backend", "ollama"]
        names = {t["name"] for t in c.get("/tools").json()["tools"]}
        assert names == {"http_call", "ollama_generate", "backend_chat"}
        assert not any("docker" in n for n in names)
        r = c.post("/tools/ollama_generate", json={"arguments": {"prompt": "hi"}}).json()
        assert r["result"]["body"]["response"] == "echo: hi"
        routed = c.post(
            "/route",
            json={"service": "backend", "path": "/echo", "method": "POST", "body": {"k": 1}},
        ).json()
        assert routed["body"]["body"] == {"k": 1}
        assert c.post("/route", json={"service": "qdrant"}).status_code == 404
        assert (
            c.post("/tools/postgres_query", json={"arguments": {"sql": "SELECT 1"}}).status_code
            == 404
        )
        assert c.post("/tools/ollama_generate", json={"arguments": {}}).status_code == 422


@pytest.mark.postgres
@pytest.mark.redis
def test_data_tools_are_read_only(
    clean_env: pytest.MonkeyPatch, postgres_server: PostgresServer, redis_server: RedisServer
) -> None:
    for k, v in {**postgres_server.env(), **redis_server.env()}.items():
        clean_env.setenv(k, v)
    with TestClient(main.app) as c:
        assert c.get("/ready").json()["down"] == []
        rows = c.post(
            "/tools/postgres_query", json={"arguments": {"sql": "SELECT 1 AS one, now() AS ts"}}
        ).json()
        assert rows["result"]["rows"][0]["one"] == 1
        write = c.post(
            "/tools/postgres_query",
            json={"arguments": {"sql": "CREATE TABLE mcp_should_fail (x int)"}},
        )
        assert write.status_code == 400 and "ReadOnlySqlTransaction" in write.text
        assert (
            c.post("/tools/redis_read", json={"arguments": {"command": "PING"}}).json()["result"][
                "result"
            ]
            is True
        )
        assert (
            c.post("/tools/redis_read", json={"arguments": {"command": "FLUSHALL"}}).status_code
            == 403
        )


def test_api_token_from_file(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("s3cret\n")
    clean_env.setenv("MCP_API_TOKEN_FILE", str(token))
    with TestClient(main.app) as c:
        assert c.get("/health").status_code == 200  # probes stay open
        assert c.get("/services").status_code == 401
        assert c.get("/services", headers={"Authorization": "Bearer nope"}).status_code == 401
        assert c.get("/services", headers={"Authorization": "Bearer s3cret"}).status_code == 200
        token.write_text("rotated\n")
        assert c.get("/services", headers={"Authorization": "Bearer rotated"}).status_code == 200


def test_qdrant_calls_carry_its_api_key(
    clean_env: pytest.MonkeyPatch, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    fake_upstream.api_key = "qk-1"
    fake_upstream.collections["docs"] = {"7": {"id": 7, "vector": [1.0, 0.0], "payload": {}}}
    key = tmp_path / "qdrant-api-key"
    key.write_text("qk-1\n")
    clean_env.setenv("QDRANT_URL", fake_upstream.url)
    with TestClient(main.app) as c:
        assert c.get("/ready").status_code == 200  # /readyz needs no key
        search = {"arguments": {"collection": "docs", "vector": [1.0, 0.0]}}
        # Without the key configured, Qdrant refuses the call.
        assert c.post("/tools/vector_search", json=search).json()["result"]["status_code"] == 401
        clean_env.setenv("QDRANT_API_KEY_FILE", str(key))
        hits = c.post("/tools/vector_search", json=search).json()["result"]
        assert hits["status_code"] == 200 and hits["body"]["result"][0]["id"] == 7
        fake_upstream.api_key = "qk-2"
        key.write_text("qk-2\n")  # rotated: read again on the next call
        routed = c.post("/route", json={"service": "qdrant", "path": "/collections/docs"})
        assert routed.json()["status_code"] == 200
        key.unlink()
        unreadable = c.post("/route", json={"service": "qdrant", "path": "/collections/docs"})
        assert unreadable.status_code == 503 and "qk-" not in unreadable.text
    sent = [h.get("api-key") for h in fake_upstream.headers_to("/collections")]
    assert sent == [None, "qk-1", "qk-2"] and fake_upstream.rejected == 1
