"""/conversations/{id}: what the page shows (escaped), and its actions behind auth and CSRF."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import httpx
from sqlalchemy import select

from bot.app import Runtime
from bot.domain.events import Kind
from storage.models import ActionRecord, Conversation
from tests.dashboard.kit import HOSTILE, NOW, TOKEN, at, bearer, msg


async def conv_id(runtime: Runtime, thread: str) -> int:
    async with runtime.db.read() as session:
        found = await session.scalar(select(Conversation.id).where(Conversation.thread == thread))
    assert found is not None
    return int(found)


async def signed_in(client: httpx.AsyncClient) -> None:
    assert (await client.post("/login", data={"token": TOKEN})).status_code == 303


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]{64})"', page)
    assert found
    return found.group(1)


async def actions(runtime: Runtime) -> list[tuple[str, str, str]]:
    async with runtime.db.read() as session:
        rows = (await session.scalars(select(ActionRecord).order_by(ActionRecord.id))).all()
    return [(r.kind, r.person, r.via) for r in rows]


async def test_the_page_shows_transcript_periods_and_responsible(
    seeded: Runtime, client: httpx.AsyncClient
) -> None:
    cid = await conv_id(seeded, "w3")  # Hank at 11:00 on 24 Nov, Carol after 2h
    page = (await client.get(f"/conversations/{cid}", headers=bearer())).text
    assert "Hank" in page and "Tue 24 Nov 2026 11:00 UTC" in page
    assert "Tue 24 Nov 2026 13:00 UTC" in page
    period = (
        r"<td>Tue 24 Nov 2026 11:00 UTC</td><td>Tue 24 Nov 2026 11:15 UTC</td>"
        r"<td>Tue 24 Nov 2026 13:00 UTC, answered by Carol</td><td>yes</td>"
    )
    assert re.search(period, page)
    assert "Nobody is waiting here now." in page and "Act on it" not in page
    assert 'href="https://support.example/website/w3"' in page and "Open on webhook" in page
    # Waiting now, owned by Alice (no hours: always within them).
    cid = await conv_id(seeded, "a3")
    page = (await client.get(f"/conversations/{cid}", headers=bearer())).text
    assert "Responsible now: <b>Alice Liddell</b> — Alice Liddell owns this source" in page
    assert "overdue since Thu 26 Nov 2026 08:15 UTC" in page and "Act on it" in page


async def test_edits_and_deletions_are_marked(runtime: Runtime, client: httpx.AsyncClient) -> None:
    first = msg("website", "e1", "e1a", NOW - timedelta(minutes=30), text="Where is it?")
    second = msg("website", "e1", "e1b", NOW - timedelta(minutes=20), text="Order 42")
    await runtime.inbox.ingest_batch([first, second])
    edit = dataclasses.replace(
        first, kind=Kind.EDIT, text="Where is my parcel?", edited_at=NOW - timedelta(minutes=10)
    )
    gone = dataclasses.replace(second, kind=Kind.DELETE, at=NOW - timedelta(minutes=5))
    await runtime.inbox.ingest_batch([edit, gone])
    page = (
        await client.get(f"/conversations/{await conv_id(runtime, 'e1')}", headers=bearer())
    ).text
    assert "Where is my parcel?" in page and "edited Mon 30 Nov 2026 09:20 UTC" in page
    assert re.search(r'<span class="deleted">Order 42</span> <span class="badge">deleted', page)


async def test_customer_text_is_escaped_and_links_are_web_only(
    seeded: Runtime, client: httpx.AsyncClient
) -> None:
    page = await client.get(f"/conversations/{await conv_id(seeded, 'w5')}", headers=bearer())
    assert "script-src" not in page.headers["content-security-policy"]
    text = page.text
    assert HOSTILE not in text and "<b>bold</b>" not in text and "<script>" not in text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in text
    assert "javascript:" not in text and "no web link for this conversation" in text


async def test_unknown_or_bad_id_is_404_and_no_auth_no_data(
    seeded: Runtime, client: httpx.AsyncClient
) -> None:
    for path in ("/conversations/999999", "/conversations/abc", "/conversations/" + "9" * 40):
        assert (await client.get(path, headers=bearer())).status_code == 404
    cid = await conv_id(seeded, "a3")
    page = await client.get(f"/conversations/{cid}")
    assert "Sign in" in page.text and "Jules" not in page.text
    posted = await client.post(f"/conversations/{cid}", data={"as": "bob", "action": "claim"})
    assert posted.status_code == 401 and await actions(seeded) == []


async def test_csrf_guards_every_action(seeded: Runtime, client: httpx.AsyncClient) -> None:
    await signed_in(client)
    cid = await conv_id(seeded, "a3")
    token = csrf_of((await client.get(f"/conversations/{cid}")).text)
    url = f"/conversations/{cid}"
    for form in (
        {"as": "bob", "action": "claim"},  # no token
        {"csrf": "0" * 64, "as": "bob", "action": "claim"},  # a wrong one
        {"csrf": token[:-1], "as": "bob", "action": "claim"},
    ):
        refused = await client.post(url, data=form)
        assert refused.status_code == 403 and "reload the page" in refused.text
    # The right token, but the browser says another site sent it.
    cross = await client.post(
        url, data={"csrf": token, "as": "bob", "action": "claim"},
        headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    )  # fmt: skip
    assert cross.status_code == 403
    assert await actions(seeded) == []  # nothing happened
    # A token is bound to its session: another login's token does not work here.
    async with httpx.AsyncClient(transport=client._transport, base_url="http://test") as other:
        await signed_in(other)
        other_token = csrf_of((await other.get(url)).text)
    if other_token != token:  # two logins within the same second share a cookie value
        stale = await client.post(url, data={"csrf": other_token, "as": "bob", "action": "claim"})
        assert stale.status_code == 403
    ok = await client.post(url, data={"csrf": token, "as": "bob", "action": "claim"})
    assert ok.status_code == 303 and await actions(seeded) == [("claim", "bob", "web")]


async def test_bearer_scripts_need_no_token_but_bad_input_is_400(
    seeded: Runtime, client: httpx.AsyncClient
) -> None:
    cid = await conv_id(seeded, "a3")
    url = f"/conversations/{cid}"
    for form, status in (
        ({"as": "mallory", "action": "claim"}, 400),
        ({"as": "bob", "action": "explode"}, 400),
        ({"as": "bob", "action": "assign", "to": "nobody"}, 400),
        ({"as": "bob", "action": "snooze:5y"}, 400),
    ):
        assert (await client.post(url, data=form, headers=bearer())).status_code == status
    big = await client.post(url, content=b"as=bob&action=claim&x=" + b"a" * 9000, headers=bearer())
    assert big.status_code == 400
    assert await actions(seeded) == []
    done = await client.post(url, data={"as": "bob", "action": "not_needed"}, headers=bearer())
    assert done.status_code == 303 and done.headers["location"].endswith("?done=not_needed")
    page = (await client.get(done.headers["location"], headers=bearer())).text
    assert "Marked as not needed" in page and "Nobody is waiting here now." in page
    assert re.search(r"<td>not needed</td><td>Bob</td><td>web</td>", page)
    again = await client.post(url, data={"as": "bob", "action": "claim"}, headers=bearer())
    assert again.status_code == 409 and "Already marked as not needed by Bob" in again.text


async def test_snooze_choices(seeded: Runtime, client: httpx.AsyncClient) -> None:
    cid = await conv_id(seeded, "a3")
    url = f"/conversations/{cid}"
    for choice, expected in (
        ("30m", NOW + timedelta(minutes=30)),
        ("2h", NOW + timedelta(hours=2)),
        ("tomorrow", at(1, 8).replace(month=12)),  # Alice is in Berlin: 09:00 there, 08:00 UTC
    ):
        form = {"as": "alice", "action": f"snooze:{choice}"}
        assert (await client.post(url, data=form, headers=bearer())).status_code == 303
        async with seeded.db.read() as session:
            conv = await session.get(Conversation, cid)
            assert conv is not None and conv.snoozed_until == expected
    assert [k for k, _, _ in await actions(seeded)] == ["snooze"] * 3
