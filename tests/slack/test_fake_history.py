"""The fake Slack serves conversations.history / replies the way Slack documents them, to the
real slack_sdk client (so catch-up tests exercise Slack's shapes, not our assumptions)."""

from __future__ import annotations

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import BOT_TOKEN, FakeSlack

C = "C0CUST001"


async def test_history_and_replies_shapes(fake: FakeSlack) -> None:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url)
    a = fake.post(C, "U1", "a", ts="1700000001.000001")
    b = fake.post(C, "U2", "b", ts="1700000002.000002")
    r1 = fake.post(C, "U3", "r1", ts="1700000003.000003", thread_ts=a)
    fake.post(C, "U4", "r2", ts="1700000004.000004", thread_ts=a)
    c = fake.post(C, "U5", "c", ts="1700000005.000005")

    page = await client.conversations_history(channel=C)
    # Newest first, thread parents only, with their thread summary.
    assert [m["ts"] for m in page["messages"]] == [c, b, a]
    parent = page["messages"][2]
    assert parent["reply_count"] == 2 and parent["latest_reply"] == "1700000004.000004"
    assert parent["reply_users"] == ["U3", "U4"] and parent["thread_ts"] == a
    # oldest/latest exclusive unless inclusive.
    page = await client.conversations_history(channel=C, oldest=a, latest=c)
    assert [m["ts"] for m in page["messages"]] == [b]
    page = await client.conversations_history(channel=C, oldest=a, latest=c, inclusive=True)
    assert [m["ts"] for m in page["messages"]] == [c, b, a]
    # limit + cursor.
    first = await client.conversations_history(channel=C, limit=2)
    assert first["has_more"] and [m["ts"] for m in first["messages"]] == [c, b]
    cursor = first["response_metadata"]["next_cursor"]
    rest = await client.conversations_history(channel=C, limit=2, cursor=cursor)
    assert not rest["has_more"] and [m["ts"] for m in rest["messages"]] == [a]
    assert rest["response_metadata"]["next_cursor"] == ""
    # Replies: the parent first, then replies oldest first, within oldest.
    thread = await client.conversations_replies(channel=C, ts=a)
    assert [m["ts"] for m in thread["messages"]] == [a, r1, "1700000004.000004"]
    later = await client.conversations_replies(channel=C, ts=a, oldest=r1)
    assert [m["ts"] for m in later["messages"]] == [a, "1700000004.000004"]
    with pytest.raises(SlackApiError) as missing:
        await client.conversations_replies(channel=C, ts="1.000000")
    assert missing.value.response["error"] == "thread_not_found"


async def test_edits_deletions_tombstones_and_429(fake: FakeSlack) -> None:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=fake.api_url)
    a = fake.post(C, "U1", "typo", ts="1700000001.000001")
    r = fake.post(C, "U2", "reply", ts="1700000002.000002", thread_ts=a)
    fake.edit(C, a, "fixed")
    [m] = (await client.conversations_history(channel=C))["messages"]
    assert m["text"] == "fixed" and m["edited"]["user"] == "U1"
    fake.delete(C, a)  # with a reply: a tombstone stays
    [m] = (await client.conversations_history(channel=C))["messages"]
    assert m["subtype"] == "tombstone" and m["reply_count"] == 1
    fake.delete(C, r)  # its last reply gone: so is the tombstone
    assert (await client.conversations_history(channel=C))["messages"] == []
    fake.fail_next(1, 429, retry_after=30, methods=("conversations.history",))
    with pytest.raises(SlackApiError) as limited:
        await client.conversations_history(channel=C)
    assert limited.value.response.status_code == 429
    assert limited.value.response.headers["Retry-After"] in ("30", ["30"])
