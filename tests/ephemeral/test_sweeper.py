"""The AWS orphan sweeper against moto, with the Pulumi backend faked at the process boundary.

The backend's stack record is the only authority: a resource goes only when its stack no
longer exists there, or has expired by the backend's own tag. The resources' copied
`sutazai:expires-at` tags are stale after an `extend` and are never read.
"""

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
from stacks.ephemeral import TAG_EPHEMERAL, Ephemeral
from stacks.sweeper import (
    TAG_ENVIRONMENT,
    TAG_EXPIRES,
    TAG_OWNER,
    TAG_PROJECT,
    TAG_STACK,
    Candidate,
    Deleter,
    StackRecords,
    parse_arn,
    session_clients,
    sweep,
    sweep_verdict,
)
from tests.ephemeral.fakes import FakePulumi

REGION = "us-east-1"
PROJECT = "sutazai"
NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PAST = "2026-11-26T06:00:00Z"  # 6h ago
RECENT = "2026-11-26T11:30:00Z"  # 30m ago: inside a 2h grace period
FUTURE = "2026-11-27T06:00:00Z"


def resource_tags(owner: str, expires: str = PAST, **extra: str) -> dict[str, str]:
    """What the program tags an ephemeral stack's AWS resources with (tag_set)."""
    tags = {
        TAG_OWNER: owner,
        TAG_EXPIRES: expires,  # a copy: never read by the sweeper
        TAG_ENVIRONMENT: "dev",
        TAG_STACK: f"dev-{owner}",
        TAG_PROJECT: PROJECT,
        "managed-by": "pulumi",
    }
    tags.update(extra)
    return tags


def stack_tags(owner: str, expires: str, **extra: str) -> dict[str, str]:
    """The backend's tags of an ephemeral stack (stacks.ephemeral create/extend)."""
    return {
        TAG_EPHEMERAL: "true",
        TAG_OWNER: owner,
        TAG_EXPIRES: expires,
        TAG_ENVIRONMENT: "dev",
        **extra,
    }


def backend() -> FakePulumi:
    """dev and prod, bob's expired stack, eve's live one, and ann's extended one; carl's
    stack is gone (removed with --force after a failed destroy)."""
    fake = FakePulumi()
    fake.add("dev", {}, {})
    fake.add("prod", {TAG_ENVIRONMENT: "prod"}, {})
    fake.add("dev-bob", stack_tags("bob", PAST))
    fake.add("dev-rae", stack_tags("rae", RECENT))
    fake.add("dev-eve", stack_tags("eve", FUTURE))
    fake.add("acme/sutazai/dev-ann", stack_tags("ann", FUTURE))  # extended: resources say PAST
    fake.add("dev-sam", {TAG_OWNER: "sam"})  # exists, not marked ephemeral
    return fake


def records(fake: FakePulumi | None = None) -> StackRecords:
    return StackRecords(fake or backend(), PROJECT)


# What each kind of resource is tagged with, and whether the sweeper may delete it.
KINDS: dict[str, dict[str, str] | None] = {
    "expired": resource_tags("bob"),
    "gone": resource_tags("carl", FUTURE),  # its stack no longer exists: goes
    "extended": resource_tags("ann", PAST),  # stale copy; the backend says FUTURE: stays
    "live": resource_tags("eve", PAST),
    "recent": resource_tags("rae", PAST),
    "untagged": None,
    "prod": {**resource_tags("bob"), TAG_ENVIRONMENT: "prod", TAG_STACK: "prod"},
    "prod-stack": {**resource_tags("bob"), TAG_STACK: "prod"},
    "staging-stack": {**resource_tags("staging"), TAG_STACK: "staging"},
    "reserved-owner": resource_tags("prod"),  # dev-prod: a reserved name
    "no-project": {k: v for k, v in resource_tags("carl").items() if k != TAG_PROJECT},
    "no-stack": {k: v for k, v in resource_tags("carl").items() if k != TAG_STACK},
    "other-project": resource_tags("carl", **{TAG_PROJECT: "other"}),
    "not-ephemeral-in-backend": resource_tags("sam"),
}
SWEPT_WITH_GRACE = {"expired", "gone"}


