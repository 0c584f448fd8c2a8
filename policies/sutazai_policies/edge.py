"""The public edge: whatever the internet can reach carries a WAF, and the browser UI
carries load-balancer authentication.

Recognised by shape, failing closed:

* An Ingress is internet-facing unless it is provably internal: an ALB-class Ingress
  (`spec.ingressClassName` or the legacy `kubernetes.io/ingress.class` annotation is
  `alb`) whose `alb.ingress.kubernetes.io/scheme` is exactly `internal`. A missing or
  computed scheme, another class or no class at all counts as public (the controller's
  defaults and IngressClassParams can make such an Ingress public).
* Its WAF is the exact annotation `alb.ingress.kubernetes.io/wafv2-acl-arn` holding a
  regional WAFv2 WebACL ARN (a value computed during preview is accepted: it is the ARN of
  a WebACL the program creates, and the same rule sees the real value at `up`). Annotation
  keys are case-sensitive to the controller, so a key spelled any other way is no WAF.
* Its authentication is `auth-type` `cognito` or `oidc` with a complete
  `auth-idp-<type>` JSON, and `auth-on-unauthenticated-request` not `allow` (which would
  let anonymous requests through). Every public Ingress needs it; the bearer-token API has
  an exact waiver (type, name, `auth-type`) in `policies/config/<environment>.json`.
* A Service of type LoadBalancer that is not annotated internal is a public network load
  balancer, which cannot carry a WAF: it is refused (publish through the ALB Ingress).
* A program-created internet-facing ALB (`aws:lb`/`aws:alb` LoadBalancer whose `internal`
  is not true) needs a WAFv2 WebACL association that points at it; a public network or
  gateway load balancer is refused like the Service above.

This module is self-contained: it reads only resource properties, never the program.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any, Final

from pulumi_policy import Policy, Severity

from .rules import Finding, Resource, resource_policy, stack_policy
from .values import UNKNOWN, as_dict, get

INGRESS_TYPES: Final = frozenset(
    {
        "kubernetes:networking.k8s.io/v1:Ingress",
        "kubernetes:networking.k8s.io/v1beta1:Ingress",
        "kubernetes:extensions/v1beta1:Ingress",
    }
)
SERVICE: Final = "kubernetes:core/v1:Service"
LOAD_BALANCERS: Final = frozenset(
    {"aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer"}
)
WEB_ACL_ASSOCIATION: Final = "aws:wafv2/webAclAssociation:WebAclAssociation"

ALB: Final = "alb.ingress.kubernetes.io"
SCHEME: Final = f"{ALB}/scheme"
WAF: Final = f"{ALB}/wafv2-acl-arn"
AUTH_TYPE: Final = f"{ALB}/auth-type"
ON_UNAUTHENTICATED: Final = f"{ALB}/auth-on-unauthenticated-request"
LEGACY_CLASS: Final = "kubernetes.io/ingress.class"
WAF_ARN: Final = re.compile(
    r"^arn:aws[a-z-]*:wafv2:[a-z0-9-]+:[0-9]{12}:regional/webacl/[A-Za-z0-9_-]+/[A-Za-z0-9-]+$"
)
COGNITO_POOL_ARN: Final = re.compile(
    r"^arn:aws[a-z-]*:cognito-idp:[a-z0-9-]+:[0-9]{12}:userpool/[A-Za-z0-9_-]+$"
)
# What each identity provider's annotation must name (the controller's field names).
IDP_FIELDS: Final = {
    "cognito": ("userPoolARN", "userPoolClientID", "userPoolDomain"),
    "oidc": ("issuer", "authorizationEndpoint", "tokenEndpoint", "userInfoEndpoint", "secretName"),
}
# NLB/CLB Services: the annotations that make them internal.
SERVICE_INTERNAL: Final = {
    "service.beta.kubernetes.io/aws-load-balancer-scheme": "internal",
    "service.beta.kubernetes.io/aws-load-balancer-internal": "true",
}


def _annotations(res: Resource) -> dict[str, Any]:
    return as_dict(get(res.props, "metadata", "annotations"))


def internet_facing(res: Resource) -> bool:
    """False only for an Ingress that is provably an internal ALB."""
    annotations = _annotations(res)
    spec_class = get(res.props, "spec", "ingressClassName")
    ingress_class = spec_class if spec_class is not None else annotations.get(LEGACY_CLASS)
    return not (ingress_class == "alb" and annotations.get(SCHEME) == "internal")


def check_ingress_waf(res: Resource) -> Iterator[str]:
    if res.type == SERVICE:
        yield from _check_public_service(res)
        return
    if not internet_facing(res):
        return
    value = _annotations(res).get(WAF)
    if value is UNKNOWN or (isinstance(value, str) and WAF_ARN.match(value.strip())):
        return
    got = "missing" if value is None else f"{value!r}, not a regional WAFv2 WebACL ARN"
    yield (
        f"is internet-facing (no explicit internal ALB scheme) and its WAF annotation "
        f"'{WAF}' is {got}. Fix: annotate it with the stack's WebACL ARN "
        "(components/edge.py), or make it an internal ALB."
    )


def _check_public_service(res: Resource) -> Iterator[str]:
    if get(res.props, "spec", "type") != "LoadBalancer":
        return
    annotations = _annotations(res)
    if any(annotations.get(k) == v for k, v in SERVICE_INTERNAL.items()):
        return
    yield (
        "is a Service of type LoadBalancer without an internal scheme: a public network load "
        "balancer, which cannot carry a WAF. Fix: publish it through the ALB Ingress, or "
        "annotate service.beta.kubernetes.io/aws-load-balancer-scheme: internal."
    )


def _idp_problem(auth_type: str, raw: object) -> str | None:
    if raw is UNKNOWN:
        return None
    if not isinstance(raw, str):
        return f"'{ALB}/auth-idp-{auth_type}' is missing"
    try:
        idp = json.loads(raw)
    except ValueError:
        return f"'{ALB}/auth-idp-{auth_type}' is not JSON"
    if not isinstance(idp, dict):
        return f"'{ALB}/auth-idp-{auth_type}' is not a JSON object"
    missing = [f for f in IDP_FIELDS[auth_type] if not (isinstance(idp.get(f), str) and idp[f])]
    if missing:
        return f"'{ALB}/auth-idp-{auth_type}' lacks {', '.join(missing)}"
    if auth_type == "cognito" and not COGNITO_POOL_ARN.match(idp["userPoolARN"]):
        return f"userPoolARN {idp['userPoolARN']!r} is not a Cognito user pool ARN"
    if auth_type == "oidc":
        plain = [f for f in IDP_FIELDS["oidc"][:4] if not idp[f].startswith("https://")]
        if plain:
            return f"the OIDC {', '.join(plain)} must be https URLs"
    return None


def check_ingress_auth(res: Resource) -> Iterator[Finding]:
    if not internet_facing(res):
        return
    annotations = _annotations(res)
    auth_type = annotations.get(AUTH_TYPE)
    problem: str | None
    if auth_type is UNKNOWN:
        problem = None
    elif auth_type not in IDP_FIELDS:
        problem = f"'{AUTH_TYPE}' is {'missing' if auth_type is None else repr(auth_type)}"
    else:
        problem = _idp_problem(auth_type, annotations.get(f"{ALB}/auth-idp-{auth_type}"))
    on_unauthenticated = annotations.get(ON_UNAUTHENTICATED)
    if problem is None and on_unauthenticated not in (None, UNKNOWN, "authenticate", "deny"):
        problem = f"'{ON_UNAUTHENTICATED}' is {on_unauthenticated!r}: anonymous requests pass"
    if problem is not None:
        yield Finding(
            f"is internet-facing without load-balancer authentication: {problem}. Fix: "
            f"'{AUTH_TYPE}: cognito' (or oidc) with a complete auth-idp annotation "
            "(components/edge.py). A bearer-token API that verifies tokens itself gets an "
            "exact waiver (its type, name and auth-type) in "
            "policies/config/<environment>.json, with its reason.",
            "auth-type",
            auth_type,
        )


def check_load_balancer_waf(
    resources: list[Resource], stack: str
) -> Iterator[tuple[Resource | None, str]]:
    associations = [r for r in resources if r.type == WEB_ACL_ASSOCIATION]
    for lb in resources:
        if lb.type not in LOAD_BALANCERS or lb.props.get("internal") is True:
            continue
        kind = lb.props.get("loadBalancerType")
        if kind in ("network", "gateway"):
            yield (
                lb,
                f"is an internet-facing {kind} load balancer, which cannot carry a WAF. Fix: "
                "internal=True, or serve it through an application load balancer with a WebACL.",
            )
            continue
        arn = lb.props.get("arn")
        covered = any(
            a.depends_on(lb.urn, "resourceArn")
            or (isinstance(arn, str) and a.props.get("resourceArn") == arn)
            for a in associations
        )
        if not covered:
            yield (
                lb,
                "is an internet-facing application load balancer with no WAFv2 WebACL "
                "association. Fix: aws.wafv2.WebAclAssociation(resource_arn=<this lb>.arn, "
                "web_acl_arn=<the stack's WebACL>.arn).",
            )


def policies() -> list[Policy]:
    return [
        resource_policy(
            "edge-public-waf",
            "Every internet-facing Ingress carries a WAFv2 WebACL; no public Service of type "
            "LoadBalancer (it could carry none).",
            [*INGRESS_TYPES, SERVICE],
            check_ingress_waf,
            remediation=f"Annotate '{WAF}' with the stack's WebACL ARN.",
            severity=Severity.CRITICAL,
        ),
        resource_policy(
            "edge-browser-authentication",
            "Every internet-facing Ingress (the browser UI) carries ALB authentication "
            "(Cognito or OIDC); the bearer-token API has an exact waiver.",
            INGRESS_TYPES,
            check_ingress_auth,
            remediation=f"'{AUTH_TYPE}' cognito|oidc with a complete auth-idp annotation.",
            severity=Severity.CRITICAL,
        ),
        stack_policy(
            "edge-load-balancer-waf",
            "Every internet-facing application load balancer the program creates has a WAFv2 "
            "WebACL association; no public network or gateway load balancer.",
            [*LOAD_BALANCERS, WEB_ACL_ASSOCIATION],
            check_load_balancer_waf,
            remediation="aws.wafv2.WebAclAssociation(resource_arn=lb.arn, web_acl_arn=...).",
            severity=Severity.CRITICAL,
        ),
    ]
