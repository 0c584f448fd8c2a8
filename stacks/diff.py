"""The offline plan diff: what a change does to a stack, before anything touches AWS.

    python -m stacks.diff --stack prod --base origin/main      (make diff STACK=prod BASE=...)

Plans the base ref (checked out in a temporary `git worktree`, its own code run by this
venv) and the working tree, each in a fresh process, then compares the two plans: resource
changes by component, network flows, Vault grants, hardening, exposure, protection, the
policy pack's results, the architecture diagram and the estimated monthly cost. Both plans
are judged by the BASE's policy pack and config, so a change cannot weaken the check it is
judged by; the head's own pack runs beside it. Markdown goes to stdout and to
build/diff-<stack>.md. Secret values are never printed (see stacks/plan_diff.py).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stacks import cost, plan_diff
from stacks.policy_check import (
    PolicyPackProcess,
    Violation,
    config_path,
    declared_environment,
    load_config,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent
MARKER = "<!-- sutazai-plan-diff -->"
# Changes to these are changes to how the pull request is judged: flagged for review.
REVIEW_TOOLING = ("policies/",)
DIFF_TOOLING = (
    "stacks/diff.py", "stacks/plan_diff.py", "stacks/cost.py", "stacks/prices.yaml",
    "stacks/policy_check.py", "stacks/netpol.py", ".github/workflows/",
)  # fmt: skip
DIAGRAM_SOURCES = ("stacks/catalog.yaml", "stacks/catalog.py", "stacks/diagram.py")
MAX_PROPERTIES = 25  # per resource; the rest is counted
MAX_DOCUMENT_LINES = 60


class DiffError(RuntimeError):
    """The diff could not be built (bad ref, a tree that does not plan); one line to print."""


def git(*args: str, cwd: Path = PROJECT_DIR) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DiffError(f"git {' '.join(args)}: {result.stderr.strip() or result.stdout.strip()}")
    return result.stdout


def resolve(ref: str, cwd: Path = PROJECT_DIR) -> str:
    if not ref or ref.startswith("-"):
        raise DiffError(f"--base: {ref!r} is not a git ref")
    try:
        return git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", cwd=cwd).strip()
    except DiffError:
        raise DiffError(f"--base: {ref!r} is not a commit in {cwd}") from None


def changed_files(base_sha: str, cwd: Path = PROJECT_DIR) -> list[str]:
    """Files that differ between the base commit and the working tree (untracked included)."""
    tracked = git("diff", "--name-only", "--no-renames", base_sha, "--", cwd=cwd).splitlines()
    untracked = git("ls-files", "--others", "--exclude-standard", cwd=cwd).splitlines()
    return sorted({*tracked, *untracked})


# ── running the trees ───────────────────────────────────────────────────────────────────


@dataclass
class TreeRun:
    label: str
    root: Path
    plan: dict[str, Any] | None = None
    error: str = ""
    diagram: str = ""
    seconds: float = 0.0


def _start_plan(root: Path, stack: str, out: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stacks.plan", "--stack", stack, "--json", str(out), "--quiet"],
        cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def _start_diagram(root: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "stacks.diagram"],
        cwd=root, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip


def plan_trees(runs: Sequence[TreeRun], stack: str, workdir: Path, draw: bool = True) -> None:
    """Plan every tree at once (one fresh process each), and draw its diagram if `draw`."""
    started = time.perf_counter()
    jobs = []
    for run in runs:
        out = workdir / f"plan-{run.label}.json"
        drawer = _start_diagram(run.root) if draw else None
        jobs.append((run, out, _start_plan(run.root, stack, out), drawer))
    for run, out, planner, drawer in jobs:
        _, stderr = planner.communicate()
        run.seconds = time.perf_counter() - started
        if planner.returncode != 0:
            lines = [line for line in stderr.strip().splitlines() if line.strip()]
            run.error = "\n".join(lines[-12:]) or f"exit code {planner.returncode}"
        else:
            run.plan = json.loads(out.read_text())
        if drawer is None:
            continue
        diagram, _ = drawer.communicate()
        if drawer.returncode == 0:
            run.diagram = diagram
        else:  # a tree older than `python -m stacks.diagram`: its generated file
            generated = run.root / "docs" / "architecture.md"
            run.diagram = generated.read_text() if generated.exists() else ""


@dataclass
class PolicyRun:
    pack: str  # "base" | "head"
    plan: str  # "base" | "head"
    config_file: str = ""
    violations: list[Violation] = field(default_factory=list)
    error: str = ""


def _run_pack(
    runs: Sequence[PolicyRun],
    pack_root: Path,
    plans: Sequence[Mapping[str, Any]],
    stack: str,
    project: str,
) -> None:
    """One pack process (pack and config of `pack_root`) over each plan in turn."""
    config_dir = pack_root / "policies" / "config"
    try:
        # The tree's own stack file says which environment's config judges it.
        environment = declared_environment(stack, pack_root)
        config_file = str(config_path(environment, config_dir).relative_to(pack_root))
        config = load_config(environment, config_dir)
        with PolicyPackProcess(
            stack=stack, project=project, pack_dir=pack_root / "policies"
        ) as pack:
            for run, plan in zip(runs, plans, strict=True):
                run.config_file = config_file
                run.violations = pack.run(plan["resources"], config)
    except Exception as exc:  # reported in the review, judged as failed
        lines = str(exc).strip().splitlines()
        for run in runs:
            run.error = f"{type(exc).__name__}: {lines[-1] if lines else ''}"


def judge(
    base: TreeRun, head: TreeRun, stack: str, project: str, pack_changed: bool
) -> tuple[PolicyRun, PolicyRun, PolicyRun]:
    """The base pack over both plans; the head's own pack over the head plan, at once.

    When the change leaves policies/ alone, the head's pack is the base's: its results are
    the base pack's over the head plan, and it is not run twice.
    """
    assert base.plan is not None and head.plan is not None
    before, after, own = (
        PolicyRun("base", "base"),
        PolicyRun("base", "head"),
        PolicyRun("head", "head"),
    )
    with ThreadPoolExecutor(max_workers=2) as pool:
        jobs = [
            pool.submit(
                _run_pack, [before, after], base.root, [base.plan, head.plan], stack, project
            )
        ]
        if pack_changed:
            jobs.append(pool.submit(_run_pack, [own], head.root, [head.plan], stack, project))
        for job in jobs:
            job.result()
    if not pack_changed:
        own.config_file, own.violations, own.error = (
            after.config_file,
            after.violations,
            after.error,
        )
    return before, after, own


# ── the report ──────────────────────────────────────────────────────────────────────────


@dataclass
class Review:
    stack: str
    base_ref: str
    base_sha: str
    files: list[str]
    base: TreeRun
    head: TreeRun
    policies: tuple[PolicyRun, PolicyRun, PolicyRun] | None = None
    prices: cost.PriceTable | None = None


def _violation_key(v: Violation) -> tuple[str, str, str]:
    return (v.policy, v.urn, v.level)


def _violation_line(v: Violation) -> str:
    last = v.message.strip().splitlines()[-1] if v.message.strip() else ""
    return f"[{v.level}] `{v.policy}`: {last}"


def _bullets(lines: Sequence[str], prefix: str = "") -> list[str]:
    return [f"- {prefix}{line}" for line in lines]


def _money(value: float) -> str:
    return f"${value:,.0f}"


def _delta(value: float) -> str:
    if round(value) == 0:
        return "$0"
    return f"{'+' if value > 0 else '-'}${abs(value):,.0f}"


def _details(summary: str, body: list[str]) -> list[str]:
    return ["<details>", f"<summary>{summary}</summary>", "", *body, "", "</details>"]


def _stack_config(root: Path, stack: str) -> dict[str, Any]:
    path = root / f"Pulumi.{stack}.yaml"
    if not path.exists():
        return {}
    config = (yaml.safe_load(path.read_text()) or {}).get("config") or {}
    return plan_diff.flatten_config(config)


def render(review: Review) -> tuple[str, dict[str, Any]]:
    """The Markdown report and a summary of what it flagged (for tests and the CLI)."""
    base, head = review.base, review.head
    lines = [
        MARKER,
        f"## Plan diff: `{review.stack}`, `{review.base_ref}` "
        f"({review.base_sha[:12]}) → this change",
        "",
    ]
    summary: dict[str, Any] = {"attention": []}
    attention: list[str] = summary["attention"]
    judged_files = [f for f in review.files if f.startswith(REVIEW_TOOLING)]
    tooling_files = [f for f in review.files if f.startswith(DIFF_TOOLING)]
    if judged_files:
        attention.append(
            f"this change edits the policy pack ({', '.join(judged_files)}): it is judged by "
            "the base's pack below; review the pack change itself"
        )
    if tooling_files:
        attention.append(
            f"this change edits the review tooling ({', '.join(tooling_files)}): this report "
            "was produced by the changed code"
        )
    if base.plan is None or head.plan is None:
        for run in (base, head):
            if run.error:
                attention.append(f"the {run.label} tree does not plan")
                lines += [
                    f"### The {run.label} tree does not plan",
                    "",
                    "```",
                    run.error,
                    "```",
                    "",
                ]
        return _finish(lines, attention, summary)

    changes = plan_diff.resource_changes(base.plan, head.plan)
    counts = Counter(c.kind for c in changes)
    summary["resources"] = dict(counts)
    lines.append(
        f"{len(head.plan['resources'])} resources planned: "
        + ", ".join(f"{counts.get(k, 0)} {k}" for k in ("added", "changed", "replaced", "removed"))
        + f" (files changed: {len(review.files)})."
    )
    lines.append("")
    body: list[str] = []

    # flows
    flow_lines: list[str] = []
    summary["flows"] = {"added": [], "removed": []}
    before_flows, after_flows = plan_diff.flows(base.plan), plan_diff.flows(head.plan)
    for layer in after_flows:
        added, removed = plan_diff.added_removed(before_flows[layer], after_flows[layer])
        summary["flows"]["added"] += added
        summary["flows"]["removed"] += removed
        if added or removed:
            flow_lines += [
                f"**{layer}**",
                "",
                *_bullets(added, "**+** "),
                *_bullets(removed, "**-** "),
                "",
            ]
    if summary["flows"]["added"]:
        attention.append(f"{len(summary['flows']['added'])} network flows added")
    body += ["### Network flows", "", *(flow_lines or ["No flow added or removed.", ""])]

    # Vault
    gained, lost = plan_diff.added_removed(
        plan_diff.vault_grants(base.plan), plan_diff.vault_grants(head.plan)
    )
    summary["vault"] = {"gained": gained, "lost": lost}
    if gained:
        attention.append(f"{len(gained)} Vault grants gained")
    body += ["### Vault paths and capabilities", ""]
    body += [*_bullets(gained, "**+** "), *_bullets(lost, "**-** ")] or ["No grant gained or lost."]
    body.append("")

    # hardening
    before_h = plan_diff.container_hardening(base.plan)
    after_h = plan_diff.container_hardening(head.plan)
    hardening: list[str] = []
    weaker = 0
    for container in sorted(set(before_h) | set(after_h)):
        old, new = before_h.get(container), after_h.get(container)
        if old == new:
            continue
        if old is None or new is None:
            facts = new or old or {}
            state = "added" if old is None else "removed"
            shown = ", ".join(f"{k}={plan_diff.show(v)}" for k, v in facts.items())
            hardening.append(f"{container}: {state} ({shown})")
            continue
        for fact in sorted(set(old) | set(new)):
            if old.get(fact) != new.get(fact):
                worse = plan_diff.weakened(fact, old.get(fact), new.get(fact))
                weaker += worse
                hardening.append(
                    f"{'⚠️ ' if worse else ''}{container}: `{fact}` "
                    f"{plan_diff.show(old.get(fact))} → {plan_diff.show(new.get(fact))}"
                )
    summary["hardening_weakened"] = weaker
    if weaker:
        attention.append(f"{weaker} hardening settings weakened")
    body += ["### Hardening per container", "", *(_bullets(hardening) or ["No change."]), ""]

    # exposure
    exposed, closed = plan_diff.added_removed(
        plan_diff.exposure(base.plan), plan_diff.exposure(head.plan)
    )
    summary["exposure"] = {"added": exposed, "removed": closed}
    if exposed:
        attention.append(f"{len(exposed)} exposure changes (public endpoints, CIDRs)")
    body += ["### Exposure", ""]
    body += [*_bullets(exposed, "**+** "), *_bullets(closed, "**-** ")] or ["No change."]
    body.append("")

    # protection
    protection = plan_diff.protection_removed(base.plan, head.plan)
    summary["protection_removed"] = protection
    if protection:
        attention.append(f"protection removed from {len(protection)} stateful resources")
    body += ["### Protection", "", *(_bullets(protection, "⚠️ ") or ["No protection removed."]), ""]

    body += _policy_section(review, summary, attention)
    body += _cost_section(review, summary)
    body += _diagram_section(review, summary)
    body += _config_section(review)
    body += _resource_section(changes)

    return _finish(lines + body, attention, summary)


def _finish(
    lines: list[str], attention: list[str], summary: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    if attention:  # right under the title
        lines[3:3] = ["### ⚠️ Needs attention", "", *_bullets(attention), ""]
    return "\n".join(lines).rstrip() + "\n", summary


def _policy_section(review: Review, summary: dict[str, Any], attention: list[str]) -> list[str]:
    if review.policies is None:
        return []
    before, after, own = review.policies
    out = ["### Policy results", ""]
    out.append(
        f"Both plans judged by the **base** pack (`{before.config_file or '?'}` of "
        f"{review.base_sha[:12]}); the head's own pack beside them."
    )
    out.append("")
    failed = [r for r in (before, after, own) if r.error]
    for run in failed:
        out.append(f"- ❌ the {run.pack} pack over the {run.plan} plan did not run: {run.error}")
        attention.append(f"the {run.pack} policy pack over the {run.plan} plan did not run")
    if before.error or after.error:
        summary["policy"] = {"failed": True}
        return [*out, ""]
    old = {_violation_key(v): v for v in before.violations}
    new = {_violation_key(v): v for v in after.violations}
    introduced = [new[k] for k in sorted(set(new) - set(old))]
    resolved = [old[k] for k in sorted(set(old) - set(new))]
    introduced.sort(key=lambda v: v.level != "mandatory")
    summary["policy"] = policy_summary = {
        "new": [(v.policy, v.level) for v in introduced],
        "resolved": [(v.policy, v.level) for v in resolved],
    }
    mandatory_new = sum(v.level == "mandatory" for v in introduced)
    if introduced:
        attention.append(
            f"{len(introduced)} new policy violations ({mandatory_new} mandatory), by the base pack"
        )
    table = ["| | mandatory | advisory |", "|---|---|---|"]
    for label, run in (("before (base pack)", before), ("after (base pack)", after),
                       ("after (head's own pack)", own)):  # fmt: skip
        if run.error:
            table.append(f"| {label} | - | - |")
            continue
        levels = Counter(v.level for v in run.violations)
        table.append(f"| {label} | {levels.get('mandatory', 0)} | {levels.get('advisory', 0)} |")
    out += [*table, ""]
    if introduced:
        out += ["**New violations**", ""]
        out += [f"- {_violation_line(v)} ({v.urn.rsplit('::', 1)[-1] or 'stack'})"
                for v in introduced]  # fmt: skip
        out.append("")
    if resolved:
        out += ["**Resolved**", ""]
        out += [f"- {_violation_line(v)} ({v.urn.rsplit('::', 1)[-1] or 'stack'})"
                for v in resolved]  # fmt: skip
        out.append("")
    if not own.error:
        own_keys = {_violation_key(v) for v in own.violations}
        hidden = sorted(set(new) - own_keys)
        extra = sorted(own_keys - set(new))
        policy_summary["head_pack_hides"] = [(k[0], k[2]) for k in hidden]
        if hidden:
            attention.append(
                f"the head's own pack does not report {len(hidden)} violations the base pack "
                "finds: the change weakens the pack"
            )
            out += ["**Reported by the base pack, not by the head's own pack**", ""]
            out += [f"- {_violation_line(new[k])}" for k in hidden]
            out.append("")
        if extra:
            out += [f"The head's own pack adds {len(extra)} findings the base pack does not "
                    "have (a stricter pack once merged).", ""]  # fmt: skip
    if not introduced and not resolved:
        out += ["No violation added or resolved.", ""]
    return out


def _cost_section(review: Review, summary: dict[str, Any]) -> list[str]:
    prices = review.prices
    base, head = review.base.plan, review.head.plan
    if prices is None or base is None or head is None:
        return []
    before, after = cost.estimate(base, prices), cost.estimate(head, prices)
    if not before.items and not after.items:
        return []
    summary["cost"] = {
        "before": before.monthly, "after": after.monthly,
        "before_at_max": before.monthly_at_max, "after_at_max": after.monthly_at_max,
    }  # fmt: skip
    out = [
        "### Estimated monthly cost",
        "",
        f"On-demand {prices.region} prices of {prices.as_of} (`stacks/prices.yaml`: "
        f"{prices.source.split(':')[0]}), {prices.hours_per_month:g} h/month.",
        "",
        "| | before | after | difference |",
        "|---|---:|---:|---:|",
        f"| at desired size | {_money(before.monthly)} | {_money(after.monthly)} | "
        f"{_delta(after.monthly - before.monthly)} |",
        f"| at maximum size | {_money(before.monthly_at_max)} | {_money(after.monthly_at_max)} | "
        f"{_delta(after.monthly_at_max - before.monthly_at_max)} |",
        "",
    ]
    old, new = before.by_item(), after.by_item()
    rows = []
    for item in sorted(set(old) | set(new)):
        a, b = old.get(item), new.get(item)
        if a and b and (a.monthly, a.monthly_at_max, a.detail) == (b.monthly, b.monthly_at_max,
                                                                   b.detail):  # fmt: skip
            continue
        rows.append(
            f"| {item} | {a.detail if a else '-'} | {b.detail if b else '-'} | "
            f"{_delta((b.monthly if b else 0) - (a.monthly if a else 0))} | "
            f"{_delta((b.monthly_at_max if b else 0) - (a.monthly_at_max if a else 0))} |"
        )
    if rows:
        out += ["| what changed | before | after | Δ desired | Δ at max |",
                "|---|---|---|---:|---:|", *rows, ""]  # fmt: skip
    unpriced = sorted(set(after.unpriced))
    if unpriced:
        out += ["Not in the price table (not counted): " + "; ".join(unpriced), ""]
    return out


def _diagram_section(review: Review, summary: dict[str, Any]) -> list[str]:
    old, new = review.base.diagram, review.head.diagram
    summary["diagram_changed"] = old != new
    if old == new:
        return []

    def mermaid(text: str) -> list[str]:
        if "```mermaid" not in text:
            return ["(no diagram)"]
        return ["```mermaid", *text.split("```mermaid", 1)[1].split("```", 1)[0].strip("\n")
                .splitlines(), "```"]  # fmt: skip

    edges_old = {line.strip() for line in old.splitlines() if "-->" in line or "-.->" in line}
    edges_new = {line.strip() for line in new.splitlines() if "-->" in line or "-.->" in line}
    added, removed = plan_diff.added_removed(edges_old, edges_new)
    out = ["### Architecture diagram", ""]
    out += [*_bullets([f"`{e}`" for e in added], "**+** "), *_bullets([f"`{e}`" for e in removed],
                                                                   "**-** ")]  # fmt: skip
    out += ["", *_details("before", mermaid(old)), "", *_details("after", mermaid(new)), ""]
    return out


def _config_section(review: Review) -> list[str]:
    old = _stack_config(review.base.root, review.stack)
    new = _stack_config(review.head.root, review.stack)
    rows = []
    for key in sorted(set(old) | set(new)):
        a, b = old.get(key, plan_diff.MISSING), new.get(key, plan_diff.MISSING)
        if a == b:
            continue
        rows.append(plan_diff.PropertyChange(key, a, b).render())
    if not rows:
        return []
    return [f"### Stack config (`Pulumi.{review.stack}.yaml`)", "", *_bullets(rows), ""]


def _resource_section(changes: list[plan_diff.ResourceChange]) -> list[str]:
    if not changes:
        return ["### Resource changes", "", "No resource added, changed or removed.", ""]
    out = ["### Resource changes", ""]
    by_component: dict[str, list[plan_diff.ResourceChange]] = {}
    for change in changes:
        by_component.setdefault(change.component, []).append(change)
    symbols = {"added": "+", "removed": "-", "changed": "✏️", "replaced": "♻️"}
    for component in sorted(by_component):
        items = by_component[component]
        inner: list[str] = []
        for change in sorted(items, key=lambda c: (c.kind, c.type, c.name)):
            reason = f" — {change.reason}" if change.reason else ""
            inner.append(f"- {symbols[change.kind]} **{change.kind}** `{change.type}` "
                         f"`{change.name}`{reason}")  # fmt: skip
            shown = change.properties[:MAX_PROPERTIES]
            inner += [f"  - {p.render()}" for p in shown]
            if len(change.properties) > MAX_PROPERTIES:
                inner.append(f"  - … {len(change.properties) - MAX_PROPERTIES} more properties")
            for document in change.documents:
                doc_lines = document.splitlines()
                if len(doc_lines) > MAX_DOCUMENT_LINES:
                    doc_lines = [*doc_lines[:MAX_DOCUMENT_LINES],
                                 f"… {len(doc_lines) - MAX_DOCUMENT_LINES} more lines"]  # fmt: skip
                inner += ["", "  ```diff", *[f"  {line}" for line in doc_lines], "  ```"]
        kinds = Counter(c.kind for c in items)
        title = f"{component}: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        out += [*_details(title, inner), ""]
    return out


# ── the command ─────────────────────────────────────────────────────────────────────────


def build(
    stack: str,
    base_ref: str,
    project_dir: Path = PROJECT_DIR,
    prices: cost.PriceTable | None = None,
) -> tuple[str, dict[str, Any]]:
    """The report for the working tree of `project_dir` against `base_ref`."""
    base_sha = resolve(base_ref, project_dir)
    files = changed_files(base_sha, project_dir)
    if not files:
        line = (
            f"No changes: the working tree is identical to `{base_ref}` ({base_sha[:12]}), "
            f"so the `{stack}` plan is unchanged.\n"
        )
        return line, {"unchanged": True}
    prices = prices or cost.load_prices()
    with tempfile.TemporaryDirectory(prefix="sutazai-diff-") as tmp:
        workdir = Path(tmp)
        base_root = workdir / "base"
        git("worktree", "add", "--detach", "--quiet", str(base_root), base_sha, cwd=project_dir)
        try:
            timings: dict[str, float] = {}
            started = time.perf_counter()
            base, head = TreeRun("base", base_root), TreeRun("head", project_dir)
            # The diagram is drawn from the catalog: unchanged catalog and code, same diagram.
            draw = any(f in DIAGRAM_SOURCES for f in files)
            plan_trees([base, head], stack, workdir, draw=draw)
            timings["plans"] = time.perf_counter() - started
            review = Review(stack, base_ref, base_sha, files, base, head, prices=prices)
            if base.plan is not None and head.plan is not None:
                project = str(head.plan.get("project") or "sutazai")
                pack_changed = any(f.startswith("policies/") for f in files)
                review.policies = judge(base, head, stack, project, pack_changed)
            timings["policies"] = time.perf_counter() - started - timings["plans"]
            text, summary = render(review)
            timings["compare"] = time.perf_counter() - started - sum(timings.values())
            summary["seconds"] = timings
        finally:
            git("worktree", "remove", "--force", str(base_root), cwd=project_dir)
    plans = [run.plan for run in (base, head) if run.plan is not None]
    values, words = plan_diff.secret_strings(*plans)
    return plan_diff.scrub(text, values, words), summary


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stacks.diff",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--stack", default="prod", help="stack to plan (default prod)")
    parser.add_argument("--base", required=True, help="git ref to compare against")
    parser.add_argument(
        "--out", type=Path, help="where to write the Markdown (default build/diff-<stack>.md)"
    )
    options = parser.parse_args(argv)
    started = time.perf_counter()
    try:
        text, summary = build(options.stack, options.base)
    except DiffError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = options.out or PROJECT_DIR / "build" / f"diff-{options.stack}.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)
    sys.stdout.write(text)
    phases = ", ".join(f"{k} {v:.1f}s" for k, v in summary.get("seconds", {}).items())
    print(f"wrote {out} in {time.perf_counter() - started:.1f}s ({phases})", file=sys.stderr)
    return 1 if any("does not plan" in a for a in summary.get("attention", [])) else 0


if __name__ == "__main__":
    sys.exit(main())
