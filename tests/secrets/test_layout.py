"""The Vault layout as data: paths, files, env, policies (no Pulumi runtime needed)."""

from __future__ import annotations

import itertools

import pytest

from components.platform import SECRETS_DIR
from components.vault.layout import CredentialMode, VaultLayout, stack_slug
from stacks.catalog import Catalog, ServiceSpec, load_catalog
from stacks.composition import effective_catalog
from stacks.errors import ConfigError
from tests.kubernetes import plan_views
from tests.secrets import fakes
from tests.secrets.vault_policy import parse_policy, path_matches


def layouts() -> list[tuple[str, VaultLayout]]:
    """The real catalog under the real prod and dev configs, and the small test catalog."""
    real = load_catalog()
    result = []
    for stack in ("prod", "dev"):
        config = fakes.stack_config(stack)
        result.append(
            (f"real-{stack}", VaultLayout(config, effective_catalog(real, config), stack))
        )
        # Every service enabled: what an ephemeral stack with all tiers switched on sees.
        result.append((f"full-{stack}", VaultLayout(config, real, f"{stack}-full")))
        result.append((f"small-{stack}", VaultLayout(config, fakes.small_catalog(), stack)))
    return result


LAYOUTS = layouts()


def _with(catalog: Catalog, spec: ServiceSpec) -> Catalog:
    return catalog.with_service(spec)


def test_backend_env_in_dev_names_files_and_users() -> None:
    layout = VaultLayout(fakes.stack_config("dev"), fakes.small_catalog(), "dev")
    assert layout.file_env(layout.catalog["backend"]) == {
        "JWT_SECRET_KEY_FILE": "/vault/secrets/backend-jwt_secret",
        "NEO4J_PASSWORD_FILE": "/vault/secrets/backend-neo4j-password",
        "NEO4J_USER": "backend",
        "POSTGRES_PASSWORD_FILE": "/vault/secrets/backend-postgres-password",
        "POSTGRES_USER": "backend",
        "REDIS_PASSWORD_FILE": "/vault/secrets/backend-redis-password",
        "REDIS_USERNAME": "backend",
    }


def test_prod_gives_in_house_postgres_clients_dynamic_credentials() -> None:
    layout = VaultLayout(fakes.stack_config("prod"), fakes.small_catalog(), "prod")
    modes = {
        (c.client, c.peer): c.mode
        for spec in layout.catalog
        for c in layout.client_credentials(spec)
    }
    assert modes[("backend", "postgres")] is CredentialMode.DYNAMIC
    # Upstream products and pgbouncer (built FROM the root image) read credentials once.
    assert modes[("dify", "postgres")] is CredentialMode.STATIC
    assert modes[("pgbouncer", "postgres")] is CredentialMode.STATIC
    # Only PostgreSQL has a database engine here; Redis/Neo4j stay static.
    assert modes[("backend", "redis")] is CredentialMode.STATIC
    env = layout.file_env(layout.catalog["backend"])
    assert env["POSTGRES_USER_FILE"] == "/vault/secrets/backend-postgres-username"
    assert "POSTGRES_USER" not in env
    assert layout.policy_paths(layout.catalog["backend"])[0] == (
        "sutazai-prod-database/creds/backend"
    )
    # The PostgreSQL provisioning file only lists static clients.
    provisioning = layout.provisioning(layout.catalog["postgres"])
    assert provisioning is not None
    assert [c.client for c in provisioning.clients] == ["pgbouncer", "dify"]


def test_dev_has_no_dynamic_credentials() -> None:
    layout = VaultLayout(fakes.stack_config("dev"), fakes.small_catalog(), "dev")
    assert layout.dynamic_credentials == []


@pytest.mark.parametrize(("label", "layout"), LAYOUTS, ids=[label for label, _ in LAYOUTS])
def test_every_file_is_under_the_secrets_dir_and_env_points_at_it(
    label: str, layout: VaultLayout
) -> None:
    for spec in layout.catalog:
        files = layout.files(spec)
        assert len({f.key for f in files}) == len(files)
        for file in files:
            assert file.path.startswith(f"{SECRETS_DIR}/{spec.name}-")
            assert file.vault_path in layout.policy_paths(spec)
            assert "mock-random" not in file.template
        env = layout.file_env(spec)
        for key, value in env.items():
            if key.endswith("_FILE"):
                assert value in {f.path for f in files}
            else:
                # Only user names travel as literals, and they are not secret.
                assert key.endswith(("_USER", "_USERNAME")), key


