"""The backup jobs' logic (service-code/base/backup-jobs): the PostgreSQL heartbeat and the
restore check against a real PostgreSQL server, Qdrant snapshots against a fake Qdrant that
speaks the snapshot API and an S3 emulated by moto."""

from __future__ import annotations

import hashlib
import json
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from sutazai_testing import PostgresServer, postgres_server  # noqa: F401  # fixture

JOBS = Path(__file__).resolve().parents[2] / "service-code" / "base" / "backup-jobs"
sys.path.insert(0, str(JOBS))

from sutazai_backup import cli  # noqa: E402  # pyright: ignore[reportMissingImports]
from sutazai_backup.postgres import (  # noqa: E402  # pyright: ignore[reportMissingImports]
    verify_restored,
    write_heartbeat,
)
from sutazai_backup.qdrant import (  # noqa: E402  # pyright: ignore[reportMissingImports]
    Destination,
    QdrantTarget,
    snapshot_all,
)

# ── PostgreSQL: heartbeat and restore check, on a real server ────────────────────────────


@pytest.fixture
def database(postgres_server: PostgresServer) -> Iterator[str]:  # noqa: F811
    """A fresh database per test on the session's server; yields its conninfo."""
    name = f"restore_{datetime.now(UTC).strftime('%H%M%S%f')}"
    admin = (
        f"host={postgres_server.host} port={postgres_server.port} user={postgres_server.user} "
        f"password={postgres_server.password} dbname={postgres_server.dbname}"
    )
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    yield admin.replace(f"dbname={postgres_server.dbname}", f"dbname={name}")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


def _app_tables(conninfo: str) -> None:
    with psycopg.connect(conninfo, autocommit=True) as conn:
        conn.execute("CREATE TABLE public.users (id serial PRIMARY KEY, email text UNIQUE)")
        conn.execute(
            "INSERT INTO public.users (email) SELECT 'u' || g FROM generate_series(1, 50) g"
        )
        conn.execute('CREATE SCHEMA "Odd Schema"')
        conn.execute('CREATE TABLE "Odd Schema"."a""b" (x int)')


def test_heartbeat_then_verify_passes_on_a_recent_restore(database: str) -> None:
    _app_tables(database)
    first = write_heartbeat(database, "test")
    second = write_heartbeat(database, "test")
    assert second >= first

    verdict = verify_restored(database, not_before=second - timedelta(minutes=1))

    assert verdict.ok, verdict.problems
    assert verdict.newest_heartbeat == second
    assert verdict.tables["public.users"] == 50
    assert verdict.tables['Odd Schema.a"b'] == 0  # quoted identifiers are read, not broken
    assert verdict.tables["sutazai_backup.heartbeat"] == 2
    assert verdict.indexes_checked >= 3  # users pkey + unique email + heartbeat pkey


def test_verify_refuses_a_restore_older_than_expected(database: str) -> None:
    at = write_heartbeat(database, "test")
    verdict = verify_restored(database, not_before=at + timedelta(hours=1))
    assert not verdict.ok
    assert any("older than" in p for p in verdict.problems)


def test_verify_refuses_a_database_without_heartbeats(database: str) -> None:
    _app_tables(database)
    verdict = verify_restored(database, not_before=datetime.now(UTC) - timedelta(days=1))
    assert not verdict.ok
    assert any("heartbeat is missing" in p for p in verdict.problems)


def test_verify_refuses_an_empty_heartbeat_table(database: str) -> None:
    write_heartbeat(database, "test")
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("DELETE FROM sutazai_backup.heartbeat")
    verdict = verify_restored(database, not_before=datetime.now(UTC) - timedelta(days=1))
    assert any("has no rows" in p for p in verdict.problems)


def test_verify_reports_a_table_it_cannot_read(database: str, postgres_server: Any) -> None:  # noqa: F811
    write_heartbeat(database, "test")
    _app_tables(database)
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("CREATE ROLE restore_reader LOGIN PASSWORD 'reader-pw'")
        conn.execute("GRANT USAGE ON SCHEMA sutazai_backup TO restore_reader")
        conn.execute("GRANT SELECT ON sutazai_backup.heartbeat TO restore_reader")
    reader = (
        f"host={postgres_server.host} port={postgres_server.port} user=restore_reader "
        f"password=reader-pw dbname={database.rsplit('dbname=', 1)[1]}"
    )
    try:
        verdict = verify_restored(reader, not_before=datetime.now(UTC) - timedelta(days=1))
    finally:
        with psycopg.connect(database, autocommit=True) as conn:
            conn.execute("DROP OWNED BY restore_reader")
            conn.execute("DROP ROLE restore_reader")
    assert any("public.users is not readable" in p for p in verdict.problems)


