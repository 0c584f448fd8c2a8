"""NetworkPolicies derived from the catalog graph (design invariant 1): never a hand-listed edge.

Every tier namespace denies all ingress and egress by default. Each workload then gets one
policy that selects its pods and allows exactly:

* ingress from the sources of its `network_edges` on the target ports (cross-namespace by
  namespace name + app label), from the scraper on its `scrape` port, and from the load
  balancer subnets on the ingress port when `spec.ingress`;
* egress to the targets of its edges (a pod selector for workloads, the data subnets for
  managed AWS services), DNS to kube-system, Vault for pods with injected secrets, the API
  server for pods allowed a token, and any extra egress the stack declares (model pulls).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from components.kubernetes import naming
from components.kubernetes.naming import Naming
from stacks.catalog import Catalog, Port, ServiceSpec

DEFAULT_DENY = "default-deny-all"
DNS_PORTS = ({"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"})
KUBE_DNS = {
    "namespaceSelector": {"matchLabels": {naming.NAMESPACE_NAME_LABEL: "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}


@dataclass(frozen=True)
class Destination:
    """Where a non-workload peer lives: a namespace (in-cluster) or CIDRs, and a port."""

    port: int
    cidrs: tuple[str, ...] = ()
    namespace: str | None = None
    pod_labels: Mapping[str, str] = field(default_factory=dict)
    except_cidrs: tuple[str, ...] = ()

    def peers(self) -> list[dict[str, Any]]:
        if self.namespace is not None:
            peer: dict[str, Any] = {
                "namespaceSelector": {"matchLabels": {naming.NAMESPACE_NAME_LABEL: self.namespace}}
            }
            if self.pod_labels:
                peer["podSelector"] = {"matchLabels": dict(self.pod_labels)}
            return [peer]
        result = []
        for cidr in self.cidrs:
            block: dict[str, Any] = {"cidr": cidr}
            excepted = [
                e
                for e in self.except_cidrs
                if ipaddress.IPv4Network(e).subnet_of(ipaddress.IPv4Network(cidr)) and e != cidr
            ]
            if excepted:
                block["except"] = excepted
            result.append({"ipBlock": block})
        return result


def vault_destination(
    address: str, except_cidrs: Sequence[str] = (), cidrs: Sequence[str] = ()
) -> Destination:
    """The Vault server as a NetworkPolicy peer, on the port of `address`.

    An IP literal becomes a /32; an in-cluster Service name (`vault.<ns>.svc...`) its
    namespace; any other DNS name cannot be named by a NetworkPolicy, so it becomes the
    CIDRs the Vault servers live in (`cidrs`, config `vaultCidrs`) or, without them, the
    port alone restricts it (the address is outside the cluster; private ranges listed in
    `except_cidrs` stay closed).
    """
    parsed = urlparse(address)
    host = parsed.hostname or ""
    port = parsed.port or (443 if parsed.scheme == "https" else 8200)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        ip = None
    if ip is not None:
        return Destination(port=port, cidrs=(f"{ip}/32",))
    parts = host.split(".")
    if len(parts) >= 3 and parts[2] == "svc":
        return Destination(port=port, namespace=parts[1])
    if cidrs:
        return Destination(port=port, cidrs=tuple(str(c) for c in cidrs))
    return Destination(port=port, cidrs=("0.0.0.0/0",), except_cidrs=tuple(except_cidrs))


@dataclass(frozen=True)
class PolicyInputs:
    catalog: Catalog
    naming: Naming
    # Services that run as pods in this stack (managed ones do not).
    workloads: frozenset[str]
    # Managed AWS services (prod): name -> the CIDRs they live in (the data subnets).
    managed: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    # Where the ingress load balancer's traffic comes from (public subnets, target-type ip).
    load_balancer_cidrs: tuple[str, ...] = ()
    # The scraper (Prometheus) reaches every `scrape` port.
    scraper: str | None = None
    # Pods whose Vault Agent talks to Vault.
    vault_clients: frozenset[str] = frozenset()
    vault: Destination | None = None
    # The Kubernetes API (control-plane ENIs and the `kubernetes` Service address).
    api_server: tuple[Destination, ...] = ()
    # Extra egress a stack decides for one service (e.g. model downloads), by name.
    extra_egress: Mapping[str, tuple[Destination, ...]] = field(default_factory=dict)


def _ports(ports: Iterable[Port]) -> list[dict[str, Any]]:
    seen: dict[tuple[int, str], dict[str, Any]] = {}
    for p in ports:
        seen.setdefault((p.port, p.protocol), {"port": p.port, "protocol": p.protocol})
    return list(seen.values())


def _pods_of(inputs: PolicyInputs, spec: ServiceSpec) -> dict[str, Any]:
    return {
        "namespaceSelector": {
            "matchLabels": {naming.NAMESPACE_NAME_LABEL: inputs.naming.namespace_of(spec)}
        },
        "podSelector": {"matchLabels": naming.selector(spec)},
    }


def default_deny(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": DEFAULT_DENY, "namespace": namespace},
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def ingress_rules(inputs: PolicyInputs, spec: ServiceSpec) -> list[dict[str, Any]]:
    catalog = inputs.catalog
    by_source: dict[str, list[Port]] = {}
    for edge in catalog.network_edges:
        if edge.target == spec.name and edge.source in inputs.workloads:
            by_source.setdefault(edge.source, []).append(edge.port)
    if spec.scrape is not None and inputs.scraper in inputs.workloads:
        by_source.setdefault(inputs.scraper, []).append(spec.port(spec.scrape.port))
    rules = [
        {"from": [_pods_of(inputs, catalog[source])], "ports": _ports(ports)}
        for source, ports in sorted(by_source.items())
    ]
    rules += _cluster_rules(inputs, spec, "from")
    if spec.ingress and inputs.load_balancer_cidrs:
        rules.append(
            {
                "from": [{"ipBlock": {"cidr": cidr}} for cidr in inputs.load_balancer_cidrs],
                "ports": _ports([spec.primary_port]),
            }
        )
    return rules


def _cluster_rules(inputs: PolicyInputs, spec: ServiceSpec, way: str) -> list[dict[str, Any]]:
    """A catalog `cluster`: its replicas reach each other on the cluster port, TCP and UDP."""
    if spec.cluster is None or spec.replicas < 2:
        return []
    port = spec.port(spec.cluster.port).port
    return [
        {
            way: [_pods_of(inputs, spec)],
            "ports": [{"port": port, "protocol": "TCP"}, {"port": port, "protocol": "UDP"}],
        }
    ]


def egress_rules(inputs: PolicyInputs, spec: ServiceSpec) -> list[dict[str, Any]]:
    catalog = inputs.catalog
    rules: list[dict[str, Any]] = [{"to": [KUBE_DNS], "ports": [dict(p) for p in DNS_PORTS]}]
    by_target: dict[str, list[Port]] = {}
    for edge in catalog.network_edges:
        if edge.source == spec.name:
            by_target.setdefault(edge.target, []).append(edge.port)
    if spec.name == inputs.scraper:
        for target in catalog.scrape_targets:
            if target.name in inputs.workloads and target.scrape is not None:
                by_target.setdefault(target.name, []).append(target.port(target.scrape.port))
    rules += _to_targets(inputs, by_target)
    rules += _cluster_rules(inputs, spec, "to")
    extra: list[Destination] = []
    if spec.name in inputs.vault_clients and inputs.vault is not None:
        extra.append(inputs.vault)
    if spec.exempt_from("kube-api-token"):
        extra.extend(inputs.api_server)
    extra.extend(inputs.extra_egress.get(spec.name, ()))
    rules += _to_destinations(extra)
    return rules


def _to_targets(inputs: PolicyInputs, by_target: Mapping[str, list[Port]]) -> list[dict[str, Any]]:
    """Egress to catalog services: their pods, or the data subnets of managed ones."""
    rules: list[dict[str, Any]] = []
    for target, ports in sorted(by_target.items()):
        if target in inputs.workloads:
            rules.append({"to": [_pods_of(inputs, inputs.catalog[target])], "ports": _ports(ports)})
        elif target in inputs.managed:
            rules.append(
                {
                    "to": [{"ipBlock": {"cidr": cidr}} for cidr in inputs.managed[target]],
                    "ports": _ports(ports),
                }
            )
    return rules


def _to_destinations(destinations: Iterable[Destination]) -> list[dict[str, Any]]:
    return [{"to": d.peers(), "ports": [{"port": d.port, "protocol": "TCP"}]} for d in destinations]


def service_policy(inputs: PolicyInputs, spec: ServiceSpec) -> dict[str, Any]:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": spec.name,
            "namespace": inputs.naming.namespace_of(spec),
            "labels": naming.labels(spec),
        },
        "spec": {
            "podSelector": {"matchLabels": naming.selector(spec)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": ingress_rules(inputs, spec),
            "egress": egress_rules(inputs, spec),
        },
    }


def provisioning_policy(inputs: PolicyInputs, spec: ServiceSpec) -> dict[str, Any]:
    """The provisioning Job of a managed issuer (prod: RDS): no ingress; egress to DNS, the
    issuer itself (as every client reaches it: the data subnets on its ports) and Vault,
    which renders the issuer's files into the Job's pod."""
    egress: list[dict[str, Any]] = [{"to": [KUBE_DNS], "ports": [dict(p) for p in DNS_PORTS]}]
    egress += _to_targets(inputs, {spec.name: list(spec.ports)})
    egress += _to_destinations([inputs.vault] if inputs.vault is not None else [])
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": naming.provisioning_name(spec),
            "namespace": inputs.naming.namespace_of(spec),
            "labels": naming.provisioning_labels(spec),
        },
        "spec": {
            "podSelector": {"matchLabels": naming.provisioning_selector(spec)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [],
            "egress": egress,
        },
    }


def all_policies(inputs: PolicyInputs, namespaces: Iterable[str]) -> list[dict[str, Any]]:
    """Default-deny per namespace plus one policy per workload (tests use this view)."""
    result = [default_deny(ns) for ns in sorted(set(namespaces))]
    result += [service_policy(inputs, inputs.catalog[name]) for name in sorted(inputs.workloads)]
    return result


def webhook_policy(
    namespace: str,
    pod_labels: Mapping[str, str],
    port: int,
    control_plane_cidrs: Sequence[str],
    api_server: Sequence[Destination],
) -> dict[str, Any]:
    """An admission webhook (the Vault Agent injector): the API server calls it on `port`
    from the control-plane interfaces; it talks to the API server and DNS, nothing else."""
    egress: list[dict[str, Any]] = [{"to": [KUBE_DNS], "ports": [dict(p) for p in DNS_PORTS]}]
    egress += [
        {"to": d.peers(), "ports": [{"port": d.port, "protocol": "TCP"}]} for d in api_server
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "admission-webhook", "namespace": namespace},
        "spec": {
            "podSelector": {"matchLabels": dict(pod_labels)},
            "policyTypes": ["Ingress", "Egress"],
            "ingress": [
                {
                    "from": [{"ipBlock": {"cidr": c}} for c in control_plane_cidrs],
                    "ports": [{"port": port, "protocol": "TCP"}],
                }
            ],
            "egress": egress,
        },
    }
