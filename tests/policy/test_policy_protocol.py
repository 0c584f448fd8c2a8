"""The pack as the CLI runs it: a subprocess speaking pulumirpc.Analyzer over gRPC."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from pulumi_policy import EnforcementLevel

from policies.sutazai_policies import all_policies
from stacks.policy_check import (
    PolicyConfigError,
    PolicyPackProcess,
    Violation,
    load_config,
    mandatory,
    resolve_config,
)

from . import fixtures as fx
from .harness import UNKNOWN, secret

NON_ROOT = "workload-non-root-read-only"
DAEMONSET = "kubernetes:apps/v1:DaemonSet"


@pytest.fixture(scope="module")
def prod_pack() -> Iterator[PolicyPackProcess]:
    with PolicyPackProcess(stack="prod") as pack:
        pack.handshake()
        pack.configure_stack()
        yield pack


@pytest.fixture
def prod(prod_pack: PolicyPackProcess) -> PolicyPackProcess:
    prod_pack.configure(load_config("prod"))
    return prod_pack


def _find(plan: dict[str, Any], name: str, type_: str | None = None) -> dict[str, Any]:
    return next(r for r in plan["resources"] if r["name"] == name and type_ in (None, r["type"]))


def _broken_copy(res: dict[str, Any]) -> dict[str, Any]:
    broken = copy.deepcopy(res)
    broken["name"] += "-broken"
    broken["urn"] += "-broken"
    sc = broken["inputs"]["spec"]["template"]["spec"]["containers"][0]["securityContext"]
    sc.update(runAsUser=0.0, readOnlyRootFilesystem=False)
    return broken


def test_pack_starts_like_the_cli_and_describes_itself(prod_pack: PolicyPackProcess) -> None:
    # pulumi.policy got an engine address nothing listens on: it is never dialled.
    assert prod_pack.port > 0 and prod_pack.startup_seconds < 30
    info = prod_pack.info()
    assert info.name == "sutazai-hardened" and info.supportsConfig
    assert sorted(p.name for p in info.policies) == sorted(p.name for p in all_policies())
    for p in info.policies:
        assert "waivers" in p.configSchema.properties, p.name
    levels = {p.name: p.enforcementLevel for p in info.policies}
    assert levels[NON_ROOT] == 1 and levels["image-digest-pinned"] == 0  # MANDATORY / ADVISORY


def test_realistic_prod_fixture_passes_prod_config(prod: PolicyPackProcess) -> None:
    plan = fx.prod_plan()
    violations = prod.run(plan["resources"], load_config("prod"))
    # prod.json's waivers name the real stack's resources, absent from this slice
    violations = [v for v in violations if v.policy != "unused-waivers"]
    assert violations == [], "\n".join(map(str, violations))


def test_broken_deployment_is_caught_over_grpc(prod: PolicyPackProcess) -> None:
    plan = fx.prod_plan()
    broken = _broken_copy(_find(plan, "backend"))
    found = mandatory(prod.analyze(broken))
    assert {v.policy for v in found} == {NON_ROOT}
    assert all(v.urn == broken["urn"] for v in found)
    text = "\n".join(v.message for v in found)
    assert "runAsUser is 0" in text and "readOnlyRootFilesystem is False" in text


def test_secret_values_are_recognised_through_the_sdk(prod: PolicyPackProcess) -> None:
    dep = copy.deepcopy(_find(fx.prod_plan(), "backend"))
    env = dep["inputs"]["spec"]["template"]["spec"]["containers"][0]["env"]
    env.append({"name": "OPENAI_API_KEY", "value": secret("sk-generated")})
    assert prod.analyze(dep) == []
    env.append({"name": "ANTHROPIC_API_KEY", "value": "sk-literal"})
    found = prod.analyze(dep)
    assert [v.policy for v in found] == ["no-plaintext-secrets-in-env"]
    assert "ANTHROPIC_API_KEY" in found[0].message and found[0].level == "mandatory"


def test_preview_unknowns_do_not_hide_other_findings(prod: PolicyPackProcess) -> None:
    dep = copy.deepcopy(_find(fx.prod_plan(), "backend"))
    container = dep["inputs"]["spec"]["template"]["spec"]["containers"][0]
    container["image"] = UNKNOWN  # e.g. a docker-build ref during preview
    container["securityContext"]["runAsUser"] = 0.0
    found = prod.analyze(dep)
    assert [v.policy for v in found] == [NON_ROOT]
    assert not any("can't run policy" in v.message for v in found)


@pytest.mark.parametrize(
    "config",
    [
        {"all": "disabled"},
        {"all": "advisory"},
        {NON_ROOT: "advisory"},
        {NON_ROOT: {"enforcementLevel": "disabled"}},
    ],
)
def test_config_cannot_lower_the_pinned_rule(
    prod_pack: PolicyPackProcess, config: dict[str, Any]
) -> None:
    with pytest.raises(grpc.RpcError) as err:
        settings = {"pack-settings": {"environment": "dev"}}
        prod_pack.configure(
            {**load_config("dev"), **config} if "all" not in config else {**config, **settings}
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert f"'{NON_ROOT}' is pinned to 'mandatory'" in err.value.details()  # type: ignore[attr-defined]


def test_all_advisory_with_the_pinned_rule_mandatory_is_accepted(
    prod_pack: PolicyPackProcess,
) -> None:
    prod_pack.configure(
        {"all": "advisory", NON_ROOT: "mandatory", "pack-settings": {"environment": "prod"}}
    )
    broken = _broken_copy(_find(fx.prod_plan(), "backend"))
    broken["inputs"]["spec"]["template"]["spec"]["hostNetwork"] = True
    levels = {v.policy: v.level for v in prod_pack.analyze(broken)}
    assert levels == {NON_ROOT: "mandatory", "no-host-namespaces": "advisory"}


def test_pinned_level_survives_even_without_the_configure_guard() -> None:
    # Second line of defence, in-process: the servicer always reports the rule as mandatory.
    import pulumi_policy.policy as sdk

    from policies.sutazai_policies import runtime

    runtime.install()
    servicer: Any = sdk._PolicyAnalyzerServicer(  # pyright: ignore[reportPrivateUsage]
        "sutazai-hardened", "0.0.1", all_policies(), EnforcementLevel.MANDATORY
    )
    servicer._PolicyAnalyzerServicer__policy_pack_config_enforcement_level = {
        NON_ROOT: EnforcementLevel.DISABLED,
        "seccomp-profile": EnforcementLevel.DISABLED,
    }
    by_name = {p.name: p for p in all_policies()}
    assert servicer._get_enforcement_level(by_name[NON_ROOT]) == EnforcementLevel.MANDATORY
    assert servicer._get_enforcement_level(by_name["seccomp-profile"]) == EnforcementLevel.DISABLED


def _vendor_plan() -> list[dict[str, Any]]:
    ds_inputs = fx.workload(DAEMONSET, name="nvidia-device-plugin")
    ds_inputs["metadata"]["namespace"] = "kube-system"
    ds_inputs["spec"]["template"]["spec"]["volumes"].append(
        {"name": "device-plugin", "hostPath": {"path": "/var/lib/kubelet/device-plugins"}}
    )
    ds = {
        "urn": "urn:pulumi:prod::sutazai::kubernetes:apps/v1:DaemonSet::nvidia-device-plugin",
        "type": DAEMONSET,
        "name": "nvidia-device-plugin",
        "inputs": ds_inputs,
        "protect": False,
        "parent": "",
        "provider": "",
    }
    other = copy.deepcopy(ds)
    other["name"] = "log-shipper"
    other["urn"] = other["urn"].replace("nvidia-device-plugin", "log-shipper")
    return [ds, other]


def test_waivers_over_grpc(prod_pack: PolicyPackProcess) -> None:
    config = load_config("prod")
    config["k8s-restricted-volume-types"]["waivers"] = [
        {
            "type": DAEMONSET,
            "name": "nvidia-device-plugin",
            "checks": {"hostPath": "/var/lib/kubelet/device-plugins"},
            "reason": "the device plugin registers under /var/lib/kubelet/device-plugins",
        }
    ]
    prod_pack.configure(config)
    found: list[Violation] = []
    for res in _vendor_plan():
        found += prod_pack.analyze(res)
    assert [(v.policy, v.urn.rsplit("::", 1)[1]) for v in found] == [
        ("k8s-restricted-volume-types", "log-shipper")
    ]


def test_unused_waivers_are_reported(prod_pack: PolicyPackProcess) -> None:
    config = load_config("prod")
    config["k8s-restricted-volume-types"]["waivers"] = [
        {
            "type": DAEMONSET,
            "name": "nvidia-device-plugin",
            "checks": {"hostPath": "/var/lib/kubelet/pod-resources"},
            "reason": "a path the plugin no longer mounts: this waiver is stale",
        }
    ]
    violations = prod_pack.run(_vendor_plan(), config)
    unused = [
        v for v in violations if v.policy == "unused-waivers" and "pod-resources" in v.message
    ]
    assert len(unused) == 1 and "/var/lib/kubelet/pod-resources" in unused[0].message
    assert unused[0].level == "advisory"


def test_waiver_without_reason_is_rejected_by_cli_schema_and_by_the_pack(
    prod_pack: PolicyPackProcess,
) -> None:
    config = load_config("prod")
    waiver = {
        "type": DAEMONSET,
        "name": "nvidia-device-plugin",
        "checks": {"hostPath": "/var/lib/kubelet/device-plugins"},
    }
    config["k8s-restricted-volume-types"]["waivers"] = [waiver]
    with pytest.raises(PolicyConfigError, match="reason"):
        prod_pack.configure(config)
    # Bypassing the CLI's schema check, the pack itself refuses it with a clear message.
    resolved = resolve_config(prod_pack.info(), load_config("prod"))
    level, _ = resolved["k8s-restricted-volume-types"]
    resolved["k8s-restricted-volume-types"] = (level, {"waivers": [waiver]})
    with pytest.raises(grpc.RpcError) as err:
        prod_pack.configure_resolved(resolved)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT  # type: ignore[attr-defined]
    assert "needs a reason" in err.value.details()  # type: ignore[attr-defined]


def test_config_without_an_environment_is_refused(prod_pack: PolicyPackProcess) -> None:
    config = load_config("prod")
    del config["pack-settings"]["environment"]
    with pytest.raises(PolicyConfigError, match="environment"):
        prod_pack.configure(config)
    resolved = resolve_config(prod_pack.info(), load_config("prod"))
    resolved["pack-settings"] = (resolved["pack-settings"][0], {})
    with pytest.raises(grpc.RpcError) as err:
        prod_pack.configure_resolved(resolved)
    assert "environment" in err.value.details()  # type: ignore[attr-defined]


def test_dev_stack_levels_over_grpc() -> None:
    plan = fx.dev_plan()
    with PolicyPackProcess(stack="dev") as pack:
        assert mandatory(pack.run(plan["resources"], load_config("dev"))) == []
        container = copy.deepcopy(_find(plan, "backend", fx.DOCKER_CONTAINER))
        container["inputs"].update(user="root:root", privileged=True)
        levels = {v.policy: v.level for v in pack.analyze(container)}
    assert levels == {NON_ROOT: "mandatory", "no-privileged-containers": "advisory"}
