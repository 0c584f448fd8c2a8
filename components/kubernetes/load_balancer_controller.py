"""The AWS Load Balancer Controller, rendered object by object (no Helm release).

Why not the `aws-load-balancer-controller` chart: a `helm.v3.Release` is one opaque resource
to the mock tests and to the CrossGuard pack (which refuses it in prod); rendered here,
every pod, role and webhook reaches both. The objects mirror what chart 1.14.0 (controller
v2.14.0) creates with our values, with its options settled:

* ServiceAccount with the IRSA role (`eks.amazonaws.com/role-arn`); the controller talks
  to the Kubernetes API, so its pods get a token (its one hardening waiver);
* RBAC as the chart: a ClusterRole (+ binding) without the Gateway API rules (the gateway
  feature gates stay off) and without cluster-wide secrets; a Role (+ binding) for the
  leader lock in kube-system;
* a Deployment of 2 replicas on the general nodes, spread over hosts, hardened by the one
  hardening path (components/kubernetes/security.py): non-root 65534, read-only root, no
  capabilities, seccomp RuntimeDefault; a PodDisruptionBudget;
* the webhook: its Service, a serving certificate from a CA the program generates (the
  chart generates one with Helm's genCA) in a `kubernetes.io/tls` Secret, and the
  mutating (pod readiness gates, TargetGroupBinding defaults) and validating (Ingress,
  IngressClassParams, TargetGroupBinding) webhook configurations; the Service mutator
  stays off, as it was;
* the `alb` IngressClass the program's Ingresses name.

* its two CustomResourceDefinitions (TargetGroupBinding, IngressClassParams), served at
  v1beta1 (the version the controller reads and stores). Their schemas are structural but
  open (`x-kubernetes-preserve-unknown-fields`) instead of upstream's generated 34 KB of
  OpenAPI: neither has schema defaults, the controller's validating webhooks check both
  kinds, and the program creates no objects of either (the controller makes the
  TargetGroupBindings from Ingresses).
"""

from __future__ import annotations

from typing import Any

import pulumi

from components.kubernetes import naming
from components.kubernetes.addon_rbac import irsa_service_account, rbac_rule
from components.kubernetes.security import (
    KUBE_API_TOKEN,
    AddOn,
    Waiver,
    container_security_context,
    mounts_api_token,
    pod_security_context,
)

NAME = "aws-load-balancer-controller"
NAMESPACE = "kube-system"
VERSION = "v2.14.0"  # chart 1.14.0
IMAGE = f"public.ecr.aws/eks/aws-load-balancer-controller:{VERSION}"
CRD_GROUP = "elbv2.k8s.aws"
CRD_VERSION = "v1beta1"
WEBHOOK_SERVICE = "aws-load-balancer-webhook-service"
WEBHOOK_SECRET = "aws-load-balancer-tls"
WEBHOOK_NAME = "aws-load-balancer-webhook"
WEBHOOK_PORT = 9443
METRICS_PORT = 8080
HEALTH_PORT = 61779
LEADER_LOCK = "aws-load-balancer-controller-leader"
INGRESS_CLASS = "alb"
CERT_PATH = "/tmp/k8s-webhook-server/serving-certs"

LOAD_BALANCER_CONTROLLER = AddOn(
    name=NAME,
    uid=65534,
    gid=65534,
    waivers=(
        Waiver(
            KUBE_API_TOKEN,
            "a controller: watches Ingresses, Services, pods and nodes, writes their status "
            "and TargetGroupBindings, and holds a leader lease, through the Kubernetes API",
        ),
    ),
)


def webhook_dns_names() -> list[str]:
    return [
        f"{WEBHOOK_SERVICE}.{NAMESPACE}.svc",
        f"{WEBHOOK_SERVICE}.{NAMESPACE}.svc.cluster.local",
    ]


def _labels() -> dict[str, str]:
    return {
        naming.APP_LABEL: NAME,
        "app.kubernetes.io/part-of": naming.PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def _selector() -> dict[str, str]:
    return {naming.APP_LABEL: NAME}


def _metadata(name: str = NAME, namespaced: bool = True) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": _labels()}
    if namespaced:
        meta["namespace"] = NAMESPACE
    return meta


def service_account(role_arn: pulumi.Input[str]) -> dict[str, Any]:
    return irsa_service_account(
        _metadata(), role_arn, automount=mounts_api_token(LOAD_BALANCER_CONTROLLER)
    )


def cluster_role() -> dict[str, Any]:
    read = ["get", "list", "watch"]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _metadata(f"{NAME}-role", namespaced=False),
        "rules": [
            rbac_rule(
                ["elbv2.k8s.aws"],
                ["targetgroupbindings"],
                ["create", "delete", "get", "list", "patch", "update", "watch"],
            ),
            rbac_rule(["elbv2.k8s.aws"], ["ingressclassparams"], read),
            rbac_rule([""], ["events"], ["create", "patch"]),
            rbac_rule([""], ["pods"], read),
            rbac_rule(["networking.k8s.io"], ["ingressclasses"], read),
            rbac_rule(
                ["", "extensions", "networking.k8s.io"],
                ["services", "ingresses"],
                ["get", "list", "patch", "update", "watch"],
            ),
            rbac_rule([""], ["nodes", "namespaces", "endpoints"], read),
            rbac_rule([""], ["configmaps"], ["get", "delete", "create", "update"]),
            rbac_rule(
                ["elbv2.k8s.aws", "", "extensions", "networking.k8s.io"],
                [
                    "targetgroupbindings/status",
                    "pods/status",
                    "services/status",
                    "ingresses/status",
                ],
                ["update", "patch"],
            ),
            rbac_rule(["discovery.k8s.io"], ["endpointslices"], read),
        ],
    }


