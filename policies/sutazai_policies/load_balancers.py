"""Load balancers the cluster creates from Kubernetes objects (AWS Load Balancer Controller).

An internet-facing Ingress without its own security groups gets a controller-made one that
opens every listener to `inbound-cidrs` (default: the whole internet); a Service of type
LoadBalancer opens its ports to `loadBalancerSourceRanges` (default: the whole internet).
When that coverage is public (exposure.py), only HTTPS on 443 may listen, plus HTTP when it
only redirects to 443. An Ingress that names its security groups is judged by those groups'
rules (aws.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, Final

from pulumi_policy import Policy, Severity

from .exposure import EXPOSURE_SCHEMA, exposure
from .rules import Finding, Resource, resource_policy
from .values import UNKNOWN, as_int, as_list, get

INGRESS_TYPES: Final = frozenset(
    {
        "kubernetes:networking.k8s.io/v1:Ingress",
        "kubernetes:networking.k8s.io/v1beta1:Ingress",
        "kubernetes:extensions/v1beta1:Ingress",
    }
)
SERVICE_TYPE: Final = "kubernetes:core/v1:Service"
ALB: Final = "alb.ingress.kubernetes.io/"
NLB: Final = "service.beta.kubernetes.io/"
WORLD: Final = ("0.0.0.0/0", "::/0")
HTTPS_PORT: Final = 443


def _annotations(res: Resource) -> dict[str, Any] | None:
    value = get(res.props, "metadata", "annotations")
    if value is UNKNOWN:
        return None
    return value if isinstance(value, dict) else {}


def _listeners(notes: dict[str, Any]) -> list[tuple[str, Any]] | None:
    raw = notes.get(f"{ALB}listen-ports")
    if raw is UNKNOWN:
        return None
    if raw is None:  # the controller's default: HTTPS with a certificate, else HTTP
        return [("HTTPS", 443)] if notes.get(f"{ALB}certificate-arn") else [("HTTP", 80)]
    try:
        parsed = json.loads(str(raw))
    except ValueError:
        return [("unparsable", raw)]
    out: list[tuple[str, Any]] = []
    for entry in parsed if isinstance(parsed, list) else [parsed]:
        if isinstance(entry, dict):
            out.extend((str(k), v) for k, v in entry.items())
        else:
            out.append(("unparsable", entry))
    return out


def check_ingress(res: Resource, config: Any) -> Iterator[str | Finding]:
    notes = _annotations(res)
    if notes is None or notes.get(f"{ALB}scheme") != "internet-facing":
        return  # the controller's default scheme is internal
    if notes.get(f"{ALB}security-groups") not in (None, ""):
        return  # those groups' rules are checked where they are declared
    cidrs_text = notes.get(f"{ALB}inbound-cidrs")
    if cidrs_text is UNKNOWN:
        return
    cidrs = [c for c in str(cidrs_text).split(",") if c.strip()] if cidrs_text else list(WORLD)
    reach = exposure(cidrs)
    for bad in reach.invalid:
        yield f"annotation {ALB}inbound-cidrs lists {bad}, not a CIDR. Fix: use valid CIDRs."
    if not reach.is_public(config):
        return
    listeners = _listeners(notes)
    if listeners is None:
        return
    redirect = str(notes.get(f"{ALB}ssl-redirect", "")).strip()
    for protocol, port in listeners:
        if protocol == "HTTPS" and as_int(port) == HTTPS_PORT:
            continue
        if protocol == "HTTP" and redirect == str(HTTPS_PORT):
            continue  # answers every request with a redirect to HTTPS
        yield Finding(
            f"annotation {ALB}listen-ports opens {protocol}/{port} to {reach.describe()} "
            f"(inbound-cidrs {cidrs}). Fix: listen on HTTPS 443 only (HTTP only with "
            f"{ALB}ssl-redirect: '443'), or narrow {ALB}inbound-cidrs.",
            "publicPort",
            f"{protocol}/{port}",
        )


def check_service(res: Resource, config: Any) -> Iterator[str | Finding]:
    spec = res.props.get("spec")
    if spec is UNKNOWN or get(spec, "type") != "LoadBalancer":
        return
    notes = _annotations(res) or {}
    # Fail closed: a LoadBalancer Service is internet-facing unless it says internal.
    scheme = notes.get(f"{NLB}aws-load-balancer-scheme")
    if scheme == "internal" or notes.get(f"{NLB}aws-load-balancer-internal") == "true":
        return
    ranges = get(spec, "loadBalancerSourceRanges")
    if ranges is UNKNOWN:
        return
    cidrs = as_list(ranges) or list(WORLD)
    reach = exposure(cidrs)
    for bad in reach.invalid:
        yield f"spec.loadBalancerSourceRanges lists {bad}, not a CIDR. Fix: use valid CIDRs."
    if not reach.is_public(config):
        return
    for i, port in enumerate(as_list(get(spec, "ports"))):
        number = get(port, "port")
        if number is UNKNOWN or as_int(number) == HTTPS_PORT:
            continue
        protocol = str(get(port, "protocol") or "TCP")
        yield Finding(
            f"spec.ports[{i}] opens {protocol}/{number} of an internet-facing load balancer to "
            f"{reach.describe()}. Fix: expose only 443, set "
            f"{NLB}aws-load-balancer-scheme: internal, or narrow spec.loadBalancerSourceRanges.",
            "publicPort",
            f"{protocol.lower()}/{number}",
        )


def check_load_balancer(res: Resource, config: Any) -> Iterator[str | Finding]:
    if res.type == SERVICE_TYPE:
        yield from check_service(res, config)
    else:
        yield from check_ingress(res, config)


def policies() -> list[Policy]:
    return [
        resource_policy(
            "k8s-load-balancer-https-only",
            "Load balancers made from Ingresses and LoadBalancer Services are public only on "
            "HTTPS 443 (HTTP only as a redirect), judged by the coverage of their source CIDRs.",
            INGRESS_TYPES | {SERVICE_TYPE},
            check_load_balancer,
            remediation="Listen on 443 only, make it internal, or narrow its source CIDRs.",
            severity=Severity.CRITICAL,
            config_properties=EXPOSURE_SCHEMA,
            reads_config=True,
        ),
    ]
