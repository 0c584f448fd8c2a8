"""Kubernetes rules, called directly: the hardened fixture passes, every single-field
mutation that breaks it is caught by the intended rule."""

from __future__ import annotations

from typing import Any

import pytest

from .fixtures import (
    DEPLOYMENT,
    K8S_WORKLOAD_TYPES,
    NAMESPACE,
    gpu_deployment,
    hardened_container,
    hardened_pod_spec,
    namespace,
    pod_path,
    workload,
)
from .harness import UNKNOWN, Mutation, appendp, check, check_all, delp, ids, mutated, setp

POD = pod_path(DEPLOYMENT)
C0 = (*POD, "containers", 0)
I0 = (*POD, "initContainers", 0)
SC = (*C0, "securityContext")
ISC = (*I0, "securityContext")
PSC = (*POD, "securityContext")


@pytest.mark.parametrize("type_", K8S_WORKLOAD_TYPES)
def test_hardened_workload_passes_every_policy(type_: str) -> None:
    assert check_all(type_, workload(type_)) == {}


def test_hardened_gpu_workload_and_namespace_pass_every_policy() -> None:
    assert check_all(DEPLOYMENT, gpu_deployment()) == {}
    assert check_all(NAMESPACE, namespace()) == {}


# ---------------------------------------------------------------- non-root / read-only

NON_ROOT = "workload-non-root-read-only"


def _non_root_mutations(pod: tuple[str, ...]) -> list[tuple[str, Mutation]]:
    c0, i0, psc = (*pod, "containers", 0), (*pod, "initContainers", 0), (*pod, "securityContext")
    csc, isc = (*c0, "securityContext"), (*i0, "securityContext")
    # The fixture sets runAsNonRoot/runAsUser on pod AND containers; to test the pod
    # default we first remove the container copies.
    drop_c = [
        delp((*csc, "runAsNonRoot")),
        delp((*csc, "runAsUser")),
        delp((*isc, "runAsNonRoot")),
        delp((*isc, "runAsUser")),
    ]

    def with_pod_only(m: Mutation) -> Mutation:
        def apply(obj: dict[str, Any]) -> None:
            for d in drop_c:
                d(obj)
            m(obj)

        return apply

    return [
        ("container-runAsUser-0", setp((*csc, "runAsUser"), 0.0)),
        ("container-runAsNonRoot-false", setp((*csc, "runAsNonRoot"), False)),
        ("container-readOnlyRootFilesystem-false", setp((*csc, "readOnlyRootFilesystem"), False)),
        ("container-readOnlyRootFilesystem-unset", delp((*csc, "readOnlyRootFilesystem"))),
        ("container-securityContext-unset", delp(csc)),
        ("container-runAsUser-string", setp((*csc, "runAsUser"), "1000")),
        ("container-runAsUser-fraction", setp((*csc, "runAsUser"), 1000.5)),
        ("container-runAsUser-bool", setp((*csc, "runAsUser"), True)),
        ("init-runAsUser-0", setp((*isc, "runAsUser"), 0.0)),
        ("init-readOnlyRootFilesystem-false", setp((*isc, "readOnlyRootFilesystem"), False)),
        ("pod-runAsNonRoot-unset", with_pod_only(delp((*psc, "runAsNonRoot")))),
        ("pod-runAsNonRoot-false", with_pod_only(setp((*psc, "runAsNonRoot"), False))),
        ("pod-runAsUser-unset", with_pod_only(delp((*psc, "runAsUser")))),
        ("pod-runAsUser-0", with_pod_only(setp((*psc, "runAsUser"), 0.0))),
        ("pod-securityContext-unset", with_pod_only(delp(psc))),
        (
            "second-container-root",
            appendp(
                (*pod, "containers"),
                {
                    **hardened_container("sidecar"),
                    "securityContext": {"runAsUser": 0.0, "readOnlyRootFilesystem": True},
                },
            ),
        ),
    ]


NON_ROOT_CASES = [
    (t, name) for t in K8S_WORKLOAD_TYPES for name, _ in _non_root_mutations(pod_path(t))
]


