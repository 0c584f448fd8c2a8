"""Alertmanager's configuration: receivers per stack, routing by severity, inhibition from
the graph.

- One receiver per severity (`critical`, `warning`, `info`), holding every integration the
  stack's `sutazai:alerting` sends that severity to: the SNS topic (prod; signed with the
  pod's IRSA role through `sigv4`), Slack, PagerDuty, webhooks. Their secrets are files the
  Vault Agent renders (`api_url_file`, `routing_key_file`, `url_file`): never in the config.
  An alert without a known severity goes to the `warning` receiver rather than nowhere.
- Inhibition: an outage of a service (`ServiceDown`, `DependencyDown`) silences the alerts
  of everything that depends on it, transitively (components/configs/rules.py), but never of
  a service it depends on itself; a critical alert silences the warnings of the same alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import yaml

from components.configs import rules
from components.platform import secret_file
from stacks.catalog import Catalog
from stacks.config import SEVERITIES, AlertingConfig, AlertReceiverConfig

# Alerts that say a service is gone (and so explain its dependents' alerts).
OUTAGE_ALERTS = ("ServiceDown", "DependencyDown")
# The route of an alert whose severity is none of SEVERITIES.
FALLBACK_SEVERITY = "warning"
SUBJECT = "[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }} {{ .CommonLabels.service }}"
TEXT = (
    "{{ range .Alerts }}{{ .Annotations.summary }}"
    "{{ if .Annotations.affected_clients }} (affects: {{ .Annotations.affected_clients }})"
    "{{ end }}\n{{ end }}"
)


@dataclass(frozen=True)
class AlertDelivery:
    """What Alertmanager needs from the stack to reach people."""

    alerting: AlertingConfig = field(default_factory=AlertingConfig)
    # The topic the program created (prod), and its region, when alerting.snsTopic.
    sns_topic_arn: pulumi.Input[str] | None = None
    region: str = ""


def receiver_secret_name(receiver: AlertReceiverConfig) -> str:
    """The receiver's secret under alertmanager's Vault path (written by an operator)."""
    return f"receiver-{receiver.name}"


def receiver_secret_file(receiver: AlertReceiverConfig) -> str:
    return secret_file("alertmanager", receiver_secret_name(receiver))


def _integration(receiver: AlertReceiverConfig) -> tuple[str, dict[str, object]]:
    path = receiver_secret_file(receiver)
    if receiver.kind == "slack":
        slack: dict[str, object] = {
            "api_url_file": path,
            "send_resolved": True,
            "title": SUBJECT,
            "text": TEXT,
        }
        if receiver.channel:
            slack["channel"] = receiver.channel
        return "slack_configs", slack
    if receiver.kind == "pagerduty":
        return "pagerduty_configs", {
            "routing_key_file": path,
            "send_resolved": True,
            "severity": "{{ .CommonLabels.severity }}",
            "description": SUBJECT,
        }
    return "webhook_configs", {"url_file": path, "send_resolved": True}


def _receivers(alerting: AlertingConfig, topic_arn: str | None, region: str) -> list[object]:
    receivers: list[object] = []
    for severity in SEVERITIES:
        entry: dict[str, object] = {"name": severity}
        if alerting.sns_topic and severity in alerting.sns_severities:
            if topic_arn is None:
                raise ValueError("alerting.snsTopic is set, but no SNS topic was created")
            entry["sns_configs"] = [
                {
                    "topic_arn": topic_arn,
                    "sigv4": {"region": region},
                    "subject": SUBJECT,
                    "message": TEXT,
                    "send_resolved": True,
                }
            ]
        for receiver in alerting.receivers:
            if severity in receiver.severities:
                key, integration = _integration(receiver)
                entry.setdefault(key, []).append(integration)  # type: ignore[union-attr]
        receivers.append(entry)
    return receivers


def _alternatives(names: list[str]) -> str:
    return "|".join(names)


def inhibit_rules(catalog: Catalog) -> list[dict[str, object]]:
    """An outage silences its dependents; a critical alert its own warnings."""
    alerted = {s.name for s in catalog.scrape_targets} | {
        s.name for s in rules.checked_dependencies(catalog)
    }
    result: list[dict[str, object]] = []
    for name in sorted(alerted):
        silenced = rules.silenced_by(catalog, name)
        if not silenced:
            continue
        result.append(
            {
                "source_matchers": [
                    f'alertname=~"{_alternatives(list(OUTAGE_ALERTS))}"',
                    f'service="{name}"',
                ],
                "target_matchers": [f'service=~"{_alternatives(silenced)}"'],
                "equal": ["stack"],
            }
        )
    result.append(
        {
            "source_matchers": ['severity="critical"'],
            "target_matchers": ['severity=~"warning|info"'],
            "equal": ["alertname", "service", "stack"],
        }
    )
    return result


def render(catalog: Catalog, alerting: AlertingConfig, topic_arn: str | None, region: str) -> str:
    document = {
        "route": {
            "receiver": FALLBACK_SEVERITY,
            "group_by": ["alertname", "service", "stack"],
            "group_wait": "30s",
            "group_interval": "5m",
            "repeat_interval": "4h",
            "routes": [
                {
                    "receiver": severity,
                    "matchers": [f'severity="{severity}"'],
                    "repeat_interval": {"critical": "1h", "warning": "4h", "info": "24h"}[severity],
                }
                for severity in SEVERITIES
            ],
        },
        "receivers": _receivers(alerting, topic_arn, region),
        "inhibit_rules": inhibit_rules(catalog),
    }
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False, width=120)


def alertmanager_config(catalog: Catalog, delivery: AlertDelivery) -> pulumi.Input[str]:
    """The config text; an Output when it names the SNS topic the program creates."""
    if not delivery.alerting.sns_topic:
        return render(catalog, delivery.alerting, None, delivery.region)
    if delivery.sns_topic_arn is None:
        raise ValueError("alerting.snsTopic is set, but no SNS topic was created")
    return pulumi.Output.from_input(delivery.sns_topic_arn).apply(
        lambda arn: render(catalog, delivery.alerting, arn, delivery.region)
    )
