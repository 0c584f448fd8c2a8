"""Scheduled backup jobs as hardened CronJobs (the code: service-code/base/backup-jobs).

* `<service>-backup`: a service whose upstream documents an online backup (`ONLINE_BACKUPS`:
  Qdrant's snapshot API) is snapshotted on `backup.applicationSchedule` and the snapshots go
  to the stack's backup bucket, under the service's own prefix. The job runs as the service
  (its ServiceAccount: its Vault role hands it the API key), with an IRSA role that may only
  put objects under that prefix; the web identity token is projected into the job's pod only,
  so the service's own pods cannot use the role.
* `<issuer>-heartbeat`: a heartbeat row into a managed PostgreSQL (RDS), so a restored copy
  says how recent it is (`postgres-verify` in the runbook). It runs as the issuer, with the
  provisioning Job's identity, labels and therefore its NetworkPolicy (DNS, RDS, Vault).

Every pod gets the one hardening path (`pod_security_context`, `container_security_context`):
non-root, read-only root, no escalation, no capabilities, RuntimeDefault seccomp, requests and
limits, no API token; only one run at a time, bounded by a deadline.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pulumi

from components.kubernetes import naming
from components.kubernetes.network_policies import DNS_PORTS, KUBE_DNS, Destination
from components.kubernetes.security import (
    AddOn,
    container_security_context,
    pod_security_context,
)
from components.kubernetes.workloads import (
    PRE_POPULATE_ONLY,
    VAULT_TOKEN_ANNOTATION,
    VAULT_TOKEN_VOLUME,
    writable_volume_name,
)
from stacks.catalog import ServiceSpec

# Services whose upstream documents an online, consistent backup, and the job command that
# takes it. Everything else stateful relies on crash-consistent EBS snapshots (AWS Backup).
ONLINE_BACKUPS: Mapping[str, str] = {"qdrant": "qdrant-snapshot"}
BACKUP_COMPONENT = "backup"
HEARTBEAT_COMPONENT = "heartbeat"
# Every 6 hours at :15 (postgres-verify's default slack is 7 h).
HEARTBEAT_SCHEDULE = "15 */6 * * *"
SCRATCH = "/scratch"
WEB_IDENTITY_DIR = "/var/run/secrets/eks.amazonaws.com/serviceaccount"
WEB_IDENTITY_VOLUME = "aws-iam-token"
JOB_RESOURCES = {
    "requests": {"cpu": "100m", "memory": "128Mi"},
    "limits": {"cpu": "1", "memory": "512Mi"},
}
HTTPS = 443
# S3 is reached on its public addresses (directly or through a gateway endpoint); private
# ranges (the VPC, peered networks, Vault's) stay closed to the job.
PRIVATE_RANGES = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16")


def backup_name(spec: ServiceSpec) -> str:
    return f"{spec.name}-{BACKUP_COMPONENT}"


def backup_labels(spec: ServiceSpec) -> dict[str, str]:
    return {
        **naming.labels(spec),
        naming.APP_LABEL: backup_name(spec),
        "app.kubernetes.io/component": BACKUP_COMPONENT,
        "app.kubernetes.io/instance": spec.name,
    }


@dataclass(frozen=True)
class CronJobInputs:
    spec: ServiceSpec
    namespace: str
    name: str
    labels: Mapping[str, str]
    image: pulumi.Input[str]
    command: Sequence[str]
    env: Mapping[str, pulumi.Input[str]]
    schedule: str
    pod_annotations: Mapping[str, pulumi.Input[str]]
    # IRSA: the role the projected web identity token is exchanged for (None: no AWS access).
    role_arn: pulumi.Input[str] | None = None
    scratch_limit: str = "64Mi"
    deadline_seconds: int = 3600


def cron_job(inputs: CronJobInputs) -> dict[str, Any]:
    """A hardened CronJob that runs `command` as the service (its uid, its ServiceAccount and
    Vault role; the agent only pre-populates files, so the Job can complete)."""
    spec = inputs.spec
    # The service's numeric identity (its Vault files are rendered for it), none of its
    # hardening exceptions: a job needs no waiver.
    identity = AddOn(name=inputs.name, uid=spec.uid, gid=spec.gid)
    env: dict[str, pulumi.Input[str]] = {**inputs.env, "SCRATCH_DIR": SCRATCH}
    scratch = writable_volume_name(SCRATCH)
    mounts: list[dict[str, Any]] = [{"name": scratch, "mountPath": SCRATCH}]
    volumes: list[dict[str, Any]] = [
        {"name": scratch, "emptyDir": {"sizeLimit": inputs.scratch_limit}},
        {
            "name": VAULT_TOKEN_VOLUME,
            "projected": {
                "sources": [{"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}]
            },
        },
    ]
    if inputs.role_arn is not None:
        env["AWS_ROLE_ARN"] = inputs.role_arn
        env["AWS_WEB_IDENTITY_TOKEN_FILE"] = f"{WEB_IDENTITY_DIR}/token"
        env["AWS_STS_REGIONAL_ENDPOINTS"] = "regional"
        mounts.append(
            {"name": WEB_IDENTITY_VOLUME, "mountPath": WEB_IDENTITY_DIR, "readOnly": True}
        )
        volumes.append(
            {
                "name": WEB_IDENTITY_VOLUME,
                "projected": {
                    "sources": [
                        {
                            "serviceAccountToken": {
                                "audience": "sts.amazonaws.com",
                                "expirationSeconds": 3600,
                                "path": "token",
                            }
                        }
                    ]
                },
            }
        )
    annotations: dict[str, pulumi.Input[str]] = {}
    if inputs.pod_annotations:
        annotations = {
            **inputs.pod_annotations,
            PRE_POPULATE_ONLY: "true",
            VAULT_TOKEN_ANNOTATION: VAULT_TOKEN_VOLUME,
            "kubectl.kubernetes.io/default-container": inputs.name,
        }
    pod = {
        "serviceAccountName": spec.name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Never",
        "securityContext": pod_security_context(identity),
        "containers": [
            {
                "name": inputs.name,
                "image": inputs.image,
                "imagePullPolicy": "IfNotPresent",
                "command": list(inputs.command),
                "env": [{"name": k, "value": v} for k, v in sorted(env.items())],
                "resources": JOB_RESOURCES,
                "securityContext": container_security_context(identity),
                "volumeMounts": mounts,
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }
        ],
        "volumes": volumes,
    }
    labels = dict(inputs.labels)
    return {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": inputs.name, "namespace": inputs.namespace, "labels": labels},
        "spec": {
            "schedule": inputs.schedule,
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "startingDeadlineSeconds": 1800,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 3,
            "jobTemplate": {
                "metadata": {"labels": labels},
                "spec": {
                    "backoffLimit": 2,
                    "activeDeadlineSeconds": inputs.deadline_seconds,
                    "ttlSecondsAfterFinished": 7 * 24 * 3600,
                    "template": {
                        "metadata": {"labels": labels, "annotations": annotations},
                        "spec": pod,
                    },
                },
            },
        },
    }


def backup_policies(
    spec: ServiceSpec,
    namespace: str,
    *,
    vault: Destination | None,
    vpc_cidr: str,
) -> list[dict[str, Any]]:
    """The snapshot job's NetworkPolicy (DNS, the service's pods, Vault, HTTPS to public
    addresses for S3; no ingress) and the service's extra ingress from the job, on its
    ports."""
    ports = [{"port": p.port, "protocol": p.protocol} for p in spec.ports]
    job_pods = {"podSelector": {"matchLabels": {naming.APP_LABEL: backup_name(spec)}}}
    egress: list[dict[str, Any]] = [
        {"to": [KUBE_DNS], "ports": [dict(p) for p in DNS_PORTS]},
        {"to": [{"podSelector": {"matchLabels": naming.selector(spec)}}], "ports": ports},
        {
            "to": Destination(
                port=HTTPS, cidrs=("0.0.0.0/0",), except_cidrs=(vpc_cidr, *PRIVATE_RANGES)
            ).peers(),
            "ports": [{"port": HTTPS, "protocol": "TCP"}],
        },
    ]
    if vault is not None:
        egress.append({"to": vault.peers(), "ports": [{"port": vault.port, "protocol": "TCP"}]})
    labels = backup_labels(spec)
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {"name": backup_name(spec), "namespace": namespace, "labels": labels},
            "spec": {
                "podSelector": {"matchLabels": {naming.APP_LABEL: backup_name(spec)}},
                "policyTypes": ["Ingress", "Egress"],
                "ingress": [],
                "egress": egress,
            },
        },
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "NetworkPolicy",
            "metadata": {
                "name": f"{spec.name}-from-{BACKUP_COMPONENT}",
                "namespace": namespace,
                "labels": labels,
            },
            "spec": {
                "podSelector": {"matchLabels": naming.selector(spec)},
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [job_pods], "ports": ports}],
            },
        },
    ]


__all__ = [
    "HEARTBEAT_SCHEDULE",
    "ONLINE_BACKUPS",
    "CronJobInputs",
    "backup_labels",
    "backup_name",
    "backup_policies",
    "cron_job",
]
