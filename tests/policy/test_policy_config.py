"""Pack shape, per-environment config files, the waivers and the pinned level."""

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
from policies.sutazai_policies.config import WAIVERS_SCHEMA, check_pack_config

from . import fixtures as fx
from .harness import StackItem, check, check_stack

POLICIES_DIR = Path(__file__).resolve().parents[2] / "policies"
NAMES = [p.name for p in all_policies()]
DAEMONSET = "kubernetes:apps/v1:DaemonSet"


def test_pack_metadata() -> None:
    assert PACK_NAME == "sutazai-hardened"
    assert len(NAMES) == len(set(NAMES))
    for p in all_policies():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)+", p.name), p.name
        assert p.description and p.remediation_steps
        assert p.config_schema is not None and "waivers" in p.config_schema.properties
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
        "unused-waivers": "advisory",
    }
    assert config["pack-settings"]["environment"] == "prod"


def test_dev_config_keeps_non_root_mandatory() -> None:
    levels = _levels(_load("dev"))
    for name in PINNED_MANDATORY:
        assert levels[name] == "mandatory"
    assert levels["no-plaintext-secrets-in-env"] == "mandatory"
    assert "advisory" in levels.values()
    assert _load("dev")["pack-settings"]["environment"] == "dev"


@pytest.mark.parametrize("stack", ["prod", "dev"])
def test_config_files_are_valid(stack: str) -> None:
    config = _load(stack)
    assert set(config) <= {*NAMES, "all"}, "unknown policy names (typos) in the config"
    props: dict[str, dict[str, Any]] = {}
    for name, value in config.items():
        if isinstance(value, dict):
            rest = {k: v for k, v in value.items() if k != "enforcementLevel"}
            jsonschema.validate(rest, {"type": "object", "properties": {"waivers": WAIVERS_SCHEMA}})
            props[name] = rest
    assert check_pack_config(_levels(config), props) == []


# ---------------------------------------------------------------- pinned level


@pytest.mark.parametrize("level", ["advisory", "disabled", "remediate"])
def test_lowering_the_pinned_rule_is_refused(level: str) -> None:
    settings = {"pack-settings": {"environment": "dev"}}
    problems = check_pack_config({"workload-non-root-read-only": level}, settings)
    assert len(problems) == 1 and "pinned to 'mandatory'" in problems[0] and level in problems[0]
    assert (
        check_pack_config(
            {"workload-non-root-read-only": "mandatory", "seccomp-profile": level}, settings
        )
        == []
    )


# ---------------------------------------------------------------- waivers

PLUGIN = "sutazai-prod-cluster-nvidia-device-plugin"
DEVICE_PLUGINS = "/var/lib/kubelet/device-plugins"
REASON = "NVIDIA device plugin registers its socket under /var/lib/kubelet/device-plugins"


def _vendor_daemonset(*paths: str) -> dict[str, Any]:
    ds = fx.workload(DAEMONSET, name="nvidia-device-plugin")
    ds["metadata"]["namespace"] = "kube-system"
    for i, path in enumerate(paths or (DEVICE_PLUGINS,)):
        ds["spec"]["template"]["spec"]["volumes"].append(
            {"name": f"host-{i}", "hostPath": {"path": path}}
        )
    return ds


def _waiver(**overrides: Any) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "type": DAEMONSET,
        "name": PLUGIN,
        "checks": {"hostPath": DEVICE_PLUGINS},
        "reason": REASON,
    }
    entry.update(overrides)
    return {"waivers": [entry]}


VOLUMES = "k8s-restricted-volume-types"


def test_waiver_relaxes_exactly_the_listed_value_of_the_named_resource() -> None:
    assert check(VOLUMES, DAEMONSET, _vendor_daemonset(), name=PLUGIN)
    assert check(VOLUMES, DAEMONSET, _vendor_daemonset(), name=PLUGIN, config=_waiver()) == []
    # Another path on the same resource, the same path on another resource: still reported.
    other = check(
        VOLUMES, DAEMONSET, _vendor_daemonset(DEVICE_PLUGINS, "/"), name=PLUGIN, config=_waiver()
    )
    assert len(other) == 1 and "'/'" in other[0]
    assert check(VOLUMES, DAEMONSET, _vendor_daemonset(), name="promtail", config=_waiver())
    # A name that merely starts/ends like it, or another type with the name: no waiver.
    for name in (f"{PLUGIN}-2", f"x-{PLUGIN}"):
        assert check(VOLUMES, DAEMONSET, _vendor_daemonset(), name=name, config=_waiver())
    deployment = fx.workload(fx.DEPLOYMENT)
    deployment["spec"]["template"]["spec"]["volumes"].append(
        {"name": "h", "hostPath": {"path": DEVICE_PLUGINS}}
    )
    assert check(VOLUMES, fx.DEPLOYMENT, deployment, name=PLUGIN, config=_waiver())


