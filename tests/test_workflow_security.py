"""The workflows as an attacker reads them: zizmor, pins, expressions, switches, identities."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks import ephemeral, sweeper
from tests.ephemeral.test_ephemeral import FakePulumi, marked
from tests.github_expressions import (
    EXPRESSION,
    Literal,
    evaluate,
    parse,
    pseudo_ternaries,
    substitute,
    truthy,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent
GITHUB_DIR = PROJECT_DIR / ".github"
WORKFLOW_FILES = sorted((GITHUB_DIR / "workflows").glob("*.yml"))
ACTION_FILES = sorted(GITHUB_DIR.glob("actions/*/action.yml"))
ZIZMOR = Path(sys.executable).parent / "zizmor"
SHA_PIN = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40}$")
VERSION_COMMENT = re.compile(r"#\s*v\d+\.\d+\.\d+\s*$")


def load(path: Path) -> dict[str, Any]:
    # PyYAML reads the key `on` as True; give it back its name.
    doc = yaml.safe_load(path.read_text())
    if True in doc:
        doc["on"] = doc.pop(True)
    return doc


WORKFLOWS = {p.stem: load(p) for p in WORKFLOW_FILES}


# ── zizmor ──────────────────────────────────────────────────────────────────────────────


def zizmor_findings() -> list[dict[str, Any]]:
    result = subprocess.run(
        [str(ZIZMOR), "--offline", "--format", "json", "--no-progress", str(GITHUB_DIR)],
        capture_output=True,
        text=True,
        check=False,
        cwd=PROJECT_DIR,
    )
    # Exit codes 0 and 10-14 mean "ran, with findings of that severity"; others are errors.
    assert result.returncode == 0 or 10 <= result.returncode <= 14, result.stderr
    return json.loads(result.stdout)


@pytest.fixture(scope="module")
def findings() -> list[dict[str, Any]]:
    return zizmor_findings()


def _where(finding: dict[str, Any]) -> str:
    location = finding["locations"][0]["symbolic"]["key"]
    path = location.get("Local", {}).get("given_path", "?")
    return Path(path).name if path.endswith(".yml") and "workflows" in path else path


def test_zizmor_finds_nothing_at_warning_or_above(findings: list[dict[str, Any]]) -> None:
    serious = [
        f"{f['ident']} ({f['determinations']['severity']}) in {_where(f)}"
        for f in findings
        if f["determinations"]["severity"] in ("Medium", "High")
    ]
    assert serious == []


def test_every_remaining_zizmor_finding_is_listed_in_the_readme_with_a_reason(
    findings: list[dict[str, Any]],
) -> None:
    readme = (PROJECT_DIR / "README.md").read_text()
    section = readme.split("<!-- zizmor-accepted:begin -->")[1].split("<!-- zizmor-accepted:end")[0]
    listed = set(re.findall(r"^\| `([\w-]+)` \|", section, re.M))
    remaining = {f["ident"] for f in findings}
    assert remaining <= listed, f"findings not explained in the README: {remaining - listed}"
    assert listed <= remaining, (
        f"README explains findings zizmor no longer reports: {listed - remaining}"
    )


def test_zizmor_catches_what_the_workflows_were_fixed_for(tmp_path: Path) -> None:
    """The gate is live: the original mistakes, put back, are reported at warning or above."""
    bad = tmp_path / ".github" / "workflows"
    bad.mkdir(parents=True)
    (bad / "bad.yml").write_text(
        "on: [workflow_dispatch]\n"
        "permissions: {}\n"
        "jobs:\n  j:\n    runs-on: ubuntu-24.04\n    permissions: {}\n    steps:\n"
        "      - uses: actions/checkout@v4\n"
        "      - run: echo ${{ github.event.inputs.name }}\n"
        '      - run: echo "$PWD/bin" >> "$GITHUB_PATH"\n'
    )
    result = subprocess.run(
        [str(ZIZMOR), "--offline", "--format", "json", "--no-progress", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    idents = {
        f["ident"]
        for f in json.loads(result.stdout)
        if f["determinations"]["severity"] in ("Medium", "High")
    }
    assert {"unpinned-uses", "template-injection", "artipacked"} <= idents


# ── pins ────────────────────────────────────────────────────────────────────────────────


def uses_lines() -> list[tuple[str, str]]:
    rows = []
    for path in [*WORKFLOW_FILES, *ACTION_FILES]:
        for line in path.read_text().splitlines():
            match = re.match(r"^\s*-?\s*uses:\s*(\S+)(.*)$", line)
            if match:
                rows.append((f"{path.name}: {line.strip()}", match.group(1) + match.group(2)))
    return rows


def test_every_action_is_pinned_by_commit_with_its_version_in_a_comment() -> None:
    rows = uses_lines()
    assert len(rows) >= 15
    for where, reference in rows:
        target = reference.split()[0]
        if target.startswith("./"):
            assert (PROJECT_DIR / target / "action.yml").is_file(), where
            continue
        assert SHA_PIN.match(target), f"{where}: pin the action by its full commit SHA"
        assert VERSION_COMMENT.search(reference), f"{where}: say the version (# vX.Y.Z)"


def test_one_action_is_pinned_to_one_commit_everywhere() -> None:
    pins: dict[str, set[str]] = {}
    for _, reference in uses_lines():
        if not reference.startswith("./"):
            action, rest = reference.split("@", 1)
            pins.setdefault(action, set()).add(rest.replace(" ", ""))
    assert {a: p for a, p in pins.items() if len(p) > 1} == {}


def test_dependabot_keeps_the_action_pins_and_requirements_current() -> None:
    config = yaml.safe_load((GITHUB_DIR / "dependabot.yml").read_text())
    ecosystems = {u["package-ecosystem"]: u for u in config["updates"]}
    assert {"github-actions", "pip"} <= set(ecosystems)
    assert "/.github/actions/setup" in ecosystems["github-actions"]["directories"]


# ── credentials and permissions ─────────────────────────────────────────────────────────


def jobs() -> list[tuple[str, str, dict[str, Any]]]:
    return [(w, name, job) for w, doc in WORKFLOWS.items() for name, job in doc["jobs"].items()]


def test_workflows_grant_nothing_by_default_and_jobs_only_what_they_use() -> None:
    for workflow, doc in WORKFLOWS.items():
        # Nothing, or (for a one-job, read-only workflow) reading the code, at the top.
        assert doc["permissions"] in ({}, {"contents": "read"}), workflow
        if doc["permissions"]:
            assert all("permissions" not in job for job in doc["jobs"].values()), workflow
    for workflow, name, job in jobs():
        granted = job.get("permissions", WORKFLOWS[workflow]["permissions"])
        assert isinstance(granted, dict), f"{workflow}.{name}: say what the job needs"
        assert set(granted.values()) <= {"read", "write"}, f"{workflow}.{name}"
        uses = [str(step.get("uses", "")) for step in job["steps"]]
        checks_out = any(u.startswith("actions/checkout@") for u in uses)
        assert (granted.get("contents") == "read") == checks_out, f"{workflow}.{name}"
        assumes_role = any("configure-aws-credentials" in u for u in uses)
        assert (granted.get("id-token") == "write") == assumes_role, f"{workflow}.{name}"
        if assumes_role:  # the in-VPC jobs hold no token that can write to the repository
            assert granted.get("issues") is None and granted.get("contents") == "read"


def test_checkouts_never_keep_the_token() -> None:
    seen = 0
    for workflow, name, job in jobs():
        for step in job["steps"]:
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                assert step.get("with", {}).get("persist-credentials") is False, (
                    f"{workflow}.{name}"
                )
                seen += 1
    assert seen >= 7


def test_no_expression_is_expanded_inside_a_shell_script() -> None:
    for path in [*WORKFLOW_FILES, *ACTION_FILES]:
        doc = load(path)
        steps = [s for j in doc.get("jobs", {}).values() for s in j.get("steps", [])]
        steps += doc.get("runs", {}).get("steps", [])
        for step in steps:
            assert "${{" not in step.get("run", ""), f"{path.name}: {step.get('name')}"


def test_nothing_from_the_workspace_goes_on_path_or_into_the_environment() -> None:
    for path in [*WORKFLOW_FILES, *ACTION_FILES]:
        assert not re.search(r"GITHUB_(PATH|ENV)", path.read_text()), path.name


# ── expressions ─────────────────────────────────────────────────────────────────────────


def _expressions_in(node: Any, key: object = None) -> list[str]:
    if isinstance(node, str):
        found = [m.group(1) for m in EXPRESSION.finditer(node)]
        # `if:` conditions may be written without ${{ }}.
        return found or ([node] if key == "if" else [])
    if isinstance(node, dict):
        return [e for k, v in node.items() for e in _expressions_in(v, k)]
    if isinstance(node, list):
        return [e for item in node for e in _expressions_in(item)]
    return []


def all_expressions() -> list[tuple[str, str]]:
    return [
        (path.name, text) for path in [*WORKFLOW_FILES, *ACTION_FILES]
        for text in _expressions_in(load(path))
    ]  # fmt: skip


def test_the_evaluator_reads_every_expression_the_workflows_use() -> None:
    found = all_expressions()
    assert len(found) >= 30
    for where, text in found:
        parse(text)  # raises on anything outside the supported subset
        del where


@pytest.mark.parametrize(
    ("text", "contexts", "value"),
    [
        # The reaper's old bug, as GitHub evaluates it: '' is falsy, so the "else" wins.
        ("inputs.dry-run && '' || '--delete'", {"inputs": {"dry-run": True}}, "--delete"),
        ("inputs.dry-run && 'a' || 'b'", {"inputs": {"dry-run": False}}, "b"),
        ("inputs.dry-run == true", {"inputs": {}}, False),
        ("inputs.dry-run == true", {"inputs": {"dry-run": True}}, True),
        ("'Main' == 'main'", {}, True),
        ("null == 0", {}, True),
        ("!github.x", {"github": {}}, True),
        ('contains(fromJSON(\'["a", "b"]\'), inputs.x)', {"inputs": {"x": "B"}}, True),
    ],
)
def test_the_evaluator_follows_github_semantics(
    text: str, contexts: dict[str, Any], value: Any
) -> None:
    assert evaluate(parse(text), contexts) == value


def test_no_pseudo_ternary_can_yield_its_else_branch_when_its_condition_holds() -> None:
    """`a && b || c` is `c` whenever b is falsy: b must be a literal that is truthy."""
    for where, text in all_expressions():
        for ternary in pseudo_ternaries(parse(text)):
            middle = ternary.left.right
            assert isinstance(middle, Literal) and truthy(middle.value), f"{where}: {text}"


# ── the reaper's switch, end to end ─────────────────────────────────────────────────────

REAPER = WORKFLOWS["reaper"]
NOW_PAST = "2020-01-01T00:00:00Z"

EVENTS = {
    "schedule": ({"event_name": "schedule"}, {}, False),
    "dispatch dry run": ({"event_name": "workflow_dispatch"}, {"dry-run": True}, True),
    "dispatch for real": ({"event_name": "workflow_dispatch"}, {"dry-run": False}, False),
}


def reaper_env(github: dict[str, Any], inputs: dict[str, Any]) -> dict[str, str]:
    contexts = {"github": {**github, "ref": "refs/heads/main"}, "inputs": inputs, "secrets": {}}
    return {k: substitute(str(v), contexts) for k, v in REAPER["jobs"]["reap"]["env"].items()}


def step_argv(run: str, env: dict[str, str], module: str) -> list[str]:
    """The arguments a `run:` line passes to `python -m <module>`, with $VARS expanded."""
    line = next(ln for ln in run.splitlines() if f"-m {module}" in ln)
    words = line.split(f"-m {module}", 1)[1].split()
    return [re.sub(r"^\"?\$(\w+)\"?$", lambda m: env[m.group(1)], w) for w in words]


@pytest.mark.parametrize("event", sorted(EVENTS))
def test_the_reaper_reaps_only_when_not_a_dry_run(
    event: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    github, inputs, dry_run = EVENTS[event]
    env = reaper_env(github, inputs)
    steps = {s.get("name", ""): s for s in REAPER["jobs"]["reap"]["steps"]}
    reap_run = next(s["run"] for n, s in steps.items() if n.startswith("Reap"))
    sweep_run = next(s["run"] for n, s in steps.items() if n.startswith("Sweep"))

    fake = FakePulumi()
    fake.add("dev-bob", *marked("bob", NOW_PAST))
    argv = step_argv(reap_run, env, "stacks.ephemeral")
    assert ephemeral.main(argv, pulumi=fake) == 0
    destroyed = [c for c in fake.calls if c[0] in ("destroy", "rm")]
    assert destroyed == ([] if dry_run else [("destroy", "dev-bob"), ("rm", "dev-bob")])

    seen: dict[str, Any] = {}

    def fake_sweep(clients: Any, *_records: Any, **options: Any) -> list[dict[str, Any]]:
        seen.update(options)
        return []

    monkeypatch.setattr(sweeper, "sweep", fake_sweep)
    argv = step_argv(sweep_run, env, "stacks.sweeper")
    assert sweeper.main(argv, clients=object()) == 0  # type: ignore[arg-type]
    assert seen["delete"] is (not dry_run)


@pytest.mark.parametrize("value", ["", "True", "1", "yes", "delete", "false "])
def test_the_switch_refuses_anything_but_true_or_false(
    value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    fake = FakePulumi()
    fake.add("dev-bob", *marked("bob", NOW_PAST))
    with pytest.raises(SystemExit) as exited:
        ephemeral.main(["reap", "--dry-run", value], pulumi=fake)
    assert exited.value.code == 2 and "use true or false" in capsys.readouterr().err
    assert fake.calls == [] or all(c[0] == "config" for c in fake.calls)
    with pytest.raises(SystemExit):
        sweeper.main(["--dry-run", value], clients=object())  # type: ignore[arg-type]


def test_the_sweeper_switch_and_delete_are_alternatives() -> None:
    with pytest.raises(SystemExit):
        sweeper.main(["--delete", "--dry-run", "true"], clients=object())  # type: ignore[arg-type]


# ── the ephemeral workflow binds the stack to the person running it ─────────────────────

EPHEMERAL = WORKFLOWS["ephemeral"]


def test_own_stack_steps_act_as_the_actor_and_never_take_an_owner() -> None:
    job = EPHEMERAL["jobs"]["own-stack"]
    assert job["env"]["LOGIN"] == "${{ github.actor }}"
    assert job["env"]["TRIGGERED_BY"] == "${{ github.triggering_actor }}"
    assert "environment" not in job
    text = yaml.safe_dump(job)
    assert "inputs.owner" not in text and "--owner" not in text
    for step in job["steps"]:
        for line in step.get("run", "").splitlines():
            if "-m stacks.ephemeral create" in line or re.search(
                r"ephemeral (extend|destroy)", line
            ):
                assert '--github-login "$LOGIN"' in line, line


def test_acting_on_another_persons_stack_needs_the_protected_environment() -> None:
    for name, job in EPHEMERAL["jobs"].items():
        if "inputs.owner" in yaml.safe_dump(job):
            assert job["environment"] == "ephemeral-admin", name


@pytest.mark.parametrize(
    ("action", "runs"),
    [
        ("create", {"own-stack"}),
        ("extend", {"own-stack"}),
        ("destroy", {"own-stack"}),
        ("extend-another", {"another-owners-stack"}),
        ("destroy-another", {"another-owners-stack"}),
        ("nonsense", set()),
    ],
)
def test_each_action_runs_exactly_one_job(action: str, runs: set[str]) -> None:
    contexts = {"github": {"ref": "refs/heads/main"}, "inputs": {"action": action}}
    ran = {
        name
        for name, job in EPHEMERAL["jobs"].items()
        if truthy(evaluate(parse(job["if"]), contexts))
    }
    assert ran == runs
    branch = {"github": {"ref": "refs/heads/feature"}, "inputs": {"action": action}}
    assert not any(truthy(evaluate(parse(j["if"]), branch)) for j in EPHEMERAL["jobs"].values())


def test_the_create_step_deploys_the_stack_of_the_derived_owner() -> None:
    job = EPHEMERAL["jobs"]["own-stack"]
    create = next(s["run"] for s in job["steps"] if s.get("name") == "Create")
    assert 'owner="$(.venv/bin/python -m stacks.ephemeral owner --github-login "$LOGIN")"' in create
    assert '--stack "dev-$owner"' in create


# ── where jobs run ──────────────────────────────────────────────────────────────────────


def test_jobs_that_reach_a_cluster_run_on_an_in_vpc_runner_and_others_on_hosted_ones() -> None:
    from components.ci_runner import runner_project_name

    in_vpc = {
        ("deploy", "up-prod"): "prod",
        ("preview", "preview-prod"): "prod",
        ("drift", "refresh-prod"): "prod",
        ("reaper", "reap"): "dev-cluster",
        ("ephemeral", "own-stack"): "dev-cluster",
        ("ephemeral", "another-owners-stack"): "dev-cluster",
    }
    for workflow, name, job in jobs():
        label = job["runs-on"]
        if (workflow, name) in in_vpc:
            project = runner_project_name(in_vpc[(workflow, name)])
            assert label == (
                f"codebuild-{project}-${{{{ github.run_id }}}}-${{{{ github.run_attempt }}}}"
            ), f"{workflow}.{name}"
        else:
            assert label.startswith("ubuntu-"), f"{workflow}.{name}"
            assert not any(
                "configure-aws-credentials" in str(s.get("uses", "")) for s in job["steps"]
            ), f"{workflow}.{name}: a hosted runner holds no AWS role"
