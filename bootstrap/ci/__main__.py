"""The CI identities (see ci_identities.py for what each role may do, and why)."""

import json

import pulumi
import pulumi_aws as aws
import pulumi_github as github
from ci_identities import (
    AUDIENCE,
    EPHEMERAL_ADMIN_ENVIRONMENT,
    GITHUB_OIDC_URL,
    PRODUCTION_ENVIRONMENT,
    SUBJECT_CLAIM_KEYS,
    SettingsError,
    ci_roles,
    load_settings,
    trust_policy,
)

config = pulumi.Config()
raw: dict[str, object] = {
    key: config.get(key) for key in ("githubRepository", "awsAccountId", "awsRegion")
}
raw |= {
    key: config.get_object(key)
    for key in ("productionReviewerTeamIds", "ephemeralAdminReviewerTeamIds")
}
try:
    settings = load_settings(raw)
except SettingsError as exc:
    raise pulumi.RunError(str(exc)) from None

tags = {"sutazai:project": "ci-bootstrap", "managed-by": "pulumi"}

# GitHub's token issuer. AWS verifies it through its own trust store, so no thumbprint.
provider = aws.iam.OpenIdConnectProvider(
    "github-actions",
    url=GITHUB_OIDC_URL,
    client_id_lists=[AUDIENCE],
    tags=tags,
)

# The `sub` claim names repository, context and workflow file@ref: the roles' trust pins all.
subject_template = github.ActionsRepositoryOidcSubjectClaimCustomizationTemplate(
    "oidc-subject",
    repository=settings.name,
    use_default=False,
    include_claim_keys=list(SUBJECT_CLAIM_KEYS),
)


def environment(name: str, team_ids: tuple[int, ...]) -> github.RepositoryEnvironment:
    """A protected environment: reviewers approve every run, from main only."""
    env = github.RepositoryEnvironment(
        name,
        repository=settings.name,
        environment=name,
        prevent_self_review=True,
        can_admins_bypass=False,
        reviewers=[github.RepositoryEnvironmentReviewerArgs(teams=list(team_ids))],
        deployment_branch_policy=github.RepositoryEnvironmentDeploymentBranchPolicyArgs(
            protected_branches=False, custom_branch_policies=True
        ),
    )
    github.RepositoryEnvironmentDeploymentPolicy(
        f"{name}-main-only",
        repository=settings.name,
        environment=env.environment,
        branch_pattern="main",
    )
    return env


environments = {
    PRODUCTION_ENVIRONMENT: environment(
        PRODUCTION_ENVIRONMENT, settings.production_reviewer_team_ids
    ),
    EPHEMERAL_ADMIN_ENVIRONMENT: environment(
        EPHEMERAL_ADMIN_ENVIRONMENT, settings.ephemeral_admin_reviewer_team_ids
    ),
}

role_arns = {}
for role in ci_roles(settings):
    resource = aws.iam.Role(
        role.name,
        name=role.name,
        description=role.description,
        assume_role_policy=provider.arn.apply(lambda arn, role=role: trust_policy(arn, role)),
        max_session_duration=3600 * 2 if role.key != "deploy" else 3600 * 4,
        tags={**tags, "sutazai:workflow": role.workflow},
        opts=pulumi.ResourceOptions(depends_on=[subject_template]),
    )
    aws.iam.RolePolicy(
        role.name,
        role=resource.name,
        policy=json.dumps(role.permissions, sort_keys=True),
    )
    github.ActionsVariable(
        role.variable,
        repository=settings.name,
        variable_name=role.variable,
        value=resource.arn,
    )
    role_arns[role.key] = resource.arn

# The CodeBuild runners (components/ci_runner.py) reach GitHub through this connection. It
# is created PENDING: an administrator completes the handshake once in the AWS console.
connection = aws.codeconnections.Connection(
    "github", name="sutazai-ci-github", provider_type="GitHub", tags=tags
)

pulumi.export("oidcProviderArn", provider.arn)
pulumi.export("roleArns", role_arns)
pulumi.export("githubConnectionArn", connection.arn)
pulumi.export("environments", list(environments))
