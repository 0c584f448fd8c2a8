"""PostgreSQL side of backups: a heartbeat row written on a schedule, and the checks a
restored database must pass (how recent it is, every table readable, B-tree indexes intact)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

SCHEMA = "sutazai_backup"
TABLE = "heartbeat"
# Heartbeats older than this are pruned: the table stays a few hundred rows.
KEEP = timedelta(days=400)


def write_heartbeat(conninfo: str, source: str) -> datetime:
    """Insert one heartbeat (the server's clock) and return its time."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(SCHEMA)))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.{} ("
                "id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
                "at timestamptz NOT NULL DEFAULT now(), source text NOT NULL)"
            ).format(sql.Identifier(SCHEMA), sql.Identifier(TABLE))
        )
        row = conn.execute(
            sql.SQL("INSERT INTO {}.{} (source) VALUES (%s) RETURNING at").format(
                sql.Identifier(SCHEMA), sql.Identifier(TABLE)
            ),
            (source,),
        ).fetchone()
        conn.execute(
            sql.SQL("DELETE FROM {}.{} WHERE at < now() - %s").format(
                sql.Identifier(SCHEMA), sql.Identifier(TABLE)
            ),
            (KEEP,),
        )
    assert row is not None
    return row[0]


@dataclass
class Verdict:
    newest_heartbeat: datetime | None = None
    tables: dict[str, int] = field(default_factory=dict)
    indexes_checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "newest_heartbeat": self.newest_heartbeat.isoformat()
            if self.newest_heartbeat
            else None,
            "tables": self.tables,
            "indexes_checked": self.indexes_checked,
            "problems": self.problems,
        }


def verify_restored(conninfo: str, not_before: datetime) -> Verdict:
    """Check a restored database; `not_before` is the oldest acceptable newest heartbeat
    (the restore point minus the heartbeat interval)."""
    verdict = Verdict()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", (f"{SCHEMA}.{TABLE}",)
        ).fetchone()
        if not exists or not exists[0]:
            verdict.problems.append(
                f"{SCHEMA}.{TABLE} is missing: this is not a database the heartbeat job wrote to"
            )
        else:
            row = conn.execute(
                sql.SQL("SELECT max(at) FROM {}.{}").format(
                    sql.Identifier(SCHEMA), sql.Identifier(TABLE)
                )
            ).fetchone()
            newest = row[0] if row else None
            verdict.newest_heartbeat = newest
            if newest is None:
                verdict.problems.append(f"{SCHEMA}.{TABLE} has no rows")
            elif newest < not_before:
                verdict.problems.append(
                    f"newest heartbeat {newest.isoformat()} is older than {not_before.isoformat()}:"
                    " the restore point is not the one expected"
                )
        tables = conn.execute(
            "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = "
            "c.relnamespace WHERE c.relkind IN ('r', 'p', 'm') AND n.nspname NOT IN "
            "('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%' "
            "ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            name = f"{schema}.{table}"
            try:
                counted = conn.execute(
                    sql.SQL("SELECT count(*) FROM {}.{}").format(
                        sql.Identifier(schema), sql.Identifier(table)
                    )
                ).fetchone()
                verdict.tables[name] = counted[0] if counted else 0
            except psycopg.Error as error:
                verdict.problems.append(f"{name} is not readable: {error}".strip())
        verdict.indexes_checked = _check_indexes(conn, verdict)
    return verdict


def _check_indexes(conn: psycopg.Connection[Any], verdict: Verdict) -> int:
    """amcheck's bt_index_check on every valid B-tree index (if amcheck can be used)."""
    try:
        conn.execute("CREATE EXTENSION IF NOT EXISTS amcheck")
    except psycopg.Error as error:
        verdict.problems.append(f"amcheck unavailable, indexes unchecked: {error}".strip())
        return 0
    indexes = conn.execute(
        "SELECT c.oid, n.nspname || '.' || c.relname FROM pg_index i "
        "JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_namespace n ON n.oid = c.relnamespace "
        "JOIN pg_am a ON a.oid = c.relam WHERE a.amname = 'btree' AND i.indisvalid "
        "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg_toast%'"
    ).fetchall()
    for oid, name in indexes:
        try:
            conn.execute("SELECT bt_index_check(%s::regclass)", (oid,))
        except psycopg.Error as error:
            verdict.problems.append(f"index {name} failed amcheck: {error}".strip())
    return len(indexes)
