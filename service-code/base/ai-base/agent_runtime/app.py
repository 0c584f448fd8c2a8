"""Agent service: task API, worker loop, LLM access, backend reporting."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request
from prometheus_client import Counter, Gauge, Histogram
from pydantic import BaseModel, Field
from sutazai_common import (
    PostgresSettings,
    RedisSettings,
    build_app,
    env_int,
    http_dependencies,
    register_check,
)
from sutazai_common.ai import LlmMetrics
from sutazai_common.checks import http_check, redis_check
from sutazai_common.clients import postgres_pool, redis_client
from sutazai_common.config import ConfigError, env_str

from .tasks import (
    MemoryQueue,
    MemoryStore,
    PostgresStore,
    RedisStreamQueue,
    Task,
    TaskQueue,
    TaskStore,
)

log = logging.getLogger("sutazai.agent")


class TaskRequest(BaseModel):
    goal: str = Field(min_length=1, max_length=8000)
    model: str | None = Field(default=None, max_length=200)
    max_steps: int = Field(default=3, ge=1, le=20)


class LLMError(RuntimeError):
    pass


@dataclass
class AgentContext:
    """What a strategy may use: the LLM, the task (to record steps), the backend."""

    agent: str
    task: Task
    http: httpx.AsyncClient
    ollama_url: str | None
    backend_url: str | None
    save: Callable[[Task], Awaitable[None]]
    metrics: LlmMetrics | None = None

    async def llm(self, prompt: str) -> str:
        if self.ollama_url is None:
            raise LLMError("OLLAMA_BASE_URL is not configured")
        model, started = self.task.model, time.perf_counter()

        def observe(outcome: str, answer: dict[str, Any] | None = None) -> None:
            if self.metrics is not None:
                self.metrics.observe(model, outcome, time.perf_counter() - started, answer)

        try:
            r = await self.http.post(
                self.ollama_url.rstrip("/") + "/api/generate",
                json={"model": model, "prompt": prompt, "stream": False},
            )
        except httpx.HTTPError as exc:
            observe("unreachable")
            raise LLMError(f"ollama unreachable: {type(exc).__name__}") from exc
        if r.status_code != 200:
            observe("error")
            raise LLMError(f"ollama returned HTTP {r.status_code}")
        answer = r.json()
        observe("ok", answer)
        return str(answer.get("response", "")).strip()

    async def step(self, name: str, output: str) -> None:
        """Record progress so GET /tasks/{id} shows it while the task runs."""
        self.task.steps.append({"name": name, "output": output})
        await self.save(self.task)


Strategy = Callable[[AgentContext], Awaitable[str]]


class Runtime:
    def __init__(self, app: FastAPI, name: str, strategy: Strategy) -> None:
        self.name = name
        self.strategy = strategy
        self.store: TaskStore = MemoryStore()
        self.queue: TaskQueue = MemoryQueue()
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(env_int("OLLAMA_TIMEOUT_SECONDS", 300), connect=5)
        )
        deps = http_dependencies("OLLAMA_BASE_URL", "BACKEND_URL")
        self.ollama_url = deps["ollama"].base_url if "ollama" in deps else None
        self.backend = deps.get("backend")
        self.backend_url = self.backend.base_url if self.backend is not None else None
        self.default_model = env_str("DEFAULT_MODEL", "tinyllama") or "tinyllama"
        for dep in deps.values():
            register_check(app, dep.name, http_check(self.http, dep))
        registry = app.state.metrics.registry
        self.registry = registry
        self.finished = Counter(
            "agent_tasks_total", "Finished tasks", ["agent", "status"], registry=registry
        )
        self.duration = Histogram(
            "agent_task_duration_seconds", "Task run time", ["agent"], registry=registry
        )
        self.llm_metrics = LlmMetrics(registry)
        self.queue_depth = Gauge(
            "sutazai_agent_queue_depth",
            "Tasks queued, not yet taken",
            ["agent"],
            registry=registry,
        )
        self.queue_pending = Gauge(
            "sutazai_agent_queue_pending",
            "Tasks taken, not yet acknowledged",
            ["agent"],
            registry=registry,
        )
        self.queue_oldest_age = Gauge(
            "sutazai_agent_queue_oldest_age_seconds",
            "Age of the oldest queued or unacknowledged task",
            ["agent"],
            registry=registry,
        )
        self.closers: list[Callable[[], Awaitable[Any]]] = [self.http.aclose]

    def close_metrics(self) -> None:
        for metric in (
            self.finished,
            self.duration,
            self.queue_depth,
            self.queue_pending,
            self.queue_oldest_age,
            *vars(self.llm_metrics).values(),
        ):
            self.registry.unregister(metric)

    async def observe_queue(self) -> None:
        """The queue's depth and age, for Prometheus."""
        stats = await self.queue.stats()
        self.queue_depth.labels(self.name).set(stats.depth)
        self.queue_pending.labels(self.name).set(stats.pending)
        self.queue_oldest_age.labels(self.name).set(stats.oldest_age_seconds)

    async def queue_observer(self, interval: float) -> None:
        while True:
            try:
                await self.observe_queue()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # Redis away: keep the last values, try again
                log.warning("queue metrics not updated: %s", type(exc).__name__)
            await asyncio.sleep(interval)

    async def run_one(self, task_id: str) -> None:
        task = await self.store.get(task_id)
        if task is None or task.status in {"completed", "failed"}:
            return  # already done (a redelivery) or unknown
        task.status = "running"
        await self.store.save(task)
        ctx = AgentContext(
            self.name,
            task,
            self.http,
            self.ollama_url,
            self.backend_url,
            self.store.save,
            self.llm_metrics,
        )
        started = time.perf_counter()
        try:
            task.result = await self.strategy(ctx)
            task.status = "completed"
        except Exception as exc:
            task.status, task.error = "failed", f"{type(exc).__name__}: {exc}"[:500]
        self.duration.labels(self.name).observe(time.perf_counter() - started)
        self.finished.labels(self.name, task.status).inc()
        await self.store.save(task)
        await self.report(task)

    async def report(self, task: Task) -> None:
        if self.backend is None:
            return
        try:
            # Our workload identity (BACKEND_TOKEN_FILE): only we may report our results.
            headers = self.backend.auth_headers()
        except ConfigError as exc:
            log.warning("could not report task %s to backend: %s", task.id, exc)
            return
        try:
            await self.http.post(
                self.backend.url(f"/api/v1/agents/{self.name}/results"),
                headers=headers,
                json={
                    "task_id": task.id,
                    "status": task.status,
                    "goal": task.goal,
                    "result": task.result if task.status == "completed" else task.error,
                },
                timeout=10,
            )
        except httpx.HTTPError as exc:  # best effort: the task itself is stored
            log.warning("could not report task %s to backend: %s", task.id, type(exc).__name__)

    async def worker(self) -> None:
        while True:
            try:
                item = await self.queue.take()
                if item is None:
                    continue
                task_id, token = item
                await self.run_one(task_id)
                await self.queue.ack(token)
            except asyncio.CancelledError:
                raise
            except Exception:  # store/queue hiccup: back off, keep serving
                log.exception("worker iteration failed")
                await asyncio.sleep(2)


