"""Static checks of service-code/: hadolint, the hardening contract in each
Dockerfile, and that images.yaml describes exactly the Dockerfiles present."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .imagelib import SERVICE_CODE, manifest

DOCKERFILES = sorted(SERVICE_CODE.rglob("Dockerfile"))
HADOLINT = Path(sys.executable).parent / "hadolint"


def rel(p: Path) -> str:
    return str(p.relative_to(SERVICE_CODE))


def test_manifest_matches_dockerfiles() -> None:
    contexts = {i["context"] for i in manifest()["images"]}
    assert contexts == {rel(p.parent) for p in DOCKERFILES}
    names = [i["name"] for i in manifest()["images"]]
    parents = {i["parent"] for i in manifest()["images"]}
    assert parents <= {*names, "root"} and len(names) == len(set(names))


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=rel)
def test_hadolint_clean(dockerfile: Path) -> None:
    result = subprocess.run(
        [str(HADOLINT), "--config", str(SERVICE_CODE / ".hadolint.yaml"), str(dockerfile)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=rel)
def test_dockerfile_contract(dockerfile: Path) -> None:
    text = dockerfile.read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    # Chainable: the parent image is a build argument declared before FROM.
    assert lines[0].startswith("ARG BASE_IMAGE=") and lines[1] == "FROM ${BASE_IMAGE}"
    assert text.count("FROM ") == 1
    users = [ln for ln in lines if ln.startswith("USER ")]
    assert users and users[-1] == "USER 10001:10001", "final USER must be numeric 10001:10001"
    # Nothing secret baked in, nothing installed at start-up.
    assert not re.search(r"(?i)(password|secret|token)\s*=", text)
    cmd = [ln for ln in lines if ln.startswith("CMD ")]
    if cmd:
        assert cmd[-1].startswith('CMD ["'), "exec-form CMD (signals reach the process)"
        assert "pip install" not in cmd[-1] and "apt-get" not in cmd[-1]
    # buildah #5501: each image copies files of its own, not only build args.
    assert "COPY " in text


def test_services_listen_on_contract_port() -> None:
    for image in manifest()["images"]:
        if image["kind"] != "service":
            continue
        text = (SERVICE_CODE / image["context"] / "Dockerfile").read_text()
        port = image.get("port", manifest()["defaults"]["port"])
        assert f"EXPOSE {port}" in text
        if port == 8080:
            assert '"--port", "8080"' in text and '"0.0.0.0"' in text


def test_manifest_agrees_with_the_pulumi_catalog() -> None:
    """stacks/catalog.yaml (read by the Pulumi images component) and images.yaml
    (read by the build script and these tests) describe the same build graph."""
    import yaml

    catalog = yaml.safe_load((SERVICE_CODE.parent / "stacks" / "catalog.yaml").read_text())
    ours = {i["name"]: i for i in manifest()["images"]}
    bases = {b["name"]: b.get("parent") or "root" for b in catalog["base_images"]}
    assert bases == {n: i["parent"] for n, i in ours.items() if i["kind"] == "base"}
    built = {n: s for n, s in catalog["services"].items() if s.get("build")}
    assert {n: (s["build"]["path"], s["build"]["base"]) for n, s in built.items()} == {
        n: (i["context"], i["parent"]) for n, i in ours.items() if i["kind"] == "service"
    }
    defaults = manifest()["defaults"]
    for name, spec in built.items():
        image = {**defaults, **ours[name]}
        assert (spec["uid"], spec["gid"]) == (image["uid"], image["gid"]), name
        assert spec["ports"][0]["port"] == image["port"], name
        writable = set(spec["writable_paths"]) | (
            {spec["storage"]["path"]} if "storage" in spec else set()
        )
        assert writable == set(image["writable"]), name
