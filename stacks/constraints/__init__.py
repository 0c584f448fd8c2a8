"""The constraint check: would AWS, Kubernetes, Docker and Vault accept what the plan holds?

    python -m stacks.constraints --stack prod          # run the offline plan, then check it
    python -m stacks.constraints --plan build/plan-prod.json
    python -m stacks.constraints --all-stacks          # every Pulumi.<stack>.yaml

For each resource of an offline plan (`stacks.plan`), it computes the physical name the
resource would get (the explicit name, or the provider's auto-name with its longest random
suffix) and checks it and every other constrained string against the API's documented
rules: one table per resource type in aws.py, kubernetes.py, docker.py, vault.py and
other.py. A custom resource type without a table is itself a violation (fail closed).
Pure: it reads the plan's JSON and imports nothing of the program.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from stacks.constraints import aws, docker, kubernetes, other, vault
from stacks.constraints.core import (
    Plan,
    Resource,
    TypeRules,
    Violation,
    merge,
    plain,
    scope_of,
    select,
)

# One table per resource type, from every provider module; a type in two modules is an
# error at import.
RULES: dict[str, TypeRules] = merge(
    aws.RULES, kubernetes.RULES, docker.RULES, vault.RULES, other.RULES
)

__all__ = ["RULES", "Violation", "check_plan", "check_resources"]


def _plan(plan: Mapping[str, Any]) -> Plan:
    result = Plan(stack=str(plan.get("stack", "")))
    for registration in plan.get("resources", []):
        result.resources.append(
            Resource(
                urn=str(registration.get("urn", "")),
                type=str(registration.get("type", "")),
                name=str(registration.get("name", "")),
                provider=str(registration.get("provider") or ""),
                inputs=plain(registration.get("inputs") or {}),
                plan=result,
            )
        )
    return result


def check_resources(
    registrations: Iterable[Mapping[str, Any]],
    rules: Mapping[str, TypeRules] | None = None,
    stack: str = "",
) -> list[Violation]:
    return check_plan({"stack": stack, "resources": list(registrations)}, rules)


def check_plan(
    plan: Mapping[str, Any], rules: Mapping[str, TypeRules] | None = None
) -> list[Violation]:
    """Every violation in a plan (the JSON `stacks.plan --json` writes, or Plan.to_json())."""
    table = RULES if rules is None else rules
    parsed = _plan(plan)
    registrations = {str(r.get("urn")): r for r in plan.get("resources", [])}
    violations: list[Violation] = []
    for resource in parsed.resources:
        registration = registrations.get(resource.urn, {})
        if not registration.get("custom", True):
            continue  # a component: no physical object of its own
        rules_for = table.get(resource.type)
        if rules_for is None:
            violations.append(
                resource.violation(
                    "(type)",
                    resource.type,
                    "no constraint rules for this resource type; add its table to "
                    "stacks/constraints/ (see its README section in README.md)",
                )
            )
            continue
        violations.extend(rules_for.apply(resource))
    violations.extend(_duplicates(parsed, table))
    return violations


def _duplicates(plan: Plan, table: Mapping[str, TypeRules]) -> list[Violation]:
    """Explicit names that two resources of one type claim in the same scope."""
    owners: dict[tuple[str, str, str, str], Resource] = {}
    found: list[Violation] = []
    for resource in plan.resources:
        rules_for = table.get(resource.type)
        for rule in rules_for.rules if rules_for else ():
            if not rule.unique:
                continue
            for path, value in select(resource.inputs, rule.field):
                key = (resource.type, rule.field, scope_of(resource), str(value))
                first = owners.setdefault(key, resource)
                if first is not resource:
                    found.append(
                        resource.violation(path, value, f"already the name of {first.label}")
                    )
    return found
