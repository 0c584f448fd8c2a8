"""Per-policy configuration: the exception allow-list and the pinned enforcement levels.

Exceptions live only in the policy-pack config file (`policies/config/<stack>.json`):

    "k8s-restricted-volume-types": {
        "enforcementLevel": "mandatory",
        "exceptions": [
            {"resource": "kubernetes:apps/v1:DaemonSet::nvidia-device-plugin",
             "reason": "device plugin must reach /var/lib/kubelet/device-plugins (kube-system)"}
        ]
    }

`resource` is matched (shell wildcards allowed) against the full URN or a URN suffix that
starts at a `::` or `$` boundary, so `type::name`, a bare `name` or a whole URN all work.
An entry without a non-empty `reason`, or whose pattern names no resource (`*`), is
rejected three times over: by the JSON schema the CLI checks, by the pack's Configure
guard (runtime.py), and here at evaluation time, where it grants nothing and is reported.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

# The one rule a config may never lower (see runtime.py for how that is enforced).
PINNED_MANDATORY: Final = frozenset({"workload-non-root-read-only"})

EXCEPTIONS_SCHEMA: Final[dict[str, Any]] = {
    "type": "array",
    "description": "Resources this policy does not apply to. Each needs a reason.",
    "default": [],
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["resource", "reason"],
        "properties": {
            "resource": {
                "type": "string",
                "minLength": 1,
                "description": "URN or URN suffix ('<type>::<name>'); * and ? allowed.",
            },
            "reason": {
                "type": "string",
                "minLength": 1,
                "pattern": "\\S",
                "description": "Why this resource may not follow the policy.",
            },
        },
    },
}

# Only wildcards/separators: it would silently switch the policy off for everything.
_TOO_BROAD: Final = re.compile(r"[\s*?:$/\[\]!]*")


@dataclass(frozen=True)
class PolicyException:
    resource: str
    reason: str

    def matches(self, urn: str) -> bool:
        pattern = self.resource.strip()
        return (
            fnmatch.fnmatchcase(urn, pattern)
            or fnmatch.fnmatchcase(urn, "*::" + pattern)
            or fnmatch.fnmatchcase(urn, "*$" + pattern)
        )


@dataclass(frozen=True)
class ParsedExceptions:
    valid: tuple[PolicyException, ...]
    # (pattern or None, problem) for every rejected entry.
    invalid: tuple[tuple[str | None, str], ...]

    def match(self, urn: str) -> PolicyException | None:
        for exc in self.valid:
            if exc.matches(urn):
                return exc
        return None

    def rejected_for(self, urn: str) -> list[str]:
        """Problems of rejected entries that would have covered `urn` (or can't be matched)."""
        out: list[str] = []
        for pattern, problem in self.invalid:
            if pattern is None or PolicyException(pattern, "-").matches(urn):
                out.append(problem)
        return out


def parse_exceptions(policy: str, config: Mapping[str, Any] | None) -> ParsedExceptions:
    raw = (config or {}).get("exceptions", [])
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        return ParsedExceptions(
            (), ((None, f"'{policy}'.exceptions must be a list of {{resource, reason}} objects"),)
        )
    valid: list[PolicyException] = []
    invalid: list[tuple[str | None, str]] = []
    for i, entry in enumerate(raw):
        where = f"'{policy}'.exceptions[{i}]"
        if not isinstance(entry, Mapping):
            invalid.append((None, f'{where} must be an object {{"resource": ..., "reason": ...}}'))
            continue
        resource = entry.get("resource")
        reason = entry.get("reason")
        if not isinstance(resource, str) or not resource.strip():
            invalid.append((None, f"{where} has no 'resource' pattern"))
            continue
        if _TOO_BROAD.fullmatch(resource):
            invalid.append(
                (
                    resource,
                    f"{where} resource pattern {resource!r} names no resource; exceptions "
                    "must name the resources they cover",
                )
            )
            continue
        if not isinstance(reason, str) or not reason.strip():
            invalid.append(
                (
                    resource,
                    f"{where} for {resource!r} has no reason; every exception needs "
                    "a non-empty 'reason' and is ignored until it has one",
                )
            )
            continue
        extra = sorted(set(entry) - {"resource", "reason"})
        if extra:
            invalid.append(
                (
                    resource,
                    f"{where} for {resource!r} has unknown keys {extra}; only 'resource' "
                    "and 'reason' are allowed",
                )
            )
            continue
        valid.append(PolicyException(resource.strip(), reason.strip()))
    return ParsedExceptions(tuple(valid), tuple(invalid))


def check_pack_config(
    levels: Mapping[str, str], properties: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Problems with a whole pack config as the engine sends it to Configure.

    `levels` maps policy name -> enforcement level string; `properties` maps policy name ->
    its config properties. Returns human-readable problems (empty when acceptable).
    """
    problems: list[str] = []
    for name in sorted(PINNED_MANDATORY):
        level = levels.get(name)
        if level is not None and level != "mandatory":
            problems.append(
                f"'{name}' is pinned to 'mandatory' but the policy config sets it to '{level}' "
                '(directly or through "all"). Non-root + read-only root FS may not be lowered '
                "on any "
                f'stack: set "{name}": "mandatory" (or remove the override); use an explicit '
                "exception with a reason for a single resource instead."
            )
    for name in sorted(properties):
        problems.extend(problem for _, problem in parse_exceptions(name, properties[name]).invalid)
    return problems
