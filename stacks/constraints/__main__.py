"""python -m stacks.constraints: see the package docstring."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

from stacks.constraints import check_plan

PROJECT_DIR = Path(__file__).resolve().parent.parent.parent


def _run_plan(stack: str, out: Path) -> dict[str, object] | None:
    result = subprocess.run(
        [sys.executable, "-m", "stacks.plan", "--stack", stack, "--json", str(out), "--quiet"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        print(f"{stack}: the offline plan failed:\n{result.stdout}{result.stderr}", file=sys.stderr)
        return None
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stacks.constraints", description=(__doc__ or "").strip()
    )
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", action="append", help="plan this stack offline, then check")
    source.add_argument("--plan", type=Path, action="append", help="a plan JSON (stacks.plan)")
    source.add_argument("--all-stacks", action="store_true", help="every Pulumi.<stack>.yaml")
    options = parser.parse_args(argv)

    plans: list[tuple[str, dict[str, object] | None]] = []
    if options.plan:
        plans = [(str(p), json.loads(p.read_text())) for p in options.plan]
    else:
        stacks = options.stack or sorted(
            p.name[len("Pulumi.") : -len(".yaml")] for p in PROJECT_DIR.glob("Pulumi.*.yaml")
        )
        build = PROJECT_DIR / "build"
        build.mkdir(exist_ok=True)
        plans = [(s, _run_plan(s, build / f"plan-{s}.json")) for s in stacks]

    failed = False
    for label, plan in plans:
        if plan is None:
            failed = True
            continue
        violations = check_plan(plan)
        count = len(plan.get("resources", []))  # type: ignore[arg-type]
        if violations:
            failed = True
            print(f"constraints {label}: {len(violations)} violation(s) in {count} resources")
            for violation in violations:
                print(f"  {violation}")
        else:
            print(f"constraints {label}: {count} resources, all within their APIs' rules")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
