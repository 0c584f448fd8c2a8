"""Per-developer ephemeral stacks (`dev-<owner>`) with an expiry, and their reaper.

    python -m stacks.ephemeral create  [--owner X | --github-login L] [--ttl 8h | --expires ...]
                                       [--from dev] [--shared-cluster-stack org/sutazai/cluster]
    python -m stacks.ephemeral list    [--json]
    python -m stacks.ephemeral extend  [--owner X | --github-login L] [--ttl 8h | --expires ...]
    python -m stacks.ephemeral destroy [--owner X | --github-login L]
    python -m stacks.ephemeral reap    [--dry-run [true|false]] [--json]
    python -m stacks.ephemeral owner   --github-login L

`--github-login` is how the workflow binds a stack to the person running it: the owner is
derived from the login (`owner_for_login`: a shortened login plus a hash of the whole login,
within the owner length limit), `create` records the full login as the stack tag
`sutazai:ephemeral-login`, and `extend`/`destroy` refuse a stack whose tag names another
login. `--triggered-by` (the workflow's `github.triggering_actor`) must be that same login,
so re-running a colleague's run cannot act on their stack.

`create` is `pulumi stack init dev-<owner> --copy-config-from dev`, then sets
`sutazai:ephemeralOwner` / `sutazai:ephemeralExpiresAt` in the stack's config (the program
tags every AWS resource and labels every container with them) and the stack tags
`sutazai:ephemeral=true`, `sutazai:ephemeral-owner`, `sutazai:expires-at` (what the reaper
reads). On the kubernetes platform the stack deploys into its own namespaces on the shared
dev cluster named by `sutazai:sharedClusterStack`; create refuses to make one without it.

`reap` destroys and removes every *expired* ephemeral stack, and nothing else: the one
decision is `reap_verdict()`, which keeps every stack that is not positively marked as an
ephemeral `dev-<owner>` stack of a non-prod environment.

The Pulumi CLI is driven through one class at the process boundary (`PulumiCli`); tests
hand the commands a fake with the same methods. Stack tags need a Pulumi Cloud (or
self-hosted service) backend: DIY backends (file://, s3://) do not persist stack tags.
"""

from __future__ import annotations

import argparse
import base64
import getpass
import hashlib
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from stacks.config import (
    EPHEMERAL_STACK_PREFIX,
    MAX_OWNER_LENGTH,
    NAMESPACE,
    OWNER_PATTERN,
    TEMPLATE_ONLY_KEY,
    parse_expiry,
)

PROJECT_DIR = Path(__file__).resolve().parent.parent

PREFIX = EPHEMERAL_STACK_PREFIX
TEMPLATE_STACK = "dev"
# Stacks the tooling never creates, destroys or removes, whatever their tags say.
PROTECTED_STACKS = frozenset({"dev", "prod", "production", "staging"})
DEFAULT_TTL = "8h"
MAX_TTL = timedelta(days=7)
MIN_TTL = timedelta(minutes=15)

# Stack tags (names: alphanumerics, - _ . :, at most 40 characters).
TAG_EPHEMERAL = "sutazai:ephemeral"
TAG_OWNER = "sutazai:ephemeral-owner"
TAG_EXPIRES = "sutazai:expires-at"
TAG_ENVIRONMENT = "sutazai:environment"
# The full GitHub login of the person the stack belongs to (stacks made by the workflow).
TAG_LOGIN = "sutazai:ephemeral-login"
# Stack config keys (StackConfig: ephemeral_owner, ephemeral_expires_at, ...).
CONFIG_OWNER = f"{NAMESPACE}:ephemeralOwner"
CONFIG_EXPIRES = f"{NAMESPACE}:ephemeralExpiresAt"
CONFIG_PLATFORM = f"{NAMESPACE}:platform"
CONFIG_ENVIRONMENT = f"{NAMESPACE}:environment"
CONFIG_SHARED_CLUSTER = f"{NAMESPACE}:sharedClusterStack"

