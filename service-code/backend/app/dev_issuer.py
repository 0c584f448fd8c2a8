"""The dev stacks' local token issuer: the same bearer-token checks as prod, every day.

Docker stacks have no Cognito, no ALB and no Kubernetes API server, so this small service
stands in for both identity sources the backend verifies in prod:

- **Users** (issuer ``DEV_ISSUER_URL``, the backend's ``oidc`` kind): ``POST /login`` with
  ``{"username": ...}`` mints a short-lived access token whose ``aud`` is
  ``DEV_USER_AUDIENCE``. It is a developer's local sign-in, published on 127.0.0.1 only.
- **Workloads** (issuer ``DEV_ISSUER_URL/workloads``, the backend's ``kubernetes`` kind):
  for each entry of ``DEV_WORKLOADS`` (JSON ``{service: {"namespace", "audiences":
  {file name: audience}}}``) it writes ``DEV_IDENTITY_DIR/<service>/<file name>``, a token
  with ``sub`` ``system:serviceaccount:<namespace>:<service>``, and rewrites it at 80 % of
  its life, the way the kubelet refreshes projected ServiceAccount tokens. The renderer
  mounts each service's directory (an in-memory volume) into that service alone, read-only.
  No endpoint mints workload tokens.

Each issuer signs with its own P-256 key, generated in memory at start (a restart rotates
both; the backend picks the new kid up from the JWKS). Nothing is written but the token
files. The backend image ships this module; only Docker stacks start it.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import FastAPI
from jwt.algorithms import ECAlgorithm
from pydantic import BaseModel, Field
from sutazai_common import build_app
from sutazai_common.config import ConfigError, env_float, env_str

WORKLOADS_PATH = "/workloads"
ALGORITHM = "ES256"
USERNAME = r"^[a-z0-9][a-z0-9._-]{0,63}$"
# A file name under a service's directory, and a Docker/Kubernetes-style name.
FILE_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{0,62}$")
NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclass(frozen=True)
class SigningKey:
    """One issuer's key pair; the kid is random, so a restart is a visible rotation."""

    issuer: str
    private: ec.EllipticCurvePrivateKey
    kid: str

    @classmethod
    def generate(cls, issuer: str) -> SigningKey:
        return cls(issuer, ec.generate_private_key(ec.SECP256R1()), uuid.uuid4().hex)

    def jwks(self) -> dict[str, Any]:
        public = json.loads(ECAlgorithm.to_jwk(self.private.public_key()))
        return {"keys": [{**public, "kid": self.kid, "use": "sig", "alg": ALGORITHM}]}

    def sign(self, subject: str, audience: str, lifetime: float) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": audience,
            "iat": now,
            "nbf": now,
            "exp": now + int(lifetime),
            "jti": uuid.uuid4().hex,
        }
        return jwt.encode(claims, self.private, ALGORITHM, headers={"kid": self.kid})


@dataclass(frozen=True)
class Workload:
    name: str
    namespace: str
    audiences: dict[str, str]  # token file name -> audience

    @property
    def subject(self) -> str:
        return f"system:serviceaccount:{self.namespace}:{self.name}"


def parse_workloads(raw: str | None) -> list[Workload]:
    """DEV_WORKLOADS; every mistake is a ConfigError naming the entry and the key."""
    try:
        entries = json.loads(raw or "{}")
    except ValueError as exc:
        raise ConfigError(f"DEV_WORKLOADS must be a JSON object: {exc}") from exc
    if not isinstance(entries, dict):
        raise ConfigError("DEV_WORKLOADS must be a JSON object of service -> settings")
    workloads: list[Workload] = []
    for name, entry in sorted(entries.items()):
        where = f"DEV_WORKLOADS.{name}"
        if not NAME.match(name):
            raise ConfigError(f"{where}: the service name must match {NAME.pattern}")
        if not isinstance(entry, dict) or set(entry) != {"namespace", "audiences"}:
            raise ConfigError(f"{where} must be an object with exactly namespace and audiences")
        namespace, audiences = entry["namespace"], entry["audiences"]
        if not isinstance(namespace, str) or not NAME.match(namespace):
            raise ConfigError(f"{where}.namespace must match {NAME.pattern}, got {namespace!r}")
        if not isinstance(audiences, dict) or not audiences:
            raise ConfigError(f"{where}.audiences must be a non-empty object file -> audience")
        for file, audience in audiences.items():
            if not isinstance(file, str) or not FILE_NAME.match(file):
                raise ConfigError(f"{where}.audiences: file name {file!r} is not allowed")
            if not isinstance(audience, str) or not audience:
                raise ConfigError(f"{where}.audiences.{file} must be a non-empty string")
        workloads.append(Workload(name, namespace, dict(audiences)))
    return workloads


