"""The server-side files and SQL, against real PostgreSQL and Redis servers (Debian binaries).

Skipped, with the reason, where the binaries are absent (`make system-deps` installs them).
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sutazai_testing import free_port, pg_bindir, wait_port

from components.configs.poolers import pgbouncer_ini
from components.launch import provisioning_command
from components.platform import SECRETS_DIR
from components.secrets import dynamic_creation_statements, dynamic_revocation_statements
from components.vault.provisioning import (
    AUTH_TABLE,
    neo4j_client_users,
    postgres_client_roles,
    redis_users_acl,
    scram_sha256_verifier,
)
from stacks.catalog import load_catalog

ADMIN_PASSWORD = "admin-test-password"  # a throwaway local instance


@dataclass
class Postgres:
    bindir: Path
    port: int

    def psql(
        self,
        user: str,
        password: str,
        sql: str,
        db: str = "sutazai",
        single_transaction: bool = False,
    ) -> subprocess.CompletedProcess[str]:
        command = [
            str(self.bindir / "psql"),
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            str(self.port),
            "-U",
            user,
            "-d",
            db,
            "-At",
        ]
        if single_transaction:
            command.append("-1")
        return subprocess.run(
            command,
            input=sql,
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, "PGPASSWORD": password, "PGSSLMODE": "disable"},
        )


@pytest.fixture(scope="module")
def postgres() -> Iterator[Postgres]:
    bindir = pg_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL binaries absent (make system-deps)")
    run_as: list[str] = []
    if os.geteuid() == 0:
        user = next((u for u in ("postgres", "nobody") if _user_exists(u)), None)
        if user is None:
            pytest.skip("running as root without an unprivileged user for PostgreSQL")
        run_as = ["runuser", "-u", user, "--"]
    tmp = Path(tempfile.mkdtemp(prefix="sutazai-secrets-pg-"))
    pwfile = tmp / "pw"
    pwfile.write_text(ADMIN_PASSWORD + "\n")
    if run_as:
        shutil.chown(tmp, run_as[2])
        shutil.chown(pwfile, run_as[2])
    port = free_port()
    subprocess.run(
        [
            *run_as,
            str(bindir / "initdb"),
            "-D",
            str(tmp / "data"),
            "-U",
            "superuser",
            "-A",
            "scram-sha-256",
            f"--pwfile={pwfile}",
            "--no-sync",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    options = (
        f"-c listen_addresses=127.0.0.1 -c port={port} "
        f"-c unix_socket_directories={tmp} -c fsync=off"
    )
    subprocess.run(
        [
            *run_as,
            str(bindir / "pg_ctl"),
            "-D",
            str(tmp / "data"),
            "-l",
            str(tmp / "log"),
            "-o",
            options,
            "-w",
            "start",
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    server = Postgres(bindir, port)
    # Like RDS: the master user can create roles and owns the database, but is no superuser.
    done = server.psql(
        "superuser",
        ADMIN_PASSWORD,
        (
            f"CREATE ROLE master LOGIN CREATEROLE PASSWORD '{ADMIN_PASSWORD}';"
            "CREATE DATABASE sutazai OWNER master;"
        ),
        db="postgres",
    )
    assert done.returncode == 0, done.stderr
    try:
        yield server
    finally:
        subprocess.run(
            [*run_as, str(bindir / "pg_ctl"), "-D", str(tmp / "data"), "-m", "immediate", "stop"],
            check=False,
            stdout=subprocess.DEVNULL,
        )
        shutil.rmtree(tmp, ignore_errors=True)


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def test_scram_verifier_has_postgres_format() -> None:
    verifier = scram_sha256_verifier("backend", "p4ssw0rd")
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    assert verifier == scram_sha256_verifier("backend", "p4ssw0rd")  # stable across runs
    assert verifier != scram_sha256_verifier("dify", "p4ssw0rd")  # salted per user


def test_static_client_roles_log_in_own_their_schema_and_rotate(postgres: Postgres) -> None:
    sql = postgres_client_roles([("backend", "FirstPassw0rdBackend"), ("dify", "DifyPassw0rd1")])
    assert "FirstPassw0rdBackend" not in sql  # verifiers, not passwords
    # Applied as the (non-superuser) master, twice: it is idempotent.
    for _ in range(2):
        done = postgres.psql("master", ADMIN_PASSWORD, sql)
        assert done.returncode == 0, done.stderr
    ok = postgres.psql(
        "backend", "FirstPassw0rdBackend", "CREATE TABLE t (x int); SELECT current_schema();"
    )
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "backend"
    denied = postgres.psql("backend", "FirstPassw0rdBackend", "CREATE TABLE dify.t (x int);")
    assert denied.returncode != 0 and "permission denied" in denied.stderr
    assert postgres.psql("backend", "wrong", "SELECT 1").returncode != 0
    # Rotation: a new password, the same file re-applied.
    rotated = postgres_client_roles([("backend", "SecondPassw0rdBackend")])
    assert postgres.psql("master", ADMIN_PASSWORD, rotated).returncode == 0
    assert postgres.psql("backend", "FirstPassw0rdBackend", "SELECT 1").returncode != 0
    assert postgres.psql("backend", "SecondPassw0rdBackend", "SELECT 1").returncode == 0
    # The database is closed to everyone else.
    outsider = postgres.psql(
        "superuser",
        ADMIN_PASSWORD,
        "CREATE ROLE outsider LOGIN PASSWORD 'OutsiderPassw0rd';",
        db="postgres",
    )
    assert outsider.returncode == 0
    assert postgres.psql("outsider", "OutsiderPassw0rd", "SELECT 1").returncode != 0


def _vault_lease(name: str, password: str, expiration: str = "2100-01-01 00:00:00+00") -> str:
    """Vault's statements for one lease as its postgresql plugin runs them (one transaction).
    With `password_authentication = scram-sha-256` (components/secrets.py) Vault substitutes
    the password's SCRAM verifier for {{password}}, never the password."""
    return _vault_sql(
        dynamic_creation_statements("agentgpt", "sutazai"),
        name,
        scram_sha256_verifier(name, password),
        expiration,
    )


