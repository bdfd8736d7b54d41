"""Calendar URLs: conditional fetches, failures that keep the last good copy, /metrics."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from bot.services.oncall import OncallService
from bot.web.app import create_app
from bot.web.metrics import Metrics
from storage.db import Database
from tests.oncall.oncall_kit import TOKEN, Clock, load, make_runtime, needs_ical, utc, with_ical

URL = "https://calendars.example.test/private-abc123/oncall.ics"
AT = utc(2026, 11, 30, 10)  # 15:00 Yekaterinburg: inside the daily 13:00-22:00 shift


class Feed:
    """A MockTransport handler serving a calendar with an ETag, recording every request."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.etag = '"v1"'
        self.requests: list[httpx.Request] = []
        self.fail: Exception | None = None
        self.status: int | None = None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.fail is not None:
            raise self.fail
        if self.status is not None:
            return httpx.Response(self.status, text="nope")
        if request.headers.get("if-none-match") == self.etag:
            return httpx.Response(304)
        headers = {"ETag": self.etag, "Last-Modified": "Mon, 30 Nov 2026 08:00:00 GMT"}
        return httpx.Response(200, content=self.body, headers=headers)


@pytest.fixture
def calendar() -> bytes:
    return needs_ical("google-daily-rrule.ics").read_bytes()


async def test_etag_304_and_failures_keep_the_last_good_copy(
    tmp_path: Path, db: Database, calendar: bytes
) -> None:
    feed = Feed(calendar)
    clock = Clock(utc(2026, 11, 30, 9))
    async with httpx.AsyncClient(transport=httpx.MockTransport(feed)) as http:
        service = OncallService(load(tmp_path, with_ical(URL)), db, now=clock, http=http)
        assert service.on_call("feed", AT) is None  # not fetched yet
        assert "not loaded yet" in (service.problem("feed") or "")
        await service.prepare()
        assert service.on_call("feed", AT) == "bernard"
        assert "if-none-match" not in feed.requests[0].headers
        first = service.feed_status()["feed"]
        assert (first.failures, first.last_success, first.error) == (0, clock.at, None)

        await service.refresh()  # not due before the 10m refresh
        assert len(feed.requests) == 1

        clock.at += timedelta(minutes=10)
        await service.refresh()
        assert len(feed.requests) == 2
        assert feed.requests[1].headers["if-none-match"] == '"v1"'
        assert feed.requests[1].headers["if-modified-since"] == "Mon, 30 Nov 2026 08:00:00 GMT"
        assert service.feed_status()["feed"].last_success == clock.at  # a 304 confirms the copy

        for failure in (
            httpx.ConnectError("connection refused"),
            httpx.ReadTimeout("slow"),
            500,
            404,
            b"BEGIN:VCALENDAR\r\nnot really",
        ):
            feed.fail = failure if isinstance(failure, Exception) else None
            feed.status = failure if isinstance(failure, int) else None
            if isinstance(failure, bytes):
                feed.body, feed.etag = failure, '"v2"'
            clock.at += timedelta(minutes=10)
            await service.refresh()
            assert service.on_call("feed", AT) == "bernard"  # still the last good copy
        status = service.feed_status()["feed"]
        assert status.failures == 5
        assert status.last_success == utc(2026, 11, 30, 9, 10)
        assert status.error is not None and "malformed" in status.error
        assert "private-abc123" not in status.error  # calendar URLs carry secrets
        # The bad copy's ETag was not kept, so the next fetch is not answered 304 for it.
        assert feed.requests[-1].headers["if-none-match"] == '"v1"'

        feed.body, feed.etag = (
            calendar.replace(b"@Bernard Desruisseaux", b"bob@example.com"),
            '"v3"',
        )
        clock.at += timedelta(minutes=10)
        await service.refresh()
        assert service.on_call("feed", AT) == "bob"
        assert service.feed_status()["feed"].error is None
        await service.close()


