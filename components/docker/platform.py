"""The Docker workload renderer: one catalog `ServiceSpec` -> hardened containers and volumes.

The hardening lives in one place, `hardened()`: numeric non-root user, read-only root
filesystem, tmpfs for exactly the writable paths, drop ALL capabilities, no-new-privileges,
memory/swap/CPU limits, an init process and bounded logs (the service containers add a
healthcheck and restart `unless-stopped`). Every service container is built from it; the
helper containers (volume ownership, model preload, an issuer's provisioning) and the dev
Vault server (components/docker/vault.py, a `rules.ContainerProfile` of its own) take the
same settings and say what differs.

What a container reads comes from the same shared code as on Kubernetes: its config files
(`components.configs`: the catalog's and the generated ones, uploaded read-only), its
secrets (the Secrets component's files, uploaded read-only), and how it starts
(`components.launch`: `${provisioning}` filled in, the env file sourced).

Secrets on Docker are NOT in memory: the engine copies uploads into a created container
before it starts, and with a read-only root it takes them only into a volume (a tmpfs is not
mounted yet at that moment). So /vault/secrets is a per-container named volume on the host's
disk (/var/lib/docker/volumes), in plain text there, readable by root and the docker group
on the host (who can read any container anyway). In Pulumi state the contents are secrets.
The volume's name carries a digest of the file paths, so when a service's set of secret files
changes the container gets a fresh volume and the old one (with files of removed secrets)
is deleted. Dev stacks only; prod (Kubernetes) uses the Vault Agent's in-memory volume.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import pulumi
import pulumi_docker as docker

from components import configs, launch
from components.configs import observability
from components.configs.alertmanager import AlertDelivery
from components.docker import owners, rules
from components.docker.health import healthcheck_for
from components.platform import DeployedService, edge_env, is_api, oidc_issuers, serves_browser
from stacks.catalog import Catalog, Resources, Segment, ServiceSpec
from stacks.config import StackConfig, model_slug
from stacks.errors import ConfigError
from stacks.wiring import AddressOf, service_env

if TYPE_CHECKING:
    from components.docker.issuer import DevIssuer
    from components.images import ServiceImages

LABEL_PREFIX = "ai.sutazai"
ROLE_SERVICE = "service"
ROLE_VOLUME_INIT = "volume-init"
ROLE_MODEL_PRELOAD = "model-preload"
ROLE_PROVISIONING = "provisioning"
# One-shot helpers run as their service's user with resources of their own.
VOLUME_INIT_RESOURCES = Resources(cpu="100m", memory="16Mi", cpu_limit="100m", memory_limit="32Mi")
PROVISIONING_RESOURCES = Resources(
    cpu="100m", memory="64Mi", cpu_limit="500m", memory_limit="512Mi"
)
PRELOAD_RESOURCES = Resources(cpu="100m", memory="64Mi", cpu_limit="500m", memory_limit="256Mi")
# Container output is bounded: json-file rotation, or the same bound for Docker's local copy
# (dual logging) when it goes to the stack's log receiver.
LOG_ROTATION = {"max-size": "10m", "max-file": "3"}


class DockerSecretSource(Protocol):
    """What the renderer needs from the Secrets component (components/secrets.py)."""

    def docker_secret_files(
        self, spec: ServiceSpec, address_of: AddressOf | None = None
    ) -> dict[str, pulumi.Output[str]]:
        """Container path under /vault/secrets -> secret content (an Output.secret)."""
        ...

    def file_env(self, spec: ServiceSpec) -> dict[str, str]:
        """Env that points the service at its files, e.g. POSTGRES_PASSWORD_FILE."""
        ...

    def env_file(self, spec: ServiceSpec) -> str | None:
        """The env file the container sources before its entrypoint, if any."""
        ...

    def provisioning_file(self, spec: ServiceSpec) -> str | None:
        """An issuer's server-side client file (its --aclfile, its roles SQL), if any."""
        ...


