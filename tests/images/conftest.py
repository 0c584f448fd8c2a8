"""Image tests: static checks of every Dockerfile (always) and hardened podman
runs of the built images (marker `images`; build first with
scripts/images/build_all.sh)."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from typing import Any

import pytest

from .imagelib import image_ref, manifest, podman_env

# Real PostgreSQL/Redis and the fake Ollama of the service tests (service-code/testing).
from sutazai_testing import dead_url, fake_upstream, postgres_server, redis_server  # noqa: E402,F401,I001


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "images: runs the built images with podman (scripts/images/build_all.sh first)"
    )
    config.addinivalue_line("markers", "postgres: needs a real PostgreSQL server (Debian postgresql)")
    config.addinivalue_line("markers", "redis: needs a real Redis server (Debian redis-server)")


@pytest.fixture(scope="session")
def podman() -> Callable[..., Any]:
    if shutil.which("podman") is None:
        pytest.skip("podman absent: run scripts/images/build_all.sh (it installs podman)")
    missing = [i["name"] for i in manifest()["images"]
               if podman_env.podman("image", "exists", image_ref(i["name"]), check=False).returncode]
    if missing:
        pytest.fail(f"images not built: {missing}; run scripts/images/build_all.sh first")
    return podman_env.podman
