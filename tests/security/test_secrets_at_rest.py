"""Issue 14 items 8 and 10: weak tokens are refused, `.env` is never readable by others."""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bot.cli.main import app
from bot.config.strength import weakness

runner = CliRunner()
WEBHOOK_CONFIG = """\
team:
  alice: {name: Alice}
sources:
  website: {platform: webhook, secret: "${WEBHOOK_SECRET}", owner: alice}
"""


@pytest.fixture
def open_umask() -> Iterator[None]:
    old = os.umask(0)  # the worst case: files are created world-readable unless told not to
    try:
        yield
    finally:
        os.umask(old)


def test_weakness_needs_32_random_characters() -> None:
    assert weakness(secrets.token_urlsafe(32)) is None
    assert weakness(secrets.token_hex(16)) is None  # 32 hex digits
    for weak in ("t0ken", "x" * 31, "a" * 64, "abcabc" * 8, "password" * 5):
        assert weakness(weak) is not None, weak


@pytest.mark.parametrize(
    ("env", "bad"),
    [
        ({"NUDGEBOT_API_TOKEN": "t0ken"}, "NUDGEBOT_API_TOKEN"),
        ({"NUDGEBOT_API_TOKEN": "a" * 40}, "NUDGEBOT_API_TOKEN"),
        ({"TELEGRAM_WEBHOOK_SECRET": "short"}, "TELEGRAM_WEBHOOK_SECRET"),
        ({"WEBHOOK_SECRET": "s3cret"}, "sources.website.secret"),
    ],
)
def test_check_config_refuses_weak_secrets(tmp_path: Path, env: dict[str, str], bad: str) -> None:
    config = tmp_path / "nudgebot.yaml"
    config.write_text(WEBHOOK_CONFIG)
    strong = {"WEBHOOK_SECRET": secrets.token_urlsafe(32)}
    result = runner.invoke(app, ["check-config", "--config", str(config)], env={**strong, **env})
    assert result.exit_code == 1
    assert bad in result.stderr and "token_urlsafe" in result.stderr
    assert "t0ken" not in result.output and "s3cret" not in result.output  # never echoed
    good = runner.invoke(app, ["check-config", "--config", str(config)], env=strong)
    assert good.exit_code == 0, good.output


def test_init_refuses_to_keep_a_weak_env(tmp_path: Path) -> None:
    env = tmp_path / ".env"
    env.write_text("NUDGEBOT_API_TOKEN=changeme\n")
    env.chmod(0o600)
    config = tmp_path / "nudgebot.yaml"
    result = runner.invoke(app, ["init", "--non-interactive", "--config", str(config)])
    assert result.exit_code == 1 and "NUDGEBOT_API_TOKEN" in result.output
    assert not config.exists()
    forced = runner.invoke(app, ["init", "--non-interactive", "--force", "--config", str(config)])
    assert forced.exit_code == 0, forced.output
    assert "changeme" not in env.read_text()


def test_init_env_is_private_from_the_first_byte(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, open_umask: None
) -> None:
    """With umask 0 a plain write creates the file 0666: if the process dies before a later
    chmod (simulated here), the secrets stay readable by everyone."""

    def crash(*_args: object, **_kwargs: object) -> None:
        raise OSError("killed before chmod")

    monkeypatch.setattr(Path, "chmod", crash)
    config = tmp_path / "nudgebot.yaml"
    runner.invoke(app, ["init", "--non-interactive", "--config", str(config)])
    env = tmp_path / ".env"
    assert env.exists() and "NUDGEBOT_API_TOKEN=" in env.read_text()
    assert stat.S_IMODE(env.stat().st_mode) == 0o600


def test_forced_init_makes_an_old_readable_env_private(tmp_path: Path, open_umask: None) -> None:
    env = tmp_path / ".env"
    env.write_text("OLD=1\n")
    env.chmod(0o644)
    config = tmp_path / "nudgebot.yaml"
    result = runner.invoke(app, ["init", "--non-interactive", "--force", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(env.stat().st_mode) == 0o600 and "OLD=1" not in env.read_text()
