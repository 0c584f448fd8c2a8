"""Alerts that reach a person in AWS: an SNS topic, and CloudWatch alarms on what Prometheus
cannot see (the managed services and the network).

- `AlertTopic`: a KMS-encrypted SNS topic (its own customer key, which CloudWatch may use:
  the AWS-managed `aws/sns` key cannot be used by CloudWatch alarms), a topic policy that lets
  only this account's CloudWatch alarms publish, and the IRSA role Alertmanager publishes with
  (its `sns_configs` sign with `sigv4`; no keys anywhere).
- `ManagedAlarms`: RDS (CPU, free storage, connections), ElastiCache (memory, evictions,
  replication lag, per member node), NAT gateways (port allocation errors) and the ingress
  ALB (load balancer 5xx, unhealthy targets). All notify the topic, on alarm and on recovery.

The ALB is created by the AWS Load Balancer Controller from the Ingress, so the program has no
resource for it. Its name is fixed by the Ingress (`load-balancer-name`, one per stack's
ingress group), and the program looks it up by that name once the Ingress exists (the
Kubernetes provider waits for the Ingress to get its load balancer address); the alarms use
its `arn_suffix` (`app/<name>/<id>`), the `LoadBalancer` dimension of AWS/ApplicationELB.
Target health spans the controller's target groups, which have no name we choose: a Metrics
Insights query over the load balancer's dimension covers every one of them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.network import customer_key

# RDS PostgreSQL's max_connections default: LEAST(DBInstanceClassMemory / 9531392, 5000).
# db.r6g.large has 16 GiB, of which RDS counts ~15.2 GiB as instance memory (~1700).
RDS_MAX_CONNECTIONS = {"db.r6g.large": 1700}
FIVE_MINUTES = 300


@dataclass(frozen=True)
class AlarmSpec:
    """One CloudWatch alarm: a metric, how it is aggregated, and when it breaches."""

    suffix: str
    namespace: str
    metric: str
    statistic: str
    comparison: str
    threshold: float
    description: str
    periods: int = 3
    period: int = FIVE_MINUTES


def _key_policy(account: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "AccountAdministers",
                    "Effect": "Allow",
                    "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                    "Action": "kms:*",
                    "Resource": "*",
                },
                {
                    "Sid": "CloudWatchAlarmsEncrypt",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {"StringEquals": {"aws:SourceAccount": account}},
                },
            ],
        }
    )


def _topic_policy(topic_arn: str) -> str:
    account = topic_arn.split(":")[4]
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "CloudWatchAlarmsOfThisAccount",
                    "Effect": "Allow",
                    "Principal": {"Service": "cloudwatch.amazonaws.com"},
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": account},
                        "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:*:{account}:alarm:*"},
                    },
                },
                {
                    "Sid": "TlsOnly",
                    "Effect": "Deny",
                    "Principal": "*",
                    "Action": "sns:Publish",
                    "Resource": topic_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                },
            ],
        }
    )


def publisher_policy(topic_arn: str, key_arn: str) -> str:
    """What Alertmanager's role may do: publish to this topic, with its key."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "sns:Publish", "Resource": topic_arn},
                {
                    "Effect": "Allow",
                    "Action": ["kms:GenerateDataKey*", "kms:Decrypt"],
                    "Resource": key_arn,
                },
            ],
        }
    )


