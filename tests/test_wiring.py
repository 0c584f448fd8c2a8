"""Connection env comes from the graph: clients of pooled PostgreSQL reach PgBouncer, and so on."""

from __future__ import annotations

import json
import re

import pulumi
import pytest
from pulumi.runtime.sync_await import _sync_await

from stacks.catalog import Catalog
from stacks.wiring import fill_references, managed_services, reachable_as, service_env


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
    managed = managed_services(catalog, use_managed=True)
    assert managed == {"postgres", "redis"}
    assert managed_services(catalog, use_managed=False) == frozenset()
    env = resolve(service_env(catalog["backend"], catalog, address, managed))
    assert env["REDIS_URL"] == "rediss://redis.svc:6379/0"
    in_cluster = resolve(service_env(catalog["backend"], catalog, address))
    assert in_cluster["REDIS_URL"] == "redis://redis.svc:6379/0"


def test_products_tls_switches_follow_the_same_facts(catalog: Catalog) -> None:
    """Dify's REDIS_USE_SSL/BROKER_USE_SSL and every credential URL template use the one
    reference path: the scheme and TLS of what the client reaches."""
    managed = managed_services(catalog, use_managed=True)
    dify = catalog["dify"]
    prod = resolve(service_env(dify, catalog, address, managed))
    dev = resolve(service_env(dify, catalog, address))
    assert prod["REDIS_USE_SSL"] == prod["BROKER_USE_SSL"] == "true"
    assert dev["REDIS_USE_SSL"] == dev["BROKER_USE_SSL"] == "false"
    for client, key in (("dify", "CELERY_BROKER_URL"), ("langflow", "LANGFLOW_REDIS_URL")):
        template = catalog[client].secret_env[key]
        assert template.startswith("${redis.scheme}://"), (client, key)
        filled = resolve(
            {
                "tls": fill_references(template, catalog, address, client, managed),
                "plain": fill_references(template, catalog, address, client),
            }
        )
        assert re.fullmatch(
            r"rediss://\$\{redis\.user\}:\$\{redis\.password\}@redis\.svc:6379/[01]", filled["tls"]
        )
        assert filled["plain"].startswith("redis://")


def test_postgres_sslmode_is_that_of_what_the_client_reaches(catalog: Catalog) -> None:
    managed = managed_services(catalog, use_managed=True)
    # In-house clients reach PgBouncer (in-cluster): no TLS on that hop, in every stack.
    for stack in (managed, frozenset()):
        env = resolve(service_env(catalog["backend"], catalog, address, stack))
        assert env["POSTGRES_SSLMODE"] == "prefer"
    # The pooler (and anything reaching RDS directly) requires TLS from RDS.
    assert (
        resolve(service_env(catalog["pgbouncer"], catalog, address, managed))["POSTGRES_SSLMODE"]
        == "require"
    )
    # Without the pooler, clients reach RDS themselves, and require TLS too.
    smaller = catalog.without({"pgbouncer"})
    env = resolve(service_env(smaller["backend"], smaller, address, managed))
    assert env["POSTGRES_HOST"] == "postgres.svc" and env["POSTGRES_SSLMODE"] == "require"


def test_a_fact_nobody_declares_is_an_error(catalog: Catalog) -> None:
    with pytest.raises(ValueError, match="declares no connection fact 'colour'"):
        resolve({"x": fill_references("${redis.colour}", catalog, address, "backend")})


def test_the_database_name_follows_the_catalog_through_the_pooler(catalog: Catalog) -> None:
    managed = managed_services(catalog, use_managed=True)
    for stack in (managed, frozenset()):
        backend = resolve(service_env(catalog["backend"], catalog, address, stack))
        assert backend["POSTGRES_DB"] == catalog["postgres"].database == "sutazai"
        assert resolve(service_env(catalog["dify"], catalog, address, stack))["DB_DATABASE"] == (
            "sutazai"
        )
    url = fill_references(
        catalog["langflow"].secret_env["LANGFLOW_DATABASE_URL"], catalog, address, "langflow"
    )
    assert resolve({"url": url})["url"].endswith("@pgbouncer.svc:6432/sutazai")


def test_letta_gets_no_redis_env(catalog: Catalog) -> None:
    """Letta's Redis client has no AUTH/TLS: it runs without Redis rather than failing."""
    env = resolve(service_env(catalog["letta"], catalog, address))
    assert not [k for k in env if "REDIS" in k]
    assert env["LETTA_PG_HOST"] == "pgbouncer.svc" and env["LETTA_PG_DB"] == "sutazai"
