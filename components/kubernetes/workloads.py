"""Pure builders: one `ServiceSpec` (plus what the stack decides) in, Kubernetes manifests out.

Manifests are plain dicts in the Kubernetes field shapes (camelCase), holding Pulumi inputs
only where a value is computed (image references, addresses). `KubernetesPlatform` turns
them into resources; tests and validators read the same dicts. Hardening comes from
`security.py` and nowhere else.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi

from components.kubernetes import naming
from components.kubernetes.security import (
    container_security_context,
    mounts_api_token,
    pod_security_context,
)
from stacks.catalog import Probe, ServiceSpec

# The Vault Agent authenticates with a short-lived projected token in its own volume, so the
# application containers never see a Kubernetes API token.
VAULT_TOKEN_VOLUME = "vault-token"
VAULT_TOKEN_ANNOTATION = "vault.hashicorp.com/agent-service-account-token-volume-name"
CONFIG_HASH_ANNOTATION = "sutazai.io/config-sha256"
EMPTY_DIR_LIMIT = "2Gi"
DATA_VOLUME = "data"
CONFIG_VOLUME = "config"

_CONFIG_KEY = re.compile(r"[^-._a-zA-Z0-9]+")


@dataclass(frozen=True)
class WorkloadInputs:
    """Everything the renderer decided for one service besides its spec."""

    spec: ServiceSpec
    namespace: str
    image: pulumi.Input[str]
    env: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    pod_annotations: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    # Read-only files: path -> content (the catalog's config_files plus generated ones).
    config_files: Mapping[str, pulumi.Input[str]] = field(default_factory=dict)
    storage_class: str = "gp3"
    retain_volumes: bool = True
    init_containers: Sequence[dict[str, Any]] = ()
    # (command, args) of the main container (components.launch); None: the catalog's own.
    launch: tuple[Sequence[str] | None, Sequence[str] | None] | None = None
    # Run after the main container starts (an issuer's provisioning apply command).
    post_start: Sequence[str] | None = None
    # Workload identity: projected ServiceAccount tokens, file name -> audience ("" = the
    # API server's own), under IDENTITY_DIR with the cluster CA (identity_file()).
    identity_tokens: Mapping[str, str] = field(default_factory=dict)


IDENTITY_VOLUME = "workload-identity"
IDENTITY_DIR = "/var/run/secrets/sutazai"
# The kubelet rotates a projected token at 80 % of its life; callers re-read the file.
IDENTITY_TOKEN_SECONDS = 3600


def identity_file(name: str) -> str:
    """Where a workload finds a projected token (or `ca.crt`, the cluster's CA)."""
    return f"{IDENTITY_DIR}/{name}"


def _identity_volume(tokens: Mapping[str, str]) -> dict[str, Any]:
    sources: list[dict[str, Any]] = []
    for name, audience in sorted(tokens.items()):
        token: dict[str, Any] = {"path": name, "expirationSeconds": IDENTITY_TOKEN_SECONDS}
        if audience:
            token["audience"] = audience
        sources.append({"serviceAccountToken": token})
    # The API server's CA, which every namespace has (to fetch the API server's JWKS).
    sources.append(
        {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}
    )
    return {"name": IDENTITY_VOLUME, "projected": {"sources": sources, "defaultMode": 0o440}}


# ── containers ───────────────────────────────────────────────────────────────────────────


def probe_action(probe: Probe) -> dict[str, Any]:
    if probe.http is not None:
        return {"httpGet": {"path": probe.http, "port": probe.port, "scheme": "HTTP"}}
    if probe.tcp:
        return {"tcpSocket": {"port": probe.port}}
    return {"exec": {"command": list(probe.exec or [])}}


def probes(spec: ServiceSpec) -> dict[str, dict[str, Any]]:
    health = spec.health
    result = {
        "livenessProbe": {
            **probe_action(health.liveness),
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": 3,
        },
        "readinessProbe": {
            **probe_action(health.readiness),
            "periodSeconds": 5,
            "timeoutSeconds": 3,
            "failureThreshold": 3,
        },
    }
    if health.startup_seconds > 0:
        result["startupProbe"] = {
            **probe_action(health.liveness),
            "periodSeconds": 10,
            "timeoutSeconds": 5,
            "failureThreshold": max(1, math.ceil(health.startup_seconds / 10)),
        }
    return result


def resources(spec: ServiceSpec) -> dict[str, Any]:
    r = spec.resources
    limits: dict[str, str] = {"cpu": r.cpu_limit, "memory": r.memory_limit}
    if spec.gpu is not None:
        limits[naming.GPU_RESOURCE] = str(spec.gpu.count)
    return {"requests": {"cpu": r.cpu, "memory": r.memory}, "limits": limits}


def writable_volume_name(path: str) -> str:
    return naming.dns_label(f"rw-{path}")


def config_key(path: str) -> str:
    return _CONFIG_KEY.sub("-", path.strip("/"))[:253]


def config_map_name(spec: ServiceSpec) -> str:
    return f"{spec.name}-config"


def volume_mounts(
    spec: ServiceSpec, config_files: Mapping[str, pulumi.Input[str]]
) -> list[dict[str, Any]]:
    """Exactly the writable paths (emptyDir), the storage path (PVC) and each config file
    (read-only, one subPath mount per file so the rest of its directory stays the image's)."""
    mounts: list[dict[str, Any]] = [
        {"name": writable_volume_name(path), "mountPath": path} for path in spec.writable_paths
    ]
    if spec.storage is not None:
        mounts.append({"name": DATA_VOLUME, "mountPath": spec.storage.path})
    for path in sorted(config_files):
        mounts.append(
            {
                "name": CONFIG_VOLUME,
                "mountPath": path,
                "subPath": config_key(path),
                "readOnly": True,
            }
        )
    taken = [m["mountPath"] for m in mounts]
    if len(set(taken)) != len(taken):
        raise ValueError(f"{spec.name}: two volumes mount the same path: {sorted(taken)}")
    return mounts


def container(
    spec: ServiceSpec,
    image: pulumi.Input[str],
    env: Mapping[str, pulumi.Input[str]],
    config_files: Mapping[str, pulumi.Input[str]],
    launch: tuple[Sequence[str] | None, Sequence[str] | None] | None = None,
    post_start: Sequence[str] | None = None,
    identity: bool = False,
) -> dict[str, Any]:
    mounts = volume_mounts(spec, config_files)
    if identity:
        mounts.append({"name": IDENTITY_VOLUME, "mountPath": IDENTITY_DIR, "readOnly": True})
    main: dict[str, Any] = {
        "name": spec.name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [
            {"name": p.name, "containerPort": p.port, "protocol": p.protocol} for p in spec.ports
        ],
        "env": [{"name": key, "value": value} for key, value in env.items()],
        "resources": resources(spec),
        "securityContext": container_security_context(spec),
        "volumeMounts": mounts,
        "terminationMessagePolicy": "FallbackToLogsOnError",
        **probes(spec),
    }
    command, args = launch if launch is not None else (spec.command, spec.args)
    if command:
        main["command"] = list(command)
    if args:
        main["args"] = list(args)
    if post_start:
        # The hook runs in this container (same user, files and hardening); the kubelet
        # starts probing once it has returned, and restarts the container if it fails.
        main["lifecycle"] = {"postStart": {"exec": {"command": list(post_start)}}}
    return main


def init_container(
    spec: ServiceSpec,
    name: str,
    image: pulumi.Input[str],
    command: list[str],
    env: Mapping[str, pulumi.Input[str]],
    resources_: dict[str, Any],
) -> dict[str, Any]:
    """An init container of `spec`'s pod: same identity, same hardening, same mounts."""
    return {
        "name": name,
        "image": image,
        "imagePullPolicy": "IfNotPresent",
        "command": command,
        "env": [{"name": key, "value": value} for key, value in env.items()],
        "resources": resources_,
        "securityContext": container_security_context(spec),
        "volumeMounts": volume_mounts(spec, {}),
        "terminationMessagePolicy": "FallbackToLogsOnError",
    }


# ── pod ──────────────────────────────────────────────────────────────────────────────────


def config_hash(files: Mapping[str, pulumi.Input[str]]) -> pulumi.Input[str]:
    """A digest of the config files: a change rolls the pods (subPath mounts never update)."""

    def digest(values: list[str]) -> str:
        h = hashlib.sha256()
        for path, content in zip(sorted(files), values, strict=True):
            h.update(path.encode() + b"\0" + content.encode() + b"\0")
        return h.hexdigest()

    contents = [files[p] for p in sorted(files)]
    if all(isinstance(c, str) for c in contents):
        return digest([str(c) for c in contents])
    return pulumi.Output.all(*contents).apply(lambda values: digest([str(v) for v in values]))


def _volumes(inputs: WorkloadInputs, with_vault_token: bool) -> list[dict[str, Any]]:
    spec = inputs.spec
    volumes: list[dict[str, Any]] = [
        {"name": writable_volume_name(path), "emptyDir": {"sizeLimit": EMPTY_DIR_LIMIT}}
        for path in spec.writable_paths
    ]
    if inputs.config_files:
        volumes.append(
            {
                "name": CONFIG_VOLUME,
                "configMap": {"name": config_map_name(spec), "defaultMode": 0o444},
            }
        )
    if inputs.identity_tokens:
        volumes.append(_identity_volume(inputs.identity_tokens))
    if with_vault_token:
        token: dict[str, Any] = {"path": "token", "expirationSeconds": 3600}
        volumes.append(
            {"name": VAULT_TOKEN_VOLUME, "projected": {"sources": [{"serviceAccountToken": token}]}}
        )
    names = [v["name"] for v in volumes]
    if len(set(names)) != len(names):
        raise ValueError(f"{spec.name}: volume names collide: {sorted(names)}")
    return volumes


def spread(spec: ServiceSpec) -> list[dict[str, Any]]:
    """Replicated critical services spread over nodes (hard) and zones (best effort)."""
    if spec.replicas < 2 or not spec.critical:
        return []
    select = {"matchLabels": naming.selector(spec)}
    return [
        {
            "maxSkew": 1,
            "topologyKey": "kubernetes.io/hostname",
            "whenUnsatisfiable": "DoNotSchedule",
            "labelSelector": select,
        },
        {
            "maxSkew": 1,
            "topologyKey": "topology.kubernetes.io/zone",
            "whenUnsatisfiable": "ScheduleAnyway",
            "labelSelector": select,
        },
    ]


def pod_template(inputs: WorkloadInputs) -> dict[str, Any]:
    spec = inputs.spec
    annotations: dict[str, pulumi.Input[str]] = {
        "kubectl.kubernetes.io/default-container": spec.name
    }
    if inputs.config_files:
        annotations[CONFIG_HASH_ANNOTATION] = config_hash(inputs.config_files)
    with_vault = bool(inputs.pod_annotations)
    annotations.update(inputs.pod_annotations)
    if with_vault:
        annotations.setdefault(VAULT_TOKEN_ANNOTATION, VAULT_TOKEN_VOLUME)
    pod: dict[str, Any] = {
        "serviceAccountName": spec.name,
        "automountServiceAccountToken": mounts_api_token(spec),
        "enableServiceLinks": False,
        "securityContext": pod_security_context(spec),
        "containers": [
            container(
                spec,
                inputs.image,
                inputs.env,
                inputs.config_files,
                inputs.launch,
                inputs.post_start,
                identity=bool(inputs.identity_tokens),
            )
        ],
        "volumes": _volumes(inputs, with_vault),
    }
    if inputs.init_containers:
        pod["initContainers"] = list(inputs.init_containers)
    if spec.gpu is not None:
        pod["nodeSelector"] = {naming.NODE_POOL_LABEL: naming.GPU_POOL}
        pod["tolerations"] = [
            {"key": naming.GPU_RESOURCE, "operator": "Exists", "effect": "NoSchedule"}
        ]
    constraints = spread(spec)
    if constraints:
        pod["topologySpreadConstraints"] = constraints
    return {"metadata": {"labels": naming.labels(spec), "annotations": annotations}, "spec": pod}


# ── objects ──────────────────────────────────────────────────────────────────────────────


def metadata(spec: ServiceSpec, namespace: str, name: str | None = None) -> dict[str, Any]:
    return {"name": name or spec.name, "namespace": namespace, "labels": naming.labels(spec)}


def workload(inputs: WorkloadInputs) -> dict[str, Any]:
    """A StatefulSet with one PVC per replica for stateful services, else a Deployment."""
    spec = inputs.spec
    body: dict[str, Any] = {
        "replicas": spec.replicas,
        "revisionHistoryLimit": 5,
        "selector": {"matchLabels": naming.selector(spec)},
        "template": pod_template(inputs),
    }
    if spec.storage is None:
        body["strategy"] = {
            "type": "RollingUpdate",
            "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1},
        }
        return {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": metadata(spec, inputs.namespace),
            "spec": body,
        }
    policy = "Retain" if inputs.retain_volumes else "Delete"
    body.update(
        serviceName=naming.headless_name(spec),
        podManagementPolicy="Parallel",
        updateStrategy={"type": "RollingUpdate"},
        persistentVolumeClaimRetentionPolicy={"whenDeleted": policy, "whenScaled": policy},
        volumeClaimTemplates=[
            {
                "metadata": {"name": DATA_VOLUME, "labels": naming.selector(spec)},
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "storageClassName": inputs.storage_class,
                    "resources": {"requests": {"storage": spec.storage.size}},
                },
            }
        ],
    )
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(spec, inputs.namespace),
        "spec": body,
    }


