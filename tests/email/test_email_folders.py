"""A configured folder that vanishes (or is renumbered) on a real Dovecot: the other folders
are still read, one WARNING line, /readyz's component and /metrics say so, and it recovers
when the folder is back, without storing anything twice."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from bot.web.app import create_app
from bot.web.metrics import metrics
from bot.wiring.process import _ready_check
from storage.cursors_repo import load_cursor
from tests.email.kit import SOURCE, T0, email_harness, mail
from tests.email.servers import Dovecot


def _imap(server: Dovecot, *command: str) -> None:
    imap = server.client()
    try:
        kind, detail = getattr(imap, command[0])(*command[1:])
        assert kind == "OK", detail
    finally:
        imap.logout()


async def _web(h: object, component: object) -> tuple[dict[str, object], str]:
    """/readyz's JSON and the /metrics text of an app with the email component's check, as
    ``nudgebot run`` builds it."""
    app = create_app(h.runtime, ready_checks=[_ready_check(component)])  # type: ignore[attr-defined,arg-type]
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://app") as web:
        ready = (await web.get("/readyz")).json()
        return ready, (await web.get("/metrics")).text


def _folder_lines(caplog: pytest.LogCaptureFixture, level: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "nudgebot.email" and r.levelno == level and "Support" in r.getMessage()
    ]


async def test_a_vanished_folder_is_told_once_shown_unready_and_recovers(
    tmp_path: Path, db_url: str, imap_server: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    _imap(imap_server, "create", '"Support"')
    try:
        imap_server.append(mail(), at=T0)
        imap_server.append(
            mail("Invoice", "Where is it?", message_id="s1@customer.example"),
            "Support",
            at=T0,
        )
        async with email_harness(tmp_path, db_url, imap_server, folders="[INBOX, Support]") as h:
            [component] = h.polled.components
            await h.drain(SOURCE)
            assert {m.message_id for m in await h.messages()} == {
                "root@customer.example",
                "s1@customer.example",
            }
            assert component.ready()
            validity = json.loads(await load_cursor(h.runtime.db, SOURCE) or "{}")["Support"][0]

            _imap(imap_server, "delete", '"Support"')
            imap_server.append(
                mail("Second", "INBOX still read", message_id="i2@customer.example",
                     at=T0 + timedelta(minutes=1)),
                at=T0 + timedelta(minutes=1),
            )  # fmt: skip
            before = metrics.platform_events.value("email", "folder_missing")
            for _ in range(3):
                await h.drain(SOURCE)
            status = h.source(SOURCE).status
            assert status.failures == 0  # the poll itself works: INBOX is read
            assert "i2@customer.example" in {m.message_id for m in await h.messages()}
            assert not component.ready()
            ready, exposed = await _web(h, component)
            assert ready["components"] == {"database": "ok", "polled-email": "not ready"}
            # The log says why (the JSON, open to anyone, only that): not "has not started".
            reason = f"not ready: polled-email: {SOURCE}: folder Support missing on the server"
            assert reason in caplog.text
            assert metrics.platform_events.value("email", "folder_missing") == before + 3
            line = 'nudgebot_platform_events_total{platform="email",event="folder_missing"}'
            assert f"{line} {before + 3:g}" in exposed
            [warning] = _folder_lines(caplog, logging.WARNING)  # one line, not one per poll
            assert "folder Support is gone" in warning

            _imap(imap_server, "create", '"Support"')  # back, renumbered by the server
            imap_server.append(
                mail("Back", "Here again", message_id="s2@customer.example",
                     at=T0 + timedelta(minutes=2)),
                "Support",
                at=T0 + timedelta(minutes=2),
            )  # fmt: skip
            await h.drain(SOURCE)
            assert component.ready()
            ready, _ = await _web(h, component)
            assert ready["ok"] is True and ready["components"]["polled-email"] == "ok"
            assert any("folder Support is back" in m for m in _folder_lines(caplog, logging.INFO))
            cursor = json.loads(await load_cursor(h.runtime.db, SOURCE) or "{}")
            assert cursor["Support"][0] != validity  # the cursor restarted for that folder
            stored = [m.message_id for m in await h.messages()]
            assert sorted(stored) == sorted(set(stored))
            assert "s2@customer.example" in stored
            assert h.duplicates() == []
    finally:
        imap = imap_server.client()
        imap.delete('"Support"')
        imap.logout()


async def test_a_new_uidvalidity_restarts_the_folder_without_duplicates(
    tmp_path: Path, db_url: str, imap_server: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    """The server renumbers INBOX under the poller (here: the folder is recreated with the
    same mail in it): read again from the backfill, stored once, one WARNING line."""
    caplog.set_level(logging.INFO)
    _imap(imap_server, "create", '"Support"')
    try:
        first = mail("Invoice", "Where is it?", message_id="s1@customer.example")
        imap_server.append(first, "Support", at=T0)
        async with email_harness(tmp_path, db_url, imap_server, folders="[Support]") as h:
            await h.drain(SOURCE)
            before = metrics.platform_events.value("email", "uidvalidity_changed")
            _imap(imap_server, "delete", '"Support"')
            _imap(imap_server, "create", '"Support"')
            imap_server.append(first, "Support", at=T0)  # the same mail, a new UID space
            imap_server.append(
                mail("Later", "And this?", message_id="s3@customer.example",
                     at=T0 + timedelta(minutes=3)),
                "Support",
                at=T0 + timedelta(minutes=3),
            )  # fmt: skip
            await h.drain(SOURCE)
            assert [m.message_id for m in await h.messages()] == [
                "s1@customer.example",
                "s3@customer.example",
            ]
            assert metrics.platform_events.value("email", "uidvalidity_changed") == before + 1
            warnings = [m for m in _folder_lines(caplog, logging.WARNING) if "UIDVALIDITY" in m]
            assert len(warnings) == 1
    finally:
        imap = imap_server.client()
        imap.delete('"Support"')
        imap.logout()
