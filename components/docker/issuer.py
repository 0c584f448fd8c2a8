"""The dev issuer on a Docker stack: the same token checks as prod, without a cloud.

On Kubernetes, users' tokens come from Cognito (or an external OIDC issuer) and workloads'
from the API server (projected ServiceAccount tokens). A Docker stack has neither, so with
authentication on it runs the backend image's `app.dev_issuer` as one more container:

- **users**: with `edge.identityProvider.kind: local`, the backend trusts its user issuer
  (an `oidc` entry, audience `<prefix>-<api>-users`); a developer signs in with
  `POST /login` on its 127.0.0.1 port (the stack output `devIssuer`).
- **workloads**: every service that calls an API with a workload token
  (`workload_token_apis`, the rule the Kubernetes renderer uses) gets its token file the
  way a pod gets a projected token: an in-memory (tmpfs) volume of its own, written by the
  issuer and mounted read-only into that one container at the same path and under the
  same variable (`BACKEND_TOKEN_FILE`) as on Kubernetes. The backend trusts the workload
  issuer as a `kubernetes` entry, audience `<prefix>-<api>` (per stack, as on a cluster).

It is rendered through the one hardening path (`hardened`, with a `ContainerProfile` of
its own), like the dev Vault server.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import pulumi
import pulumi_docker as docker

from components.docker import rules
from components.docker.platform import DockerContext, hardened, logging_for
from components.platform import is_api, token_file_variable, workload_token_apis
from stacks.catalog import Resources, ServiceSpec

ISSUER_PORT = 8090
# 127.0.0.1 port of `dev` (plus the stack's offset): clear of ingress (18000+), the dev
# Vault (8200+) and the log receiver (12201+) for every offset.
ISSUER_HOST_PORT_BASE = 14000
# Where a caller finds its tokens: the path projected tokens have on Kubernetes.
CALLER_IDENTITY_DIR = "/var/run/secrets/sutazai"
ISSUER_IDENTITY_DIR = "/var/run/sutazai-identity"
ISSUER_RESOURCES = Resources(cpu="50m", memory="96Mi", cpu_limit="250m", memory_limit="192Mi")
USER_AUDIENCE_SUFFIX = "-users"
WORKLOADS_PATH = "/workloads"  # app.dev_issuer.WORKLOADS_PATH


def issuer_profile(api: ServiceSpec) -> rules.ContainerProfile:
    """The API image's own user (it ships the issuer), /tmp its only writable path."""
    return rules.ContainerProfile(api.uid, api.gid, ISSUER_RESOURCES, ("/tmp",))


def token_file(api: ServiceSpec) -> str:
    return f"{CALLER_IDENTITY_DIR}/{api.name}-token"


