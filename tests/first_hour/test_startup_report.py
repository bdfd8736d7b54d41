"""Setups that silently did nothing are named at start (check-config and run), and --strict
turns them into errors; a source without `policy:` is nudged under a default policy."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.app import build_rules
from bot.config import parse_config
from bot.config.report import startup_report

CONFIG = """
timezone: Europe/Berlin
team:
  alice: {name: Alice, slack: U001}
  bob: {name: Bob, telegram: "42"}
  carol: {name: Carol}
sources:
  website: {platform: webhook, secret: Qm9yZWFsaXMtd2ViaG9vay1zZWNyZXQtMDAwMDAwMDA, owner: alice}
  gh: {platform: github, repo: acme/widget, discusions: true}
  tg: {platform: telegram, chats: ["-100123"], private_chat: true}
  sl: {platform: slack, channels: [C01]}
"""


def _report(env: dict[str, str], text: str = CONFIG) -> tuple[str, str]:
    config = parse_config(text, file="nudgebot.yaml")
    report = startup_report(config, "nudgebot.yaml", env)
    return "\n".join(report.lines), "\n".join(report.warnings)


def test_a_source_without_policy_gets_the_builtin_default() -> None:
    config = parse_config(CONFIG, file="nudgebot.yaml")
    since = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert build_rules(config).due_at("website", since) == since + timedelta(hours=1)
    lines, _ = _report({})
    assert (
        "source website: webhook, credentials: secret set, policy built-in default "
        "(reply within 1h, 24/7, remind every 1h, no escalation)" in lines
    )


def test_a_policy_named_default_wins_over_the_builtin() -> None:
    text = CONFIG + "policies:\n  default: {reply_within: 4h}\n"
    config = parse_config(text, file="nudgebot.yaml")
    since = datetime(2026, 12, 1, 3, 0, tzinfo=UTC)
    assert build_rules(config).due_at("website", since) == since + timedelta(hours=4)
    assert "policy default (reply within 4h" in _report({}, text)[0]


def test_missing_credentials_and_messengers_are_warnings() -> None:
    lines, warnings = _report({})
    assert "SLACK_BOT_TOKEN is not set" in warnings and "TELEGRAM_BOT_TOKEN" in warnings
    assert "nudges for Alice will not be delivered" in warnings
    assert "nudges for Carol go nowhere" in warnings
    assert "person bob: nudges go to telegram (not configured" in lines
    _, with_tokens = _report({"SLACK_BOT_TOKEN": "xoxb-1", "TELEGRAM_BOT_TOKEN": "1:x"})
    assert "not set" not in with_tokens


@pytest.mark.parametrize(
    ("key", "guess"), [("gh.discusions", "discussions"), ("tg.private_chat", "private_chats")]
)
def test_misspelled_github_and_telegram_options_are_named(key: str, guess: str) -> None:
    _, warnings = _report({})
    assert f"sources.{key}: unknown option, ignored — did you mean {guess!r}?" in warnings


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUDGEBOT_CONFIG", "SLACK_BOT_TOKEN", "TELEGRAM_BOT_TOKEN")}  # fmt: skip
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.db'}"
    return subprocess.run([sys.executable, "-m", "bot", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_check_config_strict_fails_on_warnings(tmp_path: Path) -> None:
    (tmp_path / "nudgebot.yaml").write_text(CONFIG)
    lenient = _cli(tmp_path, "check-config")
    assert lenient.returncode == 0, lenient.stderr
    assert "did you mean 'discussions'" in lenient.stderr
    strict = _cli(tmp_path, "check-config", "--strict")
    assert strict.returncode == 1 and "--strict" in strict.stderr


def test_a_missing_config_file_is_a_warning_and_strict_run_refuses(tmp_path: Path) -> None:
    done = _cli(tmp_path, "check-config")
    assert done.returncode == 0 and "warning: " in done.stderr and "does not exist" in done.stderr
    refused = _cli(tmp_path, "run", "--strict", "--port", "0")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "does not exist" in refused.stderr and "listening" not in refused.stdout
