"""Workload hardening that applies to both platforms (Kubernetes pods and Docker containers).

One policy per rule; each dispatches to the Kubernetes or the Docker check by resource type,
so a rule has one name, one config entry and one exception list on every stack.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any, Final

from pulumi_policy import EnforcementLevel, Policy, Severity

from . import docker, kubernetes
from .config import is_prod
from .pods import containers_of
from .rules import Finding, Resource, resource_policy
from .values import UNKNOWN, SecretStr, as_dict, as_list, get

_IMAGE_ONLY: Final = frozenset({docker.REMOTE_IMAGE_TYPE, docker.BUILD_IMAGE_TYPE})


def is_workload(type_token: str) -> bool:
    """Any Kubernetes object (pods are found by shape) or a Docker container."""
    return type_token == docker.CONTAINER_TYPE or kubernetes.is_workload_candidate(type_token)


def is_image_user(type_token: str) -> bool:
    return is_workload(type_token) or type_token in _IMAGE_ONLY


Check = Callable[[Resource], Iterator["str | Finding"]]


def _dispatch(k8s: Check | None, dock: Check | None) -> Check:
    def check(res: Resource) -> Iterator[str | Finding]:
        if res.type == docker.CONTAINER_TYPE:
            if dock is not None:
                yield from dock(res)
        elif k8s is not None:
            yield from k8s(res)

    return check


# ---------------------------------------------------------------- images

_DIGEST: Final = re.compile(r"@sha256:[0-9a-f]{64}$")
_IMAGE_ID: Final = re.compile(r"^sha256:[0-9a-f]{64}$")


def parse_image(ref: str) -> tuple[str, str | None, str | None]:
    """'registry:5000/org/app:1.2@sha256:..' -> (name, tag, digest)."""
    name, _, digest = ref.partition("@")
    last = name.rsplit("/", 1)[-1]
    tag: str | None = None
    if ":" in last:
        name, tag = name.rsplit(":", 1)
    return name, tag, (digest or None)


def _image_refs(res: Resource) -> Iterator[tuple[str, Any]]:
    """(where, image reference) for every image the resource runs or publishes."""
    if res.type == docker.CONTAINER_TYPE:
        yield "image", res.props.get("image")
    elif res.type == docker.REMOTE_IMAGE_TYPE:
        yield "name", res.props.get("name")
    elif res.type == docker.BUILD_IMAGE_TYPE:
        tags = res.props.get("tags")
        if tags is not UNKNOWN:
            for i, tag in enumerate(as_list(tags)):
                yield f"tags[{i}]", tag
    else:
        for _, c in containers_of(res):
            yield f"{c.label}.image", c.spec.get("image")


def check_image_pinned(res: Resource) -> Iterator[str]:
    for where, ref in _image_refs(res):
        if ref is UNKNOWN:
            continue  # e.g. docker-build's `ref` output: content-addressed, known at `up`
        if not isinstance(ref, str) or not ref.strip():
            yield f"{where}: no image set. Fix: set an image with an explicit version tag."
            continue
        if _IMAGE_ID.match(ref):
            continue  # a local image ID is content-addressed
        _, tag, digest = parse_image(ref.strip())
        if digest:
            continue
        if tag is None:
            yield (
                f"{where}: image {ref!r} has no tag (means :latest). Fix: pin a version "
                f"tag (and a digest in prod), e.g. {ref}:1.2.3."
            )
        elif tag == "latest":
            yield (
                f"{where}: image {ref!r} uses the mutable tag :latest. Fix: pin a version "
                f"tag, e.g. {ref.rsplit(':', 1)[0]}:1.2.3."
            )


def check_image_digest(res: Resource) -> Iterator[str]:
    if not is_prod() or res.type == docker.BUILD_IMAGE_TYPE:
        return  # built images are pushed by tag and consumed through their digest `ref`
    for where, ref in _image_refs(res):
        if ref is UNKNOWN or not isinstance(ref, str) or not ref.strip():
            continue  # missing images are image-pinned's finding
        if _IMAGE_ID.match(ref) or _DIGEST.search(ref.strip()):
            continue
        yield (
            f"{where}: image {ref!r} is not pinned by digest. "
            f"Fix: reference it as {parse_image(ref)[0]}@sha256:<digest> "
            "(keep the tag for humans: name:tag@sha256:...)."
        )


# ---------------------------------------------------------------- env secrets

SECRET_NAME: Final = re.compile(
    r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_KEY|CREDENTIAL", re.IGNORECASE
)


def is_secret_name(name: str) -> bool:
    # `*_FILE` variables hold a path to a mounted secret (the docker-library convention).
    return bool(SECRET_NAME.search(name)) and not name.upper().endswith("_FILE")


def _literal(value: Any) -> bool:
    return isinstance(value, str) and value != "" and not isinstance(value, SecretStr)


def check_env_secrets(res: Resource) -> Iterator[str]:
    if kubernetes.is_workload_candidate(res.type):
        for _, c in containers_of(res):
            for e in as_list(c.spec.get("env")):
                name = get(e, "name")
                if isinstance(name, str) and is_secret_name(name) and _literal(get(e, "value")):
                    yield (
                        f"{c.label}: env {name} has a literal value. "
                        "Fix: use valueFrom.secretKeyRef "
                        "(Vault-synced Secret) or a *_FILE path to a mounted secret."
                    )
    elif res.type == docker.CONTAINER_TYPE:
        envs = res.props.get("envs")
        for item in as_list(envs):
            if not isinstance(item, str) or isinstance(item, SecretStr):
                continue  # the whole "K=V" string is a Pulumi secret
            name, sep, value = item.partition("=")
            if sep and value and is_secret_name(name.strip()):
                yield (
                    f"envs entry {name.strip()} has a literal value. Fix: pass it as a Pulumi "
                    "secret (pulumi.Output.secret / Vault) or mount it and set "
                    f"{name.strip()}_FILE."
                )
    elif res.type == docker.BUILD_IMAGE_TYPE:
        # Build args end up in the image history, secret or not.
        for name, value in as_dict(res.props.get("buildArgs")).items():
            if is_secret_name(name) and isinstance(value, str) and value:
                yield (
                    f"buildArgs.{name} bakes a secret into the image history. Fix: use the "
                    "docker-build `secrets` input (RUN --mount=type=secret) instead."
                )


# ---------------------------------------------------------------- the policies


def policies() -> list[Policy]:
    return [
        resource_policy(
            "workload-non-root-read-only",
            "Every container runs as a numeric non-root user with a read-only root filesystem "
            "(Kubernetes pods of every kind, init/ephemeral containers, Docker containers). "
            "Always mandatory.",
            is_workload,
            _dispatch(kubernetes.check_non_root_read_only, docker.check_user_read_only),
            remediation=(
                "Kubernetes: runAsNonRoot: true + numeric runAsUser >= 1 + "
                "readOnlyRootFilesystem: true. Docker: user='<uid>:<gid>' (not 0/root) + "
                "read_only=True, writable paths on tmpfs/volumes."
            ),
            severity=Severity.CRITICAL,
        ),
        resource_policy(
            "no-privilege-escalation",
            "Containers cannot gain privileges (k8s allowPrivilegeEscalation: false; "
            "Docker no-new-privileges).",
            is_workload,
            _dispatch(kubernetes.check_privilege_escalation, docker.check_no_new_privileges),
            remediation="allowPrivilegeEscalation: false; Docker: no-new-privileges security opt.",
        ),
        resource_policy(
            "drop-all-capabilities",
            "Containers drop ALL Linux capabilities and add back at most NET_BIND_SERVICE.",
            is_workload,
            _dispatch(kubernetes.check_capabilities, docker.check_capabilities),
            remediation="capabilities.drop: [ALL] (Docker: capabilities={'drops': ['ALL']}).",
        ),
        resource_policy(
            "seccomp-profile",
            "Containers run under a seccomp profile (k8s RuntimeDefault/Localhost; "
            "Docker default not disabled).",
            is_workload,
            _dispatch(kubernetes.check_seccomp, docker.check_seccomp),
            remediation="seccompProfile.type: RuntimeDefault; never seccomp=unconfined.",
        ),
        resource_policy(
            "no-privileged-containers",
            "No container runs privileged.",
            is_workload,
            _dispatch(kubernetes.check_privileged, docker.check_privileged),
            remediation=(
                "Remove privileged; vendor node agents get an explicit exception with a reason."
            ),
            severity=Severity.CRITICAL,
        ),
        resource_policy(
            "no-host-namespaces",
            "Workloads do not share the host's namespaces (k8s hostNetwork/hostPID/hostIPC; "
            "Docker network/pid/ipc/uts/userns/cgroupns mode host).",
            is_workload,
            _dispatch(kubernetes.check_host_namespaces, docker.check_host_namespaces),
            remediation=(
                "Remove hostNetwork/hostPID/hostIPC (Docker: network_mode/pid_mode/ipc_mode "
                "'host')."
            ),
            severity=Severity.CRITICAL,
        ),
        resource_policy(
            "docker-no-host-access",
            "Docker containers get no host access: no host paths (unless a waiver names the "
            "exact path), no engine socket, devices, sysctls, confinement switched off, or "
            "ports published beyond 127.0.0.1.",
            [docker.CONTAINER_TYPE],
            docker.check_host_access,
            remediation="Named volumes instead of bind mounts; publish on 127.0.0.1 only.",
            severity=Severity.CRITICAL,
        ),
        resource_policy(
            "resource-limits",
            "Every container declares resources: k8s requests and limits for cpu and "
            "memory; Docker a memory limit.",
            is_workload,
            _dispatch(kubernetes.check_resources, docker.check_memory),
            remediation="Set resources.requests/limits.{cpu,memory} (Docker: memory=<MiB>).",
            severity=Severity.MEDIUM,
        ),
        resource_policy(
            "image-pinned",
            "Images carry an explicit version tag or digest; never :latest or no tag.",
            is_image_user,
            check_image_pinned,
            remediation="Pin image tags (name:1.2.3) or digests (name@sha256:...).",
        ),
        resource_policy(
            "image-digest-pinned",
            "In prod, images are referenced by digest (@sha256:...). Advisory: tags "
            "are still accepted.",
            is_image_user,
            check_image_digest,
            remediation="Reference prod images as name:tag@sha256:<digest>.",
            severity=Severity.LOW,
            enforcement_level=EnforcementLevel.ADVISORY,
        ),
        resource_policy(
            "no-plaintext-secrets-in-env",
            "Secret-looking environment variables (PASSWORD, SECRET, TOKEN, API_KEY, "
            "PRIVATE_KEY, CREDENTIAL) "
            "never hold literal values.",
            is_image_user,
            check_env_secrets,
            remediation=(
                "Use valueFrom.secretKeyRef, a *_FILE path to a mounted secret, or a Pulumi "
                "secret value."
            ),
            severity=Severity.CRITICAL,
        ),
    ]
