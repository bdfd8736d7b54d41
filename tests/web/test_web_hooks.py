"""POST /hooks/{source_id}: signed requests in, nothing stored from any rejected one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.types import Message

from bot.app import Runtime
from bot.web.hooks import MAX_BODY
from bot.web.metrics import Metrics
from tests.web.web_helpers import (
    SECRETS,
    AppFactory,
    auth,
    client_for,
    encode,
    message,
    post_hook,
    sign,
    stored,
)


async def test_signed_message_is_stored_and_waiting(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    response = await post_hook(client, message(1))
    assert response.status_code == 200
    assert response.json() == {"ok": True, "received": 1}
    assert await stored(runtime) == (1, 1)
    rows = (await client.get("/api/waiting", headers=auth())).json()
    assert [(r["source"], r["thread"], r["customer"]) for r in rows] == [
        ("website", "ticket-1", "Dana")
    ]
    assert rows[0]["waiting_since"] == "2026-11-28T10:00:00Z"
    assert rows[0]["responsible"] == "bob"


async def test_team_reply_resolves_person_and_ends_waiting(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    reply = message(
        1,
        id="msg-2",
        at="2026-11-28T10:05:00Z",
        team=True,
        author={"id": "U0ALICE01", "name": "Alice"},
        text="On its way",
    )
    assert (await post_hook(client, [message(1), reply])).status_code == 200
    assert (await client.get("/api/waiting", headers=auth())).json() == []
    stats = (await client.get("/api/stats", headers=auth())).json()
    # the Slack id was matched to the team member, so per-person stats use her id
    assert list(stats["by_person"]) == ["alice"]


async def test_batch_is_stored_together(client: httpx.AsyncClient, runtime: Runtime) -> None:
    batch = [message(n) for n in range(1, 6)]
    response = await post_hook(client, batch)
    assert response.json() == {"ok": True, "received": 5}
    assert await stored(runtime) == (5, 5)


async def test_replayed_request_changes_nothing(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    body = encode([message(1), message(2)])
    first = await post_hook(client, body)
    again = await post_hook(client, body)
    assert first.status_code == again.status_code == 200
    assert await stored(runtime) == (2, 2)
    rows = (await client.get("/api/waiting", headers=auth())).json()
    assert len(rows) == 2


@pytest.mark.parametrize(
    "signature",
    [
        "",  # no header at all
        "sha256=" + "0" * 64,
        "sha256=nothex",
        "sha1=abc",
        "garbage",
        sign(b"{}"),  # a valid signature of another body
        sign(encode(message(1)), SECRETS["shop"]),  # signed with another source's secret
    ],
)
async def test_bad_signature_is_401_and_stores_nothing(
    client: httpx.AsyncClient, runtime: Runtime, signature: str
) -> None:
    response = await post_hook(client, message(1), signature=signature)
    assert response.status_code == 401
    assert "X-Nudgebot-Signature" in response.json()["error"]
    assert await stored(runtime) == (0, 0)


@pytest.mark.parametrize("scheme", ["sha1=", "sha512=", "=", "hmac=", "sha256 ", "sha2560="])
async def test_right_digest_under_another_scheme_is_401(
    client: httpx.AsyncClient, runtime: Runtime, scheme: str
) -> None:
    """The digest alone is not enough: the header must say ``sha256=``."""
    body = encode(message(1))
    digest = sign(body).removeprefix("sha256=")
    response = await post_hook(client, body, signature=scheme + digest)
    assert response.status_code == 401, scheme
    assert await stored(runtime) == (0, 0)
    assert (await post_hook(client, body, signature="sha256=" + digest)).status_code == 200


async def test_signature_accepts_uppercase_hex(client: httpx.AsyncClient, runtime: Runtime) -> None:
    body = encode(message(1))
    response = await post_hook(client, body, signature=sign(body).upper())
    assert response.status_code == 200


async def test_non_ascii_signature_is_401_not_500(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    body = encode(message(1))
    response = await client.post(
        "/hooks/website",
        content=body,
        headers=[(b"X-Nudgebot-Signature", "sha256=ü€".encode())],
    )
    assert response.status_code == 401


@pytest.mark.parametrize("source", ["nope", "acme"])  # acme exists but is a Slack source
async def test_unknown_or_non_webhook_source_is_404(
    client: httpx.AsyncClient, runtime: Runtime, source: str
) -> None:
    response = await post_hook(client, message(1), source=source, secret="s3cret")
    assert response.status_code == 404
    assert response.json() == {"error": f"unknown source '{source}'"}
    assert await stored(runtime) == (0, 0)


async def test_body_over_one_mebibyte_is_413(client: httpx.AsyncClient, runtime: Runtime) -> None:
    body = b" " * (MAX_BODY + 1)
    response = await post_hook(client, body)
    assert response.status_code == 413
    assert "error" in response.json()
    # exactly 1 MiB is allowed through to validation (and fails there: it is only spaces)
    assert (await post_hook(client, b" " * MAX_BODY)).status_code == 400


async def test_chunked_body_without_length_is_cut_off(
    client: httpx.AsyncClient, runtime: Runtime
) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(20):
            yield b"x" * 65536  # 1.25 MiB in all, announced by no Content-Length

    response = await client.post(
        "/hooks/website", content=chunks(), headers={"X-Nudgebot-Signature": "sha256=00"}
    )
    assert response.status_code == 413


async def test_lying_content_length_is_not_trusted(make_app: AppFactory, runtime: Runtime) -> None:
    """Raw ASGI: the header claims 10 bytes, the stream carries 1.5 MiB."""
    app = make_app()
    sent: list[Message] = []
    chunk = b"x" * (512 * 1024)
    bodies = [chunk, chunk, chunk]

    async def receive() -> Message:
        if bodies:
            return {"type": "http.request", "body": bodies.pop(), "more_body": bool(bodies)}
        return {"type": "http.disconnect"}

    async def send(msg: Message) -> None:
        sent.append(msg)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
        "scheme": "http", "path": "/hooks/website", "raw_path": b"/hooks/website",
        "root_path": "", "query_string": b"", "server": ("test", 80), "client": ("t", 1),
        "headers": [(b"content-length", b"10"), (b"x-nudgebot-signature", b"sha256=00")],
    }  # fmt: skip
    await app(scope, receive, send)
    assert sent[0]["status"] == 413
    assert await stored(runtime) == (0, 0)


@pytest.mark.parametrize(
    ("payload", "fragment"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe\x00garbage", "not valid JSON"),
        (b"", "empty body"),
        (b"42", "got int"),
        (b'"text"', "got str"),
        (b"[]", "at least one message"),
        (message(1, at="2026-11-28T10:00:00"), "at: needs a time zone"),
        (message(1, at="yesterday"), "at: "),
        (message(1, at="0001-01-01T00:00:00+14:00"), "at: "),
        (message(1, at="9999-12-31T23:59:59-14:00"), "at: "),
        (message(1, at="1900-01-01T00:00:00Z"), "at: must lie between"),
        (message(1, thread=None), "thread: is required"),
        (message(1, id=""), "id: must not be empty"),
        (message(1, author="Dana"), "author: must be an object"),
        (message(1, author={"name": "Dana"}), "author.id"),
        (message(1, team="yes"), "team: must be true or false"),
        (message(1, text="\ud800"), "text: is not valid Unicode"),
        (message(1, text="a\x00b"), "text: contains a NUL"),
        (message(1, id="x" * 256), "id: is longer than"),
        ([message(1), message(2), message(3), message(4, at="soon")], "[3].at: "),
        ([message(1), 7], "[1]: expected a JSON object"),
        ([message(n) for n in range(1001)], "at most 1000"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),
    ],
)
async def test_malformed_body_is_400_naming_the_field(
    client: httpx.AsyncClient, runtime: Runtime, payload: Any, fragment: str
) -> None:
    response = await post_hook(client, payload)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert fragment in error
    assert "\n" not in response.text
    assert await stored(runtime) == (0, 0)


async def test_batch_is_all_or_nothing(client: httpx.AsyncClient, runtime: Runtime) -> None:
    batch = [message(n) for n in range(1, 10)] + [message(10, team=1)]
    response = await post_hook(client, batch)
    assert response.status_code == 400
    assert response.json()["error"].startswith("[9].team:")
    assert await stored(runtime) == (0, 0)


async def test_full_batch_of_1000(client: httpx.AsyncClient, runtime: Runtime) -> None:
    response = await post_hook(client, [message(n) for n in range(1000)])
    assert response.json() == {"ok": True, "received": 1000}
    assert await stored(runtime) == (1000, 1000)


async def test_duplicate_ids_inside_one_batch(client: httpx.AsyncClient, runtime: Runtime) -> None:
    response = await post_hook(client, [message(1), message(1)])
    assert response.status_code == 200
    assert await stored(runtime) == (1, 1)


async def test_ingest_counter_moves(
    client: httpx.AsyncClient, runtime: Runtime, metrics: Metrics
) -> None:
    await post_hook(client, [message(1), message(2)])
    await post_hook(client, message(3), signature="sha256=00")
    assert metrics.ingested.value("website") == 2


async def test_wrong_method_is_json_405(client: httpx.AsyncClient) -> None:
    response = await client.get("/hooks/website")
    assert response.status_code == 405
    assert "POST" in response.headers["allow"]
    assert "not allowed" in response.json()["error"]


async def test_separate_apps_share_nothing_but_the_database(
    make_app: AppFactory, runtime: Runtime
) -> None:
    async with client_for(make_app()) as one, client_for(make_app()) as two:
        await post_hook(one, message(1))
        await post_hook(two, message(1))
    assert await stored(runtime) == (1, 1)


@pytest.mark.parametrize(
    ("at", "status"),
    [
        ("1969-12-31T23:59:59Z", 400),
        ("1970-01-01T00:00:00Z", 200),  # the first instant every database stores
        ("2999-12-31T23:59:59Z", 200),
        ("3000-01-01T00:00:00Z", 400),
    ],
)
async def test_message_times_are_bounded_to_what_every_database_stores(
    client: httpx.AsyncClient, runtime: Runtime, at: str, status: int
) -> None:
    response = await post_hook(client, message(1, at=at))
    assert response.status_code == status, response.text
    assert await stored(runtime) == ((1, 1) if status == 200 else (0, 0))