@pytest.mark.parametrize(
    ("type_", "case"), NON_ROOT_CASES, ids=[f"{t.rsplit(':', 1)[1]}-{n}" for t, n in NON_ROOT_CASES]
)
def test_non_root_read_only_mutations_caught_for_every_kind(type_: str, case: str) -> None:
    mutation = dict(_non_root_mutations(pod_path(type_)))[case]
    messages = check(NON_ROOT, type_, mutated(workload(type_), mutation))
    assert messages, f"{case} on {type_} was not caught"
    assert all(type_ in m and "'subject'" in m and "Fix:" in m for m in messages)


def _pod(
    pod_sc: dict[str, Any] | None,
    container_sc: dict[str, Any],
    init_sc: dict[str, Any] | None = None,
) -> dict[str, Any]:
    spec = hardened_pod_spec()
    base = {
        "readOnlyRootFilesystem": True,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    }
    if pod_sc is None:
        spec.pop("securityContext")
    else:
        spec["securityContext"] = pod_sc
    spec["containers"][0]["securityContext"] = {**base, **container_sc}
    spec["initContainers"][0]["securityContext"] = {
        **base,
        **(init_sc if init_sc is not None else container_sc),
    }
    return spec


# (id, pod securityContext, container securityContext, passes?)
COMBINATIONS: list[tuple[str, dict[str, Any] | None, dict[str, Any], bool]] = [
    ("pod-sets-both", {"runAsNonRoot": True, "runAsUser": 1000.0}, {}, True),
    ("container-sets-both", None, {"runAsNonRoot": True, "runAsUser": 1000.0}, True),
    ("pod-nonroot-container-uid", {"runAsNonRoot": True}, {"runAsUser": 1000.0}, True),
    ("pod-uid-container-nonroot", {"runAsUser": 1000.0}, {"runAsNonRoot": True}, True),
    # As in Pod Security Admission: pod-level root/false is refused even when overridden.
    (
        "container-uid-does-not-excuse-pod-root",
        {"runAsNonRoot": True, "runAsUser": 0.0},
        {"runAsUser": 1000.0},
        False,
    ),
    (
        "container-nonroot-does-not-excuse-pod-false",
        {"runAsNonRoot": False, "runAsUser": 1000.0},
        {"runAsNonRoot": True},
        False,
    ),
    ("integral-float-uid", {"runAsNonRoot": True, "runAsUser": 65534.0}, {}, True),
    (
        "container-root-breaks-pod-nonroot",
        {"runAsNonRoot": True, "runAsUser": 1000.0},
        {"runAsUser": 0.0},
        False,
    ),
    (
        "container-false-breaks-pod-true",
        {"runAsNonRoot": True, "runAsUser": 1000.0},
        {"runAsNonRoot": False},
        False,
    ),
    ("nonroot-without-any-uid", {"runAsNonRoot": True}, {}, False),
    ("uid-without-nonroot", {"runAsUser": 1000.0}, {}, False),
    ("nothing-set", None, {}, False),
    ("pod-root-uid", {"runAsNonRoot": True, "runAsUser": 0.0}, {}, False),
    ("negative-uid", {"runAsNonRoot": True, "runAsUser": -1.0}, {}, False),
]


@pytest.mark.parametrize(
    ("case", "pod_sc", "container_sc", "passes"), COMBINATIONS, ids=[c[0] for c in COMBINATIONS]
)
def test_pod_and_container_security_context_combine_like_kubernetes(
    case: str, pod_sc: dict[str, Any] | None, container_sc: dict[str, Any], passes: bool
) -> None:
    messages = check(NON_ROOT, DEPLOYMENT, workload(DEPLOYMENT, _pod(pod_sc, container_sc)))
    assert (messages == []) == passes, messages


def test_only_the_bad_container_is_named() -> None:
    spec = _pod({"runAsNonRoot": True, "runAsUser": 1000.0}, {}, init_sc={"runAsUser": 0.0})
    messages = check(NON_ROOT, DEPLOYMENT, workload(DEPLOYMENT, spec))
    assert len(messages) == 1
    assert "initContainers[0] ('migrate')" in messages[0] and "runAsUser is 0" in messages[0]


