"""Vault (pulumi-vault): mount paths, policy names and bodies, role settings and the
references between them. Sources: Vault API docs (sys/mounts, sys/auth, sys/policies/acl,
auth/kubernetes, database secrets engine, kv-v2) and vault/router.go (protected paths)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from stacks.constraints.checks import (
    DNS1123_LABEL,
    DNS1123_SUBDOMAIN,
    all_of,
    each,
    length,
    matches,
    one_of,
)
from stacks.constraints.core import Check, Resource, Rule, TypeRules, Violation

# vault/router.go and sys/mounts: these prefixes belong to Vault itself; a mount path has
# no leading "/" and no ".." segment.
RESERVED_MOUNT_PREFIXES = ("sys/", "auth/", "cubbyhole/", "identity/", "audit/")


def mount_path(value: Any) -> str | None:
    if not isinstance(value, str) or not value.strip("/"):
        return "must be a non-empty path"
    if value.startswith("/") or ".." in value.split("/"):
        return "has no leading '/' and no '..' segment"
    if (value.rstrip("/") + "/").startswith(RESERVED_MOUNT_PREFIXES):
        return f"may not be under {', '.join(RESERVED_MOUNT_PREFIXES)} (Vault's own paths)"
    if not re.fullmatch(r"[A-Za-z0-9_.\-/]+", value):
        return "letters, digits, _ . - and /"
    return None


# sys/policies/acl: Vault lowercases policy names (so an uppercase name never matches what
# Vault stores and diffs forever), and "root" cannot be written.
POLICY_NAME = all_of(
    length(1, 128),
    matches(r"[a-z0-9][a-z0-9_.\-]*", "lowercase letters, digits, _ . - (Vault lowercases names)"),
    lambda v: "'root' cannot be written" if v == "root" else None,
)
ROLE_NAME = all_of(
    length(1, 128), matches(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", "letters, digits, _ . -")
)


def _ttl_order(ttl: str, maximum: str) -> Any:
    def check(resource: Resource) -> Iterator[Violation]:
        low, high = resource.inputs.get(ttl), resource.inputs.get(maximum)
        if isinstance(low, int) and isinstance(high, int) and high and low > high:
            yield resource.violation(ttl, low, f"must not exceed {maximum} ({high})")

    return check


def _non_negative(value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return "must be a whole number of seconds >= 0"
    return None


def _mounts(resource: Resource, type_: str | None = None) -> set[str]:
    return {
        str(m.inputs.get("path", "")).strip("/")
        for m in resource.plan.of_type("vault:index/mount:Mount")
        if type_ is None or m.inputs.get("type") == type_
    }


def _auth_paths(resource: Resource) -> set[str]:
    return {
        str(a.inputs.get("path") or a.inputs.get("type") or "").strip("/")
        for a in resource.plan.of_type("vault:index/authBackend:AuthBackend")
    }


def _references(field_: str, known: Any, what: str) -> Any:
    def check(resource: Resource) -> Iterator[Violation]:
        value = resource.inputs.get(field_)
        if value is not None and str(value).strip("/") not in known(resource):
            yield resource.violation(field_, value, f"names no {what} of the plan")

    return check


_POLICY_PATH = re.compile(r'path\s+"([^"]+)"\s*\{')


def _policy_paths(resource: Resource) -> Iterator[Violation]:
    # Every path a policy grants lies under a mount or auth backend of the plan (or Vault's
    # own sys/, auth/token/, identity/, cubbyhole/): a typo grants nothing, silently.
    body = resource.inputs.get("policy")
    if not isinstance(body, str):
        return
    if body.count("{") != body.count("}"):
        yield resource.violation("policy", body[:60], "unbalanced braces: not valid HCL")
    mounts = _mounts(resource)
    auths = {f"auth/{a}" for a in _auth_paths(resource)}
    builtin = ("sys/", "auth/token/", "identity/", "cubbyhole/")
    for path in _POLICY_PATH.findall(body):
        if path.startswith(builtin):
            continue
        if not any(path == m or path.startswith(m + "/") for m in mounts | auths):
            yield resource.violation("policy", path, "grants a path under no mount of the plan")


def _token_policies(resource: Resource) -> Iterator[Violation]:
    names = {p.inputs.get("name") for p in resource.plan.of_type("vault:index/policy:Policy")}
    for index, policy in enumerate(resource.inputs.get("tokenPolicies") or []):
        if policy not in names and policy != "default":
            yield resource.violation(
                f"tokenPolicies[{index}]", policy, "names no vault Policy of the plan"
            )


def _allowed_roles(resource: Resource) -> Iterator[Violation]:
    roles = {
        r.inputs.get("name")
        for r in resource.plan.of_type("vault:database/secretBackendRole:SecretBackendRole")
        if r.inputs.get("backend") == resource.inputs.get("backend")
    }
    for index, role in enumerate(resource.inputs.get("allowedRoles") or []):
        if role != "*" and role not in roles:
            yield resource.violation(f"allowedRoles[{index}]", role, "names no database role")


def _role_connection(resource: Resource) -> Iterator[Violation]:
    connections = {
        c.inputs.get("name")
        for c in resource.plan.of_type(
            "vault:database/secretBackendConnection:SecretBackendConnection"
        )
        if c.inputs.get("backend") == resource.inputs.get("backend")
    }
    if resource.inputs.get("dbName") not in connections:
        yield resource.violation(
            "dbName", resource.inputs.get("dbName"), "names no database connection of its backend"
        )


def _service_account_name(value: Any) -> str | None:
    return None if value == "*" else DNS1123_SUBDOMAIN(value)


def _namespace_name(value: Any) -> str | None:
    return None if value == "*" else DNS1123_LABEL(value)


def _mount_type(kinds: tuple[str, ...]) -> Check:
    return one_of(*kinds)


RULES: dict[str, TypeRules] = {
    # sys/mounts: path, type, TTLs (default <= max).
    "vault:index/mount:Mount": TypeRules(
        rules=[
            Rule("path", mount_path, unique=True),
            Rule(
                "type",
                _mount_type(("kv", "kv-v2", "database", "pki", "transit", "aws", "ssh", "totp")),
            ),
            Rule("options.version", one_of("1", "2")),
            Rule("defaultLeaseTtlSeconds", _non_negative),
            Rule("maxLeaseTtlSeconds", _non_negative),
        ],
        checks=[_ttl_order("defaultLeaseTtlSeconds", "maxLeaseTtlSeconds")],
    ),
    # sys/auth: the path is relative to auth/.
    "vault:index/authBackend:AuthBackend": TypeRules(
        rules=[
            Rule(
                "path",
                unique=True,
                check=all_of(
                    mount_path,
                    lambda v: "is relative to auth/" if str(v).startswith("auth/") else None,
                ),
            ),
            Rule(
                "type",
                one_of("kubernetes", "aws", "approle", "jwt", "oidc", "userpass", "token", "cert"),
            ),
        ]
    ),
    "vault:index/policy:Policy": TypeRules(
        rules=[Rule("name", POLICY_NAME, unique=True), Rule("policy", length(1, 1 << 20))],
        checks=[_policy_paths],
    ),
    # auth/kubernetes/role: bound service accounts and namespaces are Kubernetes names (or
    # "*"); token_ttl <= token_max_ttl; policies exist.
    "vault:kubernetes/authBackendRole:AuthBackendRole": TypeRules(
        rules=[
            Rule("roleName", ROLE_NAME, unique=True),
            Rule("boundServiceAccountNames", each(_service_account_name)),
            Rule("boundServiceAccountNamespaces", each(_namespace_name)),
            Rule("tokenTtl", _non_negative),
            Rule("tokenMaxTtl", _non_negative),
            Rule("tokenPolicies", each(POLICY_NAME)),
        ],
        checks=[
            _ttl_order("tokenTtl", "tokenMaxTtl"),
            _references("backend", _auth_paths, "vault AuthBackend"),
            _token_policies,
        ],
    ),
    "vault:kubernetes/authBackendConfig:AuthBackendConfig": TypeRules(
        rules=[Rule("kubernetesHost", matches(r"https://.+", "an https:// URL"))],
        checks=[_references("backend", _auth_paths, "vault AuthBackend")],
    ),
    # Database secrets engine: config/<name> and roles/<name>; default_ttl <= max_ttl; the
    # role's db_name is a connection of the same mount; allowed_roles exist.
    "vault:database/secretBackendConnection:SecretBackendConnection": TypeRules(
        rules=[
            Rule("name", ROLE_NAME, unique=True),
            Rule("pluginName", matches(r"[a-z0-9-]+-database-plugin", "a database plugin")),
        ],
        checks=[
            _references("backend", lambda r: _mounts(r, "database"), "database Mount"),
            _allowed_roles,
        ],
    ),
    "vault:database/secretBackendRole:SecretBackendRole": TypeRules(
        rules=[
            Rule("name", ROLE_NAME, unique=True),
            Rule("defaultTtl", _non_negative),
            Rule("maxTtl", _non_negative),
            Rule(
                "creationStatements",
                all_of(each(length(1, 1 << 16)), lambda v: None if v else "at least one statement"),
            ),
        ],
        checks=[
            _ttl_order("defaultTtl", "maxTtl"),
            _references("backend", lambda r: _mounts(r, "database"), "database Mount"),
            _role_connection,
        ],
    ),
    # kv-v2: the secret's name is a relative path under its mount.
    "vault:kv/secretV2:SecretV2": TypeRules(
        rules=[
            Rule(
                "name",
                all_of(
                    length(1, 512),
                    matches(r"[^/].*[^/]|[^/]", "a relative path, no leading or trailing '/'"),
                ),
                unique=True,
            )
        ],
        checks=[_references("mount", _mounts, "vault Mount")],
    ),
    "pulumi:providers:vault": TypeRules(
        rules=[
            Rule("address", matches(r"https?://[^/\s]+(/.*)?", "an http(s):// URL")),
            Rule("maxLeaseTtlSeconds", matches(r"\d+", "whole seconds")),
        ]
    ),
}
