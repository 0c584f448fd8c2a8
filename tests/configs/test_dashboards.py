"""Dashboards as code: well-formed, provisioned, and every query names a metric that exists.

"Exists" is measured, never listed by hand: the in-house services are started in-process
(each in its own interpreter: every service is an `app` package) and their /metrics read;
Prometheus and Alertmanager are Debian's real binaries on loopback, and their names are
also cited in tests/fixtures/upstream_metrics.yaml; recording rules come from rules.py.
The same check covers every alerting and recording rule.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from components import configs
from components.configs import dashboards, observability, rules
from stacks.catalog import Catalog, load_catalog
from tests.configs.test_configs import kubernetes_addressing

ROOT = Path(__file__).resolve().parents[2]
SERVICE_CODE = ROOT / "service-code"
UPSTREAM = yaml.safe_load((ROOT / "tests/fixtures/upstream_metrics.yaml").read_text())
# agentgpt is the durable flavour of the same agent runtime (it needs PostgreSQL and Redis
# to start); autogpt and crewai export exactly the runtime's metrics without them.
STARTS_WITHOUT_SERVERS = {"agentgpt": "autogpt"}

# --- PromQL: the metric names an expression reads ----------------------------------------

_KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
             "or", "unless", "offset", "inf", "nan"}  # fmt: skip
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'')
_GROUPING = re.compile(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
_IDENTIFIER = re.compile(r"[A-Za-z_:][A-Za-z0-9_:]*")


def metric_names(expr: str) -> set[str]:
    """Metric names in a PromQL expression. A `__name__` matcher cannot be checked: it is
    returned as is, so it fails the check instead of slipping past it."""
    if "__name__" in expr:
        return {"__name__"}
    text = _STRING.sub('""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = _GROUPING.sub(" ", text)
    text = re.sub(r"\boffset\s+-?\w+", " ", text)
    names: set[str] = set()
    for match in _IDENTIFIER.finditer(text):
        word, before = match.group(0), text[: match.start()][-1:]
        if before and (before.isdigit() or before == "."):
            continue  # an exponent: 1e9
        if text[match.end() :].lstrip().startswith("("):
            continue  # a function
        if word.lower() in _KEYWORDS:
            continue
        names.add(word)
    return names


@pytest.mark.parametrize(
    ("expr", "names"),
    [
        ('sum by (le) (rate(a_bucket{x="{not}",y=~"b|c"}[5m]))', {"a_bucket"}),
        ("a / on (x) group_left (y) b", {"a", "b"}),
        ("x offset 5m > 1e9 and bool y", {"x", "y"}),
        ("histogram_quantile(0.95, sum without (pod) (rate(h_bucket[1h:5m])))", {"h_bucket"}),
        ('{__name__="anything"}', {"__name__"}),
        ("sutazai_slo:errors:ratio_rate5m / 0.005", {"sutazai_slo:errors:ratio_rate5m"}),
    ],
)
def test_metric_names_are_read_from_every_shape(expr: str, names: set[str]) -> None:
    assert metric_names(expr) == names


# --- what exists --------------------------------------------------------------------------


def _sample_names(metrics_text: str) -> set[str]:
    names: set[str] = set()
    for family in text_string_to_metric_families(metrics_text):
        if family.type == "histogram":
            names |= {f"{family.name}_bucket", f"{family.name}_count", f"{family.name}_sum"}
        elif family.type == "summary":
            names |= {family.name, f"{family.name}_count", f"{family.name}_sum"}
        elif family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "info":
            names.add(f"{family.name}_info")
        else:
            names.add(family.name)
    return names


_SCRAPE = """
import sys
from fastapi.testclient import TestClient
from app.main import app
with TestClient(app) as client:
    response = client.get("/metrics")
    assert response.status_code == 200, response.status_code
    sys.stdout.write(response.text)
