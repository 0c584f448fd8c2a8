"""Pack shape, per-stack config files, the exception allow-list and the pinned level."""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pulumi_policy import EnforcementLevel

from policies.sutazai_policies import PACK_NAME, PINNED_MANDATORY, all_policies
from policies.sutazai_policies.config import EXCEPTIONS_SCHEMA, check_pack_config, parse_exceptions

from . import fixtures as fx
from .harness import StackItem, check, check_stack, urn_for

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"
NAMES = [p.name for p in all_policies()]
DAEMONSET = "kubernetes:apps/v1:DaemonSet"


def test_pack_metadata() -> None:
    assert PACK_NAME == "sutazai-hardened"
    assert len(NAMES) == len(set(NAMES))
    for p in all_policies():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", p.name), p.name
        assert p.description and p.remediation_steps
        assert p.config_schema is not None and "exceptions" in p.config_schema.properties
    levels = {p.name: p.enforcement_level for p in all_policies()}
    assert levels["workload-non-root-read-only"] == EnforcementLevel.MANDATORY
    assert levels["image-digest-pinned"] == EnforcementLevel.ADVISORY


def test_pulumi_policy_yaml_and_main_only_builds_the_pack() -> None:
    meta = yaml.safe_load((POLICIES_DIR / "PulumiPolicy.yaml").read_text())
    assert meta["runtime"]["name"] == "python" and meta["description"]
    tree = ast.parse((POLICIES_DIR / "__main__.py").read_text())
    body = [
        n for n in tree.body if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))
    ]
    assert all(isinstance(n, ast.ImportFrom) for n in body[:-1])
    last = body[-1]
    assert isinstance(last, ast.Expr) and isinstance(last.value, ast.Call)
    assert isinstance(last.value.func, ast.Name) and last.value.func.id == "PolicyPack"
    assert "stacks" not in (POLICIES_DIR / "__main__.py").read_text()  # never imports the program


# ---------------------------------------------------------------- config files


def _load(stack: str) -> dict[str, Any]:
    return json.loads((POLICIES_DIR / "config" / f"{stack}.json").read_text())


def _levels(config: dict[str, Any]) -> dict[str, str]:
    """Each policy's effective level, reconciled like the CLI ("all", then per policy)."""
    defaults = {
        p.name: (p.enforcement_level or EnforcementLevel.MANDATORY).value for p in all_policies()
    }
    all_level = config.get("all")
    levels = {n: all_level if isinstance(all_level, str) else d for n, d in defaults.items()}
    for name, value in config.items():
        if name in levels:
            level = value if isinstance(value, str) else value.get("enforcementLevel")
            if level:
                levels[name] = level
    return levels


def test_prod_config_makes_every_hardening_rule_mandatory() -> None:
    config = _load("prod")
    assert set(NAMES) <= set(config), "every policy is listed explicitly in prod.json"
    levels = _levels(config)
    assert {n: lvl for n, lvl in levels.items() if lvl != "mandatory"} == {
        "image-digest-pinned": "advisory",
        "k8s-unverifiable-manifests": "advisory",
    }


def test_dev_config_keeps_non_root_mandatory() -> None:
    levels = _levels(_load("dev"))
    for name in PINNED_MANDATORY:
        assert levels[name] == "mandatory"
    assert levels["no-plaintext-secrets-in-env"] == "mandatory"
    assert "advisory" in levels.values()


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_config_files_are_valid(stack: str) -> None:
    config = _load(stack)
    assert set(config) <= {*NAMES, "all"}, "unknown policy names (typos) in the config"
    props: dict[str, dict[str, Any]] = {}
    for name, value in config.items():
        if isinstance(value, dict):
            rest = {k: v for k, v in value.items() if k != "enforcementLevel"}
            jsonschema.validate(
                rest, {"type": "object", "properties": {"exceptions": EXCEPTIONS_SCHEMA}}
            )
            props[name] = rest
    assert check_pack_config(_levels(config), props) == []


# ---------------------------------------------------------------- pinned level


@pytest.mark.parametrize("level", ["advisory", "disabled", "remediate"])
def test_lowering_the_pinned_rule_is_refused(level: str) -> None:
    problems = check_pack_config({"workload-non-root-read-only": level}, {})
    assert len(problems) == 1 and "pinned to 'mandatory'" in problems[0] and level in problems[0]
    assert (
        check_pack_config(
            {"workload-non-root-read-only": "mandatory", "seccomp-profile": level}, {}
        )
        == []
    )


