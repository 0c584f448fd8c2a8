"""Time the CrossGuard pack over a whole plan through the gRPC protocol the CLI uses.

    .venv/bin/python scripts/bench_policy.py [--stack prod] [--plan build/plan-prod.json]
                                             [--fixture [--scale N]] [--repeat 3]

Without --plan, plans the stack afresh into build/plan-<stack>.json with
`python -m stacks.plan`. --fixture times the test fixture plan instead (x --scale copies,
unique URNs).
Prints pack start-up, Configure, Analyze (total, per resource: mean/p50/p95/max) and
AnalyzeStack times.
"""

from __future__ import annotations

import argparse
import copy
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from stacks.policy_check import (  # noqa: E402
    PolicyPackProcess,
    config_for_stack,
    load_plan,
    mandatory,
)
from tests.policy.fixtures import dev_plan, prod_plan  # noqa: E402


def _plan(args: argparse.Namespace) -> tuple[dict[str, Any], str]:
    if args.fixture:
        base = prod_plan() if args.stack.startswith("prod") else dev_plan()
        resources: list[dict[str, Any]] = []
        for i in range(args.scale):
            for res in base["resources"]:
                r = copy.deepcopy(res)
                if i:
                    r["urn"] += f"-{i}"
                    r["name"] += f"-{i}"
                resources.append(r)
        return {**base, "resources": resources}, f"test fixture plan x{args.scale}"
    path = Path(args.plan) if args.plan else REPO_ROOT / "build" / f"plan-{args.stack}.json"
    if not args.plan:  # always plan afresh: a stale build/ file would time the wrong program
        path.parent.mkdir(exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "stacks.plan",
            "--stack",
            args.stack,
            "--json",
            str(path),
            "--quiet",
        ]
        result = subprocess.run(cmd, cwd=REPO_ROOT, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            sys.exit(
                f"cannot build {path}:\n{result.stdout}{result.stderr}\n"
                "(use --fixture to time the test fixtures)"
            )
    return load_plan(path), str(
        path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path
    )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:8.2f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--plan")
    parser.add_argument("--fixture", action="store_true")
    parser.add_argument("--scale", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    plan, source = _plan(args)
    resources: list[dict[str, Any]] = plan["resources"]
    config = config_for_stack(args.stack)[1]
    print(f"plan: {source}  stack={plan.get('stack', args.stack)}  resources={len(resources)}")

    best: dict[str, float] = {}
    per_resource: list[float] = []
    found = 0
    for _ in range(args.repeat):
        t0 = time.perf_counter()
        with PolicyPackProcess(
            stack=plan.get("stack", args.stack), project=plan.get("project", "sutazai")
        ) as pack:
            t_start = time.perf_counter() - t0
            t1 = time.perf_counter()
            pack.handshake()
            pack.configure_stack()
            pack.configure(config)
            t_conf = time.perf_counter() - t1
            times: list[float] = []
            violations = []
            for res in resources:
                t = time.perf_counter()
                violations += pack.analyze(res)
                times.append(time.perf_counter() - t)
            t2 = time.perf_counter()
            violations += pack.analyze_stack(resources)
            t_stack = time.perf_counter() - t2
        total = time.perf_counter() - t0
        run = {
            "start": t_start,
            "configure": t_conf,
            "analyze": sum(times),
            "stack": t_stack,
            "total": total,
        }
        if not best or run["analyze"] + run["stack"] < best["analyze"] + best["stack"]:
            best, per_resource = run, times
        found = len(mandatory(violations))

    n = max(len(per_resource), 1)
    q = statistics.quantiles(per_resource, n=20) if len(per_resource) >= 2 else per_resource * 19
    print(f"best of {args.repeat} runs:")
    print(f"  pack start-up (spawn -> port)   {_ms(best['start'])}")
    print(f"  handshake + configure           {_ms(best['configure'])}")
    print(f"  Analyze x{len(per_resource):<5}                {_ms(best['analyze'])}")
    p50 = statistics.median(per_resource) if per_resource else 0.0
    print(f"    per resource  mean {_ms(best['analyze'] / n)}  p50 {_ms(p50)}")
    print(f"                  p95  {_ms(q[18])}  max {_ms(max(per_resource, default=0))}")
    print(f"  AnalyzeStack                    {_ms(best['stack'])}")
    print(f"  total (incl. start-up)          {_ms(best['total'])}")
    note = " (scaled copies still name the originals' buckets/namespaces)" if args.scale > 1 else ""
    print(f"mandatory violations: {found}{note}")


if __name__ == "__main__":
    main()
