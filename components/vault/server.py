"""The dev Vault server (vaultMode: container; dev stacks only, never prod): what it is.

Not dev mode: a real server with file storage on a named volume, so it starts sealed and
uninitialised and keeps its data across restarts. `vault operator init` / `unseal` is a
one-time human step (README: "Vault bootstrap (dev)"); until then the stack sets
`sutazai:vaultBootstrapped: false` and the program delivers secrets to the containers
directly (see `Secrets`).

Here: its configuration, port, user and resources. The Docker renderer runs it
(components/docker/vault.py) through its one hardening path, like every container.
"""

from __future__ import annotations

import json
from urllib.parse import urlparse, urlunparse

from stacks.catalog import Resources

VAULT_PORT = 8200
# The image's vault user. Non-root with a read-only root: `SKIP_SETCAP`/`SKIP_CHOWN` tell
# its entrypoint not to setcap or chown at start, and `disable_mlock` replaces IPC_LOCK.
VAULT_UID = 100
VAULT_GID = 1000
VAULT_RESOURCES = Resources(cpu="100m", memory="128Mi", cpu_limit="500m", memory_limit="256Mi")
# tmpfs: /tmp, and /vault/config, where the entrypoint writes VAULT_LOCAL_CONFIG.
VAULT_WRITABLE_PATHS = ("/tmp", "/vault/config")
VAULT_DATA_PATH = "/vault/file"


def published_address(vault_address: str, host_port: int) -> str:
    """`vaultAddress` (the `dev` stack's dev Vault) with the port this stack publishes."""
    parts = urlparse(vault_address)
    host = parts.hostname or "127.0.0.1"
    return urlunparse(parts._replace(netloc=f"{host}:{host_port}"))


def server_config(api_address: str) -> str:
    """The server's configuration (JSON form of HCL): file storage, no mlock, plain HTTP.

    Plain HTTP is for a loopback-only dev port and the stack's private management network;
    prod uses an existing, TLS-terminated Vault and never this container.
    """
    return json.dumps(
        {
            "storage": {"file": {"path": VAULT_DATA_PATH}},
            "listener": [{"tcp": {"address": f"0.0.0.0:{VAULT_PORT}", "tls_disable": True}}],
            "disable_mlock": True,
            "api_addr": api_address,
            "ui": False,
            "log_level": "info",
        },
        sort_keys=True,
    )
