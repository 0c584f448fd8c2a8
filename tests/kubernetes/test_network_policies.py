"""NetworkPolicies of the prod plan, evaluated: exactly the catalog's flows, nothing else."""

from __future__ import annotations

import ipaddress
from typing import Any

import pytest

from components.kubernetes import naming, network_policies
from components.kubernetes.naming import Naming
from stacks.catalog import Catalog, Tier
from stacks.config import StackConfig
from stacks.netpol import Evaluator, External, Pod

Network = tuple[Evaluator, dict[str, Pod]]


def expected_flows(catalog: Catalog, workloads: set[str]) -> set[tuple[str, str, int]]:
    """What the graph says may flow between pods: network edges, Prometheus scrapes, and a
    clustered service's replicas to each other on its cluster port."""
    flows = {
        (e.source, e.target, e.port.port)
        for e in catalog.network_edges
        if e.source in workloads and e.target in workloads
    }
    if "prometheus" in workloads:
        flows |= {
            ("prometheus", s.name, s.port(s.scrape.port).port)
            for s in catalog.scrape_targets
            if s.name in workloads and s.scrape is not None
        }
    flows |= {
        (s.name, s.name, s.port(s.cluster.port).port)
        for s in catalog
        if s.name in workloads and s.cluster is not None and s.replicas > 1
    }
    return flows


def test_pod_to_pod_traffic_is_exactly_the_catalog_graph(
    prod_model: tuple[StackConfig, Catalog], prod_network: Network
) -> None:
    _, catalog = prod_model
    evaluator, pods = prod_network
    workloads = {s.name for s in catalog if s.name in pods}
    assert len(workloads) == len(catalog.services) - 2  # postgres, redis: RDS, ElastiCache
    expected = expected_flows(catalog, workloads)
    wrong = []
    for source in sorted(workloads):
        for target in sorted(workloads):
            for port in {p.port for p in catalog[target].ports}:
                allowed = evaluator.allowed(pods[source], pods[target], port)
                if allowed != ((source, target, port) in expected):
                    wrong.append(
                        f"{source} -> {target}:{port} {'allowed' if allowed else 'denied'}"
                    )
    assert not wrong, "\n".join(wrong)
    assert len(expected) > 50


# One allowed and one denied flow in every tier (the target's tier).
TIER_PAIRS = {
    Tier.DATA: [
        ("mcp-server", "pgbouncer", 6432, True),
        ("frontend", "pgbouncer", 6432, False),
        ("backend", "neo4j", 7687, True),
        ("frontend", "neo4j", 7687, False),
    ],
    Tier.CORE: [
        ("frontend", "backend", 8080, True),
        ("frontend", "ollama", 11434, False),
        ("frontend", "backend", 9090, False),
    ],
    Tier.VECTOR: [("backend", "qdrant", 6333, True), ("frontend", "qdrant", 6333, False)],
    Tier.AGENT: [
        ("service-hub", "letta", 8283, True),
        ("frontend", "letta", 8283, False),
        ("dify-web", "dify", 5001, True),
        ("dify-web", "langflow", 7860, False),
    ],
    Tier.PLATFORM: [
        ("health-monitor", "mcp-server", 8080, True),
        ("backend", "mcp-server", 8080, False),
    ],
    Tier.MONITORING: [
        ("grafana", "prometheus", 9090, True),
        ("backend", "prometheus", 9090, False),
        ("otel-collector", "jaeger", 4317, True),
        ("frontend", "jaeger", 4317, False),
    ],
}


@pytest.mark.parametrize("tier", list(Tier), ids=lambda t: t.value)
def test_an_allowed_and_a_denied_flow_in_every_tier(
    tier: Tier, prod_model: tuple[StackConfig, Catalog], prod_network: Network
) -> None:
    _, catalog = prod_model
    evaluator, pods = prod_network
    pairs = TIER_PAIRS[tier]
    assert {a for *_, a in pairs} == {True, False}
    for source, target, port, allowed in pairs:
        assert catalog[target].tier is tier
        assert evaluator.allowed(pods[source], pods[target], port) is allowed, (source, target)


def test_scraping_follows_the_catalogs_scrape_entries(
    prod_model: tuple[StackConfig, Catalog], prod_network: Network
) -> None:
    _, catalog = prod_model
    evaluator, pods = prod_network
    assert evaluator.allowed(pods["prometheus"], pods["backend"], 8080)
    assert evaluator.allowed(pods["prometheus"], pods["otel-collector"], 8888)
    assert not evaluator.allowed(pods["prometheus"], pods["otel-collector"], 4317)
    assert catalog["neo4j"].scrape is None
    assert not evaluator.allowed(pods["prometheus"], pods["neo4j"], 7474)
    assert not evaluator.allowed(pods["grafana"], pods["backend"], 8080)


