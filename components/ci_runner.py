"""GitHub Actions runners hosted in CodeBuild, inside a stack's management subnets.

Prod's EKS endpoint is private and Vault sits on private addresses, so the workflows that run
`pulumi preview/up` (deploy, preview, drift; on the dev cluster: ephemeral stacks and the
reaper) need a runner inside the network. CodeBuild starts a fresh container per job (nothing
survives between jobs, no runner fleet to patch), in the VPC, and GitHub reaches it through
the connection the CI bootstrap stack made. A job asks for it with
`runs-on: codebuild-<project>-${{ github.run_id }}-${{ github.run_attempt }}`.

Hardened like the rest of the stack:
- no public IP (management subnets, out through the NAT) and no ingress at all;
- egress only to the EKS API (443 to the control-plane group), to Vault (8200 to
  `vaultCidrs`) and HTTPS out (GitHub, Pulumi Cloud, AWS APIs, package indexes: a runner
  cannot work without them);
- the project's service role can write its own log group, make its network interfaces in
  these subnets and use the GitHub connection, nothing else: a job's AWS power comes from the
  OIDC role its workflow assumes, never from the runner;
- logs in CloudWatch, encrypted with the stack's logs key, no S3 logs, no artifacts, no
  privileged (Docker-in-Docker) mode;
- the webhook starts builds only for queued jobs of the named workflows, and pull requests
  from forks need a maintainer's approval comment.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from stacks.config import CiRunnerConfig

# The standard Ubuntu image (Python, git; setup-python and the Pulumi CLI install on it).
RUNNER_IMAGE = "aws/codebuild/standard:7.0"
HTTPS = 443
VAULT_PORT = 8200
LOG_RETENTION_DAYS = 365
BUILD_TIMEOUT_MINUTES = 180


def runner_project_name(stack: str) -> str:
    """The CodeBuild project (and so the `runs-on` label) of a stack's runner."""
    return f"sutazai-{stack}-runner"


def webhook_workflow_pattern(workflows: Sequence[str]) -> str:
    """An anchored regex matching exactly these workflow names."""
    return "^(" + "|".join(re.escape(w) for w in sorted(workflows)) + ")$"


@dataclass(frozen=True)
class CiRunnerArgs:
    config: CiRunnerConfig
    project_name: str
    region: str
    vpc_id: pulumi.Input[str]
    subnet_ids: Sequence[pulumi.Input[str]]
    # The EKS control plane's group: the runner may reach the API on 443.
    api_security_group_id: pulumi.Input[str]
    vault_cidrs: Sequence[str]
    logs_key_arn: pulumi.Input[str]
    provider: aws.Provider | None = None
    # Prod: the log group is the record of every deploy; it outlives the runner.
    protect: bool = False


