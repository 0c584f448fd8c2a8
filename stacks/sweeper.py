"""Find and delete AWS resources that ephemeral stacks left behind, on the backend's word.

    python -m stacks.sweeper [--region R] [--delete | --dry-run true|false] [--json]
                             [--grace 2h] [--no-iam]

The program tags every AWS resource of an ephemeral stack with `sutazai:project`,
`sutazai:stack` and `sutazai:ephemeral-owner` (stacks.composition.tag_set). When a destroy
fails halfway, or a stack is removed with `--force`, its resources stay behind. This sweeper
finds resources with the owner tag through the Resource Groups Tagging API (plus IAM roles
and OIDC providers, scanned directly: IAM is global), and reports them (the default, also
`--dry-run`: nothing is deleted), or deletes them with `--delete`. Every action is logged.

The stack's record in the Pulumi backend is the only authority on expiry. A resource's own
`sutazai:expires-at` tag is a copy made at its last `pulumi up` and goes stale when the
stack is extended, so it is never read. What may go is decided by one function,
`sweep_verdict()`: the project, stack and owner tags must all be there, the stack must be
that owner's `dev-<owner>` (reserved names such as prod or staging never are), the
environment tag (if present) must be `dev`, and the backend (asked through
`StackRecords`, the process boundary tests fake) must say that the stack no longer exists,
or that it is that owner's ephemeral stack and expired by its own `sutazai:expires-at` tag
at least `--grace` ago (so the stack reaper gets the first go). When the backend cannot
answer, nothing is touched.

Data first: an RDS instance or cluster, and an ElastiCache replication group, is deleted
only with a final snapshot (named `<id>-final-<UTC time>`). Deletion runs in dependency
order (node groups before clusters, databases before their subnet groups, rules before
security groups, subnets before VPCs...). Deletes that AWS finishes asynchronously (EKS,
RDS, NAT gateways) can make a dependant fail on the same run; the failure is reported and
the next run (the CI job is periodic) picks it up again.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

import boto3
import yaml
from botocore.exceptions import BotoCoreError, ClientError

from stacks.config import parse_expiry
from stacks.ephemeral import (
    OWNER_PATTERN,
    PROJECT_DIR,
    TAG_EPHEMERAL,
    Pulumi,
    PulumiCli,
    PulumiError,
    format_duration,
    owner_of,
    parse_switch,
)

TAG_OWNER = "sutazai:ephemeral-owner"
# On a stack in the backend: the authority. On a resource: a stale copy, never read.
TAG_EXPIRES = "sutazai:expires-at"
TAG_ENVIRONMENT = "sutazai:environment"
TAG_STACK = "sutazai:stack"
TAG_PROJECT = "sutazai:project"
DEFAULT_GRACE = "2h"
KMS_PENDING_DAYS = 7


# ── the one decision ─────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class StackRecord:
    """What the backend holds for one stack: whether it exists, and its tags."""

    exists: bool
    tags: Mapping[str, str] = field(default_factory=dict)


class StackRecords:
    """The backend's stack records of this project, read once per sweep through `Pulumi`.

    `lookup()` answers a StackRecord, or a string saying why it cannot answer (another
    project, the backend failed, or it lists no stack at all, which says more about the
    login than about the stack): an unanswerable question never deletes anything.
    """

    def __init__(self, pulumi: Pulumi, project: str) -> None:
        self.pulumi = pulumi
        self.project = project
        self._names: dict[str, str] | None = None  # short name -> the name the CLI uses
        self._error: str | None = None
        self._tags: dict[str, dict[str, str]] = {}

    def _listing(self) -> dict[str, str] | None:
        if self._names is None and self._error is None:
            try:
                names = [name for name, _ in self.pulumi.list_stacks()]
            except PulumiError as exc:
                self._error = f"the backend did not list the stacks ({exc})"
                return None
            if not names:
                self._error = f"the backend lists no stack of project {self.project}"
                return None
            self._names = {name.rsplit("/", 1)[-1]: name for name in names}
        return self._names

    def lookup(self, project: str, stack: str) -> StackRecord | str:
        if project != self.project:
            return f"project '{project}' is not this project ({self.project})"
        names = self._listing()
        if names is None:
            return self._error or "the backend did not answer"
        name = names.get(stack)
        if name is None:
            return StackRecord(exists=False)
        if name not in self._tags:
            try:
                self._tags[name] = dict(self.pulumi.stack_tags(name))
            except PulumiError as exc:
                return f"the backend did not give the tags of {stack} ({exc})"
        return StackRecord(exists=True, tags=self._tags[name])


@dataclass(frozen=True)
class SweepVerdict:
    sweep: bool
    reason: str
    owner: str | None = None
    expires_at: datetime | None = None


def sweep_verdict(
    tags: Mapping[str, str],
    records: StackRecords,
    now: datetime,
    grace: timedelta = timedelta(0),
) -> SweepVerdict:
    """May this resource be deleted? Only when the backend says its stack is gone or expired."""
    owner = tags.get(TAG_OWNER, "")
    project, stack = tags.get(TAG_PROJECT, ""), tags.get(TAG_STACK, "")
    if not (owner and project and stack):
        return SweepVerdict(False, f"needs the {TAG_PROJECT}, {TAG_STACK} and {TAG_OWNER} tags")
    if not OWNER_PATTERN.fullmatch(owner):
        return SweepVerdict(False, f"no valid {TAG_OWNER} tag")
    if owner_of(stack) != owner:
        return SweepVerdict(False, f"{TAG_STACK} '{stack}' is not dev-{owner}", owner)
    environment = tags.get(TAG_ENVIRONMENT)
    if environment is not None and environment != "dev":
        return SweepVerdict(False, f"{TAG_ENVIRONMENT} is '{environment}'", owner)
    record = records.lookup(project, stack)
    if isinstance(record, str):
        return SweepVerdict(False, f"kept: {record}", owner)
    if not record.exists:
        return SweepVerdict(True, f"stack {stack} no longer exists in the backend", owner)
    backend = record.tags
    if backend.get(TAG_EPHEMERAL) != "true" or backend.get(TAG_OWNER) != owner:
        return SweepVerdict(
            False, f"the backend's {stack} is not marked as {owner}'s ephemeral stack", owner
        )
    if backend.get(TAG_ENVIRONMENT, "dev") != "dev":
        return SweepVerdict(False, f"the backend's {stack} is tagged {TAG_ENVIRONMENT} "
                            f"'{backend.get(TAG_ENVIRONMENT)}'", owner)  # fmt: skip
    try:
        expires_at = parse_expiry(backend.get(TAG_EXPIRES, ""))
    except ValueError:
        return SweepVerdict(False, f"the backend's {TAG_EXPIRES} of {stack} is unreadable", owner)
    overdue = now - expires_at
    if overdue < grace:
        when = (
            f"{stack} expires in {format_duration(-overdue)} (backend)"
            if overdue < timedelta(0)
            else f"{stack} expired {format_duration(overdue)} ago, within the grace period"
        )
        return SweepVerdict(False, when, owner, expires_at)
    return SweepVerdict(
        True, f"{stack} expired {format_duration(overdue)} ago (backend)", owner, expires_at
    )


# ── ARNs ─────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Arn:
    arn: str
    service: str
    region: str
    account: str
    kind: str  # resource type: volume, db, bucket, role, key, log-group...
    id: str  # the rest: vol-123, mydb, cluster/nodegroup/uuid, path/role-name...

    @property
    def type(self) -> str:
        return f"{self.service}:{self.kind}"


def parse_arn(arn: str) -> Arn:
    """arn:partition:service:region:account:resource, resource = kind/id, kind:id or name."""
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ValueError(f"not an ARN: {arn}")
    _, _, service, region, account, resource = parts
    if service == "s3":
        return Arn(arn, service, region, account, "bucket", resource)
    slash, colon = resource.find("/"), resource.find(":")
    if slash == -1 and colon == -1:
        return Arn(arn, service, region, account, resource, "")
    cut = min(i for i in (slash, colon) if i != -1)
    kind, rest = resource[:cut], resource[cut + 1 :]
    if service == "logs" and rest.endswith(":*"):
        rest = rest[:-2]
    return Arn(arn, service, region, account, kind, rest)


# ── deleting, type by type ───────────────────────────────────────────────────────────────


class Unsupported(Exception):
    pass


Clients = Callable[[str], Any]


@dataclass
class Deleter:
    """Deletes one resource by ARN; `clients(service)` gives a boto3 client."""

    clients: Clients
    # Names the final snapshots of databases: <id>-final-<stamp>.
    stamp: str = "manual"

    # ARN type -> (deletion rank: lower goes first, handler method).
    HANDLERS: ClassVar[dict[str, tuple[int, str]]] = {
        "eks:addon": (0, "_eks_addon"),
        "eks:nodegroup": (0, "_eks_nodegroup"),
        "ec2:instance": (0, "_ec2_instance"),
        "eks:cluster": (1, "_eks_cluster"),
        "rds:db": (1, "_rds_db"),
        "rds:cluster": (1, "_rds_cluster"),
        "elasticache:replicationgroup": (1, "_cache_replication_group"),
        "elasticache:cluster": (1, "_cache_cluster"),
        "ec2:natgateway": (2, "_ec2_nat"),
        "ec2:vpc-flow-log": (2, "_ec2_flow_log"),
        "ec2:flow-logs": (2, "_ec2_flow_log"),
        "ec2:network-interface": (2, "_ec2_eni"),
        "ec2:launch-template": (2, "_ec2_launch_template"),
        "ec2:elastic-ip": (3, "_ec2_eip"),
        "ec2:volume": (3, "_ec2_volume"),
        "rds:subgrp": (4, "_rds_subnet_group"),
        "rds:pg": (4, "_rds_parameter_group"),
        "elasticache:subnetgroup": (4, "_cache_subnet_group"),
        "elasticache:usergroup": (4, "_cache_user_group"),
        "elasticache:parametergroup": (4, "_cache_parameter_group"),
        "elasticache:user": (5, "_cache_user"),
        "ec2:security-group": (6, "_ec2_security_group"),
        "ec2:subnet": (7, "_ec2_subnet"),
        "ec2:route-table": (8, "_ec2_route_table"),
        "ec2:internet-gateway": (9, "_ec2_igw"),
        "ec2:network-acl": (9, "_ec2_nacl"),
        "ec2:vpc": (10, "_ec2_vpc"),
        "ecr:repository": (11, "_ecr_repository"),
        "s3:bucket": (11, "_s3_bucket"),
        "logs:log-group": (11, "_logs_group"),
        "iam:role": (11, "_iam_role"),
        "iam:oidc-provider": (11, "_iam_oidc"),
        "kms:key": (12, "_kms_key"),
    }

    def supports(self, arn: Arn) -> bool:
        return arn.type in self.HANDLERS

    def rank(self, arn: Arn) -> int:
        return self.HANDLERS[arn.type][0] if self.supports(arn) else 99

    def prepare(self, arns: Sequence[Arn]) -> None:
        """Before any delete: revoke the rules of every security group to be deleted, so
        groups that reference each other can go in any order."""
        ec2 = self.clients("ec2")
        for arn in arns:
            if arn.type != "ec2:security-group":
                continue
            try:
                groups = ec2.describe_security_groups(GroupIds=[arn.id])["SecurityGroups"]
            except ClientError:
                continue
            for group in groups:
                if group.get("IpPermissions"):
                    ec2.revoke_security_group_ingress(
                        GroupId=arn.id, IpPermissions=group["IpPermissions"]
                    )
                if group.get("IpPermissionsEgress"):
                    ec2.revoke_security_group_egress(
                        GroupId=arn.id, IpPermissions=group["IpPermissionsEgress"]
                    )

    def delete(self, arn: Arn) -> str:
        """Delete (or schedule the deletion of) one resource; returns what was done."""
        if not self.supports(arn):
            raise Unsupported(f"no deleter for {arn.type}; delete it by hand")
        handler: Callable[[Arn], str | None] = getattr(self, self.HANDLERS[arn.type][1])
        return handler(arn) or "deleted"

    # ec2
    def _ec2_instance(self, arn: Arn) -> str:
        self.clients("ec2").terminate_instances(InstanceIds=[arn.id])
        return "terminating"

    def _ec2_volume(self, arn: Arn) -> None:
        self.clients("ec2").delete_volume(VolumeId=arn.id)

    def _ec2_security_group(self, arn: Arn) -> None:
        self.clients("ec2").delete_security_group(GroupId=arn.id)

    def _ec2_subnet(self, arn: Arn) -> None:
        self.clients("ec2").delete_subnet(SubnetId=arn.id)

    def _ec2_route_table(self, arn: Arn) -> str | None:
        ec2 = self.clients("ec2")
        table = ec2.describe_route_tables(RouteTableIds=[arn.id])["RouteTables"][0]
        for association in table.get("Associations", []):
            if association.get("Main"):
                return "skipped: the main route table goes with its VPC"
            ec2.disassociate_route_table(AssociationId=association["RouteTableAssociationId"])
        ec2.delete_route_table(RouteTableId=arn.id)
        return None

    def _ec2_igw(self, arn: Arn) -> None:
        ec2 = self.clients("ec2")
        gateway = ec2.describe_internet_gateways(InternetGatewayIds=[arn.id])
        for attachment in gateway["InternetGateways"][0].get("Attachments", []):
            ec2.detach_internet_gateway(InternetGatewayId=arn.id, VpcId=attachment["VpcId"])
        ec2.delete_internet_gateway(InternetGatewayId=arn.id)

    def _ec2_nat(self, arn: Arn) -> str:
        self.clients("ec2").delete_nat_gateway(NatGatewayId=arn.id)
        return "deleting"

    def _ec2_eip(self, arn: Arn) -> None:
        self.clients("ec2").release_address(AllocationId=arn.id)

    def _ec2_nacl(self, arn: Arn) -> str | None:
        ec2 = self.clients("ec2")
        acl = ec2.describe_network_acls(NetworkAclIds=[arn.id])["NetworkAcls"][0]
        if acl.get("IsDefault"):
            return "skipped: the default network ACL goes with its VPC"
        ec2.delete_network_acl(NetworkAclId=arn.id)
        return None

    def _ec2_launch_template(self, arn: Arn) -> None:
        self.clients("ec2").delete_launch_template(LaunchTemplateId=arn.id)

    def _ec2_flow_log(self, arn: Arn) -> None:
        self.clients("ec2").delete_flow_logs(FlowLogIds=[arn.id])

    def _ec2_eni(self, arn: Arn) -> None:
        self.clients("ec2").delete_network_interface(NetworkInterfaceId=arn.id)

    def _ec2_vpc(self, arn: Arn) -> None:
        self.clients("ec2").delete_vpc(VpcId=arn.id)

    # rds
    def _rds_db(self, arn: Arn) -> str:
        rds = self.clients("rds")
        db = rds.describe_db_instances(DBInstanceIdentifier=arn.id)["DBInstances"][0]
        if db.get("DeletionProtection"):
            # Someone switched it on deliberately: that is a person's call, not a sweeper's.
            raise Unsupported("deletion protection is on; left for a person to decide")
        # Never without a final snapshot; automated backups stay until their retention ends.
        snapshot = self.snapshot_name(arn.id)
        rds.delete_db_instance(
            DBInstanceIdentifier=arn.id,
            SkipFinalSnapshot=False,
            FinalDBSnapshotIdentifier=snapshot,
            DeleteAutomatedBackups=False,
        )
        return f"deleting (final snapshot {snapshot})"

    def _rds_cluster(self, arn: Arn) -> str:
        snapshot = self.snapshot_name(arn.id)
        self.clients("rds").delete_db_cluster(
            DBClusterIdentifier=arn.id, SkipFinalSnapshot=False, FinalDBSnapshotIdentifier=snapshot
        )
        return f"deleting (final snapshot {snapshot})"

    def snapshot_name(self, identifier: str) -> str:
        return f"{identifier}-final-{self.stamp}"

    def _rds_subnet_group(self, arn: Arn) -> None:
        self.clients("rds").delete_db_subnet_group(DBSubnetGroupName=arn.id)

    def _rds_parameter_group(self, arn: Arn) -> None:
        self.clients("rds").delete_db_parameter_group(DBParameterGroupName=arn.id)

    # elasticache
    def _cache_replication_group(self, arn: Arn) -> str:
        snapshot = self.snapshot_name(arn.id)
        self.clients("elasticache").delete_replication_group(
            ReplicationGroupId=arn.id, RetainPrimaryCluster=False, FinalSnapshotIdentifier=snapshot
        )
        return f"deleting (final snapshot {snapshot})"

    def _cache_cluster(self, arn: Arn) -> str:
        snapshot = self.snapshot_name(arn.id)
        self.clients("elasticache").delete_cache_cluster(
            CacheClusterId=arn.id, FinalSnapshotIdentifier=snapshot
        )
        return f"deleting (final snapshot {snapshot})"

    def _cache_subnet_group(self, arn: Arn) -> None:
        self.clients("elasticache").delete_cache_subnet_group(CacheSubnetGroupName=arn.id)

    def _cache_user_group(self, arn: Arn) -> None:
        self.clients("elasticache").delete_user_group(UserGroupId=arn.id)

    def _cache_parameter_group(self, arn: Arn) -> None:
        self.clients("elasticache").delete_cache_parameter_group(CacheParameterGroupName=arn.id)

    def _cache_user(self, arn: Arn) -> None:
        self.clients("elasticache").delete_user(UserId=arn.id)

    # eks (nodegroup/<cluster>/<nodegroup>/<uuid>, addon/<cluster>/<addon>/<uuid>)
    def _eks_nodegroup(self, arn: Arn) -> str:
        cluster, nodegroup = arn.id.split("/")[:2]
        self.clients("eks").delete_nodegroup(clusterName=cluster, nodegroupName=nodegroup)
        return "deleting"

    def _eks_addon(self, arn: Arn) -> str:
        cluster, addon = arn.id.split("/")[:2]
        self.clients("eks").delete_addon(clusterName=cluster, addonName=addon)
        return "deleting"

    def _eks_cluster(self, arn: Arn) -> str:
        self.clients("eks").delete_cluster(name=arn.id)
        return "deleting"

    # the rest
    def _ecr_repository(self, arn: Arn) -> None:
        self.clients("ecr").delete_repository(repositoryName=arn.id, force=True)

    def _s3_bucket(self, arn: Arn) -> None:
        s3 = self.clients("s3")
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=arn.id):
            objects = [
                {"Key": o["Key"], "VersionId": o["VersionId"]}
                for o in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]
            ]
            for start in range(0, len(objects), 1000):
                s3.delete_objects(
                    Bucket=arn.id, Delete={"Objects": objects[start : start + 1000], "Quiet": True}
                )
        s3.delete_bucket(Bucket=arn.id)

    def _logs_group(self, arn: Arn) -> None:
        self.clients("logs").delete_log_group(logGroupName=arn.id)

    def _iam_role(self, arn: Arn) -> None:
        iam = self.clients("iam")
        name = arn.id.rsplit("/", 1)[-1]
        for page in iam.get_paginator("list_attached_role_policies").paginate(RoleName=name):
            for policy in page["AttachedPolicies"]:
                iam.detach_role_policy(RoleName=name, PolicyArn=policy["PolicyArn"])
        for page in iam.get_paginator("list_role_policies").paginate(RoleName=name):
            for policy in page["PolicyNames"]:
                iam.delete_role_policy(RoleName=name, PolicyName=policy)
        profiles = iam.list_instance_profiles_for_role(RoleName=name)["InstanceProfiles"]
        for profile in profiles:
            iam.remove_role_from_instance_profile(
                InstanceProfileName=profile["InstanceProfileName"], RoleName=name
            )
        iam.delete_role(RoleName=name)

    def _iam_oidc(self, arn: Arn) -> None:
        self.clients("iam").delete_open_id_connect_provider(OpenIDConnectProviderArn=arn.arn)

    def _kms_key(self, arn: Arn) -> str:
        kms = self.clients("kms")
        key = kms.describe_key(KeyId=arn.id)["KeyMetadata"]
        if key.get("KeyState") == "PendingDeletion":
            return "skipped: deletion already scheduled"
        if key.get("KeyManager") == "AWS":
            raise Unsupported("an AWS managed key cannot be deleted")
        kms.schedule_key_deletion(KeyId=arn.id, PendingWindowInDays=KMS_PENDING_DAYS)
        return f"deletion scheduled in {KMS_PENDING_DAYS} days"


# ── discovery ────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Candidate:
    arn: str
    tags: Mapping[str, str]


def tagged_resources(clients: Clients) -> Iterator[Candidate]:
    """Every resource in the region with an ephemeral owner tag (any value)."""
    api = clients("resourcegroupstaggingapi")
    paginator = api.get_paginator("get_resources")
    pages = paginator.paginate(TagFilters=[{"Key": TAG_OWNER}])
    for page in pages:
        for item in page.get("ResourceTagMappingList", []):
            tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
            yield Candidate(item["ResourceARN"], tags)


def iam_resources(clients: Clients) -> Iterator[Candidate]:
    """IAM roles and OIDC providers with an ephemeral owner tag (IAM is global)."""
    iam = clients("iam")
    for page in iam.get_paginator("list_roles").paginate():
        for role in page["Roles"]:
            tags = {
                t["Key"]: t["Value"]
                for t in iam.list_role_tags(RoleName=role["RoleName"]).get("Tags", [])
            }
            if TAG_OWNER in tags:
                yield Candidate(role["Arn"], tags)
    for provider in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", []):
        arn = provider["Arn"]
        found = iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)
        tags = {t["Key"]: t["Value"] for t in found.get("Tags", [])}
        if TAG_OWNER in tags:
            yield Candidate(arn, tags)


# ── the sweep ────────────────────────────────────────────────────────────────────────────


def session_clients(region: str | None) -> Clients:
    session = boto3.Session(region_name=region)
    cache: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in cache:
            cache[service] = session.client(service)
        return cache[service]

    return client


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def sweep(
    clients: Clients,
    records: StackRecords,
    *,
    delete: bool,
    now: datetime,
    grace: timedelta = timedelta(0),
    include_iam: bool = True,
    sources: Iterable[Candidate] | None = None,
    log: Callable[[str], None] = _log,
) -> list[dict[str, Any]]:
    """One row per resource the backend lets go: reported, deleted, or why not.

    Without `delete` (a dry run) nothing is changed; every action is logged either way.
    """
    if sources is None:
        found = list(tagged_resources(clients))
        if include_iam:
            found += list(iam_resources(clients))
    else:
        found = list(sources)
    deleter = Deleter(clients, stamp=now.astimezone(UTC).strftime("%Y%m%d%H%M%S"))
    chosen: list[tuple[Arn, Candidate, SweepVerdict]] = []
    for candidate in found:
        verdict = sweep_verdict(candidate.tags, records, now, grace)
        if verdict.sweep:
            chosen.append((parse_arn(candidate.arn), candidate, verdict))
        else:
            log(f"keep {candidate.arn}: {verdict.reason}")
    chosen.sort(key=lambda c: (deleter.rank(c[0]), c[0].arn))

    rows: list[dict[str, Any]] = []
    for arn, candidate, verdict in chosen:
        rows.append(
            {
                "arn": arn.arn,
                "type": arn.type,
                "owner": verdict.owner,
                "stack": candidate.tags.get(TAG_STACK, ""),
                "status": verdict.reason,
                "action": "report" if deleter.supports(arn) else "unsupported",
            }
        )
    if not delete:
        for row in rows:
            log(f"dry run: would delete {row['arn']} ({row['status']})")
        return rows
    try:
        deleter.prepare([arn for arn, _, _ in chosen])
    except (ClientError, BotoCoreError) as exc:
        log(f"warning: revoking security group rules: {exc}")
    for row, (arn, _, _) in zip(rows, chosen, strict=True):
        log(f"deleting {arn.arn} ({row['status']})")
        try:
            row["action"] = deleter.delete(arn)
        except Unsupported as exc:
            row["action"], row["error"] = "unsupported", str(exc)
        except (ClientError, BotoCoreError) as exc:
            row["action"], row["error"] = "failed", str(exc)
        log(f"  {row['action']}{': ' + row['error'] if 'error' in row else ''}")
    return rows


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "(no resources of removed or expired ephemeral stacks)"
    columns = ["type", "owner", "status", "action", "arn", "error"]
    columns = [c for c in columns if any(r.get(c) for r in rows)]
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    for row in rows:
        cells = [str(row.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def project_name(project_dir: Path = PROJECT_DIR) -> str:
    return str(yaml.safe_load((project_dir / "Pulumi.yaml").read_text())["name"])


def main(
    argv: Sequence[str] | None = None,
    clients: Clients | None = None,
    now: datetime | None = None,
    pulumi: Pulumi | None = None,
) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stacks.sweeper",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--region", help="AWS region (default: the AWS SDK's default)")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--delete", action="store_true", help="delete what is found")
    mode.add_argument(
        "--dry-run",
        nargs="?",
        const=True,
        default=None,
        type=parse_switch,
        help="true: report only (the default); false: delete (a workflow's boolean input)",
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.add_argument(
        "--grace",
        default=DEFAULT_GRACE,
        help=f"only resources expired at least this long ago (default {DEFAULT_GRACE}; 0 for none)",
    )
    parser.add_argument("--no-iam", action="store_true", help="skip the global IAM scan")
    options = parser.parse_args(argv)
    try:
        grace = parse_grace(options.grace)
    except ValueError as exc:
        print(f"error: --grace: {exc}", file=sys.stderr)
        return 2
    try:
        rows = sweep(
            clients or session_clients(options.region),
            StackRecords(pulumi if pulumi is not None else PulumiCli(), project_name()),
            delete=options.delete or options.dry_run is False,
            now=now or datetime.now(UTC),
            grace=grace,
            include_iam=not options.no_iam,
        )
    except (ClientError, BotoCoreError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(json.dumps(rows, indent=1) if options.json else _table(rows))
    return 1 if any(r["action"] in ("failed", "unsupported") for r in rows) else 0


def parse_grace(text: str) -> timedelta:
    """0, or a duration such as 30m, 2h or 1d."""
    match = re.fullmatch(r"([0-9]+)([mhdw])", text.strip())
    if text.strip() == "0":
        return timedelta(0)
    if match is None:
        raise ValueError(f"'{text}' is not a duration such as 0, 30m, 2h or 1d")
    unit = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}[match.group(2)]
    return timedelta(**{unit: int(match.group(1))})


if __name__ == "__main__":
    sys.exit(main())
