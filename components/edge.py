"""The public edge on AWS: who may call the platform, how often, and what it left in the logs.

* **Identity**: a Cognito user pool, its hosted-UI domain and an app client the ALB signs
  browser users in with (authorization-code flow, client secret, callback
  `https://<domain>/oauth2/idpresponse`), or an external OIDC issuer from config.
* **WAFv2 WebACL** (regional): AWS managed rule groups for common exploits, known bad
  inputs and IP reputation, plus a rate-based rule per client IP. The common group's
  8 KB body rule only counts (uploads are larger; the backend caps bodies itself).
* **Access logs**: an S3 bucket with SSE-S3 (ALB log delivery cannot use KMS keys), all
  public access blocked, owner-enforced objects, TLS-only, a lifecycle that expires logs,
  and a policy that lets only ALB log delivery write under its prefix.

The ALB itself is still made by the AWS Load Balancer Controller from the Ingresses; this
component's outputs reach it through annotations (`alb_edge_annotations`). See the
README ("The public edge") for why annotations rather than a program-created ALB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from stacks.config import EdgeConfig

ACCESS_LOG_PREFIX = "alb"
ANNOTATION_PREFIX = "alb.ingress.kubernetes.io"
# AWS managed rule groups, in evaluation order (cheap IP list first).
MANAGED_RULE_GROUPS = (
    "AWSManagedRulesAmazonIpReputationList",
    "AWSManagedRulesKnownBadInputsRuleSet",
    "AWSManagedRulesCommonRuleSet",
)
# Common rule set rules that only count: bodies above 8 KB are legitimate uploads here.
COUNT_ONLY_RULES = {"AWSManagedRulesCommonRuleSet": ("SizeRestrictions_BODY",)}
# What the backend accepts: access tokens, short-lived.
ACCESS_TOKEN_MINUTES = 60


@dataclass(frozen=True)
class EdgeArgs:
    config: EdgeConfig
    domain: str
    region: str
    # Names: <prefix>-... (the stack's naming prefix), unique per stack.
    prefix: str
    protect: bool
    provider: aws.Provider | None


@dataclass(frozen=True)
class BrowserAuth:
    """What the ALB authenticates browser users with, as annotation values."""

    auth_type: str  # cognito | oidc
    idp: pulumi.Output[str]  # the auth-idp-<type> JSON


class PublicEdge(pulumi.ComponentResource):
    def __init__(self, name: str, args: EdgeArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sutazai:edge:PublicEdge", name, None, opts)
        self._name = name
        self.args = args
        child = pulumi.ResourceOptions(parent=self, provider=args.provider)
        self.web_acl = self._web_acl(child)
        self.logs_bucket = self._access_logs(child)
        self.user_pool: aws.cognito.UserPool | None = None
        self.app_client: aws.cognito.UserPoolClient | None = None
        self.browser_auth = self._identity(child)
        self.register_outputs(
            {
                "webAclArn": self.web_acl.arn,
                "accessLogsBucket": self.logs_bucket.bucket,
                "issuer": self.issuer,
            }
        )

    # ── WAF ──────────────────────────────────────────────────────────────────────────────

    def _rule_visibility(self, metric: str) -> aws.wafv2.WebAclRuleVisibilityConfigArgs:
        return aws.wafv2.WebAclRuleVisibilityConfigArgs(
            cloudwatch_metrics_enabled=True, metric_name=metric, sampled_requests_enabled=True
        )

    def _web_acl(self, opts: pulumi.ResourceOptions) -> aws.wafv2.WebAcl:
        prefix = self.args.prefix
        rules: list[aws.wafv2.WebAclRuleArgs] = [
            aws.wafv2.WebAclRuleArgs(
                name="rate-per-client-ip",
                priority=0,
                action=aws.wafv2.WebAclRuleActionArgs(block=aws.wafv2.WebAclRuleActionBlockArgs()),
                statement=aws.wafv2.WebAclRuleStatementArgs(
                    rate_based_statement=aws.wafv2.WebAclRuleStatementRateBasedStatementArgs(
                        aggregate_key_type="IP",
                        limit=self.args.config.waf_rate_limit,
                        evaluation_window_sec=300,
                    )
                ),
                visibility_config=self._rule_visibility(f"{prefix}-rate-per-client-ip"),
            )
        ]
        for priority, group in enumerate(MANAGED_RULE_GROUPS, start=1):
            overrides = [
                aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideArgs(
                    name=rule,
                    action_to_use=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseArgs(
                        count=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementRuleActionOverrideActionToUseCountArgs()
                    ),
                )
                for rule in COUNT_ONLY_RULES.get(group, ())
            ]
            rules.append(
                aws.wafv2.WebAclRuleArgs(
                    name=group,
                    priority=priority,
                    override_action=aws.wafv2.WebAclRuleOverrideActionArgs(
                        none=aws.wafv2.WebAclRuleOverrideActionNoneArgs()
                    ),
                    statement=aws.wafv2.WebAclRuleStatementArgs(
                        managed_rule_group_statement=aws.wafv2.WebAclRuleStatementManagedRuleGroupStatementArgs(
                            vendor_name="AWS", name=group, rule_action_overrides=overrides or None
                        )
                    ),
                    visibility_config=self._rule_visibility(f"{prefix}-{group}"),
                )
            )
        return aws.wafv2.WebAcl(
            f"{self._name}-waf",
            name=f"{prefix}-edge",
            description="SutazAI public edge: managed rules and a per-IP rate limit",
            scope="REGIONAL",
            default_action=aws.wafv2.WebAclDefaultActionArgs(
                allow=aws.wafv2.WebAclDefaultActionAllowArgs()
            ),
            rules=rules,
            visibility_config=aws.wafv2.WebAclVisibilityConfigArgs(
                cloudwatch_metrics_enabled=True,
                metric_name=f"{prefix}-edge",
                sampled_requests_enabled=True,
            ),
            opts=opts,
        )

    # ── access logs ──────────────────────────────────────────────────────────────────────

    def _access_logs(self, opts: pulumi.ResourceOptions) -> aws.s3.Bucket:
        stateful = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(protect=self.args.protect)
        )
        bucket = aws.s3.Bucket(
            f"{self._name}-access-logs",
            bucket_prefix=f"{self.args.prefix}-alb-logs-"[:37],
            force_destroy=not self.args.protect,
            opts=stateful,
        )
        on_bucket = pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(parent=bucket))
        aws.s3.BucketServerSideEncryptionConfiguration(
            f"{self._name}-access-logs-sse",
            bucket=bucket.id,
            # SSE-S3: ALB access log delivery does not support SSE-KMS.
            rules=[
                aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                    apply_server_side_encryption_by_default=aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs(
                        sse_algorithm="AES256"
                    )
                )
            ],
            opts=on_bucket,
        )
        public_access = aws.s3.BucketPublicAccessBlock(
            f"{self._name}-access-logs-public-access",
            bucket=bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=on_bucket,
        )
        aws.s3.BucketOwnershipControls(
            f"{self._name}-access-logs-ownership",
            bucket=bucket.id,
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=on_bucket,
        )
        aws.s3.BucketLifecycleConfiguration(
            f"{self._name}-access-logs-lifecycle",
            bucket=bucket.id,
            rules=[
                aws.s3.BucketLifecycleConfigurationRuleArgs(
                    id="expire-access-logs",
                    status="Enabled",
                    filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(prefix=""),
                    expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(
                        days=self.args.config.access_log_retention_days
                    ),
                    abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
                        days_after_initiation=1
                    ),
                )
            ],
            opts=on_bucket,
        )
        # Older regions deliver from the regional ELB account, newer ones from the service.
        elb_account = aws.elb.get_service_account_output(
            region=self.args.region, opts=pulumi.InvokeOutputOptions(provider=self.args.provider)
        )
        identity = aws.get_caller_identity_output(
            opts=pulumi.InvokeOutputOptions(provider=self.args.provider)
        )
        policy = pulumi.Output.all(bucket.arn, elb_account.arn, identity.account_id).apply(
            lambda v: json.dumps(access_log_bucket_policy(v[0], v[1], v[2]))
        )
        aws.s3.BucketPolicy(
            f"{self._name}-access-logs-policy",
            bucket=bucket.id,
            policy=policy,
            # A bucket policy can only be put once public policies are blocked.
            opts=pulumi.ResourceOptions.merge(
                on_bucket, pulumi.ResourceOptions(depends_on=[public_access])
            ),
        )
        return bucket

    # ── identity ─────────────────────────────────────────────────────────────────────────

    def _identity(self, opts: pulumi.ResourceOptions) -> BrowserAuth | None:
        config = self.args.config
        idp = config.identity_provider
        if config.authentication == "off":
            self.issuer: pulumi.Output[str] | str = ""
            self.jwks_url: pulumi.Output[str] | str = ""
            self.audiences: pulumi.Output[list[str]] | list[str] = []
            return None
        if idp.kind == "oidc":
            self.issuer = idp.issuer
            self.jwks_url = idp.jwks_url
            self.audiences = list(idp.audiences)
            return BrowserAuth(
                "oidc",
                pulumi.Output.from_input(
                    json.dumps(
                        {
                            "issuer": idp.issuer,
                            "authorizationEndpoint": idp.authorization_endpoint,
                            "tokenEndpoint": idp.token_endpoint,
                            "userInfoEndpoint": idp.user_info_endpoint,
                            "secretName": idp.client_secret_name,
                        }
                    )
                ),
            )
        stateful = pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(protect=self.args.protect)
        )
        pool = aws.cognito.UserPool(
            f"{self._name}-users",
            name=f"{self.args.prefix}-users",
            # Users are invited by an administrator; nobody signs themselves up.
            admin_create_user_config=aws.cognito.UserPoolAdminCreateUserConfigArgs(
                allow_admin_create_user_only=True
            ),
            username_attributes=["email"],
            auto_verified_attributes=["email"],
            mfa_configuration="OPTIONAL",
            software_token_mfa_configuration=aws.cognito.UserPoolSoftwareTokenMfaConfigurationArgs(
                enabled=True
            ),
            password_policy=aws.cognito.UserPoolPasswordPolicyArgs(
                minimum_length=14,
                require_lowercase=True,
                require_uppercase=True,
                require_numbers=True,
                require_symbols=True,
                temporary_password_validity_days=3,
            ),
            account_recovery_setting=aws.cognito.UserPoolAccountRecoverySettingArgs(
                recovery_mechanisms=[
                    aws.cognito.UserPoolAccountRecoverySettingRecoveryMechanismArgs(
                        name="verified_email", priority=1
                    )
                ]
            ),
            deletion_protection="ACTIVE" if self.args.protect else "INACTIVE",
            opts=stateful,
        )
        domain = aws.cognito.UserPoolDomain(
            f"{self._name}-users-domain",
            domain=f"{self.args.prefix}-{_domain_slug(self.args.domain)}"[:63],
            user_pool_id=pool.id,
            opts=opts,
        )
        client = aws.cognito.UserPoolClient(
            f"{self._name}-alb-client",
            name=f"{self.args.prefix}-alb",
            user_pool_id=pool.id,
            generate_secret=True,  # the ALB is a confidential client
            allowed_oauth_flows_user_pool_client=True,
            allowed_oauth_flows=["code"],
            allowed_oauth_scopes=["openid", "email"],
            supported_identity_providers=["COGNITO"],
            callback_urls=[f"https://{self.args.domain}/oauth2/idpresponse"],
            logout_urls=[f"https://{self.args.domain}/"],
            explicit_auth_flows=["ALLOW_REFRESH_TOKEN_AUTH"],
            prevent_user_existence_errors="ENABLED",
            enable_token_revocation=True,
            access_token_validity=ACCESS_TOKEN_MINUTES,
            id_token_validity=ACCESS_TOKEN_MINUTES,
            refresh_token_validity=12,
            token_validity_units=aws.cognito.UserPoolClientTokenValidityUnitsArgs(
                access_token="minutes", id_token="minutes", refresh_token="hours"
            ),
            opts=opts,
        )
        self.user_pool, self.app_client = pool, client
        self.issuer = pool.id.apply(
            lambda pool_id: f"https://cognito-idp.{self.args.region}.amazonaws.com/{pool_id}"
        )
        self.jwks_url = pulumi.Output.concat(self.issuer, "/.well-known/jwks.json")
        self.audiences = client.id.apply(lambda cid: [cid])
        return BrowserAuth(
            "cognito",
            pulumi.Output.all(pool.arn, client.id, domain.domain).apply(
                lambda v: json.dumps(
                    {"userPoolARN": v[0], "userPoolClientID": v[1], "userPoolDomain": v[2]}
                )
            ),
        )

    # ── what the backend trusts ─────────────────────────────────────────────────────────

    def backend_issuer(self) -> pulumi.Output[dict[str, object]] | None:
        """The AUTH_ISSUERS entry for the users' identity provider (None: auth is off)."""
        if self.browser_auth is None:
            return None
        kind = self.browser_auth.auth_type
        return pulumi.Output.all(self.issuer, self.jwks_url, self.audiences).apply(
            lambda v: {
                "kind": kind,
                "issuer": v[0],
                "jwks_url": v[1],
                # Cognito access tokens carry no aud: the app client is in client_id.
                ("client_ids" if kind == "cognito" else "audiences"): list(v[2]),
            }
        )


