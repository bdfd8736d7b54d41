"""The real app over the real test database (SQLite or PostgreSQL), seeded or empty."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette

from bot.app import Runtime
from bot.config import Config
from bot.web.app import create_app
from bot.web.metrics import Metrics
from tests.dashboard.kit import TOKEN, Clock, client_for, seed, write_config


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return write_config(tmp_path)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def runtime(config: Config, db_url: str, clock: Clock) -> AsyncIterator[Runtime]:
    runtime = Runtime.from_config(config, db_url, now=clock.now)
    yield runtime
    await runtime.close()


@pytest.fixture
async def seeded(runtime: Runtime) -> Runtime:
    await seed(runtime)
    return runtime


@pytest.fixture
def make_app(runtime: Runtime, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Starlette]:
    def make(token: str | None = TOKEN) -> Starlette:
        monkeypatch.delenv("NUDGEBOT_PUBLIC_URL", raising=False)
        if token is None:
            monkeypatch.delenv("NUDGEBOT_API_TOKEN", raising=False)
        else:
            monkeypatch.setenv("NUDGEBOT_API_TOKEN", token)
        return create_app(runtime, metrics=Metrics())

    return make


@pytest.fixture
async def client(make_app: Callable[..., Starlette]) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_app()) as c:
        yield c
