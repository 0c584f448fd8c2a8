"""Renders Pulumi.yaml's config declarations and the README's reference from StackConfig.

`python -m stacks.generated_docs --write` writes them (with the other generated documents).
Pulumi project config can declare string, integer, boolean and array keys with a type; an
object-valued key (network, nodeGroups, services) is declared with its default `value`.
"""

from __future__ import annotations

import json
import types
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel
from pydantic.fields import FieldInfo

from stacks.config import NAMESPACE, StackConfig

PROJECT_DIR = Path(__file__).resolve().parent.parent
PULUMI_YAML = PROJECT_DIR / "Pulumi.yaml"
_HEADER = """\
name: sutazai
description: SutazAI AI platform (data, core, vector, agent, monitoring tiers) on EKS or Docker
runtime:
  name: python
  options:
    toolchain: pip
    virtualenv: .venv
# Generated from stacks/config.py (StackConfig) by `python -m stacks.generated_docs --write`.
"""


def _pulumi_type(annotation: Any) -> str:
    origin = get_origin(annotation)
    if origin in (Union, types.UnionType):
        return _pulumi_type(next(a for a in get_args(annotation) if a is not type(None)))
    if origin is Literal or annotation is str:
        return "string"
    if annotation is bool:
        return "boolean"
    if annotation is int:
        return "integer"
    if origin is list:
        return "array"
    if getattr(annotation, "__metadata__", None):  # Annotated[...]
        return _pulumi_type(get_args(annotation)[0])
    if origin is not None and str(origin).endswith("Annotated"):
        return _pulumi_type(get_args(annotation)[0])
    if isinstance(annotation, type) and issubclass(annotation, str):
        return "string"
    return "object"


def _jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", by_alias=True)
    return json.loads(json.dumps(value, default=str))


def _allowed(info: FieldInfo) -> str:
    annotation = info.annotation
    if get_origin(annotation) is Literal:
        return " | ".join(str(a) for a in get_args(annotation))
    return ""


def declarations() -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = {}
    for name, info in StackConfig.model_fields.items():
        key = info.alias or name
        kind = _pulumi_type(info.annotation)
        if info.is_required():
            # No default: the CLI stops with "missing required configuration variable".
            result[key] = {"type": kind, "description": info.description or ""}
            continue
        default = _jsonable(info.get_default(call_default_factory=True))
        if kind == "object":
            result[key] = {"value": default}
            continue
        entry: dict[str, Any] = {"type": kind, "description": info.description or ""}
        if kind == "array":
            entry["items"] = {"type": "string"}
        entry["default"] = default
        result[key] = entry
    return result


def render_pulumi_yaml() -> str:
    body = yaml.safe_dump({"config": declarations()}, sort_keys=False, width=100)
    return _HEADER + body


def render_reference() -> str:
    rows = ["| Key | Type | Default | Allowed / meaning |", "|---|---|---|---|"]
    for name, info in StackConfig.model_fields.items():
        key = info.alias or name
        kind = _pulumi_type(info.annotation)
        if info.is_required():
            shown = "required"
        else:
            default = json.dumps(_jsonable(info.get_default(call_default_factory=True)))
            shown = "see Pulumi.yaml" if len(default) > 40 else f"`{default}`"
        allowed = _allowed(info)
        meaning = (info.description or "") + (f" Allowed: `{allowed}`." if allowed else "")
        rows.append(f"| `{NAMESPACE}:{key}` | {kind} | {shown} | {meaning} |")
    return "\n".join(rows)
