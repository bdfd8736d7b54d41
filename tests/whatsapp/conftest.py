from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.whatsapp.wa_kit import Harness, harness


@pytest.fixture
async def wa(tmp_path: Path, db_url: str) -> AsyncIterator[Harness]:
    async with harness(tmp_path, db_url) as h:
        yield h
