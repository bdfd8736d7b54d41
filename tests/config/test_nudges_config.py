"""``nudges:`` — the flood limits, at the top level and on a team member."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import ConfigError, NudgeLimits, parse_config

TEAM = """\
team:
  alice: {slack: U0ALICE01, owner: true}
  bob:
    slack: U0BOB0002
    nudges: {batch_after: 10}
"""


def test_defaults_when_absent() -> None:
    config = parse_config(TEAM, env={})
    assert config.nudges == NudgeLimits()
    assert config.nudge_limits("alice") == NudgeLimits(
        batch_after=3, batch_window=timedelta(minutes=2), max_messages_per_hour=12
    )


def test_top_level_and_a_member_override_only_what_they_set() -> None:
    text = TEAM + "nudges: {batch_window: 90s, max_messages_per_hour: 30}\n"
    config = parse_config(text, env={})
    assert config.nudge_limits("alice") == NudgeLimits(
        batch_after=3, batch_window=timedelta(seconds=90), max_messages_per_hour=30
    )
    assert config.nudge_limits("bob") == NudgeLimits(
        batch_after=10, batch_window=timedelta(seconds=90), max_messages_per_hour=30
    )
    assert config.nudge_limits(None) == config.nudges  # an escalation channel: the top level


@pytest.mark.parametrize(
    ("written", "path", "words"),
    [
        ("nudges: {batch_after: 0}", "nudges.batch_after", "at least 1"),
        ("nudges: {batch_after: three}", "nudges.batch_after", "whole number"),
        ("nudges: {max_messages_per_hour: true}", "nudges.max_messages_per_hour", "whole number"),
        ("nudges: {batch_window: soon}", "nudges.batch_window", ""),
        ("nudges: {batch_afterr: 3}", "nudges.batch_afterr", "did you mean 'batch_after'"),
        ("nudges: 5", "nudges", ""),
    ],
)
def test_bad_values_name_the_key_and_the_fix(written: str, path: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(TEAM + written + "\n", env={})
    [issue] = caught.value.issues
    assert issue.path == path
    assert words in f"{issue.message} {issue.fix}"
    assert issue.fix


def test_a_bad_member_value_names_the_member() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(TEAM.replace("batch_after: 10", "batch_after: -1"), env={})
    [issue] = caught.value.issues
    assert issue.path == "team.bob.nudges.batch_after"
