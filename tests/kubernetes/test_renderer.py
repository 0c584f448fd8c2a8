"""The workload renderer's pure builders: one spec in, hardened manifests out."""

from __future__ import annotations

import pytest

from components.kubernetes import ingress_hosts, workloads
from components.kubernetes.models import model_preload
from components.kubernetes.naming import Naming
from components.kubernetes.security import container_security_context, pod_security_context
from stacks.catalog import Catalog, HardeningException, Tier, load_catalog


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return load_catalog()


def inputs(catalog: Catalog, name: str, **changes: object) -> workloads.WorkloadInputs:
    spec = catalog[name]
    return workloads.WorkloadInputs(
        spec=spec,
        namespace="ns",
        image="img:1",
        **changes,  # type: ignore[arg-type]
    )


def test_namespaces_carry_the_stack_only_for_ephemeral_stacks() -> None:
    assert Naming.for_stack("prod", ephemeral=False).namespace(Tier.DATA) == "sutazai-data"
    assert Naming.for_stack("dev-alice", ephemeral=True).namespace(Tier.DATA) == "dev-alice-data"
    labels = Naming("sutazai").namespace_labels(Tier.CORE)
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"


def test_one_function_hardens_pod_and_every_container(catalog: Catalog) -> None:
    manifest = workloads.workload(
        inputs(
            catalog,
            "ollama",
            init_containers=[model_preload(catalog["ollama"], "img:1", ["m"], {})],
        )
    )
    pod = manifest["spec"]["template"]["spec"]
    spec = catalog["ollama"]
    assert pod["securityContext"] == pod_security_context(spec)
    for container in pod["containers"] + pod["initContainers"]:
        assert container["securityContext"] == container_security_context(spec)
    context = container_security_context(spec)
    assert context["readOnlyRootFilesystem"] is True
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["runAsUser"] == spec.uid and context["allowPrivilegeEscalation"] is False


def test_only_a_catalog_exception_relaxes_the_root_filesystem(catalog: Catalog) -> None:
    spec = catalog["backend"].model_copy(
        update={
            "exceptions": [
                HardeningException(
                    rule="read-only-root-filesystem", reason="writes a cache it cannot move"
                )
            ]
        }
    )
    relaxed = container_security_context(spec)
    assert relaxed["readOnlyRootFilesystem"] is False
    assert relaxed["capabilities"] == {"drop": ["ALL"]} and relaxed["runAsNonRoot"] is True


def test_stateful_services_get_a_claim_per_replica_and_a_governing_service(
    catalog: Catalog,
) -> None:
    manifest = workloads.workload(inputs(catalog, "qdrant", retain_volumes=True))
    assert manifest["kind"] == "StatefulSet"
    assert manifest["spec"]["serviceName"] == "qdrant-pods"
    (claim,) = manifest["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == catalog["qdrant"].storage.size  # type: ignore[union-attr]
    services = workloads.services(catalog["qdrant"], "ns")
    assert [s["metadata"]["name"] for s in services] == ["qdrant", "qdrant-pods"]
    assert services[1]["spec"]["clusterIP"] == "None"
    assert workloads.workload(inputs(catalog, "frontend"))["kind"] == "Deployment"


def test_probes_follow_the_catalog(catalog: Catalog) -> None:
    redis = workloads.probes(catalog["redis"])
    assert redis["livenessProbe"]["tcpSocket"] == {"port": "redis"}
    assert redis["readinessProbe"]["exec"]["command"][0] == "sh"
    neo4j = workloads.probes(catalog["neo4j"])
    assert neo4j["startupProbe"]["failureThreshold"] * neo4j["startupProbe"]["periodSeconds"] >= 300
    assert "startupProbe" not in workloads.probes(catalog["frontend"])


def test_config_files_are_mounted_read_only_file_by_file(catalog: Catalog) -> None:
    files = {"/etc/app/a.yaml": "a: 1", "/etc/app/b.yaml": "b: 2"}
    manifest = workloads.workload(inputs(catalog, "backend", config_files=files))
    pod = manifest["spec"]["template"]["spec"]
    mounts = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == "config"]
    assert {(m["mountPath"], m["readOnly"]) for m in mounts} == {
        ("/etc/app/a.yaml", True),
        ("/etc/app/b.yaml", True),
    }
    annotations = manifest["spec"]["template"]["metadata"]["annotations"]
    assert len(annotations[workloads.CONFIG_HASH_ANNOTATION]) == 64


