"""Benchmark: wall time of the offline plan, imports included, in fresh processes.

    python scripts/bench_plan.py --stack prod [--runs 5]

Target (issue #2): under 5 s for prod on 2 cores.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--runs", type=int, default=5)
    options = parser.parse_args()
    times: list[float] = []
    for _ in range(options.runs):
        started = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "stacks.plan", "--stack", options.stack, "--quiet"],
            cwd=PROJECT_DIR,
            check=True,
            capture_output=True,
        )
        times.append(time.perf_counter() - started)
    print(
        f"offline plan --stack {options.stack}: {options.runs} runs, "
        f"min {min(times):.2f}s, median {statistics.median(times):.2f}s, "
        f"max {max(times):.2f}s (wall, fresh process, imports included)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
