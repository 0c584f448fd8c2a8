"""Backups of a stack's data, and the identity a restore drill reads them with.

* **AWS Backup**: a vault encrypted with its own KMS key (Vault Lock when config asks), a plan
  with a daily and a weekly rule (retention from `sutazai:backup`), a copy of every recovery
  point to a vault in a second region (its own provider and KMS key), and selections by tag:
  whatever carries `sutazai:backup=<stack>` (`backup_tags`) is backed up. The EBS CSI driver
  puts that tag on every volume it creates (the StorageClass's `tagSpecification_N`
  parameters, components/cluster.py); RDS carries it on the instance (on top of its own
  point-in-time recovery). ElastiCache is not an AWS Backup resource: it keeps its own daily
  snapshots (components/managed_data.py).
* **Application snapshots** (`BackupBucket`): a KMS-encrypted, versioned, private bucket whose
  objects expire after `bucketRetentionDays`; the snapshot jobs (components/kubernetes/
  backup_jobs.py) write into their own prefix through IRSA roles that may only put objects
  there.
* **The restore drill's identity** (`restoreDrillRoleArns`): each of those deploy roles gets
  an inline policy to list and read this stack's recovery points and create volumes and
  databases from its snapshots (keys used only through EC2/RDS), and is denied everything
  else on resources tagged with this stack.

When two rules fall due at the same time (Sundays), AWS Backup runs one job and keeps the
point for the longer retention: the weekly one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_aws as aws

from components.network import customer_key
from stacks.config import BackupConfig

BACKUP_TAG = "sutazai:backup"
STACK_TAG = "sutazai:stack"
# Daily at 01:00 UTC (before RDS' 03:00 automated window); weekly on Sundays at the same time.
DAILY_SCHEDULE = "cron(0 1 ? * * *)"
WEEKLY_SCHEDULE = "cron(0 1 ? * SUN *)"
START_WINDOW_MINUTES = 60
COMPLETION_WINDOW_MINUTES = 8 * 60
# What each selection picks among the tagged resources (AWS Backup resource ARN patterns).
SELECTIONS = {
    "volumes": "arn:aws:ec2:*:*:volume/*",
    "databases": "arn:aws:rds:*:*:db:*",
}
_SERVICE_ROLE = "arn:aws:iam::aws:policy/service-role"
BACKUP_SERVICE_POLICIES = (
    f"{_SERVICE_ROLE}/AWSBackupServiceRolePolicyForBackup",
    f"{_SERVICE_ROLE}/AWSBackupServiceRolePolicyForRestores",
)


def backup_tags(stack: str) -> dict[str, str]:
    """The tags the plan's selections pick resources by (and the policy pack checks)."""
    return {BACKUP_TAG: stack}


def ebs_tag_parameters(tags: dict[str, str]) -> dict[str, str]:
    """EBS CSI StorageClass parameters that tag every volume it provisions: `tagSpecification_N`
    = `key=value` (N from 1). The stack tag goes along, so a restore drill's IAM conditions
    and the orphan sweeper see whose volume it is."""
    return {f"tagSpecification_{i}": f"{k}={v}" for i, (k, v) in enumerate(tags.items(), 1)}


def _assume_service(service: str) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
            ],
        }
    )


@dataclass(frozen=True)
class DataBackupsArgs:
    stack: str
    config: BackupConfig
    protect: bool
    # Tags every AWS resource of the stack carries (the copy region's provider gets them too).
    tags: dict[str, str]
    provider: aws.Provider | None = None
    # KMS keys that encrypt what the vault holds (volumes, RDS): a restore drill decrypts
    # snapshots through EC2/RDS with them.
    data_keys: Sequence[pulumi.Input[str]] = field(default_factory=tuple)


