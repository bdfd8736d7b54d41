"""The ``platform: email`` source: documented keys parse, mistakes are named by key path in
`check-config`, and the startup report says what email will do."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import ConfigError, load_config
from bot.config.report import startup_report
from bot.services.recipients import recipient_of

DOCUMENTED = """\
team:
  alice: {name: Alice, email: alice@example.com}
sources:
  support-mail:
    platform: email
    address: support@example.com
    imap: {host: imap.example.com, port: 993, user: support@example.com, password: pw, tls: true}
    smtp: {host: smtp.example.com, port: 587, password: pw, starttls: true}
    folders: [INBOX]
    team_domains: [example.com]
    poll_every: 60s
    backfill: 7d
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nudgebot.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_the_documented_source_parses_and_is_reported(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, DOCUMENTED))
    source = config.sources["support-mail"]
    assert source.platform == "email" and source.poll_every is not None
    report = startup_report(config, "nudgebot.yaml", env={})
    [line] = [x for x in report.lines if x.startswith("source support-mail")]
    assert "email, credentials: IMAP password set, SMTP smtp.example.com" in line
    assert not [w for w in report.warnings if "support-mail" in w]


@pytest.mark.parametrize(
    ("change", "path", "message"),
    [
        (("    address: support@example.com\n", ""), "sources.support-mail.address", "address"),
        (("port: 993", "port: 99999"), "sources.support-mail.imap", "not a port number"),
        (("tls: true}", "tls: yes-please}"), "sources.support-mail.imap", "true or false"),
        (
            ("[example.com]", "['not a domain']"),
            "sources.support-mail.team_domains",
            "not a domain",
        ),
        (("backfill: 7d", "backfill: soon"), "sources.support-mail.backfill", ""),
        (
            ("address: support@example.com", "address: support"),
            "sources.support-mail.address",
            "is not an address",
        ),
        (
            ("host: smtp.example.com, ", "hots: smtp.example.com, "),
            "sources.support-mail.smtp",
            "unknown key 'hots'",
        ),
    ],
)
def test_mistakes_are_named_by_key(
    tmp_path: Path, change: tuple[str, str], path: str, message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, DOCUMENTED.replace(*change)))
    found = [(i.path, i.message) for i in caught.value.issues]
    assert any(p == path and message in m for p, m in found), found


def test_no_smtp_is_a_warning_replies_cannot_go_out(tmp_path: Path) -> None:
    text = "\n".join(x for x in DOCUMENTED.splitlines() if "smtp:" not in x) + "\n"
    report = startup_report(load_config(_write(tmp_path, text)), "nudgebot.yaml", env={})
    assert any("no smtp" in w and "Reply cannot send mail" in w for w in report.warnings)


def test_email_reaches_members_through_the_registry(tmp_path: Path) -> None:
    """One registry entry: `email:` is an address for `notify: email` (recipient_of, as
    nudges, digests and hand-offs look it up) but never the default; a bad address is one
    issue, not two (the identity check and the address key read the same YAML key)."""
    text = DOCUMENTED.replace(
        "alice: {name: Alice, email: alice@example.com}",
        "alice: {name: Alice, email: alice@example.com, notify: email}\n"
        "  bob: {name: Bob, email: bob@example.com, telegram: 222}\n"
        "  carol: {name: Carol, email: carol@example.com}",
    )
    config = load_config(_write(tmp_path, text))
    found = recipient_of(config, "alice")
    assert found is not None and (found.platform, found.address) == ("email", "alice@example.com")
    bob = recipient_of(config, "person:bob")
    assert bob is not None and bob.platform == "telegram"
    assert recipient_of(config, "carol") is None  # email only with notify: email
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, DOCUMENTED.replace("alice@example.com", "alice at home")))
    [issue] = caught.value.issues
    assert issue.path == "team.alice.email" and "not an email address" in issue.message
    with pytest.raises(ConfigError) as caught:
        load_config(_write(tmp_path, DOCUMENTED.replace("alice@example.com", "[a, b]")))
    [issue] = caught.value.issues
    assert issue.path == "team.alice.email" and "expected text" in issue.message
