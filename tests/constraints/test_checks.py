"""The resource checks of stacks.constraints: cross-field rules and references between
resources. Each check: a valid plan passes, one broken input is caught (and named)."""

from __future__ import annotations

import copy
import json
from typing import Any

from stacks.constraints import check_resources


def reg(type_: str, name: str, inputs: dict[str, Any], provider: str = "") -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:prod::sutazai::{type_}::{name}",
        "type": type_,
        "name": name,
        "custom": True,
        "provider": provider,
        "inputs": inputs,
    }


def lines(registrations: list[dict[str, Any]]) -> list[str]:
    return [str(v) for v in check_resources(registrations)]


# ── AWS ──────────────────────────────────────────────────────────────────────────────────

RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"


def sg_rule(**inputs: Any) -> dict[str, Any]:
    base = {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "10.0.0.0/16"}
    return reg(RULE, "r", {**base, **inputs})


def test_security_group_rules_ports_and_peers() -> None:
    assert lines([sg_rule()]) == []
    assert "must not be above toPort" in " ".join(lines([sg_rule(fromPort=500, toPort=400)]))
    assert "name their ports" in " ".join(lines([sg_rule(fromPort=None)]))
    assert "exactly one peer" in " ".join(lines([sg_rule(referencedSecurityGroupId="sg-1")]))
    assert "exactly one peer" in " ".join(lines([sg_rule(cidrIpv4=None)]))
    assert lines([sg_rule(ipProtocol="icmp", fromPort=8, toPort=-1)]) == []
    assert "icmp type" in " ".join(lines([sg_rule(ipProtocol="icmp", fromPort=300, toPort=-1)]))


def test_network_acl_rule_numbers_are_unique_per_direction() -> None:
    entry = {"ruleNo": 100, "action": "allow", "protocol": "-1", "fromPort": 0, "toPort": 0,
             "cidrBlock": "10.0.0.0/16"}  # fmt: skip
    acl = "aws:ec2/networkAcl:NetworkAcl"
    assert lines([reg(acl, "a", {"ingress": [entry], "egress": [entry]})]) == []
    found = lines([reg(acl, "a", {"ingress": [entry, entry]})])
    assert found == [f"{acl} a: ingress = [100]: rule numbers are unique per direction"]


def test_node_group_scaling() -> None:
    group = "aws:eks/nodeGroup:NodeGroup"

    def scaling(low: int, want: int, high: int) -> list[str]:
        config = {"minSize": low, "desiredSize": want, "maxSize": high}
        return lines([reg(group, "g", {"nodeGroupName": "gpu", "scalingConfig": config})])

    assert scaling(0, 1, 2) == []
    assert "minSize <= desiredSize" in " ".join(scaling(2, 1, 3))
    assert "maxSize >= 1" in " ".join(scaling(0, 0, 0))


def test_backup_and_maintenance_windows_must_not_overlap() -> None:
    rds = "aws:rds/instance:Instance"

    def windows(backup: str, maintenance: str) -> list[str]:
        return lines([reg(rds, "db", {"backupWindow": backup, "maintenanceWindow": maintenance})])

    assert windows("03:00-04:00", "sun:05:30-sun:06:30") == []
    assert "must not overlap" in " ".join(windows("05:00-06:00", "sun:05:30-sun:06:30"))
    # Across midnight, and a window that wraps the week.
    assert "must not overlap" in " ".join(windows("23:30-00:30", "mon:00:00-mon:01:00"))
    assert "must not overlap" in " ".join(windows("23:30-00:15", "sun:23:50-mon:00:40"))
    cache = "aws:elasticache/replicationGroup:ReplicationGroup"
    found = lines(
        [
            reg(
                cache,
                "c",
                {"snapshotWindow": "05:00-06:00", "maintenanceWindow": "sun:05:30-sun:06:30"},
            )
        ]
    )
    assert "must not overlap" in " ".join(found)


def test_max_allocated_storage_is_above_allocated() -> None:
    rds = "aws:rds/instance:Instance"
    assert lines([reg(rds, "db", {"allocatedStorage": 50, "maxAllocatedStorage": 200})]) == []
    found = lines([reg(rds, "db", {"allocatedStorage": 50, "maxAllocatedStorage": 50})])
    assert "above allocatedStorage" in " ".join(found)


