"""Shared contract of every SutazAI in-house service.

Each service gets ``/health`` (liveness), ``/ready`` (dependency readiness,
503 + JSON naming what is down) and ``/metrics`` (Prometheus text) from
:func:`build_app`, and reads configuration/secrets with :mod:`.config`.
"""

from .config import (
    HttpDependency,
    Neo4jSettings,
    PostgresSettings,
    RedisSettings,
    env_bool,
    env_float,
    env_int,
    env_json_map,
    http_dependencies,
    read_secret,
)
from .service import Check, build_app, register_check

__all__ = [
    "Check",
    "HttpDependency",
    "Neo4jSettings",
    "PostgresSettings",
    "RedisSettings",
    "build_app",
    "env_bool",
    "env_float",
    "env_int",
    "env_json_map",
    "http_dependencies",
    "read_secret",
    "register_check",
]
