"""The seams between the catalog, Vault and the two renderers, on whole stacks.

Plans: the committed `dev` (Docker, core path), `everything` (the dev stack file with every
tier and service on), the ephemeral `dev-bob` (`toggles`), and `prod` (EKS). What is
expected is derived from the catalog and the stack file:

1. generated config files (monitoring, PgBouncer) reach their containers on both platforms;
2. the data services take in their clients' credentials (Redis --aclfile, PostgreSQL roles,
   Neo4j users) and every env variable a probe reads exists;
3. PgBouncer authenticates clients through the server (auth_query, its own userlist);
4. Neo4j starts from its read-only /config/neo4j.conf without the entrypoint's writes;
5. every port a Docker stack publishes moves with the stack, the dev Vault's included;
6. products that read credentials from env only source a Vault-rendered env file.
"""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from components.configs import dashboards, observability, poolers
from components.launch import SOURCE_ENV_FILE
from components.platform import SECRETS_DIR
from components.vault.provisioning import PGBOUNCER_AUTH_QUERY
from stacks.catalog import PROVISIONING_REFERENCE, Catalog, ServiceSpec
from stacks.wiring import reachable_as
from tests.conftest import load_plan
from tests.docker_stacks import (
    CONTAINER,
    ROLE,
    SECRET_SIG,
    Stack,
    content_of,
    env_of,
    labels_of,
    uploads_of,
)
from tests.kubernetes import plan_views
from tests.kubernetes.test_other_stacks import EPHEMERAL
from tests.secrets.scan import assert_no_plaintext_secrets

VAULT_TEMPLATE = "vault.hashicorp.com/agent-inject-template-"
VAULT_FILE = "vault.hashicorp.com/agent-inject-file-"
ENV_REFERENCE = re.compile(r"\$\{?([A-Z][A-Z0-9_]*)\}?")


@pytest.fixture(scope="session")
def dev(docker_dev: Stack) -> Stack:
    return docker_dev


@pytest.fixture(scope="session")
def everything(docker_everything: Stack) -> Stack:
    return docker_everything


@pytest.fixture(scope="session")
def toggles(docker_toggles: Stack) -> Stack:
    return docker_toggles


@pytest.fixture(params=["dev", "everything", "toggles"])
def stack(request: pytest.FixtureRequest) -> Stack:
    return request.getfixturevalue(request.param)


