"""What each CI workflow may do in AWS, and who may be it: pure data, no resources.

Every role trusts GitHub's OIDC provider for exactly one workflow file of one repository on
`main` (and, where it says so, one environment): the repository's OIDC subject template
(set by this stack) makes the `sub` claim
`repo:<owner>/<repo>:<context>:job_workflow_ref:<owner>/<repo>/.github/workflows/<file>@<ref>`,
so the trust names repository, context (environment, branch or pull request), workflow file
and ref in one string. Permissions are least privilege per job: no `*` action, no IAM on
anything but the program's own roles, and an explicit deny on the CI roles themselves, so
no workflow can widen its own trust.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

GITHUB_OIDC_HOST: Final = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL: Final = f"https://{GITHUB_OIDC_HOST}"
AUDIENCE: Final = "sts.amazonaws.com"
# The OIDC subject template of the repository: the trust conditions below depend on it.
SUBJECT_CLAIM_KEYS: Final = ("repo", "context", "job_workflow_ref")
ROLE_PREFIX: Final = "sutazai-ci-"
MAIN: Final = "refs/heads/main"
PRODUCTION_ENVIRONMENT: Final = "production"
EPHEMERAL_ADMIN_ENVIRONMENT: Final = "ephemeral-admin"
# The program's tags (stacks/composition.py tag_set; tests keep them in step).
TAG_ENVIRONMENT: Final = "sutazai:environment"
TAG_EPHEMERAL_OWNER: Final = "sutazai:ephemeral-owner"

_REPOSITORY: Final = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")
_ACCOUNT: Final = re.compile(r"^[0-9]{12}$")
_REGION: Final = re.compile(r"^[a-z]{2}(-[a-z]+)+-[0-9]$")


class SettingsError(ValueError):
    """A bad bootstrap setting; the message names the key and what is allowed."""


@dataclass(frozen=True)
class Settings:
    repository: str  # owner/name
    account_id: str
    region: str
    production_reviewer_team_ids: tuple[int, ...]
    ephemeral_admin_reviewer_team_ids: tuple[int, ...]

    @property
    def owner(self) -> str:
        return self.repository.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repository.split("/", 1)[1]


def load_settings(values: Mapping[str, Any], namespace: str = "ci-bootstrap") -> Settings:
    """Validate the stack's settings; every problem is one line naming its key."""
    problems: list[str] = []
    values = {k: v for k, v in values.items() if v is not None}

    def text(key: str, pattern: re.Pattern[str], allowed: str) -> str:
        value = values.get(key)
        if not isinstance(value, str) or not pattern.match(value):
            problems.append(f"{namespace}:{key}: {allowed}, got {value!r}")
            return ""
        return value

    def team_ids(key: str) -> tuple[int, ...]:
        value = values.get(key)
        if (
            not isinstance(value, list)
            or not value
            or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)
        ):
            problems.append(
                f"{namespace}:{key}: a non-empty list of GitHub team ids (numbers) whose "
                f"members approve each run, got {value!r}"
            )
            return ()
        return tuple(value)

    settings = Settings(
        repository=text("githubRepository", _REPOSITORY, "owner/name of the GitHub repository"),
        account_id=text("awsAccountId", _ACCOUNT, "the 12-digit AWS account id"),
        region=text("awsRegion", _REGION, "an AWS region such as us-east-1"),
        production_reviewer_team_ids=team_ids("productionReviewerTeamIds"),
        ephemeral_admin_reviewer_team_ids=team_ids("ephemeralAdminReviewerTeamIds"),
    )
    unknown = sorted(
        set(values)
        - {
            "githubRepository",
            "awsAccountId",
            "awsRegion",
            "productionReviewerTeamIds",
            "ephemeralAdminReviewerTeamIds",
        }
    )
    problems += [f"{namespace}:{key}: unknown setting" for key in unknown]
    if problems:
        raise SettingsError("\n".join(problems))
    return settings


# ── subjects ────────────────────────────────────────────────────────────────────────────


