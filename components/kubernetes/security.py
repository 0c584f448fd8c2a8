"""The one place that hardens pods and containers (design invariant 2).

Every container and init container the renderer emits gets `container_security_context`,
every pod `pod_security_context`. Only a catalog exception (`spec.exceptions`, with a
reason) relaxes anything, and only the rules the catalog schema allows.
"""

from __future__ import annotations

from typing import Any

from stacks.catalog import ServiceSpec

READ_ONLY_ROOT = "read-only-root-filesystem"
KUBE_API_TOKEN = "kube-api-token"

_SECCOMP = {"type": "RuntimeDefault"}


def pod_security_context(spec: ServiceSpec) -> dict[str, Any]:
    """Pod level: non-root with the catalog's numeric uid/gid, volumes owned by its gid."""
    return {
        "runAsNonRoot": True,
        "runAsUser": spec.uid,
        "runAsGroup": spec.gid,
        "fsGroup": spec.gid,
        # Only chown a volume when its root does not already belong to fsGroup.
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": dict(_SECCOMP),
    }


def container_security_context(spec: ServiceSpec) -> dict[str, Any]:
    """Container level: the same identity plus the fields that only exist on containers."""
    return {
        "runAsNonRoot": True,
        "runAsUser": spec.uid,
        "runAsGroup": spec.gid,
        "readOnlyRootFilesystem": not spec.exempt_from(READ_ONLY_ROOT),
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": dict(_SECCOMP),
    }


def mounts_api_token(spec: ServiceSpec) -> bool:
    """Whether the pod gets a Kubernetes API token (only by catalog exception)."""
    return spec.exempt_from(KUBE_API_TOKEN)