# The same rule as StackConfig's ephemeralOwner (tests keep the two in step).
# GitHub logins: 1-39 letters, digits and single inner hyphens, case-insensitive.
GITHUB_LOGIN_PATTERN = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$")
# Owners derived from a login end in this many base32 characters of its SHA-256 (50 bits):
# two logins that share a prefix still get different owners, and finding a login that
# collides with a given one on purpose costs ~2^50 hashes. The login tag settles the rest.
LOGIN_HASH_CHARS = 10
_TTL = re.compile(r"^([1-9][0-9]*)([mhdw])$")
_TTL_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
TTL_FORMATS = "<number><unit> with unit m, h, d or w (e.g. 45m, 8h, 2d, 1w)"
EXPIRES_FORMATS = "an ISO 8601 time with a timezone (e.g. 2026-12-01T18:00:00Z)"


class EphemeralError(Exception):
    """A refused request, with a message that says what to do instead (exit code 2)."""


class PulumiError(Exception):
    """A Pulumi CLI command failed (exit code 1)."""


# ── names, owners, expiry ────────────────────────────────────────────────────────────────


def validate_owner(owner: str, flag: str = "--owner") -> str:
    if not OWNER_PATTERN.fullmatch(owner):
        raise EphemeralError(
            f"{flag}: '{owner}' is not a valid owner; use 2-{MAX_OWNER_LENGTH} lowercase "
            "letters, digits and single '-', starting with a letter (e.g. alice or bob-2)"
        )
    if f"{PREFIX}{owner}" in PROTECTED_STACKS or owner in PROTECTED_STACKS:
        raise EphemeralError(f"{flag}: '{owner}' is reserved")
    return owner


def stack_name(owner: str) -> str:
    """dev-<owner>, for a valid owner."""
    return f"{PREFIX}{validate_owner(owner)}"


def owner_of(name: str) -> str | None:
    """The owner in a `dev-<owner>` stack name (org/project/ prefixes allowed), else None."""
    short = name.rsplit("/", 1)[-1]
    if not short.startswith(PREFIX) or short in PROTECTED_STACKS:
        return None
    owner = short[len(PREFIX) :]
    # Reserved owners (dev-prod, dev-staging) are refused by validate_owner: never ours.
    if owner in PROTECTED_STACKS or not OWNER_PATTERN.fullmatch(owner):
        return None
    return owner


def default_owner(environ: Mapping[str, str] | None = None) -> str:
    """SUTAZAI_OWNER, else the login name made owner-shaped (Alice.Smith -> alice-smith)."""
    environ = os.environ if environ is None else environ
    raw = environ.get("SUTAZAI_OWNER") or environ.get("USER") or getpass.getuser()
    dashed = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]+", "-", raw.lower()))
    owner = dashed.strip("-")[:MAX_OWNER_LENGTH].rstrip("-")
    if not OWNER_PATTERN.match(owner):
        raise EphemeralError(f"cannot derive an owner from '{raw}'; pass --owner")
    return owner


def owner_for_login(login: str, flag: str = "--github-login") -> str:
    """The owner of a GitHub login's stack: `<shortened login>-<hash of the whole login>`.

    Deterministic, within MAX_OWNER_LENGTH, and distinct for distinct logins (case folded,
    as GitHub compares logins), however long they are or whatever prefix they share.
    """
    if not GITHUB_LOGIN_PATTERN.match(login):
        raise EphemeralError(
            f"{flag}: '{login}' is not a GitHub login; a login is 1-39 letters, digits or "
            "single inner '-'"
        )
    folded = login.lower()
    digest = base64.b32encode(hashlib.sha256(folded.encode()).digest()).decode().lower()
    stem = folded if folded[0].isalpha() else f"u{folded}"
    stem = stem[: MAX_OWNER_LENGTH - LOGIN_HASH_CHARS - 1].rstrip("-")
    return validate_owner(f"{stem}-{digest[:LOGIN_HASH_CHARS]}", flag)


def same_login(a: str, b: str) -> bool:
    return a.lower() == b.lower()


def parse_switch(text: str) -> bool:
    """A workflow boolean as the CLI gets it: exactly 'true' or 'false' (argparse type)."""
    if text not in ("true", "false"):
        raise argparse.ArgumentTypeError(f"'{text}' is not a switch; use true or false")
    return text == "true"


