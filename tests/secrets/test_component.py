"""`Secrets` under the mock runtime, with small catalogs and fake platform bindings."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from components.docker.platform import hardened
from components.docker.vault import VAULT_PROFILE
from components.platform import SECRETS_DIR, DockerVaultBinding
from components.secrets import (
    PROVIDER_TOKEN_TTL,
    PROVISIONING_ANNOTATION,
    Secrets,
    provisioning_digest,
    vault_address_of,
    vault_credentials_problem,
)
from components.vault.layout import INJECTOR_IMAGE, VAULT_IMAGE, VaultLayout
from stacks.catalog import Catalog, load_catalog
from stacks.composition import effective_catalog
from stacks.config import StackConfig, parse_config_bag
from stacks.errors import ConfigError
from stacks.plan import stack_config_bag
from tests.secrets import fakes
from tests.secrets.harness import Run, resolve, run_program
from tests.secrets.scan import (
    assert_no_plaintext_secrets,
    find_plaintext,
    find_secretish_env_literals,
    generated_values,
    is_secret_envelope,
)
from tests.secrets.vault_policy import parse_policy

K8S = "kubernetes:"
T = TypeVar("T")


# What a developer exports after the Vault bootstrap (token auth reads it from the env).
TOKEN = "bootstrap-token-from-env"


def with_token(fn: Callable[[], T], token: str | None = TOKEN) -> T:
    """Run `fn` with VAULT_TOKEN set to `token` (None: unset, and no ~/.vault-token)."""
    with pytest.MonkeyPatch.context() as env:
        if token is None:
            env.delenv("VAULT_TOKEN", raising=False)
            env.setenv("HOME", "/nonexistent-home-for-tests")
        else:
            env.setenv("VAULT_TOKEN", token)
        return fn()


def kubernetes_run(
    config: StackConfig,
    catalog: Catalog,
    stack: str = "prod",
    bind: bool = True,
    token: str | None = TOKEN,
) -> tuple[Secrets, Run]:
    def program() -> Secrets:
        secrets = Secrets(
            f"sutazai-{stack}-secrets",
            config=config,
            catalog=catalog,
            target=fakes.kubernetes_binding(),
        )
        if bind:
            secrets.bind_postgres(host="db.mock.rds.amazonaws.com", port=5432)
        return secrets

    return with_token(lambda: run_program(program, stack=stack), token)


def docker_run(
    config: StackConfig,
    catalog: Catalog,
    *,
    bootstrapped: bool = True,
    token: str | None = TOKEN,
) -> tuple[Secrets, Run]:
    """The dev stack's Secrets; `bootstrapped` sets sutazai:vaultBootstrapped."""
    config = config.model_copy(update={"vault_bootstrapped": bootstrapped})

    def program() -> Secrets:
        return Secrets(
            "sutazai-dev-secrets",
            config=config,
            catalog=catalog,
            target=fakes.docker_binding(),
        )

    return with_token(lambda: run_program(program, stack="dev"), token)


@pytest.fixture(scope="module")
def prod() -> tuple[Secrets, Run]:
    return kubernetes_run(fakes.stack_config("prod"), fakes.small_catalog())


@pytest.fixture(scope="module")
def prod_real() -> tuple[Secrets, Run]:
    config = fakes.stack_config("prod")
    return kubernetes_run(config, effective_catalog(load_catalog(), config))


@pytest.fixture(scope="module")
def dev() -> tuple[Secrets, Run]:
    return docker_run(fakes.stack_config("dev"), fakes.small_catalog())


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


# --- Vault: provider, mount, values ------------------------------------------------------


def test_provider_logs_in_with_aws_iam_in_prod_and_holds_no_token(
    prod: tuple[Secrets, Run],
) -> None:
    _, run = prod
    provider = run.one("pulumi:providers:vault")
    assert provider.inputs["address"] == "https://vault.ops.sutazai.example.com:8200"
    login = json.loads(provider.inputs["authLoginAws"])
    assert login["role"] == "sutazai-prod-deployer"
    assert login["headerValue"] == "vault.ops.sutazai.example.com"
    assert "token" not in provider.inputs


def test_token_auth_reads_vault_token_from_the_environment() -> None:
    config = fakes.stack_config("prod", vault_auth_method="token")
    _, run = kubernetes_run(config, fakes.small_catalog(), bind=False)
    provider = run.one("pulumi:providers:vault")
    assert "token" not in provider.inputs and "authLoginAws" not in provider.inputs
    assert not find_plaintext(run, [TOKEN])