def test_pod_level_read_only_root_filesystem_does_not_count() -> None:
    spec = _pod({"runAsNonRoot": True, "runAsUser": 1000.0, "readOnlyRootFilesystem": True}, {})
    del spec["containers"][0]["securityContext"]["readOnlyRootFilesystem"]
    messages = check(NON_ROOT, DEPLOYMENT, workload(DEPLOYMENT, spec))
    assert any("readOnlyRootFilesystem is unset" in m for m in messages)


def test_ephemeral_containers_are_checked() -> None:
    pod = workload("kubernetes:core/v1:Pod")
    pod["spec"]["ephemeralContainers"] = [
        {"name": "debug", "image": "busybox:1.37", "securityContext": {"runAsUser": 0.0}}
    ]
    messages = check(NON_ROOT, "kubernetes:core/v1:Pod", pod)
    assert any("ephemeralContainers[0] ('debug')" in m and "runAsUser is 0" in m for m in messages)
    assert any(
        "ephemeralContainers[0] ('debug')" in m and "readOnlyRootFilesystem" in m for m in messages
    )


def test_missing_pod_spec_fails_closed_and_unknown_values_are_skipped() -> None:
    assert check(NON_ROOT, DEPLOYMENT, {"metadata": {"name": "x"}})
    assert check(NON_ROOT, DEPLOYMENT, {"spec": {"template": {"spec": {"containers": []}}}})
    # Computed in preview: re-checked with real values at `pulumi up`.
    unknown = mutated(
        workload(DEPLOYMENT), setp((*SC, "runAsUser"), UNKNOWN), setp((*PSC, "runAsUser"), UNKNOWN)
    )
    assert check(NON_ROOT, DEPLOYMENT, unknown) == []
    # ...but an unknown field does not hide a known violation next to it.
    both = mutated(unknown, setp((*SC, "readOnlyRootFilesystem"), False))
    assert [m for m in check(NON_ROOT, DEPLOYMENT, both) if "readOnlyRootFilesystem" in m]


# ---------------------------------------------------------------- the other workload rules

