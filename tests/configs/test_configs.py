"""Generated config files (components/configs): the same generators for both platforms."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from components import configs
from components.configs import observability, poolers
from components.kubernetes.naming import Naming
from components.platform import secret_file
from components.vault.provisioning import PGBOUNCER_AUTH_QUERY
from stacks.catalog import Catalog, load_catalog


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def _text(value: object) -> str:
    assert isinstance(value, str), "a generated file is plain text here (no SNS topic)"
    return value


def kubernetes_addressing() -> configs.Addressing:
    naming = Naming("sutazai")
    return configs.Addressing(
        host=naming.host_of, every_replica=naming.pods_host_of, log_namespaces=["sutazai-core"]
    )


def docker_addressing() -> configs.Addressing:
    return configs.Addressing(
        host=lambda spec: f"sutazai-dev-{spec.name}",
        gelf_port=observability.GELF_PORT,
        stack_label="dev",
        address_of=lambda name: f"sutazai-dev-{name}",
    )


def test_prometheus_scrapes_exactly_the_catalogs_targets(catalog: Catalog) -> None:
    addressing = kubernetes_addressing()
    files = configs.generated_config_files(catalog["prometheus"], catalog, addressing)
    config = yaml.safe_load(files["/etc/prometheus/prometheus.yml"])  # type: ignore[arg-type]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == {s.name for s in catalog.scrape_targets}
    assert jobs["backend"]["dns_sd_configs"][0]["names"] == [
        "backend-pods.sutazai-core.svc.cluster.local"
    ]
    assert config["rule_files"] == ["/etc/prometheus/rules.yml"]
    rules = yaml.safe_load(files["/etc/prometheus/rules.yml"])["groups"][0]["rules"]  # type: ignore[arg-type]
    down = [r for r in rules if r["alert"] == "ServiceDown"]
    assert len(down) == len(catalog.scrape_targets)
    otel = yaml.safe_load(
        observability.generated_config_files(catalog["otel-collector"], catalog, addressing)[  # type: ignore[arg-type]
            "/etc/otelcol/config.yaml"
        ]
    )
    assert (
        otel["exporters"]["otlp/jaeger"]["endpoint"]
        == "jaeger.sutazai-monitoring.svc.cluster.local:4317"
    )
    alloy = observability.generated_config_files(catalog["alloy"], catalog, addressing)
    assert '"sutazai-core"' in _text(alloy["/etc/alloy/config.alloy"])
    assert "loki.source.kubernetes" in _text(alloy["/etc/alloy/config.alloy"])
    grafana = yaml.safe_load(
        observability.generated_config_files(catalog["grafana"], catalog, addressing)[  # type: ignore[arg-type]
            observability.GRAFANA_DATASOURCES
        ]
    )
    assert {d["type"] for d in grafana["datasources"]} == {"prometheus", "loki", "jaeger"}


def test_on_docker_prometheus_scrapes_containers_statically(catalog: Catalog) -> None:
    files = configs.generated_config_files(catalog["prometheus"], catalog, docker_addressing())
    config = yaml.safe_load(files["/etc/prometheus/prometheus.yml"])  # type: ignore[arg-type]
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert jobs["backend"]["static_configs"] == [{"targets": ["sutazai-dev-backend:8080"]}]
    assert config["global"]["external_labels"] == {"stack": "dev"}
    alerting = config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert alerting == ["sutazai-dev-alertmanager:9093"]


def test_on_docker_alloy_receives_gelf_and_never_reads_the_socket(catalog: Catalog) -> None:
    text = configs.generated_config_files(catalog["alloy"], catalog, docker_addressing())[
        "/etc/alloy/config.alloy"
    ]
    assert isinstance(text, str)
    assert 'loki.source.gelf "containers"' in text
    assert f'listen_address = "0.0.0.0:{observability.GELF_PORT}"' in text
    assert "docker.sock" not in text and "loki.source.docker" not in text
    assert "loki.source.kubernetes" not in text
    # The labels the Docker renderer asks the gelf driver to forward become Loki labels.
    for label in observability.GELF_LABELS:
        assert f'\\"_{label}\\"' in text
    assert 'url = "http://sutazai-dev-loki:3100/loki/api/v1/push"' in text


def test_alloy_without_a_log_source_says_so(catalog: Catalog) -> None:
    addressing = configs.Addressing(host=lambda spec: spec.name)
    text = observability.alloy_config(catalog, addressing)
    assert "no log source" in text and "loki.source" not in text


def test_config_files_are_the_catalogs_and_the_generated_ones(catalog: Catalog) -> None:
    addressing = docker_addressing()
    neo4j = configs.config_files(catalog["neo4j"], catalog, addressing)
    assert set(neo4j) == {"/config/neo4j.conf"}
    pgbouncer = configs.config_files(catalog["pgbouncer"], catalog, addressing)
    assert set(pgbouncer) == {poolers.PGBOUNCER_INI}
    assert configs.config_files(catalog["backend"], catalog, addressing) == {}
    clashing = catalog["prometheus"].model_copy(
        update={"config_files": {"/etc/prometheus/prometheus.yml": "x"}}
    )
    with pytest.raises(ValueError, match="generated from the catalog"):
        configs.config_files(clashing, catalog, addressing)


def test_pgbouncer_points_at_the_pooled_server(catalog: Catalog) -> None:
    addressing = configs.Addressing(
        host=lambda spec: spec.name,
        address_of=lambda name: f"{name}.example",
        managed=frozenset({"postgres"}),
    )
    files = poolers.pooler_config_files(catalog["pgbouncer"], catalog, addressing)
    assert list(files) == [poolers.PGBOUNCER_INI]
    assert poolers.pooled_servers(catalog["pgbouncer"], catalog) == [catalog["postgres"]]
    assert poolers.pooler_config_files(catalog["backend"], catalog, addressing) == {}


def _ini(text: str) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(delimiters=("=",), comment_prefixes=(";",))
    parser.read_string(text)
    return parser


def test_pgbouncer_authenticates_clients_through_the_server(catalog: Catalog) -> None:
    pgbouncer = catalog["pgbouncer"]
    parser = _ini(
        poolers.pgbouncer_ini(
            pgbouncer, catalog["postgres"], "db.example", server_sslmode="require"
        )
    )
    assert parser["databases"]["*"] == "host=db.example port=5432"
    section = parser["pgbouncer"]
    assert section["listen_port"] == "6432"
    assert section["server_tls_sslmode"] == "require"
    assert section["auth_type"] == "scram-sha-256"
    # Its own credential, rendered by Vault into its secrets dir; every other user looked up.
    assert section["auth_file"] == secret_file("pgbouncer", poolers.USERLIST)
    assert poolers.USERLIST in pgbouncer.secret_files
    assert section["auth_user"] == "pgbouncer"
    assert section["auth_query"] == PGBOUNCER_AUTH_QUERY
    in_cluster = _ini(poolers.pgbouncer_ini(pgbouncer, catalog["postgres"], "pg"))
    assert in_cluster["pgbouncer"]["server_tls_sslmode"] == "prefer"


def test_a_pooler_without_its_userlist_is_refused(catalog: Catalog) -> None:
    bare = catalog["pgbouncer"].model_copy(update={"secret_files": {}})
    with pytest.raises(ValueError, match=r"userlist\.txt"):
        poolers.pgbouncer_ini(bare, catalog["postgres"], "pg")


def _neo4j_conf(catalog: Catalog) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in catalog["neo4j"].config_files["/config/neo4j.conf"].splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            settings.setdefault(key, []).append(value)
    return settings


def test_neo4j_conf_maps_the_catalogs_paths_ports_and_memory(catalog: Catalog) -> None:
    neo4j = catalog["neo4j"]
    assert neo4j.env["NEO4J_CONF"] == "/config"
    assert "/config/neo4j.conf" in neo4j.config_files
    conf = _neo4j_conf(catalog)
    ports = {p.name: p.port for p in neo4j.ports}
    assert conf["server.bolt.listen_address"] == [f":{ports['bolt']}"]
    assert conf["server.http.listen_address"] == [f":{ports['http']}"]
    assert conf["server.default_listen_address"] == ["0.0.0.0"]
    assert neo4j.storage is not None
    assert conf["server.directories.data"] == [neo4j.storage.path]
    writable = set(neo4j.writable_paths) | {neo4j.storage.path}
    for key, (value,) in ((k, v) for k, v in conf.items() if k.startswith("server.directories.")):
        assert value in writable, f"{key}={value} is not a writable path of the catalog"
    # Every writable path the server writes to is configured (/tmp is the JVM's own).
    configured = {v for k, (v, *_) in conf.items() if k.startswith("server.directories.")}
    assert set(neo4j.writable_paths) - {"/tmp"} <= configured
    # The heap lives here, not in env (the entrypoint that translates env is not run).
    assert conf["server.memory.heap.max_size"] == ["1G"]
    assert not [k for k in neo4j.env if k.startswith("NEO4J_server")]
    # Heap + page cache leave room under the container's limit.
    assert _gib(conf["server.memory.heap.max_size"][0]) + _gib(
        conf["server.memory.pagecache.size"][0]
    ) < 0.75 * _gib(neo4j.resources.memory_limit)


def _gib(quantity: str) -> float:
    match = re.fullmatch(r"([0-9]+)(M|G|Mi|Gi)", quantity)
    assert match, quantity
    amount, unit = int(match.group(1)), match.group(2)
    return amount / 1024 if unit.startswith("M") else float(amount)


def test_neo4j_starts_without_the_entrypoint_that_writes_its_conf(catalog: Catalog) -> None:
    """docker-neo4j's entrypoint appends to $NEO4J_HOME/conf/neo4j.conf on every start
    (add_docker_default_to_conf, add_env_setting_to_conf): a read-only root refuses it.
    The catalog runs what it ends with instead: set-initial-password, then the JVM."""
    command = " ".join(catalog["neo4j"].command or [])
    assert "docker-entrypoint" not in command
    assert 'set-initial-password "$(cat "$NEO4J_PASSWORD_FILE")"' in command
    assert "neo4j console --dry-run" in command and 'eval "exec $cmd"' in command


PROMTOOL_TEST = """
rule_files: [rules.yml]
evaluation_interval: 1m
tests:
  - interval: 1m
    input_series:
      # backend: 3 requests/s refused with 401 for 15 minutes (token probing)
      - series: 'http_requests_total{job="backend", route="/api/v1/chat", status="401"}'
        values: '0+180x15'
      # backend: a little 429 traffic, under the threshold
      - series: 'http_requests_total{job="backend", route="/api/v1/chat", status="429"}'
        values: '0+6x15'
      # backend: 200s and a 20% share of 503s
      - series: 'http_requests_total{job="backend", route="/api/v1/chat", status="200"}'
        values: '0+480x15'
      - series: 'http_requests_total{job="backend", route="/api/v1/chat", status="503"}'
        values: '0+120x15'
      - series: 'sutazai_circuit_open{job="backend", dependency="ollama"}'
        values: '0 0 0 1 1 1 1 1 1 1 1 1 1 1 1 1'
      - series: 'sutazai_circuit_open{job="backend", dependency="qdrant"}'
        values: '0x15'
    alert_rule_test:
      - eval_time: 12m
        alertname: EdgeUnauthorizedSpike
        exp_alerts:
          - exp_labels: {severity: warning, service: backend, job: backend}
            exp_annotations:
              summary: backend refuses more than 1 request/s as unauthenticated (401)
      - eval_time: 12m
        alertname: EdgeRateLimitedSpike
        exp_alerts: []
      - eval_time: 12m
        alertname: EdgeServerErrorSpike
        exp_alerts:
          - exp_labels: {severity: critical, service: backend, job: backend}
            exp_annotations:
              summary: more than 5% of backend's answers are 5xx
      - eval_time: 6m
        alertname: CircuitOpen
        exp_alerts:
          - exp_labels: {severity: critical, service: backend, job: backend, dependency: ollama}
            exp_annotations:
              summary: 'backend has opened its circuit to ollama: calls fail fast with 503'
"""


def test_edge_alerts_fire_on_spikes_and_open_circuits(catalog: Catalog, tmp_path: Path) -> None:
    """promtool (Debian package prometheus) checks the generated rules and runs them on
    synthetic series: a 401 spike, 5xx share and an open circuit fire; a trickle of 429
    does not."""
    promtool = shutil.which("promtool")
    assert promtool, "promtool missing: sudo make system-deps (Debian package prometheus)"
    (tmp_path / "rules.yml").write_text(observability.prometheus_rules(catalog))
    (tmp_path / "test.yml").write_text(PROMTOOL_TEST)
    checked = subprocess.run(
        [promtool, "check", "rules", "rules.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    tested = subprocess.run(
        [promtool, "test", "rules", "test.yml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    names = {
        r["alert"]
        for g in yaml.safe_load(observability.prometheus_rules(catalog))["groups"]
        for r in g["rules"]
        if "alert" in r  # (recording rules too: the SLOs')
    }
    assert {"EdgeUnauthorizedSpike", "EdgeRateLimitedSpike", "CircuitOpen"} <= names
