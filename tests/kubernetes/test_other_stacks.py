"""Kubernetes stacks other than prod: an ephemeral stack on the shared dev cluster, and a
non-prod stack with a cluster of its own. Both must be destroyable: nothing protected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import load_plan
from tests.kubernetes import plan_views

EPHEMERAL = """
config:
  sutazai:platform: kubernetes
  sutazai:environment: dev
  sutazai:vaultAddress: https://vault.ops.sutazai.example.com:8200
  sutazai:imageTag: dev
  sutazai:ollamaModels: [tinyllama]
  sutazai:domain: alice.dev.sutazai.example.com
  sutazai:sharedClusterStack: sutazai/sutazai/dev-shared
  sutazai:ephemeralOwner: alice
  sutazai:ephemeralExpiresAt: "2030-01-01T00:00:00Z"
  sutazai:disabledTiers: [agent, platform, monitoring]
"""

OWN_CLUSTER = """
config:
  sutazai:platform: kubernetes
  sutazai:environment: dev
  sutazai:vaultAddress: https://vault.ops.sutazai.example.com:8200
  sutazai:imageTag: dev
  sutazai:domain: staging.sutazai.example.com
"""


@pytest.fixture(scope="module")
def ephemeral(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory = tmp_path_factory.mktemp("ephemeral")
    stack_file = directory / "Pulumi.dev-alice.yaml"
    stack_file.write_text(EPHEMERAL)
    return load_plan("dev-alice", directory, stack_file)


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    directory: Path = tmp_path_factory.mktemp("staging")
    stack_file = directory / "Pulumi.staging.yaml"
    stack_file.write_text(OWN_CLUSTER)
    return load_plan("staging", directory, stack_file)


def types(plan: dict[str, Any]) -> set[str]:
    return {r["type"] for r in plan["resources"]}


def test_ephemeral_stack_deploys_into_namespaces_named_after_it(ephemeral: dict[str, Any]) -> None:
    manifests = plan_views.manifests(ephemeral)
    namespaces = {m["metadata"]["name"] for m in manifests if m["kind"] == "Namespace"}
    assert {"dev-alice-data", "dev-alice-core", "dev-alice-vector"} <= namespaces
    for manifest in manifests:
        namespace = manifest["metadata"].get("namespace")
        if namespace is not None:
            assert namespace.startswith("dev-alice-"), plan_views.key(manifest)


def test_ephemeral_stack_shares_the_cluster_and_keeps_nothing(ephemeral: dict[str, Any]) -> None:
    assert not {t for t in types(ephemeral) if t.startswith("aws:ec2/") or t.startswith("aws:eks/")}
    assert "kubernetes:storage.k8s.io/v1:StorageClass" not in types(ephemeral)
    assert not [r["name"] for r in ephemeral["resources"] if r["protect"]]
    # in-cluster PostgreSQL and Redis (no managed services outside prod)
    names = {m["metadata"]["name"] for m in plan_views.workloads(plan_views.manifests(ephemeral))}
    assert {"postgres", "redis"} <= names
    for statefulset in (m for m in plan_views.manifests(ephemeral) if m["kind"] == "StatefulSet"):
        retention = statefulset["spec"]["persistentVolumeClaimRetentionPolicy"]
        assert retention == {"whenDeleted": "Delete", "whenScaled": "Delete"}


def test_non_prod_cluster_has_one_nat_and_nothing_protected(own_cluster: dict[str, Any]) -> None:
    resources = own_cluster["resources"]
    nats = [r for r in resources if r["type"] == "aws:ec2/natGateway:NatGateway"]
    assert len(nats) == 1
    assert not [r["name"] for r in resources if r["protect"]]
    storage = next(r for r in resources if r["type"] == "kubernetes:storage.k8s.io/v1:StorageClass")
    assert storage["inputs"]["reclaimPolicy"] == "Delete"
    cluster = next(r for r in resources if r["type"] == "aws:eks/cluster:Cluster")
    assert cluster["inputs"]["deletionProtection"] is False
    assert "aws:rds/instance:Instance" not in types(own_cluster)
