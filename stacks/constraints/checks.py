"""Reusable checks: each returns what is wrong with a value, or None.

They are built once and named by what they demand, so a rule table reads as its API
reference does: `Rule("name", all_of(length(1, 64), matches(IAM_NAME, "...")))`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from stacks.constraints.core import Check


def all_of(*checks: Check) -> Check:
    def check(value: Any) -> str | None:
        for one in checks:
            problem = one(value)
            if problem:
                return problem
        return None

    return check


def string(check: Check | None = None) -> Check:
    """A string (nothing else slips through a pattern), then `check`."""

    def run(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be a string, got {type(value).__name__}"
        return check(value) if check else None

    return run


def length(minimum: int, maximum: int) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be a string, got {type(value).__name__}"
        if not minimum <= len(value) <= maximum:
            return f"must be {minimum}-{maximum} characters, got {len(value)}"
        return None

    return check


def utf8_length(maximum: int) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be a string, got {type(value).__name__}"
        size = len(value.encode())
        return f"must be at most {maximum} bytes, got {size}" if size > maximum else None

    return check


def matches(pattern: str, meaning: str) -> Check:
    compiled = re.compile(pattern)

    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be a string, got {type(value).__name__}"
        return None if compiled.fullmatch(value) else f"must be {meaning}"

    return check


def charset(allowed: str, meaning: str) -> Check:
    """Every character in `allowed` (a regex character class body)."""
    bad = re.compile(f"[^{allowed}]")

    def check(value: Any) -> str | None:
        if not isinstance(value, str):
            return f"must be a string, got {type(value).__name__}"
        found = sorted(set(bad.findall(value)))
        if found:
            return f"may contain only {meaning}; {''.join(found)!r} is not allowed"
        return None

    return check


def not_prefixed(prefixes: Iterable[str], meaning: str) -> Check:
    listed = tuple(prefixes)

    def check(value: Any) -> str | None:
        if isinstance(value, str) and value.lower().startswith(listed):
            return meaning
        return None

    return check


def none_of(*forbidden: str, meaning: str) -> Check:
    lowered = {f.lower() for f in forbidden}

    def check(value: Any) -> str | None:
        return meaning if isinstance(value, str) and value.lower() in lowered else None

    return check


def one_of(*allowed: Any) -> Check:
    def check(value: Any) -> str | None:
        if value in allowed:
            return None
        return f"must be one of {', '.join(map(str, allowed))}"

    return check


def integer(minimum: int, maximum: int) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, bool) or not isinstance(value, int):
            return f"must be an integer, got {type(value).__name__}"
        if not minimum <= value <= maximum:
            return f"must be {minimum}-{maximum}"
        return None

    return check


def each(check: Check) -> Check:
    """Every item of a list passes `check` (for lists of scalars)."""

    def run(value: Any) -> str | None:
        if not isinstance(value, list):
            return f"must be a list, got {type(value).__name__}"
        for index, item in enumerate(value):
            problem = check(item)
            if problem:
                return f"item {index} ({item!r}) {problem}"
        return None

    return run


def count(maximum: int, what: str) -> Check:
    def check(value: Any) -> str | None:
        size = len(value) if isinstance(value, (list, dict)) else 0
        return f"at most {maximum} {what}, got {size}" if size > maximum else None

    return check


# ── shared name grammars ─────────────────────────────────────────────────────────────────

# Kubernetes: k8s.io/apimachinery/pkg/util/validation (IsDNS1123Label, IsDNS1123Subdomain,
# IsDNS1035Label, IsQualifiedName, IsValidLabelValue, IsValidPortName, IsConfigMapKey).
DNS1123_LABEL = all_of(
    length(1, 63),
    matches(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", "a DNS-1123 label (lowercase a-z, 0-9, '-')"),
)
DNS1123_SUBDOMAIN = all_of(
    length(1, 253),
    matches(
        r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*",
        "a DNS-1123 subdomain (lowercase a-z, 0-9, '-', '.')",
    ),
)
DNS1035_LABEL = all_of(
    length(1, 63),
    matches(r"[a-z]([-a-z0-9]*[a-z0-9])?", "a DNS-1035 label (starts with a letter)"),
)
_QUALIFIED_NAME = r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"


def qualified_name(value: Any) -> str | None:
    """A label or annotation key: [DNS-1123 subdomain prefix '/'] name of 1-63 characters."""
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    prefix, slash, name = value.rpartition("/")
    if slash and (not prefix or DNS1123_SUBDOMAIN(prefix)):
        return f"prefix {prefix!r} must be a DNS-1123 subdomain"
    if not 1 <= len(name) <= 63 or not re.fullmatch(_QUALIFIED_NAME, name):
        return (
            "must be a qualified name: 1-63 of A-Z a-z 0-9 '-' '_' '.', alphanumeric at both ends"
        )
    return None


def label_value(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if len(value) > 63 or (value and not re.fullmatch(_QUALIFIED_NAME, value)):
        return "must be empty or 1-63 of A-Z a-z 0-9 '-' '_' '.', alphanumeric at both ends"
    return None


def iana_port_name(value: Any) -> str | None:
    """IsValidPortName: 1-15 of a-z 0-9 '-', a letter somewhere, no '--' and no '-' at ends."""
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not 1 <= len(value) <= 15:
        return f"a port name is 1-15 characters, got {len(value)}"
    if not re.fullmatch(r"[a-z0-9]([a-z0-9-]*[a-z0-9])?", value) or "--" in value:
        return "a port name is a-z 0-9 and single inner '-'"
    if not re.search(r"[a-z]", value):
        return "a port name contains at least one letter"
    return None
