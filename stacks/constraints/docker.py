"""Docker (pulumi-docker, docker-build): container, network and volume names, image
references and resource values. Sources: moby (daemon/names, volume/local,
libnetwork/config, daemon/daemon_unix.go verifyPlatformContainerResources) and the
distribution reference grammar (github.com/distribution/reference)."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Any

from stacks.constraints.checks import (
    each,
    integer,
    length,
    matches,
    one_of,
)
from stacks.constraints.core import Check, Resource, Rule, TypeRules, Violation

# moby daemon/names: RestrictedNamePattern for container names (and the local volume
# driver's names): [a-zA-Z0-9][a-zA-Z0-9_.-]+ (at least two characters).
RESTRICTED_NAME = matches(
    r"/?[a-zA-Z0-9][a-zA-Z0-9_.-]+", "[a-zA-Z0-9][a-zA-Z0-9_.-]+ (2+ characters)"
)

# distribution/reference: [host[:port]/]path[:tag][@digest]; path components lowercase
# [a-z0-9]+ joined by . _ __ or -+; a tag [\w][\w.-]{0,127}; a name at most 255 characters.
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_LABEL = r"[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?"
# The first component is a registry only with a '.', a port, or as localhost; otherwise it
# is a (lowercase) path component.
_DOMAIN = (
    rf"(?:localhost(?::\d+)?|{_LABEL}(?:\.{_LABEL})+(?::\d+)?|{_LABEL}:\d+"
    r"|\[[0-9a-fA-F:]+\](?::\d+)?)"
)
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
_REFERENCE = re.compile(
    rf"(?P<name>(?:{_DOMAIN}/)?{_COMPONENT}(?:/{_COMPONENT})*)"
    rf"(?::(?P<tag>[\w][\w.-]{{0,127}}))?(?:@(?P<digest>{_DIGEST}))?"
)


def image_reference(value: Any) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__}"
    if value.startswith("sha256:") and re.fullmatch(r"sha256:[0-9a-f]{64}", value):
        return None  # an image ID
    match = _REFERENCE.fullmatch(value)
    if match is None:
        return "must be an image reference: [registry/]lowercase/path[:tag][@digest]"
    if len(match["name"]) > 255:
        return "an image name is at most 255 characters"
    return None


def _memory_mb(minimum: int) -> Check:
    def check(value: Any) -> str | None:
        if isinstance(value, int) and value != 0 and value < minimum:
            return f"at least {minimum} MB (moby: minimum memory limit 6MB)"
        return None

    return check


def _memory_relations(resource: Resource) -> Iterator[Violation]:
    # moby verifyPlatformContainerResources: memory-swap needs memory and is >= it (or -1);
    # a reservation is at most the limit.
    memory, swap, reserve = (
        resource.inputs.get(k) for k in ("memory", "memorySwap", "memoryReservation")
    )
    if isinstance(swap, int) and swap not in (0, -1):
        if not isinstance(memory, int) or memory <= 0:
            yield resource.violation("memorySwap", swap, "needs a memory limit as well")
        elif swap < memory:
            yield resource.violation("memorySwap", swap, f"must be at least memory ({memory})")
    if isinstance(reserve, int) and isinstance(memory, int) and memory > 0 and reserve > memory:
        yield resource.violation("memoryReservation", reserve, f"must be at most memory ({memory})")


def _env_entry(value: Any) -> str | None:
    if not isinstance(value, str) or "=" not in value or value.startswith("="):
        return "an env entry is NAME=value with a non-empty NAME"
    return None


def _ip(value: Any) -> str | None:
    try:
        ipaddress.ip_address(value)
    except (TypeError, ValueError):
        return "must be an IP address"
    return None


def _absolute(value: Any) -> str | None:
    return None if isinstance(value, str) and value.startswith("/") else "must be an absolute path"


def _keys_absolute(resource: Resource) -> Iterator[Violation]:
    for key in resource.inputs.get("tmpfs") or {}:
        if not str(key).startswith("/"):
            yield resource.violation(f"tmpfs.{key}", key, "a tmpfs mount point is absolute")


def _user(value: Any) -> str | None:
    # A numeric uid[:gid] (hardened containers never run as a name looked up in the image).
    if isinstance(value, str) and re.fullmatch(
        r"\d+(:\d+)?|[a-z_][a-z0-9_-]*(:[a-z0-9_-]+)?", value
    ):
        return None
    return "must be uid[:gid] or user[:group]"


def _networks_exist(resource: Resource) -> Iterator[Violation]:
    # A container joins networks the plan creates (or Docker's own bridge/host/none).
    names = {
        n.inputs.get("name") or n.name
        for n in resource.plan.of_type("docker:index/network:Network")
    }
    for index, network in enumerate(resource.inputs.get("networksAdvanced") or []):
        name = network.get("name")
        if name not in names and name not in ("bridge", "host", "none"):
            yield resource.violation(
                f"networksAdvanced[{index}].name", name, "names no docker Network of the plan"
            )


def _volumes_exist(resource: Resource) -> Iterator[Violation]:
    names = {
        v.inputs.get("name") or v.name for v in resource.plan.of_type("docker:index/volume:Volume")
    }
    for index, volume in enumerate(resource.inputs.get("volumes") or []):
        name = volume.get("volumeName")
        if name is not None and name not in names:
            yield resource.violation(
                f"volumes[{index}].volumeName", name, "names no docker Volume of the plan"
            )


def _healthcheck_test(value: Any) -> str | None:
    # Docker HEALTHCHECK: ["NONE"], ["CMD", args...] or ["CMD-SHELL", command].
    if not isinstance(value, list) or not value:
        return "must be a non-empty list"
    if value[0] == "NONE" and len(value) == 1:
        return None
    if value[0] in ("CMD", "CMD-SHELL") and len(value) > 1:
        return None
    return "starts with CMD or CMD-SHELL followed by the command, or is [NONE]"


_DURATION = matches(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+", "a Go duration such as 10s")

LABELS = [Rule("labels[].label", length(1, 1024))]

RULES: dict[str, TypeRules] = {
    "docker:index/container:Container": TypeRules(
        rules=[
            Rule("name", RESTRICTED_NAME, unique=True),
            Rule("image", image_reference),
            Rule("memory", _memory_mb(6)),
            # Linux CFS: cpu shares at least 2 (moby clamps lower values, which then drift).
            Rule("cpuShares", integer(2, 262144)),
            Rule("restart", one_of("no", "on-failure", "always", "unless-stopped")),
            Rule("ports[].internal", integer(1, 65535)),
            Rule("ports[].external", integer(1, 65535)),
            Rule("ports[].ip", _ip),
            Rule("ports[].protocol", one_of("tcp", "udp", "sctp")),
            Rule("envs", each(_env_entry)),
            Rule("user", _user),
            Rule("uploads[].file", _absolute),
            Rule("volumes[].containerPath", _absolute),
            Rule("healthcheck.tests", _healthcheck_test),
            Rule("healthcheck.interval", _DURATION),
            Rule("healthcheck.timeout", _DURATION),
            Rule("healthcheck.startPeriod", _DURATION),
            Rule(
                "capabilities.drops",
                each(matches(r"ALL|(CAP_)?[A-Z_]+", "ALL or a capability name")),
            ),
            *LABELS,
        ],
        checks=[_memory_relations, _keys_absolute, _networks_exist, _volumes_exist],
    ),
    # libnetwork config.IsValidName: a network name is not blank; driver a built-in one.
    "docker:index/network:Network": TypeRules(
        rules=[
            Rule("name", matches(r".*\S.*", "not blank"), unique=True),
            Rule("driver", one_of("bridge", "overlay", "ipvlan", "macvlan", "host", "none")),
            *LABELS,
        ]
    ),
    "docker:index/remoteImage:RemoteImage": TypeRules(rules=[Rule("name", image_reference)]),
    # volume/local: names match the restricted name pattern.
    "docker:index/volume:Volume": TypeRules(
        rules=[Rule("name", RESTRICTED_NAME, unique=True), *LABELS]
    ),
    # docker-build: tags are image references; platforms os/arch[/variant].
    "docker-build:index:Image": TypeRules(
        rules=[
            Rule("tags", each(image_reference)),
            Rule(
                "platforms",
                each(matches(r"[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?", "os/arch[/variant]")),
            ),
            Rule("buildArgs{keys}", matches(r"[A-Za-z_][A-Za-z0-9_]*", "an ARG name")),
            Rule("network", one_of("default", "host", "none")),
        ]
    ),
}