@pytest.mark.parametrize(("label", "layout"), LAYOUTS, ids=[label for label, _ in LAYOUTS])
def test_every_service_with_secrets_has_a_path_and_a_policy(
    label: str, layout: VaultLayout
) -> None:
    for spec in layout.catalog:
        wants = (
            bool(spec.secrets)
            or any(
                layout.catalog.services[p].issues_client_credentials
                for p in spec.talks_to
                if p in layout.catalog.services
            )
            or bool(layout.shared_secrets(spec))
            # Alert receivers' secrets, written to Vault by an operator (stack config).
            or bool(layout.operator_secrets(spec))
        )
        assert layout.needs_vault(spec) == (wants or layout.provisioning(spec) is not None)
        if wants:
            assert layout.policy_paths(spec), spec.name


@pytest.mark.parametrize(("label", "layout"), LAYOUTS, ids=[label for label, _ in LAYOUTS])
def test_no_policy_grants_another_services_path(label: str, layout: VaultLayout) -> None:
    own = {s.name: set(layout.policy_paths(s)) for s in layout.services_with_secrets()}
    assert own, "the catalog has secrets"
    for service, paths in own.items():
        spec = layout.catalog[service]
        grants = parse_policy(layout.policy_document(spec))
        assert set(grants) == paths, service
        assert all(caps == {"read"} for caps in grants.values()), service
        # The one exception: a peer's own key it presents to that peer (clients_env, scrape
        # token), exactly that path.
        shared = {layout.kv_api_path(s.kv_name) for s in layout.shared_secrets(spec)}
        for other, other_paths in own.items():
            if other == service:
                continue
            for pattern, path in itertools.product(grants, other_paths):
                if path_matches(pattern, path):
                    # Its own path that a client reads too, or the client's shared key.
                    assert path in shared | paths and pattern == path, f"{service}: {path}"


def test_qdrant_clients_and_its_scraper_get_its_api_key_and_nothing_else() -> None:
    layout = VaultLayout(fakes.stack_config("prod"), load_catalog(), "prod")
    qdrant_key = "sutazai-prod/data/qdrant/api_key"
    holders = {
        spec.name: layout.file_env(spec).get("QDRANT_API_KEY_FILE")
        for spec in layout.catalog
        if qdrant_key in layout.policy_paths(spec)
    }
    # Its API clients (talks_to) and Prometheus (scrape token); health-monitor polls the
    # unauthenticated /livez only.
    assert holders == {
        "backend": "/vault/secrets/backend-qdrant-api_key",
        "mcp-server": "/vault/secrets/mcp-server-qdrant-api_key",
        "prometheus": None,
        "qdrant": None,
    }
    assert "qdrant" in layout.catalog["health-monitor"].talks_to
    prometheus = layout.files(layout.catalog["prometheus"])
    assert [f.path for f in prometheus] == ["/vault/secrets/prometheus-qdrant-api_key"]
    # Qdrant itself: the key in its env file, no *_FILE variable the product ignores.
    qdrant = layout.catalog["qdrant"]
    assert "QDRANT__SERVICE__API_KEY_FILE" not in layout.file_env(qdrant)
    env_file = layout.env_file(qdrant)
    assert env_file is not None and env_file.text == (
        "export QDRANT__SERVICE__API_KEY="
        "'${vault:sutazai-prod/data/qdrant/api_key:.Data.data.value}'\n"
    )
    # Without Qdrant nobody gets its key.
    smaller = VaultLayout(fakes.stack_config("prod"), load_catalog().without({"qdrant"}), "prod")
    assert not any(smaller.shared_secrets(spec) for spec in smaller.catalog)


def test_paths_of_different_services_never_overlap() -> None:
    for _, layout in LAYOUTS:
        seen: dict[str, str] = {}
        for spec in layout.services_with_secrets():
            shared = {layout.kv_api_path(s.kv_name) for s in layout.shared_secrets(spec)}
            for path in layout.policy_paths(spec):
                if path in shared:
                    continue  # another service's own key, read on purpose (its owner's path)
                assert path not in seen, f"{path}: {seen.get(path)} and {spec.name}"
                seen[path] = spec.name


def test_policy_parser_refuses_what_it_does_not_know() -> None:
    with pytest.raises(ValueError):
        parse_policy('path "a/*" { capabilities = ["read"] denied_parameters = {} }')
    assert parse_policy('# c\npath "a/+/b" {\n capabilities = ["read", "list"]\n}\n') == {
        "a/+/b": {"read", "list"}
    }
    assert path_matches("kv/data/backend/*", "kv/data/backend/jwt")
    assert not path_matches("kv/data/backend/*", "kv/data/backend-x/jwt")
    assert path_matches("kv/data/backend*", "kv/data/backend-x/jwt")
    assert path_matches("kv/data/+/jwt", "kv/data/frontend/jwt")


