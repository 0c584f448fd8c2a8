"""A template stack (sutazai:templateOnly) refuses `pulumi up` but previews; its copies
deploy. The real program runs under the mock runtime, as an update and as a preview."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stacks.config import TEMPLATE_ONLY_KEY
from tests.conftest import PROJECT_DIR

RUN = """
import runpy, sys
from stacks.errors import ConfigError
from stacks.plan import PROJECT_DIR, run_program, stack_config_bag

keep = sys.argv[2] == "template"
bag, secret_keys = stack_config_bag("k8s-dev", keep_template_only=keep)
try:
    _, plan = run_program(
        lambda: runpy.run_path(str(PROJECT_DIR / "__main__.py"), run_name="__main__"),
        project="sutazai", stack="k8s-dev", config=bag, secret_keys=secret_keys,
        preview=sys.argv[1] == "preview",
    )
except ConfigError as exc:
    print(exc)
    sys.exit(3)
print("planned", len(plan.resources))
"""


def run(mode: str, config: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", RUN, mode, config],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_pulumi_up_of_the_template_is_refused_with_the_way_out() -> None:
    result = run("update", "template")
    assert result.returncode == 3, result.stdout + result.stderr
    assert f"{TEMPLATE_ONLY_KEY}: stack 'k8s-dev' is a template" in result.stdout
    assert "python -m stacks.ephemeral create --from k8s-dev" in result.stdout


@pytest.mark.parametrize(("mode", "config"), [("preview", "template"), ("update", "copy")])
def test_previews_of_the_template_and_updates_of_its_copies_run(mode: str, config: str) -> None:
    result = run(mode, config)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("planned ")
