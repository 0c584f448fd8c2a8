"""AWS data-safety rules, called directly: hardened fixture passes, each mutation is caught."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from . import fixtures as fx
from .harness import UNKNOWN, Mutation, check, check_all, delp, mutated, setp

SG = "aws:ec2/securityGroup:SecurityGroup"
SG_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SG_INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
RDS = "aws:rds/instance:Instance"
AURORA = "aws:rds/cluster:Cluster"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
EBS = "aws:ebs/volume:Volume"
EKS = "aws:eks/cluster:Cluster"
ECR = "aws:ecr/repository:Repository"
KMS = "aws:kms/key:Key"

FIXTURES: list[tuple[str, Callable[[], dict[str, Any]]]] = [
    (SG, fx.security_group),
    (SG_RULE, fx.security_group_rule),
    (SG_INGRESS, fx.sg_ingress_rule),
    (RDS, fx.rds_instance),
    (AURORA, fx.rds_cluster),
    (REDIS, fx.elasticache),
    (EBS, fx.ebs_volume),
    (EKS, fx.eks_cluster),
    (ECR, fx.ecr_repository),
    (KMS, fx.kms_key),
]


@pytest.mark.parametrize(("type_", "make"), FIXTURES, ids=[f[0] for f in FIXTURES])
def test_hardened_fixture_passes_every_policy(
    type_: str, make: Callable[[], dict[str, Any]]
) -> None:
    assert check_all(type_, make()) == {}


PUBLIC = "aws-sg-public-ingress-https-only"
MUTATIONS: list[tuple[str, str, str, Mutation]] = [
    (PUBLIC, SG, "http-from-world", setp(("ingress", 0, "fromPort"), 80.0)),
    (PUBLIC, SG, "port-range-to-443", setp(("ingress", 0, "toPort"), 8443.0)),
    (PUBLIC, SG, "ssh-from-ipv6-world", setp(("ingress", 1, "toPort"), 22.0)),
    (PUBLIC, SG, "all-protocols", setp(("ingress", 0, "protocol"), "-1")),
    (PUBLIC, SG, "udp-443", setp(("ingress", 0, "protocol"), "udp")),
    (
        PUBLIC,
        SG,
        "postgres-from-world",
        setp(("ingress", 2, "cidrBlocks"), ["10.0.0.0/16", "0.0.0.0/0"]),
    ),
    (PUBLIC, SG_RULE, "rule-port-22", setp(("fromPort",), 22.0)),
    (
        PUBLIC,
        SG_RULE,
        "rule-ipv6-8080",
        lambda o: o.update(fromPort=8080.0, toPort=8080.0, cidrBlocks=[], ipv6CidrBlocks=["::/0"]),
    ),
    (
        PUBLIC,
        SG_INGRESS,
        "vpc-rule-all",
        lambda o: o.update(ipProtocol="-1", fromPort=None, toPort=None),
    ),
    (
        PUBLIC,
        SG_INGRESS,
        "vpc-rule-ipv6-5432",
        lambda o: o.update(cidrIpv4=None, cidrIpv6="::/0", fromPort=5432.0, toPort=5432.0),
    ),
    ("aws-rds-storage-encrypted", RDS, "false", setp(("storageEncrypted",), False)),
    ("aws-rds-storage-encrypted", RDS, "unset", delp(("storageEncrypted",))),
    ("aws-rds-storage-encrypted", AURORA, "cluster-false", setp(("storageEncrypted",), False)),
    ("aws-rds-backup-retention", RDS, "3-days", setp(("backupRetentionPeriod",), 3.0)),
    ("aws-rds-backup-retention", RDS, "unset", delp(("backupRetentionPeriod",))),
    ("aws-rds-backup-retention", AURORA, "cluster-1-day", setp(("backupRetentionPeriod",), 1.0)),
    ("aws-rds-deletion-protection", RDS, "false", setp(("deletionProtection",), False)),
    ("aws-rds-deletion-protection", RDS, "unset", delp(("deletionProtection",))),
    ("aws-rds-deletion-protection", AURORA, "cluster-unset", delp(("deletionProtection",))),
    (
        "aws-elasticache-encryption",
        REDIS,
        "at-rest-false",
        setp(("atRestEncryptionEnabled",), False),
    ),
    ("aws-elasticache-encryption", REDIS, "at-rest-unset", delp(("atRestEncryptionEnabled",))),
    (
        "aws-elasticache-encryption",
        REDIS,
        "transit-false",
        setp(("transitEncryptionEnabled",), False),
    ),
    ("aws-elasticache-encryption", REDIS, "transit-unset", delp(("transitEncryptionEnabled",))),
    ("aws-ebs-encrypted", EBS, "false", setp(("encrypted",), False)),
    ("aws-ebs-encrypted", EBS, "unset", delp(("encrypted",))),
    (
        "aws-eks-private-endpoint",
        EKS,
        "public-true",
        setp(("vpcConfig", "endpointPublicAccess"), True),
    ),
    ("aws-eks-private-endpoint", EKS, "public-unset", delp(("vpcConfig", "endpointPublicAccess"))),
    (
        "aws-eks-private-endpoint",
        EKS,
        "public-to-world",
        lambda o: o["vpcConfig"].update(endpointPublicAccess=True, publicAccessCidrs=["0.0.0.0/0"]),
    ),
    (
        "aws-ecr-scan-on-push",
        ECR,
        "false",
        setp(("imageScanningConfiguration", "scanOnPush"), False),
    ),
    ("aws-ecr-scan-on-push", ECR, "unset", delp(("imageScanningConfiguration",))),
    ("aws-ecr-immutable-tags", ECR, "mutable", setp(("imageTagMutability",), "MUTABLE")),
    ("aws-ecr-immutable-tags", ECR, "unset", delp(("imageTagMutability",))),
    ("aws-kms-key-rotation", KMS, "false", setp(("enableKeyRotation",), False)),
    ("aws-kms-key-rotation", KMS, "unset", delp(("enableKeyRotation",))),
]


@pytest.mark.parametrize(
    ("policy", "type_", "case", "mutation"), MUTATIONS, ids=[f"{m[0]}:{m[2]}" for m in MUTATIONS]
)
def test_each_mutation_is_caught_by_its_rule(
    policy: str, type_: str, case: str, mutation: Mutation
) -> None:
    make = dict(FIXTURES)[type_]
    messages = check(policy, type_, mutated(make(), mutation))
    assert messages, f"{policy} missed {case}"
    assert all(type_ in m and "Fix:" in m for m in messages)


def test_allowed_variants_pass() -> None:
    assert (
        check(PUBLIC, SG_RULE, {**fx.security_group_rule(), "type": "egress", "fromPort": 0.0})
        == []
    )
    assert (
        check(
            PUBLIC,
            SG_INGRESS,
            {
                **fx.sg_ingress_rule(),
                "fromPort": 5432.0,
                "toPort": 5432.0,
                "cidrIpv4": "10.0.0.0/16",
            },
        )
        == []
    )
    assert check(PUBLIC, SG_INGRESS, {**fx.sg_ingress_rule(), "ipProtocol": "6"}) == []
    listed = mutated(
        fx.eks_cluster(),
        lambda o: o["vpcConfig"].update(
            endpointPublicAccess=True, publicAccessCidrs=["203.0.113.0/24"]
        ),
    )
    assert check("aws-eks-private-endpoint", EKS, listed) == []
    asymmetric = {"customerMasterKeySpec": "RSA_4096", "keyUsage": "SIGN_VERIFY"}
    assert check("aws-kms-key-rotation", KMS, asymmetric) == []
    assert (
        check("aws-rds-backup-retention", RDS, {**fx.rds_instance(), "backupRetentionPeriod": 35.0})
        == []
    )
    assert (
        check("aws-rds-storage-encrypted", RDS, {**fx.rds_instance(), "storageEncrypted": UNKNOWN})
        == []
    )


@pytest.mark.parametrize("stack", ["dev", "dev-alice", "prod"])
def test_deletion_protection_follows_the_configured_environment(stack: str) -> None:
    unprotected = {**fx.rds_instance(), "deletionProtection": False}
    policy = "aws-rds-deletion-protection"
    assert check(policy, RDS, unprotected, stack=stack, environment="dev") == []
    # A copy of prod under another name is still prod when the config says so.
    assert check(policy, RDS, unprotected, stack=stack, environment="prod")