# ---------------------------------------------------------------- exceptions

DS_URN = urn_for(DAEMONSET, "nvidia-device-plugin")


@pytest.mark.parametrize(
    "pattern",
    [
        f"{DAEMONSET}::nvidia-device-plugin",
        "nvidia-device-plugin",
        DS_URN,
        "kubernetes:apps/v1:DaemonSet::nvidia-*",
        "urn:pulumi:prod::sutazai::*::nvidia-device-plugin",
    ],
)
def test_exception_patterns_match(pattern: str) -> None:
    parsed = parse_exceptions(
        "p", {"exceptions": [{"resource": pattern, "reason": "vendor plugin"}]}
    )
    assert parsed.match(DS_URN) is not None
    assert parsed.match(urn_for(DAEMONSET, "promtail")) is None
    # under a component parent the URN type is "<parent>$<type>"
    nested = urn_for(DAEMONSET, "nvidia-device-plugin", parent_type="sutazai:index:Gpu")
    if "urn:pulumi" not in pattern:
        assert parsed.match(nested) is not None


def _vendor_daemonset() -> dict[str, Any]:
    ds = fx.workload(DAEMONSET, name="nvidia-device-plugin")
    ds["metadata"]["namespace"] = "kube-system"
    ds["spec"]["template"]["spec"]["volumes"].append(
        {"name": "device-plugin", "hostPath": {"path": "/var/lib/kubelet/device-plugins"}}
    )
    return ds


REASON = (
    "NVIDIA device plugin registers its socket under /var/lib/kubelet/device-plugins (kube-system)"
)


def test_exception_with_reason_exempts_only_the_named_resource() -> None:
    config = {"exceptions": [{"resource": f"{DAEMONSET}::nvidia-device-plugin", "reason": REASON}]}
    policy = "k8s-restricted-volume-types"
    assert check(policy, DAEMONSET, _vendor_daemonset(), name="nvidia-device-plugin")
    assert (
        check(policy, DAEMONSET, _vendor_daemonset(), name="nvidia-device-plugin", config=config)
        == []
    )
    assert check(policy, DAEMONSET, _vendor_daemonset(), name="promtail", config=config)
    # Exceptions are per policy: the CLI hands each policy only its own config entry.
    assert check(
        "no-privileged-containers", DAEMONSET, _privileged_ds(), name="nvidia-device-plugin"
    )


def _privileged_ds() -> dict[str, Any]:
    ds = _vendor_daemonset()
    ds["spec"]["template"]["spec"]["containers"][0]["securityContext"]["privileged"] = True
    return ds


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"resource": f"{DAEMONSET}::nvidia-device-plugin"}, "has no reason"),
        ({"resource": f"{DAEMONSET}::nvidia-device-plugin", "reason": "   "}, "has no reason"),
        ({"resource": "*", "reason": "everything"}, "names no resource"),
        ({"resource": "*::*", "reason": "everything"}, "names no resource"),
        ({"reason": "no pattern"}, "no 'resource' pattern"),
        ({"resource": "nvidia-device-plugin", "reason": "x", "until": "2027"}, "unknown keys"),
        ("nvidia-device-plugin", "must be an object"),
    ],
)
def test_invalid_exception_is_rejected_and_grants_nothing(entry: Any, problem: str) -> None:
    config = {"exceptions": [entry]}
    messages = check(
        "k8s-restricted-volume-types",
        DAEMONSET,
        _vendor_daemonset(),
        name="nvidia-device-plugin",
        config=config,
    )
    assert any(problem in m and "grants no exception" in m for m in messages), messages
    assert any("hostPath" in m for m in messages), "the real violation is still reported"
    assert any(problem in p for p in check_pack_config({}, {"k8s-restricted-volume-types": config}))
    # The CLI's schema check rejects the same entries before the pack even runs.
    if isinstance(entry, dict) and problem != "names no resource":
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.validate(
                config, {"type": "object", "properties": {"exceptions": EXCEPTIONS_SCHEMA}}
            )


def test_exceptions_apply_to_stack_policies() -> None:
    items = [StackItem(fx.NAMESPACE, "scratch", fx.namespace("scratch"))]
    assert check_stack("k8s-namespace-default-deny", items)
    config = {
        "exceptions": [
            {"resource": f"{fx.NAMESPACE}::scratch", "reason": "CI sandbox, deleted nightly"}
        ]
    }
    assert check_stack("k8s-namespace-default-deny", items, config=config) == []
