"""Turning what the engine sends into plain Python values the rules can read.

The SDK hands policies `unknown_checking_proxy` objects that raise on any access to a
value that is unknown during preview, which aborts the *whole* policy for that resource
(the SDK then emits a single advisory "can't run policy"). We copy the proxies into plain
dicts/lists instead and turn every unknown into the `UNKNOWN` marker, so one computed
field (say an image ref built by docker-build) does not hide the other findings.

Unknowns are never counted as violations: during `pulumi up` every input is resolved
before the resource is registered, so the same rule sees the real value there.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any, Final

from pulumi_policy.deserialize import (
    SPECIAL_SECRET_SIG,
    SPECIAL_SIG_KEY,
    deserialize_properties,
)
from pulumi_policy.proxy import (
    UNKNOWN_ARCHIVE_VALUE,
    UNKNOWN_ARRAY_VALUE,
    UNKNOWN_ASSET_VALUE,
    UNKNOWN_BOOLEAN_VALUE,
    UNKNOWN_NUMBER_VALUE,
    UNKNOWN_OBJECT_VALUE,
    UNKNOWN_STRING_VALUE,
    UnknownValueError,
    unknown_checking_proxy,
)


class _Unknown:
    """A value the engine does not know yet (preview)."""

    _instance: _Unknown | None = None

    def __new__(cls) -> _Unknown:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unknown during preview>"

    def __bool__(self) -> bool:
        return False


UNKNOWN: Final = _Unknown()

_SENTINELS: Final = frozenset(
    {
        UNKNOWN_BOOLEAN_VALUE,
        UNKNOWN_NUMBER_VALUE,
        UNKNOWN_STRING_VALUE,
        UNKNOWN_ARRAY_VALUE,
        UNKNOWN_ASSET_VALUE,
        UNKNOWN_ARCHIVE_VALUE,
        UNKNOWN_OBJECT_VALUE,
    }
)


class SecretStr(str):
    """A string that reached the pack as a Pulumi secret.

    The SDK's Analyze path unwraps secrets, so a policy cannot tell `"hunter2"` from
    `secret("hunter2")`. `runtime.install()` marks secret strings with this subclass
    before the SDK deserializes them; everything else still sees an ordinary `str`.
    """

    __slots__ = ()


def is_unknown(value: object) -> bool:
    return value is UNKNOWN


def mark_secrets(value: Any) -> Any:
    """Replace engine secret envelopes by their value, strings becoming `SecretStr`."""
    # Fast path: most resources carry no secret; json.dumps (C) is far cheaper than a walk.
    try:
        if SPECIAL_SECRET_SIG not in json.dumps(value):
            return value
    except (TypeError, ValueError):
        pass
    return _mark(value, False)


def _mark(value: Any, inside_secret: bool) -> Any:
    if isinstance(value, dict):
        if value.get(SPECIAL_SIG_KEY) == SPECIAL_SECRET_SIG and "value" in value:
            return _mark(value["value"], True)
        return {k: _mark(v, inside_secret) for k, v in value.items()}
    if isinstance(value, list):
        return [_mark(v, inside_secret) for v in value]
    if inside_secret and isinstance(value, str) and value not in _SENTINELS:
        return SecretStr(value)
    return value


def policy_props(engine_inputs: Mapping[str, Any]) -> Mapping[str, Any]:
    """Engine-shaped inputs -> the props object a policy receives (as the SDK builds it)."""
    return unknown_checking_proxy(deserialize_properties(mark_secrets(dict(engine_inputs))))


def plain(value: Any) -> Any:
    """Deep-copy SDK proxies (or plain data) into dict/list/scalars, unknowns -> UNKNOWN."""
    if isinstance(value, Mapping) and not isinstance(value, dict):
        # An SDK proxy: read its target directly (no UnknownValueError per field).
        try:
            target = value["__target"]
        except (KeyError, UnknownValueError):
            target = None
        if isinstance(target, dict):
            return _copy(target)
    return _copy_proxy(value)


def _copy(value: Any) -> Any:
    if isinstance(value, str):
        return UNKNOWN if value in _SENTINELS else value
    if isinstance(value, dict):
        return {str(k): _copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, (Mapping, Sequence)):
        return _copy_proxy(value)
    return value


def _copy_proxy(value: Any) -> Any:
    if isinstance(value, str):
        return UNKNOWN if value in _SENTINELS else value
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key in value:  # iterating keys never trips the unknown check
            try:
                out[str(key)] = _copy_proxy(value[key])
            except UnknownValueError:
                out[str(key)] = UNKNOWN
        return out
    if isinstance(value, Sequence):
        items: list[Any] = []
        for i in range(len(value)):
            try:
                items.append(_copy_proxy(value[i]))
            except UnknownValueError:
                items.append(UNKNOWN)
        return items
    return value


def get(obj: Any, *path: str) -> Any:
    """obj[p0][p1]...; None when a step is missing, UNKNOWN when a step is unknown."""
    cur = obj
    for key in path:
        if cur is UNKNOWN:
            return UNKNOWN
        if not isinstance(cur, dict):
            return None
        cur = cur.get(key)
    return cur


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def as_int(value: Any) -> int | None:
    """Engine numbers are floats (1000.0). Integral numbers -> int; anything else -> None.

    bool is rejected on purpose: True is an int in Python but never a valid uid/port.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and (not math.isfinite(value) or not value.is_integer()):
        return None
    return int(value)


def stack_of(urn: str) -> str:
    """`urn:pulumi:<stack>::<project>::...` -> stack; else PULUMI_STACK (set by the CLI)."""
    parts = urn.split("::")
    head = parts[0] if parts else ""
    if head.startswith("urn:pulumi:") and len(parts) >= 3:
        return head[len("urn:pulumi:") :]
    return os.environ.get("PULUMI_STACK", "")


def is_prod(stack: str = "") -> bool:
    """Whether prod's rules apply: from the policy config (config.is_prod), never from the
    stack's name; `stack` is accepted and ignored so older callers stay correct."""
    from .config import is_prod as configured_prod

    del stack
    return configured_prod()
