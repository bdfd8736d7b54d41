"""Whatever a client sends to /hooks/{id}: never a 5xx, never a row from a rejected request."""

from __future__ import annotations

import json
from typing import Any

import httpx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from bot.app import Runtime
from tests.web.web_helpers import SECRETS, AppFactory, client_for, message, sign, stored

_json_leaf = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40)
_json = st.recursive(
    _json_leaf,
    lambda inner: (
        st.lists(inner, max_size=6) | st.dictionaries(st.text(max_size=10), inner, max_size=6)
    ),
    max_leaves=30,
)
_times = st.one_of(
    st.datetimes().map(lambda d: d.isoformat()),
    st.datetimes(timezones=st.timezones()).map(lambda d: d.isoformat()),
    st.sampled_from(["2026-11-28T10:00:00Z", "0001-01-01T00:00:00+14:00", "Z", "", "now"]),
    _json_leaf,
)
_string_ish = st.one_of(
    st.text(max_size=300),
    st.sampled_from(["a\ud800b", "\udfff", "x\x00y", " ", "x" * 256]),  # what databases refuse
    st.integers(),
    st.none(),
    _json_leaf,
)
# Near-miss messages: the right keys with values of every shape, so parsing gets deep.
_near_miss = st.fixed_dictionaries(
    {"thread": _string_ish, "id": _string_ish, "at": _times},
    optional={
        "author": st.one_of(
            st.fixed_dictionaries({"id": _string_ish}, optional={"name": _string_ish}), _json
        ),
        "team": st.one_of(st.booleans(), _json_leaf),
        "text": _string_ish,
        "url": _string_ish,
        "channel": _string_ish,
    },
)
_documents = st.one_of(_json, _near_miss, st.lists(_near_miss, min_size=1, max_size=5))


def _encoded(doc: Any) -> bytes:
    return json.dumps(doc).encode()


_valid = st.integers(0, 50).map(message)
_BODY_KINDS = ["valid", "batch", "near-miss", "near-miss", "json", "binary", "repeated", "huge"]
_bodies: dict[str, st.SearchStrategy[bytes]] = {
    "valid": _valid.map(_encoded),
    "batch": st.lists(_valid, min_size=1, max_size=20).map(_encoded),
    "near-miss": st.one_of(_near_miss, st.lists(_near_miss, min_size=1, max_size=5)).map(_encoded),
    "json": _json.map(_encoded),
    "binary": st.binary(max_size=2048),
    "repeated": st.binary(min_size=1, max_size=16).map(lambda b: b * 4096),  # up to 64 KiB
    "huge": st.just(b" " * (1024 * 1024 + 1)),
}
# Mostly validly signed, so most examples get past the HMAC and into parsing.
_SIGNATURES = ["valid", "valid", "valid", "valid", "missing", "text", "hexlike", "other-secret"]
_signatures: dict[str, st.SearchStrategy[bytes | None]] = {
    "missing": st.none(),
    "text": st.text(max_size=80)
    .filter(lambda s: "\r" not in s and "\n" not in s)
    .map(lambda s: s.encode("utf-8")),
    "hexlike": st.from_regex(r"sha256=[0-9a-f]{64}", fullmatch=True).map(str.encode),
}


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    data=st.data(),
    body_kind=st.sampled_from(_BODY_KINDS),
    signature_kind=st.sampled_from(_SIGNATURES),
    source=st.sampled_from(["website", "website", "website", "shop", "acme", "nope"]),
)
async def test_hooks_never_5xx_and_rejections_store_nothing(
    make_app: AppFactory,
    runtime: Runtime,
    data: st.DataObject,
    body_kind: str,
    signature_kind: str,
    source: str,
) -> None:
    body = data.draw(_bodies[body_kind], label="body")
    if signature_kind == "valid":
        signature: bytes | None = sign(body, SECRETS.get(source, "x")).encode()
    elif signature_kind == "other-secret":
        signature = sign(body, "not-the-secret").encode()
    else:
        signature = data.draw(_signatures[signature_kind], label="signature")
    headers: list[tuple[bytes, bytes]] = [(b"content-type", b"application/json")]
    if signature is not None:
        headers.append((b"x-nudgebot-signature", signature))
    before = await stored(runtime)
    async with client_for(make_app()) as client:
        response = await client.post(f"/hooks/{source}", content=body, headers=headers)
    event(f"status {response.status_code}")
    assert response.status_code < 500, response.text
    payload = response.json()
    if response.status_code >= 400:
        assert set(payload) == {"error"} and payload["error"]
        assert await stored(runtime) == before, "a rejected request stored something"
    else:
        assert response.status_code == 200 and payload["ok"] is True
        assert signature_kind == "valid" and source in SECRETS


async def test_valid_signature_over_garbage_json(make_app: AppFactory, runtime: Runtime) -> None:
    async with client_for(make_app()) as client:
        for body in (b"\x00\x01", b"{}", b"[null]", b'{"at": 1e999}', b"NaN", b"[" * 5000):
            response = await client.post(
                "/hooks/website", content=body, headers={"X-Nudgebot-Signature": sign(body)}
            )
            assert response.status_code == 400, body
    assert await stored(runtime) == (0, 0)


async def test_http_client_never_sees_a_traceback(client: httpx.AsyncClient) -> None:
    response = await client.post("/hooks/%00%ff", content=b"x")
    assert response.status_code == 404
    assert "Traceback" not in response.text