class AlertTopic(pulumi.ComponentResource):
    """The stack's alert topic, its key and policy (see the module docstring)."""

    def __init__(
        self,
        name: str,
        *,
        provider: aws.Provider | None,
        protect: bool,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("sutazai:monitoring:AlertTopic", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        account = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(provider=provider)
        ).account_id
        self.key = customer_key(
            f"{name}-alerts",
            "SutazAI alerts: the SNS topic CloudWatch alarms and Alertmanager publish to",
            parent=self,
            provider=provider,
            protect=protect,
            policy=account.apply(_key_policy),
        )
        self.topic = aws.sns.Topic(f"{name}-alerts", kms_master_key_id=self.key.arn, opts=child)
        aws.sns.TopicPolicy(
            f"{name}-alerts",
            arn=self.topic.arn,
            policy=self.topic.arn.apply(_topic_policy),
            opts=child,
        )
        self.publisher_policy = pulumi.Output.all(self.topic.arn, self.key.arn).apply(
            lambda v: publisher_policy(v[0], v[1])
        )
        self.register_outputs({"topicArn": self.topic.arn})


def rds_alarms(instance_class: str, allocated_gib: int) -> list[AlarmSpec]:
    max_connections = RDS_MAX_CONNECTIONS.get(instance_class)
    if max_connections is None:
        raise ValueError(
            f"{instance_class}: no known max_connections for the connections alarm; add it to "
            "components/alarms.py RDS_MAX_CONNECTIONS"
        )
    return [
        AlarmSpec("cpu", "AWS/RDS", "CPUUtilization", "Average", "GreaterThanThreshold", 80,
                  "RDS CPU above 80% for 15 minutes"),
        AlarmSpec("free-storage", "AWS/RDS", "FreeStorageSpace", "Minimum", "LessThanThreshold",
                  allocated_gib * 0.1 * 1024**3,
                  "RDS free storage below 10% of the allocated size (autoscaling is behind)"),
        AlarmSpec("connections", "AWS/RDS", "DatabaseConnections", "Maximum",
                  "GreaterThanThreshold", int(max_connections * 0.8),
                  f"RDS connections above 80% of max_connections ({max_connections})"),
    ]  # fmt: skip


def elasticache_alarms() -> list[AlarmSpec]:
    return [
        AlarmSpec("memory", "AWS/ElastiCache", "DatabaseMemoryUsagePercentage", "Average",
                  "GreaterThanThreshold", 85, "Redis memory above 85% of maxmemory"),
        AlarmSpec("evictions", "AWS/ElastiCache", "Evictions", "Sum", "GreaterThanThreshold",
                  1000, "Redis evicts keys (over 1000 per 5 minutes): the cache is too small"),
        # Reported by replicas only; roles move on failover, so every member has one and a
        # primary's missing data is not a breach.
        AlarmSpec("replication-lag", "AWS/ElastiCache", "ReplicationLag", "Maximum",
                  "GreaterThanThreshold", 30, "Redis replica more than 30 s behind its primary"),
    ]  # fmt: skip


NAT_ALARM = AlarmSpec(
    "port-allocation",
    "AWS/NATGateway",
    "ErrorPortAllocation",
    "Sum",
    "GreaterThanThreshold",
    0,
    "NAT gateway could not allocate a source port (connections to one destination exhausted)",
    periods=1,
)
ALB_5XX = AlarmSpec(
    "elb-5xx",
    "AWS/ApplicationELB",
    "HTTPCode_ELB_5XX_Count",
    "Sum",
    "GreaterThanThreshold",
    50,
    "The load balancer itself answered over 50 5xx in 5 minutes (no healthy target, timeouts)",
    periods=2,
)


class ManagedAlarms(pulumi.ComponentResource):
    """CloudWatch alarms to the alert topic (see the module docstring)."""

    def __init__(
        self,
        name: str,
        *,
        topic_arn: pulumi.Input[str],
        provider: aws.Provider | None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("sutazai:monitoring:ManagedAlarms", name, None, opts)
        self._name = name
        self._topic_arn = topic_arn
        self._provider = provider
        self.alarms: list[aws.cloudwatch.MetricAlarm] = []
        self.register_outputs({})

    def _alarm(
        self,
        name: str,
        spec: AlarmSpec,
        dimensions: dict[str, pulumi.Input[str]],
        *,
        missing: str = "missing",
    ) -> aws.cloudwatch.MetricAlarm:
        alarm = aws.cloudwatch.MetricAlarm(
            f"{self._name}-{name}-{spec.suffix}",
            alarm_description=spec.description,
            namespace=spec.namespace,
            metric_name=spec.metric,
            statistic=spec.statistic,
            comparison_operator=spec.comparison,
            threshold=spec.threshold,
            period=spec.period,
            evaluation_periods=spec.periods,
            datapoints_to_alarm=spec.periods,
            dimensions=dimensions,
            treat_missing_data=missing,
            alarm_actions=[self._topic_arn],
            ok_actions=[self._topic_arn],
            opts=pulumi.ResourceOptions(parent=self, provider=self._provider),
        )
        self.alarms.append(alarm)
        return alarm

    def rds(self, name: str, identifier: pulumi.Input[str], instance_class: str, gib: int) -> None:
        for spec in rds_alarms(instance_class, gib):
            self._alarm(name, spec, {"DBInstanceIdentifier": identifier})

    def elasticache(self, name: str, member_ids: Sequence[pulumi.Input[str]]) -> None:
        for index, member in enumerate(member_ids, start=1):
            for spec in elasticache_alarms():
                missing = "notBreaching" if spec.suffix == "replication-lag" else "missing"
                self._alarm(
                    f"{name}-{index:03d}", spec, {"CacheClusterId": member}, missing=missing
                )

    def nat_gateways(self, gateway_ids: Sequence[pulumi.Input[str]]) -> None:
        for index, gateway in enumerate(gateway_ids):
            # No traffic, no datapoint: that is healthy.
            self._alarm(
                f"nat-{index}", NAT_ALARM, {"NatGatewayId": gateway}, missing="notBreaching"
            )

    def load_balancer(self, load_balancer_name: str, ingresses: Sequence[pulumi.Resource]) -> None:
        """Alarms on the ingress ALB, found by its name once the Ingresses exist."""
        found = aws.lb.get_load_balancer_output(
            name=load_balancer_name,
            opts=pulumi.InvokeOutputOptions(provider=self._provider, depends_on=list(ingresses)),
        )
        self._alarm("alb", ALB_5XX, {"LoadBalancer": found.arn_suffix}, missing="notBreaching")
        query = found.arn_suffix.apply(
            lambda suffix: (
                "SELECT MAX(UnHealthyHostCount) FROM "
                'SCHEMA("AWS/ApplicationELB", LoadBalancer, TargetGroup) '
                f"WHERE LoadBalancer = '{suffix}'"
            )
        )
        alarm = aws.cloudwatch.MetricAlarm(
            f"{self._name}-alb-unhealthy-targets",
            alarm_description="A target of the ingress load balancer fails its health check",
            comparison_operator="GreaterThanThreshold",
            threshold=0,
            evaluation_periods=3,
            datapoints_to_alarm=3,
            treat_missing_data="notBreaching",
            metric_queries=[
                aws.cloudwatch.MetricAlarmMetricQueryArgs(
                    id="unhealthy", expression=query, period=60, return_data=True
                )
            ],
            alarm_actions=[self._topic_arn],
            ok_actions=[self._topic_arn],
            opts=pulumi.ResourceOptions(parent=self, provider=self._provider),
        )
        self.alarms.append(alarm)