def as_list(tags: dict[str, str] | None) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in (tags or {}).items()]


# ── the one decision ────────────────────────────────────────────────────────────────────


def test_only_stacks_the_backend_calls_gone_or_expired_are_swept() -> None:
    book = records()
    hours = timedelta(hours=2)
    verdicts = {k: sweep_verdict(t or {}, book, NOW, hours) for k, t in KINDS.items()}
    assert {k for k, v in verdicts.items() if v.sweep} == SWEPT_WITH_GRACE
    assert verdicts["gone"].reason == "stack dev-carl no longer exists in the backend"
    assert verdicts["expired"].reason == "dev-bob expired 6h ago (backend)"
    assert verdicts["extended"].reason == "dev-ann expires in 18h (backend)"
    assert "within the grace period" in verdicts["recent"].reason
    assert "prod" in verdicts["prod"].reason
    assert "not dev-" in verdicts["reserved-owner"].reason
    assert "needs the" in verdicts["no-project"].reason
    assert "needs the" in verdicts["no-stack"].reason
    assert "not this project" in verdicts["other-project"].reason
    assert "not marked as sam's ephemeral stack" in verdicts["not-ephemeral-in-backend"].reason


@pytest.mark.parametrize(
    ("change", "reason"),
    [({TAG_OWNER: "Bob"}, "no valid"), ({TAG_OWNER: ""}, "needs the"),
     ({TAG_OWNER: "bob\n"}, "no valid"), ({TAG_ENVIRONMENT: "staging"}, "staging"),
     ({TAG_STACK: "dev-eve"}, "not dev-bob"), ({TAG_STACK: "dev-bob-2"}, "not dev-bob"),
     ({TAG_STACK: "acme/other/prod"}, "not dev-bob")],
)  # fmt: skip
def test_anything_inconsistent_is_kept(change: dict[str, str], reason: str) -> None:
    verdict = sweep_verdict({**resource_tags("bob"), **change}, records(), NOW)
    assert not verdict.sweep and reason in verdict.reason


@pytest.mark.parametrize(
    ("stack_tags_of_bob", "reason"),
    [({TAG_EPHEMERAL: "true", TAG_OWNER: "bob", TAG_EXPIRES: "yesterday"}, "unreadable"),
     ({TAG_EPHEMERAL: "true", TAG_OWNER: "bob"}, "unreadable"),
     ({TAG_EPHEMERAL: "true", TAG_OWNER: "eve", TAG_EXPIRES: PAST}, "not marked"),
     ({TAG_OWNER: "bob", TAG_EXPIRES: PAST}, "not marked"),
     (stack_tags("bob", PAST, **{TAG_ENVIRONMENT: "prod"}), "prod")],
)  # fmt: skip
def test_a_backend_record_that_is_not_clearly_expired_keeps(
    stack_tags_of_bob: dict[str, str], reason: str
) -> None:
    fake = backend()
    fake.stacks["dev-bob"]["tags"] = stack_tags_of_bob
    verdict = sweep_verdict(resource_tags("bob"), records(fake), NOW)
    assert not verdict.sweep and reason in verdict.reason


def test_when_the_backend_cannot_answer_nothing_goes() -> None:
    failing = backend()
    failing.fail_on.add(("ls", "*"))
    empty = FakePulumi()  # logged in to another backend: it lists nothing
    for book in (records(failing), records(empty)):
        for tags in KINDS.values():
            assert not sweep_verdict(tags or {}, book, NOW).sweep


def test_the_grace_period_leaves_the_reaper_the_first_go() -> None:
    tags = resource_tags("rae")
    assert sweep_verdict(tags, records(), NOW, timedelta(0)).sweep
    kept = sweep_verdict(tags, records(), NOW, timedelta(hours=2))
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

    def of_what(self, what: str) -> set[str]:
        return {arn for (_, w), arn in self.arns.items() if w == what}