def _vault_sql(statements: list[str], name: str, password: str = "", expiration: str = "") -> str:
    return "\n".join(
        s.replace("{{name}}", name)
        .replace("{{password}}", password)
        .replace("{{expiration}}", expiration)
        for s in statements
    )


def test_dynamic_creation_and_revocation_statements_as_vault_runs_them(
    postgres: Postgres,
) -> None:
    """What Vault's postgresql plugin does per lease, as the (non-superuser) master user."""
    lease = _vault_lease

    first = postgres.psql(
        "master", ADMIN_PASSWORD, lease("v-agentgpt-1", "LeaseOnePassw0rd"), single_transaction=True
    )
    assert first.returncode == 0, first.stderr
    created = postgres.psql(
        "v-agentgpt-1",
        "LeaseOnePassw0rd",
        "CREATE TABLE tasks (x int); SELECT current_user, current_schema();",
    )
    assert created.returncode == 0, created.stderr
    # The session acts as the group role, in the group's schema.
    assert created.stdout.strip() == "agentgpt|agentgpt"
    second = postgres.psql(
        "master", ADMIN_PASSWORD, lease("v-agentgpt-2", "LeaseTwoPassw0rd"), single_transaction=True
    )
    assert second.returncode == 0, second.stderr
    # Revocation (Vault's revocation statements) drops the first user and its recorded
    # verifier; its table stays.
    revoke = _vault_sql(dynamic_revocation_statements(), "v-agentgpt-1")
    done = postgres.psql("master", ADMIN_PASSWORD, revoke, single_transaction=True)
    assert done.returncode == 0, done.stderr
    assert postgres.psql("v-agentgpt-1", "LeaseOnePassw0rd", "SELECT 1").returncode != 0
    recorded = postgres.psql(
        "superuser", ADMIN_PASSWORD, f"SELECT username FROM {AUTH_TABLE} ORDER BY 1"
    )
    assert recorded.stdout.split() == ["v-agentgpt-2"], recorded.stderr
    read = postgres.psql("v-agentgpt-2", "LeaseTwoPassw0rd", "SELECT count(*) FROM tasks;")
    assert read.returncode == 0 and read.stdout.strip() == "0", read.stderr


def test_a_password_is_never_recorded_only_a_verifier(postgres: Postgres) -> None:
    """Were Vault ever configured to pass the password itself, the lease fails (nothing is
    stored) instead of keeping a password in the table."""
    plain = _vault_sql(
        dynamic_creation_statements("agentgpt", "sutazai"),
        "v-agentgpt-plain",
        "PlainPassw0rdNever",
        "2100-01-01 00:00:00+00",
    )
    done = postgres.psql("master", ADMIN_PASSWORD, plain, single_transaction=True)
    assert done.returncode != 0 and "check constraint" in done.stderr
    assert postgres.psql("v-agentgpt-plain", "PlainPassw0rdNever", "SELECT 1").returncode != 0