def needs_headless_service(spec: ServiceSpec) -> bool:
    """StatefulSets need a governing Service; scraped services are scraped per pod."""
    return spec.storage is not None or spec.scrape is not None


def services(spec: ServiceSpec, namespace: str) -> list[dict[str, Any]]:
    ports = [
        {"name": p.name, "port": p.port, "targetPort": p.name, "protocol": p.protocol}
        for p in spec.ports
    ]
    result = [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": metadata(spec, namespace),
            "spec": {"type": "ClusterIP", "selector": naming.selector(spec), "ports": ports},
        }
    ]
    if needs_headless_service(spec):
        result.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": metadata(spec, namespace, naming.headless_name(spec)),
                "spec": {
                    "clusterIP": "None",
                    "selector": naming.selector(spec),
                    "ports": ports,
                    "publishNotReadyAddresses": False,
                },
            }
        )
    return result


def service_account(spec: ServiceSpec, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata(spec, namespace),
        "automountServiceAccountToken": mounts_api_token(spec),
    }


def disruption_budget(spec: ServiceSpec, namespace: str) -> dict[str, Any] | None:
    if spec.replicas < 2:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(spec, namespace),
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": naming.selector(spec)}},
    }


def config_map(
    spec: ServiceSpec, namespace: str, files: Mapping[str, pulumi.Input[str]]
) -> dict[str, Any] | None:
    if not files:
        return None
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(spec, namespace, config_map_name(spec)),
        "data": {config_key(path): content for path, content in sorted(files.items())},
    }


