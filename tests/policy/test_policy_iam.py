"""iam-github-trust-pins-sub: roles that trust GitHub Actions must pin `sub` to a repository.

Every shape below is one IAM accepts (or reads the same way); the rule must see through it.
"""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from .harness import UNKNOWN, check, secret

POLICY = "iam-github-trust-pins-sub"
ROLE = "aws:iam/role:Role"
NATIVE_ROLE = "aws-native:iam:Role"
PROVIDER = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
SUB = "token.actions.githubusercontent.com:sub"
AUD = "token.actions.githubusercontent.com:aud"
GOOD_SUB = "repo:sutazai/sutazai-infra:environment:production"
PROJECT_DIR = Path(__file__).resolve().parents[2]


def trust(condition: dict[str, Any] | None = None, **statement: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "Effect": "Allow",
        "Principal": {"Federated": PROVIDER},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": condition
        if condition is not None
        else {"StringEquals": {AUD: "sts.amazonaws.com", SUB: GOOD_SUB}},
    }
    body.update(statement)
    return {"Version": "2012-10-17", "Statement": [body]}


def messages(document: Any, type_: str = ROLE) -> list[str]:
    field = "assumeRolePolicy" if type_ == ROLE else "assumeRolePolicyDocument"
    value = document if isinstance(document, str) or document is UNKNOWN else json.dumps(document)
    return check(POLICY, type_, {field: value})


# ── pinned trusts pass ──────────────────────────────────────────────────────────────────

PINNED = {
    "exact": trust(),
    "list of subjects": trust({"StringEquals": {SUB: [GOOD_SUB, "repo:o/r:ref:refs/heads/main"]}}),
    "pattern within a repo": trust({"StringLike": {SUB: "repo:o/r:pull_request*"}}),
    "pr merge refs": trust(
        {"StringLike": {SUB: "repo:o/r:pull_request:job_workflow_ref:o/r/.github/w.yml@*"}}
    ),
    "operator and key in other case": trust({"stringequals": {SUB.upper(): GOOD_SUB}}),
    "a single statement object": {"Statement": trust()["Statement"][0]},
    "no GitHub at all": trust(
        {}, Principal={"Service": "ec2.amazonaws.com"}, Action="sts:AssumeRole"
    ),
    "a deny mentioning GitHub": trust({}, Effect="Deny"),
}


@pytest.mark.parametrize("case", sorted(PINNED))
def test_a_pinned_or_unrelated_trust_passes(case: str) -> None:
    assert messages(PINNED[case]) == []


def test_an_unknown_policy_is_checked_at_up_not_in_preview() -> None:
    assert messages(UNKNOWN) == []


# ── everything that lets other repositories in is caught ───────────────────────────────

UNPINNED = {
    "no condition": trust({}),
    "condition missing": {
        "Statement": [{k: v for k, v in trust()["Statement"][0].items() if k != "Condition"}]
    },
    "audience only": trust({"StringEquals": {AUD: "sts.amazonaws.com"}}),
    "repo:*": trust({"StringLike": {SUB: "repo:*"}}),
    "any owner": trust({"StringLike": {SUB: "repo:*/sutazai-infra:ref:refs/heads/main"}}),
    "any repository of the owner": trust({"StringLike": {SUB: "repo:sutazai/*"}}),
    "owner/name then anything": trust({"StringLike": {SUB: "repo:sutazai/sutazai-infra:*"}}),
    "single-character wildcard in the name": trust(
        {"StringLike": {SUB: "repo:sutazai/sutazai-infr?:ref:refs/heads/main"}}
    ),
    "just *": trust({"StringLike": {SUB: "*"}}),
    "one good value and one open one": trust({"StringLike": {SUB: [GOOD_SUB, "repo:*"]}}),
    "a negative operator": trust({"StringNotEquals": {SUB: "repo:evil/x:ref:refs/heads/main"}}),
    "IfExists": trust({"StringLikeIfExists": {SUB: GOOD_SUB}}),
    "ForAllValues over a missing key": trust({"ForAllValues:StringEquals": {SUB: [GOOD_SUB]}}),
    "sub under another issuer's key": trust({"StringEquals": {"accounts.google.com:sub": "x"}}),
    "a number": trust({"StringEquals": {SUB: 42}}),
    "empty list": trust({"StringEquals": {SUB: []}}),
    "provider as a list": trust({}, Principal={"Federated": [PROVIDER]}),
    "provider named in another case": trust(
        {}, Principal={"Federated": PROVIDER.replace("token.actions", "TOKEN.Actions")}
    ),
    "enterprise issuer path": trust({}, Principal={"Federated": f"{PROVIDER}/acme-enterprise"}),
    "anyone's web identity": trust({}, Principal="*"),
    "anyone's web identity by AWS *": trust({}, Principal={"AWS": "*"}, Action=["sts:*"]),
    "effect in other case": trust({}, Effect="allow"),
    "keys in other case": {
        "statement": [
            {
                "effect": "Allow",
                "principal": {"Federated": PROVIDER},
                "action": "sts:AssumeRoleWithWebIdentity",
            }
        ]
    },
}


@pytest.mark.parametrize("case", sorted(UNPINNED))
def test_a_trust_that_does_not_pin_sub_is_a_violation(case: str) -> None:
    found = messages(UNPINNED[case])
    assert len(found) == 1 and "trusts GitHub Actions but" in found[0], found
    assert "aws:iam/role:Role 'subject'" in found[0]


def test_the_second_of_two_statements_is_checked_too() -> None:
    document = trust()
    document["Statement"].append(copy.deepcopy(trust({})["Statement"][0]) | {"Sid": "Second"})
    (found,) = messages(document)
    assert "trust statement Second trusts GitHub Actions" in found


@pytest.mark.parametrize(
    "document",
    [
        '{"Statement": [{"Principal": {"Federated": "' + PROVIDER + '"}',  # cut off
        {"Statement": "token.actions.githubusercontent.com"},
        {"Statement": ["token.actions.githubusercontent.com"]},
    ],
)
def test_what_cannot_be_read_is_a_violation(document: Any) -> None:
    assert len(messages(document)) == 1


def test_a_policy_given_as_an_object_or_a_secret_is_read_the_same() -> None:
    bad = trust({})
    assert len(check(POLICY, ROLE, {"assumeRolePolicy": bad})) == 1
    assert len(check(POLICY, ROLE, {"assumeRolePolicy": secret(json.dumps(bad))})) == 1
    assert check(POLICY, ROLE, {"assumeRolePolicy": trust()}) == []


def test_aws_native_roles_are_checked() -> None:
    assert len(messages(trust({}), NATIVE_ROLE)) == 1
    assert messages(trust(), NATIVE_ROLE) == []


def test_the_ci_bootstrap_roles_pass(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    done = subprocess.run(
        [sys.executable, "-m", "stacks.plan", "--project-dir", "bootstrap/ci",
         "--stack", "ci-bootstrap", "--json", str(out), "--quiet"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    roles = [r for r in json.loads(out.read_text())["resources"] if r["type"] == ROLE]
    assert len(roles) == 5
    for role in roles:
        assert check(POLICY, ROLE, role["inputs"], name=role["name"]) == []
        # The same role with its sub condition taken away is caught.
        document = json.loads(role["inputs"]["assumeRolePolicy"])
        for condition in document["Statement"][0]["Condition"].values():
            condition.pop(SUB, None)
        assert len(check(POLICY, ROLE, {"assumeRolePolicy": json.dumps(document)})) == 1
