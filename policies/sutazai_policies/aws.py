"""AWS data-safety rules (pulumi-aws 7.x input names, camelCase as the engine sends them)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from pulumi_policy import Policy, Severity

from .config import is_prod
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
# How much globally routable address space a rule may open before it counts as public:
# at most one /24 (IPv4) or /56 (IPv6), unless the policy config says otherwise.
DEFAULT_IPV4_PREFIX: Final = 24
DEFAULT_IPV6_PREFIX: Final = 56
EXPOSURE_SCHEMA: Final[dict[str, Any]] = {
    "maxPublicIpv4Prefix": {
        "type": "integer",
        "minimum": 0,
        "maximum": 32,
        "default": DEFAULT_IPV4_PREFIX,
        "description": "Global IPv4 space larger than one prefix of this length is public.",
    },
    "maxPublicIpv6Prefix": {
        "type": "integer",
        "minimum": 0,
        "maximum": 128,
        "default": DEFAULT_IPV6_PREFIX,
        "description": "Global IPv6 space larger than one prefix of this length is public.",
    },
}

_NOT_GLOBAL: Final = {
    4: list(
        ipaddress.collapse_addresses(
            ipaddress.IPv4Network(n)
            for n in (
                "0.0.0.0/8",
                "10.0.0.0/8",
                "100.64.0.0/10",
                "127.0.0.0/8",
                "169.254.0.0/16",
                "172.16.0.0/12",
                "192.0.0.0/24",
                "192.0.2.0/24",
                "192.168.0.0/16",
                "198.18.0.0/15",
                "198.51.100.0/24",
                "203.0.113.0/24",
                "224.0.0.0/3",
            )
        )
    ),
    6: list(
        ipaddress.collapse_addresses(
            ipaddress.IPv6Network(n)
            for n in ("::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8", "2001:db8::/32")
        )
    ),
}


@dataclass(frozen=True)
class Exposure:
    """The union of a rule's CIDRs: how much globally routable space it covers."""

    ipv4_global: int
    ipv6_global: int
    invalid: tuple[str, ...]

    def is_public(self, config: Any) -> bool:
        v4 = _prefix(config, "maxPublicIpv4Prefix", DEFAULT_IPV4_PREFIX, 32)
        v6 = _prefix(config, "maxPublicIpv6Prefix", DEFAULT_IPV6_PREFIX, 128)
        return self.ipv4_global > 2 ** (32 - v4) or self.ipv6_global > 2 ** (128 - v6)

    def describe(self) -> str:
        parts = []
        if self.ipv4_global:
            parts.append(f"{self.ipv4_global} global IPv4 addresses")
        if self.ipv6_global:
            parts.append(f"2^{self.ipv6_global.bit_length() - 1}+ global IPv6 addresses")
        return " and ".join(parts) or "no global addresses"


def _prefix(config: Any, key: str, default: int, bits: int) -> int:
    value = as_int(get(config, key)) if isinstance(config, dict) else None
    return value if value is not None and 0 <= value <= bits else default


def exposure(cidrs: list[Any]) -> Exposure:
    """Union of CIDRs (split ranges, overlaps and IPv6 counted once), minus private space."""
    nets: dict[int, list[Any]] = {4: [], 6: []}
    invalid: list[str] = []
    for cidr in cidrs:
        if cidr is UNKNOWN or cidr is None:
            continue
        try:
            net = ipaddress.ip_network(str(cidr).strip(), strict=False)
        except ValueError:
            invalid.append(repr(cidr))
            continue
        nets[net.version].append(net)
    counts = {}
    for version, found in nets.items():
        total = 0
        for net in ipaddress.collapse_addresses(found):  # type: ignore[arg-type]
            covered = net.num_addresses
            for private in _NOT_GLOBAL[version]:
                if private.subnet_of(net):  # type: ignore[arg-type]
                    covered -= private.num_addresses
                elif net.subnet_of(private):  # type: ignore[arg-type]
                    covered = 0
                    break
            total += covered
        counts[version] = total
    return Exposure(counts[4], counts[6], tuple(invalid))


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


def check_sg_public_ingress(res: Resource, config: Any) -> Iterator[str | Finding]:
    for where, rule, cidrs in _ingress_rules(res):
        reach = exposure(cidrs)
        for bad in reach.invalid:
            yield f"{where} lists {bad}, not a CIDR. Fix: use a valid CIDR block."
        if not reach.is_public(config):
            continue
        protocol = rule.get("protocol")
        if protocol is UNKNOWN:
            continue
        proto = str(protocol).strip().lower() if protocol is not None else "unset"
        lo, hi = as_int(rule.get("fromPort")), as_int(rule.get("toPort"))
        if proto in ("tcp", "6") and lo == PUBLIC_PORT and hi == PUBLIC_PORT:
            continue
        if proto in ("-1", "all"):
            ports = "all"
        else:
            ports = f"{proto}/{lo}" if lo == hi else f"{proto}/{lo}-{hi}"
        yield Finding(
            f"{where} opens {ports} to {reach.describe()} ({', '.join(map(str, cidrs))}). "
            "Only tcp/443 may be public. Fix: restrict the source to the VPC/peer CIDRs or a "
            "source security group, or put it behind the HTTPS load balancer.",
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
