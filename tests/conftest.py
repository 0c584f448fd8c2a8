"""Shared fixtures: the catalog, and offline plans of the real stacks (one run per session)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from stacks.catalog import Catalog, load_catalog

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The token the offline plans run with (never in any registration: tests/secrets scans).
OFFLINE_VAULT_TOKEN = "offline-plan-vault-token"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Under CI=true a skip is a failure: CI installs every dependency the tests use
    (scripts/install-system-deps.sh), so a skip there means a test silently did not run."""
    outcome = yield
    report = outcome.get_result()
    under_ci = os.environ.get("CI", "").lower() == "true"
    if under_ci and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped under CI=true, where nothing may be missing: {reason}"


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


def run_plan_subprocess(
    stack: str,
    out: Path,
    stack_file: Path | None = None,
    *,
    env: Mapping[str, str | None] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the offline plan in a fresh process (the mock runtime is process-global).

    `env` adds (or, with None, removes) environment variables for that process. By default
    it runs as a developer who exported VAULT_TOKEN after the Vault bootstrap (a stack with
    token auth and `vaultBootstrapped: true` refuses to run without one); pass
    {"VAULT_TOKEN": None} to run without.
    """
    command = [sys.executable, "-m", "stacks.plan", "--stack", stack, "--json", str(out), "--quiet"]
    if stack_file is not None:
        command += ["--stack-file", str(stack_file)]
    environment = dict(os.environ)
    for key, value in {"VAULT_TOKEN": OFFLINE_VAULT_TOKEN, **(env or {})}.items():
        if value is None:
            environment.pop(key, None)
        else:
            environment[key] = value
    return subprocess.run(
        command,
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
        env=environment,
    )


def load_plan(stack: str, tmp_dir: Path, stack_file: Path | None = None) -> dict[str, Any]:
    out = tmp_dir / f"plan-{stack}.json"
    result = run_plan_subprocess(stack, out, stack_file)
    if result.returncode != 0:
        pytest.fail(f"offline plan for {stack} failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(out.read_text())


@pytest.fixture(scope="session")
def prod_plan_json(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return load_plan("prod", tmp_path_factory.mktemp("plan-prod"))


@pytest.fixture(scope="session")
def dev_plan_json(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    return load_plan("dev", tmp_path_factory.mktemp("plan-dev"))


# ── the local Docker stacks (tests/docker_stacks.py) ────────────────────────────────────


@pytest.fixture(scope="session")
def docker_dev(dev_plan_json: dict[str, Any]) -> Any:
    from tests.docker_stacks import Stack

    return Stack(dev_plan_json, "dev", None)


@pytest.fixture(scope="session")
def docker_everything(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Every tier and service on, a GPU host: what an all-enabled dev stack file plans."""
    from tests.docker_stacks import Stack, write_stack_file

    folder = tmp_path_factory.mktemp("plan-all")
    stack_file = write_stack_file(
        folder / "Pulumi.all.yaml",
        disabledTiers=[],
        services={},
        dockerHostGpu=True,
        ollamaModels=["tinyllama", "llama3.1:8b"],
    )
    return Stack(load_plan("dev", folder, stack_file), "dev", stack_file)


@pytest.fixture(scope="session")
def docker_toggles(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """An ephemeral dev-bob stack that switches single services on and off."""
    from tests.docker_stacks import EXPIRES, Stack, write_stack_file

    folder = tmp_path_factory.mktemp("plan-toggles")
    stack_file = write_stack_file(
        folder / "Pulumi.dev-bob.yaml",
        ephemeralOwner="bob",
        ephemeralExpiresAt=EXPIRES,
        disabledTiers=["agent", "platform", "monitoring"],
        services={
            "qdrant": {"enabled": False},  # a peer of the backend: its edge must go
            "letta": {"enabled": True},  # on, although the agent tier is off
            "prometheus": {"enabled": True},
        },
    )
    return Stack(load_plan("dev-bob", folder, stack_file), "dev-bob", stack_file)