def parse_ttl(text: str) -> timedelta:
    match = _TTL.match(text.strip())
    if match is None:
        raise EphemeralError(f"--ttl: '{text}' is not a duration; use {TTL_FORMATS}")
    ttl = timedelta(**{_TTL_UNITS[match.group(2)]: int(match.group(1))})
    if ttl > MAX_TTL:
        raise EphemeralError(
            f"--ttl: {text} is longer than the maximum of {format_duration(MAX_TTL)}; "
            "extend the stack later instead"
        )
    if ttl < MIN_TTL:
        raise EphemeralError(f"--ttl: {text} is shorter than the minimum of 15m")
    return ttl


def resolve_expiry(ttl: str | None, expires: str | None, now: datetime) -> datetime:
    """The expiry a request asks for: --ttl from now or --expires, within the maximum TTL."""
    if ttl is not None and expires is not None:
        raise EphemeralError("--ttl and --expires are alternatives; give one of them")
    if expires is None:
        return (now + parse_ttl(ttl or DEFAULT_TTL)).replace(microsecond=0)
    try:
        at = parse_expiry(expires)
    except ValueError as exc:
        raise EphemeralError(f"--expires: {exc}; use {EXPIRES_FORMATS}") from None
    if at <= now + MIN_TTL:
        raise EphemeralError(f"--expires: {expires} is in the past or less than 15m away")
    if at > now + MAX_TTL:
        raise EphemeralError(
            f"--expires: {expires} is more than the maximum of {format_duration(MAX_TTL)} away"
        )
    return at.replace(microsecond=0)