@dataclass
class DevIssuer:
    users: SigningKey
    workloads_key: SigningKey
    user_audience: str
    user_lifetime: float
    workload_lifetime: float
    workloads: list[Workload]
    identity_dir: Path

    @classmethod
    def from_env(cls) -> DevIssuer:
        url = (env_str("DEV_ISSUER_URL") or "").rstrip("/")
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"DEV_ISSUER_URL must be an http(s) URL, got {url!r}")
        audience = env_str("DEV_USER_AUDIENCE") or ""
        if not audience:
            raise ConfigError("DEV_USER_AUDIENCE must name the audience of user tokens")
        user_lifetime = env_float("DEV_USER_TOKEN_SECONDS", 900.0)
        workload_lifetime = env_float("DEV_WORKLOAD_TOKEN_SECONDS", 600.0)
        for key, value in (
            ("DEV_USER_TOKEN_SECONDS", user_lifetime),
            ("DEV_WORKLOAD_TOKEN_SECONDS", workload_lifetime),
        ):
            if not 10 <= value <= 3600:
                raise ConfigError(f"{key} must be between 10 and 3600 seconds, got {value}")
        return cls(
            users=SigningKey.generate(url),
            workloads_key=SigningKey.generate(url + WORKLOADS_PATH),
            user_audience=audience,
            user_lifetime=user_lifetime,
            workload_lifetime=workload_lifetime,
            workloads=parse_workloads(env_str("DEV_WORKLOADS")),
            identity_dir=Path(env_str("DEV_IDENTITY_DIR") or "/var/run/sutazai-identity"),
        )

    def write_workload_tokens(self) -> None:
        """Every workload's token files, replaced atomically (a reader never sees half)."""
        for workload in self.workloads:
            folder = self.identity_dir / workload.name
            for file, audience in workload.audiences.items():
                token = self.workloads_key.sign(workload.subject, audience, self.workload_lifetime)
                partial = folder / f".{file}.partial"
                partial.write_text(token, encoding="utf-8")
                os.chmod(partial, 0o444)
                partial.replace(folder / file)


def discovery(key: SigningKey, jwks_path: str) -> dict[str, Any]:
    base = key.issuer
    return {
        "issuer": base,
        "jwks_uri": base + jwks_path,
        "id_token_signing_alg_values_supported": [ALGORITHM],
        "response_types_supported": ["token"],
        "subject_types_supported": ["public"],
    }


async def _refresh(issuer: DevIssuer) -> None:
    while True:
        await asyncio.sleep(issuer.workload_lifetime * 0.8)
        await asyncio.to_thread(issuer.write_workload_tokens)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    issuer = DevIssuer.from_env()
    issuer.write_workload_tokens()  # before we report healthy
    app.state.issuer = issuer
    task = asyncio.create_task(_refresh(issuer))
    try:
        yield
    finally:
        task.cancel()


app = build_app("dev-issuer", lifespan=lifespan, description=__doc__ or "")


def _issuer(app_: FastAPI) -> DevIssuer:
    return app_.state.issuer


class Login(BaseModel):
    username: str = Field(pattern=USERNAME)


@app.get("/.well-known/openid-configuration")
async def user_discovery() -> dict[str, Any]:
    return discovery(_issuer(app).users, "/jwks")


@app.get("/jwks")
async def user_jwks() -> dict[str, Any]:
    return _issuer(app).users.jwks()


@app.get(WORKLOADS_PATH + "/.well-known/openid-configuration")
async def workload_discovery() -> dict[str, Any]:
    return discovery(_issuer(app).workloads_key, "/jwks")


@app.get(WORKLOADS_PATH + "/jwks")
async def workload_jwks() -> dict[str, Any]:
    return _issuer(app).workloads_key.jwks()


@app.post("/login")
async def login(body: Login) -> dict[str, Any]:
    """A developer's local sign-in: a user access token for the API (no password; this
    issuer exists only on Docker stacks and is published on 127.0.0.1 alone)."""
    issuer = _issuer(app)
    token = issuer.users.sign(body.username, issuer.user_audience, issuer.user_lifetime)
    return {"access_token": token, "token_type": "Bearer", "expires_in": int(issuer.user_lifetime)}