GPU = "nvidia.com/gpu"
MUTATIONS: list[tuple[str, str, Mutation]] = [
    ("no-privilege-escalation", "ape-true", setp((*SC, "allowPrivilegeEscalation"), True)),
    ("no-privilege-escalation", "ape-unset", delp((*SC, "allowPrivilegeEscalation"))),
    ("no-privilege-escalation", "init-ape-true", setp((*ISC, "allowPrivilegeEscalation"), True)),
    (
        "drop-all-capabilities",
        "drop-net-raw-only",
        setp((*SC, "capabilities", "drop"), ["NET_RAW"]),
    ),
    ("drop-all-capabilities", "drop-lowercase-all", setp((*SC, "capabilities", "drop"), ["all"])),
    ("drop-all-capabilities", "capabilities-unset", delp((*SC, "capabilities"))),
    ("drop-all-capabilities", "add-sys-admin", setp((*SC, "capabilities", "add"), ["SYS_ADMIN"])),
    ("drop-all-capabilities", "init-drop-unset", delp((*ISC, "capabilities", "drop"))),
    (
        "seccomp-profile",
        "container-unconfined",
        setp((*SC, "seccompProfile"), {"type": "Unconfined"}),
    ),
    ("seccomp-profile", "pod-unconfined", setp((*PSC, "seccompProfile", "type"), "Unconfined")),
    ("seccomp-profile", "pod-unset", delp((*PSC, "seccompProfile"))),
    ("no-privileged-containers", "privileged", setp((*SC, "privileged"), True)),
    ("no-privileged-containers", "init-privileged", setp((*ISC, "privileged"), True)),
    ("no-host-namespaces", "hostNetwork", setp((*POD, "hostNetwork"), True)),
    ("no-host-namespaces", "hostPID", setp((*POD, "hostPID"), True)),
    ("no-host-namespaces", "hostIPC", setp((*POD, "hostIPC"), True)),
    (
        "k8s-restricted-volume-types",
        "hostPath",
        appendp((*POD, "volumes"), {"name": "sock", "hostPath": {"path": "/var/run/docker.sock"}}),
    ),
    (
        "k8s-restricted-volume-types",
        "nfs",
        appendp((*POD, "volumes"), {"name": "nfs", "nfs": {"server": "nas", "path": "/"}}),
    ),
    ("k8s-no-host-ports", "hostPort", setp((*C0, "ports", 0, "hostPort"), 8000.0)),
    ("resource-limits", "requests-cpu", delp((*C0, "resources", "requests", "cpu"))),
    ("resource-limits", "requests-memory", delp((*C0, "resources", "requests", "memory"))),
    ("resource-limits", "limits-cpu", delp((*C0, "resources", "limits", "cpu"))),
    ("resource-limits", "limits-memory", delp((*C0, "resources", "limits", "memory"))),
    ("resource-limits", "resources-unset", delp((*C0, "resources"))),
    ("resource-limits", "init-limits-memory", delp((*I0, "resources", "limits", "memory"))),
    ("image-pinned", "latest", setp((*C0, "image"), "ollama/ollama:latest")),
    ("image-pinned", "no-tag", setp((*C0, "image"), "qdrant/qdrant")),
    (
        "image-pinned",
        "registry-port-no-tag",
        setp((*C0, "image"), "registry.local:5000/sutazai/backend"),
    ),
    ("image-pinned", "image-unset", delp((*C0, "image"))),
    ("image-pinned", "init-latest", setp((*I0, "image"), "busybox:latest")),
    (
        "image-digest-pinned",
        "tag-only-in-prod",
        setp((*C0, "image"), "qdrant/qdrant:v1.19.0-unprivileged"),
    ),
    (
        "no-plaintext-secrets-in-env",
        "password",
        appendp((*C0, "env"), {"name": "DB_PASSWORD", "value": "hunter2"}),
    ),
    (
        "no-plaintext-secrets-in-env",
        "secret",
        appendp((*C0, "env"), {"name": "JWT_SECRET", "value": "x"}),
    ),
    (
        "no-plaintext-secrets-in-env",
        "token",
        appendp((*C0, "env"), {"name": "GITHUB_TOKEN", "value": "ghp_x"}),
    ),
    (
        "no-plaintext-secrets-in-env",
        "api-key",
        appendp((*C0, "env"), {"name": "OPENAI_API_KEY", "value": "sk-x"}),
    ),
    (
        "no-plaintext-secrets-in-env",
        "private-key",
        appendp((*C0, "env"), {"name": "TLS_PRIVATE_KEY", "value": "-----BEGIN"}),
    ),
    (
        "no-plaintext-secrets-in-env",
        "credential",
        appendp((*C0, "env"), {"name": "aws_credentials", "value": "x"}),
    ),
    (
        "no-plaintext-secrets-in-env",
        "init-password",
        appendp((*I0, "env"), {"name": "PGPASSWORD", "value": "x"}),
    ),
]


@pytest.mark.parametrize(
    ("policy", "case", "mutation"), MUTATIONS, ids=[f"{m[0]}:{m[1]}" for m in MUTATIONS]
)
def test_each_mutation_is_caught_by_its_rule(policy: str, case: str, mutation: Mutation) -> None:
    broken = mutated(workload(DEPLOYMENT), mutation)
    messages = check(policy, DEPLOYMENT, broken)
    assert messages, f"{policy} missed {case}"
    assert all(DEPLOYMENT in m and "Fix:" in m for m in messages)


def test_allowed_variants_pass() -> None:
    ok = [
        setp((*SC, "capabilities", "add"), ["NET_BIND_SERVICE"]),
        setp(
            (*SC, "seccompProfile"),
            {"type": "Localhost", "localhostProfile": "profiles/sutazai.json"},
        ),
        setp((*C0, "image"), "qdrant/qdrant:v1.19.0-unprivileged@" + "sha256:" + "ab" * 32),
        setp((*C0, "ports", 0, "hostPort"), 0.0),
        appendp((*C0, "env"), {"name": "TOKEN_SECRET_FILE", "value": "/vault/secrets/token"}),
        appendp(
            (*C0, "env"),
            {"name": "OPENAI_API_KEY", "valueFrom": {"secretKeyRef": {"name": "o", "key": "k"}}},
        ),
        appendp((*POD, "volumes"), {"name": "csi", "csi": {"driver": "secrets-store.csi.k8s.io"}}),
    ]
    for m in ok:
        assert check_all(DEPLOYMENT, mutated(workload(DEPLOYMENT), m)) == {}


