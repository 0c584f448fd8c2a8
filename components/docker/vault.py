"""The dev Vault server as a container on the local engine (vaultMode: container).

What the server is (its configuration, port, user, resources) is in
components/vault/server.py; this renders it with the Docker renderer's one hardening path
(`hardened`, design invariant 2), like every service container: numeric non-root user,
read-only root, tmpfs for exactly its writable paths, drop ALL capabilities,
no-new-privileges, memory/swap/CPU limits, an init process, bounded logs. Its data lives on
a named volume; its port is published on 127.0.0.1 only.
"""

from __future__ import annotations

import pulumi
import pulumi_docker as docker

from components.docker.platform import hardened
from components.docker.rules import ContainerProfile
from components.vault.layout import VAULT_IMAGE
from components.vault.server import (
    VAULT_DATA_PATH,
    VAULT_GID,
    VAULT_PORT,
    VAULT_RESOURCES,
    VAULT_UID,
    VAULT_WRITABLE_PATHS,
    server_config,
)

VAULT_PROFILE = ContainerProfile(
    uid=VAULT_UID,
    gid=VAULT_GID,
    resources=VAULT_RESOURCES,
    writable_paths=VAULT_WRITABLE_PATHS,
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
        labels = dict(sorted((labels or {}).items()))
        image = docker.RemoteImage(f"{name}-image", name=VAULT_IMAGE, keep_locally=True, opts=child)
        self.volume = docker.Volume(
            f"{name}-file",
            name=f"{name}-file",
            labels=[docker.VolumeLabelArgs(label=k, value=v) for k, v in labels.items()],
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
                "SKIP_SETCAP=true",
                "SKIP_CHOWN=true",
            ],
            volumes=[
                docker.ContainerVolumeArgs(
                    volume_name=self.volume.name, container_path=VAULT_DATA_PATH
                )
            ],
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
            restart="unless-stopped",
            destroy_grace_seconds=30,
            labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in labels.items()],
            **hardened(VAULT_PROFILE),
            opts=child,
        )
        self.register_outputs({"container": name, "address": f"http://127.0.0.1:{host_port}"})
