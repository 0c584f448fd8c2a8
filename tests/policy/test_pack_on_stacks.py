"""The pack over every resource the real program registers (offline plan, mock runtime).

The plans are the session's own (tests/conftest.py: one fresh plan per stack per run).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from stacks.policy_check import PolicyPackProcess, Violation, config_for_stack, mandatory

REPO_ROOT = Path(__file__).resolve().parents[2]
NON_ROOT = "workload-non-root-read-only"


@pytest.fixture
def plan_for(request: pytest.FixtureRequest) -> Callable[[str], dict[str, Any]]:
    """The session's fresh offline plans (tests/conftest.py), never a stale build/ file."""
    return lambda stack: request.getfixturevalue(f"{stack}_plan_json")


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
def test_real_stack_has_no_mandatory_violations(
    stack: str, plan_for: Callable[[str], dict[str, Any]]
) -> None:
    plan = plan_for(stack)
    resources: list[dict[str, Any]] = plan["resources"]
    assert resources, "the plan registered no resources"
    with PolicyPackProcess(
        stack=plan.get("stack", stack), project=plan.get("project", "sutazai")
    ) as pack:
        violations = pack.run(resources, config_for_stack(stack)[1])
        broken, urn = _broken_copy(resources)
        caught = [
            v for v in mandatory(pack.analyze(broken)) if v.policy == NON_ROOT and v.urn == urn
        ]
    assert mandatory(violations) == [], _report(mandatory(violations))
    assert caught, f"a root, writable copy of {broken['type']} {broken['name']!r} was not caught"
