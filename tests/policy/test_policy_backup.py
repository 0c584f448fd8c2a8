"""prod-backup-coverage: every stateful resource of a prod stack is picked by an AWS Backup
selection through its tags. A covered stack passes; each single mutation that takes one
resource out of every selection (or makes it unreadable) is reported on that resource."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from . import fixtures as fx
from .harness import UNKNOWN, StackItem, check_stack

POLICY = "prod-backup-coverage"
SELECTION = "aws:backup/selection:Selection"
RDS = "aws:rds/instance:Instance"
EBS = "aws:ebs/volume:Volume"
SC = "kubernetes:storage.k8s.io/v1:StorageClass"
STS = "kubernetes:apps/v1:StatefulSet"
PVC = "kubernetes:core/v1:PersistentVolumeClaim"
PV = "kubernetes:core/v1:PersistentVolume"
REDIS = "aws:elasticache/replicationGroup:ReplicationGroup"
TAG = [{"type": "STRINGEQUALS", "key": "sutazai:backup", "value": "prod"}]


def selection(resources: list[str] | None, **extra: Any) -> dict[str, Any]:
    inputs: dict[str, Any] = {"planId": "plan-1", "iamRoleArn": "arn", "selectionTags": TAG}
    if resources is not None:
        inputs["resources"] = resources
    return {**inputs, **extra}


def storage_class(**parameters: str) -> dict[str, Any]:
    return {
        "metadata": {
            "name": "sutazai-gp3",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "ebs.csi.aws.com",
        "reclaimPolicy": "Retain",
        "parameters": {
            "type": "gp3",
            "tagSpecification_1": "sutazai:backup=prod",
            "tagSpecification_2": "sutazai:stack=prod",
            **parameters,
        },
    }


def stateful_set(storage_class_name: Any = "sutazai-gp3") -> dict[str, Any]:
    manifest = copy.deepcopy(fx.workload(STS))
    claim: dict[str, Any] = {"accessModes": ["ReadWriteOnce"]}
    if storage_class_name is not None:
        claim["storageClassName"] = storage_class_name
    manifest["spec"]["volumeClaimTemplates"] = [{"metadata": {"name": "data"}, "spec": claim}]
    return manifest


def covered_stack() -> list[StackItem]:
    return [
        StackItem(SELECTION, "volumes", selection(["arn:aws:ec2:*:*:volume/*"])),
        StackItem(SELECTION, "databases", selection(["arn:aws:rds:*:*:db:*"])),
        StackItem(RDS, "postgres", {**fx.rds_instance(), "tags": {"sutazai:backup": "prod"}}),
        StackItem(EBS, "restored", {**fx.ebs_volume(), "tags": {"sutazai:backup": "prod"}}),
        StackItem(SC, "gp3", storage_class()),
        StackItem(STS, "qdrant", stateful_set()),
        StackItem(STS, "neo4j", stateful_set(None)),  # the default class
        StackItem(PVC, "models", {"spec": {"storageClassName": "sutazai-gp3"}}),
        StackItem(
            PV,
            "qdrant-restored",
            {"spec": {"csi": {"driver": "ebs.csi.aws.com", "volumeHandle": "vol-1"}}},
            property_dependencies={"spec": ["restored"]},
        ),
        StackItem(REDIS, "redis", {**fx.elasticache(), "snapshotRetentionLimit": 7}),
    ]


def test_covered_prod_stack_passes() -> None:
    assert check_stack(POLICY, covered_stack()) == []


def test_one_selection_for_every_type_covers_everything() -> None:
    items = [i for i in covered_stack() if i.type != SELECTION]
    items.append(StackItem(SELECTION, "all", selection(None)))
    assert check_stack(POLICY, items) == []
    items[-1] = StackItem(SELECTION, "all", selection(["*"]))
    assert check_stack(POLICY, items) == []


def test_other_stacks_are_not_checked() -> None:
    items = [i for i in covered_stack() if i.type != SELECTION]
    assert check_stack(POLICY, items, stack="dev", environment="dev") == []


def _edit(name: str, edit: Callable[[StackItem], None]) -> Callable[[], list[StackItem]]:
    def build() -> list[StackItem]:
        items = covered_stack()
        for item in items:
            if item.name == name:
                edit(item)
        return items

    return build


def _drop(*names: str) -> Callable[[], list[StackItem]]:
    return lambda: [i for i in covered_stack() if i.name not in names]


def _set(name: str, key: str, value: Any) -> Callable[[], list[StackItem]]:
    return _edit(name, lambda i: i.inputs.__setitem__(key, value))


def _param(**parameters: Any) -> Callable[[], list[StackItem]]:
    return _edit("gp3", lambda i: i.inputs["parameters"].update(parameters))


# (case, stack builder, the resource reported, a word the message must contain)
CASES: list[tuple[str, Callable[[], list[StackItem]], str, str]] = [
    ("rds-untagged", _set("postgres", "tags", {}), "postgres", "not backed up"),
    ("rds-tags-missing", _edit("postgres", lambda i: i.inputs.pop("tags")), "postgres", "not"),
    ("rds-other-value", _set("postgres", "tags", {"sutazai:backup": "dev"}), "postgres", "not"),
    ("rds-key-case", _set("postgres", "tags", {"Sutazai:Backup": "prod"}), "postgres", "not"),
    (
        "rds-unknown-tag",
        _set("postgres", "tags", {"sutazai:backup": UNKNOWN}),
        "postgres",
        "cannot",
    ),
    ("rds-tags-unknown", _set("postgres", "tags", UNKNOWN), "postgres", "cannot"),
    ("no-database-selection", _drop("databases"), "postgres", "no selection"),
    ("no-selection-at-all", _drop("databases", "volumes"), "postgres", "no AWS Backup"),
    ("ebs-untagged", _set("restored", "tags", {"Name": "x"}), "restored", "not backed up"),
    ("sc-no-tags", _edit("gp3", lambda i: i.inputs["parameters"].clear()), "gp3", "not backed up"),
    ("sc-other-value", _param(tagSpecification_1="sutazai:backup=dev"), "gp3", "not backed"),
    (
        "sc-templated",
        _param(tagSpecification_1="sutazai:backup={{ .PVCNamespace }}"),
        "gp3",
        "templated",
    ),
    ("sc-not-key-value", _param(tagSpecification_1="sutazai:backup"), "gp3", "key=value"),
    ("sc-unknown-value", _param(tagSpecification_1=UNKNOWN), "gp3", "key=value"),
    ("sc-other-provisioner", _set("gp3", "provisioner", "efs.csi.aws.com"), "gp3", "provisioner"),
    (
        "sts-unknown-class",
        _edit("qdrant", lambda i: i.inputs.update(stateful_set("gp2"))),
        "qdrant",
        "not created",
    ),
    (
        "sts-class-unknown",
        _edit("qdrant", lambda i: i.inputs.update(stateful_set(UNKNOWN))),
        "qdrant",
        "unknown",
    ),
    (
        "sts-no-default-class",
        _edit("gp3", lambda i: i.inputs["metadata"].pop("annotations")),
        "neo4j",
        "default",
    ),
    (
        "pvc-other-class",
        _set("models", "spec", {"storageClassName": "io2"}),
        "models",
        "not created",
    ),
    (
        "pv-foreign-volume",
        _edit("qdrant-restored", lambda i: i.property_dependencies.clear()),
        "qdrant-restored",
        "does not create",
    ),
    (
        "pv-not-ebs",
        _set("qdrant-restored", "spec", {"nfs": {"server": "10.0.0.1", "path": "/"}}),
        "qdrant-restored",
        "static volume",
    ),
    ("redis-no-snapshots", _set("redis", "snapshotRetentionLimit", 0), "redis", "ElastiCache"),
    (
        "redis-snapshots-unset",
        _edit("redis", lambda i: i.inputs.pop("snapshotRetentionLimit", None)),
        "redis",
        "ElastiCache",
    ),
    # Selections that do not (provably) pick what they seem to.
    (
        "selection-wrong-pattern",
        _set("databases", "resources", ["arn:aws:rds:*:*:cluster:*"]),
        "postgres",
        "not backed up",
    ),
    (
        "selection-excludes-db",
        _set("databases", "notResources", ["arn:aws:rds:*:*:db:*"]),
        "postgres",
        "not backed up",
    ),
    (
        "selection-other-tag-type",
        _set("databases", "selectionTags", [{**TAG[0], "type": "STRINGLIKE"}]),
        "databases",
        "cannot read",
    ),
    (
        "selection-unknown-value",
        _set("databases", "selectionTags", [{**TAG[0], "value": UNKNOWN}]),
        "databases",
        "cannot read",
    ),
    ("selection-arns-only", _set("databases", "selectionTags", []), "databases", "cannot read"),
    (
        "selection-condition-fails",
        _set(
            "databases",
            "conditions",
            [{"stringEquals": [{"key": "aws:ResourceTag/sutazai:stack", "value": "prod"}]}],
        ),
        "postgres",
        "not backed up",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_uncovered_resource_is_reported(
    case: tuple[str, Callable[[], list[StackItem]], str, str],
) -> None:
    _, build, offender, word = case
    found = check_stack(POLICY, build())
    on_offender = [m for m, urn in found if urn is not None and urn.endswith(f"::{offender}")]
    assert on_offender, found
    assert any(word in m for m in on_offender), on_offender


def test_a_condition_that_holds_keeps_coverage() -> None:
    items = covered_stack()
    for item in items:
        if item.name == "postgres":
            item.inputs["tags"] = {"sutazai:backup": "prod", "sutazai:stack": "prod"}
        if item.name == "databases":
            item.inputs["conditions"] = [
                {"stringLike": [{"key": "aws:ResourceTag/sutazai:stack", "value": "pro*"}]}
            ]
    assert check_stack(POLICY, items) == []


def test_an_exception_waives_one_resource_only() -> None:
    items = _set("postgres", "tags", {})()
    items = [*items, StackItem(RDS, "reporting", {**fx.rds_instance(), "tags": {}})]
    config = {
        "waivers": [
            {
                "type": RDS,
                "name": "postgres",
                "checks": {"backupCoverage": "uncovered"},
                "reason": "a scratch database, rebuilt from the application's sources",
            }
        ]
    }
    found = check_stack(POLICY, items, config=config)
    assert [urn.rsplit("::", 1)[1] for _, urn in found if urn] == ["reporting"]
