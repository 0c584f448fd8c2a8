"""Vault secrets: generated, least-privilege, never in plain text (design invariant 6).

`Secrets` is the one place that knows about credentials. From the catalog it

- generates every credential a service owns (catalog `secrets`) and every client
  credential (a client x each `talks_to` peer that `issues_client_credentials`) as a
  `random.RandomPassword`, a Pulumi secret;
- stores each in its own KV v2 path `sutazai-<stack>/<service>/<secret>` or
  `sutazai-<stack>/<client>/<peer>`, and gives each issuer a server-side file (SCRAM
  verifiers for PostgreSQL, an ACL with hashes for Redis, a user script for Neo4j) in its
  own path;
- writes one Vault policy per service that reads exactly that service's paths, and on
  Kubernetes one role per service in a per-stack Kubernetes auth mount, bound to the
  service's ServiceAccount and namespace;
- in prod, hands in-house PostgreSQL clients short-lived users from Vault's database
  secrets engine (`bind_postgres`), and static generated credentials to the rest;
- deploys the Vault Agent injector (Kubernetes) or a dev Vault server container (Docker).

The renderers ask it, per service, for `file_env` (env that names files, never values),
`kubernetes_pod_annotations` + `kubernetes_role` (Vault paths and templates, never values)
or `docker_secret_files` (the values, as Pulumi secrets, for the Docker engine to upload),
and for the paths the container's command names: `env_file` (sourced before the entrypoint
by products that read credentials from env only) and `provisioning_file` (an issuer's
server-side client file). Files assembled from several values (the env file, PgBouncer's
userlist) may name peers' addresses; the renderer passes its `address_of` for those.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlparse

import pulumi
import pulumi_kubernetes as k8s
import pulumi_random as random
import pulumi_vault as vault

from components.platform import (
    SECRETS_DIR,
    DockerVaultBinding,
    KubernetesVaultBinding,
    secret_file,
)
from components.vault import provisioning
from components.vault.injector import (
    AGENT_CPU_LIMIT,
    AGENT_CPU_REQUEST,
    AGENT_MEM_LIMIT,
    AGENT_MEM_REQUEST,
    VaultAgentInjector,
)
from components.vault.layout import (
    DYNAMIC_DEFAULT_TTL,
    DYNAMIC_MAX_TTL,
    VAULT_IMAGE,
    VAULT_VALUE,
    ClientCredential,
    CredentialMode,
    IssuerKind,
    ProvisioningFile,
    SecretFile,
    VaultLayout,
    agent_template,
    own_password_secret,
)
from components.vault.server import VAULT_PORT, published_address
from stacks.catalog import ENV_REFERENCE, Catalog, ServiceSpec
from stacks.config import StackConfig
from stacks.errors import ConfigError
from stacks.wiring import AddressOf, fill_references

if TYPE_CHECKING:
    from components.docker.vault import DevVaultServer

__all__ = ["Secrets", "VaultLayout"]

ANNOTATION = "vault.hashicorp.com"
# On an issuer's pods: a digest of its clients (names only). A new client changes it, so the
# pods roll and the server takes in the new provisioning file.
PROVISIONING_ANNOTATION = "sutazai.io/provisioning-clients"
# A Vault token lives an hour and renews up to a day: never shorter than the database
# leases it holds (leases die with their token).
TOKEN_TTL = 3600
TOKEN_MAX_TTL = DYNAMIC_MAX_TTL
# Role of the deployer in Vault's AWS auth method (vaultAuthMethod: aws): <prefix>-deployer.
AWS_AUTH_MOUNT = "aws"
# The Vault provider never writes with the login token itself: it creates a child token that
# lives this long (its default is 20 minutes). A first prod `up` creates the Vault resources
# that wait on EKS and RDS (Kubernetes auth, the database engine) some 30-40 minutes in, so
# the child token must outlive the whole `up`. Vault caps it at the login token's own max TTL
# (the deployer role's token_max_ttl must allow it).
PROVIDER_TOKEN_TTL = 4 * 3600


def vault_credentials_problem(
    config: StackConfig,
    environ: Mapping[str, str] = os.environ,
    token_file: Path | None = None,
) -> str | None:
    """Why the program cannot log in to a bootstrapped Vault, or None.

    Token auth needs VAULT_TOKEN, or the token `vault login` stores in ~/.vault-token (the
    Vault provider reads that file when VAULT_TOKEN is unset). AWS auth signs with the AWS
    credentials the AWS provider uses too; the login itself is checked by Vault.
    """
    if config.vault_auth_method != "token":
        return None
    token_file = token_file or Path.home() / ".vault-token"
    if environ.get("VAULT_TOKEN") or token_file.is_file():
        return None
    return (
        "sutazai:vaultBootstrapped: true (the program manages the mounts, secrets, policies "
        f"and roles of the Vault at {config.vault_address}), but there is no Vault token: "
        f"VAULT_TOKEN is unset and {token_file} does not exist. Fix: export VAULT_TOKEN "
        "(a token of the Vault bootstrap, or `vault login`) and run again. Only a fresh dev "
        "Vault container that is not initialised yet takes "
        "`pulumi config set sutazai:vaultBootstrapped false`; never unset it to get past this "
        "error, or the next `up` deletes every Vault resource of the stack."
    )


class Secrets(pulumi.ComponentResource):
    """Vault mounts, generated credentials, per-service policies and roles, and delivery."""

    layout: VaultLayout
    vault_configured: bool

    def __init__(
        self,
        name: str,
        *,
        config: StackConfig,
        catalog: Catalog,
        target: KubernetesVaultBinding | DockerVaultBinding,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        """Vault is managed exactly when `sutazai:vaultBootstrapped` says so (config, never
        the environment): without credentials for it the program stops with a ConfigError."""
        super().__init__("sutazai:secrets:Secrets", name, None, opts)
        _check_target(config, target)
        self._name = name
        self.config = config
        self.catalog = catalog
        self.target = target
        self.layout = VaultLayout(config, catalog, pulumi.get_stack())
        self.vault_address = vault_address_of(config, target)
        self._bound_postgres: vault.database.SecretBackendConnection | None = None
        # Vault API path -> the resource that serves it (KV entry, database role): readiness_for.
        self._readiness: dict[str, pulumi.Resource] = {}
        child = pulumi.ResourceOptions(parent=self)

        # 1. Generated values: the single source of every credential.
        self._own: dict[tuple[str, str], random.RandomPassword] = {}
        self._client: dict[tuple[str, str], random.RandomPassword] = {}
        for spec in catalog:
            for secret in self.layout.own_secrets(spec):
                self._own[(secret.owner, secret.name)] = _password(
                    f"{name}-{secret.owner}-{secret.name}", secret.length, child
                )
            for cred in self.layout.client_credentials(spec):
                if cred.mode is CredentialMode.STATIC:
                    self._client[(cred.client, cred.peer)] = _password(
                        f"{name}-{cred.client}-{cred.peer}", 32, child
                    )
        self._provisioning: dict[str, tuple[ProvisioningFile, pulumi.Output[str]]] = {}
        for spec in catalog:
            file = self.layout.provisioning(spec)
            if file is not None:
                self._provisioning[spec.name] = (file, self._provisioning_content(spec, file))

        # 2. A dev Vault server on the local engine (never prod: StackConfig refuses it).
        self.server: DevVaultServer | None = None
        if isinstance(target, DockerVaultBinding) and config.vault_mode == "container":
            # Imported here: pulumi_docker costs ~0.2 s of every prod run otherwise.
            from components.docker.vault import DevVaultServer

            self.server = DevVaultServer(
                f"{self.layout.prefix}-vault",
                network_name=target.network_name,
                provider=target.provider,
                host_port=urlparse(self.vault_address).port or VAULT_PORT,
                labels={"ai.sutazai.stack": pulumi.get_stack(), "ai.sutazai.role": "vault"},
                opts=child,
            )

        # 3. Vault itself: mount, values, policies, auth. Which resources exist depends on the
        # stack's config alone: a run without a token fails rather than planning to delete
        # the KV mount, every secret and every policy.
        vault_configured = config.vault_bootstrapped
        if vault_configured:
            problem = vault_credentials_problem(config)
            if problem is not None:
                raise ConfigError("stack configuration", [problem])
        self.vault_configured = vault_configured
        self.provider: vault.Provider | None = None
        self.kv_mount: vault.Mount | None = None
        self.policies: dict[str, vault.Policy] = {}
        self.kubernetes_roles: dict[str, vault.kubernetes.AuthBackendRole] = {}
        self.kubernetes_auth: vault.AuthBackend | None = None
        if vault_configured:
            self._configure_vault(name)
        else:
            pulumi.log.warn(
                f"sutazai:vaultBootstrapped is false: the Vault at {self.vault_address} is not "
                "managed in this run, and containers get their generated secrets directly. "
                "Run the Vault bootstrap from the README, then `pulumi config set "
                "sutazai:vaultBootstrapped true` and `pulumi up` to store them in Vault.",
                resource=self,
            )

        # 4. Delivery on Kubernetes: the Vault Agent injector.
        self.injector: VaultAgentInjector | None = None
        if isinstance(target, KubernetesVaultBinding) and config.vault_injector == "deploy":
            workload_namespaces = sorted({target.namespace_of(s) for s in catalog})
            self.injector = VaultAgentInjector(
                f"{self.layout.prefix}-vault",
                namespace=target.vault_namespace,
                vault_address=config.vault_address,
                auth_path=self.layout.kubernetes_auth_path,
                target_namespaces=workload_namespaces,
                replicas=2 if config.is_prod else 1,
                provider=target.provider,
                create_namespace=target.vault_namespace not in workload_namespaces,
                opts=child,
            )

        self.register_outputs(
            {
                "kvMount": self.layout.kv_mount,
                "kubernetesAuthPath": self.layout.kubernetes_auth_path,
                "policies": sorted(
                    self.layout.policy_name(s.name) for s in self.layout.services_with_secrets()
                ),
                "vaultConfigured": vault_configured,
            }
        )

    # --- the API the renderers use --------------------------------------------------------

    def file_env(self, spec: ServiceSpec) -> dict[str, str]:
        """Env for the service's container: `<ENV>_FILE` paths and static user names."""
        return self.layout.file_env(spec)

    def kubernetes_role(self, spec: ServiceSpec) -> str:
        """The Vault role (in this stack's Kubernetes auth mount) the service logs in as."""
        return spec.name

    def env_file(self, spec: ServiceSpec) -> str | None:
        """Container path of the env file the service sources before its entrypoint."""
        file = self.layout.env_file(spec)
        return None if file is None else file.path

    def kubernetes_pod_annotations(
        self, spec: ServiceSpec, address_of: AddressOf | None = None
    ) -> dict[str, pulumi.Input[str]]:
        """Vault Agent injector annotations: Vault paths and templates, never values."""
        if not isinstance(self.target, KubernetesVaultBinding):
            raise TypeError("kubernetes_pod_annotations is for the kubernetes platform")
        files = self.layout.files(spec)
        if not files:
            return {}
        sidecar = self.layout.keeps_agent_running(spec)
        annotations: dict[str, pulumi.Input[str]] = {
            f"{ANNOTATION}/agent-inject": "true",
            f"{ANNOTATION}/role": self.kubernetes_role(spec),
            f"{ANNOTATION}/auth-path": f"auth/{self.layout.kubernetes_auth_path}",
            f"{ANNOTATION}/service": self.config.vault_address,
            f"{ANNOTATION}/agent-image": VAULT_IMAGE,
            f"{ANNOTATION}/secret-volume-path": SECRETS_DIR,
            # Secrets exist before any other init container (migrations) runs.
            f"{ANNOTATION}/agent-init-first": "true",
            # A sidecar only where the service re-reads its files (rotation, leases);
            # everything else gets its files once, from the init container.
            f"{ANNOTATION}/agent-pre-populate-only": "false" if sidecar else "true",
            # The agent runs as the service's own non-root user (files 0400, its own), with
            # the injector's security context: read-only root, drop ALL, no escalation.
            # (Seccomp RuntimeDefault comes from the pod's security context.)
            f"{ANNOTATION}/agent-run-as-user": str(spec.uid),
            f"{ANNOTATION}/agent-run-as-group": str(spec.gid),
            f"{ANNOTATION}/agent-run-as-same-user": "false",
            f"{ANNOTATION}/agent-set-security-context": "true",
            f"{ANNOTATION}/agent-requests-cpu": AGENT_CPU_REQUEST,
            f"{ANNOTATION}/agent-limits-cpu": AGENT_CPU_LIMIT,
            f"{ANNOTATION}/agent-requests-mem": AGENT_MEM_REQUEST,
            f"{ANNOTATION}/agent-limits-mem": AGENT_MEM_LIMIT,
            f"{ANNOTATION}/template-config-exit-on-retry-failure": "true",
            f"{ANNOTATION}/log-format": "json",
        }
        if sidecar:
            # Revoke the pod's token (and its database leases) when the pod goes away.
            annotations[f"{ANNOTATION}/agent-revoke-on-shutdown"] = "true"
        for file in files:
            key = file.annotation_key
            # A templated file that names addresses gets them filled in (an Output when one
            # is an RDS endpoint); everything else is a plain template.
            template: pulumi.Input[str] = file.template
            if file.text is not None and ENV_REFERENCE.search(file.text):
                template = self._filled(spec, file.text, address_of).apply(agent_template)
            annotations[f"{ANNOTATION}/agent-inject-secret-{key}"] = file.vault_path
            annotations[f"{ANNOTATION}/agent-inject-template-{key}"] = template
            annotations[f"{ANNOTATION}/agent-inject-file-{key}"] = file.key
            annotations[f"{ANNOTATION}/agent-inject-perms-{key}"] = "0400"
            # Per file (the injector ignores the bare annotation): a key missing from the
            # secret fails the render instead of writing an empty file.
            annotations[f"{ANNOTATION}/error-on-missing-key-{key}"] = "true"
        provisioning = self.layout.provisioning(spec)
        if provisioning is not None:
            annotations[PROVISIONING_ANNOTATION] = provisioning_digest(provisioning)
        return annotations

    def docker_secret_files(
        self, spec: ServiceSpec, address_of: AddressOf | None = None
    ) -> dict[str, pulumi.Output[str]]:
        """Container path -> secret content (an `Output.secret`), for the Docker engine."""
        if not isinstance(self.target, DockerVaultBinding):
            raise TypeError("docker_secret_files is for the docker platform")
        return {
            file.path: pulumi.Output.secret(self._content(file, spec, address_of))
            for file in self.layout.files(spec)
        }

    # --- introspection (tests, other components) ------------------------------------------

    @property
    def policy_paths(self) -> dict[str, list[str]]:
        """Service -> the exact Vault API paths its policy grants read on."""
        return {s.name: self.layout.policy_paths(s) for s in self.layout.services_with_secrets()}

    def policy_document(self, spec: ServiceSpec) -> str:
        return self.layout.policy_document(spec)

    def secret_value(self, owner: str, name: str) -> pulumi.Output[str]:
        """A generated secret of `owner` (e.g. postgres superuser_password for RDS), secret."""
        return pulumi.Output.secret(self._own[(owner, name)].result)

    def client_credential(self, client: str, peer: str) -> tuple[str, pulumi.Output[str]]:
        """(user name, password) of a static client credential, e.g. for ElastiCache users."""
        cred = self._credential(client, peer)
        if cred.mode is not CredentialMode.STATIC:
            raise KeyError(f"{client} gets dynamic credentials for {peer} from Vault")
        return cred.username, pulumi.Output.secret(self._client[(client, peer)].result)

    def provisioning_file(self, spec: ServiceSpec) -> str | None:
        """Container path of the issuer's client file (init SQL, --aclfile, cypher script)."""
        file = self._provisioning.get(spec.name)
        return None if file is None else secret_file(spec.name, file[0].file_name)

    def provisioning_fingerprint(self, spec: ServiceSpec) -> pulumi.Output[str] | None:
        """A short digest of the issuer's provisioning file as rendered: it changes with any
        client, pooler or password (rotation). Not secret: 12 hex digits of a SHA-256 over
        SCRAM verifiers and hashes, which reveal nothing a verifier does not."""
        file = self._provisioning.get(spec.name)
        if file is None:
            return None
        digest = file[1].apply(lambda text: hashlib.sha256(text.encode()).hexdigest()[:12])
        return pulumi.Output.unsecret(digest)

    # --- readiness: what the Kubernetes renderer orders a pod after ------------------------

    def readiness_for(self, spec: ServiceSpec) -> list[pulumi.Resource]:
        """What a pod of `spec` waits for to be admitted with its Vault Agent and get its
        files: the injector's webhook (a pod created before it exists is never injected), the
        service's policy and Kubernetes auth role, and each KV entry or database role its
        policy reads. Empty for a service without Vault files."""
        if not self.layout.files(spec):
            return []
        ready: list[pulumi.Resource] = []
        if self.injector is not None:
            ready.append(self.injector.webhook)
        for own in (self.policies.get(spec.name), self.kubernetes_roles.get(spec.name)):
            if own is not None:
                ready.append(own)
        paths = self.layout.policy_paths(spec)
        return ready + [self._readiness[p] for p in paths if p in self._readiness]

    # --- PostgreSQL dynamic credentials (prod) --------------------------------------------

    def bind_postgres(
        self,
        host: pulumi.Input[str],
        port: pulumi.Input[int] = 5432,
        admin_username: pulumi.Input[str] = "postgres",
        admin_password: pulumi.Input[str] | None = None,
        database: str | None = None,
    ) -> vault.database.SecretBackendConnection | None:
        """Connect Vault's database secrets engine to the (RDS) PostgreSQL server.

        Called by the composition once the data tier knows the server's address (in prod the
        RDS endpoint from components/managed_data.py). `admin_password` defaults to the
        generated `postgres/superuser_password`, which is the RDS master password, and
        `database` to the server's catalog `connection.database`. Creates a
        role per in-house client: a login user per lease (1 h, renewed up to 24 h) that is a
        member of the client's NOLOGIN group role, owning only the client's schema. A no-op
        (None) where no client gets dynamic credentials (dev) or Vault is not configured.
        """
        dynamic = self.layout.dynamic_credentials
        if not dynamic or not self.vault_configured:
            return None
        if self._bound_postgres is not None:
            raise RuntimeError("bind_postgres was already called")
        issuers = sorted({c.peer for c in dynamic})
        if len(issuers) != 1:
            raise NotImplementedError(f"dynamic credentials for several servers: {issuers}")
        issuer = issuers[0]
        database = database or self.catalog[issuer].database
        if database is None:
            raise ValueError(f"{issuer} names no connection.database; pass database")
        if admin_password is None:
            owner_secret = own_password_secret(self.catalog[issuer])
            if owner_secret is None:
                raise ValueError(f"{issuer} owns no password secret; pass admin_password")
            admin_password = self.secret_value(issuer, owner_secret)
        opts = self._vault_opts()
        mount = vault.Mount(
            f"{self._name}-database",
            path=self.layout.database_mount,
            type="database",
            description=f"Short-lived PostgreSQL users for stack {pulumi.get_stack()}",
            default_lease_ttl_seconds=DYNAMIC_DEFAULT_TTL,
            max_lease_ttl_seconds=DYNAMIC_MAX_TTL,
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(protect=self.config.is_prod)
            ),
        )
        connection = vault.database.SecretBackendConnection(
            f"{self._name}-{issuer}",
            backend=mount.path,
            name=issuer,
            plugin_name="postgresql-database-plugin",
            allowed_roles=[c.client for c in dynamic],
            verify_connection=True,
            postgresql=vault.database.SecretBackendConnectionPostgresqlArgs(
                connection_url=pulumi.Output.concat(
                    "postgresql://{{username}}:{{password}}@",
                    host,
                    ":",
                    pulumi.Output.from_input(port).apply(str),
                    f"/{database}?sslmode=require",
                ),
                username=admin_username,
                password=pulumi.Output.secret(admin_password),
                password_authentication="scram-sha-256",
                max_open_connections=4,
            ),
            opts=pulumi.ResourceOptions.merge(
                opts, pulumi.ResourceOptions(additional_secret_outputs=["postgresql"])
            ),
        )
        for cred in dynamic:
            path = self.layout.database_creds_path(cred.client)
            self._readiness[path] = vault.database.SecretBackendRole(
                f"{self._name}-{cred.client}-{issuer}",
                backend=mount.path,
                name=cred.client,
                db_name=connection.name,
                creation_statements=dynamic_creation_statements(cred.username, database),
                revocation_statements=dynamic_revocation_statements(),
                default_ttl=DYNAMIC_DEFAULT_TTL,
                max_ttl=DYNAMIC_MAX_TTL,
                opts=opts,
            )
        self._bound_postgres = connection
        return connection

    # --- internals ------------------------------------------------------------------------

    def _vault_opts(self) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(
            parent=self, provider=self.provider, depends_on=[self.server] if self.server else []
        )

    def _configure_vault(self, name: str) -> None:
        config, layout = self.config, self.layout
        auth_login_aws = None
        if config.vault_auth_method == "aws":
            # IAM login; the header binds the signed request to this Vault (no replay).
            auth_login_aws = vault.ProviderAuthLoginAwsArgs(
                role=f"{layout.prefix}-deployer",
                mount=AWS_AUTH_MOUNT,
                aws_region=config.aws_region,
                header_value=urlparse(config.vault_address).hostname,
            )
        # Token auth: the provider reads VAULT_TOKEN from the environment. A token never
        # goes into config or state.
        self.provider = vault.Provider(
            f"{name}-vault",
            address=self.vault_address,
            auth_login_aws=auth_login_aws,
            max_lease_ttl_seconds=PROVIDER_TOKEN_TTL,
            opts=pulumi.ResourceOptions(parent=self),
        )
        opts = self._vault_opts()
        self.kv_mount = vault.Mount(
            f"{name}-kv",
            path=layout.kv_mount,
            type="kv",
            options={"version": "2"},
            description=f"SutazAI generated secrets for stack {pulumi.get_stack()}",
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(protect=config.is_prod)),
        )
        for (owner, secret_name), password in self._own.items():
            self._kv(
                f"{name}-{owner}-{secret_name}",
                f"{owner}/{secret_name}",
                password.result.apply(lambda v: json.dumps({"value": v})),
            )
        for (client, peer), password in self._client.items():
            username = self._credential(client, peer).username
            self._kv(
                f"{name}-{client}-{peer}",
                f"{client}/{peer}",
                password.result.apply(
                    lambda v, u=username: json.dumps({"username": u, "password": v})
                ),
            )
        for file, content in self._provisioning.values():
            self._kv(
                f"{name}-{file.issuer}-{file.secret_name}",
                file.kv_name,
                content.apply(lambda v: json.dumps({"value": v})),
            )

        for spec in layout.services_with_secrets():
            self.policies[spec.name] = vault.Policy(
                f"{name}-{spec.name}",
                name=layout.policy_name(spec.name),
                policy=layout.policy_document(spec),
                opts=opts,
            )

        if isinstance(self.target, KubernetesVaultBinding):
            self._configure_kubernetes_auth(name, self.target)

    def _kv(self, resource_name: str, kv_name: str, data: pulumi.Output[str]) -> None:
        assert self.kv_mount is not None
        self._readiness[self.layout.kv_api_path(kv_name)] = vault.kv.SecretV2(
            resource_name,
            mount=self.kv_mount.path,
            name=kv_name,
            data_json=pulumi.Output.secret(data),
            # Destroying an (ephemeral) stack removes every version, not just the latest.
            delete_all_versions=True,
            opts=pulumi.ResourceOptions.merge(
                self._vault_opts(),
                pulumi.ResourceOptions(additional_secret_outputs=["dataJson", "data"]),
            ),
        )

    def _configure_kubernetes_auth(self, name: str, target: KubernetesVaultBinding) -> None:
        layout = self.layout
        opts = self._vault_opts()
        self.kubernetes_auth = vault.AuthBackend(
            f"{name}-kubernetes",
            type="kubernetes",
            path=layout.kubernetes_auth_path,
            description=f"SutazAI service accounts of stack {pulumi.get_stack()}",
            opts=opts,
        )
        # Vault runs outside the cluster; it reviews each login with the caller's own
        # token (no long-lived reviewer token to store or rotate), which is why the
        # ServiceAccounts below may create TokenReviews (system:auth-delegator).
        vault.kubernetes.AuthBackendConfig(
            f"{name}-kubernetes",
            backend=self.kubernetes_auth.path,
            kubernetes_host=target.host,
            kubernetes_ca_cert=target.ca_certificate,
            disable_local_ca_jwt=True,
            opts=opts,
        )
        subjects: list[k8s.rbac.v1.SubjectArgs] = []
        for spec in layout.services_with_secrets():
            if not target.runs_in_cluster(spec):
                continue
            account, namespace = target.service_account_of(spec), target.namespace_of(spec)
            self.kubernetes_roles[spec.name] = vault.kubernetes.AuthBackendRole(
                f"{name}-{spec.name}",
                backend=self.kubernetes_auth.path,
                role_name=self.kubernetes_role(spec),
                bound_service_account_names=[account],
                bound_service_account_namespaces=[namespace],
                token_policies=[self.policies[spec.name].name],
                token_ttl=TOKEN_TTL,
                token_max_ttl=TOKEN_MAX_TTL,
                opts=opts,
            )
            subjects.append(
                k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=account, namespace=namespace)
            )
        if subjects:
            k8s.rbac.v1.ClusterRoleBinding(
                f"{name}-vault-auth-delegator",
                metadata=k8s.meta.v1.ObjectMetaArgs(
                    name=f"{layout.prefix}-vault-auth-delegator",
                    labels={
                        "app.kubernetes.io/part-of": "sutazai",
                        "app.kubernetes.io/managed-by": "pulumi",
                    },
                ),
                role_ref=k8s.rbac.v1.RoleRefArgs(
                    api_group="rbac.authorization.k8s.io",
                    kind="ClusterRole",
                    name="system:auth-delegator",
                ),
                subjects=subjects,
                opts=pulumi.ResourceOptions(parent=self, provider=target.provider),
            )

    def _credential(self, client: str, peer: str) -> ClientCredential:
        for cred in self.layout.client_credentials(self.catalog[client]):
            if cred.peer == peer:
                return cred
        raise KeyError(f"{client} has no credentials for {peer}")

    def _filled(
        self, spec: ServiceSpec, text: str, address_of: AddressOf | None
    ) -> pulumi.Output[str]:
        """A templated file's text with its peers' addresses filled in (not secret)."""
        if not ENV_REFERENCE.search(text):
            return pulumi.Output.from_input(text)
        if address_of is None:
            raise ValueError(f"{spec.name}: its secret files name addresses; pass address_of")
        return fill_references(text, self.catalog, address_of, spec.name, self.layout.managed)

    def _vault_values(self, spec: ServiceSpec) -> dict[tuple[str, str], pulumi.Output[str]]:
        """(Vault API path, template field) -> the generated value, for the Docker engine."""
        layout = self.layout
        values: dict[tuple[str, str], pulumi.Output[str]] = {}
        for secret in layout.own_secrets(spec):
            key = (layout.kv_api_path(secret.kv_name), ".Data.data.value")
            values[key] = self._own[(secret.owner, secret.name)].result
        for cred in layout.client_credentials(spec):
            if cred.mode is CredentialMode.STATIC:
                key = (layout.kv_api_path(cred.kv_name), ".Data.data.password")
                values[key] = self._client[(cred.client, cred.peer)].result
        return values

    def _content(
        self, file: SecretFile, spec: ServiceSpec, address_of: AddressOf | None = None
    ) -> pulumi.Output[str]:
        """The value a file holds (Docker delivery)."""
        if file.text is not None:
            values = self._vault_values(spec)
            wanted = [(m.group(1), m.group(2)) for m in VAULT_VALUE.finditer(file.text)]
            missing = [w for w in wanted if w not in values]
            if missing:
                raise KeyError(f"{file.path}: no local value for {missing} (dynamic credentials)")
            keys = sorted(set(wanted))
            filled = self._filled(spec, file.text, address_of)

            def render(resolved: list[str]) -> str:
                by_key = dict(zip(keys, resolved[1:], strict=True))
                return VAULT_VALUE.sub(lambda m: by_key[(m.group(1), m.group(2))], resolved[0])

            return pulumi.Output.all(filled, *(values[k] for k in keys)).apply(render)
        if file.shares is not None:
            return self._own[file.shares].result
        if any(s.name == file.name for s in self.layout.operator_secrets(self.catalog[file.owner])):
            return self._operator_value(file)
        owner = file.owner
        if (owner, file.name) in self._own:
            return self._own[(owner, file.name)].result
        provisioning = self._provisioning.get(owner)
        if provisioning is not None and file.name == provisioning[0].file_name:
            return provisioning[1]
        peer = file.name.removesuffix("-password")
        if (owner, peer) in self._client:
            return self._client[(owner, peer)].result
        raise KeyError(f"{file.path}: no local value (dynamic credentials come from Vault)")

    def _operator_value(self, file: SecretFile) -> pulumi.Output[str]:
        """An operator-written secret, read from Vault (Docker delivery needs the value)."""
        if self.provider is None or self.kv_mount is None:
            raise ConfigError(
                "stack configuration",
                [
                    f"sutazai:alerting.receivers: {file.path} is read from Vault "
                    f"({file.vault_path}), which this run does not manage; bootstrap Vault "
                    "(sutazai:vaultBootstrapped: true) or remove the receiver"
                ],
            )
        kv_name = file.vault_path.removeprefix(f"{self.layout.kv_mount}/data/")
        entry = vault.kv.get_secret_v2_output(
            mount=self.kv_mount.path,
            name=kv_name,
            opts=pulumi.InvokeOutputOptions(provider=self.provider),
        )
        return pulumi.Output.secret(entry.data.apply(lambda data: str(data["value"])))

    def _provisioning_content(
        self, spec: ServiceSpec, file: ProvisioningFile
    ) -> pulumi.Output[str]:
        usernames = [c.username for c in file.clients]
        passwords = [self._client[(c.client, c.peer)].result for c in file.clients]
        own = own_password_secret(spec)
        default_password: pulumi.Output[str] | None = (
            self._own[(spec.name, own)].result if own is not None else None
        )
        kind = file.kind

        lookup_user = file.lookup_user

        def render(clients: Sequence[tuple[str, str]], default: str | None) -> str:
            if kind is IssuerKind.POSTGRES:
                return provisioning.postgres_client_roles(clients, lookup_user=lookup_user)
            if kind is IssuerKind.REDIS:
                return provisioning.redis_users_acl(default, clients)
            return provisioning.neo4j_client_users(clients)

        def build(values: list[str]) -> str:
            default = values[-1] if default_password is not None else None
            client_values = values[: len(usernames)]
            return render(list(zip(usernames, client_values, strict=True)), default)

        inputs: list[pulumi.Output[str]] = [*passwords]
        if default_password is not None:
            inputs.append(default_password)
        return pulumi.Output.secret(pulumi.Output.all(*inputs).apply(build))


