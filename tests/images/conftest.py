"""Image tests: static checks of every Dockerfile (always) and hardened podman
runs of the built images (marker `images`; build first with
scripts/images/build_all.sh)."""

# The fixtures come from service-code/testing, which pyright cannot resolve from
# the repository root (it is put on sys.path at run time by imagelib).
# pyright: reportAttributeAccessIssue=false

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

# Real PostgreSQL/Redis and the fake Ollama of the service tests, as fixtures here.
from .imagelib import (  # noqa: F401
    REPO,
    dead_url,
    fake_upstream,
    graph,
    image_ref,
    podman_env,
    postgres_server,
    redis_server,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "images: runs the built images with podman (scripts/images/build_all.sh first)"
    )
    config.addinivalue_line(
        "markers", "postgres: needs a real PostgreSQL server (Debian postgresql)"
    )
    config.addinivalue_line("markers", "redis: needs a real Redis server (Debian redis-server)")


@pytest.fixture(scope="session")
def podman() -> Callable[..., Any]:
    """podman with the project's configuration, after (re)building the images.

    The build is layer-cached (~25 s when nothing changed), so the tests never
    run stale images; SUTAZAI_SKIP_IMAGE_BUILD=1 uses whatever is there."""
    if shutil.which("podman") is None:
        pytest.skip("podman absent: scripts/install-system-deps.sh (or build_all.sh) installs it")
    if os.environ.get("SUTAZAI_SKIP_IMAGE_BUILD") != "1":
        log = REPO / "build" / "images-build.log"
        log.parent.mkdir(exist_ok=True)
        with log.open("w") as out:
            built = subprocess.run(
                [sys.executable, str(REPO / "scripts" / "images" / "build_all.py")],
                stdout=out,
                stderr=subprocess.STDOUT,
                check=False,
                timeout=3600,
            )
        if built.returncode != 0:
            pytest.fail(f"image build failed (see {log}):\n{log.read_text()[-3000:]}")
    missing = [
        n.name
        for n in graph()
        if podman_env.podman("image", "exists", image_ref(n.name), check=False).returncode
    ]
    if missing:
        pytest.fail(f"images not built: {missing}; run scripts/images/build_all.sh")
    return podman_env.podman
