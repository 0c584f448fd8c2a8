"""Every field rule of stacks.constraints: a valid value passes, one that breaks it is caught
(auto-named cases included); then the resource and cross-resource checks, one by one."""

from __future__ import annotations

import re
from typing import Any

import pytest

from stacks.constraints import RULES, check_resources
from stacks.constraints.core import (
    AWS_AUTONAME,
    KUBERNETES_AUTONAME,
    Plan,
    Resource,
    Rule,
    TypeRules,
    merge,
    select,
)
from tests.constraints.cases import case_for

_TOKEN = re.compile(r"([^.\[{]+)(\[\]|\{\}|\{keys\})?")


def put(selector: str, value: Any) -> dict[str, Any]:
    """The smallest inputs in which `selector` names exactly `value`."""
    head, _, rest = selector.partition(".")
    match = _TOKEN.fullmatch(head)
    assert match is not None
    key, mode = match.group(1), match.group(2)
    inner = put(rest, value) if rest else value
    if mode == "[]":
        return {key: [inner]}
    if mode == "{}":
        return {key: {"some-key": inner}}
    if mode == "{keys}":
        return {key: {value: "v"}}
    return {key: inner}


def resource(type_: str, inputs: dict[str, Any], name: str = "sutazai-prod-x") -> Resource:
    return Resource(
        urn=f"urn:pulumi:prod::sutazai::{type_}::{name}",
        type=type_,
        name=name,
        provider="",
        inputs=inputs,
        plan=Plan("prod"),
    )


FIELD_RULES = [
    pytest.param(type_, rule, id=f"{type_}:{rule.field}")
    for type_, table in sorted(RULES.items())
    for rule in table.rules
]


@pytest.mark.parametrize(("type_", "rule"), FIELD_RULES)
def test_field_rule_accepts_valid_and_catches_invalid(type_: str, rule: Rule) -> None:
    case = case_for(type_, rule.field)
    assert case is not None, f"no valid/invalid case for {type_} {rule.field} in cases.py"
    good, bad = case
    assert [str(v) for v in rule.apply(resource(type_, put(rule.field, good)))] == []
    caught = list(rule.apply(resource(type_, put(rule.field, bad))))
    assert caught, f"{type_} {rule.field}: {bad!r} slipped through"
    assert all(v.value == bad for v in caught)
    assert all(type_ in v.resource for v in caught)


AUTONAMED = [
    pytest.param(type_, rule, id=f"{type_}:{rule.field}")
    for type_, table in sorted(RULES.items())
    for rule in table.rules
    if rule.autoname is not None
]


@pytest.mark.parametrize(("type_", "rule"), AUTONAMED)
def test_auto_named_physical_name_is_checked(type_: str, rule: Rule) -> None:
    assert rule.autoname is not None
    # A short logical name: the provider's name with its suffix is valid.
    assert list(rule.apply(resource(type_, {}, name="sutazai-prod-data"))) == []
    # A long one: logical name + "-" + the random suffix breaks the field's length (RBAC
    # names have no length limit, only a character rule: a '/' breaks those).
    suffix = "a0b1c2d3e4f5"[: rule.autoname.random_length]
    for logical in ("a" * 600, "bad/name%"):
        caught = list(rule.apply(resource(type_, {}, name=logical)))
        if caught:
            assert "(auto-named)" in caught[0].field
            assert caught[0].value == f"{logical}-{suffix}"
            return
    pytest.fail(f"{type_} {rule.field}: no auto-name was refused")


def test_auto_names_use_the_providers_longest_suffix() -> None:
    assert AWS_AUTONAME.physical("sutazai-prod-nodes") == "sutazai-prod-nodes-a0b1c2d"
    assert len(KUBERNETES_AUTONAME.physical("x")) == len("x-") + 8
    # An IAM role auto-name of exactly 56 characters still fits 64; 57 does not.
    role = RULES["aws:iam/role:Role"]
    assert list(role.apply(resource("aws:iam/role:Role", {}, name="r" * 56))) == []
    assert any(
        "(auto-named)" in v.field
        for v in role.apply(resource("aws:iam/role:Role", {}, name="r" * 57))
    )


