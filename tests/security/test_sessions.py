"""Issue 14 item 8: logout ends a session on every replica, sessions expire, failed
credentials are throttled per client address, and short tokens are refused."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from bot.app import Runtime
from bot.web.app import create_app
from bot.web.metrics import Metrics
from bot.web.session import COOKIE, IDLE, MAX_AGE
from tests.dashboard.kit import NOW, Clock, write_config

TOKEN = "k3yTz9QmP4vX7wR2nB8cL5dF1gH6jS0a"  # 32 random characters


@pytest.fixture
async def runtime(tmp_path: Path, db_url: str) -> AsyncIterator[Runtime]:
    clock = Clock(NOW)
    runtime = Runtime.from_config(write_config(tmp_path), db_url, now=clock.now)
    runtime.clock = clock  # type: ignore[attr-defined]
    yield runtime
    await runtime.close()


def replica(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Starlette:
    monkeypatch.setenv("NUDGEBOT_API_TOKEN", TOKEN)
    monkeypatch.delenv("NUDGEBOT_PUBLIC_URL", raising=False)
    return create_app(runtime, metrics=Metrics())


def client(app: Starlette, address: str = "198.51.100.7") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def signed_in(c: httpx.AsyncClient) -> bool:
    page = await c.get("/")
    return page.status_code == 200 and "Who's waiting" in page.text


async def login(c: httpx.AsyncClient, token: str = TOKEN) -> str:
    response = await c.post("/login", data={"token": token})
    assert response.status_code == 303, response.text
    return c.cookies[COOKIE]


async def test_logout_revokes_the_cookie_on_every_replica(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    one, two = replica(runtime, monkeypatch), replica(runtime, monkeypatch)
    async with client(one) as a, client(two) as b:
        cookie = await login(a)
        b.cookies.set(COOKIE, cookie)
        assert await signed_in(a) and await signed_in(b)
        assert (await b.post("/logout")).status_code == 303  # sign out on the other replica
        a.cookies.set(COOKIE, cookie)  # a copy of the cookie kept by an attacker
        assert not await signed_in(a)
        b.cookies.set(COOKIE, cookie)
        assert not await signed_in(b)


async def test_sessions_end_when_idle_and_when_old(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock: Clock = runtime.clock  # type: ignore[attr-defined]
    async with client(replica(runtime, monkeypatch)) as c:
        await login(c)
        clock.value += timedelta(seconds=IDLE - 60)
        assert await signed_in(c)  # used in time: still alive, and marked seen
        clock.value += timedelta(seconds=IDLE - 60)
        assert await signed_in(c)
        clock.value += timedelta(seconds=IDLE + 1)
        assert not await signed_in(c)  # idle too long
        await login(c)
        started = clock.value
        while clock.value - started < timedelta(seconds=MAX_AGE - 3600):
            clock.value += timedelta(hours=6)
            assert await signed_in(c)
        clock.value = started + timedelta(seconds=MAX_AGE + 1)
        assert not await signed_in(c)  # used all along, but older than the absolute limit


async def test_failed_logins_are_throttled_per_address(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = replica(runtime, monkeypatch)
    async with client(app) as attacker, client(app, "203.0.113.9") as colleague:
        for _ in range(5):
            wrong = await attacker.post("/login", data={"token": "guess"})
            assert wrong.status_code == 401
        blocked = await attacker.post("/login", data={"token": TOKEN})  # even the right one
        assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
        assert COOKIE not in blocked.headers.get("set-cookie", "")
        api = await attacker.get("/api/waiting", headers={"Authorization": f"Bearer {TOKEN}"})
        assert api.status_code == 429 and "Retry-After" in api.headers
        await login(colleague)  # another address is not affected
        assert await signed_in(colleague)


async def test_failed_bearer_tokens_are_throttled(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = replica(runtime, monkeypatch)
    async with client(app) as c:
        for _ in range(5):
            bad = await c.get("/api/waiting", headers={"Authorization": "Bearer nope"})
            assert bad.status_code == 401
        feed = await c.get("/api/rotations/support.ics?token=nope")
        assert feed.status_code == 429
        good = await c.get("/api/waiting", headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 429 and int(good.headers["Retry-After"]) <= 300


async def test_the_throttle_is_shared_by_replicas_and_forgets_expired_failures(
    runtime: Runtime, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two app instances, each with its own runtime and connection pool, on one database:
    failures on either count for both, and rows older than the window are deleted."""
    from bot.web.throttle import WINDOW
    from storage import auth_failures_repo

    clock = runtime.clock  # type: ignore[attr-defined]
    other = Runtime.from_config(write_config(tmp_path), db_url, now=clock.now)
    try:
        first, second = replica(runtime, monkeypatch), replica(other, monkeypatch)
        async with client(first) as a, client(second) as b, client(second, "203.0.113.9") as c:
            for replica_client in (a, b, a, b, a):
                wrong = await replica_client.post("/login", data={"token": "guess"})
                assert wrong.status_code == 401
            for replica_client in (a, b):  # five in all: both replicas refuse the sixth
                blocked = await replica_client.post("/login", data={"token": TOKEN})
                assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
            api = await b.get("/api/waiting", headers={"Authorization": f"Bearer {TOKEN}"})
            assert api.status_code == 429
            await login(c)  # another address is not affected
            assert await auth_failures_repo.count(runtime.db) == 5

            clock.value += timedelta(seconds=WINDOW + 1)  # every failure left the window
            assert (await a.post("/login", data={"token": "guess"})).status_code == 401
            assert await auth_failures_repo.count(runtime.db) == 1  # the expired five were deleted
            await login(b)  # one recent failure: not throttled
    finally:
        await other.close()


async def test_the_throttle_counts_in_memory_while_the_database_is_away(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from bot.web.throttle import MAX_FAILURES, SharedThrottle

    url = "postgresql+psycopg://nb@127.0.0.1:1/gone?connect_timeout=1"  # nothing listens
    away = Runtime.from_config(write_config(tmp_path), url, now=Clock(NOW).now)
    try:
        throttle = SharedThrottle(away.db, away.now)
        for _ in range(MAX_FAILURES):
            assert await throttle.retry_after("198.51.100.7") is None
            await throttle.failed("198.51.100.7")
        assert await throttle.retry_after("198.51.100.7") == 300
        assert await throttle.retry_after("203.0.113.9") is None
    finally:
        await away.close()
    assert "counting in memory" in caplog.text
