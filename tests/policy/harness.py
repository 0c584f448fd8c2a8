"""Call the pack's policies directly, with arguments built the way the SDK builds them.

`Analyze` turns the engine's properties into `unknown_checking_proxy(deserialize_properties(..))`
and wraps them in `ResourceValidationArgs(type, props, urn, name, opts, provider, config,
stack_tags)`; `AnalyzeStack` builds `PolicyResource`s and a `StackValidationArgs`. The
helpers below do the same from engine-shaped inputs (camelCase, floats, secret envelopes),
including the pack's secret marking (values.policy_props).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pulumi_policy import (
    PolicyCustomTimeouts,
    PolicyResource,
    PolicyResourceOptions,
    ResourceValidationArgs,
    ResourceValidationPolicy,
    StackValidationArgs,
    StackValidationPolicy,
)
from pulumi_policy.proxy import UNKNOWN_STRING_VALUE

from policies.sutazai_policies import all_policies
from policies.sutazai_policies.config import set_environment
from policies.sutazai_policies.values import policy_props

POLICIES = {p.name: p for p in all_policies()}
RESOURCE_POLICIES = {n: p for n, p in POLICIES.items() if isinstance(p, ResourceValidationPolicy)}
STACK_POLICIES = {n: p for n, p in POLICIES.items() if isinstance(p, StackValidationPolicy)}

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
UNKNOWN = UNKNOWN_STRING_VALUE  # what the engine sends for a computed string in preview


def secret(value: Any) -> dict[str, Any]:
    """An engine secret envelope, as the mock runtime records it."""
    return {SIG_KEY: SECRET_SIG, "value": value}


def urn_for(type_: str, name: str, stack: str = "prod", parent_type: str | None = None) -> str:
    qualified = f"{parent_type}${type_}" if parent_type else type_
    return f"urn:pulumi:{stack}::sutazai::{qualified}::{name}"


def _opts(protect: bool = False, parent: str | None = None) -> PolicyResourceOptions:
    return PolicyResourceOptions(protect, [], None, [], PolicyCustomTimeouts(0, 0, 0), [], parent)


def resource_args(
    type_: str,
    inputs: Mapping[str, Any],
    *,
    name: str = "subject",
    stack: str = "prod",
    config: Mapping[str, Any] | None = None,
    protect: bool = False,
    urn: str | None = None,
) -> ResourceValidationArgs:
    return ResourceValidationArgs(
        type_,
        policy_props(copy.deepcopy(dict(inputs))),
        urn or urn_for(type_, name, stack),
        name,
        _opts(protect),
        None,
        config,
    )


def check(
    policy: str,
    type_: str,
    inputs: Mapping[str, Any],
    *,
    name: str = "subject",
    stack: str = "prod",
    config: Mapping[str, Any] | None = None,
    urn: str | None = None,
    environment: str = "prod",
) -> list[str]:
    """Messages a resource policy reports for one resource, under `environment`'s rules
    (what the pack's Configure hook would have read from the policy config)."""
    set_environment(environment)  # type: ignore[arg-type]
    p = RESOURCE_POLICIES[policy]
    messages: list[str] = []

    def report(message: str, _urn: str | None = None) -> None:
        messages.append(message)

    p.validate(resource_args(type_, inputs, name=name, stack=stack, config=config, urn=urn), report)
    return messages


def check_all(
    type_: str,
    inputs: Mapping[str, Any],
    *,
    stack: str = "prod",
    name: str = "subject",
    environment: str = "prod",
) -> dict[str, list[str]]:
    """{policy: messages} for every resource policy that reports something."""
    found: dict[str, list[str]] = {}
    for policy in RESOURCE_POLICIES:
        messages = check(policy, type_, inputs, name=name, stack=stack, environment=environment)
        if messages:
            found[policy] = messages
    return found


@dataclass
class StackItem:
    type: str
    name: str
    inputs: dict[str, Any]
    protect: bool = False
    parent: str | None = None  # name of another StackItem
    dependencies: list[str] = field(default_factory=list)  # names
    property_dependencies: dict[str, list[str]] = field(default_factory=dict)  # prop -> names


def stack_resources(items: Sequence[StackItem], stack: str = "prod") -> list[PolicyResource]:
    urns = {i.name: urn_for(i.type, i.name, stack) for i in items}
    out: dict[str, PolicyResource] = {}
    for i in items:
        out[i.name] = PolicyResource(
            i.type,
            policy_props(copy.deepcopy(i.inputs)),
            urns[i.name],
            i.name,
            _opts(i.protect, urns[i.parent] if i.parent else None),
            None,
            None,
            [],
            {},
        )
    for i in items:
        res = out[i.name]
        res.parent = out[i.parent] if i.parent else None
        res.dependencies = [out[d] for d in i.dependencies]
        res.property_dependencies = {
            k: [out[d] for d in v] for k, v in i.property_dependencies.items()
        }
    return list(out.values())


def check_stack(
    policy: str,
    items: Sequence[StackItem],
    *,
    stack: str = "prod",
    config: Mapping[str, Any] | None = None,
    environment: str = "prod",
) -> list[tuple[str, str | None]]:
    """(message, urn) pairs a stack policy reports."""
    set_environment(environment)  # type: ignore[arg-type]
    p = STACK_POLICIES[policy]
    found: list[tuple[str, str | None]] = []

    def report(message: str, urn: str | None = None) -> None:
        found.append((message, urn))

    p.validate(StackValidationArgs(stack_resources(items, stack), config), report)
    return found


# ---------------------------------------------------------------- mutations

Mutation = Callable[[dict[str, Any]], None]
_DELETE = object()


def _walk(obj: Any, path: Sequence[str | int]) -> Any:
    for key in path:
        obj = obj[key]
    return obj


def setp(path: Sequence[str | int], value: Any) -> Mutation:
    def apply(obj: dict[str, Any]) -> None:
        parent = _walk(obj, path[:-1])
        parent[path[-1]] = copy.deepcopy(value)

    return apply


def delp(path: Sequence[str | int]) -> Mutation:
    def apply(obj: dict[str, Any]) -> None:
        parent = _walk(obj, path[:-1])
        del parent[path[-1]]

    return apply


def appendp(path: Sequence[str | int], value: Any) -> Mutation:
    def apply(obj: dict[str, Any]) -> None:
        target = _walk(obj, path)
        target.append(copy.deepcopy(value))

    return apply


def mutated(obj: Mapping[str, Any], *mutations: Mutation) -> dict[str, Any]:
    out = copy.deepcopy(dict(obj))
    for m in mutations:
        m(out)
    return out


def ids(cases: Iterable[tuple[str, Any]]) -> list[str]:
    return [c[0] for c in cases]
