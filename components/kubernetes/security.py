"""The one place that hardens pods and containers (design invariant 2).

Every container and init container we render gets `container_security_context`, every pod
`pod_security_context`: the catalog's services (a `ServiceSpec`) and the few vendor add-ons
we render ourselves (an `AddOn`: the Vault Agent injector, the NVIDIA device plugin, the
cluster autoscaler). Only an exception with a reason relaxes anything: for a service, a
catalog exception (`spec.exceptions`, only the rules the catalog schema allows); for an
add-on, a typed `Waiver`, which alone can also grant root or a host path.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from stacks.catalog import ServiceSpec

READ_ONLY_ROOT = "read-only-root-filesystem"
KUBE_API_TOKEN = "kube-api-token"
# Add-ons only (never a catalog service): run as uid 0, mount a host path.
RUN_AS_ROOT = "run-as-root"
HOST_PATH = "host-path"

WaivedRule = Literal["read-only-root-filesystem", "kube-api-token", "run-as-root", "host-path"]

_SECCOMP = {"type": "RuntimeDefault"}
MIN_REASON = 20


@dataclass(frozen=True)
class Waiver:
    """One relaxation of an add-on's hardening, and why it cannot do without it."""

    rule: WaivedRule
    reason: str

    def __post_init__(self) -> None:
        if len(self.reason.strip()) < MIN_REASON:
            raise ValueError(f"waiver {self.rule!r} needs a reason (>= {MIN_REASON} characters)")


@dataclass(frozen=True)
class AddOn:
    """A vendor add-on we render (not a catalog service): its numeric identity, its waivers
    and, only with a `host-path` waiver, the host directories it may mount."""

    name: str
    uid: int
    gid: int
    waivers: tuple[Waiver, ...] = ()
    host_paths: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        rules = [w.rule for w in self.waivers]
        if len(rules) != len(set(rules)):
            raise ValueError(f"{self.name}: a rule is waived twice: {rules}")
        if self.exempt_from(RUN_AS_ROOT) != (self.uid == 0):
            raise ValueError(f"{self.name}: uid 0 needs (and only goes with) a run-as-root waiver")
        if self.gid < 0 or self.uid < 0:
            raise ValueError(f"{self.name}: uid and gid are numeric, >= 0")
        if bool(self.host_paths) != self.exempt_from(HOST_PATH):
            raise ValueError(f"{self.name}: host paths need (and only go with) a host-path waiver")

    def exempt_from(self, rule: str) -> bool:
        return any(w.rule == rule for w in self.waivers)

    def reason(self, rule: str) -> str | None:
        return next((w.reason for w in self.waivers if w.rule == rule), None)


def _runs_as_root(subject: ServiceSpec | AddOn) -> bool:
    # A catalog service never can: its schema has no such exception (and uid >= 1).
    return isinstance(subject, AddOn) and subject.exempt_from(RUN_AS_ROOT)


def pod_security_context(subject: ServiceSpec | AddOn) -> dict[str, Any]:
    """Pod level: non-root with the numeric uid/gid, volumes owned by its gid."""
    if _runs_as_root(subject):
        return {
            "runAsNonRoot": False,
            "runAsUser": 0,
            "runAsGroup": 0,
            "seccompProfile": dict(_SECCOMP),
        }
    return {
        "runAsNonRoot": True,
        "runAsUser": subject.uid,
        "runAsGroup": subject.gid,
        "fsGroup": subject.gid,
        # Only chown a volume when its root does not already belong to fsGroup.
        "fsGroupChangePolicy": "OnRootMismatch",
        "seccompProfile": dict(_SECCOMP),
    }


def container_security_context(subject: ServiceSpec | AddOn) -> dict[str, Any]:
    """Container level: the same identity plus the fields that only exist on containers.
    Even a waived add-on keeps no privilege escalation, no capabilities and seccomp."""
    root = _runs_as_root(subject)
    return {
        "runAsNonRoot": not root,
        "runAsUser": 0 if root else subject.uid,
        "runAsGroup": 0 if root else subject.gid,
        "readOnlyRootFilesystem": not subject.exempt_from(READ_ONLY_ROOT),
        "allowPrivilegeEscalation": False,
        "privileged": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": dict(_SECCOMP),
    }


def mounts_api_token(subject: ServiceSpec | AddOn) -> bool:
    """Whether the pod gets a Kubernetes API token (only by exception)."""
    return subject.exempt_from(KUBE_API_TOKEN)


def host_path_volume(add_on: AddOn, name: str, path: str) -> dict[str, Any]:
    """A hostPath volume: only for an add-on whose `host-path` waiver lists `path`."""
    if path not in add_on.host_paths:
        raise ValueError(f"{add_on.name}: no host-path waiver for {path}")
    return {"name": name, "hostPath": {"path": path, "type": "Directory"}}