def ingress(
    spec: ServiceSpec,
    namespace: str,
    host: str,
    annotations: Mapping[str, pulumi.Input[str]],
    ingress_class: str = "alb",
    *,
    hidden_paths: Sequence[str] = (),
    hidden_backend: str = "",
) -> dict[str, Any]:
    """One host, everything under / to the service, except `hidden_paths` (probes,
    metrics), which go to the `hidden_backend` action (a fixed 404) and never to a pod.
    They come first: the load balancer controller keeps the rules in this order."""
    port = spec.primary_port
    hidden = [
        {
            "path": path,
            "pathType": "Prefix",
            "backend": {"service": {"name": hidden_backend, "port": {"name": "use-annotation"}}},
        }
        for path in hidden_paths
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {**metadata(spec, namespace), "annotations": dict(annotations)},
        "spec": {
            "ingressClassName": ingress_class,
            "tls": [{"hosts": [host]}],
            "rules": [
                {
                    "host": host,
                    "http": {
                        "paths": [
                            *hidden,
                            {
                                "path": "/",
                                "pathType": "Prefix",
                                "backend": {
                                    "service": {"name": spec.name, "port": {"name": port.name}}
                                },
                            },
                        ]
                    },
                }
            ],
        },
    }


# ── a managed issuer's provisioning Job (prod: RDS) ──────────────────────────────────────

