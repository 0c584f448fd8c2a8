"""Monitoring configuration generated from the catalog, in one place.

Prometheus scrapes exactly `catalog.scrape_targets` (with the target's Vault-delivered
`scrape.token` as a bearer token where its metrics need one) and alerts when one of them
(and so a dependency of its clients) is down; Alertmanager routes those alerts; Alloy ships logs to
Loki; the OpenTelemetry collector forwards OTLP to the trace store it `talks_to`; Grafana
gets a data source per monitoring peer. The renderers only say how a service is addressed
and where logs come from (`Addressing`), so the same generator serves any platform.

Logs: on Kubernetes Alloy reads the pod logs of the stack's namespaces through the API
(`loki.source.kubernetes`, no hostPath). On Docker the equivalent would be
`loki.source.docker`, which needs the engine's socket, i.e. root on the host: never. Instead
the engine pushes: every container of a stack with Alloy logs through Docker's `gelf` driver
(the daemon sends, so no container gets any access) to a UDP port Alloy publishes on the
host's loopback only, and Alloy labels each line with the container's service and tier.
`docker logs` keeps working (Docker's dual logging keeps a local copy).
"""

from __future__ import annotations

import json

import pulumi
import yaml

from components.configs import alertmanager, dashboards, rules
from components.configs.addressing import Addressing
from components.platform import ALERT_ROUTER, shared_secret_file
from stacks.catalog import Catalog, ServiceSpec

SCRAPER = "prometheus"
LOG_STORE = "loki"
LOG_SHIPPER = "alloy"
TRACE_COLLECTOR = "otel-collector"
DASHBOARDS = "grafana"

_DEFAULT_PATHS = {
    SCRAPER: ("--config.file=", "/etc/prometheus/prometheus.yml"),
    ALERT_ROUTER: ("--config.file=", "/etc/alertmanager/alertmanager.yml"),
    LOG_STORE: ("-config.file=", "/etc/loki/local-config.yaml"),
    TRACE_COLLECTOR: ("--config=", "/etc/otelcol/config.yaml"),
}
GRAFANA_DATASOURCES = "/etc/grafana/provisioning/datasources/sutazai.yaml"
# Docker: Alloy's GELF listener (UDP) inside its container.
GELF_PORT = 12201
# Container labels (set by the Docker renderer) the gelf driver forwards with each line.
GELF_LABELS = ("ai.sutazai.service", "ai.sutazai.tier")


def _dump(document: object) -> str:
    return yaml.safe_dump(document, sort_keys=False, default_flow_style=False)


def config_path(spec: ServiceSpec) -> str | None:
    """Where a monitoring service reads its generated config: taken from its own args."""
    if spec.name == LOG_SHIPPER:
        return next((a for a in spec.args or [] if a.endswith(".alloy")), None) or (
            "/etc/alloy/config.alloy"
        )
    if spec.name == DASHBOARDS:
        return GRAFANA_DATASOURCES
    if spec.name not in _DEFAULT_PATHS:
        return None
    flag, default = _DEFAULT_PATHS[spec.name]
    for arg in spec.args or []:
        if arg.startswith(flag):
            return arg[len(flag) :]
    return default


def _rules_path(prometheus: ServiceSpec) -> str:
    path = config_path(prometheus) or "/etc/prometheus/prometheus.yml"
    return path.rsplit("/", 1)[0] + "/rules.yml"


