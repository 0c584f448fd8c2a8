"""The offline plan harness records what the engine would see, like the CLI would run it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from stacks.plan import SECRET_SIG, stack_config_bag

PROJECT_DIR = Path(__file__).resolve().parent.parent
MINI = Path(__file__).resolve().parent / "fixtures" / "mini_program"

RUN_MINI = """
import json, sys
from pathlib import Path
from stacks.plan import run_plan
plan = run_plan("test", project_dir=Path(sys.argv[1]))
print(json.dumps(plan.to_json()))
"""


@pytest.fixture(scope="module")
def mini_plan() -> dict:
    result = subprocess.run(
        [sys.executable, "-c", RUN_MINI, str(MINI)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    return json.loads(result.stdout)


def test_project_defaults_and_stack_values_reach_the_program(mini_plan: dict) -> None:
    assert mini_plan["outputs"]["greeting"] == "hello"
    assert mini_plan["outputs"]["sizes"] == [1, 2]


def test_secure_values_become_placeholder_secrets() -> None:
    bag, secret_keys = stack_config_bag("test", project_dir=MINI)
    assert secret_keys == ["mini:password"]
    assert bag["mini:password"].startswith("offline-placeholder")


def test_secret_outputs_stay_secret_as_the_engine_marks_them(mini_plan: dict) -> None:
    # RandomPassword.result is an additional secret output: the engine wraps it.
    assert SECRET_SIG in mini_plan["outputs"]["generated"]
    assert SECRET_SIG in mini_plan["outputs"]["password"]


def test_registrations_keep_parent_and_protect(mini_plan: dict) -> None:
    by_type = {r["type"]: r for r in mini_plan["resources"]}
    box, password = by_type["mini:index:Box"], by_type["random:index/randomPassword:RandomPassword"]
    assert password["parent"] == box["urn"]
    assert password["protect"] is True and box["protect"] is False
    assert password["inputs"]["length"] == 16


def test_unhandled_invokes_fail_loudly() -> None:
    from stacks.plan import _mock_invoke

    with pytest.raises(NotImplementedError, match="no mock answer for invoke aws:foo"):
        _mock_invoke("aws:foo/bar:baz", {})
