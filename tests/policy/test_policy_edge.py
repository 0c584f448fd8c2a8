"""The public-edge rules (policies/sutazai_policies/edge.py), called directly: the
program's own Ingress shape passes, and every way around WAF or authentication is caught."""

from __future__ import annotations

import json
from typing import Any

import pytest

from .harness import UNKNOWN, Mutation, StackItem, check, check_stack, delp, mutated, setp

INGRESS = "kubernetes:networking.k8s.io/v1:Ingress"
SERVICE = "kubernetes:core/v1:Service"
LB = "aws:lb/loadBalancer:LoadBalancer"
ASSOCIATION = "aws:wafv2/webAclAssociation:WebAclAssociation"
WAF = "edge-public-waf"
AUTH = "edge-browser-authentication"
A = "alb.ingress.kubernetes.io"
WEB_ACL = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/sutazai-prod-edge/0a1b-2c3d"
POOL = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf"
ANN = ("metadata", "annotations")


def both(first: Mutation, second: Mutation) -> Mutation:
    def apply(d: dict[str, Any]) -> None:
        first(d)
        second(d)

    return apply


def browser_ingress() -> dict[str, Any]:
    """What components/edge.py puts on the frontend's Ingress."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {
            "name": "frontend",
            "namespace": "sutazai-core",
            "annotations": {
                f"{A}/scheme": "internet-facing",
                f"{A}/wafv2-acl-arn": WEB_ACL,
                f"{A}/auth-type": "cognito",
                f"{A}/auth-idp-cognito": json.dumps(
                    {"userPoolARN": POOL, "userPoolClientID": "abc123", "userPoolDomain": "d"}
                ),
                f"{A}/auth-on-unauthenticated-request": "authenticate",
            },
        },
        "spec": {"ingressClassName": "alb", "rules": [{"host": "sutazai.example.com"}]},
    }


def oidc_ingress() -> dict[str, Any]:
    ingress = browser_ingress()
    annotations = ingress["metadata"]["annotations"]
    del annotations[f"{A}/auth-idp-cognito"]
    annotations[f"{A}/auth-type"] = "oidc"
    annotations[f"{A}/auth-idp-oidc"] = json.dumps(
        {
            "issuer": "https://idp.example.com",
            "authorizationEndpoint": "https://idp.example.com/authorize",
            "tokenEndpoint": "https://idp.example.com/token",
            "userInfoEndpoint": "https://idp.example.com/userinfo",
            "secretName": "oidc-client",
        }
    )
    return ingress


def test_the_programs_shapes_pass() -> None:
    for ingress in (browser_ingress(), oidc_ingress()):
        assert check(WAF, INGRESS, ingress) == []
        assert check(AUTH, INGRESS, ingress) == []


def test_computed_values_during_preview_pass() -> None:
    ingress = mutated(
        browser_ingress(),
        setp((*ANN, f"{A}/wafv2-acl-arn"), UNKNOWN),
        setp((*ANN, f"{A}/auth-idp-cognito"), UNKNOWN),
    )
    assert check(WAF, INGRESS, ingress) == []
    assert check(AUTH, INGRESS, ingress) == []


WAF_BYPASSES: list[tuple[str, Mutation]] = [
    ("no waf", delp((*ANN, f"{A}/wafv2-acl-arn"))),
    ("empty waf", setp((*ANN, f"{A}/wafv2-acl-arn"), "")),
    ("waf none", setp((*ANN, f"{A}/wafv2-acl-arn"), "none")),
    ("classic waf id", setp((*ANN, f"{A}/wafv2-acl-arn"), "0123-abcd")),
    (
        "global (cloudfront) acl",
        setp((*ANN, f"{A}/wafv2-acl-arn"), WEB_ACL.replace("regional", "global")),
    ),
    ("not a wafv2 arn", setp((*ANN, f"{A}/wafv2-acl-arn"), POOL)),
    (
        "key in other case",
        lambda d: d["metadata"]["annotations"].update(
            {f"{A}/WAFv2-ACL-ARN": d["metadata"]["annotations"].pop(f"{A}/wafv2-acl-arn")}
        ),
    ),
    (
        "key on the wrong prefix",
        lambda d: d["metadata"]["annotations"].update(
            {
                "alb.ingress.k8s.aws/wafv2-acl-arn": d["metadata"]["annotations"].pop(
                    f"{A}/wafv2-acl-arn"
                )
            }
        ),
    ),
    (
        "waf on labels instead",
        lambda d: d["metadata"].update(
            labels={"waf": d["metadata"]["annotations"].pop(f"{A}/wafv2-acl-arn")}
        ),
    ),
    ("no annotations at all", delp(ANN)),
]
# Still public: whatever does not provably make an internal ALB.
SCHEME_VARIANTS: list[tuple[str, Mutation]] = [
    ("scheme missing (IngressClassParams may make it public)", delp((*ANN, f"{A}/scheme"))),
    ("scheme computed", setp((*ANN, f"{A}/scheme"), UNKNOWN)),
    ("scheme Internal (wrong case)", setp((*ANN, f"{A}/scheme"), "Internal")),
    (
        "internal on another class",
        both(setp((*ANN, f"{A}/scheme"), "internal"), setp(("spec", "ingressClassName"), "nginx")),
    ),
    (
        "internal without any class",
        both(setp((*ANN, f"{A}/scheme"), "internal"), delp(("spec", "ingressClassName"))),
    ),
]


@pytest.mark.parametrize(
    "mutations",
    [[m] for _, m in WAF_BYPASSES]
    + [[s, delp((*ANN, f"{A}/wafv2-acl-arn"))] for _, s in SCHEME_VARIANTS],
    ids=[n for n, _ in WAF_BYPASSES] + [f"{n}, no waf" for n, _ in SCHEME_VARIANTS],
)
def test_a_public_ingress_without_a_waf_is_flagged(mutations: list[Mutation]) -> None:
    [message] = check(WAF, INGRESS, mutated(browser_ingress(), *mutations))
    assert "wafv2-acl-arn" in message


AUTH_BYPASSES: list[tuple[str, Mutation]] = [
    ("no auth type", delp((*ANN, f"{A}/auth-type"))),
    ("auth none", setp((*ANN, f"{A}/auth-type"), "none")),
    ("auth Cognito (wrong case)", setp((*ANN, f"{A}/auth-type"), "Cognito")),
    ("no idp", delp((*ANN, f"{A}/auth-idp-cognito"))),
    ("idp not json", setp((*ANN, f"{A}/auth-idp-cognito"), "{userPoolARN: x")),
    ("idp a list", setp((*ANN, f"{A}/auth-idp-cognito"), "[]")),
    (
        "idp without client",
        setp(
            (*ANN, f"{A}/auth-idp-cognito"),
            json.dumps({"userPoolARN": POOL, "userPoolDomain": "d"}),
        ),
    ),
    (
        "idp empty client",
        setp(
            (*ANN, f"{A}/auth-idp-cognito"),
            json.dumps({"userPoolARN": POOL, "userPoolClientID": "", "userPoolDomain": "d"}),
        ),
    ),
    (
        "idp pool not an arn",
        setp(
            (*ANN, f"{A}/auth-idp-cognito"),
            json.dumps(
                {"userPoolARN": "us-east-1_x", "userPoolClientID": "c", "userPoolDomain": "d"}
            ),
        ),
    ),
    ("idp of the other type", setp((*ANN, f"{A}/auth-type"), "oidc")),
    ("anonymous allowed", setp((*ANN, f"{A}/auth-on-unauthenticated-request"), "allow")),
    ("anonymous Allow (other case)", setp((*ANN, f"{A}/auth-on-unauthenticated-request"), "Allow")),
    (
        "scheme missing, no auth",
        both(delp((*ANN, f"{A}/scheme")), delp((*ANN, f"{A}/auth-type"))),
    ),
]


@pytest.mark.parametrize(
    "mutation", [m for _, m in AUTH_BYPASSES], ids=[n for n, _ in AUTH_BYPASSES]
)
def test_a_public_ingress_without_authentication_is_flagged(mutation: Mutation) -> None:
    [message] = check(AUTH, INGRESS, mutated(browser_ingress(), mutation))
    assert "authentication" in message


def test_oidc_endpoints_must_be_https() -> None:
    idp = json.loads(oidc_ingress()["metadata"]["annotations"][f"{A}/auth-idp-oidc"])
    idp["tokenEndpoint"] = "http://idp.example.com/token"
    ingress = mutated(oidc_ingress(), setp((*ANN, f"{A}/auth-idp-oidc"), json.dumps(idp)))
    [message] = check(AUTH, INGRESS, ingress)
    assert "tokenEndpoint" in message


def test_a_provably_internal_alb_needs_neither() -> None:
    internal = mutated(
        browser_ingress(),
        setp((*ANN, f"{A}/scheme"), "internal"),
        delp((*ANN, f"{A}/wafv2-acl-arn")),
        delp((*ANN, f"{A}/auth-type")),
    )
    assert check(WAF, INGRESS, internal) == []
    assert check(AUTH, INGRESS, internal) == []
    legacy = mutated(internal, delp(("spec", "ingressClassName")))
    legacy["metadata"]["annotations"]["kubernetes.io/ingress.class"] = "alb"
    assert check(WAF, INGRESS, legacy) == []


def test_the_api_waiver_names_one_ingress_and_keeps_the_waf() -> None:
    api = mutated(browser_ingress(), delp((*ANN, f"{A}/auth-type")))
    config = {
        "waivers": [
            {
                "type": INGRESS,
                "name": "sutazai-prod-backend",
                "checks": {"auth-type": None},
                "reason": "the bearer-token API verifies tokens itself (auth.py)",
            }
        ]
    }
    assert check(AUTH, INGRESS, api, config=config, name="sutazai-prod-backend") == []
    # Another Ingress, or the API with a weak auth-type instead of none: still reported.
    assert len(check(AUTH, INGRESS, api, config=config, name="sutazai-prod-frontend")) == 1
    weak = mutated(browser_ingress(), setp((*ANN, f"{A}/auth-type"), "none"))
    assert len(check(AUTH, INGRESS, weak, config=config, name="sutazai-prod-backend")) == 1
    no_waf = mutated(api, delp((*ANN, f"{A}/wafv2-acl-arn")))
    assert (
        len(check(WAF, INGRESS, no_waf, config={"waivers": []}, name="sutazai-prod-backend")) == 1
    )


def _service(**annotations: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "frontend", "annotations": annotations},
        "spec": {"type": "LoadBalancer", "ports": [{"port": 443}]},
    }


def test_a_public_load_balancer_service_is_flagged() -> None:
    assert len(check(WAF, SERVICE, _service())) == 1
    scheme = "service.beta.kubernetes.io/aws-load-balancer-scheme"
    assert len(check(WAF, SERVICE, _service(**{scheme: "internet-facing"}))) == 1
    assert check(WAF, SERVICE, _service(**{scheme: "internal"})) == []
    cluster_ip = mutated(_service(), setp(("spec", "type"), "ClusterIP"))
    assert check(WAF, SERVICE, cluster_ip) == []


def test_program_created_load_balancers_need_a_web_acl_association() -> None:
    lb_arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/x/1"
    alb = StackItem(LB, "edge-alb", {"loadBalancerType": "application", "arn": lb_arn})
    by_dependency = StackItem(
        ASSOCIATION,
        "edge-alb-waf",
        {"resourceArn": UNKNOWN, "webAclArn": WEB_ACL},
        property_dependencies={"resourceArn": ["edge-alb"]},
    )
    by_arn = StackItem(ASSOCIATION, "edge-alb-waf", {"resourceArn": lb_arn})
    policy = "edge-load-balancer-waf"
    assert check_stack(policy, [alb, by_dependency]) == []
    assert check_stack(policy, [alb, by_arn]) == []
    [(message, _)] = check_stack(policy, [alb])
    assert "no WAFv2 WebACL association" in message
    other = StackItem(ASSOCIATION, "other-waf", {"resourceArn": lb_arn.replace("/x/", "/y/")})
    assert len(check_stack(policy, [alb, other])) == 1
    no_type = StackItem(LB, "edge-alb", {"arn": lb_arn})  # type defaults to application
    assert len(check_stack(policy, [no_type])) == 1
    nlb = StackItem(LB, "edge-nlb", {"loadBalancerType": "network"})
    assert "cannot carry a WAF" in check_stack(policy, [nlb])[0][0]
    internal = StackItem(LB, "inner", {"loadBalancerType": "application", "internal": True})
    assert check_stack(policy, [internal]) == []
    internal_unknown = StackItem(LB, "inner", {"internal": UNKNOWN})
    assert len(check_stack(policy, [internal_unknown])) == 1
