"""Compare two recorded offline plans (build/plan-<stack>.json) in the terms reviewers use.

Pure functions over plan dicts: resource changes grouped by component with property-level
changes, and the facts a reviewer cares about, each computed for one plan and then
compared: network flows, Vault capabilities per service, hardening per container, exposure
and protection. Secret values never leave this module as text: a secret envelope becomes
`[secret]` (compared, never printed), and `secret_strings` lists every secret value so the
final report can be scrubbed of them (and of their common encodings) as a last line.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from stacks.netpol import NAMESPACE_NAME_LABEL, Evaluator, Pod

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # the engine's secret envelope key
SECRET_TEXT = "[secret]"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob", "Pod")
LONG_TEXT = 160  # strings longer than this (or multi-line ones) are diffed as text

# Inputs whose change makes the provider replace the resource (delete and create), for the
# types this program registers whose replacement loses data or identity. A heuristic from
# the providers' schemas (forceNew), not the provider itself: "replace (likely)".
REPLACE_ON: dict[str, tuple[str, ...]] = {
    "aws:rds/instance:Instance": (
        "identifier", "engine", "dbName", "kmsKeyId", "storageEncrypted", "username",
        "dbSubnetGroupName", "availabilityZone",
    ),
    "aws:elasticache/replicationGroup:ReplicationGroup": (
        "replicationGroupId", "kmsKeyId", "atRestEncryptionEnabled", "subnetGroupName",
        "engine",
    ),
    "aws:eks/cluster:Cluster": ("name", "roleArn", "encryptionConfig", "kubernetesNetworkConfig"),
    "aws:eks/nodeGroup:NodeGroup": (
        "instanceTypes", "amiType", "capacityType", "subnetIds", "nodeRoleArn", "clusterName",
        "nodeGroupName", "diskSize",
    ),
    "aws:ec2/vpc:Vpc": ("cidrBlock",),
    "aws:ec2/subnet:Subnet": ("cidrBlock", "vpcId", "availabilityZone"),
    "aws:ec2/securityGroup:SecurityGroup": ("name", "description", "vpcId"),
    "aws:kms/key:Key": ("customerMasterKeySpec", "keySpec", "keyUsage"),
    "aws:ecr/repository:Repository": ("name",),
    "aws:cloudwatch/logGroup:LogGroup": ("name",),
    "vault:index/mount:Mount": ("path", "type"),
    "vault:kv/secretV2:SecretV2": ("mount", "name"),
    "random:index/randomPassword:RandomPassword": (
        "length", "special", "upper", "lower", "numeric", "minLower", "minUpper",
        "minNumeric", "minSpecial", "overrideSpecial", "keepers",
    ),
    "kubernetes:core/v1:PersistentVolumeClaim": ("spec",),
    "kubernetes:apps/v1:StatefulSet": ("spec.selector", "spec.volumeClaimTemplates",
                                       "spec.serviceName"),
    "kubernetes:apps/v1:Deployment": ("spec.selector",),
    "kubernetes:batch/v1:Job": ("spec.template",),
}  # fmt: skip
REPLACE_ON_ANY_KUBERNETES = ("metadata.name", "metadata.namespace")


# ── secrets ─────────────────────────────────────────────────────────────────────────────


def is_secret(value: object) -> bool:
    return isinstance(value, Mapping) and SECRET_SIG in value


@dataclass(frozen=True)
class Secret:
    """A secret leaf: equal when the values are equal, printed as [secret] only."""

    digest: str = field(repr=False)

    def __str__(self) -> str:
        return SECRET_TEXT

    __repr__ = __str__

    @staticmethod
    def of(envelope: Mapping[str, Any]) -> Secret:
        canonical = json.dumps(envelope.get("value"), sort_keys=True, default=str)
        return Secret(hashlib.sha256(canonical.encode()).hexdigest())


def _strings(value: object, *, inside_secret: bool | None = None) -> Iterator[str]:
    """Strings inside a value, JSON documents opened too.

    inside_secret None: every string; True: only those inside secret envelopes; False: only
    those outside them.
    """
    if is_secret(value):
        assert isinstance(value, Mapping)
        if inside_secret is not False:
            yield from _strings(value.get("value"))
        return
    if isinstance(value, str):
        if inside_secret is not True:
            yield value
        try:
            parsed = json.loads(value)
        except ValueError:
            return
        if isinstance(parsed, (dict, list)):
            yield from _strings(parsed, inside_secret=inside_secret)
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _strings(item, inside_secret=inside_secret)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item, inside_secret=inside_secret)
    elif (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        and inside_secret is not True
    ):
        yield str(value)


def _secret_envelopes(value: object) -> Iterator[Mapping[str, Any]]:
    if is_secret(value):
        assert isinstance(value, Mapping)
        yield value
    elif isinstance(value, Mapping):
        for item in value.values():
            yield from _secret_envelopes(item)
    elif isinstance(value, list):
        for item in value:
            yield from _secret_envelopes(item)


def _roots(plan: Mapping[str, Any]) -> list[object]:
    return [*(r.get("inputs") for r in plan.get("resources", [])), plan.get("outputs")]


def secret_strings(*plans: Mapping[str, Any]) -> tuple[set[str], set[str]]:
    """The secret values of the plans, as the strings that could leak: (values, words).

    values: each secret's own value, hidden wherever it appears. words: strings inside a
    secret document (a kubeconfig, a credential JSON) of 8 characters or more that the
    plans do not also hold in the clear (a region, a user name), hidden where they stand
    as a token of their own, so the report stays readable.
    """
    direct: set[str] = set()
    inner: set[str] = set()
    public: set[str] = set()
    for plan in plans:
        for root in _roots(plan):
            for envelope in _secret_envelopes(root):
                value = envelope.get("value")
                if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                    direct.add(str(value))
            inner.update(s for s in _strings(root, inside_secret=True) if len(s) >= 8)
            public.update(_strings(root, inside_secret=False))
    values = {s for s in direct if len(s) >= 4}
    return values, inner - public - values


def scrub(text: str, values: Iterable[str], words: Iterable[str] = ()) -> str:
    """Replace every secret value, and its base64/hex-digest forms, with [secret]: `values`
    wherever they appear, `words` where they stand as a token of their own (not inside a
    longer identifier, so `Config` of a kubeconfig does not eat `scalingConfig`)."""
    anywhere = _forms(values)
    if anywhere:
        alternatives = "|".join(re.escape(f) for f in sorted(anywhere, key=len, reverse=True))
        text = re.sub(alternatives, SECRET_TEXT, text)
    tokens = _forms(words) - anywhere
    if tokens:
        alternatives = "|".join(re.escape(f) for f in sorted(tokens, key=len, reverse=True))
        pattern = re.compile(rf"(?<![A-Za-z0-9_])(?:{alternatives})(?![A-Za-z0-9_])")
        text = pattern.sub(SECRET_TEXT, text)
    return text


def _forms(secrets: Iterable[str]) -> set[str]:
    forms: set[str] = set()
    for secret in secrets:
        raw = secret.encode()
        forms.update(
            {
                secret,
                base64.b64encode(raw).decode(),
                base64.b64encode(raw).decode().rstrip("="),
                base64.urlsafe_b64encode(raw).decode().rstrip("="),
                hashlib.sha256(raw).hexdigest(),
                hashlib.sha1(raw).hexdigest(),
                hashlib.md5(raw).hexdigest(),
                json.dumps(secret)[1:-1],
            }
        )
    return {f for f in forms if len(f) >= 4}


# ── property-level changes ──────────────────────────────────────────────────────────────


def flatten(value: object, path: str = "") -> dict[str, Any]:
    """Leaf paths of an input tree; lists of named dicts are keyed by name (containers[app])."""
    if is_secret(value):
        assert isinstance(value, Mapping)
        return {path or "(value)": Secret.of(value)}
    if isinstance(value, Mapping):
        if not value:
            return {path: {}} if path else {}
        out: dict[str, Any] = {}
        for key in sorted(value):
            out.update(flatten(value[key], f"{path}.{key}" if path else str(key)))
        return out
    if isinstance(value, list):
        if not value:
            return {path: []}
        if not any(isinstance(v, (Mapping, list)) for v in value):
            return {path: value}  # a list of scalars (args, CIDRs) is one value: order counts
        out = {}
        seen: Counter[str] = Counter()
        for item in value:
            label = _element_label(item)
            seen[label] += 1
            if seen[label] > 1:
                label = f"{label}#{seen[label]}"
            out.update(flatten(item, f"{path}[{label}]"))
        return out
    return {path: value}


IDENTIFYING = ("name", "file", "path", "mountPath", "key", "deviceName", "resourceType")


def _masked(value: object) -> object:
    """The value with every secret replaced by a constant (safe to print or hash)."""
    if is_secret(value):
        return SECRET_TEXT
    if isinstance(value, Mapping):
        return {k: _masked(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_masked(v) for v in value]
    return value


def _element_label(item: object) -> str:
    """How a list element is named in a path: by its name-like field, else by its content
    (secrets masked), so inserting a rule shows one added rule instead of shifted indexes."""
    if isinstance(item, Mapping):
        for key in IDENTIFYING:
            if isinstance(item.get(key), str):
                return str(item[key])
    text = json.dumps(_masked(item), sort_keys=True, separators=(",", ":"), default=str)
    if len(text) <= 60:
        return text
    return "#" + hashlib.sha256(text.encode()).hexdigest()[:8]


def flatten_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """A stack file's `config:` as leaf paths; `secure:` values become [secret] leaves."""

    def envelope(value: object) -> object:
        if isinstance(value, Mapping):
            if set(value) == {"secure"}:
                return {SECRET_SIG: "secret", "value": value["secure"]}
            return {k: envelope(v) for k, v in value.items()}
        if isinstance(value, list):
            return [envelope(v) for v in value]
        return value

    return flatten(envelope(config))