def create_agent_app(
    name: str, strategy: Strategy, *, description: str, durable: bool = False
) -> FastAPI:
    """``durable``: tasks in PostgreSQL and the queue in Redis Streams (both
    required then); otherwise in memory (tasks are lost on restart)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        rt = Runtime(app, name, strategy)
        app.state.runtime = rt
        if durable:
            pg, rs = PostgresSettings.from_env(), RedisSettings.from_env()
            if pg is None or rs is None:
                raise RuntimeError(f"{name} needs POSTGRES_HOST and REDIS_URL/REDIS_HOST")
            pool = postgres_pool(pg)
            await pool.open(wait=False)
            store = PostgresStore(pool, name)
            redis = redis_client(rs)
            consumer = env_str("AGENT_CONSUMER_NAME", socket.gethostname()) or str(os.getpid())
            rt.store = store
            rt.queue = RedisStreamQueue(
                redis, f"sutazai:{name}:tasks", consumer, env_int("AGENT_CLAIM_IDLE_MS", 300_000)
            )

            async def postgres_ready() -> None:
                await store.ensure_schema()
                async with pool.connection(timeout=3) as conn:
                    await conn.execute("SELECT 1")

            register_check(app, "postgres", postgres_ready)
            register_check(app, "redis", redis_check(redis))
            rt.closers += [redis.aclose, lambda: pool.close(timeout=2)]
        workers = [asyncio.create_task(rt.worker()) for _ in range(env_int("AGENT_CONCURRENCY", 1))]
        interval = env_int("AGENT_QUEUE_METRICS_SECONDS", 15)
        if interval < 1:
            raise ValueError(f"AGENT_QUEUE_METRICS_SECONDS must be at least 1, got {interval}")
        workers.append(asyncio.create_task(rt.queue_observer(interval)))
        try:
            yield
        finally:
            for w in workers:
                w.cancel()
            for w in workers:
                with suppress(asyncio.CancelledError):
                    await w
            for close in rt.closers:
                await close()
            rt.close_metrics()

    app = build_app(name, lifespan=lifespan, description=description)

    def runtime(request: Request) -> Runtime:
        return request.app.state.runtime

    @app.get("/agent")
    async def agent_info(request: Request) -> dict[str, Any]:
        rt = runtime(request)
        return {
            "name": name,
            "description": description,
            "durable": durable,
            "default_model": rt.default_model,
            "llm": "ollama" if rt.ollama_url else None,
        }

    @app.post("/tasks", status_code=202)
    async def submit(body: TaskRequest, request: Request) -> dict[str, str]:
        rt = runtime(request)
        task = Task(goal=body.goal, model=body.model or rt.default_model, max_steps=body.max_steps)
        await rt.store.save(task)
        await rt.queue.put(task.id)
        return {"task_id": task.id, "status": task.status}

    @app.get("/tasks")
    async def recent(request: Request, limit: int = 20) -> dict[str, Any]:
        tasks = await runtime(request).store.recent(max(1, min(limit, 200)))
        return {"tasks": [t.to_dict() for t in tasks]}

    @app.get("/tasks/{task_id}")
    async def get_task(task_id: str, request: Request) -> dict[str, Any]:
        task = await runtime(request).store.get(task_id)
        if task is None:
            raise HTTPException(404, "unknown task")
        return task.to_dict()

    return app
