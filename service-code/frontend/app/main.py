"""Chat page plus a server-side ``/api/*`` proxy to the backend, so the browser
only ever talks to this origin (no CORS, backend stays internal).

Behind the ALB's OIDC/Cognito authentication the browser holds only the ALB's session
cookie; the ALB hands us the user's access token in ``x-amzn-oidc-accesstoken``, which
the proxy presents to the backend as the bearer token the backend verifies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from sutazai_common import build_app, http_dependencies, register_check
from sutazai_common.checks import http_check
from sutazai_common.config import env_float, env_str
from sutazai_common.http import forward

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=str(HERE / "templates"))


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    app.state.http = httpx.AsyncClient(timeout=env_float("PROXY_TIMEOUT_SECONDS", 130.0))
    app.state.backend = http_dependencies("BACKEND_URL").get("backend")
    if app.state.backend is not None:
        register_check(app, "backend", http_check(app.state.http, app.state.backend))
    try:
        yield
    finally:
        await app.state.http.aclose()


app = build_app("frontend", lifespan=lifespan, description=__doc__ or "")
app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")


@app.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    return templates.TemplateResponse(
        request,
        "index.html",
        {
            "title": env_str("FRONTEND_TITLE", "SutazAI") or "SutazAI",
            "default_model": env_str("DEFAULT_MODEL", "tinyllama"),
        },
    )


@app.api_route("/api/{path:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
async def api_proxy(path: str, request: Request) -> Response:
    backend = request.app.state.backend
    if backend is None:
        raise HTTPException(503, "BACKEND_URL is not configured")
    return await forward(
        request.app.state.http,
        request,
        backend.url(f"/api/{path}"),
        extra_headers=_bearer_from_alb(request),
    )


ALB_ACCESS_TOKEN = "x-amzn-oidc-accesstoken"


def _bearer_from_alb(request: Request) -> dict[str, str]:
    """The ALB's access token as the backend's bearer token. The backend verifies it
    (signature, issuer, client, expiry) like any other, so nothing here is trusted."""
    token = request.headers.get(ALB_ACCESS_TOKEN, "").strip()
    return {"Authorization": f"Bearer {token}"} if token else {}
