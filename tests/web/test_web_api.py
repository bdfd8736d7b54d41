"""/api/*: bearer auth, the CLI's JSON, and clear 400s for bad query parameters."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from bot.app import Runtime
from bot.services.stats import report
from bot.services.waiting import list_waiting
from tests.web.web_helpers import NOW, AppFactory, auth, client_for, message, post_hook

ROUTES = ["/api/waiting", "/api/stats"]


@pytest.mark.parametrize("route", ROUTES)
async def test_no_token_configured_refuses_everyone(make_app: AppFactory, route: str) -> None:
    async with client_for(make_app(token=None)) as client:
        for headers in ({}, auth(), auth(""), {"Authorization": "Bearer "}):
            response = await client.get(route, headers=headers)
            assert response.status_code == 401
            assert "NUDGEBOT_API_TOKEN is not configured" in response.json()["error"]


@pytest.mark.parametrize("route", ROUTES)
@pytest.mark.parametrize(
    "headers",
    [
        {},
        auth("wrong"),
        auth("test-token-012345678"),  # a prefix of the right one
        {"Authorization": "Basic dGVzdDp0ZXN0"},
        {"Authorization": "test-token-0123456789"},
        {"Authorization": "Bearer test-token-0123456789-and-more"},
        {"Authorization": "Bearer tést"},  # not ASCII: must not crash compare_digest
    ],
)
async def test_wrong_token_is_401(
    client: httpx.AsyncClient, route: str, headers: dict[str, str]
) -> None:
    raw = [(k.encode(), v.encode("utf-8")) for k, v in headers.items()]
    response = await client.get(route, headers=raw)
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert set(response.json()) == {"error"}


@pytest.mark.parametrize("route", ROUTES)
async def test_right_token_is_200(client: httpx.AsyncClient, route: str) -> None:
    response = await client.get(route, headers=auth())
    assert response.status_code == 200
    lower = await client.get(route, headers={"Authorization": "bearer test-token-0123456789"})
    assert lower.status_code == 200


async def test_waiting_matches_the_service(client: httpx.AsyncClient, runtime: Runtime) -> None:
    batch = [message(n, at=f"2026-11-28T0{n}:00:00Z") for n in range(1, 6)]
    await post_hook(client, batch)
    await post_hook(client, message(9), source="shop")
    expected = [
        r.as_json() for r in await list_waiting(runtime.db, runtime.routing, NOW, limit=100)
    ]
    assert (await client.get("/api/waiting", headers=auth())).json() == expected
    assert [r["thread"] for r in expected][:2] == ["ticket-1", "ticket-2"]  # oldest first

    two = (await client.get("/api/waiting?limit=2", headers=auth())).json()
    assert two == expected[:2]
    shop = (await client.get("/api/waiting?source=shop", headers=auth())).json()
    assert [r["source"] for r in shop] == ["shop"]
    alice = (await client.get("/api/waiting?person=alice", headers=auth())).json()
    assert [r["source"] for r in alice] == ["shop"]  # she owns shop, bob owns website


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        ("limit=0", "limit must be"),
        ("limit=1001", "limit must be"),
        ("limit=ten", "limit must be"),
        ("limit=" + "9" * 5000, "limit must be"),
        ("source=nowhere", "not a configured source"),
        ("person=mallory", "not on the team"),
    ],
)
async def test_waiting_bad_query_is_400(
    client: httpx.AsyncClient, query: str, fragment: str
) -> None:
    response = await client.get(f"/api/waiting?{query}", headers=auth())
    assert response.status_code == 400
    assert fragment in response.json()["error"]


async def test_stats_matches_the_service(client: httpx.AsyncClient, runtime: Runtime) -> None:
    reply = message(1, id="r", at="2026-11-28T10:30:00Z", team=True, author={"id": "bob"})
    await post_hook(client, [message(1), reply])
    expected = await report(runtime.db, NOW - timedelta(days=7), NOW, NOW)
    assert (await client.get("/api/stats", headers=auth())).json() == expected
    assert expected["by_person"]["bob"]["reply"]["count"] == 1
    since = (await client.get("/api/stats?since=2026-11-01", headers=auth())).json()
    assert since["since"] == "2026-11-01T00:00:00Z"
    hours = (await client.get("/api/stats?since=12h", headers=auth())).json()
    assert hours["since"] == "2026-11-28T00:00:00Z"


@pytest.mark.parametrize(
    ("since", "fragment"),
    [
        ("banana", "is not a time"),
        ("", "is not a time"),
        ("7", "is not a time"),
        ("-7d", "is not a time"),
        ("2027-01-01", "lies in the future"),
        ("99999999999d", "out of range"),
        ("0001-01-01T00:00:00+14:00", "out of range"),
    ],
)
async def test_stats_bad_since_is_400(client: httpx.AsyncClient, since: str, fragment: str) -> None:
    response = await client.get("/api/stats", params={"since": since}, headers=auth())
    assert response.status_code == 400
    assert fragment in response.json()["error"]
