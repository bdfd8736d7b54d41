"""PTB must never reach the real network: every HTTP request the library makes is checked
to go to 127.0.0.1 (the fake Bot API), as PTB's own test suite does with its offline
request class."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from telegram.request import HTTPXRequest

from tests.telegram.tg_kit import Harness, harness


@pytest.fixture(autouse=True)
def offline(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    # As the wiring does in production (build_application): PTB 22 otherwise emits a
    # deprecation warning from inside RetryAfter on every 429.
    monkeypatch.setenv("PTB_TIMEDELTA", "true")
    real = HTTPXRequest.do_request

    async def local_only(self: HTTPXRequest, url: str, *args: Any, **kwargs: Any) -> Any:
        host = urlsplit(url).hostname
        if host != "127.0.0.1":
            pytest.fail(f"PTB tried to reach {host} ({url.split('/bot')[0]}…): tests are offline")
        return await real(self, url, *args, **kwargs)

    monkeypatch.setattr(HTTPXRequest, "do_request", local_only)
    yield


@pytest.fixture
async def tg(tmp_path: Path, db_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, db_url) as h:
        yield h
