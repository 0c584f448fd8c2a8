from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from agent_runtime import AgentContext, create_agent_app
from agent_runtime.plans import parse_list
from agent_runtime.tasks import PostgresStore, RedisStreamQueue, Task
from fastapi.testclient import TestClient
from sutazai_common import PostgresSettings, RedisSettings
from sutazai_common.clients import postgres_pool, redis_client
from sutazai_testing import FakeUpstream, PostgresServer, RedisServer


def test_parse_list() -> None:
    assert parse_list("Plan:\n1. a\n2) b\n- c\n", 2) == ["a", "b"]
    assert parse_list("just do it", 3) == ["just do it"]
    assert parse_list("", 3) == []


async def two_steps(ctx: AgentContext) -> str:
    first = await ctx.llm("one")
    await ctx.step("one", first)
    return await ctx.llm(first)


def wait_done(c: TestClient, task_id: str) -> dict[str, object]:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        task = c.get(f"/tasks/{task_id}").json()
        if task["status"] in {"completed", "failed"}:
            return task
        time.sleep(0.05)
    raise AssertionError("task did not finish")


def test_memory_runtime_runs_tasks_and_reports(
    clean_env: pytest.MonkeyPatch, fake_upstream: FakeUpstream, tmp_path: Path
) -> None:
    clean_env.setenv("OLLAMA_BASE_URL", fake_upstream.url)
    clean_env.setenv("BACKEND_URL", fake_upstream.url)
    # The projected ServiceAccount token, as the kubelet writes (and rotates) it.
    token = tmp_path / "backend-token"
    token.write_text("workload-token-1")
    clean_env.setenv("BACKEND_TOKEN_FILE", str(token))
    app = create_agent_app("testagent", two_steps, description="t")
    with TestClient(app) as c:
        assert c.get("/ready").json()["checks"].keys() == {"ollama", "backend"}
        task_id = c.post("/tasks", json={"goal": "g"}).json()["task_id"]
        task = wait_done(c, task_id)
        assert task["status"] == "completed" and task["result"] == "echo: echo: one"
        assert task["steps"] == [{"name": "one", "output": "echo: one"}]
        assert fake_upstream.count("POST", "/api/v1/agents/testagent/results") == 1
        [sent] = fake_upstream.headers_to("/api/v1/agents/testagent/results")
        assert sent["authorization"] == "Bearer workload-token-1"
        assert all("authorization" not in h for h in fake_upstream.headers_to("/health"))
        assert (
            'agent_tasks_total{agent="testagent",status="completed"} 1.0' in c.get("/metrics").text
        )
        assert c.get("/tasks/nope").status_code == 404


def test_task_fails_cleanly_without_llm(clean_env: pytest.MonkeyPatch) -> None:
    app = create_agent_app("testagent", two_steps, description="t")
    with TestClient(app) as c:
        task = wait_done(c, c.post("/tasks", json={"goal": "g"}).json()["task_id"])
        assert task["status"] == "failed" and "OLLAMA_BASE_URL" in str(task["error"])


def test_durable_requires_stores(clean_env: pytest.MonkeyPatch) -> None:
    app = create_agent_app("testagent", two_steps, description="t", durable=True)
    with pytest.raises(RuntimeError, match="POSTGRES_HOST"), TestClient(app):
        pass


@pytest.mark.postgres
@pytest.mark.redis
def test_postgres_store_and_redis_stream_queue(
    clean_env: pytest.MonkeyPatch, postgres_server: PostgresServer, redis_server: RedisServer
) -> None:
    for k, v in {**postgres_server.env(), **redis_server.env()}.items():
        clean_env.setenv(k, v)

    async def scenario() -> None:
        pg, rs = PostgresSettings.from_env(), RedisSettings.from_env()
        assert pg is not None and rs is not None
        pool = postgres_pool(pg)
        await pool.open()
        redis = redis_client(rs)
        try:
            store = PostgresStore(pool, "unit")
            task = Task(goal="persist me", model="m")
            await store.save(task)
            task.steps.append({"name": "s", "output": "o"})
            task.status = "completed"
            await store.save(task)
            loaded = await store.get(task.id)
            assert (
                loaded is not None and loaded.steps == task.steps and loaded.status == "completed"
            )
            assert [t.id for t in await store.recent(5)] == [task.id]
            assert await PostgresStore(pool, "other").get(task.id) is None

            stream = f"test:{task.id}"
            q1 = RedisStreamQueue(redis, stream, "c1", claim_idle_ms=0)
            await q1.put("a")
            taken = await q1.take()
            assert taken is not None and taken[0] == "a"
            # c1 "dies" without ack: c2 re-claims the entry.
            q2 = RedisStreamQueue(redis, stream, "c2", claim_idle_ms=0)
            again = await q2.take()
            assert again is not None and again == taken
            await q2.ack(again[1])
            assert await q2.take() is None
        finally:
            await redis.aclose()
            await pool.close()

    asyncio.run(scenario())
