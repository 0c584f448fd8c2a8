"""Stack configuration: the real stack files validate, and bad ones fail early and clearly."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from stacks import generated_docs
from stacks.catalog import load_catalog
from stacks.config import (
    EKS_VERSIONS,
    NetworkConfig,
    StackConfig,
    parse_config_bag,
    parse_expiry,
)
from stacks.errors import ConfigError
from stacks.plan import stack_config_bag

PROJECT_DIR = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_real_stack_files_validate(stack: str) -> None:
    bag, _ = stack_config_bag(stack)
    config = parse_config_bag(bag)
    assert config.environment == stack


def test_prod_is_kubernetes_with_mandatory_policies() -> None:
    config = parse_config_bag(stack_config_bag("prod")[0])
    assert config.platform == "kubernetes" and config.is_prod
    assert config.policy_enforcement == "mandatory"
    assert config.vault_mode == "existing"


def _problems(overrides: dict[str, object]) -> list[str]:
    """Validate a config bag as Pulumi passes it: scalars as strings, structured values as JSON."""
    overrides = {"environment": "dev", **overrides}
    bag = {f"sutazai:{k}": v if isinstance(v, str) else json.dumps(v) for k, v in overrides.items()}
    with pytest.raises(ConfigError) as raised:
        parse_config_bag(bag)
    return raised.value.problems


GOOD_GROUP = {
    "instanceTypes": ["g5.xlarge"],
    "minSize": 1,
    "maxSize": 3,
    "desiredSize": 1,
    "amiType": "AL2023_x86_64_NVIDIA",
}
NET = NetworkConfig().model_dump(mode="json", by_alias=True)


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"plattform": "docker"}, "sutazai:plattform: unknown key. Did you mean 'platform'?"),
        (
            {"platform": "nomad"},
            "sutazai:platform: Input should be 'kubernetes' or 'docker' (got 'nomad')",
        ),
        (
            {"nodeGroups": {"gpu": {**GOOD_GROUP, "minSize": "three"}}},
            "sutazai:nodeGroups.gpu.minSize: Input should be a valid integer",
        ),
        (
            {"nodeGroups": {"gpu": {**GOOD_GROUP, "desiredSize": -2}}},
            "sutazai:nodeGroups.gpu.desiredSize: Input should be greater than or equal to 0",
        ),
        (
            {"nodeGroups": {"gpu": {**GOOD_GROUP, "maxSize": 1, "desiredSize": 2}}},
            "sutazai:nodeGroups.gpu.desiredSize: needs minSize <= desiredSize <= maxSize",
        ),
        (
            {"nodeGroups": {"gpu": {**GOOD_GROUP, "amiType": "AL2023_x86_64_STANDARD"}}},
            "sutazai:nodeGroups.gpu.amiType: the GPU node group needs an NVIDIA AMI",
        ),
        (
            {"nodeGroups": {"gpu": {**GOOD_GROUP, "instanceType": ["g5.xlarge"]}}},
            "sutazai:nodeGroups.gpu.instanceType: unknown key. Did you mean 'instanceTypes'?",
        ),
        (
            {"network": {**NET, "vpcCidr": "10.40.0.0/33"}},
            "sutazai:network.vpcCidr: Input is not a valid IPv4 network (got '10.40.0.0/33')",
        ),
        (
            {
                "network": {
                    **NET,
                    "dataSubnets": ["10.40.16.0/24", "10.40.65.0/24", "10.40.66.0/24"],
                }
            },
            "sutazai:network.dataSubnets[0]: 10.40.16.0/24 overlaps applicationSubnets[0]",
        ),
        (
            {"network": {**NET, "dataSubnets": ["10.99.0.0/24", "10.40.65.0/24", "10.40.66.0/24"]}},
            "sutazai:network.dataSubnets[0]: 10.99.0.0/24 is outside vpcCidr 10.40.0.0/16",
        ),
        (
            {"services": {"ollama": {"replicas": 0}}},
            "sutazai:services.ollama.replicas: Input should be greater than or equal to 1",
        ),
        (
            {"services": {"ollama": {"resources": {"memory": "lots"}}}},
            "'lots' is not a memory quantity",
        ),
        (
            {"clusterPublicAccessCidrs": ["0.0.0.0/0"]},
            "sutazai:clusterPublicAccessCidrs: 0.0.0.0/0 opens this to the world",
        ),
        (
            {"services": {"ollama": {"replica": 2}}},
            "sutazai:services.ollama.replica: unknown key. Did you mean 'replicas'? "
            "Allowed keys here: enabled, replicas, resources.",
        ),
        (
            {"environment": "prod", "vaultCidrs": []},
            "sutazai:vaultCidrs: prod needs the Vault servers' CIDRs",
        ),
        (
            {"clusterAdminRoleArns": ["arn:aws:iam::12:role/x"]},
            "sutazai:clusterAdminRoleArns[0]: String should match pattern",
        ),
        (
            {"environment": "prod", "vaultCidrs": ["10.9.0.0/24"]},
            "sutazai:vaultRouteTarget: prod needs the transit gateway or peering connection",
        ),
        (
            {"vaultRouteTarget": "igw-0123456789"},
            "sutazai:vaultRouteTarget: String should match pattern",
        ),
        ({"imageTag": "latest"}, "sutazai:imageTag: in-house images are never tagged 'latest'"),
        (
            {"ephemeralOwner": "alice", "ephemeralExpiresAt": "next tuesday"},
            "sutazai:ephemeralExpiresAt: 'next tuesday' is not an ISO 8601 timestamp",
        ),
        (
            {"environment": "prod", "vaultMode": "container"},
            "sutazai:vaultMode: prod uses an existing Vault, never a container",
        ),
        (
            {
                "environment": "prod",
                "policyEnforcement": "advisory",
                "vaultCidrs": ["10.9.0.0/24"],
                "vaultRouteTarget": "tgw-0123456789abcdef0",
            },
            "sutazai:policyEnforcement: prod enforces every policy (mandatory)",
        ),
        (
            {"disabledTiers": ["agents"]},
            "sutazai:disabledTiers[0]: Input should be 'data', 'core', 'vector', 'agent'",
        ),
    ],
)
def test_bad_config_names_the_key(overrides: dict[str, object], expected: str) -> None:
    problems = _problems(overrides)
    assert any(expected in p for p in problems), problems


def test_every_problem_is_reported_at_once() -> None:
    problems = _problems({"plattform": "x", "imageTag": "latest", "vaultMode": "cloud"})
    assert len(problems) == 3


def test_unparseable_structured_value_is_named() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config_bag({"sutazai:network": "{not json", "sutazai:environment": "dev"})
    assert raised.value.problems[0].startswith("sutazai:network: not valid structured config")


def test_other_namespaces_are_refused() -> None:
    """The program configures its providers itself: `aws:region` would be silently ignored."""
    with pytest.raises(ConfigError) as raised:
        parse_config_bag({"aws:region": "eu-west-1", "sutazai:environment": "dev"})
    assert raised.value.problems == [
        "aws:region: only 'sutazai:' keys configure this program (its providers are "
        "configured from them), got the namespace 'aws'"
    ]


def test_expiry_needs_a_timezone() -> None:
    with pytest.raises(ValueError, match="no timezone"):
        parse_expiry("2026-12-01T10:00:00")
    assert parse_expiry("2026-12-01T10:00:00+02:00").hour == 8


def test_every_eks_version_the_config_allows_has_an_autoscaler_build() -> None:
    from components.kubernetes import autoscaler

    assert set(EKS_VERSIONS) == set(autoscaler.IMAGES)


def test_required_peers_are_refused_per_key_with_every_dependent() -> None:
    bag, _ = stack_config_bag("dev")
    services = json.loads(bag["sutazai:services"])
    services["redis"] = {"enabled": False}
    with pytest.raises(ConfigError) as raised:
        parse_config_bag({**bag, "sutazai:services": json.dumps(services)}, load_catalog())
    assert raised.value.problems == [
        "sutazai:services.redis.enabled: turns off redis (data tier), which enabled services "
        "cannot work without (redis by backend); enable them or disable those services too"
    ]
    # An optional peer (the backend's qdrant) may go: only its edge goes with it.
    services["redis"] = {}
    services["qdrant"] = {"enabled": False}
    parse_config_bag({**bag, "sutazai:services": json.dumps(services)}, load_catalog())


def test_generated_documents_are_up_to_date() -> None:
    assert generated_docs.main(["--check"]) == 0


def test_pulumi_yaml_declares_every_key_with_its_model_default() -> None:
    declared = yaml.safe_load((PROJECT_DIR / "Pulumi.yaml").read_text())["config"]
    fields = {info.alias or name: info for name, info in StackConfig.model_fields.items()}
    assert set(declared) == set(fields)
    for key, declaration in declared.items():
        if "type" in declaration:
            assert declaration["description"], key
            # A required key has no default, so the CLI itself stops without it.
            assert ("default" in declaration) == (not fields[key].is_required()), key
    assert [k for k, f in fields.items() if f.is_required()] == ["environment"]
    # Defaults the CLI would apply give exactly the model's defaults.
    defaults = {
        f"sutazai:{k}": config_reference_value(v)
        for k, v in declared.items()
        if "default" in v or "value" in v
    }
    with pytest.raises(ConfigError) as raised:
        parse_config_bag(defaults)
    assert raised.value.problems == ["sutazai:environment: Field required"]
    defaults["sutazai:environment"] = "dev"
    assert parse_config_bag(defaults) == StackConfig(environment="dev")


def config_reference_value(declaration: dict[str, object]) -> str:
    value = declaration.get("default", declaration.get("value"))
    return value if isinstance(value, str) else json.dumps(value)


@pytest.mark.parametrize("stack", ["dev", "prod", "dev-cluster", "k8s-dev"])
def test_policy_enforcement_matches_the_pack_config_the_stack_is_checked_with(stack: str) -> None:
    from stacks.policy_check import config_for_stack

    config = parse_config_bag(stack_config_bag(stack)[0])
    path, pack_config = config_for_stack(stack)
    assert path.name == f"{config.environment}.json"
    assert pack_config["pack-settings"]["environment"] == config.environment
    if config.policy_enforcement == "mandatory":
        assert config.environment == "prod" and "all" not in pack_config
    else:
        assert config.environment == "dev" and pack_config["all"] == "advisory"


@pytest.mark.parametrize(
    ("environment", "enforcement", "problem"),
    [
        ("prod", "advisory", "policyEnforcement 'advisory'"),
        ("dev", "mandatory", "policyEnforcement 'mandatory'"),
        ("staging", "mandatory", "expected prod or dev"),
    ],
)
def test_policy_check_refuses_a_stack_whose_environment_and_enforcement_disagree(
    tmp_path: Path, environment: str, enforcement: str, problem: str
) -> None:
    from stacks.policy_check import EnvironmentMismatch, config_for_stack

    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.copy.yaml").write_text(
        f"config:\n  sutazai:environment: {environment}\n"
        f"  sutazai:policyEnforcement: {enforcement}\n"
    )
    with pytest.raises(EnvironmentMismatch, match=problem):
        config_for_stack("copy", root=tmp_path)


def test_a_copy_of_prod_under_another_name_gets_prod_rules(tmp_path: Path) -> None:
    from stacks.policy_check import CONFIG_DIR, EnvironmentMismatch, config_for_stack

    (tmp_path / "Pulumi.yaml").write_text((PROJECT_DIR / "Pulumi.yaml").read_text())
    (tmp_path / "Pulumi.shadow.yaml").write_text((PROJECT_DIR / "Pulumi.prod.yaml").read_text())
    path, config = config_for_stack("shadow", root=tmp_path)
    assert path.name == "prod.json" and config["pack-settings"]["environment"] == "prod"
    with pytest.raises(EnvironmentMismatch, match=r"dev\.json enforces 'dev'"):
        config_for_stack("shadow", CONFIG_DIR / "dev.json", root=tmp_path)