def show(value: object) -> str:
    if isinstance(value, Secret):
        return SECRET_TEXT
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, str):
        return json.dumps(value)
    return json.dumps(value, default=str)


def _document_lines(value: object) -> list[str]:
    if not isinstance(value, str):
        return [show(value)]
    try:
        parsed = json.loads(value)
    except ValueError:
        return value.splitlines()
    if isinstance(parsed, (dict, list)):
        return json.dumps(parsed, indent=2, sort_keys=True).splitlines()
    return value.splitlines()


def is_long(value: object) -> bool:
    return isinstance(value, str) and ("\n" in value or len(value) > LONG_TEXT)


def text_diff(before: object, after: object, name: str) -> str:
    lines = difflib.unified_diff(
        _document_lines(before), _document_lines(after), f"{name} (before)", f"{name} (after)",
        lineterm="", n=2,
    )  # fmt: skip
    return "\n".join(lines)


@dataclass
class PropertyChange:
    path: str
    before: Any  # MISSING when added
    after: Any  # MISSING when removed

    def render(self) -> str:
        if self.before is MISSING:
            return f"`{self.path}`: added {_short(self.after)}"
        if self.after is MISSING:
            return f"`{self.path}`: removed (was {_short(self.before)})"
        if isinstance(self.before, Secret) or isinstance(self.after, Secret):
            return f"`{self.path}`: {SECRET_TEXT} changed"
        return f"`{self.path}`: {_short(self.before)} → {_short(self.after)}"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Any = _Missing()