def prometheus_config(catalog: Catalog, addressing: Addressing) -> str:
    prometheus = catalog[SCRAPER]
    config: dict[str, object] = {
        "global": {
            "scrape_interval": "30s",
            "evaluation_interval": "30s",
            "external_labels": {"stack": addressing.stack_label},
        },
        "rule_files": [_rules_path(prometheus)],
    }
    if ALERT_ROUTER in catalog.services and ALERT_ROUTER in prometheus.talks_to:
        router = catalog[ALERT_ROUTER]
        port = router.primary_port.port
        # Every replica, never a load-balanced Service: each Alertmanager of a cluster must
        # get every alert (they agree among themselves on who notifies).
        if addressing.every_replica is not None:
            routers: dict[str, object] = {
                "dns_sd_configs": [
                    {"names": [addressing.every_replica(router)], "type": "A", "port": port}
                ]
            }
        else:
            routers = {"static_configs": [{"targets": [f"{addressing.host(router)}:{port}"]}]}
        config["alerting"] = {"alertmanagers": [routers]}
    jobs = []
    for target in sorted(catalog.scrape_targets, key=lambda s: s.name):
        assert target.scrape is not None
        port = target.port(target.scrape.port).port
        job: dict[str, object] = {
            "job_name": target.name,
            "metrics_path": target.scrape.path,
        }
        if target.scrape.token is not None:
            # Read on every scrape, so a rotated key is picked up without a restart.
            job["authorization"] = {
                "type": "Bearer",
                "credentials_file": shared_secret_file(SCRAPER, target.name, target.scrape.token),
            }
        if addressing.every_replica is not None:
            job["dns_sd_configs"] = [
                {"names": [addressing.every_replica(target)], "type": "A", "port": port}
            ]
        else:
            job["static_configs"] = [{"targets": [f"{addressing.host(target)}:{port}"]}]
        job["relabel_configs"] = [
            {"target_label": "service", "replacement": target.name},
            {"target_label": "tier", "replacement": target.tier.value},
        ]
        jobs.append(job)
    config["scrape_configs"] = jobs
    return _dump(config)


def prometheus_rules(catalog: Catalog) -> str:
    """Every rule group: the catalog's (components/configs/rules.py) and the public edge's."""
    return rules.prometheus_rules(
        catalog, extra_groups=[{"name": "sutazai-edge", "rules": edge_alert_rules()}]
    )


# The public edge's thresholds (per service, over 5 minutes).
UNAUTHORIZED_PER_SECOND = 1.0  # sustained 401s: token probing or a broken client/issuer
RATE_LIMITED_PER_SECOND = 0.5  # sustained 429s: a flood, or limits set too low
SERVER_ERROR_RATIO = 0.05  # 5xx share of all answers


def edge_alert_rules() -> list[dict[str, object]]:
    """Spikes of 401, 429 and 5xx answers, and open circuit breakers, from the contract
    metrics every in-house service exports (http_requests_total, sutazai_circuit_open)."""

    def rate(status: str) -> str:
        return f'sum by (job) (rate(http_requests_total{{status=~"{status}"}}[5m]))'

    def alert(name: str, expr: str, for_: str, severity: str, summary: str) -> dict[str, object]:
        return {
            "alert": name,
            "expr": expr,
            "for": for_,
            "labels": {"severity": severity, "service": "{{ $labels.job }}"},
            "annotations": {"summary": summary},
        }

    return [
        alert(
            "EdgeUnauthorizedSpike",
            f"{rate('401')} > {UNAUTHORIZED_PER_SECOND}",
            "5m",
            "warning",
            "{{ $labels.job }} refuses more than 1 request/s as unauthenticated (401)",
        ),
        alert(
            "EdgeRateLimitedSpike",
            f"{rate('429')} > {RATE_LIMITED_PER_SECOND}",
            "5m",
            "warning",
            "{{ $labels.job }} answers more than 0.5 requests/s with 429 (rate limited)",
        ),
        alert(
            "EdgeServerErrorSpike",
            f"{rate('5..')} / sum by (job) (rate(http_requests_total[5m])) > {SERVER_ERROR_RATIO}",
            "5m",
            "critical",
            "more than 5% of {{ $labels.job }}'s answers are 5xx",
        ),
        alert(
            "CircuitOpen",
            "max by (job, dependency) (sutazai_circuit_open) == 1",
            "1m",
            "critical",
            "{{ $labels.job }} has opened its circuit to {{ $labels.dependency }}: "
            "calls fail fast with 503",
        ),
    ]


