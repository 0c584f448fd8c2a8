#!/usr/bin/env python3
"""Build the SutazAI image hierarchy and services with podman.

  1. install podman (Debian packages) if missing and write its config
     (podman_env.py: ulimits, runc/cgroupfs, private graphroot);
  2. make the root image localhost/debian-python:bookworm with debootstrap
     (minbase + python3 python3-venv ca-certificates), skipped if present; it stands
     in for the catalog's root_base_image, which cannot be pulled here;
  3. build every image of the catalog's build graph (stacks/catalog.yaml: base_images,
     then each service's build.path on build.base), parents first, with
     `podman build --network host --build-arg BASE_IMAGE=<parent>`;
  4. report build times and sizes (summed per image vs unique on disk).

Usage: build_all.py [--only NAME ...] [--no-cache] [--report PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))
import catalog_images
import podman_env
from catalog_images import ROOT, ROOT_IMAGE, ROOT_PACKAGES, ImageNode

REPO = Path(__file__).resolve().parents[2]
SERVICE_CODE = REPO / "service-code"
REGISTRY_PREFIX = os.environ.get("SUTAZAI_IMAGE_PREFIX", "localhost/sutazai")


def image_ref(name: str) -> str:
    """The local tag of an image; ROOT is the debootstrapped stand-in for the
    catalog's root_base_image (see catalog_images.ROOT_IMAGE)."""
    if name == ROOT:
        return ROOT_IMAGE
    return f"{REGISTRY_PREFIX}/{name}:latest"


def make_root() -> float:
    """The root image every base descends from. It stands in for the catalog's
    root_base_image (python:3.11-slim-bookworm), which cannot be pulled here: a
    debootstrapped Debian bookworm with Debian's python3 (catalog_images.ROOT_IMAGE)."""
    ref = ROOT_IMAGE
    if podman_env.podman("image", "exists", ref, check=False).returncode == 0:
        print(f"[root] {ref} present (cached)")
        return 0.0
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="sutazai-rootfs-", dir="/var/tmp") as tmp:
        rootfs = Path(tmp) / "rootfs"
        cmd = [
            "debootstrap",
            "--variant=minbase",
            "--include=" + ",".join(ROOT_PACKAGES),
            "bookworm",
            str(rootfs),
        ]
        if os.environ.get("DEBIAN_MIRROR"):
            cmd.append(os.environ["DEBIAN_MIRROR"])  # else debootstrap's default mirror
        print("[root] " + " ".join(cmd), flush=True)
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        # Smaller image: no apt lists / caches (child images run apt-get update).
        for sub in ("var/lib/apt/lists", "var/cache/apt/archives"):
            for p in (rootfs / sub).glob("*"):
                if p.is_file():
                    p.unlink()
        tar_path = Path(tmp) / "rootfs.tar"
        with tarfile.open(tar_path, "w") as tar:
            tar.add(rootfs, arcname=".")
        podman_env.podman(
            "import",
            "--change",
            'CMD ["/bin/bash"]',
            "--change",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            str(tar_path),
            ref,
        )
    elapsed = time.monotonic() - started
    print(f"[root] {ref} built in {elapsed:.1f}s")
    return elapsed


def build_mounts() -> list[str]:
    """Trust the host's CA bundle while building, if the host adds its own CAs
    (e.g. a TLS-intercepting egress proxy). It is bind-mounted over the
    bundle the root image already has (Debian's pip reads that file), so
    nothing of it lands in an image layer."""
    bundle = os.environ.get("SUTAZAI_BUILD_CA_BUNDLE")
    if bundle is None and any(Path("/usr/local/share/ca-certificates").glob("*.crt")):
        bundle = "/etc/ssl/certs/ca-certificates.crt"
    if not bundle:
        return []
    return ["--volume", f"{bundle}:/etc/ssl/certs/ca-certificates.crt:ro"]


def build(image: ImageNode, no_cache: bool) -> float:
    context = SERVICE_CODE / image.context
    ref = image_ref(image.name)
    cmd = [
        "build",
        "--network",
        "host",
        "--layers",
        "--build-arg",
        f"BASE_IMAGE={image_ref(image.parent)}",
        *build_mounts(),
        "-t",
        ref,
        "-f",
        str(context / "Dockerfile"),
    ]
    if no_cache:
        cmd.append("--no-cache")
    started = time.monotonic()
    print(f"[{image.name}] podman " + " ".join([*cmd, str(context)]), flush=True)
    result = podman_env.podman(*cmd, str(context), check=False)
    elapsed = time.monotonic() - started
    if result.returncode != 0:
        print(result.stdout[-4000:], result.stderr[-4000:], sep="\n", file=sys.stderr)
        raise SystemExit(f"[{image.name}] build failed")
    print(f"[{image.name}] built in {elapsed:.1f}s")
    return elapsed


def sizes(refs: list[str]) -> dict[str, Any]:
    """Per-image sizes (as `podman images` counts them, each with all its
    layers) and the bytes their union of layers really takes on disk."""
    storage = podman_env.podman_dir() / "storage"
    layers = {
        entry["id"]: entry
        for entry in json.loads((storage / "overlay-layers" / "layers.json").read_text())
    }
    top_layer = {
        name: image["layer"]
        for image in json.loads((storage / "overlay-images" / "images.json").read_text())
        for name in image.get("names", [])
    }
    per_image: dict[str, int] = {}
    unique: set[str] = set()
    for ref in refs:
        chain: list[str] = []
        layer: str | None = top_layer[ref]
        while layer:
            chain.append(layer)
            layer = layers[layer].get("parent")
        per_image[ref] = sum(int(layers[lid].get("diff-size", 0)) for lid in chain)
        unique.update(chain)
    unique_bytes = sum(int(layers[lid].get("diff-size", 0)) for lid in unique)
    return {
        "per_image_bytes": per_image,
        "summed_bytes": sum(per_image.values()),
        "unique_layer_bytes": unique_bytes,
        "unique_layers": len(unique),
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--only", nargs="*", help="build only these images (parents must exist)")
    parser.add_argument("--no-cache", action="store_true")
    parser.add_argument("--report", default=str(REPO / "build" / "images-report.json"))
    args = parser.parse_args()

    total_start = time.monotonic()
    podman_env.ensure_podman()
    graph = catalog_images.build_graph(catalog_images.load_catalog())
    unknown = sorted(set(args.only or ()) - {i.name for i in graph})
    if unknown:
        raise SystemExit(f"--only: {unknown} are not images of the catalog's build graph")
    times: dict[str, float] = {ROOT: make_root()}
    for image in graph:
        if args.only and image.name not in args.only:
            continue
        times[image.name] = round(build(image, args.no_cache), 1)
    # Rebuilds leave the previous layers dangling: drop them so the store
    # (and the unique size measured below) holds what the tags use.
    podman_env.podman("image", "prune", "--force", check=False)
    total = round(time.monotonic() - total_start, 1)
    refs = [image_ref(i.name) for i in graph]
    report = {
        "total_seconds": total,
        "build_seconds": times,
        "sizes": sizes([ROOT_IMAGE, *refs]),
    }
    Path(args.report).parent.mkdir(parents=True, exist_ok=True)
    Path(args.report).write_text(json.dumps(report, indent=2))
    s = report["sizes"]
    print(f"\nbuilt {len(times) - 1} images in {total}s (report: {args.report})")
    print(
        f"sizes: summed per image {s['summed_bytes'] / 1e6:.0f} MB, unique on disk "
        f"{s['unique_layer_bytes'] / 1e6:.0f} MB in {s['unique_layers']} layers"
    )


if __name__ == "__main__":
    main()