def _short(value: object) -> str:
    if is_long(value):
        return f"(text, {len(str(value).splitlines())} lines)"
    return show(value)


@dataclass
class ResourceChange:
    kind: str  # added | removed | changed | replaced
    urn: str
    type: str
    name: str
    component: str
    properties: list[PropertyChange] = field(default_factory=list)
    documents: list[str] = field(default_factory=list)  # unified diffs of long texts
    reason: str = ""


def _components(plan: Mapping[str, Any]) -> dict[str, str]:
    """URN -> the nearest enclosing component (type and name), for grouping."""
    by_urn = {r["urn"]: r for r in plan.get("resources", [])}
    result: dict[str, str] = {}
    for r in by_urn.values():
        parent = by_urn.get(r.get("parent", ""))
        while parent is not None and parent.get("custom"):
            parent = by_urn.get(parent.get("parent", ""))
        result[r["urn"]] = f"{parent['type']} {parent['name']}" if parent else "(stack)"
    return result


def _replace_reason(type_: str, changed: Iterable[str]) -> str:
    prefixes = REPLACE_ON.get(type_, ())
    if type_.startswith("kubernetes:"):
        prefixes = (*prefixes, *REPLACE_ON_ANY_KUBERNETES)
    hits = sorted(
        {p for p in changed for prefix in prefixes if p == prefix or p.startswith(prefix + ".")
         or p.startswith(prefix + "[")}
    )  # fmt: skip
    return ", ".join(f"`{h}`" for h in hits)