def test_alertmanager_replicas_gossip_with_each_other_only(prod_network: Network) -> None:
    evaluator, pods = prod_network
    alertmanager = pods["alertmanager"]
    for protocol in ("TCP", "UDP"):
        assert evaluator.allowed(alertmanager, alertmanager, 9094, protocol)
    # Its clients reach the API, never the gossip port.
    assert evaluator.allowed(pods["prometheus"], alertmanager, 9093)
    assert not evaluator.allowed(pods["prometheus"], alertmanager, 9094)
    assert not evaluator.allowed(pods["grafana"], alertmanager, 9094, "UDP")


def test_every_pod_resolves_names_and_nothing_else_leaves_by_default(
    prod_network: Network,
) -> None:
    evaluator, pods = prod_network
    internet = External("198.51.100.7")
    for name, pod in pods.items():
        if name == "kube-dns" or pod.namespace in ("kube-system", "sutazai-vault"):
            continue
        assert evaluator.allowed(pod, pods["kube-dns"], 53, "UDP"), name
        assert evaluator.allowed(pod, pods["kube-dns"], 53, "TCP"), name
        assert not evaluator.allowed(pod, pods["kube-dns"], 80), name
        # Only Ollama (model downloads by its preload init container), Alertmanager (SNS, STS
        # for IRSA, Slack, PagerDuty: prod has receivers) and the snapshot job (to S3) go out
        # on 443.
        assert evaluator.allowed(pod, internet, 443) == (
            name in ("ollama", "alertmanager", "qdrant-backup")
        ), name
        assert not evaluator.allowed(pod, internet, 80), name
    # Out means out of the VPC: not to another address inside it.
    assert not evaluator.allowed(pods["alertmanager"], External("10.40.16.9"), 443)


def test_model_downloads_never_reach_into_the_vpc(
    prod_model: tuple[StackConfig, Catalog], prod_network: Network
) -> None:
    config, _ = prod_model
    evaluator, pods = prod_network
    inside = External(str(next(ipaddress.ip_network(str(config.network.data_subnets[0])).hosts())))
    assert not evaluator.allowed(pods["ollama"], inside, 443)


def test_managed_data_is_reached_only_by_its_clients(
    prod_model: tuple[StackConfig, Catalog], prod_network: Network
) -> None:
    config, catalog = prod_model
    evaluator, pods = prod_network
    rds = External(str(next(ipaddress.ip_network(str(config.network.data_subnets[1])).hosts())))
    app_subnet = External(
        str(next(ipaddress.ip_network(str(config.network.application_subnets[0])).hosts()))
    )
    # The managed issuer's provisioning Job applies its client roles (RDS only: ElastiCache
    # users are AWS resources).
    jobs = {"postgres": naming.provisioning_name(catalog["postgres"])}
    postgres_clients = set(catalog.clients_of("postgres")) | {jobs["postgres"]}
    redis_clients = set(catalog.clients_of("redis"))
    assert postgres_clients == {"pgbouncer", "postgres-provisioning"}  # the rest: the pooler
    assert {"backend", "mcp-server"} <= redis_clients
    assert "letta" not in redis_clients  # catalog unused_peers: Letta cannot log in to Redis
    for name, pod in pods.items():
        if pod.namespace.startswith("sutazai-") and pod.namespace != "sutazai-vault":
            assert evaluator.allowed(pod, rds, 5432) == (name in postgres_clients), name
            assert evaluator.allowed(pod, rds, 6379) == (name in redis_clients), name
            assert not evaluator.allowed(pod, app_subnet, 5432), name


def test_vault_and_the_api_server_only_for_pods_that_need_them(
    prod_manifests: list[dict[str, Any]], prod_network: Network
) -> None:
    evaluator, pods = prod_network
    templates = [
        m["spec"]["jobTemplate"]["spec"]["template"]
        if m["kind"] == "CronJob"
        else m["spec"]["template"]
        for m in prod_manifests
        if m["kind"] in ("Deployment", "StatefulSet", "Job", "CronJob")
    ]
    injected = {
        t["metadata"]["labels"]["app.kubernetes.io/name"]
        for t in templates
        if t["metadata"].get("annotations", {}).get("vault.hashicorp.com/agent-inject") == "true"
    }
    assert {"backend", "pgbouncer", "grafana", "postgres-provisioning", "qdrant-backup"} <= injected
    # vault.ops.sutazai.example.com lives in vaultCidrs (10.30.8.0/24), outside the cluster.
    vault = External("10.30.8.20")
    elsewhere = External("203.0.113.20")
    api = External("10.40.80.10")  # control-plane interfaces live in the management subnets
    for name, pod in pods.items():
        if not pod.namespace.startswith("sutazai-") or pod.namespace == "sutazai-vault":
            continue
        assert evaluator.allowed(pod, vault, 8200) == (name in injected), name
        # (Ollama's model downloads go to any address outside the VPC on 443.)
        assert evaluator.allowed(pod, vault, 443) == (name == "ollama"), name  # not Alertmanager
        assert not evaluator.allowed(pod, elsewhere, 8200), name
        assert evaluator.allowed(pod, api, 443) == (name == "alloy"), name


