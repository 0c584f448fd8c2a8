"""Benchmark: wall time of `make diff STACK=prod` (python -m stacks.diff), in fresh processes.

    python scripts/bench_diff.py [--stack prod] [--runs 3]

The project's files (tracked and new) are committed into a temporary repository, a change
that touches the plan is committed on top (the general node group's maxSize, 12 -> 16), and
the diff of that commit against the first one is timed: the base worktree, both plans, the
three policy-pack runs, the comparison and the report. Target (issue #16): under 20 s for
prod on 2 cores.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 20.0


def git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.invalid", *args],
        cwd=repo, check=True, capture_output=True,
    )  # fmt: skip


def history(root: Path) -> Path:
    """A repository with this project as commit `base` and a node-group change on top."""
    repo = root / "sutazai"
    listed = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=PROJECT_DIR, check=True, capture_output=True, text=True,
    ).stdout.split("\0")  # fmt: skip
    for name in filter(None, listed):
        if (PROJECT_DIR / name).is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(PROJECT_DIR / name, repo / name)
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "base")
    git(repo, "tag", "base")
    stack_file = repo / "Pulumi.prod.yaml"
    stack_file.write_text(stack_file.read_text().replace("maxSize: 12", "maxSize: 16", 1))
    git(repo, "commit", "-q", "-am", "general node group: max 16")
    return repo


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--stack", default="prod")
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    times: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-diff-") as tmp:
        repo = history(Path(tmp))
        for _ in range(options.runs):
            started = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "stacks.diff", "--stack", options.stack, "--base", "base"],
                cwd=repo, check=True, capture_output=True,
            )  # fmt: skip
            times.append(time.perf_counter() - started)
    median = statistics.median(times)
    print(
        f"plan diff --stack {options.stack}: {options.runs} runs, min {min(times):.2f}s, "
        f"median {median:.2f}s, max {max(times):.2f}s (wall, fresh process; target "
        f"< {TARGET_SECONDS:.0f}s: {'met' if median < TARGET_SECONDS else 'MISSED'})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
