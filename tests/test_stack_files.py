"""Every committed stack file plans offline and passes the policy pack's mandatory rules.

dev and prod are covered in depth elsewhere; this keeps the other stack files
(the shared dev cluster, the kubernetes ephemeral template) from rotting.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from stacks.policy_check import analyze_resources, load_config, mandatory
from tests.conftest import load_plan

PROJECT_DIR = Path(__file__).resolve().parent.parent
OTHER_STACKS = sorted(
    p.name.removeprefix("Pulumi.").removesuffix(".yaml")
    for p in PROJECT_DIR.glob("Pulumi.*.yaml")
    if p.name not in ("Pulumi.dev.yaml", "Pulumi.prod.yaml")
)


def test_the_kubernetes_dev_stacks_are_committed() -> None:
    assert {"dev-cluster", "k8s-dev"} <= set(OTHER_STACKS)


@pytest.mark.parametrize("stack", OTHER_STACKS)
def test_stack_file_plans_and_passes_mandatory_policies(stack: str, tmp_path: Path) -> None:
    plan = load_plan(stack, tmp_path)
    assert plan["resources"], f"{stack} registered nothing"
    violations = mandatory(analyze_resources(plan["resources"], stack, load_config(stack)))
    assert violations == [], "\n".join(str(v) for v in violations)


def test_ephemeral_template_deploys_into_the_shared_cluster(tmp_path: Path) -> None:
    plan = load_plan("k8s-dev", tmp_path)
    types = {r["type"] for r in plan["resources"]}
    assert "pulumi:pulumi:StackReference" in types
    assert "aws:eks/cluster:Cluster" not in types
    assert "aws:ec2/vpc:Vpc" not in types
