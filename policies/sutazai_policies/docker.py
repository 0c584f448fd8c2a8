"""pulumi-docker 5.x `docker:index/container:Container` checks (the dev stack's workloads).

Docker has no pod: every setting lives on the container. Capability names are accepted
the way dockerd does (case-insensitive, with or without the CAP_ prefix).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any, Final

from .rules import Finding, Resource
from .values import UNKNOWN, as_int, as_list, get

CONTAINER_TYPE: Final = "docker:index/container:Container"
REMOTE_IMAGE_TYPE: Final = "docker:index/remoteImage:RemoteImage"
BUILD_IMAGE_TYPE: Final = "docker-build:index:Image"

_ROOT_USERS: Final = frozenset({"0", "root"})


def _cap(name: Any) -> str:
    text = str(name).strip().upper()
    return text[4:] if text.startswith("CAP_") else text


def _security_opts(res: Resource) -> list[str] | None:
    opts = res.props.get("securityOpts")
    if opts is UNKNOWN:
        return None
    return [str(o).strip() for o in as_list(opts) if o is not UNKNOWN]


def check_user_read_only(res: Resource) -> Iterator[str | Finding]:
    """Non-root as on Kubernetes: a numeric uid AND gid, both non-zero (`nobody`, `1000`
    or `1000:0` are not enough)."""
    user = res.props.get("user")
    fix = "Fix: set user='<uid>:<gid>', both numeric and non-zero (e.g. '10001:10001')"
    if user is not UNKNOWN:
        uid_text, sep, gid_text = user.partition(":") if isinstance(user, str) else ("", "", "")
        uid, gid = _int_or_none(uid_text.strip()), _int_or_none(gid_text.strip())
        if not isinstance(user, str) or not user.strip():
            yield Finding(
                f"user is not set, so the image default (often root) applies. {fix}.", "user", user
            )
        elif uid is None or gid is None or not sep:
            yield Finding(f"user {user!r} is not a numeric 'uid:gid' pair. {fix}.", "user", user)
        elif uid <= 0 or gid <= 0:
            yield Finding(f"user {user!r} is root (uid or gid 0). {fix}.", "user", user)
    for i, group in enumerate(as_list(res.props.get("groupAdds"))):
        if group is not UNKNOWN and (str(group).strip() in _ROOT_USERS):
            yield Finding(
                f"groupAdds[{i}] is {group!r} (the root group). Fix: remove it.",
                "groupAdds",
                group,
            )
    ro = res.props.get("readOnly")
    if ro is not UNKNOWN and ro is not True:
        yield Finding(
            f"readOnly is {'unset' if ro is None else repr(ro)}. Fix: set read_only=True "
            "and mount tmpfs/volumes for the paths it writes (e.g. tmpfs={'/tmp': ''}).",
            "readOnly",
            ro,
        )


def _int_or_none(text: str) -> int | None:
    try:
        return int(text)
    except ValueError:
        return None


def check_no_new_privileges(res: Resource) -> Iterator[str]:
    opts = _security_opts(res)
    if opts is None:
        return
    normalized = [o.replace("=", ":").lower() for o in opts]
    if not any(o in ("no-new-privileges", "no-new-privileges:true") for o in normalized):
        yield (
            f"security_opts {opts} lacks no-new-privileges. "
            "Fix: add security_opts=['no-new-privileges:true']."
        )


def check_capabilities(res: Resource) -> Iterator[str]:
    caps = res.props.get("capabilities")
    if caps is UNKNOWN:
        return
    drops = get(caps, "drops")
    adds = get(caps, "adds")
    if drops is not UNKNOWN and "ALL" not in [_cap(d) for d in as_list(drops)]:
        yield (
            f"capabilities.drops does not contain ALL (got {as_list(drops)}). "
            "Fix: capabilities={'drops': ['ALL']}."
        )
    if adds is not UNKNOWN:
        extra = [a for a in as_list(adds) if _cap(a) != "NET_BIND_SERVICE"]
        if extra:
            yield (
                f"capabilities.adds {extra} is not allowed; only NET_BIND_SERVICE may be "
                "added. Fix: remove them."
            )


def check_seccomp(res: Resource) -> Iterator[str]:
    opts = _security_opts(res)
    if opts is None:
        return
    for o in opts:
        if o.replace("=", ":").lower() == "seccomp:unconfined":
            yield (
                f"security_opts contains {o!r}, which turns off Docker's default seccomp "
                "profile. Fix: remove it."
            )


def check_privileged(res: Resource) -> Iterator[Finding]:
    value = res.props.get("privileged")
    if value not in (None, False, UNKNOWN):
        yield Finding(
            f"privileged is {value!r}. Fix: remove privileged=True; add a single capability "
            "if really needed.",
            "privileged",
            value,
        )


_NAMESPACE_FIELDS: Final = (
    "networkMode",
    "pidMode",
    "ipcMode",
    "utsMode",
    "usernsMode",
    "cgroupnsMode",
)


def check_host_namespaces(res: Resource) -> Iterator[Finding]:
    for field in _NAMESPACE_FIELDS:
        value = res.props.get(field)
        if isinstance(value, str) and value.strip().lower() == "host":
            yield Finding(
                f"{field} is 'host'. Fix: remove it (attach the container to a user-defined "
                "network with networks_advanced; keep its own namespaces).",
                field,
                value,
            )


DOCKER_SOCKETS: Final = ("docker.sock", "containerd.sock", "podman.sock", "crio.sock")
_CONFINEMENT_OFF: Final = ("seccomp:unconfined", "apparmor:unconfined", "label:disable")
LOOPBACK: Final = (ipaddress.ip_network("127.0.0.0/8"), ipaddress.ip_network("::1/128"))


def _host_paths(res: Resource) -> Iterator[tuple[str, Any]]:
    """(field, host path) for every bind mount and host-path volume."""
    for i, mount in enumerate(as_list(res.props.get("mounts"))):
        mtype = get(mount, "type")
        if mtype is UNKNOWN or (isinstance(mtype, str) and mtype.strip().lower() == "bind"):
            yield f"mounts[{i}].source", get(mount, "source")
        elif mtype is None and get(mount, "source") not in (None, UNKNOWN):
            yield f"mounts[{i}].source", get(mount, "source")  # no type: assume the worst
    for i, volume in enumerate(as_list(res.props.get("volumes"))):
        host_path = get(volume, "hostPath")
        if host_path is not None:
            yield f"volumes[{i}].hostPath", host_path


def check_host_access(res: Resource) -> Iterator[Finding]:
    """Host paths, the container engine's socket, devices, sysctls, confinement switched off
    and ports published beyond loopback."""
    for where, path in _host_paths(res):
        if path is UNKNOWN:
            yield Finding(
                f"{where} is computed, so the host path cannot be checked. Fix: use a named "
                "volume or a literal path that a waiver names.",
                "hostPath",
                None,
            )
            continue
        text = str(path)
        if any(text.rstrip("/").endswith(sock) for sock in DOCKER_SOCKETS):
            yield Finding(
                f"{where} mounts the container engine's socket {text!r} (root on the host). "
                "Fix: remove it.",
                "dockerSocket",
                text,
            )
            continue
        yield Finding(
            f"{where} mounts the host path {text!r}. Fix: use a named volume (or a waiver "
            "naming this exact path).",
            "hostPath",
            text,
        )
    for i, device in enumerate(as_list(res.props.get("devices"))):
        yield Finding(
            f"devices[{i}] passes the host device {get(device, 'hostPath')!r}. Fix: remove it.",
            "device",
            get(device, "hostPath"),
        )
    sysctls = res.props.get("sysctls")
    if isinstance(sysctls, dict):
        for key in sysctls:
            yield Finding(f"sysctls sets {key!r}. Fix: remove it.", "sysctl", key)
    opts = _security_opts(res)
    for opt in opts or []:
        normalized = opt.replace("=", ":").replace(" ", "").lower()
        if normalized in _CONFINEMENT_OFF:
            yield Finding(
                f"security_opts contains {opt!r}, which switches confinement off. Fix: remove it.",
                "securityOpt",
                opt,
            )
    for i, port in enumerate(as_list(res.props.get("ports"))):
        ip = get(port, "ip")
        if ip is UNKNOWN:
            continue
        if not _is_loopback(ip):
            shown = "unset (0.0.0.0, every interface)" if ip in (None, "") else repr(ip)
            yield Finding(
                f"ports[{i}] (internal {get(port, 'internal')!r}) is published on {shown}. "
                "Fix: publish on ip='127.0.0.1' only.",
                "publishedIp",
                ip,
            )


def _is_loopback(ip: Any) -> bool:
    if not isinstance(ip, str):
        return False
    try:
        address = ipaddress.ip_address(ip.strip().strip("[]"))
    except ValueError:
        return False
    return any(address in net for net in LOOPBACK if address.version == net.version)


def check_memory(res: Resource) -> Iterator[str]:
    memory = res.props.get("memory")
    if memory is UNKNOWN:
        return
    mb = as_int(memory)
    if mb is None or mb <= 0:
        yield (
            f"memory limit is {'unset' if memory is None else repr(memory)}. Fix: set memory=<MiB> "
            "(e.g. memory=512)."
        )
