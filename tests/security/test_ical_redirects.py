"""Issue 14 item 10: a calendar provider cannot steer the bot's fetch (blind SSRF).

Redirects are followed only to http(s), at most 3 hops, and never into loopback,
link-local or private ranges unless the configured URL itself is in one. httpx's real
client runs over a MockTransport (no network here); the redirect answers are the
provider's.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from bot.services.ical_feed import IcalFeed, person_resolver
from tests.oncall.oncall_kit import load, with_ical

PUBLIC = "https://calendar.example.test/private-abc123/team.ics"
NOW = datetime(2026, 11, 30, 9, tzinfo=UTC)
ICS = b"""BEGIN:VCALENDAR\r
VERSION:2.0\r
PRODID:-//test//EN\r
BEGIN:VEVENT\r
UID:1@test\r
DTSTART:20261130T080000Z\r
DTEND:20261130T200000Z\r
SUMMARY:alice\r
END:VEVENT\r
END:VCALENDAR\r
"""


class Provider:
    """Redirects along ``chain`` (one Location per request), then serves the calendar."""

    def __init__(self, chain: list[str]) -> None:
        self.chain = list(chain)
        self.requests: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(str(request.url))
        if self.chain:
            return httpx.Response(302, headers={"Location": self.chain.pop(0)})
        return httpx.Response(200, content=ICS, headers={"Content-Type": "text/calendar"})


async def fetch(tmp_path: Path, url: str, chain: list[str]) -> tuple[IcalFeed, Provider, bool]:
    config = load(tmp_path, with_ical(url))
    feed = IcalFeed(config.rotations["feed"], person_resolver(config))
    provider = Provider(chain)
    async with httpx.AsyncClient(transport=httpx.MockTransport(provider)) as client:
        ok = await feed.fetch(client, NOW)
    return feed, provider, ok


@pytest.mark.parametrize(
    "target",
    [
        "http://127.0.0.1:8080/api/waiting",
        "http://169.254.169.254/latest/meta-data/",  # cloud metadata
        "http://10.0.0.5/internal.ics",
        "http://192.168.1.1/",
        "http://[::1]/x.ics",
        "http://[::ffff:127.0.0.1]/x.ics",
        "http://localhost/x.ics",
        "file:///etc/passwd",
        "gopher://calendar.example.test/x",
    ],
)
async def test_redirects_into_internal_ranges_or_other_schemes_are_refused(
    tmp_path: Path, target: str
) -> None:
    feed, provider, ok = await fetch(tmp_path, PUBLIC, [target])
    assert not ok and feed.schedule is None
    assert provider.requests == [PUBLIC]  # the target was never requested
    assert feed.error is not None and "redirected" in feed.error
    assert "private-abc123" not in feed.error  # the secret address stays out of the message


async def test_public_redirects_are_followed_up_to_three_hops(tmp_path: Path) -> None:
    hops = ["https://93.184.216.34/a.ics", "https://93.184.216.34/b.ics", "/c.ics"]
    feed, provider, ok = await fetch(tmp_path, PUBLIC, hops)
    assert ok and feed.schedule is not None, feed.error
    assert provider.requests[-1] == "https://93.184.216.34/c.ics"
    feed, provider, ok = await fetch(tmp_path, PUBLIC, [*hops, "/d.ics"])
    assert not ok and "more than 3 redirects" in (feed.error or "")
    assert len(provider.requests) == 4


async def test_an_internal_calendar_may_redirect_internally(tmp_path: Path) -> None:
    internal = "http://10.1.2.3/team.ics"
    feed, provider, ok = await fetch(tmp_path, internal, ["http://10.1.2.4/moved.ics"])
    assert ok, feed.error
    assert provider.requests == [internal, "http://10.1.2.4/moved.ics"]
