"""Kubernetes: object names, labels, annotations, pod specs, selectors and references.

Sources: k8s.io/apimachinery/pkg/util/validation (name, label and port-name grammars) and
k8s.io/kubernetes/pkg/apis/*/validation (what the API server rejects), plus the documented
length rules of StatefulSets and CronJobs. pulumi-kubernetes auto-names metadata.name as
"<logical name>-<8 random characters>" when it is not set.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from stacks.constraints.checks import (
    DNS1035_LABEL,
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    all_of,
    charset,
    each,
    iana_port_name,
    integer,
    label_value,
    length,
    matches,
    one_of,
    qualified_name,
)
from stacks.constraints.core import KUBERNETES_AUTONAME, Check, Resource, Rule, TypeRules, Violation

# Namespaces every cluster has (kube-apiserver creates them).
BUILTIN_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
# ClusterRoles the API server bootstraps (plugin/pkg/auth/authorizer/rbac/bootstrappolicy).
BUILTIN_CLUSTER_ROLES = ("cluster-admin", "admin", "edit", "view")
# ServiceAccounts that exist without us: the token controller's "default" in every
# namespace.
BUILTIN_SERVICE_ACCOUNTS = ("default",)


def _path_segment_name(value: Any) -> str | None:
    # ValidatePathSegmentName (RBAC objects): not "." or "..", no "/" or "%".
    if not isinstance(value, str) or not value:
        return "must be a non-empty string"
    if value in (".", "..") or "/" in value or "%" in value:
        return "may not be '.' or '..' nor contain '/' or '%'"
    return None


# An env var name (ValidateEnvVarName, Kubernetes 1.31 without the alpha
# RelaxedEnvironmentVariableValidation gate): [-._a-zA-Z][-._a-zA-Z0-9]*.
ENV_NAME = matches(r"[-._a-zA-Z][-._a-zA-Z0-9]*", "a C-like identifier of - . _ a-z A-Z 0-9")
# ConfigMap and Secret keys (IsConfigMapKey): 1-253 of [-._a-zA-Z0-9].
CONFIGMAP_KEY = all_of(length(1, 253), charset(r"-._a-zA-Z0-9", "- . _ a-z A-Z 0-9"))
MAX_CONFIGMAP_BYTES = 1024 * 1024  # ConfigMap: "cannot exceed 1 MiB"
MAX_ANNOTATION_BYTES = 256 * 1024  # ValidateAnnotations: total size 256 KiB


def _max_length(maximum: int, why: str) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, str) and len(value) > maximum:
            return f"at most {maximum} characters ({why}), got {len(value)}"
        return None

    return check


# StatefulSet: the controller labels pods controller-revision-hash=<name>-<hash of up to
# 10 characters>, a label value of at most 63 (kubernetes/kubernetes#64023), so names stay
# within 52. CronJob docs: "the name must be no longer than 52 characters" (the controller
# appends 11 for its Jobs). Job: the job-name label carries the name, so 63.
STATEFULSET_NAME = all_of(
    DNS1123_LABEL, _max_length(52, "the controller-revision-hash label is <name>-<10>")
)
CRONJOB_NAME = all_of(DNS1123_SUBDOMAIN, _max_length(52, "its Jobs get 11 more characters"))
JOB_NAME = all_of(DNS1123_SUBDOMAIN, _max_length(63, "the job-name label value is the name"))

NAME_CHECKS: dict[str, Check] = {
    "Namespace": DNS1123_LABEL,
    "Service": DNS1035_LABEL,
    "StatefulSet": STATEFULSET_NAME,
    "CronJob": CRONJOB_NAME,
    "Job": JOB_NAME,
    "Role": _path_segment_name,
    "ClusterRole": _path_segment_name,
    "RoleBinding": _path_segment_name,
    "ClusterRoleBinding": _path_segment_name,
}
CLUSTER_SCOPED = (
    "Namespace", "ClusterRole", "ClusterRoleBinding", "StorageClass",
    "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "PriorityClass",
)  # fmt: skip


def metadata_rules(kind: str, prefix: str = "metadata") -> list[Rule]:
    rules = [
        Rule(f"{prefix}.labels{{keys}}", qualified_name),
        Rule(f"{prefix}.labels{{}}", label_value),
        Rule(f"{prefix}.annotations{{keys}}", qualified_name),
    ]
    if prefix == "metadata":
        name_check = NAME_CHECKS.get(kind, DNS1123_SUBDOMAIN)
        rules.insert(0, Rule("metadata.name", name_check, KUBERNETES_AUTONAME, unique=True))
        if kind not in CLUSTER_SCOPED:
            rules.append(Rule("metadata.namespace", DNS1123_LABEL))
    return rules


def _annotation_size(prefix: str) -> Any:
    def check(resource: Resource) -> Iterator[Violation]:
        annotations = _get(resource.inputs, prefix + ".annotations")
        if isinstance(annotations, Mapping):
            size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in annotations.items())
            if size > MAX_ANNOTATION_BYTES:
                yield resource.violation(
                    prefix + ".annotations", f"{size} bytes", "annotations total at most 256 KiB"
                )

    return check


def _get(value: Any, path: str) -> Any:
    for key in path.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return value


def _namespace(resource: Resource) -> str:
    return str(_get(resource.inputs, "metadata.namespace") or "default")


def _name(resource: Resource) -> str:
    return str(_get(resource.inputs, "metadata.name") or resource.name)


def _kind(resource: Resource) -> str:
    return resource.type.rsplit(":", 1)[-1]


def _objects(resource: Resource, kind: str, namespace: str | None) -> dict[str, Resource]:
    found = {}
    for other in resource.plan.resources:
        if (
            other.type.startswith("kubernetes:")
            and _kind(other) == kind
            and (namespace is None or _namespace(other) == namespace)
        ):
            found[_name(other)] = other
    return found


# ── pod templates ────────────────────────────────────────────────────────────────────────

POD_TEMPLATE = {
    "Deployment": "spec.template",
    "StatefulSet": "spec.template",
    "DaemonSet": "spec.template",
    "ReplicaSet": "spec.template",
    "Job": "spec.template",
    "CronJob": "spec.jobTemplate.spec.template",
}


def pod_rules(template: str) -> list[Rule]:
    spec = f"{template}.spec"
    rules = metadata_rules("Pod", f"{template}.metadata")
    for containers in ("containers", "initContainers"):
        c = f"{spec}.{containers}[]"
        rules += [
            # ValidateContainers: name a DNS-1123 label; ports' names IANA service names,
            # containerPort 1-65535, protocol TCP|UDP|SCTP; env names ENV_NAME.
            Rule(f"{c}.name", DNS1123_LABEL),
            Rule(f"{c}.ports[].name", iana_port_name),
            Rule(f"{c}.ports[].containerPort", integer(1, 65535)),
            Rule(f"{c}.ports[].protocol", one_of("TCP", "UDP", "SCTP")),
            Rule(f"{c}.env[].name", ENV_NAME),
            Rule(f"{c}.imagePullPolicy", one_of("Always", "IfNotPresent", "Never")),
        ]
    # ValidateVolumes: a volume name is a DNS-1123 label.
    rules += [
        Rule(f"{spec}.volumes[].name", DNS1123_LABEL),
        Rule(f"{spec}.serviceAccountName", DNS1123_SUBDOMAIN),
        Rule(f"{spec}.restartPolicy", one_of("Always", "OnFailure", "Never")),
        Rule(f"{spec}.nodeSelector{{keys}}", qualified_name),
        Rule(f"{spec}.nodeSelector{{}}", label_value),
        Rule(f"{spec}.tolerations[].key", qualified_name),
        Rule(f"{spec}.tolerations[].operator", one_of("Exists", "Equal")),
        Rule(f"{spec}.tolerations[].effect", one_of("NoSchedule", "PreferNoSchedule", "NoExecute")),
    ]
    return rules


def _all_containers(pod_spec: Mapping[str, Any]) -> list[tuple[str, Mapping[str, Any]]]:
    found = []
    for group in ("initContainers", "containers"):
        for index, container in enumerate(pod_spec.get(group) or []):
            if isinstance(container, Mapping):
                found.append((f"{group}[{index}]", container))
    return found


def pod_checks(template: str) -> Any:
    spec_path = f"{template}.spec"

    def check(resource: Resource) -> Iterator[Violation]:
        spec = _get(resource.inputs, spec_path)
        if not isinstance(spec, Mapping):
            return
        namespace = _namespace(resource)
        containers = _all_containers(spec)
        volumes = {v.get("name"): v for v in spec.get("volumes") or [] if isinstance(v, Mapping)}
        claim_templates = {
            _get(t, "metadata.name")
            for t in _get(resource.inputs, "spec.volumeClaimTemplates") or []
            if isinstance(t, Mapping)
        }
        names = [c.get("name") for _, c in containers]
        for duplicate in sorted({n for n in names if names.count(n) > 1}, key=str):
            yield resource.violation(
                f"{spec_path}.containers", duplicate, "container names are unique in a pod"
            )
        configmaps = _objects(resource, "ConfigMap", namespace)
        for where, container in containers:
            path = f"{spec_path}.{where}"
            port_names = [p.get("name") for p in container.get("ports") or [] if p.get("name")]
            for duplicate in sorted({n for n in port_names if port_names.count(n) > 1}):
                yield resource.violation(f"{path}.ports", duplicate, "port names are unique")
            for index, mount in enumerate(container.get("volumeMounts") or []):
                name = mount.get("name")
                if name not in volumes and name not in claim_templates:
                    yield resource.violation(
                        f"{path}.volumeMounts[{index}].name",
                        name,
                        "names no volume of the pod (nor a volumeClaimTemplate)",
                    )
            for index, env in enumerate(container.get("env") or []):
                ref = _get(env, "valueFrom.configMapKeyRef")
                if isinstance(ref, Mapping) and not ref.get("optional"):
                    yield from _configmap_key(
                        resource,
                        configmaps,
                        f"{path}.env[{index}]",
                        ref.get("name"),
                        ref.get("key"),
                    )
        for index, volume in enumerate(spec.get("volumes") or []):
            ref = volume.get("configMap") if isinstance(volume, Mapping) else None
            if isinstance(ref, Mapping) and not ref.get("optional"):
                where = f"{spec_path}.volumes[{index}].configMap"
                items = ref.get("items") or [{}]
                for item in items:
                    yield from _configmap_key(
                        resource, configmaps, where, ref.get("name"), item.get("key")
                    )
        account = spec.get("serviceAccountName")
        if (
            account
            and account not in BUILTIN_SERVICE_ACCOUNTS
            and account not in _objects(resource, "ServiceAccount", namespace)
        ):
            yield resource.violation(
                f"{spec_path}.serviceAccountName",
                account,
                f"names no ServiceAccount of namespace {namespace} in the plan",
            )

    return check


def _configmap_key(
    resource: Resource, configmaps: Mapping[str, Resource], where: str, name: Any, key: Any
) -> Iterator[Violation]:
    configmap = configmaps.get(str(name))
    if configmap is None:
        yield resource.violation(
            f"{where}.name", name, f"names no ConfigMap of namespace {_namespace(resource)}"
        )
        return
    keys = set(configmap.inputs.get("data") or {}) | set(configmap.inputs.get("binaryData") or {})
    if key is not None and key not in keys:
        yield resource.violation(f"{where}.key", key, f"is not a key of ConfigMap {name}")


# ── selectors ────────────────────────────────────────────────────────────────────────────


def selector_matches(selector: Any, labels: Mapping[str, Any]) -> bool:
    """A LabelSelector (matchLabels + matchExpressions) against a label set."""
    if not isinstance(selector, Mapping):
        return False
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = expression.get("values") or []
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
    return True


def _selector_selects_template(resource: Resource) -> Iterator[Violation]:
    # apps/v1 validation: "selector does not match template labels"; an empty selector is
    # refused ("empty selector is invalid for deployment").
    selector = _get(resource.inputs, "spec.selector")
    labels = _get(resource.inputs, "spec.template.metadata.labels") or {}
    if not isinstance(selector, Mapping) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        yield resource.violation("spec.selector", selector, "a non-empty selector is required")
    elif not selector_matches(selector, labels):
        yield resource.violation(
            "spec.selector", selector, "does not match spec.template.metadata.labels"
        )


def _pod_templates(resource: Resource, namespace: str) -> list[tuple[Resource, Mapping[str, Any]]]:
    found = []
    for other in resource.plan.resources:
        if not other.type.startswith("kubernetes:") or _namespace(other) != namespace:
            continue
        template = POD_TEMPLATE.get(_kind(other))
        if template is not None:
            found.append((other, _get(other.inputs, template) or {}))
    return found


def _selects_some_pod(field_: str, as_label_selector: bool) -> Any:
    """A Service's or PodDisruptionBudget's selector selects a pod template of its namespace."""

    def check(resource: Resource) -> Iterator[Violation]:
        selector = _get(resource.inputs, field_)
        if not selector:
            return
        wrapped = selector if as_label_selector else {"matchLabels": selector}
        templates = _pod_templates(resource, _namespace(resource))
        if not any(
            selector_matches(wrapped, _get(t, "metadata.labels") or {}) for _, t in templates
        ):
            yield resource.violation(
                field_, selector, f"selects no pod template of namespace {_namespace(resource)}"
            )

    return check


def _service_target_ports(resource: Resource) -> Iterator[Violation]:
    # A named targetPort must be a container port name of the pods the Service selects.
    selector = _get(resource.inputs, "spec.selector")
    if not selector:
        return
    templates = [
        t
        for _, t in _pod_templates(resource, _namespace(resource))
        if selector_matches({"matchLabels": selector}, _get(t, "metadata.labels") or {})
    ]
    named = {
        p.get("name")
        for t in templates
        for _, c in _all_containers(_get(t, "spec") or {})
        for p in c.get("ports") or []
    }
    for index, port in enumerate(_get(resource.inputs, "spec.ports") or []):
        target = port.get("targetPort")
        if isinstance(target, str) and templates and target not in named:
            yield resource.violation(
                f"spec.ports[{index}].targetPort", target, "names no container port it selects"
            )


def _service_ports(resource: Resource) -> Iterator[Violation]:
    # ValidateService: with more than one port each is named, names unique.
    ports = _get(resource.inputs, "spec.ports") or []
    names = [p.get("name") for p in ports]
    if len(ports) > 1 and not all(names):
        yield resource.violation("spec.ports", names, "every port is named when there are several")
    for duplicate in sorted({n for n in names if n and names.count(n) > 1}):
        yield resource.violation("spec.ports", duplicate, "port names are unique")


def _target_port(value: Any) -> str | None:
    if isinstance(value, int):
        return integer(1, 65535)(value)
    return iana_port_name(value)


def _statefulset_service(resource: Resource) -> Iterator[Violation]:
    # The governing Service of a StatefulSet gives its pods their DNS names.
    service = _get(resource.inputs, "spec.serviceName")
    if service and service not in _objects(resource, "Service", _namespace(resource)):
        yield resource.violation(
            "spec.serviceName", service, f"names no Service of namespace {_namespace(resource)}"
        )


def _in_known_namespace(resource: Resource) -> Iterator[Violation]:
    if _kind(resource) in CLUSTER_SCOPED:
        return
    namespace = _namespace(resource)
    if namespace not in BUILTIN_NAMESPACES and namespace not in _objects(
        resource, "Namespace", None
    ):
        yield resource.violation(
            "metadata.namespace", namespace, "names no Namespace of the plan (nor a built-in one)"
        )


def _role_ref(resource: Resource) -> Iterator[Violation]:
    ref = resource.inputs.get("roleRef") or {}
    kind, name = ref.get("kind"), ref.get("name")
    if kind == "Role":
        known = _objects(resource, "Role", _namespace(resource))
    elif kind == "ClusterRole":
        known = _objects(resource, "ClusterRole", None)
        if name in BUILTIN_CLUSTER_ROLES or str(name).startswith("system:"):
            return
    else:
        yield resource.violation("roleRef.kind", kind, "must be Role or ClusterRole")
        return
    if kind == "Role" and _kind(resource) == "ClusterRoleBinding":
        yield resource.violation("roleRef.kind", kind, "a ClusterRoleBinding binds a ClusterRole")
    if name not in known:
        yield resource.violation("roleRef.name", name, f"names no {kind} of the plan")


def _subjects(resource: Resource) -> Iterator[Violation]:
    for index, subject in enumerate(resource.inputs.get("subjects") or []):
        if subject.get("kind") != "ServiceAccount":
            continue
        namespace = subject.get("namespace") or _namespace(resource)
        name = subject.get("name")
        if name not in BUILTIN_SERVICE_ACCOUNTS and name not in _objects(
            resource, "ServiceAccount", namespace
        ):
            yield resource.violation(
                f"subjects[{index}].name",
                name,
                f"names no ServiceAccount of namespace {namespace} in the plan",
            )


def _ingress_backends(resource: Resource) -> Iterator[Violation]:
    services = _objects(resource, "Service", _namespace(resource))
    for r_index, rule in enumerate(_get(resource.inputs, "spec.rules") or []):
        for p_index, path in enumerate(_get(rule, "http.paths") or []):
            where = f"spec.rules[{r_index}].http.paths[{p_index}].backend.service"
            service = _get(path, "backend.service") or {}
            port = service.get("port") or {}
            action = f"alb.ingress.kubernetes.io/actions.{service.get('name')}"
            if port.get("name") == "use-annotation":
                # AWS Load Balancer Controller: the backend is the action annotation of that
                # name (a fixed response, a redirect), not a Service.
                if action not in (_get(resource.inputs, "metadata.annotations") or {}):
                    yield resource.violation(f"{where}.name", service.get("name"), f"no {action}")
                continue
            target = services.get(str(service.get("name")))
            if target is None:
                yield resource.violation(f"{where}.name", service.get("name"), "names no Service")
                continue
            ports = _get(target.inputs, "spec.ports") or []
            if "number" in port and port["number"] not in [p.get("port") for p in ports]:
                yield resource.violation(f"{where}.port.number", port["number"], "not a port of it")
            if "name" in port and port["name"] not in [p.get("name") for p in ports]:
                yield resource.violation(f"{where}.port.name", port["name"], "not a port of it")


def _webhook_services(resource: Resource) -> Iterator[Violation]:
    for index, hook in enumerate(resource.inputs.get("webhooks") or []):
        service = _get(hook, "clientConfig.service")
        if not isinstance(service, Mapping):
            continue
        where = f"webhooks[{index}].clientConfig.service"
        target = _objects(resource, "Service", str(service.get("namespace"))).get(
            str(service.get("name"))
        )
        if target is None:
            yield resource.violation(f"{where}.name", service.get("name"), "names no Service")
        elif service.get("port", 443) not in [
            p.get("port") for p in _get(target.inputs, "spec.ports") or []
        ]:
            yield resource.violation(f"{where}.port", service.get("port", 443), "not a port of it")


def _webhook_name(value: Any) -> str | None:
    # ValidateWebhook: a fully qualified name, at least three dot-separated segments.
    problem = DNS1123_SUBDOMAIN(value)
    if problem:
        return problem
    return None if str(value).count(".") >= 2 else "must be fully qualified (a.b.c)"


def _configmap_size(resource: Resource) -> Iterator[Violation]:
    data = resource.inputs.get("data") or {}
    binary = resource.inputs.get("binaryData") or {}
    size = sum(len(str(k).encode()) + len(str(v).encode()) for k, v in {**data, **binary}.items())
    if size > MAX_CONFIGMAP_BYTES:
        yield resource.violation("data", f"{size} bytes", "a ConfigMap holds at most 1 MiB")
    for key in set(data) & set(binary):
        yield resource.violation("binaryData", key, "a key is in data or binaryData, not both")


def _helm_values(value: Any) -> str | None:
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return "must be plain data"
    return None


def object_rules(
    kind: str, extra: list[Rule] | None = None, checks: list[Any] | None = None
) -> TypeRules:
    rules = metadata_rules(kind) + list(extra or [])
    all_checks: list[Any] = [_in_known_namespace, _annotation_size("metadata"), *(checks or [])]
    template = POD_TEMPLATE.get(kind)
    if template is not None:
        rules += pod_rules(template)
        all_checks += [pod_checks(template), _annotation_size(f"{template}.metadata")]
        if kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
            all_checks.append(_selector_selects_template)
    return TypeRules(rules=rules, checks=all_checks)


RULES: dict[str, TypeRules] = {
    "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration": object_rules(
        "MutatingWebhookConfiguration",
        [
            # ValidateMutatingWebhookConfiguration (v1): sideEffects None|NoneOnDryRun,
            # timeoutSeconds 1-30, failurePolicy Ignore|Fail, matchPolicy Exact|Equivalent,
            # admissionReviewVersions include v1 or v1beta1.
            Rule("webhooks[].name", _webhook_name),
            Rule("webhooks[].sideEffects", one_of("None", "NoneOnDryRun")),
            Rule("webhooks[].timeoutSeconds", integer(1, 30)),
            Rule("webhooks[].failurePolicy", one_of("Ignore", "Fail")),
            Rule("webhooks[].matchPolicy", one_of("Exact", "Equivalent")),
            Rule("webhooks[].reinvocationPolicy", one_of("Never", "IfNeeded")),
        ],
        [_webhook_services],
    ),
    "kubernetes:admissionregistration.k8s.io/v1:ValidatingWebhookConfiguration": object_rules(
        "ValidatingWebhookConfiguration",
        [
            # ValidateValidatingWebhookConfiguration (v1): as the mutating one, no reinvocation.
            Rule("webhooks[].name", _webhook_name),
            Rule("webhooks[].sideEffects", one_of("None", "NoneOnDryRun")),
            Rule("webhooks[].timeoutSeconds", integer(1, 30)),
            Rule("webhooks[].failurePolicy", one_of("Ignore", "Fail")),
            Rule("webhooks[].matchPolicy", one_of("Exact", "Equivalent")),
        ],
        [_webhook_services],
    ),
    # ValidateCustomResourceDefinition: scope enum (names, group and versions are fixed
    # in the program; the API server checks their agreement with metadata.name).
    "kubernetes:apiextensions.k8s.io/v1:CustomResourceDefinition": object_rules(
        "CustomResourceDefinition", [Rule("spec.scope", one_of("Namespaced", "Cluster"))]
    ),
    "kubernetes:networking.k8s.io/v1:IngressClass": object_rules("IngressClass"),
    "kubernetes:apps/v1:DaemonSet": object_rules("DaemonSet"),
    "kubernetes:apps/v1:Deployment": object_rules("Deployment"),
    "kubernetes:apps/v1:StatefulSet": object_rules(
        "StatefulSet",
        [
            Rule("spec.volumeClaimTemplates[].metadata.name", DNS1123_LABEL),
            Rule("spec.podManagementPolicy", one_of("OrderedReady", "Parallel")),
            Rule(
                "spec.persistentVolumeClaimRetentionPolicy.whenDeleted", one_of("Retain", "Delete")
            ),
            Rule(
                "spec.persistentVolumeClaimRetentionPolicy.whenScaled", one_of("Retain", "Delete")
            ),
        ],
        [_statefulset_service],
    ),
    "kubernetes:batch/v1:Job": object_rules(
        "Job", [Rule("spec.backoffLimit", integer(0, 2**31 - 1))]
    ),
    "kubernetes:batch/v1:CronJob": object_rules(
        "CronJob",
        [Rule("spec.concurrencyPolicy", one_of("Allow", "Forbid", "Replace"))],
    ),
    "kubernetes:core/v1:ConfigMap": object_rules(
        "ConfigMap",
        [Rule("data{keys}", CONFIGMAP_KEY), Rule("binaryData{keys}", CONFIGMAP_KEY)],
        [_configmap_size],
    ),
    "kubernetes:core/v1:Namespace": object_rules("Namespace"),
    # A restored volume (components/kubernetes/restore.py): reclaim policy and access modes
    # are enums.
    "kubernetes:core/v1:PersistentVolume": object_rules(
        "PersistentVolume",
        [
            Rule("spec.persistentVolumeReclaimPolicy", one_of("Retain", "Delete", "Recycle")),
            Rule(
                "spec.accessModes[]",
                one_of("ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"),
            ),
        ],
    ),
    "kubernetes:core/v1:Service": object_rules(
        "Service",
        [
            # ValidateService: port names DNS-1123 labels, ports 1-65535, targetPort a port
            # number or an IANA port name; type and protocol enums.
            Rule("spec.ports[].name", DNS1123_LABEL),
            Rule("spec.ports[].port", integer(1, 65535)),
            Rule("spec.ports[].targetPort", _target_port),
            Rule("spec.ports[].protocol", one_of("TCP", "UDP", "SCTP")),
            Rule("spec.type", one_of("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")),
            Rule("spec.selector{keys}", qualified_name),
            Rule("spec.selector{}", label_value),
        ],
        [_service_ports, _selects_some_pod("spec.selector", False), _service_target_ports],
    ),
    "kubernetes:core/v1:ServiceAccount": object_rules("ServiceAccount"),
    "kubernetes:core/v1:Secret": object_rules("Secret"),
    # Helm: a release name is at most 53 characters (helm/pkg/chartutil ValidateReleaseName:
    # DNS-1123 label shape, 53 leaves room for suffixes Helm adds); pulumi-kubernetes
    # auto-names it like metadata.name.
    "kubernetes:helm.sh/v3:Release": TypeRules(
        rules=[
            Rule(
                "name",
                all_of(
                    length(1, 53),
                    matches(
                        r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
                        "a lowercase DNS name",
                    ),
                ),
                KUBERNETES_AUTONAME,
                unique=True,
            ),
            Rule("namespace", DNS1123_LABEL),
            Rule(
                "version",
                matches(r"v?\d+\.\d+\.\d+([-+][0-9A-Za-z.-]+)?", "a SemVer chart version"),
            ),
            Rule("values", _helm_values),
        ]
    ),
    "kubernetes:networking.k8s.io/v1:Ingress": object_rules(
        "Ingress",
        [
            # ValidateIngress: hosts DNS-1123 subdomains (a leading "*." allowed), pathType
            # Exact|Prefix|ImplementationSpecific, backend service names DNS-1035 labels.
            Rule(
                "spec.rules[].host",
                lambda v: DNS1123_SUBDOMAIN(v[2:] if str(v).startswith("*.") else v),
            ),
            Rule(
                "spec.rules[].http.paths[].pathType",
                one_of("Exact", "Prefix", "ImplementationSpecific"),
            ),
            Rule("spec.rules[].http.paths[].backend.service.name", DNS1035_LABEL),
            Rule("spec.ingressClassName", DNS1123_SUBDOMAIN),
        ],
        [_ingress_backends],
    ),
    "kubernetes:networking.k8s.io/v1:NetworkPolicy": object_rules(
        "NetworkPolicy",
        [
            Rule("spec.policyTypes", each(one_of("Ingress", "Egress"))),
            Rule("spec.podSelector.matchLabels{keys}", qualified_name),
            Rule("spec.podSelector.matchLabels{}", label_value),
        ],
    ),
    "kubernetes:policy/v1:PodDisruptionBudget": object_rules(
        "PodDisruptionBudget", [], [_selects_some_pod("spec.selector", True)]
    ),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRole": object_rules(
        "ClusterRole", [Rule("rules[].verbs", each(length(1, 253)))]
    ),
    "kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding": object_rules(
        "ClusterRoleBinding", [], [_role_ref, _subjects]
    ),
    "kubernetes:rbac.authorization.k8s.io/v1:Role": object_rules(
        "Role", [Rule("rules[].verbs", each(length(1, 253)))]
    ),
    "kubernetes:rbac.authorization.k8s.io/v1:RoleBinding": object_rules(
        "RoleBinding", [], [_role_ref, _subjects]
    ),
    # StorageClass: reclaimPolicy Retain|Delete, volumeBindingMode Immediate|
    # WaitForFirstConsumer, provisioner a qualified name.
    "kubernetes:storage.k8s.io/v1:StorageClass": object_rules(
        "StorageClass",
        [
            Rule("provisioner", qualified_name),
            Rule("reclaimPolicy", one_of("Retain", "Delete")),
            Rule("volumeBindingMode", one_of("Immediate", "WaitForFirstConsumer")),
        ],
    ),
    "pulumi:providers:kubernetes": TypeRules(
        nothing_to_check="provider configuration (a kubeconfig), no object in the cluster"
    ),
}