@pytest.mark.parametrize("which", ["prod", "dev"])
def test_the_providers_child_token_outlives_a_first_prod_up(
    which: str, request: pytest.FixtureRequest
) -> None:
    """Its 20-minute default expires before the Vault resources that wait on EKS and RDS."""
    _, run = request.getfixturevalue(which)
    provider = run.one("pulumi:providers:vault")
    assert int(provider.inputs["maxLeaseTtlSeconds"]) == PROVIDER_TOKEN_TTL >= 4 * 3600


def test_a_bootstrapped_vault_without_a_token_is_a_config_error_not_a_smaller_plan() -> None:
    with pytest.raises(ConfigError) as raised:
        docker_run(fakes.stack_config("dev"), fakes.small_catalog(), token=None)
    message = str(raised.value)
    assert "sutazai:vaultBootstrapped" in message and "export VAULT_TOKEN" in message
    config = fakes.stack_config("prod", vault_auth_method="token")
    with pytest.raises(ConfigError, match="VAULT_TOKEN is unset"):
        kubernetes_run(config, fakes.small_catalog(), bind=False, token=None)


def test_the_token_check_reads_the_env_and_the_vault_login_file(tmp_path: Path) -> None:
    token_auth = fakes.stack_config("dev", vault_bootstrapped=True)
    missing = tmp_path / "no-token"
    assert vault_credentials_problem(token_auth, {}, missing)
    assert vault_credentials_problem(token_auth, {"VAULT_TOKEN": ""}, missing)
    assert vault_credentials_problem(token_auth, {"VAULT_TOKEN": "t"}, missing) is None
    (tmp_path / ".vault-token").write_text("t")
    assert vault_credentials_problem(token_auth, {}, tmp_path / ".vault-token") is None
    # AWS auth logs in with the deployer's AWS credentials; Vault checks them.
    assert vault_credentials_problem(fakes.stack_config("prod"), {}, missing) is None


def test_vault_bootstrapped_false_is_only_for_a_dev_vault_container() -> None:
    # The config model refuses it, before anything registers.
    bag, _ = stack_config_bag("dev")
    with pytest.raises(ConfigError, match="vaultBootstrapped: false is only for a fresh dev"):
        parse_config_bag({**bag, "sutazai:vaultMode": "existing"})


def test_kv_mount_is_per_stack_v2_and_protected_in_prod(prod: tuple[Secrets, Run]) -> None:
    _, run = prod
    mount = run.one("vault:index/mount:Mount", "sutazai-prod-secrets-kv")
    assert mount.inputs["path"] == "sutazai-prod"
    assert mount.inputs["type"] == "kv"
    assert mount.inputs["options"] == {"version": "2"}
    assert mount.protect


def test_each_value_has_its_own_path_and_is_a_secret(prod: tuple[Secrets, Run]) -> None:
    _, run = prod
    stored = {r.inputs["name"]: r for r in run.of_type("vault:kv/secretV2:SecretV2")}
    expected = {
        "postgres/superuser_password",
        "redis/password",
        "neo4j/admin_password",
        "backend/jwt_secret",
        "dify/secret_key",
        # static client credentials (backend's PostgreSQL one is dynamic in prod)
        "pgbouncer/postgres",
        "backend/redis",
        "backend/neo4j",
        "dify/postgres",
        "dify/redis",
        # server-side provisioning files
        "postgres/client_roles",
        "redis/users_acl",
        "neo4j/client_users",
    }
    assert set(stored) == expected
    for name, resource in stored.items():
        assert resource.inputs["mount"] == "sutazai-prod"
        assert is_secret_envelope(resource.inputs["dataJson"]), name
        assert "dataJson" in resource.additional_secret_outputs
        data = json.loads(resource.inputs["dataJson"]["value"])
        assert set(data) in ({"value"}, {"username", "password"}), name
    passwords = run.of_type("random:index/randomPassword:RandomPassword")
    assert len(passwords) == 10
    for password in passwords:
        assert "result" in password.additional_secret_outputs
        assert password.inputs["special"] is False
        assert password.inputs["length"] >= 32


