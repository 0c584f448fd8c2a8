"""Constructors for the shared data-store clients (drivers from data-base).

Credentials are fetched on every new connection, never cached: Vault Agent
re-renders the *_FILE secrets on rotation or lease renewal, and the next
connection picks the new ones up without a restart.
"""

from __future__ import annotations

from typing import Any

from .config import Neo4jSettings, PostgresSettings, RedisSettings, env_float, env_int


def postgres_pool(
    settings: PostgresSettings, *, min_size: int = 1, max_size: int | None = None
) -> Any:
    """An unopened psycopg AsyncConnectionPool."""
    from psycopg_pool import AsyncConnectionPool

    return AsyncConnectionPool(
        kwargs=settings.connect_kwargs,  # a callable: resolved per connection
        min_size=min_size,
        max_size=max_size or env_int("POSTGRES_POOL_MAX", 5),
        # Fail fast: callers (and /ready) must not hang on a dead database.
        timeout=env_float("POSTGRES_POOL_TIMEOUT_SECONDS", 5.0),
        # Recycle connections so a rotated/expiring credential is left behind.
        max_lifetime=env_float("POSTGRES_CONN_MAX_LIFETIME_SECONDS", 1800.0),
        open=False,
        name="sutazai",
    )


def redis_client(settings: RedisSettings) -> Any:
    import redis.asyncio as aioredis
    from redis.credentials import CredentialProvider

    class FileCredentials(CredentialProvider):
        def get_credentials(self) -> tuple[str] | tuple[str, str]:
            user, password = settings.credentials()
            if user:
                return (user, password or "")
            return (password,) if password else ("",)

        async def get_credentials_async(self) -> tuple[str] | tuple[str, str]:
            return self.get_credentials()

    user, password = settings.credentials()
    extra: dict[str, Any] = {}
    if user or password:  # none at all: send no AUTH (an open server rejects it)
        extra["credential_provider"] = FileCredentials()
    return aioredis.Redis.from_url(
        settings.url, socket_timeout=5, socket_connect_timeout=3, decode_responses=True, **extra
    )


def neo4j_driver(settings: Neo4jSettings) -> Any:
    from neo4j import AsyncGraphDatabase
    from neo4j.auth_management import AsyncAuthManagers

    async def provider() -> tuple[str, str]:
        return settings.auth()

    # basic(): the provider is asked again whenever the server rejects the auth.
    return AsyncGraphDatabase.driver(
        settings.uri, auth=AsyncAuthManagers.basic(provider), connection_timeout=3
    )
