"""Static checks of service-code/: hadolint, the hardening contract in each
Dockerfile (user and port from the catalog's run contract), and that the catalog's
build graph (stacks/catalog.yaml) builds exactly the Dockerfiles present."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from .imagelib import SERVICE_CODE, contracts, graph, image_user

DOCKERFILES = sorted(SERVICE_CODE.rglob("Dockerfile"))
HADOLINT = Path(sys.executable).parent / "hadolint"


def rel(p: Path) -> str:
    return str(p.relative_to(SERVICE_CODE))


def test_catalog_builds_every_dockerfile() -> None:
    contexts = [n.context for n in graph()]
    assert sorted(contexts) == sorted(rel(p.parent) for p in DOCKERFILES)
    names = [n.name for n in graph()]
    assert len(names) == len(set(names))
    built: set[str] = {"root"}
    for node in graph():  # parents first
        assert node.parent in built, f"{node.name} comes before its parent {node.parent}"
        built.add(node.name)


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
    node = next(n for n in graph() if n.context == rel(dockerfile.parent))
    user = image_user(node)
    text = dockerfile.read_text()
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    # Chainable: the parent image is a build argument declared before FROM.
    assert lines[0].startswith("ARG BASE_IMAGE=") and lines[1] == "FROM ${BASE_IMAGE}"
    assert text.count("FROM ") == 1
    users = [ln for ln in lines if ln.startswith("USER ")]
    assert users and users[-1] == f"USER {user}", f"final USER must be numeric {user}"
    # Nothing secret baked in, nothing installed at start-up.
    assert not re.search(r"(?i)(password|secret|token)\s*=", text)
    cmd = [ln for ln in lines if ln.startswith("CMD ")]
    if cmd:
        assert cmd[-1].startswith('CMD ["'), "exec-form CMD (signals reach the process)"
        assert "pip install" not in cmd[-1] and "apt-get" not in cmd[-1]
    # buildah #5501: each image copies files of its own, not only build args.
    assert "COPY " in text


def test_services_listen_on_contract_port() -> None:
    nodes = {n.name: n for n in graph()}
    for svc in contracts():
        text = (SERVICE_CODE / nodes[svc.name].context / "Dockerfile").read_text()
        assert f"EXPOSE {svc.port}" in text, svc.name
        if svc.http:
            assert f'"--port", "{svc.port}"' in text and '"0.0.0.0"' in text, svc.name
