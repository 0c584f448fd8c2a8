"""Stack-name headroom in the config model, and the owner limit the ephemeral tooling shares."""

from __future__ import annotations

import pytest

from stacks import ephemeral
from stacks.config import (
    EPHEMERAL_STACK_PREFIX,
    MAX_OWNER_LENGTH,
    MAX_STACK_NAME_LENGTH,
    StackConfig,
    parse_config_bag,
    validate_stack_name,
)
from stacks.errors import ConfigError

PLAIN = StackConfig(environment="dev")


def ephemeral_config(owner: str) -> StackConfig:
    return parse_config_bag(
        {
            "sutazai:environment": "dev",
            "sutazai:ephemeralOwner": owner,
            "sutazai:ephemeralExpiresAt": "2030-01-01T00:00:00Z",
        }
    )


@pytest.mark.parametrize(
    "stack", ["prod", "dev", "dev-cluster", "k8s-dev", "a" * MAX_STACK_NAME_LENGTH, "eu2-prod"]
)
def test_stack_names_within_the_headroom(stack: str) -> None:
    validate_stack_name(stack, PLAIN)


@pytest.mark.parametrize(
    "stack",
    [
        "a" * (MAX_STACK_NAME_LENGTH + 1),
        "Prod",  # RDS, ElastiCache, DNS and Kubernetes names are lowercase
        "prod--eu",  # RDS and ElastiCache identifiers refuse "--"
        "prod-",
        "1prod",
        "prod_eu",
        "prod.eu",
        "",
    ],
)
def test_stack_names_that_would_break_derived_names_are_refused(stack: str) -> None:
    with pytest.raises(ConfigError, match=f"stack name '{stack}'"):
        validate_stack_name(stack, PLAIN)


def test_an_ephemeral_stack_is_exactly_dev_owner_up_to_the_owner_limit() -> None:
    owner = "o" * MAX_OWNER_LENGTH
    validate_stack_name(f"{EPHEMERAL_STACK_PREFIX}{owner}", ephemeral_config(owner))
    with pytest.raises(ConfigError, match="is named 'dev-bob'"):
        validate_stack_name("dev-alice", ephemeral_config("bob"))
    with pytest.raises(ConfigError, match="ephemeralOwner"):
        ephemeral_config("o" * (MAX_OWNER_LENGTH + 1))


@pytest.mark.parametrize("owner", ["bob-", "bo--b", "Bob", "b", "o" * (MAX_OWNER_LENGTH + 1)])
def test_the_config_model_and_the_tooling_refuse_the_same_owners(owner: str) -> None:
    with pytest.raises(ConfigError):
        ephemeral_config(owner)
    with pytest.raises(ephemeral.EphemeralError):
        ephemeral.stack_name(owner)


@pytest.mark.parametrize("owner", ["al", "bob-2", "o" * MAX_OWNER_LENGTH])
def test_the_config_model_and_the_tooling_accept_the_same_owners(owner: str) -> None:
    assert ephemeral_config(owner).ephemeral_owner == owner
    assert ephemeral.stack_name(owner) == f"dev-{owner}"


def test_owners_derived_from_login_names_fit() -> None:
    long_login = "Alexandra.Konstantinopoulou-Smith"
    owner = ephemeral.default_owner({"SUTAZAI_OWNER": long_login})
    assert len(owner) <= MAX_OWNER_LENGTH and not owner.endswith("-")
    assert ephemeral.default_owner({"USER": "a..b"}) == "a-b"
