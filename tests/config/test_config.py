"""Loading nudgebot.yaml: the DESIGN.md example, lookups, interpolation and path resolution."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from bot.config import (
    DEFAULT_CLOSING_WORDS,
    Config,
    ConfigError,
    Escalation,
    Handoff,
    Person,
    Source,
    load_config,
    parse_config,
    resolve_config_path,
)
from bot.config.models import BUILTIN_POLICY

# The example from DESIGN.md ("Config file"), verbatim: it is part of the fixed interface.
EXAMPLE = (Path(__file__).parent / "design_example.yaml").read_text(encoding="utf-8")

SECRETS = {
    "WEBHOOK_SECRET": "hook-secret",
    "MASTODON_TOKEN": "masto-token",
    "DISCOURSE_KEY": "disc-key",
    "GITHUB_TOKEN": "gh-token",
}


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def example(tmp_path: Path, secrets: None) -> Config:
    path = tmp_path / "nudgebot.yaml"
    path.write_text(EXAMPLE, encoding="utf-8")
    return load_config(path)


def test_example_team(example: Config) -> None:
    alice = example.person("alice")
    assert alice is not None
    assert alice.name == "Alice Liddell"
    assert alice.slack == "U0ALICE01"
    assert alice.telegram == "111111111"
    assert alice.notify == "slack"
    assert alice.owner is True
    assert alice.hours is not None and alice.hours.spec == "Mon-Fri 09:00-17:30"
    assert alice.hours.contains(datetime(2026, 11, 2, 10, 0))
    bob = example.person("bob")
    assert bob is not None
    assert (bob.telegram, bob.notify, bob.owner, bob.hours) == (
        "222222222",
        "telegram",
        False,
        None,
    )
    assert bob.timezone == "Europe/Berlin"  # inherited from the top level
    assert example.person("carol") is None
    assert example.owners() == ("alice",)


def test_example_rotation(example: Config) -> None:
    support = example.rotations["support"]
    berlin = ZoneInfo("Europe/Berlin")
    assert support.members == ("alice", "bob")
    assert support.shift == timedelta(weeks=1)
    assert support.handoff == Handoff(0, time(9, 0))
    assert support.start == date(2026, 11, 2)
    assert support.tz == berlin
    assert not support.is_ical
    (override,) = support.overrides
    assert override.who == "bob"
    assert override.start == datetime(2026, 12, 24, tzinfo=berlin)
    assert override.end == datetime(2026, 12, 27, tzinfo=berlin)


def test_example_policy(example: Config) -> None:
    policy = example.policy_for("acme")
    assert policy is not None and policy.id == "standard"
    assert policy.reply_within == timedelta(minutes=15)
    assert policy.business_hours is not None
    assert policy.holidays == "DE"
    assert (policy.holiday_country, policy.holiday_subdivision) == ("DE", None)
    assert policy.remind_every == timedelta(minutes=30)
    assert policy.escalate_after == timedelta(hours=1)
    assert policy.escalate_to == Escalation("owner")
    assert policy.tz == ZoneInfo("Europe/Berlin")
    # No policy and no policy named "default": the built-in default, never "not nudged".
    assert example.policy_for("website") is BUILTIN_POLICY
    assert example.policy_for("nope") is None


def test_example_sources(example: Config) -> None:
    assert list(example.sources) == ["acme", "community", "website", "fediverse", "forum", "issues"]
    acme = example.source("acme")
    assert acme is not None
    assert (acme.platform, acme.channels, acme.owner, acme.rotation) == (
        "slack",
        ("C0CUST001",),
        "alice",
        "support",
    )
    community = example.sources["community"]
    assert community.chats == ("-1001234567890",)
    assert example.sources["website"].secret == "hook-secret"
    fediverse = example.sources["fediverse"]
    assert fediverse.token == "masto-token"
    assert fediverse.poll_every == timedelta(seconds=60)
    assert fediverse.instance == "https://mastodon.social"
    forum = example.sources["forum"]
    assert (forum.url, forum.api_key, forum.api_username, forum.categories) == (
        "https://forum.example.com",
        "disc-key",
        "system",
        ("support",),
    )
    issues = example.sources["issues"]
    assert (issues.repo, issues.token, issues.api_url) == (
        "acme/widget",
        "gh-token",
        "https://api.github.com",
    )
    assert example.source("nope") is None


def test_example_top_level(example: Config, tmp_path: Path) -> None:
    assert example.timezone == "Europe/Berlin"
    assert example.tz == ZoneInfo("Europe/Berlin")
    assert example.closing_words == DEFAULT_CLOSING_WORDS
    assert example.path == (tmp_path / "nudgebot.yaml").resolve()


def test_secrets_stay_out_of_repr(example: Config) -> None:
    shown = repr(example)
    for value in SECRETS.values():
        assert value not in shown


def test_config_is_immutable(example: Config) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        example.timezone = "UTC"  # type: ignore[misc]
    with pytest.raises(TypeError):
        example.team["eve"] = Person(id="eve")  # type: ignore[index]
    alice = example.team["alice"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        alice.owner = False  # type: ignore[misc]
    extra = parse_config("sources: {s: {platform: import, tags: [a, {b: 1}]}}").sources["s"].extra
    assert extra["tags"] == ("a", {"b": 1})
    with pytest.raises(TypeError):
        extra["tags"][1]["b"] = 2


def test_person_by_platform() -> None:
    config = parse_config(
        """
