"""`nudgebot init` for a shared mailbox and for WhatsApp: what it writes loads, check-config
accepts it once the user's own secrets are in .env, and it says which those are."""

from __future__ import annotations

from pathlib import Path

import yaml
from typer.testing import CliRunner

from bot.cli.main import app
from bot.config import load_config
from bot.config.email import settings_of
from tests.cli_init.test_cli_init import check_config, env_of

runner = CliRunner()


def _fill(env_file: Path, **values: str) -> None:
    lines = env_file.read_text().splitlines()
    for key, value in values.items():
        lines = [f"{key}={value}" if line == f"{key}=" else line for line in lines]
    env_file.write_text("\n".join(lines) + "\n")


def test_email_from_flags_writes_the_source_and_the_password_placeholders(
    tmp_path: Path,
) -> None:
    config = tmp_path / "nudgebot.yaml"
    result = runner.invoke(app, [
        "init", "--non-interactive", "--config", str(config), "--person", "dana",
        "--telegram-id", "222222222", "--source-platform", "email",
        "--address", "Support@Example.com", "--imap-host", "mail.example.com",
        "--smtp-host", "smtp.example.net", "--team-domains", "example.com, example.org",
    ])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "set IMAP_PASSWORD and SMTP_PASSWORD" in result.output
    assert "IDLE" in result.output
    env_file = tmp_path / ".env"
    env = env_of(env_file)
    assert env["IMAP_PASSWORD"] == "" and env["SMTP_PASSWORD"] == ""  # placeholders to fill
    unfilled = runner.invoke(app, ["check-config", "--config", str(config)], env=env)
    assert unfilled.exit_code != 0 and "support-mail.imap: it is empty" in unfilled.output
    _fill(env_file, IMAP_PASSWORD="imap-pw", SMTP_PASSWORD="smtp-pw")
    assert "1 sources" in check_config(config)
    raw = yaml.safe_load(config.read_text())["sources"]["support-mail"]
    assert raw["platform"] == "email" and raw["poll_every"] == "60s"
    assert raw["imap"]["password"] == "${IMAP_PASSWORD}"  # the secret stays in .env
    loaded = load_config(str(config), env=env_of(env_file))
    settings = settings_of(loaded.sources["support-mail"])
    assert settings.address == "support@example.com"
    assert (settings.imap.host, settings.imap.port, settings.imap.tls) == (
        "mail.example.com", 993, True,
    )  # fmt: skip
    assert settings.imap.password == "imap-pw"
    assert settings.smtp is not None and settings.smtp.host == "smtp.example.net"
    assert (settings.smtp.port, settings.smtp.starttls) == (587, True)
    assert settings.team_domains == ("example.com", "example.org")
    assert settings.folders == ("INBOX",)


def test_email_without_smtp_asks_only_for_the_imap_password(tmp_path: Path) -> None:
    config = tmp_path / "nudgebot.yaml"
    answers = "\n".join([
        "erin", "Erin", "", "", "UTC", "email", "", "not an address", "help@shop.example",
        "", "none", "", "",
    ]) + "\n"  # fmt: skip
    result = runner.invoke(app, ["init", "--config", str(config)], input=answers)
    assert result.exit_code == 0, result.output
    assert "is not an address" in result.output  # asked again
    env = env_of(tmp_path / ".env")
    assert env["IMAP_PASSWORD"] == "" and "SMTP_PASSWORD" not in env
    _fill(tmp_path / ".env", IMAP_PASSWORD="pw")
    check_config(config)
    settings = settings_of(
        load_config(str(config), env=env_of(tmp_path / ".env")).sources["support-mail"]
    )
    assert settings.smtp is None and settings.imap.host == "imap.shop.example"
    assert settings.team_domains == ("shop.example",)


def test_whatsapp_writes_the_number_and_a_fresh_verify_token(tmp_path: Path) -> None:
    config = tmp_path / "nudgebot.yaml"
    answers = "\n".join([
        "fay", "Fay", "U0FAY0001", "", "UTC", "whatsapp", "", "12ab", "1234567890",
        "https://bot.example.org",
    ]) + "\n"  # fmt: skip
    result = runner.invoke(app, ["init", "--config", str(config)], input=answers)
    assert result.exit_code == 0, result.output
    assert "is not a WhatsApp phone number ID" in result.output
    assert "https://bot.example.org/whatsapp/webhook" in result.output
    assert "WHATSAPP_TOKEN and WHATSAPP_APP_SECRET" in result.output
    env = env_of(tmp_path / ".env")
    assert len(env["WHATSAPP_VERIFY_TOKEN"]) >= 24 and "WHATSAPP_TOKEN" not in env
    check_config(config)
    source = load_config(str(config), env=env).sources["whatsapp"]
    assert source.platform == "whatsapp"
    assert source.phone_number_id == "1234567890"  # a string, not a number
    # With Meta's secrets filled in, WhatsApp is on and still passes.
    with (tmp_path / ".env").open("a") as file:
        file.write("WHATSAPP_TOKEN=EAAGtest\nWHATSAPP_APP_SECRET=app-secret-value\n")
    check_config(config)


def test_bad_email_flags_fail_without_writing(tmp_path: Path) -> None:
    config = tmp_path / "nudgebot.yaml"
    for flags in (
        ["--address", "support@example.com", "--imap-host", "imap example.com"],
        ["--address", "support@example.com", "--team-domains", "example"],
        ["--address", "support@example.com\nbcc: x@y.z"],
    ):
        result = runner.invoke(app, ["init", "--non-interactive", "--config", str(config),
                                     "--source-platform", "email", *flags])  # fmt: skip
        assert result.exit_code == 2, result.output
        assert flags[-2] in result.output
        assert not config.exists()
    result = runner.invoke(app, ["init", "--non-interactive", "--config", str(config),
                                 "--source-platform", "whatsapp"])  # fmt: skip
    assert result.exit_code == 2 and "--phone-number-id" in result.output
    assert not config.exists()
