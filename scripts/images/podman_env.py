"""Podman set-up for this kind of host (see the platform notes):

* capped hard ulimits -> explicit default_ulimits,
* hybrid cgroups crun rejects -> runc + cgroupfs,
* our own storage graphroot so builds never touch the system store.

Everything lives under SUTAZAI_PODMAN_DIR (default /var/tmp/sutazai-podman),
which persists between runs so the root image and layers stay cached.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

APT_PACKAGES = [
    "podman",
    "buildah",
    "skopeo",
    "runc",
    "uidmap",
    "debootstrap",
    "iptables",
    "catatonit",
    "netavark",
    "aardvark-dns",
]


def podman_dir() -> Path:
    return Path(os.environ.get("SUTAZAI_PODMAN_DIR", "/var/tmp/sutazai-podman"))


def write_configs(base: Path | None = None) -> dict[str, str]:
    base = base or podman_dir()
    base.mkdir(parents=True, exist_ok=True)
    containers_conf = base / "containers.conf"
    storage_conf = base / "storage.conf"
    containers_conf.write_text(
        "[containers]\n"
        'default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]\n'
        "\n[engine]\n"
        'runtime = "runc"\n'
        'cgroup_manager = "cgroupfs"\n'
        'events_logger = "file"\n'
    )
    storage_conf.write_text(
        "[storage]\n"
        'driver = "overlay"\n'
        f'graphroot = "{base / "storage"}"\n'
        f'runroot = "{base / "run"}"\n'
    )
    return {"CONTAINERS_CONF": str(containers_conf), "CONTAINERS_STORAGE_CONF": str(storage_conf)}


def env() -> dict[str, str]:
    """os.environ plus the podman configuration variables."""
    return {**os.environ, **write_configs()}


def ensure_podman() -> None:
    missing = [t for t in ("podman", "debootstrap") if shutil.which(t) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        raise SystemExit(
            f"{missing} missing; install as root: apt-get install -y {' '.join(APT_PACKAGES)}"
        )
    apt_env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=apt_env)
    subprocess.run(
        ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *APT_PACKAGES],
        check=True,
        env=apt_env,
    )


def podman(
    *args: str, check: bool = True, capture: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["podman", *args],
        check=check,
        text=True,
        env=env(),
        capture_output=capture,
        timeout=timeout,
    )