def vault_address_of(
    config: StackConfig, target: KubernetesVaultBinding | DockerVaultBinding
) -> str:
    """The Vault this stack talks to. A dev Vault container publishes on the port the
    Docker infrastructure derived from the stack name (8200 for `dev`, another port for
    every dev-<owner> stack on the engine); `vaultAddress` names the `dev` stack's."""
    if (
        isinstance(target, DockerVaultBinding)
        and config.vault_mode == "container"
        and target.host_port is not None
    ):
        return published_address(config.vault_address, target.host_port)
    return config.vault_address


def provisioning_digest(file: ProvisioningFile) -> str:
    """A digest of who an issuer's file lets in (names, not credentials)."""
    names = ",".join(sorted(c.username for c in file.clients))
    return hashlib.sha256(f"{file.kind}:{file.lookup_user}:{names}".encode()).hexdigest()[:16]


def dynamic_creation_statements(role: str, database: str) -> list[str]:
    """SQL Vault runs for each lease: a login user in the client's group role.

    The NOLOGIN group role `<client>` owns the schema `<client>` and holds CONNECT on the
    database; every lease's user is a member that acts as the group (`SET role`), so the
    objects it creates outlive the user and the next user owns them too. Statements with a
    dollar-quoted block run whole (Vault executes `$$` statements as one).

    The connection's `password_authentication = scram-sha-256` makes Vault hash the password
    itself: `{{password}}` is the SCRAM verifier, which the role gets and which is recorded
    for PgBouncer's lookup (`provisioning.AUTH_TABLE`; RDS lets nobody read pg_shadow).
    """
    group = f'"{role}"'
    return [
        *provisioning.auth_table_statements(),
        "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = "
        f"'{role}') THEN CREATE ROLE {group} NOLOGIN; END IF; END $$;",
        f"GRANT {group} TO CURRENT_USER;",
        f"CREATE SCHEMA IF NOT EXISTS {group} AUTHORIZATION {group};",
        f'REVOKE CONNECT ON DATABASE "{database}" FROM PUBLIC;',
        f'GRANT CONNECT ON DATABASE "{database}" TO {group};',
        "CREATE ROLE \"{{name}}\" WITH LOGIN PASSWORD '{{password}}' "
        f"VALID UNTIL '{{{{expiration}}}}' IN ROLE {group};",
        f'ALTER ROLE "{{{{name}}}}" SET role TO {group};',
        f'ALTER ROLE "{{{{name}}}}" SET search_path TO {group};',
        provisioning.verifier_upsert("'{{name}}'", "'{{password}}'"),
    ]