def _domain_slug(domain: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in domain.lower()).strip("-")


def access_log_bucket_policy(bucket_arn: str, elb_account_arn: str, account_id: str) -> dict:
    """ALB log delivery may only put objects under <prefix>/AWSLogs/<account>/; nothing
    may reach the bucket without TLS."""
    logs = f"{bucket_arn}/{ACCESS_LOG_PREFIX}/AWSLogs/{account_id}/*"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AlbLogDelivery",
                "Effect": "Allow",
                "Principal": {
                    "AWS": elb_account_arn,
                    "Service": "logdelivery.elasticloadbalancing.amazonaws.com",
                },
                "Action": "s3:PutObject",
                "Resource": logs,
            },
            {
                "Sid": "TlsOnly",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def alb_edge_annotations(
    edge: PublicEdge, *, browser: bool, operational_paths: list[str]
) -> dict[str, pulumi.Input[str]]:
    """What an Ingress needs for the edge: the WebACL and access logs on its ALB (shared by
    the stack's ingress group), ALB authentication when it serves the browser UI, and a
    404 for operational paths (metrics, probes) so they never leave the cluster."""
    annotations: dict[str, pulumi.Input[str]] = {
        f"{ANNOTATION_PREFIX}/wafv2-acl-arn": edge.web_acl.arn,
    }
    if browser and edge.browser_auth is not None:
        auth = edge.browser_auth
        annotations |= {
            f"{ANNOTATION_PREFIX}/auth-type": auth.auth_type,
            f"{ANNOTATION_PREFIX}/auth-idp-{auth.auth_type}": auth.idp,
            f"{ANNOTATION_PREFIX}/auth-on-unauthenticated-request": "authenticate",
            f"{ANNOTATION_PREFIX}/auth-scope": "openid email",
            # No longer than the access token the ALB forwards (the backend verifies its
            # expiry): past it, the ALB signs the user in again (silently at the IdP).
            f"{ANNOTATION_PREFIX}/auth-session-timeout": str(ACCESS_TOKEN_MINUTES * 60),
        }
    if operational_paths:
        annotations[f"{ANNOTATION_PREFIX}/actions.{OPERATIONAL_ACTION}"] = json.dumps(
            {
                "type": "fixed-response",
                "fixedResponseConfig": {
                    "contentType": "text/plain",
                    "statusCode": "404",
                    "messageBody": "not found",
                },
            }
        )
    return annotations


# The Ingress backend name that selects the fixed-response action above.
OPERATIONAL_ACTION = "operational-not-public"


def access_log_attributes(edge: PublicEdge) -> pulumi.Output[list[str]]:
    return edge.logs_bucket.bucket.apply(
        lambda name: [
            "access_logs.s3.enabled=true",
            f"access_logs.s3.bucket={name}",
            f"access_logs.s3.prefix={ACCESS_LOG_PREFIX}",
        ]
    )
