"""Prometheus recording and alerting rules, derived from the catalog.

- `sutazai-dependencies`: a scraped service that stops answering (`ServiceDown`), and a
  dependency every in-house client reports down (`DependencyDown`, from their
  `sutazai_dependency_up`); both name the affected clients from the `talks_to` graph.
- `sutazai-ai-signals`: LLM latency, time to first token, token rate and failures, agent
  queue depth and age (Redis Streams pending entries), the chat cache hit ratio and vector
  search latency, as the in-house services export them (service-code/).
- `sutazai-slo-recording` / `sutazai-slo-alerts`: the catalog's `slo` objectives as error
  ratios over the SRE workbook's windows and its multi-window, multi-burn-rate alerts
  (1h/5m at 14.4 and 6h/30m at 6 page; 1d/2h at 3 and 3d/6h at 1 open a ticket).

Every series carries the scrape's `service` label (the catalog name), which is what
Alertmanager routes and inhibits on (components/configs/alertmanager.py).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import yaml

from stacks.catalog import FASTEST_BURN_RATE, Catalog, ServiceSpec

# The contract endpoints are probes and scrapes, not user traffic: never part of an SLI.
CONTRACT_ROUTES = "/health|/ready|/metrics"
SLO_RATIO = "sutazai_slo:errors:ratio_rate"
# Each window of the SRE workbook: (long, short, burn rate, severity).
BURN_WINDOWS = (
    ("1h", "5m", FASTEST_BURN_RATE, "critical"),
    ("6h", "30m", 6.0, "critical"),
    ("1d", "2h", 3.0, "warning"),
    ("3d", "6h", 1.0, "warning"),
)
SLO_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")

# The in-house services' AI metrics (service-code/base/python-base/sutazai_common/ai.py and
# ai-base/agent_runtime): one name each, read by the rules and the dashboards.
LLM_DURATION = "sutazai_llm_request_duration_seconds"
LLM_FIRST_TOKEN = "sutazai_llm_time_to_first_token_seconds"
LLM_TOKENS = "sutazai_llm_generated_tokens_total"
LLM_GENERATION_SECONDS = "sutazai_llm_generation_seconds_total"
CACHE_LOOKUPS = "sutazai_chat_cache_lookups_total"
VECTOR_SEARCH = "sutazai_vector_search_duration_seconds"
QUEUE_DEPTH = "sutazai_agent_queue_depth"
QUEUE_PENDING = "sutazai_agent_queue_pending"
QUEUE_OLDEST_AGE = "sutazai_agent_queue_oldest_age_seconds"
DEPENDENCY_UP = "sutazai_dependency_up"


def _dump(document: object) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=120)


def dependents(catalog: Catalog, name: str) -> list[str]:
    """Everything that depends on `name` through `talks_to`, directly or not."""
    found: set[str] = set()
    frontier = [name]
    while frontier:
        current = frontier.pop()
        for source, target in catalog.logical_edges:
            if target == current and source not in found and source != name:
                found.add(source)
                frontier.append(source)
    return sorted(found)


def dependencies(catalog: Catalog, name: str) -> list[str]:
    """Everything `name` depends on through `talks_to`, directly or not."""
    found: set[str] = set()
    frontier = [name]
    while frontier:
        current = frontier.pop()
        for target in catalog[current].talks_to:
            if target in catalog.services and target not in found and target != name:
                found.add(target)
                frontier.append(target)
    return sorted(found)


def silenced_by(catalog: Catalog, name: str) -> list[str]:
    """The services whose alerts an outage of `name` silences: its dependents, but never one
    it depends on itself (in a cycle both would silence each other, and nobody is told)."""
    return [d for d in dependents(catalog, name) if d not in set(dependencies(catalog, name))]


def _severity(spec: ServiceSpec) -> str:
    return "critical" if spec.critical else "warning"


def checked_dependencies(catalog: Catalog) -> list[ServiceSpec]:
    """Services an in-house scraped client checks in its /ready (and so reports up/down)."""
    reporters = [s for s in catalog.scrape_targets if s.in_house]
    checked = {peer for r in reporters for peer in r.talks_to if peer in catalog.services}
    return [catalog[n] for n in sorted(checked)]


def _dependency_rules(catalog: Catalog) -> list[dict[str, object]]:
    rules: list[dict[str, object]] = []
    for target in sorted(catalog.scrape_targets, key=lambda s: s.name):
        rules.append(
            {
                "alert": "ServiceDown",
                "expr": f'up{{job="{target.name}"}} == 0',
                "for": "2m",
                "labels": {"severity": _severity(target), "service": target.name},
                "annotations": {
                    "summary": f"{target.name} is not answering its metrics endpoint",
                    "affected_clients": ", ".join(dependents(catalog, target.name)) or "none",
                },
            }
        )
    for dependency in checked_dependencies(catalog):
        # Down for every client that checks it: an outage, not one client's network trouble.
        rules.append(
            {
                "alert": "DependencyDown",
                "expr": (
                    f'max by (dependency) ({DEPENDENCY_UP}{{dependency="{dependency.name}"}}) == 0'
                ),
                "for": "1m",
                "labels": {"severity": _severity(dependency), "service": dependency.name},
                "annotations": {
                    "summary": f"every client that checks {dependency.name} reports it down",
                    "affected_clients": ", ".join(dependents(catalog, dependency.name)),
                },
            }
        )
    return rules


def _sli_selector(service: str) -> str:
    return f'job="{service}",route!~"{CONTRACT_ROUTES}"'


def _bucket_label(threshold: float) -> str:
    """`le` as prometheus_client writes it (and Prometheus 3 normalises it): 1.0, 0.25."""
    return repr(float(threshold))


def slo_objectives(spec: ServiceSpec) -> list[tuple[str, float]]:
    """(SLI name, objective percent) for each of the service's objectives."""
    if spec.slo is None:
        return []
    objectives: list[tuple[str, float]] = []
    if spec.slo.availability is not None:
        objectives.append(("availability", spec.slo.availability))
    if spec.slo.latency is not None:
        objectives.append(("latency", spec.slo.latency.objective))
    return objectives