def leader_election_role() -> dict[str, Any]:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _metadata(f"{NAME}-leader-election-role"),
        "rules": [
            rbac_rule([""], ["configmaps"], ["create"]),
            {
                **rbac_rule([""], ["configmaps"], ["get", "patch", "update"]),
                "resourceNames": [LEADER_LOCK],
            },
            rbac_rule(["coordination.k8s.io"], ["leases"], ["create"]),
            {
                **rbac_rule(["coordination.k8s.io"], ["leases"], ["get", "update", "patch"]),
                "resourceNames": [LEADER_LOCK],
            },
        ],
    }


def binding(kind: str) -> dict[str, Any]:
    """The ClusterRoleBinding of `cluster_role()` or the RoleBinding of the leader role."""
    cluster = kind == "ClusterRole"
    role_name = f"{NAME}-role" if cluster else f"{NAME}-leader-election-role"
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": f"{kind}Binding",
        "metadata": _metadata(
            f"{NAME}-rolebinding" if cluster else f"{NAME}-leader-election-rolebinding",
            namespaced=not cluster,
        ),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": role_name},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
    }


def webhook_service() -> dict[str, Any]:
    meta = _metadata(WEBHOOK_SERVICE)
    meta["labels"] = {**meta["labels"], "app.kubernetes.io/component": "webhook"}
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta,
        "spec": {
            "ports": [{"name": "webhook-server", "port": 443, "targetPort": "webhook-server"}],
            "selector": _selector(),
        },
    }


def deployment(
    *, cluster_name: pulumi.Input[str], region: str, vpc_id: pulumi.Input[str]
) -> dict[str, Any]:
    probe = {
        "httpGet": {"port": HEALTH_PORT, "scheme": "HTTP"},
        "timeoutSeconds": 10,
        "failureThreshold": 2,
    }
    container = {
        "name": NAME,
        "image": IMAGE,
        "imagePullPolicy": "IfNotPresent",
        "args": [
            pulumi.Output.concat("--cluster-name=", cluster_name),
            f"--ingress-class={INGRESS_CLASS}",
            f"--aws-region={region}",
            pulumi.Output.concat("--aws-vpc-id=", vpc_id),
            "--default-target-type=ip",
        ],
        "ports": [
            {"name": "webhook-server", "containerPort": WEBHOOK_PORT, "protocol": "TCP"},
            {"name": "metrics-server", "containerPort": METRICS_PORT, "protocol": "TCP"},
        ],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "512Mi"},
        },
        "securityContext": container_security_context(LOAD_BALANCER_CONTROLLER),
        "livenessProbe": {
            **probe,
            "httpGet": {**probe["httpGet"], "path": "/healthz"},
            "initialDelaySeconds": 30,
        },
        "readinessProbe": {
            **probe,
            "httpGet": {**probe["httpGet"], "path": "/readyz"},
            "initialDelaySeconds": 10,
            "successThreshold": 1,
        },
        "volumeMounts": [{"name": "cert", "mountPath": CERT_PATH, "readOnly": True}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(),
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 10,
            "selector": {"matchLabels": _selector()},
            "template": {
                "metadata": {
                    "labels": _labels(),
                    "annotations": {
                        "prometheus.io/scrape": "true",
                        "prometheus.io/port": str(METRICS_PORT),
                    },
                },
                "spec": {
                    "serviceAccountName": NAME,
                    "automountServiceAccountToken": mounts_api_token(LOAD_BALANCER_CONTROLLER),
                    "priorityClassName": "system-cluster-critical",
                    "terminationGracePeriodSeconds": 10,
                    "securityContext": pod_security_context(LOAD_BALANCER_CONTROLLER),
                    "nodeSelector": {naming.NODE_POOL_LABEL: naming.GENERAL_POOL},
                    "affinity": {
                        "podAntiAffinity": {
                            "preferredDuringSchedulingIgnoredDuringExecution": [
                                {
                                    "weight": 100,
                                    "podAffinityTerm": {
                                        "labelSelector": {"matchLabels": _selector()},
                                        "topologyKey": "kubernetes.io/hostname",
                                    },
                                }
                            ]
                        }
                    },
                    "containers": [container],
                    "volumes": [
                        {
                            "name": "cert",
                            "secret": {"secretName": WEBHOOK_SECRET, "defaultMode": 0o444},
                        }
                    ],
                },
            },
        },
    }


