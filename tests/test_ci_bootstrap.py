"""The CI identities (bootstrap/ci), asserted on the bootstrap stack's offline plan.

Each role's trust is matched, as IAM matches it, against every subject GitHub could issue
for this repository and its look-alikes: a role must accept exactly the jobs it is for.
"""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest
import yaml

from stacks.plan import MOCK_ACCOUNT
from tests.conftest import PROJECT_DIR

BOOTSTRAP_DIR = PROJECT_DIR / "bootstrap" / "ci"
REPO = "sutazai/sutazai-infra"
ACCOUNT = "123456789012"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
SUB = "token.actions.githubusercontent.com:sub"
AUD = "token.actions.githubusercontent.com:aud"


def _load_identities() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "ci_identities", BOOTSTRAP_DIR / "ci_identities.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("ci_identities", module)
    spec.loader.exec_module(module)
    return module


ids = _load_identities()


@pytest.fixture(scope="module")
def plan(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    out = tmp_path_factory.mktemp("bootstrap") / "plan.json"
    done = subprocess.run(
        [sys.executable, "-m", "stacks.plan", "--project-dir", str(BOOTSTRAP_DIR),
         "--stack", "ci-bootstrap", "--json", str(out), "--quiet"],
        cwd=PROJECT_DIR, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return json.loads(out.read_text())


def resources(plan: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {r["name"]: r for r in plan["resources"] if r["type"] == type_}


# ── IAM's matching, and every subject GitHub could issue ────────────────────────────────


def iam_matches(operator: str, pattern: str, value: str) -> bool:
    """StringEquals / StringLike as IAM evaluates them (`*` any run, `?` one character)."""
    if operator == "StringEquals":
        return pattern == value
    if operator == "StringLike":
        regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
        return re.fullmatch(regex, value, re.S) is not None
    raise AssertionError(f"unexpected operator {operator}")


@pytest.mark.parametrize(
    ("pattern", "value", "matches"),
    [
        ("a*c", "abbbc", True),
        ("a*c", "a/b:c", True),
        ("a?c", "abc", True),
        ("a?c", "abbc", False),
        ("a.c", "abc", False),  # no regex leaks
        ("a[b]c", "abc", False),  # no fnmatch classes
    ],
)
def test_the_glob_matcher_is_iams(pattern: str, value: str, matches: bool) -> None:
    assert iam_matches("StringLike", pattern, value) is matches


def _trusted(trust: dict[str, Any], subject: str) -> bool:
    """Would this trust let a GitHub token with this `sub` (and our audience) in?"""
    for statement in trust["Statement"]:
        if statement["Effect"] != "Allow":
            continue
        conditions = statement.get("Condition", {})
        ok = True
        for operator, keys in conditions.items():
            for key, wanted in keys.items():
                values = wanted if isinstance(wanted, list) else [wanted]
                claim = {SUB: subject, AUD: "sts.amazonaws.com"}[key]
                ok = ok and any(iam_matches(operator, v, claim) for v in values)
        if ok:
            return True
    return False


WORKFLOW_FILES = ["deploy.yml", "preview.yml", "drift.yml", "ephemeral.yml", "reaper.yml", "x.yml"]
CONTEXTS = [
    "ref:refs/heads/main",
    "ref:refs/heads/feature",
    "ref:refs/heads/main-evil",
    "ref:refs/tags/v1.0.0",
    "environment:production",
    "environment:ephemeral-admin",
    "environment:staging",
    "pull_request",
]
REFS = ["refs/heads/main", "refs/heads/feature", "refs/pull/7/merge", "refs/tags/v1.0.0"]
REPOS = [REPO, "evil/sutazai-infra", "sutazai/sutazai-infra-fork", "sutazai/sutazai"]


def consistent(context: str, ref: str) -> bool:
    """Only combinations GitHub issues: a branch context names its own ref."""
    if context.startswith("ref:"):
        return context == f"ref:{ref}"
    if context == "pull_request":
        return ref.startswith("refs/pull/")
    return True  # an environment job runs on whatever ref its branch policy allows


def every_subject() -> list[str]:
    subjects = [
        f"repo:{repo}:{context}:job_workflow_ref:{workflow_repo}/.github/workflows/{wf}@{ref}"
        for repo in REPOS
        for workflow_repo in {repo, REPO}
        for context in CONTEXTS
        for wf in WORKFLOW_FILES
        for ref in REFS
        if consistent(context, ref)
    ]
    # The default template's subjects (if someone reset the repository's template).
    subjects += [f"repo:{REPO}:{c}" for c in CONTEXTS]
    # Another job's subject with ours appended, or ours with junk appended.
    ours = ids.in_environment(REPO, "production", "deploy.yml")
    subjects += [f"{ours}:x", f"repo:evil/x:pull_request:job_workflow_ref:{ours}", ours.upper()]
    return subjects


def jwr(context: str, workflow: str, ref: str) -> str:
    return f"repo:{REPO}:{context}:job_workflow_ref:{REPO}/.github/workflows/{workflow}@{ref}"


# Exactly the jobs each role is for (the spec: issue 12).
EXPECTED = {
    "sutazai-ci-deploy": {jwr("environment:production", "deploy.yml", "refs/heads/main")},
    "sutazai-ci-preview": {jwr("pull_request", "preview.yml", "refs/pull/7/merge")},
    "sutazai-ci-drift": {jwr("ref:refs/heads/main", "drift.yml", "refs/heads/main")},
    "sutazai-ci-ephemeral": {
        jwr("ref:refs/heads/main", "ephemeral.yml", "refs/heads/main"),
        jwr("environment:ephemeral-admin", "ephemeral.yml", "refs/heads/main"),
    },
    "sutazai-ci-reaper": {jwr("ref:refs/heads/main", "reaper.yml", "refs/heads/main")},
}


def trust_of(plan: dict[str, Any], name: str) -> dict[str, Any]:
    return json.loads(resources(plan, ROLE)[name]["inputs"]["assumeRolePolicy"])


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_trusts_exactly_the_jobs_it_is_for(plan: dict[str, Any], role: str) -> None:
    trust = trust_of(plan, role)
    accepted = {s for s in every_subject() if _trusted(trust, s)}
    assert accepted == EXPECTED[role]


def test_there_is_one_role_per_workflow_and_no_other(plan: dict[str, Any]) -> None:
    assert set(resources(plan, ROLE)) == set(EXPECTED)
    assert set(resources(plan, ROLE_POLICY)) == set(EXPECTED)


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_trust_is_github_with_our_audience_and_a_sub_condition(
    plan: dict[str, Any], role: str
) -> None:
    provider = next(
        r
        for r in plan["resources"]
        if r["type"] == "aws:iam/openIdConnectProvider:OpenIdConnectProvider"
    )
    assert provider["inputs"]["url"] == "https://token.actions.githubusercontent.com"
    assert provider["inputs"]["clientIdLists"] == ["sts.amazonaws.com"]
    (statement,) = trust_of(plan, role)["Statement"]
    assert statement["Principal"] == {"Federated": plan["outputs"]["oidcProviderArn"]}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"]["StringEquals"][AUD] == "sts.amazonaws.com"
    operators = [op for op, keys in statement["Condition"].items() if SUB in keys]
    assert operators in (["StringEquals"], ["StringLike"])


def test_the_subject_template_the_trusts_rely_on_is_set(plan: dict[str, Any]) -> None:
    (template,) = resources(
        plan,
        "github:index/actionsRepositoryOidcSubjectClaimCustomizationTemplate:"
        "ActionsRepositoryOidcSubjectClaimCustomizationTemplate",
    ).values()
    assert template["inputs"]["useDefault"] is False
    assert template["inputs"]["includeClaimKeys"] == ["repo", "context", "job_workflow_ref"]
    assert template["inputs"]["repository"] == "sutazai-infra"
    role_urns = {r["urn"] for r in resources(plan, ROLE).values()}
    for role in resources(plan, ROLE).values():
        assert template["urn"] in role["dependencies"], role["name"]
    assert role_urns


def test_protected_environments_need_reviewers_and_main(plan: dict[str, Any]) -> None:
    envs = resources(plan, "github:index/repositoryEnvironment:RepositoryEnvironment")
    assert set(envs) == {"production", "ephemeral-admin"}
    for env in envs.values():
        inputs = env["inputs"]
        assert inputs["preventSelfReview"] is True and inputs["canAdminsBypass"] is False
        assert inputs["reviewers"][0]["teams"], env["name"]
        assert inputs["deploymentBranchPolicy"] == {
            "customBranchPolicies": True,
            "protectedBranches": False,
        }
    policies = resources(
        plan,
        "github:index/repositoryEnvironmentDeploymentPolicy:RepositoryEnvironmentDeploymentPolicy",
    )
    assert {
        p["inputs"]["environment"]: p["inputs"]["branchPattern"] for p in policies.values()
    } == {
        "production": "main",
        "ephemeral-admin": "main",
    }


# ── permissions ─────────────────────────────────────────────────────────────────────────


def permissions(plan: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return json.loads(resources(plan, ROLE_POLICY)[role]["inputs"]["policy"])["Statement"]


def allows(statements: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [s for s in statements if s["Effect"] == "Allow"]


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_no_role_is_an_admin_or_can_touch_the_ci_identities(
    plan: dict[str, Any], role: str
) -> None:
    statements = permissions(plan, role)
    for statement in allows(statements):
        for action in as_list(statement["Action"]):
            assert action != "*" and not action.startswith(("iam:*", "sts:*", "organizations:"))
            service = action.split(":")[0]
            if action.endswith(":*"):
                # Whole-service grants are only for the program's services, and only scoped.
                assert service in ids.MANAGED_SERVICES or service == "ecr", action
                assert "Condition" in statement or statement["Resource"] != ["*"], action
    denies = [s for s in statements if s["Effect"] == "Deny" and s["Action"] == ["iam:*"]]
    assert denies and denies[0]["Resource"] == [
        f"arn:aws:iam::{ACCOUNT}:role/sutazai-ci-*",
        f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com",
    ]


@pytest.mark.parametrize("role", ["sutazai-ci-preview", "sutazai-ci-drift"])
def test_preview_and_drift_only_read_configuration(plan: dict[str, Any], role: str) -> None:
    statements = permissions(plan, role)
    for statement in allows(statements):
        for action in as_list(statement["Action"]):
            verb = action.split(":", 1)[1]
            assert verb.startswith(("Describe", "Get", "List", "BatchGet")), action
    denied = {a for s in statements if s["Effect"] == "Deny" for a in as_list(s["Action"])}
    assert {"secretsmanager:GetSecretValue", "kms:Decrypt", "s3:GetObject*"} <= denied


@pytest.mark.parametrize("role", ["sutazai-ci-ephemeral", "sutazai-ci-reaper"])
def test_ephemeral_and_reaper_change_only_ephemeral_tagged_resources(
    plan: dict[str, Any], role: str
) -> None:
    statements = permissions(plan, role)
    for statement in allows(statements):
        actions = as_list(statement["Action"])
        if all(
            a.split(":", 1)[1].startswith(("Describe", "Get", "List", "BatchGet")) for a in actions
        ):
            continue
        if actions == ["ecr:GetAuthorizationToken"]:
            continue  # a registry login: names no resource
        condition = statement["Condition"]
        tagged = condition.get("StringEquals", {})
        assert (
            tagged.get("aws:ResourceTag/sutazai:environment") == "dev"
            and condition["Null"] == {"aws:ResourceTag/sutazai:ephemeral-owner": "false"}
        ) or (
            tagged.get("aws:RequestTag/sutazai:environment") == "dev"
            and condition["Null"] == {"aws:RequestTag/sutazai:ephemeral-owner": "false"}
        ), statement["Sid"]
    never_prod = [s for s in statements if s["Effect"] == "Deny" and s["Action"] == ["*"]]
    assert never_prod[0]["Condition"] == {
        "StringEquals": {"aws:ResourceTag/sutazai:environment": "prod"}
    }
    if role == "sutazai-ci-ephemeral":
        granted = {a for s in allows(statements) for a in as_list(s["Action"])}
        assert not any(
            a.startswith("iam:") and not a.startswith(("iam:Get", "iam:List")) for a in granted
        )


def test_deploy_is_limited_to_the_region_and_the_programs_roles(plan: dict[str, Any]) -> None:
    statements = {s["Sid"]: s for s in permissions(plan, "sutazai-ci-deploy")}
    services = statements["ManageTheProgramsServices"]
    assert services["Condition"] == {"StringEquals": {"aws:RequestedRegion": "us-east-1"}}
    iam = statements["ManageTheProgramsRoles"]
    assert all(r.startswith(f"arn:aws:iam::{ACCOUNT}:") for r in iam["Resource"])
    assert all("sutazai-*" in r or "oidc.eks." in r for r in iam["Resource"])


def test_the_tag_names_are_the_programs() -> None:
    from stacks import ephemeral

    assert ids.TAG_EPHEMERAL_OWNER == ephemeral.TAG_OWNER
    assert ids.TAG_ENVIRONMENT == ephemeral.TAG_ENVIRONMENT


# ── the workflows and the roles agree ───────────────────────────────────────────────────


def workflow_jobs_assuming_roles() -> list[tuple[str, str, dict[str, Any], str]]:
    rows = []
    for path in sorted((PROJECT_DIR / ".github" / "workflows").glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        events = doc.get(True) or doc.get("on")
        for name, job in doc["jobs"].items():
            for step in job["steps"]:
                if "configure-aws-credentials" in str(step.get("uses", "")):
                    variable = re.fullmatch(
                        r"\$\{\{ vars\.(\w+) \}\}", step["with"]["role-to-assume"]
                    )
                    assert variable, f"{path.name}.{name}"
                    if "environment" in job:
                        context = f"environment:{job['environment']}"
                        ref = "refs/heads/main"
                    elif "pull_request" in events:
                        context, ref = "pull_request", "refs/pull/7/merge"
                    else:
                        context = ref = "refs/heads/main"
                        context = f"ref:{ref}"
                    rows.append((path.name, name, {"context": context, "ref": ref}, variable[1]))
    return rows


def test_every_job_that_assumes_a_role_is_trusted_by_the_role_it_names(
    plan: dict[str, Any],
) -> None:
    variables = resources(plan, "github:index/actionsVariable:ActionsVariable")
    # The offline plan gives a role an IAM-shaped ARN: arn:aws:iam::<mock account>:role/<name>.
    roles_by_arn = {
        f"arn:aws:iam::{MOCK_ACCOUNT}:role/{name}": name for name in resources(plan, ROLE)
    }
    rows = workflow_jobs_assuming_roles()
    assert len(rows) >= 5
    for workflow, job, where, variable in rows:
        assert variable in variables, f"{workflow}.{job}: no role publishes {variable}"
        role = roles_by_arn[variables[variable]["inputs"]["value"]]
        subject = jwr(where["context"], workflow, where["ref"])
        assert _trusted(trust_of(plan, role), subject), f"{workflow}.{job} -> {role}"


# ── settings ────────────────────────────────────────────────────────────────────────────

GOOD = {
    "githubRepository": REPO,
    "awsAccountId": ACCOUNT,
    "awsRegion": "us-east-1",
    "productionReviewerTeamIds": [1],
    "ephemeralAdminReviewerTeamIds": [2],
}


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("githubRepository", "sutazai"),
        ("githubRepository", "*/sutazai-infra"),
        ("githubRepository", "sutazai/*"),
        ("awsAccountId", 123456789012),
        ("awsAccountId", "1234"),
        ("awsRegion", "mars"),
        ("productionReviewerTeamIds", []),
        ("productionReviewerTeamIds", [True]),
        ("ephemeralAdminReviewerTeamIds", ["admins"]),
        ("reviewers", [1]),
    ],
)
def test_bad_settings_name_the_key(key: str, value: Any) -> None:
    with pytest.raises(ids.SettingsError, match=f"ci-bootstrap:{key}: "):
        ids.load_settings({**GOOD, key: value})


def test_the_stack_file_is_valid() -> None:
    doc = yaml.safe_load((BOOTSTRAP_DIR / "Pulumi.ci-bootstrap.yaml").read_text())
    values = {
        k.split(":", 1)[1]: v for k, v in doc["config"].items() if k.startswith("ci-bootstrap:")
    }
    assert ids.load_settings(values).repository == REPO
