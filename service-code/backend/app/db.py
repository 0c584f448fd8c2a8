"""PostgreSQL schema and queries of the backend."""

from __future__ import annotations

import uuid
from typing import Any

from psycopg.rows import dict_row

# Arbitrary constant: serialises schema creation across replicas starting at once.
_SCHEMA_LOCK = 7_340_001

SCHEMA = """
CREATE TABLE IF NOT EXISTS chat_sessions (
    id          uuid PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS chat_messages (
    id          bigserial PRIMARY KEY,
    session_id  uuid NOT NULL REFERENCES chat_sessions(id) ON DELETE CASCADE,
    role        text NOT NULL CHECK (role IN ('user', 'assistant')),
    content     text NOT NULL,
    model       text,
    cached      boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS chat_messages_session_idx ON chat_messages (session_id, id);
CREATE TABLE IF NOT EXISTS agent_results (
    id          bigserial PRIMARY KEY,
    agent       text NOT NULL,
    task_id     text NOT NULL,
    status      text NOT NULL,
    goal        text,
    result      text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
"""


async def ensure_schema(pool: Any) -> None:
    """Idempotent: safe on every start and from several replicas at once."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        await conn.execute(SCHEMA)


async def save_exchange(
    pool: Any, session_id: uuid.UUID, question: str, answer: str, model: str, cached: bool
) -> None:
    async with pool.connection() as conn, conn.transaction():
        await conn.execute(
            "INSERT INTO chat_sessions (id) VALUES (%s) "
            "ON CONFLICT (id) DO UPDATE SET updated_at = now()",
            (session_id,),
        )
        await conn.execute(
            "INSERT INTO chat_messages (session_id, role, content, model, cached) "
            "VALUES (%s, 'user', %s, %s, false), (%s, 'assistant', %s, %s, %s)",
            (session_id, question, model, session_id, answer, model, cached),
        )


async def session_messages(pool: Any, session_id: uuid.UUID) -> list[dict[str, Any]]:
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT role, content, model, cached, created_at FROM chat_messages "
            "WHERE session_id = %s ORDER BY id",
            (session_id,),
        )
        rows = await cur.fetchall()
    return [{**row, "created_at": row["created_at"].isoformat()} for row in rows]


async def save_agent_result(
    pool: Any, agent: str, task_id: str, status: str, goal: str | None, result: str | None
) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO agent_results (agent, task_id, status, goal, result) "
            "VALUES (%s, %s, %s, %s, %s) RETURNING id",
            (agent, task_id, status, goal, result),
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])
