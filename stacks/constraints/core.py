"""The machinery of the constraint check: violations, rules, field selection, auto-names.

A rule table (`TypeRules`) per resource type lists field rules (a selector and a check) and
resource checks (whole-resource or cross-resource). Provider modules (aws, kubernetes,
docker, vault, other) each export `RULES`; `stacks.constraints.check_plan` runs them over the
registrations of an offline plan (`stacks.plan`'s JSON shape) and reports every custom
resource type that has no table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

SECRET_SIG = "4dabf18193072939515e22adb298388d"

# A check returns what is wrong with a value ("at most 64 characters"), or None.
Check = Callable[[Any], str | None]


@dataclass(frozen=True)
class Violation:
    resource: str  # "<type> <logical name>"
    field: str
    value: Any
    rule: str

    def __str__(self) -> str:
        shown = self.value if isinstance(self.value, (int, float)) else repr(self.value)
        if isinstance(shown, str) and len(shown) > 200:
            shown = shown[:200] + "...'"
        return f"{self.resource}: {self.field} = {shown}: {self.rule}"


def plain(value: Any) -> Any:
    """Engine-shaped values back to plain ones: secrets unwrapped, integral floats as ints."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return plain(value.get("value"))
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


@dataclass(frozen=True)
class Resource:
    """One registration, inputs made plain, with the plan it belongs to (for references)."""

    urn: str
    type: str
    name: str
    provider: str
    inputs: Mapping[str, Any]
    plan: Plan

    @property
    def label(self) -> str:
        return f"{self.type} {self.name}"

    def violation(self, field_: str, value: Any, rule: str) -> Violation:
        return Violation(self.label, field_, value, rule)


@dataclass
class Plan:
    """The registrations of one plan, plain, indexed by type and URN."""

    stack: str
    resources: list[Resource] = field(default_factory=list)

    def of_type(self, *types: str) -> list[Resource]:
        return [r for r in self.resources if r.type in types]

    def by_urn(self, urn: str) -> Resource | None:
        return next((r for r in self.resources if r.urn == urn), None)


# ── auto-names ───────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class AutoName:
    """How a provider names a resource whose name field is left out.

    pulumi-aws (tfbridge AutoName) appends "-" and 7 random hex characters to the logical
    name, and fails the Check when the result exceeds the field's maximum length;
    `lowercase` is for the fields the bridge lowercases first (RDS and ElastiCache names).
    pulumi-kubernetes appends "-" and 8 random characters to metadata.name
    (provider/pkg/metadata/naming.go). The worst case is the longest suffix; its characters
    are lowercase hex, so a fixed lowercase-hex suffix stands for every draw.
    """

    random_length: int
    lowercase: bool = False
    # The field of a name prefix (name_prefix semantics): the provider (terraform's
    # id.PrefixedUniqueId) appends a 26-character unique id to it instead.
    prefix_field: str | None = None

    def physical(self, logical: str) -> str:
        base = logical.lower() if self.lowercase else logical
        return f"{base}-{'a0b1c2d3e4f5'[: self.random_length]}"

    def from_prefix(self, prefix: str) -> str:
        return f"{prefix}{'2026120605300000000000000a'}"


AWS_AUTONAME = AutoName(7, prefix_field="namePrefix")
AWS_AUTONAME_LOWER = AutoName(7, lowercase=True, prefix_field="namePrefix")
S3_AUTONAME = AutoName(7, lowercase=True, prefix_field="bucketPrefix")
KUBERNETES_AUTONAME = AutoName(8)


# ── field selection ──────────────────────────────────────────────────────────────────────

_TOKEN = re.compile(r"([^.\[{]+)(\[\]|\{\}|\{keys\})?")


def select(value: Any, selector: str, prefix: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) a selector names in `value`.

    "a.b" is a nested key; "a[]" each list item; "a{}" each map value; "a{keys}" each map
    key. Missing keys select nothing (the provider's schema, run by the mocks, already
    demands required fields).
    """
    if not selector:
        yield prefix, value
        return
    head, _, rest = selector.partition(".")
    match = _TOKEN.fullmatch(head)
    if match is None:
        raise ValueError(f"bad selector {selector!r}")
    key, mode = match.group(1), match.group(2)
    if not isinstance(value, Mapping) or key not in value:
        return
    inner, path = value[key], f"{prefix}.{key}" if prefix else key
    if mode is None:
        yield from select(inner, rest, path)
    elif mode == "[]" and isinstance(inner, list):
        for index, item in enumerate(inner):
            yield from select(item, rest, f"{path}[{index}]")
    elif mode == "{}" and isinstance(inner, Mapping):
        for name, item in inner.items():
            yield from select(item, rest, f"{path}.{name}")
    elif mode == "{keys}" and isinstance(inner, Mapping):
        for name in inner:
            yield f"{path}.{name} (key)", name
    elif mode is not None:
        yield path, inner  # the wrong shape: let the check say what it expected


# ── rules ────────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Rule:
    """A check on every value a selector names; `autoname` says how an absent name is made.

    `unique`: the value names the object in its scope (account and region, a Kubernetes
    namespace, a Vault backend: `scope_of`), so two resources of the type may not share it;
    the API would refuse the second as existing already.
    """

    field: str
    check: Check
    autoname: AutoName | None = None
    unique: bool = False

    def values(self, resource: Resource) -> list[tuple[str, Any]]:
        found = list(select(resource.inputs, self.field))
        if not found and self.autoname is not None and "[" not in self.field:
            prefix = self.autoname.prefix_field
            if prefix and isinstance(resource.inputs.get(prefix), str):
                physical = self.autoname.from_prefix(resource.inputs[prefix])
                found = [(f"{prefix} (+ 26-character unique id)", physical)]
            else:
                physical = self.autoname.physical(resource.name)
                found = [(f"{self.field} (auto-named)", physical)]
        return found

    def apply(self, resource: Resource) -> Iterator[Violation]:
        for path, value in self.values(resource):
            problem = self.check(value)
            if problem:
                yield resource.violation(path, value, problem)


def scope_of(resource: Resource) -> str:
    """Where a name must be unique, beyond the resource type."""
    inputs = resource.inputs
    if resource.type.startswith("kubernetes:"):
        metadata = inputs.get("metadata")
        namespace = metadata.get("namespace") if isinstance(metadata, Mapping) else None
        return str(namespace or inputs.get("namespace") or "")
    for key in ("backend", "clusterName", "mount"):
        if key in inputs:
            return f"{key}={inputs[key]}"
    return ""


# A resource check sees the whole resource (and through it the plan).
ResourceCheck = Callable[[Resource], Iterable[Violation]]


@dataclass(frozen=True)
class TypeRules:
    rules: Sequence[Rule] = ()
    checks: Sequence[ResourceCheck] = ()
    # Why a type has nothing to check, for the few that have no constrained field.
    nothing_to_check: str = ""

    def apply(self, resource: Resource) -> Iterator[Violation]:
        for rule in self.rules:
            yield from rule.apply(resource)
        for check in self.checks:
            yield from check(resource)


def merge(*tables: Mapping[str, TypeRules]) -> dict[str, TypeRules]:
    merged: dict[str, TypeRules] = {}
    for table in tables:
        for type_, rules in table.items():
            if type_ in merged:
                raise ValueError(f"two rule tables for {type_}")
            if not rules.rules and not rules.checks and not rules.nothing_to_check:
                raise ValueError(f"{type_}: an empty rule table must say why (nothing_to_check)")
            merged[type_] = rules
    return merged
