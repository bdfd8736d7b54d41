"""Polling a real Dovecot: threading, who is the team, bodies, machines, charsets, cursor."""

from __future__ import annotations

import json
from datetime import timedelta
from email.header import Header
from email.message import EmailMessage
from pathlib import Path

from adapters.email.poller import EmailPoller
from storage.cursors_repo import load_cursor, save_cursor
from tests.email.kit import CUSTOMER, SOURCE, T0, email_harness, mail
from tests.email.servers import Dovecot


def _poller(h: object) -> EmailPoller:
    poller = h.source(SOURCE).poller  # type: ignore[attr-defined]
    assert isinstance(poller, EmailPoller)
    return poller


async def test_customer_mail_waits_and_the_teams_reply_in_sent_ends_it(
    tmp_path: Path, db_url: str, imap_server: Dovecot
) -> None:
    imap_server.append(mail(), at=T0)
    async with email_harness(tmp_path, db_url, imap_server) as h:
        await h.drain(SOURCE)
        [stored] = await h.messages()
        assert stored.thread == "root@customer.example" and not stored.is_team
        assert stored.text == "Printer on fire\n\nHello, my printer is on fire. What now?"
        assert await h.waiting() == ["root@customer.example"]
        answer = mail(
            "Re: Printer on fire",
            "Unplug it.",
            sender="Bob <bob@example.com>",
            to=CUSTOMER,
            message_id="a1@example.com",
            in_reply_to="root@customer.example",
            references="<root@customer.example>",
            at=T0 + timedelta(minutes=5),
        )
        imap_server.append(answer, "Sent Messages", at=T0 + timedelta(minutes=5))
        await h.drain(SOURCE)
        stored = await h.messages()
        assert [(m.message_id, m.is_team) for m in stored] == [
            ("root@customer.example", False),
            ("a1@example.com", True),
        ]
        assert {m.thread for m in stored} == {"root@customer.example"}
        assert await h.waiting() == []
        assert _poller(h).sent == "Sent Messages"  # found by \Sent, not by its name


async def test_threading_across_clients_that_set_references_differently(
    tmp_path: Path, db_url: str, imap_server: Dovecot
) -> None:
    root = "root@customer.example"
    imap_server.append(mail(), at=T0)
    # Bob's client: full References.
    imap_server.append(
        mail(
            "Re: Printer on fire",
            "Unplug it.",
            sender="bob@example.com",
            to=CUSTOMER,
            message_id="b@example.com",
            in_reply_to=root,
            references=f"<{root}>",
            at=T0 + timedelta(minutes=1),
        ),
        "Sent Messages",
        at=T0 + timedelta(minutes=1),
    )
    async with email_harness(tmp_path, db_url, imap_server) as h:
        await h.drain(SOURCE)
        _poller(h)._threads.clear()  # a restart: what was stored must be asked of the core
        # Outlook-like: In-Reply-To only, no References.
        imap_server.append(
            mail(
                "AW: Printer on fire",
                "Still burning.",
                message_id="c@customer.example",
                in_reply_to="b@example.com",
                at=T0 + timedelta(minutes=2),
            ),
            at=T0 + timedelta(minutes=2),
        )
        # A client that trims References to the nearest parent only.
        imap_server.append(
            mail(
                "Re: Re: Printer on fire",
                "Now smoking.",
                message_id="d@customer.example",
                in_reply_to="c@customer.example",
                references="<c@customer.example>",
                at=T0 + timedelta(minutes=3),
            ),
            at=T0 + timedelta(minutes=3),
        )
        # A web mailer that drops every id but keeps "Re:" and the address.
        imap_server.append(
            mail(
                "RE: printer on  fire",
                "Hello??",
                message_id="e@customer.example",
                at=T0 + timedelta(minutes=4),
            ),
            at=T0 + timedelta(minutes=4),
        )
        # A new subject from the same customer is a new conversation.
        imap_server.append(
            mail(
                "Invoice",
                "Where is my invoice?",
                message_id="f@customer.example",
                at=T0 + timedelta(minutes=5),
            ),
            at=T0 + timedelta(minutes=5),
        )
        await h.drain(SOURCE)
        threads = {m.message_id: m.thread for m in await h.messages()}
        assert threads == {
            root: root,
            "b@example.com": root,
            "c@customer.example": root,
            "d@customer.example": root,
            "e@customer.example": root,
            "f@customer.example": "f@customer.example",
        }
        assert sorted(await h.waiting()) == ["f@customer.example", root]