class DataBackups(pulumi.ComponentResource):
    """AWS Backup vault, plan, copy and selections for one stack (see the module doc)."""

    def __init__(
        self, name: str, args: DataBackupsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sutazai:backup:DataBackups", name, None, opts)
        self._name = name
        self._args = args
        config = args.config
        self.tags = backup_tags(args.stack)
        self.vault_key, self.vault = self._vault(name, args.provider, "")
        self.copy_vault: aws.backup.Vault | None = None
        self.copy_provider: aws.Provider | None = None
        if config.copy_region:
            self.copy_provider = aws.Provider(
                f"{name}-copy-region",
                region=config.copy_region,
                default_tags=aws.ProviderDefaultTagsArgs(tags=args.tags),
                opts=pulumi.ResourceOptions(parent=self),
            )
            _, self.copy_vault = self._vault(f"{name}-copy", self.copy_provider, "copy")
        self.role = self._service_role()
        self.plan = self._plan()
        self.selections = [
            aws.backup.Selection(
                f"{name}-{kind}",
                name=f"sutazai-{args.stack}-{kind}"[:50],
                plan_id=self.plan.id,
                iam_role_arn=self.role.arn,
                resources=[pattern],
                selection_tags=[
                    aws.backup.SelectionSelectionTagArgs(type="STRINGEQUALS", key=k, value=v)
                    for k, v in self.tags.items()
                ],
                opts=pulumi.ResourceOptions(parent=self.plan, provider=args.provider),
            )
            for kind, pattern in SELECTIONS.items()
        ]
        self.restore_drill_grants = self._restore_drill_access()
        self.register_outputs(
            {
                "vaultName": self.vault.name,
                "copyVaultArn": self.copy_vault.arn if self.copy_vault is not None else None,
                "planId": self.plan.id,
            }
        )

    def _vault(
        self, name: str, provider: aws.Provider | None, purpose: str
    ) -> tuple[aws.kms.Key, aws.backup.Vault]:
        args, config = self._args, self._args.config
        key = customer_key(
            f"{name}-vault",
            f"AWS Backup vault of {args.stack}{' (copies)' if purpose else ''}",
            parent=self,
            provider=provider,
            protect=args.protect,
        )
        vault = aws.backup.Vault(
            f"{name}-vault",
            name=f"sutazai-{args.stack}{'-' + purpose if purpose else ''}",
            kms_key_arn=key.arn,
            # A non-prod stack (a drill) may be destroyed with its points; prod never.
            force_destroy=not args.protect,
            opts=pulumi.ResourceOptions(parent=self, provider=provider, protect=args.protect),
        )
        lock = config.vault_lock
        if lock.enabled:
            aws.backup.VaultLockConfiguration(
                f"{name}-vault-lock",
                backup_vault_name=vault.name,
                min_retention_days=lock.min_retention_days,
                max_retention_days=lock.max_retention_days,
                changeable_for_days=lock.changeable_for_days,
                opts=pulumi.ResourceOptions(parent=vault, provider=provider),
            )
        return key, vault

    def _service_role(self) -> aws.iam.Role:
        provider = self._args.provider
        role = aws.iam.Role(
            f"{self._name}-service",
            assume_role_policy=_assume_service("backup.amazonaws.com"),
            opts=pulumi.ResourceOptions(parent=self, provider=provider),
        )
        for arn in BACKUP_SERVICE_POLICIES:
            aws.iam.RolePolicyAttachment(
                f"{self._name}-service-{arn.rsplit('/', 1)[-1]}",
                role=role.name,
                policy_arn=arn,
                opts=pulumi.ResourceOptions(parent=role, provider=provider),
            )
        return role

    def _plan(self) -> aws.backup.Plan:
        args, config = self._args, self._args.config

        def rule(name: str, schedule: str, days: int) -> aws.backup.PlanRuleArgs:
            copies = []
            if self.copy_vault is not None:
                copies.append(
                    aws.backup.PlanRuleCopyActionArgs(
                        destination_vault_arn=self.copy_vault.arn,
                        lifecycle=aws.backup.PlanRuleCopyActionLifecycleArgs(
                            delete_after=config.copy_retention_days
                        ),
                    )
                )
            return aws.backup.PlanRuleArgs(
                rule_name=name,
                target_vault_name=self.vault.name,
                schedule=schedule,
                schedule_expression_timezone="Etc/UTC",
                start_window=START_WINDOW_MINUTES,
                completion_window=COMPLETION_WINDOW_MINUTES,
                lifecycle=aws.backup.PlanRuleLifecycleArgs(delete_after=days),
                copy_actions=copies or None,
                recovery_point_tags={**self.tags, STACK_TAG: args.stack, "sutazai:rule": name},
            )

        return aws.backup.Plan(
            f"{self._name}-plan",
            name=f"sutazai-{args.stack}",
            rules=[
                rule("daily", DAILY_SCHEDULE, config.daily_retention_days),
                rule("weekly", WEEKLY_SCHEDULE, config.weekly_retention_days),
            ],
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
        )

    def _restore_drill_access(self) -> list[aws.iam.RolePolicy]:
        """The restore drill's deploy roles get this stack's backups and nothing else of it:
        an inline policy on each (the drill deploys its own stack with the same identity, so
        the grant and the deny go to that identity, not to a second role it would assume)."""
        args = self._args
        keys = [self.vault_key.arn, *args.data_keys]
        policy = pulumi.Output.all(self.vault.arn, *keys).apply(
            lambda values: json.dumps(restore_drill_policy(args.stack, values[0], values[1:]))
        )
        grants = []
        for arn in args.config.restore_drill_role_arns:
            role_name = arn.rsplit("/", 1)[-1]
            grants.append(
                aws.iam.RolePolicy(
                    f"{self._name}-restore-drill-{role_name}",
                    name=f"sutazai-{args.stack}-backups-read",
                    role=role_name,
                    policy=policy,
                    opts=pulumi.ResourceOptions(parent=self, provider=args.provider),
                )
            )
        return grants


# Actions a restore drill needs on the source stack's backups; everything else on resources
# tagged with that stack is denied.
RESTORE_READ_ACTIONS = (
    "kms:Decrypt",
    "kms:DescribeKey",
    "kms:CreateGrant",
    "kms:ReEncryptFrom",
    "kms:GenerateDataKeyWithoutPlaintext",
    "backup:DescribeBackupVault",
    "backup:ListRecoveryPointsByBackupVault",
    "backup:DescribeRecoveryPoint",
    "backup:GetRecoveryPointRestoreMetadata",
    "ec2:DescribeSnapshots",
    "ec2:CreateVolume",
    "rds:DescribeDBSnapshots",
    "rds:RestoreDBInstanceFromDBSnapshot",
)


def restore_drill_policy(stack: str, vault_arn: str, key_arns: Sequence[str]) -> dict[str, Any]:
    """Read the vault's recovery points, create volumes and DB instances from snapshots that
    carry the stack's backup tag (keys used only through EC2/RDS), and nothing else on
    resources of `stack`."""
    tagged = {"StringEquals": {f"aws:ResourceTag/{BACKUP_TAG}": stack}}
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ListRecoveryPoints",
                "Effect": "Allow",
                "Action": [
                    "backup:DescribeBackupVault",
                    "backup:ListRecoveryPointsByBackupVault",
                    "backup:DescribeRecoveryPoint",
                    "backup:GetRecoveryPointRestoreMetadata",
                ],
                "Resource": [vault_arn, "arn:aws:backup:*:*:recovery-point:*"],
            },
            {
                "Sid": "DescribeSnapshots",
                "Effect": "Allow",
                "Action": ["ec2:DescribeSnapshots", "rds:DescribeDBSnapshots"],
                "Resource": "*",
            },
            {
                "Sid": "CreateFromTaggedSnapshots",
                "Effect": "Allow",
                "Action": ["ec2:CreateVolume", "rds:RestoreDBInstanceFromDBSnapshot"],
                "Resource": ["arn:aws:ec2:*::snapshot/*", "arn:aws:rds:*:*:snapshot:*"],
                "Condition": tagged,
            },
            {
                "Sid": "DecryptSnapshotsThroughEc2AndRds",
                "Effect": "Allow",
                "Action": [
                    "kms:Decrypt",
                    "kms:DescribeKey",
                    "kms:CreateGrant",
                    "kms:ReEncryptFrom",
                    "kms:GenerateDataKeyWithoutPlaintext",
                ],
                "Resource": list(key_arns),
                "Condition": {
                    "StringLike": {"kms:ViaService": ["ec2.*.amazonaws.com", "rds.*.amazonaws.com"]}
                },
            },
            {
                "Sid": "NothingElseOfTheStack",
                "Effect": "Deny",
                "NotAction": list(RESTORE_READ_ACTIONS),
                "Resource": "*",
                "Condition": {"StringEquals": {f"aws:ResourceTag/{STACK_TAG}": stack}},
            },
        ],
    }


