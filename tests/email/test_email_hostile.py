"""Hostile mail: a 50 MB message and 10,000 References — clear outcomes, nothing half-stored."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select

from storage.models import DeadLetter
from tests.email.kit import SOURCE, T0, email_harness, mail
from tests.email.servers import Dovecot


async def test_a_50_mb_mail_is_refused_clearly_and_the_next_one_is_stored(
    tmp_path: Path, db_url: str, imap_server: Dovecot
) -> None:
    big = mail("Logs attached", "See the attachment.", message_id="big@customer.example")
    big.add_attachment(
        os.urandom(37 * 1024 * 1024),
        maintype="application",
        subtype="octet-stream",
        filename="core.dump",
    )  # ~50 MB once base64
    raw = big.as_bytes()
    assert len(raw) > 50 * 1000 * 1000
    imap_server.append(raw, at=T0)
    del big, raw
    imap_server.append(
        mail(
            "Small",
            "A normal mail.",
            message_id="small@customer.example",
            at=T0 + timedelta(minutes=1),
        ),
        at=T0 + timedelta(minutes=1),
    )
    async with email_harness(tmp_path, db_url, imap_server) as h:
        await h.drain(SOURCE)
        assert [m.message_id for m in await h.messages()] == ["small@customer.example"]
        assert h.source(SOURCE).status.failures == 0
        async with h.runtime.db.read() as session:
            [letter] = list(await session.scalars(select(DeadLetter)))
        assert letter.source == SOURCE
        assert "MB, over the 25 MB limit (max_size): not imported" in letter.reason
        assert "Message-ID: <big@customer.example>" in letter.payload
        assert len(letter.payload) <= 16_384  # the start of its header, not the mail
        await h.drain(SOURCE)  # the cursor moved past it: not refused again
        async with h.runtime.db.read() as session:
            assert len(list(await session.scalars(select(DeadLetter)))) == 1


async def test_10000_references_thread_by_the_root_and_are_cheap(
    tmp_path: Path, db_url: str, imap_server: Dovecot
) -> None:
    refs = " ".join(f"<ref{i:05d}@chain.example>" for i in range(10_000))
    imap_server.append(
        mail(
            message_id="long@customer.example",
            references=refs,
            in_reply_to="ref09999@chain.example",
        ),
        at=T0,
    )
    imap_server.append(
        mail(
            "Re: Printer on fire",
            "and again",
            message_id="next@customer.example",
            in_reply_to="long@customer.example",
            at=T0 + timedelta(minutes=1),
        ),
        at=T0 + timedelta(minutes=1),
    )
    async with email_harness(tmp_path, db_url, imap_server) as h:
        await h.drain(SOURCE)
        stored = await h.messages()
        assert [(m.message_id, m.thread) for m in stored] == [
            ("long@customer.example", "ref00000@chain.example"),
            ("next@customer.example", "ref00000@chain.example"),
        ]
        assert len(await h.conversations()) == 1
