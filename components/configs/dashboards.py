"""Grafana dashboards as code, generated from the catalog and provisioned from files.

- `sutazai-overview`: every scraped service's health, every `talks_to` edge as its client
  sees it (`sutazai_dependency_up`: the graph, with health), the alerts firing, and whether
  alerts reach anyone (Alertmanager's failed notifications);
- `sutazai-tier-<tier>`: one per tier, a row per service: up, and for in-house services the
  request rate, 5xx ratio and 95th percentile latency; services Prometheus does not scrape
  appear as their clients see them;
- `sutazai-llm-agents`: LLM latency, time to first token, tokens/s, failures, agent queues,
  the chat cache hit ratio, vector search latency;
- `sutazai-slo`: per objective, the burn rates the alerts use, against the error budget.

Every query names metrics the in-house services export, Prometheus and Alertmanager export,
or the recording rules define (tests/configs/test_dashboards.py checks each one).
"""

from __future__ import annotations

import json
from typing import Any

from components.configs import rules
from stacks.catalog import Catalog, ServiceSpec, Tier

PROVIDER_DIR = "/etc/grafana/provisioning/dashboards"
PROVIDER_FILE = f"{PROVIDER_DIR}/sutazai.yaml"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
WIDTH = 24


class _Layout:
    """Places panels left to right, top to bottom, and numbers them."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = self.y = self.row_height = 0

    def add(self, panel: dict[str, Any], width: int = 8, height: int = 8) -> None:
        if self.x + width > WIDTH:
            self.x, self.y = 0, self.y + self.row_height
            self.row_height = 0
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": width, "h": height}
        self.panels.append(panel)
        self.x += width
        self.row_height = max(self.row_height, height)

    def row(self, title: str) -> None:
        if self.x:
            self.x, self.y = 0, self.y + self.row_height
        self.add({"type": "row", "title": title, "collapsed": False, "panels": []}, WIDTH, 1)
        self.x, self.y, self.row_height = 0, self.y + 1, 0


def _targets(queries: list[tuple[str, str]]) -> list[dict[str, Any]]:
    return [
        {"refId": chr(ord("A") + i), "expr": expr, "legendFormat": legend, "datasource": DATASOURCE}
        for i, (expr, legend) in enumerate(queries)
    ]


def timeseries(title: str, queries: list[tuple[str, str]], unit: str = "short") -> dict[str, Any]:
    return {
        "type": "timeseries",
        "title": title,
        "datasource": DATASOURCE,
        "targets": _targets(queries),
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "options": {"legend": {"displayMode": "list", "placement": "bottom"}},
    }


def health(title: str, queries: list[tuple[str, str]]) -> dict[str, Any]:
    """1 is up (green), 0 is down (red)."""
    return {
        "type": "stat",
        "title": title,
        "datasource": DATASOURCE,
        "targets": _targets(queries),
        "fieldConfig": {
            "defaults": {
                "mappings": [
                    {"type": "value", "options": {"0": {"text": "DOWN", "color": "red"},
                                                  "1": {"text": "UP", "color": "green"}}}
                ],
                "thresholds": {"mode": "absolute", "steps": [
                    {"color": "red", "value": None}, {"color": "green", "value": 1}]},
                "color": {"mode": "thresholds"},
            },
            "overrides": [],
        },
        "options": {"colorMode": "background", "textMode": "value_and_name",
                    "reduceOptions": {"calcs": ["lastNotNull"]}},
    }  # fmt: skip


def table(title: str, queries: list[tuple[str, str]]) -> dict[str, Any]:
    panel = timeseries(title, queries)
    panel["type"] = "table"
    for target in panel["targets"]:
        target.update(instant=True, format="table")
    return panel


def dashboard(uid: str, title: str, layout: _Layout, tags: list[str]) -> dict[str, Any]:
    return {
        "uid": uid,
        "title": title,
        "tags": ["sutazai", *tags],
        "editable": False,
        "schemaVersion": 39,
        "time": {"from": "now-6h", "to": "now"},
        "refresh": "1m",
        "timezone": "utc",
        "panels": layout.panels,
    }


def _checked(catalog: Catalog) -> set[str]:
    return {s.name for s in rules.checked_dependencies(catalog)}


def overview(catalog: Catalog) -> dict[str, Any]:
    layout = _Layout()
    layout.add(health("Scraped services", [("max by (service) (up)", "{{service}}")]), 24, 8)
    layout.add(
        table(
            "The graph: each dependency as its client sees it (1 up, 0 down)",
            [(f"min by (service, dependency) ({rules.DEPENDENCY_UP})", "")],
        ),
        12,
        12,
    )
    layout.add(
        table(
            "Alerts firing",
            [('sum by (alertname, service, severity) (ALERTS{alertstate="firing"})', "")],
        ),
        12,
        12,
    )
    layout.add(
        timeseries(
            "Do alerts reach a person? Failed notifications by integration",
            [
                (
                    "sum by (integration) (rate(alertmanager_notifications_failed_total[5m]))",
                    "{{integration}}",
                )
            ],
            "ops",
        ),
        12,
    )
    layout.add(
        timeseries(
            "Rule evaluation failures",
            [("sum(rate(prometheus_rule_evaluation_failures_total[5m]))", "failures")],
            "ops",
        ),
        12,
    )
    return dashboard("sutazai-overview", "SutazAI: platform overview", layout, ["overview"])


def _service_row(layout: _Layout, spec: ServiceSpec, checked: set[str]) -> None:
    layout.row(spec.name)
    if spec.scrape is not None:
        layout.add(health("Up", [(f'max(up{{job="{spec.name}"}})', spec.name)]), 4)
    elif spec.name in checked:
        query = f'min({rules.DEPENDENCY_UP}{{dependency="{spec.name}"}})'
        layout.add(health("Up, as its clients see it", [(query, spec.name)]), 4)
    if spec.in_house and spec.scrape is not None:
        job = f'job="{spec.name}",route!~"{rules.CONTRACT_ROUTES}"'
        layout.add(
            timeseries(
                "Requests by route",
                [(f"sum by (route) (rate(http_requests_total{{{job}}}[5m]))", "{{route}}")],
                "reqps",
            ),
            7,
        )
        layout.add(
            timeseries(
                "5xx ratio",
                [
                    (
                        f'sum(rate(http_requests_total{{{job},status=~"5.."}}[5m])) / '
                        f"sum(rate(http_requests_total{{{job}}}[5m]))",
                        "5xx",
                    )
                ],
                "percentunit",
            ),
            6,
        )
        layout.add(
            timeseries(
                "Latency p95",
                [
                    (
                        "histogram_quantile(0.95, sum by (le) "
                        f"(rate(http_request_duration_seconds_bucket{{{job}}}[5m])))",
                        "p95",
                    )
                ],
                "s",
            ),
            7,
        )


def tier(catalog: Catalog, tier: Tier) -> dict[str, Any] | None:
    specs = sorted(catalog.tier(tier), key=lambda s: s.name)
    if not specs:
        return None
    layout = _Layout()
    checked = _checked(catalog)
    for spec in specs:
        _service_row(layout, spec, checked)
    return dashboard(
        f"sutazai-tier-{tier.value}", f"SutazAI: {tier.value} tier", layout, [tier.value]
    )


def llm_and_agents() -> dict[str, Any]:
    layout = _Layout()
    layout.row("LLM")
    layout.add(
        timeseries(
            "LLM request latency p95 by model",
            [
                (
                    "histogram_quantile(0.95, sum by (service, model, le) "
                    f"(rate({rules.LLM_DURATION}_bucket[5m])))",
                    "{{service}} {{model}}",
                )
            ],
            "s",
        )
    )
    layout.add(
        timeseries(
            "Time to first token p95",
            [
                (
                    "histogram_quantile(0.95, sum by (model, le) "
                    f"(rate({rules.LLM_FIRST_TOKEN}_bucket[5m])))",
                    "{{model}}",
                )
            ],
            "s",
        )
    )
    layout.add(
        timeseries(
            "Tokens per second",
            [
                (
                    f"sum by (model) (rate({rules.LLM_TOKENS}[5m])) / "
                    f"sum by (model) (rate({rules.LLM_GENERATION_SECONDS}[5m]))",
                    "{{model}}",
                )
            ],
        )
    )
    layout.add(
        timeseries(
            "LLM requests by outcome",
            [
                (
                    f"sum by (service, outcome) (rate({rules.LLM_DURATION}_count[5m]))",
                    "{{service}} {{outcome}}",
                )
            ],
            "reqps",
        ),
        12,
    )
    layout.add(
        timeseries(
            "Chat cache hit ratio",
            [
                (
                    f'sum(rate({rules.CACHE_LOOKUPS}{{result="hit"}}[15m])) / '
                    f"sum(rate({rules.CACHE_LOOKUPS}[15m]))",
                    "hit ratio",
                )
            ],
            "percentunit",
        ),
        12,
    )
    layout.row("Agents")
    layout.add(
        timeseries(
            "Queued and unacknowledged tasks",
            [
                (f"max by (agent) ({rules.QUEUE_DEPTH})", "{{agent}} queued"),
                (f"max by (agent) ({rules.QUEUE_PENDING})", "{{agent}} pending"),
            ],
        )
    )
    layout.add(
        timeseries(
            "Oldest unfinished task",
            [(f"max by (agent) ({rules.QUEUE_OLDEST_AGE})", "{{agent}}")],
            "s",
        )
    )
    layout.add(
        timeseries(
            "Finished tasks by status",
            [("sum by (agent, status) (rate(agent_tasks_total[5m]))", "{{agent}} {{status}}")],
            "ops",
        )
    )
    layout.row("Vector search")
    layout.add(
        timeseries(
            "Vector search latency p95 by store",
            [
                (
                    "histogram_quantile(0.95, sum by (service, store, le) "
                    f"(rate({rules.VECTOR_SEARCH}_bucket[5m])))",
                    "{{service}} → {{store}}",
                )
            ],
            "s",
        ),
        24,
    )
    return dashboard("sutazai-llm-agents", "SutazAI: LLM and agents", layout, ["ai"])


def slos(catalog: Catalog) -> dict[str, Any] | None:
    layout = _Layout()
    for spec in sorted(catalog, key=lambda s: s.name):
        for sli, objective in rules.slo_objectives(spec):
            budget = round(1 - objective / 100, 10)
            selector = f'{{service="{spec.name}",slo="{sli}"}}'
            layout.add(
                timeseries(
                    f"{spec.name} {sli} ({objective}%): burn rate (1 = on budget)",
                    [
                        (f"{rules.SLO_RATIO}{window}{selector} / {budget}", window)
                        for window in ("5m", "1h", "6h", "1d", "3d")
                    ],
                ),
                12,
            )
    if not layout.panels:
        return None
    layout.add(
        table(
            "Error budget alerts firing",
            [('ALERTS{alertname="ErrorBudgetBurn",alertstate="firing"}', "")],
        ),
        24,
    )
    return dashboard("sutazai-slo", "SutazAI: service level objectives", layout, ["slo"])


def dashboards(catalog: Catalog) -> list[dict[str, Any]]:
    found = [overview(catalog), llm_and_agents()]
    found += [d for t in Tier for d in [tier(catalog, t)] if d is not None]
    slo = slos(catalog)
    if slo is not None:
        found.append(slo)
    return found


def provisioning_files(catalog: Catalog) -> dict[str, str]:
    """The dashboard provider and one JSON file per dashboard (path -> content)."""
    provider = {
        "apiVersion": 1,
        "providers": [
            {
                "name": "sutazai",
                "type": "file",
                "disableDeletion": True,
                "allowUiUpdates": False,
                "options": {"path": PROVIDER_DIR, "foldersFromFilesStructure": False},
            }
        ],
    }
    files = {PROVIDER_FILE: json.dumps(provider, indent=2) + "\n"}
    for board in dashboards(catalog):
        files[f"{PROVIDER_DIR}/{board['uid']}.json"] = json.dumps(board, indent=1) + "\n"
    return files
