"""`sutazai:backup` and `sutazai:restore`: retention values, snapshot id formats, prod's
requirements, and a restore into prod refused unless it is explicitly confirmed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.config import StackConfig, parse_config_bag
from stacks.errors import ConfigError
from stacks.plan import stack_config_bag

PROD_BAG, _ = stack_config_bag("prod")
# A Docker stack has no load balancer to sign users in with (sutazai:edge).
DOCKER_EDGE = {"authentication": "off"}


def _bag(base: dict[str, str] | None = None, /, **overrides: Any) -> dict[str, str]:
    # A bag without a base is a dev stack (environment has no default).
    bag = dict(base if base is not None else {"sutazai:environment": "dev"})
    for key, value in overrides.items():
        bag[f"sutazai:{key}"] = value if isinstance(value, str) else json.dumps(value)
    return bag


def _prod_backup(**changes: Any) -> dict[str, Any]:
    backup = json.loads(PROD_BAG["sutazai:backup"])
    backup.update(changes)
    return backup


def _problems(bag: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        parse_config_bag(bag)
    return raised.value.problems


def test_prod_file_keeps_backups_with_a_copy_region_and_a_lock() -> None:
    config = parse_config_bag(PROD_BAG)
    backup = config.backup
    assert backup.enabled and backup.copy_region and backup.copy_region != config.aws_region
    assert backup.daily_retention_days >= 7 and backup.weekly_retention_days >= 28
    assert backup.vault_lock.enabled
    assert not config.restore.requested


def test_defaults_keep_backups_off_outside_prod() -> None:
    config = StackConfig(environment="dev")
    assert not config.backup.enabled and not config.restore.requested
    assert not config.uses_managed_data


# ── retention ────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("backup", "expected"),
    [
        ({"dailyRetentionDays": 0}, "sutazai:backup.dailyRetentionDays"),
        ({"dailyRetentionDays": -3}, "sutazai:backup.dailyRetentionDays"),
        ({"weeklyRetentionDays": 36501}, "sutazai:backup.weeklyRetentionDays"),
        ({"dailyRetentionDays": "7d"}, "sutazai:backup.dailyRetentionDays"),
        ({"dailyRetentionDays": 7.5}, "sutazai:backup.dailyRetentionDays"),
        ({"dailyRetentionDays": True}, "sutazai:backup.dailyRetentionDays"),
        ({"copyRetentionDays": 0}, "sutazai:backup.copyRetentionDays"),
        ({"bucketRetentionDays": 0}, "sutazai:backup.bucketRetentionDays"),
        ({"elasticacheSnapshotRetentionDays": 36}, "elasticacheSnapshotRetentionDays"),
        ({"elasticacheSnapshotRetentionDays": 0}, "elasticacheSnapshotRetentionDays"),
        (
            {"dailyRetentionDays": 30, "weeklyRetentionDays": 14},
            "weeklyRetentionDays: 14 is shorter than dailyRetentionDays 30",
        ),
        ({"copyRegion": "mars-1"}, "sutazai:backup.copyRegion"),
        ({"applicationSchedule": "@hourly"}, "sutazai:backup.applicationSchedule"),
        ({"applicationSchedule": "0 3 * *"}, "sutazai:backup.applicationSchedule"),
        ({"applicationSchedule": "0 3 * * * ; rm -rf /"}, "sutazai:backup.applicationSchedule"),
        ({"restoreDrillRoleArns": ["arn:aws:iam::1:role/x"]}, "restoreDrillRoleArns"),
        ({"retention": 7}, "sutazai:backup.retention: unknown key"),
        (
            {"vaultLock": {"enabled": True, "minRetentionDays": 30, "maxRetentionDays": 7}},
            "minRetentionDays: 30 is above maxRetentionDays 7",
        ),
        (
            {"vaultLock": {"enabled": True, "changeableForDays": 1}},
            "sutazai:backup.vaultLock.changeableForDays",
        ),
        (
            {"dailyRetentionDays": 3, "vaultLock": {"enabled": True, "minRetentionDays": 7}},
            "dailyRetentionDays: 3 days is outside the vault lock's 7-400 days",
        ),
        (
            {
                "weeklyRetentionDays": 500,
                "copyRetentionDays": 30,
                "vaultLock": {"enabled": True, "maxRetentionDays": 400},
            },
            "weeklyRetentionDays: 500 days is outside the vault lock's 7-400 days",
        ),
    ],
)
def test_bad_backup_values_name_the_key(backup: dict[str, Any], expected: str) -> None:
    problems = _problems(_bag(backup=backup))
    assert any(expected in p for p in problems), problems


def test_a_lock_that_fits_every_rule_is_accepted() -> None:
    backup = {
        "dailyRetentionDays": 7,
        "weeklyRetentionDays": 90,
        "copyRetentionDays": 90,
        "vaultLock": {"enabled": True, "minRetentionDays": 7, "maxRetentionDays": 90},
    }
    assert parse_config_bag(_bag(backup=backup)).backup.vault_lock.max_retention_days == 90


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"enabled": False}, "sutazai:backup.enabled: prod keeps backups"),
        ({"dailyRetentionDays": 3}, "prod keeps dailies at least 7 days, got 3"),
        ({"weeklyRetentionDays": 14}, "prod keeps weeklies at least 28 days, got 14"),
        ({"copyRegion": ""}, "sutazai:backup.copyRegion: prod copies its backups"),
        ({"copyRegion": "us-east-1"}, "the copy must leave awsRegion (us-east-1)"),
    ],
)
def test_prod_retention_and_copy_rules(change: dict[str, Any], expected: str) -> None:
    backup = _prod_backup(**change)
    if "dailyRetentionDays" in change or "weeklyRetentionDays" in change:
        backup["vaultLock"] = {"enabled": False}
    problems = _problems(_bag(PROD_BAG, backup=backup))
    assert any(expected in p for p in problems), problems


def test_backups_need_a_cluster_of_their_own() -> None:
    problems = _problems(
        _bag(backup={"enabled": True}, sharedClusterStack="sutazai/sutazai/dev-cluster")
    )
    assert any("sutazai:backup.enabled: backups are for a kubernetes stack" in p for p in problems)
    problems = _problems(_bag(backup={"enabled": True}, platform="docker", edge=DOCKER_EDGE))
    assert any("sutazai:backup.enabled" in p for p in problems)


# ── restore ids ──────────────────────────────────────────────────────────────────────────

GOOD_VOLUME_IDS = ["snap-0123abcd", "snap-0123456789abcdef0"]
BAD_VOLUME_IDS = [
    "snap-0123",  # too short
    "snap-0123456789abcdef",  # 16 digits
    "snap-0123ABCD",  # upper case
    "vol-0123456789abcdef0",  # a volume, not a snapshot
    "arn:aws:ec2:us-east-1::snapshot/snap-0123456789abcdef0",
    " snap-0123abcd",
    "snap-0123abcd\n",
    "",
]
GOOD_DB_IDS = [
    "sutazai-prod-postgres-final",
    "rds:sutazai-prod-postgres-2026-12-01-03-05",
    "awsbackup:job-1a2b3c4d-5e6f-7a8b-9c0d-1e2f3a4b5c6d",
    "arn:aws:rds:us-east-1:123456789012:snapshot:awsbackup:job-1a2b3c4d",
    "arn:aws:rds:us-east-1:123456789012:snapshot:manual-1",
]
BAD_DB_IDS = [
    "1starts-with-digit",
    "double--hyphen",
    "ends-with-hyphen-",
    "has_underscore",
    "arn:aws:rds:us-east-1:123:snapshot:x",  # account too short
    "arn:aws:rds:us-east-1:123456789012:db:sutazai-prod-postgres",  # an instance, not a snapshot
    "snap-0123456789abcdef0;drop",
    "a" * 256,
    "",
]


@pytest.mark.parametrize("snapshot", GOOD_VOLUME_IDS)
def test_volume_snapshot_ids_accepted(snapshot: str) -> None:
    config = parse_config_bag(_bag(restore={"volumes": {"qdrant": snapshot}}))
    assert config.restore.volumes == {"qdrant": snapshot}


@pytest.mark.parametrize("snapshot", BAD_VOLUME_IDS)
def test_volume_snapshot_ids_refused(snapshot: str) -> None:
    problems = _problems(_bag(restore={"volumes": {"qdrant": snapshot}}))
    assert any(
        "sutazai:restore.volumes" in p and "qdrant" in p and "EBS snapshot id" in p
        for p in problems
    ), problems


@pytest.mark.parametrize("snapshot", GOOD_DB_IDS)
def test_database_snapshot_ids_accepted(snapshot: str) -> None:
    config = parse_config_bag(_bag(restore={"databases": {"postgres": snapshot}}))
    assert config.restore.databases == {"postgres": snapshot}
    assert config.uses_managed_data  # a drill restores into RDS, as prod runs it


@pytest.mark.parametrize("snapshot", BAD_DB_IDS)
def test_database_snapshot_ids_refused(snapshot: str) -> None:
    problems = _problems(_bag(restore={"databases": {"postgres": snapshot}}))
    assert any(
        "sutazai:restore.databases" in p and "RDS snapshot identifier" in p for p in problems
    ), problems


@pytest.mark.parametrize(
    "value", [["snap-0123abcd"], "snap-0123abcd", {"qdrant": {"id": "snap-0123abcd"}}]
)
def test_restore_volumes_must_be_a_map_of_strings(value: Any) -> None:
    problems = _problems(_bag(restore={"volumes": value}))
    assert any("sutazai:restore.volumes" in p for p in problems), problems


def test_restore_zone_format() -> None:
    problems = _problems(_bag(restore={"availabilityZone": "us-east-1"}))
    assert any("sutazai:restore.availabilityZone" in p for p in problems)


# ── restoring into prod ──────────────────────────────────────────────────────────────────

PROD_RESTORES = [
    {"volumes": {"qdrant": "snap-0123456789abcdef0"}},
    {"databases": {"postgres": "awsbackup:job-1a2b3c4d"}},
    {"volumes": {"neo4j": "snap-0123abcd"}, "databases": {"postgres": "manual-1"}},
]


@pytest.mark.parametrize("restore", PROD_RESTORES)
def test_restore_into_prod_is_refused_without_confirmation(restore: dict[str, Any]) -> None:
    problems = _problems(_bag(PROD_BAG, restore=restore))
    assert any("sutazai:restore.confirmProductionRestore" in p for p in problems), problems


@pytest.mark.parametrize("confirm", [False, "yes", "1", 1, "true", None])
def test_only_a_true_boolean_confirms(confirm: Any) -> None:
    restore = {**PROD_RESTORES[0], "confirmProductionRestore": confirm}
    problems = _problems(_bag(PROD_BAG, restore=restore))
    assert any("confirmProductionRestore" in p for p in problems), problems


def test_restore_into_prod_with_confirmation_is_accepted() -> None:
    restore = {**PROD_RESTORES[0], "confirmProductionRestore": True}
    config = parse_config_bag(_bag(PROD_BAG, restore=restore))
    assert config.restore.confirm_production_restore and config.is_prod


def test_confirmation_alone_restores_nothing() -> None:
    config = parse_config_bag(_bag(PROD_BAG, restore={"confirmProductionRestore": True}))
    assert not config.restore.requested


@pytest.mark.parametrize(
    "extra",
    [
        {"platform": "docker", "edge": DOCKER_EDGE},
        {"sharedClusterStack": "sutazai/sutazai/dev-cluster"},
    ],
)
def test_restore_needs_its_own_kubernetes_cluster(extra: dict[str, str]) -> None:
    problems = _problems(_bag(restore=PROD_RESTORES[0], **extra))
    assert any("sutazai:restore: a restore creates EBS volumes" in p for p in problems), problems