def test_vault_egress_names_the_vault_cidrs_on_the_vault_port_only(
    prod_model: tuple[StackConfig, Catalog], prod_manifests: list[dict[str, Any]]
) -> None:
    config, _ = prod_model
    vault = {str(c) for c in config.vault_cidrs}
    peers = []
    for policy in (m for m in prod_manifests if m["kind"] == "NetworkPolicy"):
        for rule in policy["spec"].get("egress", []):
            blocks = {p["ipBlock"]["cidr"] for p in rule.get("to", []) if "ipBlock" in p}
            # Open to the internet on 443 only: Ollama's model downloads, the alert router's
            # receivers, the snapshot job's S3.
            if "0.0.0.0/0" in blocks:
                assert policy["metadata"]["name"] in ("ollama", "alertmanager", "qdrant-backup"), (
                    policy
                )
                assert rule["ports"] == [{"port": 443, "protocol": "TCP"}]
            if blocks & vault:
                assert blocks == vault, policy["metadata"]["name"]
                assert rule["ports"] == [{"port": 8200, "protocol": "TCP"}]
                peers.append(policy["metadata"]["name"])
    assert {"backend", "pgbouncer", "postgres-provisioning"} <= set(peers)


def test_the_policy_generator_never_lists_an_edge_by_hand() -> None:
    """A catalog with a made-up edge gets exactly that flow, in both directions' policies."""
    from stacks.catalog import load_catalog

    catalog = load_catalog()
    naming = Naming("t")
    frontend = catalog["frontend"].model_copy(update={"talks_to": ["backend", "qdrant"]})
    changed = catalog.with_service(frontend)
    inputs = network_policies.PolicyInputs(
        catalog=changed, naming=naming, workloads=frozenset(changed.services)
    )
    policies = network_policies.all_policies(inputs, [naming.namespace_of(s) for s in changed])
    evaluator = Evaluator(policies)
    pod = {s.name: Pod(naming.namespace_of(s), {"app.kubernetes.io/name": s.name}) for s in changed}
    assert evaluator.allowed(pod["frontend"], pod["qdrant"], 6333)
    original = network_policies.PolicyInputs(
        catalog=catalog, naming=naming, workloads=frozenset(catalog.services)
    )
    before = Evaluator(
        network_policies.all_policies(original, [naming.namespace_of(s) for s in catalog])
    )
    assert not before.allowed(pod["frontend"], pod["qdrant"], 6333)


def test_vault_destination_parsing() -> None:
    ip = network_policies.vault_destination("https://10.1.2.3:8200")
    assert ip.cidrs == ("10.1.2.3/32",) and ip.port == 8200
    internal = network_policies.vault_destination("http://vault.vault.svc.cluster.local:8200")
    assert internal.namespace == "vault"
    external = network_policies.vault_destination("https://vault.example.com")
    assert external.port == 443 and external.cidrs == ("0.0.0.0/0",)
    known = network_policies.vault_destination(
        "https://vault.example.com:8200", cidrs=["10.30.8.0/24", "10.31.8.0/24"]
    )
    assert known.port == 8200 and known.cidrs == ("10.30.8.0/24", "10.31.8.0/24")
    pinned = network_policies.vault_destination("https://10.1.2.3:8200", cidrs=["10.30.8.0/24"])
    assert pinned.cidrs == ("10.1.2.3/32",)


def test_the_vault_injector_webhook_is_reachable_from_the_control_plane_only(
    prod_model: tuple[StackConfig, Catalog], prod_network: Network
) -> None:
    config, _ = prod_model
    evaluator, pods = prod_network
    (injector,) = [p for p in pods.values() if p.namespace == "sutazai-vault"]
    control_plane = External(
        str(next(ipaddress.ip_network(str(config.network.management_subnets[0])).hosts()))
    )
    nodes = External(
        str(next(ipaddress.ip_network(str(config.network.application_subnets[0])).hosts()))
    )
    assert evaluator.allowed(control_plane, injector, 8080)
    assert not evaluator.allowed(nodes, injector, 8080)
    assert not evaluator.allowed(pods["backend"], injector, 8080)
    assert not evaluator.allowed(control_plane, injector, 9090)
    assert evaluator.allowed(injector, control_plane, 443)  # the API server
    assert not evaluator.allowed(injector, External("198.51.100.7"), 443)
