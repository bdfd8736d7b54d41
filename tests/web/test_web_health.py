"""Liveness, readiness against broken databases, error shapes, the placeholder page."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from dataclasses import FrozenInstanceError
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from bot.app import Runtime
from bot.config import Config
from bot.domain.catchup import Scope, StoredThreads, Window
from bot.domain.events import InboundMessage
from bot.services.catchup import CatchUpService
from bot.web.health import database_problem
from bot.web.state import ReadyCheck
from bot.wiring.component import Component
from bot.wiring.process import _ready_check, catch_up_check
from storage.migrate import upgrade
from tests.web.web_helpers import AppFactory, client_for


async def test_healthz(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"ok": True}


async def test_readyz_with_a_working_database(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"ok": True, "components": {"database": "ok"}}


async def test_readyz_when_sqlite_file_was_deleted(
    make_app: AppFactory, config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gone.db"
    upgrade(f"sqlite:///{path}")
    runtime = Runtime.from_config(config, f"sqlite:///{path}")
    try:
        async with client_for(make_app(runtime=runtime)) as client:
            assert (await client.get("/readyz")).status_code == 200
            for name in os.listdir(tmp_path):
                if name.startswith("gone.db"):
                    os.remove(tmp_path / name)
            # pooled connections still reach the unlinked inode; readiness must not be fooled
            response = await client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["not_ready"] == ["database"]
            assert "does not exist" in caplog.text and "gone.db" not in response.text
            assert (await client.get("/healthz")).status_code == 200  # still alive
            metrics = await client.get("/metrics")
            assert metrics.status_code == 200
            assert "nudgebot_database_up 0" in metrics.text
    finally:
        await runtime.close()


async def test_readyz_when_sqlite_directory_is_gone(
    make_app: AppFactory, config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # Present at start (DATABASE_URL never creates directories), removed while running.
    (tmp_path / "gone").mkdir()
    runtime = Runtime.from_config(config, f"sqlite:///{tmp_path / 'gone' / 'dir.db'}")
    (tmp_path / "gone").rmdir()
    try:
        async with client_for(make_app(runtime=runtime)) as client:
            response = await client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["not_ready"] == ["database"]
            assert "does not exist" in caplog.text
    finally:
        await runtime.close()


async def test_readyz_with_unreachable_postgresql(
    make_app: AppFactory, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    url = "postgresql+psycopg://nobody:secret@127.0.0.1:1/nudgebot?connect_timeout=1"
    runtime = Runtime.from_config(config, url)
    try:
        async with client_for(make_app(runtime=runtime)) as client:
            response = await client.get("/readyz")
            assert response.status_code == 503
            assert response.json()["not_ready"] == ["database"]
            assert "database unavailable" in caplog.text
            assert "secret" not in response.text and "psycopg" not in response.text
            # a request that needs the database gets a retryable 503, never a 500
            waiting = await client.get(
                "/api/waiting", headers={"Authorization": "Bearer test-token-0123456789"}
            )
            assert waiting.status_code == 503
            assert waiting.headers["retry-after"] == "5"
    finally:
        await runtime.close()


async def test_ready_checks_hold_readiness(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def adapters_started() -> str | None:
        return "slack adapter not started"

    async def broken() -> str | None:
        raise RuntimeError("boom")

    checks = [ReadyCheck("adapters", adapters_started), ReadyCheck("adapters", broken)]
    async with client_for(make_app(ready_checks=checks)) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["not_ready"] == ["adapters"]
    assert "slack adapter not started" in caplog.text and "RuntimeError: boom" in caplog.text
    assert "boom" not in response.text


class AwayFeed:
    """A platform that cannot be read back right now: its one scope's round fails."""

    platform = "test"

    def scopes(self) -> list[Scope]:
        return [Scope("website", "test", "C1", timedelta(hours=1), timedelta(minutes=10))]

    async def read(
        self, scope: Scope, since: Window, stored: StoredThreads
    ) -> AsyncIterator[list[InboundMessage]]:
        raise ConnectionError("platform away")
        yield []  # an async generator, as feeds are

    def calls(self) -> int:
        return 0


