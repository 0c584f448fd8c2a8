"""pulumi-docker 5.x `docker:index/container:Container` checks (the dev stack's workloads).

Docker has no pod: every setting lives on the container. Capability names are accepted
the way dockerd does (case-insensitive, with or without the CAP_ prefix).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from .rules import Resource
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


def check_user_read_only(res: Resource) -> Iterator[str]:
    user = res.props.get("user")
    if user is not UNKNOWN:
        uid = str(user).split(":", 1)[0].strip() if isinstance(user, str) else ""
        if not isinstance(user, str) or not uid:
            yield (
                "user is not set, so the image default (often root) applies. Fix: set "
                "user='<uid>:<gid>' "
                "(numeric, e.g. '1000:1000')."
            )
        elif uid.lower() in _ROOT_USERS or _int_or_none(uid) == 0:
            yield f"user {user!r} is root. Fix: set a non-root numeric user such as '1000:1000'."
    ro = res.props.get("readOnly")
    if ro is not UNKNOWN and ro is not True:
        yield (
            f"readOnly is {'unset' if ro is None else repr(ro)}. Fix: set read_only=True "
            "and mount tmpfs/volumes for the paths it writes (e.g. tmpfs={'/tmp': ''})."
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


def check_privileged(res: Resource) -> Iterator[str]:
    if res.props.get("privileged") is True:
        yield (
            "privileged is true. Fix: remove privileged=True; add a single capability if "
            "really needed."
        )


def check_host_namespaces(res: Resource) -> Iterator[str]:
    for field in ("networkMode", "pidMode", "ipcMode"):
        value = res.props.get(field)
        if isinstance(value, str) and value.strip().lower() == "host":
            yield (
                f"{field} is 'host'. Fix: attach the container to a user-defined network "
                "(networks_advanced) and drop the host namespace."
            )


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