def test_cli_verify_exits_non_zero_with_a_json_report(
    database: str,
    postgres_server: PostgresServer,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    at = write_heartbeat(database, "test")
    monkeypatch.setenv("PGHOST", postgres_server.host)
    monkeypatch.setenv("PGPORT", str(postgres_server.port))
    monkeypatch.setenv("PGUSER", postgres_server.user)
    monkeypatch.setenv("PGDATABASE", database.rsplit("dbname=", 1)[1])
    monkeypatch.setenv("POSTGRES_PASSWORD_FILE", str(postgres_server.password_file))

    good = cli.main(
        ["postgres-verify", "--restore-point", at.isoformat(), "--heartbeat-hours", "1"]
    )
    assert good == 0 and json.loads(capsys.readouterr().out)["ok"] is True

    later = (at + timedelta(hours=3)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    bad = cli.main(["postgres-verify", "--restore-point", later, "--heartbeat-hours", "1"])
    report = json.loads(capsys.readouterr().out)
    assert bad == 1 and report["ok"] is False and report["problems"]

    with pytest.raises(SystemExit, match="timezone"):
        cli.main(["postgres-verify", "--restore-point", "2026-12-01T03:00:00"])


def test_cli_heartbeat_needs_its_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PGHOST", "PGUSER", "PGDATABASE", "POSTGRES_PASSWORD_FILE"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit, match="is not set"):
        cli.main(["postgres-heartbeat"])


# ── Qdrant: snapshot API to S3 ───────────────────────────────────────────────────────────

API_KEY = "qdrant-test-key"


class FakeQdrant:
    """Collections, snapshot create/download/delete, API key required on every call."""

    def __init__(self, collections: dict[str, int]) -> None:
        self.collections = collections
        self.snapshots: dict[tuple[str, str], bytes] = {}
        self.deleted: list[tuple[str, str]] = []
        self.unauthorised = 0

    def handler(self) -> type[BaseHTTPRequestHandler]:
        state = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _reply(self, code: int, body: Any, raw: bytes | None = None) -> None:
                data = raw if raw is not None else json.dumps(body).encode()
                self.send_response(code)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _handle(self, method: str) -> None:
                if self.headers.get("api-key") != API_KEY:
                    state.unauthorised += 1
                    return self._reply(401, {"status": {"error": "no api key"}})
                from urllib.parse import unquote, urlsplit

                parts = [unquote(p) for p in urlsplit(self.path).path.strip("/").split("/")]
                ok = {"status": "ok", "time": 0.0}
                if parts == ["collections"]:
                    names = [{"name": n} for n in state.collections]
                    return self._reply(200, {**ok, "result": {"collections": names}})
                name = parts[1]
                if len(parts) == 2:
                    points = state.collections[name]
                    return self._reply(200, {**ok, "result": {"points_count": points}})
                if len(parts) == 3 and method == "POST":
                    snap = f"{name}-{len(state.snapshots)}.snapshot"
                    state.snapshots[(name, snap)] = f"{name}:{'x' * 3000}".encode()
                    return self._reply(200, {**ok, "result": {"name": snap}})
                key = (name, parts[3])
                if method == "GET":
                    return self._reply(200, None, raw=state.snapshots[key])
                state.deleted.append(key)
                del state.snapshots[key]
                return self._reply(200, {**ok, "result": True})

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

        return Handler


@pytest.fixture
def qdrant() -> Iterator[tuple[FakeQdrant, str]]:
    fake = FakeQdrant({"documents": 120, "agent memory": 7})
    server = ThreadingHTTPServer(("127.0.0.1", 0), fake.handler())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield fake, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    import boto3
    from moto import mock_aws

    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
    }.items():
        monkeypatch.setenv(key, value)
    with mock_aws():
        client = boto3.client("s3")
        client.create_bucket(Bucket="sutazai-prod-app-backups")
        kms = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
        yield client, kms


def test_qdrant_snapshots_every_collection_to_s3_and_cleans_up(
    qdrant: tuple[FakeQdrant, str], s3: tuple[Any, str], tmp_path: Path
) -> None:
    fake, url = qdrant
    client, kms = s3
    now = datetime(2026, 12, 6, 4, 30, tzinfo=UTC)

    manifest = snapshot_all(
        QdrantTarget(url, API_KEY),
        client,
        Destination("sutazai-prod-app-backups", "qdrant/", kms),
        tmp_path,
        now=now,
    )

    assert set(manifest["collections"]) == {"documents", "agent memory"}
    for name, entry in manifest["collections"].items():
        obj = client.get_object(Bucket="sutazai-prod-app-backups", Key=entry["object"])
        body = obj["Body"].read()
        assert entry["object"].startswith(f"qdrant/20261206T043000Z/{name}/")
        assert hashlib.sha256(body).hexdigest() == entry["sha256"]
        assert body.startswith(f"{name}:".encode())
        assert obj["ServerSideEncryption"] == "aws:kms" and obj["SSEKMSKeyId"] == kms
    assert manifest["collections"]["documents"]["points_count"] == 120
    stored = client.get_object(
        Bucket="sutazai-prod-app-backups", Key="qdrant/20261206T043000Z/manifest.json"
    )
    assert json.loads(stored["Body"].read()) == manifest
    # Nothing left behind on Qdrant's disk or the job's scratch volume.
    assert fake.snapshots == {} and len(fake.deleted) == 2
    assert list(tmp_path.iterdir()) == []
    assert fake.unauthorised == 0


def test_qdrant_snapshot_fails_without_the_api_key_and_writes_no_manifest(
    qdrant: tuple[FakeQdrant, str], s3: tuple[Any, str], tmp_path: Path
) -> None:
    _, url = qdrant
    client, kms = s3
    with pytest.raises(Exception, match="401"):
        snapshot_all(
            QdrantTarget(url, "wrong"),
            client,
            Destination("sutazai-prod-app-backups", "q", kms),
            tmp_path,
        )
    assert client.list_objects_v2(Bucket="sutazai-prod-app-backups").get("KeyCount") == 0


def test_api_key_is_read_from_the_vault_env_file(tmp_path: Path) -> None:
    env_file = tmp_path / "qdrant.env"
    env_file.write_text("export OTHER='x'\nexport QDRANT__SERVICE__API_KEY='k3y=with$chars'\n")
    assert cli.read_env_file(env_file, "QDRANT__SERVICE__API_KEY") == "k3y=with$chars"
    with pytest.raises(SystemExit, match="MISSING"):
        cli.read_env_file(env_file, "MISSING")
    # A prefix of another variable's name is not a match.
    with pytest.raises(SystemExit):
        cli.read_env_file(env_file, "QDRANT__SERVICE__API")
