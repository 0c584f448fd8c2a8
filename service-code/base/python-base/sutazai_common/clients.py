"""Constructors for the shared data-store clients (drivers from data-base)."""

from __future__ import annotations

from typing import Any

from .config import Neo4jSettings, PostgresSettings, RedisSettings, env_float, env_int


def postgres_pool(settings: PostgresSettings, *, min_size: int = 1, max_size: int | None = None) -> Any:
    """An unopened psycopg AsyncConnectionPool.

    The password is read once here: a rotated secret takes effect when the
    pod restarts (Vault Agent templates can trigger that)."""
    from psycopg_pool import AsyncConnectionPool

    return AsyncConnectionPool(
        kwargs=settings.connect_kwargs(),
        min_size=min_size,
        max_size=max_size or env_int("POSTGRES_POOL_MAX", 5),
        # Fail fast: callers (and /ready) must not hang on a dead database.
        timeout=env_float("POSTGRES_POOL_TIMEOUT_SECONDS", 5.0),
        open=False,
        name="sutazai",
    )


def redis_client(settings: RedisSettings) -> Any:
    import redis.asyncio as aioredis

    return aioredis.Redis.from_url(
        settings.url,
        socket_timeout=5,
        socket_connect_timeout=3,
        decode_responses=True,
        **settings.client_kwargs(),
    )


def neo4j_driver(settings: Neo4jSettings) -> Any:
    from neo4j import AsyncGraphDatabase

    return AsyncGraphDatabase.driver(settings.uri, auth=settings.auth(), connection_timeout=3)
