"""The poller runtime across sources: independent loops, a source down or hostile while the
others (and the HTTP app) keep going, storage failures, the per-source lock on PostgreSQL,
and the wiring."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from bot.domain.polling import BadResponse
from bot.services.polling import POLL_DEADLINE, PolledSource
from bot.web.app import create_app
from storage.cursors_repo import SourceLock, load_cursor
from storage.db import connect
from tests.conftest import BACKEND
from tests.polled import fake_github, fake_mastodon
from tests.polled.fake_github import FakeGitHub
from tests.polled.fake_mastodon import FakeMastodon
from tests.polled.fakeserver import Answer
from tests.polled.kit import Clock, harness

MIN = timedelta(minutes=1)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def fakes(clock: Clock) -> Iterator[tuple[FakeMastodon, FakeGitHub]]:
    with FakeMastodon(clock) as mastodon, FakeGitHub(clock) as github:
        yield mastodon, github


def two_sources(mastodon: FakeMastodon, github: FakeGitHub, every: str = "60s") -> str:
    return f"""\
  fediverse:
    platform: mastodon
    instance: {mastodon.base_url}
    token: {fake_mastodon.TOKEN}
    poll_every: {every}
    policy: standard
  issues:
    platform: github
    repo: {fake_github.REPO}
    token: {fake_github.TOKEN}
    api_url: {github.base_url}
    poll_every: {every}
    policy: standard