"""


def _in_house_metrics(service: str, tmp: Path) -> str:
    folder = SERVICE_CODE / service
    paths = [folder, *(SERVICE_CODE / p for p in ("base/python-base", "base/ai-base", "testing"))]
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": os.pathsep.join(str(p) for p in paths),
        "FAISS_INDEX_PATH": str(tmp / service),
        "LOG_LEVEL": "WARNING",
    }
    result = subprocess.run(
        [sys.executable, "-c", _SCRAPE],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, f"{service} did not serve /metrics: {result.stderr[-2000:]}"
    return result.stdout


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


@pytest.fixture(scope="module")
def in_house(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    tmp = tmp_path_factory.mktemp("services")
    services = sorted(
        {
            STARTS_WITHOUT_SERVERS.get(s.name, s.name)
            for s in catalog.scrape_targets
            if s.build is not None and s.build.path != "pgbouncer"
        }
    )
    with ThreadPoolExecutor(max_workers=2) as pool:
        texts = list(pool.map(lambda s: _in_house_metrics(s, tmp), services))
    names: set[str] = set()
    for text in texts:
        names |= _sample_names(text)
    return names


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: run scripts/install-system-deps.sh (as root)")
    return path


def _serve_and_scrape(argv: list[str], port: int, ready: str) -> str:
    server = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=3) as r:
                    text = r.read().decode()
                if ready in text:
                    return text
            except OSError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                detail = server.stderr.read().decode()[-2000:] if server.stderr else ""
                raise AssertionError(f"{argv[0]} did not serve its metrics: {detail}")
            time.sleep(0.3)
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(scope="module")
def upstream(catalog: Catalog, tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    tmp = tmp_path_factory.mktemp("upstream")
    (tmp / "rules.yml").write_text(rules.prometheus_rules(catalog))
    (tmp / "prometheus.yml").write_text(
        yaml.safe_dump({"global": {"evaluation_interval": "1s"}, "rule_files": ["rules.yml"]})
    )
    port = _free_port()
    prometheus = _serve_and_scrape(
        [
            _binary("prometheus"),
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        port,
        "prometheus_rule_evaluation_failures_total",
    )
    (tmp / "alertmanager.yml").write_text(
        yaml.safe_dump({"route": {"receiver": "none"}, "receivers": [{"name": "none"}]})
    )
    port = _free_port()
    alertmanager = _serve_and_scrape(
        [
            _binary("prometheus-alertmanager"),
            f"--config.file={tmp / 'alertmanager.yml'}",
            f"--storage.path={tmp / 'am'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        port,
        "alertmanager_notifications_failed_total",
    )
    return {
        "prometheus": _sample_names(prometheus),
        "alertmanager": _sample_names(alertmanager),
    }


def test_every_cited_upstream_metric_is_served_by_the_real_binary(
    upstream: dict[str, set[str]],
) -> None:
    for component, metrics in UPSTREAM.items():
        for name, entry in metrics.items():
            assert entry["cite"].startswith("https://"), name
            if not entry.get("synthetic"):
                assert name in upstream[component], f"{component} serves no {name}"


def _queries(catalog: Catalog) -> Iterator[tuple[str, str]]:
    for board in dashboards.dashboards(catalog):
        for panel in board["panels"]:
            for target in panel.get("targets", []):
                yield f"{board['uid']} / {panel['title']}", target["expr"]
    for group in yaml.safe_load(observability.prometheus_rules(catalog))["groups"]:
        for rule in group["rules"]:
            yield f"{group['name']} / {rule.get('alert') or rule['record']}", rule["expr"]


def test_no_query_names_a_metric_nothing_provides(
    catalog: Catalog, in_house: set[str], upstream: dict[str, set[str]]
) -> None:
    recorded = {
        rule["record"]
        for group in yaml.safe_load(observability.prometheus_rules(catalog))["groups"]
        for rule in group["rules"]
        if "record" in rule
    }
    cited = {name for metrics in UPSTREAM.values() for name in metrics}
    provided = in_house | recorded | cited
    # The in-house AI signals are really exported, not only named in rules.
    assert {rules.LLM_TOKENS, f"{rules.QUEUE_OLDEST_AGE}", f"{rules.VECTOR_SEARCH}_bucket",
            rules.CACHE_LOOKUPS, rules.DEPENDENCY_UP} <= in_house  # fmt: skip
    missing = {
        (where, name)
        for where, expr in _queries(catalog)
        for name in metric_names(expr)
        if name not in provided
    }
    assert not missing, sorted(missing)


# --- shape and provisioning ---------------------------------------------------------------


def test_dashboards_cover_the_overview_every_tier_llm_and_slos(catalog: Catalog) -> None:
    uids = [d["uid"] for d in dashboards.dashboards(catalog)]
    assert len(uids) == len(set(uids))
    tiers = {s.tier.value for s in catalog}
    assert set(uids) == {
        "sutazai-overview",
        "sutazai-llm-agents",
        "sutazai-slo",
        *(f"sutazai-tier-{t}" for t in tiers),
    }
    for board in dashboards.dashboards(catalog):
        ids = [p["id"] for p in board["panels"]]
        assert len(ids) == len(set(ids)), board["uid"]
        assert len(board["uid"]) <= 40
    slo = next(d for d in dashboards.dashboards(catalog) if d["uid"] == "sutazai-slo")
    titled = " ".join(p["title"] for p in slo["panels"])
    for spec in catalog:
        for sli, _ in rules.slo_objectives(spec):
            assert f"{spec.name} {sli}" in titled


def test_grafana_is_provisioned_with_the_dashboards_and_their_data_source(
    catalog: Catalog,
) -> None:
    files = observability.generated_config_files(
        catalog["grafana"], catalog, kubernetes_addressing()
    )
    provider = json.loads(str(files[dashboards.PROVIDER_FILE]))["providers"][0]
    assert provider["options"]["path"] == dashboards.PROVIDER_DIR
    boards = [p for p in files if p.endswith(".json")]
    assert {Path(p).parent.as_posix() for p in boards} == {dashboards.PROVIDER_DIR}
    assert len(boards) == len(dashboards.dashboards(catalog))
    sources = yaml.safe_load(str(files[observability.GRAFANA_DATASOURCES]))["datasources"]
    uids = {s["uid"] for s in sources}
    for path in boards:
        board: dict[str, Any] = json.loads(str(files[path]))
        for panel in board["panels"]:
            if "datasource" in panel:
                assert panel["datasource"]["uid"] in uids, (path, panel["title"])
    # Both platforms mount exactly these files (the catalog adds none of its own there).
    assert set(files) <= set(
        configs.config_files(catalog["grafana"], catalog, kubernetes_addressing())
    )
