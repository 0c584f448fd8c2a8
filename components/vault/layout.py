"""The Vault layout of one stack: every path, file, env var and policy, derived from the catalog.

Pure data (no Pulumi resources), so the Secrets component, the renderers (through it) and
the tests read the same answers. Nothing here ever holds a secret value: only names, Vault
paths and the agent templates that reference them.

Layout for stack `prod` (mount names carry the stack, so ephemeral stacks never collide):

    sutazai-prod/                         KV v2 mount
      <service>/<secret>                  {"value": ...}       a secret the service owns
                                          (read by its clients too: `clients_env`, scrape
                                          `token`)
      <client>/<peer>                     {"username", "password"}  static client credential
      <issuer>/<provisioning>             server-side file (SCRAM verifiers, ACL hashes, ...)
    sutazai-prod-database/creds/<client>  dynamic PostgreSQL credentials (prod, in-house)
    auth/sutazai-prod-kubernetes/role/<service>
    sys/policies/acl/sutazai-prod-<service>
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from enum import StrEnum
from functools import cached_property

from components.platform import (
    ALERT_ROUTER,
    alert_receiver_secret,
    secret_file,
    shared_secret_file,
)
from stacks.catalog import CREDENTIAL_REFERENCE, ENV_REFERENCE, Catalog, ServiceSpec
from stacks.config import StackConfig
from stacks.wiring import managed_services

# Pinned from hashicorp/vault-helm 0.34.1 (values.yaml: injector.image, injector.agentImage).
VAULT_IMAGE = "hashicorp/vault:2.0.4"
INJECTOR_IMAGE = "hashicorp/vault-k8s:1.7.6"

# Dynamic PostgreSQL credentials: a lease lives an hour and is renewed by the agent sidecar
# up to a day; then the agent fetches a new user and the old one is dropped.
DYNAMIC_DEFAULT_TTL = 3600
DYNAMIC_MAX_TTL = 86400

# Usernames a client credential may never take (server superusers and built-ins).
RESERVED_USERNAMES = frozenset({"postgres", "rdsadmin", "rds_superuser", "default", "neo4j"})

# An annotation name (the part after "vault.hashicorp.com/") is at most 63 characters;
# "agent-inject-template-" takes 22 of them.
_MAX_ANNOTATION_KEY = 63 - len("agent-inject-template-")

# The file a service's container sources before it execs its entrypoint (products that read
# credentials from env only): /vault/secrets/<service>-env.
ENV_FILE_NAME = "env"
# A Vault value inside a templated file's text: ${vault:<API path>:<template field>}. The
# Secrets component turns it into an agent template (Kubernetes) or the value (Docker).
VAULT_VALUE = re.compile(r"\$\{vault:([^:}]+):([^}]+)\}")


def vault_value(path: str, field: str) -> str:
    return f"${{vault:{path}:{field}}}"


def agent_template(text: str) -> str:
    """A templated file's text as a Vault Agent (consul-template) template: every
    ${vault:path:field} becomes a `with secret` block over that path; the rest stays text."""
    return VAULT_VALUE.sub(
        lambda m: f'{{{{ with secret "{m.group(1)}" }}}}{{{{ {m.group(2)} }}}}{{{{ end }}}}', text
    )


def shell_quote(text: str) -> str:
    """Single-quote text for a POSIX shell (the env file is sourced by /bin/sh)."""
    return "'" + text.replace("'", "'\\''") + "'"


class IssuerKind(StrEnum):
    """Products whose clients each get their own credentials (issues_client_credentials)."""

    POSTGRES = "postgres"
    REDIS = "redis"
    NEO4J = "neo4j"


class CredentialMode(StrEnum):
    # A generated password in KV; the user is created from the provisioning file.
    STATIC = "static"
    # Vault's database secrets engine creates a short-lived user per lease.
    DYNAMIC = "dynamic"


# (user env, password env) a client gets for each kind of issuer. The password is always
# delivered as <env>_FILE; the user as a literal (static) or <env>_FILE (dynamic).
CLIENT_ENV: dict[IssuerKind, tuple[str, str]] = {
    IssuerKind.POSTGRES: ("POSTGRES_USER", "POSTGRES_PASSWORD"),
    IssuerKind.REDIS: ("REDIS_USERNAME", "REDIS_PASSWORD"),
    IssuerKind.NEO4J: ("NEO4J_USER", "NEO4J_PASSWORD"),
}

# The server-side file each issuer gets: (file name, KV secret name). It holds what the
# server needs to recognise its clients (hashes where the product accepts them).
PROVISIONING: dict[IssuerKind, tuple[str, str]] = {
    IssuerKind.POSTGRES: ("client-roles.sql", "client_roles"),
    IssuerKind.REDIS: ("users.acl", "users_acl"),
    IssuerKind.NEO4J: ("client-users.cypher", "client_users"),
}


def stack_slug(stack: str) -> str:
    """A Vault-path- and Kubernetes-name-safe form of the stack name."""
    slug = re.sub(r"[^a-z0-9-]+", "-", stack.lower()).strip("-")
    if not slug:
        raise ValueError(f"stack name {stack!r} has no usable characters for Vault paths")
    return slug


def issuer_kind(spec: ServiceSpec) -> IssuerKind | None:
    """Which product a credential-issuing service is (by its managed kind or image)."""
    if not spec.issues_client_credentials:
        return None
    if spec.managed_in_prod is not None:
        return {
            "rds-postgresql": IssuerKind.POSTGRES,
            "elasticache-redis": IssuerKind.REDIS,
        }[spec.managed_in_prod.kind]
    if spec.image is not None:
        product = spec.image.repository.rsplit("/", 1)[-1]
        if product in {kind.value for kind in IssuerKind}:
            return IssuerKind(product)
    return None


def rereads_secret_files(spec: ServiceSpec) -> bool:
    """Whether a service picks up a re-rendered secret file without a restart.

    In-house services built on our python base use `sutazai_common.config.read_secret`,
    which reads `<ENV>_FILE` on every call. Upstream products (and pgbouncer, built FROM
    the root image) read their credentials once at start.
    """
    return spec.build is not None and spec.build.base != "root"


def own_password_secret(spec: ServiceSpec) -> str | None:
    """An issuer's own password secret (POSTGRES_PASSWORD, REDIS_PASSWORD): its server-side
    admin or `default` user, the RDS master password, the ElastiCache `default` user."""
    return next((s.name for s in spec.secrets if s.env.endswith("_PASSWORD")), None)


def username_for(client: str) -> str:
    """A client's database user name: a valid unquoted identifier everywhere."""
    return client.replace("-", "_")


