"""The Kubernetes cluster autoscaler for the EKS managed node groups, as plain manifests.

Why rendered here and not the `cluster-autoscaler` Helm chart: like the Vault Agent
injector, every field (above all the hardening, from `security.py`) then sits in resource
arguments the mock tests and the CrossGuard pack can read; a `helm.v3.Release` is one
opaque resource to both. The objects mirror the upstream `cluster-autoscaler-autodiscover`
example for AWS with its options settled:

* auto-discovery of the node groups by the tags EKS puts on their Auto Scaling groups
  (`k8s.io/cluster-autoscaler/enabled`, `k8s.io/cluster-autoscaler/<cluster>`); the node
  groups carry the same tags (components/cluster.py), and the program leaves their desired
  size to the autoscaler (`ignore_changes`);
* IRSA: describe calls on `*` (AWS offers no narrower resource for them), scaling and
  terminating only Auto Scaling groups tagged for this cluster, `eks:DescribeNodegroup`
  (labels and taints, for scaling a group up from zero) on this cluster's node groups;
* RBAC as upstream, without the legacy `extensions` group and endpoints lock (leases);
* non-root (65534), read-only root, no capabilities, seccomp RuntimeDefault, requests and
  limits, probes on its health endpoint; in kube-system on the general nodes. Its one
  waiver is the API token: the autoscaler is a Kubernetes controller.

It needs no host access, so it has no policy or validator exception beyond the token.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
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

NAME = "cluster-autoscaler"
NAMESPACE = "kube-system"
PORT = 8085
STATUS_CONFIG_MAP = "cluster-autoscaler-status"
# One autoscaler build per Kubernetes minor; it must match the cluster's.
IMAGES = {
    "1.30": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.30.4",
    "1.31": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.31.1",
    "1.32": "registry.k8s.io/autoscaling/cluster-autoscaler:v1.32.1",
}
ENABLED_TAG = "k8s.io/cluster-autoscaler/enabled"

CLUSTER_AUTOSCALER = AddOn(
    name=NAME,
    uid=65534,
    gid=65534,
    waivers=(
        Waiver(
            KUBE_API_TOKEN,
            "a controller: watches pods and nodes, evicts pods from nodes it removes and "
            "holds a leader lease, through the Kubernetes API",
        ),
    ),
)


def image_for(cluster_version: str) -> str:
    try:
        return IMAGES[cluster_version]
    except KeyError:
        raise ValueError(
            f"no cluster-autoscaler build pinned for Kubernetes {cluster_version} "
            f"(pinned: {', '.join(sorted(IMAGES))}); add one to components/kubernetes/"
            "autoscaler.py IMAGES"
        ) from None


def owner_tag(cluster_name: str) -> str:
    return f"k8s.io/cluster-autoscaler/{cluster_name}"


def node_group_tags(cluster_name: str) -> dict[str, str]:
    """The discovery tags (EKS also puts them on each managed group's Auto Scaling group)."""
    return {ENABLED_TAG: "true", owner_tag(cluster_name): "owned"}


def iam_policy(cluster_name: str, node_group_arns: Sequence[str]) -> dict[str, Any]:
    """Least privilege for the AWS cloud provider of the autoscaler."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "Discover",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:DescribeAutoScalingGroups",
                    "autoscaling:DescribeAutoScalingInstances",
                    "autoscaling:DescribeLaunchConfigurations",
                    "autoscaling:DescribeScalingActivities",
                    "autoscaling:DescribeTags",
                    "ec2:DescribeImages",
                    "ec2:DescribeInstanceTypes",
                    "ec2:DescribeLaunchTemplateVersions",
                    "ec2:GetInstanceTypesFromInstanceRequirements",
                ],
                "Resource": "*",
            },
            {
                "Sid": "ScaleThisClustersGroups",
                "Effect": "Allow",
                "Action": [
                    "autoscaling:SetDesiredCapacity",
                    "autoscaling:TerminateInstanceInAutoScalingGroup",
                ],
                "Resource": "*",
                "Condition": {
                    "StringEquals": {
                        f"aws:ResourceTag/{owner_tag(cluster_name)}": "owned",
                        f"aws:ResourceTag/{ENABLED_TAG}": "true",
                    }
                },
            },
            {
                "Sid": "ReadThisClustersNodeGroups",
                "Effect": "Allow",
                "Action": ["eks:DescribeNodegroup"],
                "Resource": list(node_group_arns),
            },
        ],
    }


def _labels() -> dict[str, str]:
    return {
        naming.APP_LABEL: NAME,
        "app.kubernetes.io/part-of": naming.PART_OF,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def _metadata(namespaced: bool = True, name: str = NAME) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "labels": _labels()}
    if namespaced:
        meta["namespace"] = NAMESPACE
    return meta


def service_account(role_arn: pulumi.Input[str]) -> dict[str, Any]:
    return irsa_service_account(
        _metadata(), role_arn, automount=mounts_api_token(CLUSTER_AUTOSCALER)
    )


def cluster_role() -> dict[str, Any]:
    read = ["watch", "list", "get"]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": _metadata(namespaced=False),
        "rules": [
            rbac_rule([""], ["events"], ["create", "patch"]),
            rbac_rule([""], ["pods/eviction"], ["create"]),
            rbac_rule([""], ["pods/status"], ["update"]),
            rbac_rule([""], ["nodes"], ["watch", "list", "get", "update"]),
            rbac_rule(
                [""],
                [
                    "namespaces",
                    "pods",
                    "services",
                    "replicationcontrollers",
                    "persistentvolumeclaims",
                    "persistentvolumes",
                ],
                read,
            ),
            rbac_rule(["apps"], ["statefulsets", "replicasets", "daemonsets"], read),
            rbac_rule(["policy"], ["poddisruptionbudgets"], ["watch", "list"]),
            rbac_rule(
                ["storage.k8s.io"],
                [
                    "storageclasses",
                    "csinodes",
                    "csidrivers",
                    "csistoragecapacities",
                    "volumeattachments",
                ],
                read,
            ),
            rbac_rule(["batch"], ["jobs", "cronjobs"], read),
            rbac_rule(["coordination.k8s.io"], ["leases"], ["create"]),
            rbac_rule(["coordination.k8s.io"], ["leases"], ["get", "update"], [NAME]),
        ],
    }


def role() -> dict[str, Any]:
    """Its status ConfigMap in kube-system, nothing else there."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": _metadata(),
        "rules": [
            rbac_rule([""], ["configmaps"], ["create", "list", "watch"]),
            rbac_rule(
                [""], ["configmaps"], ["delete", "get", "update", "watch"], [STATUS_CONFIG_MAP]
            ),
        ],
    }


