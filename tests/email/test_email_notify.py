"""``notify: email``: a member without Slack or Telegram gets the nudge by mail (aiosmtpd),
marked auto-generated so that the shared mailbox's poller never takes it for a customer."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta
from pathlib import Path

from bot.app import Runtime
from bot.config import load_config
from bot.wiring.core import CoreService
from bot.wiring.polled import assemble
from tests.email.kit import SOURCE, T0, mail, source_yaml
from tests.email.servers import Dovecot, smtp_server
from tests.polled.kit import Clock

TEAM = """\
timezone: UTC
team:
  carol:
    name: Carol
    email: carol@example.com
    notify: email
    owner: true
policies:
  standard:
    reply_within: 15m
sources:
"""


async def test_a_nudge_reaches_a_member_by_mail(
    tmp_path: Path, db_url: str, imap_server: Dovecot
) -> None:
    imap_server.append(mail(sender="Jane <jane@customer.example>"), at=T0)
    with smtp_server() as (controller, recorder):
        path = tmp_path / "nudgebot.yaml"
        text = TEAM + source_yaml(imap_server, controller.port).replace(
            "    policy: standard\n", "    policy: standard\n    owner: carol\n"
        )
        path.write_text(text, encoding="utf-8")
        clock = Clock(T0 + timedelta(minutes=1))
        runtime = Runtime.from_config(load_config(str(path)), db_url, now=clock)
        polled = assemble(runtime, CoreService(runtime))
        for component in polled.components:
            runtime.attach(component)
        try:
            await polled.sources[SOURCE].step()
            clock.advance(timedelta(minutes=20))
            assert runtime.engine is not None
            await runtime.engine.tick()
            [envelope] = recorder.envelopes
            assert envelope.rcpt_tos == ["carol@example.com"]
            assert envelope.mail_from == "support@example.com"
            sent = email.message_from_bytes(
                envelope.original_content or b"", policy=email.policy.default
            )
            assert sent["Auto-Submitted"] == "auto-generated"
            assert str(sent["Subject"]).startswith("[Nudgebot] Jane has waited 21m")
            assert "Printer on fire" in sent.get_content()
            # Delivered into the shared mailbox, it is skipped, not a customer's mail.
            imap_server.append(envelope.original_content or b"", at=T0 + timedelta(minutes=21))
            await polled.sources[SOURCE].step()
            assert polled.sources[SOURCE].poller.skipped == 1  # type: ignore[attr-defined]
        finally:
            for component in polled.components:
                assert component.stop is not None
                await component.stop()
            await runtime.close()