class CiRunner(pulumi.ComponentResource):
    def __init__(
        self, name: str, args: CiRunnerArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("sutazai:ci:CiRunner", name, None, opts)
        config = args.config
        aws_opts = pulumi.ResourceOptions(parent=self, provider=args.provider)

        self.security_group = aws.ec2.SecurityGroup(
            name,
            description="CI runner: no ingress; out to the EKS API, Vault and HTTPS",
            vpc_id=args.vpc_id,
            # Its own place in the segmentation: in the management subnets, not their group.
            tags={"Name": name, "sutazai:segment": "ci-runner"},
            opts=aws_opts,
        )
        egress = [
            ("eks-api", HTTPS, {"referenced_security_group_id": args.api_security_group_id}),
            *(
                (f"vault-{i}", VAULT_PORT, {"cidr_ipv4": cidr})
                for i, cidr in enumerate(args.vault_cidrs)
            ),
            ("https", HTTPS, {"cidr_ipv4": "0.0.0.0/0"}),
        ]
        for label, port, peer in egress:
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-to-{label}",
                security_group_id=self.security_group.id,
                ip_protocol="tcp",
                from_port=port,
                to_port=port,
                description=f"CI runner to {label}",
                opts=pulumi.ResourceOptions(parent=self.security_group, provider=args.provider),
                **peer,
            )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-api-from-runner",
            security_group_id=args.api_security_group_id,
            referenced_security_group_id=self.security_group.id,
            ip_protocol="tcp",
            from_port=HTTPS,
            to_port=HTTPS,
            description="Kubernetes API from the CI runner",
            opts=pulumi.ResourceOptions(parent=self.security_group, provider=args.provider),
        )

        self.log_group = aws.cloudwatch.LogGroup(
            name,
            name=f"/sutazai/ci-runner/{args.project_name}",
            retention_in_days=LOG_RETENTION_DAYS,
            kms_key_id=args.logs_key_arn,
            opts=pulumi.ResourceOptions(parent=self, provider=args.provider, protect=args.protect),
        )

        identity = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(provider=args.provider)
        )
        project_arn = identity.account_id.apply(
            lambda account: f"arn:aws:codebuild:{args.region}:{account}:project/{args.project_name}"
        )
        self.role = aws.iam.Role(
            name,
            description=f"CodeBuild service role of the CI runner {args.project_name}",
            assume_role_policy=pulumi.Output.all(project_arn, identity.account_id).apply(
                lambda v: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Effect": "Allow",
                                "Principal": {"Service": "codebuild.amazonaws.com"},
                                "Action": "sts:AssumeRole",
                                # Only this project may use the role (confused deputy).
                                "Condition": {
                                    "StringEquals": {"aws:SourceAccount": v[1]},
                                    "ArnEquals": {"aws:SourceArn": v[0]},
                                },
                            }
                        ],
                    }
                )
            ),
            opts=aws_opts,
        )
        subnet_arns = pulumi.Output.all(identity.account_id, *args.subnet_ids).apply(
            lambda v: [f"arn:aws:ec2:{args.region}:{v[0]}:subnet/{s}" for s in v[1:]]
        )
        aws.iam.RolePolicy(
            name,
            role=self.role.id,
            policy=pulumi.Output.all(self.log_group.arn, subnet_arns).apply(
                lambda v: json.dumps(
                    {
                        "Version": "2012-10-17",
                        "Statement": [
                            {
                                "Sid": "OwnLogs",
                                "Effect": "Allow",
                                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                                "Resource": [v[0], f"{v[0]}:*"],
                            },
                            {
                                # What CodeBuild needs to attach a build to the VPC.
                                "Sid": "VpcInterfaces",
                                "Effect": "Allow",
                                "Action": [
                                    "ec2:CreateNetworkInterface",
                                    "ec2:DeleteNetworkInterface",
                                    "ec2:DescribeDhcpOptions",
                                    "ec2:DescribeNetworkInterfaces",
                                    "ec2:DescribeSecurityGroups",
                                    "ec2:DescribeSubnets",
                                    "ec2:DescribeVpcs",
                                ],
                                "Resource": "*",
                            },
                            {
                                "Sid": "VpcInterfacesInTheseSubnets",
                                "Effect": "Allow",
                                "Action": "ec2:CreateNetworkInterfacePermission",
                                "Resource": f"arn:aws:ec2:{args.region}:*:network-interface/*",
                                "Condition": {
                                    "StringEquals": {
                                        "ec2:AuthorizedService": "codebuild.amazonaws.com"
                                    },
                                    "ArnEquals": {"ec2:Subnet": v[1]},
                                },
                            },
                            {
                                "Sid": "GitHubConnection",
                                "Effect": "Allow",
                                "Action": [
                                    "codeconnections:GetConnection",
                                    "codeconnections:GetConnectionToken",
                                    "codeconnections:UseConnection",
                                    "codestar-connections:GetConnection",
                                    "codestar-connections:GetConnectionToken",
                                    "codestar-connections:UseConnection",
                                ],
                                "Resource": config.connection_arn,
                            },
                        ],
                    }
                )
            ),
            opts=pulumi.ResourceOptions(parent=self.role, provider=args.provider),
        )

        self.project = aws.codebuild.Project(
            name,
            name=args.project_name,
            description="GitHub Actions runner in the management subnets (see README, CI)",
            service_role=self.role.arn,
            build_timeout=BUILD_TIMEOUT_MINUTES,
            artifacts=aws.codebuild.ProjectArtifactsArgs(type="NO_ARTIFACTS"),
            source=aws.codebuild.ProjectSourceArgs(
                type="GITHUB",
                location=f"https://github.com/{config.repository}.git",
                auth=aws.codebuild.ProjectSourceAuthArgs(
                    type="CODECONNECTIONS", resource=config.connection_arn
                ),
            ),
            environment=aws.codebuild.ProjectEnvironmentArgs(
                type="LINUX_CONTAINER",
                compute_type=config.compute_type,
                image=RUNNER_IMAGE,
                image_pull_credentials_type="CODEBUILD",
                privileged_mode=False,
            ),
            vpc_config=aws.codebuild.ProjectVpcConfigArgs(
                vpc_id=args.vpc_id,
                subnets=list(args.subnet_ids),
                security_group_ids=[self.security_group.id],
            ),
            logs_config=aws.codebuild.ProjectLogsConfigArgs(
                cloudwatch_logs=aws.codebuild.ProjectLogsConfigCloudwatchLogsArgs(
                    status="ENABLED", group_name=self.log_group.name
                ),
                s3_logs=aws.codebuild.ProjectLogsConfigS3LogsArgs(status="DISABLED"),
            ),
            encryption_key=args.logs_key_arn,
            opts=aws_opts,
        )
        self.webhook = aws.codebuild.Webhook(
            name,
            project_name=self.project.name,
            build_type="BUILD",
            filter_groups=[
                aws.codebuild.WebhookFilterGroupArgs(
                    filters=[
                        aws.codebuild.WebhookFilterGroupFilterArgs(
                            type="EVENT", pattern="WORKFLOW_JOB_QUEUED"
                        ),
                        aws.codebuild.WebhookFilterGroupFilterArgs(
                            type="WORKFLOW_NAME",
                            pattern=webhook_workflow_pattern(config.workflows),
                        ),
                    ]
                )
            ],
            pull_request_build_policy=aws.codebuild.WebhookPullRequestBuildPolicyArgs(
                requires_comment_approval="FORK_PULL_REQUESTS",
                approver_roles=["GITHUB_ADMIN", "GITHUB_MAINTAIN"],
            ),
            opts=pulumi.ResourceOptions(parent=self.project, provider=args.provider),
        )
        self.register_outputs({"projectName": self.project.name})
