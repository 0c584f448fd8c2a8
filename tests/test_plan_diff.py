"""The comparisons behind `make diff`, on small hand-made plans: each check is fed the
shapes that could slip past it (secrets in unnamed list items, encoded secrets, rules in
other resource shapes, policies it cannot read, prices it does not have)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest

from stacks import cost, plan_diff
from stacks.plan_diff import SECRET_SIG

PASSWORD = "hunter2-very-secret-value"


def secret(value: Any) -> dict[str, Any]:
    return {SECRET_SIG: "1b47061264138c4ac30d75fd1eb44270", "value": value}


def res(
    type_: str, name: str, inputs: dict[str, Any], parent: str = "", **options: Any
) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:prod::sutazai::{type_}::{name}",
        "type": type_, "name": name, "parent": parent, "custom": True,
        "protect": False, "retain_on_delete": False, "inputs": inputs, **options,
    }  # fmt: skip


def plan(*resources: dict[str, Any], outputs: dict[str, Any] | None = None) -> dict[str, Any]:
    return {"project": "sutazai", "stack": "prod", "resources": list(resources),
            "outputs": outputs or {}}  # fmt: skip


# ── secrets ─────────────────────────────────────────────────────────────────────────────


def _rendered(base: dict[str, Any], head: dict[str, Any]) -> str:
    lines = []
    for change in plan_diff.resource_changes(base, head):
        lines += [p.render() for p in change.properties] + change.documents
    values, words = plan_diff.secret_strings(base, head)
    return plan_diff.scrub("\n".join(lines), values, words)


@pytest.mark.parametrize(
    "shape",
    [
        lambda v: {"password": secret(v)},
        lambda v: {"uploads": [{"content": secret(v), "owner": "0"}]},  # unnamed list item
        lambda v: {"env": [secret(v)]},
        lambda v: {"dataJson": secret('{"password": "' + v + '"}')},
        lambda v: {"deep": {"list": [[{"x": secret({"nested": v})}]]}},
    ],
)
def test_a_changed_secret_is_reported_but_never_printed(shape: Any) -> None:
    type_ = "vault:kv/secretV2:SecretV2"
    base = plan(res(type_, "s", shape(PASSWORD)))
    head = plan(res(type_, "s", shape(PASSWORD + "-rotated")))
    text = _rendered(base, head)
    assert "[secret]" in text
    assert "hunter2" not in text and PASSWORD[:10] not in text


def test_secret_values_are_scrubbed_in_their_encoded_forms_too() -> None:
    forms = [
        PASSWORD,
        base64.b64encode(PASSWORD.encode()).decode(),
        hashlib.sha256(PASSWORD.encode()).hexdigest(),
        hashlib.md5(PASSWORD.encode()).hexdigest(),
    ]
    text = plan_diff.scrub(" | ".join(forms), {PASSWORD})
    assert text == " | ".join(["[secret]"] * 4)


def test_a_secret_that_also_leaks_in_the_clear_is_still_hidden() -> None:
    leaky = plan(
        res("random:index/randomPassword:RandomPassword", "p", {"result": secret(PASSWORD)}),
        res("kubernetes:core/v1:ConfigMap", "c", {"data": {"PASSWORD": PASSWORD}}),
    )
    values, _ = plan_diff.secret_strings(leaky)
    assert PASSWORD in values


def test_plain_words_inside_a_secret_document_stay_readable() -> None:
    kubeconfig = secret('{"region": "us-east-1", "token": "' + PASSWORD + '"}')
    p = plan(
        res("aws:eks/cluster:Cluster", "eks", {"region": "us-east-1"}),
        outputs={"kubeconfig": kubeconfig},
    )
    values, words = plan_diff.secret_strings(p)
    assert PASSWORD in words and "us-east-1" not in values | words


def test_secure_stack_config_values_are_compared_not_shown() -> None:
    old = plan_diff.flatten_config({"sutazai:token": {"secure": "v1:AAAA"}, "sutazai:x": 1})
    new = plan_diff.flatten_config({"sutazai:token": {"secure": "v1:BBBB"}, "sutazai:x": 1})
    change = plan_diff.PropertyChange("sutazai:token", old["sutazai:token"], new["sutazai:token"])
    assert old["sutazai:token"] != new["sutazai:token"]
    assert change.render() == "`sutazai:token`: [secret] changed"


# ── resource changes ────────────────────────────────────────────────────────────────────


def test_an_inserted_rule_is_one_added_element_not_shifted_indexes() -> None:
    rule = {"ports": [{"port": 80.0}], "from": [{"podSelector": {}}]}
    other = {"ports": [{"port": 443.0}], "from": [{"podSelector": {}}]}
    type_ = "kubernetes:networking.k8s.io/v1:NetworkPolicy"
    base = plan(res(type_, "np", {"kind": "NetworkPolicy", "spec": {"ingress": [rule]}}))
    head = plan(res(type_, "np", {"kind": "NetworkPolicy", "spec": {"ingress": [other, rule]}}))
    (change,) = plan_diff.resource_changes(base, head)
    assert all(p.before is plan_diff.MISSING for p in change.properties)


def test_replacements_are_named_with_the_input_that_forces_them() -> None:
    type_ = "aws:rds/instance:Instance"
    base = plan(res(type_, "db", {"instanceClass": "db.r6g.large", "dbName": "a"}))
    head = plan(res(type_, "db", {"instanceClass": "db.r6g.large", "dbName": "b"}))
    (change,) = plan_diff.resource_changes(base, head)
    assert change.kind == "replaced" and "`dbName`" in change.reason


def test_a_new_parent_is_a_replacement_not_an_add_and_a_remove() -> None:
    base = plan(res("aws:kms/key:Key", "k", {}))
    moved = res("aws:kms/key:Key", "k", {})
    moved["urn"] = "urn:pulumi:prod::sutazai::sutazai:x:X$aws:kms/key:Key::k"
    (change,) = plan_diff.resource_changes(base, plan(moved))
    assert change.kind == "replaced" and "URN" in change.reason


def test_long_documents_are_diffed_as_text() -> None:
    type_ = "vault:index/policy:Policy"
    text = "\n".join(f'path "kv/data/{i}" {{\n  capabilities = ["read"]\n}}' for i in range(5))
    base = plan(res(type_, "p", {"policy": text}))
    head = plan(res(type_, "p", {"policy": text.replace("kv/data/3", "kv/data/*")}))
    (change,) = plan_diff.resource_changes(base, head)
    (document,) = change.documents
    assert '-path "kv/data/3" {' in document and '+path "kv/data/*" {' in document


# ── flows ───────────────────────────────────────────────────────────────────────────────


def workload(name: str, namespace: str, port: int) -> dict[str, Any]:
    labels = {"app.kubernetes.io/name": name}
    return res("kubernetes:apps/v1:Deployment", name, {
        "kind": "Deployment", "metadata": {"name": name, "namespace": namespace},
        "spec": {"template": {"metadata": {"labels": labels}, "spec": {"containers": [
            {"name": name, "ports": [{"containerPort": float(port), "name": "http"}]}]}}},
    })  # fmt: skip


def netpol(name: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return res("kubernetes:networking.k8s.io/v1:NetworkPolicy", name, {
        "kind": "NetworkPolicy", "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    })  # fmt: skip


DENY = {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]}


def to(name: str, namespace: str) -> dict[str, Any]:
    return {
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": name}},
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}},
    }


def test_a_flow_needs_egress_and_ingress_and_named_ports_resolve() -> None:
    a_out = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "a"}},
             "policyTypes": ["Egress"],
             "egress": [{"to": [to("b", "n2")], "ports": [{"port": "http"}]}]}  # fmt: skip
    b_in = {"podSelector": {"matchLabels": {"app.kubernetes.io/name": "b"}},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": [to("a", "n1")], "ports": [{"port": 9000.0}]}]}  # fmt: skip
    only_egress = plan(workload("a", "n1", 8080), workload("b", "n2", 9000),
                       netpol("d1", "n1", DENY), netpol("d2", "n2", DENY),
                       netpol("a", "n1", a_out))  # fmt: skip
    assert "a → b:9000/TCP" not in plan_diff.kubernetes_flows(only_egress)
    both = plan(*only_egress["resources"], netpol("b", "n2", b_in))
    assert "a → b:9000/TCP" in plan_diff.kubernetes_flows(both)


def test_egress_to_addresses_outside_the_cluster_is_a_flow() -> None:
    spec = {"podSelector": {}, "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8"]}}],
                        "ports": [{"port": 443.0, "protocol": "TCP"}]}]}  # fmt: skip
    flows = plan_diff.kubernetes_flows(plan(workload("a", "n1", 80), netpol("x", "n1", spec)))
    assert "a → 0.0.0.0/0 except 10.0.0.0/8:443/TCP" in flows


@pytest.mark.parametrize(
    ("type_", "inputs", "flow"),
    [
        ("aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
         {"securityGroupId": "db-id", "referencedSecurityGroupId": "app-id",
          "fromPort": 5432.0, "toPort": 5432.0, "ipProtocol": "tcp"},
         "sg:app → sg:db:5432/tcp"),
        ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
         {"securityGroupId": "app-id", "cidrIpv4": "0.0.0.0/0", "ipProtocol": "-1"},
         "sg:app → 0.0.0.0/0:any"),
        ("aws:ec2/securityGroupRule:SecurityGroupRule",
         {"type": "ingress", "securityGroupId": "db-id", "cidrBlocks": ["10.0.0.0/16"],
          "fromPort": 6379.0, "toPort": 6380.0, "protocol": "tcp"},
         "10.0.0.0/16 → sg:db:6379-6380/tcp"),
    ],
)  # fmt: skip
def test_security_group_rules_in_every_shape_are_flows(
    type_: str, inputs: dict[str, Any], flow: str
) -> None:
    sgs = [res("aws:ec2/securityGroup:SecurityGroup", n, {}) for n in ("app", "db")]
    assert flow in plan_diff.security_group_flows(plan(*sgs, res(type_, "r", inputs)))


def test_inline_security_group_rules_are_flows_and_world_ingress_is_exposure() -> None:
    group = res("aws:ec2/securityGroup:SecurityGroup", "web", {
        "ingress": [{"cidrBlocks": ["0.0.0.0/0"], "fromPort": 22.0, "toPort": 22.0,
                     "protocol": "tcp"}]})  # fmt: skip
    p = plan(group)
    assert "0.0.0.0/0 → sg:web:22/tcp" in plan_diff.security_group_flows(p)
    assert "security group allows 0.0.0.0/0 → sg:web:22/tcp" in plan_diff.exposure(p)


def test_docker_containers_sharing_a_network_reach_each_other() -> None:
    def container(name: str, networks: list[str]) -> dict[str, Any]:
        return res("docker:index/container:Container", name, {
            "name": name, "labels": [{"label": "ai.sutazai.service", "value": name}],
            "networksAdvanced": [{"name": n} for n in networks]})  # fmt: skip

    p = plan(
        res("docker:index/network:Network", "data", {"name": "data", "internal": True}),
        res("docker:index/network:Network", "app", {"name": "app", "internal": False}),
        container("api", ["data", "app"]), container("db", ["data"]),
    )  # fmt: skip
    flows = plan_diff.docker_flows(p)
    assert {"api → db:any (network data)", "db → api:any (network data)"} <= flows
    assert "api → outside (network app is not internal)" in flows
    assert not any(f.startswith("db → outside") for f in flows)


# ── Vault, hardening, protection ────────────────────────────────────────────────────────


def test_vault_grants_per_service_and_unreadable_policies_are_said() -> None:
    role = res("vault:kubernetes/authBackendRole:AuthBackendRole", "r",
               {"roleName": "backend", "tokenPolicies": ["p-backend"]})  # fmt: skip
    policy = 'path "kv/data/backend/*" {\n  capabilities = ["read", "list"]\n}\n'
    odd = policy + 'path "kv/x" {\n  capabilities = ["read"]\n  allowed_parameters = {}\n}\n'
    ok = plan(role, res("vault:index/policy:Policy", "p", {"name": "p-backend", "policy": policy}))
    assert plan_diff.vault_grants(ok) == {
        "backend: read `kv/data/backend/*`",
        "backend: list `kv/data/backend/*`",
    }
    unreadable = plan(role, res("vault:index/policy:Policy", "p",
                                {"name": "p-backend", "policy": odd}))  # fmt: skip
    assert "backend: policy p-backend has rules this review cannot read" in (
        plan_diff.vault_grants(unreadable)
    )
    hidden = plan(role, res("vault:index/policy:Policy", "p",
                            {"name": "p-backend", "policy": secret(policy)}))  # fmt: skip
    assert any("cannot read" in f for f in plan_diff.vault_grants(hidden))


@pytest.mark.parametrize(
    ("fact", "before", "after", "worse"),
    [
        ("readOnlyRootFilesystem", True, False, True),
        ("runAsNonRoot", True, False, True),
        ("allowPrivilegeEscalation", False, True, True),
        ("capabilities.add", [], ["NET_ADMIN"], True),
        ("capabilities.drop", ["ALL"], [], True),
        ("capabilities.drop", [], ["ALL"], False),
        ("user", 10001, 0, True),
        ("user", "10001:10001", "root", True),
        ("user", 10001, 10002, False),
        ("seccomp", "RuntimeDefault", "Unconfined", True),
        ("hostPath", [], ["/var/run/docker.sock"], True),
    ],
)
def test_weakened_hardening_is_told_apart(fact: str, before: Any, after: Any, worse: bool) -> None:
    assert plan_diff.weakened(fact, before, after) is worse


def test_container_hardening_merges_pod_and_container_settings() -> None:
    w = workload("a", "n", 80)
    spec = w["inputs"]["spec"]["template"]["spec"]
    spec["securityContext"] = {"runAsUser": 10001.0, "runAsNonRoot": True}
    spec["containers"][0]["securityContext"] = {"runAsUser": 0.0}
    (facts,) = plan_diff.container_hardening(plan(w)).values()
    assert facts["user"] == 0 and facts["runAsNonRoot"] is True
    assert facts["allowPrivilegeEscalation"] is True  # unset means allowed


def test_protection_lost_in_every_form_is_flagged() -> None:
    db = "aws:rds/instance:Instance"
    base = plan(
        res(db, "db", {"deletionProtection": True, "skipFinalSnapshot": False}, protect=True),
        res("aws:kms/key:Key", "k", {}, protect=True),
        res("kubernetes:storage.k8s.io/v1:StorageClass", "sc", {"reclaimPolicy": "Retain"}),
    )
    head = plan(
        res(db, "db", {"deletionProtection": False, "skipFinalSnapshot": True}),
        res("kubernetes:storage.k8s.io/v1:StorageClass", "sc", {"reclaimPolicy": "Delete"}),
    )
    found = "\n".join(plan_diff.protection_removed(base, head))
    for expected in ("`protect` removed", "`deletionProtection` true → false",
                     "`skipFinalSnapshot` false → true", "`reclaimPolicy` \"Retain\" → \"Delete\"",
                     "aws:kms/key:Key `k`: a protected resource is removed"):  # fmt: skip
        assert expected in found


# ── cost ────────────────────────────────────────────────────────────────────────────────


def test_an_unpriced_type_is_listed_not_counted_as_free() -> None:
    scaling = {"desiredSize": 2.0, "maxSize": 4.0}
    group = res(
        "aws:eks/nodeGroup:NodeGroup", "g", {"instanceTypes": ["x9.mega"], "scalingConfig": scaling}
    )
    estimate = cost.estimate(plan(group), cost.load_prices())
    assert any("x9.mega" in item for item in estimate.unpriced)
    assert not any(i.item == "node group g" for i in estimate.items)


def test_rds_multi_az_doubles_instance_and_storage() -> None:
    prices = cost.load_prices()
    inputs = {"engine": "postgres", "instanceClass": "db.r6g.large", "allocatedStorage": 100.0,
              "storageType": "gp3", "multiAz": True}  # fmt: skip
    items = cost.estimate(plan(res("aws:rds/instance:Instance", "db", inputs)), prices).by_item()
    hour = prices.rds_instance_hour["postgres"]["db.r6g.large"]
    assert items["RDS db"].monthly == pytest.approx(2 * hour * prices.hours_per_month)
    assert items["RDS db storage"].monthly == pytest.approx(
        2 * 100 * prices.rds_storage_gb_month["gp3"]
    )


def test_a_broken_price_table_names_the_key(tmp_path: Path) -> None:
    broken = tmp_path / "prices.yaml"
    text = cost.PRICES.read_text().replace("kms_key_month: 1.0", "kms_key_month: one dollar")
    broken.write_text(text)
    with pytest.raises(ValueError, match="kms_key_month"):
        cost.load_prices(broken)


def test_the_price_table_says_when_and_where_its_prices_come_from() -> None:
    prices = cost.load_prices()
    assert prices.region == "us-east-1" and prices.as_of and "aws.amazon.com" in prices.source


@pytest.mark.parametrize(("text", "value"), [("100Gi", 100.0), ("1Ti", 1024.0),
                                             ("512Mi", 0.5), ("10G", 10e9 / 2**30)])  # fmt: skip
def test_volume_sizes_parse(text: str, value: float) -> None:
    assert cost.gib(text) == pytest.approx(value)


def test_scrubbing_takes_whole_tokens_only() -> None:
    text = f"scalingConfig; postgres://app:{PASSWORD}@db:5432; x_{PASSWORD}_y"
    scrubbed = plan_diff.scrub(text, {PASSWORD}, {"Config"})
    assert scrubbed == "scalingConfig; postgres://app:[secret]@db:5432; x_[secret]_y"
    assert plan_diff.scrub("kind: Config", set(), {"Config"}) == "kind: [secret]"