@pytest.fixture
def moto_account(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        yield


@pytest.fixture
def aws(moto_account: None) -> World:
    return build_world()


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


def test_the_report_lists_exactly_what_the_backend_lets_go(aws: World) -> None:
    rows = sweep(
        session_clients(REGION), records(), delete=False, now=NOW, grace=timedelta(hours=2)
    )
    assert swept(rows) == aws.of("expired") | aws.of("gone")
    assert {r["action"] for r in rows} == {"report"}
    assert {r["owner"] for r in rows} == {"bob", "carl"}
    # Every kind the fixture makes was found: ec2, s3, rds, kms, logs (Tagging API) + IAM.
    assert {r["type"] for r in rows} == {
        "ec2:vpc", "ec2:subnet", "ec2:security-group", "ec2:volume", "s3:bucket",
        "rds:db", "kms:key", "logs:log-group", "iam:role",
    }  # fmt: skip


def test_a_dry_run_deletes_nothing_and_logs_each_action(aws: World) -> None:
    before = present(aws)
    log: list[str] = []
    rows = sweep(session_clients(REGION), records(), delete=False, now=NOW, log=log.append)
    assert present(aws) == before
    assert not boto3.client("rds", region_name=REGION).describe_db_snapshots(SnapshotType="manual")[
        "DBSnapshots"
    ]
    kms = boto3.client("kms", region_name=REGION)
    assert {kms.describe_key(KeyId=a)["KeyMetadata"]["KeyState"] for a in aws.of_what("key")} == {
        "Enabled"
    }
    would = [line for line in log if line.startswith("dry run: would delete ")]
    assert len(would) == len(rows) and {line.split()[4] for line in would} == swept(rows)
    kept = [line for line in log if line.startswith("keep ")]
    assert len(kept) == len(aws.arns) - len(rows) - len(aws.of("untagged"))


def test_delete_removes_only_what_the_backend_lets_go(aws: World) -> None:
    log: list[str] = []
    rows = sweep(
        session_clients(REGION),
        records(),
        delete=True,
        now=NOW,
        grace=timedelta(hours=2),
        log=log.append,
    )
    failures = [r for r in rows if r["action"] in ("failed", "unsupported")]
    assert not failures, failures
    gone = aws.of("expired") | aws.of("gone")
    assert swept(rows) == gone

    remaining = present(aws)
    keys = aws.of_what("key")
    assert not (remaining & (gone - keys)), remaining & gone
    for kind in set(KINDS) - SWEPT_WITH_GRACE:
        assert aws.of(kind) <= remaining, kind
    # Each delete is logged with its reason, then its result.
    assert sum(line.startswith("deleting ") for line in log) == len(rows)
    # KMS keys are never deleted at once: the swept ones are scheduled, the others untouched.
    kms = boto3.client("kms", region_name=REGION)
    states = {
        kind: kms.describe_key(KeyId=aws.arns[(kind, "key")])["KeyMetadata"]["KeyState"]
        for kind in KINDS
    }
    assert {k for k, state in states.items() if state == "PendingDeletion"} == SWEPT_WITH_GRACE
    # A second run finds nothing new to delete.
    again = sweep(
        session_clients(REGION), records(), delete=True, now=NOW, grace=timedelta(hours=2)
    )
    assert swept(again) == keys & gone
    assert all(r["action"].startswith("skipped") for r in again)


def test_a_database_is_deleted_only_with_a_final_snapshot(aws: World) -> None:
    rows = sweep(session_clients(REGION), records(), delete=True, now=NOW)
    rds = boto3.client("rds", region_name=REGION)
    snapshots = {
        s["DBSnapshotIdentifier"]: s
        for s in rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"]
    }
    for kind in SWEPT_WITH_GRACE | {"recent"}:
        (row,) = [r for r in rows if r["arn"] == aws.arns[(kind, "db")]]
        name = f"db-{kind}-final-20261126120000"
        assert row["action"] == f"deleting (final snapshot {name})"
        assert snapshots[name]["DBInstanceIdentifier"] == f"db-{kind}"
    assert len(snapshots) == len(SWEPT_WITH_GRACE | {"recent"})


def test_extend_then_sweep_across_the_old_expiry(moto_account: None) -> None:
    """dev-ann was created with an 8h TTL; its resources carry that expiry. Extended to two
    days, the hourly sweeper must leave them alone past the old expiry, and take them
    once the backend's new expiry (plus grace) has passed."""
    fake = FakePulumi()
    fake.add("dev", {}, {"sutazai:platform": "docker", "sutazai:environment": "dev"})
    created = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
    Ephemeral(fake, clock=lambda: created, out=lambda _: None).create("ann", "8h", None)
    old_expiry = fake.stacks["dev-ann"]["tags"][TAG_EXPIRES]
    assert old_expiry == "2026-11-26T16:00:00Z"
    rds = boto3.client("rds", region_name=REGION)
    db = rds.create_db_instance(
        DBInstanceIdentifier="sutazai-dev-ann",
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="sutazai",
        MasterUserPassword="not-a-real-password-1",
        AllocatedStorage=20,
        Tags=as_list(resource_tags("ann", old_expiry)),  # `pulumi up` at creation
    )["DBInstance"]
    extended_at = created + timedelta(hours=6)
    Ephemeral(fake, clock=lambda: extended_at, out=lambda _: None).extend("ann", "2d", None)
    assert fake.stacks["dev-ann"]["tags"][TAG_EXPIRES] == "2026-11-28T14:00:00Z"

    def hourly(at: datetime) -> list[dict[str, Any]]:
        return sweep(
            session_clients(REGION),
            StackRecords(fake, PROJECT),
            delete=True,
            now=at,
            grace=timedelta(hours=2),
            include_iam=False,
        )

    old, new = datetime(2026, 11, 26, 16, 0, tzinfo=UTC), datetime(2026, 11, 28, 14, 0, tzinfo=UTC)
    # Runs of the hourly job: across the old expiry and its grace, then up to the new one.
    for at in [
        created,
        old,
        old + timedelta(hours=2),
        old + timedelta(hours=3),
        old + timedelta(days=1),
        new,
        new + timedelta(hours=1, minutes=59),
    ]:
        assert hourly(at) == [], at
    assert rds.describe_db_instances()["DBInstances"][0]["DBInstanceArn"] == db["DBInstanceArn"]
    (row,) = hourly(new + timedelta(hours=2))
    assert row["arn"] == db["DBInstanceArn"] and "final snapshot" in row["action"]
    assert rds.describe_db_snapshots(SnapshotType="manual")["DBSnapshots"][0][
        "DBInstanceIdentifier"
    ] == ("sutazai-dev-ann")


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
    expired = resource_tags("bob")
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
    rows = sweep(session_clients(REGION), records(), delete=True, now=NOW, sources=sources)
    assert [r["type"] for r in rows] == ["eks:nodegroup", "eks:cluster", "ecr:repository"]
    assert all(r["action"] in ("deleted", "deleting") for r in rows), rows
    names = {r["repositoryName"] for r in ecr.describe_repositories()["repositories"]}
    assert names == {"sutazai/prod"}
    assert eks.list_clusters()["clusters"] == []


def test_main_dry_run_delete_json_and_exit_codes(
    aws: World, capsys: pytest.CaptureFixture[str]
) -> None:
    clients = session_clients(REGION)
    fake = backend()
    before = present(aws)
    assert sweeper.main(["--json", "--dry-run"], clients=clients, now=NOW, pulumi=fake) == 0
    captured = capsys.readouterr()
    assert swept(json.loads(captured.out)) == aws.of("expired") | aws.of("gone")
    assert "dry run: would delete" in captured.err
    assert present(aws) == before
    assert fake.mutations() == []  # the sweeper only reads the backend
    assert sweeper.main(["--grace", "soon"], clients=clients, now=NOW, pulumi=fake) == 2
    assert "--grace" in capsys.readouterr().err
    assert sweeper.main([], clients=clients, now=NOW, pulumi=fake) == 0
    assert "sutazai-expired-bucket" in capsys.readouterr().out
    assert present(aws) == before
    assert sweeper.main(["--delete", "--no-iam"], clients=clients, now=NOW, pulumi=fake) == 0
    assert "deleting " in capsys.readouterr().err
    roles = {aws.arns[("expired", "role")], aws.arns[("gone", "role")]}
    assert roles <= present(aws)  # IAM skipped on request
    gone = aws.of("expired") | aws.of("gone")
    assert not (present(aws) & gone) - roles - aws.of_what("key")
