"""The real ASGI app over the real test database, with a small config written to YAML."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from bot.app import Runtime
from bot.config import Config, load_config
from bot.web.app import create_app
from bot.web.metrics import Metrics
from tests.web.web_helpers import CONFIG, NOW, TOKEN, AppFactory, client_for


@pytest.fixture
def config(tmp_path: Path) -> Config:
    path = tmp_path / "nudgebot.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return load_config(str(path))


@pytest.fixture
async def runtime(config: Config, db_url: str) -> AsyncIterator[Runtime]:
    runtime = Runtime.from_config(config, db_url, now=lambda: NOW)
    yield runtime
    await runtime.close()


@pytest.fixture
def metrics() -> Metrics:
    return Metrics()  # per test, so counter assertions are exact


@pytest.fixture
def make_app(runtime: Runtime, metrics: Metrics, monkeypatch: pytest.MonkeyPatch) -> AppFactory:
    fixture_runtime = runtime  # the default; ``make(runtime=…)`` takes another

    def make(token: str | None = TOKEN, runtime: Runtime | None = None, **kwargs: Any) -> Starlette:
        if token is None:
            monkeypatch.delenv("NUDGEBOT_API_TOKEN", raising=False)
        else:
            monkeypatch.setenv("NUDGEBOT_API_TOKEN", token)
        return create_app(runtime or fixture_runtime, metrics=metrics, **kwargs)

    return make


@pytest.fixture
async def client(make_app: AppFactory) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(make_app()) as c:
        yield c