def test_elasticache_user_group_references_users_and_has_default() -> None:
    user, group = "aws:elasticache/user:User", "aws:elasticache/userGroup:UserGroup"
    users = [
        reg(user, "d", {"userId": "sutazai-default", "userName": "default", "engine": "redis"}),
        reg(user, "b", {"userId": "sutazai-backend", "userName": "backend", "engine": "redis"}),
    ]
    good = reg(
        group, "g", {"userGroupId": "sutazai", "userIds": ["sutazai-default", "sutazai-backend"]}
    )
    assert lines([*users, good]) == []
    missing = copy.deepcopy(good)
    missing["inputs"]["userIds"].append("sutazai-ghost")
    assert "names no aws:elasticache/user:User" in " ".join(lines([*users, missing]))
    no_default = reg(group, "g", {"userGroupId": "sutazai", "userIds": ["sutazai-backend"]})
    assert "a user named 'default'" in " ".join(lines([*users, no_default]))


PROVIDER = "pulumi:providers:aws"


def provider(tags: dict[str, str]) -> dict[str, Any]:
    return reg(PROVIDER, "aws", {"region": "us-east-1", "defaultTags": json.dumps({"tags": tags})})


def test_provider_default_tags_count_with_a_resources_own() -> None:
    aws = provider({f"d{i}": "v" for i in range(40)})
    ref = f"{aws['urn']}::aws-id"
    vpc = "aws:ec2/vpc:Vpc"
    own = {f"o{i}": "v" for i in range(10)}
    assert lines([aws, reg(vpc, "v", {"cidrBlock": "10.0.0.0/16", "tags": own}, ref)]) == []
    own["o10"] = "v"
    found = lines([aws, reg(vpc, "v", {"cidrBlock": "10.0.0.0/16", "tags": own}, ref)])
    assert found == [f"{vpc} v: tags = 51: at most 50 tags with the provider's defaults"]


def test_provider_default_tags_follow_the_strictest_service_rules() -> None:
    assert lines([provider({"sutazai:stack": "prod"})]) == []
    found = lines([provider({"sutazai:owner": "o'brien"})])
    assert found and "defaultTags.tags.sutazai:owner" in found[0]
    assert lines([provider({"aws:owner": "x"})])


def test_ec2_tags_accept_any_character_other_services_do_not() -> None:
    vpc = reg("aws:ec2/vpc:Vpc", "v", {"cidrBlock": "10.0.0.0/16", "tags": {"Name": "o'brien"}})
    repo = reg(
        "aws:ecr/repository:Repository", "r", {"name": "sutazai/x", "tags": {"Name": "o'brien"}}
    )
    assert lines([vpc]) == []
    assert lines([repo]) and "tags.Name" in lines([repo])[0]


# ── Kubernetes ───────────────────────────────────────────────────────────────────────────

NS = "kubernetes:core/v1:Namespace"
DEPLOY = "kubernetes:apps/v1:Deployment"
STS = "kubernetes:apps/v1:StatefulSet"
SVC = "kubernetes:core/v1:Service"
SA = "kubernetes:core/v1:ServiceAccount"
CM = "kubernetes:core/v1:ConfigMap"

LABELS = {"app.kubernetes.io/name": "backend"}


def namespace(name: str = "sutazai-core") -> dict[str, Any]:
    return reg(NS, name, {"metadata": {"name": name}})


def deployment(**spec_changes: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "selector": {"matchLabels": dict(LABELS)},
        "template": {
            "metadata": {"labels": {**LABELS, "tier": "core"}},
            "spec": {
                "serviceAccountName": "backend",
                "containers": [
                    {
                        "name": "backend",
                        "ports": [{"name": "http", "containerPort": 8080}],
                        "volumeMounts": [{"name": "config", "mountPath": "/etc/x"}],
                        "env": [
                            {
                                "name": "LEVEL",
                                "valueFrom": {
                                    "configMapKeyRef": {"name": "backend", "key": "level"}
                                },
                            }
                        ],
                    }
                ],
                "volumes": [{"name": "config", "configMap": {"name": "backend"}}],
            },
        },
    }
    spec.update(spec_changes)
    meta = {"name": "backend", "namespace": "sutazai-core"}
    return reg(DEPLOY, "backend", {"metadata": meta, "spec": spec})


