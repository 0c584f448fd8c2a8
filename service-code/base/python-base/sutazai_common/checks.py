"""Readiness probes for the platform's dependency kinds.

Driver imports are local: python-base does not ship the data drivers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from .config import HttpDependency

if TYPE_CHECKING:
    from psycopg_pool import AsyncConnectionPool


def http_check(client: httpx.AsyncClient, dep: HttpDependency) -> Any:
    async def check() -> None:
        response = await client.get(dep.probe_url)
        if response.status_code >= 400:
            raise RuntimeError(f"{dep.probe_path} returned HTTP {response.status_code}")

    return check


def postgres_pool_check(pool: AsyncConnectionPool[Any], timeout: float = 3.0) -> Any:
    async def check() -> None:
        async with pool.connection(timeout=timeout) as conn:
            await conn.execute("SELECT 1")

    return check


def redis_check(client: Any) -> Any:
    async def check() -> None:
        await client.ping()

    return check


def neo4j_check(driver: Any) -> Any:
    async def check() -> None:
        await driver.verify_connectivity()

    return check
