"""The in-house services' own unit tests (service-code/*/tests), one pytest
process per service, so the repository's single `pytest` run covers them.
They use real PostgreSQL/Redis servers (Debian packages) where needed."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from .imagelib import REPO


def test_service_unit_tests_pass() -> None:
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "images" / "test_services.py")],
        capture_output=True,
        text=True,
        check=False,
        timeout=1800,
    )
    summary = result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""
    assert result.returncode == 0, result.stdout[-8000:] + result.stderr[-2000:]
    assert " 0 failed" in summary and not summary.startswith("0 passed"), summary


def test_service_code_is_pyright_clean() -> None:
    """service-code is excluded from the root pyright run (every service is an
    `app` package); its own pyrightconfig.json checks each with its import roots."""
    result = subprocess.run(
        [str(Path(sys.executable).parent / "pyright"), "-p", str(REPO / "service-code")],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-6000:]