def core_objects() -> list[dict[str, Any]]:
    meta = {"name": "backend", "namespace": "sutazai-core"}
    return [
        namespace(),
        reg(SA, "sa", {"metadata": meta}),
        reg(CM, "cm", {"metadata": meta, "data": {"level": "info"}}),
        reg(SVC, "svc", {"metadata": meta, "spec": {"selector": dict(LABELS),
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}),
    ]  # fmt: skip


def test_a_consistent_set_of_objects_passes() -> None:
    assert lines([*core_objects(), deployment()]) == []


def test_selector_must_match_the_template() -> None:
    found = lines([*core_objects(), deployment(selector={"matchLabels": {"app": "other"}})])
    assert any("does not match spec.template.metadata.labels" in f for f in found)
    found = lines([*core_objects(), deployment(selector={})])
    assert any("a non-empty selector is required" in f for f in found)
    expressions = {"matchExpressions": [{"key": "tier", "operator": "In", "values": ["data"]}]}
    assert any(
        "does not match" in f for f in lines([*core_objects(), deployment(selector=expressions)])
    )


def test_pod_references_volumes_configmaps_and_service_accounts() -> None:
    objects = core_objects()
    broken = deployment()
    pod = broken["inputs"]["spec"]["template"]["spec"]
    pod["containers"][0]["volumeMounts"].append({"name": "cache", "mountPath": "/cache"})
    assert any("names no volume of the pod" in f for f in lines([*objects, broken]))

    broken = deployment()
    broken["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"][
        "configMapKeyRef"
    ]["key"] = "colour"
    assert any("is not a key of ConfigMap backend" in f for f in lines([*objects, broken]))

    without_configmap = [o for o in objects if o["type"] != CM]
    assert any("names no ConfigMap" in f for f in lines([*without_configmap, deployment()]))

    without_account = [o for o in objects if o["type"] != SA]
    assert any("names no ServiceAccount" in f for f in lines([*without_account, deployment()]))


def test_duplicate_container_and_port_names() -> None:
    broken = deployment()
    pod = broken["inputs"]["spec"]["template"]["spec"]
    pod["containers"].append(copy.deepcopy(pod["containers"][0]))
    assert any("container names are unique" in f for f in lines([*core_objects(), broken]))
    broken = deployment()
    ports = broken["inputs"]["spec"]["template"]["spec"]["containers"][0]["ports"]
    ports.append({"name": "http", "containerPort": 9090})
    assert any("port names are unique" in f for f in lines([*core_objects(), broken]))


def test_service_selects_pods_and_named_target_ports_exist() -> None:
    objects = core_objects()
    service = objects[3]
    service["inputs"]["spec"]["selector"] = {"app.kubernetes.io/name": "frontend"}
    assert any("selects no pod template" in f for f in lines([*objects, deployment()]))
    objects = core_objects()
    objects[3]["inputs"]["spec"]["ports"][0]["targetPort"] = "metrics"
    assert any("names no container port" in f for f in lines([*objects, deployment()]))
    objects = core_objects()
    objects[3]["inputs"]["spec"]["ports"] = [{"port": 80}, {"port": 81, "name": "b"}]
    assert any("every port is named" in f for f in lines([*objects, deployment()]))


def test_objects_live_in_namespaces_the_plan_creates() -> None:
    objects = [o for o in core_objects() if o["type"] != NS]
    assert any("names no Namespace" in f for f in lines([*objects, deployment()]))
    system = reg(SA, "ks", {"metadata": {"name": "autoscaler", "namespace": "kube-system"}})
    assert lines([system]) == []


def test_statefulset_needs_its_governing_service_and_a_short_name() -> None:
    spec = {
        "serviceName": "postgres",
        "selector": {"matchLabels": {"app": "postgres"}},
        "template": {"metadata": {"labels": {"app": "postgres"}},
                     "spec": {"containers": [{"name": "postgres"}]}},
    }  # fmt: skip
    meta = {"name": "postgres", "namespace": "sutazai-core"}
    service = reg(SVC, "pg", {"metadata": meta, "spec": {"clusterIP": "None",
        "selector": {"app": "postgres"}, "ports": [{"name": "pg", "port": 5432}]}})  # fmt: skip
    statefulset = reg(STS, "pg", {"metadata": meta, "spec": spec})
    assert lines([namespace(), service, statefulset]) == []
    assert any("names no Service" in f for f in lines([namespace(), statefulset]))


def test_bindings_reference_roles_and_service_accounts() -> None:
    binding = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"
    role = "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole"

    def bind(role_name: str, account: str) -> dict[str, Any]:
        ref = {"kind": "ClusterRole", "name": role_name, "apiGroup": "rbac.authorization.k8s.io"}
        subject = {"kind": "ServiceAccount", "name": account, "namespace": "sutazai-core"}
        return reg(binding, "b", {"metadata": {"name": "b"}, "roleRef": ref, "subjects": [subject]})

    objects = [
        *core_objects(),
        deployment(),
        reg(role, "r", {"metadata": {"name": "pod-logs"}, "rules": []}),
    ]
    assert lines([*objects, bind("pod-logs", "backend")]) == []
    assert lines([*objects, bind("system:auth-delegator", "backend")]) == []
    assert any("names no ClusterRole" in f for f in lines([*objects, bind("pod-log", "backend")]))
    assert any("names no ServiceAccount" in f for f in lines([*objects, bind("view", "redis")]))


def test_ingress_backends_exist_with_their_ports() -> None:
    ingress = "kubernetes:networking.k8s.io/v1:Ingress"

    def backend(service: str, port: int) -> dict[str, Any]:
        path = {"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": service, "port": {"number": port}}}}  # fmt: skip
        meta = {"name": "web", "namespace": "sutazai-core"}
        return reg(
            ingress, "i", {"metadata": meta, "spec": {"rules": [{"http": {"paths": [path]}}]}}
        )

    objects = [*core_objects(), deployment()]
    assert lines([*objects, backend("backend", 80)]) == []
    assert any("names no Service" in f for f in lines([*objects, backend("api", 80)]))
    assert any("not a port of it" in f for f in lines([*objects, backend("backend", 8080)]))


