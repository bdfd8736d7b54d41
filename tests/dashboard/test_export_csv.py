"""The conversations export: `GET /api/conversations.csv` and `nudgebot stats --csv`."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from bot.app import Runtime
from bot.cli.main import app as cli_app
from bot.config import load_config
from bot.services.export import COLUMNS, export_rows, guard
from tests.dashboard.kit import CONFIG, HOSTILE, NOW, at, bearer, msg


def rows_of(body: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(body, newline="")))


async def test_csv_rows_and_response_times(seeded: Runtime, client: httpx.AsyncClient) -> None:
    response = await client.get("/api/conversations.csv", params={"since": "30d"}, headers=bearer())
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"].startswith("attachment; filename=")
    assert response.text.startswith(",".join(COLUMNS) + "\r\n")
    rows = rows_of(response.text)
    assert [r["thread"] for r in rows] == ["w1", "a1", "w2", "w3", "a2", "a3", "w5", "w4"]
    w3 = rows[3]
    assert (w3["customer"], w3["first_responder"], w3["first_response_seconds"]) == (
        "Hank",
        "carol",
        "7200",
    )
    assert (w3["replies"], w3["reply_seconds_median"], w3["sla_missed"]) == ("1", "7200", "1")
    a3 = rows[5]  # never answered, long past due
    assert (a3["first_response_at"], a3["replies"], a3["sla_missed"]) == ("", "0", "1")
    assert a3["waiting_since"] == "2026-11-26T08:00:00Z"
    assert rows[7]["sla_missed"] == "0"  # w4 is not due yet


async def test_csv_quoting_and_formula_injection(
    seeded: Runtime, client: httpx.AsyncClient
) -> None:
    for n, name in enumerate(["@SUM(A1)", "+1 555 0100", "-2+3", "\tcmd", 'a,"b"\nc']):
        await seeded.inbox.ingest_batch(
            [msg("website", f"x{n}", f"x{n}", at(29, 10, n), customer=name)],
        )
    body = (await client.get("/api/conversations.csv", headers=bearer())).text
    rows = {r["thread"]: r for r in rows_of(body)}
    assert rows["w5"]["customer"] == HOSTILE  # quoted, intact
    assert rows["w5"]["last_message"].startswith("'=HYPERLINK(")
    assert rows["w5"]["url"] == ""  # not http(s): ingest keeps no such link (issue 14)
    assert [rows[f"x{n}"]["customer"] for n in range(5)] == [
        "'@SUM(A1)",
        "'+1 555 0100",
        "'-2+3",
        "'\tcmd",
        'a,"b"\nc',
    ]
    assert '"a,""b""\nc"' in body  # RFC 4180 quoting
    assert guard(-5) == -5 and guard(None) is None and guard("=1") == "'=1"


async def test_csv_auth_and_bad_input(seeded: Runtime, client: httpx.AsyncClient) -> None:
    assert (await client.get("/api/conversations.csv")).status_code == 401
    wrong = await client.get("/api/conversations.csv", headers=bearer("nope"))
    assert wrong.status_code == 401
    for since in ("garbage", "2999-01-01", "99999999999d", "0001-01-01T00:00:00+14:00"):
        bad = await client.get("/api/conversations.csv", params={"since": since}, headers=bearer())
        assert bad.status_code == 400, since
        assert set(bad.json()) == {"error"} and "since=" in bad.json()["error"]
    huge = await client.get(
        "/api/conversations.csv", params={"since": "0001-01-01"}, headers=bearer()
    )
    assert huge.status_code == 200 and len(rows_of(huge.text)) == 8


async def test_csv_of_an_empty_database(runtime: Runtime, client: httpx.AsyncClient) -> None:
    response = await client.get("/api/conversations.csv", params={"since": "1w"}, headers=bearer())
    assert response.status_code == 200
    assert response.text == ",".join(COLUMNS) + "\r\n"


async def test_pages_follow_the_key_through_ties(runtime: Runtime) -> None:
    # Seven conversations, five of them starting in the same instant: pages of two.
    same = at(20, 12)
    batch = [
        msg("website", f"t{n}", f"t{n}", same if n < 5 else same + timedelta(minutes=n))
        for n in range(7)
    ]
    await runtime.inbox.ingest_batch(batch)
    got = [r async for r in export_rows(runtime.db, at(1, 0), NOW, page=2)]
    assert sorted(r[4] for r in got) == [f"t{n}" for n in range(7)]
    assert len({r[0] for r in got}) == 7
    all_at_once = [r async for r in export_rows(runtime.db, at(1, 0), NOW, page=500)]
    assert got == all_at_once


async def test_stats_csv_cli_matches_the_api(
    seeded: Runtime,
    client: httpx.AsyncClient,
    tmp_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = Runtime.from_config

    def build(
        cls: type[Runtime],
        path: str | None = None,
        database: str | None = None,
        _now: Callable[[], datetime] | None = None,
    ) -> Runtime:
        return real(load_config(path), database, now=lambda: NOW)

    monkeypatch.setattr(Runtime, "build", classmethod(build))
    config = tmp_path / "cli.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("NUDGEBOT_CONFIG", str(config))
    runner = CliRunner()

    def invoke(*args: str) -> Any:
        return runner.invoke(cli_app, list(args))

    result = await asyncio.to_thread(invoke, "stats", "--csv", "--since", "30d")
    assert result.exit_code == 0, result.stderr
    api = await client.get("/api/conversations.csv", params={"since": "30d"}, headers=bearer())
    assert rows_of(result.stdout) == rows_of(api.text)
    table = await asyncio.to_thread(invoke, "stats", "--since", "30d")
    assert table.exit_code == 0 and "Engagement per week (UTC)" in table.stdout
    assert "2026-W48" in table.stdout and "3 (75%)" in table.stdout
    both = await asyncio.to_thread(invoke, "stats", "--csv", "--json")
    assert both.exit_code == 2 and "choose one" in both.stderr
    garbage = await asyncio.to_thread(invoke, "stats", "--csv", "--since", "soon")
    assert garbage.exit_code == 2 and "--since" in garbage.stderr