@dataclass(frozen=True)
class DockerContext:
    """What every container of a stack shares (built by DockerInfrastructure)."""

    prefix: str  # e.g. sutazai-dev: container, network and volume names start with it
    stack: str
    config: StackConfig
    catalog: Catalog
    networks: Mapping[Segment, docker.Network]
    labels: Mapping[str, str] = field(default_factory=dict)
    # The volume-owner helper image (components/docker/owners.py), when any service has storage.
    owner_image: docker.RemoteImage | None = None
    # 127.0.0.1 UDP port of the stack's log receiver (Alloy's gelf listener), when it runs.
    log_receiver_port: int | None = None

    def container_name(self, service: str) -> str:
        return f"{self.prefix}-{service}"

    def volume_name(self, service: str, purpose: str) -> str:
        return f"{self.prefix}-{service}-{purpose}"


def _labels(values: Mapping[str, str]) -> list[docker.ContainerLabelArgs]:
    return [docker.ContainerLabelArgs(label=k, value=v) for k, v in sorted(values.items())]


def _volume_labels(values: Mapping[str, str]) -> list[docker.VolumeLabelArgs]:
    return [docker.VolumeLabelArgs(label=k, value=v) for k, v in sorted(values.items())]


def logging_for(log_receiver_port: int | None) -> dict[str, Any]:
    """Where container output goes: rotated json files, or the stack's log receiver.

    With Alloy in the stack, the engine itself sends each line (gelf over UDP, to Alloy's
    port on the host's loopback) with the container's service and tier labels; no container
    needs the Docker socket or the host's log files. `docker logs` keeps working from
    Docker's local copy (dual logging), bounded like json-file.
    """
    if log_receiver_port is None:
        return {"log_driver": "json-file", "log_opts": dict(LOG_ROTATION)}
    return {
        "log_driver": "gelf",
        "log_opts": {
            "gelf-address": f"udp://127.0.0.1:{log_receiver_port}",
            "labels": ",".join(observability.GELF_LABELS),
            **{f"cache-{key}": value for key, value in LOG_ROTATION.items()},
        },
    }


