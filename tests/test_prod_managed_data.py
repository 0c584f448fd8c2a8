"""prod's managed data services meet the rest of the stack: RDS gets its client roles,
ElastiCache a user per client, clients reach both over TLS, and Qdrant's key reaches Qdrant
and everyone who calls it. All on the real prod plan (`prod_plan_json`, one run a session).

Expectations are derived from the catalog and the Vault layout, never listed by hand.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any

import pytest
import yaml

from components.configs import observability
from components.kubernetes import naming
from components.launch import SOURCE_ENV_FILE, provisioning_command
from components.managed_data import POSTGRES_MASTER_USER, REDIS_CLIENT_ACCESS
from components.platform import SECRETS_DIR, secret_file, shared_secret_file
from components.vault.layout import CredentialMode, VaultLayout
from components.vault.provisioning import AUTH_TABLE, REDIS_CLIENT_RULES
from stacks.catalog import Catalog, ServiceSpec
from stacks.config import StackConfig
from stacks.netpol import External
from stacks.plan import SECRET_SIG
from tests.conftest import PROJECT_DIR, load_plan
from tests.kubernetes import plan_views
from tests.secrets.scan import assert_no_plaintext_secrets

VAULT = "vault.hashicorp.com"
Manifests = dict[tuple[str, str], dict[str, Any]]


@pytest.fixture(scope="module")
def model() -> tuple[StackConfig, Catalog]:
    return plan_views.stack_model("prod")


@pytest.fixture(scope="module")
def catalog(model: tuple[StackConfig, Catalog]) -> Catalog:
    return model[1]


@pytest.fixture(scope="module")
def layout(model: tuple[StackConfig, Catalog]) -> VaultLayout:
    return VaultLayout(model[0], model[1], "prod")


@pytest.fixture(scope="module")
def manifests(prod_plan_json: dict[str, Any]) -> list[dict[str, Any]]:
    return plan_views.manifests(prod_plan_json)


@pytest.fixture(scope="module")
def by_name(manifests: list[dict[str, Any]]) -> Manifests:
    return {(m["kind"], m["metadata"]["name"]): m for m in manifests}


def of_type(plan: dict[str, Any], type_: str) -> list[dict[str, Any]]:
    return [r for r in plan["resources"] if r["type"] == type_]


def unwrap(value: Any) -> Any:
    return value["value"] if isinstance(value, dict) and SECRET_SIG in value else value


def pod_of(by_name: Manifests, name: str) -> dict[str, Any]:
    for kind in ("Deployment", "StatefulSet"):
        if (kind, name) in by_name:
            return by_name[(kind, name)]["spec"]["template"]
    raise KeyError(name)


def env_of(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in pod["spec"]["containers"][0].get("env", [])}


def injected_files(pod: dict[str, Any]) -> dict[str, str]:
    """Container path -> the Vault template the agent renders there."""
    annotations = pod["metadata"]["annotations"]
    prefix = f"{VAULT}/agent-inject-file-"
    return {
        f"{SECRETS_DIR}/{file}": annotations[f"{VAULT}/agent-inject-template-{key[len(prefix) :]}"]
        for key, file in annotations.items()
        if key.startswith(prefix)
    }


def provisioning_jobs(manifests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in manifests if m["kind"] == "Job"]


def managed_issuers(catalog: Catalog) -> list[ServiceSpec]:
    """Managed services whose in-cluster twin applies a provisioning file (RDS)."""
    return [
        s
        for s in catalog
        if s.managed_in_prod is not None and s.provisioning is not None and s.provisioning.apply
    ]


# ── 1. RDS gets its client roles ─────────────────────────────────────────────────────────


def test_each_managed_issuer_gets_one_provisioning_job(
    catalog: Catalog, manifests: list[dict[str, Any]]
) -> None:
    jobs = provisioning_jobs(manifests)
    issuers = managed_issuers(catalog)
    assert [s.name for s in issuers] == ["postgres"]
    assert {j["metadata"]["labels"]["app.kubernetes.io/instance"] for j in jobs} == {
        s.name for s in issuers
    }
    for job in jobs:
        spec = catalog[job["metadata"]["labels"]["app.kubernetes.io/instance"]]
        assert re.fullmatch(
            rf"{naming.provisioning_name(spec)}-[0-9a-f]{{10}}", job["metadata"]["name"]
        )
        assert job["metadata"]["namespace"] == f"sutazai-{spec.tier.value}"


def test_the_job_applies_the_issuers_own_file_with_its_own_command_against_rds(
    catalog: Catalog,
    layout: VaultLayout,
    manifests: list[dict[str, Any]],
    prod_plan_json: dict[str, Any],
) -> None:
    (job,) = provisioning_jobs(manifests)
    spec = catalog["postgres"]
    pod = job["spec"]["template"]
    container = pod["spec"]["containers"][0]
    provisioning = layout.provisioning(spec)
    assert provisioning is not None
    path = secret_file(spec.name, provisioning.file_name)
    # The catalog's apply command (the one the in-cluster server's postStart hook runs),
    # with the catalog's pinned image.
    assert container["command"] == provisioning_command(spec, path)
    assert spec.image is not None and container["image"] == spec.image.reference
    # Against the RDS endpoint, as the master user, over TLS.
    (rds,) = of_type(prod_plan_json, "aws:rds/instance:Instance")
    env = env_of(pod)
    assert env["PGHOST"] == f"{rds['inputs']['identifier']}.mock.rds.amazonaws.com"
    assert env["PGPORT"] == str(int(rds["inputs"]["port"])) == str(spec.primary_port.port)
    assert env["PGUSER"] == POSTGRES_MASTER_USER == rds["inputs"]["username"]
    assert env["PGSSLMODE"] == "require"
    assert env["POSTGRES_DB"] == rds["inputs"]["dbName"]
    # Its files: exactly the issuer's (admin password, provisioning file), rendered once.
    annotations = pod["metadata"]["annotations"]
    assert annotations[f"{VAULT}/agent-pre-populate-only"] == "true"
    assert annotations[f"{VAULT}/role"] == spec.name
    files = injected_files(pod)
    assert set(files) == {f.path for f in layout.files(spec)}
    assert env["POSTGRES_PASSWORD_FILE"] in files and path in files
    assert "sutazai-prod/data/postgres/client_roles" in files[path]
    # The RDS master password is that same generated secret.
    assert (
        unwrap(rds["inputs"]["password"])
        == "mock-random-sutazai-prod-secrets-postgres-superuser_password"
    )


def test_the_job_runs_as_the_issuer_bound_to_its_vault_role(
    catalog: Catalog, manifests: list[dict[str, Any]], prod_plan_json: dict[str, Any]
) -> None:
    (job,) = provisioning_jobs(manifests)
    spec = catalog["postgres"]
    pod = job["spec"]["template"]["spec"]
    namespace = job["metadata"]["namespace"]
    assert pod["serviceAccountName"] == spec.name
    accounts = {
        (m["metadata"]["namespace"], m["metadata"]["name"]): m
        for m in manifests
        if m["kind"] == "ServiceAccount"
    }
    assert accounts[(namespace, spec.name)]["automountServiceAccountToken"] is False
    roles = {
        r["inputs"]["roleName"]: r["inputs"]
        for r in of_type(prod_plan_json, "vault:kubernetes/authBackendRole:AuthBackendRole")
    }
    assert roles[spec.name]["boundServiceAccountNames"] == [spec.name]
    assert roles[spec.name]["boundServiceAccountNamespaces"] == [namespace]
    # Hardened like every workload (the generic test covers every container), one-shot.
    assert pod["restartPolicy"] == "Never" and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsUser"] == spec.uid
    assert job["spec"]["backoffLimit"] >= 1 and job["spec"]["activeDeadlineSeconds"] > 0
    assert "ttlSecondsAfterFinished" not in job["spec"]  # Pulumi owns its lifecycle


def test_the_job_waits_for_rds_vault_and_its_network_policy(
    prod_plan_json: dict[str, Any],
) -> None:
    (job,) = of_type(prod_plan_json, "kubernetes:batch/v1:Job")
    needs = set(job["dependencies"])

    def urn(type_: str, name_part: str) -> str:
        (found,) = [r["urn"] for r in of_type(prod_plan_json, type_) if name_part in r["name"]]
        return found

    assert urn("aws:rds/instance:Instance", "postgres") in needs
    assert urn("vault:kv/secretV2:SecretV2", "postgres-client_roles") in needs
    assert urn("vault:kubernetes/authBackendRole:AuthBackendRole", "secrets-postgres") in needs
    # The injector's webhook (a pod admitted before it exists is never injected), which
    # itself waits for the injector's Deployment.
    webhook_type = "kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration"
    (webhook,) = [w for w in of_type(prod_plan_json, webhook_type) if "vault" in w["name"]]
    assert webhook["urn"] in needs
    assert urn("kubernetes:apps/v1:Deployment", "vault-injector") in webhook["dependencies"]
    assert urn("kubernetes:networking.k8s.io/v1:NetworkPolicy", "postgres-provisioning") in needs


def test_the_job_reaches_rds_vault_and_dns_only(
    model: tuple[StackConfig, Catalog], manifests: list[dict[str, Any]]
) -> None:
    config, catalog = model
    evaluator, pods = plan_views.evaluator(manifests)
    job = pods[naming.provisioning_name(catalog["postgres"])]
    data = [ipaddress.ip_network(str(c)) for c in config.network.data_subnets]
    for subnet in data:
        rds = External(str(next(subnet.hosts())))
        assert evaluator.allowed(job, rds, 5432)
        assert not evaluator.allowed(job, rds, 6379)  # not the Redis next door
    assert evaluator.allowed(job, pods["kube-dns"], 53, "UDP")
    assert evaluator.allowed(job, External("10.30.8.20"), 8200)  # Vault (vaultCidrs), outside
    assert not evaluator.allowed(job, External("203.0.113.20"), 8200)  # nowhere else
    assert not evaluator.allowed(job, External("198.51.100.7"), 443)
    for name, pod in pods.items():
        if name != "kube-dns" and pod.namespace.startswith("sutazai-"):
            for port in (5432, 6432, 8080):
                assert not evaluator.allowed(job, pod, port), name
                assert not evaluator.allowed(pod, job, port), name


def test_a_changed_provisioning_file_is_a_new_job(
    manifests: list[dict[str, Any]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A static client less (Langflow off) changes the file, so the Job's name: it runs again.
    The same inputs give the same name (the session's plan and this one agree otherwise)."""
    (job,) = provisioning_jobs(manifests)
    folder = tmp_path_factory.mktemp("prod-langflow-off")
    doc = yaml.safe_load((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    doc["config"]["sutazai:services"] = {"langflow": {"enabled": False}}
    stack_file = folder / "Pulumi.prod.yaml"
    stack_file.write_text(yaml.safe_dump(doc))
    (other,) = provisioning_jobs(plan_views.manifests(load_plan("prod", folder, stack_file)))
    assert other["metadata"]["name"] != job["metadata"]["name"]
    assert other["metadata"]["name"].rsplit("-", 1)[0] == job["metadata"]["name"].rsplit("-", 1)[0]
    assert other["spec"]["template"]["spec"] == job["spec"]["template"]["spec"]


def test_vault_leases_record_their_verifier_for_the_pooler(
    layout: VaultLayout, prod_plan_json: dict[str, Any]
) -> None:
    """RDS lets nobody read pg_shadow, so PgBouncer's lookup reads a table that Vault's own
    statements keep: {{password}} is the SCRAM verifier (scram-sha-256 hashing in Vault)."""
    (connection,) = of_type(
        prod_plan_json, "vault:database/secretBackendConnection:SecretBackendConnection"
    )
    postgresql = unwrap(connection["inputs"]["postgresql"])
    assert postgresql["passwordAuthentication"] == "scram-sha-256"
    assert "sslmode=require" in postgresql["connectionUrl"]
    roles = of_type(prod_plan_json, "vault:database/secretBackendRole:SecretBackendRole")
    dynamic = {c.client for c in layout.dynamic_credentials}
    assert {r["inputs"]["name"] for r in roles} == dynamic and dynamic
    for role in roles:
        creation = role["inputs"]["creationStatements"]
        assert any(s.startswith(f"CREATE TABLE IF NOT EXISTS {AUTH_TABLE}") for s in creation)
        assert (
            f"INSERT INTO {AUTH_TABLE} (username, verifier) VALUES ('{{{{name}}}}', "
            "'{{password}}')" in creation[-1]
        )
        revocation = role["inputs"]["revocationStatements"]
        assert revocation[0].startswith(f"DELETE FROM {AUTH_TABLE}")
        assert revocation[-1] == 'DROP ROLE IF EXISTS "{{name}}";'
    assert all(
        c.mode is CredentialMode.STATIC
        for c in layout.issued_by("postgres")
        if c.client == "pgbouncer"
    )


# ── 2. ElastiCache: a user per client of Redis ──────────────────────────────────────────


def test_elasticache_has_exactly_a_user_per_client_with_its_vault_credential(
    catalog: Catalog, layout: VaultLayout, by_name: Manifests, prod_plan_json: dict[str, Any]
) -> None:
    users = {
        u["inputs"]["userName"]: u for u in of_type(prod_plan_json, "aws:elasticache/user:User")
    }
    credentials = {c.client: c for c in layout.issued_by("redis")}
    clients = catalog.clients_of("redis")
    assert sorted(credentials) == clients
    assert set(users) == {"default"} | {credentials[c].username for c in clients}
    (group,) = of_type(prod_plan_json, "aws:elasticache/userGroup:UserGroup")
    assert set(group["inputs"]["userIds"]) == {u["inputs"]["userId"] for u in users.values()}
    (replication,) = of_type(prod_plan_json, "aws:elasticache/replicationGroup:ReplicationGroup")
    assert replication["inputs"]["userGroupIds"] == [group["inputs"]["userGroupId"]]
    stored = {
        r["inputs"]["name"]: json.loads(unwrap(r["inputs"]["dataJson"]))
        for r in of_type(prod_plan_json, "vault:kv/secretV2:SecretV2")
    }
    for client in clients:
        cred = credentials[client]
        user = users[cred.username]["inputs"]
        assert cred.mode is CredentialMode.STATIC
        # The password ElastiCache checks is the one Vault hands the client.
        (password,) = user["authenticationMode"]["passwords"]
        assert isinstance(password, dict) and SECRET_SIG in password
        assert unwrap(password) == stored[cred.kv_name]["password"]
        assert stored[cred.kv_name]["username"] == cred.username
        # The same command rules as the in-cluster ACL file.
        assert user["accessString"] == REDIS_CLIENT_ACCESS == f"on {REDIS_CLIENT_RULES}"
        # What the client presents: in-house services REDIS_USERNAME + REDIS_PASSWORD_FILE,
        # products their env file (below).
        pod = pod_of(by_name, client)
        env = env_of(pod)
        files = injected_files(pod)
        if "REDIS_PASSWORD_FILE" in layout.file_env(catalog[client]):
            assert env["REDIS_USERNAME"] == cred.username
            assert (
                f'secret "{layout.kv_api_path(cred.kv_name)}"' in files[env["REDIS_PASSWORD_FILE"]]
            )
    default = users["default"]["inputs"]
    assert (
        unwrap(default["authenticationMode"]["passwords"][0]) == stored["redis/password"]["value"]
    )


# ── 3. TLS to the managed services ──────────────────────────────────────────────────────


def _exports(template: str) -> dict[str, str]:
    return dict(re.findall(r"^export ([A-Z0-9_]+)='(.*)'$", template, re.M))


def test_every_redis_client_reaches_elasticache_over_tls(
    catalog: Catalog, by_name: Manifests
) -> None:
    for client in catalog.clients_of("redis"):
        pod = pod_of(by_name, client)
        env = env_of(pod)
        assert env.get("REDIS_URL", "rediss://").startswith("rediss://"), client
        template = injected_files(pod).get(f"{SECRETS_DIR}/{client}-env", "")
        for key, value in _exports(template).items():
            if "redis" in key.lower() and "://" in value:
                assert value.startswith("rediss://"), (client, key)
    dify = env_of(pod_of(by_name, "dify"))
    assert dify["REDIS_USE_SSL"] == dify["BROKER_USE_SSL"] == "true"
    broker = _exports(injected_files(pod_of(by_name, "dify"))[f"{SECRETS_DIR}/dify-env"])
    assert broker["CELERY_BROKER_URL"].startswith("rediss://dify:{{ with secret ")
    langflow = _exports(injected_files(pod_of(by_name, "langflow"))[f"{SECRETS_DIR}/langflow-env"])
    assert langflow["LANGFLOW_REDIS_URL"].startswith("rediss://langflow:")


def test_postgresql_tls_follows_what_each_client_reaches(
    catalog: Catalog, by_name: Manifests
) -> None:
    # Only the pooler reaches RDS (besides Vault and the provisioning Job): TLS required.
    assert catalog.clients_of("postgres") == ["pgbouncer"]
    assert env_of(pod_of(by_name, "pgbouncer"))["POSTGRES_SSLMODE"] == "require"
    ini = next(iter(by_name[("ConfigMap", "pgbouncer-config")]["data"].values()))
    assert "server_tls_sslmode = require" in ini
    # In-house clients reach PgBouncer inside the cluster, which offers no TLS.
    for client in catalog.clients_of("pgbouncer"):
        env = env_of(pod_of(by_name, client))
        if "POSTGRES_HOST" in env:
            assert env["POSTGRES_SSLMODE"] == "prefer", client


# ── 4. Qdrant's API key ─────────────────────────────────────────────────────────────────


def test_qdrant_reads_its_api_key_from_its_env_file(catalog: Catalog, by_name: Manifests) -> None:
    spec = catalog["qdrant"]
    pod = pod_of(by_name, "qdrant")
    container = pod["spec"]["containers"][0]
    env_file = f"{SECRETS_DIR}/qdrant-env"
    assert container["command"] == ["/bin/sh", "-c", SOURCE_ENV_FILE, env_file]
    assert container["args"] == spec.command == ["/qdrant/entrypoint.sh"]
    exports = _exports(injected_files(pod)[env_file])
    assert exports == {
        "QDRANT__SERVICE__API_KEY": '{{ with secret "sutazai-prod/data/qdrant/api_key" }}'
        "{{ .Data.data.value }}{{ end }}"
    }
    env = env_of(pod)
    assert not {k for k in env if k.startswith("QDRANT__SERVICE__API_KEY")}
    # Its probes stay on the paths Qdrant leaves unauthenticated.
    assert {spec.health.liveness.http, spec.health.readiness.http} <= {"/livez", "/readyz"}


def test_qdrant_clients_and_prometheus_present_the_same_key(
    catalog: Catalog, layout: VaultLayout, by_name: Manifests
) -> None:
    key_path = "sutazai-prod/data/qdrant/api_key"
    callers = [
        c
        for c in catalog.clients_of("qdrant")
        if not any(m.url == "health" for m in catalog[c].peer_maps)
    ]
    assert sorted(callers) == ["backend", "mcp-server"]
    for client in callers:
        pod = pod_of(by_name, client)
        path = env_of(pod)["QDRANT_API_KEY_FILE"]
        assert path == shared_secret_file(client, "qdrant", "api_key")
        assert f'secret "{key_path}"' in injected_files(pod)[path]
    assert "QDRANT_API_KEY_FILE" not in env_of(pod_of(by_name, "health-monitor"))
    # Prometheus: the key as a bearer token for Qdrant's /metrics, from its own Vault file.
    prometheus = pod_of(by_name, observability.SCRAPER)
    data = by_name[("ConfigMap", "prometheus-config")]["data"]
    (text,) = [v for k, v in data.items() if k.endswith("prometheus.yml")]
    config = yaml.safe_load(text)
    jobs = {j["job_name"]: j for j in config["scrape_configs"]}
    credentials = jobs["qdrant"]["authorization"]["credentials_file"]
    assert jobs["qdrant"]["authorization"]["type"] == "Bearer"
    assert f'secret "{key_path}"' in injected_files(prometheus)[credentials]
    assert all("authorization" not in j for n, j in jobs.items() if n != "qdrant")
    assert key_path in layout.policy_paths(catalog[observability.SCRAPER])


def test_nothing_here_left_a_secret_in_clear(prod_plan_json: dict[str, Any]) -> None:
    assert_no_plaintext_secrets(prod_plan_json)
