"""Backup coverage: in prod, every stateful resource is picked by an AWS Backup selection.

A selection (`aws:backup/selection:Selection`) picks resources by tag: any of its
`selectionTags` (STRINGEQUALS key=value) matches, all of its `conditions` hold, its
`resources` patterns (none: every type) include the resource's kind and no `notResources`
pattern excludes it. The rule applies exactly that to what the stack creates:

* AWS resources AWS Backup supports (RDS instances and clusters, EBS volumes, EFS, DynamoDB):
  their own `tags` (provider default tags are invisible here: tag them explicitly);
* EBS StorageClasses: the tags the CSI driver puts on each volume it provisions
  (`tagSpecification_N` = `key=value` parameters); a templated value cannot be matched;
* volume claims (StatefulSet claim templates, PersistentVolumeClaims): the StorageClass they
  name, or the default one, must be covered; a class the stack does not create is unverifiable;
* static PersistentVolumes: an EBS one must be made from an EBS volume of this stack (checked
  above); any other source cannot be backed up by the plan;
* ElastiCache, which AWS Backup does not support, keeps its own snapshots
  (`snapshotRetentionLimit` >= 1).

What the rule cannot read (an unknown tag value, a selection tag of another type, a
provisioner it does not know) counts as not covered: in prod that is a violation, not silence.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from pulumi_policy import Policy, Severity

from .rules import Finding, Resource, stack_policy
from .values import UNKNOWN, as_dict, as_int, as_list, is_prod

SELECTION: Final = "aws:backup/selection:Selection"
ELASTICACHE_RG: Final = "aws:elasticache/replicationGroup:ReplicationGroup"
STORAGE_CLASS: Final = "kubernetes:storage.k8s.io/v1:StorageClass"
STATEFUL_SET: Final = "kubernetes:apps/v1:StatefulSet"
PVC: Final = "kubernetes:core/v1:PersistentVolumeClaim"
PV: Final = "kubernetes:core/v1:PersistentVolume"
EBS_VOLUME: Final = "aws:ebs/volume:Volume"
EBS_PROVISIONERS: Final = frozenset({"ebs.csi.aws.com", "kubernetes.io/aws-ebs"})
DEFAULT_CLASS_ANNOTATIONS: Final = (
    "storageclass.kubernetes.io/is-default-class",
    "storageclass.beta.kubernetes.io/is-default-class",
)
# A resource ARN of each kind AWS Backup supports, to test selection patterns against.
SAMPLE_ARNS: Final = {
    "aws:rds/instance:Instance": "arn:aws:rds:us-east-1:000000000000:db:sample",
    "aws:rds/cluster:Cluster": "arn:aws:rds:us-east-1:000000000000:cluster:sample",
    EBS_VOLUME: "arn:aws:ec2:us-east-1:000000000000:volume/vol-00000000000000000",
    "aws:efs/fileSystem:FileSystem": (
        "arn:aws:elasticfilesystem:us-east-1:000000000000:file-system/fs-00000000"
    ),
    "aws:dynamodb/table:Table": "arn:aws:dynamodb:us-east-1:000000000000:table/sample",
}
_TAG_CONDITION = re.compile(r"^aws:ResourceTag/(.+)$")


@dataclass(frozen=True)
class Selection:
    """What one selection picks, read from its inputs; `readable` False if any part is not."""

    name: str
    tags: tuple[tuple[str, str], ...]
    conditions: tuple[tuple[str, str, str], ...]  # (operator, tag key, value)
    resources: tuple[str, ...]
    not_resources: tuple[str, ...]
    readable: bool

    def covers(self, kind: str, tags: dict[str, str]) -> bool:
        if not self.readable:
            return False
        sample = SAMPLE_ARNS[kind]
        if self.resources and not any(fnmatch.fnmatchcase(sample, p) for p in self.resources):
            return False
        if any(fnmatch.fnmatchcase(sample, p) for p in self.not_resources):
            return False
        if not any(tags.get(k) == v for k, v in self.tags):
            return False
        return all(_condition_holds(op, tags.get(k), v) for op, k, v in self.conditions)


def _condition_holds(operator: str, actual: str | None, expected: str) -> bool:
    if operator == "stringEquals":
        return actual == expected
    if operator == "stringLike":
        return actual is not None and fnmatch.fnmatchcase(actual, expected)
    if operator == "stringNotEquals":
        return actual != expected
    if operator == "stringNotLike":
        return actual is None or not fnmatch.fnmatchcase(actual, expected)
    return False


def _strings(values: Any) -> tuple[tuple[str, ...], bool]:
    items = as_list(values) if values is not None else []
    if values is not None and not isinstance(values, list):
        return (), False
    ok = all(isinstance(v, str) and v is not UNKNOWN for v in items)
    return tuple(v for v in items if isinstance(v, str)), ok


def read_selection(res: Resource) -> Selection:
    props = res.props
    readable = True
    tags: list[tuple[str, str]] = []
    for tag in as_list(props.get("selectionTags")):
        tag = as_dict(tag)
        key, value, kind = tag.get("key"), tag.get("value"), tag.get("type")
        if kind == "STRINGEQUALS" and isinstance(key, str) and isinstance(value, str):
            if UNKNOWN in (key, value):
                readable = False
            tags.append((key, value))
        else:
            readable = False
    conditions: list[tuple[str, str, str]] = []
    for block in as_list(props.get("conditions")):
        for operator, entries in as_dict(block).items():
            for entry in as_list(entries):
                entry = as_dict(entry)
                match = _TAG_CONDITION.match(str(entry.get("key", "")))
                value = entry.get("value")
                if match is None or not isinstance(value, str) or value is UNKNOWN:
                    readable = False
                    continue
                conditions.append((operator, match.group(1), value))
    resources, ok_resources = _strings(props.get("resources"))
    not_resources, ok_not = _strings(props.get("notResources"))
    if not tags:
        readable = False  # a selection that names ARNs only is not a tag selection
    return Selection(
        name=res.name,
        tags=tuple(tags),
        conditions=tuple(conditions),
        resources=resources,
        not_resources=not_resources,
        readable=readable and ok_resources and ok_not,
    )


def _plain_tags(value: Any) -> tuple[dict[str, str], bool]:
    """A resource's tags; False when a key or value is unknown (a computed tag)."""
    tags = as_dict(value)
    clean = {k: v for k, v in tags.items() if isinstance(k, str) and isinstance(v, str)}
    readable = value is not UNKNOWN and all(v is not UNKNOWN for v in clean.values())
    return clean, readable and len(clean) == len(tags)


