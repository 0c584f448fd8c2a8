"""Alerting: SLO rules, Alertmanager routing and inhibition, checked by the real tools.

Debian's promtool (2.42) and amtool / alertmanager (0.25) run the generated files: `check
rules`, `test rules` (burn-rate alerts fire on a synthetic series and stay quiet on a
healthy one), `check-config` on every stack's config, and a real Alertmanager on loopback
that must inhibit a dependent's alert while its database is down.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.configs import alertmanager, rules
from stacks.catalog import Catalog, load_catalog
from stacks.composition import effective_catalog
from stacks.config import AlertingConfig, StackConfig, parse_config_bag
from stacks.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "arn:aws:sns:us-east-1:123456789012:sutazai-prod-alerts"


def tool(name: str) -> str:
    """A Debian binary the tests need; missing is a failure, never a skip."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is missing: run scripts/install-system-deps.sh (as root)")
    return path


def stack_config(stack: str) -> StackConfig:
    data = yaml.safe_load((ROOT / f"Pulumi.{stack}.yaml").read_text())["config"]
    bag = {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    return parse_config_bag(bag)


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def for_old_amtool(text: str) -> str:
    """Debian's amtool 0.25 predates webhook `url_file` (0.26+); the one substitution."""
    return text.replace("url_file: /vault/secrets/", "url: http://webhook.invalid/")


# --- rules -------------------------------------------------------------------------------


def test_promtool_accepts_the_rules(tmp_path: Path, catalog: Catalog) -> None:
    path = tmp_path / "rules.yml"
    path.write_text(rules.prometheus_rules(catalog))
    result = subprocess.run(
        [tool("promtool"), "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _series(route: str, status: str, per_minute: int, minutes: int) -> dict[str, str]:
    labels = f'job="backend",service="backend",method="GET",route="{route}",status="{status}"'
    return {
        "series": f"http_requests_total{{{labels}}}",
        "values": f"0+{per_minute}x{minutes}",
    }


def _burn_alert(severity: str, burn: str) -> dict[str, Any]:
    objective = 99.5
    return {
        "exp_labels": {"severity": severity, "service": "backend", "slo": "availability",
                       "burn": burn},
        "exp_annotations": {
            "summary": f"backend is spending its availability error budget "
            f"({objective}% over 30 days) {burn}",
            "affected_clients": ", ".join(rules.dependents(load_catalog(), "backend")),
        },
    }  # fmt: skip


def test_burn_rate_alert_fires_on_errors_and_stays_quiet_when_healthy(
    tmp_path: Path, catalog: Catalog
) -> None:
    backend = catalog["backend"]
    assert backend.slo is not None and backend.slo.availability == 99.5
    (tmp_path / "rules.yml").write_text(rules.prometheus_rules(catalog))
    failing = [
        _series("/api/v1/chat", "200", 80, 60),
        _series("/api/v1/chat", "500", 20, 60),  # 20% errors: 40x the 0.5% budget
        # Probes are never part of the SLI: a flood of healthy probes dilutes nothing.
        _series("/health", "200", 100_000, 60),
    ]
    healthy = [
        _series("/api/v1/chat", "200", 1000, 60),
        _series("/api/v1/chat", "500", 1, 60),  # 0.1%: inside the budget
        # A failing probe endpoint is not user traffic either.
        _series("/ready", "503", 1000, 60),
    ]
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": failing,
                "alert_rule_test": [
                    {"eval_time": "1m", "alertname": "ErrorBudgetBurn", "exp_alerts": []},
                    {
                        "eval_time": "10m",
                        "alertname": "ErrorBudgetBurn",
                        "exp_alerts": [_burn_alert("critical", "fast")],
                    },
                ],
            },
            {
                "interval": "1m",
                "input_series": healthy,
                "alert_rule_test": [
                    {"eval_time": "10m", "alertname": "ErrorBudgetBurn", "exp_alerts": []},
                    {"eval_time": "59m", "alertname": "ErrorBudgetBurn", "exp_alerts": []},
                ],
            },
        ],
    }
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(
        [tool("promtool"), "test", "rules", "tests.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_ai_alerts_fire_on_a_stale_agent_queue_and_failing_llm(
    tmp_path: Path, catalog: Catalog
) -> None:
    (tmp_path / "rules.yml").write_text(rules.prometheus_rules(catalog))
    queue = 'sutazai_agent_queue_oldest_age_seconds{job="crewai",service="crewai",agent="crewai"}'
    llm = 'sutazai_llm_request_duration_seconds_count{job="backend",service="backend",model="m"'
    tests = {
        "rule_files": ["rules.yml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # The oldest task ages with the clock: nobody takes it.
                    {"series": queue, "values": "0+60x30"},
                    {"series": llm + ',outcome="ok"}', "values": "0+10x30"},
                    {"series": llm + ',outcome="unreachable"}', "values": "0+5x30"},
                ],
                "alert_rule_test": [
                    {"eval_time": "9m", "alertname": "AgentQueueStale", "exp_alerts": []},
                    {
                        "eval_time": "20m",
                        "alertname": "AgentQueueStale",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "warning", "service": "crewai",
                                               "agent": "crewai"},
                                "exp_annotations": {"summary": "the oldest unfinished task of "
                                                    "crewai has waited 20m 0s"},
                            }
                        ],
                    },
                    {
                        "eval_time": "25m",
                        "alertname": "LLMRequestsFailing",
                        "exp_alerts": [
                            {
                                "exp_labels": {"severity": "critical", "service": "backend"},
                                "exp_annotations": {
                                    "summary": "33.33% of the LLM requests of backend fail"
                                },
                            }
                        ],
                    },
                ],
            },
        ],
    }  # fmt: skip
    (tmp_path / "tests.yml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(
        [tool("promtool"), "test", "rules", "tests.yml"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_burn_windows_follow_the_sre_workbook(catalog: Catalog) -> None:
    groups = yaml.safe_load(rules.prometheus_rules(catalog))["groups"]
    alerts = next(g for g in groups if g["name"] == "sutazai-slo-alerts")["rules"]
    frontend = [a for a in alerts if a["labels"]["service"] == "frontend"]
    page = next(
        a for a in frontend if a["labels"]["slo"] == "latency" and a["labels"]["burn"] == "fast"
    )
    # 99% latency objective: 1% budget; 14.4x over 1h and 5m, 6x over 6h and 30m.
    assert "ratio_rate1h{" in page["expr"] and "> 0.144" in page["expr"]
    assert "ratio_rate30m{" in page["expr"] and "> 0.06" in page["expr"]
    assert page["labels"]["severity"] == "critical"
    recording = next(g for g in groups if g["name"] == "sutazai-slo-recording")["rules"]
    latency = next(
        r for r in recording
        if r["labels"] == {"service": "frontend", "slo": "latency"}
        and r["record"].endswith("rate5m")
    )  # fmt: skip
    assert 'le="1.0"' in latency["expr"]
    assert "/health|/ready|/metrics" in latency["expr"]


def test_an_slo_needs_the_in_house_metrics_and_a_reachable_objective(catalog: Catalog) -> None:
    base = catalog["backend"].model_dump()
    for slo, message in [
        ({"availability": 90}, "could never page"),
        ({"availability": 100}, "below 100"),
        ({"latency": {"threshold_seconds": 0.3, "objective": 99}}, "not a bucket"),
        ({}, "availability, latency or both"),
    ]:
        with pytest.raises(ValueError, match=message):
            type(catalog["backend"]).model_validate({**base, "slo": slo})
    upstream = catalog["grafana"].model_dump()
    with pytest.raises(ValueError, match="in-house"):
        type(catalog["grafana"]).model_validate({**upstream, "slo": {"availability": 99.5}})


def test_dependency_alerts_name_everyone_affected(catalog: Catalog) -> None:
    groups = yaml.safe_load(rules.prometheus_rules(catalog))["groups"]
    deps = next(g for g in groups if g["name"] == "sutazai-dependencies")["rules"]
    postgres = next(
        r for r in deps if r["alert"] == "DependencyDown" and r["labels"]["service"] == "postgres"
    )
    affected = postgres["annotations"]["affected_clients"].split(", ")
    # Direct clients and, through the backend, its own clients (the frontend).
    assert {"backend", "agentgpt", "frontend"} <= set(affected)
    assert postgres["labels"]["severity"] == "critical"


def test_an_outage_never_silences_what_it_depends_on(catalog: Catalog) -> None:
    """In a cycle (a -> b -> a) neither may silence the other: both would stay quiet."""
    backend = catalog["backend"]
    cyclic = catalog.with_service(
        backend.model_copy(update={"talks_to": [*backend.talks_to, "frontend"]})
    )
    assert "frontend" not in rules.silenced_by(cyclic, "backend")
    assert "backend" not in rules.silenced_by(cyclic, "frontend")
    assert "frontend" in rules.silenced_by(catalog, "backend")


# --- Alertmanager ------------------------------------------------------------------------


def _render(catalog: Catalog, alerting: AlertingConfig) -> dict[str, Any]:
    return yaml.safe_load(alertmanager.render(catalog, alerting, TOPIC, "us-east-1"))


def test_prod_routes_by_severity_to_sns_pagerduty_and_slack(catalog: Catalog) -> None:
    config = stack_config("prod")
    document = _render(effective_catalog(catalog, config), config.alerting)
    receivers = {r["name"]: r for r in document["receivers"]}
    critical, info = receivers["critical"], receivers["info"]
    assert critical["sns_configs"][0]["topic_arn"] == TOPIC
    assert critical["sns_configs"][0]["sigv4"] == {"region": "us-east-1"}
    assert critical["pagerduty_configs"][0]["routing_key_file"] == (
        "/vault/secrets/alertmanager-receiver-oncall"
    )
    assert "sns_configs" not in info and "pagerduty_configs" not in info
    assert info["slack_configs"][0]["api_url_file"].endswith("alertmanager-receiver-platform-team")
    routes = document["route"]["routes"]
    assert [r["matchers"] for r in routes] == [
        ['severity="critical"'],
        ['severity="warning"'],
        ['severity="info"'],
    ]
    # An alert without a known severity still reaches someone.
    assert document["route"]["receiver"] == "warning"
    # No secret value is ever in the config: only files.
    text = yaml.safe_dump(document)
    assert "api_url:" not in text and "routing_key:" not in text


@pytest.mark.parametrize("stack", ["prod", "dev", "k8s-dev", "dev-cluster"])
def test_amtool_accepts_every_stacks_config(tmp_path: Path, catalog: Catalog, stack: str) -> None:
    config = stack_config(stack)
    path = tmp_path / "alertmanager.yml"
    text = alertmanager.render(
        effective_catalog(catalog, config), config.alerting, TOPIC, "us-east-1"
    )
    path.write_text(for_old_amtool(text))
    result = subprocess.run(
        [tool("amtool"), "check-config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_amtool_accepts_every_receiver_kind(tmp_path: Path, catalog: Catalog) -> None:
    alerting = AlertingConfig.model_validate(
        {
            "snsTopic": True,
            "receivers": [
                {"name": "page", "kind": "pagerduty", "severities": ["critical"]},
                {"name": "chat", "kind": "slack", "channel": "#ops"},
                {"name": "hook", "kind": "webhook", "severities": ["info"]},
            ],
        }
    )
    path = tmp_path / "alertmanager.yml"
    path.write_text(for_old_amtool(alertmanager.render(catalog, alerting, TOPIC, "us-east-1")))
    result = subprocess.run(
        [tool("amtool"), "check-config", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _post(url: str, payload: object) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(payload).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def _get(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.loads(response.read())


def test_a_database_outage_silences_its_dependents_in_a_real_alertmanager(
    tmp_path: Path, catalog: Catalog
) -> None:
    config = tmp_path / "alertmanager.yml"
    config.write_text(alertmanager.render(catalog, AlertingConfig(), None, "us-east-1"))
    port = _free_port()
    server = subprocess.Popen(
        [
            tool("prometheus-alertmanager"),
            f"--config.file={config}",
            f"--storage.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--cluster.listen-address=",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    base = f"http://127.0.0.1:{port}/api/v2"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                _get(f"{base}/status")
                break
            except OSError as exc:
                if time.monotonic() > deadline or server.poll() is not None:
                    detail = server.stderr.read() if server.stderr else "no start"
                    raise AssertionError(detail) from exc
                time.sleep(0.2)

        def alert(name: str, service: str, severity: str) -> dict[str, Any]:
            return {"labels": {"alertname": name, "service": service, "severity": severity,
                               "stack": "prod"}}  # fmt: skip

        _post(
            f"{base}/alerts",
            [
                alert("DependencyDown", "postgres", "critical"),
                alert("ErrorBudgetBurn", "backend", "critical"),  # backend needs postgres
                alert("ErrorBudgetBurn", "frontend", "critical"),  # ... and frontend the backend
                alert("ServiceDown", "grafana", "critical"),  # grafana does not need postgres
            ],
        )
        deadline = time.monotonic() + 15
        while True:
            states = {a["labels"]["service"]: a["status"]["state"] for a in _get(f"{base}/alerts")}
            if len(states) == 4 and states["backend"] == "suppressed":
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"inhibition did not apply: {states}")
            time.sleep(0.3)
        assert states == {
            "postgres": "active",
            "backend": "suppressed",
            "frontend": "suppressed",
            "grafana": "active",
        }
    finally:
        server.terminate()
        server.wait(timeout=10)


# --- configuration -----------------------------------------------------------------------


def _prod_bag(**overrides: object) -> dict[str, str]:
    data = yaml.safe_load((ROOT / "Pulumi.prod.yaml").read_text())["config"]
    data.update({f"sutazai:{k}": v for k, v in overrides.items()})
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}


@pytest.mark.parametrize(
    "alerting",
    [
        {},
        {"receivers": [{"name": "team", "kind": "slack", "severities": ["warning", "info"]}]},
        {"snsTopic": True, "snsSeverities": ["warning"]},
    ],
)
def test_prod_without_anyone_paged_for_critical_alerts_is_refused(alerting: object) -> None:
    with pytest.raises(ConfigError, match="sutazai:alerting: prod must tell a person"):
        parse_config_bag(_prod_bag(alerting=alerting))


def test_prod_with_monitoring_disabled_needs_no_receiver() -> None:
    config = parse_config_bag(_prod_bag(alerting={}, disabledTiers=["monitoring"]))
    assert config.alerting.destinations("critical") == []


@pytest.mark.parametrize(
    ("alerting", "message"),
    [
        ({"receivers": [{"name": "a", "kind": "email"}]}, r"receivers\[0\]\.kind"),
        ({"receivers": [{"name": "Bad_Name", "kind": "slack"}]}, r"receivers\[0\]\.name"),
        ({"receivers": [{"name": "a", "kind": "slack", "severities": []}]}, "severities"),
        ({"receivers": [{"name": "a", "kind": "slack", "severities": ["page"]}]}, "severities"),
        ({"receivers": [{"name": "a", "kind": "pagerduty", "channel": "#x"}]}, "only a slack"),
        (
            {"receivers": [{"name": "a", "kind": "slack"}, {"name": "a", "kind": "webhook"}]},
            "must be unique",
        ),
        (
            {"receivers": [{"name": "a", "kind": "slack", "apiUrl": "https://x"}]},
            "apiUrl: unknown key",
        ),
        ({"snsTopic": "yes please"}, "snsTopic"),
    ],
)
def test_bad_alerting_config_names_the_key(alerting: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_config_bag(_prod_bag(alerting=alerting))


def test_prod_alertmanager_stays_highly_available() -> None:
    with pytest.raises(ConfigError, match=r"services\.alertmanager\.replicas: prod runs"):
        parse_config_bag(_prod_bag(services={"alertmanager": {"replicas": 1}}))


def test_sns_needs_an_own_eks_cluster() -> None:
    bag = {
        "sutazai:environment": "dev",
        "sutazai:platform": "docker",
        "sutazai:edge": json.dumps({"authentication": "off"}),  # valid on docker
        "sutazai:alerting": json.dumps({"snsTopic": True}),
    }
    with pytest.raises(ConfigError, match=r"alerting\.snsTopic"):
        parse_config_bag(bag)


def test_a_cluster_needs_its_own_port_and_the_services_args(catalog: Catalog) -> None:
    base = catalog["alertmanager"].model_dump()
    spec_type = type(catalog["alertmanager"])
    cluster = base["cluster"]
    for update, message in [
        ({"cluster": {**cluster, "port": "gossip"}}, "not one of"),
        ({"cluster": {**cluster, "port": "http"}}, "clients use the first port"),
        ({"args": None}, "own `args`"),
        ({"cluster": {**cluster, "peer_arg": "--x; rm -rf /"}}, "peer_arg"),
    ]:
        with pytest.raises(ValueError, match=message):
            spec_type.model_validate({**base, **update})


def test_clustering_is_off_without_peers_to_name() -> None:
    from components.launch import command_and_args

    spec = load_catalog()["alertmanager"]
    alone = spec.model_copy(update={"replicas": 1})
    for one, every in [(alone, "am-pods.svc"), (spec, None)]:
        _, args = command_and_args(one, env_file=None, provisioning_file=None, every_replica=every)
        assert args is not None and args[-1] == "--cluster.listen-address="
        assert not any(a.startswith("--cluster.peer") for a in args)
    _, args = command_and_args(
        spec, env_file=None, provisioning_file=None, every_replica="am-pods.svc"
    )
    assert args is not None and args[-2:] == [
        "--cluster.listen-address=0.0.0.0:9094",
        "--cluster.peer=am-pods.svc:9094",
    ]
