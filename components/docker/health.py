"""Docker healthchecks from the catalog's probes, run with a tool that exists in each image.

A Docker healthcheck runs inside the container, so an `http` or `tcp` probe needs a program
in the image that can speak it. Which program that is, is a fact about the image, kept here
as data (PROBE_TOOLS) next to the reason; the commands are generated from it. An upstream
image missing from the table is an error at plan time, so a new service forces a decision.

Docker has one healthcheck per container. It follows the catalog's *readiness* probe (what
"healthy" means to `docker ps`, `wait` and dependants); the startup allowance becomes the
start period. Docker never restarts an unhealthy container, so liveness has no equivalent.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from stacks.catalog import Probe, ServiceSpec


class Tool(StrEnum):
    PYTHON = "python3"  # python3 -c with urllib / socket
    WGET = "wget"  # GNU or busybox wget (-q -O /dev/null works on both)
    CURL = "curl"
    BASH = "bash"  # bash's /dev/tcp, plus head/grep from coreutils
    NONE = "none"  # no shell, no client: Docker cannot probe it


@dataclass(frozen=True)
class ProbeTool:
    tool: Tool
    why: str


# In-house images all derive from the python root base image.
IN_HOUSE = ProbeTool(Tool.PYTHON, "service-code images derive from python:3.11-slim")

# Upstream images by repository: what each ships that can run a probe.
PROBE_TOOLS: dict[str, ProbeTool] = {
    "postgres": ProbeTool(Tool.BASH, "alpine + bash; catalog probes are pg_isready (exec)"),
    "redis": ProbeTool(Tool.WGET, "alpine busybox; catalog readiness is redis-cli (exec)"),
    "neo4j": ProbeTool(Tool.BASH, "debian slim, bash entrypoint; no curl"),
    "ollama/ollama": ProbeTool(Tool.BASH, "ubuntu with only ca-certificates; no curl/wget"),
    "qdrant/qdrant": ProbeTool(Tool.BASH, "debian slim with ca-certificates/tzdata only"),
    "chromadb/chroma": ProbeTool(Tool.CURL, "debian stable-slim; runner stage installs curl"),
    "letta/letta": ProbeTool(Tool.CURL, "pgvector (debian) runtime installs curl and python3"),
    "langgenius/dify-api": ProbeTool(Tool.PYTHON, "python:3.12-slim based"),
    "langgenius/dify-web": ProbeTool(Tool.WGET, "node:alpine; busybox wget"),
    "langflowai/langflow": ProbeTool(Tool.PYTHON, "python-slim based"),
    "quay.io/prometheus/prometheus": ProbeTool(Tool.WGET, "prometheus busybox base"),
    "quay.io/prometheus/alertmanager": ProbeTool(Tool.WGET, "prometheus busybox base"),
    "grafana/grafana": ProbeTool(Tool.WGET, "alpine; busybox wget"),
    "grafana/loki": ProbeTool(Tool.WGET, "distroless static:debug; busybox on PATH"),
    "grafana/alloy": ProbeTool(Tool.CURL, "ubuntu noble; installs curl"),
    "jaegertracing/jaeger": ProbeTool(Tool.WGET, "alpine base image; busybox wget"),
    "otel/opentelemetry-collector-contrib": ProbeTool(
        Tool.NONE,
        "FROM scratch: only the collector binary. Its health_check extension (:13133) is "
        "watched by Prometheus and the health monitor instead",
    ),
}

INTERVAL = "15s"
TIMEOUT = "5s"
RETRIES = 5


def probe_tool(spec: ServiceSpec) -> ProbeTool:
    if spec.in_house:
        return IN_HOUSE
    assert spec.image is not None
    try:
        return PROBE_TOOLS[spec.image.repository]
    except KeyError:
        raise ValueError(
            f"{spec.name}: no probe tool recorded for image {spec.image.repository}; add it to "
            "components/docker/health.py PROBE_TOOLS (which of python3/wget/curl/bash it ships)"
        ) from None


_PY_HTTP = (
    "import sys,urllib.request;"
    "sys.exit(0 if urllib.request.urlopen('{url}',timeout=4).status<400 else 1)"
)
_PY_TCP = "import socket;socket.create_connection(('127.0.0.1',{port}),timeout=4).close()"
_BASH_HTTP = (
    "exec 3<>/dev/tcp/127.0.0.1/{port} && "
    "printf 'GET {path} HTTP/1.0\\r\\nHost: localhost\\r\\n\\r\\n' >&3 && "
    "head -n1 <&3 | grep -q ' [23][0-9][0-9] '"
)


def probe_command(spec: ServiceSpec, probe: Probe) -> list[str] | None:
    """The healthcheck `test` for one probe, or None when the image has nothing to run it."""
    if probe.exec is not None:
        return ["CMD", *probe.exec]
    assert probe.port is not None
    port = spec.port(probe.port).port
    tool = probe_tool(spec).tool
    if tool is Tool.NONE:
        return None
    if probe.http is not None:
        url = f"http://127.0.0.1:{port}{probe.http}"
        match tool:
            case Tool.PYTHON:
                return ["CMD", "python3", "-c", _PY_HTTP.format(url=url)]
            case Tool.WGET:
                return ["CMD", "wget", "-q", "-T", "4", "-O", "/dev/null", url]
            case Tool.CURL:
                return ["CMD", "curl", "-fsS", "-m", "4", "-o", "/dev/null", url]
            case Tool.BASH:
                return ["CMD", "bash", "-c", _BASH_HTTP.format(port=port, path=probe.http)]
    if tool is Tool.PYTHON:
        return ["CMD", "python3", "-c", _PY_TCP.format(port=port)]
    if tool is Tool.BASH:
        return ["CMD", "bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{port}"]
    # wget and curl speak HTTP, not bare TCP: give the service an http readiness probe.
    raise ValueError(
        f"{spec.name}: a tcp probe cannot run in {probe_tool(spec).tool} images; "
        "use an http or exec readiness probe"
    )


@dataclass(frozen=True)
class Healthcheck:
    tests: list[str]
    interval: str
    timeout: str
    retries: int
    start_period: str


def healthcheck_for(spec: ServiceSpec) -> Healthcheck | None:
    """The container's healthcheck (the readiness probe); None only for tool-less images."""
    tests = probe_command(spec, spec.health.readiness)
    if tests is None:
        return None
    return Healthcheck(
        tests=tests,
        interval=INTERVAL,
        timeout=TIMEOUT,
        retries=RETRIES,
        start_period=f"{max(spec.health.startup_seconds, 10)}s",
    )