@dataclass(frozen=True)
class OwnSecret:
    """A credential a service owns (catalog `secrets`)."""

    owner: str
    name: str
    env: str
    length: int
    # The env var naming its file; None: exported from the service's env file instead.
    path_env: str | None = None

    @property
    def kv_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class OperatorSecret:
    """A value only a person can provide (an alert receiver's webhook URL or routing key):
    an operator writes it to Vault (`vault kv put <mount>/<owner>/<name> value=...`); the
    program never generates, writes or stores it, and only the owner's policy reads it."""

    owner: str
    name: str

    @property
    def kv_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class SharedSecret:
    """Another service's own secret that `holder` presents to it (Qdrant's API key)."""

    holder: str
    owner: str
    name: str
    # The env var naming the holder's file (<clients_env>_FILE); None for the scraper,
    # whose generated config names the file.
    env: str | None

    @property
    def kv_name(self) -> str:
        return f"{self.owner}/{self.name}"


@dataclass(frozen=True)
class ClientCredential:
    """The credentials `client` uses for `peer` (a service that issues client credentials)."""

    client: str
    peer: str
    kind: IssuerKind | None
    username: str
    mode: CredentialMode

    @property
    def kv_name(self) -> str:
        return f"{self.client}/{self.peer}"

    @property
    def env_names(self) -> tuple[str, str]:
        if self.kind is not None:
            return CLIENT_ENV[self.kind]
        prefix = self.peer.upper().replace("-", "_")
        return f"{prefix}_USER", f"{prefix}_PASSWORD"