def hardened(profile: rules.Profile, *, logging: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The container settings every SutazAI container gets (design invariant 2).

    `profile`: a catalog service, or the `rules.ContainerProfile` of a container that is
    none: a service's one-shot helper (`rules.helper_profile`), the dev Vault server.
    """
    resources = profile.resources
    return {
        "user": f"{profile.uid}:{profile.gid}",
        "read_only": True,
        "tmpfs": rules.tmpfs_for(profile),
        "capabilities": docker.ContainerCapabilitiesArgs(drops=["ALL"]),
        "security_opts": ["no-new-privileges:true"],
        "memory": rules.memory_mb(resources.memory_limit),
        "memory_reservation": rules.memory_mb(resources.memory),
        # No swap beyond the limit: a runaway service is stopped, not paged to disk.
        "memory_swap": rules.memory_mb(resources.memory_limit),
        "cpus": rules.docker_cpus(resources.cpu_limit),
        "cpu_shares": rules.cpu_shares(resources.cpu),
        "init": True,
        **(logging if logging is not None else logging_for(None)),
    }


def secrets_volume_suffix(purpose: str, secret_files: Mapping[str, object]) -> str:
    """<purpose>-<digest of the file paths>: a new set of secret files is a new volume, so no
    file of a removed secret stays behind on the host (paths only, never contents)."""
    digest = hashlib.sha256("\n".join(sorted(secret_files)).encode()).hexdigest()[:8]
    return f"{purpose}-{digest}"


class DockerPlatform:
    """`Platform` for a local Docker engine: tiers call `deploy(spec, parent)`."""

    def __init__(
        self,
        context: DockerContext,
        *,
        images: ServiceImages,
        secrets: DockerSecretSource,
        provider: pulumi.ProviderResource | None = None,
        parent: pulumi.Resource | None = None,
    ) -> None:
        self._ctx = context
        self._images = images
        self._secrets = secrets
        self._provider = provider
        self._host_ports = rules.ingress_host_ports(context.catalog, context.stack)
        self._logging = logging_for(context.log_receiver_port)
        self.addressing = configs.Addressing(
            host=lambda spec: context.container_name(spec.name),
            gelf_port=observability.GELF_PORT if context.log_receiver_port else None,
            stack_label=context.stack,
            address_of=context.container_name,
            alert_delivery=AlertDelivery(alerting=context.config.alerting),
        )
        self.containers: dict[str, docker.Container] = {}
        self.issuer = self._dev_issuer(parent)

    # --- the Platform interface -----------------------------------------------------------

    def deploy(self, spec: ServiceSpec, parent: pulumi.Resource) -> DeployedService:
        ctx = self._ctx
        opts = pulumi.ResourceOptions(parent=parent, provider=self._provider)
        labels = {
            **ctx.labels,
            f"{LABEL_PREFIX}.service": spec.name,
            f"{LABEL_PREFIX}.tier": spec.tier.value,
        }
        image = self._image(spec, opts)
        created: list[pulumi.Resource] = [image]

        volumes: list[docker.ContainerVolumeArgs] = []
        waits_for: list[pulumi.Resource] = []
        if spec.storage is not None:
            # Not retained on destroy: dev and dev-<owner> stacks are disposable and must
            # destroy cleanly (design invariant 5); their data is reproducible test data. A
            # developer who wants to keep a volume across a destroy can `docker volume create`
            # it outside the stack. Prod data lives on protected/retained AWS resources.
            data = docker.Volume(
                ctx.volume_name(spec.name, "data"),
                name=ctx.volume_name(spec.name, "data"),
                labels=_volume_labels({**labels, f"{LABEL_PREFIX}.purpose": "data"}),
                opts=opts,
            )
            volumes.append(
                docker.ContainerVolumeArgs(volume_name=data.name, container_path=spec.storage.path)
            )
            init = self._volume_init(spec, data, labels, opts)
            created += [data, init]
            waits_for.append(init)

        config_files = configs.config_files(spec, ctx.catalog, self.addressing)
        secret_files = self._secrets.docker_secret_files(spec, ctx.container_name)
        for mount in rules.file_mounts(spec, sorted(secret_files), sorted(config_files)):
            suffix = mount.volume_suffix
            if mount.purpose == "secrets":
                suffix = secrets_volume_suffix(suffix, secret_files)
            files = docker.Volume(
                ctx.volume_name(spec.name, suffix),
                name=ctx.volume_name(spec.name, suffix),
                labels=_volume_labels({**labels, f"{LABEL_PREFIX}.purpose": mount.purpose}),
                opts=opts,
            )
            volumes.append(
                docker.ContainerVolumeArgs(volume_name=files.name, container_path=mount.path)
            )
            created.append(files)

        token_env: Mapping[str, str] = {}
        if self.issuer is not None:
            mounts, token_env, issued_by = self.issuer.caller_identity(spec)
            volumes += mounts
            waits_for += issued_by  # its token file exists before it starts

        provisioning_file = self._secrets.provisioning_file(spec)
        command, args = launch.command_and_args(
            spec, env_file=self._secrets.env_file(spec), provisioning_file=provisioning_file
        )
        container = docker.Container(
            ctx.container_name(spec.name),
            name=ctx.container_name(spec.name),
            image=image.image_id,
            entrypoints=command,
            command=args,
            envs=self._env(spec, token_env),
            volumes=volumes,
            uploads=self._uploads(spec, secret_files, config_files),
            networks_advanced=[
                docker.ContainerNetworksAdvancedArgs(name=ctx.networks[s].name, aliases=[spec.name])
                for s in rules.network_segments(spec, ctx.catalog)
            ],
            ports=self._ports(spec),
            gpus=self._gpus(spec),
            restart="unless-stopped",
            destroy_grace_seconds=30,
            labels=_labels({**labels, f"{LABEL_PREFIX}.role": ROLE_SERVICE}),
            **self._health(spec),
            **hardened(spec, logging=self._logging),
            opts=pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(
                    depends_on=waits_for,
                    # Upload contents are secrets; keep them encrypted in state whatever
                    # the provider schema says (it does not mark `uploads` secret).
                    additional_secret_outputs=["uploads"],
                ),
            ),
        )
        created.append(container)
        self.containers[spec.name] = container

        if spec.preload_models and ctx.config.ollama_models:
            created += self._preload_models(spec, image, container, labels, opts)
        apply = launch.provisioning_command(spec, provisioning_file)
        if apply is not None:
            created += self._provision(spec, image, container, apply, secret_files, labels, opts)
        return DeployedService(spec=spec, host=ctx.container_name(spec.name), resources=created)

    # --- pieces ---------------------------------------------------------------------------

    def _image(
        self, spec: ServiceSpec, opts: pulumi.ResourceOptions, *, user: str | None = None
    ) -> docker.RemoteImage:
        """The image by ID, so a new build or a new pin replaces the container. `user`: the
        container that runs it, when it is not the service's own (the dev issuer)."""
        name = f"{self._ctx.prefix}-{user or spec.name}-image"
        if spec.image is not None:
            # Upstream: pulled once by its pinned reference, kept for the next stack.
            return docker.RemoteImage(name, name=spec.image.reference, keep_locally=True, opts=opts)
        # In-house: built and loaded into the engine by ServiceImages (never pushed); this
        # only resolves the local tag to an image ID. A changed build context replaces it.
        built = self._images.images[spec.name]
        return docker.RemoteImage(
            name,
            name=self._images.refs[spec.name],
            keep_locally=True,
            triggers={"context": built.context_hash},
            opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(depends_on=[built])),
        )

    def _dev_issuer(self, parent: pulumi.Resource | None) -> DevIssuer | None:
        """The stack's dev issuer (components/docker/issuer.py) while authentication is on
        and the API runs: workload tokens, and users' with identityProvider.kind local."""
        from components.docker.issuer import DevIssuer, api_service

        ctx = self._ctx
        api = api_service(ctx)
        if ctx.config.edge.authentication != "required" or api is None:
            return None
        # The API's image ships the issuer (app.dev_issuer).
        image = self._image(
            api, pulumi.ResourceOptions(parent=parent, provider=self._provider), user="dev-issuer"
        )
        return DevIssuer(
            ctx.container_name("dev-issuer"),
            context=ctx,
            api=api,
            image_id=image.image_id,
            opts=pulumi.ResourceOptions(parent=parent, provider=self._provider),
        )

    def _env(
        self, spec: ServiceSpec, token_env: Mapping[str, str] | None = None
    ) -> list[pulumi.Output[str]]:
        ctx = self._ctx
        env: dict[str, pulumi.Input[str]] = dict(service_env(spec, ctx.catalog, ctx.container_name))
        env.update(token_env or {})
        if self.issuer is not None and serves_browser(ctx.catalog, spec):
            env.update(self.issuer.browser_env())
        if is_api(ctx.catalog, spec):
            # Docker has no load balancer: the backend verifies the dev issuer's tokens
            # (workloads; users with identityProvider.kind local) and an external OIDC
            # issuer's, or authentication is off (dev only; the config says which).
            issuers: list[pulumi.Input[dict[str, object]]] = list(oidc_issuers(ctx.config))
            if self.issuer is not None:
                issuers += self.issuer.backend_issuers()
            env.update(edge_env(ctx.config, issuers))
        for key, value in self._secrets.file_env(spec).items():
            if key in env:
                raise ConfigError(
                    "service catalog",
                    [f"services.{spec.name}.env.{key}: clashes with the secret file variable"],
                )
            env[key] = value
        return [pulumi.Output.concat(key, "=", env[key]) for key in sorted(env)]

    def _uploads(
        self,
        spec: ServiceSpec,
        secret_files: Mapping[str, pulumi.Output[str]],
        config_files: Mapping[str, pulumi.Input[str]] | None = None,
    ) -> list[docker.ContainerUploadArgs]:
        """Secrets and config files, root-owned and read-only for the service user."""
        uploads = [
            docker.ContainerUploadArgs(
                file=path,
                content=pulumi.Output.secret(content),
                owner="0",
                group=str(spec.gid),
                permissions="0440",
            )
            for path, content in sorted(secret_files.items())
        ]
        uploads += [
            docker.ContainerUploadArgs(file=path, content=content, owner="0", permissions="0444")
            for path, content in sorted((config_files or {}).items())
        ]
        return uploads

    def _ports(self, spec: ServiceSpec) -> list[docker.ContainerPortArgs]:
        """127.0.0.1 only: an ingress service's ports, and the log receiver's UDP port."""
        ports = [
            docker.ContainerPortArgs(
                internal=port.port,
                external=self._host_ports[(spec.name, port.name)],
                ip="127.0.0.1",
                protocol=port.protocol.lower(),
            )
            for port in spec.ports
            if spec.ingress
        ]
        receiver = self._ctx.log_receiver_port
        if receiver is not None and spec.name == observability.LOG_SHIPPER:
            ports.append(
                docker.ContainerPortArgs(
                    internal=observability.GELF_PORT,
                    external=receiver,
                    ip="127.0.0.1",
                    protocol="udp",
                )
            )
        return ports

    def _gpus(self, spec: ServiceSpec) -> str | None:
        if spec.gpu is None:
            return None
        if self._ctx.config.docker_host_gpu:
            return "all"  # a device request for the NVIDIA runtime (NVIDIA Container Toolkit)
        # A required GPU without dockerHostGpu is refused by the config (catalog_problems).
        return None  # CPU inference with the small models of ollamaModels

    def _health(self, spec: ServiceSpec) -> dict[str, Any]:
        check = healthcheck_for(spec)
        if check is None:
            return {"wait": False}
        return {
            "healthcheck": docker.ContainerHealthcheckArgs(
                tests=check.tests,
                interval=check.interval,
                timeout=check.timeout,
                retries=check.retries,
                start_period=check.start_period,
            ),
            # `pulumi up` waits until the service is healthy: a broken container fails the
            # update instead of restarting quietly.
            "wait": True,
            "wait_timeout": spec.health.startup_seconds + 120,
        }

    def _volume_init(
        self,
        spec: ServiceSpec,
        volume: docker.Volume,
        labels: Mapping[str, str],
        opts: pulumi.ResourceOptions,
    ) -> docker.Container:
        """Hand a new data volume to the service user (Docker's stand-in for fsGroup).

        A one-shot container of the volume-owner image, as hardened as a service and running
        as the service user, mounts the empty volume over a directory that user owns; Docker
        copies that owner and mode to the volume. See components/docker/owners.py.
        """
        ctx = self._ctx
        if ctx.owner_image is None:
            raise ValueError("DockerContext.owner_image is required for services with storage")
        name = ctx.container_name(f"{spec.name}-volume-init")
        return docker.Container(
            name,
            name=name,
            image=ctx.owner_image.image_id,
            entrypoints=["true"],
            volumes=[
                docker.ContainerVolumeArgs(
                    volume_name=volume.name, container_path=owners.owner_dir(spec.uid, spec.gid)
                )
            ],
            network_mode="none",
            must_run=False,
            attach=True,
            restart="no",
            labels=_labels({**labels, f"{LABEL_PREFIX}.role": ROLE_VOLUME_INIT}),
            **hardened(rules.helper_profile(spec, VOLUME_INIT_RESOURCES), logging=self._logging),
            opts=opts,
        )

    def _provision(
        self,
        spec: ServiceSpec,
        image: docker.RemoteImage,
        server: docker.Container,
        apply: list[str],
        secret_files: Mapping[str, pulumi.Output[str]],
        labels: Mapping[str, str],
        opts: pulumi.ResourceOptions,
    ) -> Sequence[pulumi.Resource]:
        """Apply the issuer's provisioning file (roles SQL, user script) to the running server.

        A one-shot container of the server's image, user and hardening, in the server's
        network namespace (so the catalog's apply command reaches it on 127.0.0.1, as the
        postStart hook does on Kubernetes), with the server's env and secret files. It starts
        once the server is healthy; `pulumi up` waits for it and fails if it does. A changed
        file (a client added, a password rotated) changes its uploads, so it runs again.
        """
        ctx = self._ctx
        name = ctx.container_name(f"{spec.name}-provisioning")
        suffix = secrets_volume_suffix("provisioning-secrets", secret_files)
        files = docker.Volume(
            ctx.volume_name(spec.name, suffix),
            name=ctx.volume_name(spec.name, suffix),
            labels=_volume_labels({**labels, f"{LABEL_PREFIX}.purpose": "secrets"}),
            opts=opts,
        )
        (mount,) = rules.file_mounts(spec, sorted(secret_files), [])
        job = docker.Container(
            name,
            name=name,
            image=image.image_id,
            entrypoints=apply,
            envs=self._env(spec),
            volumes=[docker.ContainerVolumeArgs(volume_name=files.name, container_path=mount.path)],
            uploads=self._uploads(spec, secret_files),
            network_mode=pulumi.Output.concat("container:", server.name),
            must_run=False,
            attach=True,
            restart="no",
            labels=_labels({**labels, f"{LABEL_PREFIX}.role": ROLE_PROVISIONING}),
            **hardened(
                rules.helper_profile(spec, PROVISIONING_RESOURCES, ["/tmp"]), logging=self._logging
            ),
            opts=pulumi.ResourceOptions.merge(
                opts,
                pulumi.ResourceOptions(
                    depends_on=[server],
                    additional_secret_outputs=["uploads"],
                    custom_timeouts=pulumi.CustomTimeouts(create="15m"),
                ),
            ),
        )
        return [files, job]

    def _preload_models(
        self,
        spec: ServiceSpec,
        image: docker.RemoteImage,
        server: docker.Container,
        labels: Mapping[str, str],
        opts: pulumi.ResourceOptions,
    ) -> Sequence[pulumi.Resource]:
        """`ollama pull <model>` against the running server, once per model.

        A one-shot client container with the same image and hardening, on the server's
        network. It starts after the server is healthy (`wait` on the server) and `pulumi up`
        waits for it to finish (`attach`), so the stack is ready when `up` returns. The
        models land in the server's data volume and survive container replacement; the pull
        reruns only when the model list or the image changes.
        """
        ctx = self._ctx
        port = spec.primary_port.port
        pulls: list[pulumi.Resource] = []
        for model in ctx.config.ollama_models:
            # The config refuses two models with one slug (they would share this name).
            name = ctx.container_name(f"{spec.name}-pull-{model_slug(model)}")
            pulls.append(
                docker.Container(
                    name,
                    name=name,
                    image=image.image_id,
                    entrypoints=["/bin/ollama"],
                    command=["pull", model],
                    envs=[
                        f"OLLAMA_HOST=http://{ctx.container_name(spec.name)}:{port}",
                        "HOME=/tmp",
                    ],
                    networks_advanced=[
                        docker.ContainerNetworksAdvancedArgs(name=ctx.networks[spec.segment].name)
                    ],
                    must_run=False,
                    attach=True,
                    restart="no",
                    labels=_labels(
                        {
                            **labels,
                            f"{LABEL_PREFIX}.role": ROLE_MODEL_PRELOAD,
                            f"{LABEL_PREFIX}.model": model,
                        }
                    ),
                    **hardened(
                        rules.helper_profile(spec, PRELOAD_RESOURCES, ["/tmp"]),
                        logging=self._logging,
                    ),
                    opts=pulumi.ResourceOptions.merge(
                        opts,
                        pulumi.ResourceOptions(
                            depends_on=[server],
                            custom_timeouts=pulumi.CustomTimeouts(create="60m"),
                        ),
                    ),
                )
            )
        return pulls
