"""Who is calling: bearer tokens verified with PyJWT against each trusted issuer's JWKS.

Each issuer has its own rules (``AUTH_ISSUERS``, a JSON list):

- ``cognito``: a Cognito user pool. Its access tokens carry no ``aud``: ``token_use``
  must be ``access`` and ``client_id`` one of ``client_ids``. JWKS at
  ``<issuer>/.well-known/jwks.json`` unless ``jwks_url`` says otherwise.
- ``oidc``: an external OIDC issuer; ``aud`` must name one of ``audiences``; ``jwks_url``
  is required (no discovery round-trip at request time).
- ``kubernetes``: projected ServiceAccount tokens (workload identity of the services);
  ``aud`` one of ``audiences``, ``sub`` ``system:serviceaccount:<namespace>:<name>``.
  The API server's own JWKS (``https://kubernetes.default.svc/openid/v1/jwks``) is read
  with the pod's token (``token_file``, re-read on every fetch) and ``ca_file``.

Keys are cached (``AUTH_JWKS_CACHE_SECONDS``); a token signed by a key the cache does not
know makes one refetch (at most every ``AUTH_JWKS_COOLDOWN_SECONDS``), so a rotation is
picked up without a restart and unknown ``kid`` floods cannot hammer the issuer.

``AUTH_DISABLED=true`` lets every request through as the ``dev`` user; the backend refuses
to start with it when ``SUTAZAI_ENVIRONMENT=prod`` (the stack config refuses it too).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from fastapi import HTTPException, Request
from sutazai_common.config import ConfigError, env_bool, env_float, env_str

IssuerKind = Literal["cognito", "oidc", "kubernetes"]
KINDS: tuple[str, ...] = ("cognito", "oidc", "kubernetes")
# Asymmetric only: an HMAC algorithm would let a public JWK act as a shared secret.
ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "PS256"]
SERVICE_ACCOUNT_PREFIX = "system:serviceaccount:"
# Real access tokens are 1-2 KB; anything far larger is refused before it is parsed.
MAX_TOKEN_BYTES = 8192


@dataclass(frozen=True)
class Identity:
    """A verified caller: a user of an identity provider, or a workload."""

    kind: Literal["user", "service"]
    issuer: str
    subject: str
    # Workloads: the ServiceAccount's name and namespace.
    name: str = ""
    namespace: str = ""

    @property
    def key(self) -> str:
        """Stable, opaque owner key (rate limits, sessions, uploads)."""
        return hashlib.sha256(f"{self.issuer}\0{self.subject}".encode()).hexdigest()[:32]


class _TokenFileJWKClient(jwt.PyJWKClient):
    """A PyJWKClient that authenticates its fetch with a token file read each time
    (the kubelet rotates projected tokens)."""

    def __init__(self, uri: str, *, token_file: str | None, **kwargs: Any) -> None:
        super().__init__(uri, **kwargs)
        self._token_file = token_file

    def fetch_data(self) -> Any:
        if self._token_file:
            token = Path(self._token_file).read_text(encoding="utf-8").strip()
            self.headers = {**self.headers, "Authorization": f"Bearer {token}"}
        return super().fetch_data()


@dataclass(frozen=True)
class Issuer:
    kind: IssuerKind
    issuer: str
    jwks: jwt.PyJWKClient
    audiences: tuple[str, ...] = ()
    client_ids: tuple[str, ...] = ()

    def cached_key(self, token: str) -> Any | None:
        """The token's key from the unexpired cached JWKS, without any I/O (None: ask the
        client, which may fetch)."""
        cache = self.jwks.jwk_set_cache
        jwk_set = cache.get() if cache is not None else None
        if jwk_set is None:
            return None
        kid = jwt.get_unverified_header(token).get("kid")
        return next((k for k in jwk_set.keys if kid is not None and k.key_id == kid), None)

    def claims(self, token: str, key: Any) -> dict[str, Any]:
        verify_aud = self.kind != "cognito"
        claims: dict[str, Any] = jwt.decode(
            token,
            key,
            algorithms=ALGORITHMS,
            issuer=self.issuer,
            audience=list(self.audiences) if verify_aud else None,
            leeway=30,
            options={"require": ["exp", "iat", "iss", "sub"], "verify_aud": verify_aud},
        )
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name, 0)
            # NumericDate is a JSON number (RFC 7519); PyJWT would also take "123" strings.
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise jwt.InvalidTokenError(f"{name} must be a number")
        if self.kind == "cognito":
            if claims.get("token_use") != "access":
                raise jwt.InvalidTokenError("not an access token")
            if claims.get("client_id") not in self.client_ids:
                raise jwt.InvalidTokenError("token issued to another client")
        return claims

    def identity(self, claims: dict[str, Any]) -> Identity:
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject.strip():
            # An empty subject would make every such caller one owner (sessions, uploads).
            raise jwt.InvalidTokenError("empty subject")
        if self.kind != "kubernetes":
            return Identity("user", self.issuer, subject)
        parts = subject.removeprefix(SERVICE_ACCOUNT_PREFIX).split(":")
        if not subject.startswith(SERVICE_ACCOUNT_PREFIX) or len(parts) != 2 or "" in parts:
            raise jwt.InvalidTokenError("not a ServiceAccount token")
        return Identity("service", self.issuer, subject, name=parts[1], namespace=parts[0])


def _strings(entry: dict[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = entry.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}.{key} must be a list of non-empty strings")
    return tuple(value)


def parse_issuers(raw: str | None) -> list[Issuer]:
    """AUTH_ISSUERS: every mistake is a ConfigError naming the entry and the key."""
    if raw is None:
        return []
    try:
        entries = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"AUTH_ISSUERS must be a JSON list: {exc}") from exc
    if not isinstance(entries, list):
        raise ConfigError("AUTH_ISSUERS must be a JSON list of issuer objects")
    cache = env_float("AUTH_JWKS_CACHE_SECONDS", 300.0)
    cooldown = env_float("AUTH_JWKS_COOLDOWN_SECONDS", 30.0)
    issuers: list[Issuer] = []
    known = {"kind", "issuer", "jwks_url", "audiences", "client_ids", "ca_file", "token_file"}
    for i, entry in enumerate(entries):
        where = f"AUTH_ISSUERS[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} must be an object")
        unknown = sorted(set(entry) - known)
        if unknown:
            raise ConfigError(f"{where}: unknown keys {unknown}; allowed: {sorted(known)}")
        kind, issuer = entry.get("kind"), entry.get("issuer")
        if kind not in KINDS:
            raise ConfigError(f"{where}.kind must be one of {list(KINDS)}, got {kind!r}")
        if not isinstance(issuer, str) or not issuer.startswith(("https://", "http://")):
            raise ConfigError(f"{where}.issuer must be an http(s) URL, got {issuer!r}")
        audiences = _strings(entry, "audiences", where)
        client_ids = _strings(entry, "client_ids", where)
        if kind == "cognito" and not client_ids:
            raise ConfigError(f"{where}: a cognito issuer needs client_ids")
        if kind != "cognito" and not audiences:
            raise ConfigError(f"{where}: a {kind} issuer needs audiences")
        jwks_url = entry.get("jwks_url")
        if jwks_url is None and kind == "cognito":
            jwks_url = issuer.rstrip("/") + "/.well-known/jwks.json"
        if not isinstance(jwks_url, str) or not jwks_url.startswith(("https://", "http://")):
            raise ConfigError(f"{where}.jwks_url must be an http(s) URL, got {jwks_url!r}")
        ca_file = entry.get("ca_file")
        context = ssl.create_default_context(cafile=ca_file) if ca_file else None
        client = _TokenFileJWKClient(
            jwks_url,
            token_file=entry.get("token_file"),
            lifespan=cache,
            cooldown_duration=cooldown,
            timeout=5,
            ssl_context=context,
        )
        issuers.append(Issuer(kind, issuer, client, audiences, client_ids))
    return issuers


class Authenticator:
    def __init__(self, issuers: list[Issuer], *, disabled: bool) -> None:
        self.by_issuer = {i.issuer: i for i in issuers}
        self.disabled = disabled

    @classmethod
    def from_env(cls) -> Authenticator:
        disabled = env_bool("AUTH_DISABLED")
        if disabled and (env_str("SUTAZAI_ENVIRONMENT") or "").lower() == "prod":
            raise ConfigError("AUTH_DISABLED is refused when SUTAZAI_ENVIRONMENT=prod")
        return cls(parse_issuers(env_str("AUTH_ISSUERS")), disabled=disabled)

    async def verify(self, token: str) -> Identity:
        """The caller behind ``token``; raises jwt.InvalidTokenError (or a JWKS error)."""
        unverified = jwt.decode(token, options={"verify_signature": False})
        issuer = self.by_issuer.get(unverified.get("iss"))  # type: ignore[arg-type]
        if issuer is None:
            raise jwt.InvalidIssuerError("untrusted issuer")
        signing_key = issuer.cached_key(token)
        if signing_key is None:
            # A fetch (first use, expiry, unknown kid) is blocking I/O: keep it off the loop.
            signing_key = await asyncio.to_thread(issuer.jwks.get_signing_key_from_jwt, token)
        return issuer.identity(issuer.claims(token, signing_key))


DEV_IDENTITY = Identity("user", "dev", "dev")


def _unauthorized(reason: str) -> HTTPException:
    return HTTPException(
        401, f"unauthenticated: {reason}", headers={"WWW-Authenticate": 'Bearer realm="sutazai"'}
    )


async def authenticate(request: Request) -> Identity:
    """FastAPI dependency: the verified caller, or 401 (503 if the issuer's keys are away)."""
    auth: Authenticator = request.app.state.auth
    if auth.disabled:
        return DEV_IDENTITY
    headers = request.headers.getlist("authorization")
    if len(headers) > 1:
        # Which one a proxy checked and which one we read must never differ.
        raise _unauthorized("exactly one Authorization header is allowed")
    scheme, _, token = (headers[0] if headers else "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise _unauthorized("a bearer token is required")
    if len(token) > MAX_TOKEN_BYTES:
        raise _unauthorized(f"the bearer token is larger than {MAX_TOKEN_BYTES} bytes")
    try:
        identity = await auth.verify(token.strip())
    except jwt.PyJWKClientConnectionError as exc:
        raise HTTPException(
            503, {"detail": "identity provider keys unavailable", "dependency": "jwks"}
        ) from exc
    except (jwt.InvalidTokenError, jwt.PyJWKClientError) as exc:
        raise _unauthorized(str(exc) or type(exc).__name__) from exc
    request.state.identity = identity
    return identity
