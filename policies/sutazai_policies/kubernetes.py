"""Kubernetes workload checks (pulumi-kubernetes 4.x inputs are the k8s camelCase fields).

Every kind with a pod template is covered; the pod spec is found where Kubernetes keeps it.
Security contexts are combined exactly as the kubelet does: a container field, when set,
overrides the pod field of the same name; `readOnlyRootFilesystem`, `privileged`,
`allowPrivilegeEscalation` and `capabilities` exist only on containers.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Final

from pulumi_policy import EnforcementLevel, Policy, Severity

from .rules import Resource, resource_policy
from .values import UNKNOWN, as_dict, as_int, as_list, get

# type token -> path from the resource inputs to the pod spec
POD_SPEC_PATHS: Final[dict[str, tuple[str, ...]]] = {
    "kubernetes:core/v1:Pod": ("spec",),
    "kubernetes:core/v1:ReplicationController": ("spec", "template", "spec"),
    "kubernetes:apps/v1:Deployment": ("spec", "template", "spec"),
    "kubernetes:apps/v1:StatefulSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:DaemonSet": ("spec", "template", "spec"),
    "kubernetes:apps/v1:ReplicaSet": ("spec", "template", "spec"),
    "kubernetes:batch/v1:Job": ("spec", "template", "spec"),
    "kubernetes:batch/v1:CronJob": ("spec", "jobTemplate", "spec", "template", "spec"),
}
WORKLOAD_TYPES: Final = frozenset(POD_SPEC_PATHS)
NAMESPACE_TYPE: Final = "kubernetes:core/v1:Namespace"
NETWORK_POLICY_TYPE: Final = "kubernetes:networking.k8s.io/v1:NetworkPolicy"

CONTAINER_LISTS: Final = ("initContainers", "containers", "ephemeralContainers")
# PSS "restricted" volume allow-list.
RESTRICTED_VOLUME_TYPES: Final = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
GPU_RESOURCE: Final = "nvidia.com/gpu"


@dataclass(frozen=True)
class Container:
    list_name: str  # containers | initContainers | ephemeralContainers
    name: str
    spec: dict[str, Any]

    @property
    def label(self) -> str:
        kind = {
            "initContainers": "init container",
            "ephemeralContainers": "ephemeral container",
        }.get(self.list_name, "container")
        return f"{kind} '{self.name}'"

    @property
    def security_context(self) -> dict[str, Any]:
        return as_dict(self.spec.get("securityContext"))


def _shown(value: Any, unset: str = "unset") -> str:
    return unset if value is None else repr(value)


def pod_spec(res: Resource) -> Any:
    """The pod spec dict, None when absent, UNKNOWN when computed."""
    path = POD_SPEC_PATHS.get(res.type)
    return None if path is None else get(res.props, *path)


def containers(spec: Any) -> Iterator[Container]:
    for list_name in CONTAINER_LISTS:
        for i, c in enumerate(as_list(get(spec, list_name))):
            if isinstance(c, dict):
                name = c.get("name")
                yield Container(list_name, name if isinstance(name, str) else f"#{i}", c)


def _effective(container: Container, pod_sc: dict[str, Any], field: str) -> tuple[Any, str]:
    """(value, where) with the container's field overriding the pod's, as the kubelet does."""
    c_value = container.security_context.get(field)
    if c_value is not None:
        return c_value, f"from {container.label} securityContext.{field}"
    p_value = pod_sc.get(field)
    if p_value is not None:
        return p_value, f"from pod securityContext.{field}"
    return None, f"set neither on the pod nor on {container.label}"


# ---------------------------------------------------------------- non-root / read-only


def check_non_root_read_only(res: Resource) -> Iterator[str]:
    spec = pod_spec(res)
    if spec is UNKNOWN:
        return
    if not isinstance(spec, dict):
        yield (
            "has no pod spec to verify. Fix: define the pod template (spec.template.spec) "
            "explicitly."
        )
        return
    pod_sc = as_dict(spec.get("securityContext"))
    found = False
    for c in containers(spec):
        found = True
        yield from _non_root_container(c, pod_sc)
    if not found:
        yield "has no containers to verify. Fix: declare the containers in the pod template."


def _non_root_container(c: Container, pod_sc: dict[str, Any]) -> Iterator[str]:
    # PSS "restricted" accepts runAsNonRoot: true alone, but then the kubelet must read a
    # numeric USER from the image and refuses to start a named one (`USER sutazai`,
    # `USER postgres`). We want the decision visible here, so a numeric non-zero runAsUser
    # must be effective for every container. runAsNonRoot: true is required as well:
    # without it a pod with runAsUser: 1000 is still rejected by our restricted namespaces.
    fix = (
        "Fix: set securityContext.runAsNonRoot: true and a numeric runAsUser >= 1 (pod "
        "or container)"
    )
    non_root, nr_where = _effective(c, pod_sc, "runAsNonRoot")
    user, user_where = _effective(c, pod_sc, "runAsUser")
    if non_root is not UNKNOWN and non_root is not True:
        state = "unset" if non_root is None else f"{non_root!r}"
        yield f"{c.label}: effective runAsNonRoot is {state} ({nr_where}). {fix}."
    if user is not UNKNOWN:
        uid = as_int(user)
        if user is None:
            yield (
                f"{c.label}: no numeric runAsUser is effective ({user_where}; runAsNonRoot "
                f"alone depends on the image USER). {fix}."
            )
        elif uid is None or uid < 0:
            yield f"{c.label}: runAsUser {user!r} ({user_where}) is not a numeric uid. {fix}."
        elif uid == 0:
            yield (
                f"{c.label}: effective runAsUser is 0 (root, {user_where}). {fix}; remove "
                "runAsUser: 0."
            )
    # readOnlyRootFilesystem has no pod-level field: only the container's own value counts.
    ro = c.security_context.get("readOnlyRootFilesystem")
    if ro is not UNKNOWN and ro is not True:
        yield (
            f"{c.label}: securityContext.readOnlyRootFilesystem is {_shown(ro)}. "
            "Fix: set readOnlyRootFilesystem: true on the container and mount an emptyDir/PVC "
            "for each path "
            "it must write (e.g. /tmp)."
        )


# ---------------------------------------------------------------- baseline / restricted


def check_privilege_escalation(res: Resource) -> Iterator[str]:
    for c in _containers_of(res):
        ape = c.security_context.get("allowPrivilegeEscalation")
        if ape is not UNKNOWN and ape is not False:
            yield (
                f"{c.label}: securityContext.allowPrivilegeEscalation is "
                f"{_shown(ape, 'unset (defaults to true)')}. "
                "Fix: set allowPrivilegeEscalation: false."
            )


def check_capabilities(res: Resource) -> Iterator[str]:
    for c in _containers_of(res):
        caps = c.security_context.get("capabilities")
        if caps is UNKNOWN:
            continue
        drop = get(caps, "drop")
        add = get(caps, "add")
        if drop is not UNKNOWN and "ALL" not in as_list(drop):
            yield (
                f"{c.label}: capabilities.drop does not contain ALL (got {as_list(drop)}). "
                "Fix: set capabilities.drop: [ALL]."
            )
        if add is not UNKNOWN:
            extra = [a for a in as_list(add) if a != "NET_BIND_SERVICE"]
            if extra:
                yield (
                    f"{c.label}: capabilities.add {extra} is not allowed; only NET_BIND_SERVICE "
                    "may be added. Fix: remove them (listen on a port > 1024 instead of "
                    "adding capabilities)."
                )


def check_seccomp(res: Resource) -> Iterator[str]:
    spec = pod_spec(res)
    if not isinstance(spec, dict):
        return
    pod_sc = as_dict(spec.get("securityContext"))
    for c in containers(spec):
        profile, where = _effective(c, pod_sc, "seccompProfile")
        if profile is UNKNOWN:
            continue
        ptype = get(profile, "type")
        if ptype is UNKNOWN:
            continue
        if ptype not in ("RuntimeDefault", "Localhost"):
            got = "unset" if ptype is None else repr(ptype)
            yield (
                f"{c.label}: effective seccompProfile.type is {got} ({where}). Fix: set "
                "securityContext.seccompProfile.type: RuntimeDefault on the pod (or Localhost "
                "with a profile)."
            )


def check_privileged(res: Resource) -> Iterator[str]:
    for c in _containers_of(res):
        if c.security_context.get("privileged") is True:
            yield (
                f"{c.label}: securityContext.privileged is true. Fix: remove privileged "
                "(grant a single capability instead, or run it outside the app namespaces "
                "with an exception)."
            )


def check_host_namespaces(res: Resource) -> Iterator[str]:
    spec = pod_spec(res)
    if not isinstance(spec, dict):
        return
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field) is True:
            yield (
                f"pod spec sets {field}: true. Fix: remove {field} (use a Service / the "
                "Kubernetes API instead of host namespaces)."
            )


def check_volume_types(res: Resource) -> Iterator[str]:
    spec = pod_spec(res)
    if not isinstance(spec, dict):
        return
    for i, vol in enumerate(as_list(spec.get("volumes"))):
        if not isinstance(vol, dict):
            continue
        vname = vol.get("name", f"#{i}")
        kinds = [k for k in vol if k != "name" and vol[k] is not None]
        for kind in kinds:
            if kind == "hostPath":
                path = get(vol, "hostPath", "path")
                yield (
                    f"volume '{vname}' is a hostPath ({path!r}). Fix: use an emptyDir, PVC, "
                    "configMap or secret; node access belongs in a vendor DaemonSet with "
                    "an exception."
                )
            elif kind not in RESTRICTED_VOLUME_TYPES:
                yield (
                    f"volume '{vname}' has type {kind!r}, outside the PSS restricted allow-list "
                    f"{sorted(RESTRICTED_VOLUME_TYPES)}. Fix: use one of those (e.g. a PVC "
                    "or CSI volume)."
                )


def check_host_ports(res: Resource) -> Iterator[str]:
    for c in _containers_of(res):
        for p in as_list(c.spec.get("ports")):
            host_port = get(p, "hostPort")
            if host_port is None or host_port is UNKNOWN:
                continue
            if as_int(host_port) != 0:
                yield (
                    f"{c.label}: port {get(p, 'containerPort')!r} publishes hostPort "
                    f"{host_port!r}. "
                    "Fix: remove hostPort and expose it through a Service."
                )


def check_resources(res: Resource) -> Iterator[str]:
    for c in _containers_of(res):
        # Kubernetes forbids resources on ephemeral (debug) containers.
        if c.list_name == "ephemeralContainers":
            continue
        resources = c.spec.get("resources")
        if resources is UNKNOWN:
            continue
        missing: list[str] = []
        for section in ("requests", "limits"):
            values = get(resources, section)
            if values is UNKNOWN:
                continue
            for key in ("cpu", "memory"):
                v = get(values, key)
                if v is None or v == "":
                    missing.append(f"{section}.{key}")
        if missing:
            yield (
                f"{c.label}: resources {', '.join(missing)} not set. Fix: set requests and "
                "limits for cpu and memory."
            )


def check_gpu_toleration(res: Resource) -> Iterator[str]:
    spec = pod_spec(res)
    if not isinstance(spec, dict):
        return
    gpu_users = [c.label for c in containers(spec) if _requests_gpu(c)]
    if not gpu_users:
        return
    tolerations = spec.get("tolerations")
    if tolerations is UNKNOWN:
        return
    for t in as_list(tolerations):
        if (
            get(t, "key") == GPU_RESOURCE
            and get(t, "operator") in (None, "Exists", "Equal")
            and get(t, "effect") in (None, "", "NoSchedule")
        ):
            return
    yield (
        f"{', '.join(gpu_users)} request {GPU_RESOURCE} but the pod has no toleration "
        "for the GPU node taint. "
        f"Fix: add tolerations: [{{key: {GPU_RESOURCE}, operator: Exists, effect: NoSchedule}}] "
        "(and a nodeSelector for the GPU node group)."
    )


def _requests_gpu(c: Container) -> bool:
    for section in ("limits", "requests"):
        v = get(c.spec, "resources", section, GPU_RESOURCE)
        if v is None or v is UNKNOWN:
            continue
        if as_int(v) == 0 or v == "0":
            continue
        return True
    return False


def _containers_of(res: Resource) -> Iterator[Container]:
    spec = pod_spec(res)
    if isinstance(spec, dict):
        yield from containers(spec)


# ---------------------------------------------------------------- opaque manifests

# These render their objects inside the provider; the engine (and so this pack) only ever
# sees the one resource, never the pods it creates.
OPAQUE_TYPES: Final = frozenset(
    {
        "kubernetes:helm.sh/v3:Release",
        "kubernetes:helm.sh/v4:Chart",
        "kubernetes:yaml/v2:ConfigGroup",
        "kubernetes:yaml/v2:ConfigFile",
        "kubernetes:kustomize/v2:Directory",
    }
)


def check_opaque(res: Resource) -> Iterator[str]:
    chart = res.props.get("chart")
    version = res.props.get("version")
    what = f"chart {chart!r} {version!r}" if isinstance(chart, str) else "its manifests"
    yield (
        f"renders {what} inside the provider, so none of its pods can be checked here. Fix: "
        "render it with helm.v3.Chart / yaml.ConfigFile (v1, expanded into real resources) or, "
        "once its values are reviewed for non-root, read-only, no host access, add an "
        "exception with the review as the reason."
    )


# ---------------------------------------------------------------- namespaces

PSS_ENFORCE_LABEL: Final = "pod-security.kubernetes.io/enforce"


def check_namespace_pss(res: Resource) -> Iterator[str]:
    labels = get(res.props, "metadata", "labels")
    if labels is UNKNOWN:
        return
    value = get(labels, PSS_ENFORCE_LABEL)
    if value is UNKNOWN:
        return
    if value != "restricted":
        got = "missing" if value is None else repr(value)
        yield (
            f"label {PSS_ENFORCE_LABEL} is {got}. Fix: set metadata.labels['{PSS_ENFORCE_LABEL}'] "
            "= 'restricted'."
        )


def policies() -> list[Policy]:
    return [
        resource_policy(
            "k8s-restricted-volume-types",
            "Pods use only PSS-restricted volume types; no hostPath.",
            WORKLOAD_TYPES,
            check_volume_types,
            remediation="Replace hostPath/node volumes by emptyDir/PVC/configMap/secret/CSI.",
        ),
        resource_policy(
            "k8s-no-host-ports",
            "Containers do not bind host ports.",
            WORKLOAD_TYPES,
            check_host_ports,
            remediation="Remove hostPort; expose the port through a Service.",
        ),
        resource_policy(
            "k8s-gpu-toleration",
            "Pods that request nvidia.com/gpu tolerate the GPU node taint (key nvidia.com/gpu).",
            WORKLOAD_TYPES,
            check_gpu_toleration,
            remediation="Add a toleration {key: nvidia.com/gpu, operator: Exists}.",
            severity=Severity.MEDIUM,
        ),
        resource_policy(
            "k8s-namespace-pss-restricted",
            "Namespaces enforce Pod Security Standard 'restricted'.",
            [NAMESPACE_TYPE],
            check_namespace_pss,
            remediation="Label the namespace pod-security.kubernetes.io/enforce=restricted.",
        ),
        resource_policy(
            "k8s-unverifiable-manifests",
            "Helm releases and v2 manifest components hide their pods from policy checks "
            "(advisory: review them, then record an exception).",
            OPAQUE_TYPES,
            check_opaque,
            remediation="Prefer helm.v3.Chart (expanded); else review values, add an exception.",
            severity=Severity.LOW,
            enforcement_level=EnforcementLevel.ADVISORY,
        ),
    ]
