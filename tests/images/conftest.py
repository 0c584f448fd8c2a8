"""Image tests: static checks of every Dockerfile (always) and hardened podman
runs of the built images (marker `images`; build first with
scripts/images/build_all.sh)."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SERVICE_CODE = REPO / "service-code"
sys.path[:0] = [str(REPO / "scripts" / "images"), str(SERVICE_CODE / "testing")]

import podman_env  # noqa: E402
from sutazai_testing import (  # noqa: E402,F401 - fixtures re-exported for these tests
    dead_url,
    fake_upstream,
    postgres_server,
    redis_server,
)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "images: runs the built images with podman (scripts/images/build_all.sh first)"
    )


def manifest() -> dict[str, Any]:
    return yaml.safe_load((SERVICE_CODE / "images.yaml").read_text())


def image_ref(name: str) -> str:
    return f"localhost/sutazai/{name}:latest"


@pytest.fixture(scope="session")
def podman() -> Iterator[Any]:
    if shutil.which("podman") is None:
        pytest.skip("podman absent: run scripts/images/build_all.sh (it installs podman)")
    missing = [i["name"] for i in manifest()["images"]
               if podman_env.podman("image", "exists", image_ref(i["name"]), check=False).returncode]
    if missing:
        pytest.fail(f"images not built: {missing}; run scripts/images/build_all.sh first")
    yield podman_env.podman
