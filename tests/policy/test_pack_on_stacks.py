"""The pack over every resource the real program registers (offline plan, mock runtime).

Plans come from build/plan-<stack>.json when present (set SUTAZAI_REPLAN=1 to rebuild),
otherwise from `python -m stacks.plan --stack <stack> --json build/plan-<stack>.json`.
"""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .analyzer_client import PolicyPackProcess, Violation, load_config, load_plan, mandatory

REPO_ROOT = Path(__file__).resolve().parents[2]
NON_ROOT = "workload-non-root-read-only"


def plan_for(stack: str) -> dict[str, Any]:
    path = REPO_ROOT / "build" / f"plan-{stack}.json"
    if not path.exists() or os.environ.get("SUTAZAI_REPLAN") == "1":
        if not (REPO_ROOT / "stacks" / "plan.py").exists():
            pytest.skip(
                "stacks/plan.py does not exist yet: no offline plan of the real program to check"
            )
        path.parent.mkdir(exist_ok=True)
        result = subprocess.run(
            [sys.executable, "-m", "stacks.plan", "--stack", stack, "--json", str(path)],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        if result.returncode != 0:
            pytest.fail(
                f"offline plan for {stack} failed:\n"
                f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}"
            )
    return load_plan(path)


def _report(violations: list[Violation]) -> str:
    return f"{len(violations)} mandatory violation(s):\n" + "\n".join(
        f"- {v.policy}: {v.message.splitlines()[-1]}" for v in violations
    )


def _broken_copy(resources: list[dict[str, Any]]) -> tuple[dict[str, Any], str]:
    """A root, writable copy of one Deployment (or, on Docker stacks, one container)."""
    for res in resources:
        if res["type"] == "kubernetes:apps/v1:Deployment":
            broken = copy.deepcopy(res)
            spec = broken["inputs"]["spec"]["template"]["spec"]
            spec["containers"][0].setdefault("securityContext", {}).update(
                runAsUser=0.0, readOnlyRootFilesystem=False
            )
            break
        if res["type"] == "docker:index/container:Container":
            broken = copy.deepcopy(res)
            broken["inputs"].update(user="0:0", readOnly=False)
            break
    else:
        pytest.fail("the plan has neither a Deployment nor a Docker container")
    broken["name"] += "-broken"
    broken["urn"] += "-broken"
    return broken, broken["urn"]


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_real_stack_has_no_mandatory_violations(stack: str) -> None:
    plan = plan_for(stack)
    resources: list[dict[str, Any]] = plan["resources"]
    assert resources, "the plan registered no resources"
    with PolicyPackProcess(
        stack=plan.get("stack", stack), project=plan.get("project", "sutazai")
    ) as pack:
        violations = pack.run(resources, load_config(stack))
        broken, urn = _broken_copy(resources)
        caught = [
            v for v in mandatory(pack.analyze(broken)) if v.policy == NON_ROOT and v.urn == urn
        ]
    assert mandatory(violations) == [], _report(mandatory(violations))
    assert caught, f"a root, writable copy of {broken['type']} {broken['name']!r} was not caught"
