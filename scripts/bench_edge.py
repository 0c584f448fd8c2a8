"""What the public edge costs a chat request: the backend served by uvicorn on loopback (in a
process of its own, apart from the load generator),
its Ollama replaced by an in-process stub (an httpx transport answering at once), real Redis
(chat cache and rate limits) and a real JWKS (keys generated here).

    .venv/bin/python scripts/bench_edge.py [--rate 50] [--seconds 20]

Two runs of the same cached chat at a fixed arrival rate (open loop, so a slow answer does
not slow the senders down):

* ``edge``: every request carries a bearer token, verified against the JWKS, and is counted
  against the caller's chat limit in Redis (high enough never to refuse);
* ``neither``: the same app with authentication and limits taken out (its two caller
  dependencies overridden), the cache still in Redis.

Prints p50/p90/p99/max latency per run and the edge's overhead (p50 and p99 differences).
Needs redis-server (Debian package).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SERVICE_CODE = REPO / "service-code"
for path in ("backend", "base/python-base", "testing"):
    sys.path.insert(0, str(SERVICE_CODE / path))

import httpx  # noqa: E402
import uvicorn  # noqa: E402
from sutazai_testing import (  # noqa: E402
    TokenIssuer,
    free_port,
    running_redis,
    serving_token_issuer,
    wait_port,
)

AUDIENCE = "sutazai-bench"
STUB_OLLAMA = "http://stub-ollama.invalid"


def stub_llm(request: httpx.Request) -> httpx.Response:
    """Ollama's /api/generate, answered in-process."""
    body = json.loads(request.content or b"{}")
    return httpx.Response(200, json={"response": f"echo: {body.get('prompt', '')}", "done": True})


def serve(port: int, edge: bool) -> None:
    """(In its own process.) The backend on `port`; `edge` False takes authentication and
    limits out. Prints `ready` once it answers, then serves until killed."""
    # The service's `app` package (service-code/backend), found on the path set above.
    main: Any = importlib.import_module("app.main")
    dev_identity = importlib.import_module("app.auth").DEV_IDENTITY

    if not edge:
        for dependency in (main.caller, main.chat_caller):
            main.app.dependency_overrides[dependency] = lambda: dev_identity
    server = uvicorn.Server(
        uvicorn.Config(main.app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_port(port)
    state = main.app.state.backend
    # The stub LLM: Ollama calls never leave the process.
    state.http = httpx.AsyncClient(transport=httpx.MockTransport(stub_llm))
    print("ready", flush=True)
    thread.join()


@contextmanager
def serving(edge: bool) -> Iterator[str]:
    """The backend in a process of its own (the load generator does not share its GIL)."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(port), *([] if edge else ["--neither"])],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        if proc.stdout.readline().strip() != "ready":
            raise SystemExit("the backend did not start")
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


async def run(url: str, rate: float, seconds: float, headers: dict[str, str]) -> list[float]:
    """Open-loop load: one request every 1/rate s, whatever the answers take."""
    latencies: list[float] = []
    failures: list[int] = []
    body = {"message": "what does the edge cost?", "model": "tinyllama"}
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=url, headers=headers, limits=limits) as client:
        # Warm: the JWKS fetch, the first cache fill, connection set-up.
        for _ in range(20):
            (await client.post("/api/v1/chat", json=body)).raise_for_status()

        async def one() -> None:
            started = time.perf_counter()
            response = await client.post("/api/v1/chat", json=body)
            latencies.append(time.perf_counter() - started)
            if response.status_code != 200 or not response.json()["cached"]:
                failures.append(response.status_code)

        tasks = []
        start = time.perf_counter()
        for i in range(int(rate * seconds)):
            delay = start + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    if failures:
        raise SystemExit(f"{len(failures)} requests were not cached 200s: {failures[:5]}")
    return latencies


def summary(latencies: list[float]) -> dict[str, float]:
    ms = sorted(x * 1000 for x in latencies)
    q = statistics.quantiles(ms, n=100)
    return {"p50": q[49], "p90": q[89], "p99": q[98], "max": ms[-1], "n": len(ms)}


def configure(redis: Any, issuer: TokenIssuer) -> None:
    os.environ.update(redis.env())
    os.environ["OLLAMA_BASE_URL"] = STUB_OLLAMA
    os.environ["AUTH_ISSUERS"] = json.dumps(
        [
            {
                "kind": "oidc",
                "issuer": issuer.url,
                "jwks_url": issuer.jwks_url,
                "audiences": [AUDIENCE],
            }
        ]
    )
    # Limits that count every request but never refuse one in this run.
    os.environ["RATE_LIMIT_CHAT"] = "1000000/minute"
    os.environ["RATE_LIMIT_API"] = "1000000/minute"
    os.environ["LOG_LEVEL"] = "WARNING"


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each run")
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)  # the server process
    parser.add_argument("--neither", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve, edge=not args.neither)
        return 0
    with running_redis() as redis, serving_token_issuer() as issuer:
        configure(redis, issuer)
        token = issuer.token("bench-user", aud=AUDIENCE, lifetime=3600)
        results: dict[str, dict[str, float]] = {}
        for name, edge, headers in (
            ("neither", False, {}),
            ("edge", True, {"Authorization": f"Bearer {token}"}),
        ):
            with serving(edge) as url:
                results[name] = summary(asyncio.run(run(url, args.rate, args.seconds, headers)))
    print(f"cached chat at {args.rate:g} req/s for {args.seconds:g} s, stub LLM in-process")
    for name, r in results.items():
        label = "auth + limits" if name == "edge" else "neither"
        print(
            f"  {label:14s} n={r['n']:.0f}  p50 {r['p50']:6.2f} ms  p90 {r['p90']:6.2f} ms  "
            f"p99 {r['p99']:6.2f} ms  max {r['max']:6.2f} ms"
        )
    edge, base = results["edge"], results["neither"]
    print(
        f"  overhead of authentication + limiting: p50 {edge['p50'] - base['p50']:+.2f} ms, "
        f"p99 {edge['p99'] - base['p99']:+.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