"""


async def eventually(check: Callable[[], Awaitable[bool]], what: str, tries: int = 500) -> None:
    for _ in range(tries):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never happened: {what}")


async def test_a_source_down_does_not_stop_the_others_or_the_app(
    tmp_path: Path,
    db_url: str,
    fakes: tuple[FakeMastodon, FakeGitHub],
    clock: Clock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    mastodon, github = fakes
    waits: dict[str, list[float]] = {}

    async def sleep(delay: float) -> None:  # the loops' sleep: recorded, then a short yield
        task = asyncio.current_task()
        waits.setdefault(task.get_name() if task else "?", []).append(delay)
        await asyncio.sleep(0.005)

    dana = mastodon.account("dana", domain="other.example")
    mastodon.mention(dana, "before the outage", clock())
    mastodon.down = True
    async with harness(tmp_path, db_url, two_sources(mastodon, github), clock, sleep=sleep) as h:
        for component in h.polled.components:
            assert component.start is not None
            await component.start()
        issue = github.open("eve", "Bug", "it broke", clock())
        await eventually(lambda: _has(h, "issues", f"issue:{issue['number']}"), "issue stored")
        fediverse = h.source("fediverse")
        await eventually(lambda: _true(fediverse.status.failures >= 3), "mastodon retried")
        assert fediverse.status.polling and h.source("issues").status.polling

        # Meanwhile the HTTP side answers as usual.
        monkeypatch.setenv("NUDGEBOT_API_TOKEN", "t0ken")
        app = create_app(h.runtime)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as web:
            ready = await web.get("/readyz")
            assert ready.status_code == 200
            waiting = await web.get("/api/waiting", headers={"Authorization": "Bearer t0ken"})
            assert waiting.status_code == 200 and len(waiting.json()) == 1

        # The instance comes back: everything missed is caught up.
        for i in range(3):
            mastodon.mention(dana, f"during the outage {i}", clock())
        mastodon.down = False
        await eventually(lambda: _count(h, "fediverse", 4), "mastodon caught up")
        assert h.duplicates() == []
        backoffs = waits["poll-fediverse"][:3]
        assert backoffs == sorted(backoffs) and backoffs[0] < 60  # backing off, not hammering


async def _true(value: bool) -> bool:
    return value


async def _has(h: object, source: str, message_id: str) -> bool:
    return any(m.message_id == message_id for m in await h.messages(source))  # type: ignore[attr-defined]


async def _count(h: object, source: str, n: int) -> bool:
    return len(await h.messages(source)) == n  # type: ignore[attr-defined]


async def test_storage_failure_keeps_the_cursor_and_retries(
    tmp_path: Path, db_url: str, fakes: tuple[FakeMastodon, FakeGitHub], clock: Clock
) -> None:
    mastodon, github = fakes
    dana = mastodon.account("dana", domain="other.example")
    mastodon.mention(dana, "first", clock())
    async with harness(tmp_path, db_url, two_sources(mastodon, github), clock) as h:
        await h.step("fediverse")
        cursor = await load_cursor(h.runtime.db, "fediverse")
        mastodon.mention(dana, "second", clock())
        h.core.fail_next = 1
        assert await h.step("fediverse") == 3.75
        assert await load_cursor(h.runtime.db, "fediverse") == cursor  # not moved past "second"
        await h.step("fediverse")
        assert [m.text for m in await h.messages("fediverse")] == ["@acme first", "@acme second"]


async def test_backoff_jitter_comes_from_the_injected_random_source(
    tmp_path: Path, db_url: str, fakes: tuple[FakeMastodon, FakeGitHub], clock: Clock
) -> None:
    mastodon, github = fakes
    mastodon.down = True
    draws = iter([0.0, 1.0, 0.0, 1.0])
    async with harness(
        tmp_path, db_url, two_sources(mastodon, github), clock, rng=lambda: next(draws)
    ) as h:
        delays = [await h.step("fediverse") for _ in range(4)]
    # Equal jitter: half of the 5 s doubling step fixed, half scaled by rng() in [0, 1).
    assert delays == [2.5, 10.0, 10.0, 40.0]


async def test_a_poll_that_never_completes_is_cut_off_and_backed_off(
    tmp_path: Path, db_url: str, fakes: tuple[FakeMastodon, FakeGitHub], clock: Clock
) -> None:
    """The client's timeouts bound each read; a server trickling bytes would pass them all.
    The whole poll has a deadline: past it the step fails like any fetch, and backs off."""
    mastodon, github = fakes
    async with harness(tmp_path, db_url, two_sources(mastodon, github), clock) as h:
        source = h.source("fediverse")
        source.deadline = 0.05
        real = source.poller.poll
        stalled = True

        async def trickling(client: httpx.AsyncClient, cursor: str | None) -> object:
            if stalled:
                await asyncio.Event().wait()  # never answers in full
            return await real(client, cursor)

        source.poller.poll = trickling  # type: ignore[method-assign]
        assert await h.step("fediverse") == 3.75  # the first backoff step (jitter 0.5)
        assert source.status.failures == 1
        assert "no complete answer within 0.05s" in (source.status.last_error or "")
        stalled = False
        # The real poll must not race the 0.05 s cut-off on a loaded machine: the deadline
        # back to its default before the step that should succeed.
        source.deadline = POLL_DEADLINE
        assert await h.step("fediverse") == 60.0  # and back to its rhythm
        assert source.status.failures == 0


async def test_a_poller_bug_is_logged_and_the_loop_goes_on(
    tmp_path: Path,
    db_url: str,
    fakes: tuple[FakeMastodon, FakeGitHub],
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mastodon, github = fakes
    async with harness(tmp_path, db_url, two_sources(mastodon, github), clock) as h:
        source = h.source("fediverse")
        real = source.poller.poll
        calls = 0

        async def buggy(client: httpx.AsyncClient, cursor: str | None) -> object:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise KeyError("oops")
            return await real(client, cursor)

        source.poller.poll = buggy  # type: ignore[method-assign]
        with caplog.at_level(logging.WARNING):
            assert await h.step("fediverse") == 3.75
            assert await h.step("fediverse") == 60.0
        assert "poll failed unexpectedly" in caplog.text and "KeyError" in caplog.text


async def test_responses_over_the_cap_even_compressed_are_refused(clock: Clock) -> None:
    import gzip

    from bot.services.polling_http import ResponseTooLarge, make_client

    bomb = gzip.compress(b"[" + b" " * 5_000_000 + b"]")
    assert len(bomb) < 10_000  # small on the wire
    with FakeMastodon(clock) as server:
        zipped = {"Content-Encoding": "gzip"}
        server.route("GET", "/bomb")(lambda _r, _m: Answer(body=bomb, headers=zipped))
        server.route("GET", "/fine")(
            lambda _r, _m: Answer(body=gzip.compress(b'{"ok": true}'), headers=zipped)
        )
        server.route("GET", "/odd")(
            lambda _r, _m: Answer(body=b"{}", headers={"Content-Encoding": "br"})
        )
        async with make_client(limit=1_000_000) as client:
            with pytest.raises(ResponseTooLarge):
                await client.get(server.base_url + "/bomb")
            assert (await client.get(server.base_url + "/fine")).json() == {"ok": True}
            with pytest.raises(BadResponse):
                await client.get(server.base_url + "/odd")

    # Transports tests swap in (httpx.MockTransport) are capped too.
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"x" * (2_000_000 if request.url.path == "/big" else 2))

    async with make_client(transport=httpx.MockTransport(handler), limit=1_000_000) as client:
        with pytest.raises(ResponseTooLarge):
            await client.get("http://api.test/big")
        assert (await client.get("http://api.test/small")).content == b"xx"


@pytest.mark.skipif(BACKEND != "postgresql", reason="advisory locks: PostgreSQL only")
async def test_only_one_replica_polls_a_source(
    tmp_path: Path, db_url: str, fakes: tuple[FakeMastodon, FakeGitHub], clock: Clock
) -> None:
    mastodon, github = fakes
    config = two_sources(mastodon, github)

    async def yield_(delay: float) -> None:
        await asyncio.sleep(0.005)

    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    async with (
        harness(tmp_path / "a", db_url, config, clock, sleep=yield_, lock_retry=0.01) as one,
        harness(tmp_path / "b", db_url, config, clock, sleep=yield_, lock_retry=0.01) as two,
    ):
        for component in one.polled.components:
            assert component.start is not None
            await component.start()
        await eventually(lambda: _true(one.source("fediverse").status.polling), "one polls")
        for component in two.polled.components:
            assert component.start is not None
            await component.start()
        await asyncio.sleep(0.2)
        assert not two.source("fediverse").status.polling
        assert two.source("fediverse").status.polls == 0
        # The first replica stops (or dies): the second takes over.
        for component in one.polled.components:
            assert component.stop is not None
            await component.stop()
        await eventually(lambda: _true(two.source("fediverse").status.polling), "takeover")
        await eventually(lambda: _true(two.source("issues").status.polls > 0), "polls there")


async def test_lock_is_always_granted_on_sqlite_and_exclusive_on_postgresql(db_url: str) -> None:
    first, second = connect(db_url), connect(db_url)
    try:
        a, b = SourceLock(first, "s1"), SourceLock(second, "s1")
        assert await a.acquire()
        assert await b.acquire() is (BACKEND == "sqlite")
        assert await a.check()
        await a.release()
        assert await b.acquire()
        other = SourceLock(first, "other")
        assert await other.acquire()  # a lock per source
        await other.release()
        await b.release()
    finally:
        await first.dispose()
        await second.dispose()


@pytest.mark.skipif(BACKEND != "postgresql", reason="advisory locks: PostgreSQL only")
async def test_every_poll_lock_of_a_process_shares_one_session(db_url: str) -> None:
    """More polled sources than the pool has connections: one session holds all their locks,
    requests still get connections, a lost session loses every lock (another replica takes
    them), and releasing the last one leaves no connection behind."""
    first, second = connect(db_url), connect(db_url)
    count = 25  # the pool holds 10 + 10

    async def holders() -> list[int]:
        async with second.read() as session:
            found = await session.execute(
                text("SELECT DISTINCT pid FROM pg_locks WHERE locktype = 'advisory'")
            )
            return [pid for (pid,) in found]

    try:
        mine = [SourceLock(first, f"source-{n}") for n in range(count)]
        assert all([await lock.acquire() for lock in mine])
        assert len(await holders()) == 1
        async with asyncio.timeout(5):  # the pool is not starved
            async with first.read() as session:
                assert await session.scalar(text("SELECT 1")) == 1
        theirs = [SourceLock(second, f"source-{n}") for n in range(count)]
        assert not any([await lock.acquire() for lock in theirs])

        [pid] = await holders()
        async with second.read() as session:
            await session.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        assert not any([await lock.check() for lock in mine])
        assert all([await lock.acquire() for lock in theirs])  # the other replica takes over

        for lock in theirs:
            await lock.release()
        assert await holders() == []
        assert second.lock_session is not None and second.lock_session.held == 0
    finally:
        await first.dispose()
        await second.dispose()


async def test_wiring_groups_sources_by_platform_and_skips_bad_ones(
    tmp_path: Path,
    db_url: str,
    fakes: tuple[FakeMastodon, FakeGitHub],
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    mastodon, github = fakes
    extra = f"""\
  broken:
    platform: github
    repo: acme/other
    api_url: {github.base_url}
    backfill: soon
  website:
    platform: webhook
    secret: s3cret
"""
    with caplog.at_level(logging.ERROR):
        async with harness(tmp_path, db_url, two_sources(mastodon, github) + extra, clock) as h:
            names = sorted(c.name for c in h.polled.components)
            assert names == ["polled-github", "polled-mastodon"]
            assert sorted(h.polled.sources) == ["fediverse", "issues"]
            assert set(h.runtime.repliers) == {"github", "mastodon"}
            assert isinstance(h.source("issues"), PolledSource)
            assert h.source("issues").every == 60.0
            # One httpx.AsyncClient per source, handed to its loop (tests swap its transport).
            assert h.source("issues").client is not h.source("fediverse").client
            assert h.source("issues").poller is not h.source("fediverse").poller
    assert "broken: not polled" in caplog.text
