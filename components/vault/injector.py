"""The Vault Agent injector (hashicorp/vault-k8s), as plain, hardened Kubernetes objects.

Why not the vault Helm chart (injector only)? Every hardening field sits in the resource
arguments here (from components/kubernetes/security.py, the one place that hardens pods),
where the mock tests and the CrossGuard pack can see it; a `helm.v3.Release`
is one opaque resource to both, and a `v4.Chart` registers no children under mocks. The
injector is seven small objects that mirror the chart (vault-helm 0.34.1) with its options
settled: auto-TLS (the injector makes its own CA and patches the webhook's caBundle),
leader election when it runs more than one replica, non-root, read-only root, drop ALL,
seccomp RuntimeDefault, requests/limits, probes, and a webhook scoped to the stack's
namespaces that fails closed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.kubernetes.security import (
    KUBE_API_TOKEN,
    AddOn,
    Waiver,
    container_security_context,
    mounts_api_token,
    pod_security_context,
)
from components.vault.layout import INJECTOR_IMAGE, VAULT_IMAGE

INJECTOR_PORT = 8080
INJECTOR_UID = 100
INJECTOR_GID = 1000
WEBHOOK_NAME = "vault.hashicorp.com"
# Hardened like every workload (components/kubernetes/security.py); its one waiver:
INJECTOR = AddOn(
    name="vault-agent-injector",
    uid=INJECTOR_UID,
    gid=INJECTOR_GID,
    waivers=(
        Waiver(
            KUBE_API_TOKEN,
            "auto-TLS patches the CA bundle of its own MutatingWebhookConfiguration, and "
            "replicas hold a leader lock, through the Kubernetes API",
        ),
    ),
)

# Defaults for every injected agent (a pod's annotations can still lower them).
AGENT_CPU_REQUEST = "25m"
AGENT_CPU_LIMIT = "250m"
AGENT_MEM_REQUEST = "64Mi"
AGENT_MEM_LIMIT = "128Mi"


class VaultAgentInjector(pulumi.ComponentResource):
    """Deployment + Service + MutatingWebhookConfiguration + RBAC in the Vault namespace."""

    def __init__(
        self,
        name: str,
        *,
        namespace: str,
        vault_address: str,
        auth_path: str,
        target_namespaces: Sequence[str],
        replicas: int,
        provider: pulumi.ProviderResource,
        create_namespace: bool = True,
        labels: dict[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("sutazai:secrets:VaultAgentInjector", name, None, opts)
        # Cluster-scoped names carry the component name (sutazai-<stack>-...), so two
        # stacks on one cluster never fight over a ClusterRole or a webhook.
        app = f"{name}-injector"
        self.app_name = app
        self.webhook_config_name = f"{name}-injector-cfg"
        self.service_name = f"{name}-injector-svc"
        leader_election = replicas > 1
        match_labels = {"app.kubernetes.io/name": app, "app.kubernetes.io/component": "webhook"}
        common = {
            **(labels or {}),
            **match_labels,
            "app.kubernetes.io/part-of": "sutazai",
            "app.kubernetes.io/managed-by": "pulumi",
        }
        child = pulumi.ResourceOptions(parent=self, provider=provider)

        def meta(object_name: str, namespaced: bool = True) -> k8s.meta.v1.ObjectMetaArgs:
            return k8s.meta.v1.ObjectMetaArgs(
                name=object_name, namespace=namespace if namespaced else None, labels=common
            )

        # The Vault namespace is ours unless the cluster side already made it (it is one of
        # the workload namespaces).
        self.namespace: k8s.core.v1.Namespace | None = None
        if create_namespace:
            self.namespace = k8s.core.v1.Namespace(
                f"{name}-namespace",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=namespace,
                    labels={
                        **common,
                        "pod-security.kubernetes.io/enforce": "restricted",
                        "pod-security.kubernetes.io/audit": "restricted",
                        "pod-security.kubernetes.io/warn": "restricted",
                    },
                ),
                opts=child,
            )
        in_namespace = pulumi.ResourceOptions.merge(
            child, pulumi.ResourceOptions(depends_on=[self.namespace] if self.namespace else [])
        )

        account = k8s.core.v1.ServiceAccount(
            f"{name}-injector", metadata=meta(app), opts=in_namespace
        )

        cluster_rules = [
            # The cert watcher lists and watches webhooks; it only ever writes its own.
            k8s.rbac.v1.PolicyRuleArgs(
                api_groups=["admissionregistration.k8s.io"],
                resources=["mutatingwebhookconfigurations"],
                verbs=["list", "watch"],
            ),
            k8s.rbac.v1.PolicyRuleArgs(
                api_groups=["admissionregistration.k8s.io"],
                resources=["mutatingwebhookconfigurations"],
                resource_names=[self.webhook_config_name],
                verbs=["get", "patch"],
            ),
        ]
        if leader_election:
            cluster_rules.append(
                k8s.rbac.v1.PolicyRuleArgs(api_groups=[""], resources=["nodes"], verbs=["get"])
            )
        cluster_role = k8s.rbac.v1.ClusterRole(
            f"{name}-injector",
            metadata=meta(app, namespaced=False),
            rules=cluster_rules,
            opts=child,
        )
        k8s.rbac.v1.ClusterRoleBinding(
            f"{name}-injector",
            metadata=meta(app, namespaced=False),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io",
                kind="ClusterRole",
                name=cluster_role.metadata.name,
            ),
            subjects=[
                k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=app, namespace=namespace)
            ],
            opts=in_namespace,
        )
        if leader_election:
            role = k8s.rbac.v1.Role(
                f"{name}-injector-leader",
                metadata=meta(f"{app}-leader-elector"),
                rules=[
                    k8s.rbac.v1.PolicyRuleArgs(
                        api_groups=[""],
                        resources=["secrets", "configmaps"],
                        verbs=["create", "get", "watch", "list", "update"],
                    ),
                    k8s.rbac.v1.PolicyRuleArgs(
                        api_groups=[""], resources=["configmaps"], verbs=["delete"]
                    ),
                    k8s.rbac.v1.PolicyRuleArgs(
                        api_groups=[""], resources=["pods"], verbs=["get", "patch", "delete"]
                    ),
                ],
                opts=in_namespace,
            )
            k8s.rbac.v1.RoleBinding(
                f"{name}-injector-leader",
                metadata=meta(f"{app}-leader-elector"),
                role_ref=k8s.rbac.v1.RoleRefArgs(
                    api_group="rbac.authorization.k8s.io", kind="Role", name=role.metadata.name
                ),
                subjects=[
                    k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=app, namespace=namespace)
                ],
                opts=in_namespace,
            )

        tls_hosts = ",".join(
            [
                self.service_name,
                f"{self.service_name}.{namespace}",
                f"{self.service_name}.{namespace}.svc",
            ]
        )
        # A plain manifest in the Kubernetes field shapes, like the workload renderer's.
        manifest: Any = deployment_spec(
            app=app,
            match_labels=match_labels,
            labels=common,
            replicas=replicas,
            vault_address=vault_address,
            auth_path=auth_path,
            webhook_config_name=self.webhook_config_name,
            tls_hosts=tls_hosts,
        )
        self.deployment = k8s.apps.v1.Deployment(
            f"{name}-injector",
            metadata=meta(app),
            spec=manifest,
            opts=pulumi.ResourceOptions.merge(
                in_namespace, pulumi.ResourceOptions(depends_on=[account])
            ),
        )

        service = k8s.core.v1.Service(
            f"{name}-injector",
            metadata=meta(self.service_name),
            spec=k8s.core.v1.ServiceSpecArgs(
                selector=match_labels,
                ports=[
                    k8s.core.v1.ServicePortArgs(name="https", port=443, target_port=INJECTOR_PORT)
                ],
            ),
            opts=in_namespace,
        )

        if replicas > 1:
            k8s.policy.v1.PodDisruptionBudget(
                f"{name}-injector",
                metadata=meta(app),
                spec=k8s.policy.v1.PodDisruptionBudgetSpecArgs(
                    min_available=1,
                    selector=k8s.meta.v1.LabelSelectorArgs(match_labels=match_labels),
                ),
                opts=in_namespace,
            )

        # Fails closed: a pod of the stack is not created without its agent (the ReplicaSet
        # retries until the injector is back) instead of starting without its secrets.
        # Scoped to the stack's namespaces, so nothing else in the cluster depends on it.
        self.webhook = k8s.admissionregistration.v1.MutatingWebhookConfiguration(
            f"{name}-injector",
            metadata=meta(self.webhook_config_name, namespaced=False),
            webhooks=[
                k8s.admissionregistration.v1.MutatingWebhookArgs(
                    name=WEBHOOK_NAME,
                    admission_review_versions=["v1", "v1beta1"],
                    side_effects="None",
                    failure_policy="Fail",
                    match_policy="Exact",
                    timeout_seconds=10,
                    client_config=k8s.admissionregistration.v1.WebhookClientConfigArgs(
                        service=k8s.admissionregistration.v1.ServiceReferenceArgs(
                            name=self.service_name,
                            namespace=namespace,
                            path="/mutate",
                            port=443,
                        ),
                    ),
                    rules=[
                        k8s.admissionregistration.v1.RuleWithOperationsArgs(
                            operations=["CREATE"],
                            api_groups=[""],
                            api_versions=["v1"],
                            resources=["pods"],
                            scope="Namespaced",
                        )
                    ],
                    namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                        match_expressions=[
                            k8s.meta.v1.LabelSelectorRequirementArgs(
                                key="kubernetes.io/metadata.name",
                                operator="In",
                                values=sorted(set(target_namespaces)),
                            )
                        ]
                    ),
                    object_selector=k8s.meta.v1.LabelSelectorArgs(
                        match_expressions=[
                            k8s.meta.v1.LabelSelectorRequirementArgs(
                                key="app.kubernetes.io/name", operator="NotIn", values=[app]
                            )
                        ]
                    ),
                )
            ],
            opts=pulumi.ResourceOptions.merge(
                child,
                pulumi.ResourceOptions(
                    depends_on=[self.deployment, service],
                    # The injector writes its own CA into the webhook (auto-TLS).
                    ignore_changes=["webhooks[0].clientConfig.caBundle"],
                ),
            ),
        )
        self.register_outputs(
            {
                "webhook": self.webhook_config_name,
                "service": self.service_name,
                "image": INJECTOR_IMAGE,
            }
        )


def _env(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def _field(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def deployment_spec(
    *,
    app: str,
    match_labels: dict[str, str],
    labels: dict[str, str],
    replicas: int,
    vault_address: str,
    auth_path: str,
    webhook_config_name: str,
    tls_hosts: str,
) -> dict[str, Any]:
    """The injector's Deployment spec, hardened by components/kubernetes/security.py (its
    one waiver: the API token, `INJECTOR`)."""
    leader_election = replicas > 1
    env = [
        _env("AGENT_INJECT_LISTEN", f":{INJECTOR_PORT}"),
        _env("AGENT_INJECT_LOG_LEVEL", "info"),
        _env("AGENT_INJECT_LOG_FORMAT", "json"),
        _env("AGENT_INJECT_VAULT_ADDR", vault_address),
        _env("AGENT_INJECT_VAULT_AUTH_PATH", f"auth/{auth_path}"),
        _env("AGENT_INJECT_VAULT_IMAGE", VAULT_IMAGE),
        _env("AGENT_INJECT_TLS_AUTO", webhook_config_name),
        _env("AGENT_INJECT_TLS_AUTO_HOSTS", tls_hosts),
        _env("AGENT_INJECT_REVOKE_ON_SHUTDOWN", "false"),
        _env("AGENT_INJECT_SET_SECURITY_CONTEXT", "true"),
        _env("AGENT_INJECT_RUN_AS_USER", str(INJECTOR_UID)),
        _env("AGENT_INJECT_RUN_AS_GROUP", str(INJECTOR_GID)),
        _env("AGENT_INJECT_CPU_REQUEST", AGENT_CPU_REQUEST),
        _env("AGENT_INJECT_CPU_LIMIT", AGENT_CPU_LIMIT),
        _env("AGENT_INJECT_MEM_REQUEST", AGENT_MEM_REQUEST),
        _env("AGENT_INJECT_MEM_LIMIT", AGENT_MEM_LIMIT),
        _env("AGENT_INJECT_DEFAULT_TEMPLATE", "map"),
        _env("AGENT_INJECT_TEMPLATE_CONFIG_EXIT_ON_RETRY_FAILURE", "true"),
        _field("POD_NAME", "metadata.name"),
    ]
    if leader_election:
        env += [
            _env("AGENT_INJECT_USE_LEADER_ELECTOR", "true"),
            _field("NAMESPACE", "metadata.namespace"),
        ]

    def probe(failures: int, period: int) -> dict[str, Any]:
        return {
            "httpGet": {"path": "/health/ready", "port": INJECTOR_PORT, "scheme": "HTTPS"},
            "initialDelaySeconds": 5,
            "periodSeconds": period,
            "timeoutSeconds": 5,
            "failureThreshold": failures,
            "successThreshold": 1,
        }

    return {
        "replicas": replicas,
        "selector": {"matchLabels": dict(match_labels)},
        "template": {
            "metadata": {"labels": dict(labels)},
            "spec": {
                "serviceAccountName": app,
                # The injector talks to the API server (webhook cert, leader lock).
                "automountServiceAccountToken": mounts_api_token(INJECTOR),
                "securityContext": pod_security_context(INJECTOR),
                "affinity": {
                    "podAntiAffinity": {
                        "preferredDuringSchedulingIgnoredDuringExecution": [
                            {
                                "weight": 100,
                                "podAffinityTerm": {
                                    "labelSelector": {"matchLabels": dict(match_labels)},
                                    "topologyKey": "kubernetes.io/hostname",
                                },
                            }
                        ]
                    }
                },
                "containers": [
                    {
                        "name": "sidecar-injector",
                        "image": INJECTOR_IMAGE,
                        "imagePullPolicy": "IfNotPresent",
                        "args": ["agent-inject"],
                        "env": env,
                        "ports": [{"name": "https", "containerPort": INJECTOR_PORT}],
                        "securityContext": container_security_context(INJECTOR),
                        "resources": {
                            "requests": {"cpu": "50m", "memory": "64Mi"},
                            "limits": {"cpu": "250m", "memory": "256Mi"},
                        },
                        "livenessProbe": probe(failures=2, period=5),
                        "readinessProbe": probe(failures=2, period=5),
                        "startupProbe": probe(failures=12, period=5),
                        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
                    }
                ],
                "volumes": [{"name": "tmp", "emptyDir": {"medium": "Memory", "sizeLimit": "16Mi"}}],
            },
        },
    }