def test_digest_preference_is_prod_only() -> None:
    tagged = mutated(workload(DEPLOYMENT), setp((*C0, "image"), "redis:7.4-alpine"))
    assert check("image-digest-pinned", DEPLOYMENT, tagged, stack="prod")
    # Prod-ness comes from the policy config, never from the stack's name.
    assert check("image-digest-pinned", DEPLOYMENT, tagged, stack="dev", environment="prod")
    assert check("image-digest-pinned", DEPLOYMENT, tagged, stack="prod", environment="dev") == []
    assert (
        check("image-digest-pinned", DEPLOYMENT, tagged, stack="dev-alice", environment="dev") == []
    )


def _gpu_moved_to(list_name: str, section: str) -> Mutation:
    def apply(obj: dict[str, Any]) -> None:
        spec = obj["spec"]["template"]["spec"]
        del spec["tolerations"]
        del spec["containers"][0]["resources"]["limits"][GPU]
        spec[list_name][0]["resources"][section][GPU] = "1"

    return apply


GPU_MUTATIONS: list[tuple[str, Mutation]] = [
    ("no-tolerations", delp((*POD, "tolerations"))),
    ("other-key", setp((*POD, "tolerations", 0, "key"), "dedicated")),
    ("wrong-effect", setp((*POD, "tolerations", 0, "effect"), "NoExecute")),
    ("gpu-in-requests-only", _gpu_moved_to("containers", "requests")),
    ("gpu-in-init-container", _gpu_moved_to("initContainers", "limits")),
]


@pytest.mark.parametrize("case", GPU_MUTATIONS, ids=ids(GPU_MUTATIONS))
def test_gpu_requests_need_the_gpu_toleration(case: tuple[str, Mutation]) -> None:
    messages = check("k8s-gpu-toleration", DEPLOYMENT, mutated(gpu_deployment(), case[1]))
    assert messages and GPU in messages[0]


def test_gpu_rule_ignores_pods_without_gpus_and_zero_requests() -> None:
    assert check("k8s-gpu-toleration", DEPLOYMENT, workload(DEPLOYMENT)) == []
    zero = mutated(
        gpu_deployment(), delp((*POD, "tolerations")), setp((*C0, "resources", "limits", GPU), 0.0)
    )
    assert check("k8s-gpu-toleration", DEPLOYMENT, zero) == []


NAMESPACE_MUTATIONS: list[tuple[str, Mutation]] = [
    ("baseline", setp(("metadata", "labels", "pod-security.kubernetes.io/enforce"), "baseline")),
    ("label-unset", delp(("metadata", "labels", "pod-security.kubernetes.io/enforce"))),
    ("labels-unset", delp(("metadata", "labels"))),
]


@pytest.mark.parametrize("case", NAMESPACE_MUTATIONS, ids=ids(NAMESPACE_MUTATIONS))
def test_namespace_must_enforce_restricted(case: tuple[str, Mutation]) -> None:
    messages = check("k8s-namespace-pss-restricted", NAMESPACE, mutated(namespace(), case[1]))
    assert messages and "restricted" in messages[0]


@pytest.mark.parametrize(
    "type_", ["kubernetes:helm.sh/v3:Release", "command:local:Command", "command:remote:Command"]
)
def test_opaque_installers_are_refused_and_name_the_fix(type_: str) -> None:
    release = {"chart": "aws-load-balancer-controller", "version": "1.14.0"}
    messages = check("no-opaque-installers", type_, release, name="alb-controller")
    assert len(messages) == 1 and "out of the pack's sight" in messages[0]
    assert "render the objects in the program" in messages[0]


@pytest.mark.parametrize(
    "type_",
    [
        "kubernetes:helm.sh/v4:Chart",
        "kubernetes:yaml/v2:ConfigGroup",
        "kubernetes:yaml/v2:ConfigFile",
    ],
)
def test_preview_only_components_are_advisory(type_: str) -> None:
    messages = check("k8s-unverifiable-manifests", type_, {"file": "x.yaml"}, name="crds")
    assert len(messages) == 1 and "only at `pulumi preview`" in messages[0]
    assert check("no-opaque-installers", type_, {"file": "x.yaml"}, name="crds") == []
