"""Every rendered Kubernetes object passes the Kubernetes 1.31 schemas (strict) and checkov,
with only the reasoned skips of scripts/checkov-skips.yaml."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.kubernetes import plan_views

pytestmark = pytest.mark.validators

PROJECT_DIR = Path(__file__).resolve().parents[2]
SCRIPT = PROJECT_DIR / "scripts" / "validate_manifests.py"
CHECKOV = PROJECT_DIR / ".venv-checkov" / "bin" / "checkov"


@pytest.fixture(scope="module")
def plan_file(prod_plan_json: dict[str, Any], tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("validators") / "plan-prod.json"
    path.write_text(json.dumps(prod_plan_json))
    return path


@pytest.fixture(scope="module")
def manifest_dir(
    prod_manifests: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, list[Path]]:
    out = tmp_path_factory.mktemp("manifests")
    paths = plan_views.validate_script().write_manifests(prod_manifests, out)
    return out, paths


def test_manifests_are_plain_kubernetes_objects(prod_manifests: list[dict[str, Any]]) -> None:
    kinds = {m["kind"] for m in prod_manifests}
    assert {"Deployment", "StatefulSet", "NetworkPolicy", "Ingress", "DaemonSet"} <= kinds
    assert all(m["apiVersion"] and m["metadata"]["name"] for m in prod_manifests)
    text = json.dumps(prod_manifests)
    assert "4dabf18193072939515e22adb298388d" not in text  # secrets unwrapped

    def floats(value: Any) -> list[float]:
        if isinstance(value, dict):
            return [f for v in value.values() for f in floats(v)]
        if isinstance(value, list):
            return [f for v in value for f in floats(v)]
        return [value] if isinstance(value, float) else []

    assert floats(prod_manifests) == []  # engine floats are ints again


def test_kubernetes_validate_strict_accepts_every_manifest(
    manifest_dir: tuple[Path, list[Path]],
) -> None:
    _, paths = manifest_dir
    assert len(paths) > 100
    problems = plan_views.validate_script().kubernetes_validate(paths, "1.31")
    assert problems == []


def test_kubernetes_validate_catches_a_wrong_field(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "apiVersion: v1\nkind: Service\nmetadata: {name: x, namespace: y}\n"
        "spec:\n  ports: [{port: 80, targetPortt: 80}]\n"
    )
    problems = plan_views.validate_script().kubernetes_validate([bad], "1.31")
    assert problems and "targetPortt" in " ".join(problems)


def test_every_checkov_skip_has_a_reason_and_a_scope() -> None:
    module = plan_views.validate_script()
    skips = module.load_skips()
    assert skips
    for skip in skips:
        assert len(skip.reason) > 40, skip.check
    device_plugin = [s for s in skips if "nvidia-device-plugin" in " ".join(s.resources)]
    assert all(
        s.covers(s.check, "DaemonSet.kube-system.nvidia-device-plugin") for s in device_plugin
    )
    assert not any(
        s.covers(s.check, "Deployment.sutazai-core.backend")
        for s in skips
        if s.check in ("CKV_K8S_23", "CKV_K8S_22", "CKV_K8S_38")
    )


def test_checkov_passes_with_only_the_listed_skips(plan_file: Path, tmp_path: Path) -> None:
    if not CHECKOV.exists():
        pytest.skip(
            ".venv-checkov is missing: python3 -m venv .venv-checkov && "
            ".venv-checkov/bin/pip install -r requirements-checkov.txt (make setup; CI creates it)"
        )
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--plan", str(plan_file), "--out", str(tmp_path / "m")],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "kubernetes-validate --strict (1.31): all valid" in result.stdout
    assert ", 0 failed" in result.stdout
