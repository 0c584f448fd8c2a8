"""Every committed stack file plans offline and passes the policy pack's mandatory rules.

dev and prod are covered in depth elsewhere; this keeps the other stack files
(the shared dev cluster, the kubernetes ephemeral template) from rotting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stacks.policy_check import analyze_resources, config_for_stack, mandatory
from tests.conftest import load_plan
from tests.test_prod_stack import ROUTE, assert_vault_routes

PROJECT_DIR = Path(__file__).resolve().parent.parent
OTHER_STACKS = sorted(
    p.name.removeprefix("Pulumi.").removesuffix(".yaml")
    for p in PROJECT_DIR.glob("Pulumi.*.yaml")
    if p.name not in ("Pulumi.dev.yaml", "Pulumi.prod.yaml")
)
# sutazai:vaultCidrs of both kubernetes dev stacks.
VAULT = "10.30.8.0/24"
# sutazai:vaultRouteTarget of the shared dev cluster (k8s-dev has no VPC, so no target).
VAULT_ROUTE_TARGET = "tgw-0a1b2c3d4e5f60718"


def test_the_kubernetes_dev_stacks_are_committed() -> None:
    assert {"dev-cluster", "k8s-dev"} <= set(OTHER_STACKS)


@pytest.mark.parametrize("stack", OTHER_STACKS)
def test_stack_file_plans_and_passes_mandatory_policies(stack: str, tmp_path: Path) -> None:
    plan = load_plan(stack, tmp_path)
    assert plan["resources"], f"{stack} registered nothing"
    violations = mandatory(analyze_resources(plan["resources"], stack, config_for_stack(stack)[1]))
    assert violations == [], "\n".join(str(v) for v in violations)


def test_ephemeral_template_deploys_into_the_shared_cluster(tmp_path: Path) -> None:
    plan = load_plan("k8s-dev", tmp_path)
    types = {r["type"] for r in plan["resources"]}
    assert "pulumi:pulumi:StackReference" in types
    assert "aws:eks/cluster:Cluster" not in types
    assert "aws:ec2/vpc:Vpc" not in types


# ── the shared dev cluster and the kubernetes ephemeral template, in depth ───────────────


@pytest.fixture(scope="module")
def dev_cluster(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return load_plan("dev-cluster", tmp_path_factory.mktemp("dev-cluster"))["resources"]


@pytest.fixture(scope="module")
def k8s_dev(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, Any]]:
    return load_plan("k8s-dev", tmp_path_factory.mktemp("k8s-dev"))["resources"]


def _of_type(resources: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["type"] == type_]


def _vault_egress(resources: list[dict[str, Any]]) -> set[tuple[str, int]]:
    """(CIDR, port) of every NetworkPolicy egress rule on Vault's port."""
    found = set()
    for policy in _of_type(resources, "kubernetes:networking.k8s.io/v1:NetworkPolicy"):
        for rule in policy["inputs"]["spec"].get("egress", []):
            ports = {int(p["port"]) for p in rule.get("ports", [])}
            if 8200 in ports:
                found |= {(t["ipBlock"]["cidr"], 8200) for t in rule["to"] if "ipBlock" in t}
    return found


def test_dev_cluster_lets_vault_reach_its_api_and_has_no_data_path_for_it(
    dev_cluster: list[dict[str, Any]],
) -> None:
    from_vault = [
        r
        for r in dev_cluster
        # Ingress only: the CI runner's egress to Vault (8200) is a way out, not in.
        if r["type"] == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
        and r["inputs"].get("cidrIpv4") == VAULT
    ]
    assert [(r["name"], int(r["inputs"]["fromPort"])) for r in from_vault] == [
        ("sutazai-dev-cluster-network-mgmt-api-from-vault-0", 443)
    ]
    # No RDS outside prod: the data NACL admits the VPC alone.
    (nacl,) = _of_type(dev_cluster, "aws:ec2/networkAcl:NetworkAcl")
    rules = nacl["inputs"]["ingress"] + nacl["inputs"]["egress"]
    assert {r["cidrBlock"] for r in rules} == {"10.50.0.0/16"}
    assert _vault_egress(dev_cluster) == {(VAULT, 8200)}


def test_dev_cluster_routes_vault_replies_through_its_transit_gateway(
    dev_cluster: list[dict[str, Any]],
) -> None:
    assert_vault_routes(dev_cluster, {VAULT}, VAULT_ROUTE_TARGET)
    # Three zones: the data table and three application and three management tables.
    assert (
        len(
            [
                r
                for r in _of_type(dev_cluster, ROUTE)
                if r["inputs"]["destinationCidrBlock"] == VAULT
            ]
        )
        == 7
    )


def test_ephemeral_template_adds_no_routes(k8s_dev: list[dict[str, Any]]) -> None:
    """vaultCidrs without vaultRouteTarget (and no VPC of its own): no route to anything."""
    assert _of_type(k8s_dev, ROUTE) == []


def test_dev_cluster_pods_wait_for_the_injector_and_their_storage(
    dev_cluster: list[dict[str, Any]],
) -> None:
    by_urn = {r["urn"]: r for r in dev_cluster}
    (webhook,) = [
        w
        for w in _of_type(
            dev_cluster, "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration"
        )
        if "vault-injector" in w["name"]
    ]
    (storage,) = _of_type(dev_cluster, "kubernetes:storage.k8s.io/v1:StorageClass")
    for pod in _of_type(dev_cluster, "kubernetes:apps/v1:StatefulSet"):
        deps = {by_urn[d]["type"] for d in pod["dependencies"]}
        assert storage["urn"] in pod["dependencies"], pod["name"]
        assert "aws:eks/addon:Addon" in deps, pod["name"]
        annotations = pod["inputs"]["spec"]["template"]["metadata"].get("annotations", {})
        if annotations.get("vault.hashicorp.com/agent-inject") == "true":
            assert webhook["urn"] in pod["dependencies"], pod["name"]
            assert "vault:kubernetes/authBackendRole:AuthBackendRole" in deps, pod["name"]
            assert "vault:kv/secretV2:SecretV2" in deps, pod["name"]


def test_ephemeral_template_reaches_vault_at_its_cidrs_and_waits_for_its_entries(
    k8s_dev: list[dict[str, Any]],
) -> None:
    assert _vault_egress(k8s_dev) == {(VAULT, 8200)}
    by_urn = {r["urn"]: r for r in k8s_dev}
    # The injector is the shared cluster's (vaultInjector: existing); volumes its StorageClass.
    assert not _of_type(
        k8s_dev, "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration"
    )
    postgres = next(
        r
        for r in _of_type(k8s_dev, "kubernetes:apps/v1:StatefulSet")
        if r["name"].endswith("-postgres")
    )
    deps = {by_urn[d]["type"] for d in postgres["dependencies"]}
    assert {"vault:index/policy:Policy", "vault:kv/secretV2:SecretV2"} <= deps
    assert "vault:kubernetes/authBackendRole:AuthBackendRole" in deps