def disruption_budget() -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": _metadata(),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": _selector()}},
    }


def _client(path: str, ca_bundle: pulumi.Input[str]) -> dict[str, Any]:
    return {
        "caBundle": ca_bundle,
        "service": {"name": WEBHOOK_SERVICE, "namespace": NAMESPACE, "path": path},
    }


def _not_itself() -> dict[str, Any]:
    return {
        "matchExpressions": [
            {"key": naming.APP_LABEL, "operator": "NotIn", "values": [NAME]},
        ]
    }


def _rules(group: str, version: str, resource: str, operations: list[str]) -> list[dict[str, Any]]:
    return [
        {
            "apiGroups": [group],
            "apiVersions": [version],
            "operations": operations,
            "resources": [resource],
        }
    ]


def mutating_webhooks(ca_bundle: pulumi.Input[str]) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": _metadata(WEBHOOK_NAME, namespaced=False),
        "webhooks": [
            {
                "name": "mpod.elbv2.k8s.aws",
                "clientConfig": _client("/mutate-v1-pod", ca_bundle),
                "failurePolicy": "Ignore",
                "admissionReviewVersions": ["v1beta1"],
                "namespaceSelector": {
                    "matchExpressions": [
                        {
                            "key": "elbv2.k8s.aws/pod-readiness-gate-inject",
                            "operator": "In",
                            "values": ["enabled"],
                        }
                    ]
                },
                "objectSelector": _not_itself(),
                "rules": _rules("", "v1", "pods", ["CREATE"]),
                "sideEffects": "None",
            },
            {
                "name": "mtargetgroupbinding.elbv2.k8s.aws",
                "clientConfig": _client(
                    "/mutate-elbv2-k8s-aws-v1beta1-targetgroupbinding", ca_bundle
                ),
                "failurePolicy": "Fail",
                "admissionReviewVersions": ["v1beta1"],
                "rules": _rules(
                    "elbv2.k8s.aws", "v1beta1", "targetgroupbindings", ["CREATE", "UPDATE"]
                ),
                "sideEffects": "None",
            },
        ],
    }


def validating_webhooks(ca_bundle: pulumi.Input[str]) -> dict[str, Any]:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": _metadata(WEBHOOK_NAME, namespaced=False),
        "webhooks": [
            {
                "name": "vingressclassparams.elbv2.k8s.aws",
                "clientConfig": _client(
                    "/validate-elbv2-k8s-aws-v1beta1-ingressclassparams", ca_bundle
                ),
                "failurePolicy": "Fail",
                "admissionReviewVersions": ["v1beta1"],
                "objectSelector": _not_itself(),
                "rules": _rules(
                    "elbv2.k8s.aws", "v1beta1", "ingressclassparams", ["CREATE", "UPDATE"]
                ),
                "sideEffects": "None",
            },
            {
                "name": "vtargetgroupbinding.elbv2.k8s.aws",
                "clientConfig": _client(
                    "/validate-elbv2-k8s-aws-v1beta1-targetgroupbinding", ca_bundle
                ),
                "failurePolicy": "Fail",
                "admissionReviewVersions": ["v1beta1"],
                "rules": _rules(
                    "elbv2.k8s.aws", "v1beta1", "targetgroupbindings", ["CREATE", "UPDATE"]
                ),
                "sideEffects": "None",
            },
            {
                "name": "vingress.elbv2.k8s.aws",
                "clientConfig": _client("/validate-networking-v1-ingress", ca_bundle),
                "failurePolicy": "Fail",
                "matchPolicy": "Equivalent",
                "admissionReviewVersions": ["v1beta1"],
                "rules": _rules("networking.k8s.io", "v1", "ingresses", ["CREATE", "UPDATE"]),
                "sideEffects": "None",
            },
        ],
    }


def ingress_class() -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": _metadata(INGRESS_CLASS, namespaced=False),
        "spec": {"controller": "ingress.k8s.aws/alb"},
    }


def _crd(kind: str, plural: str, singular: str, scope: str, status: bool) -> dict[str, Any]:
    version: dict[str, Any] = {
        "name": CRD_VERSION,
        "served": True,
        "storage": True,
        "schema": {
            "openAPIV3Schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
        },
    }
    if status:
        version["subresources"] = {"status": {}}
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": _metadata(f"{plural}.{CRD_GROUP}", namespaced=False),
        "spec": {
            "group": CRD_GROUP,
            "names": {
                "kind": kind,
                "listKind": f"{kind}List",
                "plural": plural,
                "singular": singular,
            },
            "scope": scope,
            "versions": [version],
        },
    }


def custom_resource_definitions() -> list[dict[str, Any]]:
    """TargetGroupBinding (namespaced, with status) and IngressClassParams (cluster)."""
    return [
        _crd("TargetGroupBinding", "targetgroupbindings", "targetgroupbinding", "Namespaced", True),
        _crd("IngressClassParams", "ingressclassparams", "ingressclassparams", "Cluster", False),
    ]
