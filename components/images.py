"""Builds the service-code images: the shared base hierarchy, then the in-house services.

Each image is built FROM its parent (the BASE_IMAGE build arg), so the layer sharing the
analysis asks for comes from the hierarchy in the catalog. The parent's reference is its
pushed digest in prod and its content tag locally; either changes with the parent, so a
changed base rebuilds every image above it.

Tags are `<imageTag>-<content>`: <content> is 12 hex digits of a SHA-256 over the build
context as Docker sees it (`.dockerignore` applied: each file's path, executable bit and
bytes) and over the parent's content (or the pinned root image). A code change is a new tag,
which ECR's immutable tags accept; unchanged code keeps its tag and nothing is rebuilt.
Build contexts are paths relative to the project directory, where Pulumi runs the program,
so the state is the same from every checkout.

Builds happen on `pulumi up` only (`build_on_preview=False`: a preview never builds). Pushed
builds read and write a registry cache next to their image, tagged `buildcache-<deps>`:
<deps> is 12 hex digits of a SHA-256 over the parent's content and the context's Dockerfile
and dependency manifests (requirements, constraints, pyproject, package.json). A code-only
change keeps that key, so its build reuses the dependency layers from the cache and rebuilds
only its own; a changed manifest or parent gets a new cache. Each cache tag is written once
(ECR's immutable tags refuse a rewrite, which the build ignores).

Repositories: `sutazai/<image>` for the `prod` stack (the names its protected repositories
already have), `sutazai/<stack>/<image>` for every other stack. The shared dev cluster and
each ephemeral stack in the prod account (or on one Docker engine) then own their
repositories and tags: no stack pushes into, or on destroy deletes, another's. Without
`imageRegistry` they are ECR repositories created here (scan on push, immutable tags,
KMS-encrypted; destroyed with a non-prod stack); on a local Docker engine the images are
loaded into the engine and never pushed.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import re
from dataclasses import dataclass
from pathlib import Path

import pulumi
import pulumi_aws as aws
import pulumi_docker_build as docker_build

from components.vault.layout import stack_slug
from stacks.catalog import PROJECT_DIR, SERVICE_CODE_DIR, Catalog

# The stack whose repositories keep the names they were created with: sutazai/<image>.
PROD_STACK = "prod"
CONTENT_DIGITS = 12
CACHE_TAG_PREFIX = "buildcache-"
# Context files that decide the dependency layers: the registry cache key.
DEPENDENCY_FILES = re.compile(
    r"(?:^|/)(?:Dockerfile|requirements[^/]*\.txt|constraints[^/]*\.txt|pyproject\.toml"
    r"|package(?:-lock)?\.json)\Z"
)
# Docker refuses tags longer than this.
MAX_TAG_LENGTH = 128


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
    # Build contexts are handed to docker-build relative to this directory.
    project_dir: Path = PROJECT_DIR
    # Names the repositories; default: the running stack.
    stack: str | None = None


def repository_name(stack: str, image: str) -> str:
    """sutazai/<image> for prod, sutazai/<stack>/<image> for every other stack."""
    if stack == PROD_STACK:
        return f"sutazai/{image}"
    return f"sutazai/{stack_slug(stack)}/{image}"


# --- the build context as Docker sees it ---------------------------------------------------


def _pattern_regex(pattern: str) -> re.Pattern[str]:
    """A .dockerignore pattern (Go filepath.Match plus `**`) as a regex over a relative path."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            out.append(".*")
            i += 2
        elif pattern[i] == "*":
            out.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            out.append("[^/]")
            i += 1
        else:
            end = pattern.find("]", i + 2) if pattern[i] == "[" else -1
            if end > 0:
                members = pattern[i + 1 : end]
                negate = members[:1] in ("!", "^")
                body = re.escape(members[1:] if negate else members).replace("\\-", "-")
                out.append(f"[{'^' if negate else ''}{body}]")
                i = end + 1
            else:
                out.append(re.escape(pattern[i]))
                i += 1
    return re.compile("".join(out) + r"\Z")


def dockerignore(context: Path) -> list[tuple[re.Pattern[str], bool]]:
    """The context's .dockerignore as (pattern, excludes) pairs, in file order."""
    path = context / ".dockerignore"
    rules: list[tuple[re.Pattern[str], bool]] = []
    if not path.is_file():
        return rules
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        keep = line.startswith("!")
        pattern = posixpath.normpath(line.removeprefix("!").strip()).lstrip("/")
        rules.append((_pattern_regex(pattern), not keep))
    return rules


def _ignored(relative: str, rules: list[tuple[re.Pattern[str], bool]]) -> bool:
    """Docker's rule: the last pattern that matches the path or one of its parents wins."""
    parts = relative.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for regex, excludes in rules:
        if any(regex.match(c) for c in candidates):
            ignored = excludes
    return ignored


def context_files(context: Path) -> list[str]:
    """Relative paths of the files Docker sends for `context`, sorted."""
    rules = dockerignore(context)
    found: list[str] = []
    for root, dirs, files in os.walk(context):
        dirs.sort()
        for name in files:
            relative = (Path(root) / name).relative_to(context).as_posix()
            if not _ignored(relative, rules):
                found.append(relative)
    return sorted(found)


def context_digest(context: Path, parent: str) -> str:
    """SHA-256 over the build context's files (path, executable bit, bytes) and `parent`."""
    digest = hashlib.sha256(f"parent={parent}\n".encode())
    for relative in context_files(context):
        path = context / relative
        if path.is_symlink():
            content = f"symlink:{os.readlink(path)}".encode()
            mode = "l"
        else:
            content = path.read_bytes()
            mode = "x" if os.access(path, os.X_OK) else "-"
        digest.update(f"{relative}\0{mode}\0".encode())
        digest.update(hashlib.sha256(content).digest())
    return digest.hexdigest()