class BackupBucket(pulumi.ComponentResource):
    """The application snapshots' bucket: SSE-KMS with its own key, versioned, private,
    TLS-only, objects expire after `retention_days`."""

    def __init__(
        self,
        name: str,
        *,
        retention_days: int,
        protect: bool,
        provider: aws.Provider | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("sutazai:backup:BackupBucket", name, None, opts)
        self.key = customer_key(
            name,
            "Application snapshots (backup bucket)",
            parent=self,
            provider=provider,
            protect=protect,
        )
        # Auto-named (<name>-<random>): bucket names are global.
        self.bucket = aws.s3.Bucket(
            name,
            force_destroy=not protect,
            opts=pulumi.ResourceOptions(parent=self, provider=provider, protect=protect),
        )
        of_bucket = pulumi.ResourceOptions(parent=self.bucket, provider=provider)
        aws.s3.BucketServerSideEncryptionConfiguration(
            name,
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="aws:kms", kms_master_key_id=self.key.arn
                    ),
                    bucket_key_enabled=True,
                )
            ],
            opts=of_bucket,
        )
        aws.s3.BucketPublicAccessBlock(
            name,
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=of_bucket,
        )
        aws.s3.BucketOwnershipControls(
            name,
            bucket=self.bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=of_bucket,
        )
        aws.s3.BucketVersioning(
            name,
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(
                status="Enabled"
            ),
            opts=of_bucket,
        )
        aws.s3.BucketLifecycleConfiguration(
            name,
            bucket=self.bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-snapshots",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=retention_days
                    ),
                    noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
                        noncurrent_days=7
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=1
                    ),
                )
            ],
            opts=of_bucket,
        )
        aws.s3.BucketPolicy(
            name,
            bucket=self.bucket.id,
            policy=self.bucket.arn.apply(
                lambda arn: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "TlsOnly",
                                "Effect": "Deny",
                                "Principal": "*",
                                "Action": "s3:*",
                                "Resource": [arn, f"{arn}/*"],
                                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
                            }
                        ],
                    }
                )
            ),
            opts=of_bucket,
        )
        self.register_outputs({"bucket": self.bucket.bucket})

    def writer_policy(self, prefix: str) -> pulumi.Output[str]:
        """Put objects under `prefix/` only (SSE-KMS with the bucket's key); nothing else."""
        return pulumi.Output.all(self.bucket.arn, self.key.arn).apply(
            lambda v: json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Sid": "WriteOwnPrefix",
                            "Effect": "Allow",
                            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
                            "Resource": [f"{v[0]}/{prefix}/*"],
                        },
                        {
                            "Sid": "EncryptWithBucketKey",
                            "Effect": "Allow",
                            "Action": ["kms:GenerateDataKey", "kms:Encrypt"],
                            "Resource": [v[1]],
                        },
                    ],
                }
            )
        )
