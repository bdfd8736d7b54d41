"""``POST /hooks/{source}`` never answers 2xx for a message it did not store: a sender that
retries non-2xx answers loses nothing while the database is away."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy.exc import OperationalError

from bot.app import Runtime
from tests.web.web_helpers import message, post_hook, stored


async def test_a_message_not_stored_is_never_acknowledged(
    client: httpx.AsyncClient, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    batcher = runtime.inbox.batcher  # the inbox's write, behind its group commit
    real = batcher._commit

    async def database_away(*_args: Any, **_kwargs: Any) -> None:
        raise OperationalError("INSERT …", {}, ConnectionError("server closed the connection"))

    monkeypatch.setattr(batcher, "_commit", database_away)
    response = await post_hook(client, message(1))
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    assert await stored(runtime) == (0, 0)

    monkeypatch.setattr(batcher, "_commit", real)  # back: the sender's retry is stored, once
    for _ in range(2):
        assert (await post_hook(client, message(1))).status_code == 200
    assert await stored(runtime) == (1, 1)