def storage_class_tags(res: Resource) -> tuple[dict[str, str], list[str]]:
    """Tags an EBS StorageClass puts on its volumes, and why some cannot be read."""
    tags: dict[str, str] = {}
    problems: list[str] = []
    for key, value in sorted(as_dict(res.props.get("parameters")).items()):
        if not str(key).lower().startswith("tagspecification_"):
            continue
        if not isinstance(value, str) or value is UNKNOWN or "=" not in value:
            problems.append(f"parameter {key} is not a key=value string")
            continue
        tag, tag_value = (part.strip() for part in value.split("=", 1))
        if "{{" in tag or "{{" in tag_value:
            problems.append(f"parameter {key} is templated ({value}); it cannot be matched")
            continue
        tags[tag] = tag_value
    return tags, problems


def _describe(selections: list[Selection]) -> str:
    if not selections:
        return "the stack has no AWS Backup selection"
    picked = sorted({f"{k}={v}" for s in selections if s.readable for k, v in s.tags})
    return f"no selection picks it (selections pick {', '.join(picked) or 'nothing readable'})"


# What a waiver lists to exempt one resource exactly: {"backupCoverage": "uncovered"}.
WAIVER_CHECK: Final = "backupCoverage"
WAIVER_VALUE: Final = "uncovered"


def waivable_coverage(
    resources: list[Resource], stack: str
) -> Iterator[tuple[Resource | None, Finding]]:
    """check_backup_coverage's findings, each waivable for its one resource only."""
    for res, message in check_backup_coverage(resources, stack):
        if res is None:
            yield res, Finding(message)
        else:
            yield res, Finding(message, WAIVER_CHECK, WAIVER_VALUE)


