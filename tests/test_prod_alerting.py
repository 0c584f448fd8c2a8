"""prod's alerts reach a person: the SNS topic and its key, CloudWatch alarms on every managed
service and NAT gateway, Alertmanager's receivers and its IRSA role, on the real prod plan."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from components.configs.alertmanager import receiver_secret_file
from components.kubernetes import load_balancer_name
from stacks.config import StackConfig
from tests.kubernetes import plan_views


@pytest.fixture(scope="module")
def config() -> StackConfig:
    return plan_views.stack_model("prod")[0]


@pytest.fixture(scope="module")
def resources(prod_plan_json: dict[str, Any]) -> list[dict[str, Any]]:
    return prod_plan_json["resources"]


def of_type(resources: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["type"] == type_]


def test_the_topic_is_encrypted_with_a_key_cloudwatch_may_use(
    resources: list[dict[str, Any]],
) -> None:
    (topic,) = of_type(resources, "aws:sns/topic:Topic")
    key_arn = topic["inputs"]["kmsMasterKeyId"]
    assert key_arn and "alias/aws/sns" not in key_arn
    keys = [k for k in of_type(resources, "aws:kms/key:Key") if "alerts" in k["name"]]
    (key,) = keys
    assert key["inputs"]["enableKeyRotation"] is True
    statements = json.loads(key["inputs"]["policy"])["Statement"]
    assert any(s["Principal"] == {"Service": "cloudwatch.amazonaws.com"} for s in statements)
    (policy,) = of_type(resources, "aws:sns/topicPolicy:TopicPolicy")
    document = json.loads(policy["inputs"]["policy"])
    allow = [s for s in document["Statement"] if s["Effect"] == "Allow"]
    assert [s["Principal"] for s in allow] == [{"Service": "cloudwatch.amazonaws.com"}]
    assert "aws:SourceAccount" in allow[0]["Condition"]["StringEquals"]


def test_cloudwatch_alarms_cover_rds_elasticache_nat_and_the_alb(
    resources: list[dict[str, Any]], prod_plan_json: dict[str, Any]
) -> None:
    (topic,) = of_type(resources, "aws:sns/topic:Topic")
    alarms = of_type(resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
    metrics = {(a["inputs"].get("namespace"), a["inputs"].get("metricName")) for a in alarms}
    assert {
        ("AWS/RDS", "CPUUtilization"),
        ("AWS/RDS", "FreeStorageSpace"),
        ("AWS/RDS", "DatabaseConnections"),
        ("AWS/ElastiCache", "DatabaseMemoryUsagePercentage"),
        ("AWS/ElastiCache", "Evictions"),
        ("AWS/ElastiCache", "ReplicationLag"),
        ("AWS/NATGateway", "ErrorPortAllocation"),
        ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"),
    } <= metrics
    nat = [a for a in alarms if a["inputs"].get("namespace") == "AWS/NATGateway"]
    assert len(nat) == len(of_type(resources, "aws:ec2/natGateway:NatGateway"))
    unhealthy = [a for a in alarms if a["inputs"].get("metricQueries")]
    (query,) = unhealthy[0]["inputs"]["metricQueries"]
    assert "UnHealthyHostCount" in query["expression"]
    # The query names the ALB the Ingress group asks the controller for.
    (ingress, *_) = [m for m in plan_views.manifests(prod_plan_json) if m["kind"] == "Ingress"]
    name = ingress["metadata"]["annotations"]["alb.ingress.kubernetes.io/load-balancer-name"]
    assert name == load_balancer_name(ingress["metadata"]["annotations"][
        "alb.ingress.kubernetes.io/group.name"
    ])  # fmt: skip
    assert f"'app/{name}/" in query["expression"]
    # Every alarm notifies the one topic (the mock ARN ends with its resource name).
    for alarm in alarms:
        for actions in ("alarmActions", "okActions"):
            (arn,) = alarm["inputs"][actions]
            assert arn.endswith(f":{topic['name']}"), alarm["name"]


def test_ingress_names_the_load_balancer_the_alarms_look_up(
    prod_plan_json: dict[str, Any],
) -> None:
    ingresses = [m for m in plan_views.manifests(prod_plan_json) if m["kind"] == "Ingress"]
    assert ingresses
    names = {
        m["metadata"]["annotations"]["alb.ingress.kubernetes.io/load-balancer-name"]
        for m in ingresses
    }
    assert len(names) == 1 and len(names.pop()) <= 32


def test_alertmanager_publishes_with_its_own_role_and_reads_receivers_from_vault(
    prod_plan_json: dict[str, Any], resources: list[dict[str, Any]], config: StackConfig
) -> None:
    items = plan_views.manifests(prod_plan_json)
    (account,) = [
        m
        for m in items
        if m["kind"] == "ServiceAccount" and m["metadata"]["name"] == "alertmanager"
    ]
    assert "eks.amazonaws.com/role-arn" in account["metadata"]["annotations"]
    (role_policy,) = [
        r
        for r in of_type(resources, "aws:iam/rolePolicy:RolePolicy")
        if "alert-publisher" in r["name"]
    ]
    actions = [s["Action"] for s in json.loads(role_policy["inputs"]["policy"])["Statement"]]
    assert actions == ["sns:Publish", ["kms:GenerateDataKey*", "kms:Decrypt"]]
    (config_map,) = [
        m for m in items if m["kind"] == "ConfigMap" and "alertmanager" in m["metadata"]["name"]
    ]
    (text,) = [v for v in config_map["data"].values() if "receivers" in v]
    document = yaml.safe_load(text)
    critical = next(r for r in document["receivers"] if r["name"] == "critical")
    assert critical["sns_configs"][0]["topic_arn"].endswith(":sutazai-prod-alerting-alerts")
    (workload,) = [
        m
        for m in items
        if m["kind"] in ("StatefulSet", "Deployment") and m["metadata"]["name"] == "alertmanager"
    ]
    annotations = workload["spec"]["template"]["metadata"]["annotations"]
    for receiver in config.alerting.receivers:
        file = receiver_secret_file(receiver).rsplit("/", 1)[-1]
        paths = [v for k, v in annotations.items() if k.endswith(f"agent-inject-secret-{file}")]
        assert paths == [f"sutazai-prod/data/alertmanager/receiver-{receiver.name}"]


def test_alertmanager_runs_highly_available(prod_plan_json: dict[str, Any]) -> None:
    items = plan_views.manifests(prod_plan_json)
    (workload,) = [
        m for m in items if m["kind"] == "StatefulSet" and m["metadata"]["name"] == "alertmanager"
    ]
    assert workload["spec"]["replicas"] >= 2
    (container,) = [c for c in workload["spec"]["template"]["spec"]["containers"]
                    if c["name"] == "alertmanager"]  # fmt: skip
    args = container["args"]
    assert "--cluster.listen-address=0.0.0.0:9094" in args
    assert "--cluster.peer=alertmanager-pods.sutazai-monitoring.svc.cluster.local:9094" in args
    (prometheus,) = [
        m
        for m in items
        if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "prometheus-config"
    ]
    (config_text,) = [v for v in prometheus["data"].values() if "alertmanagers" in v]
    (alerting,) = yaml.safe_load(config_text)["alerting"]["alertmanagers"]
    # Every replica gets every alert: DNS of the headless Service, not the balanced one.
    assert alerting["dns_sd_configs"][0]["names"] == [
        "alertmanager-pods.sutazai-monitoring.svc.cluster.local"
    ]
    assert any(
        m["kind"] == "PodDisruptionBudget" and m["metadata"]["name"] == "alertmanager"
        for m in items
    )


def test_the_cost_estimate_prices_the_alarms(
    prod_plan_json: dict[str, Any], resources: list[dict[str, Any]]
) -> None:
    from stacks import cost

    prices = cost.load_prices()
    estimate = cost.estimate(prod_plan_json, prices)
    alarms = of_type(resources, "aws:cloudwatch/metricAlarm:MetricAlarm")
    item = estimate.by_item()["CloudWatch alarms"]
    assert item.monthly == pytest.approx(len(alarms) * prices.cloudwatch_alarm_month)
