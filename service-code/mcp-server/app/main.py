"""HTTP bridge that lists the platform's services and routes tool calls to
them (backend, ollama, qdrant, chromadb, faiss over HTTP; PostgreSQL, Redis
and Neo4j read-only). No Docker socket, no docker_exec: it runs on EKS.
Tool routes require a bearer token when MCP_API_TOKEN(_FILE) is set; calls to
Qdrant carry its API key (QDRANT_API_KEY(_FILE))."""

from __future__ import annotations

import hmac
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx
import psycopg
from fastapi import Depends, FastAPI, HTTPException, Request
from psycopg.rows import dict_row
from pydantic import BaseModel, Field
from sutazai_common import (
    Neo4jSettings,
    PostgresSettings,
    RedisSettings,
    build_app,
    env_int,
    http_dependencies,
)
from sutazai_common.clients import neo4j_driver, postgres_pool, redis_client
from sutazai_common.config import ConfigError, HttpDependency, read_secret

log = logging.getLogger("sutazai.mcp-server")

MAX_ROWS = env_int("MCP_MAX_ROWS", 200)
# Redis commands a tool may run: reads only.
REDIS_READ = {
    "GET",
    "MGET",
    "HGET",
    "HGETALL",
    "LRANGE",
    "SMEMBERS",
    "ZRANGE",
    "XRANGE",
    "XLEN",
    "TTL",
    "EXISTS",
    "TYPE",
    "SCAN",
    "PING",
    "STRLEN",
    "LLEN",
    "SCARD",
}


class RouteRequest(BaseModel):
    service: str
    path: str = Field(default="/", max_length=2000)
    method: str = Field(default="GET", pattern="^(GET|POST|PUT|PATCH|DELETE)$")
    body: Any = None
    params: dict[str, str] = Field(default_factory=dict)


class ToolCall(BaseModel):
    arguments: dict[str, Any] = Field(default_factory=dict)


