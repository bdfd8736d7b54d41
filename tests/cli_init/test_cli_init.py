"""`nudgebot init` writes files that `check-config` accepts, from flags or from answers."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from bot.cli.main import app

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()


def env_of(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {k: v for k, v in pairs if not k.startswith("#")}


def check_config(config: Path) -> str:
    env = env_of(config.parent / ".env")
    result = runner.invoke(app, ["check-config", "--config", str(config)], env=env)
    assert result.exit_code == 0, result.output
    return result.output


def test_non_interactive_writes_a_valid_config_and_manifest(tmp_path: Path) -> None:
    config = tmp_path / "nudgebot.yaml"
    result = runner.invoke(app, [
        "init", "--non-interactive", "--config", str(config), "--person", "dana",
        "--name", "Dana Scully", "--slack-id", "U0DANA001", "--timezone", "Europe/Berlin",
        "--public-url", "https://nudgebot.example.com/", "--source-platform", "slack",
        "--channel", "C0CUST001",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 people, 1 sources" in check_config(config)
    text = config.read_text()
    assert "timezone: Europe/Berlin" in text and "notify: slack" in text
    assert "# " in text  # commented for the reader
    manifest = (tmp_path / "slack-app-manifest.yaml").read_text()
    assert "YOUR-HOST" not in manifest.split("_metadata:")[1]
    data = yaml.safe_load(manifest)
    assert data["settings"]["event_subscriptions"]["request_url"] == (
        "https://nudgebot.example.com/slack/events"
    )
    assert (tmp_path / ".env").stat().st_mode & 0o077 == 0  # secrets readable by the owner only


def test_defaults_alone_pass_check_config(tmp_path: Path) -> None:
    config = tmp_path / "nudgebot.yaml"
    result = runner.invoke(app, ["init", "--non-interactive", "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "YOUR-HOST" in result.output  # told that the manifest still needs the URL
    check_config(config)
    assert "platform: webhook" in config.read_text()


def test_answers_piped_in(tmp_path: Path) -> None:
    config = tmp_path / "nudgebot.yaml"
    answers = "\n".join([
        "bob", "Bob Builder", "not-an-id", "", "222222222", "Mars/Olympus", "America/New_York",
        "telegram", "community", "-1001234567890", "https://bot.example.org",
    ]) + "\n"  # fmt: skip
    result = runner.invoke(app, ["init", "--config", str(config)], input=answers)
    assert result.exit_code == 0, result.output
    assert "is not a Slack user ID" in result.output  # asked again
    assert "is not an IANA time zone" in result.output
    check_config(config)
    text = config.read_text()
    assert "notify: telegram" in text and '"-1001234567890"' in text
    assert "America/New_York" in text


def test_refuses_to_overwrite_without_force(tmp_path: Path) -> None:
    config = tmp_path / "nudgebot.yaml"
    config.write_text("# mine\n")
    result = runner.invoke(app, ["init", "--non-interactive", "--config", str(config)])
    assert result.exit_code == 1 and "--force" in result.output
    assert config.read_text() == "# mine\n"
    forced = runner.invoke(app, ["init", "--non-interactive", "--force", "--config", str(config)])
    assert forced.exit_code == 0, forced.output
    check_config(config)


def test_bad_flag_fails_without_writing(tmp_path: Path) -> None:
    config = tmp_path / "nudgebot.yaml"
    result = runner.invoke(app, ["init", "--non-interactive", "--config", str(config),
                                 "--timezone", "Nowhere/Land"])  # fmt: skip
    assert result.exit_code == 2 and "--timezone" in result.output
    assert not config.exists()


def test_packaged_manifest_is_the_repository_one() -> None:
    packaged = (REPO / "bot" / "templates" / "slack-app-manifest.yaml").read_text()
    assert packaged == (REPO / "slack-app-manifest.yaml").read_text()
