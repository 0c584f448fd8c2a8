"""Ephemeral stack tooling, with the Pulumi CLI replaced by a fake at the process boundary."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from stacks import ephemeral
from stacks.config import TEMPLATE_ONLY_KEY, StackConfig
from stacks.ephemeral import (
    CONFIG_EXPIRES,
    CONFIG_OWNER,
    CONFIG_SHARED_CLUSTER,
    TAG_ENVIRONMENT,
    TAG_EPHEMERAL,
    TAG_EXPIRES,
    TAG_OWNER,
    Ephemeral,
    EphemeralError,
    PulumiCli,
    PulumiError,
    StackInfo,
    main,
    parse_ttl,
    reap_verdict,
    resolve_expiry,
    stack_name,
)
from tests.ephemeral.fakes import FakePulumi

NOW = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
PAST = "2026-11-26T06:00:00Z"
FUTURE = "2026-11-26T20:00:00Z"


def marked(owner: str, expires: str, **extra: str) -> tuple[dict[str, str], dict[str, str]]:
    tags = {TAG_EPHEMERAL: "true", TAG_OWNER: owner, TAG_EXPIRES: expires, TAG_ENVIRONMENT: "dev"}
    config = {
        CONFIG_OWNER: owner,
        CONFIG_EXPIRES: expires,
        "sutazai:environment": "dev",
        "sutazai:platform": "docker",
    }
    tags.update(extra)
    return tags, config


DEV_CONFIG = {"sutazai:platform": "docker", "sutazai:environment": "dev"}


@pytest.fixture
def fake() -> FakePulumi:
    fake = FakePulumi()
    fake.add("dev", {}, DEV_CONFIG)
    fake.add("prod", {TAG_ENVIRONMENT: "prod"}, {"sutazai:environment": "prod"})
    return fake


def tool(fake: FakePulumi, out: list[str] | None = None) -> Ephemeral:
    sink = out if out is not None else []
    return Ephemeral(fake, clock=lambda: NOW, out=sink.append)


# ── names ───────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize("owner", ["bob", "alice-2", "eve", "ab", "a" + "b" * 20])
def test_stack_names_are_dev_owner(owner: str) -> None:
    assert stack_name(owner) == f"dev-{owner}"
    # Whatever the CLI accepts, the program's config model accepts too.
    StackConfig.model_validate(
        {"environment": "dev", "ephemeralOwner": owner, "ephemeralExpiresAt": FUTURE}
    )


@pytest.mark.parametrize(
    "owner", ["", "b", "Bob", "bob smith", "1bob", "-bob", "bob_1", "bob.x", "a" * 22, "prod"]
)
def test_bad_owners_are_refused_with_the_rule(owner: str) -> None:
    with pytest.raises(EphemeralError, match="--owner"):
        stack_name(owner)


def test_the_default_owner_comes_from_the_environment() -> None:
    assert ephemeral.default_owner({"SUTAZAI_OWNER": "carol"}) == "carol"
    assert ephemeral.default_owner({"USER": "Alice.Smith"}) == "alice-smith"
    with pytest.raises(EphemeralError, match="--owner"):
        ephemeral.default_owner({"USER": "9"})


@pytest.mark.parametrize(
    ("name", "owner"),
    [("dev-bob", "bob"), ("acme/sutazai/dev-bob", "bob"), ("dev", None), ("prod", None),
     ("dev-", None), ("dev-Bob", None), ("bob", None), ("staging-bob", None)],
)  # fmt: skip
def test_owner_of_a_stack_name(name: str, owner: str | None) -> None:
    assert ephemeral.owner_of(name) == owner


# ── expiry ──────────────────────────────────────────────────────────────────────────────


@pytest.mark.parametrize(
    ("text", "delta"),
    [("8h", timedelta(hours=8)), ("2d", timedelta(days=2)), ("45m", timedelta(minutes=45)),
     ("1w", timedelta(weeks=1)), ("7d", timedelta(days=7)), ("15m", timedelta(minutes=15))],
)  # fmt: skip
def test_good_ttls(text: str, delta: timedelta) -> None:
    assert parse_ttl(text) == delta


@pytest.mark.parametrize(
    ("text", "message"),
    [("8", "not a duration"), ("8x", "not a duration"), ("h", "not a duration"),
     ("-1h", "not a duration"), ("0h", "not a duration"), ("1.5h", "not a duration"),
     ("8 hours", "not a duration"), ("8d", "maximum of 7d"), ("2w", "maximum of 7d"),
     ("10m", "minimum")],
)  # fmt: skip
def test_bad_ttls_name_the_flag_and_the_formats(text: str, message: str) -> None:
    with pytest.raises(EphemeralError) as caught:
        parse_ttl(text)
    text_of = str(caught.value)
    assert text_of.startswith("--ttl:") and message in text_of
    if message == "not a duration":
        assert "m, h, d or w" in text_of and "8h" in text_of


def test_expiry_from_ttl_or_timestamp() -> None:
    assert resolve_expiry("8h", None, NOW) == NOW + timedelta(hours=8)
    assert resolve_expiry(None, None, NOW) == NOW + timedelta(hours=8)  # the default
    assert resolve_expiry(None, "2026-11-27T09:30:00+01:00", NOW) == datetime(
        2026, 11, 27, 8, 30, tzinfo=UTC
    )


@pytest.mark.parametrize(
    ("expires", "message"),
    [("tomorrow", "ISO 8601"), ("2026-11-27T09:00:00", "timezone"),
     ("2026-11-26T06:00:00Z", "past"), ("2026-12-24T00:00:00Z", "maximum of 7d")],
)  # fmt: skip
def test_bad_expiry_names_the_flag(expires: str, message: str) -> None:
    with pytest.raises(EphemeralError) as caught:
        resolve_expiry(None, expires, NOW)
    assert str(caught.value).startswith("--expires:") and message in str(caught.value)


def test_ttl_and_expires_are_alternatives() -> None:
    with pytest.raises(EphemeralError, match="--ttl and --expires"):
        resolve_expiry("8h", FUTURE, NOW)


def test_durations_read_well() -> None:
    fmt = ephemeral.format_duration
    assert fmt(timedelta(hours=8)) == "8h"
    assert fmt(timedelta(days=7)) == "7d"
    assert fmt(timedelta(days=1, hours=2, minutes=3)) == "1d2h3m"
    assert fmt(timedelta(seconds=30)) == "0m"
    assert fmt(-timedelta(hours=6)) == "6h"


# ── the reaper's one decision ───────────────────────────────────────────────────────────


def info(name: str, tags: dict[str, str], config: dict[str, str] | None = None) -> StackInfo:
    return StackInfo(name, tags, config)


def test_an_expired_marked_stack_is_reaped() -> None:
    tags, config = marked("bob", PAST)
    verdict = reap_verdict(info("dev-bob", tags, config), NOW)
    assert verdict.reap and verdict.ephemeral and verdict.owner == "bob"
    assert verdict.reason == "expired 6h ago"


def test_an_unexpired_marked_stack_is_kept() -> None:
    tags, config = marked("eve", FUTURE)
    verdict = reap_verdict(info("dev-eve", tags, config), NOW)
    assert verdict.ephemeral and not verdict.reap and verdict.reason == "expires in 8h"


def test_expiry_exactly_now_counts_as_expired() -> None:
    tags, _ = marked("bob", "2026-11-26T12:00:00Z")
    assert reap_verdict(info("dev-bob", tags), NOW).reap


@pytest.mark.parametrize(
    ("name", "change", "reason"),
    [
        ("prod", {}, "not a dev-<owner> stack"),
        ("dev", {}, "not a dev-<owner> stack"),
        ("staging-bob", {}, "not a dev-<owner> stack"),
        ("bob", {}, "not a dev-<owner> stack"),
        ("dev-bob", {TAG_ENVIRONMENT: "prod"}, "prod"),
        ("dev-bob", {TAG_EPHEMERAL: "false"}, "no sutazai:ephemeral=true tag"),
        ("dev-bob", {TAG_EPHEMERAL: "True"}, "no sutazai:ephemeral=true tag"),
        ("dev-bob", {TAG_OWNER: "eve"}, "is not 'bob'"),
        ("dev-bob", {TAG_EXPIRES: "soon"}, "unreadable"),
        ("dev-bob", {TAG_EXPIRES: "2026-11-26T06:00:00"}, "unreadable"),  # no timezone
    ],
)
def test_anything_not_positively_marked_is_kept(
    name: str, change: dict[str, str], reason: str
) -> None:
    tags, config = marked("bob", PAST)
    tags.update(change)
    verdict = reap_verdict(info(name, tags, config), NOW)
    assert not verdict.reap, verdict
    assert reason in verdict.reason


def test_an_untagged_or_tagless_stack_is_kept() -> None:
    _, config = marked("x", PAST)
    assert not reap_verdict(info("dev-x", {}, config), NOW).ephemeral
    missing_expiry, _ = marked("x", PAST)
    del missing_expiry[TAG_EXPIRES]
    assert not reap_verdict(info("dev-x", missing_expiry), NOW).reap


def test_prod_config_keeps_a_stack_whatever_its_tags() -> None:
    tags, config = marked("bob", PAST)
    config["sutazai:environment"] = "prod"
    assert not reap_verdict(info("dev-bob", tags, config), NOW).reap


def test_config_must_agree_and_a_later_config_expiry_wins() -> None:
    tags, config = marked("bob", PAST)
    assert not reap_verdict(info("dev-bob", tags, {**config, CONFIG_OWNER: "eve"}), NOW).reap
    assert not reap_verdict(info("dev-bob", tags, {**config, CONFIG_EXPIRES: "x"}), NOW).reap
    extended = reap_verdict(info("dev-bob", tags, {**config, CONFIG_EXPIRES: FUTURE}), NOW)
    assert extended.ephemeral and not extended.reap


# ── the reaper over a mix of stacks ─────────────────────────────────────────────────────


def the_mix(fake: FakePulumi) -> None:
    fake.add("dev-bob", *marked("bob", PAST))  # expired ephemeral: reap
    fake.add("dev-eve", *marked("eve", FUTURE))  # unexpired: keep
    fake.add("dev-x", {}, {"sutazai:environment": "dev"})  # untagged dev-x: keep
    fake.add("dev-xy", {}, marked("xy", PAST)[1])  # untagged, expired config: keep
    fake.add("ci-old", *marked("old", PAST))  # expired-looking, not dev-<owner>: keep
    tags, config = marked("sam", PAST)
    del tags[TAG_EPHEMERAL]
    fake.add("dev-sam", tags, config)  # expired-looking, no ephemeral tag: keep
    fake.add("dev-pat", *marked("pat", PAST, **{TAG_ENVIRONMENT: "prod"}))  # prod: keep
    fake.add("acme/sutazai/dev-ann", *marked("ann", PAST))  # qualified name: reap


def test_reap_destroys_and_removes_exactly_the_expired_ephemeral_stacks(
    fake: FakePulumi,
) -> None:
    the_mix(fake)
    report = tool(fake).reap()
    assert fake.mutations() == [
        ("destroy", "dev-bob"),
        ("rm", "dev-bob"),
        ("destroy", "acme/sutazai/dev-ann"),
        ("rm", "acme/sutazai/dev-ann"),
    ]
    assert set(fake.stacks) == {
        "dev", "prod", "dev-eve", "dev-x", "dev-xy", "ci-old", "dev-sam", "dev-pat"
    }  # fmt: skip
    actions = {r["stack"]: r["action"] for r in report}
    assert actions["dev-bob"] == "reaped" and actions["prod"] == "keep"
    # Config is read only for tagged dev-<owner> candidates, never for prod or dev.
    read = {c[1] for c in fake.calls if c[0] == "config"}
    assert read == {"dev-bob", "dev-eve", "dev-pat", "acme/sutazai/dev-ann"}


def test_reap_dry_run_changes_nothing(fake: FakePulumi) -> None:
    the_mix(fake)
    out: list[str] = []
    report = tool(fake, out).reap(dry_run=True)
    assert fake.mutations() == []
    assert [r["stack"] for r in report if r["action"] == "would reap"] == [
        "dev-bob",
        "acme/sutazai/dev-ann",
    ]
    # Each action it would take is logged.
    assert out == [
        "dry run: would destroy and remove dev-bob (expired 6h ago)",
        "dry run: would destroy and remove acme/sutazai/dev-ann (expired 6h ago)",
    ]


def test_reap_logs_each_action(fake: FakePulumi) -> None:
    the_mix(fake)
    out: list[str] = []
    tool(fake, out).reap()
    assert out == [
        "reaping dev-bob (expired 6h ago)",
        "destroying dev-bob",
        "removed dev-bob",
        "reaping acme/sutazai/dev-ann (expired 6h ago)",
        "destroying acme/sutazai/dev-ann",
        "removed acme/sutazai/dev-ann",
    ]


@pytest.mark.parametrize(
    "name", ["prod", "staging", "dev", "dev-prod", "dev-staging", "dev-production", "org/p/prod"]
)
def test_reserved_names_are_never_reaped_whatever_their_tags(fake: FakePulumi, name: str) -> None:
    owner = name.rsplit("/", 1)[-1].removeprefix("dev-")
    fake.add(name, *marked(owner, PAST))
    assert ephemeral.owner_of(name) is None
    report = tool(fake).reap()
    assert fake.mutations() == []
    assert {r["action"] for r in report} == {"keep"}


def test_a_failed_destroy_keeps_the_stack_and_the_reaper_goes_on(fake: FakePulumi) -> None:
    the_mix(fake)
    fake.fail_on.add(("destroy", "dev-bob"))
    report = tool(fake).reap()
    assert "dev-bob" in fake.stacks  # not removed: its state still lists resources
    assert ("rm", "acme/sutazai/dev-ann") in fake.calls
    failed = [r for r in report if r["action"] == "failed"]
    assert [r["stack"] for r in failed] == ["dev-bob"] and "failed" in failed[0]["error"]


def test_reap_exit_code_reports_failures(
    fake: FakePulumi, capsys: pytest.CaptureFixture[str]
) -> None:
    the_mix(fake)
    fake.fail_on.add(("destroy", "dev-bob"))
    assert main(["reap", "--json"], pulumi=fake) == 1
    rows = json.loads(capsys.readouterr().out)
    assert {r["stack"] for r in rows if r["action"] == "failed"} == {"dev-bob"}


# ── create, list, extend, destroy ───────────────────────────────────────────────────────


def test_create_copies_dev_and_marks_config_and_tags(fake: FakePulumi) -> None:
    out: list[str] = []
    name = tool(fake, out).create("alice", "2d", None)
    expires = "2026-11-28T12:00:00Z"
    assert name == "dev-alice"
    assert fake.calls[1:] == [
        ("init", "dev-alice", "dev"),
        ("config-set", "dev-alice", CONFIG_OWNER, "alice"),
        ("config-set", "dev-alice", CONFIG_EXPIRES, expires),
        ("config-set", "dev-alice", "sutazai:environment", "dev"),
        ("tag-set", "dev-alice", TAG_EPHEMERAL, "true"),
        ("tag-set", "dev-alice", TAG_OWNER, "alice"),
        ("tag-set", "dev-alice", TAG_EXPIRES, expires),
        ("tag-set", "dev-alice", TAG_ENVIRONMENT, "dev"),
    ]
    assert fake.stacks["dev-alice"]["config"]["sutazai:platform"] == "docker"  # copied
    assert "pulumi up --stack dev-alice" in out[-1]
    # The new stack is one the reaper recognises, and not before it expires.
    verdict = reap_verdict(
        StackInfo(
            "dev-alice", fake.stacks["dev-alice"]["tags"], fake.stacks["dev-alice"]["config"]
        ),
        NOW,
    )
    assert verdict.ephemeral and not verdict.reap
    later = reap_verdict(
        StackInfo(
            "dev-alice", fake.stacks["dev-alice"]["tags"], fake.stacks["dev-alice"]["config"]
        ),
        NOW + timedelta(days=2),
    )
    assert later.reap


def test_create_refuses_an_existing_stack(fake: FakePulumi) -> None:
    fake.add("dev-bob", *marked("bob", FUTURE))
    with pytest.raises(EphemeralError, match="exists already"):
        tool(fake).create("bob", "8h", None)
    assert fake.mutations() == []


def test_create_refuses_to_copy_prod(fake: FakePulumi) -> None:
    with pytest.raises(EphemeralError, match="prod"):
        tool(fake).create("bob", "8h", None, template="prod")
    assert fake.mutations() == []


def test_create_validates_before_it_touches_anything(fake: FakePulumi) -> None:
    with pytest.raises(EphemeralError, match="--ttl"):
        tool(fake).create("bob", "30d", None)
    assert fake.mutations() == []


def test_a_failed_create_leaves_no_half_marked_stack(fake: FakePulumi) -> None:
    fake.fail_on.add(("tag-set", "dev-bob"))
    with pytest.raises(PulumiError):
        tool(fake).create("bob", "8h", None)
    assert "dev-bob" not in fake.stacks
    assert fake.calls[-1] == ("rm", "dev-bob")


def test_kubernetes_stacks_need_the_shared_cluster(fake: FakePulumi) -> None:
    fake.stacks["dev"]["config"]["sutazai:platform"] = "kubernetes"
    with pytest.raises(EphemeralError, match="--shared-cluster-stack"):
        tool(fake).create("bob", "8h", None)
    assert fake.mutations() == []
    tool(fake).create("bob", "8h", None, shared_cluster_stack="acme/sutazai/dev-cluster")
    assert fake.stacks["dev-bob"]["config"][CONFIG_SHARED_CLUSTER] == "acme/sutazai/dev-cluster"


def test_kubernetes_shared_cluster_can_come_from_the_dev_config(fake: FakePulumi) -> None:
    fake.stacks["dev"]["config"].update(
        {"sutazai:platform": "kubernetes", CONFIG_SHARED_CLUSTER: "acme/sutazai/shared"}
    )
    tool(fake).create("bob", "8h", None)
    assert fake.stacks["dev-bob"]["config"][CONFIG_SHARED_CLUSTER] == "acme/sutazai/shared"


def test_copies_of_a_template_stack_drop_its_template_only_key(fake: FakePulumi) -> None:
    fake.add(
        "k8s-dev",
        {},
        {
            "sutazai:platform": "kubernetes",
            CONFIG_SHARED_CLUSTER: "acme/sutazai/dev-cluster",
            TEMPLATE_ONLY_KEY: "true",
        },
    )
    tool(fake).create("bob", "8h", None, template="k8s-dev")
    assert ("config-rm", "dev-bob", TEMPLATE_ONLY_KEY) in fake.calls
    assert TEMPLATE_ONLY_KEY not in fake.stacks["dev-bob"]["config"]
    assert fake.stacks["k8s-dev"]["config"][TEMPLATE_ONLY_KEY] == "true"  # the template keeps it
    # A template without the key: nothing to remove.
    tool(fake).create("carol", "8h", None)
    assert not any(c[0] == "config-rm" and c[1] == "dev-carol" for c in fake.calls)


def test_pulumi_cli_removes_config_keys() -> None:
    recorder = Recorder({})
    PulumiCli(runner=recorder).remove_config("dev-bob", TEMPLATE_ONLY_KEY)
    assert recorder.commands == [
        ["pulumi", "config", "rm", "--stack", "dev-bob", TEMPLATE_ONLY_KEY, "--non-interactive"]
    ]


def test_docker_stacks_refuse_a_cluster(fake: FakePulumi) -> None:
    with pytest.raises(EphemeralError, match="docker"):
        tool(fake).create("bob", "8h", None, shared_cluster_stack="acme/x/y")


def test_list_shows_ephemeral_stacks_with_time_left(
    fake: FakePulumi, capsys: pytest.CaptureFixture[str]
) -> None:
    the_mix(fake)
    rows = tool(fake).listing()
    assert {r["stack"]: r["left"] for r in rows} == {
        "dev-bob": "expired",
        "dev-eve": "8h",
        "acme/sutazai/dev-ann": "expired",
    }
    assert main(["list"], pulumi=fake) == 0
    table = capsys.readouterr().out
    assert "dev-eve" in table and "prod" not in table and "dev-x" not in table


def test_extend_moves_config_and_tag(fake: FakePulumi) -> None:
    fake.add("dev-eve", *marked("eve", FUTURE))
    tool(fake).extend("eve", "2d", None)
    assert fake.stacks["dev-eve"]["tags"][TAG_EXPIRES] == "2026-11-28T12:00:00Z"
    assert fake.stacks["dev-eve"]["config"][CONFIG_EXPIRES] == "2026-11-28T12:00:00Z"


def test_destroy_removes_only_an_ephemeral_stack(fake: FakePulumi) -> None:
    the_mix(fake)
    tool(fake).destroy("eve")  # unexpired is fine: the owner asked
    assert fake.mutations() == [("destroy", "dev-eve"), ("rm", "dev-eve")]
    for owner in ("xy", "sam", "pat", "nobody"):
        with pytest.raises(EphemeralError, match="not an ephemeral stack"):
            tool(fake).destroy(owner)
    with pytest.raises(EphemeralError, match="--owner"):
        tool(fake).destroy("x")
    assert len(fake.mutations()) == 2


def test_cli_errors_exit_2_with_the_message(
    fake: FakePulumi, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["create", "--owner", "bob", "--ttl", "forever"], pulumi=fake) == 2
    err = capsys.readouterr().err
    assert "--ttl: 'forever' is not a duration" in err and "8h" in err
    assert main(["create", "--owner", "Bob!"], pulumi=fake) == 2
    assert "--owner" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # argparse: the two flags are mutually exclusive
        main(["create", "--owner", "bob", "--ttl", "8h", "--expires", FUTURE], pulumi=fake)


# ── the real boundary: which commands PulumiCli runs ────────────────────────────────────


class Recorder:
    def __init__(self, outputs: dict[str, str]) -> None:
        self.outputs = outputs
        self.commands: list[list[str]] = []

    def __call__(self, command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        self.commands.append(command)
        key = " ".join(command[1:3])
        return subprocess.CompletedProcess(command, 0, self.outputs.get(key, ""), "")


def test_pulumi_cli_commands_and_json_parsing() -> None:
    recorder = Recorder(
        {
            "stack ls": json.dumps([{"name": "dev-bob", "resourceCount": 7}, {"name": "prod"}]),
            "stack tag": json.dumps({TAG_EPHEMERAL: "true"}),
            "config --json": json.dumps(
                {"sutazai:platform": {"value": "docker", "secret": False},
                 "sutazai:x": {"value": "s3cr3t", "secret": True}}
            ),
        }
    )  # fmt: skip
    cli = PulumiCli(runner=recorder)
    assert cli.list_stacks() == [("dev-bob", 7), ("prod", None)]
    assert cli.stack_tags("dev-bob") == {TAG_EPHEMERAL: "true"}
    assert cli.stack_config("dev") == {"sutazai:platform": "docker", "sutazai:x": "[secret]"}
    cli.init_stack("dev-bob", copy_config_from="dev")
    cli.destroy("dev-bob")
    cli.remove_stack("dev-bob")
    assert recorder.commands[3:] == [
        ["pulumi", "stack", "init", "dev-bob", "--copy-config-from", "dev", "--non-interactive"],
        ["pulumi", "destroy", "--stack", "dev-bob", "--yes", "--skip-preview", "--non-interactive"],
        ["pulumi", "stack", "rm", "dev-bob", "--yes", "--non-interactive"],
    ]


def test_pulumi_cli_failures_and_diy_backends() -> None:
    def failing(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        return subprocess.CompletedProcess(command, 255, "", "stack tags not supported in diy mode")

    with pytest.raises(PulumiError, match="DIY backends"):
        PulumiCli(runner=failing).set_tag("dev-bob", TAG_EPHEMERAL, "true")

    def missing(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
        raise FileNotFoundError(command[0])

    with pytest.raises(PulumiError, match="not installed"):
        PulumiCli(runner=missing).list_stacks()


# ── owners bound to a GitHub login (the ephemeral workflow) ─────────────────────────────

LONGEST_LOGIN = "a" + "-b" * 19  # 39 characters, GitHub's maximum


@pytest.mark.parametrize(
    "login",
    ["alice", "Alice-Smith", "x", "42", "9lives", LONGEST_LOGIN, "Z" * 39, "prod", "dev"],
)
def test_a_login_gives_a_valid_owner_within_the_limit(login: str) -> None:
    owner = ephemeral.owner_for_login(login)
    assert len(owner) <= ephemeral.MAX_OWNER_LENGTH
    assert ephemeral.validate_owner(owner) == owner
    assert (
        StackConfig.model_validate(
            {"environment": "dev", "ephemeral_owner": owner, "ephemeral_expires_at": FUTURE}
        ).ephemeral_owner
        == owner
    )
    assert ephemeral.owner_for_login(login) == owner  # deterministic
    assert ephemeral.owner_of(stack_name(owner)) == owner


def test_logins_differing_only_in_case_are_one_person() -> None:
    assert ephemeral.owner_for_login("Alice") == ephemeral.owner_for_login("aLICE")


def test_long_logins_sharing_a_prefix_get_distinct_owners() -> None:
    prefix = "averyveryverylongloginname-"
    logins = [f"{prefix}{i:05d}"[:39] for i in range(20000)] + [prefix.rstrip("-"), LONGEST_LOGIN]
    owners = {ephemeral.owner_for_login(login) for login in logins}
    assert len(owners) == len(logins)


def test_a_login_cannot_take_the_owner_another_login_derives_to() -> None:
    # A short login that spells out someone's derived owner is still hashed: no alias.
    victim = ephemeral.owner_for_login("alice")
    assert ephemeral.owner_for_login(victim) != victim


@pytest.mark.parametrize(
    "login", ["", "-alice", "alice-", "al--ice", "a" * 40, "al_ice", "al ice", "al;ice", "ålice"]
)
def test_what_is_not_a_github_login_is_refused(login: str) -> None:
    with pytest.raises(EphemeralError, match=r"--github-login: .* is not a GitHub login"):
        ephemeral.owner_for_login(login)


def test_create_as_a_login_tags_the_full_login(fake: FakePulumi) -> None:
    assert main(["create", "--github-login", LONGEST_LOGIN, "--ttl", "8h"], pulumi=fake) == 0
    name = stack_name(ephemeral.owner_for_login(LONGEST_LOGIN))
    assert fake.stacks[name]["tags"][ephemeral.TAG_LOGIN] == LONGEST_LOGIN
    assert fake.stacks[name]["tags"][TAG_OWNER] == ephemeral.owner_for_login(LONGEST_LOGIN)


def test_a_login_acts_only_on_the_stack_tagged_with_it(fake: FakePulumi) -> None:
    assert main(["create", "--github-login", "alice", "--ttl", "8h"], pulumi=fake) == 0
    name = stack_name(ephemeral.owner_for_login("alice"))
    # Someone whose login derived to the same owner (a hash collision) is still refused.
    fake.stacks[name]["tags"][ephemeral.TAG_LOGIN] = "mallory"
    before = len(fake.mutations())
    assert main(["destroy", "--github-login", "alice"], pulumi=fake) == 2
    assert main(["extend", "--github-login", "alice", "--ttl", "1d"], pulumi=fake) == 2
    # A stack made by hand (no login tag) is not the workflow's to touch either.
    del fake.stacks[name]["tags"][ephemeral.TAG_LOGIN]
    assert main(["destroy", "--github-login", "alice"], pulumi=fake) == 2
    assert len(fake.mutations()) == before
    fake.stacks[name]["tags"][ephemeral.TAG_LOGIN] = "Alice"  # GitHub logins ignore case
    assert main(["extend", "--github-login", "alice", "--ttl", "1d"], pulumi=fake) == 0
    assert main(["destroy", "--github-login", "alice"], pulumi=fake) == 0
    assert name not in fake.stacks


def test_a_rerun_by_someone_else_does_not_act_on_the_owners_stack(
    fake: FakePulumi, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["create", "--github-login", "alice", "--ttl", "8h"], pulumi=fake) == 0
    before = len(fake.mutations())
    argv = ["destroy", "--github-login", "alice", "--triggered-by", "bob"]
    assert main(argv, pulumi=fake) == 2
    assert "--triggered-by: bob re-ran alice's run" in capsys.readouterr().err
    assert len(fake.mutations()) == before
    assert main([*argv[:3], "--triggered-by", "ALICE"], pulumi=fake) == 0


def test_owner_and_login_are_alternatives(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["destroy", "--owner", "bob", "--github-login", "alice"], pulumi=FakePulumi())
    assert main(["destroy", "--owner", "bob", "--triggered-by", "bob"], pulumi=FakePulumi()) == 2


def test_the_owner_command_prints_the_derived_owner(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["owner", "--github-login", "Alice"], pulumi=FakePulumi()) == 0
    assert capsys.readouterr().out.strip() == ephemeral.owner_for_login("alice")
