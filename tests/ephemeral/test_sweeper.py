"""The AWS orphan sweeper against moto: it reports and deletes only expired ephemeral leftovers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from moto import mock_aws

from stacks import sweeper
from stacks.sweeper import (
    TAG_ENVIRONMENT,
    TAG_EXPIRES,
    TAG_OWNER,
    TAG_STACK,
    Candidate,
    Deleter,
    parse_arn,
    session_clients,
    sweep,
    sweep_verdict,
)

REGION = "us-east-1"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PAST = "2026-11-26T06:00:00Z"  # 6h ago
RECENT = "2026-11-26T11:30:00Z"  # 30m ago: inside a 2h grace period
FUTURE = "2026-11-27T06:00:00Z"


def ephemeral_tags(owner: str, expires: str, **extra: str) -> dict[str, str]:
    tags = {
        TAG_OWNER: owner,
        TAG_EXPIRES: expires,
        TAG_ENVIRONMENT: "dev",
        TAG_STACK: f"dev-{owner}",
        "sutazai:project": "sutazai",
        "managed-by": "pulumi",
    }
    tags.update(extra)
    return tags


KINDS: dict[str, dict[str, str] | None] = {
    "expired": ephemeral_tags("bob", PAST),
    "unexpired": ephemeral_tags("eve", FUTURE),
    "untagged": None,
    "prod": {**ephemeral_tags("bob", PAST), TAG_ENVIRONMENT: "prod", TAG_STACK: "prod"},
    "prod-stack": {**ephemeral_tags("bob", PAST), TAG_STACK: "prod"},
    "no-expiry": {TAG_OWNER: "bob", TAG_ENVIRONMENT: "dev"},
    "recent": ephemeral_tags("bob", RECENT),
}


def as_list(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in (tags or {}).items()]


# ── the one decision ────────────────────────────────────────────────────────────────────


def test_only_expired_ephemeral_tags_are_swept() -> None:
    verdicts = {kind: sweep_verdict(tags or {}, NOW) for kind, tags in KINDS.items()}
    assert {k for k, v in verdicts.items() if v.sweep} == {"expired", "recent"}
    assert "prod" in verdicts["prod"].reason
    assert verdicts["unexpired"].reason == "expires in 18h"
    assert verdicts["expired"].reason == "expired 6h ago"


@pytest.mark.parametrize(
    ("change", "reason"),
    [({TAG_OWNER: "Bob"}, "no valid"), ({TAG_OWNER: ""}, "no valid"),
     ({TAG_ENVIRONMENT: "staging"}, "staging"), ({TAG_STACK: "dev-eve"}, "not dev-bob"),
     ({TAG_EXPIRES: "yesterday"}, "unreadable"),
     ({TAG_EXPIRES: "2026-11-26T06:00:00"}, "unreadable")],
)  # fmt: skip
def test_anything_inconsistent_is_kept(change: dict[str, str], reason: str) -> None:
    verdict = sweep_verdict({**ephemeral_tags("bob", PAST), **change}, NOW)
    assert not verdict.sweep and reason in verdict.reason


def test_the_grace_period_leaves_the_reaper_the_first_go() -> None:
    tags = ephemeral_tags("bob", RECENT)
    assert sweep_verdict(tags, NOW, timedelta(0)).sweep
    kept = sweep_verdict(tags, NOW, timedelta(hours=2))
    assert not kept.sweep and "grace" in kept.reason


@pytest.mark.parametrize(
    ("arn", "type_", "id_"),
    [
        ("arn:aws:ec2:us-east-1:1:volume/vol-1", "ec2:volume", "vol-1"),
        ("arn:aws:rds:us-east-1:1:db:sutazai-dev-bob", "rds:db", "sutazai-dev-bob"),
        ("arn:aws:s3:::bucket-x", "s3:bucket", "bucket-x"),
        ("arn:aws:eks:us-east-1:1:nodegroup/c1/gpu/uuid", "eks:nodegroup", "c1/gpu/uuid"),
        ("arn:aws:iam::1:role/eks/node-role", "iam:role", "eks/node-role"),
        ("arn:aws:logs:us-east-1:1:log-group:/eks/c1:*", "logs:log-group", "/eks/c1"),
        ("arn:aws:elasticache:r:1:replicationgroup:rg", "elasticache:replicationgroup", "rg"),
        ("arn:aws:kms:us-east-1:1:key/abc", "kms:key", "abc"),
    ],
)  # fmt: skip
def test_arns_are_parsed_for_dispatch(arn: str, type_: str, id_: str) -> None:
    parsed = parse_arn(arn)
    assert (parsed.type, parsed.id) == (type_, id_)
    assert Deleter(lambda s: None).supports(parsed)


def test_deletion_runs_in_dependency_order() -> None:
    deleter = Deleter(lambda s: None)
    rank = {t: deleter.rank(parse_arn(a)) for t, a in [
        ("nodegroup", "arn:aws:eks:r:1:nodegroup/c/n/u"), ("cluster", "arn:aws:eks:r:1:cluster/c"),
        ("db", "arn:aws:rds:r:1:db:d"), ("subgrp", "arn:aws:rds:r:1:subgrp:s"),
        ("sg", "arn:aws:ec2:r:1:security-group/sg-1"), ("subnet", "arn:aws:ec2:r:1:subnet/s-1"),
        ("vpc", "arn:aws:ec2:r:1:vpc/vpc-1"), ("key", "arn:aws:kms:r:1:key/k"),
    ]}  # fmt: skip
    assert rank["nodegroup"] < rank["cluster"] < rank["sg"] < rank["subnet"] < rank["vpc"]
    assert rank["db"] < rank["subgrp"] < rank["sg"]
    assert rank["vpc"] < rank["key"]


# ── against moto ────────────────────────────────────────────────────────────────────────


@dataclass
class World:
    """What the fixture created: ARN by (kind, what)."""

    arns: dict[tuple[str, str], str] = field(default_factory=dict)

    def of(self, kind: str) -> set[str]:
        return {arn for (k, _), arn in self.arns.items() if k == kind}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[World]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield build_world()


POLICY = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "ec2:Describe*", "Resource": "*"}],
}


def build_world() -> World:
    world = World()
    ec2 = boto3.client("ec2", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    rds = boto3.client("rds", region_name=REGION)
    kms = boto3.client("kms", region_name=REGION)
    logs = boto3.client("logs", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    account = boto3.client("sts", region_name=REGION).get_caller_identity()["Account"]
    policy = iam.create_policy(PolicyName="nodes", PolicyDocument=json.dumps(POLICY))["Policy"]

    def spec(resource: str, tags: dict[str, str] | None) -> list[dict[str, Any]]:
        return [{"ResourceType": resource, "Tags": as_list(tags)}] if tags else []

    def ec2_arn(kind: str, id_: str) -> str:
        return f"arn:aws:ec2:{REGION}:{account}:{kind}/{id_}"

    for kind, tags in KINDS.items():
        vpc = ec2.create_vpc(CidrBlock="10.9.0.0/16", TagSpecifications=spec("vpc", tags))["Vpc"]
        world.arns[(kind, "vpc")] = ec2_arn("vpc", vpc["VpcId"])
        subnet = ec2.create_subnet(
            VpcId=vpc["VpcId"], CidrBlock="10.9.1.0/24", TagSpecifications=spec("subnet", tags)
        )["Subnet"]
        world.arns[(kind, "subnet")] = ec2_arn("subnet", subnet["SubnetId"])
        group = ec2.create_security_group(
            GroupName=f"sg-{kind}",
            Description="x",
            VpcId=vpc["VpcId"],
            TagSpecifications=spec("security-group", tags),
        )
        world.arns[(kind, "sg")] = ec2_arn("security-group", group["GroupId"])
        volume = ec2.create_volume(
            AvailabilityZone=f"{REGION}a", Size=1, TagSpecifications=spec("volume", tags)
        )
        world.arns[(kind, "volume")] = ec2_arn("volume", volume["VolumeId"])

        bucket = f"sutazai-{kind}-bucket"
        s3.create_bucket(Bucket=bucket)
        if tags:
            s3.put_bucket_tagging(Bucket=bucket, Tagging={"TagSet": as_list(tags)})
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
        for n in range(3):
            s3.put_object(Bucket=bucket, Key=f"k{n % 2}", Body=b"x")
        world.arns[(kind, "bucket")] = f"arn:aws:s3:::{bucket}"

        db = rds.create_db_instance(
            DBInstanceIdentifier=f"db-{kind}",
            DBInstanceClass="db.t3.micro",
            Engine="postgres",
            MasterUsername="sutazai",
            MasterUserPassword="not-a-real-password-1",
            AllocatedStorage=20,
            Tags=as_list(tags),
        )["DBInstance"]
        world.arns[(kind, "db")] = db["DBInstanceArn"]

        key = kms.create_key(Tags=[{"TagKey": k, "TagValue": v} for k, v in (tags or {}).items()])[
            "KeyMetadata"
        ]
        world.arns[(kind, "key")] = key["Arn"]

        group_name = f"/sutazai/{kind}"
        logs.create_log_group(logGroupName=group_name, tags=tags or {})
        world.arns[(kind, "logs")] = f"arn:aws:logs:{REGION}:{account}:log-group:{group_name}"

        role = iam.create_role(
            RoleName=f"role-{kind}",
            AssumeRolePolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": []}),
            Tags=as_list(tags),
        )["Role"]
        iam.attach_role_policy(
            RoleName=role["RoleName"],
            PolicyArn=policy["Arn"],
        )
        iam.put_role_policy(
            RoleName=role["RoleName"], PolicyName="inline", PolicyDocument=json.dumps(POLICY)
        )
        world.arns[(kind, "role")] = role["Arn"]
    return world


def swept(rows: list[dict[str, Any]]) -> set[str]:
    return {r["arn"] for r in rows}


def test_the_report_lists_exactly_the_expired_ephemeral_resources(aws: World) -> None:
    rows = sweep(session_clients(REGION), delete=False, now=NOW, grace=timedelta(hours=2))
    assert swept(rows) == aws.of("expired")
    assert {r["action"] for r in rows} == {"report"}
    assert {r["owner"] for r in rows} == {"bob"}
    # Every kind the fixture makes was found: ec2, s3, rds, kms, logs (Tagging API) + IAM.
    assert {r["type"] for r in rows} == {
        "ec2:vpc", "ec2:subnet", "ec2:security-group", "ec2:volume", "s3:bucket",
        "rds:db", "kms:key", "logs:log-group", "iam:role",
    }  # fmt: skip


def test_without_grace_the_recently_expired_are_listed_too(aws: World) -> None:
    rows = sweep(session_clients(REGION), delete=False, now=NOW, grace=timedelta(0))
    assert swept(rows) == aws.of("expired") | aws.of("recent")


def test_delete_removes_only_the_expired_ephemeral_resources(aws: World) -> None:
    rows = sweep(session_clients(REGION), delete=True, now=NOW, grace=timedelta(hours=2))
    failures = [r for r in rows if r["action"] in ("failed", "unsupported")]
    assert not failures, failures
    assert swept(rows) == aws.of("expired")

    remaining = present(aws)
    expired = aws.of("expired")
    kms_expired = {aws.arns[("expired", "key")]}
    assert not (remaining & (expired - kms_expired)), remaining & expired
    for kind in ("unexpired", "untagged", "prod", "prod-stack", "no-expiry", "recent"):
        assert aws.of(kind) <= remaining, kind
    # KMS keys are never deleted at once: the expired one is scheduled, the others untouched.
    kms = boto3.client("kms", region_name=REGION)
    states = {
        kind: kms.describe_key(KeyId=aws.arns[(kind, "key")])["KeyMetadata"]["KeyState"]
        for kind in KINDS
    }
    assert states.pop("expired") == "PendingDeletion"
    assert set(states.values()) == {"Enabled"}
    # A second run finds nothing new to delete.
    again = sweep(session_clients(REGION), delete=True, now=NOW, grace=timedelta(hours=2))
    assert swept(again) == kms_expired
    assert again[0]["action"].startswith("skipped")


def present(world: World) -> set[str]:
    """Which of the fixture's ARNs still exist."""
    ec2 = boto3.client("ec2", region_name=REGION)
    s3 = boto3.client("s3", region_name=REGION)
    rds = boto3.client("rds", region_name=REGION)
    logs = boto3.client("logs", region_name=REGION)
    iam = boto3.client("iam", region_name=REGION)
    ids = {v["VpcId"] for v in ec2.describe_vpcs()["Vpcs"]}
    ids |= {s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]}
    ids |= {g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]}
    ids |= {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    found: set[str] = set()
    for (_kind, what), arn in world.arns.items():
        if what in ("vpc", "subnet", "sg", "volume"):
            if arn.rsplit("/", 1)[-1] in ids:
                found.add(arn)
        elif what == "bucket":
            if arn.split(":::")[1] in {b["Name"] for b in s3.list_buckets()["Buckets"]}:
                found.add(arn)
        elif what == "db":
            if arn in {d["DBInstanceArn"] for d in rds.describe_db_instances()["DBInstances"]}:
                found.add(arn)
        elif what == "logs":
            names = {g["logGroupName"] for g in logs.describe_log_groups()["logGroups"]}
            if arn.split("log-group:")[1] in names:
                found.add(arn)
        elif what == "role":
            if arn in {r["Arn"] for r in iam.list_roles()["Roles"]}:
                found.add(arn)
        elif what == "key":
            found.add(arn)  # checked by state
    return found


def test_ecr_repositories_and_eks_clusters_are_deleted_by_arn(aws: World) -> None:
    # moto's Tagging API does not index ECR or EKS (real AWS does): feed them in directly.
    del aws
    ecr = boto3.client("ecr", region_name=REGION)
    eks = boto3.client("eks", region_name=REGION)
    expired = ephemeral_tags("bob", PAST)
    gone = ecr.create_repository(repositoryName="sutazai/backend", tags=as_list(expired))
    kept = ecr.create_repository(repositoryName="sutazai/prod", tags=as_list(KINDS["prod"]))
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json",
                   "size": 2, "digest": "sha256:" + "1" * 64},
        "layers": [],
    }  # fmt: skip
    ecr.put_image(
        repositoryName="sutazai/backend", imageManifest=json.dumps(manifest), imageTag="dev"
    )  # force=True deletes a repository that still holds images
    role = "arn:aws:iam::123456789012:role/eks"
    cluster = eks.create_cluster(
        name="sutazai-dev-bob",
        roleArn=role,
        resourcesVpcConfig={"subnetIds": []},
        tags=expired,
    )["cluster"]
    nodegroup = eks.create_nodegroup(
        clusterName="sutazai-dev-bob",
        nodegroupName="general",
        nodeRole=role,
        subnets=["subnet-1"],
        tags=expired,
    )["nodegroup"]
    sources = [
        Candidate(gone["repository"]["repositoryArn"], expired),
        Candidate(kept["repository"]["repositoryArn"], KINDS["prod"] or {}),
        Candidate(cluster["arn"], expired),
        Candidate(nodegroup["nodegroupArn"], expired),
    ]
    rows = sweep(session_clients(REGION), delete=True, now=NOW, sources=sources)
    assert [r["type"] for r in rows] == ["eks:nodegroup", "eks:cluster", "ecr:repository"]
    assert all(r["action"] in ("deleted", "deleting") for r in rows), rows
    names = {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]}
    assert names == {"sutazai/prod"}
    assert eks.list_clusters()["clusters"] == []


def test_main_reports_json_and_exit_codes(aws: World, capsys: pytest.CaptureFixture[str]) -> None:
    clients = session_clients(REGION)
    assert sweeper.main(["--json"], clients=clients, now=NOW) == 0
    rows = json.loads(capsys.readouterr().out)
    assert swept(rows) == aws.of("expired")
    assert sweeper.main(["--grace", "soon"], clients=clients, now=NOW) == 2
    assert "--grace" in capsys.readouterr().err
    assert sweeper.main([], clients=clients, now=NOW) == 0
    assert "sutazai-expired-bucket" in capsys.readouterr().out
    assert sweeper.main(["--delete", "--no-iam"], clients=clients, now=NOW) == 0
    assert aws.arns[("expired", "role")] in present(aws)  # IAM skipped on request
    assert not (present(aws) & aws.of("expired")) - {
        aws.arns[("expired", "role")],
        aws.arns[("expired", "key")],
    }