def dependency_digest(context: Path, parent: str) -> str:
    """SHA-256 over `parent` and the context's Dockerfile and dependency manifests."""
    digest = hashlib.sha256(f"parent={parent}\n".encode())
    for relative in context_files(context):
        if DEPENDENCY_FILES.search(relative):
            digest.update(f"{relative}\0".encode())
            digest.update(hashlib.sha256((context / relative).read_bytes()).digest())
    return digest.hexdigest()


def cache_tag(digest: str) -> str:
    return f"{CACHE_TAG_PREFIX}{digest[:CONTENT_DIGITS]}"


def content_tag(tag: str, digest: str) -> str:
    full = f"{tag}-{digest[:CONTENT_DIGITS]}"
    # StackConfig keeps imageTag within IMAGE_TAG_MAX_LENGTH (a test ties the two together).
    assert len(full) <= MAX_TAG_LENGTH, full
    return full


# --- the component -------------------------------------------------------------------------


class ServiceImages(pulumi.ComponentResource):
    """One `docker-build:Image` per base image and per enabled in-house service."""

    refs: dict[str, pulumi.Output[str]]
    repositories: dict[str, aws.ecr.Repository]
    # Image -> its content digest (the build context's, chained through its parents).
    digests: dict[str, str]
    # Image -> its registry cache key (its dependency manifests and its parent's content).
    cache_keys: dict[str, str]

    def __init__(self, name: str, args: ImagesArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("sutazai:images:ServiceImages", name, None, opts)
        self.refs = {}
        self.repositories = {}
        self.digests = {}
        self.cache_keys = {}
        self._args = args
        self._stack = args.stack or pulumi.get_stack()
        self._name_prefix = f"{name}-"
        registries = self._registry_credentials() if args.push else None
        images: dict[str, docker_build.Image] = {}
        root = args.catalog.root_base_image.reference

        # (image, its path under service-code/, its parent image or None for the root)
        builds: list[tuple[str, str, str | None]] = [
            (base.name, base.path, base.parent) for base in args.catalog.base_images
        ]
        for spec in args.catalog:
            if spec.build is not None:
                parent = None if spec.build.base == "root" else spec.build.base
                builds.append((spec.name, spec.build.path, parent))

        for image, path, parent in builds:
            if parent is None:
                parent_ref, parent_key, depends = pulumi.Output.from_input(root), root, []
            else:
                parent_ref = self.refs[parent]
                parent_key, depends = self.digests[parent], [images[parent]]
            self.digests[image] = context_digest(args.service_code_dir / path, parent_key)
            self.cache_keys[image] = dependency_digest(args.service_code_dir / path, parent_key)
            images[image] = self._build(image, path, parent_ref, registries, depends)
        self.images = images
        self.register_outputs({"refs": self.refs})

    def _repository_url(self, image: str) -> pulumi.Output[str]:
        args = self._args
        name = repository_name(self._stack, image)
        if args.registry is not None:
            return pulumi.Output.from_input(f"{args.registry}/{name}")
        repo = aws.ecr.Repository(
            f"{self._name_prefix}{image}",
            name=name,
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

    def _location(self, path: str) -> str:
        """The build context as docker-build gets it: relative to the project directory."""
        context = self._args.service_code_dir / path
        try:
            return context.relative_to(self._args.project_dir).as_posix()
        except ValueError:
            return str(context)  # a context outside the project (tests) stays absolute

    def _build(
        self,
        image: str,
        path: str,
        base_ref: pulumi.Input[str],
        registries: list[docker_build.RegistryArgs] | None,
        depends_on: list[docker_build.Image],
    ) -> docker_build.Image:
        args = self._args
        context = self._location(path)
        repository = self._repository_url(image)
        tag = pulumi.Output.concat(repository, ":", content_tag(args.tag, self.digests[image]))
        cache_from: list[docker_build.CacheFromArgs] | None = None
        cache_to: list[docker_build.CacheToArgs] | None = None
        if args.push:
            cache = pulumi.Output.concat(repository, ":", cache_tag(self.cache_keys[image]))
            cache_from = [
                docker_build.CacheFromArgs(registry=docker_build.CacheFromRegistryArgs(ref=cache))
            ]
            cache_to = [
                docker_build.CacheToArgs(
                    registry=docker_build.CacheToRegistryArgs(
                        ref=cache,
                        mode=docker_build.CacheMode.MAX,
                        image_manifest=True,  # the manifest form ECR stores
                        oci_media_types=True,
                        # Written once per key: an immutable tag refuses the rewrite.
                        ignore_error=True,
                    )
                )
            ]
        built = docker_build.Image(
            f"{self._name_prefix}{image}",
            context=docker_build.BuildContextArgs(location=context),
            dockerfile=docker_build.DockerfileArgs(location=f"{context}/Dockerfile"),
            # The parent's digest (pushed) or content tag (local): a new base rebuilds this.
            build_args={"BASE_IMAGE": base_ref},
            platforms=[docker_build.Platform.LINUX_AMD64],
            tags=[tag],
            push=args.push,
            load=not args.push,
            build_on_preview=False,  # a preview (pull requests, drift) never builds
            cache_from=cache_from,
            cache_to=cache_to,
            registries=registries,
            labels={"org.opencontainers.image.source": f"service-code/{path}"},
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
        # Pushed images are referenced by digest (immutable); local ones by their content tag.
        self.refs[image] = built.ref if args.push else tag
        return built
