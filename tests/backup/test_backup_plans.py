"""Backups and restores in the offline plans: prod's vault, plan, copy, selections, tagged
volumes and databases and its hardened snapshot jobs; the restore drill stack and a confirmed
restore into prod create their volumes and database from the named snapshots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.backup import BACKUP_SERVICE_POLICIES, backup_tags
from stacks.config import StackConfig
from stacks.netpol import External
from stacks.policy_check import analyze_resources, load_config
from tests.conftest import PROJECT_DIR, load_plan, run_plan_subprocess
from tests.kubernetes import plan_views

Resources = list[dict[str, Any]]


@pytest.fixture(scope="module")
def config() -> StackConfig:
    return plan_views.stack_model("prod")[0]


@pytest.fixture(scope="module")
def prod(prod_plan_json: dict[str, Any]) -> Resources:
    return prod_plan_json["resources"]


def of_type(resources: Resources, type_: str) -> Resources:
    return [r for r in resources if r["type"] == type_]


def one(resources: Resources, type_: str, name_part: str = "") -> dict[str, Any]:
    found = [r for r in of_type(resources, type_) if name_part in r["name"]]
    assert len(found) == 1, (type_, name_part, [r["name"] for r in found])
    return found[0]


def mock_arn(resource: dict[str, Any]) -> str:
    """The ARN the offline plan's mocks give a resource (IAM roles get a real-shaped one)."""
    if resource["type"] == "aws:iam/role:Role":
        return f"arn:aws:iam::123456789012:role/{resource['name']}"
    return f"arn:aws:mock:us-east-1:123456789012:{resource['name']}"


def by_urn(resources: Resources) -> dict[str, dict[str, Any]]:
    return {r["urn"]: r for r in resources}


# ── prod: AWS Backup ─────────────────────────────────────────────────────────────────────


def test_vault_has_its_own_key_and_the_configured_lock(
    prod: Resources, config: StackConfig
) -> None:
    vault = one(prod, "aws:backup/vault:Vault", "backup-vault")
    key = one(prod, "aws:kms/key:Key", "backup-vault")
    assert vault["inputs"]["kmsKeyArn"] == mock_arn(key)
    assert key["inputs"]["enableKeyRotation"] is True
    other_keys = {mock_arn(k) for k in of_type(prod, "aws:kms/key:Key") if k is not key}
    assert vault["inputs"]["kmsKeyArn"] not in other_keys
    assert vault["protect"] and key["protect"] and vault["inputs"]["forceDestroy"] is False
    lock = config.backup.vault_lock
    locks = of_type(prod, "aws:backup/vaultLockConfiguration:VaultLockConfiguration")
    assert {r["inputs"]["backupVaultName"] for r in locks} == {"sutazai-prod", "sutazai-prod-copy"}
    for r in locks:
        assert r["inputs"]["minRetentionDays"] == lock.min_retention_days
        assert r["inputs"]["maxRetentionDays"] == lock.max_retention_days


def test_plan_has_daily_and_weekly_rules_with_the_configured_retention(
    prod: Resources, config: StackConfig
) -> None:
    plan = one(prod, "aws:backup/plan:Plan")
    rules = {r["ruleName"]: r for r in plan["inputs"]["rules"]}
    assert set(rules) == {"daily", "weekly"}
    assert rules["daily"]["lifecycle"]["deleteAfter"] == config.backup.daily_retention_days
    assert rules["weekly"]["lifecycle"]["deleteAfter"] == config.backup.weekly_retention_days
    assert rules["daily"]["schedule"].startswith("cron(") and "SUN" in rules["weekly"]["schedule"]
    for rule in rules.values():
        assert rule["targetVaultName"] == "sutazai-prod"


def test_every_rule_copies_to_a_vault_in_the_copy_region(
    prod: Resources, config: StackConfig
) -> None:
    copy_vault = one(prod, "aws:backup/vault:Vault", "copy-vault")
    copy_key = one(prod, "aws:kms/key:Key", "copy-vault")
    provider = next(
        r
        for r in of_type(prod, "pulumi:providers:aws")
        if copy_vault["provider"].startswith(r["urn"])
    )
    assert provider["inputs"]["region"] == config.backup.copy_region != config.aws_region
    assert copy_key["provider"] == copy_vault["provider"]
    assert copy_vault["inputs"]["kmsKeyArn"] == mock_arn(copy_key)
    plan = one(prod, "aws:backup/plan:Plan")
    for rule in plan["inputs"]["rules"]:
        (action,) = rule["copyActions"]
        assert action["destinationVaultArn"] == mock_arn(copy_vault)
        assert action["lifecycle"]["deleteAfter"] == config.backup.copy_retention_days


