"""Find secret values in plain text in a plan: resource inputs and stack outputs.

Reusable by any stack test:

    from tests.secrets.scan import assert_no_plaintext_secrets
    assert_no_plaintext_secrets(plan)            # plan JSON (stacks.plan) or a Plan

What counts as a leak: a generated value (the mock runtime answers every
`random.RandomPassword` / `RandomString` with `mock-random-<resource name>`) anywhere in a
resource's inputs or in the stack outputs OUTSIDE a Pulumi secret envelope
(`{"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "value": ...}`):
env literals, ConfigMaps, annotations, labels, container commands, uploads, URLs... Strings
are also searched after base64 decoding (a Kubernetes Secret's `data`, a kubeconfig) and
JSON-embedded values are found as substrings. A second check flags env variables named like
secrets (PASSWORD, TOKEN, SECRET, API_KEY, ...) that hold a literal instead of a file path or
a reference.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
GENERATOR_TYPES = frozenset(
    {
        "random:index/randomPassword:RandomPassword",
        "random:index/randomString:RandomString",
    }
)
MOCK_VALUE_PREFIX = "mock-random-"
SECRETISH_ENV = re.compile(r"(PASSWORD|SECRET|TOKEN|API_KEY|PRIVATE_KEY|CREDENTIAL)", re.I)
_BASE64 = re.compile(r"^[A-Za-z0-9+/]{12,}={0,2}$")


class _Registration(Protocol):
    urn: str
    type: str
    name: str
    inputs: dict[str, Any]


@dataclass(frozen=True)
class Finding:
    where: str  # resource URN, or "stack outputs"
    path: str  # JSON path inside the inputs/outputs
    what: str  # the leaked value (or the env name)
    how: str  # "plain", "base64", "env literal"

    def __str__(self) -> str:
        return f"{self.where} {self.path}: {self.how} {self.what!r}"


def _resources(plan: Any) -> list[Mapping[str, Any]]:
    """Accept plan JSON ({"resources": [...]}), a stacks.plan.Plan or a list of either."""
    if isinstance(plan, Mapping):
        return list(plan.get("resources", []))  # type: ignore[arg-type]
    items = plan.resources if hasattr(plan, "resources") else plan
    result: list[Mapping[str, Any]] = []
    for item in items:
        if isinstance(item, Mapping):
            result.append(item)  # type: ignore[arg-type]
        else:
            reg: _Registration = item
            result.append(
                {"urn": reg.urn, "type": reg.type, "name": reg.name, "inputs": reg.inputs}
            )
    return result


def _outputs(plan: Any) -> Mapping[str, Any]:
    if isinstance(plan, Mapping):
        return plan.get("outputs", {}) or {}  # type: ignore[return-value]
    return getattr(plan, "outputs", {}) or {}


def is_secret_envelope(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get(SIG_KEY) == SECRET_SIG


def generated_values(plan: Any) -> set[str]:
    """The values the mock runtime gave every generator (`mock-random-<name>`)."""
    return {
        f"{MOCK_VALUE_PREFIX}{r['name']}" for r in _resources(plan) if r["type"] in GENERATOR_TYPES
    }


def _strings(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string outside secret envelopes, with its path (keys are searched too)."""
    if is_secret_envelope(value):
        return
    if isinstance(value, Mapping):
        for key, item in value.items():
            yield f"{path}.{key}", str(key)
            yield from _strings(item, f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            yield from _strings(item, f"{path}[{index}]")
    elif isinstance(value, str):
        yield path or ".", value


def _decoded(text: str) -> str | None:
    compact = text.strip()
    if len(compact) % 4 or not _BASE64.match(compact):
        return None
    try:
        return base64.b64decode(compact, validate=True).decode("utf-8", errors="ignore")
    except (binascii.Error, ValueError):
        return None


def find_plaintext(plan: Any, needles: Iterable[str] | None = None) -> list[Finding]:
    """Every occurrence of a secret value outside a secret envelope.

    `needles` default to the generated values of the plan; pass your own (e.g. a known
    placeholder for a `secure:` config value) to search for those too.
    """
    wanted = sorted(set(needles) if needles is not None else generated_values(plan))
    if not wanted:
        return []
    findings: list[Finding] = []
    places: list[tuple[str, Any]] = [(r["urn"], r.get("inputs", {})) for r in _resources(plan)]
    places.append(("stack outputs", _outputs(plan)))
    for where, tree in places:
        for path, text in _strings(tree):
            for needle in wanted:
                if needle in text:
                    findings.append(Finding(where, path, needle, "plain"))
            decoded = _decoded(text)
            if decoded:
                for needle in wanted:
                    if needle in decoded:
                        findings.append(Finding(where, path, needle, "base64"))
    return findings


def _env_pairs(inputs: Any, path: str = "") -> Iterator[tuple[str, str, Any]]:
    """(path, name, value) of env entries: Kubernetes `env: [{name, value}]`, Docker
    `envs: ["K=V"]`, ECS-style `environment: [{name, value}]`."""
    if is_secret_envelope(inputs):
        return
    if isinstance(inputs, Mapping):
        for key, item in inputs.items():
            here = f"{path}.{key}"
            if key in ("env", "environment") and isinstance(item, list):
                for index, entry in enumerate(item):
                    if isinstance(entry, Mapping) and "name" in entry:
                        yield f"{here}[{index}]", str(entry["name"]), entry.get("value")
            elif key == "envs" and isinstance(item, list):
                for index, entry in enumerate(item):
                    if isinstance(entry, str) and "=" in entry:
                        name, _, value = entry.partition("=")
                        yield f"{here}[{index}]", name, value
            else:
                yield from _env_pairs(item, here)
    elif isinstance(inputs, list):
        for index, item in enumerate(inputs):
            yield from _env_pairs(item, f"{path}[{index}]")


def find_secretish_env_literals(plan: Any) -> list[Finding]:
    """Env variables named like secrets that carry a literal (not *_FILE, not a reference)."""
    findings: list[Finding] = []
    for resource in _resources(plan):
        for path, name, value in _env_pairs(resource.get("inputs", {})):
            if not SECRETISH_ENV.search(name) or name.endswith("_FILE"):
                continue
            if value is None or is_secret_envelope(value) or value == "":
                continue  # valueFrom (a reference), or a secret
            findings.append(Finding(resource["urn"], path, name, "env literal"))
    return findings


def assert_no_plaintext_secrets(plan: Any, extra_needles: Iterable[str] = ()) -> None:
    """Fail with every finding listed (generated values and secret-named env literals)."""
    needles = generated_values(plan) | set(extra_needles)
    findings = find_plaintext(plan, needles) + find_secretish_env_literals(plan)
    if findings:
        listing = "\n".join(f"  - {f}" for f in findings[:50])
        more = f"\n  ... and {len(findings) - 50} more" if len(findings) > 50 else ""
        raise AssertionError(f"{len(findings)} secret(s) in plain text:\n{listing}{more}")