def test_webhook_services_exist_with_their_ports() -> None:
    webhook = "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration"

    def config(port: int) -> dict[str, Any]:
        service = {"name": "backend", "namespace": "sutazai-core", "port": port}
        return reg(webhook, "w", {"metadata": {"name": "w"}, "webhooks": [
            {"name": "a.b.c", "clientConfig": {"service": service}}]})  # fmt: skip

    assert lines([*core_objects(), deployment(), config(80)]) == []
    assert any("not a port of it" in f for f in lines([*core_objects(), deployment(), config(443)]))


def test_configmap_and_annotation_sizes() -> None:
    meta = {"name": "big", "namespace": "sutazai-core"}
    big = reg(CM, "big", {"metadata": meta, "data": {"a": "x" * (1024 * 1024)}})
    assert any("at most 1 MiB" in f for f in lines([namespace(), big]))
    annotated = {**meta, "annotations": {"a.io/x": "y" * (256 * 1024)}}
    assert any("256 KiB" in f for f in lines([namespace(), reg(CM, "a", {"metadata": annotated})]))


def test_pdb_selects_some_pod() -> None:
    pdb = "kubernetes:policy/v1:PodDisruptionBudget"
    meta = {"name": "backend", "namespace": "sutazai-core"}
    good = reg(pdb, "p", {"metadata": meta, "spec": {"selector": {"matchLabels": dict(LABELS)}}})
    assert lines([*core_objects(), deployment(), good]) == []
    bad = copy.deepcopy(good)
    bad["inputs"]["spec"]["selector"] = {"matchLabels": {"app": "none"}}
    assert any("selects no pod template" in f for f in lines([*core_objects(), deployment(), bad]))