def test_secret_content_matches_what_docker_gets(dev: tuple[Secrets, Run]) -> None:
    secrets, run = dev
    stored = {r.inputs["name"]: r for r in run.of_type("vault:kv/secretV2:SecretV2")}
    files = secrets.docker_secret_files(secrets.catalog["backend"])
    assert set(files) == {
        f"{SECRETS_DIR}/backend-jwt_secret",
        f"{SECRETS_DIR}/backend-postgres-password",
        f"{SECRETS_DIR}/backend-redis-password",
        f"{SECRETS_DIR}/backend-neo4j-password",
    }
    value, secret = resolve(files[f"{SECRETS_DIR}/backend-redis-password"])
    assert secret
    assert value == "mock-random-sutazai-dev-secrets-backend-redis"
    kv = json.loads(stored["backend/redis"].inputs["dataJson"]["value"])
    assert kv == {"username": "backend", "password": value}
    for path, output in files.items():
        content, is_secret = resolve(output)
        assert is_secret, path
        assert content.startswith("mock-random-"), path


def test_issuers_get_hashes_not_their_clients_passwords(dev: tuple[Secrets, Run]) -> None:
    secrets, _ = dev
    acl, secret = resolve(
        secrets.docker_secret_files(secrets.catalog["redis"])[f"{SECRETS_DIR}/redis-users.acl"]
    )
    assert secret
    assert "user backend on #" in acl and "user dify on #" in acl
    sql, _ = resolve(
        secrets.docker_secret_files(secrets.catalog["postgres"])[
            f"{SECRETS_DIR}/postgres-client-roles.sql"
        ]
    )
    assert "SCRAM-SHA-256$4096:" in sql
    for client_value in generated_values(dev[1]):
        if "-redis" in client_value or "-postgres" in client_value:
            assert client_value not in acl and client_value not in sql
    assert secrets.provisioning_file(secrets.catalog["redis"]) == f"{SECRETS_DIR}/redis-users.acl"
    assert secrets.provisioning_file(secrets.catalog["backend"]) is None


# --- policies and roles ------------------------------------------------------------------


@pytest.mark.parametrize("which", ["prod", "prod_real"])
def test_one_policy_per_service_with_exactly_its_paths(
    which: str, request: pytest.FixtureRequest
) -> None:
    secrets, run = request.getfixturevalue(which)
    policies = {
        r.inputs["name"]: r.inputs["policy"] for r in run.of_type("vault:index/policy:Policy")
    }
    expected = {f"sutazai-prod-{s}": set(p) for s, p in secrets.policy_paths.items()}
    assert set(policies) == set(expected)
    for name, document in policies.items():
        grants = parse_policy(document)
        assert set(grants) == expected[name], name
        assert all(caps == {"read"} for caps in grants.values())


@pytest.mark.parametrize("which", ["prod", "prod_real"])
def test_one_role_per_service_bound_to_its_account_namespace_and_policy(
    which: str, request: pytest.FixtureRequest
) -> None:
    secrets, run = request.getfixturevalue(which)
    auth = run.one("vault:index/authBackend:AuthBackend")
    assert auth.inputs["type"] == "kubernetes"
    assert auth.inputs["path"] == "sutazai-prod-kubernetes"
    auth_config = run.one("vault:kubernetes/authBackendConfig:AuthBackendConfig")
    assert auth_config.inputs["kubernetesHost"] == fakes.API_HOST
    assert auth_config.inputs["kubernetesCaCert"] == fakes.CA_PEM
    assert auth_config.inputs["disableLocalCaJwt"] is True
    assert "tokenReviewerJwt" not in auth_config.inputs
    roles = {
        r.inputs["roleName"]: r
        for r in run.of_type("vault:kubernetes/authBackendRole:AuthBackendRole")
    }
    assert set(roles) == set(secrets.policy_paths)
    for service, role in roles.items():
        spec = secrets.catalog[service]
        assert secrets.kubernetes_role(spec) == service
        assert role.inputs["backend"] == "sutazai-prod-kubernetes"
        assert role.inputs["boundServiceAccountNames"] == [fakes.service_account_of(spec)]
        assert role.inputs["boundServiceAccountNamespaces"] == [fakes.namespace_of(spec)]
        assert role.inputs["tokenPolicies"] == [f"sutazai-prod-{service}"]
    delegator = [
        r
        for r in run.of_type("kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding")
        if r.inputs["roleRef"]["name"] == "system:auth-delegator"
    ]
    assert len(delegator) == 1
    subjects = {(s["namespace"], s["name"]) for s in delegator[0].inputs["subjects"]}
    assert subjects == {
        (fakes.namespace_of(secrets.catalog[s]), fakes.service_account_of(secrets.catalog[s]))
        for s in roles
    }