def test_the_alb_security_group_description_of_prod_is_valid_now() -> None:
    sg = RULES["aws:ec2/securityGroup:SecurityGroup"]
    apostrophe = "Internet-facing ALB: HTTPS in, the ingress services' ports out"
    found = list(
        sg.apply(resource("aws:ec2/securityGroup:SecurityGroup", {"description": apostrophe}))
    )
    assert [v.field for v in found] == ["description"] and "'" in found[0].rule


# ── fail closed ──────────────────────────────────────────────────────────────────────────


def registration(type_: str, name: str, inputs: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "urn": f"urn:pulumi:prod::sutazai::{type_}::{name}",
        "type": type_,
        "name": name,
        "custom": True,
        "provider": "",
        "inputs": inputs,
        **extra,
    }


def test_a_type_without_rules_is_a_violation() -> None:
    found = check_resources([registration("aws:sfn/stateMachine:StateMachine", "q", {"name": "q"})])
    assert len(found) == 1 and found[0].field == "(type)"
    assert "no constraint rules" in str(found[0]) and "aws:sfn/stateMachine:StateMachine q" in str(
        found[0]
    )


def test_components_have_no_physical_object_and_are_skipped() -> None:
    component = registration("sutazai:index:SutazAI", "sutazai-prod", {}, custom=False)
    assert check_resources([component]) == []


def test_an_empty_table_must_say_why() -> None:
    with pytest.raises(ValueError, match="must say why"):
        merge({"x:y:Z": TypeRules()})
    with pytest.raises(ValueError, match="two rule tables"):
        merge(
            {"x:y:Z": TypeRules(nothing_to_check="ids")}, {"x:y:Z": TypeRules(nothing_to_check="i")}
        )


def test_secrets_and_engine_floats_are_made_plain() -> None:
    sig = "4dabf18193072939515e22adb298388d"
    wrapped = {sig: "1b47061264138c4ac30d75fd1eb44270", "value": "has space"}
    found = check_resources(
        [
            registration("aws:kms/key:Key", "k", {"deletionWindowInDays": 31.0}),
            registration("aws:kms/alias:Alias", "a", {"name": wrapped}),
        ]
    )
    assert {(v.field, v.value) for v in found} == {
        ("deletionWindowInDays", 31),
        ("name", "has space"),
    }


def test_select_reports_each_path() -> None:
    inputs = {"a": [{"b": 1}, {"b": 2}], "m": {"k": "v"}}
    assert list(select(inputs, "a[].b")) == [("a[0].b", 1), ("a[1].b", 2)]
    assert list(select(inputs, "m{keys}")) == [("m.k (key)", "k")]
    assert list(select(inputs, "m{}")) == [("m.k", "v")]
    assert list(select(inputs, "missing.x")) == []
    # The wrong shape is handed to the check, never silently skipped.
    assert list(select({"a": "not-a-list"}, "a[].b")) == [("a", "not-a-list")]


def test_duplicate_names_in_one_scope_are_caught() -> None:
    found = check_resources(
        [
            registration("aws:iam/role:Role", "one", {"name": "sutazai-nodes"}),
            registration("aws:iam/role:Role", "two", {"name": "sutazai-nodes"}),
            registration("docker:index/volume:Volume", "v1", {"name": "data"}),
            registration("docker:index/volume:Volume", "v2", {"name": "data"}),
        ]
    )
    assert sorted(v.resource for v in found) == [
        "aws:iam/role:Role two",
        "docker:index/volume:Volume v2",
    ]


def test_kubernetes_names_are_unique_per_namespace_only() -> None:
    def config_map(name: str, namespace: str) -> dict[str, Any]:
        return registration(
            "kubernetes:core/v1:ConfigMap",
            f"{namespace}-{name}",
            {"metadata": {"name": name, "namespace": namespace}, "data": {}},
        )

    namespaces = [
        registration("kubernetes:core/v1:Namespace", n, {"metadata": {"name": n}})
        for n in ("a", "b")
    ]
    assert check_resources([*namespaces, config_map("c", "a"), config_map("c", "b")]) == []
    found = check_resources([*namespaces, config_map("c", "a"), config_map("c", "a")])
    assert any("already the name of" in v.rule for v in found)


def test_violations_read_as_one_line_naming_resource_field_value_rule() -> None:
    (found,) = check_resources(
        [registration("aws:kms/key:Key", "data", {"deletionWindowInDays": 3})]
    )
    assert str(found) == "aws:kms/key:Key data: deletionWindowInDays = 3: must be 7-30"
