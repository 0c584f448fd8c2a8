"""Readable configuration errors.

`ConfigError` subclasses `pulumi.RunError`, so the Pulumi CLI prints its message and exits
without dumping a stack trace from deep inside the program.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import get_origin

import pulumi
from pydantic import BaseModel, ValidationError


class ConfigError(pulumi.RunError):
    """One or more problems in a stack file or the service catalog, each naming its key."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{source} is invalid ({len(self.problems)} problem(s)):\n{lines}")


def _key_path(prefix: str, loc: Iterable[int | str]) -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        elif path.endswith(":") or not path:
            path += str(part)
        else:
            path += f".{part}"
    return path


def _model_at(model: type[BaseModel], loc: Sequence[int | str]) -> type[BaseModel] | None:
    """Walk the model's fields along `loc` (aliases) to the model that holds the last key.

    List indexes and the keys of dict-valued fields (service names) are stepped over.
    """
    current: type[BaseModel] | None = model
    dict_key_next = False
    for part in loc:
        if current is None:
            return None
        if isinstance(part, int):
            continue
        if dict_key_next:
            dict_key_next = False
            continue
        field = next((f for n, f in current.model_fields.items() if (f.alias or n) == part), None)
        if field is None:
            return current if part == loc[-1] else None
        dict_key_next = get_origin(field.annotation) is dict
        current = _nested_model(field.annotation)
    return current


def _nested_model(annotation: object) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()) or ():
        found = _nested_model(arg)
        if found is not None:
            return found
    return None


def allowed_keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or n for n, f in model.model_fields.items()]


def format_validation_error(exc: ValidationError, model: type[BaseModel], prefix: str) -> list[str]:
    """Turn pydantic's errors into one line per problem: key, bad value, what is allowed."""
    problems: list[str] = []
    for err in exc.errors(include_url=False):
        loc = list(err["loc"])
        message = err["msg"]
        if err["type"] == "extra_forbidden":
            owner = _model_at(model, loc[:-1]) or model
            keys = allowed_keys(owner)
            bad = str(loc[-1])
            # Case-insensitive, so vpcCIDR still finds vpcCidr.
            lowered = {k.lower(): k for k in keys}
            hint = [lowered[h] for h in difflib.get_close_matches(bad.lower(), list(lowered), n=1)]
            suggestion = f" Did you mean '{hint[0]}'?" if hint else ""
            problems.append(
                f"{_key_path(prefix, loc)}: unknown key.{suggestion} "
                f"Allowed keys here: {', '.join(sorted(keys))}."
            )
            continue
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        # Cross-field validators say which sub-key is wrong with an "at <key>: " prefix.
        if message.startswith("at ") and ": " in message:
            sub, message = message[3:].split(": ", 1)
            loc.extend(_split_sub_key(sub))
        value = err.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        if err["type"] == "missing":
            shown = ""
        problems.append(f"{_key_path(prefix, loc)}: {message}{shown}")
    return problems


def _split_sub_key(sub: str) -> list[int | str]:
    parts: list[int | str] = []
    for piece in sub.split("."):
        name, _, rest = piece.partition("[")
        if name:
            parts.append(name)
        while rest:
            index, _, rest = rest.partition("]")
            parts.append(int(index))
            rest = rest.lstrip("[")
    return parts
