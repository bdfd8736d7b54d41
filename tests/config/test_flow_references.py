"""``${NAME}`` as a whole value inside ``{…}`` or ``[…]``, as DESIGN.md writes the email source.

Plain YAML rejects it (``{`` opens a mapping); the loader quotes exactly the reference the
parser stopped at and reads again, and still substitutes after parsing.
"""

from __future__ import annotations

import pytest

from bot.config import ConfigError, parse_config
from bot.config.email import settings_of
from bot.config.errors import Issues
from bot.config.yamlfile import parse_yaml

# The email source exactly as DESIGN.md and issue 18 give it.
DESIGN_EMAIL = """
sources:
  support-mail:
    platform: email
    address: support@example.com          # the shared mailbox; replies go out from here
    imap: {host: imap.example.com, port: 993, user: support@example.com, password: ${IMAP_PASSWORD}, tls: true}
    smtp: {host: smtp.example.com, port: 587, user: support@example.com, password: ${SMTP_PASSWORD}, starttls: true}
    folders: [INBOX]
    team_domains: [example.com]
    poll_every: 60s
    backfill: 7d
"""  # noqa: E501
ENV = {"IMAP_PASSWORD": "p, a}ss: #1", "SMTP_PASSWORD": "s3cret"}


def test_the_documented_email_source_loads_with_its_secrets() -> None:
    config = parse_config(DESIGN_EMAIL, env=ENV)
    settings = settings_of(config.sources["support-mail"])
    # A secret with YAML's own punctuation stays one value: it never enters the YAML text.
    assert settings.imap.password == "p, a}ss: #1"
    assert settings.smtp is not None and settings.smtp.password == "s3cret"
    assert (settings.imap.host, settings.imap.port, settings.imap.tls) == (
        "imap.example.com",
        993,
        True,
    )


def test_a_missing_variable_is_still_named() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config(DESIGN_EMAIL, env={"SMTP_PASSWORD": "x"})
    assert "IMAP_PASSWORD" in str(raised.value)


def test_references_in_lists_and_defaults_and_quoted_text_keep_their_meaning() -> None:
    issues = Issues("nudgebot.yaml")
    data = parse_yaml(
        'a: {host: "h: ${HOST}, x", password: ${PW:-fallback}}\nb: [${DOMAIN}, example.org]\n',
        issues,
    )
    assert not issues.count
    # Only the bare references were quoted; the one inside quotes is text as written.
    assert data == {
        "a": {"host": "h: ${HOST}, x", "password": "${PW:-fallback}"},
        "b": ["${DOMAIN}", "example.org"],
    }


def test_other_syntax_errors_report_the_line_and_column_as_written() -> None:
    with pytest.raises(ConfigError) as raised:
        parse_config("a: {b: ${X}, c: [}\n", env={"X": "1"})
    (issue,) = raised.value.issues
    assert issue.path == "line 1, column 9"
    assert "not valid YAML" in issue.message
