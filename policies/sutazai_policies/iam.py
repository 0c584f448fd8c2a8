"""IAM trust: no role trusts GitHub Actions' OIDC tokens without pinning who presents them.

Any workflow of any repository on GitHub can get a token from
`token.actions.githubusercontent.com`; what tells them apart is the `sub` claim
(`repo:<owner>/<repo>:<context>...`). A role whose trust names that issuer must therefore
require `sub` with StringEquals or StringLike, every value naming one repository exactly
(no wildcard in owner or name) and something more than `*` after it (a ref, environment or
pull request). Read as IAM reads it: the policy as a JSON string or an object, one
statement or a list, condition operators and keys in any case. What cannot be read is a
violation; a value still unknown in preview is checked at `up`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Final

from pulumi_policy import Policy, Severity

from .rules import Resource, resource_policy
from .values import is_unknown

IAM_ROLE: Final = "aws:iam/role:Role"
NATIVE_IAM_ROLE: Final = "aws-native:iam:Role"
TRUST_FIELDS: Final = {IAM_ROLE: "assumeRolePolicy", NATIVE_IAM_ROLE: "assumeRolePolicyDocument"}
GITHUB_ISSUER: Final = "token.actions.githubusercontent.com"
SUB_KEY: Final = f"{GITHUB_ISSUER}:sub"
# Operators that require the claim to match. IfExists and the set operators (ForAllValues
# over a missing key is true) do not.
REQUIRING_OPERATORS: Final = frozenset({"stringequals", "stringlike"})
PINNED_SUBJECT: Final = re.compile(r"^repo:[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+:(?P<rest>.+)$")


def _mentions_github(value: Any) -> bool:
    if isinstance(value, str):
        return GITHUB_ISSUER in value.lower()
    if isinstance(value, dict):
        return any(_mentions_github(k) or _mentions_github(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_mentions_github(v) for v in value)
    return False


def _wildcard_web_identity(statement: dict[str, Any]) -> bool:
    """Anyone's web identity (Principal `*`), for an action that covers web identity."""
    principal = _field(statement, "principal")
    everyone = principal == "*" or (
        isinstance(principal, dict)
        and any(v == "*" or v == ["*"] for k, v in principal.items() if k.lower() != "service")
    )
    actions = _field(statement, "action")
    actions = actions if isinstance(actions, list) else [actions]
    web_identity = "sts:assumerolewithwebidentity"
    covers = any(
        isinstance(a, str)
        and re.fullmatch(
            re.escape(a.lower()).replace(r"\*", ".*").replace(r"\?", "."), web_identity
        )
        for a in actions
    )
    return everyone and covers


def _statements(document: Any) -> list[Any] | None:
    if not isinstance(document, dict):
        return None
    statements = next((v for k, v in document.items() if k.lower() == "statement"), None)
    if isinstance(statements, dict):
        return [statements]
    return statements if isinstance(statements, list) else None


def _field(statement: dict[str, Any], name: str) -> Any:
    return next((v for k, v in statement.items() if k.lower() == name), None)


def _sub_problem(condition: Any) -> str | None:
    """None when the condition pins `sub` to exact repositories; else what is wrong."""
    values: list[Any] = []
    if isinstance(condition, dict):
        for operator, keys in condition.items():
            if not isinstance(operator, str) or operator.lower() not in REQUIRING_OPERATORS:
                continue
            if not isinstance(keys, dict):
                continue
            for key, wanted in keys.items():
                if isinstance(key, str) and key.lower() == SUB_KEY:
                    values += wanted if isinstance(wanted, list) else [wanted]
    if not values:
        return (
            f"has no StringEquals/StringLike condition on {SUB_KEY}, so every workflow of "
            "every GitHub repository can assume the role"
        )
    for value in values:
        if not isinstance(value, str):
            return f"{SUB_KEY} condition value {value!r} is not a string"
        match = PINNED_SUBJECT.match(value)
        if match is None:
            return (
                f"{SUB_KEY} value '{value}' does not name one repository exactly "
                "(repo:<owner>/<name>:..., no wildcard in owner or name)"
            )
        if not match.group("rest").strip("*?:"):
            return (
                f"{SUB_KEY} value '{value}' pins the repository but no ref, environment or "
                "pull request"
            )
    return None


def check_github_trust_pins_sub(res: Resource) -> Iterator[str]:
    raw = res.props.get(TRUST_FIELDS[res.type])
    if raw is None or is_unknown(raw):
        return
    document = raw
    if isinstance(raw, str):
        try:
            document = json.loads(raw)
        except ValueError:
            if _mentions_github(raw):
                yield "trust policy is not valid JSON, so its GitHub trust cannot be checked"
            return
    statements = _statements(document)
    if statements is None:
        if _mentions_github(document):
            yield "trust policy has no readable Statement, so its GitHub trust cannot be checked"
        return
    for index, statement in enumerate(statements):
        if not isinstance(statement, dict):
            if _mentions_github(statement):
                yield f"trust statement {index} cannot be read"
            continue
        effect = _field(statement, "effect")
        if isinstance(effect, str) and effect.lower() == "deny":
            continue
        if not (_mentions_github(statement) or _wildcard_web_identity(statement)):
            continue
        problem = _sub_problem(_field(statement, "condition"))
        if problem is not None:
            sid = _field(statement, "sid")
            yield f"trust statement {sid or index} trusts GitHub Actions but {problem}"


def policies() -> list[Policy]:
    return [
        resource_policy(
            "iam-github-trust-pins-sub",
            "An IAM role that trusts GitHub Actions' OIDC issuer requires a `sub` condition "
            "that names one repository and a ref, environment or pull request.",
            list(TRUST_FIELDS),
            check_github_trust_pins_sub,
            remediation=(
                f"Add Condition StringEquals (or StringLike) {{'{SUB_KEY}': "
                "'repo:<owner>/<repo>:environment:<env>...'}} naming exactly the workflow "
                "jobs that may assume the role (see bootstrap/ci/ci_identities.py)."
            ),
            severity=Severity.CRITICAL,
        )
    ]