# ── Docker ───────────────────────────────────────────────────────────────────────────────

CONTAINER = "docker:index/container:Container"


def container(**inputs: Any) -> dict[str, Any]:
    return reg(CONTAINER, "c", {"name": "sutazai-dev-backend", "image": "redis:7", **inputs})


def test_docker_memory_relations() -> None:
    assert lines([container(memory=512, memorySwap=512, memoryReservation=256)]) == []
    assert any("at least memory" in f for f in lines([container(memory=512, memorySwap=256)]))
    assert any("needs a memory limit" in f for f in lines([container(memorySwap=256)]))
    assert any("at most memory" in f for f in lines([container(memory=256, memoryReservation=512)]))
    assert any("tmpfs mount point" in f for f in lines([container(tmpfs={"tmp": "rw"})]))


def test_docker_networks_and_volumes_exist() -> None:
    network = reg("docker:index/network:Network", "n", {"name": "sutazai-dev-data"})
    volume = reg("docker:index/volume:Volume", "v", {"name": "sutazai-dev-pg"})
    joined = container(
        networksAdvanced=[{"name": "sutazai-dev-data"}],
        volumes=[{"volumeName": "sutazai-dev-pg", "containerPath": "/data"}],
    )
    assert lines([network, volume, joined]) == []
    assert any("names no docker Network" in f for f in lines([volume, joined]))
    assert any("names no docker Volume" in f for f in lines([network, joined]))


# ── Vault ────────────────────────────────────────────────────────────────────────────────


def vault_objects() -> list[dict[str, Any]]:
    return [
        reg("vault:index/mount:Mount", "kv", {"path": "sutazai-prod", "type": "kv"}),
        reg("vault:index/mount:Mount", "db", {"path": "sutazai-prod-database", "type": "database"}),
        reg("vault:index/authBackend:AuthBackend", "k8s",
            {"path": "sutazai-prod-kubernetes", "type": "kubernetes"}),
        reg("vault:index/policy:Policy", "p", {"name": "sutazai-prod-backend",
            "policy": 'path "sutazai-prod/data/backend/x" {\n  capabilities = ["read"]\n}\n'}),
        reg("vault:kubernetes/authBackendRole:AuthBackendRole", "r", {
            "backend": "sutazai-prod-kubernetes", "roleName": "backend",
            "boundServiceAccountNames": ["backend"],
            "boundServiceAccountNamespaces": ["sutazai-core"],
            "tokenTtl": 3600, "tokenMaxTtl": 86400, "tokenPolicies": ["sutazai-prod-backend"]}),
        reg("vault:database/secretBackendConnection:SecretBackendConnection", "c", {
            "backend": "sutazai-prod-database", "name": "postgres",
            "pluginName": "postgresql-database-plugin", "allowedRoles": ["backend"]}),
        reg("vault:database/secretBackendRole:SecretBackendRole", "dr", {
            "backend": "sutazai-prod-database", "name": "backend", "dbName": "postgres",
            "defaultTtl": 3600, "maxTtl": 86400, "creationStatements": ["CREATE ROLE x"]}),
        reg("vault:kv/secretV2:SecretV2", "s", {"mount": "sutazai-prod", "name": "backend/x"}),
    ]  # fmt: skip


def mutate(objects: list[dict[str, Any]], name: str, **inputs: Any) -> list[dict[str, Any]]:
    changed = copy.deepcopy(objects)
    next(o for o in changed if o["name"] == name)["inputs"].update(inputs)
    return changed