def loki_config(spec: ServiceSpec) -> str:
    root = spec.storage.path if spec.storage else "/loki"
    return _dump(
        {
            "auth_enabled": False,
            "server": {"http_listen_port": spec.primary_port.port, "grpc_listen_port": 9095},
            "common": {
                "instance_addr": "127.0.0.1",
                "path_prefix": root,
                "storage": {
                    "filesystem": {
                        "chunks_directory": f"{root}/chunks",
                        "rules_directory": f"{root}/rules",
                    }
                },
                "replication_factor": 1,
                "ring": {"kvstore": {"store": "inmemory"}},
            },
            "schema_config": {
                "configs": [
                    {
                        "from": "2024-01-01",
                        "store": "tsdb",
                        "object_store": "filesystem",
                        "schema": "v13",
                        "index": {"prefix": "index_", "period": "24h"},
                    }
                ]
            },
            "limits_config": {"retention_period": "744h"},
            "compactor": {
                "working_directory": f"{root}/compactor",
                "retention_enabled": True,
                "delete_request_store": "filesystem",
            },
            "analytics": {"reporting_enabled": False},
        }
    )


def _loki_write(catalog: Catalog, addressing: Addressing) -> str:
    loki = catalog[LOG_STORE]
    url = f"http://{addressing.host(loki)}:{loki.primary_port.port}/loki/api/v1/push"
    return f"""loki.write "default" {{
  endpoint {{
    url = "{url}"
  }}
  external_labels = {{ stack = "{addressing.stack_label}" }}
}}
"""


def _kubernetes_sources(addressing: Addressing) -> str:
    namespaces = json.dumps(sorted(addressing.log_namespaces))
    return f"""discovery.kubernetes "pods" {{
  role = "pod"
  namespaces {{
    names = {namespaces}
  }}
}}

discovery.relabel "pods" {{
  targets = discovery.kubernetes.pods.targets
  rule {{
    source_labels = ["__meta_kubernetes_namespace"]
    target_label  = "namespace"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_name"]
    target_label  = "pod"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_container_name"]
    target_label  = "container"
  }}
  rule {{
    source_labels = ["__meta_kubernetes_pod_label_app_kubernetes_io_name"]
    target_label  = "service"
  }}
}}

loki.source.kubernetes "pods" {{
  targets    = discovery.relabel.pods.output
  forward_to = [loki.write.default.receiver]
}}
"""


def _gelf_sources(port: int) -> str:
    # JMESPath: keys with dots are quoted identifiers ("_ai.sutazai.service").
    service, tier = (json.dumps(json.dumps(f"_{label}")) for label in GELF_LABELS)
    return f"""// The Docker engine's gelf log driver pushes each container's output here (UDP).
loki.source.gelf "containers" {{
  listen_address = "0.0.0.0:{port}"
  forward_to     = [loki.process.containers.receiver]
}}

loki.process "containers" {{
  stage.json {{
    expressions = {{
      message   = "short_message",
      container = "_container_name",
      service   = {service},
      tier      = {tier},
    }}
  }}
  stage.labels {{
    values = {{ container = "", service = "", tier = "" }}
  }}
  stage.output {{
    source = "message"
  }}
  forward_to = [loki.write.default.receiver]
}}
"""


def alloy_config(catalog: Catalog, addressing: Addressing) -> str:
    if addressing.log_namespaces:
        sources = _kubernetes_sources(addressing)
    elif addressing.gelf_port is not None:
        sources = _gelf_sources(addressing.gelf_port)
    else:
        sources = "// This platform gives Alloy no log source.\n"
    header = "// Generated from the service catalog (components/configs/observability.py).\n"
    return f"{header}{sources}\n{_loki_write(catalog, addressing)}"


