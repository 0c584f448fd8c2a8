"""Stack policies: namespaces need a default deny, buckets need SSE + public access block,
prod stateful resources are protected. Links are resolved from names, auto-names and deps."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from . import fixtures as fx
from .harness import UNKNOWN, StackItem, check_stack

NS, NP = fx.NAMESPACE, fx.NETWORK_POLICY
BUCKET = "aws:s3/bucket:Bucket"
SSE = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
PAB = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ACCOUNT_PAB = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
SC = "kubernetes:storage.k8s.io/v1:StorageClass"
FLAGS = {
    "blockPublicAcls": True,
    "blockPublicPolicy": True,
    "ignorePublicAcls": True,
    "restrictPublicBuckets": True,
}
SSE_RULES = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]


def k8s_items() -> list[StackItem]:
    return [
        StackItem(NS, "core", fx.namespace("sutazai-core")),
        StackItem(NS, "data", fx.namespace("sutazai-data")),
        StackItem(NP, "core-deny", fx.default_deny("sutazai-core")),
        StackItem(NP, "data-deny", fx.default_deny("sutazai-data")),
        StackItem(NP, "core-allow", fx.allow_policy("sutazai-core")),
    ]


def s3_items() -> list[StackItem]:
    return [
        StackItem(BUCKET, "artifacts", {"bucket": "sutazai-artifacts-prod"}, protect=True),
        StackItem(BUCKET, "logs", {}, protect=True),  # auto-named: logs-<random>
        StackItem(SSE, "artifacts-sse", {"bucket": "sutazai-artifacts-prod", "rules": SSE_RULES}),
        StackItem(SSE, "logs-sse", {"bucket": "logs-9a8b7c6", "rules": SSE_RULES}),
        StackItem(PAB, "artifacts-pab", {"bucket": "sutazai-artifacts-prod", **FLAGS}),
        StackItem(PAB, "logs-pab", {"bucket": "logs-9a8b7c6", **FLAGS}),
    ]


def prod_items() -> list[StackItem]:
    return [
        StackItem("aws:rds/instance:Instance", "postgres", fx.rds_instance(), protect=True),
        StackItem("aws:rds/cluster:Cluster", "aurora", fx.rds_cluster(), protect=True),
        StackItem(
            "aws:elasticache/replicationGroup:ReplicationGroup",
            "redis",
            fx.elasticache(),
            protect=True,
        ),
        StackItem("aws:ebs/volume:Volume", "scratch", fx.ebs_volume(), protect=True),
        StackItem("aws:kms/key:Key", "data", fx.kms_key(), protect=True),
        StackItem(BUCKET, "artifacts", {}, protect=True),
        StackItem(PVC, "models", {"metadata": {"name": "models"}}, protect=True),
        StackItem(SC, "gp3", {"provisioner": "ebs.csi.aws.com", "reclaimPolicy": "Retain"}),
        StackItem(
            fx.DEPLOYMENT, "backend", fx.workload(fx.DEPLOYMENT)
        ),  # stateless: no protect needed
    ]


@pytest.mark.parametrize(
    ("policy", "items"),
    [
        ("k8s-namespace-default-deny", k8s_items),
        ("aws-s3-encryption", s3_items),
        ("aws-s3-public-access-block", s3_items),
        ("prod-stateful-protected", prod_items),
    ],
)
def test_hardened_stack_passes(policy: str, items: Callable[[], list[StackItem]]) -> None:
    assert check_stack(policy, items()) == []


def _without(items: list[StackItem], name: str) -> list[StackItem]:
    return [i for i in items if i.name != name]


def _edit(items: list[StackItem], name: str, edit: Callable[[StackItem], None]) -> list[StackItem]:
    for i in items:
        if i.name == name:
            edit(i)
    return items


NETPOL_CASES: list[tuple[str, Callable[[], list[StackItem]]]] = [
    ("no-deny", lambda: _without(k8s_items(), "data-deny")),
    (
        "deny-in-other-namespace",
        lambda: _edit(
            k8s_items(), "data-deny", lambda i: i.inputs["metadata"].update(namespace="default")
        ),
    ),
    (
        "selector-not-empty",
        lambda: _edit(
            k8s_items(),
            "data-deny",
            lambda i: i.inputs["spec"].update(podSelector={"matchLabels": {"a": "b"}}),
        ),
    ),
    (
        "ingress-only",
        lambda: _edit(
            k8s_items(), "data-deny", lambda i: i.inputs["spec"].update(policyTypes=["Ingress"])
        ),
    ),
    (
        "allows-everything",
        lambda: _edit(k8s_items(), "data-deny", lambda i: i.inputs["spec"].update(ingress=[{}])),
    ),
    (
        "selector-missing",
        lambda: _edit(k8s_items(), "data-deny", lambda i: i.inputs["spec"].pop("podSelector")),
    ),
]


@pytest.mark.parametrize("case", NETPOL_CASES, ids=[c[0] for c in NETPOL_CASES])
def test_namespace_without_default_deny_is_reported(
    case: tuple[str, Callable[[], list[StackItem]]],
) -> None:
    found = check_stack("k8s-namespace-default-deny", case[1]())
    assert len(found) == 1
    message, urn = found[0]
    assert "'sutazai-data'" in message and urn is not None and urn.endswith("::data")


def test_auto_named_namespace_links_by_prefix_or_dependency() -> None:
    auto = fx.namespace()
    del auto["metadata"]["name"]
    by_prefix = [
        StackItem(NS, "agents", auto),
        StackItem(NP, "deny", fx.default_deny("agents-x1y2z3")),
    ]
    assert check_stack("k8s-namespace-default-deny", by_prefix) == []
    by_dep = [
        StackItem(NS, "agents", auto),
        StackItem(
            NP, "deny", fx.default_deny(UNKNOWN), property_dependencies={"metadata": ["agents"]}
        ),
    ]
    assert check_stack("k8s-namespace-default-deny", by_dep) == []
    by_parent = [
        StackItem(NS, "agents", auto),
        StackItem(NP, "deny", fx.default_deny(UNKNOWN), parent="agents"),
    ]
    assert check_stack("k8s-namespace-default-deny", by_parent) == []
    unlinked = [StackItem(NS, "agents", auto), StackItem(NP, "deny", fx.default_deny(UNKNOWN))]
    assert len(check_stack("k8s-namespace-default-deny", unlinked)) == 1


S3_CASES: list[tuple[str, str, Callable[[], list[StackItem]]]] = [
    ("aws-s3-encryption", "no-sse", lambda: _without(s3_items(), "logs-sse")),
    (
        "aws-s3-encryption",
        "sse-for-other-bucket",
        lambda: _edit(
            s3_items(), "logs-sse", lambda i: i.inputs.update(bucket="sutazai-artifacts-prod")
        ),
    ),
    (
        "aws-s3-encryption",
        "sse-without-algorithm",
        lambda: _edit(s3_items(), "logs-sse", lambda i: i.inputs.update(rules=[{}])),
    ),
    ("aws-s3-public-access-block", "no-pab", lambda: _without(s3_items(), "logs-pab")),
    (
        "aws-s3-public-access-block",
        "flag-false",
        lambda: _edit(
            s3_items(), "logs-pab", lambda i: i.inputs.update(restrictPublicBuckets=False)
        ),
    ),
    (
        "aws-s3-public-access-block",
        "flag-unset",
        lambda: _edit(s3_items(), "logs-pab", lambda i: i.inputs.pop("ignorePublicAcls")),
    ),
]


@pytest.mark.parametrize(
    ("policy", "case", "items"), S3_CASES, ids=[f"{c[0]}:{c[1]}" for c in S3_CASES]
)
def test_bucket_without_control_is_reported(
    policy: str, case: str, items: Callable[[], list[StackItem]]
) -> None:
    found = check_stack(policy, items())
    assert [u for _, u in found] == [f"urn:pulumi:prod::sutazai::{BUCKET}::logs"], (case, found)
    assert "Fix:" in found[0][0]


def test_s3_links_by_longest_name_and_account_block() -> None:
    # "data" and "data-archive": the SSE for data-archive must not count for "data".
    items = [
        StackItem(BUCKET, "data", {}),
        StackItem(BUCKET, "data-archive", {}),
        StackItem(SSE, "sse", {"bucket": "data-archive-123abc", "rules": SSE_RULES}),
    ]
    assert [u for _, u in check_stack("aws-s3-encryption", items)] == [
        f"urn:pulumi:prod::sutazai::{BUCKET}::data"
    ]
    account = [StackItem(BUCKET, "data", {}), StackItem(ACCOUNT_PAB, "account", dict(FLAGS))]
    assert check_stack("aws-s3-public-access-block", account) == []
    inline = [
        StackItem(BUCKET, "data", {"serverSideEncryptionConfiguration": {"rules": SSE_RULES}})
    ]
    assert check_stack("aws-s3-encryption", inline) == []


PROTECT_CASES = [i.name for i in prod_items() if i.type not in (SC, fx.DEPLOYMENT)]


@pytest.mark.parametrize("name", PROTECT_CASES)
def test_unprotected_stateful_resource_in_prod_is_reported(name: str) -> None:
    items = _edit(prod_items(), name, lambda i: setattr(i, "protect", False))
    found = check_stack("prod-stateful-protected", items)
    assert len(found) == 1 and found[0][1] is not None and found[0][1].endswith(f"::{name}")
    assert "protect=True" in found[0][0]


@pytest.mark.parametrize("policy", [{"reclaimPolicy": "Delete"}, {}])
def test_storage_class_must_retain_in_prod(policy: dict[str, str]) -> None:
    items = _edit(
        prod_items(),
        "gp3",
        lambda i: setattr(i, "inputs", {"provisioner": "ebs.csi.aws.com", **policy}),
    )
    found = check_stack("prod-stateful-protected", items)
    assert len(found) == 1 and "Retain" in found[0][0]


@pytest.mark.parametrize("stack", ["dev", "dev-alice", "prod"])
def test_protection_follows_the_configured_environment(stack: str) -> None:
    items = prod_items()
    for i in items:
        i.protect = False
    assert check_stack("prod-stateful-protected", items, stack=stack, environment="dev") == []
    assert check_stack("prod-stateful-protected", items, stack=stack, environment="prod")
