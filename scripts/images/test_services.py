#!/usr/bin/env python3
"""Run each service's unit tests in its own pytest process (every service
is an `app` package, so they cannot share one interpreter) and print one
combined closing line. Extra arguments go to every pytest run.

Usage: test_services.py [SERVICE ...] [-- PYTEST-ARGS]
"""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SERVICE_CODE = REPO / "service-code"
COUNT = re.compile(r"(\d+) (passed|failed|skipped|errors?)")


def main() -> int:
    argv = sys.argv[1:]
    extra: list[str] = []
    if "--" in argv:
        i = argv.index("--")
        argv, extra = argv[:i], argv[i + 1 :]
    services = argv or sorted(
        str(p.parent.relative_to(SERVICE_CODE))
        for p in [*SERVICE_CODE.glob("*/tests"), *SERVICE_CODE.glob("base/*/tests")]
    )
    totals = {"passed": 0, "failed": 0, "skipped": 0, "errors": 0}
    failed: list[str] = []
    for svc in services:
        started = time.monotonic()
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                f"{svc}/tests",
                *extra,
            ],
            cwd=SERVICE_CODE,
            text=True,
            capture_output=True,
            check=False,
        )
        lines = proc.stdout.strip().splitlines()
        summary = lines[-1] if lines else ""
        counts = {k: 0 for k in totals}
        for n, kind in COUNT.findall(summary):
            counts["errors" if kind.startswith("error") else kind] += int(n)
        for k, v in counts.items():
            totals[k] += v
        ok = proc.returncode in (0, 5) and not counts["failed"] and not counts["errors"]
        print(f"{'ok  ' if ok else 'FAIL'} {svc:16s} {time.monotonic() - started:6.1f}s  {summary}")
        if not ok:
            failed.append(svc)
            print(proc.stdout[-6000:], proc.stderr[-3000:], sep="\n")
        elif counts["skipped"]:
            for line in lines:
                if line.startswith("SKIPPED"):
                    print("     " + line)
    print(f"services with failures: {', '.join(failed)}" if failed else "all services passed")
    print(
        f"{totals['passed']} passed, {totals['failed'] + totals['errors']} failed, "
        f"{totals['skipped']} skipped"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
