"""The shipped example pgbouncer.ini, run by Debian's pgbouncer in front of a
real PostgreSQL: a query must go through the pooler."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sutazai_testing import PostgresServer, free_port, wait_port

CONFIG = Path(__file__).parent.parent / "config" / "pgbouncer.ini"


def render(pg: PostgresServer, port: int, rundir: Path) -> str:
    """The example with only the site-specific values replaced."""
    text = CONFIG.read_text()
    text = text.replace(
        "sutazai = host=postgres port=5432 dbname=sutazai",
        f"sutazai = host={pg.host} port={pg.port} dbname={pg.dbname}",
    )
    text = text.replace("listen_addr = 0.0.0.0", "listen_addr = 127.0.0.1")
    text = text.replace("listen_port = 6432", f"listen_port = {port}")
    text = text.replace("unix_socket_dir = /var/run/pgbouncer", f"unix_socket_dir = {rundir}")
    return text.replace(
        "auth_file = /etc/pgbouncer/userlist.txt", f"auth_file = {rundir / 'userlist.txt'}"
    )


def test_example_config_is_complete() -> None:
    parser = configparser.ConfigParser(comment_prefixes=(";",), inline_comment_prefixes=None)
    parser.read(CONFIG)
    assert parser["pgbouncer"]["listen_port"] == "6432"
    assert parser["pgbouncer"]["auth_file"] == "/etc/pgbouncer/userlist.txt"
    assert parser["pgbouncer"]["unix_socket_dir"] == "/var/run/pgbouncer"


@pytest.fixture
def pgbouncer(postgres_server: PostgresServer) -> Iterator[int]:
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).exists():
        pytest.skip("pgbouncer binary absent (apt-get install -y pgbouncer)")
    rundir = Path(tempfile.mkdtemp(prefix="sutazai-pgb-"))
    port = free_port()
    ini = rundir / "pgbouncer.ini"
    ini.write_text(render(postgres_server, port, rundir))
    (rundir / "userlist.txt").write_text(f'"{postgres_server.user}" "{postgres_server.password}"\n')
    prefix: list[str] = []
    if os.geteuid() == 0:  # pgbouncer refuses to run as root
        prefix = ["runuser", "-u", "postgres" if shutil.which("pg_ctlcluster") else "nobody", "--"]
        shutil.chown(rundir, prefix[2])
        for f in rundir.iterdir():
            shutil.chown(f, prefix[2])
    proc = subprocess.Popen([*prefix, binary, str(ini)], stderr=subprocess.PIPE)
    try:
        wait_port(port, timeout=10)
        yield port
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(rundir, ignore_errors=True)


@pytest.mark.postgres
def test_queries_go_through_pgbouncer(postgres_server: PostgresServer, pgbouncer: int) -> None:
    with psycopg.connect(
        host="127.0.0.1",
        port=pgbouncer,
        dbname="sutazai",
        user=postgres_server.user,
        password=postgres_server.password,
        prepare_threshold=None,
    ) as conn:
        row = conn.execute("SELECT current_database(), inet_server_port()").fetchone()
    assert row == (postgres_server.dbname, postgres_server.port)
    if shutil.which("pg_isready"):
        ok = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", str(pgbouncer)], check=False)
        assert ok.returncode == 0


@pytest.mark.postgres
def test_service_pool_works_through_transaction_pooling(
    clean_env: pytest.MonkeyPatch, postgres_server: PostgresServer, pgbouncer: int
) -> None:
    """psycopg prepares statements after 5 runs by default; PgBouncer 1.18 in
    transaction mode breaks that. The shared pool must never prepare."""
    import asyncio

    from sutazai_common import PostgresSettings
    from sutazai_common.clients import postgres_pool

    for k, v in {
        **postgres_server.env(),
        "POSTGRES_PORT": str(pgbouncer),
        "POSTGRES_DB": "sutazai",
    }.items():
        clean_env.setenv(k, v)

    async def scenario() -> None:
        settings = PostgresSettings.from_env()
        assert settings is not None
        pool = postgres_pool(settings, min_size=2, max_size=2)
        await pool.open()
        try:
            for i in range(20):
                async with pool.connection() as conn:
                    row = await (await conn.execute("SELECT %s::int + 1", (i,))).fetchone()
                    assert row == (i + 1,)
        finally:
            await pool.close()

    asyncio.run(scenario())
