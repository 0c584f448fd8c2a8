"""A Vault server container for a local Docker engine (dev stacks only; never prod).

Not dev mode: a real server with file storage on a named volume, so it starts sealed and
uninitialised and keeps its data across restarts. `vault operator init` / `unseal` is a
one-time human step (README: "Vault bootstrap (dev)"); until then the program still runs
and delivers secrets to the containers directly (see `Secrets`).

Hardening: uid 100 / gid 1000 (the image's vault user), read-only root, tmpfs for /tmp and
for /vault/config (the entrypoint writes VAULT_LOCAL_CONFIG there), drop ALL capabilities,
no-new-privileges, `disable_mlock = true` instead of IPC_LOCK, published on 127.0.0.1 only.
"""

from __future__ import annotations

import json
from urllib.parse import urlparse, urlunparse

import pulumi
import pulumi_docker as docker

from components.vault.layout import VAULT_IMAGE

VAULT_PORT = 8200
VAULT_UID = 100
VAULT_GID = 1000


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
            "storage": {"file": {"path": "/vault/file"}},
            "listener": [{"tcp": {"address": f"0.0.0.0:{VAULT_PORT}", "tls_disable": True}}],
            "disable_mlock": True,
            "api_addr": api_address,
            "ui": False,
            "log_level": "info",
        },
        sort_keys=True,
    )


class DevVaultServer(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        *,
        network_name: pulumi.Input[str],
        provider: pulumi.ProviderResource | None,
        host_port: int = VAULT_PORT,
        labels: dict[str, str] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("sutazai:secrets:DevVaultServer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, provider=provider)
        label_args = [
            docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted((labels or {}).items())
        ]
        image = docker.RemoteImage(f"{name}-image", name=VAULT_IMAGE, keep_locally=True, opts=child)
        self.volume = docker.Volume(
            f"{name}-file",
            name=f"{name}-file",
            labels=[
                docker.VolumeLabelArgs(label=k, value=v) for k, v in sorted((labels or {}).items())
            ],
            opts=child,
        )
        self.container_name = name
        self.container = docker.Container(
            name,
            name=name,
            image=image.image_id,
            # The image entrypoint turns `server` into `vault server -config=/vault/config`.
            command=["server"],
            envs=[
                f"VAULT_LOCAL_CONFIG={server_config(f'http://127.0.0.1:{host_port}')}",
                f"VAULT_ADDR=http://127.0.0.1:{VAULT_PORT}",
                # Non-root with a read-only root: no setcap, no chown at start.
                "SKIP_SETCAP=true",
                "SKIP_CHOWN=true",
            ],
            user=f"{VAULT_UID}:{VAULT_GID}",
            read_only=True,
            tmpfs={
                "/tmp": "rw,noexec,nosuid,size=16m",
                "/vault/config": "rw,noexec,nosuid,size=1m",
            },
            volumes=[
                docker.ContainerVolumeArgs(
                    volume_name=self.volume.name, container_path="/vault/file"
                )
            ],
            capabilities=docker.ContainerCapabilitiesArgs(drops=["ALL"]),
            security_opts=["no-new-privileges:true"],
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(name=network_name, aliases=["vault"])
            ],
            ports=[
                docker.ContainerPortArgs(
                    internal=VAULT_PORT, external=host_port, ip="127.0.0.1", protocol="tcp"
                )
            ],
            # Healthy = initialised and unsealed (`vault status` exits 2 while sealed), so
            # `docker ps` shows when the bootstrap is still to do. Nothing waits on it.
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", "vault", "status"],
                interval="10s",
                timeout="3s",
                retries=3,
                start_period="10s",
            ),
            wait=False,
            memory=256,
            # Bounded, like every container of the stack.
            log_driver="json-file",
            log_opts={"max-size": "10m", "max-file": "3"},
            restart="unless-stopped",
            destroy_grace_seconds=30,
            labels=label_args,
            opts=child,
        )
        self.register_outputs({"container": name, "address": f"http://127.0.0.1:{host_port}"})