async def test_oversized_and_non_calendar_responses(tmp_path: Path, db: Database) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("boom.ics"):
            raise RuntimeError("a transport bug")
        if request.url.path.endswith("big.ics"):
            return httpx.Response(200, content=b"BEGIN:VCALENDAR\r\n" + b"x" * (6 << 20))
        return httpx.Response(200, text="<html>login required</html>")

    config = load(
        tmp_path,
        with_ical("https://example.test/big.ics", "big").replace(
            "rotations:\n",
            "rotations:\n  html:\n    ical: https://example.test/cal.ics\n"
            "  boom:\n    ical: https://example.test/boom.ics\n",
            1,
        ),
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        service = OncallService(config, db, now=Clock(utc(2026, 12, 1)), http=http)
        await service.prepare()
    assert "limit" in (service.problem("big") or "")
    assert "not an iCalendar file" in (service.problem("html") or "")
    assert "RuntimeError" not in (service.problem("boom") or "RuntimeError")
    assert "fetching https://example.test/… failed" in (service.problem("boom") or "")
    assert service.report(utc(2026, 12, 1))["rotations"]["support"]["on_call"] == "bob"


class _Handler(BaseHTTPRequestHandler):
    body = b""
    hits: ClassVar[list[tuple[str, int]]] = []

    def do_GET(self) -> None:
        # Recorded before answering: the client may look as soon as the answer arrives.
        if self.headers.get("If-None-Match") == '"real-1"':
            self.hits.append((self.path, 304))
            self.send_response(304)
            self.end_headers()
            return
        self.hits.append((self.path, 200))
        self.send_response(200)
        self.send_header("Content-Type", "text/calendar")
        self.send_header("ETag", '"real-1"')
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server(calendar: bytes) -> Iterator[tuple[str, type[_Handler]]]:
    handler = type("Handler", (_Handler,), {"body": calendar, "hits": []})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}/team.ics", handler
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


async def test_a_real_local_server_through_the_api_and_metrics(
    tmp_path: Path, db_url: str, server: tuple[str, type[_Handler]], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, handler = server
    clock = Clock(utc(2026, 11, 30, 9))
    runtime = make_runtime(load(tmp_path, with_ical(url)), db_url, clock)
    monkeypatch.setenv("NUDGEBOT_API_TOKEN", TOKEN)
    registry = Metrics()
    app = create_app(runtime, metrics=registry)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url="http://test"
        ) as client:
            answer = await client.get("/api/oncall", params={"at": "2026-11-30T10:00:00Z"},
                                      headers=auth)  # fmt: skip
            assert answer.status_code == 200
            assert answer.json()["rotations"]["feed"]["on_call"] == "bernard"
            clock.at += timedelta(minutes=11)
            await runtime.oncall.refresh()
            assert handler.hits == [("/team.ics", 200), ("/team.ics", 304)]
            metrics = (await client.get("/metrics")).text
            assert 'nudgebot_ical_fetch_failures_total{rotation="feed"} 0' in metrics
            stamp = clock.at.timestamp()
            assert f'nudgebot_ical_last_success_timestamp{{rotation="feed"}} {stamp:.0f}' in metrics

            runtime.oncall.feeds["feed"].url = "http://127.0.0.1:1/team.ics"  # nobody listens
            clock.at += timedelta(minutes=11)
            await runtime.oncall.refresh()
            metrics = (await client.get("/metrics")).text
            assert 'nudgebot_ical_fetch_failures_total{rotation="feed"} 1' in metrics
            assert f'nudgebot_ical_last_success_timestamp{{rotation="feed"}} {stamp:.0f}' in metrics
            again = await client.get("/api/oncall", params={"at": "2026-11-30T10:00:00Z"},
                                     headers=auth)  # fmt: skip
            body = again.json()
            assert body["rotations"]["feed"]["on_call"] == "bernard"  # last good copy
            assert "failed" in body["problems"]["feed"]
            assert (await client.get("/healthz")).status_code == 200
    finally:
        await runtime.close()
