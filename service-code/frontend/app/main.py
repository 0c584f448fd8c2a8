"""Chat page plus a server-side ``/api/*`` proxy to the backend, so the browser
only ever talks to this origin (no CORS, backend stays internal).

Behind the ALB's OIDC/Cognito authentication the browser holds only the ALB's session
cookie; the ALB hands us the user's access token in ``x-amzn-oidc-accesstoken``, which
the proxy presents to the backend as the bearer token the backend verifies.

Docker stacks have no ALB: there ``DEV_LOGIN_URL`` (the stack's dev issuer's ``/login``,
set by the Docker renderer only) enables ``/dev-login``, which signs a developer in there
and keeps the access token in an HttpOnly, SameSite=Strict cookie that the proxy presents
the same way. Without ``DEV_LOGIN_URL`` the cookie means nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
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
DEV_TOKEN_COOKIE = "sutazai_dev_token"
DEV_LOGIN_PAGE = """<!doctype html><html><head><title>SutazAI dev sign-in</title></head><body>
<form method="post" action="/dev-login"><label>User name (dev stack)
<input name="username" pattern="[a-z0-9][a-z0-9._-]{0,63}" required></label>
<button>Sign in</button></form></body></html>"""


def _bearer_from_alb(request: Request) -> dict[str, str]:
    """The ALB's access token as the backend's bearer token (or, on a Docker stack, the dev
    sign-in's cookie). The backend verifies it (signature, issuer, audience, expiry) like
    any other, so nothing here is trusted."""
    token = request.headers.get(ALB_ACCESS_TOKEN, "").strip()
    if not token and env_str("DEV_LOGIN_URL"):
        token = request.cookies.get(DEV_TOKEN_COOKIE, "").strip()
    return {"Authorization": f"Bearer {token}"} if token else {}


def _dev_login_url() -> str:
    url = env_str("DEV_LOGIN_URL")
    if not url:
        raise HTTPException(404, "Not Found")  # not a Docker stack: no dev sign-in
    return url


@app.get("/dev-login", response_class=HTMLResponse)
async def dev_login_page() -> HTMLResponse:
    _dev_login_url()
    return HTMLResponse(DEV_LOGIN_PAGE)


@app.post("/dev-login")
async def dev_login(request: Request) -> Response:
    """Sign in at the dev issuer; the token lives in a cookie only this origin's /api gets."""
    url = _dev_login_url()
    form = await request.form()
    username = form.get("username")
    if not isinstance(username, str):
        raise HTTPException(422, "username is required")
    try:
        answer = await request.app.state.http.post(url, json={"username": username}, timeout=5)
    except httpx.HTTPError as exc:
        raise HTTPException(
            503, {"detail": "dev issuer unreachable", "dependency": "dev-issuer"}
        ) from exc
    if answer.status_code != 200:
        raise HTTPException(
            answer.status_code if answer.status_code < 500 else 502, "sign-in refused"
        )
    body = answer.json()
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        DEV_TOKEN_COOKIE,
        str(body["access_token"]),
        max_age=int(body["expires_in"]),
        path="/api",
        httponly=True,
        samesite="strict",
    )
    return response