team:
  alice: {slack: U0ALICE01, telegram: 111, github: Alice-GH, email: Alice@Example.com,
          handles: ["@alice@mastodon.social", alice_forum]}
  bob: {telegram: "222"}
"""
    )
    assert config.person_by_platform("slack", "U0ALICE01") == "alice"
    assert config.person_by_platform("slack", "U0BOB") is None
    assert config.person_by_platform("telegram", 111) == "alice"
    assert config.person_by_platform("telegram", "222") == "bob"
    assert config.person_by_platform("github", "alice-gh") == "alice"
    assert config.person_by_platform("email", "alice@example.com") == "alice"
    assert config.person_by_platform("mastodon", "alice@mastodon.social") == "alice"
    assert config.person_by_platform("discourse", "Alice_Forum") == "alice"
    assert config.person_by_platform("slack", "111") is None  # ids are per platform
    assert config.person_by_identity("bob") == "bob"
    assert config.person_by_identity("U0ALICE01") == "alice"
    assert config.person_by_identity("stranger") is None


def test_defaults_and_notify() -> None:
    config = parse_config(
        """
team:
  a: {slack: U1, telegram: 1}
  b: {telegram: 2}
  c: {}
  d:
policies:
  default: {reply_within: 45s}
sources:
  s: {platform: webhook, secret: x}
  t: {platform: import, policy: default}
"""
    )
    assert [config.team[p].notify for p in "abcd"] == ["slack", "telegram", None, None]
    assert config.team["c"].name == "c"
    assert config.team["d"].timezone == "UTC"
    assert config.policy_for("s") is not None  # falls back to the policy named "default"
    assert config.sources["s"].policy == "default"
    assert config.timezone == "UTC"


def test_closing_words_can_be_turned_off() -> None:
    assert parse_config("closing_words: []").closing_words == ()
    assert parse_config("closing_words: [danke, merci]").closing_words == ("danke", "merci")


def test_ical_rotation(tmp_path: Path) -> None:
    (tmp_path / "oncall.ics").write_text("BEGIN:VCALENDAR\nEND:VCALENDAR\n")
    path = tmp_path / "nudgebot.yaml"
    path.write_text(
        """
rotations:
  web: {ical: "https://example.com/s.ics", refresh: 5m}
  file: {ical: oncall.ics, timezone: America/New_York}
"""
    )
    config = load_config(path)
    assert config.rotations["web"].ical == "https://example.com/s.ics"
    assert config.rotations["web"].refresh == timedelta(minutes=5)
    assert config.rotations["file"].ical == str((tmp_path / "oncall.ics").resolve())
    assert config.rotations["file"].refresh == timedelta(minutes=10)
    assert config.rotations["file"].is_ical


def test_daily_handoff_and_yaml_12_scalars() -> None:
    # YAML 1.1 would read 10:00 as 600 and NO (Norway) as false.
    config = parse_config(
        """
team: {a: {}, b: {}}
rotations:
  r: {members: [a, b], shift: 1d, handoff: 10:00, start: 2026-11-02}
policies:
  p: {reply_within: 4h, holidays: NO, escalate_to: "rotation:r", escalate_after: 0s}
  q: {reply_within: 1h30m, holidays: de-be, escalate_to: "slack-channel:C0ESC", escalate_after: 2h}