class DevIssuer(pulumi.ComponentResource):
    """The dev issuer of one Docker stack, for the API service `api`."""

    def __init__(
        self,
        name: str,
        *,
        context: DockerContext,
        api: ServiceSpec,
        image_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ) -> None:
        super().__init__("sutazai:edge:DevIssuer", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self._context = context
        self.api = api
        self.container_name = context.container_name("dev-issuer")
        self.url = f"http://{self.container_name}:{ISSUER_PORT}"
        self.host_port = rules.stack_host_port(ISSUER_HOST_PORT_BASE, context.stack)
        self.user_audience = f"{context.prefix}-{api.name}{USER_AUDIENCE_SUFFIX}"
        self.workload_audience = f"{context.prefix}-{api.name}"
        profile = issuer_profile(api)
        labels = {**context.labels, "ai.sutazai.role": "dev-issuer"}

        callers = [
            s
            for s in context.catalog
            if any(a.name == api.name for a in workload_token_apis(context.catalog, s))
        ]
        self.caller_volumes: dict[str, docker.Volume] = {}
        for caller in callers:
            volume_name = context.volume_name(caller.name, "identity")
            self.caller_volumes[caller.name] = docker.Volume(
                volume_name,
                name=volume_name,
                driver="local",
                # In memory, owned by the issuer's user; the caller reads it read-only.
                driver_opts={
                    "type": "tmpfs",
                    "device": "tmpfs",
                    "o": (
                        f"size=1m,uid={profile.uid},gid={profile.gid},mode=0755,noexec,nosuid,nodev"
                    ),
                },
                labels=[
                    docker.VolumeLabelArgs(label=k, value=v)
                    for k, v in sorted({**labels, "ai.sutazai.service": caller.name}.items())
                ],
                opts=child,
            )
        workloads = {
            caller.name: {
                "namespace": context.prefix,
                "audiences": {f"{api.name}-token": self.workload_audience},
            }
            for caller in callers
        }
        env = {
            "DEV_ISSUER_URL": self.url,
            "DEV_USER_AUDIENCE": self.user_audience,
            "DEV_WORKLOADS": json.dumps(workloads, sort_keys=True),
            "DEV_IDENTITY_DIR": ISSUER_IDENTITY_DIR,
            "SERVICE_NAME": "dev-issuer",
        }
        probe = (
            "import urllib.request; "
            f"urllib.request.urlopen('http://127.0.0.1:{ISSUER_PORT}/health', timeout=2)"
        )
        self.container = docker.Container(
            self.container_name,
            name=self.container_name,
            image=image_id,
            command=[
                "python",
                "-m",
                "uvicorn",
                "app.dev_issuer:app",
                "--host",
                "0.0.0.0",
                "--port",
                str(ISSUER_PORT),
                "--no-server-header",
            ],
            envs=[f"{k}={v}" for k, v in sorted(env.items())],
            volumes=[
                docker.ContainerVolumeArgs(
                    volume_name=volume.name, container_path=f"{ISSUER_IDENTITY_DIR}/{caller}"
                )
                for caller, volume in sorted(self.caller_volumes.items())
            ],
            # The API's own network: the API reads the JWKS; nothing else needs to reach it.
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(
                    name=context.networks[api.segment].name, aliases=["dev-issuer"]
                )
            ],
            ports=[
                docker.ContainerPortArgs(
                    internal=ISSUER_PORT, external=self.host_port, ip="127.0.0.1", protocol="tcp"
                )
            ],
            healthcheck=docker.ContainerHealthcheckArgs(
                tests=["CMD", "python", "-c", probe],
                interval="10s",
                timeout="3s",
                retries=3,
                start_period="10s",
            ),
            restart="unless-stopped",
            destroy_grace_seconds=10,
            labels=[docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(labels.items())],
            **hardened(profile, logging=logging_for(context.log_receiver_port)),
            opts=child,
        )
        self.register_outputs(
            {"url": self.url, "login": f"http://127.0.0.1:{self.host_port}/login"}
        )

    def backend_issuers(self) -> list[dict[str, object]]:
        """The API's AUTH_ISSUERS entries: the workload issuer, and the user issuer when
        users sign in here (`identityProvider.kind: local`)."""
        entries: list[dict[str, object]] = []
        if self._context.config.edge.identity_provider.kind == "local":
            entries.append(
                {
                    "kind": "oidc",
                    "issuer": self.url,
                    "jwks_url": f"{self.url}/jwks",
                    "audiences": [self.user_audience],
                }
            )
        entries.append(
            {
                "kind": "kubernetes",
                "issuer": self.url + WORKLOADS_PATH,
                "jwks_url": f"{self.url}{WORKLOADS_PATH}/jwks",
                "audiences": [self.workload_audience],
            }
        )
        return entries

    def browser_env(self) -> dict[str, str]:
        """A browser UI's dev sign-in (the frontend's /dev-login), when users sign in here."""
        if self._context.config.edge.identity_provider.kind != "local":
            return {}
        return {"DEV_LOGIN_URL": f"{self.url}/login"}

    def caller_identity(
        self, spec: ServiceSpec
    ) -> tuple[list[docker.ContainerVolumeArgs], Mapping[str, str], list[pulumi.Resource]]:
        """A caller's token volume (read-only), its token-file variable, what it waits for."""
        volume = self.caller_volumes.get(spec.name)
        if volume is None:
            return [], {}, []
        mount = docker.ContainerVolumeArgs(
            volume_name=volume.name, container_path=CALLER_IDENTITY_DIR, read_only=True
        )
        return [mount], {token_file_variable(self.api): token_file(self.api)}, [self.container]


def api_service(context: DockerContext) -> ServiceSpec | None:
    """The stack's API service (the backend), if it is enabled."""
    return next((s for s in context.catalog if is_api(context.catalog, s)), None)