def _error_ratio(spec: ServiceSpec, sli: str, window: str) -> str:
    selector = _sli_selector(spec.name)
    total = f"sum(rate(http_requests_total{{{selector}}}[{window}]))"
    if sli == "availability":
        return f'sum(rate(http_requests_total{{{selector},status=~"5.."}}[{window}])) / {total}'
    assert spec.slo is not None and spec.slo.latency is not None
    le = _bucket_label(spec.slo.latency.threshold_seconds)
    fast = f'sum(rate(http_request_duration_seconds_bucket{{{selector},le="{le}"}}[{window}]))'
    count = f"sum(rate(http_request_duration_seconds_count{{{selector}}}[{window}]))"
    return f"1 - ({fast} / {count})"


def _slo_recording_rules(catalog: Catalog) -> list[dict[str, object]]:
    rules: list[dict[str, object]] = []
    for spec in sorted(catalog, key=lambda s: s.name):
        for sli, _ in slo_objectives(spec):
            for window in SLO_WINDOWS:
                rules.append(
                    {
                        "record": f"{SLO_RATIO}{window}",
                        "expr": _error_ratio(spec, sli, window),
                        "labels": {"service": spec.name, "slo": sli},
                    }
                )
    return rules


def _budget(objective: float) -> float:
    return round(1 - objective / 100, 10)


def _slo_alert_rules(catalog: Catalog) -> list[dict[str, object]]:
    rules: list[dict[str, object]] = []
    for spec in sorted(catalog, key=lambda s: s.name):
        for sli, objective in slo_objectives(spec):
            budget = _budget(objective)
            matcher = f'{{service="{spec.name}",slo="{sli}"}}'
            for severity, burn in (("critical", "fast"), ("warning", "slow")):
                windows = [w for w in BURN_WINDOWS if w[3] == severity]
                expr = " or ".join(
                    f"({SLO_RATIO}{long}{matcher} > {rate * budget:.6g} and "
                    f"{SLO_RATIO}{short}{matcher} > {rate * budget:.6g})"
                    for long, short, rate, _ in windows
                )
                rules.append(
                    {
                        "alert": "ErrorBudgetBurn",
                        "expr": expr,
                        "for": "2m" if burn == "fast" else "15m",
                        "labels": {
                            "severity": severity,
                            "service": spec.name,
                            "slo": sli,
                            "burn": burn,
                        },
                        "annotations": {
                            "summary": (
                                f"{spec.name} is spending its {sli} error budget "
                                f"({objective}% over 30 days) {burn}"
                            ),
                            "affected_clients": ", ".join(dependents(catalog, spec.name)) or "none",
                        },
                    }
                )
    return rules


@dataclass(frozen=True)
class Signal:
    """One AI alert: what it watches, how long before it fires, whom it tells."""

    alert: str
    expr: str
    wait: str
    severity: str
    summary: str


