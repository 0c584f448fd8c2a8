"""Mistaken stack files are refused by the offline plan before any resource registers.

Each case in tests/stack_files/mistakes.py is a whole stack file with one mistake. It goes
through `python -m stacks.plan --stack-file ...` (its `main`, in this process, so the test
can see that nothing registered; a few run as a real subprocess too) and must give exactly
one line, `error: <file>: <key>: ...`, with the key, the value and what is allowed, exit
code 2, no traceback and no plan file.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from stacks import plan as offline
from stacks.config import StackConfig
from tests.stack_files.mistakes import DELETE, MISTAKES, Mistake

PROJECT_DIR = Path(__file__).resolve().parent.parent
BY_NAME = {m.name: m for m in MISTAKES}


def write(mistake: Mistake, folder: Path) -> Path:
    path = folder / f"Pulumi.{mistake.name}.yaml"
    if mistake.raw is not None:
        path.write_text(mistake.raw)
        return path
    doc = yaml.safe_load((PROJECT_DIR / f"Pulumi.{mistake.base}.yaml").read_text())
    for key, value in mistake.config.items():
        if value is DELETE:
            del doc["config"][f"sutazai:{key}"]
        else:
            doc["config"][f"sutazai:{key}"] = value
    path.write_text(yaml.safe_dump(doc))
    return path


def test_the_suite_is_large_and_names_are_unique() -> None:
    assert len(BY_NAME) == len(MISTAKES) >= 60


def test_every_key_of_the_stack_config_has_a_mistake() -> None:
    covered = {key for m in MISTAKES for key in (*m.keys, *m.config)}
    keys = {info.alias or name for name, info in StackConfig.model_fields.items()}
    assert keys - covered == set()


@pytest.mark.parametrize("name", sorted(BY_NAME))
def test_mistake_is_refused_in_one_line_before_anything_registers(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    mistake = BY_NAME[name]
    stack_file = write(mistake, tmp_path)
    out = tmp_path / "plan.json"
    recorded = offline.Plan(project="sutazai", stack="mistake")
    # One stack name for all: names have rules of their own (length, characters).
    argv = ["--stack", "mistake", "--stack-file", str(stack_file), "--json", str(out)]
    code = offline.main(argv, plan=recorded)
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, captured
    assert recorded.resources == [], [r.urn for r in recorded.resources]
    assert not out.exists()
    assert len(lines) == 1, lines
    (line,) = lines
    assert line.startswith(f"error: {stack_file}"), line
    for fragment in mistake.expect:
        assert fragment in line, (fragment, line)
    assert "Traceback" not in captured.err


@pytest.mark.parametrize("name", ["environment-missing", "duplicate-key", "alias-bomb"])
def test_the_command_line_refuses_the_same_way(name: str, tmp_path: Path) -> None:
    """`python -m stacks.plan` (what `make plan` runs), in a fresh process."""
    stack_file = write(BY_NAME[name], tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "stacks.plan", "--stack", "x", "--stack-file", str(stack_file)],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert all(fragment in line for fragment in BY_NAME[name].expect), line


def test_a_missing_stack_file_names_the_stacks_that_exist(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert offline.main(["--stack", "prdo"]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "Pulumi.prdo.yaml: no such stack file" in line
    assert "dev, dev-cluster, k8s-dev, prod" in line


def test_an_availability_zone_count_the_region_lacks_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The zones come from the provider (an invoke), so the program itself refuses them."""
    doc = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    config = doc["config"]
    config["sutazai:awsRegion"] = "us-west-1"
    config["sutazai:tlsCertificateArn"] = config["sutazai:tlsCertificateArn"].replace(
        "us-east-1", "us-west-1"
    )
    stack_file = tmp_path / "Pulumi.west.yaml"
    stack_file.write_text(yaml.safe_dump(doc))
    assert offline.main(["--stack", "west", "--stack-file", str(stack_file)]) == 2
    err = capsys.readouterr().err
    assert (
        "sutazai:network.availabilityZones: 3 zones, but us-west-1 has 2 available "
        "(us-west-1a, us-west-1b); lower it to 2" in err
    )
    assert "Traceback" not in err


def test_two_resources_with_one_urn_are_refused() -> None:
    import pulumi

    def program() -> None:
        pulumi.CustomResource("test:index:Thing", "same", {})
        pulumi.CustomResource("test:index:Thing", "same", {})

    with pytest.raises(offline.DuplicateUrnError, match="registered twice"):
        offline.run_program(program, project="p", stack="s")


def test_make_policy_refuses_the_same_way_without_a_traceback(
    capfd: pytest.CaptureFixture[str],
) -> None:
    from stacks import policy_check

    assert policy_check.main(["--stack", "prdo"]) == 2
    err = capfd.readouterr().err
    assert "error: Pulumi.prdo.yaml: no such stack file" in err
    assert "Traceback" not in err