def subject(repository: str, context: str, workflow: str, ref: str) -> str:
    """The `sub` claim GitHub issues under SUBJECT_CLAIM_KEYS for one job."""
    return (
        f"repo:{repository}:{context}:job_workflow_ref:"
        f"{repository}/.github/workflows/{workflow}@{ref}"
    )


def on_main(repository: str, workflow: str) -> str:
    return subject(repository, f"ref:{MAIN}", workflow, MAIN)


def in_environment(repository: str, environment: str, workflow: str) -> str:
    return subject(repository, f"environment:{environment}", workflow, MAIN)


def pull_requests(repository: str, workflow: str) -> str:
    """Any pull request's merge ref, for this workflow file (a StringLike pattern)."""
    return subject(repository, "pull_request", workflow, "refs/pull/*/merge")


# ── permissions ─────────────────────────────────────────────────────────────────────────

# What the program's stacks read (preview, drift, and the read part of everything else).
READ_ACTIONS: Final = (
    "acm:DescribeCertificate",
    "autoscaling:Describe*",
    "codebuild:BatchGetProjects",
    "codebuild:ListProjects",
    "ec2:Describe*",
    "ec2:GetLaunchTemplateData",
    "ecr:DescribeImages",
    "ecr:DescribeRepositories",
    "ecr:GetLifecyclePolicy",
    "ecr:GetRepositoryPolicy",
    "ecr:ListTagsForResource",
    "eks:Describe*",
    "eks:List*",
    "elasticache:Describe*",
    "elasticache:ListTagsForResource",
    "elasticloadbalancing:Describe*",
    "iam:GetInstanceProfile",
    "iam:GetOpenIDConnectProvider",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
    "iam:ListOpenIDConnectProviders",
    "iam:ListPolicyVersions",
    "iam:ListRolePolicies",
    "iam:ListRoleTags",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListResourceTags",
    "logs:DescribeLogGroups",
    "logs:ListTagsForResource",
    "rds:Describe*",
    "rds:ListTagsForResource",
    "sts:GetCallerIdentity",
    "tag:GetResources",
)
# Reading data rather than configuration: never for a CI role that only reads.
DATA_ACTIONS: Final = (
    "secretsmanager:GetSecretValue",
    "ssm:GetParameter*",
    "kms:Decrypt",
    "s3:GetObject*",
    "logs:GetLogEvents",
    "logs:FilterLogEvents",
    "ecr:BatchGetImage",
    "ecr:GetDownloadUrlForLayer",
    "rds:DownloadDBLogFilePortion",
)
# The services whose resources the program manages (components/), for the deploy role.
MANAGED_SERVICES: Final = (
    "autoscaling",
    "codebuild",
    "ec2",
    "ecr",
    "eks",
    "elasticache",
    "elasticloadbalancing",
    "kms",
    "logs",
    "rds",
)
# IAM actions the program needs for its own roles (IRSA, node groups, the runner).
IAM_WRITE_ACTIONS: Final = (
    "iam:AttachRolePolicy",
    "iam:CreateOpenIDConnectProvider",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:CreateRole",
    "iam:DeleteOpenIDConnectProvider",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:DeleteRole",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:PassRole",
    "iam:PutRolePolicy",
    "iam:TagOpenIDConnectProvider",
    "iam:TagPolicy",
    "iam:TagRole",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateOpenIDConnectProviderThumbprint",
    "iam:UpdateRole",
)
# Removing what a stack made (pulumi destroy, the sweeper), per managed service.
DELETE_VERBS: Final = (
    "Delete*",
    "Deregister*",
    "Detach*",
    "Disassociate*",
    "Remove*",
    "Revoke*",
    "Terminate*",
)


