"""IMAP IDLE against a real Dovecot: with ``poll_every: 1h`` a new mail is still stored as it
arrives, IDLE is renewed before the server's timeout, stopping ends it, and a server without
IDLE gets ``poll_every`` instead. Waits are on conditions with a generous limit, never on
how long something took."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.email.idle import NEWS, Idler
from adapters.email.imap import Session
from adapters.email.poller import EmailPoller
from bot.config.email import Server
from tests.email.kit import SOURCE, T0, email_harness, mail
from tests.email.servers import Dovecot, dovecot

LIMIT = 120.0  # seconds: only a broken IDLE gets near it


async def until(what: str, check: Callable[[], Awaitable[bool]]) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + LIMIT
    while not await check():
        if loop.time() > end:
            raise AssertionError(f"never happened: {what}")
        await asyncio.sleep(0.05)


def _poller(h: object) -> EmailPoller:
    poller = h.source(SOURCE).poller  # type: ignore[attr-defined]
    assert isinstance(poller, EmailPoller)
    return poller


def _idlers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith(("imap-idle-", "idle-"))]


async def test_idle_stores_new_mail_without_waiting_for_poll_every(
    tmp_path: Path, db_url: str, imap_server: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    imap_server.append(mail(), at=T0)
    async with email_harness(
        tmp_path, db_url, imap_server, knobs={"sleep": asyncio.sleep}, poll_every="1h"
    ) as h:
        poller = _poller(h)
        idler = poller.waiter.idler
        idler.renew = 0.5  # the 25 minutes, shortened: renewals are what is checked
        polled = h.source(SOURCE)
        assert polled.every == 3600
        await polled.start()

        async def stored(n: int) -> bool:
            return len(await h.messages()) >= n

        await until("the first mail stored", lambda: stored(1))

        async def renewed() -> bool:
            return idler.issued >= 3

        await until("IDLE issued and renewed twice", renewed)
        assert polled.status.polls == 1  # renewing IDLE is not polling
        assert poller.waiter.idle is True
        imap_server.append(
            mail("Second", "Are you there?", message_id="two@customer.example",
                 at=T0 + timedelta(minutes=1)),
            at=T0 + timedelta(minutes=1),
        )  # fmt: skip
        await until("the new mail stored while idling", lambda: stored(2))
        assert [m.message_id for m in await h.messages()] == [
            "root@customer.example",
            "two@customer.example",
        ]
        assert polled.status.polls == 2  # one poll for it, woken by IDLE, not poll_every
        assert any("IMAP IDLE on INBOX, Sent Messages" in r.getMessage() for r in caplog.records)
        await polled.stop()

        async def ended() -> bool:
            return not _idlers()

        await until("the IDLE threads logged out after stop", ended)


async def test_mail_that_came_between_the_poll_and_idle_is_news_at_once(
    imap_server: Dovecot,
) -> None:
    server = Server("127.0.0.1", imap_server.port, imap_server.user, imap_server.password,
                    tls=False, starttls=False)  # fmt: skip
    with Session(server) as imap:
        validity, following = imap.examine("INBOX")
    imap_server.append(mail(), at=T0)  # after that "poll", before the IDLE
    idler = Idler(lambda: Session(server))
    result = await asyncio.to_thread(
        idler.wait, {"INBOX": [validity, following - 1]}, 3600.0, threading.Event()
    )
    assert result == NEWS and idler.issued == 0 and idler.failure is None


@pytest.fixture(scope="module")
def no_idle_server() -> Iterator[Dovecot]:
    with dovecot("imap_capability = IMAP4rev1 LITERAL+ SASL-IR ID ENABLE\n") as server:
        yield server


async def test_without_idle_the_wait_is_poll_every(
    tmp_path: Path, db_url: str, no_idle_server: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    no_idle_server.append(mail(), at=T0)
    async with email_harness(tmp_path, db_url, no_idle_server, poll_every="1h") as h:
        await h.drain(SOURCE)
        poller = _poller(h)
        slept: list[float] = []

        async def sleep(seconds: float) -> None:
            slept.append(seconds)

        await poller.wait(3600.0, sleep)
        await poller.wait(3600.0, sleep)  # asked once: no second connection, no second line
        assert slept == [3600.0, 3600.0]
        assert poller.waiter.idle is False and poller.waiter.idler.issued == 0
        said = [r.getMessage() for r in caplog.records if "offers no IDLE" in r.getMessage()]
        assert said == ["support-mail: the IMAP server offers no IDLE: polling every 3600s"]


async def test_an_idle_connection_that_fails_falls_back_and_says_so_once(
    tmp_path: Path, db_url: str, imap_server: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    async with email_harness(tmp_path, db_url, imap_server) as h:
        await h.drain(SOURCE)
        poller = _poller(h)
        idler = poller.waiter.idler
        real = idler.session
        bad = Server("127.0.0.1", imap_server.port, imap_server.user, "wrong", False, False)
        idler.session = lambda: Session(bad)  # the IDLE login is refused
        slept: list[float] = []

        async def sleep(seconds: float) -> None:
            slept.append(seconds)

        await poller.wait(5.0, sleep)
        await poller.wait(5.0, sleep)
        assert len(slept) == 2  # the rest of each wait slept instead: poll_every
        warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warned) == 1 and "IMAP IDLE failed" in warned[0]
        assert "wrong" not in warned[0]
        idler.session = real  # the server lets us in again
        await poller.wait(0.5, sleep)  # IDLE for half a second, nothing new
        assert len(slept) == 2 and poller.waiter.idle is True
        assert any("IMAP IDLE on INBOX" in r.getMessage() for r in caplog.records)
