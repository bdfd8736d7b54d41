"""`GET /`: login, session cookie, what the page shows, escaping, and bad input."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable
from datetime import timedelta
from html.parser import HTMLParser

import httpx
import pytest
from starlette.applications import Starlette

from bot.app import Runtime
from bot.services.stats import report
from bot.web.session import COOKIE, MAX_AGE, session_id, session_value
from tests.dashboard.kit import HOSTILE, NOW, TOKEN, bearer, client_for

AppFactory = Callable[..., Starlette]


class _Elements(HTMLParser):
    """Collects tags and attributes, and checks the markup nests."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.void = {"meta", "input", "br", "link", "img"}

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        if tag not in self.void:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag: str) -> None:
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()


def parse(page: str) -> _Elements:
    parser = _Elements()
    parser.feed(page)
    assert parser.stack == [], parser.stack
    return parser


async def login(client: httpx.AsyncClient, token: str = TOKEN) -> httpx.Response:
    return await client.post("/login", data={"token": token})


async def test_without_auth_only_the_login_form(seeded: Runtime, client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    page = response.text
    assert 'action="/login"' in page and 'type="password"' in page
    for data in ("Jules", "Who's waiting", "<svg", "Alice"):
        assert data not in page
    assert "script-src" not in response.headers["content-security-policy"]  # none allowed
    assert response.headers["x-frame-options"] == "DENY"


async def test_wrong_token_shows_the_form_again_with_401(
    seeded: Runtime, client: httpx.AsyncClient
) -> None:
    response = await login(client, "not-the-token")
    assert response.status_code == 401
    assert "Wrong token." in response.text and 'action="/login"' in response.text
    assert COOKIE not in response.headers.get("set-cookie", "")
    empty = await login(client, "")
    assert empty.status_code == 401
    bad_bearer = await client.get("/", headers=bearer("nope"))
    assert bad_bearer.status_code == 401 and "Jules" not in bad_bearer.text


async def test_login_sets_a_strict_httponly_cookie_holding_no_token(
    seeded: Runtime, client: httpx.AsyncClient
) -> None:
    response = await login(client)
    assert response.status_code == 303 and response.headers["location"] == "/"
    header = response.headers["set-cookie"]
    assert "HttpOnly" in header and "SameSite=strict" in header and "Path=/" in header
    assert f"Max-Age={MAX_AGE}" in header
    assert "Secure" not in header  # plain http, no https public URL
    value = client.cookies[COOKIE]
    assert TOKEN not in value and value.startswith("v2.")
    page = await client.get("/")
    assert page.status_code == 200 and "Who's waiting" in page.text
    out = await client.post("/logout")
    assert out.status_code == 303
    assert COOKIE not in client.cookies
    assert "Who's waiting" not in (await client.get("/")).text


async def test_secure_cookie_behind_https(
    seeded: Runtime, make_app: AppFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    async with client_for(app, "https://dash.example") as https:
        assert "Secure" in (await login(https)).headers["set-cookie"]
    monkeypatch.setenv("NUDGEBOT_PUBLIC_URL", "https://bot.example.com")
    async with client_for(app) as plain:
        assert "Secure" in (await login(plain)).headers["set-cookie"]


def test_session_values_need_the_token() -> None:
    """Expiry and revocation live in the database (tests/security/test_sessions.py)."""
    sid = "s" * 32
    value = session_value(TOKEN, sid)
    assert session_id(TOKEN, value) == sid
    assert session_id("other-token", value) is None
    for junk in ("", "v1", "v2..", "v2.short.abc", f"v1.{sid}.abc", f"v2.{sid}.", TOKEN):
        assert session_id(TOKEN, junk) is None


async def test_forged_cookie_is_ignored(seeded: Runtime, client: httpx.AsyncClient) -> None:
    client.cookies.set(COOKIE, session_value("guessed", "g" * 32))
    response = await client.get("/")
    assert response.status_code == 200 and "Who's waiting" not in response.text


async def test_cross_site_posts_are_refused(seeded: Runtime, client: httpx.AsyncClient) -> None:
    evil = await client.post(
        "/login", data={"token": TOKEN}, headers={"Origin": "https://evil.example"}
    )
    assert evil.status_code == 403 and COOKIE not in evil.headers.get("set-cookie", "")
    fetch = await client.post("/logout", headers={"Sec-Fetch-Site": "cross-site"})
    assert fetch.status_code == 403
    same = await client.post("/login", data={"token": TOKEN}, headers={"Origin": "http://test"})
    assert same.status_code == 303


async def test_oversized_or_garbled_login_form(seeded: Runtime, client: httpx.AsyncClient) -> None:
    big = await client.post("/login", content=b"token=" + b"a" * 20000)
    assert big.status_code == 400
    garbled = await client.post("/login", content=b"token=\xff\xfe")
    assert garbled.status_code == 400


async def test_without_a_configured_token_the_dashboard_is_off(
    seeded: Runtime, make_app: AppFactory
) -> None:
    async with client_for(make_app(token=None)) as client:
        page = await client.get("/")
        assert page.status_code == 401 and "NUDGEBOT_API_TOKEN is not set" in page.text
        assert (await login(client, "")).status_code == 401


async def test_the_dashboard_shows_everything(seeded: Runtime, client: httpx.AsyncClient) -> None:
    response = await client.get("/", headers=bearer())
    assert response.status_code == 200
    page = response.text
    parsed = parse(page)
    # The rows refresh by script (no full reload), which the CSP allows by its hash alone.
    assert 'http-equiv="refresh"' not in page
    csp = response.headers["content-security-policy"]
    script = page[page.index("<script>") + len("<script>") : page.index("</script>")]
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    assert f"script-src 'sha256-{digest}'" in csp and "unsafe-inline" not in csp
    assert "rows" in script and "30000" in script
    # Who's waiting: oldest first, the overdue ones marked, responsible people by name.
    waiting = page[page.index("Who's waiting") :]
    order = [waiting.index(name) for name in ("Jules", "&lt;script&gt;", "Kim")]
    assert order == sorted(order)
    rows = [attrs for tag, attrs in parsed.tags if tag == "tr" and attrs.get("class")]
    assert [r["class"] for r in rows] == ["overdue", "overdue"]  # Jules, Mallory; Kim not yet
    assert "Alice Liddell" in waiting and "in 10m" in waiting
    # The chart: an inline SVG with both series and a point per day with replies.
    assert page.count("<svg") == 1
    assert 'class="median"' in page and 'class="p90"' in page
    circles = [a for t, a in parsed.tags if t == "circle"]
    assert len(circles) == 2 * 5  # five days with replies, median and p90
    # Engagement, SLA, per-person and per-source tables.
    assert "2026-W48" in page and "replies share" in page
    assert "SLA met" in page and "By person" in page and "By source" in page
    assert "Carol" in page and "website" in page
    # The figures are the stats report's for the default 30 days, not just the labels.
    stats = await report(seeded.db, NOW - timedelta(days=30), NOW, NOW)
    tile = rf"<b>{stats['sla_met_ratio']:.0%}</b>SLA met"
    assert re.search(tile, page) and f"{stats['sla_met_ratio']:.0%}" == "43%"
    assert f"<b>{stats['replies']} / {stats['broadcasts']}</b>replies / broadcasts" in page
    carol = stats["by_person"]["carol"]
    assert carol["reply"]["median_seconds"] == 7200
    assert re.search(r'<td><a href="/\?person=carol#waiting">Carol</a></td><td>1</td><td>0</td>'
                     r"(<td>2h 00m</td>){4}<td>1</td><td>0%</td><td>0</td>", page)  # fmt: skip
    # The chart's numbers: 24 Nov had one reply, after 2h (w3, Carol).
    assert re.search(r"<td>Tue 24 Nov</td><td>1</td><td>2h 00m</td><td>2h 00m</td>", page)
    # Engagement, last week: 3 replies, 3 broadcasts, 4 conversations, 3 answered, median 5m.
    assert re.search(
        r"<td>2026-W48</td><td>3</td><td>3</td><td>50%</td><td>4</td><td>3</td><td>75%</td>"
        r"<td>5m</td>",
        page,
    )
    # On call now and next (alice's turn began at 09:00 today, bob's follows).
    oncall = page[page.index("<h2>On call</h2>") :]
    assert re.search(
        r'<td>support</td><td><a href="/\?person=alice#waiting">Alice Liddell</a></td>'
        r"<td>Mon 07 Dec 2026 09:00 UTC</td>"
        r"<td>Bob</td>",
        oncall,
    )


async def test_hostile_data_is_text_not_markup(seeded: Runtime, client: httpx.AsyncClient) -> None:
    page = (await client.get("/", headers=bearer())).text
    assert page.count("<script>") == 1  # ours alone, the row refresh at the very end
    page = page[: page.index("<script>")]
    assert "<script>" not in page and "<b>bold</b>" not in page
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &quot;Mallory&quot;" in page
    assert HOSTILE not in page
    assert "javascript:" not in page  # the link is dropped, not rendered
    hrefs = re.findall(r'href="([^"]*)"', page)
    outside = [h for h in hrefs if not h.startswith("/")]
    assert outside and all(h.startswith("https://support.example/") for h in outside)
    assert "/conversations/" in " ".join(hrefs)


@pytest.mark.parametrize(
    ("since", "fragment"),
    [
        ("yesterday-ish", "is not a time"),
        ("99999999999d", "since="),
        ("0001-01-01T00:00:00+14:00", "out of range"),
        ("2999-01-01", "lies in the future"),
        ("<img src=x onerror=alert(1)>", "is not a time"),
    ],
)
async def test_bad_since_gives_a_notice_never_a_500(
    seeded: Runtime, client: httpx.AsyncClient, since: str, fragment: str
) -> None:
    response = await client.get("/", params={"since": since}, headers=bearer())
    assert response.status_code == 400
    assert fragment in response.text and "Showing the last 30 days instead" in response.text
    assert "<img src=x" not in response.text
    assert "Jules" in response.text  # the default window still shows


@pytest.mark.parametrize("since", ["1d", "12w", "1970-01-01", "0001-01-01"])
async def test_any_range_renders(seeded: Runtime, client: httpx.AsyncClient, since: str) -> None:
    response = await client.get("/", params={"since": since}, headers=bearer())
    assert response.status_code == 200
    parse(response.text)


async def test_empty_database_shows_empty_states(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    response = await client.get("/", headers=bearer())
    assert response.status_code == 200
    page = response.text
    assert "Nobody is waiting." in page
    assert "No replies in this period yet" in page
    assert page.count("No conversations in this period.") == 2
    parse(page)