@dataclass(frozen=True)
class ProvisioningFile:
    """What an issuer needs to recognise its static clients (hashes, or a user script)."""

    issuer: str
    kind: IssuerKind
    file_name: str
    secret_name: str
    clients: tuple[ClientCredential, ...]
    # The pooler's user, which may look up (hashed) credentials for PgBouncer's auth_query.
    lookup_user: str | None = None

    @property
    def kv_name(self) -> str:
        return f"{self.issuer}/{self.secret_name}"


@dataclass(frozen=True)
class SecretFile:
    """One file under /vault/secrets in a service's containers."""

    owner: str
    name: str
    # The Vault API path the agent reads (what a policy must grant).
    vault_path: str
    # The template field the file holds: .Data.data.value, .Data.password, ...
    field: str
    # The env var that points the service at the file (<ENV>_FILE), if any.
    env: str | None
    # A file assembled from several values (the env file, a userlist): its text, with
    # ${vault:...} values and ${peer.host}/${peer.port} addresses still to fill in. None: the
    # file is exactly one Vault field.
    text: str | None = None
    # (owner, secret) when the file holds another service's own secret (SharedSecret).
    shares: tuple[str, str] | None = None

    @property
    def path(self) -> str:
        return secret_file(self.owner, self.name)

    @property
    def reads(self) -> tuple[str, ...]:
        """Every Vault API path the file reads (what the service's policy must grant)."""
        if self.text is None:
            return (self.vault_path,)
        return tuple(sorted({m.group(1) for m in VAULT_VALUE.finditer(self.text)}))

    @property
    def key(self) -> str:
        """The file's base name, which also names its injector annotations."""
        return f"{self.owner}-{self.name}"

    @property
    def annotation_key(self) -> str:
        if len(self.key) <= _MAX_ANNOTATION_KEY:
            return self.key
        digest = hashlib.sha256(self.key.encode()).hexdigest()[:8]
        return f"{self.key[: _MAX_ANNOTATION_KEY - 9]}-{digest}"

    @property
    def template(self) -> str:
        """A Vault Agent (consul-template) template: the path, never the value. (A templated
        file's ${peer.host} addresses are filled in by the Secrets component.)"""
        if self.text is not None:
            return agent_template(self.text)
        return f'{{{{- with secret "{self.vault_path}" -}}}}{{{{ {self.field} }}}}{{{{- end -}}}}'


