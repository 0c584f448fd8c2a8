"""Stack-wide rules: relationships between resources and prod resource options.

Links ("this NetworkPolicy is in that Namespace", "this encryption config is for that
bucket") are resolved from what the engine gives us, strongest first: the engine's
(property) dependencies and parent, then an identical name/id, then the auto-name
prefix (`<logical name>-<random>`) that Pulumi gives resources without an explicit name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Final

from pulumi_policy import EnforcementLevel, Policy, Severity

from .config import ENVIRONMENTS, SETTINGS_POLICY, STATE, is_prod, unused_waivers
from .kubernetes import NAMESPACE_TYPE, NETWORK_POLICY_TYPE
from .rules import Finding, Resource, stack_policy
from .values import UNKNOWN, as_dict, as_list, get

BUCKET_TYPES: Final = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
SSE_TYPES: Final = frozenset(
    {
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    }
)
BUCKET_PAB: Final = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
ACCOUNT_PAB: Final = "aws:s3/accountPublicAccessBlock:AccountPublicAccessBlock"
PAB_FLAGS: Final = (
    "blockPublicAcls",
    "blockPublicPolicy",
    "ignorePublicAcls",
    "restrictPublicBuckets",
)
SSE_ALGORITHMS: Final = frozenset({"AES256", "aws:kms", "aws:kms:dsse"})

PVC_TYPE: Final = "kubernetes:core/v1:PersistentVolumeClaim"
STORAGE_CLASS_TYPE: Final = "kubernetes:storage.k8s.io/v1:StorageClass"
# Every class whose loss loses data or access, with what is lost.
PROTECTED_CLASSES: Final[dict[str, str]] = {
    "aws:rds/instance:Instance": "the database",
    "aws:rds/cluster:Cluster": "the database",
    "aws:elasticache/replicationGroup:ReplicationGroup": "the cache and its sessions",
    "aws:ebs/volume:Volume": "the volume's data",
    "aws:efs/fileSystem:FileSystem": "the file system's data",
    "aws:dynamodb/table:Table": "the table",
    "aws:kms/key:Key": "everything encrypted with the key",
    "aws:eks/cluster:Cluster": "the cluster, its workloads and every way in",
    "aws:ecr/repository:Repository": "the images (and what runs from them)",
    "aws:cloudwatch/logGroup:LogGroup": "the audit and control-plane logs",
    "aws:secretsmanager/secret:Secret": "the secret",
    "aws:backup/vault:Vault": "the backups",
    "aws:cognito/userPool:UserPool": "every user account and sign-in",
    "aws:route53/zone:Zone": "the zone's records and its delegation",
    "aws:s3/bucket:Bucket": "the bucket's objects",
    "aws:s3/bucketV2:BucketV2": "the bucket's objects",
    PVC_TYPE: "the claim's volume",
    "kubernetes:core/v1:PersistentVolume": "the volume",
    "kubernetes:apps/v1:StatefulSet": "the claims of its volume templates",
    "vault:index/mount:Mount": "every secret stored under the mount",
}
STATEFUL_TYPES: Final = frozenset(PROTECTED_CLASSES)


def _identities(res: Resource, *explicit: object) -> set[str]:
    return {v for v in explicit if isinstance(v, str) and v} | {res.name}


def resolve(
    value: object, prop: str, child: Resource, targets: Iterable[tuple[Resource, set[str]]]
) -> list[Resource]:
    """The target(s) that `child.<prop>` (whose value is `value`) points at."""
    targets = list(targets)
    if isinstance(value, str):
        # Every resource with that real name: two declarations of one name are one object.
        exact = [target for target, ids in targets if value in ids]
        if exact:
            return exact
    deps = child.property_dependencies or {}
    linked = [target for target, _ in targets if target.urn in deps.get(prop, ())]
    if linked:
        return linked
    if isinstance(value, str):
        # auto-named "<logical name>-<random>" (or a mock's "<name>_id"); the longest name wins
        best: Resource | None = None
        for target, _ in targets:
            n = len(target.name)
            boundary = value.startswith(target.name) and value[n : n + 1] in ("-", "_")
            if boundary and (best is None or n > len(best.name)):
                best = target
        return [best] if best is not None else []
    # computed in preview: fall back to parent / dependencies
    return [target for target, _ in targets if child.depends_on(target.urn)]


# ---------------------------------------------------------------- namespaces


def _is_default_deny(netpol: Resource) -> bool:
    spec = as_dict(netpol.props.get("spec"))
    selector = spec.get("podSelector")
    empty_selector = isinstance(selector, dict) and not any(
        as_dict(selector).get(k) for k in ("matchLabels", "matchExpressions")
    )
    types = set(as_list(spec.get("policyTypes")))
    # A default-deny has no allow rules at all; allows live in their own NetworkPolicies.
    no_rules = not as_list(spec.get("ingress")) and not as_list(spec.get("egress"))
    return empty_selector and {"Ingress", "Egress"} <= types and no_rules


def check_namespace_default_deny(
    resources: list[Resource], stack: str
) -> Iterator[tuple[Resource | None, str]]:
    namespaces = [r for r in resources if r.type == NAMESPACE_TYPE]
    if not namespaces:
        return
    targets = [(ns, _identities(ns, get(ns.props, "metadata", "name"))) for ns in namespaces]
    covered: set[str] = set()
    for netpol in resources:
        if netpol.type != NETWORK_POLICY_TYPE or not _is_default_deny(netpol):
            continue
        ns_value = get(netpol.props, "metadata", "namespace")
        covered.update(t.urn for t in resolve(ns_value, "metadata", netpol, targets))
    for ns in namespaces:
        if ns.urn not in covered:
            name = get(ns.props, "metadata", "name")
            shown = name if isinstance(name, str) else ns.name
            yield (
                ns,
                (
                    f"namespace {shown!r} has no default-deny NetworkPolicy. Fix: create "
                    "a NetworkPolicy in it with "
                    "podSelector: {}, policyTypes: [Ingress, Egress] and no rules; "
                    "add the allowed flows as separate policies."
                ),
            )


# ---------------------------------------------------------------- S3


def _bucket_targets(resources: list[Resource]) -> list[tuple[Resource, set[str]]]:
    return [
        (b, _identities(b, b.props.get("bucket"), b.props.get("id")))
        for b in resources
        if b.type in BUCKET_TYPES
    ]


def _sse_ok(rules: object) -> bool:
    for rule in as_list(rules):
        if get(rule, "applyServerSideEncryptionByDefault", "sseAlgorithm") in SSE_ALGORITHMS:
            return True
    return False


def check_s3_encryption(
    resources: list[Resource], stack: str
) -> Iterator[tuple[Resource | None, str]]:
    targets = _bucket_targets(resources)
    covered = {
        b.urn
        for b, _ in targets
        if _sse_ok(get(b.props, "serverSideEncryptionConfiguration", "rules"))
    }
    for sse in resources:
        if sse.type in SSE_TYPES and _sse_ok(sse.props.get("rules")):
            covered.update(t.urn for t in resolve(sse.props.get("bucket"), "bucket", sse, targets))
    for bucket, _ in targets:
        if bucket.urn not in covered:
            yield (
                bucket,
                (
                    "has no server-side encryption configuration. Fix: add "
                    "aws.s3.BucketServerSideEncryptionConfiguration(bucket=<this bucket>.id, "
                    "rules=[{apply_server_side_encryption_by_default: "
                    "{sse_algorithm: 'aws:kms'}}])."
                ),
            )


def _pab_ok(res: Resource) -> bool:
    return all(res.props.get(flag) is True for flag in PAB_FLAGS)


def check_s3_public_access_block(
    resources: list[Resource], stack: str
) -> Iterator[tuple[Resource | None, str]]:
    targets = _bucket_targets(resources)
    if not targets or any(r.type == ACCOUNT_PAB and _pab_ok(r) for r in resources):
        return
    covered: set[str] = set()
    for pab in resources:
        if pab.type == BUCKET_PAB and _pab_ok(pab):
            covered.update(t.urn for t in resolve(pab.props.get("bucket"), "bucket", pab, targets))
    for bucket, _ in targets:
        if bucket.urn not in covered:
            yield (
                bucket,
                (
                    "has no public access block with all four flags true. Fix: add "
                    "aws.s3.BucketPublicAccessBlock(bucket=<this bucket>.id, "
                    "block_public_acls=True, block_public_policy=True, ignore_public_acls=True, "
                    "restrict_public_buckets=True)."
                ),
            )


# ---------------------------------------------------------------- prod protection


def check_prod_protected(
    resources: list[Resource], stack: str
) -> Iterator[tuple[Resource | None, str]]:
    if not is_prod():
        return
    for res in resources:
        if res.type in STATEFUL_TYPES and not res.protect:
            yield (
                res,
                f"is not protected in prod; losing it loses {PROTECTED_CLASSES[res.type]}. "
                "Fix: pass opts=pulumi.ResourceOptions(protect=True).",
            )
        elif res.type == STORAGE_CLASS_TYPE:
            policy = res.props.get("reclaimPolicy")
            if policy is not UNKNOWN and policy != "Retain":
                got = "unset (Delete)" if policy is None else repr(policy)
                yield (
                    res,
                    f"reclaimPolicy is {got} in prod, so deleting a PVC deletes its "
                    "volume. Fix: reclaim_policy='Retain'.",
                )


# ---------------------------------------------------------------- the pack's own config


def check_pack_settings(
    resources: list[Resource], stack: str
) -> Iterator[tuple[Resource | None, str | Finding]]:
    if STATE.environment not in ENVIRONMENTS:
        yield (
            None,
            f"the policy config sets no '{SETTINGS_POLICY}'.environment, so prod's rules "
            "applied. Fix: pass policies/config/<environment>.json (prod.json or dev.json) "
            "with --policy-pack-config.",
        )


def check_unused_waivers(
    resources: list[Resource], stack: str
) -> Iterator[tuple[Resource | None, str | Finding]]:
    for waiver, check, value in unused_waivers():
        yield (
            None,
            f"{waiver.describe(check, value)} matched no finding in this stack. Fix: remove "
            "it from the policy config (or correct its type, name or value).",
        )


def policies() -> list[Policy]:
    return [
        stack_policy(
            "k8s-namespace-default-deny",
            "Every Namespace the stack creates has a default-deny NetworkPolicy (empty "
            "podSelector, Ingress+Egress, no rules).",
            [NAMESPACE_TYPE, NETWORK_POLICY_TYPE],
            check_namespace_default_deny,
            remediation=(
                "Create a default-deny NetworkPolicy per namespace; allow flows with separate "
                "policies."
            ),
        ),
        stack_policy(
            "aws-s3-encryption",
            "Every S3 bucket has a server-side encryption configuration.",
            BUCKET_TYPES | SSE_TYPES,
            check_s3_encryption,
            remediation="Add a BucketServerSideEncryptionConfiguration for each bucket.",
        ),
        stack_policy(
            "aws-s3-public-access-block",
            "Every S3 bucket has a public access block with all four flags (or an account-wide "
            "one).",
            BUCKET_TYPES | {BUCKET_PAB, ACCOUNT_PAB},
            check_s3_public_access_block,
            remediation="Add a BucketPublicAccessBlock per bucket (or an account-wide one).",
            severity=Severity.CRITICAL,
        ),
        stack_policy(
            "prod-stateful-protected",
            "In prod, every resource whose loss loses data or access (RDS, ElastiCache, EBS, "
            "EFS, DynamoDB, KMS, EKS cluster, ECR, log groups, Secrets Manager, Backup vaults, "
            "Cognito user pools, Route 53 zones, S3, PVs/PVCs, StatefulSets, Vault mounts) is "
            "protected and StorageClasses retain volumes.",
            STATEFUL_TYPES | {STORAGE_CLASS_TYPE},
            check_prod_protected,
            remediation="protect=True on stateful resources; StorageClass reclaim_policy='Retain'.",
            severity=Severity.CRITICAL,
        ),
        stack_policy(
            SETTINGS_POLICY,
            "The policy config says which environment's rules apply (prod or dev); without it "
            "the pack applies prod's.",
            (),
            check_pack_settings,
            remediation="Pass policies/config/<environment>.json as --policy-pack-config.",
            config_properties={
                "environment": {
                    "type": "string",
                    "enum": list(ENVIRONMENTS),
                    "description": "Which rules apply: prod's or dev's.",
                }
            },
            required=["environment"],
        ),
        stack_policy(
            "unused-waivers",
            "Every waiver in the policy config matched a finding (advisory: a stale waiver "
            "would silently cover a future resource of that name).",
            (),
            check_unused_waivers,
            remediation="Remove waivers that no longer match anything.",
            severity=Severity.LOW,
            enforcement_level=EnforcementLevel.ADVISORY,
        ),
    ]