def check_backup_coverage(
    resources: list[Resource], stack: str
) -> Iterator[tuple[Resource | None, str]]:
    if not is_prod(stack):
        return
    selections = [read_selection(r) for r in resources if r.type == SELECTION]
    for selection in selections:
        if not selection.readable:
            res = next(r for r in resources if r.type == SELECTION and r.name == selection.name)
            yield (
                res,
                "selects by something this rule cannot read (an unknown value, a selection tag "
                "other than STRINGEQUALS, a condition on anything but aws:ResourceTag, or ARNs "
                "without tags), so it counts for nothing. Fix: select by STRINGEQUALS tags.",
            )

    def covered(kind: str, tags: dict[str, str]) -> bool:
        return any(s.covers(kind, tags) for s in selections)

    classes: dict[str, bool] = {}
    default_classes: list[str] = []
    for res in resources:
        if res.type != STORAGE_CLASS:
            continue
        metadata = as_dict(res.props.get("metadata"))
        name = metadata.get("name") if isinstance(metadata.get("name"), str) else res.name
        annotations = as_dict(metadata.get("annotations"))
        if any(str(annotations.get(a)).lower() == "true" for a in DEFAULT_CLASS_ANNOTATIONS):
            default_classes.append(str(name))
        provisioner = res.props.get("provisioner")
        if provisioner not in EBS_PROVISIONERS:
            classes[str(name)] = False
            yield (
                res,
                f"provisioner {provisioner!r} makes volumes no backup selection can be checked "
                f"for (known: {', '.join(sorted(EBS_PROVISIONERS))}). Fix: use the EBS CSI "
                "driver with tagSpecification_N parameters, or add an exception with a reason.",
            )
            continue
        tags, problems = storage_class_tags(res)
        ok = not problems and covered(EBS_VOLUME, tags)
        classes[str(name)] = ok
        if not ok:
            detail = "; ".join(problems) or _describe(selections)
            yield (
                res,
                f"the EBS volumes it provisions are not backed up: {detail}. Fix: tag them "
                "through tagSpecification_N = '<key>=<value>' parameters that a selection picks.",
            )

    def claim_problem(class_name: Any) -> str | None:
        if class_name is UNKNOWN:
            return "its storageClassName is unknown"
        if class_name is None:
            if len(default_classes) != 1:
                return (
                    "it uses the default StorageClass, and the stack does not create exactly "
                    "one default class"
                )
            class_name = default_classes[0]
        if not isinstance(class_name, str) or class_name not in classes:
            return f"its StorageClass {class_name!r} is not created by this stack"
        if not classes[class_name]:
            return f"its StorageClass {class_name!r} is not covered by a backup selection"
        return None

    for res in resources:
        if res.type in SAMPLE_ARNS:
            tags, readable = _plain_tags(res.props.get("tags"))
            if not readable:
                yield res, "has tags this rule cannot read (unknown), so no selection is proven."
            elif not covered(res.type, tags):
                yield (
                    res,
                    f"is stateful and not backed up: {_describe(selections)}. Fix: give it the "
                    "tags a selection of the backup plan picks (explicitly, not only as provider "
                    "default tags).",
                )
        elif res.type == ELASTICACHE_RG:
            limit = res.props.get("snapshotRetentionLimit")
            days = as_int(limit)
            if limit is not UNKNOWN and (days is None or days < 1):
                yield (
                    res,
                    "AWS Backup does not cover ElastiCache, and snapshotRetentionLimit is "
                    f"{limit!r}. Fix: snapshot_retention_limit >= 1 (daily snapshots).",
                )
        elif res.type == STATEFUL_SET:
            spec = as_dict(res.props.get("spec"))
            for index, template in enumerate(as_list(spec.get("volumeClaimTemplates"))):
                claim_spec = as_dict(as_dict(template).get("spec"))
                problem = claim_problem(claim_spec.get("storageClassName"))
                if problem:
                    yield res, f"volumeClaimTemplates[{index}]: {problem}."
        elif res.type == PVC:
            spec = as_dict(res.props.get("spec"))
            problem = claim_problem(spec.get("storageClassName"))
            if problem:
                yield res, f"claim: {problem}."
        elif res.type == PV:
            yield from _static_volume(res, resources)


def _static_volume(res: Resource, resources: list[Resource]) -> Iterator[tuple[Resource, str]]:
    spec = as_dict(res.props.get("spec"))
    driver = as_dict(spec.get("csi")).get("driver")
    if driver not in EBS_PROVISIONERS:
        yield (
            res,
            f"a static volume (csi driver {driver!r}) outside any backup selection. Fix: use an "
            "EBS volume created by this stack with the selection's tags.",
        )
        return
    volumes = [r.urn for r in resources if r.type == EBS_VOLUME]
    if not any(res.depends_on(urn, "spec") for urn in volumes):
        yield (
            res,
            "an EBS volume that this stack does not create, so its tags (and backup) cannot be "
            "checked. Fix: create the aws.ebs.Volume in the stack, tagged for the backup plan.",
        )


def policies() -> list[Policy]:
    return [
        stack_policy(
            "prod-backup-coverage",
            "In prod, every stateful resource (RDS, EBS volumes and the StorageClasses and "
            "claims that make them, EFS, DynamoDB) is picked by an AWS Backup selection through "
            "its tags; ElastiCache keeps its own snapshots.",
            frozenset(SAMPLE_ARNS)
            | {SELECTION, ELASTICACHE_RG, STORAGE_CLASS, STATEFUL_SET, PVC, PV},
            waivable_coverage,
            remediation=(
                "Tag the resource (or the StorageClass's tagSpecification_N) with the tags a "
                "backup selection picks; keep ElastiCache snapshots (snapshot_retention_limit)."
            ),
            severity=Severity.HIGH,
        )
    ]
