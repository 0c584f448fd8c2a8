"""Before `make test`: is everything the tests use installed? One line if not, exit 1.

    python scripts/check_test_deps.py [--allow-skips]

The tests build and run the service images with podman and start real PostgreSQL, Redis
and PgBouncer servers; their system packages come from `sudo make system-deps`
(scripts/install-system-deps.sh), checkov from `make setup`. Without them those tests
would be skipped; this check stops first and says what to run, so a pass always means
every test ran. `--allow-skips` (make test ALLOW_SKIPS=1) runs anyway and lists what will
be skipped. Under CI=true nothing may be missing (tests/conftest.py fails any skip).
Standard library only: it runs before anything else is installed.
"""

from __future__ import annotations

import glob
import os
import shutil
import sys
from pathlib import Path

PROJECT_DIR = Path(__file__).resolve().parent.parent

# What the tests look for -> the Debian package that provides it.
COMMANDS = {
    "podman": "podman",
    "buildah": "buildah",
    "debootstrap": "debootstrap",
    "redis-server": "redis-server",
    "redis-cli": "redis-server",
    "promtool": "prometheus",
    "prometheus": "prometheus",
    "amtool": "prometheus-alertmanager",
    "prometheus-alertmanager": "prometheus-alertmanager",
    "curl": "curl",
    "wget": "wget",
}


def missing_packages() -> list[str]:
    missing = [package for command, package in COMMANDS.items() if shutil.which(command) is None]
    if not glob.glob("/usr/lib/postgresql/*/bin/initdb") and shutil.which("initdb") is None:
        missing.append("postgresql")
    if shutil.which("pgbouncer") is None and not Path("/usr/sbin/pgbouncer").exists():
        missing.append("pgbouncer")
    return sorted(set(missing))


def main(argv: list[str]) -> int:
    allow = "--allow-skips" in argv and os.environ.get("CI", "").lower() != "true"
    packages = missing_packages()
    checkov = (PROJECT_DIR / ".venv-checkov" / "bin" / "checkov").exists()
    if not packages and checkov:
        return 0
    parts = []
    if packages:
        parts.append(f"Debian packages {', '.join(packages)} (run: sudo make system-deps)")
    if not checkov:
        parts.append(".venv-checkov (run: make setup)")
    what = " and ".join(parts)
    if allow:
        print(f"make test: missing {what}; their tests are reported as skipped", file=sys.stderr)
        return 0
    print(
        f"make test: missing {what}, so some tests could not run; install them, "
        "or run 'make test ALLOW_SKIPS=1' to see the rest pass with those skipped",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
