"""Command line of the backup jobs. Settings from the environment, secrets from files."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any


def _require(name: str) -> str:
    value = os.environ.get(name, "")
    if not value:
        raise SystemExit(f"{name} is not set")
    return value


def read_env_file(path: Path, variable: str) -> str:
    """The value of `variable` in an env file of `export NAME='value'` lines (what the Vault
    Agent renders for products that read secrets from env only)."""
    for line in path.read_text().splitlines():
        words = shlex.split(line, comments=True)
        if len(words) == 2 and words[0] == "export" and words[1].startswith(f"{variable}="):
            return words[1].split("=", 1)[1]
    raise SystemExit(f"{variable} is not in {path}")


def _secret(file_variable: str, env_file_variable: str, name: str) -> str:
    """A secret from <NAME>_FILE, or from the env file named by `env_file_variable`."""
    file = os.environ.get(file_variable)
    if file:
        return Path(file).read_text().strip()
    env_file = os.environ.get(env_file_variable)
    if env_file:
        return read_env_file(Path(env_file), name)
    raise SystemExit(f"set {file_variable} or {env_file_variable}")


def postgres_conninfo() -> str:
    """libpq settings from PG* variables; the password from POSTGRES_PASSWORD_FILE."""
    import psycopg.conninfo

    password = Path(_require("POSTGRES_PASSWORD_FILE")).read_text().strip()
    return psycopg.conninfo.make_conninfo(
        "",
        host=_require("PGHOST"),
        port=os.environ.get("PGPORT", "5432"),
        user=_require("PGUSER"),
        dbname=_require("PGDATABASE"),
        password=password,
        sslmode=os.environ.get("PGSSLMODE", "prefer"),
        connect_timeout=os.environ.get("PGCONNECT_TIMEOUT", "10"),
    )


def _qdrant_snapshot(_: argparse.Namespace) -> int:
    import boto3

    from sutazai_backup.qdrant import Destination, QdrantTarget, snapshot_all

    target = QdrantTarget(
        url=_require("QDRANT_URL"),
        api_key=_secret("QDRANT_API_KEY_FILE", "QDRANT_ENV_FILE", "QDRANT__SERVICE__API_KEY"),
    )
    destination = Destination(
        bucket=_require("BACKUP_BUCKET"),
        prefix=_require("BACKUP_PREFIX"),
        kms_key_id=_require("BACKUP_KMS_KEY_ARN"),
    )
    scratch = Path(os.environ.get("SCRATCH_DIR") or tempfile.gettempdir())
    store: Any = boto3.client("s3")
    manifest = snapshot_all(target, store, destination, scratch)
    print(json.dumps(manifest, sort_keys=True))
    return 0


def _postgres_heartbeat(args: argparse.Namespace) -> int:
    from sutazai_backup.postgres import write_heartbeat

    at = write_heartbeat(postgres_conninfo(), args.source)
    print(json.dumps({"heartbeat": at.isoformat()}))
    return 0


def _postgres_verify(args: argparse.Namespace) -> int:
    from sutazai_backup.postgres import verify_restored

    point = datetime.fromisoformat(args.restore_point.replace("Z", "+00:00"))
    if point.tzinfo is None:
        raise SystemExit("--restore-point needs a timezone (e.g. 2026-12-01T03:00:00Z)")
    not_before = point.astimezone(UTC) - timedelta(hours=args.heartbeat_hours)
    verdict = verify_restored(postgres_conninfo(), not_before)
    print(json.dumps(verdict.as_dict(), sort_keys=True))
    return 0 if verdict.ok else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="sutazai_backup", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    snapshot = commands.add_parser(
        "qdrant-snapshot",
        help="snapshot every Qdrant collection to S3 (QDRANT_URL, QDRANT_API_KEY_FILE or "
        "QDRANT_ENV_FILE, BACKUP_BUCKET, BACKUP_PREFIX, BACKUP_KMS_KEY_ARN, SCRATCH_DIR)",
    )
    snapshot.set_defaults(run=_qdrant_snapshot)
    heartbeat = commands.add_parser(
        "postgres-heartbeat",
        help="write a heartbeat row (PGHOST, PGPORT, PGUSER, PGDATABASE, POSTGRES_PASSWORD_FILE)",
    )
    heartbeat.add_argument("--source", default=os.environ.get("HEARTBEAT_SOURCE", "cronjob"))
    heartbeat.set_defaults(run=_postgres_heartbeat)
    verify = commands.add_parser("postgres-verify", help="check a restored database")
    verify.add_argument(
        "--restore-point", required=True, help="the time the restore should reflect (UTC)"
    )
    verify.add_argument(
        "--heartbeat-hours",
        type=float,
        default=7.0,
        help="the heartbeat interval plus slack: the newest heartbeat may be this much older",
    )
    verify.set_defaults(run=_postgres_verify)
    args = parser.parse_args(argv)
    try:
        return int(args.run(args))
    except SystemExit:
        raise
    except Exception as error:  # one line for the job's log, not a traceback
        print(f"{args.command} failed: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