def test_vault_references_and_ttls() -> None:
    objects = vault_objects()
    assert lines(objects) == []
    assert any(
        "must not exceed tokenMaxTtl" in f for f in lines(mutate(objects, "r", tokenTtl=90000))
    )
    assert any(
        "names no vault AuthBackend" in f for f in lines(mutate(objects, "r", backend="k8s"))
    )
    assert any(
        "names no vault Policy" in f for f in lines(mutate(objects, "r", tokenPolicies=["x"]))
    )
    assert any(
        "names no database role" in f for f in lines(mutate(objects, "c", allowedRoles=["x"]))
    )
    assert any(
        "names no database connection" in f for f in lines(mutate(objects, "dr", dbName="pg"))
    )
    assert any(
        "must not exceed maxTtl" in f for f in lines(mutate(objects, "dr", defaultTtl=90000))
    )
    assert any(
        "names no database Mount" in f for f in lines(mutate(objects, "dr", backend="sutazai-prod"))
    )
    assert any(
        "names no vault Mount" in f for f in lines(mutate(objects, "s", mount="sutazai-dev"))
    )
    typo = 'path "sutazai-prd/data/backend/x" {\n  capabilities = ["read"]\n}\n'
    assert any("under no mount" in f for f in lines(mutate(objects, "p", policy=typo)))
    assert any("unbalanced braces" in f for f in lines(mutate(objects, "p", policy='path "x" {')))
    mount = mutate(objects, "kv", defaultLeaseTtlSeconds=100, maxLeaseTtlSeconds=10)
    assert any("must not exceed maxLeaseTtlSeconds" in f for f in lines(mount))


# ── random ───────────────────────────────────────────────────────────────────────────────


def test_random_password_minimums_fit_its_length() -> None:
    password = "random:index/randomPassword:RandomPassword"
    assert lines([reg(password, "p", {"length": 32, "minLower": 1, "minUpper": 1})]) == []
    found = lines(
        [reg(password, "p", {"length": 2, "minLower": 1, "minUpper": 1, "minNumeric": 1})]
    )
    assert any("minimums' sum" in f for f in found)


def test_sqs_fifo_names_and_waf_rule_priorities() -> None:
    queue = "aws:sqs/queue:Queue"
    assert lines([reg(queue, "q", {"name": "jobs.fifo", "fifoQueue": True})]) == []
    assert any(".fifo exactly when" in f for f in lines([reg(queue, "q", {"name": "jobs.fifo"})]))
    assert any(
        ".fifo exactly when" in f
        for f in lines([reg(queue, "q", {"name": "jobs", "fifoQueue": True})])
    )
    acl = "aws:wafv2/webAcl:WebAcl"
    rules = [{"name": "a", "priority": 0}, {"name": "b", "priority": 1}]
    assert lines([reg(acl, "w", {"name": "alb", "scope": "REGIONAL", "rules": rules})]) == []
    rules[1]["priority"] = 0
    found = lines([reg(acl, "w", {"name": "alb", "scope": "REGIONAL", "rules": rules})])
    assert any("priorities are unique" in f for f in found)


def test_name_prefixes_get_the_providers_26_character_unique_id() -> None:
    bucket = "aws:s3/bucket:Bucket"
    assert lines([reg(bucket, "b", {"bucketPrefix": "sutazai-prod-alb-logs-"})]) == []
    found = lines([reg(bucket, "b", {"bucketPrefix": "sutazai-" + "x" * 30 + "-alb-logs-"})])
    assert found and "bucketPrefix (+ 26-character unique id)" in found[0]
    role = "aws:iam/role:Role"
    assert lines([reg(role, "r", {"namePrefix": "sutazai-nodes-"})]) == []
    assert lines([reg(role, "r", {"namePrefix": "n" * 39})])


def test_alb_action_backends_need_their_annotation() -> None:
    ingress = "kubernetes:networking.k8s.io/v1:Ingress"
    service = {"name": "not-public", "port": {"name": "use-annotation"}}
    path = {"path": "/metrics", "pathType": "Prefix", "backend": {"service": service}}
    spec = {"rules": [{"http": {"paths": [path]}}]}
    action = {"alb.ingress.kubernetes.io/actions.not-public": '{"type": "fixed-response"}'}
    meta = {"name": "web", "namespace": "sutazai-core"}
    with_action = reg(ingress, "i", {"metadata": {**meta, "annotations": action}, "spec": spec})
    assert lines([namespace(), with_action]) == []
    without = reg(ingress, "i", {"metadata": meta, "spec": spec})
    assert any(
        "alb.ingress.kubernetes.io/actions.not-public" in f for f in lines([namespace(), without])
    )
