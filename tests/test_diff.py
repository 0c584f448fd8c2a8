"""`make diff` on real git histories: a copy of this project committed into a temporary
repository, then changes committed on top, diffed against the first commit.

Each scenario runs the whole diff once (two plans in fresh processes, three pack runs) and
several tests read its report.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacks import diff

PROJECT_DIR = Path(__file__).resolve().parent.parent
GENERAL_PRICE = 0.384  # m6i.2xlarge in stacks/prices.yaml, the general group's first type


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """This project's files (tracked and new, not ignored) as the first commit, tagged base."""
    root = tmp_path_factory.mktemp("history") / "sutazai"
    root.mkdir()
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=PROJECT_DIR, check=True, capture_output=True, text=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = PROJECT_DIR / name
        if source.is_file():
            target = root / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "base")
    _git(root, "tag", "base")
    return root


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert text.count(old) == 1, f"{path}: {old!r} occurs {text.count(old)} times"
    path.write_text(text.replace(old, new))


def scenario(repo: Path, name: str, change: Callable[[Path], None]) -> tuple[str, dict[str, Any]]:
    """Branch `name` from base, commit `change`, diff the working tree against base."""
    _git(repo, "checkout", "-q", "-B", name, "base")
    change(repo)
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", name)
    return diff.build("prod", "base", project_dir=repo)


# ── an unchanged tree ───────────────────────────────────────────────────────────────────


def test_an_unchanged_tree_says_so_in_one_line(repo: Path) -> None:
    _git(repo, "checkout", "-q", "-B", "unchanged", "base")
    text, summary = diff.build("prod", "base", project_dir=repo)
    assert summary == {"unchanged": True}
    assert text.count("\n") == 1 and text.startswith("No changes:"), text


def test_a_ref_that_is_not_a_commit_is_one_clear_error(repo: Path) -> None:
    with pytest.raises(diff.DiffError, match="'no-such-ref' is not a commit"):
        diff.build("prod", "no-such-ref", project_dir=repo)
    with pytest.raises(diff.DiffError, match="not a git ref"):
        diff.build("prod", "--output=/tmp/x", project_dir=repo)


# ── a new talks_to edge ─────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def new_edge(repo: Path) -> tuple[str, dict[str, Any]]:
    def change(root: Path) -> None:
        _edit(root / "stacks/catalog.yaml", "    talks_to: [backend]\n    requires: [backend]\n",
              "    talks_to: [backend, ollama]\n    requires: [backend]\n")  # fmt: skip
        subprocess.run(
            [sys.executable, "-m", "stacks.generated_docs", "--write"],
            cwd=root, check=True, capture_output=True,
        )  # fmt: skip

    return scenario(repo, "frontend-calls-ollama", change)


def test_a_new_edge_shows_exactly_its_flow(new_edge: tuple[str, dict[str, Any]]) -> None:
    text, summary = new_edge
    assert summary["flows"] == {"added": ["frontend → ollama:11434/TCP"], "removed": []}
    assert "frontend → ollama:11434/TCP" in text
    assert "1 network flows added" in text


def test_a_new_edge_changes_the_diagram_and_only_the_policies_it_needs(
    new_edge: tuple[str, dict[str, Any]],
) -> None:
    text, summary = new_edge
    assert summary["diagram_changed"] is True
    assert "`frontend --> ollama`" in text
    assert summary["resources"] == {"changed": 3}  # the Deployment (env) and two policies
    assert summary["policy"]["new"] == [] and summary["protection_removed"] == []
    assert summary["cost"]["after"] == summary["cost"]["before"]


# ── a bigger node group, a rotated secret ───────────────────────────────────────────────

ROTATED = "mock-rotated-"


@pytest.fixture(scope="module")
def bigger_and_rotated(repo: Path) -> tuple[str, dict[str, Any]]:
    def change(root: Path) -> None:
        _edit(root / "Pulumi.prod.yaml", "      maxSize: 12\n", "      maxSize: 20\n")
        # Every generated secret gets a new value (what `--replace` of the passwords does).
        _edit(
            root / "stacks/plan.py", 'result=f"mock-random-{name}"', f'result=f"{ROTATED}{{name}}"'
        )

    return scenario(repo, "bigger-and-rotated", change)


def test_raising_a_node_groups_maximum_shows_what_it_costs(
    bigger_and_rotated: tuple[str, dict[str, Any]],
) -> None:
    text, summary = bigger_and_rotated
    cost = summary["cost"]
    assert cost["after"] == pytest.approx(cost["before"])  # desired size unchanged
    expected = 8 * GENERAL_PRICE * 730 + 8 * 80 * 0.08  # 8 more nodes and their root volumes
    assert cost["after_at_max"] - cost["before_at_max"] == pytest.approx(expected)
    assert f"+${expected:,.0f}" in text
    assert "| node group sutazai-prod-cluster-general |" in text


def test_a_changed_secret_is_reported_and_never_printed(
    bigger_and_rotated: tuple[str, dict[str, Any]],
) -> None:
    text, _ = bigger_and_rotated
    assert "[secret] changed" in text
    for value in ("mock-random-sutazai-prod-secrets-postgres-superuser_password",
                  f"{ROTATED}sutazai-prod-secrets-postgres-superuser_password"):  # fmt: skip
        for form in (value, hashlib.sha256(value.encode()).hexdigest()):
            assert form not in text
    assert not re.search(r"mock-(random|rotated)-", text)


# ── protect removed, and the pack weakened to let it pass ───────────────────────────────


@pytest.fixture(scope="module")
def unprotected_and_weakened(repo: Path) -> tuple[str, dict[str, Any]]:
    def change(root: Path) -> None:
        _edit(root / "components/managed_data.py",
              "            parent=self, provider=args.provider, protect=args.protect\n",
              "            parent=self, provider=args.provider, protect=False\n")  # fmt: skip
        config = root / "policies/config/prod.json"
        data = json.loads(config.read_text())
        data["prod-stateful-protected"]["enforcementLevel"] = "disabled"
        config.write_text(json.dumps(data, indent=2) + "\n")

    return scenario(repo, "unprotected-and-weakened", change)


def test_removing_protect_is_flagged(
    unprotected_and_weakened: tuple[str, dict[str, Any]],
) -> None:
    text, summary = unprotected_and_weakened
    removed = summary["protection_removed"]
    assert "aws:rds/instance:Instance `sutazai-prod-data-postgres`: `protect` removed" in removed
    assert any("ReplicationGroup" in line for line in removed)
    assert "protection removed from" in text


def test_a_weakened_pack_is_flagged_and_does_not_judge_the_change(
    unprotected_and_weakened: tuple[str, dict[str, Any]],
) -> None:
    text, summary = unprotected_and_weakened
    # The base pack judged the head: the unprotected resources are new mandatory violations.
    new = summary["policy"]["new"]
    assert ("prod-stateful-protected", "mandatory") in new
    # The head's own (weakened) pack would not have reported them: said plainly.
    assert ("prod-stateful-protected", "mandatory") in summary["policy"]["head_pack_hides"]
    assert "the change weakens the pack" in text
    assert "this change edits the policy pack (policies/config/prod.json)" in text
    attention = text.split("### ⚠️ Needs attention", 1)[1].split("\n### ", 1)[0]
    assert "new policy violations" in attention
