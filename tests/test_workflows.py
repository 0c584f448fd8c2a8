"""The GitHub workflows are valid and only call commands and files this repository has."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((PROJECT_DIR / ".github" / "workflows").glob("*.yml"))
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def test_there_are_workflows_for_every_job_the_team_runs() -> None:
    names = {p.stem for p in WORKFLOWS}
    assert {"ci", "preview", "deploy", "ephemeral", "reaper"} <= names


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.github-workflows", [str(p) for p in WORKFLOWS]),
        ("vendor.github-actions", [str(PROJECT_DIR / ".github/actions/setup/action.yml")]),
    ],
)
def test_workflows_match_the_github_schema(schema: str, files: list[str]) -> None:
    result = subprocess.run(
        [str(CHECK_JSONSCHEMA), "--builtin-schema", schema, *files],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _run_lines() -> list[str]:
    lines = []
    for path in [*WORKFLOWS, PROJECT_DIR / ".github/actions/setup/action.yml"]:
        text = path.read_text()
        lines += re.findall(r"^\s*(?:run:\s*|\s+)(python -m [\w.]+.*|make [\w./-]+.*)$", text, re.M)
    return lines


def test_called_modules_and_make_targets_exist() -> None:
    makefile = (PROJECT_DIR / "Makefile").read_text()
    seen = 0
    for line in _run_lines():
        if line.startswith("python -m "):
            module = line.split()[2]
            assert (PROJECT_DIR / (module.replace(".", "/") + ".py")).is_file(), line
        else:
            target = line.split()[1]
            assert re.search(rf"^{re.escape(target)}:", makefile, re.M), line
        seen += 1
    assert seen >= 5


def test_policy_pack_paths_exist() -> None:
    for path in WORKFLOWS:
        for key in ("policyPacks", "policyPackConfigs"):
            for value in re.findall(rf"{key}:\s*(\S+)", path.read_text()):
                assert (PROJECT_DIR / value).exists(), f"{path.name}: {value}"


def test_deploy_never_runs_two_updates_at_once() -> None:
    deploy = yaml.safe_load((PROJECT_DIR / ".github/workflows/deploy.yml").read_text())
    assert deploy["concurrency"]["cancel-in-progress"] is False
    assert deploy["jobs"]["up-prod"]["environment"] == "production"
