"""Reply-through by SMTP (a real aiosmtpd server), threading headers, the Sent copy, and
header injection refused before anything is sent."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from bot.domain.events import ActionKind
from bot.domain.ports import ActionRequest, ReplyTarget
from tests.email.kit import CUSTOMER, SOURCE, T0, email_harness, mail
from tests.email.servers import Dovecot, Recorder, smtp_server
from tests.polled.kit import Harness


@pytest.fixture
def smtp() -> Iterator[tuple[int, Recorder]]:
    with smtp_server() as (controller, recorder):
        yield controller.port, recorder


async def _reply(h: Harness, text: str, person: str = "alice") -> tuple[bool, str]:
    [item] = await h.core.waiting()
    result = await h.core.act(
        ActionRequest(item.conversation_id, ActionKind.REPLY, person, h.clock(), text=text)
    )
    return result.ok, result.message


async def test_reply_goes_out_by_smtp_threaded_and_is_recorded_as_the_teams(
    tmp_path: Path, db_url: str, imap_server: Dovecot, smtp: tuple[int, Recorder]
) -> None:
    port, recorder = smtp
    imap_server.append(
        mail(
            references="<older@customer.example>",
            in_reply_to="older@customer.example",
            headers={"Reply-To": "Jane <jane.replies@customer.example>"},
        ),
        at=T0,
    )
    async with email_harness(tmp_path, db_url, imap_server, port) as h:
        await h.drain(SOURCE)
        ok, message = await _reply(h, "Unplug it and step back.\nWe are on our way.")
        assert ok, message
        [envelope] = recorder.envelopes
        assert envelope.mail_from == "support@example.com"
        assert envelope.rcpt_tos == ["jane.replies@customer.example"]
        sent = email.message_from_bytes(
            envelope.original_content or b"", policy=email.policy.default
        )
        assert sent["From"] == "Alice <support@example.com>"
        assert sent["Subject"] == "Re: Printer on fire"
        assert sent["In-Reply-To"] == "<root@customer.example>"
        assert sent["References"] == "<older@customer.example> <root@customer.example>"
        assert "Unplug it and step back." in sent.get_content()
        sent_id = str(sent["Message-ID"]).strip("<>")
        stored = await h.messages()
        assert [(m.message_id, m.is_team, m.person) for m in stored] == [
            ("root@customer.example", False, None),
            (sent_id, True, "alice"),
        ]
        assert await h.waiting() == []
        # Filed in the Sent folder; polling it again stores nothing twice.
        h.clock.advance(timedelta(minutes=1))
        await h.drain(SOURCE)
        assert len(await h.messages()) == 2
        assert (SOURCE, sent_id) in h.core.ingested  # read back from Sent, stored once


async def test_header_injection_in_names_is_refused_and_nothing_is_sent(
    tmp_path: Path, db_url: str, imap_server: Dovecot, smtp: tuple[int, Recorder]
) -> None:
    port, recorder = smtp
    # An encoded line break in the subject must not become a header either.
    # (Raw bytes: EmailMessage itself would decode it into a real Bcc header.)
    raw = (
        mail("placeholder")
        .as_bytes()
        .replace(b"Subject: placeholder", b"Subject: =?utf-8?q?Hi=0D=0ABcc:_victim@evil.example?=")
    )
    imap_server.append(raw, at=T0)
    async with email_harness(tmp_path, db_url, imap_server, port) as h:
        await h.drain(SOURCE)
        component = h.polled.components[0]
        assert component.replier is not None
        target = ReplyTarget(SOURCE, "email", "", "root@customer.example", "root@customer.example")
        with pytest.raises(Exception, match="line break"):
            await component.replier.send_reply(target, "hi", "Mallory\r\nBcc: victim@evil.example")
        assert recorder.envelopes == []
        delivered = await component.replier.send_reply(target, "Hello", "alice")
        [envelope] = recorder.envelopes
        raw = (envelope.original_content or b"").decode()
        head = raw.split("\r\n\r\n", 1)[0]
        assert "\r\nBcc:" not in head and envelope.rcpt_tos == [CUSTOMER]
        sent = email.message_from_string(raw, policy=email.policy.default)
        assert sent["Subject"] == "Re: Hi Bcc: victim@evil.example"
        assert delivered.ref == str(sent["Message-ID"]).strip("<>")


async def test_a_reply_without_smtp_settings_says_so(
    tmp_path: Path, db_url: str, imap_server: Dovecot
) -> None:
    imap_server.append(mail(), at=T0)
    async with email_harness(tmp_path, db_url, imap_server) as h:
        await h.drain(SOURCE)
        ok, message = await _reply(h, "hello")
        assert not ok and "no smtp" in message
        assert len(await h.messages()) == 1
