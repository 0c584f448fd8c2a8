"""The pack's configuration: the environment, the pinned level and the waivers.

Everything comes from the policy config file CI passes (`policies/config/<environment>.json`),
never from the stack's name or the checked program (which the change under review could
alter):

* `pack-settings.environment` (`prod` | `dev`) says which rules apply. The runtime's Configure
  hook reads it; a pack that was never told runs prod's rules (fail closed).
* A waiver relaxes exactly what it lists for exactly one resource, in one policy's config:

      "workload-non-root-read-only": {
        "enforcementLevel": "mandatory",
        "waivers": [
          {"type": "kubernetes:apps/v1:DaemonSet",
           "name": "sutazai-prod-cluster-nvidia-device-plugin",
           "checks": {"runAsUser": 0, "runAsNonRoot": false},
           "reason": "creates its socket in the root-owned kubelet directory ..."}
        ]
      }

  `type` and `name` are the resource's type token and logical name (no patterns, no URN:
  a URN embeds the stack name). `checks` maps a check (the field a finding names) to the
  exact value it may have; any other value, or any other check, is still reported. Waivers
  that matched nothing are reported by the `unused-waivers` policy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal

# The one rule a config may never lower (see runtime.py for how that is enforced).
PINNED_MANDATORY: Final = frozenset({"workload-non-root-read-only"})
SETTINGS_POLICY: Final = "pack-settings"
ENVIRONMENTS: Final = ("prod", "dev")
MIN_REASON: Final = 20

Environment = Literal["prod", "dev"]

WAIVERS_SCHEMA: Final[dict[str, Any]] = {
    "type": "array",
    "description": "Exact relaxations for single resources. Each lists its checks and a reason.",
    "default": [],
    "items": {
        "type": "object",
        "additionalProperties": False,
        "required": ["type", "name", "checks", "reason"],
        "properties": {
            "type": {"type": "string", "minLength": 1, "description": "Exact type token."},
            "name": {"type": "string", "minLength": 1, "description": "Exact logical name."},
            "checks": {
                "type": "object",
                "minProperties": 1,
                "description": "check -> the exact value it may have for this resource.",
            },
            "reason": {
                "type": "string",
                "minLength": MIN_REASON,
                "pattern": "\\S",
                "description": "Why this resource cannot follow the policy here.",
            },
        },
    },
}

_TYPE_TOKEN: Final = re.compile(r"^[A-Za-z0-9_.-]+:[A-Za-z0-9_./-]*:[A-Za-z0-9_.]+$")


def canonical(value: Any) -> str:
    """A value as exact JSON text, integral floats as ints (the engine sends 0 as 0.0)."""

    def norm(v: Any) -> Any:
        if isinstance(v, bool) or v is None or isinstance(v, str):
            return v
        if isinstance(v, float) and v.is_integer():
            return int(v)
        if isinstance(v, Mapping):
            return {str(k): norm(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [norm(x) for x in v]
        return v

    return json.dumps(norm(value), sort_keys=True, default=repr)


@dataclass(frozen=True)
class Waiver:
    policy: str
    type: str
    name: str
    checks: tuple[tuple[str, str], ...]  # (check, canonical value)
    reason: str

    def covers(self, res_type: str, res_name: str, check: str, value: Any) -> bool:
        return (
            res_type == self.type
            and res_name == self.name
            and (check, canonical(value)) in self.checks
        )

    def describe(self, check: str, value_text: str) -> str:
        return f"'{self.policy}' waiver for {self.type} '{self.name}' ({check}={value_text})"


@dataclass(frozen=True)
class ParsedWaivers:
    valid: tuple[Waiver, ...]
    problems: tuple[str, ...]

    def find(self, res_type: str, res_name: str, check: str, value: Any) -> Waiver | None:
        for waiver in self.valid:
            if waiver.covers(res_type, res_name, check, value):
                return waiver
        return None


def parse_waivers(policy: str, config: Mapping[str, Any] | None) -> ParsedWaivers:
    config = config or {}
    problems: list[str] = []
    if config.get("exceptions"):
        problems.append(
            f"'{policy}'.exceptions is no longer read: name-pattern exceptions were replaced by "
            "exact waivers ({type, name, checks, reason}); see policies/README.md"
        )
    raw = config.get("waivers", [])
    if raw is None:
        raw = []
    if not isinstance(raw, list):
        return ParsedWaivers((), (*problems, f"'{policy}'.waivers must be a list of waivers"))
    valid: list[Waiver] = []
    for i, entry in enumerate(raw):
        where = f"'{policy}'.waivers[{i}]"
        if not isinstance(entry, Mapping):
            problems.append(f"{where} must be an object {{type, name, checks, reason}}")
            continue
        extra = sorted(set(entry) - {"type", "name", "checks", "reason"})
        type_, name, checks, reason = (entry.get(k) for k in ("type", "name", "checks", "reason"))
        if extra:
            problems.append(
                f"{where} has unknown keys {extra}; allowed: type, name, checks, reason"
            )
        elif not isinstance(type_, str) or not _TYPE_TOKEN.match(type_) or "*" in type_:
            problems.append(f"{where}.type {type_!r} is not an exact type token")
        elif not isinstance(name, str) or not name.strip() or any(c in name for c in "*?[]:$"):
            problems.append(f"{where}.name {name!r} is not an exact logical name (no patterns)")
        elif not isinstance(checks, Mapping) or not checks:
            problems.append(f"{where}.checks must map each waived check to its exact value")
        elif not isinstance(reason, str) or len(reason.strip()) < MIN_REASON:
            problems.append(
                f"{where} for {type_} '{name}' needs a reason of at least {MIN_REASON} characters"
            )
        else:
            pairs = tuple(sorted((str(k), canonical(v)) for k, v in checks.items()))
            valid.append(Waiver(policy, type_, name, pairs, reason.strip()))
    return ParsedWaivers(tuple(valid), tuple(problems))


# ---------------------------------------------------------------- pack-wide state


@dataclass
class PackState:
    """What Configure told the pack, and which waivers the checks have used since."""

    environment: Environment | None = None
    waivers: dict[str, ParsedWaivers] = field(default_factory=dict)
    used: set[tuple[Waiver, str, str]] = field(default_factory=set)


STATE: Final = PackState()


def configure(properties: Mapping[str, Mapping[str, Any]]) -> None:
    """Called by the Configure hook with every policy's properties."""
    env = (properties.get(SETTINGS_POLICY) or {}).get("environment")
    STATE.environment = env if env in ENVIRONMENTS else None
    STATE.waivers = {name: parse_waivers(name, props) for name, props in properties.items()}
    STATE.used.clear()


