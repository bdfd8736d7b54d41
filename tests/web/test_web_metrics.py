"""/metrics: valid text exposition, counters that move, gauges read from the database."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import httpx
import pytest

from bot.web.metrics import Metrics, escape_label
from tests.web.web_helpers import auth, message, post_hook

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> tuple[Samples, dict[str, str]]:
    """A strict little parser of the format: every sample belongs to a family announced by
    HELP and TYPE lines, labels are well-formed and values are floats."""
    samples: Samples = {}
    types: dict[str, str] = {}
    helped: set[str] = set()
    assert text.endswith("\n")
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helped.add(line.split()[2])
            continue
        if line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert kind in {"counter", "gauge", "histogram"}
            assert name in helped, f"TYPE before HELP for {name}"
            types[name] = kind
            continue
        match = _SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        name, _, raw_labels, value = match.groups()
        family = re.sub(r"_(bucket|sum|count)$", "", name) if name not in types else name
        assert family in types, f"{name} has no TYPE"
        labels: list[tuple[str, str]] = []
        rest = raw_labels or ""
        while rest:
            lm = _LABEL.match(rest)
            assert lm, f"bad labels in {line!r}"
            labels.append((lm.group(1), lm.group(2)))
            rest = rest[lm.end() :]
        key = (name, frozenset(labels))
        assert key not in samples, f"duplicate sample {line!r}"
        samples[key] = float(value)
    return samples, types


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def scrape(client: httpx.AsyncClient) -> tuple[Samples, dict[str, str]]:
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(response.text)


async def test_metrics_format_and_counters(client: httpx.AsyncClient) -> None:
    samples, types = await scrape(client)
    assert types["nudgebot_messages_ingested_total"] == "counter"
    assert types["nudgebot_http_requests_total"] == "counter"
    assert types["nudgebot_conversations_waiting"] == "gauge"
    assert types["nudgebot_oldest_waiting_seconds"] == "gauge"
    assert types["nudgebot_http_request_duration_seconds"] == "histogram"
    # configured sources report zero rather than being absent
    for source in ("website", "shop", "acme"):
        assert ("nudgebot_conversations_waiting", frozenset({("source", source)})) in samples

    await post_hook(client, [message(1, at="2026-11-28T10:00:00Z"), message(2)])
    await post_hook(client, message(3), signature="sha256=00")
    await post_hook(client, message(1), source="acme", secret="x")
    await client.get("/api/waiting", headers=auth())
    await client.get("/no/such/path")

    after, _ = await scrape(client)
    assert value(after, "nudgebot_messages_ingested_total", source="website") == 2
    hook = {"route": "/hooks/{source_id}", "method": "POST"}
    assert value(after, "nudgebot_http_requests_total", **hook, status="200") == 1
    assert value(after, "nudgebot_http_requests_total", **hook, status="401") == 1
    assert value(after, "nudgebot_http_requests_total", **hook, status="404") == 1
    assert (
        value(after, "nudgebot_http_requests_total", route="other", method="GET", status="404") == 1
    )
    assert (
        value(after, "nudgebot_http_requests_total", route="/metrics", method="GET", status="200")
        == 1
    )  # the first scrape; this one is counted once it has been answered
    assert value(after, "nudgebot_conversations_waiting", source="website") == 2
    # NOW is 12:00, the oldest customer message 10:00
    assert value(after, "nudgebot_oldest_waiting_seconds", source="website") == 7200
    assert value(after, "nudgebot_oldest_waiting_seconds", source="shop") == 0
    assert value(after, "nudgebot_database_up") == 1
    inf = value(
        after,
        "nudgebot_http_request_duration_seconds_bucket",
        route="/hooks/{source_id}",
        le="+Inf",
    )
    assert (
        inf
        == value(after, "nudgebot_http_request_duration_seconds_count", route="/hooks/{source_id}")
        == 3
    )


async def test_raw_paths_do_not_become_labels(client: httpx.AsyncClient) -> None:
    for n in range(20):
        await client.get(f"/random/{n}")
        await post_hook(client, message(n), source=f"src{n}")
    samples, _ = await scrape(client)
    routes = {
        dict(labels).get("route")
        for (name, labels) in samples
        if name == "nudgebot_http_requests_total"
    }
    assert routes == {"other", "/hooks/{source_id}"}


def test_label_escaping_and_histogram_rendering() -> None:
    metrics = Metrics()
    metrics.messages_ingested('we"ird\\so\nurce', 3)
    metrics.messages_ingested("zero", 0)  # a no-op, no series
    metrics.http_request("/x", "GET", 200, 0.003)
    metrics.http_request("/x", "GET", 200, 0.3)
    metrics.http_request("/x", "GET", 200, 30)
    text = metrics.render(
        {"a": (1, datetime(2026, 1, 1, tzinfo=UTC))}, datetime(2026, 1, 1, 0, 1, tzinfo=UTC)
    )
    samples, _ = parse(text)
    assert escape_label('we"ird\\so\nurce') == 'we\\"ird\\\\so\\nurce'
    assert value(samples, "nudgebot_messages_ingested_total", source='we\\"ird\\\\so\\nurce') == 3
    assert not any(dict(labels).get("source") == "zero" for _, labels in samples)
    buckets = {
        dict(labels)["le"]: v
        for (name, labels), v in samples.items()
        if name == "nudgebot_http_request_duration_seconds_bucket"
    }
    assert buckets["0.005"] == 1 and buckets["0.5"] == 2 and buckets["10"] == 2
    assert buckets["+Inf"] == 3
    assert value(
        samples, "nudgebot_http_request_duration_seconds_sum", route="/x"
    ) == pytest.approx(30.303)
    assert value(samples, "nudgebot_oldest_waiting_seconds", source="a") == 60
    assert "nudgebot_database_up 1" in text
    assert "nudgebot_database_up 0" in metrics.render(None, datetime.now(UTC))