def test_waiver_never_covers_other_checks_or_policies() -> None:
    privileged = _vendor_daemonset()
    spec = privileged["spec"]["template"]["spec"]
    spec["containers"][0]["securityContext"]["privileged"] = True
    spec["hostNetwork"] = True
    assert check("no-privileged-containers", DAEMONSET, privileged, name=PLUGIN, config=_waiver())
    assert check("no-host-namespaces", DAEMONSET, privileged, name=PLUGIN, config=_waiver())


def test_non_root_waiver_lists_exact_values() -> None:
    root = _vendor_daemonset()
    csc = root["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    csc.update(runAsUser=0.0, runAsNonRoot=False)
    config = _waiver(checks={"runAsUser": 0, "runAsNonRoot": False})
    non_root = "workload-non-root-read-only"
    assert check(non_root, DAEMONSET, root, name=PLUGIN, config=config) == []
    csc["readOnlyRootFilesystem"] = False  # not listed: still reported
    left = check(non_root, DAEMONSET, root, name=PLUGIN, config=config)
    assert len(left) == 1 and "readOnlyRootFilesystem" in left[0]
    # runAsUser: 0 waived does not waive a group 0.
    csc["readOnlyRootFilesystem"] = True
    csc["runAsGroup"] = 0.0
    left = check(non_root, DAEMONSET, root, name=PLUGIN, config=config)
    assert len(left) == 1 and "runAsGroup" in left[0]


@pytest.mark.parametrize(
    ("entry", "problem"),
    [
        ({"reason": "   "}, "reason"),
        ({"reason": "short"}, "reason"),
        ({"name": "*nvidia*"}, "exact logical name"),
        ({"name": "nvidia-?"}, "exact logical name"),
        ({"name": f"urn:pulumi:prod::sutazai::{DAEMONSET}::{PLUGIN}"}, "exact logical name"),
        ({"type": "kubernetes:apps/v1:*"}, "exact type token"),
        ({"type": "DaemonSet"}, "exact type token"),
        ({"checks": {}}, "checks"),
        ({"checks": ["hostPath"]}, "checks"),
        ({"until": "2027"}, "unknown keys"),
    ],
)
def test_invalid_waiver_is_refused_and_waives_nothing(entry: dict[str, Any], problem: str) -> None:
    config = _waiver(**entry)
    messages = check(VOLUMES, DAEMONSET, _vendor_daemonset(), name=PLUGIN, config=config)
    assert any(problem in m and "waives nothing" in m for m in messages), messages
    assert any("hostPath" in m and "policy config" not in m for m in messages)
    problems = check_pack_config({}, {VOLUMES: config, "pack-settings": {"environment": "prod"}})
    assert any(problem in p for p in problems), problems


def test_old_pattern_exceptions_are_refused() -> None:
    config = {"exceptions": [{"resource": f"{DAEMONSET}::*", "reason": REASON}]}
    messages = check(VOLUMES, DAEMONSET, _vendor_daemonset(), name=PLUGIN, config=config)
    assert any("no longer read" in m for m in messages)
    assert any("hostPath" in m and "policy config" not in m for m in messages)


def test_pack_config_needs_an_environment() -> None:
    assert any("environment" in p for p in check_pack_config({}, {}))
    assert any(
        "environment" in p for p in check_pack_config({}, {"pack-settings": {"environment": "qa"}})
    )
    assert check_pack_config({}, {"pack-settings": {"environment": "dev"}}) == []


def test_waivers_apply_to_stack_policies() -> None:
    items = [StackItem(fx.NAMESPACE, "scratch", fx.namespace("scratch"))]
    assert check_stack("k8s-namespace-default-deny", items)
    # stack-policy findings carry no check: nothing there can be waived
    config = {
        "waivers": [
            {
                "type": fx.NAMESPACE,
                "name": "scratch",
                "checks": {"defaultDeny": None},
                "reason": "CI sandbox, deleted nightly by the reaper",
            }
        ]
    }
    assert check_stack("k8s-namespace-default-deny", items, config=config)
