"""The GitHub workflows are valid and only call commands and files this repository has."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
WORKFLOWS = sorted((PROJECT_DIR / ".github" / "workflows").glob("*.yml"))
CHECK_JSONSCHEMA = Path(sys.executable).parent / "check-jsonschema"


def test_there_are_workflows_for_every_job_the_team_runs() -> None:
    names = {p.stem for p in WORKFLOWS}
    assert {"ci", "preview", "deploy", "ephemeral", "reaper", *REVIEW_WORKFLOWS} <= names


@pytest.mark.parametrize(
    ("schema", "files"),
    [
        ("vendor.github-workflows", [str(p) for p in WORKFLOWS]),
        ("vendor.github-actions", [str(PROJECT_DIR / ".github/actions/setup/action.yml")]),
        ("vendor.dependabot", [str(PROJECT_DIR / ".github/dependabot.yml")]),
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
        lines += re.findall(
            r"^\s*(?:run:\s*|\s+)((?:\.venv/bin/)?python -m [\w.]+.*|make [\w./-]+.*)$",
            text,
            re.M,
        )
    return lines


def test_called_modules_and_make_targets_exist() -> None:
    makefile = (PROJECT_DIR / "Makefile").read_text()
    seen = 0
    for line in _run_lines():
        line = line.removeprefix(".venv/bin/")
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


# ── the pull-request review (issue 16): plan diff, its comment, drift ───────────────────

REVIEW_WORKFLOWS = ("plan-diff", "plan-diff-comment", "drift")
ZIZMOR = Path(sys.executable).parent / "zizmor"


def _workflow(name: str) -> dict[Any, Any]:
    return yaml.safe_load((PROJECT_DIR / ".github/workflows" / f"{name}.yml").read_text())


def _on(workflow: dict[Any, Any]) -> dict[str, Any]:
    on = workflow["on"] if "on" in workflow else workflow[True]  # YAML 1.1: a bare `on` is True
    assert isinstance(on, dict)
    return on


def _steps(workflow: dict[Any, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job.get("steps", [])]


def test_the_review_workflows_exist_and_pin_every_action_by_commit() -> None:
    for name in REVIEW_WORKFLOWS:
        text = (PROJECT_DIR / ".github/workflows" / f"{name}.yml").read_text()
        for line in re.findall(r"uses:\s*(\S+.*)$", text, re.M):
            if line.startswith("./"):
                continue
            assert re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40} # v\d+(\.\d+)*", line), line


def test_the_diff_runs_for_forks_without_secrets_or_write_access() -> None:
    workflow = _workflow("plan-diff")
    assert set(_on(workflow)) == {"pull_request"}  # never pull_request_target
    assert workflow["permissions"] == {"contents": "read"}
    assert all("permissions" not in job for job in workflow["jobs"].values())
    text = (PROJECT_DIR / ".github/workflows/plan-diff.yml").read_text()
    assert "secrets." not in text and "make diff STACK=prod" in text
    checkout = next(s for s in _steps(workflow) if "actions/checkout" in s.get("uses", ""))
    assert checkout["with"]["persist-credentials"] is False


def test_the_comment_job_runs_no_pull_request_code_and_may_only_comment() -> None:
    workflow = _workflow("plan-diff-comment")
    assert _on(workflow)["workflow_run"]["workflows"] == ["plan-diff"]
    assert workflow["permissions"] == {}
    (job,) = workflow["jobs"].values()
    assert job["permissions"] == {"actions": "read", "pull-requests": "write"}
    uses = [s.get("uses", "") for s in _steps(workflow)]
    assert not any("actions/checkout" in u or u.startswith("./") for u in uses)
    script = "\n".join(s.get("run", "") for s in _steps(workflow))
    # The artifact's PR number is checked against the API before anything is posted.
    assert '[[ "$number" =~ ^[0-9]{1,9}$ ]]' in script and ".head.sha" in script
    assert "${{" not in script  # event data reaches the script through env, never inlined


def test_the_credentialed_preview_is_for_this_repositorys_pull_requests_only() -> None:
    job = _workflow("preview")["jobs"]["preview-prod"]
    assert job["if"] == "github.event.pull_request.head.repo.full_name == github.repository"


def test_drift_is_checked_on_a_schedule_and_reported_in_one_issue() -> None:
    workflow = _workflow("drift")
    assert "schedule" in _on(workflow)
    # The refresh (in prod's VPC, read-only role) and the issue (hosted runner) are two jobs,
    # so the token that writes issues never reaches the runner that holds AWS credentials.
    refresh, report = workflow["jobs"]["refresh-prod"], workflow["jobs"]["report-drift"]
    assert refresh["permissions"] == {"contents": "read", "id-token": "write"}
    assert report["permissions"] == {"issues": "write"} and report["needs"] == "refresh-prod"
    script = "\n".join(s.get("run", "") for s in _steps(workflow))
    assert "--refresh --expect-no-changes" in script
    assert "gh issue list" in script and "gh issue comment" in script


def test_zizmor_finds_nothing_in_the_review_workflows_and_every_ignore_has_a_reason() -> None:
    files = [str(PROJECT_DIR / ".github/workflows" / f"{n}.yml") for n in REVIEW_WORKFLOWS]
    result = subprocess.run(
        [str(ZIZMOR), "--offline", "--min-severity", "medium", "--format", "plain", *files],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    for path in files:
        for reason in re.findall(r"zizmor: ignore\[[\w-]+\](.*)$", Path(path).read_text(), re.M):
            assert len(reason.strip()) > 20, f"{path}: an ignore without its reason"
