"""The Slack source keys of catch-up: ``backfill`` and ``reconcile_every``."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.config import ConfigError, ConfigIssue, parse_config

BASE = """\
team:
  alice: {slack: U0ALICE01, owner: true}
sources:
  acme:
    platform: slack
    channels: [C0CUST001]
"""


def issues_of(text: str) -> list[ConfigIssue]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, env={})
    return caught.value.issues


def test_defaults_and_values() -> None:
    plain = parse_config(BASE, env={}).sources["acme"]
    assert plain.backfill is None and plain.reconcile_every is None  # the feed's 7d / 10m
    set_ = parse_config(BASE + "    backfill: 2d\n    reconcile_every: 15m\n", env={})
    acme = set_.sources["acme"]
    assert acme.backfill == timedelta(days=2)
    assert acme.reconcile_every == timedelta(minutes=15)
    assert "backfill" not in acme.extra and "reconcile_every" not in acme.extra


def test_the_design_example_sets_both() -> None:
    from tests.config.test_config import EXAMPLE, SECRETS

    acme = parse_config(EXAMPLE, env=SECRETS).sources["acme"]
    assert acme.backfill == timedelta(days=7) and acme.reconcile_every == timedelta(minutes=10)


@pytest.mark.parametrize(
    ("line", "path", "words"),
    [
        ("backfill: soon", "sources.acme.backfill", "duration"),
        ("backfill: -1d", "sources.acme.backfill", ""),
        ("reconcile_every: often", "sources.acme.reconcile_every", "duration"),
        ("reconcile_every: 20s", "sources.acme.reconcile_every", "shorter than a minute"),
    ],
)
def test_bad_values_name_the_key_and_the_fix(line: str, path: str, words: str) -> None:
    [issue] = issues_of(BASE + f"    {line}\n")
    assert issue.path == path
    assert words in issue.message + issue.fix
    assert issue.fix


@pytest.mark.parametrize(
    ("typo", "meant"), [("reconcile_evry", "reconcile_every"), ("backfil", "backfill")]
)
def test_misspelt_keys_get_did_you_mean(typo: str, meant: str) -> None:
    [issue] = issues_of(BASE + f"    {typo}: 10m\n")
    assert issue.path == f"sources.acme.{typo}"
    assert f"did you mean {meant!r}?" in issue.fix


def test_reconcile_every_is_only_for_slack() -> None:
    text = "sources:\n  web:\n    platform: webhook\n    secret: s\n    reconcile_every: 10m\n"
    [issue] = issues_of(text)
    assert issue.path == "sources.web.reconcile_every"
    assert "only read by slack sources" in issue.message


def test_other_platforms_keep_backfill_for_their_own_poller() -> None:
    text = "sources:\n  gh:\n    platform: github\n    repo: acme/widget\n    backfill: 3d\n"
    gh = parse_config(text, env={}).sources["gh"]
    assert gh.extra["backfill"] == "3d" and gh.backfill is None