@pytest.mark.parametrize(
    ("stack", "mount"),
    [("prod", "sutazai-prod"), ("dev-alice", "sutazai-dev-alice"), ("PR_42.x", "sutazai-pr-42-x")],
)
def test_mounts_carry_the_stack(stack: str, mount: str) -> None:
    layout = VaultLayout(fakes.stack_config("dev"), fakes.small_catalog(), stack)
    assert layout.kv_mount == mount
    assert layout.database_mount == f"{mount}-database"
    assert layout.kubernetes_auth_path == f"{mount}-kubernetes"
    assert layout.policy_name("backend") == f"{mount}-backend"
    assert stack_slug(stack) == mount.removeprefix("sutazai-")


def test_a_secret_named_like_a_peer_is_refused() -> None:
    catalog = fakes.small_catalog()
    backend = catalog["backend"]
    clashing = backend.model_copy(
        update={
            "secrets": [*backend.secrets, backend.secrets[0].model_copy(update={"name": "redis"})]
        }
    )
    with pytest.raises(ConfigError, match="backend/redis"):
        VaultLayout(fakes.stack_config("dev"), _with(catalog, clashing), "dev")


def test_catalog_env_cannot_shadow_secret_env() -> None:
    catalog = fakes.small_catalog()
    backend = catalog["backend"].model_copy(update={"env": {"POSTGRES_USER": "admin"}})
    with pytest.raises(ConfigError, match="POSTGRES_USER"):
        VaultLayout(fakes.stack_config("dev"), _with(catalog, backend), "dev")


def test_reserved_user_names_are_refused() -> None:
    catalog = fakes.small_catalog()
    ollama = catalog["ollama"]
    default = ollama.model_copy(update={"name": "default", "talks_to": ["redis"]})
    with pytest.raises(ConfigError, match="reserved"):
        VaultLayout(fakes.stack_config("dev"), _with(catalog, default), "dev")


def test_long_names_get_short_annotation_keys() -> None:
    catalog = fakes.small_catalog()
    long_name = "a-very-long-service-name-for-annotations"
    spec = catalog["dify"].model_copy(update={"name": long_name})
    layout = VaultLayout(fakes.stack_config("dev"), _with(catalog, spec), "dev")
    for file in layout.files(layout.catalog[long_name]):
        assert len(f"agent-inject-template-{file.annotation_key}") <= 63
    keys = [f.annotation_key for f in layout.files(layout.catalog[long_name])]
    assert len(set(keys)) == len(keys)


# ── env files, secret files, provisioning for every issuer ──────────────────────────────


def full_layout(stack: str) -> VaultLayout:
    return VaultLayout(fakes.stack_config(stack), load_catalog(), stack)


def test_env_only_products_get_an_env_file_of_vault_values() -> None:
    layout = full_layout("dev")
    dify = layout.catalog["dify"]
    env_file = layout.env_file(dify)
    assert env_file is not None and env_file.path == f"{SECRETS_DIR}/dify-env"
    assert env_file.env is None  # its path is in the command, not in env
    text = env_file.text or ""
    lines = dict(line.removeprefix("export ").split("=", 1) for line in text.splitlines())
    assert set(lines) == {
        "SECRET_KEY",
        "DB_USERNAME",
        "DB_PASSWORD",
        "REDIS_PASSWORD",
        "CELERY_BROKER_URL",
    }
    assert lines["DB_USERNAME"] == "'dify'"
    assert lines["DB_PASSWORD"] == "'${vault:sutazai-dev/data/dify/postgres:.Data.data.password}'"
    assert lines["SECRET_KEY"] == "'${vault:sutazai-dev/data/dify/secret_key:.Data.data.value}'"
    # Addresses and connection facts stay references; the renderer fills them in (a pooled
    # service: its pooler; a managed one: its managed scheme).
    assert lines["CELERY_BROKER_URL"] == (
        "'${redis.scheme}://dify:${vault:sutazai-dev/data/dify/redis:.Data.data.password}"
        "@${redis.host}:${redis.port}/1'"
    )
    # An env_from_file secret is exported, not pointed at.
    env = layout.file_env(dify)
    assert "SECRET_KEY_FILE" not in env and "SECRET_KEY" not in env
    assert {f.name for f in layout.files(dify)} >= {"env", "postgres-password", "redis-password"}
    assert "secret_key" not in {f.name for f in layout.files(dify)}
    # The policy grants exactly what the files read, the env file's paths included.
    assert set(layout.policy_paths(dify)) == {
        "sutazai-dev/data/dify/secret_key",
        "sutazai-dev/data/dify/postgres",
        "sutazai-dev/data/dify/redis",
    }


