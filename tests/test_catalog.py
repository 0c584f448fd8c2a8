"""The catalog holds every system of the analysis, its dependency graph, and only sane data."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from stacks.catalog import CATALOG_FILE, Catalog, Tier, load_catalog
from stacks.errors import ConfigError

PROJECT_DIR = Path(__file__).resolve().parent.parent
ANALYSIS_GRAPH = PROJECT_DIR / "docs" / "architecture-analysis-graph.mmd"
# The architecture analysis the project was seeded with, kept in the repository.
SEED = PROJECT_DIR / "docs" / "architecture-analysis.md"

# Mermaid node ids of the analysis -> catalog names.
NODE_NAMES = {"mcp": "mcp-server", "servicehub": "service-hub", "healthmon": "health-monitor"}

SYSTEMS_OF_THE_ANALYSIS = {
    Tier.DATA: {"postgres", "redis", "neo4j"},
    Tier.CORE: {"backend", "frontend", "ollama"},
    Tier.VECTOR: {"qdrant", "chromadb", "faiss"},
    Tier.AGENT: {"autogpt", "crewai", "letta", "agentgpt", "dify", "langflow"},
    Tier.PLATFORM: {"mcp-server", "service-hub", "health-monitor"},
    Tier.MONITORING: {"prometheus", "grafana", "loki"},
}
# What the analysis recommends adding: pooling, tracing, alerting, a log shipper.
RECOMMENDED_ADDITIONS = {"pgbouncer", "otel-collector", "jaeger", "alertmanager", "alloy"}


def analysis_edges() -> set[tuple[str, str]]:
    edges = set()
    for source, target in re.findall(
        r"^\s*(\w+)\s*-->\s*(\w+)\s*$", ANALYSIS_GRAPH.read_text(), re.M
    ):
        edges.add((NODE_NAMES.get(source, source), NODE_NAMES.get(target, target)))
    return edges


def test_the_committed_graph_is_the_seed_graph() -> None:
    seed_block = re.search(r"```mermaid\n(.*?)```", SEED.read_text(), re.S)
    assert seed_block is not None
    assert seed_block.group(1) in ANALYSIS_GRAPH.read_text()


def test_graph_parser_sees_the_whole_analysis_graph() -> None:
    # 32 arrows in the analysis' mermaid diagram; a parser that drops some would pass anything.
    assert len(analysis_edges()) == 32


@pytest.mark.parametrize("tier", list(SYSTEMS_OF_THE_ANALYSIS))
def test_every_system_of_the_analysis_is_in_its_tier(catalog: Catalog, tier: Tier) -> None:
    in_tier = {s.name for s in catalog.tier(tier)}
    assert SYSTEMS_OF_THE_ANALYSIS[tier] <= in_tier


def test_recommended_additions_are_present(catalog: Catalog) -> None:
    assert set(catalog.services) >= RECOMMENDED_ADDITIONS


def test_every_edge_of_the_analysis_is_a_talks_to_edge(catalog: Catalog) -> None:
    missing = analysis_edges() - set(catalog.logical_edges)
    assert not missing, f"edges of the analysis missing from talks_to: {sorted(missing)}"


def test_clients_of_pooled_postgres_reach_pgbouncer(catalog: Catalog) -> None:
    flows = {(e.source, e.target) for e in catalog.network_edges}
    assert ("backend", "pgbouncer") in flows
    assert ("backend", "postgres") not in flows
    assert ("pgbouncer", "postgres") in flows
    assert catalog.clients_of("postgres") == ["pgbouncer"]


def test_images_are_pinned_and_in_house_ones_have_service_code(catalog: Catalog) -> None:
    for spec in catalog:
        if spec.image is not None:
            assert spec.image.tag not in ("", "latest"), spec.name
        else:
            assert spec.build is not None
            assert (PROJECT_DIR / "service-code" / spec.build.path / "Dockerfile").is_file()


def test_products_without_a_runnable_image_say_how_they_are_served(catalog: Catalog) -> None:
    for name in ("autogpt", "agentgpt", "crewai"):
        assert catalog[name].in_house and catalog[name].served_as, name


def test_only_ollama_needs_a_gpu(catalog: Catalog) -> None:
    assert [s.name for s in catalog if s.gpu] == ["ollama"]


def test_every_service_runs_as_a_numeric_non_root_user(catalog: Catalog) -> None:
    for spec in catalog:
        assert spec.uid > 0 and spec.gid > 0, spec.name


def test_base_hierarchy_follows_the_analysis(catalog: Catalog) -> None:
    chain = [b.name for b in catalog.base_chain("ai-base")]
    assert chain == ["python-base", "data-base", "ai-base"]
    assert catalog.base_chain("root") == []


# ── bad catalog data fails with a message that names the key ────────────────────────────


def _broken(tmp_path: Path, mutate) -> str:
    data = yaml.safe_load(CATALOG_FILE.read_text())
    mutate(data)
    path = tmp_path / "catalog.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as raised:
        load_catalog(path)
    return str(raised.value)


def test_dangling_edge_is_named(tmp_path: Path) -> None:
    message = _broken(tmp_path, lambda d: d["services"]["backend"]["talks_to"].append("mongo"))
    assert "services.backend.talks_to: 'mongo' is not a catalog service" in message


def test_latest_tag_is_refused(tmp_path: Path) -> None:
    def mutate(d):
        d["services"]["redis"]["image"]["tag"] = "latest"

    assert "services.redis.image.tag" in _broken(tmp_path, mutate)


def test_unknown_field_is_refused_with_a_suggestion(tmp_path: Path) -> None:
    def mutate(d):
        d["services"]["redis"]["talk_to"] = ["postgres"]

    message = _broken(tmp_path, mutate)
    assert "services.redis.talk_to: unknown key. Did you mean 'talks_to'?" in message


def test_secret_literal_in_env_is_refused(tmp_path: Path) -> None:
    def mutate(d):
        d["services"]["backend"]["env"] = {"POSTGRES_PASSWORD": "hunter2"}

    message = _broken(tmp_path, mutate)
    assert "services.backend.env.POSTGRES_PASSWORD: secrets never go in env literals" in message


def test_probe_on_an_unknown_port_is_refused(tmp_path: Path) -> None:
    def mutate(d):
        d["services"]["qdrant"]["health"]["readiness"]["port"] = "metrics"

    assert "services.qdrant.health.readiness.port" in _broken(tmp_path, mutate)


def test_env_reference_to_an_unknown_service_is_refused(tmp_path: Path) -> None:
    def mutate(d):
        d["services"]["backend"]["env"] = {"MONGO_URL": "mongodb://${mongo.host}"}

    message = _broken(tmp_path, mutate)
    assert "services.backend.env.MONGO_URL: '${mongo.host}' names no catalog service" in message


# ── secrets the product reads from env, secret files, provisioning ───────────────────────


def _with(catalog: Catalog, name: str, **changes: object) -> dict[str, object]:
    data = catalog.model_dump(mode="json")
    data["services"][name].update(changes)
    return data


def _refused(data: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        Catalog.model_validate(data)


def test_secret_templates_name_only_peers_the_service_talks_to(catalog: Catalog) -> None:
    _refused(
        _with(catalog, "dify", secret_env={"X_URL": "http://${neo4j.host}"}), "not in talks_to"
    )
    _refused(_with(catalog, "dify", secret_env={"X_PW": "${ollama.password}"}), "issues no client")
    _refused(_with(catalog, "dify", secret_env={"x-pw": "${postgres.password}"}), "variable name")
    _refused(_with(catalog, "dify", secret_env={"MODE": "${postgres.password}"}), "also set in env")
    _refused(
        _with(catalog, "pgbouncer", secret_files={"User List": "${postgres.password}"}),
        "lowercase",
    )


def test_sourcing_an_env_file_needs_the_images_entrypoint(catalog: Catalog) -> None:
    _refused(_with(catalog, "dify", command=None), "entrypoint")
    secrets = [{"name": "k", "env": "K", "env_from_file": True}]
    _refused(_with(catalog, "chromadb", secrets=secrets), "entrypoint")


def test_a_secret_has_one_delivery(catalog: Catalog) -> None:
    both = [{"name": "k", "env": "K", "env_from_file": True, "file_env": "K__FILE"}]
    _refused(_with(catalog, "langflow", secrets=both), "either env_from_file")
    _refused(
        _with(catalog, "dify", secret_env={"SECRET_KEY": "${postgres.password}"}),
        "also env_from_file",
    )


def test_only_issuers_have_a_provisioning_file(catalog: Catalog) -> None:
    _refused(_with(catalog, "backend", provisioning={"apply": ["true"]}), "issues_client")
    _refused(_with(catalog, "backend", args=["--acl", "${provisioning}"]), "issues_client")


def test_secret_delivery_of_the_catalog(catalog: Catalog) -> None:
    grafana = {s.name: s for s in catalog["grafana"].secrets}["admin_password"]
    assert grafana.path_env == "GF_SECURITY_ADMIN_PASSWORD__FILE"  # Grafana's convention
    dify = {s.name: s for s in catalog["dify"].secrets}["secret_key"]
    assert dify.env_from_file and dify.path_env is None
    assert catalog["postgres"].secrets[0].path_env == "POSTGRES_PASSWORD_FILE"
    # Every product that reads a credential from env only says so, and how it starts.
    for name in ("dify", "letta", "langflow", "qdrant"):
        assert catalog[name].env_file_needed and catalog[name].command, name
    # Qdrant has no *_FILE variant: its API key is exported from its env file; its clients
    # and its scraper present the same key.
    qdrant = {s.name: s for s in catalog["qdrant"].secrets}["api_key"]
    assert qdrant.env == "QDRANT__SERVICE__API_KEY" and qdrant.path_env is None
    assert qdrant.clients_env == "QDRANT_API_KEY"
    assert catalog["qdrant"].scrape is not None and catalog["qdrant"].scrape.token == "api_key"


# ── connection facts: ${redis.scheme}, ${sslmode} ───────────────────────────────────────


def test_connection_facts_are_declared_where_they_are_referenced(catalog: Catalog) -> None:
    _refused(
        _with(catalog, "dify", env={**catalog["dify"].env, "X": "${redis.colour}"}),
        "redis declares no connection fact 'colour'",
    )
    # A pooled server's clients reach the pooler: it must state the fact too.
    _refused(_with(catalog, "pgbouncer", connection={}), "pgbouncer declares no connection fact")
    _refused(
        _with(catalog, "backend", env={"X": "${neo4j.scheme.bolt}"}), "only a port takes a name"
    )
    _refused(_with(catalog, "backend", env={"X": "${neo4j.port.https}"}), "has no port 'https'")
    _refused(_with(catalog, "redis", connection={"host": "x"}), "a fact is a lowercase name")
    managed = {**catalog["redis"].model_dump(mode="json")["managed_in_prod"]}
    managed["connection"] = {**managed["connection"], "colour": "blue"}
    _refused(_with(catalog, "redis", managed_in_prod=managed), r"\['colour'\] are not facts")
    _refused(
        _with(catalog, "qdrant", scrape={"port": "http", "token": "nope"}),
        "scrape.token: 'nope' is not one of its secrets",
    )


def test_managed_facts_are_the_tls_ones(catalog: Catalog) -> None:
    redis, postgres = catalog["redis"], catalog["postgres"]
    assert redis.connection == {"scheme": "redis", "tls": "false"}
    assert redis.managed_in_prod is not None
    assert redis.managed_in_prod.connection == {"scheme": "rediss", "tls": "true"}
    assert postgres.managed_in_prod is not None
    assert postgres.managed_in_prod.connection == {"sslmode": "require"}


# ── the application database, unused peers, model preload ───────────────────────────────


def test_the_database_name_is_stated_once_and_reaches_every_client(catalog: Catalog) -> None:
    """`sutazai` appears once in catalog.yaml (a YAML anchor); everything else refers to it."""
    data = [line.split("#", 1)[0] for line in CATALOG_FILE.read_text().splitlines()]
    assert len(re.findall(r"(?<![\w/-])sutazai(?![\w/:-])", "\n".join(data))) == 1
    postgres, pooler = catalog["postgres"], catalog["pgbouncer"]
    assert postgres.database == pooler.database == postgres.env["POSTGRES_DB"] == "sutazai"
    assert postgres.client_env["POSTGRES_DB"] == "${database}"
    for name, key in (("letta", "LETTA_PG_DB"), ("dify", "DB_DATABASE")):
        assert catalog[name].env[key] == "${postgres.database}", name
    assert catalog["langflow"].secret_env["LANGFLOW_DATABASE_URL"].endswith("/${postgres.database}")
    # RDS (and Vault's database engine) need it: a managed PostgreSQL without one is refused.
    facts = {k: v for k, v in postgres.connection.items() if k != "database"}
    _refused(_with(catalog, "postgres", connection=facts), "at connection.database")


def test_letta_keeps_its_redis_edge_in_the_graph_but_not_on_the_wire(catalog: Catalog) -> None:
    letta = catalog["letta"]
    assert "redis" in letta.talks_to and ("letta", "redis") in catalog.logical_edges
    assert "redis" in letta.unused_peers and "redis" not in letta.connects_to
    assert "letta" not in catalog.clients_of("redis")
    assert "redis" not in catalog.peers_of("letta")
    assert not [k for k in letta.env if "REDIS" in k]


def test_unused_peers_are_talks_to_peers_and_named_nowhere(catalog: Catalog) -> None:
    reason = "its client cannot authenticate to this peer"
    _refused(_with(catalog, "letta", unused_peers={"neo4j": reason}), "not in talks_to")
    _refused(_with(catalog, "letta", unused_peers={"redis": "short"}), "at least 20 characters")
    env = {**catalog["letta"].env, "LETTA_REDIS_HOST": "${redis.host}"}
    _refused(_with(catalog, "letta", env=env), "which is in unused_peers")
    _refused(
        _with(catalog, "letta", secret_env={"X": "${redis.password}"}), "which is in unused_peers"
    )


def test_model_preload_is_catalog_data(catalog: Catalog) -> None:
    assert [s.name for s in catalog if s.preload_models] == ["ollama"]
    _refused(_with(catalog, "backend", preload_models=True), "at preload_models")
