"""How containers start (components/launch.py), on both platforms, and the shell it relies on."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from components import launch
from stacks.catalog import PROVISIONING_REFERENCE, Catalog

ACL = "/vault/secrets/redis-users.acl"
SQL = "/vault/secrets/postgres-client-roles.sql"


def test_the_issuers_file_is_filled_into_its_arguments(catalog: Catalog) -> None:
    redis = catalog["redis"]
    assert PROVISIONING_REFERENCE in (redis.args or [])
    command, args = launch.command_and_args(redis, env_file=None, provisioning_file=ACL)
    assert command is None  # the image's entrypoint (it prepends redis-server)
    assert args is not None and args[:2] == ["--aclfile", ACL]
    assert not any(PROVISIONING_REFERENCE in a for a in args)
    with pytest.raises(ValueError, match="no provisioning file"):
        launch.command_and_args(redis, env_file=None, provisioning_file=None)


def test_services_without_launch_data_keep_their_image_defaults(catalog: Catalog) -> None:
    assert launch.command_and_args(catalog["postgres"], env_file=None, provisioning_file=SQL) == (
        None,
        None,
    )
    prometheus = catalog["prometheus"]
    assert launch.command_and_args(prometheus, env_file=None, provisioning_file=None) == (
        None,
        prometheus.args,
    )


@pytest.mark.parametrize("name", ["dify", "letta", "langflow"])
def test_env_only_products_source_their_env_file_then_exec_their_entrypoint(
    catalog: Catalog, name: str
) -> None:
    spec = catalog[name]
    assert spec.env_file_needed and spec.command
    env_file = f"/vault/secrets/{name}-env"
    command, args = launch.command_and_args(spec, env_file=env_file, provisioning_file=None)
    assert command == ["/bin/sh", "-c", launch.SOURCE_ENV_FILE, env_file]
    assert args == [*spec.command, *(spec.args or [])]


def test_sourcing_needs_the_entrypoint_named(catalog: Catalog) -> None:
    bare = catalog["dify"].model_copy(update={"command": None})
    with pytest.raises(ValueError, match="command"):
        launch.command_and_args(bare, env_file="/vault/secrets/dify-env", provisioning_file=None)


def test_provisioning_is_applied_with_a_bounded_retry(catalog: Catalog) -> None:
    assert launch.provisioning_command(catalog["redis"], ACL) is None  # read at start
    postgres = catalog["postgres"]
    command = launch.provisioning_command(postgres, SQL)
    assert command is not None
    assert command[:2] == ["/bin/sh", "-c"] and command[3] == "postgres-provisioning"
    assert command[-1] == SQL and "psql" in " ".join(command)
    assert f"-ge {launch.provisioning_tries(postgres)}" in command[2]
    neo4j = catalog["neo4j"]
    # Slow starters get their startup allowance (plus a minute) to answer.
    assert launch.provisioning_tries(neo4j) * launch.RETRY_INTERVAL_SECONDS >= (
        neo4j.health.startup_seconds + 60
    )
    with pytest.raises(ValueError, match="provisioning file"):
        launch.provisioning_command(postgres, None)


# ── the shell snippets, run by a real /bin/sh ────────────────────────────────────────────


def _sh() -> str:
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no /bin/sh")
    return sh


def test_the_env_file_is_sourced_and_the_entrypoint_replaces_the_shell(tmp_path: Path) -> None:
    env_file = tmp_path / "svc-env"
    env_file.write_text("export DB_PASSWORD='s3cr3t'\nexport URL='redis://u:p@h:6379/1'\n")
    done = subprocess.run(
        [
            _sh(),
            "-c",
            launch.SOURCE_ENV_FILE,
            str(env_file),
            _sh(),
            "-c",
            'echo "$DB_PASSWORD $URL $$"',
        ],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    assert done.stdout.split()[:2] == ["s3cr3t", "redis://u:p@h:6379/1"]


def test_a_missing_env_file_stops_the_container(tmp_path: Path) -> None:
    done = subprocess.run(
        [_sh(), "-c", launch.SOURCE_ENV_FILE, str(tmp_path / "absent"), "true"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode != 0


def test_the_retry_loop_waits_for_the_server_and_gives_up(tmp_path: Path) -> None:
    counter = tmp_path / "count"
    counter.write_text("0")
    flaky = f'n=$(cat {counter}); echo $((n + 1)) > {counter}; [ "$n" -ge 2 ]'  # fails twice
    script = launch.RETRY_SCRIPT.format(tries=5, interval=0)
    ok = subprocess.run([_sh(), "-c", script, "t", _sh(), "-c", flaky], check=False)
    assert ok.returncode == 0 and counter.read_text().strip() == "3"
    never = subprocess.run(
        [_sh(), "-c", launch.RETRY_SCRIPT.format(tries=3, interval=0), "t", "false"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert never.returncode == 1 and "giving up after 3 tries" in never.stderr
