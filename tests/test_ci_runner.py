"""The in-VPC CI runner (components/ci_runner.py) as the prod plan registers it."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.ci_runner import runner_project_name, webhook_workflow_pattern
from stacks.config import StackConfig, parse_config_bag
from stacks.errors import ConfigError
from stacks.plan import stack_config_bag

PROJECT_DIR = Path(__file__).resolve().parent.parent
RUNNER = "sutazai-prod-ci-runner"


def by_name(plan: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in plan["resources"] if r["type"] == type_}


def test_the_project_runs_in_the_management_subnets_without_privilege(
    prod_plan_json: dict[str, Any],
) -> None:
    project = by_name(prod_plan_json, "aws:codebuild/project:Project")[RUNNER]["inputs"]
    subnets = by_name(prod_plan_json, "aws:ec2/subnet:Subnet")
    management = sorted(
        f"{n}-id"
        for n, s in subnets.items()
        if s["inputs"]["tags"]["sutazai:segment"] == "management"
    )
    assert len(management) == 3
    assert sorted(project["vpcConfig"]["subnets"]) == management
    assert project["vpcConfig"]["securityGroupIds"] == [f"{RUNNER}-id"]
    assert project["name"] == runner_project_name("prod")
    assert project["environment"]["privilegedMode"] is False
    assert project["artifacts"] == {"type": "NO_ARTIFACTS"}
    assert project["logsConfig"]["s3Logs"] == {"status": "DISABLED"}
    logs_key = "arn:aws:mock:us-east-1:123456789012:sutazai-prod-network-logs"
    assert project["encryptionKey"] == logs_key
    group = by_name(prod_plan_json, "aws:cloudwatch/logGroup:LogGroup")[RUNNER]
    assert group["inputs"]["kmsKeyId"] == logs_key and group["inputs"]["retentionInDays"] >= 365
    assert group["protect"] is True  # the record of every prod deploy
    # The public-IP switch does not exist for CodeBuild: the subnets decide. Management
    # subnets never map public IPs.
    for name in management:
        assert not subnets[name.removesuffix("-id")]["inputs"].get("mapPublicIpOnLaunch")


def test_the_runner_accepts_nothing_and_reaches_only_the_api_vault_and_https(
    prod_plan_json: dict[str, Any],
) -> None:
    runner_group = f"{RUNNER}-id"
    ingress = by_name(prod_plan_json, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    legacy = by_name(prod_plan_json, "aws:ec2/securityGroupRule:SecurityGroupRule")
    assert not [n for n, r in ingress.items() if r["inputs"]["securityGroupId"] == runner_group]
    assert not [n for n, r in legacy.items() if r["inputs"]["securityGroupId"] == runner_group]
    group = by_name(prod_plan_json, "aws:ec2/securityGroup:SecurityGroup")[RUNNER]["inputs"]
    assert "ingress" not in group and "egress" not in group
    egress = by_name(prod_plan_json, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    mine = sorted(
        (
            r["inputs"].get("cidrIpv4") or r["inputs"]["referencedSecurityGroupId"],
            r["inputs"]["fromPort"],
            r["inputs"]["toPort"],
            r["inputs"]["ipProtocol"],
        )
        for r in egress.values()
        if r["inputs"]["securityGroupId"] == runner_group
    )
    assert mine == [
        ("0.0.0.0/0", 443.0, 443.0, "tcp"),
        ("10.30.8.0/24", 8200.0, 8200.0, "tcp"),
        ("sutazai-prod-network-management-id", 443.0, 443.0, "tcp"),
    ]
    # ...and the API lets it in on 443.
    api = [
        r["inputs"]
        for r in ingress.values()
        if r["inputs"].get("referencedSecurityGroupId") == runner_group
    ]
    assert api == [
        {
            "description": "Kubernetes API from the CI runner",
            "fromPort": 443.0,
            "toPort": 443.0,
            "ipProtocol": "tcp",
            "referencedSecurityGroupId": runner_group,
            "securityGroupId": "sutazai-prod-network-management-id",
        }
    ]


def test_the_service_role_can_log_attach_to_the_vpc_and_use_the_connection_only(
    prod_plan_json: dict[str, Any],
) -> None:
    role = by_name(prod_plan_json, "aws:iam/role:Role")[RUNNER]["inputs"]
    (trust,) = json.loads(role["assumeRolePolicy"])["Statement"]
    assert trust["Principal"] == {"Service": "codebuild.amazonaws.com"}
    assert trust["Condition"]["ArnEquals"] == {
        "aws:SourceArn": "arn:aws:codebuild:us-east-1:123456789012:project/sutazai-prod-runner"
    }
    policy = json.loads(
        by_name(prod_plan_json, "aws:iam/rolePolicy:RolePolicy")[RUNNER]["inputs"]["policy"]
    )
    actions = {
        a
        for s in policy["Statement"]
        for a in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    }
    services = {a.split(":")[0] for a in actions}
    assert services == {"logs", "ec2", "codeconnections", "codestar-connections"}
    assert not any("*" in a for a in actions)
    assert all(
        a.startswith(("ec2:Describe", "ec2:CreateNetworkInterface", "ec2:DeleteNetworkInterface"))
        for a in actions
        if a.startswith("ec2:")
    )
    scoped = {s["Sid"]: s for s in policy["Statement"]}
    assert scoped["VpcInterfacesInTheseSubnets"]["Condition"]["ArnEquals"]["ec2:Subnet"] == [
        f"arn:aws:ec2:us-east-1:123456789012:subnet/sutazai-prod-network-management-{i}-id"
        for i in range(3)
    ]


# ── the workflows and the runners agree ─────────────────────────────────────────────────


def workflows_by_runner() -> dict[str, set[str]]:
    """{CodeBuild project: names of the workflows with a job on it}."""
    found: dict[str, set[str]] = {}
    for path in sorted((PROJECT_DIR / ".github" / "workflows").glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        for job in doc["jobs"].values():
            match = re.match(r"^codebuild-(.+)-\$\{\{ github\.run_id \}\}", job["runs-on"])
            if match:
                found.setdefault(match.group(1), set()).add(doc["name"])
    return found


@pytest.mark.parametrize("stack", ["prod", "dev-cluster"])
def test_each_runner_starts_jobs_of_exactly_the_workflows_that_ask_for_it(stack: str) -> None:
    config = parse_config_bag(stack_config_bag(stack)[0])
    assert config.ci_runner.enabled
    wanted = workflows_by_runner()[runner_project_name(stack)]
    assert set(config.ci_runner.workflows) == wanted
    pattern = webhook_workflow_pattern(config.ci_runner.workflows)
    for name in wanted:
        assert re.fullmatch(pattern, name)
    for other in ["ci", "deploy-x", "x-deploy", "preview\nci", ""]:
        if other not in wanted:
            assert not re.fullmatch(pattern, other)


def test_the_webhook_starts_builds_for_queued_jobs_of_those_workflows(
    prod_plan_json: dict[str, Any],
) -> None:
    webhook = by_name(prod_plan_json, "aws:codebuild/webhook:Webhook")[RUNNER]["inputs"]
    (group,) = webhook["filterGroups"]
    assert {f["type"]: f["pattern"] for f in group["filters"]} == {
        "EVENT": "WORKFLOW_JOB_QUEUED",
        "WORKFLOW_NAME": "^(deploy|drift|preview)$",
    }
    assert webhook["pullRequestBuildPolicy"]["requiresCommentApproval"] == "FORK_PULL_REQUESTS"


# ── configuration ───────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("runner", "extra", "message"),
    [
        ({"enabled": True}, {}, "sutazai:ciRunner.repository: an enabled runner needs"),
        (
            {"enabled": True, "repository": "a/b", "workflows": ["deploy"]},
            {},
            "sutazai:ciRunner.connectionArn",
        ),
        ({"repository": "not a repo"}, {}, "sutazai:ciRunner.repository"),
        ({"connectionArn": "arn:aws:s3:::bucket"}, {}, "sutazai:ciRunner.connectionArn"),
        ({"workflows": ["deploy;rm"]}, {}, "sutazai:ciRunner.workflows"),
        ({"computeType": "BUILD_GENERAL1_2XLARGE"}, {}, "sutazai:ciRunner.computeType"),
    ],
)
def test_bad_runner_settings_name_the_key(
    runner: dict[str, Any], extra: dict[str, Any], message: str
) -> None:
    bag = {"sutazai:ciRunner": json.dumps(runner)}
    bag |= {f"sutazai:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in extra.items()}
    with pytest.raises(ConfigError) as raised:
        parse_config_bag(bag)
    assert any(p.startswith(message) for p in raised.value.problems), raised.value.problems


@pytest.mark.parametrize(
    "extra",
    [
        # (without the edge's Cognito sign-in, which docker refuses first)
        {"platform": "docker", "edge": json.dumps({"authentication": "off"})},
        {"sharedClusterStack": "acme/sutazai/dev-cluster"},
        {"ephemeralOwner": "bob", "ephemeralExpiresAt": "2030-01-01T00:00:00Z"},
    ],
)
def test_a_runner_needs_a_stack_with_its_own_eks_network(extra: dict[str, str]) -> None:
    runner = {
        "enabled": True,
        "repository": "a/b",
        "workflows": ["deploy"],
        "connectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/"
        "0f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b",
    }
    bag = {"sutazai:environment": "dev", "sutazai:ciRunner": json.dumps(runner)} | {
        f"sutazai:{k}": v for k, v in extra.items()
    }
    with pytest.raises(ConfigError) as raised:
        parse_config_bag(bag)
    assert raised.value.problems[0].startswith("sutazai:ciRunner.enabled: a runner lives in")
    assert StackConfig.model_validate({"environment": "dev", "ciRunner": runner}).ci_runner.enabled
