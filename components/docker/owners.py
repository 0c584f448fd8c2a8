"""Data volumes the non-root service user owns, without running anything as root.

A new named volume is `root:root 755` unless the service image has the mount path (then
Docker copies the image's files and the directory's owner and mode in). Docker has no
fsGroup, and a root `chown` helper would be the one root container of the stack (and
break the policy pack's non-root rule). Instead we use Docker's own copy-up: when an empty
volume is first mounted over a directory of an image, Docker gives the volume that
directory's owner and mode. So we build one tiny image with a directory per (uid, gid) the
stack's stateful services use, and mount each data volume once, in a hardened one-shot
container of that image running as the service user, over the matching directory.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pulumi
import pulumi_docker as docker
import pulumi_docker_build as docker_build

from stacks.catalog import PROJECT_DIR, Catalog

CONTEXT_DIR = Path(__file__).resolve().parent / "owner-context"
# As docker-build gets it: relative to the project directory, the same in every checkout.
CONTEXT_LOCATION = CONTEXT_DIR.relative_to(PROJECT_DIR).as_posix()
OWNERS_ROOT = "/owners"


def owner_dir(uid: int, gid: int) -> str:
    return f"{OWNERS_ROOT}/{uid}-{gid}"


def owner_pairs(catalog: Catalog) -> list[tuple[int, int]]:
    return sorted({(s.uid, s.gid) for s in catalog if s.storage is not None})


def dockerfile(pairs: list[tuple[int, int]]) -> str:
    """FROM the catalog's root base image (python slim: has `install` and `true`)."""
    dirs = " && \\\n    ".join(
        f"install -d -o {uid} -g {gid} -m 0750 {owner_dir(uid, gid)}" for uid, gid in pairs
    )
    return f"ARG BASE_IMAGE\nFROM ${{BASE_IMAGE}}\nRUN {dirs}\n"


def owner_image(
    name: str, catalog: Catalog, registry: str, parent: pulumi.Resource
) -> docker.RemoteImage | None:
    """Build (load, never push) the helper image; None when no service has storage."""
    pairs = owner_pairs(catalog)
    if not pairs:
        return None
    content = dockerfile(pairs)
    # Content-addressed tag: stacks with other owner sets never overwrite each other's image.
    digest = hashlib.sha256(f"{catalog.root_base_image.reference}\n{content}".encode())
    tag = f"{registry}/sutazai/volume-owner:{digest.hexdigest()[:12]}"
    built = docker_build.Image(
        f"{name}-volume-owner",
        context=docker_build.BuildContextArgs(location=CONTEXT_LOCATION),
        dockerfile=docker_build.DockerfileArgs(inline=content),
        build_args={"BASE_IMAGE": catalog.root_base_image.reference},
        tags=[tag],
        push=False,
        load=True,
        labels={"org.opencontainers.image.source": "components/docker/owners.py"},
        opts=pulumi.ResourceOptions(parent=parent),
    )
    return docker.RemoteImage(
        f"{name}-volume-owner-image",
        name=tag,
        keep_locally=True,
        opts=pulumi.ResourceOptions(parent=parent, depends_on=[built]),
    )
