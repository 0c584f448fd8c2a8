"""The prod stack (AWS EKS) as the engine would see it: the real program, the real
Pulumi.prod.yaml, run once per session under mocks (`prod_plan_json` in conftest.py runs
`python -m stacks.plan --stack prod --json ...` in a subprocess)."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from stacks.catalog import Catalog, Segment
from stacks.config import GPU_AMI_TYPES, StackConfig
from stacks.plan import SECRET_SIG
from tests.conftest import load_plan
from tests.kubernetes import plan_views

PROJECT_DIR = Path(__file__).resolve().parent.parent
# The only rendered workloads allowed host access: vendor add-ons in kube-system.
# (Kind, namespace, name) -> the host paths they may mount.
HOST_ACCESS_ALLOWED = {
    ("DaemonSet", "kube-system", "nvidia-device-plugin"): {"/var/lib/kubelet/device-plugins"},
}


# ── fixtures and helpers ─────────────────────────────────────────────────────────────────


@pytest.fixture(scope="module")
def model() -> tuple[StackConfig, Catalog]:
    return plan_views.stack_model("prod")


@pytest.fixture(scope="module")
def config(model: tuple[StackConfig, Catalog]) -> StackConfig:
    return model[0]


@pytest.fixture(scope="module")
def catalog(model: tuple[StackConfig, Catalog]) -> Catalog:
    return model[1]


@pytest.fixture(scope="module")
def resources(prod_plan_json: dict[str, Any]) -> list[dict[str, Any]]:
    return prod_plan_json["resources"]


@pytest.fixture(scope="module")
def manifests(prod_plan_json: dict[str, Any]) -> list[dict[str, Any]]:
    return plan_views.manifests(prod_plan_json)


def of_type(resources: list[dict[str, Any]], type_: str) -> list[dict[str, Any]]:
    return [r for r in resources if r["type"] == type_]


def one(resources: list[dict[str, Any]], type_: str, name_part: str = "") -> dict[str, Any]:
    found = [r for r in of_type(resources, type_) if name_part in r["name"]]
    assert len(found) == 1, (
        f"{len(found)} {type_} matching {name_part!r}: {[r['name'] for r in found]}"
    )
    return found[0]


def is_secret(value: Any) -> bool:
    return isinstance(value, dict) and SECRET_SIG in value


def resource_id(resource: dict[str, Any]) -> str:
    return f"{resource['name']}-id"  # the mock id of every resource


# ── services ─────────────────────────────────────────────────────────────────────────────


def test_every_enabled_service_runs_as_a_workload_or_its_managed_equivalent(
    catalog: Catalog, manifests: list[dict[str, Any]], resources: list[dict[str, Any]]
) -> None:
    rendered = {plan_views.key(m) for m in plan_views.workloads(manifests)}
    rds = {r["inputs"]["identifier"] for r in of_type(resources, "aws:rds/instance:Instance")}
    caches = {
        r["inputs"]["replicationGroupId"]
        for r in of_type(resources, "aws:elasticache/replicationGroup:ReplicationGroup")
    }
    missing = []
    for spec in catalog:
        if spec.managed_in_prod is not None:
            managed = rds if spec.managed_in_prod.kind == "rds-postgresql" else caches
            if not any(name.endswith(f"-{spec.name}") for name in managed):
                missing.append(f"{spec.name} (managed {spec.managed_in_prod.kind})")
            continue
        kind = "StatefulSet" if spec.storage else "Deployment"
        if (kind, f"sutazai-{spec.tier.value}", spec.name) not in rendered:
            missing.append(f"{spec.name} ({kind} in sutazai-{spec.tier.value})")
    assert not missing, f"not deployed: {missing}"


def test_managed_services_are_not_also_workloads(
    catalog: Catalog, manifests: list[dict[str, Any]]
) -> None:
    names = {plan_views.key(m)[2] for m in plan_views.workloads(manifests)}
    managed = {s.name for s in catalog if s.managed_in_prod}
    assert managed == {"postgres", "redis"}
    assert not managed & names


def test_every_container_and_init_container_is_hardened(
    catalog: Catalog, manifests: list[dict[str, Any]]
) -> None:
    problems = []
    for manifest in plan_views.workloads(manifests):
        kind, namespace, name = plan_views.key(manifest)
        if (kind, namespace, name) in HOST_ACCESS_ALLOWED:
            continue
        spec = plan_views.pod_spec(manifest)
        pod = spec.get("securityContext", {})
        containers = plan_views.all_containers(spec)
        assert containers, f"{name} has no containers"
        for list_name, container in containers:
            sc = container.get("securityContext", {})

            def effective(field: str, sc: dict[str, Any] = sc, pod: dict[str, Any] = pod) -> Any:
                return sc.get(field, pod.get(field))

            where = f"{kind} {namespace}/{name} {list_name} {container['name']}"
            uid = effective("runAsUser")
            if effective("runAsNonRoot") is not True or not isinstance(uid, int) or uid < 1:
                problems.append(f"{where}: not a numeric non-root user ({uid!r})")
            if sc.get("readOnlyRootFilesystem") is not True:
                problems.append(f"{where}: root filesystem writable")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.append(f"{where}: privilege escalation allowed")
            if sc.get("privileged"):
                problems.append(f"{where}: privileged")
            if "ALL" not in (sc.get("capabilities") or {}).get("drop", []):
                problems.append(f"{where}: capabilities not dropped")
            if (sc.get("capabilities") or {}).get("add"):
                problems.append(f"{where}: capabilities added")
            if (effective("seccompProfile") or {}).get("type") != "RuntimeDefault":
                problems.append(f"{where}: seccomp not RuntimeDefault")
            resources = container.get("resources", {})
            for section in ("requests", "limits"):
                for what in ("cpu", "memory"):
                    if what not in resources.get(section, {}):
                        problems.append(f"{where}: no {section}.{what}")
        if name in catalog.services and namespace.startswith("sutazai-"):
            catalog_spec = catalog[name]
            assert pod["runAsUser"] == catalog_spec.uid and pod["fsGroup"] == catalog_spec.gid
            main = spec["containers"][0]
            assert {"livenessProbe", "readinessProbe"} <= set(main), f"{name} lacks probes"
            if catalog_spec.health.startup_seconds:
                assert "startupProbe" in main, f"{name} lacks its startup probe"
    assert not problems, "\n".join(problems)


def test_writable_paths_are_exactly_the_catalogs(
    catalog: Catalog, manifests: list[dict[str, Any]]
) -> None:
    for manifest in plan_views.workloads(manifests):
        name = manifest["metadata"]["name"]
        if name not in catalog.services or manifest["metadata"]["namespace"] == "kube-system":
            continue
        spec = catalog[name]
        pod = plan_views.pod_spec(manifest)
        empty_dirs = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        main = pod["containers"][0]
        writable = {
            m["mountPath"]
            for m in main.get("volumeMounts", [])
            if m["name"] in empty_dirs or m["name"] == "data"
        }
        expected = set(spec.writable_paths) | ({spec.storage.path} if spec.storage else set())
        assert writable == expected, name
        if spec.storage:
            claims = manifest["spec"]["volumeClaimTemplates"]
            assert claims[0]["spec"]["resources"]["requests"]["storage"] == spec.storage.size


def test_no_host_access_except_the_listed_vendor_add_ons(manifests: list[dict[str, Any]]) -> None:
    found: dict[tuple[str, str, str], set[str]] = {}
    for manifest in plan_views.workloads(manifests):
        spec = plan_views.pod_spec(manifest)
        host_paths = {v["hostPath"]["path"] for v in spec.get("volumes", []) if "hostPath" in v}
        privileged = any(
            (c.get("securityContext") or {}).get("privileged")
            for _, c in plan_views.all_containers(spec)
        )
        host_ports = any(
            p.get("hostPort")
            for _, c in plan_views.all_containers(spec)
            for p in c.get("ports", [])
        )
        namespaces = any(spec.get(f) for f in ("hostNetwork", "hostPID", "hostIPC"))
        if host_paths or privileged or host_ports or namespaces:
            found[plan_views.key(manifest)] = host_paths
            assert not (privileged or host_ports or namespaces), plan_views.key(manifest)
    assert found == HOST_ACCESS_ALLOWED
    assert all(key[1] == "kube-system" for key in found)


def test_tier_namespaces_enforce_pss_restricted_and_deny_by_default(
    catalog: Catalog, manifests: list[dict[str, Any]]
) -> None:
    namespaces = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Namespace"}
    denies = {
        m["metadata"]["namespace"]
        for m in manifests
        if m["kind"] == "NetworkPolicy"
        and m["metadata"]["name"] == "default-deny-all"
        and m["spec"]["podSelector"] == {}
        and set(m["spec"]["policyTypes"]) == {"Ingress", "Egress"}
    }
    for tier in {s.tier for s in catalog}:
        name = f"sutazai-{tier.value}"
        labels = namespaces[name]["metadata"]["labels"]
        for mode in ("enforce", "audit", "warn"):
            assert labels[f"pod-security.kubernetes.io/{mode}"] == "restricted"
        assert name in denies


def test_every_workload_has_its_service_account_without_a_token(
    catalog: Catalog, manifests: list[dict[str, Any]]
) -> None:
    accounts = {
        (m["metadata"]["namespace"], m["metadata"]["name"]): m
        for m in manifests
        if m["kind"] == "ServiceAccount"
    }
    for manifest in plan_views.workloads(manifests):
        _, namespace, name = plan_views.key(manifest)
        if name not in catalog.services:
            continue
        spec = plan_views.pod_spec(manifest)
        account = accounts[(namespace, spec["serviceAccountName"])]
        token = catalog[name].exempt_from("kube-api-token")
        assert account["automountServiceAccountToken"] is token, name
        assert spec["automountServiceAccountToken"] is token, name


def test_replicated_services_have_disruption_budgets_and_critical_ones_spread(
    catalog: Catalog, manifests: list[dict[str, Any]]
) -> None:
    budgets = {m["metadata"]["name"] for m in manifests if m["kind"] == "PodDisruptionBudget"}
    for manifest in plan_views.workloads(manifests):
        name = manifest["metadata"]["name"]
        if name not in catalog.services:
            continue
        spec = catalog[name]
        assert manifest["spec"]["replicas"] == spec.replicas
        assert (name in budgets) == (spec.replicas > 1), name
        spread = plan_views.pod_spec(manifest).get("topologySpreadConstraints", [])
        assert bool(spread) == (spec.replicas > 1 and spec.critical), name


# ── GPU ──────────────────────────────────────────────────────────────────────────────────


def test_gpu_node_group_runs_nvidia_ami_tainted_and_labelled(
    resources: list[dict[str, Any]],
) -> None:
    gpu = one(resources, "aws:eks/nodeGroup:NodeGroup", "-gpu")["inputs"]
    general = one(resources, "aws:eks/nodeGroup:NodeGroup", "-general")["inputs"]
    assert gpu["amiType"] in GPU_AMI_TYPES and gpu["amiType"] == "AL2023_x86_64_NVIDIA"
    assert gpu["taints"] == [{"key": "nvidia.com/gpu", "value": "true", "effect": "NO_SCHEDULE"}]
    assert gpu["labels"]["sutazai.io/node-pool"] == "gpu"
    assert general["amiType"] not in GPU_AMI_TYPES and not general.get("taints")
    for group in (gpu, general):
        assert all("-network-application-" in s for s in group["subnetIds"])
    for template in of_type(resources, "aws:ec2/launchTemplate:LaunchTemplate"):
        metadata = template["inputs"]["metadataOptions"]
        assert metadata["httpTokens"] == "required" and metadata["httpPutResponseHopLimit"] == 1
        assert template["inputs"]["blockDeviceMappings"][0]["ebs"]["encrypted"] == "true"


def test_ollama_is_the_only_gpu_workload_and_tolerates_the_taint(
    config: StackConfig, manifests: list[dict[str, Any]]
) -> None:
    gpu_users = []
    for manifest in plan_views.workloads(manifests):
        spec = plan_views.pod_spec(manifest)
        for _, container in plan_views.all_containers(spec):
            limits = container.get("resources", {}).get("limits", {})
            if "nvidia.com/gpu" in limits:
                gpu_users.append(manifest["metadata"]["name"])
    assert gpu_users == ["ollama"]
    ollama = next(
        m for m in manifests if plan_views.key(m) == ("StatefulSet", "sutazai-core", "ollama")
    )
    spec = plan_views.pod_spec(ollama)
    assert {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"} in spec[
        "tolerations"
    ]
    assert spec["nodeSelector"] == {"sutazai.io/node-pool": "gpu"}
    assert spec["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert ollama["spec"]["replicas"] == 2
    assert ollama["spec"]["volumeClaimTemplates"][0]["metadata"]["name"] == "data"
    (preload,) = spec["initContainers"]
    assert preload["command"][-len(config.ollama_models) :] == config.ollama_models
    assert "/models" in {m["mountPath"] for m in preload["volumeMounts"]}
    assert "nvidia.com/gpu" not in preload["resources"]["limits"]


def test_the_device_plugin_runs_on_gpu_nodes_only(manifests: list[dict[str, Any]]) -> None:
    plugin = next(m for m in manifests if m["kind"] == "DaemonSet")
    spec = plan_views.pod_spec(plugin)
    assert plugin["metadata"]["namespace"] == "kube-system"
    assert spec["nodeSelector"] == {"sutazai.io/node-pool": "gpu"}
    assert spec["containers"][0]["image"].startswith("nvcr.io/nvidia/k8s-device-plugin:v")
    assert spec["containers"][0]["securityContext"]["capabilities"]["drop"] == ["ALL"]


# ── cluster ──────────────────────────────────────────────────────────────────────────────


def test_cluster_is_private_logged_encrypted_and_api_authenticated(
    resources: list[dict[str, Any]],
) -> None:
    cluster = one(resources, "aws:eks/cluster:Cluster")
    inputs = cluster["inputs"]
    assert inputs["version"] == "1.31"
    vpc = inputs["vpcConfig"]
    assert vpc["endpointPrivateAccess"] is True and vpc["endpointPublicAccess"] is False
    assert "publicAccessCidrs" not in vpc
    assert all("-network-management-" in s for s in vpc["subnetIds"])
    assert set(inputs["enabledClusterLogTypes"]) == {
        "api",
        "audit",
        "authenticator",
        "controllerManager",
        "scheduler",
    }
    assert inputs["encryptionConfig"]["resources"] == ["secrets"]
    assert inputs["accessConfig"]["authenticationMode"] == "API"
    assert inputs["deletionProtection"] is True and cluster["protect"] is True
    keys = {r["urn"]: r for r in of_type(resources, "aws:kms/key:Key")}
    assert all(k["inputs"]["enableKeyRotation"] is True for k in keys.values())
    oidc = one(resources, "aws:iam/openIdConnectProvider:OpenIdConnectProvider")
    assert oidc["inputs"]["clientIdLists"] == ["sts.amazonaws.com"]


def test_add_ons_are_installed_with_irsa_and_network_policy_enforcement(
    resources: list[dict[str, Any]],
) -> None:
    addons = {
        r["inputs"]["addonName"]: r["inputs"] for r in of_type(resources, "aws:eks/addon:Addon")
    }
    assert set(addons) == {"vpc-cni", "coredns", "kube-proxy", "aws-ebs-csi-driver"}
    assert json.loads(addons["vpc-cni"]["configurationValues"]) == {"enableNetworkPolicy": "true"}
    assert (
        addons["vpc-cni"]["serviceAccountRoleArn"]
        and addons["aws-ebs-csi-driver"]["serviceAccountRoleArn"]
    )
    assert not [r for r in resources if r["type"].startswith("kubernetes:helm.sh/")]
    storage = one(resources, "kubernetes:storage.k8s.io/v1:StorageClass")
    assert storage["protect"] is True
    assert storage["inputs"]["reclaimPolicy"] == "Retain"
    assert storage["inputs"]["parameters"]["encrypted"] == "true"
    assert storage["inputs"]["parameters"]["type"] == "gp3"
    annotations = storage["inputs"]["metadata"]["annotations"]
    assert annotations["storageclass.kubernetes.io/is-default-class"] == "true"


def test_every_kubernetes_resource_uses_the_clusters_provider(
    resources: list[dict[str, Any]],
) -> None:
    provider = one(resources, "pulumi:providers:kubernetes")
    expected = f"{provider['urn']}::{resource_id(provider)}"
    for r in resources:
        if r["type"].startswith("kubernetes:") and r["custom"]:
            assert r["provider"] == expected, f"{r['type']} {r['name']}: {r['provider']!r}"
    assert is_secret(provider["inputs"]["kubeconfig"])


def test_every_aws_resource_uses_the_explicit_provider(
    resources: list[dict[str, Any]], config: StackConfig
) -> None:
    """One provider for the stack's region; the backup copies' vault (and its key) alone use
    the second one, in backup.copyRegion, with the same default tags."""
    providers = {p["inputs"]["region"]: p for p in of_type(resources, "pulumi:providers:aws")}
    assert set(providers) == {"us-east-1", config.backup.copy_region}
    provider, copies = providers["us-east-1"], providers[config.backup.copy_region]
    assert json.loads(provider["inputs"]["defaultTags"])["tags"]["sutazai:environment"] == "prod"
    assert copies["inputs"]["defaultTags"] == provider["inputs"]["defaultTags"]
    expected = f"{provider['urn']}::{resource_id(provider)}"
    in_copy_region = f"{copies['urn']}::{resource_id(copies)}"
    for r in resources:
        if r["type"].startswith("aws:") and r["custom"]:
            if r["name"].endswith("-backup-copy-vault") or r["name"].endswith("copy-vault-lock"):
                assert r["provider"] == in_copy_region, f"{r['type']} {r['name']}"
            else:
                assert r["provider"] == expected, f"{r['type']} {r['name']}"


# ── stateful resources and managed data ─────────────────────────────────────────────────


def test_stateful_resources_are_protected(resources: list[dict[str, Any]]) -> None:
    stateful_types = (
        "aws:rds/instance:Instance",
        "aws:elasticache/replicationGroup:ReplicationGroup",
        "aws:kms/key:Key",
        "aws:s3/bucket:Bucket",
        "aws:s3/bucketV2:BucketV2",
        "aws:cloudwatch/logGroup:LogGroup",
        "aws:eks/cluster:Cluster",
        "aws:ecr/repository:Repository",
        "kubernetes:storage.k8s.io/v1:StorageClass",
        "kubernetes:apps/v1:StatefulSet",
    )
    unprotected = [
        f"{r['type']} {r['name']}"
        for r in resources
        if r["type"] in stateful_types and not r["protect"]
    ]
    assert not unprotected
    assert len(of_type(resources, "aws:kms/key:Key")) >= 4
    for statefulset in of_type(resources, "kubernetes:apps/v1:StatefulSet"):
        policy = statefulset["inputs"]["spec"]["persistentVolumeClaimRetentionPolicy"]
        assert policy == {"whenDeleted": "Retain", "whenScaled": "Retain"}


def test_rds_postgresql_is_multi_az_encrypted_backed_up_and_tls_only(
    resources: list[dict[str, Any]],
) -> None:
    db = one(resources, "aws:rds/instance:Instance")["inputs"]
    assert db["engine"] == "postgres" and db["multiAz"] is True
    assert db["storageEncrypted"] is True and db["kmsKeyId"]
    assert db["backupRetentionPeriod"] >= 7
    assert db["deletionProtection"] is True
    assert db["skipFinalSnapshot"] is False and db["finalSnapshotIdentifier"]
    assert db["performanceInsightsEnabled"] is True and db["performanceInsightsKmsKeyId"]
    assert db["iamDatabaseAuthenticationEnabled"] is True
    assert db["publiclyAccessible"] is False
    assert is_secret(db["password"]) or db.get("manageMasterUserPassword") is True
    group = one(resources, "aws:rds/subnetGroup:SubnetGroup")["inputs"]
    assert group["subnetIds"] and all("-network-data-" in s for s in group["subnetIds"])
    parameters = one(resources, "aws:rds/parameterGroup:ParameterGroup")["inputs"]
    assert {(p["name"], p["value"]) for p in parameters["parameters"]} >= {("rds.force_ssl", "1")}
    assert parameters["family"] == f"postgres{db['engineVersion'].split('.')[0]}"


def test_elasticache_redis_fails_over_encrypts_and_authenticates(
    catalog: Catalog, resources: list[dict[str, Any]]
) -> None:
    group = one(resources, "aws:elasticache/replicationGroup:ReplicationGroup")
    redis = group["inputs"]
    assert redis["automaticFailoverEnabled"] is True and redis["multiAzEnabled"] is True
    assert redis["numCacheClusters"] >= 2
    assert redis["atRestEncryptionEnabled"] is True and redis["kmsKeyId"]
    assert redis["transitEncryptionEnabled"] is True
    assert redis["snapshotRetentionLimit"] >= 1 and redis["finalSnapshotIdentifier"]
    assert redis["userGroupIds"]
    users = of_type(resources, "aws:elasticache/user:User")
    names = {u["inputs"]["userName"] for u in users}
    assert "default" in names
    clients = {c.replace("-", "_") for c in catalog.clients_of("redis")}
    assert clients <= names
    for user in users:
        assert all(is_secret(p) for p in user["inputs"]["authenticationMode"]["passwords"])
    subnets = one(resources, "aws:elasticache/subnetGroup:SubnetGroup")["inputs"]["subnetIds"]
    assert all("-network-data-" in s for s in subnets)


def test_managed_services_are_reached_through_their_endpoints(
    manifests: list[dict[str, Any]],
) -> None:
    pgbouncer_config = next(
        m
        for m in manifests
        if m["kind"] == "ConfigMap" and m["metadata"]["name"] == "pgbouncer-config"
    )
    ini = next(iter(pgbouncer_config["data"].values()))
    assert "host=sutazai-prod-data-postgres.mock.rds.amazonaws.com port=5432" in ini
    assert "server_tls_sslmode = require" in ini


# ── network ──────────────────────────────────────────────────────────────────────────────


ROUTE = "aws:ec2/route:Route"
ASSOCIATION = "aws:ec2/routeTableAssociation:RouteTableAssociation"
WORLD = "0.0.0.0/0"
# The route field a Vault route target fills, by the target's ID prefix (vaultRouteTarget).
VAULT_ROUTE_FIELDS = {"tgw-": "transitGatewayId", "pcx-": "vpcPeeringConnectionId"}
# Route tables that carry the Vault routes: every private segment's.
PRIVATE_SEGMENTS = frozenset(
    {Segment.DATA.value, Segment.APPLICATION.value, Segment.MANAGEMENT.value}
)


def route_table_segments(resources: list[dict[str, Any]]) -> dict[str, str]:
    """Route table ID -> the segment of the subnets it serves (each table serves one)."""
    subnet_segment = {
        resource_id(s): s["inputs"]["tags"]["sutazai:segment"]
        for s in of_type(resources, "aws:ec2/subnet:Subnet")
    }
    served: dict[str, set[str]] = {}
    for a in of_type(resources, ASSOCIATION):
        table, subnet = a["inputs"]["routeTableId"], a["inputs"]["subnetId"]
        served.setdefault(table, set()).add(subnet_segment[subnet])
    assert all(len(segments) == 1 for segments in served.values()), served
    return {table: min(segments) for table, segments in served.items()}


def assert_vault_routes(resources: list[dict[str, Any]], cidrs: set[str], target: str) -> None:
    """Exactly one route per (private route table, Vault CIDR), through `target` alone."""
    tables = {t for t, s in route_table_segments(resources).items() if s in PRIVATE_SEGMENTS}
    field = VAULT_ROUTE_FIELDS[target[:4]]
    routes = [
        r["inputs"]
        for r in of_type(resources, ROUTE)
        if r["inputs"]["destinationCidrBlock"] in cidrs
    ]
    assert len(routes) == len(tables) * len(cidrs)
    assert {(r["routeTableId"], r["destinationCidrBlock"]) for r in routes} == {
        (t, c) for t in tables for c in cidrs
    }
    for route in routes:
        assert set(route) == {"routeTableId", "destinationCidrBlock", field}, route
        assert route[field] == target


def test_data_subnets_have_no_route_to_the_internet(
    config: StackConfig, resources: list[dict[str, Any]]
) -> None:
    data_subnets = {
        resource_id(s)
        for s in of_type(resources, "aws:ec2/subnet:Subnet")
        if s["inputs"]["tags"]["sutazai:segment"] == Segment.DATA.value
    }
    assert len(data_subnets) == 3
    tables = {
        a["inputs"]["routeTableId"]
        for a in of_type(resources, ASSOCIATION)
        if a["inputs"]["subnetId"] in data_subnets
    }
    associated = {
        a["inputs"]["subnetId"]
        for a in of_type(resources, ASSOCIATION)
        if a["inputs"]["routeTableId"] in tables
    }
    assert associated == data_subnets, "the data route table serves the data subnets only"
    # Besides the implicit local route: the Vault routes through the configured target, alone.
    routes = [
        r["inputs"] for r in of_type(resources, ROUTE) if r["inputs"]["routeTableId"] in tables
    ]
    field = VAULT_ROUTE_FIELDS[config.vault_route_target[:4]]
    assert sorted((r["destinationCidrBlock"], r.get(field)) for r in routes) == sorted(
        (str(c), config.vault_route_target) for c in config.vault_cidrs
    )
    for route in routes:
        assert "gatewayId" not in route and "natGatewayId" not in route, route
        assert set(route) == {"routeTableId", "destinationCidrBlock", field}, route
        assert route["destinationCidrBlock"] != WORLD
    # Everyone else's internet routes exist (the test looks at the right tables).
    others = [
        r["inputs"] for r in of_type(resources, ROUTE) if r["inputs"]["routeTableId"] not in tables
    ]
    internet = [r for r in others if r["destinationCidrBlock"] == WORLD]
    assert len(internet) == 7  # the public table, and each application and management table
    assert {("gatewayId" in r) or ("natGatewayId" in r) for r in internet} == {True}
    nacl = one(resources, "aws:ec2/networkAcl:NetworkAcl")["inputs"]
    assert set(nacl["subnetIds"]) == data_subnets
    assert {rule["cidrBlock"] for rule in nacl["ingress"] + nacl["egress"]} == {
        "10.40.0.0/16",
        "10.30.8.0/24",  # Vault (vaultCidrs): PostgreSQL only, see the next test
    }


def test_vault_replies_route_through_the_transit_gateway_from_every_private_table(
    config: StackConfig, resources: list[dict[str, Any]]
) -> None:
    assert config.vault_route_target == "tgw-0a1b2c3d4e5f60718"
    segments = route_table_segments(resources)
    assert sorted(s for s in segments.values() if s in PRIVATE_SEGMENTS) == sorted(
        [Segment.DATA.value] + [Segment.APPLICATION.value] * 3 + [Segment.MANAGEMENT.value] * 3
    )
    vault = {str(c) for c in config.vault_cidrs}
    assert_vault_routes(resources, vault, config.vault_route_target)
    # Nothing else: every route is to the internet (igw, NAT) or to Vault.
    assert {r["inputs"]["destinationCidrBlock"] for r in of_type(resources, ROUTE)} == {
        WORLD,
        *vault,
    }


def test_vault_routes_use_a_peering_connection_for_each_vault_cidr(
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    """A pcx- target fills vpcPeeringConnectionId; two CIDRs give two routes per table."""
    folder = tmp_path_factory.mktemp("prod-vault-peering")
    doc = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    cidrs = ["10.30.8.0/24", "10.31.8.0/24"]
    doc["config"]["sutazai:vaultCidrs"] = cidrs
    doc["config"]["sutazai:vaultRouteTarget"] = "pcx-0123456789abcdef0"
    stack_file = folder / "Pulumi.prod.yaml"
    stack_file.write_text(yaml.safe_dump(doc))
    resources = load_plan("prod", folder, stack_file)["resources"]
    assert_vault_routes(resources, set(cidrs), "pcx-0123456789abcdef0")
    to_vault = [
        r for r in of_type(resources, ROUTE) if r["inputs"]["destinationCidrBlock"] in cidrs
    ]
    assert len(to_vault) == 7 * len(cidrs)  # (data + 3 application + 3 management) x CIDRs
    assert not any("transitGatewayId" in r["inputs"] for r in of_type(resources, ROUTE))


def test_vault_reaches_the_eks_api_and_rds_postgresql_and_nothing_else(
    config: StackConfig, resources: list[dict[str, Any]]
) -> None:
    vault = {str(c) for c in config.vault_cidrs}
    assert vault == {"10.30.8.0/24"}
    groups = {resource_id(g): g for g in of_type(resources, "aws:ec2/securityGroup:SecurityGroup")}
    segment = {gid: g["inputs"]["tags"]["sutazai:segment"] for gid, g in groups.items()}
    rules = of_type(resources, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    rules += of_type(resources, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    from_vault = {
        (
            rule["type"].rsplit(":", 1)[-1],
            segment[rule["inputs"]["securityGroupId"]],
            rule["inputs"]["ipProtocol"],
            rule["inputs"]["fromPort"],
            rule["inputs"]["toPort"],
        )
        for rule in rules
        if rule["inputs"].get("cidrIpv4") in vault
    }
    assert from_vault == {
        ("SecurityGroupIngressRule", "management", "tcp", 443, 443),  # the EKS API endpoint
        ("SecurityGroupIngressRule", "data-postgres", "tcp", 5432, 5432),  # RDS
        # The other way: the in-VPC CI runner calls Vault (pulumi up of the Vault resources).
        ("SecurityGroupEgressRule", "ci-runner", "tcp", 8200, 8200),
    }
    # The management group is the cluster's (its private endpoint's interfaces).
    cluster = one(resources, "aws:eks/cluster:Cluster")["inputs"]["vpcConfig"]
    (management,) = [gid for gid, s in segment.items() if s == "management"]
    assert cluster["securityGroupIds"] == [management]
    # The data NACL (stateless): 5432 in from Vault, replies out on ephemeral ports.
    nacl = one(resources, "aws:ec2/networkAcl:NetworkAcl")["inputs"]
    ingress = {
        (r["protocol"], r["fromPort"], r["toPort"])
        for r in nacl["ingress"]
        if r["cidrBlock"] in vault
    }
    egress = {
        (r["protocol"], r["fromPort"], r["toPort"])
        for r in nacl["egress"]
        if r["cidrBlock"] in vault
    }
    assert ingress == {("tcp", 5432, 5432)} and egress == {("tcp", 1024, 65535)}
    assert all(r["action"] == "allow" for r in nacl["ingress"] + nacl["egress"])
    numbers = [r["ruleNo"] for r in nacl["ingress"]]
    assert len(numbers) == len(set(numbers))


def test_nat_per_zone_in_prod_and_public_subnets_tagged_for_load_balancers(
    resources: list[dict[str, Any]],
) -> None:
    assert len(of_type(resources, "aws:ec2/natGateway:NatGateway")) == 3
    for subnet in of_type(resources, "aws:ec2/subnet:Subnet"):
        tags, segment = subnet["inputs"]["tags"], subnet["inputs"]["tags"]["sutazai:segment"]
        assert (tags.get("kubernetes.io/role/elb") == "1") == (segment == "public")
        assert (tags.get("kubernetes.io/role/internal-elb") == "1") == (segment == "application")
        assert subnet["inputs"]["mapPublicIpOnLaunch"] is False
    flow = one(resources, "aws:ec2/flowLog:FlowLog")["inputs"]
    assert flow["trafficType"] == "ALL" and flow["vpcId"] == "sutazai-prod-network-vpc-id"


def test_no_security_group_opens_data_or_management_to_the_world(
    catalog: Catalog, resources: list[dict[str, Any]]
) -> None:
    groups = {resource_id(g): g for g in of_type(resources, "aws:ec2/securityGroup:SecurityGroup")}
    segment = {gid: g["inputs"]["tags"]["sutazai:segment"] for gid, g in groups.items()}
    rules = of_type(resources, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
    rules += of_type(resources, "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule")
    for rule in rules:
        inputs = rule["inputs"]
        world = inputs.get("cidrIpv4") in ("0.0.0.0/0",) or inputs.get("cidrIpv6") == "::/0"
        where = segment[inputs["securityGroupId"]]
        if where.startswith("data") or where == "management":
            assert not world, rule["name"]
        if world and rule["type"].endswith("IngressRule"):
            assert where == "public-alb" and inputs["fromPort"] == inputs["toPort"]
            assert inputs["fromPort"] in (443, 80)  # 80: redirected to HTTPS only
    for group in groups.values():
        for direction in ("ingress", "egress"):
            for inline in group["inputs"].get(direction, []):
                assert "0.0.0.0/0" not in inline.get("cidrBlocks", [])
    # data: exactly the managed ports, from the node group only
    node_group = next(gid for gid, s in segment.items() if s == "application")
    for spec in (s for s in catalog if s.managed_in_prod):
        gid = next(g for g, s in segment.items() if s == f"data-{spec.name}")
        admitted = {
            (
                r["inputs"]["fromPort"],
                r["inputs"].get("referencedSecurityGroupId") or r["inputs"]["cidrIpv4"],
            )
            for r in rules
            if r["inputs"]["securityGroupId"] == gid
        }
        # ... and Vault's database engine reaches RDS PostgreSQL (vaultCidrs)
        vault = {
            (p.port, "10.30.8.0/24")
            for p in spec.ports
            if spec.managed_in_prod.kind == "rds-postgresql"  # type: ignore[union-attr]
        }
        assert admitted == {(p.port, node_group) for p in spec.ports} | vault


def test_ingress_serves_frontend_and_api_over_https_only(
    config: StackConfig, manifests: list[dict[str, Any]]
) -> None:
    ingresses = {m["metadata"]["name"]: m for m in manifests if m["kind"] == "Ingress"}
    assert set(ingresses) == {"frontend", "backend"}
    hosts = {n: m["spec"]["rules"][0]["host"] for n, m in ingresses.items()}
    assert hosts == {"frontend": config.domain, "backend": f"api.{config.domain}"}
    for ingress in ingresses.values():
        annotations = ingress["metadata"]["annotations"]
        assert ingress["spec"]["ingressClassName"] == "alb"
        assert annotations["alb.ingress.kubernetes.io/scheme"] == "internet-facing"
        assert annotations["alb.ingress.kubernetes.io/target-type"] == "ip"
        # HTTP only to redirect: a plain-HTTP visitor is sent to HTTPS, never served.
        assert json.loads(annotations["alb.ingress.kubernetes.io/listen-ports"]) == [
            {"HTTP": 80},
            {"HTTPS": 443},
        ]
        assert (
            annotations["alb.ingress.kubernetes.io/certificate-arn"] == config.tls_certificate_arn
        )
        assert annotations["alb.ingress.kubernetes.io/ssl-redirect"] == "443"


def test_the_load_balancer_admits_http_only_to_redirect_it(
    resources: list[dict[str, Any]],
) -> None:
    """Port 80 is open to the world on the ALB group alone, and the policy pack accepts it
    only through its configured, reasoned exception (the rule itself still forbids 80)."""
    from stacks.policy_check import analyze_resources, load_config, mandatory

    groups = {resource_id(g): g for g in of_type(resources, "aws:ec2/securityGroup:SecurityGroup")}
    world = [
        r
        for r in of_type(resources, "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule")
        if r["inputs"].get("cidrIpv4") == "0.0.0.0/0"
    ]
    ports = {
        (
            groups[r["inputs"]["securityGroupId"]]["inputs"]["tags"]["sutazai:segment"],
            r["inputs"]["fromPort"],
            r["inputs"]["toPort"],
        )
        for r in world
    }
    assert ports == {("public-alb", 443, 443), ("public-alb", 80, 80)}
    config = load_config("prod")
    (waiver,) = config["aws-sg-public-ingress-https-only"]["waivers"]
    assert waiver["reason"].startswith("HTTP->HTTPS redirect only")
    assert waiver["checks"] == {"publicPort": "tcp/80"}
    http = [r for r in world if r["inputs"]["fromPort"] == 80]
    assert mandatory(analyze_resources(http, "prod", config)) == []
    del config["aws-sg-public-ingress-https-only"]["waivers"][0]
    found = mandatory(analyze_resources(http, "prod", config))
    assert [v.policy for v in found] == ["aws-sg-public-ingress-https-only"]


def test_outputs_hold_no_secret_in_clear(prod_plan_json: dict[str, Any]) -> None:
    outputs = prod_plan_json["outputs"]
    assert is_secret(outputs["kubeconfig"])
    assert outputs["clusterName"] == "sutazai-prod"
    assert outputs["vpcId"] and outputs["ingressHostnames"]
    text = json.dumps({k: v for k, v in outputs.items() if not is_secret(v)})
    assert "mock-random-" not in text and "password" not in text.lower()


def test_load_balancer_reaches_only_the_ingress_services(
    catalog: Catalog, config: StackConfig, manifests: list[dict[str, Any]]
) -> None:
    public = [ipaddress.ip_network(str(c)) for c in config.network.public_subnets]
    evaluator, pods = plan_views.evaluator(manifests)
    from stacks.netpol import External

    alb = External(str(next(public[0].hosts())))
    for spec in catalog:
        if spec.name not in pods:
            continue
        port = spec.primary_port.port
        assert evaluator.allowed(alb, pods[spec.name], port) == spec.ingress, spec.name


# ── ordering ─────────────────────────────────────────────────────────────────────────────


def test_pods_wait_for_the_injector_their_vault_entries_and_their_storage(
    config: StackConfig, catalog: Catalog, resources: list[dict[str, Any]]
) -> None:
    """A pod admitted before the injector's webhook exists is never injected; one whose
    role, policy or KV entry is missing fails its agent; a claim needs the StorageClass."""
    from components.vault.layout import VaultLayout

    layout = VaultLayout(config, catalog, "prod")
    by_urn = {r["urn"]: r for r in resources}
    webhook = one(
        resources,
        "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration",
        "vault-injector",
    )["urn"]
    storage = {
        one(resources, "kubernetes:storage.k8s.io/v1:StorageClass")["urn"],
        next(
            r["urn"]
            for r in of_type(resources, "aws:eks/addon:Addon")
            if r["inputs"]["addonName"] == "aws-ebs-csi-driver"
        ),
    }
    pods = [
        r
        for r in resources
        if r["type"]
        in (
            "kubernetes:apps/v1:Deployment",
            "kubernetes:apps/v1:StatefulSet",
            "kubernetes:batch/v1:Job",
        )
        and r["inputs"]["metadata"]["namespace"].startswith("sutazai-")
        and r["inputs"]["metadata"]["namespace"] != "sutazai-vault"
    ]
    assert len(pods) > 20
    written = {
        r["inputs"].get("name") for r in resources if r["type"] == "vault:kv/secretV2:SecretV2"
    }
    injected = 0
    for pod in pods:
        labels = pod["inputs"]["metadata"]["labels"]
        spec = catalog[labels.get("app.kubernetes.io/instance", labels["app.kubernetes.io/name"])]
        template = pod["inputs"]["spec"]["template"]
        deps = set(pod["dependencies"])
        vault = {
            (by_urn[d]["type"].rsplit(":", 1)[-1], by_urn[d]["inputs"].get("name"))
            for d in deps
            if by_urn[d]["type"].startswith("vault:")
        }
        roles = {
            by_urn[d]["inputs"]["roleName"]
            for d in deps
            if by_urn[d]["type"] == "vault:kubernetes/authBackendRole:AuthBackendRole"
        }
        with_agent = (
            template["metadata"].get("annotations", {}).get("vault.hashicorp.com/agent-inject")
            == "true"
        )
        assert (webhook in deps) == with_agent, pod["name"]
        if with_agent:
            injected += 1
            expected = {("Policy", layout.policy_name(spec.name))}
            for path in layout.policy_paths(spec):
                if path.startswith(f"{layout.kv_mount}/data/"):
                    entry = path.removeprefix(f"{layout.kv_mount}/data/")
                    # Entries an operator writes (alert receivers' secrets) have no resource.
                    if entry in written:
                        expected.add(("SecretV2", entry))
                else:
                    expected.add(("SecretBackendRole", path.rsplit("/", 1)[-1]))
            vault.discard(("AuthBackendRole", None))
            assert vault == expected, pod["name"]
            assert roles == {spec.name}, pod["name"]
        else:
            assert not vault and not roles, pod["name"]
        claims = bool(pod["inputs"]["spec"].get("volumeClaimTemplates"))
        assert (storage & deps) == (storage if claims else set()), pod["name"]
    assert injected > 10


# ── cluster access and capacity ──────────────────────────────────────────────────────────


def test_listed_roles_are_cluster_admins_through_access_entries(
    config: StackConfig, resources: list[dict[str, Any]]
) -> None:
    assert config.cluster_admin_role_arns  # Pulumi.prod.yaml lists the CI deploy role
    entries = of_type(resources, "aws:eks/accessEntry:AccessEntry")
    associations = of_type(resources, "aws:eks/accessPolicyAssociation:AccessPolicyAssociation")
    assert sorted(e["inputs"]["principalArn"] for e in entries) == sorted(
        config.cluster_admin_role_arns
    )
    assert all(e["inputs"]["type"] == "STANDARD" for e in entries)
    assert all(e["inputs"]["clusterName"] == "sutazai-prod" for e in entries)
    assert sorted(a["inputs"]["principalArn"] for a in associations) == sorted(
        config.cluster_admin_role_arns
    )
    for association in associations:
        inputs = association["inputs"]
        assert inputs["policyArn"] == (
            "arn:aws:eks::aws:cluster-access-policy/AmazonEKSClusterAdminPolicy"
        )
        assert inputs["accessScope"] == {"type": "cluster"}
        assert association["parent"] in {e["urn"] for e in entries}
    # Only the listed roles: no implicit entry for whoever creates the cluster (it would
    # collide with the deploy role's), and the setting is create-only (never a replacement).
    cluster = one(resources, "aws:eks/cluster:Cluster")
    assert cluster["inputs"]["accessConfig"]["bootstrapClusterCreatorAdminPermissions"] is False
    assert "accessConfig.bootstrapClusterCreatorAdminPermissions" in cluster["ignore_changes"]
    # Kubernetes calls wait for the deploy role's access.
    provider = one(resources, "pulumi:providers:kubernetes")
    assert {a["urn"] for a in associations} <= set(provider["dependencies"])


def test_the_cluster_autoscaler_owns_the_node_groups_size(
    config: StackConfig, resources: list[dict[str, Any]], manifests: list[dict[str, Any]]
) -> None:
    from components.kubernetes import autoscaler
    from components.kubernetes.security import container_security_context, pod_security_context

    groups = of_type(resources, "aws:eks/nodeGroup:NodeGroup")
    assert len(groups) == 2
    for group in groups:
        assert group["inputs"]["tags"]["k8s.io/cluster-autoscaler/enabled"] == "true"
        assert group["inputs"]["tags"]["k8s.io/cluster-autoscaler/sutazai-prod"] == "owned"
        assert "scalingConfig.desiredSize" in group["ignore_changes"]
    (deployment,) = [
        m
        for m in manifests
        if plan_views.key(m) == ("Deployment", "kube-system", "cluster-autoscaler")
    ]
    pod = plan_views.pod_spec(deployment)
    (container,) = pod["containers"]
    minor = config.cluster_version
    assert container["image"] == f"registry.k8s.io/autoscaling/cluster-autoscaler:v{minor}.1"
    assert (
        "--node-group-auto-discovery=asg:tag=k8s.io/cluster-autoscaler/enabled,"
        "k8s.io/cluster-autoscaler/sutazai-prod"
    ) in container["command"]
    assert "--cloud-provider=aws" in container["command"]
    # Hardened by the one hardening function; its only waiver is the API token.
    assert pod["securityContext"] == pod_security_context(autoscaler.CLUSTER_AUTOSCALER)
    assert container["securityContext"] == container_security_context(autoscaler.CLUSTER_AUTOSCALER)
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert pod["securityContext"]["runAsUser"] == 65534 and pod["automountServiceAccountToken"]
    assert not any("hostPath" in v for v in pod["volumes"]) and not pod.get("hostNetwork")
    assert {"livenessProbe", "readinessProbe"} <= set(container)
    assert pod["nodeSelector"] == {"sutazai.io/node-pool": "general"}
    # IRSA: only kube-system/cluster-autoscaler assumes the role ...
    account = next(
        m
        for m in manifests
        if plan_views.key(m) == ("ServiceAccount", "kube-system", "cluster-autoscaler")
    )
    role = one(resources, "aws:iam/role:Role", "-cluster-autoscaler")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].endswith(role["name"])
    trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"][0]["Condition"]
    assert "system:serviceaccount:kube-system:cluster-autoscaler" in trust["StringEquals"].values()
    # ... and it may scale only this cluster's tagged groups, read only its node groups.
    policy = json.loads(
        one(resources, "aws:iam/rolePolicy:RolePolicy", "-cluster-autoscaler")["inputs"]["policy"]
    )
    statements = {s["Sid"]: s for s in policy["Statement"]}
    scale = statements["ScaleThisClustersGroups"]
    assert set(scale["Action"]) == {
        "autoscaling:SetDesiredCapacity",
        "autoscaling:TerminateInstanceInAutoScalingGroup",
    }
    assert scale["Condition"]["StringEquals"] == {
        "aws:ResourceTag/k8s.io/cluster-autoscaler/sutazai-prod": "owned",
        "aws:ResourceTag/k8s.io/cluster-autoscaler/enabled": "true",
    }
    assert all(
        a.split(":")[1].startswith(("Describe", "Get")) for a in statements["Discover"]["Action"]
    )
    arns = {f"arn:aws:mock:us-east-1:123456789012:{g['name']}" for g in groups}
    assert set(statements["ReadThisClustersNodeGroups"]["Resource"]) == arns
    assert all("*" not in action for s in policy["Statement"] for action in s["Action"])
    # Its RBAC: no wildcards, no secrets.
    (cluster_role,) = [
        m for m in manifests if plan_views.key(m) == ("ClusterRole", "", "cluster-autoscaler")
    ]
    for rule in cluster_role["rules"]:
        assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"]
        assert "secrets" not in rule["resources"]


def test_load_balancer_controller_is_rendered_object_by_object(
    resources: list[dict[str, Any]],
) -> None:
    from components.kubernetes import load_balancer_controller as lbc

    mine = [r for r in resources if "aws-load-balancer-controller" in r["name"]]
    kinds = {r["type"].split(":")[-1] for r in mine}
    assert {
        "ServiceAccount",
        "ClusterRole",
        "ClusterRoleBinding",
        "Role",
        "RoleBinding",
        "Service",
        "Secret",
        "Deployment",
        "PodDisruptionBudget",
        "MutatingWebhookConfiguration",
        "ValidatingWebhookConfiguration",
        "IngressClass",
        "CustomResourceDefinition",
    } <= kinds
    account = next(r for r in mine if r["type"].endswith(":ServiceAccount"))["inputs"]
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
    deployment = next(r for r in mine if r["type"] == "kubernetes:apps/v1:Deployment")["inputs"]
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == lbc.IMAGE
    assert container["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert {v["secret"]["secretName"] for v in pod["volumes"]} == {lbc.WEBHOOK_SECRET}
    secret = next(r for r in mine if r["type"] == "kubernetes:core/v1:Secret")["inputs"]
    assert secret["type"] == "kubernetes.io/tls"
    assert is_secret(secret["stringData"])  # the key never in clear
    for kind in ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"):
        hooks = next(r for r in mine if r["type"].endswith(kind))["inputs"]["webhooks"]
        assert all(h["clientConfig"]["caBundle"] for h in hooks)
        assert all(h["clientConfig"]["service"]["name"] == lbc.WEBHOOK_SERVICE for h in hooks)
    ingress_class = next(r for r in mine if r["type"].endswith(":IngressClass"))["inputs"]
    assert ingress_class["metadata"]["name"] == "alb"
    crds = {
        r["inputs"]["spec"]["names"]["kind"]: r["inputs"]["spec"]
        for r in mine
        if r["type"].endswith(":CustomResourceDefinition")
    }
    assert set(crds) == {"TargetGroupBinding", "IngressClassParams"}
    assert crds["TargetGroupBinding"]["versions"][0]["subresources"] == {"status": {}}
    assert crds["IngressClassParams"]["scope"] == "Cluster"
    assert not [
        r for r in resources if r["type"].startswith(("kubernetes:yaml", "kubernetes:helm"))
    ]
