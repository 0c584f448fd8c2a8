"""Find and delete AWS resources that expired ephemeral stacks left behind.

    python -m stacks.sweeper [--region R] [--delete | --dry-run true|false] [--json]
                             [--grace 2h] [--no-iam]

The program tags every AWS resource of an ephemeral stack with `sutazai:ephemeral-owner`
and `sutazai:expires-at` (stacks.composition.tag_set). `stacks.ephemeral reap` destroys
expired stacks; when a destroy fails halfway, its resources stay behind with those tags.
This sweeper finds them through the Resource Groups Tagging API (`get_resources` with
TagFilters on both keys), plus IAM roles and OIDC providers scanned directly (IAM is global
and outside the regional Tagging API), and reports them, or deletes them with `--delete`.

What may go is decided by one function, `sweep_verdict()`: the owner tag must be a valid
owner, `sutazai:expires-at` must be a readable time at least `--grace` in the past (so the
stack reaper gets the first go), `sutazai:environment` (if present) must be `dev`, and
`sutazai:stack` (if present) must be that owner's `dev-<owner>` stack. Anything else is
never touched, in particular anything tagged `sutazai:environment=prod`.

Deletion runs in dependency order (node groups before clusters, databases before their
subnet groups, rules before security groups, subnets before VPCs...). Deletes that AWS
finishes asynchronously (EKS, RDS, NAT gateways) can make a dependant fail on the same run;
the failure is reported and the next run (the CI job is periodic) picks it up again.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from stacks.config import parse_expiry
from stacks.ephemeral import OWNER_PATTERN, format_duration, owner_of, parse_switch

TAG_OWNER = "sutazai:ephemeral-owner"
TAG_EXPIRES = "sutazai:expires-at"
TAG_ENVIRONMENT = "sutazai:environment"
TAG_STACK = "sutazai:stack"
DEFAULT_GRACE = "2h"
KMS_PENDING_DAYS = 7


# ── the one decision ─────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class SweepVerdict:
    sweep: bool
    reason: str
    owner: str | None = None
    expires_at: datetime | None = None


def sweep_verdict(
    tags: Mapping[str, str], now: datetime, grace: timedelta = timedelta(0)
) -> SweepVerdict:
    """May this resource be deleted? Only when it is an expired ephemeral leftover."""
    owner = tags.get(TAG_OWNER, "")
    if not OWNER_PATTERN.match(owner):
        return SweepVerdict(False, f"no valid {TAG_OWNER} tag")
    environment = tags.get(TAG_ENVIRONMENT)
    if environment is not None and environment != "dev":
        return SweepVerdict(False, f"{TAG_ENVIRONMENT} is '{environment}'", owner)
    stack = tags.get(TAG_STACK)
    if stack is not None and owner_of(stack) != owner:
        return SweepVerdict(False, f"{TAG_STACK} '{stack}' is not dev-{owner}", owner)
    try:
        expires_at = parse_expiry(tags.get(TAG_EXPIRES, ""))
    except ValueError:
        return SweepVerdict(False, f"{TAG_EXPIRES} is missing or unreadable", owner)
    overdue = now - expires_at
    if overdue < grace:
        when = (
            f"expires in {format_duration(-overdue)}"
            if overdue < timedelta(0)
            else f"expired {format_duration(overdue)} ago, within the grace period"
        )
        return SweepVerdict(False, when, owner, expires_at)
    return SweepVerdict(True, f"expired {format_duration(overdue)} ago", owner, expires_at)


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
        rds.delete_db_instance(
            DBInstanceIdentifier=arn.id, SkipFinalSnapshot=True, DeleteAutomatedBackups=True
        )
        return "deleting"

    def _rds_cluster(self, arn: Arn) -> str:
        self.clients("rds").delete_db_cluster(DBClusterIdentifier=arn.id, SkipFinalSnapshot=True)
        return "deleting"

    def _rds_subnet_group(self, arn: Arn) -> None:
        self.clients("rds").delete_db_subnet_group(DBSubnetGroupName=arn.id)

    def _rds_parameter_group(self, arn: Arn) -> None:
        self.clients("rds").delete_db_parameter_group(DBParameterGroupName=arn.id)

    # elasticache
    def _cache_replication_group(self, arn: Arn) -> str:
        self.clients("elasticache").delete_replication_group(
            ReplicationGroupId=arn.id, RetainPrimaryCluster=False
        )
        return "deleting"

    def _cache_cluster(self, arn: Arn) -> str:
        self.clients("elasticache").delete_cache_cluster(CacheClusterId=arn.id)
        return "deleting"

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
    """Every resource in the region carrying both ephemeral tags (any values)."""
    api = clients("resourcegroupstaggingapi")
    paginator = api.get_paginator("get_resources")
    pages = paginator.paginate(TagFilters=[{"Key": TAG_OWNER}, {"Key": TAG_EXPIRES}])
    for page in pages:
        for item in page.get("ResourceTagMappingList", []):
            tags = {t["Key"]: t["Value"] for t in item.get("Tags", [])}
            yield Candidate(item["ResourceARN"], tags)


def iam_resources(clients: Clients) -> Iterator[Candidate]:
    """IAM roles and OIDC providers with the ephemeral tags (IAM is global)."""
    iam = clients("iam")
    for page in iam.get_paginator("list_roles").paginate():
        for role in page["Roles"]:
            tags = {
                t["Key"]: t["Value"]
                for t in iam.list_role_tags(RoleName=role["RoleName"]).get("Tags", [])
            }
            if TAG_OWNER in tags and TAG_EXPIRES in tags:
                yield Candidate(role["Arn"], tags)
    for provider in iam.list_open_id_connect_providers().get("OpenIDConnectProviderList", []):
        arn = provider["Arn"]
        found = iam.list_open_id_connect_provider_tags(OpenIDConnectProviderArn=arn)
        tags = {t["Key"]: t["Value"] for t in found.get("Tags", [])}
        if TAG_OWNER in tags and TAG_EXPIRES in tags:
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


def sweep(
    clients: Clients,
    *,
    delete: bool,
    now: datetime,
    grace: timedelta = timedelta(0),
    include_iam: bool = True,
    sources: Iterable[Candidate] | None = None,
) -> list[dict[str, Any]]:
    """One row per expired ephemeral resource: reported, deleted, or why not."""
    if sources is None:
        found = list(tagged_resources(clients))
        if include_iam:
            found += list(iam_resources(clients))
    else:
        found = list(sources)
    deleter = Deleter(clients)
    chosen: list[tuple[Arn, Candidate, SweepVerdict]] = []
    for candidate in found:
        verdict = sweep_verdict(candidate.tags, now, grace)
        if verdict.sweep:
            chosen.append((parse_arn(candidate.arn), candidate, verdict))
    chosen.sort(key=lambda c: (deleter.rank(c[0]), c[0].arn))

    rows: list[dict[str, Any]] = []
    for arn, candidate, verdict in chosen:
        assert verdict.expires_at is not None
        rows.append(
            {
                "arn": arn.arn,
                "type": arn.type,
                "owner": verdict.owner,
                "stack": candidate.tags.get(TAG_STACK, ""),
                "expiresAt": candidate.tags.get(TAG_EXPIRES),
                "status": verdict.reason,
                "action": "report" if deleter.supports(arn) else "unsupported",
            }
        )
    if not delete:
        return rows
    try:
        deleter.prepare([arn for arn, _, _ in chosen])
    except (ClientError, BotoCoreError) as exc:
        print(f"warning: revoking security group rules: {exc}", file=sys.stderr)
    for row, (arn, _, _) in zip(rows, chosen, strict=True):
        try:
            row["action"] = deleter.delete(arn)
        except Unsupported as exc:
            row["action"], row["error"] = "unsupported", str(exc)
        except (ClientError, BotoCoreError) as exc:
            row["action"], row["error"] = "failed", str(exc)
    return rows


def _table(rows: Sequence[Mapping[str, Any]]) -> str:
    if not rows:
        return "(no expired ephemeral resources)"
    columns = ["type", "owner", "expiresAt", "status", "action", "arn", "error"]
    columns = [c for c in columns if any(r.get(c) for r in rows)]
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    for row in rows:
        cells = [str(row.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def main(
    argv: Sequence[str] | None = None,
    clients: Clients | None = None,
    now: datetime | None = None,
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
