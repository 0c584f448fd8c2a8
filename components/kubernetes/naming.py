"""Names and labels of everything the Kubernetes renderer creates, derived in one place.

Namespaces carry the stack for ephemeral stacks (`dev-alice-data`) and the project name
otherwise (`sutazai-data`); Services keep the catalog name, so a service's DNS name is
`<service>.<namespace>.svc.cluster.local` on every stack.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stacks.catalog import ServiceSpec, Tier

PART_OF = "sutazai"
# Selector label: the one label NetworkPolicies, Services and PDBs select pods by.
APP_LABEL = "app.kubernetes.io/name"
TIER_LABEL = "sutazai.io/tier"
# Set by the API server on every namespace (and by us, so plans are self-describing).
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"
# Node-group label the GPU pool carries; GPU workloads select it.
NODE_POOL_LABEL = "sutazai.io/node-pool"
GPU_POOL = "gpu"
GENERAL_POOL = "general"
GPU_RESOURCE = "nvidia.com/gpu"
CLUSTER_DOMAIN = "cluster.local"
PSS_LEVEL = "restricted"

_INVALID = re.compile(r"[^a-z0-9-]+")


def dns_label(text: str, limit: int = 63) -> str:
    """A lowercase RFC 1123 label from arbitrary text (paths, file names)."""
    label = _INVALID.sub("-", text.lower()).strip("-")
    label = re.sub(r"-{2,}", "-", label)[:limit].strip("-")
    return label or "x"


@dataclass(frozen=True)
class Naming:
    """Namespace prefix and the labels of one stack."""

    prefix: str

    @staticmethod
    def for_stack(stack: str, ephemeral: bool) -> Naming:
        return Naming(prefix=dns_label(stack, 40) if ephemeral else PART_OF)

    def namespace(self, tier: Tier) -> str:
        return f"{self.prefix}-{tier.value}"

    def namespace_of(self, spec: ServiceSpec) -> str:
        return self.namespace(spec.tier)

    @property
    def vault_namespace(self) -> str:
        return f"{self.prefix}-vault"

    def service_account_of(self, spec: ServiceSpec) -> str:
        return spec.name

    def host_of(self, spec: ServiceSpec) -> str:
        return f"{spec.name}.{self.namespace_of(spec)}.svc.{CLUSTER_DOMAIN}"

    def pods_host_of(self, spec: ServiceSpec) -> str:
        """The headless Service that resolves to every pod (per-pod scraping, StatefulSets)."""
        return f"{headless_name(spec)}.{self.namespace_of(spec)}.svc.{CLUSTER_DOMAIN}"

    def namespace_labels(self, tier_or_name: Tier | str) -> dict[str, str]:
        name = self.namespace(tier_or_name) if isinstance(tier_or_name, Tier) else tier_or_name
        labels = {
            NAMESPACE_NAME_LABEL: name,
            "app.kubernetes.io/part-of": PART_OF,
            "pod-security.kubernetes.io/enforce": PSS_LEVEL,
            "pod-security.kubernetes.io/enforce-version": "latest",
            "pod-security.kubernetes.io/audit": PSS_LEVEL,
            "pod-security.kubernetes.io/audit-version": "latest",
            "pod-security.kubernetes.io/warn": PSS_LEVEL,
            "pod-security.kubernetes.io/warn-version": "latest",
        }
        if isinstance(tier_or_name, Tier):
            labels[TIER_LABEL] = tier_or_name.value
        return labels


def selector(spec: ServiceSpec) -> dict[str, str]:
    return {APP_LABEL: spec.name}


def labels(spec: ServiceSpec) -> dict[str, str]:
    return {
        APP_LABEL: spec.name,
        "app.kubernetes.io/part-of": PART_OF,
        "app.kubernetes.io/component": spec.tier.value,
        "app.kubernetes.io/managed-by": "pulumi",
        TIER_LABEL: spec.tier.value,
    }


def headless_name(spec: ServiceSpec) -> str:
    return f"{spec.name}-pods"


# ── the provisioning Job of a managed issuer (prod: RDS) ─────────────────────────────────

PROVISIONING_COMPONENT = "provisioning"


def provisioning_name(spec: ServiceSpec) -> str:
    """The app name of an issuer's provisioning Job pods (never a workload's selector)."""
    return f"{spec.name}-{PROVISIONING_COMPONENT}"


def provisioning_selector(spec: ServiceSpec) -> dict[str, str]:
    return {APP_LABEL: provisioning_name(spec)}


def provisioning_labels(spec: ServiceSpec) -> dict[str, str]:
    return {
        **labels(spec),
        APP_LABEL: provisioning_name(spec),
        "app.kubernetes.io/component": PROVISIONING_COMPONENT,
        "app.kubernetes.io/instance": spec.name,
    }
