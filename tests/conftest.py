"""Shared fixtures: the catalog, and offline plans of the real stacks (one run per session)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stacks.catalog import Catalog, load_catalog

PROJECT_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def catalog() -> Catalog:
    return load_catalog()


def run_plan_subprocess(
    stack: str, out: Path, stack_file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the offline plan in a fresh process (the mock runtime is process-global)."""
    command = [sys.executable, "-m", "stacks.plan", "--stack", stack, "--json", str(out), "--quiet"]
    if stack_file is not None:
        command += ["--stack-file", str(stack_file)]
    return subprocess.run(
        command, cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300, check=False
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
