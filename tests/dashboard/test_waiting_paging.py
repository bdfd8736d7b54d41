"""The waiting list at scale: keyset pages on /api/waiting and the dashboard, filters, sort,
counts per filter, and clear 400s for a bad cursor or an offset."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest

from bot.app import Runtime
from bot.services.waiting import list_waiting
from bot.services.waiting_page import encode_cursor
from storage.waiting_page_queries import Key
from tests.dashboard.kit import NOW, bearer, msg


async def fill(runtime: Runtime, n: int, *, first_minute: int = 1, tag: str = "t") -> None:
    """n waiting conversations, alternating website (bob's) and acme (alice's), one a minute
    apart, the oldest ``first_minute + n`` minutes ago."""
    batch = [
        msg(
            "website" if i % 2 else "acme",
            f"{tag}{i}",
            f"{tag}{i}a",
            NOW - timedelta(minutes=first_minute + n - i),
            customer=f"C{tag}{i}",
        )
        for i in range(n)
    ]
    await runtime.inbox.ingest_batch(batch)


async def pages(client: httpx.AsyncClient, query: str) -> list[list[dict[str, Any]]]:
    out: list[list[dict[str, Any]]] = []
    cursor = None
    while True:
        url = f"/api/waiting?envelope=1&{query}" + (f"&cursor={cursor}" if cursor else "")
        body = (await client.get(url, headers=bearer())).json()
        out.append(body["rows"])
        cursor = body["next"]
        if cursor is None:
            return out


async def test_pages_cover_everything_once_in_order(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await fill(runtime, 23)
    got = await pages(client, "limit=5")
    assert [len(p) for p in got] == [5, 5, 5, 5, 3]
    ids = [r["conversation"] for p in got for r in p]
    expected = [r.conversation for r in await list_waiting(runtime.db, runtime.routing, NOW)]
    assert ids == expected and len(set(ids)) == 23  # oldest first, none twice, none missed
    # The bare list (the CLI's shape) pages the same way, the cursor in headers.
    first = await client.get("/api/waiting?limit=5", headers=bearer())
    assert [r["conversation"] for r in first.json()] == ids[:5]
    assert first.headers["x-total-count"] == "23"
    nxt = first.headers["x-next-cursor"]
    assert f"cursor={nxt}" in first.headers["link"] and 'rel="next"' in first.headers["link"]
    second = await client.get(f"/api/waiting?limit=5&cursor={nxt}", headers=bearer())
    assert [r["conversation"] for r in second.json()] == ids[5:10]


async def test_paging_is_stable_under_inserts(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await fill(runtime, 12, first_minute=100)
    one = (await client.get("/api/waiting?envelope=1&limit=5", headers=bearer())).json()
    before = [r.conversation for r in await list_waiting(runtime.db, runtime.routing, NOW)]
    # Meanwhile: older conversations arrive (they sort before the cursor) and newer ones.
    await fill(runtime, 4, first_minute=200, tag="old")
    await fill(runtime, 3, first_minute=1, tag="new")
    rest: list[int] = []
    cursor = one["next"]
    while cursor:
        url = f"/api/waiting?envelope=1&limit=5&cursor={cursor}"
        body = (await client.get(url, headers=bearer())).json()
        rest += [r["conversation"] for r in body["rows"]]
        cursor = body["next"]
    seen = [r["conversation"] for r in one["rows"]] + rest
    assert seen[:12] == before  # no row of the first listing repeated or skipped
    assert len(seen) == len(set(seen)) == 15  # the 3 newer ones come after; older ones not
    assert not set(seen) & {r.conversation for r in await _threads(runtime, "old")}


async def _threads(runtime: Runtime, tag: str) -> list[Any]:
    rows = await list_waiting(runtime.db, runtime.routing, NOW)
    return [r for r in rows if r.thread.startswith(tag)]


async def test_filters_and_counts(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await fill(runtime, 10)  # 5 website (bob), 5 acme (alice); due 15m after waiting_since
    body = (await client.get("/api/waiting?envelope=1", headers=bearer())).json()
    counts = body["counts"]
    assert counts["total"] == counts["matching"] == 10
    assert counts["source"] == {"acme": 5, "website": 5}
    assert counts["person"] == {"alice": 5, "bob": 5}
    assert counts["platform"] == {"slack": 5, "webhook": 5}
    # waiting 11..2 minutes: due in 4..13 minutes, none overdue
    assert counts["overdue"] == {"not_due": 10}

    def get(q: str) -> Any:
        return client.get(f"/api/waiting?envelope=1&{q}", headers=bearer())

    bob = (await get("person=bob")).json()
    assert {r["source"] for r in bob["rows"]} == {"website"} and len(bob["rows"]) == 5
    assert bob["counts"]["matching"] == 5 and bob["counts"]["source"] == {"website": 5}
    slack = (await get("platform=slack&source=acme")).json()
    assert len(slack["rows"]) == 5 and {r["platform"] for r in slack["rows"]} == {"slack"}
    assert (await get("overdue=true")).json()["rows"] == []
    await fill(runtime, 4, first_minute=60, tag="late")  # waiting over an hour: overdue
    late = (await get("overdue=true")).json()
    assert [r["thread"] for r in late["rows"]] == ["late0", "late1", "late2", "late3"]
    assert late["counts"]["overdue"] == {"overdue": 4, "not_due": 10}
    assert len((await get("overdue=false")).json()["rows"]) == 10
    # Person and overdue together: bob's overdue ones (late1, late3 are website).
    both = (await get("person=bob&overdue=true")).json()
    assert [r["thread"] for r in both["rows"]] == ["late1", "late3"]
    assert both["counts"]["person"] == {"alice": 2, "bob": 2}  # the person facet ignores person


async def test_sort_by_due_time(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await fill(runtime, 6)
    by_wait = (await client.get("/api/waiting?sort=waiting", headers=bearer())).json()
    by_due = await client.get("/api/waiting?sort=due&limit=4", headers=bearer())
    dues = [r["due_at"] for r in by_due.json()]
    assert dues == sorted(dues)
    nxt = by_due.headers["x-next-cursor"]
    rest = (await client.get(f"/api/waiting?sort=due&cursor={nxt}", headers=bearer())).json()
    assert len(by_due.json()) + len(rest) == len(by_wait) == 6
    # A cursor of one sort is refused by the other.
    wrong = await client.get(f"/api/waiting?sort=waiting&cursor={nxt}", headers=bearer())
    assert wrong.status_code == 400 and "sort=due" in wrong.json()["error"]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("offset=20", "offset is not supported"),
        ("offset=0&limit=5", "offset is not supported"),
        ("cursor=not-a-cursor", "cursor is not one this server gave out"),
        ("cursor=" + "A" * 500, "cursor is not one this server gave out"),
        ("cursor=WyJ3YWl0aW5nIiwxLDJd", "cursor is not one this server gave out"),  # [.., 1, 2]
        ("cursor=WyJ3YWl0aW5nIixudWxsLDJd", "cursor is not one this server gave out"),
        ("sort=newest", "sort must be one of"),
        ("overdue=maybe", "overdue must be true or false"),
        ("platform=fax", "used by no source"),
    ],
)
async def test_bad_paging_is_400(client: httpx.AsyncClient, query: str, fragment: str) -> None:
    response = await client.get(f"/api/waiting?{query}", headers=bearer())
    assert response.status_code == 400
    assert fragment in response.json()["error"]


async def test_cursor_naive_time_is_refused(client: httpx.AsyncClient) -> None:
    cursor = encode_cursor("waiting", Key(NOW, 5)).encode()
    import base64
    import json

    raw = json.loads(base64.urlsafe_b64decode(cursor + b"=" * (-len(cursor) % 4)))
    raw[1] = raw[1].replace("+00:00", "")
    bad = base64.urlsafe_b64encode(json.dumps(raw).encode()).decode()
    response = await client.get(f"/api/waiting?cursor={bad}", headers=bearer())
    assert response.status_code == 400


async def test_dashboard_pages_filters_and_links(
    runtime: Runtime, client: httpx.AsyncClient
) -> None:
    await fill(runtime, 60)
    page = (await client.get("/", headers=bearer())).text
    rows = re.findall(r'<a href="/conversations/(\d+)" class="row-link">', page)
    assert len(rows) == 50  # one page
    assert "60 of 60 waiting match; showing 50" in page
    nxt = re.search(r'<a href="(/\?cursor=[^"]+)" class="next">', page)
    assert nxt is not None
    second = (await client.get(nxt.group(1).replace("&amp;", "&"), headers=bearer())).text
    more = re.findall(r'<a href="/conversations/(\d+)" class="row-link">', second)
    assert len(more) == 10 and not set(more) & set(rows)
    assert 'class="first"' in second and 'class="next"' not in second
    # Filter by person: the select shows counts, the rows are bob's only.
    assert '<option value="bob">Bob (30)</option>' in page
    bob = (await client.get("/?person=bob", headers=bearer())).text
    assert "30 of 60 waiting match" in bob and '<option value="bob" selected>' in bob
    # The script's refresh asks for the rows alone, under the same filters.
    rows_only = await client.get("/?person=bob&rows=1", headers=bearer())
    assert rows_only.status_code == 200 and "<html" not in rows_only.text
    assert "30 of 60 waiting match" in rows_only.text
    # A bad cursor or filter on the page: a notice and the first page, never a 500.
    bad = await client.get("/?cursor=zzz", headers=bearer())
    assert bad.status_code == 400 and "Showing the first page instead" in bad.text
    bad = await client.get("/?offset=50", headers=bearer())
    assert bad.status_code == 400 and "offset is not supported" in bad.text


async def test_rows_refresh_needs_auth(runtime: Runtime, client: httpx.AsyncClient) -> None:
    await fill(runtime, 2)
    response = await client.get("/?rows=1")
    assert "Cacme0" not in response.text and "Sign in" in response.text
