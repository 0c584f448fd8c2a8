"""Hooks into the policy SDK's analyzer server, installed before the pack starts serving.

1. Secret marking. The SDK's Analyze/AnalyzeStack path unwraps Pulumi secrets before a
   policy sees them; we mark secret strings (`values.SecretStr`) first, so the env rule can
   accept `DB_PASSWORD=<secret>` while still rejecting `DB_PASSWORD=hunter2`.
2. The enforcement guard. The engine sends every policy's level in Configure, and the SDK
   would honour `"workload-non-root-read-only": "advisory"` (or `"all": "disabled"`). We
   refuse such a config (Configure fails with INVALID_ARGUMENT, so `pulumi preview/up` stop
   with our message), and as a second line the level of a pinned policy is always
   reported as mandatory. Malformed exception entries are refused the same way.

Both hooks check that the SDK still has the attributes they wrap and fail loudly if not:
an SDK upgrade must not silently weaken the pack (pulumi-policy is pinned in requirements.txt).
"""

from __future__ import annotations

from typing import Any

import grpc
import pulumi_policy.policy as sdk
from google.protobuf import json_format
from pulumi_policy import EnforcementLevel

from .config import PINNED_MANDATORY, check_pack_config
from .values import mark_secrets

_LEVEL_NAMES: dict[int, str] = {0: "advisory", 1: "mandatory", 2: "disabled", 3: "remediate"}
_MARK = "_sutazai_hooks_installed"
_DESERIALIZE = "deserialize_properties"  # the module global the servicer calls


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

    def deserialize_properties(
        props: dict[str, Any], proxy_secrets: bool = False
    ) -> dict[str, Any]:
        # proxy_secrets=True is the Remediate path, which keeps secrets itself.
        return original_deserialize(props if proxy_secrets else mark_secrets(props), proxy_secrets)

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
        return original_configure(self, request, context)

    def get_enforcement_level(self: Any, policy: Any) -> EnforcementLevel:
        if policy.name in PINNED_MANDATORY:
            return EnforcementLevel.MANDATORY
        return original_level(self, policy)

    setattr(sdk, _DESERIALIZE, deserialize_properties)
    servicer.Configure = configure
    servicer._get_enforcement_level = get_enforcement_level
    setattr(sdk, _MARK, True)
