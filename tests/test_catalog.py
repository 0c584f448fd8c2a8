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
SEED = PROJECT_DIR.parent / "shared" / "seed" / "architecture-analysis.md"

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
    if not SEED.exists():
        pytest.skip(f"{SEED} is not beside this checkout")
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