def _statement(
    sid: str,
    actions: Sequence[str],
    resources: Sequence[str] = ("*",),
    effect: str = "Allow",
    condition: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    statement: dict[str, Any] = {
        "Sid": sid,
        "Effect": effect,
        "Action": sorted(actions),
        "Resource": list(resources),
    }
    if condition:
        statement["Condition"] = dict(condition)
    return statement


def _protect_ci_identities(settings: Settings) -> dict[str, Any]:
    """No workflow may change any CI role or the GitHub OIDC provider: no self-widening."""
    account = settings.account_id
    return _statement(
        "NeverTheCiIdentities",
        ["iam:*"],
        [
            f"arn:aws:iam::{account}:role/{ROLE_PREFIX}*",
            f"arn:aws:iam::{account}:oidc-provider/{GITHUB_OIDC_HOST}",
        ],
        effect="Deny",
    )


def _never_prod(sid: str) -> dict[str, Any]:
    return _statement(
        sid,
        ["*"],
        effect="Deny",
        condition={"StringEquals": {f"aws:ResourceTag/{TAG_ENVIRONMENT}": "prod"}},
    )


def _program_iam(settings: Settings, stacks: str) -> list[str]:
    """IAM resources a stack of the program names (`sutazai-<stack>...`), IRSA providers."""
    account = settings.account_id
    return [
        f"arn:aws:iam::{account}:role/sutazai-{stacks}",
        f"arn:aws:iam::{account}:policy/sutazai-{stacks}",
        f"arn:aws:iam::{account}:instance-profile/sutazai-{stacks}",
        f"arn:aws:iam::{account}:oidc-provider/oidc.eks.{settings.region}.amazonaws.com/*",
    ]


def _ephemeral_only(sid: str, actions: Sequence[str]) -> dict[str, Any]:
    """Actions on resources that carry the ephemeral owner tag of a dev stack."""
    return _statement(
        sid,
        actions,
        condition={
            "StringEquals": {f"aws:ResourceTag/{TAG_ENVIRONMENT}": "dev"},
            "Null": {f"aws:ResourceTag/{TAG_EPHEMERAL_OWNER}": "false"},
        },
    )


def _deletes() -> list[str]:
    return [f"{service}:{verb}" for service in MANAGED_SERVICES for verb in DELETE_VERBS]


def read_only_policy(settings: Settings) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            _statement("ReadConfiguration", READ_ACTIONS),
            _statement("NeverData", DATA_ACTIONS, effect="Deny"),
            _protect_ci_identities(settings),
        ],
    }


def deploy_policy(settings: Settings) -> dict[str, Any]:
    region, account = settings.region, settings.account_id
    return {
        "Version": "2012-10-17",
        "Statement": [
            _statement("ReadConfiguration", READ_ACTIONS),
            _statement(
                "ManageTheProgramsServices",
                [f"{service}:*" for service in MANAGED_SERVICES],
                condition={"StringEquals": {"aws:RequestedRegion": region}},
            ),
            _statement("ManageTheProgramsRoles", IAM_WRITE_ACTIONS, _program_iam(settings, "*")),
            _statement(
                "RunnerConnection",
                [
                    "codeconnections:GetConnection",
                    "codeconnections:GetConnectionToken",
                    "codeconnections:PassConnection",
                    "codeconnections:UseConnection",
                ],
                [f"arn:aws:codeconnections:{region}:{account}:connection/*"],
            ),
            _statement(
                "ServiceLinkedRoles",
                ["iam:CreateServiceLinkedRole"],
                [f"arn:aws:iam::{account}:role/aws-service-role/*"],
            ),
            _protect_ci_identities(settings),
        ],
    }