def otel_config(catalog: Catalog, addressing: Addressing) -> str:
    collector = catalog[TRACE_COLLECTOR]
    exporters: dict[str, object] = {}
    for peer in collector.talks_to:
        if peer not in catalog.services:
            continue
        spec = catalog[peer]
        grpc = next((p for p in spec.ports if p.name == "otlp-grpc"), None)
        if grpc is not None:
            exporters[f"otlp/{peer}"] = {
                "endpoint": f"{addressing.host(spec)}:{grpc.port}",
                "tls": {"insecure": True},
            }
    if not exporters:
        exporters["debug"] = {"verbosity": "basic"}
    ports = {p.name: p.port for p in collector.ports}
    return _dump(
        {
            "receivers": {
                "otlp": {
                    "protocols": {
                        "grpc": {"endpoint": f"0.0.0.0:{ports.get('otlp-grpc', 4317)}"},
                        "http": {"endpoint": f"0.0.0.0:{ports.get('otlp-http', 4318)}"},
                    }
                }
            },
            "processors": {
                "memory_limiter": {"check_interval": "1s", "limit_percentage": 80},
                "batch": {},
            },
            "exporters": exporters,
            "extensions": {"health_check": {"endpoint": f"0.0.0.0:{ports.get('health', 13133)}"}},
            "service": {
                "extensions": ["health_check"],
                "pipelines": {
                    "traces": {
                        "receivers": ["otlp"],
                        "processors": ["memory_limiter", "batch"],
                        "exporters": sorted(exporters),
                    }
                },
                "telemetry": {
                    "metrics": {
                        "readers": [
                            {
                                "pull": {
                                    "exporter": {
                                        "prometheus": {
                                            "host": "0.0.0.0",
                                            "port": ports.get("metrics", 8888),
                                        }
                                    }
                                }
                            }
                        ]
                    }
                },
            },
        }
    )


_DATASOURCE_TYPES = {SCRAPER: "prometheus", LOG_STORE: "loki", "jaeger": "jaeger"}


def grafana_datasources(catalog: Catalog, addressing: Addressing) -> str:
    grafana = catalog[DASHBOARDS]
    sources = []
    for peer in grafana.talks_to:
        if peer not in catalog.services or peer not in _DATASOURCE_TYPES:
            continue
        spec = catalog[peer]
        port = next((p for p in spec.ports if p.name in ("http", "ui")), spec.primary_port)
        sources.append(
            {
                "name": peer,
                # The dashboards (components/configs/dashboards.py) refer to it by this uid.
                "uid": peer,
                "type": _DATASOURCE_TYPES[peer],
                "access": "proxy",
                "url": f"http://{addressing.host(spec)}:{port.port}",
                "isDefault": peer == SCRAPER,
                "editable": False,
            }
        )
    return _dump({"apiVersion": 1, "datasources": sources})


def generated_config_files(
    spec: ServiceSpec, catalog: Catalog, addressing: Addressing
) -> dict[str, pulumi.Input[str]]:
    """The config files a monitoring service needs (path -> content); {} for the others."""
    path = config_path(spec)
    if path is None:
        return {}
    if spec.name == SCRAPER:
        return {
            path: prometheus_config(catalog, addressing),
            _rules_path(spec): prometheus_rules(catalog),
        }
    if spec.name == ALERT_ROUTER:
        return {path: alertmanager.alertmanager_config(catalog, addressing.alert_delivery)}
    if spec.name == LOG_STORE:
        return {path: loki_config(spec)}
    if spec.name == LOG_SHIPPER and LOG_STORE in catalog.services:
        return {path: alloy_config(catalog, addressing)}
    if spec.name == TRACE_COLLECTOR:
        return {path: otel_config(catalog, addressing)}
    if spec.name == DASHBOARDS:
        files: dict[str, pulumi.Input[str]] = {path: grafana_datasources(catalog, addressing)}
        if SCRAPER in catalog.services and SCRAPER in catalog[DASHBOARDS].talks_to:
            files.update(dashboards.provisioning_files(catalog))
        return files
    return {}
