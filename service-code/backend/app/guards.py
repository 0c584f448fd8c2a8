"""What a flood costs: per-identity rate limits in Redis, body-size caps, and circuit
breakers around the expensive dependencies (Ollama, Qdrant, the agents)."""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import Any, Literal

import httpx
from circuitbreaker import CircuitBreaker
from fastapi import HTTPException
from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, RedisStorage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.errors import StorageError
from prometheus_client import CollectorRegistry, Counter, Gauge
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from sutazai_common.config import ConfigError, env_float, env_int, env_str

log = logging.getLogger("sutazai.backend.guards")


def dependency_unavailable(dependency: str, error: str, retry_after: int = 0) -> HTTPException:
    """503 whose body names the dependency, so a client (and an operator) sees what is down."""
    headers = {"Retry-After": str(retry_after)} if retry_after > 0 else None
    return HTTPException(503, {"error": error, "dependency": dependency}, headers=headers)


# ── rate limits ──────────────────────────────────────────────────────────────────────────


def _limit(name: str, default: str) -> RateLimitItem:
    raw = env_str(name, default) or default
    try:
        return parse(raw)
    except ValueError as exc:
        raise ConfigError(
            f"{name} must look like '20/minute' or '5 per second', got {raw!r}"
        ) from exc


class EdgeMetrics:
    """Registered once per app (an app restarts in tests; its registry does not)."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.rate_limited = Counter(
            "sutazai_rate_limited_total",
            "Requests refused with 429, by limit",
            ["limit"],
            registry=registry,
        )
        self.circuit_open = Gauge(
            "sutazai_circuit_open",
            "1 while the dependency's circuit breaker is open",
            ["dependency"],
            registry=registry,
        )
        self.short_circuited = Counter(
            "sutazai_circuit_rejections_total",
            "Calls refused at once because the dependency's circuit is open",
            ["dependency"],
            registry=registry,
        )


class RateLimits:
    """Moving-window limits per caller, kept in Redis (shared by every replica) or, without
    Redis, in this process. With Redis unreachable the chat limit fails closed (503: an
    unlimited chat is an unlimited GPU bill); the general API limit lets calls through
    (the WAF's per-IP rule still bounds them) so a Redis outage is not an API outage."""

    def __init__(self, redis: Any, metrics: EdgeMetrics) -> None:
        self.api = _limit("RATE_LIMIT_API", "120/minute")
        self.chat = _limit("RATE_LIMIT_CHAT", "20/minute")
        if redis is not None:
            storage: Any = RedisStorage(
                "async+redis://",
                implementation="redispy",
                wrap_exceptions=True,
                key_prefix="sutazai:ratelimit",
                connection_pool=redis.connection_pool,
            )
        else:
            storage = MemoryStorage()
        self.limiter = MovingWindowRateLimiter(storage)
        self.metrics = metrics

    async def hit(self, limit_name: Literal["api", "chat"], caller: str) -> None:
        item = self.chat if limit_name == "chat" else self.api
        try:
            if await self.limiter.hit(item, limit_name, caller):
                return
            stats = await self.limiter.get_window_stats(item, limit_name, caller)
        except StorageError as exc:
            log.warning("rate limiter storage failed: %s", type(exc.storage_error).__name__)
            if limit_name != "chat":
                return
            raise dependency_unavailable("redis", "rate limiter unavailable", 5) from exc
        self.metrics.rate_limited.labels(limit_name).inc()
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        raise HTTPException(
            429,
            f"rate limit {item} exceeded; retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


# ── circuit breakers ─────────────────────────────────────────────────────────────────────


class DependencyDown(Exception):
    """A failure that counts against a dependency's breaker (no answer, or a 5xx)."""


class Breakers:
    """One breaker per dependency: ``BREAKER_FAILURES`` failures in a row open it; while
    open, calls fail at once with 503 naming the dependency; after
    ``BREAKER_RECOVERY_SECONDS`` the next call is tried, and a success closes it again."""

    def __init__(self, metrics: EdgeMetrics) -> None:
        self.failures = env_int("BREAKER_FAILURES", 5)
        self.recovery = env_float("BREAKER_RECOVERY_SECONDS", 30.0)
        self._breakers: dict[str, CircuitBreaker] = {}
        self.metrics = metrics

    def breaker(self, dependency: str) -> CircuitBreaker:
        if dependency not in self._breakers:
            self._breakers[dependency] = CircuitBreaker(
                failure_threshold=self.failures,
                recovery_timeout=self.recovery,  # type: ignore[arg-type]
                expected_exception=DependencyDown,
                name=f"backend:{dependency}",
            )
            self.metrics.circuit_open.labels(dependency).set(0)
        return self._breakers[dependency]

    async def call(
        self, dependency: str, send: Callable[[], Awaitable[httpx.Response]]
    ) -> httpx.Response:
        """``send()`` through the dependency's breaker. Connection errors, timeouts and 5xx
        answers are failures (503 naming the dependency); other answers are returned."""
        breaker = self.breaker(dependency)
        if breaker.opened:
            self.metrics.short_circuited.labels(dependency).inc()
            raise dependency_unavailable(
                dependency, "circuit open", max(1, math.ceil(breaker.open_remaining))
            )

        async def guarded() -> httpx.Response:
            try:
                response = await send()
            except httpx.HTTPError as exc:
                raise DependencyDown(type(exc).__name__) from exc
            if response.status_code >= 500:
                raise DependencyDown(f"HTTP {response.status_code}")
            return response

        try:
            return await breaker.call_async(guarded)
        except DependencyDown as exc:
            raise dependency_unavailable(dependency, f"{dependency} unavailable: {exc}") from exc
        finally:
            self.metrics.circuit_open.labels(dependency).set(1 if breaker.opened else 0)


# ── body size ────────────────────────────────────────────────────────────────────────────


class BodyLimit:
    """ASGI middleware: a request body above its cap gets 413 before it is read whole
    (Content-Length checked up front, chunked bodies counted as they arrive)."""

    def __init__(self, app: ASGIApp, caps: Callable[[str], int]) -> None:
        self.app = app
        self.caps = caps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        cap = self.caps(scope["path"])
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None:
            try:
                too_big = int(declared) > cap
            except ValueError:
                too_big = True  # unreadable length: refuse rather than guess
            if too_big:
                await _too_large(send, cap)
                return
        seen = 0
        exceeded = False

        async def counted_receive() -> Message:
            nonlocal seen, exceeded
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > cap:
                    exceeded = True
                    # Stops the body parser; what the app makes of it is replaced below.
                    raise HTTPException(413, f"request body larger than {cap} bytes")
            return message

        async def capped_send(message: Message) -> None:
            if not exceeded:
                await send(message)
            elif message["type"] == "http.response.start":
                # Whatever the parser turned the abort into (400, 413), the answer is 413.
                await _too_large(send, cap)

        await self.app(scope, counted_receive, capped_send)


async def _too_large(send: Send, cap: int) -> None:
    body = f'{{"detail":"request body larger than {cap} bytes"}}'.encode()
    await send(
        {
            "type": "http.response.start",
            "status": 413,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
