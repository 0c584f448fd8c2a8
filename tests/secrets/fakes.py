"""Small catalogs, stack configs and fake platform bindings for the Secrets unit tests."""

from __future__ import annotations

from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from components.platform import DockerVaultBinding, KubernetesVaultBinding
from stacks.catalog import Catalog, ServiceSpec, load_catalog
from stacks.config import StackConfig, parse_config_bag
from stacks.plan import stack_config_bag

CA_PEM = "-----BEGIN CERTIFICATE-----\nTU9DSy1DQQ==\n-----END CERTIFICATE-----\n"
API_HOST = "https://cluster.mock.eks.amazonaws.com"
VAULT_NAMESPACE = "vault"


def stack_config(stack: str, **overrides: Any) -> StackConfig:
    """The real Pulumi.<stack>.yaml, validated, with overrides (python field names)."""
    bag, _ = stack_config_bag(stack)
    config = parse_config_bag(bag)
    return config.model_copy(update=overrides) if overrides else config


def _probe() -> dict[str, Any]:
    return {"liveness": {"tcp": True, "port": "p"}, "readiness": {"tcp": True, "port": "p"}}


def _service(name: str, tier: str, port: int, **fields: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "tier": tier,
        "description": f"{name} for the secrets tests",
        "ports": [{"name": "p", "port": port}],
        "health": _probe(),
        "uid": 10001,
        "gid": 10001,
        "resources": {"cpu": "100m", "memory": "64Mi", "cpu_limit": "1", "memory_limit": "1Gi"},
    }
    if "build" not in fields and "image" not in fields:
        spec["image"] = {"repository": f"example/{name}", "tag": "1.0.0"}
    spec.update(fields)
    return spec


def small_catalog() -> Catalog:
    """postgres + redis + neo4j issuers, an in-house client (backend, built on data-base),
    an upstream client (dify), a secret-less service (ollama) and pgbouncer (root base)."""
    real = load_catalog()
    data = {
        "root_base_image": real.root_base_image.model_dump(),
        "base_images": [b.model_dump() for b in real.base_images],
        "services": {
            "postgres": _service(
                "postgres",
                "data",
                5432,
                image={"repository": "postgres", "tag": "17.6-alpine"},
                uid=70,
                gid=70,
                secrets=[{"name": "superuser_password", "env": "POSTGRES_PASSWORD"}],
                issues_client_credentials=True,
                connection={"database": "sutazai"},
                managed_in_prod={"kind": "rds-postgresql", "engine_version": "17.6"},
            ),
            "redis": _service(
                "redis",
                "data",
                6379,
                image={"repository": "redis", "tag": "7.4.5-alpine"},
                uid=999,
                gid=1000,
                secrets=[{"name": "password", "env": "REDIS_PASSWORD"}],
                issues_client_credentials=True,
            ),
            "neo4j": _service(
                "neo4j",
                "data",
                7687,
                image={"repository": "neo4j", "tag": "5.26.12-community"},
                uid=7474,
                gid=7474,
                secrets=[{"name": "admin_password", "env": "NEO4J_PASSWORD"}],
                issues_client_credentials=True,
            ),
            "pgbouncer": _service(
                "pgbouncer",
                "data",
                6432,
                build={"path": "pgbouncer", "base": "root"},
                talks_to=["postgres"],
            ),
            "backend": _service(
                "backend",
                "core",
                8080,
                build={"path": "backend", "base": "data-base"},
                talks_to=["postgres", "redis", "neo4j", "ollama"],
                secrets=[{"name": "jwt_secret", "env": "JWT_SECRET_KEY"}],
            ),
            "dify": _service(
                "dify",
                "agent",
                5001,
                image={"repository": "langgenius/dify-api", "tag": "1.9.1"},
                uid=1001,
                gid=1001,
                talks_to=["postgres", "redis", "ollama"],
                secrets=[{"name": "secret_key", "env": "SECRET_KEY"}],
            ),
            "ollama": _service("ollama", "core", 11434),
        },
    }
    return Catalog.model_validate(data)


def namespace_of(spec: ServiceSpec) -> str:
    return f"sutazai-{spec.segment.value}"


def service_account_of(spec: ServiceSpec) -> str:
    return f"{spec.name}-sa"


def kubernetes_binding() -> KubernetesVaultBinding:
    """Call inside a mocked program (it registers a Kubernetes provider)."""
    provider = k8s.Provider("fake-cluster", kubeconfig="{}")
    return KubernetesVaultBinding(
        host=API_HOST,
        ca_certificate=CA_PEM,
        provider=provider,
        namespace_of=namespace_of,
        service_account_of=service_account_of,
        vault_namespace=VAULT_NAMESPACE,
    )


def docker_binding() -> DockerVaultBinding:
    return DockerVaultBinding(provider=None, network_name=pulumi.Output.from_input("net-mgmt"))
