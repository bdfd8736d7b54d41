"""Every kind of config mistake names the file, the key path and a fix — all at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, ConfigIssue, load_config, parse_config

BASE = """\
timezone: Europe/Berlin
team:
  alice: {slack: U0ALICE01, owner: true}
  bob: {telegram: 222}
rotations:
  support: {members: [alice, bob], shift: 1w, handoff: Mon 09:00, start: 2026-11-02}
policies:
  standard: {reply_within: 15m}
"""


def issues_of(text: str, env: dict[str, str] | None = None) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env=env or {})
    assert str(caught.value) == "\n".join(str(i) for i in caught.value.issues)
    for issue in caught.value.issues:
        assert issue.file == "nudgebot.yaml"
        assert issue.message and issue.fix
    return caught.value.issues


def one_issue(text: str) -> ConfigIssue:
    found = issues_of(text)
    assert len(found) == 1, [str(i) for i in found]
    return found[0]


def test_unknown_person_in_rotation_matches_the_documented_line() -> None:
    issue = one_issue(BASE.replace("[alice, bob]", "[alice, bob, carol]"))
    assert str(issue) == (
        "nudgebot.yaml: rotations.support.members[2]: unknown person 'carol'"
        " — add carol under team: or remove carol from the rotation"
    )


def test_close_misspelling_gets_a_suggestion() -> None:
    issue = one_issue(BASE.replace("[alice, bob]", "[alice, bobb]"))
    assert issue.path == "rotations.support.members[1]"
    assert "did you mean 'bob'?" in issue.fix


def test_yaml_syntax_error_has_line_number() -> None:
    issue = one_issue("team:\n  alice: {slack: U1\n  bob: {}\n")
    assert issue.path.startswith("line ")
    assert "not valid YAML" in issue.message


def test_duplicate_yaml_key() -> None:
    issue = one_issue("team:\n  alice: {}\n  alice: {owner: true}\n")
    assert issue.path == "line 3, column 3"
    assert "duplicate key 'alice' (first on line 2)" in issue.message


@pytest.mark.parametrize("text", ["- a\n- b\n", "just text\n", "42\n"])
def test_top_level_must_be_a_mapping(text: str) -> None:
    issue = one_issue(text)
    assert issue.path == ""
    assert "must be a mapping" in issue.message
    assert str(issue).startswith("nudgebot.yaml: the file must be a mapping")


@pytest.mark.parametrize(
    ("text", "path", "suggestion"),
    [
        ("timezones: UTC\n", "timezones", "'timezone'"),
        ("team: {a: {nam: A}}\n", "team.a.nam", "'name'"),
        (BASE.replace("shift: 1w", "shfit: 1w, shift: 1w"), "rotations.support.shfit", "'shift'"),
        (
            BASE.replace("reply_within: 15m", "reply_within: 15m, remind_evry: 1h"),
            "policies.standard.remind_evry",
            "'remind_every'",
        ),
        ("sources: {s: {platform: slack, chanels: [C1]}}\n", "sources.s.chanels", "'channels'"),
    ],
)
def test_unknown_keys_suggest_the_closest(text: str, path: str, suggestion: str) -> None:
    issue = one_issue(text)
    assert issue.path == path
    assert issue.message.startswith("unknown key")
    assert suggestion in issue.fix


def test_unknown_key_without_a_close_match_lists_valid_keys() -> None:
    issue = one_issue("team: {a: {favourite_colour: blue}}\n")
    assert issue.fix.startswith("valid keys: name, slack, telegram")


def test_unknown_override_key() -> None:
    text = BASE.replace(
        "start: 2026-11-02}",
        "start: 2026-11-02, overrides: [{who: bob, form: 2026-01-01 00:00, to: 2026-01-02 00:00}]}",
    )
    found = issues_of(text)
    paths = {i.path for i in found}
    assert "rotations.support.overrides[0].form" in paths
    assert "rotations.support.overrides[0].from" in paths  # and the required from is missing


def test_unknown_person_in_source_override_and_escalation() -> None:
    text = BASE.replace(
        "start: 2026-11-02}",
        "start: 2026-11-02, overrides: [{who: eve, from: 2026-01-01 00:00, to: 2026-01-02 00:00}]}",
    ).replace(
        "reply_within: 15m", "reply_within: 15m, escalate_after: 1h, escalate_to: 'person:zed'"
    )
    text += "sources:\n  s: {platform: import, owner: mallory}\n"
    paths = {i.path: i for i in issues_of(text)}
    assert set(paths) == {
        "rotations.support.overrides[0].who",
        "policies.standard.escalate_to",
        "sources.s.owner",
    }
    assert paths["sources.s.owner"].message == "unknown person 'mallory'"
    assert "add mallory under team:" in paths["sources.s.owner"].fix


def test_unknown_rotation_and_policy() -> None:
    text = BASE + "sources:\n  s: {platform: import, rotation: suport, policy: premium}\n"
    by_path = {i.path: i for i in issues_of(text)}
    assert by_path["sources.s.rotation"].message == "unknown rotation 'suport'"
    assert "did you mean 'support'?" in by_path["sources.s.rotation"].fix
    assert by_path["sources.s.policy"].message == "unknown policy 'premium'"
    assert "add premium under policies:" in by_path["sources.s.policy"].fix
    issue = one_issue(
        BASE.replace("reply_within: 15m", "reply_within: 15m, escalate_to: 'rotation:x'")
    )
    assert (issue.path, issue.message) == ("policies.standard.escalate_to", "unknown rotation 'x'")


@pytest.mark.parametrize("bad", ["15", "fast", "0m", "-5m", "[1m]"])
def test_bad_duration(bad: str) -> None:
    issue = one_issue(BASE.replace("reply_within: 15m", f"reply_within: {bad}"))
    assert issue.path == "policies.standard.reply_within"
    assert str(issue).startswith("nudgebot.yaml: policies.standard.reply_within: ")


def test_duration_without_unit_suggests_units() -> None:
    issue = one_issue(BASE.replace("reply_within: 15m", "reply_within: 15"))
    assert "15m" in issue.fix


@pytest.mark.parametrize(
    "bad", ["Mon-Fri 9-17", "Someday 09:00-10:00", "Mon-Fri 09:00-25:00", "'24/7'"]
)
def test_bad_hours(bad: str) -> None:
    issue = one_issue(f"team:\n  a: {{hours: {bad}}}\n")
    assert issue.path == "team.a.hours"
    assert issue.fix


def test_unknown_timezone_suggests_close_match() -> None:
    issue = one_issue("timezone: Europe/Berln\n")
    assert (issue.path, issue.message) == ("timezone", "unknown time zone 'Europe/Berln'")
    assert "did you mean Europe/Berlin?" in issue.fix
    issue = one_issue("team: {a: {timezone: europe/paris}}\n")
    assert issue.path == "team.a.timezone" and "Europe/Paris" in issue.fix
    issue = one_issue(BASE.replace("shift: 1w", "shift: 1w, timezone: Mars/Olympus"))
    assert issue.path == "rotations.support.timezone"


@pytest.mark.parametrize(
    ("code", "hint"), [("XX", "country"), ("DE-ZZ", "BE"), ("Germany", "ISO country code")]
)
def test_bad_holidays_code(code: str, hint: str) -> None:
    issue = one_issue(BASE.replace("reply_within: 15m", f"reply_within: 15m, holidays: {code}"))
    assert issue.path == "policies.standard.holidays"
    assert hint in str(issue)


@pytest.mark.parametrize("secret", ["", "secret: ''", "secret: ~", "secret: '${S:-}'"])
def test_webhook_needs_a_secret(secret: str) -> None:
    body = f"platform: webhook, {secret}" if secret else "platform: webhook"
    issue = one_issue(f"sources:\n  website: {{{body}}}\n")
    assert issue.path == "sources.website.secret"
    assert "secret" in issue.fix


@pytest.mark.parametrize(
    ("text", "path", "fix"),
    [
        (
            "sources: {s: {platform: slack, channels: C0CUST001}}",
            "sources.s.channels",
            "channels: ",
        ),
        ("team: [alice, bob]", "team", "team: {"),
        ("team: {a: {handles: '@a'}}", "team.a.handles", "handles: "),
        ("team: {a: {owner: maybe}}", "team.a.owner", "true or false"),
        (
            BASE.replace("members: [alice, bob]", "members: alice"),
            "rotations.support.members",
            "members:",
        ),
        ("closing_words: thanks", "closing_words", "closing_words: "),
        ("rotations: {r: 5}", "rotations.r", "members"),
        ("team: {a: {name: [A]}}", "team.a.name", "Alice"),
    ],
)
def test_wrong_types(text: str, path: str, fix: str) -> None:
    issue = one_issue(text + "\n")
    assert issue.path == path
    assert issue.message.startswith("expected ")
    assert fix in issue.fix


def test_notify_without_the_id() -> None:
    issue = one_issue("team:\n  bob: {telegram: 222, notify: slack}\n")
    assert str(issue) == (
        "nudgebot.yaml: team.bob.notify: notify: slack but bob has no slack ID — add slack:"
        " <Slack user ID, e.g. U0ALICE01> under team.bob, or notify: telegram or notify: email"
    )
    issue = one_issue("team:\n  alice: {slack: U1, notify: telegram}\n")
    assert issue.path == "team.alice.notify" and "telegram" in issue.message
    issue = one_issue("team:\n  alice: {slack: U1, notify: email}\n")
    assert issue.fix == (
        "add email: <address, e.g. alice@example.com> under team.alice, "
        "or notify: slack or notify: telegram"
    )
    issue = one_issue("team:\n  alice: {slack: U1, notify: pigeon}\n")
    assert issue.fix == "write slack or telegram or email"


def test_duplicate_rotation_member() -> None:
    issue = one_issue(BASE.replace("[alice, bob]", "[alice, bob, alice]"))
    assert (issue.path, issue.message) == ("rotations.support.members[2]", "alice is listed twice")


def test_override_must_end_after_it_starts() -> None:
    text = BASE.replace(
        "start: 2026-11-02}",
        "start: 2026-11-02, overrides: [{who: bob, from: 2026-12-27 00:00, to: 2026-12-24 00:00}]}",
    )
    issue = one_issue(text)
    assert (issue.path, issue.message) == (
        "rotations.support.overrides[0].to",
        "to is not after from",
    )


def test_bad_dates() -> None:
    text = BASE.replace(
        "start: 2026-11-02}",
        "start: 2026-02-30, overrides: [{who: bob, from: Xmas, to: 2026-12-27T00:00+01:00}]}",
    )
    paths = {i.path for i in issues_of(text)}
    assert paths == {"rotations.support.start", "rotations.support.overrides[0].from"}


def test_rotation_needs_members_shift_handoff_start_or_ical() -> None:
    found = issues_of("rotations:\n  r: {}\n")
    assert [i.path for i in found] == [
        "rotations.r.members",
        "rotations.r.shift",
        "rotations.r.handoff",
        "rotations.r.start",
    ]
    found = issues_of("team: {a: {}}\nrotations:\n  r: {ical: 'https://x/y.ics', members: [a]}\n")
    assert [i.path for i in found] == ["rotations.r.members"]
    issue = one_issue("rotations:\n  r: {ical: missing.ics}\n")
    assert "not found" in issue.message


@pytest.mark.parametrize("handoff", ["Mon", "Funday 09:00", "25:00", "Mon 9"])
def test_bad_handoff(handoff: str) -> None:
    issue = one_issue(BASE.replace("handoff: Mon 09:00", f"handoff: '{handoff}'"))
    assert issue.path == "rotations.support.handoff"
    assert "Mon 09:00" in issue.fix


def test_bad_ids_platform_and_source_fields() -> None:
    found = issues_of(
        """