def format_expiry(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_duration(delta: timedelta) -> str:
    """2d3h, 8h, 45m, 1h5m (minutes, rounded down; the sign is dropped)."""
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [f"{days}d"] if days else []
    parts += [f"{hours}h"] if hours else []
    parts += [f"{minutes}m"] if minutes or not parts else []
    return "".join(parts)


# ── the one decision ─────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class StackInfo:
    name: str
    tags: Mapping[str, str]
    # The stack's config values (None: not read). Secrets appear as "[secret]".
    config: Mapping[str, str] | None = None
    resource_count: int | None = None


@dataclass(frozen=True)
class Verdict:
    ephemeral: bool  # positively marked as an ephemeral dev-<owner> stack
    reap: bool  # ephemeral and expired
    reason: str
    owner: str | None = None
    expires_at: datetime | None = None


def reap_verdict(stack: StackInfo, now: datetime) -> Verdict:
    """May the reaper destroy this stack? Only an expired, fully marked ephemeral stack.

    Every condition must hold, otherwise the stack is kept:
    - its name is `dev-<owner>` (never dev, prod or anything else);
    - it is tagged `sutazai:ephemeral=true` with `sutazai:ephemeral-owner` = that owner;
    - neither its tags nor its config say environment prod;
    - `sutazai:expires-at` is a readable time (and, when the config was read, the config's
      owner agrees; the later of the tag's and the config's expiry counts);
    - that time has passed.
    """
    owner = owner_of(stack.name)
    if owner is None:
        return Verdict(False, False, "not a dev-<owner> stack")
    config = stack.config or {}
    if "prod" in (stack.tags.get(TAG_ENVIRONMENT), config.get(CONFIG_ENVIRONMENT)):
        return Verdict(False, False, "environment is prod")
    if stack.tags.get(TAG_EPHEMERAL) != "true":
        return Verdict(False, False, f"no {TAG_EPHEMERAL}=true tag")
    if stack.tags.get(TAG_OWNER) != owner:
        return Verdict(False, False, f"{TAG_OWNER} tag is not '{owner}'")
    try:
        expires_at = parse_expiry(stack.tags.get(TAG_EXPIRES, ""))
    except ValueError:
        return Verdict(False, False, f"{TAG_EXPIRES} tag is missing or unreadable", owner)
    if stack.config is not None:
        if config.get(CONFIG_OWNER) != owner:
            return Verdict(False, False, f"config {CONFIG_OWNER} is not '{owner}'", owner)
        try:
            expires_at = max(expires_at, parse_expiry(config.get(CONFIG_EXPIRES, "")))
        except ValueError:
            return Verdict(False, False, f"config {CONFIG_EXPIRES} is unreadable", owner)
    left = expires_at - now
    if left > timedelta(0):
        return Verdict(True, False, f"expires in {format_duration(left)}", owner, expires_at)
    return Verdict(True, True, f"expired {format_duration(left)} ago", owner, expires_at)


# ── the process boundary ─────────────────────────────────────────────────────────────────


class Pulumi(Protocol):
    """The Pulumi operations the tooling uses; `PulumiCli` runs them, tests fake them."""

    def list_stacks(self) -> list[tuple[str, int | None]]: ...
    def stack_tags(self, stack: str) -> dict[str, str]: ...
    def stack_config(self, stack: str) -> dict[str, str]: ...
    def init_stack(self, stack: str, copy_config_from: str) -> None: ...
    def set_config(self, stack: str, key: str, value: str) -> None: ...
    def remove_config(self, stack: str, key: str) -> None: ...
    def set_tag(self, stack: str, name: str, value: str) -> None: ...
    def destroy(self, stack: str) -> None: ...
    def remove_stack(self, stack: str) -> None: ...


Runner = Callable[..., subprocess.CompletedProcess[str]]


class PulumiCli:
    """`pulumi ... --non-interactive [--json]` in the project directory."""

    def __init__(
        self,
        cwd: Path = PROJECT_DIR,
        binary: str = "pulumi",
        runner: Runner = subprocess.run,
    ) -> None:
        self.cwd = cwd
        self.binary = binary
        self.runner = runner

    def _run(self, *args: str, capture: bool = True) -> str:
        command = [self.binary, *args, "--non-interactive"]
        env = {**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"}
        try:
            result = self.runner(
                command, cwd=self.cwd, env=env, text=True, check=False,
                capture_output=capture,
            )  # fmt: skip
        except FileNotFoundError:
            raise PulumiError(f"'{self.binary}' is not installed or not on PATH") from None
        if result.returncode != 0:
            detail = (result.stderr or result.stdout or "").strip() if capture else ""
            raise PulumiError(f"{' '.join(command)} failed ({result.returncode}) {detail}")
        return result.stdout or ""

    def list_stacks(self) -> list[tuple[str, int | None]]:
        rows = json.loads(self._run("stack", "ls", "--json") or "[]")
        return [(row["name"], row.get("resourceCount")) for row in rows]

    def stack_tags(self, stack: str) -> dict[str, str]:
        return dict(json.loads(self._run("stack", "tag", "ls", "--json", "--stack", stack) or "{}"))

    def stack_config(self, stack: str) -> dict[str, str]:
        raw: dict[str, Any] = json.loads(self._run("config", "--json", "--stack", stack) or "{}")
        return {
            key: "[secret]" if entry.get("secret") else str(entry.get("value", ""))
            for key, entry in raw.items()
        }

    def init_stack(self, stack: str, copy_config_from: str) -> None:
        self._run("stack", "init", stack, "--copy-config-from", copy_config_from)

    def set_config(self, stack: str, key: str, value: str) -> None:
        self._run("config", "set", "--stack", stack, key, value)

    def remove_config(self, stack: str, key: str) -> None:
        self._run("config", "rm", "--stack", stack, key)

    def set_tag(self, stack: str, name: str, value: str) -> None:
        try:
            self._run("stack", "tag", "set", name, value, "--stack", stack)
        except PulumiError as exc:
            if "not supported" in str(exc):
                raise PulumiError(
                    f"{exc}\nThis backend cannot hold stack tags (DIY backends: file://, "
                    "s3://...), so the reaper could never recognise the stack. Use a Pulumi "
                    "Cloud or self-hosted service backend for ephemeral stacks."
                ) from None
            raise

    def destroy(self, stack: str) -> None:
        # Output streams to the terminal/CI log: a destroy can take many minutes.
        self._run("destroy", "--stack", stack, "--yes", "--skip-preview", capture=False)

    def remove_stack(self, stack: str) -> None:
        # Without --force: Pulumi refuses to remove a stack that still has resources.
        self._run("stack", "rm", stack, "--yes")


# ── commands ─────────────────────────────────────────────────────────────────────────────


Clock = Callable[[], datetime]


def _now() -> datetime:
    return datetime.now(UTC)


def _progress(message: str) -> None:
    """Progress and hints go to stderr; stdout carries only the table or JSON asked for."""
    print(message, file=sys.stderr, flush=True)


@dataclass
class Ephemeral:
    pulumi: Pulumi
    clock: Clock = _now
    out: Callable[[str], None] = _progress

    def stacks(self) -> list[tuple[StackInfo, Verdict]]:
        """Every stack of the project with its verdict.

        Tags are read for `dev-<owner>` names only, config for tagged candidates only: the
        tooling never even reads a prod stack's settings.
        """
        now = self.clock()
        result = []
        for name, resources in self.pulumi.list_stacks():
            info = StackInfo(name, {}, None, resources)
            if owner_of(name) is not None:
                info = StackInfo(name, self.pulumi.stack_tags(name), None, resources)
                if info.tags.get(TAG_EPHEMERAL) == "true":
                    config = self.pulumi.stack_config(name)
                    info = StackInfo(name, info.tags, config, resources)
            result.append((info, reap_verdict(info, now)))
        return result

    def _find(self, name: str) -> tuple[StackInfo, Verdict] | None:
        return next(((i, v) for i, v in self.stacks() if i.name.rsplit("/", 1)[-1] == name), None)

    def create(
        self,
        owner: str,
        ttl: str | None,
        expires: str | None,
        template: str = TEMPLATE_STACK,
        shared_cluster_stack: str | None = None,
        login: str | None = None,
    ) -> str:
        """Create dev-<owner>; with `login`, the stack is that GitHub login's (tagged)."""
        name = stack_name(owner)
        expires_at = resolve_expiry(ttl, expires, self.clock())
        known = {n.rsplit("/", 1)[-1] for n, _ in self.pulumi.list_stacks()}
        if name in known:
            raise EphemeralError(
                f"stack {name} exists already; extend it (python -m stacks.ephemeral extend "
                f"--owner {owner} --ttl 8h) or destroy it first"
            )
        if template not in known:
            raise EphemeralError(f"--from: there is no stack '{template}' to copy config from")
        template_config = self.pulumi.stack_config(template)
        if template_config.get(CONFIG_ENVIRONMENT, "dev") == "prod" or template == "prod":
            raise EphemeralError(f"--from: '{template}' is a prod stack; copy a dev stack")
        settings = {
            CONFIG_OWNER: owner,
            CONFIG_EXPIRES: format_expiry(expires_at),
            CONFIG_ENVIRONMENT: "dev",
        }
        if template_config.get(CONFIG_PLATFORM, "kubernetes") == "kubernetes":
            cluster = shared_cluster_stack or template_config.get(CONFIG_SHARED_CLUSTER, "")
            if not cluster:
                raise EphemeralError(
                    "--shared-cluster-stack: a kubernetes ephemeral stack deploys into its own "
                    "namespaces on the shared dev cluster; name the stack that exports its "
                    "kubeconfig (org/project/stack), or set sutazai:sharedClusterStack on "
                    f"'{template}'"
                )
            settings[CONFIG_SHARED_CLUSTER] = cluster
        elif shared_cluster_stack:
            raise EphemeralError(
                f"--shared-cluster-stack: '{template}' runs on docker, which has no cluster"
            )
        tags = {
            TAG_EPHEMERAL: "true",
            TAG_OWNER: owner,
            TAG_EXPIRES: format_expiry(expires_at),
            TAG_ENVIRONMENT: "dev",
        }
        if login is not None:
            tags[TAG_LOGIN] = login

        self.pulumi.init_stack(name, copy_config_from=template)
        try:
            if TEMPLATE_ONLY_KEY in template_config:
                # The template refuses `pulumi up`; its copy is meant to be deployed.
                self.pulumi.remove_config(name, TEMPLATE_ONLY_KEY)
            for key, value in settings.items():
                self.pulumi.set_config(name, key, value)
            for tag, value in tags.items():
                self.pulumi.set_tag(name, tag, value)
        except PulumiError:
            # A half-marked stack is one the reaper would never touch: take it away again
            # (it has no resources yet, so this cannot lose anything).
            self.pulumi.remove_stack(name)
            raise
        self.out(
            f"created {name}, expires {format_expiry(expires_at)} "
            f"(in {format_duration(expires_at - self.clock())}).\n"
            f"next: pulumi up --stack {name}"
        )
        return name

    def _owned(self, owner: str, login: str | None) -> StackInfo:
        """The ephemeral stack dev-<owner>; with `login`, only if its login tag is that login."""
        name = stack_name(owner)
        found = self._find(name)
        if found is None or not found[1].ephemeral:
            raise EphemeralError(
                f"{name} is not an ephemeral stack ({_reason(found)}); nothing was touched"
            )
        recorded = found[0].tags.get(TAG_LOGIN)
        if login is not None and (recorded is None or not same_login(recorded, login)):
            raise EphemeralError(
                f"{name} is not {login}'s stack ({TAG_LOGIN} is "
                f"{repr(recorded) if recorded is not None else 'missing'}); nothing was "
                "touched. Acting on another person's stack is the workflow's separate, "
                "approved action"
            )
        return found[0]

    def extend(
        self, owner: str, ttl: str | None, expires: str | None, login: str | None = None
    ) -> datetime:
        name = self._owned(owner, login).name.rsplit("/", 1)[-1]
        expires_at = resolve_expiry(ttl, expires, self.clock())
        self.pulumi.set_config(name, CONFIG_EXPIRES, format_expiry(expires_at))
        self.pulumi.set_tag(name, TAG_EXPIRES, format_expiry(expires_at))
        self.out(f"{name} now expires {format_expiry(expires_at)}")
        return expires_at

    def destroy(self, owner: str, login: str | None = None) -> None:
        self._destroy_and_remove(self._owned(owner, login).name)

    def _destroy_and_remove(self, name: str) -> None:
        self.out(f"destroying {name}")
        self.pulumi.destroy(name)
        self.pulumi.remove_stack(name)
        self.out(f"removed {name}")

    def reap(self, dry_run: bool = False) -> list[dict[str, Any]]:
        """Destroy and remove every expired ephemeral stack; report every stack's verdict."""
        report: list[dict[str, Any]] = []
        for info, verdict in self.stacks():
            row: dict[str, Any] = {
                "stack": info.name,
                "action": "keep",
                "reason": verdict.reason,
            }
            if verdict.reap:
                row["action"] = "would reap" if dry_run else "reaped"
                if dry_run:
                    self.out(f"dry run: would destroy and remove {info.name} ({verdict.reason})")
                else:
                    self.out(f"reaping {info.name} ({verdict.reason})")
                    try:
                        self._destroy_and_remove(info.name)
                    except PulumiError as exc:
                        row["action"] = "failed"
                        row["error"] = str(exc)
                        self.out(f"failed to reap {info.name}: {exc}")
            report.append(row)
        return report

    def listing(self) -> list[dict[str, Any]]:
        now = self.clock()
        rows = []
        for info, verdict in self.stacks():
            if not verdict.ephemeral:
                continue
            assert verdict.expires_at is not None
            rows.append(
                {
                    "stack": info.name,
                    "owner": verdict.owner,
                    "expiresAt": format_expiry(verdict.expires_at),
                    "left": (
                        format_duration(verdict.expires_at - now) if not verdict.reap else "expired"
                    ),
                    "resources": info.resource_count,
                }
            )
        return rows


def _reason(found: tuple[StackInfo, Verdict] | None) -> str:
    return "no such stack" if found is None else found[1].reason


# ── command line ─────────────────────────────────────────────────────────────────────────


def _table(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> str:
    if not rows:
        return "(none)"
    widths = [max(len(c), *(len(str(r.get(c, ""))) for r in rows)) for c in columns]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths, strict=True))]
    for row in rows:
        cells = [str(row.get(c, "")).ljust(w) for c, w in zip(columns, widths, strict=True)]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m stacks.ephemeral",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(dest="command", required=True)

    def expiry_flags(sub: argparse.ArgumentParser) -> None:
        group = sub.add_mutually_exclusive_group()
        group.add_argument("--ttl", help=f"time to live: {TTL_FORMATS}; default {DEFAULT_TTL}")
        group.add_argument("--expires", help=f"expiry: {EXPIRES_FORMATS}")

    def owner_flags(sub: argparse.ArgumentParser) -> None:
        group = sub.add_mutually_exclusive_group()
        group.add_argument("--owner", help="owner (default: $SUTAZAI_OWNER or your login)")
        group.add_argument(
            "--github-login",
            help="act as this GitHub login: its derived owner, and only the stack tagged with it",
        )
        sub.add_argument(
            "--triggered-by",
            help="with --github-login: who started this run (github.triggering_actor); must "
            "be the same login",
        )

    create = commands.add_parser("create", help="create dev-<owner> from the dev configuration")
    owner_flags(create)
    expiry_flags(create)
    create.add_argument("--from", dest="template", default=TEMPLATE_STACK, help="stack to copy")
    create.add_argument(
        "--shared-cluster-stack",
        help="kubernetes: the stack (org/project/stack) exporting the shared dev cluster",
    )
    extend = commands.add_parser("extend", help="move the expiry of dev-<owner>")
    owner_flags(extend)
    expiry_flags(extend)
    destroy = commands.add_parser("destroy", help="destroy and remove dev-<owner>")
    owner_flags(destroy)
    owner = commands.add_parser("owner", help="print the owner derived from a GitHub login")
    owner.add_argument("--github-login", required=True)
    listing = commands.add_parser("list", help="ephemeral stacks and their time left")
    listing.add_argument("--json", action="store_true")
    reap = commands.add_parser("reap", help="destroy and remove every expired ephemeral stack")
    reap.add_argument(
        "--dry-run",
        nargs="?",
        const=True,
        default=False,
        type=parse_switch,
        help="report, change nothing (a workflow passes its boolean input: true or false)",
    )
    reap.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None, pulumi: Pulumi | None = None) -> int:
    options = build_parser().parse_args(argv)
    tool = Ephemeral(pulumi if pulumi is not None else PulumiCli())
    try:
        if options.command == "owner":
            print(owner_for_login(options.github_login))
        elif options.command in ("create", "extend", "destroy"):
            login = options.github_login
            if login is not None:
                owner = owner_for_login(login)
                if options.triggered_by is not None and not same_login(options.triggered_by, login):
                    raise EphemeralError(
                        f"--triggered-by: {options.triggered_by} re-ran {login}'s run; a "
                        f"stack is acted on by its own login only, so {options.triggered_by} "
                        "should start the workflow themselves"
                    )
            elif options.triggered_by is not None:
                raise EphemeralError("--triggered-by: goes with --github-login")
            else:
                owner = validate_owner(options.owner) if options.owner else default_owner()
            if options.command == "create":
                tool.create(
                    owner,
                    options.ttl,
                    options.expires,
                    options.template,
                    options.shared_cluster_stack,
                    login=login,
                )
            elif options.command == "extend":
                tool.extend(owner, options.ttl, options.expires, login=login)
            else:
                tool.destroy(owner, login=login)
        elif options.command == "list":
            rows = tool.listing()
            print(json.dumps(rows, indent=1) if options.json else _table(
                rows, ["stack", "owner", "expiresAt", "left", "resources"]
            ))  # fmt: skip
        elif options.command == "reap":
            report = tool.reap(dry_run=options.dry_run)
            print(json.dumps(report, indent=1) if options.json else _table(
                report, ["stack", "action", "reason", "error"]
            ))  # fmt: skip
            return 1 if any(r["action"] == "failed" for r in report) else 0
    except EphemeralError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except PulumiError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


__all__ = [
    "Ephemeral",
    "EphemeralError",
    "Pulumi",
    "PulumiCli",
    "StackInfo",
    "Verdict",
    "main",
    "owner_for_login",
    "reap_verdict",
    "resolve_expiry",
    "stack_name",
]

if __name__ == "__main__":
    sys.exit(main())
