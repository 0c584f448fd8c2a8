"""Objects every add-on the program renders itself needs: its IRSA ServiceAccount and RBAC
rules (used by autoscaler.py and load_balancer_controller.py)."""

from __future__ import annotations

from typing import Any

import pulumi


def rbac_rule(
    groups: list[str], resources: list[str], verbs: list[str], names: list[str] | None = None
) -> dict[str, Any]:
    rule: dict[str, Any] = {"apiGroups": groups, "resources": resources, "verbs": verbs}
    if names:
        rule["resourceNames"] = names
    return rule


def irsa_service_account(
    metadata: dict[str, Any], role_arn: pulumi.Input[str], *, automount: bool
) -> dict[str, Any]:
    """The add-on's ServiceAccount, bound to its IAM role through IRSA."""
    metadata["annotations"] = {"eks.amazonaws.com/role-arn": role_arn}
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": metadata,
        "automountServiceAccountToken": automount,
    }