def resource_changes(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[ResourceChange]:
    before = {r["urn"]: r for r in base.get("resources", [])}
    after = {r["urn"]: r for r in head.get("resources", [])}
    base_components, head_components = _components(base), _components(head)
    changes: list[ResourceChange] = []
    moved_from = {(r["type"], r["name"]): urn for urn, r in before.items() if urn not in after}
    for urn, new in after.items():
        old = before.get(urn)
        if old is None:
            previous = moved_from.get((new["type"], new["name"]))
            changes.append(
                ResourceChange(
                    "replaced" if previous else "added", urn, new["type"], new["name"],
                    head_components[urn],
                    reason="its URN changed (new parent): delete and create, unless aliased"
                    if previous else "",
                )
            )  # fmt: skip
            continue
        props, documents = _property_changes(old, new)
        if not props:
            continue
        reason = _replace_reason(new["type"], [p.path for p in props])
        changes.append(
            ResourceChange(
                "replaced" if reason else "changed", urn, new["type"], new["name"],
                head_components[urn], props, documents,
                reason=f"{reason} changed (forces replacement)" if reason else "",
            )
        )  # fmt: skip
    moved = {(c.type, c.name) for c in changes if c.kind == "replaced" and "URN" in c.reason}
    for urn, old in before.items():
        if urn not in after and (old["type"], old["name"]) not in moved:
            changes.append(
                ResourceChange("removed", urn, old["type"], old["name"], base_components[urn])
            )
    return changes


OPTIONS = ("protect", "retain_on_delete", "delete_before_replace", "ignore_changes",
           "additional_secret_outputs", "provider", "parent")  # fmt: skip


def _property_changes(
    old: Mapping[str, Any], new: Mapping[str, Any]
) -> tuple[list[PropertyChange], list[str]]:
    flat_old, flat_new = flatten(old.get("inputs") or {}), flatten(new.get("inputs") or {})
    changes: list[PropertyChange] = []
    documents: list[str] = []
    for path in sorted(set(flat_old) | set(flat_new)):
        a, b = flat_old.get(path, MISSING), flat_new.get(path, MISSING)
        if a == b and type(a) is type(b):
            continue
        changes.append(PropertyChange(path, a, b))
        if (is_long(a) or is_long(b)) and not isinstance(a, Secret) and not isinstance(b, Secret):
            documents.append(text_diff("" if a is MISSING else a, "" if b is MISSING else b, path))
    for option in OPTIONS:
        if old.get(option) != new.get(option):
            changes.append(PropertyChange(f"(option) {option}", old.get(option), new.get(option)))
    return changes, documents


# ── network flows ───────────────────────────────────────────────────────────────────────


def _number(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _pod_spec(manifest: Mapping[str, Any]) -> Mapping[str, Any]:
    spec = manifest.get("spec") or {}
    if manifest.get("kind") == "Pod":
        return spec
    if manifest.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return (spec.get("template") or {}).get("spec") or {}


def _template_labels(manifest: Mapping[str, Any]) -> dict[str, str]:
    if manifest.get("kind") == "Pod":
        return dict((manifest.get("metadata") or {}).get("labels") or {})
    spec = manifest.get("spec") or {}
    if manifest.get("kind") == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    return dict(((spec.get("template") or {}).get("metadata") or {}).get("labels") or {})


def kubernetes_objects(plan: Mapping[str, Any], kind: str) -> list[Mapping[str, Any]]:
    return [
        r["inputs"]
        for r in plan.get("resources", [])
        if r["type"].startswith("kubernetes:") and (r.get("inputs") or {}).get("kind") == kind
    ]


@dataclass(frozen=True)
class Workload:
    service: str
    kind: str
    namespace: str
    pod: Pod
    ports: tuple[tuple[int, str], ...]  # (containerPort, protocol)


def workloads(plan: Mapping[str, Any]) -> list[Workload]:
    result = []
    for kind in WORKLOAD_KINDS:
        for manifest in kubernetes_objects(plan, kind):
            meta = manifest.get("metadata") or {}
            labels = _template_labels(manifest)
            namespace = str(meta.get("namespace") or "default")
            service = str(labels.get("app.kubernetes.io/name") or meta.get("name") or "?")
            ports: set[tuple[int, str]] = set()
            names: dict[str, int] = {}
            spec = _pod_spec(manifest)
            for container in [*(spec.get("containers") or []),
                              *(spec.get("initContainers") or [])]:  # fmt: skip
                for port in container.get("ports") or []:
                    number = _number(port.get("containerPort"))
                    if number is None:
                        continue
                    ports.add((number, str(port.get("protocol") or "TCP")))
                    if port.get("name"):
                        names[str(port["name"])] = number
            pod = Pod(namespace, labels, service, names)
            result.append(Workload(service, kind, namespace, pod, tuple(sorted(ports))))
    return result


def _describe_peer(peer: Mapping[str, Any]) -> str:
    if "ipBlock" in peer:
        block = peer["ipBlock"] or {}
        excepts = block.get("except") or []
        return str(block.get("cidr")) + (f" except {', '.join(excepts)}" if excepts else "")
    parts = []
    ns = peer.get("namespaceSelector")
    if ns is not None:
        labels = (ns or {}).get("matchLabels") or {}
        parts.append(labels.get(NAMESPACE_NAME_LABEL) or _selector(ns) or "any namespace")
    pods = peer.get("podSelector")
    if pods is not None:
        parts.append(_selector(pods) or "any pod")
    return "/".join(parts) or "anywhere"


def _selector(selector: Mapping[str, Any]) -> str:
    labels = selector.get("matchLabels") or {}
    text = [f"{k}={v}" for k, v in sorted(labels.items()) if k != NAMESPACE_NAME_LABEL]
    text += [
        f"{e.get('key')} {e.get('operator')} {','.join(e.get('values') or [])}".strip()
        for e in selector.get("matchExpressions") or []
    ]
    return ",".join(text)


def _ports_text(ports: Iterable[Mapping[str, Any]] | None) -> list[str]:
    entries = list(ports or [])
    if not entries:
        return ["any"]
    out = []
    for entry in entries:
        protocol = entry.get("protocol", "TCP")
        if "port" not in entry:
            out.append(f"any/{protocol}")
            continue
        low = entry["port"]
        shown = str(_number(low) if _number(low) is not None else low)
        if entry.get("endPort") is not None:
            shown += f"-{_number(entry['endPort'])}"
        out.append(f"{shown}/{protocol}")
    return out


def kubernetes_flows(plan: Mapping[str, Any]) -> set[str]:
    """Flows NetworkPolicies allow: pod to pod (both sides agree), and to/from outside peers."""
    policies = [dict(p) for p in kubernetes_objects(plan, "NetworkPolicy")]
    if not policies:
        return set()
    namespace_labels = {
        str((n.get("metadata") or {}).get("name")): dict(
            (n.get("metadata") or {}).get("labels") or {}
        )
        for n in kubernetes_objects(plan, "Namespace")
    }
    evaluator = Evaluator(policies, namespace_labels)
    pods = workloads(plan)
    flows: set[str] = set()
    for target in pods:
        candidates: set[tuple[int, str]] = set(target.ports)
        for policy in evaluator.selecting(target.pod, "Ingress"):
            for rule in policy["spec"].get("ingress") or []:
                for entry in rule.get("ports") or []:
                    number = _number(entry.get("port"))
                    if number is not None:
                        candidates.add((number, str(entry.get("protocol", "TCP"))))
        for source in pods:
            if source is target:
                continue
            for port, protocol in sorted(candidates):
                if evaluator.allowed(source.pod, target.pod, port, protocol):
                    flows.add(f"{source.service} → {target.service}:{port}/{protocol}")
            # No port known: only rules without ports can allow it ("any").
            if not candidates and evaluator.allowed(source.pod, target.pod, -1, "TCP"):
                flows.add(f"{source.service} → {target.service}:any")

    def matches_a_workload(peer: Mapping[str, Any], own_namespace: str) -> bool:
        return "ipBlock" not in peer and any(
            evaluator.peer_matches(peer, w.pod, own_namespace) for w in pods
        )

    for pod in pods:
        for policy in evaluator.selecting(pod.pod, "Egress"):
            for rule in policy["spec"].get("egress") or []:
                peers = rule.get("to") or [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
                for peer in peers:
                    if matches_a_workload(peer, pod.namespace):
                        continue
                    for port in _ports_text(rule.get("ports")):
                        flows.add(f"{pod.service} → {_describe_peer(peer)}:{port}")
        for policy in evaluator.selecting(pod.pod, "Ingress"):
            for rule in policy["spec"].get("ingress") or []:
                peers = rule.get("from") or [{"ipBlock": {"cidr": "0.0.0.0/0"}}]
                for peer in peers:
                    if matches_a_workload(peer, pod.namespace):
                        continue
                    for port in _ports_text(rule.get("ports")):
                        flows.add(f"{_describe_peer(peer)} → {pod.service}:{port}")
    return flows


def _ids(plan: Mapping[str, Any], type_: str) -> dict[str, str]:
    """Mock ids (`<name>-id`) and names of a type -> the resource name."""
    names: dict[str, str] = {}
    for r in plan.get("resources", []):
        if r["type"] == type_:
            names[f"{r['name']}-id"] = r["name"]
            name = (r.get("inputs") or {}).get("name")
            if isinstance(name, str):
                names[name] = r["name"]
    return names


def _sg_ports(rule: Mapping[str, Any]) -> str:
    protocol = str(rule.get("ipProtocol") or rule.get("protocol") or "tcp")
    if protocol in ("-1", "all"):
        return "any"
    low, high = _number(rule.get("fromPort")), _number(rule.get("toPort"))
    span = "any" if low is None else str(low) if low == high else f"{low}-{high}"
    return f"{span}/{protocol}"


def _sg_peers(rule: Mapping[str, Any], sg_names: Mapping[str, str]) -> list[str]:
    peers: list[str] = []
    for key in ("referencedSecurityGroupId", "sourceSecurityGroupId"):
        if rule.get(key):
            peers.append(f"sg:{sg_names.get(str(rule[key]), rule[key])}")
    for key in ("cidrIpv4", "cidrIpv6", "prefixListId"):
        if rule.get(key):
            peers.append(str(rule[key]))
    for key in ("cidrBlocks", "ipv6CidrBlocks", "prefixListIds", "securityGroups"):
        for value in rule.get(key) or []:
            peers.append(f"sg:{sg_names.get(str(value), value)}" if key == "securityGroups"
                         else str(value))  # fmt: skip
    if rule.get("self"):
        peers.append("self")
    return peers or ["(no peer)"]


def security_group_flows(plan: Mapping[str, Any]) -> set[str]:
    sg_names = _ids(plan, "aws:ec2/securityGroup:SecurityGroup")
    flows: set[str] = set()

    def add(direction: str, group: str, rule: Mapping[str, Any]) -> None:
        for peer in _sg_peers(rule, sg_names):
            peer = group if peer == "self" else peer
            if direction == "ingress":
                flows.add(f"{peer} → {group}:{_sg_ports(rule)}")
            else:
                flows.add(f"{group} → {peer}:{_sg_ports(rule)}")

    for r in plan.get("resources", []):
        inputs = r.get("inputs") or {}
        if r["type"] == "aws:ec2/securityGroup:SecurityGroup":
            for direction in ("ingress", "egress"):
                for rule in inputs.get(direction) or []:
                    add(direction, f"sg:{r['name']}", rule)
        elif r["type"] in (
            "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
            "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        ):
            group = f"sg:{sg_names.get(str(inputs.get('securityGroupId')), inputs.get('securityGroupId'))}"  # noqa: E501
            add("ingress" if "Ingress" in r["type"] else "egress", group, inputs)
        elif r["type"] == "aws:ec2/securityGroupRule:SecurityGroupRule":
            group = f"sg:{sg_names.get(str(inputs.get('securityGroupId')), inputs.get('securityGroupId'))}"  # noqa: E501
            add(str(inputs.get("type") or "ingress"), group, inputs)
    return flows


def _docker_containers(plan: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [r for r in plan.get("resources", []) if r["type"] == "docker:index/container:Container"]


def _label(inputs: Mapping[str, Any], key: str) -> str | None:
    for entry in inputs.get("labels") or []:
        if isinstance(entry, Mapping) and entry.get("label") == key:
            return str(entry.get("value"))
    return None


def _container_service(r: Mapping[str, Any]) -> str:
    inputs = r.get("inputs") or {}
    return _label(inputs, "ai.sutazai.service") or str(inputs.get("name") or r["name"])


def docker_flows(plan: Mapping[str, Any]) -> set[str]:
    """Containers on one Docker network reach each other on every port; a non-internal
    network also reaches the outside."""
    networks: dict[str, Mapping[str, Any]] = {}
    for r in plan.get("resources", []):
        if r["type"] == "docker:index/network:Network":
            inputs = r.get("inputs") or {}
            networks[f"{r['name']}-id"] = inputs
            networks[str(inputs.get("name") or r["name"])] = inputs
    members: dict[str, set[str]] = {}
    flows: set[str] = set()
    for r in _docker_containers(plan):
        inputs = r.get("inputs") or {}
        service = _container_service(r)
        attached = [str(n.get("name")) for n in inputs.get("networksAdvanced") or []]
        if inputs.get("networkMode"):
            attached.append(str(inputs["networkMode"]))
        for network in attached:
            label = str((networks.get(network) or {}).get("name") or network)
            members.setdefault(label, set()).add(service)
            if network == "host":
                flows.add(f"{service} → host network (every host port, the outside)")
            elif not (networks.get(network) or {}).get("internal"):
                flows.add(f"{service} → outside (network {label} is not internal)")
    for network, services in members.items():
        for source in services:
            for target in services - {source}:
                flows.add(f"{source} → {target}:any (network {network})")
    return flows


def flows(plan: Mapping[str, Any]) -> dict[str, set[str]]:
    return {
        "Kubernetes NetworkPolicies": kubernetes_flows(plan),
        "AWS security groups": security_group_flows(plan),
        "Docker networks": docker_flows(plan),
    }


# ── Vault ───────────────────────────────────────────────────────────────────────────────

_PATH_BLOCK = re.compile(r'path\s+"([^"]+)"\s*\{([^{}]*)\}', re.S)
_CAPABILITIES = re.compile(r"capabilities\s*=\s*\[([^\]]*)\]", re.S)
_COMMENT = re.compile(r"(#|//)[^\n]*")


def parse_vault_policy(text: str) -> tuple[set[tuple[str, str]], bool]:
    """(path, capability) grants of an HCL policy, and whether all of it was understood."""
    grants: set[tuple[str, str]] = set()
    body = _COMMENT.sub("", text)
    understood = True
    for match in _PATH_BLOCK.finditer(body):
        inner = match.group(2)
        caps = _CAPABILITIES.search(inner)
        if caps is None or _CAPABILITIES.sub("", inner).strip():
            understood = False  # parameters, wrapping, anything we do not model
        for cap in re.findall(r'"([^"]*)"', caps.group(1) if caps else ""):
            grants.add((match.group(1), cap))
    if _PATH_BLOCK.sub("", body).strip():
        understood = False
    return grants, understood


def vault_grants(plan: Mapping[str, Any]) -> set[str]:
    """`service: capability path` for every Vault policy, named by the roles that carry it."""
    holders: dict[str, set[str]] = {}
    for r in plan.get("resources", []):
        inputs = r.get("inputs") or {}
        if r["type"].startswith("vault:") and "authBackendRole" in r["type"]:
            for policy in inputs.get("tokenPolicies") or []:
                holders.setdefault(str(policy), set()).add(str(inputs.get("roleName") or r["name"]))
    facts: set[str] = set()
    for r in plan.get("resources", []):
        if r["type"] != "vault:index/policy:Policy":
            continue
        inputs = r.get("inputs") or {}
        name = str(inputs.get("name") or r["name"])
        services = sorted(holders.get(name, set())) or [f"policy {name}"]
        text = inputs.get("policy")
        grants, understood = parse_vault_policy(text) if isinstance(text, str) else (set(), False)
        for service in services:
            for path, capability in grants:
                facts.add(f"{service}: {capability} `{path}`")
            if not understood:
                facts.add(f"{service}: policy {name} has rules this review cannot read")
    return facts


# ── hardening ───────────────────────────────────────────────────────────────────────────


def _merged_security(pod: Mapping[str, Any], container: Mapping[str, Any]) -> dict[str, Any]:
    pod_ctx = pod.get("securityContext") or {}
    ctx = container.get("securityContext") or {}
    caps = ctx.get("capabilities") or {}
    seccomp = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")

    def pick(key: str) -> Any:
        return ctx[key] if key in ctx else pod_ctx.get(key)

    user = pick("runAsUser")
    return {
        "user": "image default" if user is None else _number(user),
        "runAsNonRoot": bool(pick("runAsNonRoot")),
        "readOnlyRootFilesystem": bool(ctx.get("readOnlyRootFilesystem")),
        "allowPrivilegeEscalation": ctx.get("allowPrivilegeEscalation", True) is not False,
        "privileged": bool(ctx.get("privileged")),
        "capabilities.drop": sorted(caps.get("drop") or []),
        "capabilities.add": sorted(caps.get("add") or []),
        "seccomp": seccomp or "unset",
    }


def container_hardening(plan: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Per container: the facts that make it hardened or not."""
    result: dict[str, dict[str, Any]] = {}
    for kind in WORKLOAD_KINDS:
        for manifest in kubernetes_objects(plan, kind):
            meta = manifest.get("metadata") or {}
            pod = _pod_spec(manifest)
            host = {
                "hostNetwork": bool(pod.get("hostNetwork")),
                "hostPID": bool(pod.get("hostPID")),
                "hostIPC": bool(pod.get("hostIPC")),
                "hostPath": sorted(
                    str((v.get("hostPath") or {}).get("path"))
                    for v in pod.get("volumes") or []
                    if v.get("hostPath")
                ),
            }
            for group in ("initContainers", "containers"):
                for container in pod.get(group) or []:
                    key = f"{kind} {meta.get('namespace', 'default')}/{meta.get('name')} " + (
                        f"container {container.get('name')}"
                    )
                    result[key] = {**_merged_security(pod, container), **host}
    for r in _docker_containers(plan):
        inputs = r.get("inputs") or {}
        caps = inputs.get("capabilities") or {}
        result[f"docker container {inputs.get('name') or r['name']}"] = {
            "user": inputs.get("user") or "image default",
            "readOnly": bool(inputs.get("readOnly")),
            "privileged": bool(inputs.get("privileged")),
            "capabilities.drop": sorted(caps.get("drops") or []),
            "capabilities.add": sorted(caps.get("adds") or []),
            "securityOpts": sorted(inputs.get("securityOpts") or []),
            "networkMode": inputs.get("networkMode") or "",
            "pidMode": inputs.get("pidMode") or "",
            "hostPath": sorted(
                str(v.get("hostPath")) for v in inputs.get("volumes") or [] if v.get("hostPath")
            ),
        }
    return result


def weakened(fact: str, before: Any, after: Any) -> bool:
    """Whether a hardening fact moved to the less safe side."""
    if fact in ("runAsNonRoot", "readOnlyRootFilesystem", "readOnly"):
        return bool(before) and not after
    if fact in ("allowPrivilegeEscalation", "privileged", "hostNetwork", "hostPID", "hostIPC"):
        return not before and bool(after)
    if fact in ("capabilities.add", "hostPath"):
        return bool(set(after) - set(before))
    if fact in ("capabilities.drop", "securityOpts"):
        return bool(set(before) - set(after))
    if fact == "user":
        return after in (0, "0", "root", "image default") or str(after).startswith(("0:", "root"))
    if fact == "seccomp":
        return before in ("RuntimeDefault", "Localhost") and after not in (
            "RuntimeDefault", "Localhost",
        )  # fmt: skip
    if fact in ("networkMode", "pidMode"):
        return after == "host" or str(after).startswith("container:")
    return True  # a fact we do not rank: show it as a concern


# ── exposure and protection ─────────────────────────────────────────────────────────────


def exposure(plan: Mapping[str, Any]) -> set[str]:
    facts: set[str] = set()
    for ingress in kubernetes_objects(plan, "Ingress"):
        meta = ingress.get("metadata") or {}
        notes = meta.get("annotations") or {}
        hosts = sorted(
            str(rule.get("host") or "*") for rule in (ingress.get("spec") or {}).get("rules") or []
        )
        scheme = notes.get("alb.ingress.kubernetes.io/scheme", "scheme unset")
        listen = notes.get("alb.ingress.kubernetes.io/listen-ports", "default ports")
        cidrs = notes.get("alb.ingress.kubernetes.io/inbound-cidrs", "all addresses")
        facts.add(
            f"Ingress {meta.get('namespace')}/{meta.get('name')}: {scheme}, hosts "
            f"{', '.join(hosts) or '*'}, listens {listen}, from {cidrs}"
        )
    for service in kubernetes_objects(plan, "Service"):
        spec = service.get("spec") or {}
        kind = spec.get("type", "ClusterIP")
        if kind in ("LoadBalancer", "NodePort") or spec.get("externalIPs"):
            meta = service.get("metadata") or {}
            ports = ", ".join(str(_number(p.get("port"))) for p in spec.get("ports") or [])
            ranges = ", ".join(spec.get("loadBalancerSourceRanges") or []) or "all addresses"
            facts.add(
                f"Service {meta.get('namespace')}/{meta.get('name')}: {kind} ports {ports} "
                f"from {ranges}" + (f", external IPs {spec['externalIPs']}"
                                    if spec.get("externalIPs") else "")
            )  # fmt: skip
    for flow in security_group_flows(plan):
        source = flow.split(" → ", 1)[0]
        if not source.startswith("sg:"):
            facts.add(f"security group allows {flow}")
    for r in plan.get("resources", []):
        inputs = r.get("inputs") or {}
        if r["type"] == "aws:eks/cluster:Cluster":
            vpc = inputs.get("vpcConfig") or {}
            if vpc.get("endpointPublicAccess"):
                cidrs = ", ".join(vpc.get("publicAccessCidrs") or []) or "0.0.0.0/0"
                facts.add(f"EKS API {r['name']}: public endpoint from {cidrs}")
        if r["type"] in ("aws:rds/instance:Instance", "aws:rds/cluster:Cluster") and inputs.get(
            "publiclyAccessible"
        ):
            facts.add(f"RDS {r['name']}: publicly accessible")
        if r["type"] == "aws:ec2/subnet:Subnet" and inputs.get("mapPublicIpOnLaunch"):
            facts.add(f"subnet {r['name']}: public IPs on launch")
        if r["type"] == "docker:index/container:Container":
            for port in inputs.get("ports") or []:
                ip = port.get("ip") or "0.0.0.0"
                where = "all interfaces" if ip in ("0.0.0.0", "::") else ip
                facts.add(
                    f"docker {inputs.get('name')}: {where}:{_number(port.get('external'))} → "
                    f"{_number(port.get('internal'))}/{port.get('protocol', 'tcp')}"
                )
    return facts


PROTECTIVE_INPUTS: dict[str, tuple[object, str]] = {
    # input: (its protective value, what losing it means)
    "deletionProtection": (True, "deletion protection off"),
    "skipFinalSnapshot": (False, "no final snapshot on delete"),
    "deleteAutomatedBackups": (False, "automated backups deleted with the instance"),
    "reclaimPolicy": ("Retain", "volumes deleted with their claims"),
    "forceDelete": (False, "force delete (images deleted with the repository)"),
    "forceDestroy": (False, "force destroy (contents deleted with the bucket)"),
}


def protection_removed(base: Mapping[str, Any], head: Mapping[str, Any]) -> list[str]:
    before = {r["urn"]: r for r in base.get("resources", [])}
    after = {r["urn"]: r for r in head.get("resources", [])}
    findings: list[str] = []
    for urn, old in before.items():
        label = f"{old['type']} `{old['name']}`"
        new = after.get(urn)
        if new is None:
            if old.get("protect"):
                findings.append(f"{label}: a protected resource is removed from the program")
            continue
        if old.get("protect") and not new.get("protect"):
            findings.append(f"{label}: `protect` removed")
        if old.get("retain_on_delete") and not new.get("retain_on_delete"):
            findings.append(f"{label}: `retainOnDelete` removed")
        old_inputs, new_inputs = old.get("inputs") or {}, new.get("inputs") or {}
        for key, (safe, meaning) in PROTECTIVE_INPUTS.items():
            if old_inputs.get(key) == safe and new_inputs.get(key) != safe:
                findings.append(f"{label}: `{key}` {show(safe)} → "
                                f"{show(new_inputs.get(key, 'unset'))} ({meaning})")  # fmt: skip
    return sorted(findings)


def added_removed(before: set[str], after: set[str]) -> tuple[list[str], list[str]]:
    return sorted(after - before), sorted(before - after)