def ephemeral_policy(settings: Settings) -> dict[str, Any]:
    """Ephemeral stacks on the shared cluster make ECR repositories in AWS, nothing else.

    Their Kubernetes objects go through the dev cluster's access entry for this role; in
    AWS they may create repositories only tagged as a dev stack's with an ephemeral owner,
    and push to, change and delete only repositories that carry those tags. No IAM at all:
    a role that could write IAM could write itself a wider one.
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            _statement("ReadConfiguration", READ_ACTIONS),
            _statement("RegistryLogin", ["ecr:GetAuthorizationToken"]),
            _statement(
                "CreateOnlyTaggedEphemeralRepositories",
                ["ecr:CreateRepository", "ecr:TagResource"],
                condition={
                    "StringEquals": {
                        f"aws:RequestTag/{TAG_ENVIRONMENT}": "dev",
                        "aws:RequestedRegion": settings.region,
                    },
                    "Null": {f"aws:RequestTag/{TAG_EPHEMERAL_OWNER}": "false"},
                },
            ),
            _ephemeral_only("OnlyTaggedEphemeralRepositories", ["ecr:*"]),
            _statement("NeverData", DATA_ACTIONS, effect="Deny"),
            _never_prod("NeverProd"),
            _protect_ci_identities(settings),
        ],
    }


def reaper_policy(settings: Settings) -> dict[str, Any]:
    """Remove only what carries an ephemeral owner tag (destroy and sweep); create nothing."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            _statement("ReadConfiguration", READ_ACTIONS),
            _ephemeral_only(
                "RemoveOnlyTaggedEphemeral",
                [
                    *_deletes(),
                    "iam:DeleteOpenIDConnectProvider",
                    "iam:DeleteRole",
                    "iam:DeleteRolePolicy",
                    "iam:DetachRolePolicy",
                    "kms:ScheduleKeyDeletion",
                    "s3:DeleteBucket",
                    "s3:DeleteObject",
                    "s3:ListBucket",
                ],
            ),
            _statement("NeverData", DATA_ACTIONS, effect="Deny"),
            _never_prod("NeverProd"),
            _protect_ci_identities(settings),
        ],
    }


# ── roles ───────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class CiRole:
    """One workflow's role: who may assume it (`sub`) and what it may do."""

    key: str  # sutazai-ci-<key>
    workflow: str
    description: str
    subjects: tuple[str, ...]
    permissions: dict[str, Any] = field(hash=False, compare=False)
    variable: str = ""  # the repository variable the workflow reads the ARN from

    @property
    def name(self) -> str:
        return f"{ROLE_PREFIX}{self.key}"

    @property
    def uses_patterns(self) -> bool:
        return any("*" in s or "?" in s for s in self.subjects)


def ci_roles(settings: Settings) -> list[CiRole]:
    repo = settings.repository
    read_only = read_only_policy(settings)
    return [
        CiRole(
            "deploy",
            "deploy.yml",
            "pulumi up prod: deploy.yml on main, in the production environment",
            (in_environment(repo, PRODUCTION_ENVIRONMENT, "deploy.yml"),),
            deploy_policy(settings),
            "AWS_DEPLOY_ROLE_ARN",
        ),
        CiRole(
            "preview",
            "preview.yml",
            "pulumi preview prod for pull requests: read-only",
            (pull_requests(repo, "preview.yml"),),
            read_only,
            "AWS_PREVIEW_ROLE_ARN",
        ),
        CiRole(
            "drift",
            "drift.yml",
            "scheduled drift check of prod on main: read-only",
            (on_main(repo, "drift.yml"),),
            read_only,
            "AWS_DRIFT_ROLE_ARN",
        ),
        CiRole(
            "ephemeral",
            "ephemeral.yml",
            "ephemeral stacks (own, and others' through ephemeral-admin): ephemeral-tagged only",
            (
                on_main(repo, "ephemeral.yml"),
                in_environment(repo, EPHEMERAL_ADMIN_ENVIRONMENT, "ephemeral.yml"),
            ),
            ephemeral_policy(settings),
            "AWS_EPHEMERAL_ROLE_ARN",
        ),
        CiRole(
            "reaper",
            "reaper.yml",
            "hourly reaper and sweeper on main: removes ephemeral-tagged resources only",
            (on_main(repo, "reaper.yml"),),
            reaper_policy(settings),
            "AWS_REAPER_ROLE_ARN",
        ),
    ]


def trust_policy(provider_arn: str, role: CiRole) -> str:
    """The role's trust: GitHub's provider, our audience, exactly the role's subjects."""
    condition: dict[str, dict[str, Any]] = {"StringEquals": {f"{GITHUB_OIDC_HOST}:aud": AUDIENCE}}
    operator = "StringLike" if role.uses_patterns else "StringEquals"
    condition.setdefault(operator, {})[f"{GITHUB_OIDC_HOST}:sub"] = list(role.subjects)
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "GitHubActions",
                    "Effect": "Allow",
                    "Principal": {"Federated": provider_arn},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": condition,
                }
            ],
        },
        sort_keys=True,
    )