class VaultLayout:
    """Every Vault name of one stack, derived from the (effective) catalog and the config."""

    def __init__(self, config: StackConfig, catalog: Catalog, stack: str) -> None:
        self.config = config
        self.catalog = catalog
        self.prefix = f"sutazai-{stack_slug(stack)}"
        self.kv_mount = self.prefix
        self.database_mount = f"{self.prefix}-database"
        self.kubernetes_auth_path = f"{self.prefix}-kubernetes"
        # Services that run as AWS managed services in this stack (prod's RDS, ElastiCache).
        self.managed = managed_services(catalog, use_managed=config.uses_managed_data)
        self._validate()

    # --- what each service gets -----------------------------------------------------------

    def own_secrets(self, spec: ServiceSpec) -> list[OwnSecret]:
        return [OwnSecret(spec.name, s.name, s.env, s.length, s.path_env) for s in spec.secrets]

    def operator_secrets(self, spec: ServiceSpec) -> list[OperatorSecret]:
        """The alert router's receiver secrets (stack config `alerting.receivers`)."""
        if spec.name != ALERT_ROUTER:
            return []
        return [
            OperatorSecret(spec.name, alert_receiver_secret(r.name))
            for r in self.config.alerting.receivers
        ]

    def client_credentials(self, spec: ServiceSpec) -> list[ClientCredential]:
        """One credential per peer it connects to that issues client credentials."""
        result: list[ClientCredential] = []
        for peer in spec.connects_to:
            peer_spec = self.catalog.services.get(peer)
            if peer_spec is None or not peer_spec.issues_client_credentials:
                continue
            kind = issuer_kind(peer_spec)
            dynamic = (
                kind is IssuerKind.POSTGRES and peer in self.managed and rereads_secret_files(spec)
            )
            result.append(
                ClientCredential(
                    client=spec.name,
                    peer=peer,
                    kind=kind,
                    username=username_for(spec.name),
                    mode=CredentialMode.DYNAMIC if dynamic else CredentialMode.STATIC,
                )
            )
        return result

    def shared_secrets(self, spec: ServiceSpec) -> list[SharedSecret]:
        """Peers' own secrets `spec` presents to them: a `clients_env` secret of every peer it
        talks to (unless it only polls health URLs, which stay unauthenticated), and, for
        the scraper, each scrape target's `token`."""
        # Imported here: components.configs imports this module (poolers: username_for).
        from components.configs.observability import SCRAPER

        result: list[SharedSecret] = []
        polls_health = any(m.url == "health" for m in spec.peer_maps)
        for peer in spec.connects_to:
            peer_spec = self.catalog.services.get(peer)
            if peer_spec is None or polls_health:
                continue
            for secret in peer_spec.secrets:
                if secret.clients_env is not None:
                    result.append(SharedSecret(spec.name, peer, secret.name, secret.clients_env))
        if spec.name == SCRAPER:
            for target in self.catalog.scrape_targets:
                if target.scrape is not None and target.scrape.token is not None:
                    result.append(SharedSecret(spec.name, target.name, target.scrape.token, None))
        return result

    def issued_by(self, issuer: str) -> list[ClientCredential]:
        """Every client credential `issuer` hands out, in client order."""
        return [
            c for spec in self.catalog for c in self.client_credentials(spec) if c.peer == issuer
        ]

    def provisioning(self, spec: ServiceSpec) -> ProvisioningFile | None:
        """The issuer's server-side file for its static clients.

        Every issuer has one, even with no static client yet: the server's command may name
        it (Redis `--aclfile`), and it carries the server's own settings (Redis' default
        user, the pooler's lookup function).
        """
        kind = issuer_kind(spec)
        if kind is None:
            return None
        static = tuple(c for c in self.issued_by(spec.name) if c.mode is CredentialMode.STATIC)
        file_name, secret_name = PROVISIONING[kind]
        return ProvisioningFile(
            spec.name, kind, file_name, secret_name, static, self._lookup_user(spec, static)
        )

    def _lookup_user(self, spec: ServiceSpec, static: tuple[ClientCredential, ...]) -> str | None:
        """The pooler's user on a pooled PostgreSQL server (PgBouncer's auth_user)."""
        pooler = spec.pooled_by
        if pooler is None or pooler not in self.catalog.services:
            return None
        for cred in static:
            if cred.client == pooler:
                return cred.username
        return None

    @cached_property
    def dynamic_credentials(self) -> list[ClientCredential]:
        return [
            c
            for spec in self.catalog
            for c in self.client_credentials(spec)
            if c.mode is CredentialMode.DYNAMIC
        ]

    def files(self, spec: ServiceSpec) -> list[SecretFile]:
        files: list[SecretFile] = [
            SecretFile(s.owner, s.name, self.kv_api_path(s.kv_name), ".Data.data.value", s.path_env)
            for s in self.own_secrets(spec)
            if s.path_env is not None
        ]
        files += [
            SecretFile(s.owner, s.name, self.kv_api_path(s.kv_name), ".Data.data.value", None)
            for s in self.operator_secrets(spec)
        ]
        for cred in self.client_credentials(spec):
            user_env, password_env = cred.env_names
            if cred.mode is CredentialMode.DYNAMIC:
                path = self.database_creds_path(cred.client)
                files.append(
                    SecretFile(
                        spec.name,
                        f"{cred.peer}-username",
                        path,
                        ".Data.username",
                        f"{user_env}_FILE",
                    )
                )
                files.append(
                    SecretFile(
                        spec.name,
                        f"{cred.peer}-password",
                        path,
                        ".Data.password",
                        f"{password_env}_FILE",
                    )
                )
            else:
                files.append(
                    SecretFile(
                        spec.name,
                        f"{cred.peer}-password",
                        self.kv_api_path(cred.kv_name),
                        ".Data.data.password",
                        f"{password_env}_FILE",
                    )
                )
        for shared in self.shared_secrets(spec):
            file = SecretFile(
                spec.name,
                f"{shared.owner}-{shared.name}",
                self.kv_api_path(shared.kv_name),
                ".Data.data.value",
                None if shared.env is None else f"{shared.env}_FILE",
                shares=(shared.owner, shared.name),
            )
            assert file.path == shared_secret_file(spec.name, shared.owner, shared.name)
            files.append(file)
        provisioning = self.provisioning(spec)
        if provisioning is not None:
            files.append(
                SecretFile(
                    spec.name,
                    provisioning.file_name,
                    self.kv_api_path(provisioning.kv_name),
                    ".Data.data.value",
                    None,
                )
            )
        for name, template in sorted(spec.secret_files.items()):
            text = self._template_text(spec, template, quote=False)
            if text is not None:
                files.append(self._templated(spec, name, text))
        env_file = self._env_file_text(spec)
        if env_file is not None:
            files.append(self._templated(spec, ENV_FILE_NAME, env_file))
        return files

    def env_file(self, spec: ServiceSpec) -> SecretFile | None:
        """The env file the container sources before its entrypoint, if it has one."""
        return next((f for f in self.files(spec) if f.name == ENV_FILE_NAME and f.text), None)

    def _templated(self, spec: ServiceSpec, name: str, text: str) -> SecretFile:
        reads = sorted({m.group(1) for m in VAULT_VALUE.finditer(text)})
        if not reads:
            raise ValueError(f"services.{spec.name}: secret file {name!r} holds no secret")
        return SecretFile(spec.name, name, reads[0], "", None, text)

    def _credential_value(self, cred: ClientCredential, what: str) -> str:
        """A client credential's user or password, as text or a ${vault:...} value."""
        if cred.mode is CredentialMode.DYNAMIC:
            path = self.database_creds_path(cred.client)
            return vault_value(path, ".Data.username" if what == "user" else ".Data.password")
        if what == "user":
            return cred.username
        return vault_value(self.kv_api_path(cred.kv_name), ".Data.data.password")

    def _template_text(self, spec: ServiceSpec, template: str, *, quote: bool) -> str | None:
        """A catalog template with credentials as ${vault:...} values (addresses stay
        ${peer.host}/${peer.port} for the renderer); None when it names a disabled peer."""
        named = {
            m.group(1) for p in (CREDENTIAL_REFERENCE, ENV_REFERENCE) for m in p.finditer(template)
        }
        if not named <= set(spec.talks_to) & set(self.catalog.services):
            return None
        credentials = {c.peer: c for c in self.client_credentials(spec)}
        if "{{" in template or "}}" in template:
            raise ValueError(f"services.{spec.name}: '{{{{' in a secret template: {template!r}")
        pieces: list[str] = []
        position = 0
        for match in CREDENTIAL_REFERENCE.finditer(template):
            literal = template[position : match.start()]
            pieces.append(shell_quote(literal)[1:-1] if quote else literal)
            pieces.append(self._credential_value(credentials[match.group(1)], match.group(2)))
            position = match.end()
        tail = template[position:]
        pieces.append(shell_quote(tail)[1:-1] if quote else tail)
        return "".join(pieces)

    def _env_file_text(self, spec: ServiceSpec) -> str | None:
        """`export NAME='value'` lines: env_from_file secrets, then secret_env, by name."""
        lines: dict[str, str] = {}
        for secret in self.own_secrets(spec):
            if secret.path_env is None:
                lines[secret.env] = vault_value(
                    self.kv_api_path(secret.kv_name), ".Data.data.value"
                )
        for key, template in spec.secret_env.items():
            text = self._template_text(spec, template, quote=True)
            if text is not None:
                lines[key] = text
        if not lines:
            return None
        return "".join(f"export {key}='{value}'\n" for key, value in sorted(lines.items()))

    def file_env(self, spec: ServiceSpec) -> dict[str, str]:
        """Env for the container: <ENV>_FILE paths, and static client user names."""
        env: dict[str, str] = {}
        for file in self.files(spec):
            if file.env is not None:
                env[file.env] = file.path
        for cred in self.client_credentials(spec):
            if cred.mode is CredentialMode.STATIC:
                env[cred.env_names[0]] = cred.username
        return dict(sorted(env.items()))

    def needs_vault(self, spec: ServiceSpec) -> bool:
        return bool(self.files(spec))

    def keeps_agent_running(self, spec: ServiceSpec) -> bool:
        """A sidecar that re-renders (rotation, lease renewal) only where it is read again."""
        dynamic = any(c.mode is CredentialMode.DYNAMIC for c in self.client_credentials(spec))
        return dynamic or rereads_secret_files(spec)

    # --- policies -------------------------------------------------------------------------

    def policy_name(self, service: str) -> str:
        return f"{self.prefix}-{service}"

    def policy_paths(self, spec: ServiceSpec) -> list[str]:
        """Exactly the API paths the service's files read: no wildcard, nothing else."""
        return sorted({path for f in self.files(spec) for path in f.reads})

    def policy_document(self, spec: ServiceSpec) -> str:
        lines = [
            f"# {self.policy_name(spec.name)}: read exactly the secrets of {spec.name!r}.",
            "# Generated by components/secrets.py from the service catalog; do not edit.",
        ]
        for path in self.policy_paths(spec):
            lines += [f'path "{path}" {{', '  capabilities = ["read"]', "}"]
        return "\n".join(lines) + "\n"

    # --- paths ----------------------------------------------------------------------------

    def kv_api_path(self, kv_name: str) -> str:
        return f"{self.kv_mount}/data/{kv_name}"

    def database_creds_path(self, client: str) -> str:
        return f"{self.database_mount}/creds/{client}"

    def services_with_secrets(self) -> list[ServiceSpec]:
        return [spec for spec in self.catalog if self.needs_vault(spec)]

    # --- checks ---------------------------------------------------------------------------

    def _validate(self) -> None:
        problems: list[str] = []
        owners: dict[str, str] = {}
        for spec in self.catalog:
            names: list[tuple[str, str]] = [(s.kv_name, "secret") for s in self.own_secrets(spec)]
            for cred in self.client_credentials(spec):
                names.append((cred.kv_name, f"credential for {cred.peer}"))
                if cred.username in RESERVED_USERNAMES:
                    problems.append(
                        f"services.{spec.name}: its user name {cred.username!r} for {cred.peer} "
                        "is reserved; rename the service"
                    )
            provisioning = self.provisioning(spec)
            if provisioning is not None:
                names.append((provisioning.kv_name, "client provisioning file"))
            names += [
                (s.kv_name, "an alert receiver's secret") for s in self.operator_secrets(spec)
            ]
            for kv_name, what in names:
                if kv_name in owners:
                    problems.append(
                        f"services.{spec.name}: Vault path {self.kv_mount}/{kv_name} ({what}) "
                        f"is also {owners[kv_name]}"
                    )
                owners[kv_name] = what
            keys = [f.key for f in self.files(spec)]
            env = [f.env for f in self.files(spec) if f.env is not None]
            for label, values in (("file", keys), ("env", env)):
                duplicates = sorted({v for v in values if values.count(v) > 1})
                if duplicates:
                    problems.append(
                        f"services.{spec.name}: secret {label} names clash: {duplicates}"
                    )
            clash = sorted(set(self.file_env(spec)) & set(spec.env))
            if clash:
                problems.append(
                    f"services.{spec.name}.env: {clash} are set by the Secrets component"
                )
        if problems:
            from stacks.errors import ConfigError

            raise ConfigError("service catalog (secrets)", problems)