@pytest.fixture(scope="session")
def prod(prod_plan_json: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """prod's Kubernetes objects by (kind, name)."""
    return {(m["kind"], m["metadata"]["name"]): m for m in plan_views.manifests(prod_plan_json)}  # type: ignore[return-value]


def _pod(prod: dict[Any, dict[str, Any]], name: str) -> dict[str, Any]:
    for kind in ("Deployment", "StatefulSet"):
        if (kind, name) in prod:
            return prod[(kind, name)]["spec"]["template"]
    raise KeyError(name)


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    return pod["spec"]["containers"][0]


def _config_map(prod: dict[Any, dict[str, Any]], name: str, path: str) -> str:
    data = prod[("ConfigMap", f"{name}-config")]["data"]
    mounts = {
        m["mountPath"]: m.get("subPath") for m in _container(_pod(prod, name))["volumeMounts"]
    }
    return data[mounts[path]]


def _service_files(stack: Stack, name: str) -> dict[str, dict[str, Any]]:
    return uploads_of(stack.services[name])


# ── 1. generated config files on both platforms ─────────────────────────────────────────


def _expected_config_paths(spec: ServiceSpec, catalog: Catalog) -> set[str]:
    """Where each service reads its generated config: named by its own args (or the
    product's fixed path), as the catalog states it."""
    paths = set(spec.config_files)
    flags = ("--config.file=", "-config.file=", "--config=")
    for arg in spec.args or []:
        for flag in flags:
            if arg.startswith(flag):
                paths.add(arg[len(flag) :])
        if arg.endswith(".alloy") and observability.LOG_STORE in catalog.services:
            paths.add(arg)
    if spec.name == observability.SCRAPER:
        paths.add("/etc/prometheus/rules.yml")
    if spec.name == observability.DASHBOARDS:
        paths.add(observability.GRAFANA_DATASOURCES)
        if observability.SCRAPER in catalog.services:
            # The dashboard provider and one file per dashboard, next to it.
            paths.add(dashboards.PROVIDER_FILE)
            paths |= {
                f"{dashboards.PROVIDER_DIR}/{d['uid']}.json" for d in dashboards.dashboards(catalog)
            }
    if spec.name == poolers.PGBOUNCER and poolers.pooled_servers(spec, catalog):
        paths.add(poolers.PGBOUNCER_INI)
    return paths


def test_every_container_gets_its_catalog_and_generated_config_read_only(stack: Stack) -> None:
    for name, inputs in stack.services.items():
        spec = stack.catalog[name]
        uploads = uploads_of(inputs)
        configs = {p: u for p, u in uploads.items() if not p.startswith(SECRETS_DIR)}
        assert set(configs) == _expected_config_paths(spec, stack.catalog), name
        for path, upload in configs.items():
            assert upload["permissions"] == "0444" and upload["owner"] == "0", (name, path)
            assert not (isinstance(upload["content"], dict) and SECRET_SIG in upload["content"])


def test_docker_prometheus_scrapes_every_target_container(everything: Stack) -> None:
    files = _service_files(everything, "prometheus")
    config = yaml.safe_load(content_of(files["/etc/prometheus/prometheus.yml"]))
    targets = {
        job["job_name"]: job["static_configs"][0]["targets"] for job in config["scrape_configs"]
    }
    expected = {
        s.name: [f"{everything.prefix}-{s.name}:{s.port(s.scrape.port).port}"]
        for s in everything.catalog.scrape_targets
        if s.scrape is not None
    }
    assert targets == expected
    assert yaml.safe_load(content_of(files["/etc/prometheus/rules.yml"]))["groups"]
    grafana = yaml.safe_load(
        content_of(_service_files(everything, "grafana")[observability.GRAFANA_DATASOURCES])
    )
    assert {d["url"] for d in grafana["datasources"]} == {
        f"http://{everything.prefix}-prometheus:9090",
        f"http://{everything.prefix}-loki:3100",
        f"http://{everything.prefix}-jaeger:16686",
    }
    otel = yaml.safe_load(
        content_of(_service_files(everything, "otel-collector")["/etc/otelcol/config.yaml"])
    )
    assert otel["exporters"]["otlp/jaeger"]["endpoint"] == f"{everything.prefix}-jaeger:4317"


def test_docker_logs_reach_loki_through_the_engine_not_a_socket(
    dev: Stack, everything: Stack
) -> None:
    # Without Alloy: bounded json files.
    for resource in dev.of_type(CONTAINER):
        assert resource["inputs"]["logDriver"] == "json-file", resource["name"]
        assert resource["inputs"]["logOpts"] == {"max-size": "10m", "max-file": "3"}
    # With Alloy and Loki: every container of the stack (helpers too) sends its output,
    # through the engine's gelf driver, to Alloy's port on the host's loopback.
    port = everything.log_receiver_port
    assert port is not None
    for resource in everything.of_type(CONTAINER):
        inputs = resource["inputs"]
        if labels_of(resource).get(ROLE) == "vault":
            continue  # the dev Vault server, which the Secrets component runs
        assert inputs["logDriver"] == "gelf", resource["name"]
        assert inputs["logOpts"]["gelf-address"] == f"udp://127.0.0.1:{port}"
        assert inputs["logOpts"]["labels"] == "ai.sutazai.service,ai.sutazai.tier"
        assert inputs["logOpts"]["cache-max-size"] == "10m"
    alloy = everything.services["alloy"]
    assert {(p["protocol"], p["ip"], p["external"]) for p in alloy["ports"]} == {
        ("udp", "127.0.0.1", port)
    }
    config = content_of(_service_files(everything, "alloy")["/etc/alloy/config.alloy"])
    assert "loki.source.gelf" in config and "docker.sock" not in config
    assert "/var/run/docker.sock" not in str(everything.plan["resources"])


def test_kubernetes_mounts_the_same_generated_configs(prod: dict[Any, dict[str, Any]]) -> None:
    ini = _config_map(prod, "pgbouncer", poolers.PGBOUNCER_INI)
    assert "auth_query = " + PGBOUNCER_AUTH_QUERY in ini
    alloy = _config_map(prod, "alloy", "/etc/alloy/config.alloy")
    assert "loki.source.kubernetes" in alloy and "loki.source.gelf" not in alloy
    assert "/config/neo4j.conf" in {
        m["mountPath"] for m in _container(_pod(prod, "neo4j"))["volumeMounts"]
    }


# ── 2. data services take in their clients' credentials ─────────────────────────────────


def test_docker_redis_requires_authentication(stack: Stack) -> None:
    redis = stack.services["redis"]
    args = redis["command"]
    acl = args[args.index("--aclfile") + 1]
    assert acl == f"{SECRETS_DIR}/redis-users.acl"
    uploads = uploads_of(redis)
    content = content_of(uploads[acl])
    assert SECRET_SIG in str(uploads[acl]["content"])
    assert content.startswith("user default on #") and "user default off" not in content
    clients = {c for c in stack.catalog.clients_of("redis")}
    for client in clients:
        assert f"user {client.replace('-', '_')} on #" in content
    # The probe's password file exists in the container, as a secret upload.
    env = env_of(redis)
    assert env["REDIS_PASSWORD_FILE"] in uploads
    assert content_of(uploads[env["REDIS_PASSWORD_FILE"]]).startswith("mock-random-")


def _probe_variables(spec: ServiceSpec) -> set[str]:
    commands = [p.exec for p in (spec.health.liveness, spec.health.readiness) if p.exec]
    return {m.group(1) for command in commands for m in ENV_REFERENCE.finditer(" ".join(command))}


def test_docker_probes_read_only_variables_the_container_has(stack: Stack) -> None:
    for name, inputs in stack.services.items():
        env = env_of(inputs)
        for variable in _probe_variables(stack.catalog[name]):
            assert variable in env, f"{name}: its probe reads ${variable}"
            if variable.endswith("_FILE"):
                assert env[variable] in uploads_of(inputs), (name, variable)


def test_kubernetes_probes_read_only_variables_the_container_has(
    prod: dict[Any, dict[str, Any]], prod_plan_json: dict[str, Any]
) -> None:
    catalog = plan_views.stack_model("prod")[1]
    for (kind, name), manifest in prod.items():
        if kind not in ("Deployment", "StatefulSet") or name not in catalog.services:
            continue
        container = _container(manifest["spec"]["template"])
        env = {e["name"] for e in container.get("env", [])}
        for variable in _probe_variables(catalog[name]):
            assert variable in env, f"{name}: its probe reads ${variable}"


def _provisioning_container(stack: Stack, name: str) -> dict[str, Any]:
    (resource,) = [
        r
        for r in stack.of_type(CONTAINER)
        if labels_of(r).get(ROLE) == "provisioning" and labels_of(r)["ai.sutazai.service"] == name
    ]
    return resource


@pytest.mark.parametrize("name", ["postgres", "neo4j"])
def test_docker_applies_the_issuers_file_next_to_the_running_server(
    everything: Stack, name: str
) -> None:
    spec = everything.catalog[name]
    assert spec.provisioning is not None and spec.provisioning.apply
    job = _provisioning_container(everything, name)
    inputs = job["inputs"]
    server = next(
        r for r in everything.of_type(CONTAINER) if r["name"] == f"{everything.prefix}-{name}"
    )
    # After the server is healthy, in its network namespace, as its user, once.
    assert server["urn"] in job["dependencies"] and server["inputs"]["wait"] is True
    assert inputs["networkMode"] == f"container:{everything.prefix}-{name}"
    assert inputs["user"] == f"{spec.uid}:{spec.gid}" and inputs["readOnly"] is True
    assert inputs["mustRun"] is False and inputs["attach"] is True
    file = next(a for a in spec.provisioning.apply if PROVISIONING_REFERENCE in a)
    path = file.replace(PROVISIONING_REFERENCE, inputs["entrypoints"][-1])
    assert inputs["entrypoints"][-1] == path and path.startswith(SECRETS_DIR)
    # The server's own files: the one it applies and the admin password it applies it with.
    uploads = uploads_of(inputs)
    assert set(uploads) == {p for p in uploads_of(server["inputs"]) if p.startswith(SECRETS_DIR)}
    assert path in uploads and SECRET_SIG in str(uploads[path]["content"])
    assert env_of(inputs) == env_of(server["inputs"])


def test_the_postgres_roles_include_the_poolers_lookup(everything: Stack) -> None:
    server = everything.services["postgres"]
    assert env_of(server)["POSTGRES_DB"] == "sutazai"
    assert env_of(everything.services["backend"])["POSTGRES_DB"] == "sutazai"
    sql = content_of(uploads_of(server)[f"{SECRETS_DIR}/postgres-client-roles.sql"])
    for client in everything.catalog.clients_of("pgbouncer"):
        assert f'CREATE ROLE "{client.replace("-", "_")}" LOGIN;' in sql
    assert 'GRANT EXECUTE ON FUNCTION sutazai_auth.user_lookup(text) TO "pgbouncer";' in sql
    assert "mock-random" not in sql  # verifiers, not passwords


def test_kubernetes_issuers_apply_their_file_after_start(tmp_path_factory: Any) -> None:
    """A non-prod Kubernetes stack runs PostgreSQL, Redis and Neo4j as workloads."""
    folder = tmp_path_factory.mktemp("k8s-issuers")
    stack_file = folder / "Pulumi.dev-alice.yaml"
    stack_file.write_text(EPHEMERAL)
    items = {
        (m["kind"], m["metadata"]["name"]): m
        for m in plan_views.manifests(load_plan("dev-alice", folder, stack_file))
    }
    redis = _container(_pod(items, "redis"))
    assert redis["args"][:2] == ["--aclfile", f"{SECRETS_DIR}/redis-users.acl"]
    annotations = _pod(items, "redis")["metadata"]["annotations"]
    assert annotations[VAULT_FILE + "redis-users.acl"] == "redis-users.acl"
    assert {e["name"]: e["value"] for e in redis["env"]}["REDIS_PASSWORD_FILE"] == (
        f"{SECRETS_DIR}/redis-password"
    )
    for name, tool in (("postgres", "psql"), ("neo4j", "cypher-shell")):
        hook = _container(_pod(items, name))["lifecycle"]["postStart"]["exec"]["command"]
        assert tool in " ".join(hook) and hook[-1].startswith(SECRETS_DIR), name
        assert "sutazai.io/provisioning-clients" in _pod(items, name)["metadata"]["annotations"]


# ── 3. PgBouncer authenticates through the server ───────────────────────────────────────


def _ini(text: str) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(delimiters=("=",), comment_prefixes=(";",))
    parser.read_string(text)
    return parser["pgbouncer"]


@pytest.mark.parametrize("which", ["everything", "toggles"])
def test_docker_pgbouncer_gets_its_userlist_from_vault(which: str, request: Any) -> None:
    stack: Stack = request.getfixturevalue(which)
    inputs = stack.services["pgbouncer"]
    uploads = uploads_of(inputs)
    ini = _ini(content_of(uploads[poolers.PGBOUNCER_INI]))
    assert ini["auth_query"] == PGBOUNCER_AUTH_QUERY and ini["auth_user"] == "pgbouncer"
    userlist = uploads[ini["auth_file"]]
    assert SECRET_SIG in str(userlist["content"]) and userlist["permissions"] == "0440"
    password = content_of(uploads[env_of(inputs)["POSTGRES_PASSWORD_FILE"]])
    assert content_of(userlist) == f'"pgbouncer" "{password}"'
    assert f"host={stack.prefix}-postgres port=5432" in content_of(uploads[poolers.PGBOUNCER_INI])


def test_kubernetes_pgbouncer_gets_its_userlist_from_vault(
    prod: dict[Any, dict[str, Any]],
) -> None:
    pod = _pod(prod, "pgbouncer")
    ini = _ini(_config_map(prod, "pgbouncer", poolers.PGBOUNCER_INI))
    annotations = pod["metadata"]["annotations"]
    files = {v: k.removeprefix(VAULT_FILE) for k, v in annotations.items() if VAULT_FILE in k}
    key = files[Path(ini["auth_file"]).name]
    assert ini["auth_file"] == f"{SECRETS_DIR}/{annotations[VAULT_FILE + key]}"
    assert annotations[VAULT_TEMPLATE + key] == (
        '"pgbouncer" "{{ with secret "sutazai-prod/data/pgbouncer/postgres" }}'
        '{{ .Data.data.password }}{{ end }}"'
    )
    assert ini["server_tls_sslmode"] == "require"  # RDS


# ── 4. Neo4j starts read-only ───────────────────────────────────────────────────────────


def test_docker_neo4j_starts_from_its_own_conf(everything: Stack) -> None:
    spec = everything.catalog["neo4j"]
    inputs = everything.services["neo4j"]
    assert inputs["entrypoints"] == spec.command and inputs["readOnly"] is True
    uploads = uploads_of(inputs)
    assert content_of(uploads["/config/neo4j.conf"]) == spec.config_files["/config/neo4j.conf"]
    assert "/config" in {v["containerPath"] for v in inputs["volumes"]}
    env = env_of(inputs)
    assert env["NEO4J_CONF"] == "/config" and env["NEO4J_PASSWORD_FILE"] in uploads
    assert not [k for k in env if k.startswith("NEO4J_server")]


def test_kubernetes_neo4j_starts_from_its_own_conf(prod: dict[Any, dict[str, Any]]) -> None:
    container = _container(_pod(prod, "neo4j"))
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "neo4j console --dry-run" in container["command"][-1]
    conf = _config_map(prod, "neo4j", "/config/neo4j.conf")
    assert "server.directories.data=/data" in conf


# ── 5. published ports move with the stack ──────────────────────────────────────────────


def _published(stack: Stack) -> set[tuple[str, int]]:
    return {
        (p["protocol"], p["external"])
        for r in stack.of_type(CONTAINER)
        for p in r["inputs"].get("ports", [])
    }


def test_each_docker_stack_publishes_its_vault_on_its_own_port(dev: Stack, toggles: Stack) -> None:
    def vault_port(stack: Stack) -> int:
        vault = stack.container("vault")
        (port,) = vault["ports"]
        assert port["ip"] == "127.0.0.1" and port["internal"] == 8200
        return port["external"]

    assert vault_port(dev) == 8200
    assert dev.plan["outputs"]["vaultAddress"] == "http://127.0.0.1:8200"
    # dev-bob moves every port by the same offset: its ingress ports tell which.
    offset = min(int(u.rsplit(":", 1)[1]) for u in toggles.plan["outputs"]["urls"].values()) - 18000
    assert offset > 0 and vault_port(toggles) == 8200 + offset
    assert toggles.plan["outputs"]["vaultAddress"] == f"http://127.0.0.1:{8200 + offset}"
    # The Vault provider of a bootstrapped dev-bob would talk to that address, too: the
    # server advertises it.
    env = env_of(toggles.container("vault"))
    assert f'"api_addr": "http://127.0.0.1:{8200 + offset}"' in env["VAULT_LOCAL_CONFIG"]
    assert _published(dev).isdisjoint(_published(toggles))


# ── 6. products that read credentials from env only ─────────────────────────────────────


ENV_ONLY = ["dify", "letta", "langflow"]


def _exports(text: str) -> dict[str, str]:
    return {
        m.group(1): m.group(2) for m in re.finditer(r"^export ([A-Z0-9_]+)='(.*)'$", text, re.M)
    }


@pytest.mark.parametrize("name", ENV_ONLY)
def test_docker_env_only_products_source_their_env_file(everything: Stack, name: str) -> None:
    spec = everything.catalog[name]
    inputs = everything.services[name]
    env_file = f"{SECRETS_DIR}/{name}-env"
    assert inputs["entrypoints"] == ["/bin/sh", "-c", SOURCE_ENV_FILE, env_file]
    assert inputs["command"] == [*(spec.command or []), *(spec.args or [])]
    upload = uploads_of(inputs)[env_file]
    assert SECRET_SIG in str(upload["content"]) and upload["permissions"] == "0440"
    exports = _exports(content_of(upload))
    wanted = set(spec.secret_env) | {s.env for s in spec.secrets if s.env_from_file}
    assert set(exports) == wanted
    env = env_of(inputs)
    assert not wanted & set(env), "a credential variable in the container's env"
    # Non-secret connection env from the graph: PostgreSQL through its pooler.
    pooled = reachable_as(everything.catalog, "postgres", name)
    pooler = everything.catalog[pooled]
    hosts = {k: v for k, v in env.items() if k in ("DB_HOST", "LETTA_PG_HOST")}
    for value in hosts.values():
        assert value == f"{everything.prefix}-{pooled}"
    for key in ("DB_PORT", "LETTA_PG_PORT"):
        if key in env:
            assert env[key] == str(pooler.primary_port.port)


def test_the_env_file_is_valid_shell_for_the_real_sh(everything: Stack, tmp_path: Path) -> None:
    sh = shutil.which("sh")
    if sh is None:
        pytest.skip("no sh")
    for name in ENV_ONLY:
        text = content_of(uploads_of(everything.services[name])[f"{SECRETS_DIR}/{name}-env"])
        path = tmp_path / name
        path.write_text(text)
        done = subprocess.run(
            [sh, "-c", SOURCE_ENV_FILE, str(path), "env"],
            capture_output=True,
            text=True,
            check=True,
            env={"PATH": "/usr/bin:/bin"},
        )
        seen = dict(line.split("=", 1) for line in done.stdout.splitlines() if "=" in line)
        for key, value in _exports(text).items():
            assert seen[key] == value, (name, key)
    langflow = _exports(
        content_of(uploads_of(everything.services["langflow"])[f"{SECRETS_DIR}/langflow-env"])
    )
    assert langflow["LANGFLOW_DATABASE_URL"] == (
        "postgresql://langflow:mock-random-sutazai-dev-secrets-langflow-postgres"
        f"@{everything.prefix}-pgbouncer:6432/sutazai"
    )


@pytest.mark.parametrize("name", ENV_ONLY)
def test_kubernetes_env_only_products_source_their_env_file(
    prod: dict[Any, dict[str, Any]], name: str
) -> None:
    catalog = plan_views.stack_model("prod")[1]
    spec = catalog[name]
    pod = _pod(prod, name)
    container = _container(pod)
    env_file = f"{SECRETS_DIR}/{name}-env"
    assert container["command"] == ["/bin/sh", "-c", SOURCE_ENV_FILE, env_file]
    assert container["args"] == [*(spec.command or []), *(spec.args or [])]
    annotations = pod["metadata"]["annotations"]
    assert annotations[VAULT_FILE + f"{name}-env"] == f"{name}-env"
    template = annotations[VAULT_TEMPLATE + f"{name}-env"]
    exports = _exports(template)
    assert set(exports) == set(spec.secret_env) | {s.env for s in spec.secrets if s.env_from_file}
    for key, value in exports.items():
        if key.endswith(("PASSWORD", "_URL", "SECRET_KEY")):
            assert '{{ with secret "sutazai-prod/' in value, (name, key)
    env = {e["name"] for e in container.get("env", [])}
    assert not set(exports) & env


def test_no_secret_in_plain_text_in_any_docker_stack(everything: Stack, toggles: Stack) -> None:
    assert_no_plaintext_secrets(everything.plan)
    assert_no_plaintext_secrets(toggles.plan)
