"""FastAPI API gateway: chat via Ollama (cached in Redis, persisted in
PostgreSQL), agent registry, vector store/search via Qdrant, file uploads.

Every /api route needs a verified caller (auth.py) and stays within its per-caller
limits (guards.py); sessions and uploads are the caller's own."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import Depends, FastAPI, HTTPException, Request, UploadFile
from pydantic import BaseModel, Field
from sutazai_common import (
    Neo4jSettings,
    PostgresSettings,
    RedisSettings,
    build_app,
    env_int,
    env_json_map,
    http_dependencies,
    register_check,
)
from sutazai_common.ai import CacheMetrics, LlmMetrics, SearchMetrics
from sutazai_common.checks import http_check, neo4j_check, redis_check
from sutazai_common.clients import neo4j_driver, postgres_pool, redis_client
from sutazai_common.config import ConfigError, env_str

from . import db
from .auth import Authenticator, Identity, authenticate
from .guards import BodyLimit, Breakers, EdgeMetrics, RateLimits

log = logging.getLogger("sutazai.backend")

DEFAULT_MODEL = env_str("DEFAULT_MODEL", "tinyllama") or "tinyllama"
CACHE_TTL = env_int("CHAT_CACHE_TTL_SECONDS", 3600)
QDRANT_TIMEOUT = env_int("QDRANT_TIMEOUT_SECONDS", 15)
UPLOAD_DIR = Path(env_str("UPLOAD_DIR", "/tmp/sutazai_uploads") or "/tmp/sutazai_uploads")
MAX_UPLOAD_BYTES = env_int("MAX_UPLOAD_BYTES", 10 * 1024 * 1024)
# Every other request body (chat messages, vectors, agent results).
MAX_BODY_BYTES = env_int("MAX_BODY_BYTES", 64 * 1024)
# Multipart framing around an upload's bytes.
MULTIPART_OVERHEAD = 16 * 1024


class ChatRequest(BaseModel):
    message: str = Field(min_length=1, max_length=32_000)
    model: str | None = Field(default=None, max_length=200)
    session_id: uuid.UUID | None = None
    use_cache: bool = True


class ChatResponse(BaseModel):
    session_id: uuid.UUID
    model: str
    response: str
    cached: bool
    persisted: bool


class VectorPoint(BaseModel):
    collection: str = Field(default="sutazai", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    id: uuid.UUID | int | None = None
    vector: list[float] = Field(min_length=1, max_length=8192)
    payload: dict[str, Any] = Field(default_factory=dict)


class VectorQuery(BaseModel):
    collection: str = Field(default="sutazai", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    vector: list[float] = Field(min_length=1, max_length=8192)
    limit: int = Field(default=5, ge=1, le=100)


class AgentResult(BaseModel):
    task_id: str = Field(min_length=1, max_length=200)
    status: str = Field(max_length=40)
    goal: str | None = None
    result: str | None = None


class State:
    """Clients of the configured dependencies (None = not configured)."""

    def __init__(self) -> None:
        self.pool: Any = None
        self.redis: Any = None
        self.neo4j: Any = None
        self.schema_ready = False
        self.tasks: list[asyncio.Task[None]] = []
        self.http = httpx.AsyncClient(
            timeout=httpx.Timeout(env_int("OLLAMA_TIMEOUT_SECONDS", 120), connect=5)
        )
        self.deps = http_dependencies("OLLAMA_BASE_URL", "QDRANT_URL", "CHROMADB_URL", "FAISS_URL")
        self.agents = env_json_map("AGENTS")
        self.breakers = Breakers(EDGE_METRICS)
        self.limits: RateLimits | None = None


def state_of(request: Request) -> State:
    return request.app.state.backend


async def ensure_schema(state: State) -> None:
    if state.pool is not None and not state.schema_ready:
        await db.ensure_schema(state.pool)
        state.schema_ready = True


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    state = State()
    app.state.backend = state
    app.state.auth = Authenticator.from_env()  # a bad AUTH_* setting stops the start
    pg = PostgresSettings.from_env()
    if pg is not None:
        state.pool = postgres_pool(pg)
        await state.pool.open(wait=False)

        async def postgres_ready() -> None:
            await ensure_schema(state)  # also creates the tables once PG is back
            async with state.pool.connection(timeout=3) as conn:
                await conn.execute("SELECT 1")

        register_check(app, "postgres", postgres_ready)

        async def create_schema() -> None:
            try:
                await ensure_schema(state)
            except Exception as exc:
                log.warning("schema not created yet (%s); retried by /ready", type(exc).__name__)

        # In the background: the process is live (and /health answers) at once.
        state.tasks.append(asyncio.create_task(create_schema()))
    rs = RedisSettings.from_env()
    if rs is not None:
        state.redis = redis_client(rs)
        register_check(app, "redis", redis_check(state.redis))
    state.limits = RateLimits(state.redis, EDGE_METRICS)
    neo = Neo4jSettings.from_env()
    if neo is not None:
        state.neo4j = neo4j_driver(neo)
        register_check(app, "neo4j", neo4j_check(state.neo4j))
    for name, dep in state.deps.items():
        register_check(app, name, http_check(state.http, dep))
    try:
        yield
    finally:
        for task in state.tasks:
            task.cancel()
        await state.http.aclose()
        if state.redis is not None:
            await state.redis.aclose()
        if state.neo4j is not None:
            await state.neo4j.close()
        if state.pool is not None:
            await state.pool.close(timeout=2)


app = build_app("backend", lifespan=lifespan, description=__doc__ or "")
EDGE_METRICS = EdgeMetrics(app.state.metrics.registry)


def _body_cap(path: str) -> int:
    if path.startswith("/api/v1/files"):
        return MAX_UPLOAD_BYTES + MULTIPART_OVERHEAD
    return MAX_BODY_BYTES


app.add_middleware(BodyLimit, caps=_body_cap)


async def caller(
    request: Request, identity: Annotated[Identity, Depends(authenticate)]
) -> Identity:
    """A verified caller, a user or a workload (the MCP server chats too), within its API
    limit. Sessions and uploads belong to whoever made them."""
    await _limits(request).hit("api", identity.key)
    return identity


async def chat_caller(
    request: Request, identity: Annotated[Identity, Depends(authenticate)]
) -> Identity:
    """A verified caller within its chat limit, which is checked before anything costs.
    Chat counts against that (stricter) limit alone: one Redis round trip, not two."""
    await _limits(request).hit("chat", identity.key)
    return identity


Caller = Annotated[Identity, Depends(caller)]
ChatCaller = Annotated[Identity, Depends(chat_caller)]


def _limits(request: Request) -> RateLimits:
    limits = state_of(request).limits
    assert limits is not None  # set by the lifespan
    return limits


_registry = app.state.metrics.registry
llm_metrics = LlmMetrics(_registry)
cache_metrics = CacheMetrics(_registry, "chat")
search_metrics = SearchMetrics(_registry)


@app.get("/api/v1/health/services")
async def services_health(request: Request, _: Caller) -> dict[str, Any]:
    from sutazai_common.service import run_checks

    results = await run_checks(request.app.state.checks, 3.0)
    return {
        "services": {
            name: {"status": "up" if r["ok"] else "down", **r} for name, r in results.items()
        }
    }


def _cache_key(model: str, message: str) -> str:
    digest = hashlib.sha256(json.dumps([model, message]).encode()).hexdigest()
    return f"sutazai:chat:v1:{digest}"


@app.post("/api/v1/chat", response_model=ChatResponse)
async def chat(body: ChatRequest, request: Request, identity: ChatCaller) -> ChatResponse:
    state = state_of(request)
    ollama = state.deps.get("ollama")
    if ollama is None:
        raise HTTPException(503, "OLLAMA_BASE_URL is not configured")
    # Before any inference: the session must be the caller's own.
    if body.session_id is not None and state.pool is not None:
        await ensure_schema(state)
        if await db.session_owned_by_other(state.pool, body.session_id, identity.key):
            raise HTTPException(404, "unknown session")
    model = body.model or DEFAULT_MODEL
    key = _cache_key(model, body.message)
    answer: str | None = None
    if state.redis is not None and body.use_cache:
        try:
            answer = await state.redis.get(key)
            cache_metrics.record("miss" if answer is None else "hit")
        except Exception as exc:
            cache_metrics.record("error")
            log.warning("redis cache read failed: %s", type(exc).__name__)
    cached = answer is not None
    if answer is None:
        started = time.perf_counter()
        try:
            resp = await state.breakers.call(
                "ollama",
                lambda: state.http.post(
                    ollama.url("/api/generate"),
                    json={"model": model, "prompt": body.message, "stream": False},
                ),
            )
        except HTTPException:  # unreachable, 5xx or circuit open: 503 naming ollama
            llm_metrics.observe(model, "unreachable", time.perf_counter() - started)
            raise
        if resp.status_code != 200:
            llm_metrics.observe(model, "error", time.perf_counter() - started)
            raise HTTPException(502, f"ollama returned HTTP {resp.status_code}")
        generated = resp.json()
        llm_metrics.observe(model, "ok", time.perf_counter() - started, generated)
        answer = str(generated.get("response", ""))
        if state.redis is not None:
            try:
                await state.redis.set(key, answer, ex=CACHE_TTL)
            except Exception as exc:
                log.warning("redis cache write failed: %s", type(exc).__name__)
    session_id = body.session_id or uuid.uuid4()
    persisted = False
    if state.pool is not None:
        try:
            await ensure_schema(state)
            await db.save_exchange(
                state.pool, session_id, identity.key, body.message, answer, model, cached
            )
            persisted = True
        except db.NotOwner as exc:  # taken by someone else between the check and now
            raise HTTPException(404, "unknown session") from exc
        except Exception as exc:
            log.warning("chat not persisted: %s", type(exc).__name__)
    return ChatResponse(
        session_id=session_id, model=model, response=answer, cached=cached, persisted=persisted
    )


@app.get("/api/v1/chat/sessions/{session_id}")
async def chat_session(session_id: uuid.UUID, request: Request, identity: Caller) -> dict[str, Any]:
    state = state_of(request)
    if state.pool is None:
        raise HTTPException(503, "PostgreSQL is not configured")
    await ensure_schema(state)
    # Another user's session answers exactly like one that does not exist.
    messages = await db.session_messages(state.pool, session_id, identity.key)
    if not messages:
        raise HTTPException(404, "unknown session")
    return {"session_id": str(session_id), "messages": messages}


@app.get("/api/v1/agents")
async def list_agents(request: Request, _: Caller, probe: bool = False) -> dict[str, Any]:
    state = state_of(request)
    agents: list[dict[str, Any]] = []
    for name, url in sorted(state.agents.items()):
        entry: dict[str, Any] = {"name": name, "url": url}
        if probe:
            health = url.rstrip("/") + "/health"
            try:
                r = await state.breakers.call(
                    f"agent:{name}", lambda health=health: state.http.get(health, timeout=3)
                )
                entry["status"] = "up" if r.status_code == 200 else "down"
            except HTTPException as exc:  # down, or its circuit is open
                entry["status"] = "down"
                entry["error"] = exc.detail
        agents.append(entry)
    return {"agents": agents}


@app.post("/api/v1/agents/{agent}/results", status_code=201)
async def agent_result(
    agent: str, body: AgentResult, request: Request, identity: Caller
) -> dict[str, Any]:
    # Only the agent's own workload identity reports its results (no forged results).
    auth: Authenticator = request.app.state.auth
    if not auth.disabled and (identity.kind != "service" or identity.name != agent):
        raise HTTPException(403, f"only the {agent!r} workload may report its results")
    state = state_of(request)
    if state.pool is None:
        raise HTTPException(503, "PostgreSQL is not configured")
    await ensure_schema(state)
    row_id = await db.save_agent_result(
        state.pool, agent, body.task_id, body.status, body.goal, body.result, identity.subject
    )
    return {"id": row_id}


def _qdrant(state: State) -> Any:
    dep = state.deps.get("qdrant")
    if dep is None:
        raise HTTPException(503, "QDRANT_URL is not configured")
    return dep


async def _qdrant_call(state: State, method: str, path: str, payload: Any = None) -> httpx.Response:
    dep = _qdrant(state)
    try:
        headers = dep.auth_headers()  # QDRANT_API_KEY(_FILE), read per request
    except ConfigError as exc:
        log.warning("%s", exc)  # names the variable and file, never the key
        raise HTTPException(503, "qdrant API key unreadable") from exc
    return await state.breakers.call(
        "qdrant",
        lambda: state.http.request(
            method, dep.url(path), json=payload, headers=headers, timeout=QDRANT_TIMEOUT
        ),
    )


@app.post("/api/v1/vectors/store")
async def vectors_store(body: VectorPoint, request: Request, _: Caller) -> dict[str, Any]:
    state = state_of(request)
    coll = f"/collections/{body.collection}"
    if (await _qdrant_call(state, "GET", coll)).status_code == 404:
        created = await _qdrant_call(
            state, "PUT", coll, {"vectors": {"size": len(body.vector), "distance": "Cosine"}}
        )
        if created.status_code >= 400:
            raise HTTPException(502, f"qdrant create collection: HTTP {created.status_code}")
    point_id = body.id if body.id is not None else uuid.uuid4()
    point = {
        "id": str(point_id) if isinstance(point_id, uuid.UUID) else point_id,
        "vector": body.vector,
        "payload": body.payload,
    }
    resp = await _qdrant_call(state, "PUT", f"{coll}/points?wait=true", {"points": [point]})
    if resp.status_code >= 400:
        raise HTTPException(502, f"qdrant upsert: HTTP {resp.status_code}")
    return {"id": point["id"], "collection": body.collection}


@app.post("/api/v1/vectors/search")
async def vectors_search(body: VectorQuery, request: Request, _: Caller) -> dict[str, Any]:
    state = state_of(request)
    with search_metrics.duration.labels("qdrant").time():
        resp = await _qdrant_call(
            state,
            "POST",
            f"/collections/{body.collection}/points/search",
            {"vector": body.vector, "limit": body.limit, "with_payload": True},
        )
    if resp.status_code == 404:
        raise HTTPException(404, "unknown collection")
    if resp.status_code >= 400:
        raise HTTPException(502, f"qdrant search: HTTP {resp.status_code}")
    return {"results": resp.json().get("result", [])}


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def _uploads_of(identity: Identity) -> Path:
    """Each caller's files in a folder of their own (named by the opaque owner key)."""
    return UPLOAD_DIR / identity.key


@app.post("/api/v1/files/upload", status_code=201)
async def upload(file: UploadFile, identity: Caller) -> dict[str, Any]:
    folder = _uploads_of(identity)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    name = _UNSAFE.sub("_", Path(file.filename or "upload").name)[:100] or "upload"
    target = folder / f"{uuid.uuid4().hex}-{name}"
    size = 0
    with target.open("wb") as out:
        while chunk := await file.read(1 << 16):
            size += len(chunk)
            if size > MAX_UPLOAD_BYTES:
                out.close()
                target.unlink(missing_ok=True)
                raise HTTPException(413, f"file larger than {MAX_UPLOAD_BYTES} bytes")
            out.write(chunk)
    return {"file_id": target.name, "size": size}


@app.get("/api/v1/files")
async def list_files(identity: Caller) -> dict[str, Any]:
    folder = _uploads_of(identity)
    if not folder.is_dir():
        return {"files": []}
    return {
        "files": [{"file_id": p.name, "size": p.stat().st_size} for p in sorted(folder.iterdir())]
    }