async def test_ready_checks_are_named_and_advisory_ones_decide_only_when_asked(
    make_app: AppFactory, runtime: Runtime
) -> None:
    """What ``nudgebot run`` hands /readyz (bot.wiring.process): one frozen ``ReadyCheck``
    per part, named after it; catch-up's is advisory."""
    started = Component("slack", ready=lambda: True)
    starting = Component("telegram", ready=lambda: False)
    service = CatchUpService(runtime.db, runtime.inbox.ingest, [AwayFeed()], now=runtime.now)
    assert (await service.run_once()).failed == 1
    checks = [_ready_check(started), _ready_check(starting), catch_up_check(service)]
    assert [(c.name, c.advisory) for c in checks] == [
        ("slack", False), ("telegram", False), ("catch-up", True),
    ]  # fmt: skip
    with pytest.raises(FrozenInstanceError):
        checks[0].advisory = True  # type: ignore[misc]
    async with client_for(make_app(runtime=runtime, ready_checks=checks)) as client:
        strict = await client.get("/readyz")
        lenient = await client.get("/readyz?required=database,slack")
        asked = await client.get("/readyz?required=catch-up")
    components = {"database": "ok", "slack": "ok", "telegram": "not ready",
                  "catch-up": "not ready"}  # fmt: skip
    assert strict.status_code == 503
    assert strict.json()["not_ready"] == ["telegram"]  # catch-up alone would not decide
    assert strict.json()["components"] == components
    assert lenient.status_code == 200
    assert lenient.json()["degraded"] == ["catch-up", "telegram"]
    assert asked.status_code == 503 and asked.json()["not_ready"] == ["catch-up"]


async def test_unknown_route_is_json_404(client: httpx.AsyncClient) -> None:
    response = await client.get("/nope/../etc")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert "no such route" in response.json()["error"]


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/healthz"), ("DELETE", "/api/waiting"), ("BREW", "/")]
)
async def test_wrong_method_is_json_405(client: httpx.AsyncClient, method: str, path: str) -> None:
    response = await client.request(method, path)
    assert response.status_code == 405
    assert "not allowed" in response.json()["error"]


async def test_server_fault_is_logged_json_500(
    make_app: AppFactory, caplog: pytest.LogCaptureFixture
) -> None:
    async def explode(_request: Request) -> Response:
        raise ZeroDivisionError("a genuine bug")

    app = make_app(routes=[Route("/explode", explode)])
    async with client_for(app) as client:
        response = await client.get("/explode")
    assert response.status_code == 500
    assert response.json() == {"error": "internal error; it has been logged"}
    assert "ZeroDivisionError" in caplog.text


async def test_index_is_the_dashboard_login_without_data(client: httpx.AsyncClient) -> None:
    response = await client.get("/")  # the dashboard itself: tests/dashboard/
    assert response.status_code == 200
    assert 'action="/login"' in response.text
    assert "Who's waiting" not in response.text


async def test_readyz_on_an_unmigrated_database(
    make_app: AppFactory, config: Config, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "empty.db").touch()
    runtime = Runtime.from_config(config, f"sqlite:///{tmp_path / 'empty.db'}")
    try:
        async with client_for(make_app(runtime=runtime)) as client:
            response = await client.get("/readyz")
        assert response.status_code == 503
        assert response.json()["not_ready"] == ["database"]
        assert "alembic_version" in caplog.text and "alembic_version" not in response.text
    finally:
        await runtime.close()


async def test_database_deadline(runtime: Runtime) -> None:
    assert await database_problem(runtime.db) is None
    assert await database_problem(runtime.db, deadline=0) == "database did not answer within 0s"
