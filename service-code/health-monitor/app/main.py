"""Polls the health URLs in ``HEALTH_TARGETS`` (JSON map name -> URL) every
``HEALTH_INTERVAL_SECONDS`` and exposes ``/status`` and per-target gauges.

HTTP only, no Docker socket: it runs unchanged on EKS and on a Docker host."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import asdict, dataclass
from typing import Any

import httpx
from fastapi import FastAPI, HTTPException, Request
from prometheus_client import Counter, Gauge
from sutazai_common import build_app, env_float, env_json_map, register_check

log = logging.getLogger("sutazai.health-monitor")


@dataclass
class TargetStatus:
    url: str
    up: bool | None = None
    status_code: int | None = None
    latency_seconds: float | None = None
    last_checked: float | None = None
    error: str | None = None
    consecutive_failures: int = 0


class Monitor:
    def __init__(self, app: FastAPI, targets: dict[str, str], timeout: float) -> None:
        self.targets = {name: TargetStatus(url=url) for name, url in targets.items()}
        self.timeout = timeout
        self.rounds = 0
        self.registry = registry = app.state.metrics.registry
        self.up = Gauge(
            "sutazai_target_up",
            "1 if the target's health URL answered 2xx",
            ["target"],
            registry=registry,
        )
        self.latency = Gauge(
            "sutazai_target_latency_seconds",
            "Health request latency",
            ["target"],
            registry=registry,
        )
        self.checks = Counter(
            "sutazai_target_checks_total",
            "Health checks by result",
            ["target", "result"],
            registry=registry,
        )

    def close(self) -> None:
        # The app (and its registry) outlives one lifespan, e.g. under tests.
        for collector in (self.up, self.latency, self.checks):
            self.registry.unregister(collector)

    async def check(self, client: httpx.AsyncClient, name: str, status: TargetStatus) -> None:
        started = time.perf_counter()
        try:
            r = await client.get(status.url, timeout=self.timeout)
            status.status_code = r.status_code
            status.up = 200 <= r.status_code < 300
            status.error = None if status.up else f"HTTP {r.status_code}"
        except httpx.HTTPError as exc:
            status.up, status.status_code, status.error = False, None, type(exc).__name__
        status.latency_seconds = round(time.perf_counter() - started, 4)
        status.last_checked = time.time()
        status.consecutive_failures = 0 if status.up else status.consecutive_failures + 1
        self.up.labels(name).set(1 if status.up else 0)
        self.latency.labels(name).set(status.latency_seconds)
        self.checks.labels(name, "up" if status.up else "down").inc()

    async def poll_once(self, client: httpx.AsyncClient) -> None:
        await asyncio.gather(*(self.check(client, n, s) for n, s in self.targets.items()))
        self.rounds += 1

    async def run(self, client: httpx.AsyncClient, interval: float) -> None:
        while True:
            try:
                await self.poll_once(client)
            except Exception:  # keep polling whatever one round did
                log.exception("poll round failed")
            await asyncio.sleep(interval)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    monitor = Monitor(app, env_json_map("HEALTH_TARGETS"), env_float("HEALTH_TIMEOUT_SECONDS", 5.0))
    app.state.monitor = monitor

    async def first_round_done() -> None:
        if monitor.rounds == 0:
            raise RuntimeError("first poll round not finished")

    # Ready once it has something true to report; a down *target* is data, not unreadiness.
    register_check(app, "first_poll", first_round_done)
    client = httpx.AsyncClient()
    task = asyncio.create_task(monitor.run(client, env_float("HEALTH_INTERVAL_SECONDS", 15.0)))
    try:
        yield
    finally:
        task.cancel()
        with suppress(asyncio.CancelledError):
            await task
        await client.aclose()
        monitor.close()


app = build_app("health-monitor", lifespan=lifespan, description=__doc__ or "")


@app.get("/status")
async def status(request: Request) -> dict[str, Any]:
    monitor: Monitor = request.app.state.monitor
    targets = {n: asdict(s) for n, s in sorted(monitor.targets.items())}
    down = [n for n, s in targets.items() if s["up"] is False]
    return {
        "rounds": monitor.rounds,
        "all_up": not down and monitor.rounds > 0,
        "down": down,
        "targets": targets,
    }


@app.get("/status/{name}")
async def status_of(name: str, request: Request) -> dict[str, Any]:
    monitor: Monitor = request.app.state.monitor
    if name not in monitor.targets:
        raise HTTPException(404, f"unknown target {name!r}")
    return {"name": name, **asdict(monitor.targets[name])}
