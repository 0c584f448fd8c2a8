"""Views over a recorded offline plan that the Kubernetes/EKS tests share."""

from __future__ import annotations

import importlib.util
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

from stacks.catalog import Catalog, load_catalog
from stacks.composition import effective_catalog
from stacks.config import StackConfig, parse_config_bag
from stacks.netpol import Evaluator, Pod
from stacks.plan import stack_config_bag

PROJECT_DIR = Path(__file__).resolve().parents[2]
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")


@cache
def validate_script() -> ModuleType:
    """scripts/validate_manifests.py as a module (scripts/ is not a package)."""
    path = PROJECT_DIR / "scripts" / "validate_manifests.py"
    spec = importlib.util.spec_from_file_location("validate_manifests", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def stack_model(stack: str) -> tuple[StackConfig, Catalog]:
    """The stack's config and the catalog it deploys (overrides applied)."""
    bag, _ = stack_config_bag(stack)
    config = parse_config_bag(bag)
    return config, effective_catalog(load_catalog(), config)


def manifests(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return validate_script().manifests_from_plan(plan)


def key(manifest: dict[str, Any]) -> tuple[str, str, str]:
    meta = manifest["metadata"]
    return manifest["kind"], meta.get("namespace", ""), meta["name"]


def pod_spec(manifest: dict[str, Any]) -> dict[str, Any]:
    if manifest["kind"] == "Pod":
        return manifest["spec"]
    if manifest["kind"] == "CronJob":
        return manifest["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    return manifest["spec"]["template"]["spec"]


def workloads(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in items if m["kind"] in WORKLOAD_KINDS]


def all_containers(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [
        (kind, container)
        for kind in ("initContainers", "containers", "ephemeralContainers")
        for container in spec.get(kind) or []
    ]


def evaluator(items: list[dict[str, Any]]) -> tuple[Evaluator, dict[str, Pod]]:
    """The policies of a plan, and one pod per rendered workload (keyed by app name)."""
    policies = [m for m in items if m["kind"] == "NetworkPolicy"]
    namespaces = {
        m["metadata"]["name"]: m["metadata"].get("labels", {})
        for m in items
        if m["kind"] == "Namespace"
    }
    pods: dict[str, Pod] = {}
    for m in workloads(items):
        template = (
            m["spec"]["jobTemplate"]["spec"]["template"]
            if m["kind"] == "CronJob"
            else m["spec"]["template"]
        )
        labels = template["metadata"].get("labels", {})
        name = labels.get("app.kubernetes.io/name", m["metadata"]["name"])
        pods[name] = Pod(namespace=m["metadata"]["namespace"], labels=labels, name=name)
    pods["kube-dns"] = Pod(namespace="kube-system", labels={"k8s-app": "kube-dns"}, name="kube-dns")
    return Evaluator(policies, namespaces), pods
