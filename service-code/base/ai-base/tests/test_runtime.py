from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from agent_runtime import AgentContext, create_agent_app
from agent_runtime.plans import parse_list
from agent_runtime.tasks import MemoryQueue, PostgresStore, RedisStreamQueue, Task
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
        metrics = c.get("/metrics").text
        assert 'agent_tasks_total{agent="testagent",status="completed"} 1.0' in metrics
        # Two LLM calls, with Ollama's timings: 0.3 s to the first token, 30 tokens in 0.6 s.
        model = task["model"]
        assert (
            f'sutazai_llm_request_duration_seconds_count{{model="{model}",outcome="ok"}} 2.0'
            in metrics
        )
        assert f'sutazai_llm_time_to_first_token_seconds_sum{{model="{model}"}} 0.6' in metrics
        assert f'sutazai_llm_generated_tokens_total{{model="{model}"}} 60.0' in metrics
        assert f'sutazai_llm_generation_seconds_total{{model="{model}"}} 1.2' in metrics
        assert 'sutazai_agent_queue_depth{agent="testagent"} 0.0' in metrics
        assert c.get("/tasks/nope").status_code == 404


def test_memory_queue_reports_depth_pending_and_age() -> None:
    async def scenario() -> None:
        queue = MemoryQueue()
        assert (await queue.stats()).oldest_age_seconds == 0.0
        await queue.put("a")
        await queue.put("b")
        queue.unfinished["a"] -= 90  # queued 90 s ago
        stats = await queue.stats()
        assert (stats.depth, stats.pending) == (2, 0) and stats.oldest_age_seconds >= 90
        taken = await queue.take()
        assert taken is not None
        stats = await queue.stats()
        assert (stats.depth, stats.pending) == (1, 1) and stats.oldest_age_seconds >= 90
        await queue.ack(taken[1])
        stats = await queue.stats()
        assert (stats.depth, stats.pending) == (1, 0) and stats.oldest_age_seconds < 90

    asyncio.run(scenario())


def test_unknown_models_never_become_label_values(
    clean_env: pytest.MonkeyPatch, fake_upstream: FakeUpstream
) -> None:
    """A caller picks the model name: only one Ollama answered may label a series."""
    clean_env.setenv("OLLAMA_BASE_URL", fake_upstream.url + "/nothing-here")
    app = create_agent_app("testagent", two_steps, description="t")
    with TestClient(app) as c:
        body = {"goal": "g", "model": "attacker-chosen-1"}
        wait_done(c, c.post("/tasks", json=body).json()["task_id"])
        metrics = c.get("/metrics").text
        assert "attacker-chosen" not in metrics
        assert (
            'sutazai_llm_request_duration_seconds_count{model="other",outcome="error"}' in metrics
        )


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

            # Depth, pending and age from the group's bookkeeping; an entry queued 2 min ago.
            q3 = RedisStreamQueue(redis, f"{stream}:age", "c3", claim_idle_ms=60_000)
            await q3.ensure_group()
            old = f"{int((time.time() - 120) * 1000)}-0"
            await redis.xadd(q3.stream, {"task_id": "old"}, id=old)
            await q3.put("new")
            stats = await q3.stats()
            assert (stats.depth, stats.pending) == (2, 0) and stats.oldest_age_seconds >= 119
            first = await q3.take()
            assert first is not None and first[0] == "old"
            stats = await q3.stats()
            assert (stats.depth, stats.pending) == (1, 1) and stats.oldest_age_seconds >= 119
            await q3.ack(first[1])
            stats = await q3.stats()
            assert (stats.depth, stats.pending) == (1, 0) and stats.oldest_age_seconds < 60
        finally:
            await redis.aclose()
            await pool.close()

    asyncio.run(scenario())
