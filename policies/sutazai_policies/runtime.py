"""Hooks into the policy SDK's analyzer server, installed before the pack starts serving.

1. Secret marking. The SDK's Analyze/AnalyzeStack path unwraps Pulumi secrets before a
   policy sees them; we mark secret strings (`values.SecretStr`) first, so the env rule can
   accept `DB_PASSWORD=<secret>` while still rejecting `DB_PASSWORD=hunter2`.
2. The enforcement guard. The engine sends every policy's level in Configure, and the SDK
   would honour `"workload-non-root-read-only": "advisory"` (or `"all": "disabled"`). We
   refuse such a config (Configure fails with INVALID_ARGUMENT, so `pulumi preview/up` stop
   with our message), and as a second line the level of a pinned policy is always
   reported as mandatory. Malformed exception entries are refused the same way.

3. The pack's configuration: Configure hands every policy's properties to config.configure
   (the environment whose rules apply, the waivers the unused-waiver report lists).
4. One decoding per resource: the servicer decodes a resource's properties again for every
   policy; the same request's properties are decoded once and shared (read-only).

The hooks check that the SDK still has the attributes they wrap and fail loudly if not:
an SDK upgrade must not silently weaken the pack (pulumi-policy is pinned in requirements.txt).
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import grpc
import pulumi_policy.policy as sdk
from google.protobuf import json_format
from pulumi_policy import EnforcementLevel

from . import config as pack_config
from .config import PINNED_MANDATORY, check_pack_config
from .values import mark_secrets

_LEVEL_NAMES: dict[int, str] = {0: "advisory", 1: "mandatory", 2: "disabled", 3: "remediate"}
_MARK = "_sutazai_hooks_installed"
_DESERIALIZE = "deserialize_properties"  # the module globals the servicer calls
_JSON_FORMAT = "json_format"
_PROXY = "unknown_checking_proxy"


def install() -> None:
    if getattr(sdk, _MARK, False):
        return
    servicer: Any = getattr(sdk, "_PolicyAnalyzerServicer", None)
    original_deserialize = getattr(sdk, _DESERIALIZE, None)
    if (
        servicer is None
        or original_deserialize is None
        or not hasattr(servicer, "Configure")
        or not hasattr(servicer, "_get_enforcement_level")
    ):
        raise RuntimeError(
            "sutazai-hardened: pulumi-policy no longer exposes the analyzer hooks this "
            "pack relies on; "
            "re-check runtime.py against the new SDK before upgrading."
        )

    decoded = _Recent()

    def deserialize_properties(
        props: dict[str, Any], proxy_secrets: bool = False
    ) -> dict[str, Any]:
        # proxy_secrets=True is the Remediate path, which keeps secrets itself.
        if proxy_secrets:
            return original_deserialize(props, proxy_secrets)
        hit = decoded.get(props)  # the same request, the next policy
        if hit is not None:
            return hit
        return decoded.put(props, original_deserialize(mark_secrets(props), proxy_secrets))

    json_format_module: Any = getattr(sdk, _JSON_FORMAT, None)
    if json_format_module is None or not hasattr(json_format_module, "MessageToDict"):
        raise RuntimeError(
            "sutazai-hardened: pulumi-policy no longer decodes properties with "
            "json_format.MessageToDict; re-check runtime.py against the new SDK."
        )

    original_configure = servicer.Configure
    original_level = servicer._get_enforcement_level

    def configure(self: Any, request: Any, context: grpc.ServicerContext) -> Any:
        levels: dict[str, str] = {}
        properties: dict[str, dict[str, Any]] = {}
        for name in request.policyConfig:
            entry = request.policyConfig[name]
            levels[name] = _LEVEL_NAMES.get(entry.enforcementLevel, str(entry.enforcementLevel))
            properties[name] = json_format.MessageToDict(entry.properties)
        problems = check_pack_config(levels, properties)
        if problems:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                "sutazai-hardened refuses this policy config:\n  - " + "\n  - ".join(problems),
            )
        pack_config.configure(properties)
        return original_configure(self, request, context)

    def get_enforcement_level(self: Any, policy: Any) -> EnforcementLevel:
        if policy.name in PINNED_MANDATORY:
            return EnforcementLevel.MANDATORY
        return original_level(self, policy)

    setattr(sdk, _DESERIALIZE, deserialize_properties)
    setattr(sdk, _JSON_FORMAT, _DecodeOnce(json_format_module))
    original_proxy: Any = getattr(sdk, _PROXY, None)
    if original_proxy is None:
        raise RuntimeError(
            "sutazai-hardened: pulumi-policy no longer wraps properties with "
            "unknown_checking_proxy; re-check runtime.py against the new SDK."
        )
    proxies = _Recent()

    def unknown_checking_proxy(value: Any) -> Any:
        # The checks only read the proxy, so one per decoded resource is shared.
        hit = proxies.get(value)
        return hit if hit is not None else proxies.put(value, original_proxy(value))

    setattr(sdk, _PROXY, unknown_checking_proxy)
    servicer.Configure = configure
    servicer._get_enforcement_level = get_enforcement_level
    setattr(sdk, _MARK, True)


class _DecodeOnce:
    """`json_format` for the servicer: MessageToDict of the message it decoded last returns
    the same dict (the servicer decodes one request's properties once per policy)."""

    def __init__(self, module: Any) -> None:
        self._module = module
        self._recent: OrderedDict[tuple[Any, bytes], Any] = OrderedDict()
        self._held = _Recent()  # live wrappers seen lately (held, so identity is stable)

    def MessageToDict(self, message: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return self._module.MessageToDict(message, *args, **kwargs)
        out = self._held.get(message)
        if out is not None:
            return out
        # A new wrapper may still hold a message decoded before: compare contents.
        key = (type(message), message.SerializeToString(deterministic=True))
        out = self._recent.get(key)
        if out is None:
            out = self._module.MessageToDict(message)
            self._recent[key] = out
            if len(self._recent) > _RECENT:
                self._recent.popitem(last=False)
        return self._held.put(message, out)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._module, name)


# AnalyzeStack decodes every resource once per stack policy: keep a whole plan's worth.
_RECENT = 4096


class _Recent:
    """Recent (input object -> output) pairs, by identity; inputs are held, so an identity
    is never reused while cached."""

    def __init__(self) -> None:
        self._items: OrderedDict[int, tuple[Any, Any]] = OrderedDict()

    def get(self, key: Any) -> Any:
        item = self._items.get(id(key))
        return item[1] if item is not None and item[0] is key else None

    def put(self, key: Any, out: Any) -> Any:
        self._items[id(key)] = (key, out)
        if len(self._items) > _RECENT:
            self._items.popitem(last=False)
        return out
