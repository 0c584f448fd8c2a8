"""AWS data-safety rules (pulumi-aws 7.x input names, camelCase as the engine sends them)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from pulumi_policy import Policy, Severity

from .config import is_prod
from .exposure import EXPOSURE_SCHEMA, exposure
from .rules import Finding, Resource, resource_policy
from .values import UNKNOWN, as_int, as_list, get

SECURITY_GROUP: Final = "aws:ec2/securityGroup:SecurityGroup"
SECURITY_GROUP_RULE: Final = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS_RULE: Final = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
RDS_INSTANCE: Final = "aws:rds/instance:Instance"
RDS_CLUSTER: Final = "aws:rds/cluster:Cluster"
ELASTICACHE_RG: Final = "aws:elasticache/replicationGroup:ReplicationGroup"
EBS_VOLUME: Final = "aws:ebs/volume:Volume"
EKS_CLUSTER: Final = "aws:eks/cluster:Cluster"
ECR_REPOSITORY: Final = "aws:ecr/repository:Repository"
KMS_KEY: Final = "aws:kms/key:Key"

PUBLIC_PORT: Final = 443
MIN_BACKUP_DAYS: Final = 7
# ---------------------------------------------------------------- security groups


def _ingress_rules(res: Resource) -> Iterator[tuple[str, dict[str, Any], list[Any]]]:
    """(where, rule, cidrs) for each ingress rule; rule has protocol/fromPort/toPort."""
    p = res.props
    if res.type == SECURITY_GROUP:
        for i, rule in enumerate(as_list(p.get("ingress"))):
            if isinstance(rule, dict):
                cidrs = as_list(rule.get("cidrBlocks")) + as_list(rule.get("ipv6CidrBlocks"))
                yield f"ingress[{i}]", rule, cidrs
    elif res.type == SECURITY_GROUP_RULE:
        rule_type = p.get("type")
        if not (isinstance(rule_type, str) and rule_type.strip().lower() == "egress"):
            yield "rule", p, as_list(p.get("cidrBlocks")) + as_list(p.get("ipv6CidrBlocks"))
    elif res.type == SG_INGRESS_RULE:
        rule = dict(p, protocol=p.get("ipProtocol"))
        yield "rule", rule, [c for c in (p.get("cidrIpv4"), p.get("cidrIpv6")) if c is not None]


def _ports(rule: dict[str, Any]) -> str | None:
    """'tcp/443', 'udp/53-60', 'all'; None while the protocol is unknown (preview)."""
    protocol = rule.get("protocol")
    if protocol is UNKNOWN:
        return None
    proto = str(protocol).strip().lower() if protocol is not None else "unset"
    if proto in ("-1", "all"):
        return "all"
    if proto == "6":
        proto = "tcp"
    lo, hi = as_int(rule.get("fromPort")), as_int(rule.get("toPort"))
    return f"{proto}/{lo}" if lo == hi else f"{proto}/{lo}-{hi}"


def check_sg_public_ingress(res: Resource, config: Any) -> Iterator[str | Finding]:
    for where, rule, cidrs in _ingress_rules(res):
        reach = exposure(cidrs)
        for bad in reach.invalid:
            yield f"{where} lists {bad}, not a CIDR. Fix: use a valid CIDR block."
        ports = _ports(rule)
        if ports is None or ports == f"tcp/{PUBLIC_PORT}":
            continue
        # A prefix list's entries live outside the program: its coverage cannot be judged.
        lists = [*as_list(rule.get("prefixListIds")), rule.get("prefixListId")]
        for prefix_list in (pl for pl in lists if pl not in (None, "", UNKNOWN)):
            yield Finding(
                f"{where} admits prefix list {prefix_list!r} on {ports}; its ranges cannot be "
                "checked here. Fix: name the CIDRs or a source security group (or waive this "
                "exact prefix list with the reason it is not public).",
                "prefixList",
                prefix_list,
            )
        if reach.is_public(config):
            yield Finding(
                f"{where} opens {ports} to {reach.describe()} ({', '.join(map(str, cidrs))}). "
                "Only tcp/443 may be public. Fix: restrict the source to the VPC/peer CIDRs "
                "or a source security group, or put it behind the HTTPS load balancer.",
                "publicPort",
                ports,
            )


# ---------------------------------------------------------------- RDS / ElastiCache / EBS


def check_rds_encrypted(res: Resource) -> Iterator[str]:
    v = res.props.get("storageEncrypted")
    if v is not UNKNOWN and v is not True:
        yield (
            f"storageEncrypted is {'unset (false)' if v is None else repr(v)}. Fix: "
            "storage_encrypted=True "
            "(optionally kms_key_id=<CMK>); existing instances need a snapshot restore."
        )


def check_rds_backups(res: Resource) -> Iterator[str]:
    v = res.props.get("backupRetentionPeriod")
    if v is UNKNOWN:
        return
    days = as_int(v)
    if days is None or days < MIN_BACKUP_DAYS:
        got = "unset (AWS default 1 day)" if v is None else f"{v!r} days"
        yield f"backupRetentionPeriod is {got}. Fix: backup_retention_period >= {MIN_BACKUP_DAYS}."


def check_rds_deletion_protection(res: Resource) -> Iterator[str]:
    if not is_prod():
        return
    v = res.props.get("deletionProtection")
    if v is not UNKNOWN and v is not True:
        yield (
            f"deletionProtection is {'unset (false)' if v is None else repr(v)} in prod. "
            "Fix: deletion_protection=True."
        )


def check_elasticache_encryption(res: Resource) -> Iterator[str]:
    for field, arg in (
        ("atRestEncryptionEnabled", "at_rest_encryption_enabled"),
        ("transitEncryptionEnabled", "transit_encryption_enabled"),
    ):
        v = res.props.get(field)
        if v is not UNKNOWN and v is not True:
            yield f"{field} is {'unset' if v is None else repr(v)}. Fix: {arg}=True."


def check_ebs_encrypted(res: Resource) -> Iterator[str]:
    v = res.props.get("encrypted")
    if v is not UNKNOWN and v is not True:
        yield (
            f"encrypted is {'unset' if v is None else repr(v)}. Fix: encrypted=True (and "
            "kms_key_id for a CMK)."
        )


# ---------------------------------------------------------------- EKS / ECR / KMS


def check_eks_endpoint(res: Resource, config: Any) -> Iterator[str | Finding]:
    vpc = res.props.get("vpcConfig")
    if vpc is UNKNOWN:
        return
    public = get(vpc, "endpointPublicAccess")
    if public is UNKNOWN or public is False:
        return
    cidrs = get(vpc, "publicAccessCidrs")
    if cidrs is UNKNOWN:
        return
    listed = as_list(cidrs)
    state = "unset (AWS default: public)" if public is None else repr(public)
    if not listed:
        yield Finding(
            f"vpcConfig.endpointPublicAccess is {state} and vpcConfig.publicAccessCidrs is "
            "empty (AWS default 0.0.0.0/0). Fix: endpoint_public_access=False (reach it "
            "through the VPC/VPN) or list the office/CI CIDRs in public_access_cidrs.",
            "publicAccessCidrs",
            [],
        )
        return
    reach = exposure(listed)
    for bad in reach.invalid:
        yield f"vpcConfig.publicAccessCidrs lists {bad}, not a CIDR. Fix: use a valid CIDR."
    if reach.is_public(config):
        yield Finding(
            f"vpcConfig.publicAccessCidrs {listed} open the API endpoint to "
            f"{reach.describe()}. Fix: list only the office/CI CIDRs (within the configured "
            "maximum), or set endpoint_public_access=False.",
            "publicAccessCidrs",
            listed,
        )


def check_ecr_scan(res: Resource) -> Iterator[str]:
    v = get(res.props, "imageScanningConfiguration", "scanOnPush")
    if v is not UNKNOWN and v is not True:
        yield (
            f"imageScanningConfiguration.scanOnPush is {'unset' if v is None else repr(v)}. "
            "Fix: image_scanning_configuration={'scan_on_push': True}."
        )


def check_ecr_immutable(res: Resource) -> Iterator[str]:
    v = res.props.get("imageTagMutability")
    if v is not UNKNOWN and v != "IMMUTABLE":
        yield (
            f"imageTagMutability is {'unset (MUTABLE)' if v is None else repr(v)}. Fix: "
            "image_tag_mutability='IMMUTABLE'."
        )


def check_kms_rotation(res: Resource) -> Iterator[str]:
    spec = res.props.get("customerMasterKeySpec") or res.props.get("keySpec")
    if isinstance(spec, str) and spec != "SYMMETRIC_DEFAULT":
        return  # AWS only rotates symmetric encryption keys
    v = res.props.get("enableKeyRotation")
    if v is not UNKNOWN and v is not True:
        got = "unset (false)" if v is None else repr(v)
        yield f"enableKeyRotation is {got}. Fix: enable_key_rotation=True."


def policies() -> list[Policy]:
    return [
        resource_policy(
            "aws-sg-public-ingress-https-only",
            "Security-group ingress whose CIDRs together cover more global address space than "
            "the configured maximum (a /24, a /56 by default) is allowed only on tcp/443.",
            [SECURITY_GROUP, SECURITY_GROUP_RULE, SG_INGRESS_RULE],
            check_sg_public_ingress,
            config_properties=EXPOSURE_SCHEMA,
            reads_config=True,
            remediation=(
                "Restrict the source CIDR or security group; only public load balancers "
                "open tcp/443."
            ),
            severity=Severity.CRITICAL,
        ),
        resource_policy(
            "aws-rds-storage-encrypted",
            "RDS instances and clusters encrypt their storage.",
            [RDS_INSTANCE, RDS_CLUSTER],
            check_rds_encrypted,
            remediation="storage_encrypted=True.",
        ),
        resource_policy(
            "aws-rds-backup-retention",
            f"RDS instances and clusters keep automated backups for at least {MIN_BACKUP_DAYS} "
            "days.",
            [RDS_INSTANCE, RDS_CLUSTER],
            check_rds_backups,
            remediation=f"backup_retention_period >= {MIN_BACKUP_DAYS}.",
        ),
        resource_policy(
            "aws-rds-deletion-protection",
            "RDS instances and clusters in prod have deletion protection.",
            [RDS_INSTANCE, RDS_CLUSTER],
            check_rds_deletion_protection,
            remediation="deletion_protection=True.",
        ),
        resource_policy(
            "aws-elasticache-encryption",
            "ElastiCache replication groups encrypt at rest and in transit.",
            [ELASTICACHE_RG],
            check_elasticache_encryption,
            remediation="at_rest_encryption_enabled=True, transit_encryption_enabled=True.",
        ),
        resource_policy(
            "aws-ebs-encrypted",
            "EBS volumes are encrypted.",
            [EBS_VOLUME],
            check_ebs_encrypted,
            remediation="encrypted=True.",
        ),
        resource_policy(
            "aws-eks-private-endpoint",
            "The EKS API endpoint is private, or public only to CIDRs that together cover at "
            "most the configured address space.",
            [EKS_CLUSTER],
            check_eks_endpoint,
            config_properties=EXPOSURE_SCHEMA,
            reads_config=True,
            remediation=(
                "vpc_config.endpoint_public_access=False, or public_access_cidrs without 0.0.0.0/0."
            ),
            severity=Severity.CRITICAL,
        ),
        resource_policy(
            "aws-ecr-scan-on-push",
            "ECR repositories scan images on push.",
            [ECR_REPOSITORY],
            check_ecr_scan,
            remediation="image_scanning_configuration={'scan_on_push': True}.",
            severity=Severity.MEDIUM,
        ),
        resource_policy(
            "aws-ecr-immutable-tags",
            "ECR repositories have immutable tags.",
            [ECR_REPOSITORY],
            check_ecr_immutable,
            remediation="image_tag_mutability='IMMUTABLE'.",
            severity=Severity.MEDIUM,
        ),
        resource_policy(
            "aws-kms-key-rotation",
            "Symmetric KMS keys rotate automatically.",
            [KMS_KEY],
            check_kms_rotation,
            remediation="enable_key_rotation=True.",
            severity=Severity.MEDIUM,
        ),
    ]