def test_vault_agent_gets_a_projected_token_not_the_app(catalog: Catalog) -> None:
    manifest = workloads.workload(
        inputs(catalog, "backend", pod_annotations={"vault.hashicorp.com/agent-inject": "true"})
    )
    pod = manifest["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    volume = next(v for v in pod["volumes"] if v["name"] == workloads.VAULT_TOKEN_VOLUME)
    assert "serviceAccountToken" in volume["projected"]["sources"][0]
    assert workloads.VAULT_TOKEN_VOLUME not in {
        m["name"] for m in pod["containers"][0]["volumeMounts"]
    }
    annotations = manifest["spec"]["template"]["metadata"]["annotations"]
    assert annotations[workloads.VAULT_TOKEN_ANNOTATION] == workloads.VAULT_TOKEN_VOLUME


def test_ingress_hosts_come_from_the_graph(catalog: Catalog) -> None:
    assert ingress_hosts(catalog, "example.com") == {
        "frontend": "example.com",
        "backend": "api.example.com",
    }


# ── the add-ons we render: hardened by the same function, relaxed only by waivers ───────


def test_add_ons_are_hardened_by_the_one_function() -> None:
    from components.cluster import DEVICE_PLUGIN, nvidia_device_plugin
    from components.kubernetes import autoscaler
    from components.vault.injector import INJECTOR, deployment_spec

    injector = deployment_spec(
        app="i",
        match_labels={"a": "b"},
        labels={"a": "b"},
        replicas=2,
        vault_address="https://vault:8200",
        auth_path="k",
        webhook_config_name="w",
        tls_hosts="h",
    )["template"]["spec"]
    rendered = {
        "injector": (injector, INJECTOR),
        "device plugin": (nvidia_device_plugin()["spec"]["template"]["spec"], DEVICE_PLUGIN),
        "autoscaler": (
            autoscaler.deployment(cluster_name="c", region="us-east-1", cluster_version="1.31")[
                "spec"
            ]["template"]["spec"],
            autoscaler.CLUSTER_AUTOSCALER,
        ),
    }
    for what, (pod, add_on) in rendered.items():
        assert pod["securityContext"] == pod_security_context(add_on), what
        for container in pod["containers"]:
            context = container["securityContext"]
            assert context == container_security_context(add_on), what
            assert context["allowPrivilegeEscalation"] is False, what
            assert context["capabilities"] == {"drop": ["ALL"]}, what
            assert context["seccompProfile"] == {"type": "RuntimeDefault"}, what
        assert pod["automountServiceAccountToken"] is add_on.exempt_from("kube-api-token")
    # Only the device plugin runs as root with a host path, and it says why.
    assert [a.name for _, a in rendered.values() if a.uid == 0] == ["nvidia-device-plugin"]
    assert {w.rule for w in DEVICE_PLUGIN.waivers} == {
        "run-as-root",
        "host-path",
        "read-only-root-filesystem",
    }
    assert injector["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True


def test_waivers_are_typed_and_reasoned() -> None:
    from components.kubernetes.security import AddOn, Waiver, host_path_volume

    with pytest.raises(ValueError, match="reason"):
        Waiver("run-as-root", "because")
    root = Waiver("run-as-root", "creates a socket in a root-owned host directory")
    host = Waiver("host-path", "registers with the kubelet through its socket directory")
    with pytest.raises(ValueError, match="uid 0"):
        AddOn(name="x", uid=0, gid=0)  # root without a waiver
    with pytest.raises(ValueError, match="uid 0"):
        AddOn(name="x", uid=10, gid=10, waivers=(root,))
    with pytest.raises(ValueError, match="host-path"):
        AddOn(name="x", uid=10, gid=10, host_paths=("/var/run",))
    add_on = AddOn(name="x", uid=0, gid=0, waivers=(root, host), host_paths=("/var/lib/x",))
    assert host_path_volume(add_on, "v", "/var/lib/x")["hostPath"]["path"] == "/var/lib/x"
    with pytest.raises(ValueError, match="no host-path waiver"):
        host_path_volume(add_on, "v", "/etc")
    assert pod_security_context(add_on)["runAsUser"] == 0
    assert container_security_context(add_on)["readOnlyRootFilesystem"] is True


def test_the_autoscaler_matches_the_cluster_version() -> None:
    from components.kubernetes import autoscaler

    assert autoscaler.image_for("1.31").endswith(":v1.31.1")
    with pytest.raises(ValueError, match=r"1\.19"):
        autoscaler.image_for("1.19")
