"""Tasks, their stores and queues (in memory, or PostgreSQL + Redis Streams)."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from psycopg.rows import dict_row


@dataclass
class Task:
    goal: str
    model: str
    max_steps: int = 5
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    status: str = "queued"  # queued -> running -> completed | failed
    steps: list[dict[str, str]] = field(default_factory=list)
    result: str | None = None
    error: str | None = None
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TaskStore(Protocol):
    async def save(self, task: Task) -> None: ...
    async def get(self, task_id: str) -> Task | None: ...
    async def recent(self, limit: int) -> list[Task]: ...


@dataclass(frozen=True)
class QueueStats:
    """Waiting (never delivered), pending (delivered, not acknowledged), and the age of the
    oldest task in either (seconds; 0 when both are empty)."""

    depth: int
    pending: int
    oldest_age_seconds: float


class TaskQueue(Protocol):
    async def put(self, task_id: str) -> None: ...
    async def stats(self) -> QueueStats: ...
    async def take(self) -> tuple[str, str] | None:
        """(task id, ack token), or None after a short wait with nothing to do."""
        ...

    async def ack(self, token: str) -> None: ...


class MemoryStore:
    def __init__(self) -> None:
        self.tasks: dict[str, Task] = {}

    async def save(self, task: Task) -> None:
        task.updated_at = time.time()
        self.tasks[task.id] = task

    async def get(self, task_id: str) -> Task | None:
        return self.tasks.get(task_id)

    async def recent(self, limit: int) -> list[Task]:
        return sorted(self.tasks.values(), key=lambda t: -t.created_at)[:limit]


class MemoryQueue:
    def __init__(self) -> None:
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        # Task id -> when it was queued, until acknowledged.
        self.unfinished: dict[str, float] = {}

    async def put(self, task_id: str) -> None:
        self.unfinished.setdefault(task_id, time.time())
        await self.queue.put(task_id)

    async def stats(self) -> QueueStats:
        depth = self.queue.qsize()
        oldest = min(self.unfinished.values(), default=None)
        age = 0.0 if oldest is None else max(0.0, time.time() - oldest)
        return QueueStats(depth, max(0, len(self.unfinished) - depth), age)

    async def take(self) -> tuple[str, str] | None:
        try:
            task_id = await asyncio.wait_for(self.queue.get(), timeout=1.0)
        except TimeoutError:
            return None
        return task_id, task_id

    async def ack(self, token: str) -> None:
        self.unfinished.pop(token, None)
        self.queue.task_done()


_TASKS_DDL = """
CREATE TABLE IF NOT EXISTS agent_tasks (
    id          text PRIMARY KEY,
    agent       text NOT NULL,
    goal        text NOT NULL,
    model       text NOT NULL,
    max_steps   integer NOT NULL,
    status      text NOT NULL,
    steps       jsonb NOT NULL DEFAULT '[]',
    result      text,
    error       text,
    created_at  double precision NOT NULL,
    updated_at  double precision NOT NULL
);
CREATE INDEX IF NOT EXISTS agent_tasks_agent_created_idx ON agent_tasks (agent, created_at DESC);
"""


class PostgresStore:
    """Durable tasks: survive restarts and are shared by all replicas."""

    def __init__(self, pool: Any, agent: str) -> None:
        self.pool = pool
        self.agent = agent
        self.ready = False

    async def ensure_schema(self) -> None:
        if self.ready:
            return
        async with self.pool.connection() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock(7340002)")
            await conn.execute(_TASKS_DDL)
        self.ready = True

    async def save(self, task: Task) -> None:
        await self.ensure_schema()
        task.updated_at = time.time()
        async with self.pool.connection() as conn:
            await conn.execute(
                """INSERT INTO agent_tasks (id, agent, goal, model, max_steps, status, steps,
                                            result, error, created_at, updated_at)
                   VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
                   ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status,
                     steps = EXCLUDED.steps, result = EXCLUDED.result,
                     error = EXCLUDED.error, updated_at = EXCLUDED.updated_at""",
                (
                    task.id,
                    self.agent,
                    task.goal,
                    task.model,
                    task.max_steps,
                    task.status,
                    json.dumps(task.steps),
                    task.result,
                    task.error,
                    task.created_at,
                    task.updated_at,
                ),
            )

    @staticmethod
    def _task(row: dict[str, Any]) -> Task:
        row = dict(row)
        row.pop("agent", None)
        return Task(**row)

    async def get(self, task_id: str) -> Task | None:
        await self.ensure_schema()
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT * FROM agent_tasks WHERE id = %s AND agent = %s", (task_id, self.agent)
            )
            row = await cur.fetchone()
        return self._task(row) if row else None

    async def recent(self, limit: int) -> list[Task]:
        await self.ensure_schema()
        async with self.pool.connection() as conn:
            cur = conn.cursor(row_factory=dict_row)
            await cur.execute(
                "SELECT * FROM agent_tasks WHERE agent = %s ORDER BY created_at DESC LIMIT %s",
                (self.agent, limit),
            )
            rows = await cur.fetchall()
        return [self._task(r) for r in rows]


class RedisStreamQueue:
    """Redis Streams with a consumer group: at-least-once delivery, and a
    task whose worker died is re-claimed after ``claim_idle_ms``."""

    def __init__(
        self, redis: Any, stream: str, consumer: str, claim_idle_ms: int = 300_000
    ) -> None:
        self.redis = redis
        self.stream = stream
        self.group = "workers"
        self.consumer = consumer
        self.claim_idle_ms = claim_idle_ms
        self.group_ready = False

    async def ensure_group(self) -> None:
        if self.group_ready:
            return
        try:
            await self.redis.xgroup_create(self.stream, self.group, id="0", mkstream=True)
        except Exception as exc:
            if "BUSYGROUP" not in str(exc):
                raise
        self.group_ready = True

    async def put(self, task_id: str) -> None:
        await self.ensure_group()
        await self.redis.xadd(self.stream, {"task_id": task_id})

    async def take(self) -> tuple[str, str] | None:
        await self.ensure_group()
        claimed = await self.redis.xautoclaim(
            self.stream,
            self.group,
            self.consumer,
            min_idle_time=self.claim_idle_ms,
            start_id="0-0",
            count=1,
        )
        entries = claimed[1] if claimed else []
        if not entries:
            resp = await self.redis.xreadgroup(
                self.group, self.consumer, {self.stream: ">"}, count=1, block=1000
            )
            entries = resp[0][1] if resp else []
        if not entries:
            return None
        entry_id, fields = entries[0]
        return str(fields["task_id"]), str(entry_id)

    async def ack(self, token: str) -> None:
        await self.redis.xack(self.stream, self.group, token)

    async def stats(self) -> QueueStats:
        """From the group's own bookkeeping: XINFO GROUPS (lag, pending, last delivered),
        the oldest pending entry (XPENDING) and the first undelivered one (XRANGE). An
        entry ID starts with its enqueue time in milliseconds."""
        await self.ensure_group()
        groups = await self.redis.xinfo_groups(self.stream)
        group = next((g for g in groups if _text(g.get("name")) == self.group), None)
        if group is None:
            return QueueStats(0, 0, 0.0)
        pending = int(group.get("pending") or 0)
        last = _text(group.get("last-delivered-id")) or "0-0"
        first_waiting = await self.redis.xrange(self.stream, min=f"({last}", max="+", count=1)
        lag = group.get("lag")
        if lag is None:  # Redis cannot tell (entries deleted): count what is left
            lag = len(await self.redis.xrange(self.stream, min=f"({last}", max="+"))
        oldest_ids = [_text(first_waiting[0][0])] if first_waiting else []
        if pending:
            summary = await self.redis.xpending(self.stream, self.group)
            if summary and summary.get("min"):
                oldest_ids.append(_text(summary["min"]))
        stamps = [int(i.split("-", 1)[0]) for i in oldest_ids if i]
        age = max(0.0, time.time() - min(stamps) / 1000) if stamps else 0.0
        return QueueStats(int(lag), pending, age)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value or "")