# --- PostgreSQL dynamic credentials ------------------------------------------------------


def test_bind_postgres_configures_the_database_engine(prod: tuple[Secrets, Run]) -> None:
    _, run = prod
    mount = run.one("vault:index/mount:Mount", "sutazai-prod-secrets-database")
    assert mount.inputs["type"] == "database" and mount.protect
    connection = run.one("vault:database/secretBackendConnection:SecretBackendConnection")
    assert connection.inputs["allowedRoles"] == ["backend"]
    assert connection.inputs["pluginName"] == "postgresql-database-plugin"
    postgresql = connection.inputs["postgresql"]
    pg = postgresql["value"] if is_secret_envelope(postgresql) else postgresql
    assert pg["connectionUrl"] == (
        "postgresql://{{username}}:{{password}}@db.mock.rds.amazonaws.com:5432/sutazai"
        "?sslmode=require"
    )
    assert is_secret_envelope(pg["password"])
    role = run.one("vault:database/secretBackendRole:SecretBackendRole")
    assert role.inputs["name"] == "backend" and role.inputs["dbName"] == "postgres"
    assert role.inputs["defaultTtl"] == 3600 and role.inputs["maxTtl"] == 86400
    statements = "\n".join(role.inputs["creationStatements"])
    assert 'IN ROLE "backend"' in statements and "VALID UNTIL '{{expiration}}'" in statements
    assert 'GRANT CONNECT ON DATABASE "sutazai" TO "backend"' in statements
    assert "SUPERUSER" not in statements.upper().replace("NOSUPERUSER", "")


def test_bind_postgres_is_a_no_op_without_dynamic_clients() -> None:
    def program() -> object:
        secrets = Secrets(
            "s",
            config=fakes.stack_config("dev"),
            catalog=fakes.small_catalog(),
            target=fakes.docker_binding(),
        )
        return secrets.bind_postgres(host="postgres")

    result, run = with_token(lambda: run_program(program, stack="dev"))
    assert result is None
    assert not run.of_type("vault:database/secretBackendConnection:SecretBackendConnection")


# --- delivery on Kubernetes --------------------------------------------------------------


def test_every_kubernetes_resource_uses_the_bindings_provider(prod: tuple[Secrets, Run]) -> None:
    _, run = prod
    provider = run.one("pulumi:providers:kubernetes", "fake-cluster")
    for resource in run.resources:
        if resource.type.startswith(K8S):
            assert resource.provider.startswith(provider.urn), resource.urn