def binding(kind: str) -> dict[str, Any]:
    """The (Cluster)RoleBinding of `cluster_role()` (kind ClusterRole) or `role()` (Role)."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": f"{kind}Binding",
        "metadata": _metadata(namespaced=kind == "Role"),
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": kind, "name": NAME},
        "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": NAMESPACE}],
    }


def deployment(*, cluster_name: str, region: str, cluster_version: str) -> dict[str, Any]:
    probe = {
        "httpGet": {"path": "/health-check", "port": PORT, "scheme": "HTTP"},
        "periodSeconds": 10,
        "timeoutSeconds": 5,
        "failureThreshold": 3,
    }
    discovery = f"--node-group-auto-discovery=asg:tag={ENABLED_TAG},{owner_tag(cluster_name)}"
    container = {
        "name": NAME,
        "image": image_for(cluster_version),
        "imagePullPolicy": "IfNotPresent",
        "command": [
            "./cluster-autoscaler",
            "--cloud-provider=aws",
            discovery,
            "--balance-similar-node-groups",
            "--expander=least-waste",
            # Our pods' emptyDirs are scratch space (data lives on volume claims), and
            # kube-system pods run on every node: neither may pin a node forever.
            "--skip-nodes-with-local-storage=false",
            "--skip-nodes-with-system-pods=false",
            "--stderrthreshold=info",
            "--v=2",
        ],
        "env": [{"name": "AWS_REGION", "value": region}],
        "ports": [{"name": "http", "containerPort": PORT, "protocol": "TCP"}],
        "resources": {
            "requests": {"cpu": "100m", "memory": "300Mi"},
            "limits": {"cpu": "500m", "memory": "600Mi"},
        },
        "securityContext": container_security_context(CLUSTER_AUTOSCALER),
        "livenessProbe": probe,
        "readinessProbe": probe,
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": _metadata(),
        "spec": {
            # One active instance (it takes a lease); a restart is harmless.
            "replicas": 1,
            "revisionHistoryLimit": 5,
            "selector": {"matchLabels": {naming.APP_LABEL: NAME}},
            "template": {
                "metadata": {
                    "labels": _labels(),
                    # Never evict it to remove its own node.
                    "annotations": {"cluster-autoscaler.kubernetes.io/safe-to-evict": "false"},
                },
                "spec": {
                    "serviceAccountName": NAME,
                    "automountServiceAccountToken": mounts_api_token(CLUSTER_AUTOSCALER),
                    "priorityClassName": "system-cluster-critical",
                    "securityContext": pod_security_context(CLUSTER_AUTOSCALER),
                    "nodeSelector": {naming.NODE_POOL_LABEL: naming.GENERAL_POOL},
                    "containers": [container],
                    "volumes": [{"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}}],
                },
            },
        },
    }


def policy_json(
    cluster_name: str, node_group_arns: Sequence[pulumi.Input[str]]
) -> pulumi.Output[str]:
    return pulumi.Output.all(*node_group_arns).apply(
        lambda arns: json.dumps(iam_policy(cluster_name, [str(a) for a in arns]))
    )
