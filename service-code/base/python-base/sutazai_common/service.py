"""FastAPI app factory implementing the uniform service contract."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

from .config import env_float, env_list, env_str
from .telemetry import setup_tracing

Check = Callable[[], Awaitable[object]]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]

log = logging.getLogger("sutazai")


def configure_logging(service: str) -> None:
    level = os.environ.get("LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s %(levelname)s {service} %(name)s: %(message)s",
    )
    # httpx logs every request URL at INFO; keep that out of service logs.
    logging.getLogger("httpx").setLevel(logging.WARNING)


class Metrics:
    """Per-app registry, so several apps (tests) never collide."""

    def __init__(self, service: str, version: str) -> None:
        self.registry = CollectorRegistry()
        process_collector.ProcessCollector(registry=self.registry)
        platform_collector.PlatformCollector(registry=self.registry)
        gc_collector.GCCollector(registry=self.registry)
        info = Gauge(
            "sutazai_build_info",
            "Service build information",
            ["service", "version"],
            registry=self.registry,
        )
        info.labels(service=service, version=version).set(1)
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "HTTP request latency",
            ["method", "route"],
            registry=self.registry,
        )
        self.dependency_up = Gauge(
            "sutazai_dependency_up",
            "1 if the dependency passed its last readiness check",
            ["dependency"],
            registry=self.registry,
        )


def register_check(app: FastAPI, name: str, check: Check) -> None:
    """Add a readiness check; services call this for configured deps only."""
    checks: dict[str, Check] = app.state.checks
    checks[name] = check


async def run_checks(checks: dict[str, Check], timeout: float) -> dict[str, dict[str, Any]]:
    async def one(check: Check) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            await asyncio.wait_for(check(), timeout)
        except Exception as exc:
            return {
                "ok": False,
                "error": f"{type(exc).__name__}: {str(exc)[:200]}",
                "latency_ms": round((time.perf_counter() - started) * 1000, 1),
            }
        return {"ok": True, "latency_ms": round((time.perf_counter() - started) * 1000, 1)}

    names = list(checks)
    results = await asyncio.gather(*(one(checks[n]) for n in names))
    return dict(zip(names, results, strict=True))


def api_docs_enabled() -> bool:
    """/docs, /redoc and /openapi.json answer only when SUTAZAI_ENVIRONMENT is exactly
    ``dev`` (the dev stacks' backend); unset or anything else hides them (fails closed)."""
    return env_str("SUTAZAI_ENVIRONMENT") == "dev"


def build_app(
    service: str,
    *,
    version: str = "0.1.0",
    lifespan: Lifespan | None = None,
    description: str = "",
) -> FastAPI:
    configure_logging(service)
    metrics = Metrics(service, version)

    @asynccontextmanager
    async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.checks = {}  # registered afresh by each start
        app.state.api_docs = api_docs_enabled()
        try:
            if lifespan is None:
                yield
            else:
                async with lifespan(app):
                    yield
        finally:
            if tracer_provider is not None:
                tracer_provider.force_flush(5000)

    app = FastAPI(
        title=f"SutazAI {service}", version=version, description=description, lifespan=_lifespan
    )
    # Middleware can only be added before the app first runs: instrument here.
    tracer_provider = setup_tracing(app, service)
    app.state.service = service
    app.state.metrics = metrics
    app.state.checks = {}

    docs_paths = frozenset(
        p
        for p in (app.docs_url, app.redoc_url, app.openapi_url, app.swagger_ui_oauth2_redirect_url)
        if p
    )

    @app.middleware("http")
    async def _hide_api_docs(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # The schema maps every route for an attacker: served in dev stacks only.
        if request.url.path in docs_paths and not getattr(app.state, "api_docs", False):
            return JSONResponse({"detail": "Not Found"}, status_code=404)
        return await call_next(request)

    @app.middleware("http")
    async def _observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            return response
        finally:
            route = request.scope.get("route")
            # Templated path keeps label cardinality bounded.
            path = getattr(route, "path", "unmatched")
            metrics.requests.labels(request.method, path, str(status)).inc()
            metrics.latency.labels(request.method, path).observe(time.perf_counter() - started)

    @app.get("/health", tags=["contract"])
    async def health() -> dict[str, str]:
        return {"status": "ok", "service": service, "version": version}

    @app.get("/ready", tags=["contract"])
    async def ready() -> JSONResponse:
        # Dependencies reported but not gating (avoid cascading unreadiness
        # through optional backends), e.g. READY_IGNORE=ollama,neo4j
        ignored = set(env_list("READY_IGNORE"))
        timeout = env_float("READY_TIMEOUT_SECONDS", 3.0)
        results = await run_checks(app.state.checks, timeout)
        for name, result in results.items():
            metrics.dependency_up.labels(name).set(1 if result["ok"] else 0)
        down = sorted(n for n, r in results.items() if not r["ok"] and n not in ignored)
        body = {
            "status": "not_ready" if down else "ready",
            "service": service,
            "down": down,
            "checks": results,
        }
        return JSONResponse(body, status_code=503 if down else 200)

    @app.get("/metrics", tags=["contract"])
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return app
