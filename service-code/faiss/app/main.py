"""FAISS vector index service: named indexes (``default`` if unnamed) with
add / search / delete, persisted under ``FAISS_INDEX_PATH``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from prometheus_client import Gauge
from pydantic import BaseModel, Field
from sutazai_common import build_app, env_int, register_check
from sutazai_common.ai import SearchMetrics
from sutazai_common.config import env_str

from .index import IndexError_, IndexStore, VectorIndex


class AddRequest(BaseModel):
    vectors: list[list[float]] = Field(min_length=1, max_length=10_000)
    ids: list[int] | None = None


class SearchRequest(BaseModel):
    vectors: list[list[float]] = Field(min_length=1, max_length=100)
    k: int = Field(default=5, ge=1, le=1000)


class DeleteRequest(BaseModel):
    ids: list[int] = Field(min_length=1)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    root = Path(env_str("FAISS_INDEX_PATH", "/data/indices") or "/data/indices")
    metric = (env_str("FAISS_METRIC", "l2") or "l2").lower()
    if metric not in {"l2", "ip"}:
        raise ValueError("FAISS_METRIC must be l2 or ip")
    store = IndexStore(root, env_int("DIMENSION", 768), metric)
    app.state.store = store
    gauge = Gauge(
        "faiss_index_vectors", "Vectors per index", ["index"], registry=app.state.metrics.registry
    )
    for name, idx in store.indexes.items():
        gauge.labels(name).set(idx.size)
    app.state.gauge = gauge

    async def index_dir_writable() -> None:
        if not await run_in_threadpool(store.writable):
            raise RuntimeError(f"{root} is not writable")

    register_check(app, "index_storage", index_dir_writable)
    try:
        yield
    finally:
        app.state.metrics.registry.unregister(gauge)


app = build_app("faiss", lifespan=lifespan, description=__doc__ or "")
search_metrics = SearchMetrics(app.state.metrics.registry)


def _index(request: Request, name: str, create: bool = False) -> VectorIndex:
    try:
        idx = request.app.state.store.get(name, create=create)
    except IndexError_ as exc:
        raise HTTPException(422, str(exc)) from exc
    if idx is None:
        raise HTTPException(404, f"unknown index {name!r}")
    return idx


@app.get("/indices")
def list_indices(request: Request) -> dict[str, Any]:
    store: IndexStore = request.app.state.store
    return {
        "dimension": store.dimension,
        "metric": store.metric,
        "indices": {n: i.size for n, i in sorted(store.indexes.items())},
    }


@app.post("/indices/{name}/add")
def add(name: str, body: AddRequest, request: Request) -> dict[str, Any]:
    idx = _index(request, name, create=True)
    try:
        ids = idx.add(body.vectors, body.ids)
    except IndexError_ as exc:
        raise HTTPException(422, str(exc)) from exc
    request.app.state.gauge.labels(name).set(idx.size)
    return {"ids": ids, "total": idx.size}


@app.post("/indices/{name}/search")
def search(name: str, body: SearchRequest, request: Request) -> dict[str, Any]:
    try:
        index = _index(request, name)
        with search_metrics.duration.labels("faiss").time():
            return {"results": index.search(body.vectors, body.k)}
    except IndexError_ as exc:
        raise HTTPException(422, str(exc)) from exc


@app.post("/indices/{name}/delete")
def delete(name: str, body: DeleteRequest, request: Request) -> dict[str, Any]:
    idx = _index(request, name)
    removed = idx.delete(body.ids)
    request.app.state.gauge.labels(name).set(idx.size)
    return {"removed": removed, "total": idx.size}


# Unnamed shortcuts on the ``default`` index.
@app.post("/add")
def add_default(body: AddRequest, request: Request) -> dict[str, Any]:
    return add("default", body, request)


@app.post("/search")
def search_default(body: SearchRequest, request: Request) -> dict[str, Any]:
    return search("default", body, request)


@app.post("/delete")
def delete_default(body: DeleteRequest, request: Request) -> dict[str, Any]:
    return delete("default", body, request)
