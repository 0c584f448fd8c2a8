"""Test-only data of the image tests: how to start each image hermetically.

Everything about what is built and how it runs (build graph, uid/gid, ports, probes,
writable paths, storage, env literals) comes from stacks/catalog.yaml; this is only
what a test needs on top of it, and test_images checks that every name here is a
service the catalog builds.
"""

from __future__ import annotations

DEAD = "127.0.0.1"  # inside the container nothing listens on its own loopback:1

# Env without which a service does not start; its dependencies deliberately unreachable.
START_ENV: dict[str, dict[str, str]] = {
    "agentgpt": {
        "POSTGRES_HOST": DEAD,
        "POSTGRES_PORT": "1",
        "REDIS_URL": f"redis://{DEAD}:1/0",
        "READY_TIMEOUT_SECONDS": "2",
    },
    "backend": {"POSTGRES_HOST": DEAD, "POSTGRES_PORT": "1", "READY_TIMEOUT_SECONDS": "2"},
    "faiss": {"DIMENSION": "4"},  # small vectors for the tests (the catalog says 768)
}
# What /ready then reports down (503); every other service is ready (200).
EXPECTED_DOWN: dict[str, list[str]] = {"agentgpt": ["postgres", "redis"], "backend": ["postgres"]}

# Services run end to end against real PostgreSQL and Redis (Debian servers on loopback)
# with a fake Ollama, their credentials delivered as files the way Vault Agent does.
REAL_DATA_SERVICES = ["backend", "agentgpt"]

# Modules each base image must provide (importable by its non-root user).
BASE_MODULES: dict[str, str] = {
    "python-base": "fastapi,uvicorn,pydantic,httpx,prometheus_client,sutazai_common",
    "web-base": "jinja2,multipart,sutazai_common",
    "data-base": "psycopg,psycopg_pool,redis,neo4j,sutazai_common",
    "ai-base": "numpy,faiss,psycopg,agent_runtime",
    "monitoring-base": "prometheus_client,httpx,sutazai_common",
    "backup-jobs": "psycopg,boto3,sutazai_backup",
}

# PgBouncer's config as the platform mounts it (read-only, over the image's examples);
# the rendered userlist is a secret file, here a fake one.
PGBOUNCER_CONFIG = "/etc/pgbouncer/pgbouncer.ini"
PGBOUNCER_USERLIST = "/etc/pgbouncer/userlist.txt"
