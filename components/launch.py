"""How a service's container starts, the same on both platforms.

From the catalog (`command`, `args`, `provisioning.apply`) and the paths the Secrets
component gives out, both renderers get:

- `command_and_args`: the entrypoint and arguments, with `${provisioning}` replaced by the
  issuer's file (Redis `--aclfile`). A product that reads credentials from env only
  (`secret_env`, `env_from_file` secrets) starts through `/bin/sh -c '. <env file> && exec
  "$@"'`: the shell reads the rendered file from /vault/secrets (the Vault Agent's
  in-memory volume on Kubernetes, a volume on the host's disk on Docker) and replaces itself
  with the image's own entrypoint (named in the catalog's `command`), so the values live in
  that process's environment, never in the container spec, a manifest or Pulumi state.
- `provisioning_command`: the issuer's apply command (psql, cypher-shell), retried until the
  server answers, for at most its startup allowance plus a minute. Kubernetes runs it as the
  container's postStart hook, Docker as a one-shot container in the server's network
  namespace; either way against 127.0.0.1, with the server's own files.
"""

from __future__ import annotations

import math

from stacks.catalog import PROVISIONING_REFERENCE, ServiceSpec

# $0 is the env file, "$@" the image's entrypoint and its arguments.
SOURCE_ENV_FILE = '. "$0" && exec "$@"'
RETRY_INTERVAL_SECONDS = 5
# "$@" is the apply command; $0 names the loop in `ps` and error messages.
RETRY_SCRIPT = (
    'tries=0; until "$@"; do tries=$((tries + 1)); '
    'if [ "$tries" -ge {tries} ]; then echo "$0: giving up after $tries tries" >&2; exit 1; fi; '
    "sleep {interval}; done"
)


def _fill(items: list[str], spec: ServiceSpec, provisioning_file: str | None) -> list[str]:
    if provisioning_file is None and any(PROVISIONING_REFERENCE in a for a in items):
        raise ValueError(
            f"services.{spec.name}: its command names {PROVISIONING_REFERENCE}, but it has no "
            "provisioning file in this stack"
        )
    return [a.replace(PROVISIONING_REFERENCE, provisioning_file or "") for a in items]


def cluster_args(spec: ServiceSpec, every_replica: str | None) -> list[str]:
    """A catalog `cluster`'s flags: peers by the name resolving to every replica when there
    is more than one (and the platform has such a name), else clustering off."""
    if spec.cluster is None:
        return []
    port = spec.port(spec.cluster.port).port
    if spec.replicas < 2 or every_replica is None:
        return [f"{spec.cluster.listen_arg}="]
    return [
        f"{spec.cluster.listen_arg}=0.0.0.0:{port}",
        f"{spec.cluster.peer_arg}={every_replica}:{port}",
    ]


def command_and_args(
    spec: ServiceSpec,
    *,
    env_file: str | None,
    provisioning_file: str | None,
    every_replica: str | None = None,
) -> tuple[list[str] | None, list[str] | None]:
    """(command, args) of the service's main container: Kubernetes `command`/`args`, Docker
    `entrypoints`/`command`. None keeps the image's own. `every_replica`: a name resolving to
    every replica (Kubernetes' headless Service), for a catalog `cluster`."""
    command = _fill(spec.command, spec, provisioning_file) if spec.command else None
    args = _fill(spec.args, spec, provisioning_file) if spec.args else None
    if spec.cluster is not None:
        args = [*(args or []), *cluster_args(spec, every_replica)]
    if env_file is None:
        return command, args
    if not command:
        raise ValueError(f"services.{spec.name}: sourcing an env file needs `command`")
    return ["/bin/sh", "-c", SOURCE_ENV_FILE, env_file], [*command, *(args or [])]


def provisioning_tries(spec: ServiceSpec) -> int:
    seconds = spec.health.startup_seconds + 60
    return max(12, math.ceil(seconds / RETRY_INTERVAL_SECONDS))


def provisioning_command(spec: ServiceSpec, provisioning_file: str | None) -> list[str] | None:
    """The issuer's apply command wrapped in a bounded retry loop, or None."""
    if spec.provisioning is None or not spec.provisioning.apply:
        return None
    if provisioning_file is None:
        raise ValueError(f"services.{spec.name}: provisioning.apply without a provisioning file")
    script = RETRY_SCRIPT.format(tries=provisioning_tries(spec), interval=RETRY_INTERVAL_SECONDS)
    return [
        "/bin/sh",
        "-c",
        script,
        f"{spec.name}-provisioning",
        *_fill(spec.provisioning.apply, spec, provisioning_file),
    ]
