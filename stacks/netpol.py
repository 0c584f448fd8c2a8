"""A small NetworkPolicy evaluator: who may talk to whom under a set of rendered policies.

Shared by the whole-stack tests and the plan diff (stacks/diff.py), which both read a
recorded plan; it never imports the program.

It follows the Kubernetes semantics the renderer relies on: a pod is isolated for a
direction when some policy of that type selects it, and then only traffic a rule of one of
those policies allows passes; a connection needs the source's egress AND the target's
ingress. Peers match by namespace labels + pod labels (both in one peer entry: AND), or by
ipBlock (cidr minus except) for destinations outside the cluster. Ports match by number and
protocol; a rule without ports matches every port.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


@dataclass(frozen=True)
class Pod:
    namespace: str
    labels: Mapping[str, str]
    name: str = ""
    # containerPort names -> numbers, for rules that name a port instead of numbering it.
    port_names: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class External:
    """An address outside the cluster's pods (RDS, the internet, a load balancer)."""

    ip: str


Endpoint = Pod | External


def _matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """LabelSelector semantics: {} (or absent) selects everything."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression["key"], expression["operator"]
        values = expression.get("values") or []
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


@dataclass
class Evaluator:
    policies: list[dict[str, Any]]
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)

    def labels_of_namespace(self, namespace: str) -> dict[str, str]:
        return {NAMESPACE_NAME_LABEL: namespace, **self.namespace_labels.get(namespace, {})}

    def selecting(self, pod: Pod, policy_type: str) -> list[dict[str, Any]]:
        result = []
        for policy in self.policies:
            if policy["metadata"].get("namespace") != pod.namespace:
                continue
            spec = policy["spec"]
            types = spec.get("policyTypes") or (
                ["Ingress", "Egress"] if "egress" in spec else ["Ingress"]
            )
            if policy_type in types and _matches(spec.get("podSelector"), pod.labels):
                result.append(policy)
        return result

    def peer_matches(self, peer: Mapping[str, Any], other: Endpoint, own_namespace: str) -> bool:
        if "ipBlock" in peer:
            if not isinstance(other, External):
                return False  # pod IPs are not in the VPC blocks the renderer uses
            block = peer["ipBlock"]
            address = ipaddress.ip_address(other.ip)
            if address not in ipaddress.ip_network(block["cidr"]):
                return False
            return not any(address in ipaddress.ip_network(e) for e in block.get("except") or [])
        if not isinstance(other, Pod):
            return False
        if "namespaceSelector" in peer:
            if not _matches(peer["namespaceSelector"], self.labels_of_namespace(other.namespace)):
                return False
        elif other.namespace != own_namespace:
            return False
        return _matches(peer.get("podSelector"), other.labels)

    @staticmethod
    def _port_matches(
        ports: Iterable[Mapping[str, Any]] | None,
        port: int,
        protocol: str,
        names: Mapping[str, int] | None = None,
    ) -> bool:
        ports = list(ports or [])
        if not ports:
            return True
        for entry in ports:
            if entry.get("protocol", "TCP") != protocol:
                continue
            if "port" not in entry:
                return True
            if isinstance(entry["port"], str) and not entry["port"].isdigit():
                # A named port: the target's port of that name. A name the target does not
                # declare is counted as a match, so a reader sees every flow it might allow.
                named = (names or {}).get(entry["port"])
                if named is None or named == port:
                    return True
                continue
            low = int(entry["port"])
            high = int(entry.get("endPort", low))
            if low <= port <= high:
                return True
        return False

    def egress_allowed(self, source: Pod, target: Endpoint, port: int, protocol: str) -> bool:
        policies = self.selecting(source, "Egress")
        if not policies:
            return True
        return any(
            self._port_matches(rule.get("ports"), port, protocol, _port_names(target))
            and (
                not rule.get("to")
                or any(self.peer_matches(p, target, source.namespace) for p in rule["to"])
            )
            for policy in policies
            for rule in policy["spec"].get("egress") or []
        )

    def ingress_allowed(self, source: Endpoint, target: Pod, port: int, protocol: str) -> bool:
        policies = self.selecting(target, "Ingress")
        if not policies:
            return True
        return any(
            self._port_matches(rule.get("ports"), port, protocol, target.port_names)
            and (
                not rule.get("from")
                or any(self.peer_matches(p, source, target.namespace) for p in rule["from"])
            )
            for policy in policies
            for rule in policy["spec"].get("ingress") or []
        )

    def allowed(self, source: Endpoint, target: Endpoint, port: int, protocol: str = "TCP") -> bool:
        egress = not isinstance(source, Pod) or self.egress_allowed(source, target, port, protocol)
        ingress = not isinstance(target, Pod) or self.ingress_allowed(
            source, target, port, protocol
        )
        return egress and ingress


def _port_names(endpoint: Endpoint) -> Mapping[str, int]:
    return endpoint.port_names if isinstance(endpoint, Pod) else {}
