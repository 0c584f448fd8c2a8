"""Fan-out proxy over the services named in ``SERVICE_HUB_TARGETS``
(JSON map name -> base URL): list, call one, check one, broadcast to all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request, Response
from pydantic import BaseModel, Field
from sutazai_common import build_app, env_json_map
from sutazai_common.config import env_float
from sutazai_common.http import forward


class Broadcast(BaseModel):
    path: str = Field(default="/health", max_length=2000)
    method: str = Field(default="GET", pattern="^(GET|POST|PUT|DELETE)$")
    body: Any = None
    targets: list[str] | None = None


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    # Parsed at start: a malformed map fails the process, not every request.
    app.state.targets = env_json_map("SERVICE_HUB_TARGETS")
    app.state.http = httpx.AsyncClient(timeout=env_float("HUB_TIMEOUT_SECONDS", 30.0))
    try:
        yield
    finally:
        await app.state.http.aclose()


# Readiness: the hub itself has no hard dependency; one down target must not
# take the hub (and every other target's route) out of service.
app = build_app("service-hub", lifespan=lifespan, description=__doc__ or "")


def target(request: Request, name: str) -> str:
    targets: dict[str, str] = request.app.state.targets
    if name not in targets:
        raise HTTPException(404, f"unknown service {name!r}")
    return targets[name].rstrip("/")


@app.get("/services")
async def services(request: Request) -> dict[str, Any]:
    return {
        "services": [{"name": n, "url": u} for n, u in sorted(request.app.state.targets.items())]
    }


@app.api_route("/call/{name}/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def call(name: str, path: str, request: Request) -> Response:
    return await forward(request.app.state.http, request, f"{target(request, name)}/{path}")


async def _probe(client: httpx.AsyncClient, url: str) -> dict[str, Any]:
    try:
        r = await client.get(url + "/health", timeout=5)
    except httpx.HTTPError as exc:
        return {"status": "down", "error": type(exc).__name__}
    return {"status": "up" if r.status_code == 200 else "down", "status_code": r.status_code}


@app.get("/health/{name}")
async def health_of(name: str, request: Request) -> dict[str, Any]:
    return {"name": name, **await _probe(request.app.state.http, target(request, name))}


@app.post("/broadcast")
async def broadcast(body: Broadcast, request: Request) -> dict[str, Any]:
    names = body.targets or sorted(request.app.state.targets)
    urls = {n: target(request, n) for n in names}
    client: httpx.AsyncClient = request.app.state.http

    async def one(url: str) -> dict[str, Any]:
        try:
            r = await client.request(
                body.method,
                url + "/" + body.path.lstrip("/"),
                json=body.body if body.method != "GET" else None,
            )
        except httpx.HTTPError as exc:
            return {"ok": False, "error": type(exc).__name__}
        try:
            payload: Any = r.json()
        except ValueError:
            payload = r.text[:2000]
        return {"ok": r.status_code < 400, "status_code": r.status_code, "body": payload}

    results = await asyncio.gather(*(one(u) for u in urls.values()))
    return {"results": dict(zip(urls, results, strict=True))}