def test_selections_pick_volumes_and_databases_by_the_stack_backup_tag(prod: Resources) -> None:
    plan = one(prod, "aws:backup/plan:Plan")
    role = one(prod, "aws:iam/role:Role", "backup-service")
    assert "backup.amazonaws.com" in role["inputs"]["assumeRolePolicy"]
    attached = {
        r["inputs"]["policyArn"]
        for r in of_type(prod, "aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        if r["parent"] == role["urn"]
    }
    assert attached == set(BACKUP_SERVICE_POLICIES)
    selections = of_type(prod, "aws:backup/selection:Selection")
    patterns = {p for s in selections for p in s["inputs"]["resources"]}
    assert patterns == {"arn:aws:ec2:*:*:volume/*", "arn:aws:rds:*:*:db:*"}
    for selection in selections:
        assert selection["inputs"]["planId"] == f"{plan['name']}-id"
        assert selection["inputs"]["iamRoleArn"] == mock_arn(role)
        assert selection["inputs"]["selectionTags"] == [
            {"type": "STRINGEQUALS", "key": "sutazai:backup", "value": "prod"}
        ]


def test_the_storage_class_tags_every_volume_and_rds_carries_the_tag(
    prod: Resources, config: StackConfig
) -> None:
    storage_class = one(prod, "kubernetes:storage.k8s.io/v1:StorageClass")
    parameters = storage_class["inputs"]["parameters"]
    tags = dict(v.split("=", 1) for k, v in parameters.items() if k.startswith("tagSpecification_"))
    assert tags == {**backup_tags("prod"), "sutazai:stack": "prod"}
    numbers = sorted(int(k.rsplit("_", 1)[1]) for k in parameters if "tagSpecification" in k)
    assert numbers == list(range(1, len(numbers) + 1))  # the driver reads 1..N
    rds = one(prod, "aws:rds/instance:Instance")
    assert rds["inputs"]["tags"] == backup_tags("prod")
    assert rds["inputs"]["backupRetentionPeriod"] >= 7  # point-in-time recovery stays
    redis = one(prod, "aws:elasticache/replicationGroup:ReplicationGroup")
    assert (
        redis["inputs"]["snapshotRetentionLimit"]
        == config.backup.elasticache_snapshot_retention_days
    )


def test_prod_plan_passes_the_backup_coverage_rule(prod: Resources) -> None:
    violations = [
        v
        for v in analyze_resources(prod, "prod", load_config("prod"))
        if v.policy == "prod-backup-coverage"
    ]
    assert violations == []


def test_prod_plan_restores_nothing(prod: Resources) -> None:
    assert of_type(prod, "aws:ebs/volume:Volume") == []
    assert of_type(prod, "kubernetes:core/v1:PersistentVolume") == []
    assert one(prod, "aws:rds/instance:Instance")["inputs"].get("snapshotIdentifier") is None


# ── prod: the snapshot bucket and jobs ───────────────────────────────────────────────────


def test_backup_bucket_is_encrypted_private_versioned_and_expires(
    prod: Resources, config: StackConfig
) -> None:
    bucket = one(prod, "aws:s3/bucket:Bucket", "app-backups")
    key = one(prod, "aws:kms/key:Key", "app-backups")
    assert bucket["protect"] and key["protect"]
    children = {r["type"].rsplit(":", 1)[1]: r for r in prod if r["parent"] == bucket["urn"]}
    sse = children["BucketServerSideEncryptionConfiguration"]["inputs"]["rules"][0]
    assert sse["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "aws:kms",
        "kmsMasterKeyId": mock_arn(key),
    }
    block = children["BucketPublicAccessBlock"]["inputs"]
    assert all(
        block[f] is True
        for f in (
            "blockPublicAcls",
            "blockPublicPolicy",
            "ignorePublicAcls",
            "restrictPublicBuckets",
        )
    )
    assert children["BucketVersioning"]["inputs"]["versioningConfiguration"]["status"] == "Enabled"
    (rule,) = children["BucketLifecycleConfiguration"]["inputs"]["rules"]
    assert rule["expiration"]["days"] == config.backup.bucket_retention_days
    assert rule["status"] == "Enabled"
    assert '"aws:SecureTransport": "false"' in children["BucketPolicy"]["inputs"]["policy"]


def _cron_jobs(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["metadata"]["name"]: m for m in plan_views.manifests(plan) if m["kind"] == "CronJob"}


def test_snapshot_and_heartbeat_jobs_are_hardened(prod_plan_json: dict[str, Any]) -> None:
    jobs = _cron_jobs(prod_plan_json)
    assert set(jobs) == {"qdrant-backup", "postgres-heartbeat"}
    for job in jobs.values():
        assert job["spec"]["concurrencyPolicy"] == "Forbid"
        job_spec = job["spec"]["jobTemplate"]["spec"]
        assert job_spec["activeDeadlineSeconds"] > 0
        pod = plan_views.pod_spec(job)
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        (container,) = pod["containers"]
        context = container["securityContext"]
        assert context["readOnlyRootFilesystem"] is True
        assert context["allowPrivilegeEscalation"] is False
        assert context["capabilities"] == {"drop": ["ALL"]}
        assert container["resources"]["limits"] and container["resources"]["requests"]
        assert container["command"][:3] == ["python", "-m", "sutazai_backup"]
        annotations = job_spec["template"]["metadata"]["annotations"]
        # The Vault Agent only pre-populates: a sidecar would keep the Job running forever.
        assert annotations["vault.hashicorp.com/agent-pre-populate-only"] == "true"


def test_the_snapshot_job_alone_gets_the_s3_role(
    prod_plan_json: dict[str, Any], prod: Resources
) -> None:
    job = _cron_jobs(prod_plan_json)["qdrant-backup"]
    pod = plan_views.pod_spec(job)
    env = {e["name"]: e["value"] for e in pod["containers"][0]["env"]}
    role = one(prod, "aws:iam/role:Role", "qdrant-backup")
    assert env["AWS_ROLE_ARN"] == mock_arn(role)
    assert env["BACKUP_PREFIX"] == "qdrant" and env["QDRANT_ENV_FILE"].startswith("/vault/secrets/")
    token = next(v for v in pod["volumes"] if v["name"] == "aws-iam-token")
    assert (
        token["projected"]["sources"][0]["serviceAccountToken"]["audience"] == "sts.amazonaws.com"
    )
    trust = json.loads(role["inputs"]["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    subjects = [v for k, v in statement["Condition"]["StringEquals"].items() if k.endswith(":sub")]
    assert subjects == [f"system:serviceaccount:{job['metadata']['namespace']}:qdrant"]
    policy = json.loads(
        one(prod, "aws:iam/rolePolicy:RolePolicy", "qdrant-backup")["inputs"]["policy"]
    )
    bucket = mock_arn(one(prod, "aws:s3/bucket:Bucket", "app-backups"))
    actions = {a for s in policy["Statement"] for a in s["Action"]}
    assert actions == {
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "kms:GenerateDataKey",
        "kms:Encrypt",
    }
    s3 = next(s for s in policy["Statement"] if "s3:PutObject" in s["Action"])
    assert s3["Resource"] == [f"{bucket}/qdrant/*"]
    # The service's own pods get no AWS role (IRSA env or token) from this.
    qdrant = next(
        m
        for m in plan_views.manifests(prod_plan_json)
        if m["kind"] == "StatefulSet" and m["metadata"]["name"] == "qdrant"
    )
    qdrant_pod = plan_views.pod_spec(qdrant)
    names = {e["name"] for c in qdrant_pod["containers"] for e in c.get("env", [])}
    assert "AWS_ROLE_ARN" not in names
    assert all(v["name"] != "aws-iam-token" for v in qdrant_pod.get("volumes", []))


def test_snapshot_job_reaches_only_qdrant_dns_vault_and_https_out(
    prod_plan_json: dict[str, Any], config: StackConfig
) -> None:
    items = plan_views.manifests(prod_plan_json)
    evaluator, pods = plan_views.evaluator(items)
    job, qdrant = pods["qdrant-backup"], pods["qdrant"]
    assert evaluator.allowed(job, qdrant, 6333)
    assert evaluator.allowed(job, pods["kube-dns"], 53, "UDP")
    for other, port in (("neo4j", 7687), ("chromadb", 8000), ("backend", 8080)):
        assert not evaluator.allowed(job, pods[other], port), other
    assert not evaluator.allowed(pods["backend"], job, 8080)
    policies = {m["metadata"]["name"]: m for m in items if m["kind"] == "NetworkPolicy"}
    own = policies["qdrant-backup"]
    assert own["spec"]["ingress"] == []
    https = [r for r in own["spec"]["egress"] if r["ports"] == [{"port": 443, "protocol": "TCP"}]]
    excepted = set(https[0]["to"][0]["ipBlock"]["except"])
    assert {"10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"} <= excepted
    assert str(config.network.vpc_cidr) in excepted
    # S3's public addresses are reachable, Vault's network (private) is not.
    assert evaluator.allowed(job, External("52.216.8.1"), 443)
    assert not evaluator.allowed(job, External("10.30.8.20"), 443)
    to_qdrant = policies["qdrant-from-backup"]
    assert to_qdrant["spec"]["podSelector"]["matchLabels"] == {"app.kubernetes.io/name": "qdrant"}
    (rule,) = to_qdrant["spec"]["ingress"]
    assert rule["from"] == [
        {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "qdrant-backup"}}}
    ]


def test_heartbeat_job_shares_the_provisioning_jobs_network_policy(
    prod_plan_json: dict[str, Any],
) -> None:
    items = plan_views.manifests(prod_plan_json)
    job = _cron_jobs(prod_plan_json)["postgres-heartbeat"]
    labels = (
        plan_views.pod_spec(job)
        and job["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]
    )
    policy = next(
        m
        for m in items
        if m["kind"] == "NetworkPolicy" and m["metadata"]["name"] == "postgres-provisioning"
    )
    selector = policy["spec"]["podSelector"]["matchLabels"]
    assert selector.items() <= labels.items()
    env = {e["name"]: e["value"] for e in plan_views.pod_spec(job)["containers"][0]["env"]}
    assert env["PGDATABASE"] == "sutazai" and env["PGSSLMODE"] == "require"
    assert env["POSTGRES_PASSWORD_FILE"].startswith("/vault/secrets/")


def test_restore_drill_roles_read_backups_and_are_denied_the_rest_of_prod(
    prod: Resources, config: StackConfig
) -> None:
    grants = [
        r
        for r in of_type(prod, "aws:iam/rolePolicy:RolePolicy")
        if "-backup-restore-drill-" in r["name"]
    ]
    assert sorted(r["inputs"]["role"] for r in grants) == sorted(
        arn.rsplit("/", 1)[1] for arn in config.backup.restore_drill_role_arns
    )
    (grant,) = grants
    policy = json.loads(grant["inputs"]["policy"])
    statements = {s["Sid"]: s for s in policy["Statement"]}
    deny = statements["NothingElseOfTheStack"]
    assert deny["Effect"] == "Deny" and deny["Resource"] == "*"
    assert deny["Condition"] == {"StringEquals": {"aws:ResourceTag/sutazai:stack": "prod"}}
    allowed = {a for s in policy["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}
    # Everything allowed is exempt from the deny, and nothing more is.
    assert set(deny["NotAction"]) == allowed
    writes = {a for a in allowed if not a.split(":")[1].startswith(("Describe", "List", "Get"))}
    assert writes == {
        "ec2:CreateVolume",
        "rds:RestoreDBInstanceFromDBSnapshot",
        "kms:Decrypt",
        "kms:CreateGrant",
        "kms:ReEncryptFrom",
        "kms:GenerateDataKeyWithoutPlaintext",
    }
    create = statements["CreateFromTaggedSnapshots"]
    assert create["Condition"] == {"StringEquals": {"aws:ResourceTag/sutazai:backup": "prod"}}
    decrypt = statements["DecryptSnapshotsThroughEc2AndRds"]
    assert decrypt["Condition"]["StringLike"]["kms:ViaService"]
    keys = {mock_arn(k) for k in of_type(prod, "aws:kms/key:Key")}
    assert set(decrypt["Resource"]) <= keys
    assert any("backup-vault" in k for k in decrypt["Resource"])
    assert any("cluster-volumes" in k for k in decrypt["Resource"])


# ── restores ─────────────────────────────────────────────────────────────────────────────


def _restored(plan: dict[str, Any]) -> tuple[Resources, Resources, dict[str, Any]]:
    resources = plan["resources"]
    volumes = of_type(resources, "aws:ebs/volume:Volume")
    pvs = of_type(resources, "kubernetes:core/v1:PersistentVolume")
    return volumes, pvs, one(resources, "aws:rds/instance:Instance")


def _check_restore(plan: dict[str, Any], restore: dict[str, Any], protect: bool) -> None:
    volumes, pvs, rds = _restored(plan)
    items = plan_views.manifests(plan)
    assert {v["inputs"]["snapshotId"] for v in volumes} == set(restore["volumes"].values())
    assert rds["inputs"]["snapshotIdentifier"] == restore["databases"]["postgres"]
    assert rds["protect"] is protect and rds["inputs"]["deletionProtection"] is protect
    resources = by_urn(plan["resources"])
    for service, snapshot in restore["volumes"].items():
        volume = next(v for v in volumes if v["inputs"]["snapshotId"] == snapshot)
        assert volume["inputs"]["encrypted"] is True and volume["protect"] is protect
        pv = next(p for p in pvs if p["name"].endswith(f"-{service}-restored"))
        spec = pv["inputs"]["spec"]
        assert spec["csi"]["volumeHandle"] == f"{volume['name']}-id"
        assert spec["nodeAffinity"]["required"]["nodeSelectorTerms"][0]["matchExpressions"][0][
            "values"
        ] == [volume["inputs"]["availabilityZone"]]
        # The StatefulSet's first claim binds to it: same name, namespace, class and size.
        sts = next(
            m for m in items if m["kind"] == "StatefulSet" and m["metadata"]["name"] == service
        )
        (template,) = sts["spec"]["volumeClaimTemplates"]
        assert spec["claimRef"] == {
            "namespace": sts["metadata"]["namespace"],
            "name": f"{template['metadata']['name']}-{service}-0",
        }
        assert spec["storageClassName"] == template["spec"]["storageClassName"]
        assert spec["capacity"] == template["spec"]["resources"]["requests"]
        assert sts["spec"]["replicas"] == 1
        # ... and the StatefulSet waits for it.
        workload = next(
            r
            for r in plan["resources"]
            if r["type"] == "kubernetes:apps/v1:StatefulSet" and r["name"].endswith(f"-{service}")
        )
        assert pv["urn"] in workload["dependencies"]
        assert resources[pv["urn"]]["protect"] is protect


def test_the_restore_drill_stack_creates_its_data_from_prod_snapshots(tmp_path: Path) -> None:
    stack_file = PROJECT_DIR / "Pulumi.restore-drill.yaml"
    restore = yaml.safe_load(stack_file.read_text())["config"]["sutazai:restore"]
    plan = load_plan("restore-drill", tmp_path)
    _check_restore(plan, restore, protect=False)
    # A drill keeps no backups of its own (its vault would block its destroy).
    assert of_type(plan["resources"], "aws:backup/vault:Vault") == []


def _prod_with(tmp_path: Path, restore: dict[str, Any]) -> Path:
    doc = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    doc["config"]["sutazai:restore"] = restore
    path = tmp_path / "Pulumi.prod.yaml"
    path.write_text(yaml.safe_dump(doc))
    return path


RESTORE = {
    "volumes": {"qdrant": "snap-0123456789abcdef0"},
    "databases": {"postgres": "rds:sutazai-prod-data-postgres-2026-12-05-03-10"},
}


def test_a_restore_into_prod_without_confirmation_stops_before_any_resource(
    tmp_path: Path,
) -> None:
    result = run_plan_subprocess("prod", tmp_path / "plan.json", _prod_with(tmp_path, RESTORE))
    assert result.returncode != 0
    assert "sutazai:restore.confirmProductionRestore" in result.stdout + result.stderr
    assert not (tmp_path / "plan.json").exists()


def test_a_confirmed_restore_into_prod_keeps_everything_protected(tmp_path: Path) -> None:
    restore = {**RESTORE, "confirmProductionRestore": True}
    plan = load_plan("prod", tmp_path, _prod_with(tmp_path, restore))
    _check_restore(plan, restore, protect=True)
    (volume,) = of_type(plan["resources"], "aws:ebs/volume:Volume")
    # The restored volume is backed up like every other one.
    assert volume["inputs"]["tags"]["sutazai:backup"] == "prod"
    violations = [
        v
        for v in analyze_resources(plan["resources"], "prod", load_config("prod"))
        if v.policy in ("prod-backup-coverage", "prod-stateful-protected")
    ]
    assert violations == []


@pytest.mark.parametrize(
    ("restore", "expected"),
    [
        ({"volumes": {"frontend": "snap-0123abcd"}}, "sutazai:restore.volumes.frontend: not a"),
        ({"volumes": {"postgres": "snap-0123abcd"}}, "sutazai:restore.volumes.postgres: not a"),
        ({"volumes": {"nosuch": "snap-0123abcd"}}, "sutazai:restore.volumes.nosuch: not a"),
        ({"databases": {"redis": "manual-1"}}, "sutazai:restore.databases.redis: not a managed"),
        ({"databases": {"qdrant": "manual-1"}}, "sutazai:restore.databases.qdrant: not a managed"),
    ],
)
def test_restore_names_services_it_can_restore(
    tmp_path: Path, restore: dict[str, Any], expected: str
) -> None:
    restore = {**restore, "confirmProductionRestore": True}
    result = run_plan_subprocess("prod", tmp_path / "plan.json", _prod_with(tmp_path, restore))
    assert result.returncode != 0
    assert expected in result.stdout + result.stderr