def dynamic_revocation_statements() -> list[str]:
    """SQL Vault runs when a lease ends: its recorded verifier, then the user."""
    return [
        provisioning.verifier_delete("'{{name}}'"),
        'DROP ROLE IF EXISTS "{{name}}";',
    ]


def _password(
    resource_name: str, length: int, opts: pulumi.ResourceOptions
) -> random.RandomPassword:
    """Letters and digits only: safe in URLs, ACL files, SQL literals and shell, and still
    ~5.95 bits a character (32 characters > 190 bits)."""
    return random.RandomPassword(
        resource_name,
        length=length,
        special=False,
        min_lower=1,
        min_upper=1,
        min_numeric=1,
        opts=pulumi.ResourceOptions.merge(
            opts, pulumi.ResourceOptions(additional_secret_outputs=["result", "bcryptHash"])
        ),
    )


def _check_target(config: StackConfig, target: KubernetesVaultBinding | DockerVaultBinding) -> None:
    problems: list[str] = []
    if config.platform == "kubernetes" and not isinstance(target, KubernetesVaultBinding):
        problems.append("sutazai:platform: kubernetes needs a KubernetesVaultBinding")
    if config.platform == "docker" and not isinstance(target, DockerVaultBinding):
        problems.append("sutazai:platform: docker needs a DockerVaultBinding")
    # vaultMode / vaultBootstrapped / platform combinations are StackConfig's (_check_vault).
    if problems:
        raise ConfigError("stack configuration", problems)
