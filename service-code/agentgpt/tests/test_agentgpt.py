"""agentgpt with its real stores: PostgreSQL tasks and a Redis Streams queue."""

from __future__ import annotations

import time
from typing import Any

import psycopg
import pytest
from app import main
from fastapi.testclient import TestClient
from sutazai_testing import FakeUpstream, PostgresServer, RedisServer


def wait_done(c: TestClient, task_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        task = c.get(f"/tasks/{task_id}").json()
        if task["status"] in {"completed", "failed"}:
            return task
        time.sleep(0.1)
    raise AssertionError("task did not finish")


@pytest.mark.postgres
@pytest.mark.redis
def test_tasks_are_durable_and_queued_in_redis_streams(
    clean_env: pytest.MonkeyPatch,
    postgres_server: PostgresServer,
    redis_server: RedisServer,
    fake_upstream: FakeUpstream,
) -> None:
    for k, v in {
        **postgres_server.env(),
        **redis_server.env(),
        "OLLAMA_BASE_URL": fake_upstream.url,
        "AGENT_CONSUMER_NAME": "w1",
    }.items():
        clean_env.setenv(k, v)
    with TestClient(main.app) as c:
        assert c.get("/ready").json()["down"] == []
        assert c.get("/agent").json()["durable"] is True
        task_id = c.post("/tasks", json={"goal": "ship it", "max_steps": 2}).json()["task_id"]
        task = wait_done(c, task_id)
        assert task["status"] == "completed", task
        assert task["steps"][0]["name"] == "plan"
    # A new process (another replica / a restart) reads the same task from PostgreSQL.
    with TestClient(main.app) as c:
        assert c.get(f"/tasks/{task_id}").json()["status"] == "completed"
        assert task_id in [t["id"] for t in c.get("/tasks").json()["tasks"]]
    with psycopg.connect(
        host=postgres_server.host,
        port=postgres_server.port,
        user=postgres_server.user,
        password=postgres_server.password,
        dbname=postgres_server.dbname,
    ) as conn:
        row = conn.execute(
            "SELECT agent, status FROM agent_tasks WHERE id = %s", (task_id,)
        ).fetchone()
        assert row == ("agentgpt", "completed")


def test_not_ready_when_stores_down(clean_env: pytest.MonkeyPatch, dead_url: str) -> None:
    port = dead_url.rsplit(":", 1)[1]
    for k, v in {
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": port,
        "REDIS_URL": f"redis://127.0.0.1:{port}/0",
        "READY_TIMEOUT_SECONDS": "2",
    }.items():
        clean_env.setenv(k, v)
    with TestClient(main.app) as c:
        r = c.get("/ready")
        assert r.status_code == 503 and r.json()["down"] == ["postgres", "redis"]