team:
  "bad id": {}
  dup1: {slack: U1}
  dup2: {slack: U1}
  dup3: {telegram: '@dup3'}
sources:
  a: {platform: slak}
  b: {platform: telegram, channels: [C1], chats: [general]}
  c: {platform: slack, channels: ['#general']}
  d: {platform: github, repo: widget, api_url: api.github.com}
  e: {platform: mastodon}
  f: {platform: import, customers: everybody}
"""
    )
    paths = [i.path for i in found]
    assert paths == [
        "team.bad id",
        "team.dup3.telegram",
        "team.dup2.slack",
        "sources.a.platform",
        "sources.b.channels",
        "sources.b.chats[0]",
        "sources.c.channels[0]",
        "sources.d.api_url",
        "sources.d.repo",
        "sources.e.instance",
        "sources.e.token",
        "sources.f.customers",
    ]
    assert found[2].message == "slack ID U1 also belongs to dup1"
    assert "did you mean slack?" in found[3].fix


def test_escalation_needs_a_target_and_owners() -> None:
    issue = one_issue(BASE.replace("reply_within: 15m", "reply_within: 15m, escalate_after: 1h"))
    assert issue.path == "policies.standard.escalate_to"
    issue = one_issue(
        BASE.replace("owner: true", "owner: false").replace(
            "reply_within: 15m", "reply_within: 15m, escalate_after: 1h, escalate_to: owner"
        )
    )
    assert "owner: true" in issue.message
    issue = one_issue(BASE.replace("reply_within: 15m", "reply_within: 15m, escalate_to: boss"))
    assert "is not an escalation target" in issue.message


def test_several_errors_reported_together(tmp_path: Path) -> None:
    path = tmp_path / "nudgebot.yaml"
    path.write_text(
        """\
timezone: Europe/Berln
team:
  alice: {slack: U0ALICE01, hours: Mon-Fri 9-5}
rotations:
  support: {members: [alice, carol], shift: 1 week, handoff: Mon 09:00, start: 2026-11-02}
policies:
  standard: {reply_within: 15m, holidays: XX}
sources:
  website: {platform: webhook, owner: alice, policy: standrd}
"""
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    lines = str(caught.value).splitlines()
    assert [line.split(": ")[1] for line in lines] == [
        "timezone",
        "team.alice.hours",
        "rotations.support.members[1]",
        "rotations.support.shift",
        "policies.standard.holidays",
        "sources.website.secret",
        "sources.website.policy",
    ]
    assert all(line.startswith(f"{path}: ") for line in lines)
    assert all(" — " in line for line in lines)


def test_unreadable_files(tmp_path: Path) -> None:
    binary = tmp_path / "bad.yaml"
    binary.write_bytes(b"timezone: \xff\xfe\n")
    with pytest.raises(ConfigError, match="UTF-8"):
        load_config(binary)
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path)  # a directory


def test_recursive_alias_is_an_error_not_a_hang() -> None:
    issue = one_issue("sources: {s: &a {platform: import, more: [*a]}}\n")
    assert "alias" in issue.message
