"""Estimated monthly AWS cost of a recorded plan, from the price table stacks/prices.yaml.

Line items for what the program registers: EKS clusters, node groups (instances and root
volumes, at desired and at maximum size), NAT gateways and public IPv4 addresses, ALBs
(one per Ingress group), RDS, ElastiCache, EBS volumes of StatefulSets, KMS keys and
CloudWatch log groups and alarms. A type the table does not price is listed as unpriced, never
counted as free.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

PRICES = Path(__file__).resolve().parent / "prices.yaml"


class Assumptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    nat_gb_per_gateway_month: float
    load_balancer_lcus: float
    log_gb_per_group_month: float


class PriceTable(BaseModel):
    model_config = ConfigDict(extra="forbid")
    as_of: str
    source: str
    region: str
    currency: str
    hours_per_month: float
    ec2_instance_hour: dict[str, float]
    eks_cluster_hour: float
    nat_gateway_hour: float
    nat_gateway_gb: float
    public_ipv4_hour: float
    load_balancer_hour: float
    load_balancer_lcu_hour: float
    rds_instance_hour: dict[str, dict[str, float]]
    rds_storage_gb_month: dict[str, float]
    elasticache_node_hour: dict[str, float]
    ebs_gb_month: dict[str, float]
    kms_key_month: float
    cloudwatch_alarm_month: float
    logs_ingest_gb: float
    logs_storage_gb_month: float
    assumptions: Assumptions


def load_prices(path: Path = PRICES) -> PriceTable:
    try:
        return PriceTable.model_validate(yaml.safe_load(path.read_text()))
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ValueError(f"{path}: {problems}") from exc


@dataclass
class LineItem:
    item: str
    detail: str
    monthly: float  # at the desired size
    monthly_at_max: float


@dataclass
class Estimate:
    items: list[LineItem] = field(default_factory=list)
    unpriced: list[str] = field(default_factory=list)

    @property
    def monthly(self) -> float:
        return sum(i.monthly for i in self.items)

    @property
    def monthly_at_max(self) -> float:
        return sum(i.monthly_at_max for i in self.items)

    def by_item(self) -> dict[str, LineItem]:
        return {i.item: i for i in self.items}


_QUANTITY = re.compile(r"^([0-9.]+)\s*(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P)?$")
_GIB = {None: 1 / 2**30, "Ki": 1 / 2**20, "Mi": 1 / 2**10, "Gi": 1.0, "Ti": 2**10, "Pi": 2**20,
        "K": 1e3 / 2**30, "M": 1e6 / 2**30, "G": 1e9 / 2**30, "T": 1e12 / 2**30,
        "P": 1e15 / 2**30}  # fmt: skip


def gib(quantity: object) -> float | None:
    match = _QUANTITY.match(str(quantity).strip())
    if not match:
        return None
    return float(match.group(1)) * _GIB[match.group(2)]


def _num(value: object, default: float = 0.0) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    return default


def estimate(plan: Mapping[str, Any], prices: PriceTable) -> Estimate:
    hours = prices.hours_per_month
    out = Estimate()
    resources = [r for r in plan.get("resources", []) if not r.get("read")]
    by_type: dict[str, list[Mapping[str, Any]]] = {}
    for r in resources:
        by_type.setdefault(r["type"], []).append(r)

    def add(item: str, detail: str, monthly: float, at_max: float | None = None) -> None:
        out.items.append(LineItem(item, detail, monthly, monthly if at_max is None else at_max))

    for r in by_type.get("aws:eks/cluster:Cluster", []):
        add(f"EKS cluster {r['name']}", "control plane", prices.eks_cluster_hour * hours)

    templates = {
        f"{r['name']}-id": r for r in by_type.get("aws:ec2/launchTemplate:LaunchTemplate", [])
    }
    for r in by_type.get("aws:eks/nodeGroup:NodeGroup", []):
        inputs = r.get("inputs") or {}
        scaling = inputs.get("scalingConfig") or {}
        desired = _num(scaling.get("desiredSize"), _num(scaling.get("minSize")))
        maximum = _num(scaling.get("maxSize"), desired)
        types = inputs.get("instanceTypes") or ["t3.medium"]  # the EKS default
        instance = str(types[0])
        price = prices.ec2_instance_hour.get(instance)
        if price is None:
            out.unpriced.append(f"EC2 instance type {instance} (node group {r['name']})")
        else:
            add(
                f"node group {r['name']}",
                f"{desired:g}-{maximum:g} x {instance} (max {maximum:g})",
                price * hours * desired,
                price * hours * maximum,
            )
        template = templates.get(str((inputs.get("launchTemplate") or {}).get("id")))
        volume_gb, volume_type = _num(inputs.get("diskSize"), 20.0), "gp3"
        if template is not None:
            for mapping in (template.get("inputs") or {}).get("blockDeviceMappings") or []:
                ebs = mapping.get("ebs") or {}
                volume_gb = _num(ebs.get("volumeSize"), volume_gb)
                volume_type = str(ebs.get("volumeType") or volume_type)
        gb_price = prices.ebs_gb_month.get(volume_type)
        if gb_price is None:
            out.unpriced.append(f"EBS volume type {volume_type} (node group {r['name']})")
        else:
            add(
                f"node group {r['name']} root volumes",
                f"{volume_gb:g} GB {volume_type} per node",
                gb_price * volume_gb * desired,
                gb_price * volume_gb * maximum,
            )

    nats = len(by_type.get("aws:ec2/natGateway:NatGateway", []))
    if nats:
        gb = prices.assumptions.nat_gb_per_gateway_month
        add("NAT gateways", f"{nats} x (hours + {gb:g} GB processed, assumed)",
            nats * (prices.nat_gateway_hour * hours + prices.nat_gateway_gb * gb))  # fmt: skip
    ips = len(by_type.get("aws:ec2/eip:Eip", []))
    if ips:
        add("public IPv4 addresses", f"{ips} Elastic IPs", ips * prices.public_ipv4_hour * hours)

    groups: set[str] = set()
    for r in by_type.get("kubernetes:networking.k8s.io/v1:Ingress", []):
        manifest = r.get("inputs") or {}
        meta = manifest.get("metadata") or {}
        notes = meta.get("annotations") or {}
        alb = (manifest.get("spec") or {}).get("ingressClassName") == "alb" or any(
            k.startswith("alb.ingress.kubernetes.io/") for k in notes
        )
        if alb:
            groups.add(
                notes.get("alb.ingress.kubernetes.io/group.name")
                or f"{meta.get('namespace')}/{meta.get('name')}"
            )
    for r in by_type.get("kubernetes:core/v1:Service", []):
        if ((r.get("inputs") or {}).get("spec") or {}).get("type") == "LoadBalancer":
            groups.add(f"service {r['name']}")
    if groups:
        lcus = prices.assumptions.load_balancer_lcus
        add("load balancers", f"{len(groups)} ({', '.join(sorted(groups))}), {lcus:g} LCU assumed",
            len(groups) * hours * (prices.load_balancer_hour + lcus * prices.load_balancer_lcu_hour))  # fmt: skip  # noqa: E501

    for r in by_type.get("aws:rds/instance:Instance", []):
        inputs = r.get("inputs") or {}
        engine, klass = str(inputs.get("engine") or "postgres"), str(inputs.get("instanceClass"))
        copies = 2 if inputs.get("multiAz") else 1
        price = prices.rds_instance_hour.get(engine, {}).get(klass)
        if price is None:
            out.unpriced.append(f"RDS {engine} {klass} ({r['name']})")
        else:
            add(f"RDS {r['name']}", f"{klass}{' Multi-AZ' if copies == 2 else ''}",
                price * hours * copies)  # fmt: skip
        storage = str(inputs.get("storageType") or "gp2")
        allocated = _num(inputs.get("allocatedStorage"))
        ceiling = _num(inputs.get("maxAllocatedStorage"), allocated) or allocated
        gb_price = prices.rds_storage_gb_month.get(storage)
        if gb_price is None:
            out.unpriced.append(f"RDS storage type {storage} ({r['name']})")
        else:
            add(f"RDS {r['name']} storage", f"{allocated:g} GB {storage} (autoscaling to "
                f"{ceiling:g}) x {copies}", gb_price * allocated * copies,
                gb_price * ceiling * copies)  # fmt: skip

    for r in by_type.get("aws:elasticache/replicationGroup:ReplicationGroup", []):
        inputs = r.get("inputs") or {}
        node = str(inputs.get("nodeType"))
        if inputs.get("numCacheClusters") is not None:
            nodes = _num(inputs.get("numCacheClusters"), 1)
        else:
            nodes = _num(inputs.get("numNodeGroups"), 1) * (
                _num(inputs.get("replicasPerNodeGroup")) + 1
            )
        price = prices.elasticache_node_hour.get(node)
        if price is None:
            out.unpriced.append(f"ElastiCache {node} ({r['name']})")
        else:
            add(f"ElastiCache {r['name']}", f"{nodes:g} x {node}", price * hours * nodes)

    volumes_gb = 0.0
    for r in by_type.get("kubernetes:apps/v1:StatefulSet", []):
        spec = (r.get("inputs") or {}).get("spec") or {}
        replicas = _num(spec.get("replicas"), 1)
        for claim in spec.get("volumeClaimTemplates") or []:
            request = ((claim.get("spec") or {}).get("resources") or {}).get("requests") or {}
            size = gib(request.get("storage"))
            if size is None:
                out.unpriced.append(f"volume claim of {r['name']}: size {request.get('storage')!r}")
                continue
            volumes_gb += size * replicas
    if volumes_gb:
        add("EBS volumes (StatefulSets)", f"{volumes_gb:g} GiB gp3",
            volumes_gb * prices.ebs_gb_month["gp3"])  # fmt: skip

    keys = len(by_type.get("aws:kms/key:Key", []))
    if keys:
        add("KMS keys", f"{keys} customer managed keys", keys * prices.kms_key_month)

    alarms = len(by_type.get("aws:cloudwatch/metricAlarm:MetricAlarm", []))
    if alarms:
        add("CloudWatch alarms", f"{alarms} alarms (one metric each)",
            alarms * prices.cloudwatch_alarm_month)  # fmt: skip

    logs = by_type.get("aws:cloudwatch/logGroup:LogGroup", [])
    if logs:
        gb = prices.assumptions.log_gb_per_group_month
        stored = 0.0
        for r in logs:
            days = _num((r.get("inputs") or {}).get("retentionInDays"), 365) or 365
            stored += gb * min(days, 365) / 30.4
        add("CloudWatch log groups", f"{len(logs)} x {gb:g} GB/month ingested (assumed), "
            f"{stored:g} GB stored at steady state",
            len(logs) * gb * prices.logs_ingest_gb + stored * prices.logs_storage_gb_month)  # fmt: skip  # noqa: E501
    return out
