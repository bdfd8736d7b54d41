"""Hostile requests: a clear 4xx, nothing stored, never a 5xx."""

from __future__ import annotations

import json

import pytest
from sqlalchemy.exc import OperationalError

from adapters.whatsapp.verify import sign
from tests.whatsapp import payloads as p
from tests.whatsapp.wa_kit import APP_SECRET, VERIFY_TOKEN, Harness


@pytest.mark.parametrize(
    "params",
    [
        {"hub.mode": "subscribe", "hub.verify_token": "guessed", "hub.challenge": "42"},
        {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN[:-1], "hub.challenge": "42"},
        {"hub.mode": "unsubscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "42"},
        {"hub.mode": "subscribe", "hub.challenge": "42"},
        {
            "hub.mode": "subscribe",
            "hub.verify_token": VERIFY_TOKEN,
            "hub.challenge": "<script>alert(1)</script>",
        },
        {"hub.mode": "subscribe", "hub.verify_token": "ü" * 3, "hub.challenge": "42"},
    ],
)
async def test_a_verification_with_the_wrong_token_or_mode_is_refused(
    wa: Harness, params: dict[str, str]
) -> None:
    response = await wa.client.get("/whatsapp/webhook", params=params)
    assert response.status_code == 403
    assert "42" not in response.text and "script" not in response.text


async def test_a_replayed_challenge_with_the_wrong_token_is_refused(wa: Harness) -> None:
    good = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN, "hub.challenge": "77"}
    assert (await wa.client.get("/whatsapp/webhook", params=good)).text == "77"
    replay = {**good, "hub.verify_token": "old-token"}
    assert (await wa.client.get("/whatsapp/webhook", params=replay)).status_code == 403


async def test_a_forged_signature_is_401_and_stores_nothing(wa: Harness) -> None:
    body = p.encode(p.text())
    forged: list[str | bytes] = [
        sign("not-the-app-secret", body),  # signed with another secret
        sign(APP_SECRET, body + b" "),  # signature of a different body
        "sha1=" + sign(APP_SECRET, body).removeprefix("sha256="),  # wrong scheme
        sign(APP_SECRET, body)[:-1],  # truncated
        "sha256=",
        "",  # missing header
        "sha256=ÿÿ".encode("latin-1"),  # non-ASCII bytes
    ]
    for signature in forged:
        response = await wa.post(body, signature=signature)
        assert response.status_code == 401, (signature, response.text)
        assert "X-Hub-Signature-256" in response.json()["error"]
    assert await wa.messages() == []


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        (b"", "not valid JSON"),
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe garbage", "not valid JSON"),
        (b"[" * 100_000 + b"]" * 100_000, "not valid JSON"),  # deep nesting
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "not valid JSON"),
        (b"[]", "expected an object"),
        (json.dumps({"object": "page", "entry": []}).encode(), "whatsapp_business_account"),
        (json.dumps({"object": "whatsapp_business_account", "entry": {}}).encode(), "entry"),
    ],
)
async def test_malformed_bodies_are_400(wa: Harness, body: bytes, needle: str) -> None:
    response = await wa.post(body)
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]
    assert await wa.messages() == []


def _broken(path: str, value: object) -> dict[str, object]:
    payload = p.text()
    message = payload["entry"][0]["changes"][0]["value"]["messages"][0]
    message[path] = value
    return payload


@pytest.mark.parametrize(
    ("payload", "needle"),
    [
        (_broken("timestamp", "yesterday"), "timestamp"),
        (_broken("timestamp", "99999999999999999999"), "timestamp"),
        (_broken("from", None), "from"),
        (_broken("id", {"x": 1}), "id"),
        (_broken("id", "x" * 300), "id"),
        (_broken("text", "plain"), "text"),
        (_broken("from", "\ud800"), "Unicode"),
        (_broken("id", "wamid.\x00"), "NUL"),
    ],
)
async def test_a_bad_field_names_itself_and_nothing_of_the_batch_is_stored(
    wa: Harness, payload: dict[str, object], needle: str
) -> None:
    # a good message first in the same notification: all or nothing
    good = p.text("fine", wamid="wamid.good")["entry"][0]["changes"][0]["value"]["messages"][0]
    payload["entry"][0]["changes"][0]["value"]["messages"].insert(0, good)  # type: ignore[index]
    response = await wa.post(payload)
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]
    assert "messages[1]" in response.json()["error"]
    assert await wa.messages() == []


async def test_an_oversized_body_is_413(wa: Harness) -> None:
    huge = p.text("x" * (1024 * 1024 + 10))
    response = await wa.post(huge)
    assert response.status_code == 413
    assert await wa.messages() == []


async def test_a_lying_content_length_is_cut_off(wa: Harness) -> None:
    async def stream():  # type: ignore[no-untyped-def]
        for _ in range(20):
            yield b" " * 100_000

    response = await wa.client.post(
        "/whatsapp/webhook", content=stream(),
        headers={"X-Hub-Signature-256": "sha256=00", "Content-Type": "application/json"},
    )  # fmt: skip
    assert response.status_code == 413


async def test_a_database_hiccup_is_503_with_retry_after_and_statuses_stay_200(
    wa: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def down(*_args: object) -> None:
        raise OperationalError("INSERT", {}, Exception("database is locked"))

    monkeypatch.setattr(wa.core, "ingest", down)
    monkeypatch.setattr(wa.core, "conversation_of", down)
    response = await wa.post(p.text())
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert await wa.messages() == []
    assert (await wa.post(p.status("wamid.x"))).status_code == 200