class Bridge:
    def __init__(self) -> None:
        self.http = httpx.AsyncClient(timeout=env_int("MCP_TIMEOUT_SECONDS", 120))
        self.http_services: dict[str, HttpDependency] = http_dependencies()
        self.pool: Any = None
        self.redis: Any = None
        self.neo4j: Any = None

    def services(self) -> list[dict[str, str]]:
        out = [
            {"name": n, "kind": "http", "url": d.base_url} for n, d in self.http_services.items()
        ]
        if self.pool is not None:
            out.append({"name": "postgres", "kind": "sql"})
        if self.redis is not None:
            out.append({"name": "redis", "kind": "kv"})
        if self.neo4j is not None:
            out.append({"name": "neo4j", "kind": "graph"})
        return sorted(out, key=lambda s: s["name"])

    async def route(self, req: RouteRequest) -> dict[str, Any]:
        dep = self.http_services.get(req.service)
        if dep is None:
            raise HTTPException(404, f"no HTTP service {req.service!r} configured")
        try:
            headers = dep.auth_headers()  # e.g. Qdrant's api-key, read per request
        except ConfigError as exc:
            log.warning("%s", exc)  # names the variable and file, never the key
            raise HTTPException(503, f"{req.service} API key unreadable") from exc
        try:
            r = await self.http.request(
                req.method,
                dep.url(req.path),
                params=req.params,
                json=req.body if req.method != "GET" else None,
                headers=headers,
            )
        except httpx.HTTPError as exc:
            raise HTTPException(502, f"{req.service} unreachable: {type(exc).__name__}") from exc
        try:
            payload: Any = r.json()
        except ValueError:
            payload = r.text[:10_000]
        return {"service": req.service, "status_code": r.status_code, "body": payload}

    async def postgres_query(self, sql: str, params: list[Any] | None = None) -> dict[str, Any]:
        if self.pool is None:
            raise HTTPException(404, "postgres is not configured")
        try:
            async with self.pool.connection() as conn:
                # Read-only transaction: the database itself refuses writes.
                await conn.set_read_only(True)
                cur = conn.cursor(row_factory=dict_row)
                await cur.execute(sql, params or [])
                rows = await cur.fetchmany(MAX_ROWS) if cur.description else []
        except psycopg.Error as exc:
            raise HTTPException(400, f"{type(exc).__name__}: {str(exc)[:300]}") from exc
        return {
            "rows": [{k: _plain(v) for k, v in row.items()} for row in rows],
            "truncated": len(rows) == MAX_ROWS,
        }

    async def redis_read(self, command: str, args: list[Any]) -> dict[str, Any]:
        if self.redis is None:
            raise HTTPException(404, "redis is not configured")
        if command.upper() not in REDIS_READ:
            raise HTTPException(403, f"redis command {command!r} is not allowed (read-only)")
        return {"result": await self.redis.execute_command(command.upper(), *args)}

    async def neo4j_query(
        self, cypher: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        if self.neo4j is None:
            raise HTTPException(404, "neo4j is not configured")
        async with self.neo4j.session() as session:

            async def work(tx: Any) -> list[dict[str, Any]]:
                result = await tx.run(cypher, params or {})
                return [record.data() async for record in result][:MAX_ROWS]

            rows = await session.execute_read(work)
        return {"rows": rows}


def _plain(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


ToolFn = Callable[[Bridge, dict[str, Any]], Awaitable[dict[str, Any]]]


async def _http_call(b: Bridge, a: dict[str, Any]) -> dict[str, Any]:
    return await b.route(RouteRequest(**a))


async def _ollama_generate(b: Bridge, a: dict[str, Any]) -> dict[str, Any]:
    return await b.route(
        RouteRequest(
            service="ollama",
            path="/api/generate",
            method="POST",
            body={"model": a.get("model", "tinyllama"), "prompt": a["prompt"], "stream": False},
        )
    )


async def _backend_chat(b: Bridge, a: dict[str, Any]) -> dict[str, Any]:
    return await b.route(
        RouteRequest(service="backend", path="/api/v1/chat", method="POST", body=a)
    )


async def _vector_search(b: Bridge, a: dict[str, Any]) -> dict[str, Any]:
    coll = a.get("collection", "sutazai")
    return await b.route(
        RouteRequest(
            service="qdrant",
            path=f"/collections/{coll}/points/search",
            method="POST",
            body={"vector": a["vector"], "limit": a.get("limit", 5), "with_payload": True},
        )
    )


async def _postgres_query(b: Bridge, a: dict[str, Any]) -> dict[str, Any]:
    return await b.postgres_query(a["sql"], a.get("params"))


async def _redis_read(b: Bridge, a: dict[str, Any]) -> dict[str, Any]:
    return await b.redis_read(a["command"], list(a.get("args", [])))


async def _neo4j_query(b: Bridge, a: dict[str, Any]) -> dict[str, Any]:
    return await b.neo4j_query(a["cypher"], a.get("params"))


TOOLS: dict[str, tuple[str, str | None, dict[str, Any], ToolFn]] = {
    # name: (description, service it needs (None: any), JSON schema, implementation)
    "http_call": (
        "Call any configured HTTP service",
        None,
        {
            "type": "object",
            "required": ["service"],
            "properties": {
                "service": {"type": "string"},
                "path": {"type": "string"},
                "method": {"type": "string"},
                "body": {},
            },
        },
        _http_call,
    ),
    "ollama_generate": (
        "Generate text with an Ollama model",
        "ollama",
        {
            "type": "object",
            "required": ["prompt"],
            "properties": {"prompt": {"type": "string"}, "model": {"type": "string"}},
        },
        _ollama_generate,
    ),
    "backend_chat": (
        "Chat through the backend (cached, persisted)",
        "backend",
        {
            "type": "object",
            "required": ["message"],
            "properties": {"message": {"type": "string"}, "model": {"type": "string"}},
        },
        _backend_chat,
    ),
    "vector_search": (
        "Nearest neighbours in a Qdrant collection",
        "qdrant",
        {
            "type": "object",
            "required": ["vector"],
            "properties": {
                "vector": {"type": "array", "items": {"type": "number"}},
                "collection": {"type": "string"},
                "limit": {"type": "integer"},
            },
        },
        _vector_search,
    ),
    "postgres_query": (
        "Run a read-only SQL query",
        "postgres",
        {
            "type": "object",
            "required": ["sql"],
            "properties": {"sql": {"type": "string"}, "params": {"type": "array"}},
        },
        _postgres_query,
    ),
    "redis_read": (
        "Run a read-only Redis command",
        "redis",
        {
            "type": "object",
            "required": ["command"],
            "properties": {"command": {"type": "string"}, "args": {"type": "array"}},
        },
        _redis_read,
    ),
    "neo4j_query": (
        "Run a read-only Cypher query",
        "neo4j",
        {
            "type": "object",
            "required": ["cypher"],
            "properties": {"cypher": {"type": "string"}, "params": {"type": "object"}},
        },
        _neo4j_query,
    ),
}


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    from sutazai_common import register_check
    from sutazai_common.checks import http_check, neo4j_check, postgres_pool_check, redis_check

    bridge = Bridge()
    app.state.bridge = bridge
    pg, rs, neo = PostgresSettings.from_env(), RedisSettings.from_env(), Neo4jSettings.from_env()
    if pg is not None:
        bridge.pool = postgres_pool(pg)
        await bridge.pool.open(wait=False)
        register_check(app, "postgres", postgres_pool_check(bridge.pool))
    if rs is not None:
        bridge.redis = redis_client(rs)
        register_check(app, "redis", redis_check(bridge.redis))
    if neo is not None:
        bridge.neo4j = neo4j_driver(neo)
        register_check(app, "neo4j", neo4j_check(bridge.neo4j))
    for dep in bridge.http_services.values():
        register_check(app, dep.name, http_check(bridge.http, dep))
    try:
        yield
    finally:
        await bridge.http.aclose()
        if bridge.redis is not None:
            await bridge.redis.aclose()
        if bridge.neo4j is not None:
            await bridge.neo4j.close()
        if bridge.pool is not None:
            await bridge.pool.close(timeout=2)


app = build_app("mcp-server", lifespan=lifespan, description=__doc__ or "")


def require_token(request: Request) -> None:
    """With MCP_API_TOKEN(_FILE) set, every tool route needs ``Authorization:
    Bearer <token>``. Read per request, so a rotated token applies at once."""
    expected = read_secret("MCP_API_TOKEN")
    if not expected:
        return
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(
            401, "missing or invalid bearer token", headers={"WWW-Authenticate": "Bearer"}
        )


AUTH = [Depends(require_token)]


def bridge_of(request: Request) -> Bridge:
    return request.app.state.bridge


def _available(b: Bridge, needs: str | None) -> bool:
    return needs is None or needs in {s["name"] for s in b.services()}


@app.get("/services", dependencies=AUTH)
async def services(request: Request) -> dict[str, Any]:
    return {"services": bridge_of(request).services()}


@app.get("/tools", dependencies=AUTH)
async def tools(request: Request) -> dict[str, Any]:
    b = bridge_of(request)
    return {
        "tools": [
            {"name": n, "description": d, "input_schema": s}
            for n, (d, needs, s, _) in TOOLS.items()
            if _available(b, needs)
        ]
    }


@app.post("/tools/{name}", dependencies=AUTH)
async def call_tool(name: str, body: ToolCall, request: Request) -> dict[str, Any]:
    b = bridge_of(request)
    if name not in TOOLS or not _available(b, TOOLS[name][1]):
        raise HTTPException(404, f"unknown or unavailable tool {name!r}")
    try:
        return {"tool": name, "result": await TOOLS[name][3](b, body.arguments)}
    except KeyError as exc:
        raise HTTPException(422, f"missing argument {exc}") from exc


@app.post("/route", dependencies=AUTH)
async def route(body: RouteRequest, request: Request) -> dict[str, Any]:
    return await bridge_of(request).route(body)
