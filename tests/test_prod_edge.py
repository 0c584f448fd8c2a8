"""The public edge in the offline prod plan: the WAF, ALB authentication on the browser UI,
the access-log bucket, operational paths kept off the ALB, the backend's issuers and
limits; and the edge's config checks."""

from __future__ import annotations

import json
from typing import Any

import pytest

from stacks.config import parse_config_bag
from stacks.errors import ConfigError
from stacks.plan import stack_config_bag

A = "alb.ingress.kubernetes.io"
INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"


def of_type(plan: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    """The edge's resources of a type (not the application snapshots' bucket and its parts,
    components/backup.py)."""
    return [r for r in plan["resources"] if r["type"] == type_ and "app-backups" not in r["name"]]


def ingresses(plan: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        r["inputs"]["metadata"]["labels"]["app.kubernetes.io/name"]: r
        for r in of_type(plan, INGRESS)
    }


def test_the_waf_has_the_managed_groups_and_a_per_ip_rate_rule(
    prod_plan_json: dict[str, Any],
) -> None:
    [acl] = of_type(prod_plan_json, "aws:wafv2/webAcl:WebAcl")
    inputs = acl["inputs"]
    assert inputs["scope"] == "REGIONAL" and "allow" in inputs["defaultAction"]
    rules = {r["name"]: r for r in inputs["rules"]}
    groups = {
        r["statement"]["managedRuleGroupStatement"]["name"]
        for r in rules.values()
        if "managedRuleGroupStatement" in r["statement"]
    }
    assert groups == {
        "AWSManagedRulesCommonRuleSet",
        "AWSManagedRulesKnownBadInputsRuleSet",
        "AWSManagedRulesAmazonIpReputationList",
    }
    rate = rules["rate-per-client-ip"]
    assert rate["statement"]["rateBasedStatement"]["aggregateKeyType"] == "IP"
    assert rate["statement"]["rateBasedStatement"]["limit"] == 2000
    assert "block" in rate["action"]
    # Only the body-size rule is relaxed (uploads), and only to count.
    common = rules["AWSManagedRulesCommonRuleSet"]["statement"]["managedRuleGroupStatement"]
    assert common["ruleActionOverrides"] == [
        {"name": "SizeRestrictions_BODY", "actionToUse": {"count": {}}}
    ]
    # Every Ingress of the stack's ALB points at it.
    for ingress in ingresses(prod_plan_json).values():
        assert ingress["inputs"]["metadata"]["annotations"][f"{A}/wafv2-acl-arn"].startswith(
            "arn:aws:wafv2:"
        )


def test_the_browser_ui_sits_behind_alb_authentication(prod_plan_json: dict[str, Any]) -> None:
    by_service = ingresses(prod_plan_json)
    frontend = by_service["frontend"]["inputs"]["metadata"]["annotations"]
    assert frontend[f"{A}/auth-type"] == "cognito"
    assert frontend[f"{A}/auth-on-unauthenticated-request"] == "authenticate"
    idp = json.loads(frontend[f"{A}/auth-idp-cognito"])
    assert idp["userPoolARN"].startswith("arn:aws:cognito-idp:")
    assert idp["userPoolClientID"] and idp["userPoolDomain"]
    # The API verifies bearer tokens itself: no login redirect on it.
    assert f"{A}/auth-type" not in by_service["backend"]["inputs"]["metadata"]["annotations"]
    [client] = of_type(prod_plan_json, "aws:cognito/userPoolClient:UserPoolClient")
    assert client["inputs"]["generateSecret"] is True
    assert client["inputs"]["allowedOauthFlows"] == ["code"]
    assert client["inputs"]["callbackUrls"] == ["https://sutazai.example.com/oauth2/idpresponse"]
    [pool] = of_type(prod_plan_json, "aws:cognito/userPool:UserPool")
    assert pool["inputs"]["adminCreateUserConfig"]["allowAdminCreateUserOnly"] is True
    assert pool["protect"] is True


def test_access_logs_go_to_an_sse_s3_bucket(prod_plan_json: dict[str, Any]) -> None:
    [bucket] = of_type(prod_plan_json, "aws:s3/bucket:Bucket")
    assert bucket["protect"] is True and bucket["inputs"]["forceDestroy"] is False
    [sse] = of_type(
        prod_plan_json,
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
    )
    rule = sse["inputs"]["rules"][0]["applyServerSideEncryptionByDefault"]
    assert rule == {"sseAlgorithm": "AES256"}  # ALB log delivery cannot use KMS
    [block] = of_type(prod_plan_json, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    flags = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    assert all(block["inputs"][f] is True for f in flags)
    [lifecycle] = of_type(
        prod_plan_json, "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration"
    )
    assert lifecycle["inputs"]["rules"][0]["expiration"]["days"] == 90
    [policy] = of_type(prod_plan_json, "aws:s3/bucketPolicy:BucketPolicy")
    statements = {s["Sid"]: s for s in json.loads(policy["inputs"]["policy"])["Statement"]}
    delivery = statements["AlbLogDelivery"]
    assert delivery["Action"] == "s3:PutObject" and "/alb/AWSLogs/" in delivery["Resource"]
    assert statements["TlsOnly"]["Effect"] == "Deny"
    for ingress in ingresses(prod_plan_json).values():
        attributes = ingress["inputs"]["metadata"]["annotations"][f"{A}/load-balancer-attributes"]
        assert "access_logs.s3.enabled=true" in attributes
        assert f"access_logs.s3.bucket={bucket['inputs']['bucketPrefix']}" in attributes


def test_operational_paths_never_reach_a_pod_through_the_alb(
    prod_plan_json: dict[str, Any],
) -> None:
    for name, ingress in ingresses(prod_plan_json).items():
        paths = ingress["inputs"]["spec"]["rules"][0]["http"]["paths"]
        hidden = [
            p["path"]
            for p in paths
            if p["backend"]["service"]["port"] == {"name": "use-annotation"}
        ]
        assert {"/metrics", "/health", "/ready"} <= set(hidden), name
        assert paths[-1]["path"] == "/", "the catch-all comes after the hidden paths"
        action = json.loads(
            ingress["inputs"]["metadata"]["annotations"][f"{A}/actions.operational-not-public"]
        )
        assert action["fixedResponseConfig"]["statusCode"] == "404"


def test_the_backend_trusts_the_user_pool_and_enforces_the_limits(
    prod_plan_json: dict[str, Any],
) -> None:
    [backend] = [
        r
        for r in of_type(prod_plan_json, "kubernetes:apps/v1:Deployment")
        if r["inputs"]["metadata"]["name"] == "backend"
    ]
    env = {
        e["name"]: e.get("value")
        for e in backend["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"]
    }
    issuers = {i["kind"]: i for i in json.loads(env["AUTH_ISSUERS"])}
    assert set(issuers) == {"cognito", "kubernetes"}  # users, and workloads
    issuer = issuers["cognito"]
    assert issuer["client_ids"]
    assert issuer["issuer"].startswith("https://cognito-idp.us-east-1.amazonaws.com/")
    assert issuer["jwks_url"] == issuer["issuer"] + "/.well-known/jwks.json"
    assert env["SUTAZAI_ENVIRONMENT"] == "prod" and "AUTH_DISABLED" not in env
    assert env["RATE_LIMIT_CHAT"] == "20/minute" and env["MAX_BODY_BYTES"] == str(64 * 1024)


PROD = {
    "sutazai:environment": "prod",
    "sutazai:vaultCidrs": '["10.30.8.0/24"]',
    "sutazai:vaultRouteTarget": "tgw-0a1b2c3d4e5f60718",
    "sutazai:policyEnforcement": "mandatory",
}


@pytest.mark.parametrize(
    ("bag", "named"),
    [
        ({**PROD, "sutazai:edge": '{"authentication": "off"}'}, "sutazai:edge.authentication"),
        (
            {"sutazai:environment": "dev", "sutazai:platform": "docker", "sutazai:edge": "{}"},
            "sutazai:edge.authentication: on docker",
        ),
        (
            {"sutazai:edge": '{"identityProvider": {"kind": "oidc", "issuer": "https://i"}}'},
            "needs authorizationEndpoint, tokenEndpoint, userInfoEndpoint, jwksUrl",
        ),
        (
            {"sutazai:edge": '{"identityProvider": {"kind": "oidc", "issuer": "http://i"}}'},
            "sutazai:edge.identityProvider.issuer",
        ),
        (
            {
                "sutazai:environment": "dev",
                "sutazai:edge": '{"identityProvider": {"kind": "local"}}',
            },
            "sutazai:edge.identityProvider.kind: local (the dev issuer) runs on docker",
        ),
        (
            {
                **stack_config_bag("prod")[0],
                "sutazai:edge": '{"identityProvider": {"kind": "local"}}',
            },
            "sutazai:edge.identityProvider.kind",
        ),
        ({"sutazai:edge": '{"wafRateLimit": 10}'}, "sutazai:edge.wafRateLimit"),
        ({"sutazai:edge": '{"chatRateLimit": "lots"}'}, "sutazai:edge.chatRateLimit"),
        ({"sutazai:edge": '{"authenticaton": "off"}'}, "sutazai:edge.authenticaton"),
        ({"sutazai:edge": '{"authentication": false}'}, "sutazai:edge.authentication"),
    ],
)
def test_edge_config_mistakes_name_the_key(bag: dict[str, str], named: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config_bag(bag)
    assert named in str(caught.value)


def test_docker_with_an_oidc_issuer_verifies_its_tokens() -> None:
    oidc = {
        "kind": "oidc",
        "issuer": "https://idp.example.com",
        "authorizationEndpoint": "https://idp.example.com/a",
        "tokenEndpoint": "https://idp.example.com/t",
        "userInfoEndpoint": "https://idp.example.com/u",
        "jwksUrl": "https://idp.example.com/jwks",
        "audiences": ["sutazai"],
        "clientSecretName": "oidc-client",
    }
    config = parse_config_bag(
        {
            "sutazai:environment": "dev",
            "sutazai:platform": "docker",
            "sutazai:edge": json.dumps({"identityProvider": oidc}),
        }
    )
    from components.platform import oidc_issuers

    assert oidc_issuers(config) == [
        {
            "kind": "oidc",
            "issuer": "https://idp.example.com",
            "jwks_url": "https://idp.example.com/jwks",
            "audiences": ["sutazai"],
        }
    ]


def _deployment(plan: dict[str, Any], name: str) -> dict[str, Any]:
    [found] = [
        r
        for r in of_type(plan, "kubernetes:apps/v1:Deployment")
        if r["inputs"]["metadata"]["name"] == name
    ]
    return found["inputs"]["spec"]["template"]["spec"]


def test_agents_call_the_backend_with_their_own_projected_token(
    prod_plan_json: dict[str, Any], catalog: Any
) -> None:
    callers = [
        s.name for s in catalog if "backend" in s.talks_to and not s.ingress and s.build is not None
    ]
    assert {"autogpt", "mcp-server"} <= set(callers)
    for name in callers:
        pod = _deployment(prod_plan_json, name)
        [volume] = [v for v in pod["volumes"] if v["name"] == "workload-identity"]
        tokens = [
            s["serviceAccountToken"]
            for s in volume["projected"]["sources"]
            if "serviceAccountToken" in s
        ]
        assert tokens == [
            {"audience": "sutazai-backend", "path": "backend-token", "expirationSeconds": 3600.0}
        ], name
        env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
        assert env["BACKEND_TOKEN_FILE"] == "/var/run/secrets/sutazai/backend-token", name
        assert pod["automountServiceAccountToken"] is False, name  # only the audience-bound one
    # The browser UI forwards its users' tokens; it has no workload token for the API.
    frontend = _deployment(prod_plan_json, "frontend")
    assert all(v["name"] != "workload-identity" for v in frontend["volumes"])


def test_the_backend_verifies_workload_tokens_with_the_clusters_own_jwks(
    prod_plan_json: dict[str, Any],
) -> None:
    pod = _deployment(prod_plan_json, "backend")
    env = {e["name"]: e.get("value") for e in pod["containers"][0]["env"]}
    workload = next(i for i in json.loads(env["AUTH_ISSUERS"]) if i["kind"] == "kubernetes")
    assert workload["audiences"] == ["sutazai-backend"]
    assert workload["jwks_url"] == "https://kubernetes.default.svc/openid/v1/jwks"
    assert workload["issuer"].startswith("https://oidc.eks.")
    [volume] = [v for v in pod["volumes"] if v["name"] == "workload-identity"]
    paths = {
        s.get("serviceAccountToken", {}).get("path") or s["configMap"]["items"][0]["path"]
        for s in volume["projected"]["sources"]
    }
    assert paths == {"kube-api-token", "ca.crt"}
    assert workload["token_file"].endswith("/kube-api-token")
    assert workload["ca_file"].endswith("/ca.crt")
    # Its NetworkPolicy lets it reach the API server (and no more than before otherwise).
    [policy] = [
        r
        for r in of_type(prod_plan_json, "kubernetes:networking.k8s.io/v1:NetworkPolicy")
        if r["inputs"]["metadata"]["name"] == "backend"
    ]
    egress = policy["inputs"]["spec"]["egress"]
    assert {
        "ports": [{"protocol": "TCP", "port": 443.0}],
        "to": [{"ipBlock": {"cidr": "172.20.0.1/32"}}],
    } in egress