def test_injector_is_pinned_hardened_and_points_at_the_configured_vault(
    prod: tuple[Secrets, Run],
) -> None:
    _, run = prod
    deployment = run.one("kubernetes:apps/v1:Deployment")
    assert deployment.inputs["metadata"]["namespace"] == fakes.VAULT_NAMESPACE
    spec = deployment.inputs["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    (container,) = pod["containers"]
    assert container["image"] == INJECTOR_IMAGE
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"] == {"drop": ["ALL"]}
    assert context["runAsUser"] == 100
    assert set(container["resources"]) == {"requests", "limits"}
    assert {"livenessProbe", "readinessProbe", "startupProbe"} <= set(container)
    env = _env(container)
    assert env["AGENT_INJECT_VAULT_ADDR"] == "https://vault.ops.sutazai.example.com:8200"
    assert env["AGENT_INJECT_VAULT_IMAGE"] == VAULT_IMAGE
    assert env["AGENT_INJECT_VAULT_AUTH_PATH"] == "auth/sutazai-prod-kubernetes"
    assert env["AGENT_INJECT_USE_LEADER_ELECTOR"] == "true"
    webhook = run.one("kubernetes:admissionregistration.k8s.io/v1:MutatingWebhookConfiguration")
    (hook,) = webhook.inputs["webhooks"]
    assert hook["failurePolicy"] == "Fail" and hook["sideEffects"] == "None"
    assert hook["clientConfig"]["service"]["namespace"] == fakes.VAULT_NAMESPACE
    selected = hook["namespaceSelector"]["matchExpressions"][0]["values"]
    assert fakes.VAULT_NAMESPACE not in selected
    assert set(selected) == {"sutazai-data", "sutazai-application"}
    assert "webhooks[0].clientConfig.caBundle" in webhook.ignore_changes
    namespace = run.one("kubernetes:core/v1:Namespace")
    labels = namespace.inputs["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
    run.one("kubernetes:policy/v1:PodDisruptionBudget")


def test_existing_injector_deploys_nothing_in_the_cluster_but_rbac_for_login() -> None:
    config = fakes.stack_config("prod", vault_injector="existing")
    _, run = kubernetes_run(config, fakes.small_catalog(), bind=False)
    kinds = {r.type for r in run.resources if r.type.startswith(K8S)}
    assert kinds == {"kubernetes:rbac.authorization.k8s.io/v1:ClusterRoleBinding"}


def test_annotations_hold_paths_never_values(prod: tuple[Secrets, Run]) -> None:
    secrets, run = prod
    values = generated_values(run)
    for spec in secrets.catalog:
        annotations = secrets.kubernetes_pod_annotations(spec)
        if not secrets.layout.files(spec):
            assert annotations == {}, spec.name
            continue
        assert annotations["vault.hashicorp.com/agent-inject"] == "true"
        assert annotations["vault.hashicorp.com/role"] == secrets.kubernetes_role(spec)
        assert annotations["vault.hashicorp.com/auth-path"] == "auth/sutazai-prod-kubernetes"
        assert annotations["vault.hashicorp.com/agent-run-as-user"] == str(spec.uid)
        assert annotations["vault.hashicorp.com/agent-set-security-context"] == "true"
        assert annotations["vault.hashicorp.com/agent-image"] == VAULT_IMAGE
        for key, value in annotations.items():
            assert isinstance(value, str), key
            assert not any(v in value for v in values), key
            if key.startswith("vault.hashicorp.com/agent-inject-secret-"):
                assert value in secrets.policy_paths[spec.name], key
        assert len([k for k in annotations if "agent-inject-secret-" in k]) == len(
            secrets.layout.files(spec)
        )
        # error-on-missing-key is per file (the injector ignores the bare annotation).
        assert "vault.hashicorp.com/error-on-missing-key" not in annotations
        for key in annotations:
            if key.startswith("vault.hashicorp.com/agent-inject-secret-"):
                name = key.removeprefix("vault.hashicorp.com/agent-inject-secret-")
                assert annotations[f"vault.hashicorp.com/error-on-missing-key-{name}"] == "true"
    backend = secrets.kubernetes_pod_annotations(secrets.catalog["backend"])
    dify = secrets.kubernetes_pod_annotations(secrets.catalog["dify"])
    # In-house backend re-reads files: a sidecar keeps them fresh and revokes on exit.
    assert backend["vault.hashicorp.com/agent-pre-populate-only"] == "false"
    assert backend["vault.hashicorp.com/agent-revoke-on-shutdown"] == "true"
    # Dify reads its credentials once: the init container is enough.
    assert dify["vault.hashicorp.com/agent-pre-populate-only"] == "true"


def test_the_api_refuses_the_other_platform(
    prod: tuple[Secrets, Run], dev: tuple[Secrets, Run]
) -> None:
    with pytest.raises(TypeError):
        prod[0].docker_secret_files(prod[0].catalog["backend"])
    with pytest.raises(TypeError):
        dev[0].kubernetes_pod_annotations(dev[0].catalog["backend"])


# --- the dev Vault server on Docker ------------------------------------------------------


def test_dev_vault_container_is_a_hardened_server_not_dev_mode(dev: tuple[Secrets, Run]) -> None:
    _, run = dev
    container = run.one("docker:index/container:Container")
    inputs = container.inputs
    assert inputs["name"] == "sutazai-dev-vault"
    assert inputs["command"] == ["server"]
    assert not any("-dev" in part for part in inputs["command"])
    env = dict(item.split("=", 1) for item in inputs["envs"])
    assert "VAULT_DEV_ROOT_TOKEN_ID" not in env
    config = json.loads(env["VAULT_LOCAL_CONFIG"])
    assert config["storage"] == {"file": {"path": "/vault/file"}}
    assert config["disable_mlock"] is True
    # The Docker renderer's one hardening path, from the server's own profile.
    hardening = hardened(VAULT_PROFILE)
    assert inputs["user"] == hardening["user"] == "100:1000"
    assert inputs["readOnly"] is True
    assert inputs["tmpfs"] == hardening["tmpfs"]
    assert set(inputs["tmpfs"]) == {"/tmp", "/vault/config"}
    assert all("uid=100" in o and "noexec" in o for o in inputs["tmpfs"].values())
    assert inputs["capabilities"] == {"drops": ["ALL"]}
    assert inputs["securityOpts"] == ["no-new-privileges:true"]
    assert inputs["init"] is True
    assert inputs["memory"] == inputs["memorySwap"] == 256
    assert inputs["memoryReservation"] == 128
    assert inputs["cpus"] == "0.5" and inputs["cpuShares"] == 102
    assert inputs["volumes"] == [
        {"containerPath": "/vault/file", "volumeName": "sutazai-dev-vault-file"}
    ]
    assert inputs["networksAdvanced"][0]["name"] == "net-mgmt"
    assert inputs["ports"] == [
        {"external": 8200, "internal": 8200, "ip": "127.0.0.1", "protocol": "tcp"}
    ]
    assert inputs["healthcheck"]["tests"] == ["CMD", "vault", "status"]
    assert inputs["logDriver"] == "json-file" and inputs["logOpts"]["max-size"] == "10m"
    image = run.one("docker:index/remoteImage:RemoteImage")
    assert image.inputs["name"] == VAULT_IMAGE


def test_before_bootstrap_the_dev_stack_skips_vault_but_still_delivers() -> None:
    def vault_resources(run: Run) -> list[str]:
        return [r.name for r in run.resources if r.type.startswith(("vault:", "pulumi:prov"))]

    # vaultBootstrapped: false (a fresh dev container): no Vault resources, token or not.
    for token in (None, TOKEN):
        secrets, run = docker_run(
            fakes.stack_config("dev"), fakes.small_catalog(), bootstrapped=False, token=token
        )
        assert not secrets.vault_configured
        assert not vault_resources(run)
        run.one("docker:index/container:Container")
        assert secrets.docker_secret_files(secrets.catalog["backend"])
    secrets, run = docker_run(fakes.stack_config("dev"), fakes.small_catalog())
    assert secrets.vault_configured
    assert run.of_type("vault:kv/secretV2:SecretV2")
    assert not find_plaintext(run, [TOKEN])


def test_no_vault_container_in_prod_and_none_on_kubernetes() -> None:
    bag, _ = stack_config_bag("prod")
    with pytest.raises(ConfigError, match="vaultMode"):
        parse_config_bag({**bag, "sutazai:vaultMode": "container"})
    dev, _ = stack_config_bag("dev")
    with pytest.raises(ConfigError, match="sutazai:vaultMode: 'container' runs a dev Vault"):
        parse_config_bag({**dev, "sutazai:platform": "kubernetes"})
    _, run = kubernetes_run(fakes.stack_config("prod"), fakes.small_catalog(), bind=False)
    assert not run.of_type("docker:index/container:Container")


# --- nothing in plain text ---------------------------------------------------------------


@pytest.mark.parametrize("which", ["prod", "prod_real", "dev"])
def test_no_secret_in_plain_text_in_any_registered_input(
    which: str, request: pytest.FixtureRequest
) -> None:
    _, run = request.getfixturevalue(which)
    assert len(generated_values(run)) >= 8
    assert_no_plaintext_secrets(run)


def test_the_scan_finds_a_leak_when_there_is_one() -> None:
    """Negative control: a ConfigMap and an env literal carrying a generated value."""
    import pulumi
    import pulumi_kubernetes as k8s

    def program() -> None:
        secrets = Secrets(
            "leaky",
            config=fakes.stack_config("prod"),
            catalog=fakes.small_catalog(),
            target=fakes.kubernetes_binding(),
        )
        value = pulumi.Output.unsecret(secrets.secret_value("backend", "jwt_secret"))
        k8s.core.v1.ConfigMap("leak", data={"jwt": value})
        k8s.core.v1.Pod(
            "leak",
            spec=k8s.core.v1.PodSpecArgs(
                containers=[
                    k8s.core.v1.ContainerArgs(
                        name="c",
                        image="x:1",
                        env=[k8s.core.v1.EnvVarArgs(name="API_TOKEN", value="x")],
                        args=[
                            value.apply(
                                lambda v: __import__("base64").b64encode(v.encode()).decode()
                            )
                        ],
                    )
                ]
            ),
        )

    _, run = run_program(program, stack="prod")
    plain = find_plaintext(run)
    assert {f.how for f in plain} == {"plain", "base64"}
    assert all("leak" in f.where for f in plain)
    assert [f.what for f in find_secretish_env_literals(run)] == ["API_TOKEN"]
    with pytest.raises(AssertionError, match="in plain text"):
        assert_no_plaintext_secrets(run)


# --- files assembled from several values: env files, PgBouncer's userlist ----------------


def _address(name: str) -> str:
    return f"sutazai-dev-{name}"


def test_docker_gets_the_env_file_rendered_with_values_and_addresses() -> None:
    config = fakes.stack_config("dev")
    secrets, _ = docker_run(config, load_catalog())
    dify = secrets.catalog["dify"]
    assert secrets.env_file(dify) == f"{SECRETS_DIR}/dify-env"
    files = secrets.docker_secret_files(dify, _address)
    text, secret = resolve(files[f"{SECRETS_DIR}/dify-env"])
    assert secret
    lines = dict(line.removeprefix("export ").split("=", 1) for line in text.splitlines())
    assert lines["DB_USERNAME"] == "'dify'"
    assert lines["DB_PASSWORD"] == "'mock-random-sutazai-dev-secrets-dify-postgres'"
    assert lines["SECRET_KEY"] == "'mock-random-sutazai-dev-secrets-dify-secret_key'"
    assert lines["CELERY_BROKER_URL"] == (
        "'redis://dify:mock-random-sutazai-dev-secrets-dify-redis@sutazai-dev-redis:6379/1'"
    )
    userlist, _ = resolve(
        secrets.docker_secret_files(secrets.catalog["pgbouncer"], _address)[
            f"{SECRETS_DIR}/pgbouncer-userlist.txt"
        ]
    )
    assert userlist == '"pgbouncer" "mock-random-sutazai-dev-secrets-pgbouncer-postgres"'
    # A file that names addresses cannot be rendered without them.
    with pytest.raises(ValueError, match="address_of"):
        secrets.docker_secret_files(dify)
    assert secrets.env_file(secrets.catalog["backend"]) is None


def test_kubernetes_gets_the_env_file_as_an_agent_template(prod_real: tuple[Secrets, Run]) -> None:
    secrets, run = prod_real
    langflow = secrets.catalog["langflow"]
    annotations = secrets.kubernetes_pod_annotations(
        langflow, lambda name: f"{name}.sutazai-data.svc.cluster.local"
    )
    template, secret = resolve(
        annotations["vault.hashicorp.com/agent-inject-template-langflow-env"]
    )
    assert not secret  # paths and addresses, no value
    assert (
        "export LANGFLOW_DATABASE_URL='postgresql://langflow:"
        '{{ with secret "sutazai-prod/data/langflow/postgres" }}{{ .Data.data.password }}'
        "{{ end }}@pgbouncer.sutazai-data.svc.cluster.local:6432/sutazai'"
    ) in template
    assert (
        "export LANGFLOW_SECRET_KEY='"
        '{{ with secret "sutazai-prod/data/langflow/secret_key" }}{{ .Data.data.value }}{{ end }}'
        "'"
    ) in template
    assert not any(v in template for v in generated_values(run))
    assert annotations["vault.hashicorp.com/agent-inject-file-langflow-env"] == "langflow-env"
    # Every path the template reads is in the service's policy.
    for path in re.findall(r'with secret "([^"]+)"', template):
        assert path in secrets.policy_paths["langflow"]


def test_issuers_pods_roll_when_their_clients_change(prod_real: tuple[Secrets, Run]) -> None:
    secrets, _ = prod_real
    neo4j = secrets.catalog["neo4j"]
    digest = secrets.kubernetes_pod_annotations(neo4j)[PROVISIONING_ANNOTATION]
    fewer = secrets.layout.catalog.without({"backend"})
    layout = VaultLayout(secrets.config, fewer, "prod")
    file = layout.provisioning(fewer["neo4j"])
    assert file is not None and provisioning_digest(file) != digest
    assert PROVISIONING_ANNOTATION not in secrets.kubernetes_pod_annotations(
        secrets.catalog["backend"]
    )


def test_a_dev_vault_container_is_addressed_on_the_stacks_own_port() -> None:
    config = fakes.stack_config("dev")
    binding = DockerVaultBinding(provider=None, network_name="net", host_port=8730)
    assert vault_address_of(config, binding) == "http://127.0.0.1:8730"
    assert vault_address_of(config, fakes.docker_binding()) == config.vault_address
    existing = fakes.stack_config("dev", vault_mode="existing")
    assert vault_address_of(existing, binding) == config.vault_address