# psql applying one SQL file: a small, fixed footprint whatever the server's own resources.
PROVISIONING_RESOURCES = {
    "requests": {"cpu": "50m", "memory": "64Mi"},
    "limits": {"cpu": "500m", "memory": "256Mi"},
}
PROVISIONING_SCRATCH = "/tmp"
# Pod retries after the command's own bounded retry loop gave up (server or Vault away).
PROVISIONING_BACKOFF_LIMIT = 3
PRE_POPULATE_ONLY = "vault.hashicorp.com/agent-pre-populate-only"


@dataclass(frozen=True)
class ProvisioningJobInputs:
    """An issuer's provisioning command, run once against its managed endpoint."""

    spec: ServiceSpec
    namespace: str
    # <issuer>-provisioning-<digest of every input>: a change is a new Job, so it runs again.
    name: pulumi.Input[str]
    image: pulumi.Input[str]
    command: Sequence[str]
    env: Mapping[str, pulumi.Input[str]]
    # The issuer's Vault Agent annotations: its own files (admin password, provisioning file).
    pod_annotations: Mapping[str, pulumi.Input[str]]
    # The longest the command may take (its retry loop), before Kubernetes stops the Job.
    deadline_seconds: int = 900


def provisioning_job(inputs: ProvisioningJobInputs) -> dict[str, Any]:
    """A one-shot Job that applies the issuer's provisioning file to its managed endpoint.

    It runs as the issuer (its ServiceAccount, so its Vault role and policy; its uid/gid),
    with the same hardening as every workload. The Vault Agent only pre-populates: a sidecar
    would keep the Job from completing. No probes: it serves nothing.
    """
    spec = inputs.spec
    annotations: dict[str, pulumi.Input[str]] = {
        **inputs.pod_annotations,
        PRE_POPULATE_ONLY: "true",
        VAULT_TOKEN_ANNOTATION: VAULT_TOKEN_VOLUME,
        "kubectl.kubernetes.io/default-container": naming.PROVISIONING_COMPONENT,
    }
    scratch = writable_volume_name(PROVISIONING_SCRATCH)
    pod = {
        "serviceAccountName": spec.name,
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "restartPolicy": "Never",
        "securityContext": pod_security_context(spec),
        "containers": [
            {
                "name": naming.PROVISIONING_COMPONENT,
                "image": inputs.image,
                "imagePullPolicy": "IfNotPresent",
                "command": list(inputs.command),
                "env": [{"name": key, "value": value} for key, value in inputs.env.items()],
                "resources": PROVISIONING_RESOURCES,
                "securityContext": container_security_context(spec),
                "volumeMounts": [{"name": scratch, "mountPath": PROVISIONING_SCRATCH}],
                "terminationMessagePolicy": "FallbackToLogsOnError",
            }
        ],
        "volumes": [
            {"name": scratch, "emptyDir": {"sizeLimit": "64Mi"}},
            {
                "name": VAULT_TOKEN_VOLUME,
                "projected": {
                    "sources": [
                        {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}}
                    ]
                },
            },
        ],
    }
    labels = naming.provisioning_labels(spec)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": inputs.name, "namespace": inputs.namespace, "labels": labels},
        "spec": {
            "backoffLimit": PROVISIONING_BACKOFF_LIMIT,
            "activeDeadlineSeconds": inputs.deadline_seconds,
            "template": {
                "metadata": {"labels": labels, "annotations": annotations},
                "spec": pod,
            },
        },
    }
