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
