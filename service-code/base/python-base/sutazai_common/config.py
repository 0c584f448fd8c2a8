"""Environment configuration and secret loading.

Secrets come from ``X_FILE`` (a file written by Vault Agent / docker secrets)
or, failing that, from ``X``. Files are re-read on every call so a rotated
secret is picked up by the next new connection. Values are never logged.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote


class ConfigError(ValueError):
    """Raised when an environment variable is present but malformed."""


def read_secret(name: str, default: str | None = None) -> str | None:
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        try:
            # Only strip the trailing newline editors and `echo` add.
            return Path(file_name).read_text(encoding="utf-8").rstrip("\r\n")
        except OSError as exc:
            # Name the variable, not the content.
            raise ConfigError(f"cannot read {name}_FILE ({file_name}): {exc.strerror}") from exc
    value = os.environ.get(name)
    return value if value is not None else default


def env_str(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    if value is None or value.strip() == "":
        return default
    return value.strip()


def env_int(name: str, default: int) -> int:
    raw = env_str(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = env_str(name)
    if raw is None:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def env_bool(name: str, default: bool = False) -> bool:
    raw = env_str(name)
    if raw is None:
        return default
    return raw.lower() in {"1", "true", "yes", "on"}


def env_list(name: str) -> list[str]:
    raw = env_str(name) or ""
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_json_map(name: str) -> dict[str, str]:
    """A JSON object of name -> string (e.g. SERVICE_HUB_TARGETS)."""
    raw = env_str(name)
    if raw is None:
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{name} must be a JSON object: {exc.msg}") from exc
    if not isinstance(data, dict) or not all(
        isinstance(k, str) and isinstance(v, str)
        for k, v in data.items()  # pyright: ignore[reportUnknownVariableType]
    ):
        raise ConfigError(f"{name} must be a JSON object of strings")
    return {str(k): str(v) for k, v in data.items()}  # pyright: ignore[reportUnknownArgumentType,reportUnknownVariableType]


@dataclass(frozen=True)
class PostgresSettings:
    """PostgreSQL address; user and password are read at each new connection
    (Vault's database engine may hand out a new user per lease)."""

    host: str
    port: int = 5432
    dbname: str = "sutazai"
    sslmode: str = "prefer"
    connect_timeout: int = 3

    @classmethod
    def from_env(cls) -> PostgresSettings | None:
        host = env_str("POSTGRES_HOST")
        if host is None:
            return None
        return cls(
            host=host,
            port=env_int("POSTGRES_PORT", 5432),
            dbname=env_str("POSTGRES_DB", "sutazai") or "sutazai",
            sslmode=env_str("POSTGRES_SSLMODE", "prefer") or "prefer",
            connect_timeout=env_int("POSTGRES_CONNECT_TIMEOUT", 3),
        )

    @property
    def user(self) -> str:
        return read_secret("POSTGRES_USER") or "sutazai"

    def connect_kwargs(self) -> dict[str, Any]:
        """psycopg keyword arguments, credentials read just in time."""
        kwargs: dict[str, Any] = {
            "host": self.host,
            "port": self.port,
            "dbname": self.dbname,
            "user": self.user,
            "sslmode": self.sslmode,
            "connect_timeout": self.connect_timeout,
            "application_name": env_str("SERVICE_NAME", "sutazai") or "sutazai",
            # Clients reach PostgreSQL through PgBouncer in transaction mode, which
            # cannot keep server-side prepared statements: never prepare.
            "prepare_threshold": env_int("POSTGRES_PREPARE_THRESHOLD", 0) or None,
        }
        password = read_secret("POSTGRES_PASSWORD")
        if password:
            kwargs["password"] = password
        return kwargs

    def describe(self) -> str:
        return f"postgresql://{self.host}:{self.port}/{self.dbname}"


@dataclass(frozen=True)
class RedisSettings:
    """Redis address (REDIS_URL, or REDIS_HOST/PORT/DB); the ACL user
    (REDIS_USERNAME) and REDIS_PASSWORD are read at each new connection."""

    url: str

    @classmethod
    def from_env(cls) -> RedisSettings | None:
        url = env_str("REDIS_URL")
        if url is None:
            host = env_str("REDIS_HOST")
            if host is None:
                return None
            url = f"redis://{host}:{env_int('REDIS_PORT', 6379)}/{env_int('REDIS_DB', 0)}"
        return cls(url=url)

    @staticmethod
    def credentials() -> tuple[str | None, str | None]:
        return read_secret("REDIS_USERNAME"), read_secret("REDIS_PASSWORD")

    def describe(self) -> str:
        # Strip any credentials embedded in REDIS_URL.
        scheme, _, rest = self.url.partition("://")
        return f"{scheme}://{rest.rpartition('@')[2]}"


@dataclass(frozen=True)
class Neo4jSettings:
    uri: str

    @classmethod
    def from_env(cls) -> Neo4jSettings | None:
        uri = env_str("NEO4J_URI")
        if uri is None:
            return None
        return cls(uri=uri)

    @staticmethod
    def auth() -> tuple[str, str]:
        return (read_secret("NEO4J_USER") or "neo4j", read_secret("NEO4J_PASSWORD") or "")


@dataclass(frozen=True)
class HttpDependency:
    """An HTTP dependency and the path that tells whether it is usable.

    ``key_secret``: the secret (``X_FILE`` or ``X``) holding the API key the product
    requires of its callers, sent as the ``key_header`` header on every request (not on
    the readiness probe, which products leave open). The key is read again for every
    request, so a rotated key applies at once; it is never stored here, so never logged.
    """

    name: str
    base_url: str
    probe_path: str
    key_secret: str | None = None
    key_header: str = "api-key"
    # Put before the key in its header ("Bearer " for a token in Authorization).
    key_scheme: str = ""

    @property
    def probe_url(self) -> str:
        return self.base_url.rstrip("/") + self.probe_path

    def url(self, path: str) -> str:
        return self.base_url.rstrip("/") + "/" + path.lstrip("/")

    def auth_headers(self) -> dict[str, str]:
        """The API key header, read now; empty when no key is configured. Raises
        ConfigError (naming the variable, not the key) when its file is unreadable."""
        if self.key_secret is None:
            return {}
        key = read_secret(self.key_secret)
        return {self.key_header: f"{self.key_scheme}{key.strip()}"} if key else {}


# env var -> (dependency name, readiness probe path of that product)
HTTP_DEPENDENCY_ENV: dict[str, tuple[str, str]] = {
    "OLLAMA_BASE_URL": ("ollama", "/api/version"),
    "QDRANT_URL": ("qdrant", "/readyz"),
    "CHROMADB_URL": ("chromadb", "/api/v2/heartbeat"),
    "FAISS_URL": ("faiss", "/health"),
    "BACKEND_URL": ("backend", "/health"),
}

# dependency name -> (secret with the credential its callers present, header, scheme).
# Qdrant: every path but /, /healthz, /livez and /readyz needs it when the server has one.
# Backend: the caller's workload identity, a projected ServiceAccount token
# (BACKEND_TOKEN_FILE; the kubelet rotates the file, so it is read per request).
HTTP_DEPENDENCY_KEYS: dict[str, tuple[str, str, str]] = {
    "qdrant": ("QDRANT_API_KEY", "api-key", ""),
    "backend": ("BACKEND_TOKEN", "Authorization", "Bearer "),
}


def http_dependencies(*env_names: str) -> dict[str, HttpDependency]:
    """The configured HTTP dependencies among ``env_names`` (all if empty)."""
    deps: dict[str, HttpDependency] = {}
    for env_name in env_names or tuple(HTTP_DEPENDENCY_ENV):
        name, probe = HTTP_DEPENDENCY_ENV[env_name]
        url = env_str(env_name)
        if url:
            secret, header, scheme = HTTP_DEPENDENCY_KEYS.get(name, (None, "api-key", ""))
            deps[name] = HttpDependency(
                name=name,
                base_url=url,
                probe_path=probe,
                key_secret=secret,
                key_header=header,
                key_scheme=scheme,
            )
    return deps


def quote_path(segment: str) -> str:
    return quote(segment, safe="")
