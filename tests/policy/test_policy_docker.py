"""pulumi-docker container rules (the dev stack), called directly."""

from __future__ import annotations

import pytest

from .fixtures import DOCKER_CONTAINER, docker_container
from .harness import UNKNOWN, Mutation, appendp, check, check_all, delp, mutated, secret, setp

BUILD_IMAGE = "docker-build:index:Image"
REMOTE_IMAGE = "docker:index/remoteImage:RemoteImage"


@pytest.mark.parametrize("stack", ["dev", "dev-alice", "prod"])
def test_hardened_container_passes_every_policy(stack: str) -> None:
    assert check_all(DOCKER_CONTAINER, docker_container(), stack=stack) == {}


NON_ROOT = "workload-non-root-read-only"
MUTATIONS: list[tuple[str, str, Mutation]] = [
    (NON_ROOT, "user-0", setp(("user",), "0")),
    (NON_ROOT, "user-0:0", setp(("user",), "0:0")),
    (NON_ROOT, "user-root", setp(("user",), "root")),
    (NON_ROOT, "user-root:x", setp(("user",), "root:x")),
    (NON_ROOT, "user-ROOT", setp(("user",), "ROOT")),
    (NON_ROOT, "user-padded-0", setp(("user",), " 0 ")),
    (NON_ROOT, "user-empty", setp(("user",), "")),
    (NON_ROOT, "user-unset", delp(("user",))),
    (NON_ROOT, "readOnly-false", setp(("readOnly",), False)),
    (NON_ROOT, "readOnly-unset", delp(("readOnly",))),
    ("drop-all-capabilities", "drops-empty", setp(("capabilities", "drops"), [])),
    ("drop-all-capabilities", "capabilities-unset", delp(("capabilities",))),
    ("drop-all-capabilities", "adds-sys-admin", setp(("capabilities", "adds"), ["SYS_ADMIN"])),
    ("drop-all-capabilities", "adds-cap-net-raw", setp(("capabilities", "adds"), ["CAP_NET_RAW"])),
    ("no-privilege-escalation", "securityOpts-empty", setp(("securityOpts",), [])),
    ("no-privilege-escalation", "securityOpts-unset", delp(("securityOpts",))),
    ("no-privilege-escalation", "nnp-false", setp(("securityOpts",), ["no-new-privileges:false"])),
    ("seccomp-profile", "seccomp-unconfined", appendp(("securityOpts",), "seccomp=unconfined")),
    ("no-privileged-containers", "privileged", setp(("privileged",), True)),
    ("no-host-namespaces", "network-host", setp(("networkMode",), "host")),
    ("no-host-namespaces", "pid-host", setp(("pidMode",), "host")),
    ("no-host-namespaces", "ipc-host", setp(("ipcMode",), "host")),
    ("resource-limits", "memory-unset", delp(("memory",))),
    ("resource-limits", "memory-0", setp(("memory",), 0.0)),
    ("image-pinned", "latest", setp(("image",), "postgres:latest")),
    ("image-pinned", "no-tag", setp(("image",), "postgres")),
    ("image-digest-pinned", "tag-only-in-prod", setp(("image",), "postgres:17.6-alpine")),
    ("no-plaintext-secrets-in-env", "api-key", appendp(("envs",), "OPENAI_API_KEY=sk-123")),
    ("no-plaintext-secrets-in-env", "password", appendp(("envs",), "POSTGRES_PASSWORD=postgres")),
]


@pytest.mark.parametrize(
    ("policy", "case", "mutation"), MUTATIONS, ids=[f"{m[0]}:{m[1]}" for m in MUTATIONS]
)
def test_each_mutation_is_caught_by_its_rule(policy: str, case: str, mutation: Mutation) -> None:
    messages = check(policy, DOCKER_CONTAINER, mutated(docker_container(), mutation), stack="prod")
    assert messages, f"{policy} missed {case}"
    assert all(DOCKER_CONTAINER in m and "Fix:" in m for m in messages)


def test_allowed_variants_pass() -> None:
    ok: list[Mutation] = [
        setp(("user",), "1000:1000"),
        setp(("capabilities",), {"drops": ["all"], "adds": ["net_bind_service"]}),
        setp(("securityOpts",), ["no-new-privileges"]),
        setp(("securityOpts",), ["no-new-privileges=true", "apparmor=docker-default"]),
        setp(("image",), "sha256:" + "0" * 64),  # a local image ID
        appendp(("envs",), secret("OPENAI_API_KEY=sk-123")),
        appendp(("envs",), "GRAFANA_ADMIN_PASSWORD_FILE=/run/secrets/grafana"),
        setp(("user",), UNKNOWN),  # computed in preview
    ]
    for m in ok:
        assert check_all(DOCKER_CONTAINER, mutated(docker_container(), m), stack="dev") == {}


@pytest.mark.parametrize(
    "user", ["app", "nobody", "1000", "1000:0", "0:1000", "1000:root", ":1000"]
)
def test_docker_non_root_needs_numeric_non_zero_uid_and_gid(user: str) -> None:
    messages = check(
        "workload-non-root-read-only",
        DOCKER_CONTAINER,
        mutated(docker_container(), setp(("user",), user)),
    )
    assert messages and "user" in messages[0] and "Fix:" in messages[0]


def test_images_of_build_and_remote_image_resources() -> None:
    built = {
        "tags": ["sutazai/backend:1.4.2"],
        "push": False,
        "buildArgs": {"PYTHON_VERSION": "3.11"},
    }
    assert check_all(BUILD_IMAGE, built, stack="prod") == {}
    assert check("image-pinned", BUILD_IMAGE, {**built, "tags": ["sutazai/backend:latest"]})
    assert check("image-pinned", REMOTE_IMAGE, {"name": "redis"})
    assert check("image-pinned", REMOTE_IMAGE, {"name": "redis:7.4-alpine"}) == []
    # Build args land in the image history even when they are Pulumi secrets.
    leaking = {**built, "buildArgs": {"NPM_TOKEN": secret("npm_abc")}}
    assert check("no-plaintext-secrets-in-env", BUILD_IMAGE, leaking)
