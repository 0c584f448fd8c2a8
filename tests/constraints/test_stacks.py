"""The constraint check on real plans: every stack file, a dev stack with every tier on, the
ephemeral stacks, and the longest stack names the config model allows (each plan runs the
real program offline, in a fresh process)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.config import (
    EPHEMERAL_STACK_PREFIX,
    MAX_OWNER_LENGTH,
    MAX_STACK_NAME_LENGTH,
    TEMPLATE_ONLY_KEY,
)
from stacks.constraints import check_plan
from tests.conftest import PROJECT_DIR, load_plan, run_plan_subprocess

STACK_FILES = sorted(
    p.name[len("Pulumi.") : -len(".yaml")] for p in PROJECT_DIR.glob("Pulumi.*.yaml")
)
LONGEST_OWNER = "o" + "w" * (MAX_OWNER_LENGTH - 1)
EXPIRES = "2030-01-01T00:00:00Z"


def assert_valid(plan: dict[str, Any]) -> None:
    violations = [str(v) for v in check_plan(plan)]
    assert violations == [], "\n".join(violations)
    assert len(plan["resources"]) > 20


def copy_stack_file(source: str, target: Path, **config: Any) -> Path:
    document = yaml.safe_load((PROJECT_DIR / f"Pulumi.{source}.yaml").read_text())
    document["config"].pop(TEMPLATE_ONLY_KEY, None)  # as `ephemeral create` does
    document["config"].update({f"sutazai:{k}": v for k, v in config.items()})
    target.write_text(yaml.safe_dump(document))
    return target


def test_the_stack_files_are_the_ones_checked() -> None:
    assert {"prod", "dev", "dev-cluster", "k8s-dev"} <= set(STACK_FILES)


@pytest.mark.parametrize("stack", STACK_FILES)
def test_every_stack_file_plans_within_its_apis_rules(
    stack: str,
    prod_plan_json: dict[str, Any],
    dev_plan_json: dict[str, Any],
    tmp_path: Path,
) -> None:
    known = {"prod": prod_plan_json, "dev": dev_plan_json}
    assert_valid(known.get(stack) or load_plan(stack, tmp_path))


def test_dev_with_every_tier_on(docker_everything: Any) -> None:
    assert not docker_everything.config.disabled_tiers
    assert_valid(docker_everything.plan)


def test_ephemeral_docker_stack(docker_toggles: Any) -> None:
    assert docker_toggles.config.is_ephemeral
    assert_valid(docker_toggles.plan)


@pytest.mark.parametrize("template", ["dev", "k8s-dev"])
def test_ephemeral_stacks_with_the_longest_owner(template: str, tmp_path: Path) -> None:
    stack = f"{EPHEMERAL_STACK_PREFIX}{LONGEST_OWNER}"
    stack_file = copy_stack_file(
        template,
        tmp_path / f"Pulumi.{stack}.yaml",
        ephemeralOwner=LONGEST_OWNER,
        ephemeralExpiresAt=EXPIRES,
    )
    assert_valid(load_plan(stack, tmp_path, stack_file))


@pytest.mark.parametrize("source", ["prod", "dev-cluster"])
def test_the_longest_stack_name_keeps_every_name_valid(source: str, tmp_path: Path) -> None:
    # A prod-like stack (managed data, ElastiCache users) and one with its own cluster (IAM
    # role auto-names): the two families with the tightest derived names.
    stack = ("prod-" + "x" * MAX_STACK_NAME_LENGTH)[:MAX_STACK_NAME_LENGTH]
    stack_file = copy_stack_file(source, tmp_path / f"Pulumi.{stack}.yaml")
    assert_valid(load_plan(stack, tmp_path, stack_file))


def test_a_longer_stack_name_is_refused_before_anything_registers(tmp_path: Path) -> None:
    stack = "p" * (MAX_STACK_NAME_LENGTH + 1)
    stack_file = copy_stack_file("prod", tmp_path / f"Pulumi.{stack}.yaml")
    result = run_plan_subprocess(stack, tmp_path / "plan.json", stack_file)
    assert result.returncode == 2
    assert f"stack name '{stack}'" in result.stderr
    assert f"at most {MAX_STACK_NAME_LENGTH}" in result.stderr
    assert "resources were registered" not in result.stderr  # refused before any


def test_the_template_stack_is_marked_and_still_plans_offline(tmp_path: Path) -> None:
    template = yaml.safe_load((PROJECT_DIR / "Pulumi.k8s-dev.yaml").read_text())
    assert template["config"][TEMPLATE_ONLY_KEY] is True
    plan = load_plan("k8s-dev", tmp_path)
    assert_valid(plan)
    assert json.dumps(plan).count(TEMPLATE_ONLY_KEY) == 0