@pytest.fixture(scope="module")
def redis_binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None or shutil.which("redis-cli") is None:
        pytest.skip("redis-server/redis-cli absent (make system-deps)")
    return binary


def test_redis_acl_file_admits_each_client_with_its_own_password(redis_binary: str) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="sutazai-secrets-redis-"))
    acl = tmp / "users.acl"
    acl.write_text(redis_users_acl("ServerPassw0rd", [("backend", "BackendPassw0rd")]))
    assert "BackendPassw0rd" not in acl.read_text()
    port = free_port()
    server = subprocess.Popen(
        [
            redis_binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--aclfile",
            str(acl),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp),
        ],
        stdout=subprocess.DEVNULL,
    )

    def cli(user: str, password: str, *command: str) -> str:
        done = subprocess.run(
            [
                "redis-cli",
                "-p",
                str(port),
                "--user",
                user,
                "--pass",
                password,
                "--no-auth-warning",
                *command,
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        return (done.stdout + done.stderr).strip()

    try:
        wait_port(port)
        assert cli("default", "ServerPassw0rd", "PING") == "PONG"
        assert cli("backend", "BackendPassw0rd", "SET", "k", "v") == "OK"
        assert cli("backend", "BackendPassw0rd", "GET", "k") == "v"
        assert "NOPERM" in cli("backend", "BackendPassw0rd", "CONFIG", "GET", "*")
        assert "NOPERM" in cli("backend", "BackendPassw0rd", "FLUSHALL")
        assert "WRONGPASS" in cli("backend", "ServerPassw0rd", "PING")
    finally:
        server.terminate()
        server.wait(10)
        shutil.rmtree(tmp, ignore_errors=True)


def test_neo4j_script_is_idempotent_cypher() -> None:
    script = neo4j_client_users([("backend", "Passw0rd'quote")])
    assert "CREATE OR REPLACE USER backend SET PLAINTEXT PASSWORD 'Passw0rd''quote'" in script
    with pytest.raises(ValueError):
        neo4j_client_users([("bad name", "x")])


# --- PgBouncer in front: the generated pgbouncer.ini, auth_query, static and Vault users --


@pytest.fixture(scope="module")
def pgbouncer_binary() -> str:
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        pytest.skip("pgbouncer absent (make system-deps)")
    return binary


def _generated_ini(pg: Postgres, listen: int, rundir: Path) -> str:
    """The catalog's pgbouncer.ini, with only the local paths and ports changed."""
    catalog = load_catalog()
    text = pgbouncer_ini(catalog["pgbouncer"], catalog["postgres"], "127.0.0.1")
    text = text.replace("port=5432", f"port={pg.port}")
    text = text.replace("listen_addr = 0.0.0.0", "listen_addr = 127.0.0.1")
    text = text.replace(
        f"listen_port = {catalog['pgbouncer'].primary_port.port}", f"listen_port = {listen}"
    )
    text = text.replace("unix_socket_dir = /var/run/pgbouncer", f"unix_socket_dir = {rundir}")
    return text.replace(
        f"auth_file = {SECRETS_DIR}/pgbouncer-userlist.txt", f"auth_file = {rundir}/userlist.txt"
    )


def test_pgbouncer_lets_static_and_short_lived_users_in_through_the_server(
    postgres: Postgres, pgbouncer_binary: str
) -> None:
    """The pooler's own user (its Vault-rendered userlist) looks every other user up with
    auth_query: the static clients' SCRAM verifiers and Vault's leases alike.

    Everything runs as `master`, which like RDS's master user creates roles and owns the
    database but is no superuser, and so cannot read pg_shadow or pg_authid."""
    denied = postgres.psql("master", ADMIN_PASSWORD, "SELECT count(*) FROM pg_catalog.pg_shadow")
    assert denied.returncode != 0 and "permission denied" in denied.stderr
    sql = postgres_client_roles(
        [("pgbouncer", "PoolerPassw0rd1"), ("dify", "DifyPassw0rdViaPool")],
        lookup_user="pgbouncer",
    )
    for _ in range(2):  # idempotent
        done = postgres.psql("master", ADMIN_PASSWORD, sql)
        assert done.returncode == 0, done.stderr
    lease = _vault_lease("v-agentgpt-pool", "LeasePassw0rdPool")
    done = postgres.psql("master", ADMIN_PASSWORD, lease, single_transaction=True)
    assert done.returncode == 0, done.stderr
    expired = _vault_lease("v-agentgpt-old", "ExpiredPassw0rd", "2000-01-01 00:00:00+00")
    assert postgres.psql("master", ADMIN_PASSWORD, expired, single_transaction=True).returncode == 0
    # A recorded verifier does not make a superuser loggable through the pooler.
    smuggled = (
        f"INSERT INTO {AUTH_TABLE} VALUES ('superuser', "
        f"'{scram_sha256_verifier('superuser', ADMIN_PASSWORD)}');"
    )
    assert postgres.psql("master", ADMIN_PASSWORD, smuggled).returncode == 0
    # The lookup function is the pooler's only: a client cannot read verifiers.
    denied = postgres.psql(
        "dify", "DifyPassw0rdViaPool", "SELECT * FROM sutazai_auth.user_lookup('pgbouncer')"
    )
    assert denied.returncode != 0 and "permission denied" in denied.stderr

    rundir = Path(tempfile.mkdtemp(prefix="sutazai-pgbouncer-"))
    listen = free_port()
    (rundir / "pgbouncer.ini").write_text(_generated_ini(postgres, listen, rundir))
    # What the Vault agent renders from the catalog's secret_files template.
    (rundir / "userlist.txt").write_text('"pgbouncer" "PoolerPassw0rd1"')
    run_as: list[str] = []
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        user = next((u for u in ("postgres", "nobody") if _user_exists(u)), None)
        if user is None:
            pytest.skip("running as root without an unprivileged user for PgBouncer")
        run_as = ["runuser", "-u", user, "--"]
        shutil.chown(rundir, user)
        for file in rundir.iterdir():
            shutil.chown(file, user)
    proc = subprocess.Popen(
        [*run_as, pgbouncer_binary, str(rundir / "pgbouncer.ini")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    pooled = Postgres(postgres.bindir, listen)
    try:
        wait_port(listen)
        static = pooled.psql(
            "dify", "DifyPassw0rdViaPool", "SELECT current_user, inet_server_port()"
        )
        assert static.returncode == 0, static.stderr
        assert static.stdout.strip() == f"dify|{postgres.port}"
        leased = pooled.psql("v-agentgpt-pool", "LeasePassw0rdPool", "SELECT current_schema()")
        assert leased.returncode == 0, leased.stderr
        assert leased.stdout.strip() == "agentgpt"
        assert pooled.psql("dify", "wrong-password", "SELECT 1").returncode != 0
        assert pooled.psql("v-agentgpt-old", "ExpiredPassw0rd", "SELECT 1").returncode != 0
        # Superusers are never looked up: no way in through the pooler.
        assert pooled.psql("superuser", ADMIN_PASSWORD, "SELECT 1").returncode != 0
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(rundir, ignore_errors=True)


def test_the_catalogs_apply_command_creates_the_database_and_the_roles(
    postgres: Postgres, tmp_path: Path
) -> None:
    """components.launch's provisioning command for the catalog's postgres, run by a real
    sh against a real server: a missing database is created, the file applied, twice."""
    catalog = load_catalog()
    done = postgres.psql(
        "superuser",
        ADMIN_PASSWORD,
        f"CREATE ROLE postgres SUPERUSER LOGIN PASSWORD '{ADMIN_PASSWORD}';",
        db="postgres",
    )
    assert done.returncode == 0, done.stderr
    password_file = tmp_path / "postgres-superuser_password"
    password_file.write_text(ADMIN_PASSWORD)
    sql_file = tmp_path / "postgres-client-roles.sql"
    sql_file.write_text(postgres_client_roles([("letta", "LettaPassw0rdApply")], lookup_user=None))
    command = provisioning_command(catalog["postgres"], str(sql_file))
    assert command is not None
    env = {
        "PATH": f"{postgres.bindir}:/usr/bin:/bin",
        "POSTGRES_PASSWORD_FILE": str(password_file),
        "POSTGRES_DB": "sutazai_apply",
        "PGPORT": str(postgres.port),
        "PGSSLMODE": "disable",
    }
    for _ in range(2):
        run = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        assert run.returncode == 0, run.stderr
    ok = postgres.psql("letta", "LettaPassw0rdApply", "SELECT current_schema()", db="sutazai_apply")
    assert ok.returncode == 0 and ok.stdout.strip() == "letta", ok.stderr
