"""The SutazAI CrossGuard rules. Importable without starting a server (PolicyPack does that)."""

from __future__ import annotations

from typing import Any, Final

from pulumi_policy import EnforcementLevel, Policy

from . import aws, backup, edge, iam, kubernetes, load_balancers, stack, workloads
from .config import PINNED_MANDATORY

PACK_NAME: Final = "sutazai-hardened"
PACK_DESCRIPTION: Final = (
    "SutazAI hardening: non-root read-only workloads, PSS-restricted pods, pinned images, "
    "no plain-text "
    "secrets, private EKS, encrypted and protected data stores."
)


def all_policies() -> list[Policy]:
    policies = (
        workloads.policies()
        + kubernetes.policies()
        + load_balancers.policies()
        + aws.policies()
        + iam.policies()
        + stack.policies()
        + edge.policies()
        + backup.policies()
    )
    names = [p.name for p in policies]
    if len(names) != len(set(names)):
        raise ValueError(
            f"duplicate policy names: {sorted(n for n in names if names.count(n) > 1)}"
        )
    return policies


def pack_arguments() -> dict[str, Any]:
    """Keyword arguments for `PolicyPack`, after installing the analyzer hooks (runtime.py)."""
    from . import runtime

    runtime.install()
    return {
        "name": PACK_NAME,
        "description": PACK_DESCRIPTION,
        "policies": all_policies(),
        # Unconfigured rules are mandatory; the digest preference is advisory by its own default.
        "enforcement_level": EnforcementLevel.MANDATORY,
    }


__all__ = ["PACK_NAME", "PINNED_MANDATORY", "all_policies", "pack_arguments"]