def set_environment(environment: Environment | None) -> None:
    STATE.environment = environment


def is_prod() -> bool:
    """Prod rules unless the policy config says `dev` (an unconfigured pack is strict)."""
    return STATE.environment != "dev"


def record_use(waiver: Waiver, check: str, value: Any) -> None:
    STATE.used.add((waiver, check, canonical(value)))


def unused_waivers() -> list[tuple[Waiver, str, str]]:
    """(waiver, check, value) of every configured waiver entry no finding has used."""
    out: list[tuple[Waiver, str, str]] = []
    for parsed in STATE.waivers.values():
        for waiver in parsed.valid:
            for check, value in waiver.checks:
                if (waiver, check, value) not in STATE.used:
                    out.append((waiver, check, value))
    return out


def check_pack_config(
    levels: Mapping[str, str], properties: Mapping[str, Mapping[str, Any]]
) -> list[str]:
    """Problems with a whole pack config as the engine sends it to Configure."""
    problems: list[str] = []
    for name in sorted(PINNED_MANDATORY):
        level = levels.get(name)
        if level is not None and level != "mandatory":
            problems.append(
                f"'{name}' is pinned to 'mandatory' but the policy config sets it to '{level}' "
                '(directly or through "all"). Non-root + read-only root FS may not be lowered '
                f'on any stack: set "{name}": "mandatory" (or remove the override); use an '
                "exact waiver with a reason for a single resource instead."
            )
    env = (properties.get(SETTINGS_POLICY) or {}).get("environment")
    if env not in ENVIRONMENTS:
        problems.append(
            f"'{SETTINGS_POLICY}'.environment is {env!r}; set it to one of {list(ENVIRONMENTS)} "
            "(policies/config/prod.json says prod, dev.json says dev)"
        )
    for name in sorted(properties):
        problems.extend(parse_waivers(name, properties[name]).problems)
    return problems