"""
    )
    assert config.rotations["r"].handoff == Handoff(None, time(10, 0))
    assert config.policies["p"].holidays == "NO"
    assert config.policies["p"].escalate_to == Escalation("rotation", "r")
    assert config.policies["p"].escalate_after == timedelta(0)
    assert config.policies["q"].holidays == "DE-BE"
    assert config.policies["q"].holiday_subdivision == "BE"
    assert str(config.policies["q"].escalate_to) == "slack-channel:C0ESC"


def test_source_extra_keys_are_kept() -> None:
    config = parse_config(
        "sources: {tw: {platform: x, token: t, query: '@acme', hashtags: [help]}}"
    )
    source = config.sources["tw"]
    assert dict(source.extra) == {"query": "@acme", "hashtags": ("help",)}


# --- environment interpolation -------------------------------------------------------------


def test_interpolation_forms() -> None:
    env = {"NAME": "Alice", "EMPTY": "", "TZ_NAME": "Asia/Tokyo"}
    config = parse_config(
        """
timezone: ${TZ_NAME}
team:
  a: {name: "Dr. ${NAME} (${MISSING:-none}) ${EMPTY:-x} $${LITERAL}"}
sources:
  s: {platform: webhook, secret: "${SECRET:-fallback}"}
""",
        env=env,
    )
    assert config.timezone == "Asia/Tokyo"
    assert config.team["a"].name == "Dr. Alice (none) x ${LITERAL}"
    assert config.sources["s"].secret == "fallback"


def test_interpolation_happens_after_parsing() -> None:
    # A secret full of YAML syntax must not change the file's structure.
    config = parse_config(
        "sources: {s: {platform: webhook, secret: '${S}'}}", env={"S": "a: [b, #c}"}
    )
    assert config.sources["s"].secret == "a: [b, #c}"


def test_unset_variable_names_key_and_variable() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("sources: {website: {platform: webhook, secret: '${WEBHOOK_SECRET}'}}", env={})
    assert str(caught.value) == (
        "nudgebot.yaml: sources.website.secret: environment variable WEBHOOK_SECRET is not set"
        " — export it or write the value"
    )  # and no second "secret is required" for the same key


def test_malformed_reference() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config("sources: {s: {platform: webhook, secret: '${bad name}'}}", env={})
    assert "sources.s.secret" in str(caught.value)
    assert "${NAME}" in caught.value.issues[0].fix


# --- which file -----------------------------------------------------------------------------


def test_resolve_config_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NUDGEBOT_CONFIG", raising=False)
    assert resolve_config_path(None) == Path("nudgebot.yaml")
    assert resolve_config_path("x.yaml") == Path("x.yaml")
    monkeypatch.setenv("NUDGEBOT_CONFIG", "/etc/nudgebot.yaml")
    assert resolve_config_path(None) == Path("/etc/nudgebot.yaml")
    assert resolve_config_path("cli.yaml") == Path("cli.yaml")


def test_missing_default_file_gives_empty_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NUDGEBOT_CONFIG", raising=False)
    config = load_config(None)
    assert config == Config()
    assert config.path is None
    assert config.tz == ZoneInfo("UTC")
    assert (dict(config.team), dict(config.sources), dict(config.rotations)) == ({}, {}, {})
    assert config.closing_words == DEFAULT_CLOSING_WORDS


def test_default_file_is_read_from_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NUDGEBOT_CONFIG", raising=False)
    (tmp_path / "nudgebot.yaml").write_text("timezone: Asia/Tokyo\n")
    assert load_config(None).timezone == "Asia/Tokyo"


def test_env_var_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "custom.yaml").write_text("timezone: America/Chicago\n")
    monkeypatch.setenv("NUDGEBOT_CONFIG", str(tmp_path / "custom.yaml"))
    assert load_config(None).timezone == "America/Chicago"


@pytest.mark.parametrize("how", ["cli", "env"])
def test_explicitly_named_missing_file_is_an_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, how: str
) -> None:
    monkeypatch.chdir(tmp_path)
    missing = tmp_path / "missing.yaml"
    if how == "env":
        monkeypatch.setenv("NUDGEBOT_CONFIG", str(missing))
    else:
        monkeypatch.delenv("NUDGEBOT_CONFIG", raising=False)
    with pytest.raises(ConfigError) as caught:
        load_config(missing if how == "cli" else None)
    assert str(caught.value).startswith(f"{missing}: file not found — ")


def test_empty_file_is_an_empty_config(tmp_path: Path) -> None:
    path = tmp_path / "nudgebot.yaml"
    path.write_text("# nothing yet\n")
    config = load_config(path)
    assert config.sources == {} and config.path == path.resolve()


def test_models_can_be_built_directly() -> None:
    config = Config(
        team={"a": Person(id="a", slack="U1", owner=True)},
        sources={"s": Source(id="s", platform="webhook", secret="x", owner="a")},
    )
    assert config.person_by_platform("slack", "U1") == "a"
    assert config.owners() == ("a",)
    assert config.team["a"].notify == "slack"