AI_SIGNALS = (
    Signal(
        "LLMLatencyHigh",
        "histogram_quantile(0.95, sum by (service, model, le) "
        f"(rate({LLM_DURATION}_bucket[10m]))) > 60",
        "10m",
        "warning",
        "95th percentile LLM latency of {{ $labels.service }} ({{ $labels.model }}) is "
        "{{ $value | humanizeDuration }}",
    ),
    Signal(
        "LLMTimeToFirstTokenHigh",
        "histogram_quantile(0.95, sum by (service, model, le) "
        f"(rate({LLM_FIRST_TOKEN}_bucket[10m]))) > 10",
        "10m",
        "warning",
        "95th percentile time to first token of {{ $labels.model }} is "
        "{{ $value | humanizeDuration }}",
    ),
    Signal(
        "LLMTokenRateLow",
        f"sum by (service, model) (rate({LLM_TOKENS}[15m])) / "
        f"sum by (service, model) (rate({LLM_GENERATION_SECONDS}[15m])) < 5",
        "15m",
        "warning",
        "{{ $labels.model }} generates {{ $value | humanize }} tokens/s for {{ $labels.service }}",
    ),
    Signal(
        "LLMRequestsFailing",
        f'sum by (service) (rate({LLM_DURATION}_count{{outcome!="ok"}}[10m])) / '
        f"sum by (service) (rate({LLM_DURATION}_count[10m])) > 0.1",
        "10m",
        "critical",
        "{{ $value | humanizePercentage }} of the LLM requests of {{ $labels.service }} fail",
    ),
    Signal(
        "AgentQueueStale",
        f"max by (service, agent) ({QUEUE_OLDEST_AGE}) > 600",
        "5m",
        "warning",
        "the oldest unfinished task of {{ $labels.agent }} has waited "
        "{{ $value | humanizeDuration }}",
    ),
    Signal(
        "AgentQueueDeep",
        f"max by (service, agent) ({QUEUE_DEPTH} + {QUEUE_PENDING}) > 100",
        "15m",
        "warning",
        "{{ $labels.agent }} has {{ $value }} tasks queued or unacknowledged",
    ),
    Signal(
        "ChatCacheHitRatioLow",
        f'sum by (service) (rate({CACHE_LOOKUPS}{{result="hit"}}[1h])) / '
        f"sum by (service) (rate({CACHE_LOOKUPS}[1h])) < 0.05 "
        f"and sum by (service) (rate({CACHE_LOOKUPS}[1h])) > 0.01",
        "1h",
        "info",
        "the chat cache of {{ $labels.service }} answers {{ $value | humanizePercentage }} "
        "of lookups",
    ),
    Signal(
        "VectorSearchSlow",
        "histogram_quantile(0.95, sum by (service, store, le) "
        f"(rate({VECTOR_SEARCH}_bucket[10m]))) > 1",
        "10m",
        "warning",
        "95th percentile {{ $labels.store }} search latency seen by {{ $labels.service }} is "
        "{{ $value | humanizeDuration }}",
    ),
)


def _ai_rules() -> list[dict[str, object]]:
    return [
        {
            "alert": signal.alert,
            "expr": signal.expr,
            "for": signal.wait,
            "labels": {"severity": signal.severity},
            "annotations": {"summary": signal.summary},
        }
        for signal in AI_SIGNALS
    ]


def _pipeline_rules(catalog: Catalog) -> list[dict[str, object]]:
    """The alert path itself: an alert nobody receives is worse than none."""
    found: list[dict[str, object]] = []
    if "alertmanager" in catalog.services:
        found.append(
            {
                "alert": "AlertNotificationsFailing",
                "expr": "sum by (service, integration) "
                "(rate(alertmanager_notifications_failed_total[10m])) > 0",
                "for": "10m",
                "labels": {"severity": "critical"},
                "annotations": {
                    "summary": "Alertmanager cannot deliver to {{ $labels.integration }}: "
                    "alerts there reach nobody",
                },
            }
        )
    if "prometheus" in catalog.services:
        found.append(
            {
                "alert": "RuleEvaluationFailing",
                "expr": "sum by (service, rule_group) "
                "(rate(prometheus_rule_evaluation_failures_total[10m])) > 0",
                "for": "10m",
                "labels": {"severity": "warning"},
                "annotations": {"summary": "rules of {{ $labels.rule_group }} fail to evaluate"},
            }
        )
    return found


def prometheus_rules(catalog: Catalog, extra_groups: Sequence[Mapping[str, object]] = ()) -> str:
    groups = [
        {"name": "sutazai-dependencies", "rules": _dependency_rules(catalog)},
        {"name": "sutazai-slo-recording", "interval": "1m", "rules": _slo_recording_rules(catalog)},
        {"name": "sutazai-slo-alerts", "rules": _slo_alert_rules(catalog)},
        {"name": "sutazai-ai-signals", "rules": _ai_rules()},
        {"name": "sutazai-alert-pipeline", "rules": _pipeline_rules(catalog)},
    ]
    groups += [dict(g) for g in extra_groups]
    return _dump({"groups": [g for g in groups if g["rules"]]})
