"""Kubernetes checks: every pod the pack can find by shape (pods.py), PSS `restricted` as the
Pod Security Admission code checks it, a hardened layer beyond it, custom resources and
installers.

Security contexts are combined as the kubelet does: a container field, when set, overrides
the pod field of the same name. As in PSA, a pod-level `runAsNonRoot: false`, `runAsUser: 0`
or `seccompProfile: Unconfined` is refused even when every container overrides it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from pulumi_policy import EnforcementLevel, Policy, Severity

from .config import is_prod
from .pods import POD_KINDS, Container, Pod, containers_of, kind_of, pods_of, search_of
from .rules import Finding, Resource, resource_policy
from .values import UNKNOWN, as_int, as_list, get

NAMESPACE_TYPE: Final = "kubernetes:core/v1:Namespace"
NETWORK_POLICY_TYPE: Final = "kubernetes:networking.k8s.io/v1:NetworkPolicy"

# Installers whose objects never reach the pack (the provider or a shell applies them).
OPAQUE_INSTALLERS: Final = frozenset(
    {"kubernetes:helm.sh/v3:Release", "command:local:Command", "command:remote:Command"}
)
# v2 components: the engine sends their children to the pack at preview, not offline.
PREVIEW_ONLY_INSTALLERS: Final = frozenset(
    {
        "kubernetes:helm.sh/v4:Chart",
        "kubernetes:yaml/v2:ConfigGroup",
        "kubernetes:yaml/v2:ConfigFile",
        "kubernetes:kustomize/v2:Directory",
    }
)
# v1 components register their children from the program: the pack sees each one.
CLIENT_SIDE_COMPONENTS: Final = frozenset(
    {
        "kubernetes:helm.sh/v3:Chart",
        "kubernetes:yaml:ConfigFile",
        "kubernetes:yaml:ConfigGroup",
        "kubernetes:kustomize:Directory",
    }
)
BUILT_IN_GROUPS: Final = frozenset(
    {
        "core",
        "apps",
        "batch",
        "autoscaling",
        "policy",
        "extensions",
        "networking.k8s.io",
        "rbac.authorization.k8s.io",
        "storage.k8s.io",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "node.k8s.io",
        "scheduling.k8s.io",
        "resource.k8s.io",
        "storagemigration.k8s.io",
        "internal.apiserver.k8s.io",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "settings.k8s.io",
    }
)

# PSS restricted volume allow-list.
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
# PSS baseline "safe" sysctls (pod-security-admission, up to v1.32).
SAFE_SYSCTLS: Final = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
SELINUX_TYPES: Final = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
APPARMOR_ANNOTATION: Final = "container.apparmor.security.beta.kubernetes.io/"
SECCOMP_ANNOTATIONS: Final = (
    "seccomp.security.alpha.kubernetes.io/pod",
    "container.seccomp.security.alpha.kubernetes.io/",
)
VAULT_AGENT: Final = "vault.hashicorp.com/"
GPU_RESOURCE: Final = "nvidia.com/gpu"
PSS_ENFORCE_LABEL: Final = "pod-security.kubernetes.io/enforce"
PSS_VERSION_LABEL: Final = "pod-security.kubernetes.io/enforce-version"


def group_of(type_token: str) -> str | None:
    """`kubernetes:apps/v1:Deployment` -> `apps`; `kubernetes:core/v1:Pod` -> `core`."""
    parts = type_token.split(":")
    if len(parts) != 3 or parts[0] != "kubernetes":
        return None
    module = parts[1]
    return module.split("/", 1)[0] if "/" in module else module


def is_workload_candidate(type_token: str) -> bool:
    """Every Kubernetes object may carry a pod, except installers (their own policies)."""
    return (
        type_token.startswith("kubernetes:")
        and type_token not in OPAQUE_INSTALLERS
        and type_token not in PREVIEW_ONLY_INSTALLERS
        and type_token not in CLIENT_SIDE_COMPONENTS
    )


def _shown(value: Any, unset: str = "unset") -> str:
    return unset if value is None else repr(value)


def _effective(pod: Pod, c: Container, field: str) -> tuple[Any, str]:
    """(value, where) with the container's field overriding the pod's, as the kubelet does."""
    c_value = c.security_context.get(field)
    if c_value is not None:
        return c_value, f"{c.path}.securityContext.{field}"
    p_value = pod.security_context.get(field)
    if p_value is not None:
        return p_value, pod.field(f"securityContext.{field}")
    return None, f"neither {pod.field('securityContext')} nor {c.path}.securityContext"


# ---------------------------------------------------------------- non-root / read-only

_NON_ROOT_FIX = (
    "Fix: set securityContext.runAsNonRoot: true and a numeric runAsUser >= 1 (pod or "
    "container), never false/0 at either level"
)
_GROUP_FIX = "Fix: use a numeric non-zero group (the service's own gid)"


def check_non_root_read_only(res: Resource) -> Iterator[str | Finding]:
    found = search_of(res)
    kind = kind_of(res.type)
    if not found.pods:
        if kind in POD_KINDS and group_of(res.type) in BUILT_IN_GROUPS and not found.saw_unknown:
            yield (
                f"has no pod spec to verify ({kind} without spec.template.spec / spec). "
                "Fix: define the pod template explicitly."
            )
        return
    for pod in found.pods:
        yield from _pod_identity(pod)
        any_container = False
        for c in pod.containers():
            any_container = True
            yield from _container_identity(pod, c)
        containers = pod.spec.get("containers")
        if not any_container and containers is not UNKNOWN:
            yield f"{pod.label} has no containers to verify. Fix: declare its containers."


def _pod_identity(pod: Pod) -> Iterator[Finding]:
    sc = pod.security_context
    where = pod.field("securityContext")
    if sc.get("runAsNonRoot") is False:
        yield Finding(
            f"{where}.runAsNonRoot is false (refused even when containers override it). "
            f"{_NON_ROOT_FIX}.",
            "runAsNonRoot",
            False,
        )
    user = sc.get("runAsUser")
    if user is not None and user is not UNKNOWN and as_int(user) == 0:
        yield Finding(
            f"{where}.runAsUser is 0 (root; refused even when containers override it). "
            f"{_NON_ROOT_FIX}.",
            "runAsUser",
            0,
        )
    for field in ("runAsGroup", "fsGroup"):
        value = sc.get(field)
        if value is not None and value is not UNKNOWN and as_int(value) != 0:
            if as_int(value) is None or (as_int(value) or 0) < 0:
                yield Finding(
                    f"{where}.{field} {value!r} is not a numeric gid. {_GROUP_FIX}.", field, value
                )
        elif value is not None and value is not UNKNOWN:
            yield Finding(f"{where}.{field} is 0 (the root group). {_GROUP_FIX}.", field, 0)
    groups = sc.get("supplementalGroups")
    if groups is not UNKNOWN:
        for g in as_list(groups):
            if as_int(g) == 0 or (isinstance(g, str) and g.strip() in ("0", "root")):
                yield Finding(
                    f"{where}.supplementalGroups contains 0 (the root group). {_GROUP_FIX}.",
                    "supplementalGroups",
                    0,
                )


def _container_identity(pod: Pod, c: Container) -> Iterator[Finding]:
    non_root, nr_where = _effective(pod, c, "runAsNonRoot")
    user, user_where = _effective(pod, c, "runAsUser")
    if non_root is not UNKNOWN and non_root is not True:
        yield Finding(
            f"{c.label}: effective runAsNonRoot is {_shown(non_root)} ({nr_where}). "
            f"{_NON_ROOT_FIX}.",
            "runAsNonRoot",
            non_root,
        )
    if user is not UNKNOWN:
        uid = as_int(user)
        if user is None:
            yield Finding(
                f"{c.label}: no numeric runAsUser is effective ({user_where}; runAsNonRoot "
                f"alone depends on the image USER). {_NON_ROOT_FIX}.",
                "runAsUser",
                None,
            )
        elif uid is None or uid < 0:
            yield Finding(
                f"{c.label}: runAsUser {user!r} ({user_where}) is not a numeric uid. "
                f"{_NON_ROOT_FIX}.",
                "runAsUser",
                user,
            )
        elif uid == 0:
            yield Finding(
                f"{c.label}: effective runAsUser is 0 (root, {user_where}). {_NON_ROOT_FIX}.",
                "runAsUser",
                0,
            )
    group = c.security_context.get("runAsGroup")
    if group is not None and group is not UNKNOWN and as_int(group) != 0:
        gid = as_int(group)
        if gid is None or gid < 0:
            yield Finding(
                f"{c.label}: securityContext.runAsGroup {group!r} is not a numeric gid. "
                f"{_GROUP_FIX}.",
                "runAsGroup",
                group,
            )
    elif group is not None and group is not UNKNOWN:
        yield Finding(
            f"{c.label}: securityContext.runAsGroup is 0 (the root group). {_GROUP_FIX}.",
            "runAsGroup",
            0,
        )
    # readOnlyRootFilesystem has no pod-level field: only the container's own value counts.
    ro = c.security_context.get("readOnlyRootFilesystem")
    if ro is not UNKNOWN and ro is not True:
        yield Finding(
            f"{c.label}: securityContext.readOnlyRootFilesystem is {_shown(ro)}. Fix: set "
            "readOnlyRootFilesystem: true and mount an emptyDir/PVC for each path it writes.",
            "readOnlyRootFilesystem",
            ro,
        )


# ---------------------------------------------------------------- baseline / restricted


def check_privilege_escalation(res: Resource) -> Iterator[Finding]:
    for _, c in containers_of(res):
        ape = c.security_context.get("allowPrivilegeEscalation")
        if ape is not UNKNOWN and ape is not False:
            yield Finding(
                f"{c.label}: securityContext.allowPrivilegeEscalation is "
                f"{_shown(ape, 'unset (defaults to true)')}. Fix: set "
                "allowPrivilegeEscalation: false.",
                "allowPrivilegeEscalation",
                ape,
            )


def check_capabilities(res: Resource) -> Iterator[Finding]:
    for _, c in containers_of(res):
        caps = c.security_context.get("capabilities")
        if caps is UNKNOWN:
            continue
        drop, add = get(caps, "drop"), get(caps, "add")
        # PSA compares the literal "ALL" and "NET_BIND_SERVICE".
        if drop is not UNKNOWN and "ALL" not in as_list(drop):
            yield Finding(
                f"{c.label}: securityContext.capabilities.drop does not contain ALL (got "
                f"{as_list(drop)}). Fix: set capabilities.drop: [ALL].",
                "capabilities.drop",
                drop,
            )
        if add is not UNKNOWN:
            for cap in as_list(add):
                if cap != "NET_BIND_SERVICE":
                    yield Finding(
                        f"{c.label}: securityContext.capabilities.add has {cap!r}; only "
                        "NET_BIND_SERVICE may be added. Fix: remove it (listen on a port "
                        "> 1024 instead).",
                        "capabilities.add",
                        cap,
                    )


def _seccomp_type(profile: Any) -> Any:
    return UNKNOWN if profile is UNKNOWN else get(profile, "type")


def check_seccomp(res: Resource) -> Iterator[Finding]:
    fix = "Fix: set securityContext.seccompProfile.type: RuntimeDefault on the pod."
    for pod in pods_of(res):
        pod_type = _seccomp_type(pod.security_context.get("seccompProfile"))
        if pod_type == "Unconfined":
            yield Finding(
                f"{pod.field('securityContext.seccompProfile.type')} is Unconfined (refused "
                f"even when containers override it). {fix}",
                "seccompProfile",
                "Unconfined",
            )
        for c in pod.containers():
            profile, where = _effective(pod, c, "seccompProfile")
            ptype = _seccomp_type(profile)
            if ptype is UNKNOWN or ptype in ("RuntimeDefault", "Localhost"):
                continue
            yield Finding(
                f"{c.label}: effective seccompProfile.type is {_shown(ptype)} ({where}). {fix}",
                "seccompProfile",
                ptype,
            )
        annotations = pod.annotations
        if isinstance(annotations, dict):
            for key, value in annotations.items():
                if key.startswith(SECCOMP_ANNOTATIONS) and value == "unconfined":
                    yield Finding(
                        f"pod annotation {key} is 'unconfined'. Fix: remove it and set "
                        "seccompProfile.type: RuntimeDefault.",
                        "seccompProfile",
                        "Unconfined",
                    )


def check_privileged(res: Resource) -> Iterator[Finding]:
    for _, c in containers_of(res):
        value = c.security_context.get("privileged")
        if value is not None and value is not UNKNOWN and value is not False:
            yield Finding(
                f"{c.label}: securityContext.privileged is {value!r}. Fix: remove privileged "
                "(grant one capability instead).",
                "privileged",
                value,
            )


def check_host_namespaces(res: Resource) -> Iterator[Finding]:
    for pod in pods_of(res):
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            value = pod.spec.get(field)
            if value is not None and value is not UNKNOWN and value is not False:
                yield Finding(
                    f"{pod.field(field)} is {value!r}. Fix: remove {field} (use a Service or "
                    "the Kubernetes API instead of host namespaces).",
                    field,
                    value,
                )


def check_volume_types(res: Resource) -> Iterator[Finding]:
    for pod in pods_of(res):
        volumes = pod.spec.get("volumes")
        for i, vol in enumerate(as_list(volumes)):
            if not isinstance(vol, dict):
                continue
            where = pod.field(f"volumes[{i}]") + f" ('{vol.get('name', f'#{i}')}')"
            for kind in (k for k in vol if k != "name" and vol[k] is not None):
                if kind == "hostPath":
                    path = get(vol, "hostPath", "path")
                    yield Finding(
                        f"{where} is a hostPath ({path!r}). Fix: use an emptyDir, PVC, "
                        "configMap or secret; node access needs an exact waiver of that path.",
                        "hostPath",
                        path,
                    )
                elif kind not in RESTRICTED_VOLUME_TYPES:
                    yield Finding(
                        f"{where} has type {kind!r}, outside the PSS restricted allow-list "
                        f"{sorted(RESTRICTED_VOLUME_TYPES)}. Fix: use one of those.",
                        "volumeType",
                        kind,
                    )


def check_host_ports(res: Resource) -> Iterator[Finding]:
    for _, c in containers_of(res):
        for j, p in enumerate(as_list(c.spec.get("ports"))):
            host_port = get(p, "hostPort")
            if host_port is None or host_port is UNKNOWN or as_int(host_port) == 0:
                continue
            yield Finding(
                f"{c.label}: ports[{j}].hostPort is {host_port!r}. Fix: remove hostPort and "
                "expose the port through a Service.",
                "hostPort",
                host_port,
            )


def check_pod_security_restricted(res: Resource) -> Iterator[Finding]:
    """The PSS fields the other policies do not read: procMount, sysctls, SELinux,
    AppArmor (field and annotation), Windows hostProcess."""
    for pod in pods_of(res):
        psc = pod.security_context
        for j, sysctl in enumerate(as_list(psc.get("sysctls"))):
            name = get(sysctl, "name")
            if name is not UNKNOWN and name not in SAFE_SYSCTLS:
                yield Finding(
                    f"{pod.field(f'securityContext.sysctls[{j}]')} sets {name!r}, not a PSS "
                    "safe sysctl. Fix: remove it.",
                    "sysctl",
                    name,
                )
        yield from _selinux(pod.field("securityContext"), psc)
        yield from _apparmor(pod.field("securityContext"), psc)
        yield from _host_process(pod.field("securityContext"), psc)
        for c in pod.containers():
            csc = c.security_context
            where = f"{c.label}: securityContext"
            proc = csc.get("procMount")
            if proc is not None and proc is not UNKNOWN and proc != "Default":
                yield Finding(
                    f"{where}.procMount is {proc!r}. Fix: remove it (Default).", "procMount", proc
                )
            yield from _selinux(where, csc)
            yield from _apparmor(where, csc)
            yield from _host_process(where, csc)
        annotations = pod.annotations
        if isinstance(annotations, dict):
            for key, value in annotations.items():
                if not key.startswith(APPARMOR_ANNOTATION) or value is UNKNOWN:
                    continue
                if not (value == "runtime/default" or str(value).startswith("localhost/")):
                    yield Finding(
                        f"pod annotation {key} is {value!r}. Fix: use runtime/default (or "
                        "appArmorProfile.type: RuntimeDefault).",
                        "appArmorProfile",
                        value,
                    )


def _selinux(where: str, sc: dict[str, Any]) -> Iterator[Finding]:
    opts = sc.get("seLinuxOptions")
    if not isinstance(opts, dict):
        return
    se_type = opts.get("type")
    if se_type is not None and se_type is not UNKNOWN and se_type not in SELINUX_TYPES:
        yield Finding(
            f"{where}.seLinuxOptions.type is {se_type!r}. Fix: remove it or use one of "
            f"{sorted(t for t in SELINUX_TYPES if t)}.",
            "seLinuxOptions.type",
            se_type,
        )
    for field in ("user", "role"):
        value = opts.get(field)
        if value not in (None, "", UNKNOWN):
            yield Finding(
                f"{where}.seLinuxOptions.{field} is {value!r}. Fix: remove it.",
                f"seLinuxOptions.{field}",
                value,
            )


def _apparmor(where: str, sc: dict[str, Any]) -> Iterator[Finding]:
    profile = sc.get("appArmorProfile")
    ptype = get(profile, "type") if isinstance(profile, dict) else None
    if ptype is not None and ptype is not UNKNOWN and ptype not in ("RuntimeDefault", "Localhost"):
        yield Finding(
            f"{where}.appArmorProfile.type is {ptype!r}. Fix: use RuntimeDefault.",
            "appArmorProfile",
            ptype,
        )


def _host_process(where: str, sc: dict[str, Any]) -> Iterator[Finding]:
    value = get(sc, "windowsOptions", "hostProcess")
    if value is not None and value is not UNKNOWN and value is not False:
        yield Finding(
            f"{where}.windowsOptions.hostProcess is {value!r}. Fix: remove it.",
            "windowsOptions.hostProcess",
            value,
        )


_FALSE_WORDS: Final = frozenset({"0", "f", "false"})


def check_vault_agent(res: Resource) -> Iterator[Finding]:
    """Vault Agent injector annotations that would run the agent as root or without its
    security context."""
    for pod in pods_of(res):
        annotations = pod.annotations
        if not isinstance(annotations, dict):
            continue
        for key, value in annotations.items():
            if not key.startswith(VAULT_AGENT) or value is UNKNOWN:
                continue
            option = key[len(VAULT_AGENT) :]
            text = str(value).strip()
            if option in ("agent-run-as-user", "agent-run-as-group"):
                if not text.isdigit() or int(text) == 0:
                    yield Finding(
                        f"pod annotation {key} is {value!r}: the agent must run as a numeric "
                        "non-zero id. Fix: remove it (the injector's default is uid 100, "
                        "gid 1000) or set a numeric non-root id.",
                        option,
                        value,
                    )
            elif option == "agent-set-security-context" and text.lower() in _FALSE_WORDS:
                yield Finding(
                    f"pod annotation {key} is {value!r}: the agent would run without its "
                    "hardened security context. Fix: remove it.",
                    option,
                    value,
                )
            elif option == "agent-run-as-same-user" and text.lower() not in _FALSE_WORDS:
                yield Finding(
                    f"pod annotation {key} is {value!r}: the agent takes the app's identity "
                    "instead of its own non-root one. Fix: remove it.",
                    option,
                    value,
                )


def check_resources(res: Resource) -> Iterator[Finding]:
    for _, c in containers_of(res):
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
            yield Finding(
                f"{c.label}: resources {', '.join(missing)} not set. Fix: set requests and "
                "limits for cpu and memory.",
                "resources",
                missing,
            )


def check_gpu_toleration(res: Resource) -> Iterator[str]:
    for pod in pods_of(res):
        gpu_users = [c.label for c in pod.containers() if _requests_gpu(c)]
        if not gpu_users:
            continue
        tolerations = pod.spec.get("tolerations")
        if tolerations is UNKNOWN:
            continue
        if any(
            get(t, "key") == GPU_RESOURCE
            and get(t, "operator") in (None, "Exists", "Equal")
            and get(t, "effect") in (None, "", "NoSchedule")
            for t in as_list(tolerations)
        ):
            continue
        yield (
            f"{', '.join(gpu_users)} request {GPU_RESOURCE} but {pod.field('tolerations')} "
            f"has no toleration for the GPU node taint. Fix: add tolerations: [{{key: "
            f"{GPU_RESOURCE}, operator: Exists, effect: NoSchedule}}]."
        )


def _requests_gpu(c: Container) -> bool:
    for section in ("limits", "requests"):
        v = get(c.spec, "resources", section, GPU_RESOURCE)
        if v is None or v is UNKNOWN or as_int(v) == 0 or v == "0":
            continue
        return True
    return False


# ---------------------------------------------------------------- custom resources, installers

KINDS_WITHOUT_PODS_SCHEMA: Final[dict[str, Any]] = {
    "type": "array",
    "default": [],
    "description": "Custom resource types known to create no pods, each with its reason.",
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "reason"],
        "properties": {
            "type": {"type": "string", "minLength": 1},
            "reason": {"type": "string", "minLength": 20},
        },
    },
}


def _known_without_pods(config: Any) -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in as_list(get(config, "kindsWithoutPods")):
        type_, reason = get(entry, "type"), get(entry, "reason")
        if isinstance(type_, str) and isinstance(reason, str) and len(reason.strip()) >= 20:
            out[type_] = reason
    return out


def is_custom_kind(type_token: str) -> bool:
    group = group_of(type_token)
    return (
        group is not None
        and group not in BUILT_IN_GROUPS
        and is_workload_candidate(type_token)
        and not type_token.startswith("kubernetes:helm.sh/")
        and not type_token.startswith("kubernetes:yaml")
        and not type_token.startswith("kubernetes:kustomize")
    )


def check_custom_kind(res: Resource, config: Any) -> Iterator[str]:
    if not is_prod() or pods_of(res):
        return  # pods inside are checked by every workload policy
    if res.type in _known_without_pods(config):
        return
    yield (
        f"is a custom resource ({kind_of(res.type)}) with no pod spec the pack can read, and "
        "its type is not on the pack's list of kinds known to create no pods. Fix: if it "
        "creates no pods, add {type, reason} to k8s-custom-resource-kinds.kindsWithoutPods "
        "in policies/config/prod.json; otherwise render its pods as objects the pack can check."
    )


def check_opaque_installer(res: Resource) -> Iterator[str]:
    chart = res.props.get("chart")
    what = f"chart {chart!r}" if isinstance(chart, str) else "its objects"
    yield (
        f"installs {what} out of the pack's sight (the provider or a shell applies them), so "
        "none of its pods, roles or webhooks can be checked. Fix: render the objects in the "
        "program (see components/kubernetes/), or as a last resort a helm.v4.Chart whose "
        "children the engine sends to the pack."
    )


def check_preview_only(res: Resource) -> Iterator[str]:
    yield (
        "is a v2 component: its children reach the pack only at `pulumi preview`, never in "
        "the offline check. Fix: render the objects in the program where practical."
    )


# ---------------------------------------------------------------- namespaces


def check_namespace_pss(res: Resource) -> Iterator[str]:
    labels = get(res.props, "metadata", "labels")
    if labels is UNKNOWN:
        return
    value = get(labels, PSS_ENFORCE_LABEL)
    if value is not UNKNOWN and value != "restricted":
        got = "missing" if value is None else repr(value)
        yield (f"metadata.labels['{PSS_ENFORCE_LABEL}'] is {got}. Fix: set it to 'restricted'.")
    version = get(labels, PSS_VERSION_LABEL)
    if version not in (None, UNKNOWN, "latest"):
        yield (
            f"metadata.labels['{PSS_VERSION_LABEL}'] is {version!r}, an older and weaker "
            "profile. Fix: remove it or set 'latest'."
        )


def policies() -> list[Policy]:
    return [
        resource_policy(
            "k8s-restricted-volume-types",
            "Pods use only PSS-restricted volume types; no hostPath.",
            is_workload_candidate,
            check_volume_types,
            remediation="Replace hostPath/node volumes by emptyDir/PVC/configMap/secret/CSI.",
        ),
        resource_policy(
            "k8s-no-host-ports",
            "Containers do not bind host ports.",
            is_workload_candidate,
            check_host_ports,
            remediation="Remove hostPort; expose the port through a Service.",
        ),
        resource_policy(
            "k8s-pod-security-restricted",
            "The rest of PSS restricted: procMount, safe sysctls only, SELinux types, AppArmor "
            "(field and annotation), no Windows hostProcess.",
            is_workload_candidate,
            check_pod_security_restricted,
            remediation="Remove the field; PSS restricted allows none of these relaxations.",
            severity=Severity.CRITICAL,
        ),
        resource_policy(
            "vault-agent-hardened",
            "Vault Agent injector annotations never make the agent root, give it the app's "
            "identity or skip its security context.",
            is_workload_candidate,
            check_vault_agent,
            remediation="Remove agent-run-as-user/group 0, agent-set-security-context false, "
            "agent-run-as-same-user.",
            severity=Severity.CRITICAL,
        ),
        resource_policy(
            "k8s-gpu-toleration",
            "Pods that request nvidia.com/gpu tolerate the GPU node taint (key nvidia.com/gpu).",
            is_workload_candidate,
            check_gpu_toleration,
            remediation="Add a toleration {key: nvidia.com/gpu, operator: Exists}.",
            severity=Severity.MEDIUM,
        ),
        resource_policy(
            "k8s-namespace-pss-restricted",
            "Namespaces enforce Pod Security Standard 'restricted' at the latest version.",
            [NAMESPACE_TYPE],
            check_namespace_pss,
            remediation="Label the namespace pod-security.kubernetes.io/enforce=restricted.",
        ),
        resource_policy(
            "k8s-custom-resource-kinds",
            "In prod, a custom resource either carries pods the pack can check or its type is "
            "on the config's reasoned list of kinds that create no pods.",
            is_custom_kind,
            check_custom_kind,
            remediation="List the kind in kindsWithoutPods with a reason, or render its pods.",
            config_properties={"kindsWithoutPods": KINDS_WITHOUT_PODS_SCHEMA},
            reads_config=True,
        ),
        resource_policy(
            "no-opaque-installers",
            "Nothing is installed out of the pack's sight: no Helm v3 Release, no shell "
            "command applying manifests.",
            OPAQUE_INSTALLERS,
            check_opaque_installer,
            remediation="Render the objects in the program.",
            severity=Severity.CRITICAL,
        ),
        resource_policy(
            "k8s-unverifiable-manifests",
            "v2 components (helm.v4.Chart, yaml.v2, kustomize.v2) are checked only at preview "
            "(advisory).",
            PREVIEW_ONLY_INSTALLERS,
            check_preview_only,
            remediation="Prefer rendering the objects in the program.",
            severity=Severity.LOW,
            enforcement_level=EnforcementLevel.ADVISORY,
        ),
    ]