async def test_html_only_quoted_history_signature_and_attachments(
    tmp_path: Path, db_url: str, imap_server: Dovecot
) -> None:
    html = mail(message_id="h@customer.example")
    html.set_content(
        "<html><head><style>p{color:red}</style></head><body><p>It is <b>on "
        "fire</b> &amp; beeping.</p><script>alert(1)</script></body></html>",
        subtype="html",
    )
    imap_server.append(html, at=T0)
    quoted = mail(
        "Re: x",
        "Thanks, unplugging worked!\n\nBest,\nJane\n--\nJane Doe | ACME\n"
        "Phone 555-0100\n\nOn Mon, 30 Nov 2026 at 10:00, Support <support@example.com>"
        " wrote:\n> Unplug it.\n> -- \n> Support\n",
        message_id="q@customer.example",
        in_reply_to="h@customer.example",
        at=T0 + timedelta(minutes=1),
    )
    quoted.add_attachment(
        b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="invoice 42.pdf"
    )
    quoted.add_attachment(b"\x89PNG", maintype="image", subtype="png", filename="photo.png")
    imap_server.append(quoted, at=T0 + timedelta(minutes=1))
    async with email_harness(tmp_path, db_url, imap_server) as h:
        await h.drain(SOURCE)
        first, second = await h.messages()
        assert first.text == "Printer on fire\n\nIt is on fire & beeping."
        assert second.text == (
            "Thanks, unplugging worked!\n\nAttachments: invoice 42.pdf, photo.png"
        )


def _bounce() -> EmailMessage:
    bounce = EmailMessage()
    bounce["From"] = "Mail Delivery System <MAILER-DAEMON@mx.customer.example>"
    bounce["To"] = "support@example.com"
    bounce["Subject"] = "Undelivered Mail Returned to Sender"
    bounce["Message-ID"] = "<bounce@mx.customer.example>"
    bounce["Date"] = "Mon, 30 Nov 2026 10:02:00 +0000"
    bounce.set_content("This is the mail system. I'm sorry to have to inform you …")
    bounce.add_attachment(
        "Reporting-MTA: dns; mx.customer.example\n\nFinal-Recipient: "
        "rfc822; gone@customer.example\nAction: failed\nStatus: 5.1.1\n",
        subtype="delivery-status",
    )
    bounce.replace_header(
        "Content-Type",
        bounce["Content-Type"].replace("mixed", "report") + '; report-type="delivery-status"',
    )
    return bounce


async def test_auto_replies_lists_and_bounces_open_no_wait(
    tmp_path: Path, db_url: str, imap_server: Dovecot
) -> None:
    imap_server.append(
        mail(
            "Out of office",
            "I am away until Monday.",
            message_id="ooo@c.example",
            headers={"Auto-Submitted": "auto-replied"},
        ),
        at=T0,
    )
    imap_server.append(
        mail(
            "Newsletter", "Our news.", message_id="news@c.example", headers={"Precedence": "bulk"}
        ),
        at=T0,
    )
    imap_server.append(_bounce(), at=T0)
    imap_server.append(
        mail(
            "Human",
            "A person wrote this.",
            message_id="human@c.example",
            headers={"Auto-Submitted": "no"},
        ),
        at=T0,
    )
    async with email_harness(tmp_path, db_url, imap_server) as h:
        await h.drain(SOURCE)
        assert [m.message_id for m in await h.messages()] == ["human@c.example"]
        assert await h.waiting() == ["human@c.example"]
        assert _poller(h).skipped == 3


async def test_non_utf8_charsets_are_decoded(
    tmp_path: Path, db_url: str, imap_server: Dovecot
) -> None:
    latin = (
        "From: =?iso-8859-1?q?J=F6rg_M=FCller?= <joerg@kunde.example>\r\n"
        f"To: support@example.com\r\nSubject: {Header('Пример', 'koi8-r').encode()}\r\n"
        "Message-ID: <latin@kunde.example>\r\nDate: Mon, 30 Nov 2026 10:00:00 +0000\r\n"
        "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=iso-8859-1\r\n"
        "Content-Transfer-Encoding: 8bit\r\n\r\n"
    ).encode() + "Grüße, der Drucker läuft nicht.\r\n".encode("iso-8859-1")
    sjis = (
        b"From: taro@kyaku.example\r\nTo: support@example.com\r\nSubject: test\r\n"
        b"Message-ID: <sjis@kyaku.example>\r\nDate: Mon, 30 Nov 2026 10:01:00 +0000\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=shift_jis\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n\r\n"
    ) + "プリンターが壊れました".encode("shift_jis")
    bogus = (
        b"From: x@y.example\r\nTo: support@example.com\r\nSubject: bogus\r\n"
        b"Message-ID: <bogus@y.example>\r\nDate: Mon, 30 Nov 2026 10:02:00 +0000\r\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\n"
    ) + b"caf\xc3\xa9 \xff"
    for raw in (latin, sjis, bogus):
        imap_server.append(raw, at=T0)
    async with email_harness(tmp_path, db_url, imap_server) as h:
        await h.drain(SOURCE)
        texts = [m.text for m in await h.messages()]
        assert texts == [
            "Пример\n\nGrüße, der Drucker läuft nicht.",
            "test\n\nプリンターが壊れました",
            "bogus\n\ncafé \ufffd",
        ]
        conv = (await h.conversations())[0]
        assert conv.thread == "latin@kunde.example"


