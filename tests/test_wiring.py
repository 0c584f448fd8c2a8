"""Connection env comes from the graph: clients of pooled PostgreSQL reach PgBouncer, and so on."""

from __future__ import annotations

import json

import pulumi
from pulumi.runtime.sync_await import _sync_await

from stacks.catalog import Catalog
from stacks.wiring import reachable_as, service_env


def resolve(env: dict[str, pulumi.Output[str]]) -> dict[str, str]:
    return {k: _sync_await(v.future()) for k, v in env.items()}  # type: ignore[misc]


def address(name: str) -> str:
    return f"{name}.svc"


def test_backend_gets_pooled_postgres_and_direct_peers(catalog: Catalog) -> None:
    env = resolve(service_env(catalog["backend"], catalog, address))
    assert env["POSTGRES_HOST"] == "pgbouncer.svc"
    assert env["POSTGRES_PORT"] == "6432"
    assert env["REDIS_URL"] == "redis://redis.svc:6379/0"
    assert env["NEO4J_URI"] == "bolt://neo4j.svc:7687"
    assert env["OLLAMA_BASE_URL"] == "http://ollama.svc:11434"
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel-collector.svc:4318"


def test_the_pooler_itself_reaches_the_database(catalog: Catalog) -> None:
    assert reachable_as(catalog, "postgres", client="pgbouncer") == "postgres"
    env = resolve(service_env(catalog["pgbouncer"], catalog, address))
    assert env["POSTGRES_HOST"] == "postgres.svc" and env["POSTGRES_PORT"] == "5432"


def test_without_the_pooler_clients_reach_postgres(catalog: Catalog) -> None:
    smaller = catalog.without({"pgbouncer"})
    env = resolve(service_env(smaller["backend"], smaller, address))
    assert env["POSTGRES_HOST"] == "postgres.svc" and env["POSTGRES_PORT"] == "5432"


def test_env_of_disabled_peers_is_dropped(catalog: Catalog) -> None:
    smaller = catalog.without({"neo4j", "qdrant"})
    env = resolve(service_env(smaller["backend"], smaller, address))
    assert "NEO4J_URI" not in env and "QDRANT_URL" not in env
    assert "POSTGRES_HOST" in env


def test_peer_maps_list_exactly_the_enabled_peers(catalog: Catalog) -> None:
    hub = json.loads(
        resolve(service_env(catalog["service-hub"], catalog, address))["SERVICE_HUB_TARGETS"]
    )
    assert set(hub) == set(catalog["service-hub"].talks_to)
    assert hub["letta"] == "http://letta.svc:8283"
    health = json.loads(
        resolve(service_env(catalog["health-monitor"], catalog, address))["HEALTH_TARGETS"]
    )
    assert health["backend"] == "http://backend.svc:8080/health"
    # Letta's liveness probe is TCP: nothing to poll over HTTP.
    assert "letta" not in health
    smaller = catalog.without({"dify"})
    hub = json.loads(
        resolve(service_env(smaller["service-hub"], smaller, address))["SERVICE_HUB_TARGETS"]
    )
    assert "dify" not in hub


def test_env_referring_to_a_disabled_service_is_dropped(catalog: Catalog) -> None:
    spec = catalog["backend"].model_copy(update={"env": {"X": "http://${qdrant.host}", "Y": "y"}})
    smaller = catalog.with_service(spec).without({"qdrant"})
    env = resolve(service_env(smaller["backend"], smaller, address))
    assert "X" not in env and env["Y"] == "y"


def test_managed_redis_is_reached_over_tls(catalog: Catalog) -> None:
    env = resolve(service_env(catalog["backend"], catalog, address, frozenset({"redis"})))
    assert env["REDIS_URL"] == "rediss://redis.svc:6379/0"
    in_cluster = resolve(service_env(catalog["backend"], catalog, address))
    assert in_cluster["REDIS_URL"] == "redis://redis.svc:6379/0"
