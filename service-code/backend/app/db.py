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
-- The caller who opened the session (Identity.key); sessions from before owners existed
-- have none and are nobody's.
ALTER TABLE chat_sessions ADD COLUMN IF NOT EXISTS owner text;
CREATE TABLE IF NOT EXISTS agent_results (
    id          bigserial PRIMARY KEY,
    agent       text NOT NULL,
    task_id     text NOT NULL,
    status      text NOT NULL,
    goal        text,
    result      text,
    created_at  timestamptz NOT NULL DEFAULT now()
);
-- The verified workload identity that posted the result.
ALTER TABLE agent_results ADD COLUMN IF NOT EXISTS reported_by text;
"""


async def ensure_schema(pool: Any) -> None:
    """Idempotent: safe on every start and from several replicas at once."""
    async with pool.connection() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(%s)", (_SCHEMA_LOCK,))
        await conn.execute(SCHEMA)


async def session_owned_by_other(pool: Any, session_id: uuid.UUID, owner: str) -> bool:
    """True if the session exists and is not ``owner``'s (checked before any inference)."""
    async with pool.connection() as conn:
        cur = await conn.execute(
            "SELECT owner IS DISTINCT FROM %s FROM chat_sessions WHERE id = %s",
            (owner, session_id),
        )
        row = await cur.fetchone()
    return bool(row and row[0])


class NotOwner(Exception):
    """The session belongs to someone else."""


async def save_exchange(
    pool: Any,
    session_id: uuid.UUID,
    owner: str,
    question: str,
    answer: str,
    model: str,
    cached: bool,
) -> None:
    async with pool.connection() as conn, conn.transaction():
        # Only the owner's own session is touched: a foreign id updates no row.
        cur = await conn.execute(
            "INSERT INTO chat_sessions (id, owner) VALUES (%s, %s) "
            "ON CONFLICT (id) DO UPDATE SET updated_at = now() "
            "WHERE chat_sessions.owner = EXCLUDED.owner",
            (session_id, owner),
        )
        if cur.rowcount != 1:
            raise NotOwner(str(session_id))
        await conn.execute(
            "INSERT INTO chat_messages (session_id, role, content, model, cached) "
            "VALUES (%s, 'user', %s, %s, false), (%s, 'assistant', %s, %s, %s)",
            (session_id, question, model, session_id, answer, model, cached),
        )


async def session_messages(pool: Any, session_id: uuid.UUID, owner: str) -> list[dict[str, Any]]:
    """The session's messages if it is ``owner``'s; none otherwise (as if unknown)."""
    async with pool.connection() as conn:
        cur = conn.cursor(row_factory=dict_row)
        await cur.execute(
            "SELECT m.role, m.content, m.model, m.cached, m.created_at FROM chat_messages m "
            "JOIN chat_sessions s ON s.id = m.session_id "
            "WHERE m.session_id = %s AND s.owner = %s ORDER BY m.id",
            (session_id, owner),
        )
        rows = await cur.fetchall()
    return [{**row, "created_at": row["created_at"].isoformat()} for row in rows]


async def save_agent_result(
    pool: Any,
    agent: str,
    task_id: str,
    status: str,
    goal: str | None,
    result: str | None,
    reported_by: str,
) -> int:
    async with pool.connection() as conn:
        cur = await conn.execute(
            "INSERT INTO agent_results (agent, task_id, status, goal, result, reported_by) "
            "VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
            (agent, task_id, status, goal, result, reported_by),
        )
        row = await cur.fetchone()
    assert row is not None
    return int(row[0])