async def test_incremental_by_uid_and_a_new_uidvalidity_reads_again_without_duplicates(
    tmp_path: Path, db_url: str, imap_server: Dovecot
) -> None:
    imap_server.append(mail(), at=T0)
    async with email_harness(tmp_path, db_url, imap_server) as h:
        await h.drain(SOURCE)
        cursor = json.loads(await load_cursor(h.runtime.db, SOURCE) or "{}")
        validity, last = cursor["INBOX"]
        assert last >= 1 and "Sent Messages" in cursor
        await h.drain(SOURCE)
        assert len(h.core.ingested) == 1  # nothing read twice
        imap_server.append(
            mail(
                "Second",
                "Another one",
                message_id="two@customer.example",
                at=T0 + timedelta(minutes=1),
            ),
            at=T0 + timedelta(minutes=1),
        )
        await h.drain(SOURCE)
        assert [i for _, i in h.core.ingested] == ["root@customer.example", "two@customer.example"]
        cursor["INBOX"] = [validity + 1, 999_999]  # the server renumbered the folder
        await save_cursor(h.runtime.db, SOURCE, json.dumps(cursor), h.clock())
        await h.drain(SOURCE)
        assert len(await h.messages()) == 2  # read again, stored once
        assert json.loads(await load_cursor(h.runtime.db, SOURCE) or "{}")["INBOX"][0] == validity


async def test_a_wrong_password_is_one_clear_error(
    tmp_path: Path, db_url: str, imap_server: Dovecot
) -> None:
    imap_server.password, real = "wrong", imap_server.password
    try:
        async with email_harness(tmp_path, db_url, imap_server) as h:
            await h.step(SOURCE)
            error = h.source(SOURCE).status.last_error or ""
            assert "refused the login of support@example.com" in error
            assert "wrong" not in error  # the password is never in a message
    finally:
        imap_server.password = real


async def test_readyz_names_a_mailbox_that_keeps_refusing(
    tmp_path: Path, db_url: str, imap_server: Dovecot
) -> None:
    imap_server.password, real = "wrong", imap_server.password
    try:
        async with email_harness(tmp_path, db_url, imap_server) as h:
            [component] = h.polled.components
            assert component.name == "polled-email" and component.ready()
            await h.step(SOURCE)
            await h.step(SOURCE)
            assert component.ready()  # a blip or two is not "down"
            await h.step(SOURCE)
            assert not component.ready()
            assert component.problem() == f"{SOURCE} failed 3 polls in a row"
    finally:
        imap_server.password = real


async def test_subject_fallback_threading_survives_a_restart(
    tmp_path: Path, db_url: str, imap_server: Dovecot
) -> None:
    """A client that sets neither In-Reply-To nor References: "Re: <subject>" from the same
    customer joins the thread, though the process restarted between the two mails."""
    imap_server.append(mail(), at=T0)
    async with email_harness(tmp_path, db_url, imap_server) as h:
        await h.drain(SOURCE)
    reply = mail(
        "RE:  printer on FIRE",
        "Still burning.",
        message_id="bare@customer.example",
        at=T0 + timedelta(minutes=2),
    )
    imap_server.append(reply, at=T0 + timedelta(minutes=2))
    other = mail(  # same subject, another customer: a thread of its own
        "Re: Printer on fire",
        "Mine too!",
        sender="max@other.example",
        message_id="max@other.example",
        at=T0 + timedelta(minutes=3),
    )
    imap_server.append(other, at=T0 + timedelta(minutes=3))
    async with email_harness(tmp_path, db_url, imap_server) as h:  # a new process
        assert _poller(h)._threads == {}  # nothing carried over in memory
        await h.drain(SOURCE)
        threads = {m.message_id: m.thread for m in await h.messages()}
        assert threads == {
            "root@customer.example": "root@customer.example",
            "bare@customer.example": "root@customer.example",
            "max@other.example": "max@other.example",
        }
        assert len(await h.conversations(SOURCE)) == 2
