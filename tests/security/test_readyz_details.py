"""Issue 14 item 10: /readyz tells anyone only ready/not ready and which component; the
details (driver errors, host names, file paths, exception texts) go to the log."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from bot.app import Runtime
from bot.web.app import create_app
from bot.web.metrics import Metrics
from bot.web.state import ReadyCheck
from tests.dashboard.kit import write_config


async def readyz(runtime: Runtime, checks: list[ReadyCheck] | None = None) -> httpx.Response:
    app = create_app(runtime, metrics=Metrics(), ready_checks=checks or [])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        return await client.get("/readyz")


async def test_database_errors_stay_in_the_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    url = "postgresql+psycopg://nb:hunter2@127.0.0.1:1/prod_db?connect_timeout=1"
    runtime = Runtime.from_config(write_config(tmp_path), url)
    try:
        response = await readyz(runtime)
    finally:
        await runtime.close()
    assert response.status_code == 503
    body = {
        "ok": False,
        "error": "not ready: database",
        "not_ready": ["database"],
        "components": {"database": "not ready"},
    }
    assert response.json() == body
    assert "database unavailable" in caplog.text  # the operator still sees why
    for detail in ("hunter2", "127.0.0.1", "prod_db", "psycopg", "OperationalError", "5432"):
        assert detail not in response.text


async def test_a_failing_check_is_named_not_described(
    tmp_path: Path, db_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    async def slack() -> str | None:
        raise RuntimeError("token xoxb-leak at /srv/nudgebot/secret.env")

    runtime = Runtime.from_config(write_config(tmp_path), db_url)
    try:
        response = await readyz(runtime, [ReadyCheck("slack", slack)])
    finally:
        await runtime.close()
    assert response.status_code == 503 and response.json()["not_ready"] == ["slack"]
    assert "xoxb" not in response.text and "/srv" not in response.text
    assert "RuntimeError" in caplog.text