def test_env_file_values_are_single_quoted_for_the_shell() -> None:
    layout = full_layout("dev")
    spec = layout.catalog["letta"].model_copy(
        update={"secret_env": {"LETTA_PG_PASSWORD": "it's ${postgres.password}"}}
    )
    text = layout._env_file_text(spec)
    assert text is not None
    assert "export LETTA_PG_PASSWORD='it'\\''s ${vault:" in text


def test_entries_naming_a_disabled_peer_are_dropped() -> None:
    layout = full_layout("dev")
    catalog = layout.catalog.without({"redis"})
    smaller = VaultLayout(layout.config, catalog, "dev")
    text = (smaller.env_file(catalog["dify"]) or pytest.fail("no env file")).text or ""
    assert "REDIS_PASSWORD" not in text and "CELERY_BROKER_URL" not in text
    assert "DB_PASSWORD" in text


def test_in_prod_in_house_clients_get_dynamic_users_in_their_templates() -> None:
    layout = full_layout("prod")
    spec = layout.catalog["agentgpt"].model_copy(
        update={
            "secret_env": {
                "DATABASE_URL": "postgresql://${postgres.user}:${postgres.password}@h/db"
            }
        }
    )
    text = layout._template_text(spec, spec.secret_env["DATABASE_URL"], quote=False)
    assert text == (
        "postgresql://${vault:sutazai-prod-database/creds/agentgpt:.Data.username}"
        ":${vault:sutazai-prod-database/creds/agentgpt:.Data.password}@h/db"
    )


def test_the_pooler_gets_its_userlist_and_the_server_its_lookup_user() -> None:
    for stack in ("dev", "prod"):
        layout = full_layout(stack)
        pgbouncer = layout.catalog["pgbouncer"]
        (userlist,) = [f for f in layout.files(pgbouncer) if f.name == "userlist.txt"]
        assert userlist.text == (
            f'"pgbouncer" "${{vault:sutazai-{stack}/data/pgbouncer/postgres:.Data.data.password}}"'
        )
        assert 'with secret "sutazai-' in userlist.template
        provisioning = layout.provisioning(layout.catalog["postgres"])
        assert provisioning is not None and provisioning.lookup_user == "pgbouncer"


def test_every_issuer_has_a_provisioning_file_even_without_clients() -> None:
    layout = full_layout("dev")
    alone = layout.catalog.without({s.name for s in layout.catalog if s.name != "redis"})
    smaller = VaultLayout(layout.config, alone, "dev")
    provisioning = smaller.provisioning(alone["redis"])
    assert provisioning is not None and provisioning.clients == ()
    assert f"{SECRETS_DIR}/redis-users.acl" in {f.path for f in smaller.files(alone["redis"])}


def test_a_product_with_its_own_file_convention_gets_its_variable() -> None:
    layout = full_layout("dev")
    env = layout.file_env(layout.catalog["grafana"])
    assert env == {"GF_SECURITY_ADMIN_PASSWORD__FILE": f"{SECRETS_DIR}/grafana-admin_password"}


def test_an_unused_peer_gets_no_credential_path_or_acl_user() -> None:
    """Letta lists redis in unused_peers: no Redis user, file, env or Vault path for it."""
    config = fakes.stack_config("prod")
    layout = VaultLayout(config, load_catalog(), "prod")
    letta = layout.catalog["letta"]
    assert [c.peer for c in layout.client_credentials(letta)] == ["postgres"]
    assert not [f for f in layout.files(letta) if "redis" in f.name]
    assert not [k for k in layout.file_env(letta) if "REDIS" in k]
    assert not [p for p in layout.policy_paths(letta) if p.endswith("/letta/redis")]
    assert "letta" not in {c.client for c in layout.issued_by("redis")}
    assert {"backend", "dify"} <= {c.client for c in layout.issued_by("redis")}


def test_alert_receiver_secrets_are_read_by_alertmanager_alone() -> None:
    """Operator-written secrets: in Alertmanager's policy, in nobody else's, never generated."""
    config, catalog = plan_views.stack_model("prod")
    layout = VaultLayout(config, catalog, "prod")
    receivers = {f"{layout.kv_mount}/data/alertmanager/receiver-{r.name}"
                 for r in config.alerting.receivers}  # fmt: skip
    assert receivers and receivers <= set(layout.policy_paths(catalog["alertmanager"]))
    for spec in layout.services_with_secrets():
        if spec.name != "alertmanager":
            assert not receivers & set(layout.policy_paths(spec)), spec.name
    assert not [s for s in layout.own_secrets(catalog["alertmanager"]) if "receiver" in s.name]
