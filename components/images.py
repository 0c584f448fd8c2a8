"""Builds the service-code images: the shared base hierarchy, then the in-house services.

Each base image is built FROM its parent (passed as the BASE_IMAGE build arg), so the layer
sharing the analysis asks for comes from the hierarchy in the catalog. In prod the images are
pushed to ECR repositories created here (scan on push, immutable tags, KMS-encrypted); on a
local Docker engine they are loaded into the engine and never pushed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from stacks.catalog import SERVICE_CODE_DIR, Catalog


@dataclass(frozen=True)
class ImagesArgs:
    catalog: Catalog
    tag: str
    # Push to this registry host (e.g. 123.dkr.ecr.us-east-1.amazonaws.com); None: create ECR.
    registry: str | None
    # False on a local Docker engine: build and load, never push.
    push: bool
    # Retain repositories (and the images in them) when the stack is destroyed.
    protect: bool = False
    aws_provider: aws.Provider | None = None
    service_code_dir: Path = SERVICE_CODE_DIR


class ServiceImages(pulumi.ComponentResource):
    """One `docker-build:Image` per base image and per enabled in-house service."""

    refs: dict[str, pulumi.Output[str]]
    repositories: dict[str, aws.ecr.Repository]

    def __init__(self, name: str, args: ImagesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sutazai:images:ServiceImages", name, None, opts)
        self.refs = {}
        self.repositories = {}
        self._args = args
        self._name_prefix = f"{name}-"
        registries = self._registry_credentials() if args.push else None
        images: dict[str, docker_build.Image] = {}

        for base in args.catalog.base_images:
            parent_ref = (
                self.refs[base.parent]
                if base.parent
                else pulumi.Output.from_input(args.catalog.root_base_image.reference)
            )
            depends = [images[base.parent]] if base.parent else []
            images[base.name] = self._build(base.name, base.path, parent_ref, registries, depends)

        for spec in args.catalog:
            if spec.build is None:
                continue
            if spec.build.base == "root":
                parent_ref = pulumi.Output.from_input(args.catalog.root_base_image.reference)
                depends = []
            else:
                parent_ref = self.refs[spec.build.base]
                depends = [images[spec.build.base]]
            images[spec.name] = self._build(
                spec.name, spec.build.path, parent_ref, registries, depends
            )
        self.images = images
        self.register_outputs({"refs": self.refs})

    def _repository_url(self, image: str) -> pulumi.Output[str]:
        args = self._args
        if args.registry is not None:
            return pulumi.Output.from_input(f"{args.registry}/sutazai/{image}")
        repo = aws.ecr.Repository(
            f"{self._name_prefix}{image}",
            name=f"sutazai/{image}",
            image_scanning_configuration=aws.ecr.RepositoryImageScanningConfigurationArgs(
                scan_on_push=True
            ),
            image_tag_mutability="IMMUTABLE",
            encryption_configurations=[
                aws.ecr.RepositoryEncryptionConfigurationArgs(encryption_type="KMS")
            ],
            force_delete=not args.protect,
            opts=pulumi.ResourceOptions(
                parent=self, provider=args.aws_provider, protect=args.protect
            ),
        )
        aws.ecr.LifecyclePolicy(
            f"{self._name_prefix}{image}",
            repository=repo.name,
            # Keep the last 30 images; immutable tags mean old ones otherwise pile up forever.
            policy=(
                '{"rules":[{"rulePriority":1,"description":"keep last 30",'
                '"selection":{"tagStatus":"any","countType":"imageCountMoreThan",'
                '"countNumber":30},"action":{"type":"expire"}}]}'
            ),
            opts=pulumi.ResourceOptions(parent=repo, provider=args.aws_provider),
        )
        self.repositories[image] = repo
        return repo.repository_url

    def _registry_credentials(self) -> list[docker_build.RegistryArgs] | None:
        if self._args.registry is not None:
            return None  # the builder's own login (docker login) is used for other registries
        token = aws.ecr.get_authorization_token_output(
            opts=pulumi.InvokeOutputOptions(provider=self._args.aws_provider)
        )
        return [
            docker_build.RegistryArgs(
                address=token.proxy_endpoint,
                username=token.user_name,
                password=pulumi.Output.secret(token.password),
            )
        ]

    def _build(
        self,
        image: str,
        path: str,
        base_ref: pulumi.Input[str],
        registries: list[docker_build.RegistryArgs] | None,
        depends_on: list[docker_build.Image],
    ) -> docker_build.Image:
        args = self._args
        context = args.service_code_dir / path
        tag = pulumi.Output.concat(self._repository_url(image), ":", args.tag)
        built = docker_build.Image(
            f"{self._name_prefix}{image}",
            context=docker_build.BuildContextArgs(location=str(context)),
            dockerfile=docker_build.DockerfileArgs(location=str(context / "Dockerfile")),
            build_args={"BASE_IMAGE": base_ref},
            platforms=[docker_build.Platform.LINUX_AMD64],
            tags=[tag],
            push=args.push,
            load=not args.push,
            registries=registries,
            labels={"org.opencontainers.image.source": f"service-code/{path}"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
        # Pushed images are referenced by digest (immutable); local ones by their tag.
        self.refs[image] = built.ref if args.push else tag
        return built
