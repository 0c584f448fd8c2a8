"""AWS tags: keys, values and how many a resource ends up with (its own + provider defaults)."""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from typing import Any

from stacks.constraints.core import Resource, ResourceCheck, Rule, Violation

# Tag restrictions (AWS General Reference, "Tagging your AWS resources", and each service's
# TagResource API: Tag.Key 1-128, Tag.Value 0-256, a key never starts with "aws:", at most 50
# user tags per resource).
MAX_TAGS = 50


def _tag_characters_ok(text: str) -> bool:
    # [\p{L}\p{Z}\p{N}_.:/=+\-@]*: letters, separators (spaces), numbers and _.:/=+-@. EC2 is
    # looser (any character) but IAM, EKS, RDS, ElastiCache, KMS, ECR, Logs use this set,
    # and provider default tags land on all of them.
    for char in text:
        category = unicodedata.category(char)
        if category[0] in "LZN" or char in "_.:/=+-@":
            continue
        return False
    return True


def tag_key(value: Any, ec2: bool = False) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if not 1 <= len(value) <= 128:
        return f"a tag key is 1-128 characters, got {len(value)}"
    if value.lower().startswith("aws:"):
        return "a tag key never starts with 'aws:' (reserved for AWS)"
    if not ec2 and not _tag_characters_ok(value):
        return "a tag key is letters, digits, spaces and _ . : / = + - @"
    return None


def tag_value(value: Any, ec2: bool = False) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if len(value) > 256:
        return f"a tag value is at most 256 characters, got {len(value)}"
    if not ec2 and not _tag_characters_ok(value):
        return "a tag value is letters, digits, spaces and _ . : / = + - @"
    return None


def _ec2_key(value: Any) -> str | None:
    return tag_key(value, ec2=True)


def _ec2_value(value: Any) -> str | None:
    return tag_value(value, ec2=True)


def tag_rules(selector: str = "tags", ec2: bool = False) -> list[Rule]:
    """Rules for a tag map at `selector` (EC2 resources accept any character)."""
    if ec2:
        return [Rule(f"{selector}{{keys}}", _ec2_key), Rule(f"{selector}{{}}", _ec2_value)]
    return [Rule(f"{selector}{{keys}}", tag_key), Rule(f"{selector}{{}}", tag_value)]


def provider_default_tags(resource: Resource) -> dict[str, Any]:
    """The default tags of the aws provider a resource is created with (explicit providers)."""
    # A provider reference is "<urn>::<id>".
    urn = resource.provider.rsplit("::", 1)[0]
    provider = resource.plan.by_urn(urn) if resource.provider else None
    if provider is None:
        return {}
    return default_tags_of(provider.inputs)


def default_tags_of(inputs: Any) -> dict[str, Any]:
    raw = inputs.get("defaultTags") if isinstance(inputs, dict) else None
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return {}
    tags = raw.get("tags") if isinstance(raw, dict) else None
    return dict(tags) if isinstance(tags, dict) else {}


def tag_count(selector: str = "tags") -> ResourceCheck:
    """Own tags plus the provider's default tags: at most 50 distinct keys."""

    def check(resource: Resource) -> Iterator[Violation]:
        own = resource.inputs.get(selector)
        own = own if isinstance(own, dict) else {}
        keys = set(own) | set(provider_default_tags(resource))
        if len(keys) > MAX_TAGS:
            yield resource.violation(
                selector, len(keys), f"at most {MAX_TAGS} tags with the provider's defaults"
            )

    return check
