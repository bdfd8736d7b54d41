"""Issue 13: a catch-up that keeps failing is not silent. The fake Slack refuses a channel
(``not_in_channel``, as Slack does once the bot is removed) and answers another with a 500;
each failure is one log line without a traceback, ``/readyz`` names the ``catch-up``
component, and ``/metrics`` counts the failures and says which channels are failing now."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import httpx
import pytest

from adapters.slack.catchup import MethodPacer
from adapters.slack.service import SlackService, SlackSettings
from bot.app import Runtime
from bot.services.catchup import CatchUpService
from bot.web.app import create_app
from bot.web.metrics import Metrics
from bot.wiring.core import CoreService
from bot.wiring.process import catch_up_check
from tests.fakes.slack_api import FakeSlack
from tests.slack.conftest import Clock, Slack
from tests.slack.slack_payloads import CUSTOMER

ACME, PARTNERS = "C0CUST001", "C0PARTNER1"


class Watched:
    def __init__(self, catchup: CatchUpService, http: httpx.AsyncClient) -> None:
        self.catchup, self.http = catchup, http

    async def readyz(self, query: str = "") -> httpx.Response:
        return await self.http.get("/readyz" + query)

    async def metric(self, name: str, source: str) -> float:
        text = (await self.http.get("/metrics")).text
        found = re.search(rf'^{name}\{{source="{source}"\}} (\S+)$', text, re.MULTILINE)
        return float(found.group(1)) if found else 0.0


@pytest.fixture
async def watched(
    slack: Slack, settings: SlackSettings, runtime: Runtime, clock: Clock
) -> AsyncIterator[Watched]:
    """The catch-up service, its /readyz check and its metrics, as ``nudgebot run`` wires them
    (bot.wiring.process), behind the real web app."""

    async def no_sleep(_seconds: float) -> None:
        return None

    service = SlackService(settings, CoreService(runtime), runtime.config, clock.now)
    service.catchup.pacer = MethodPacer(sleep=no_sleep)
    await service.start()
    registry = Metrics()
    catchup = CatchUpService(
        runtime.db,
        CoreService(runtime).ingest,
        [service.catchup],
        now=clock.now,
        observe=registry.caught_up,
    )
    app = create_app(runtime, metrics=registry, ready_checks=[catch_up_check(catchup)])
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield Watched(catchup, http)
    await catchup.stop()
    await service.stop()


def failure_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [
        r for r in caplog.records if r.name == "nudgebot.catchup" and r.levelno >= logging.WARNING
    ]


async def test_failing_catch_up_shows_in_log_readyz_and_metrics(
    slack: Slack, watched: Watched, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # Slack is failing: every history call answers 500 (the client's server-error retry
    # handler tries each twice more, so two channels make six calls).
    slack.fake.fail_next(6, 500, retry_after=None, methods=("conversations.history",))
    report = await watched.catchup.run_once()
    assert report.failed == 2
    statuses = [c.status for c in slack.fake.calls if c.method == "conversations.history"]
    assert statuses == [500] * 6

    # One line per failure, on one line, naming the channel and Slack's answer; no traceback.
    lines = failure_lines(caplog)
    assert len(lines) == 2
    assert {ACME, PARTNERS} == {c for c in (ACME, PARTNERS) for r in lines if c in r.message}
    assert all("500" in r.message for r in lines)
    assert all("\n" not in r.getMessage() for r in lines)
    assert all(r.exc_info is None and r.exc_text is None for r in caplog.records)

    # /readyz: the component is named, the replica stays in service (advisory) unless the
    # caller asks for catch-up; the reason stays in the log.
    ready = await watched.readyz()
    assert ready.status_code == 200
    body = ready.json()
    assert body["components"]["catch-up"] == "not ready"
    assert body["degraded"] == ["catch-up"]
    assert "500" not in ready.text and "Slack" not in ready.text
    # Probes do not repeat it in the log (the catch-up's own lines say it) unless asked.
    assert "not ready: catch-up" not in caplog.text
    strict = await watched.readyz("?required=catch-up")
    assert strict.status_code == 503 and strict.json()["not_ready"] == ["catch-up"]

    # /metrics: failures counted, and which channels are failing right now.
    assert await watched.metric("nudgebot_catchup_failures_total", "acme") == 1
    assert await watched.metric("nudgebot_catchup_failures_total", "partners") == 1
    assert await watched.metric("nudgebot_catchup_failing_channels", "acme") == 1
    assert await watched.metric("nudgebot_catchup_failing_channels", "partners") == 1

    # The next round: Slack is back but the bot was removed from ACME (Slack answers
    # ``not_in_channel``): PARTNERS reads again, ACME keeps failing and being counted.
    slack.fake.refused[ACME] = "not_in_channel"
    report = await watched.catchup.run_once()
    assert report.failed == 1
    lines = failure_lines(caplog)
    assert len(lines) == 3 and ACME in lines[-1].message and "not_in_channel" in lines[-1].message
    assert await watched.metric("nudgebot_catchup_failures_total", "acme") == 2
    assert await watched.metric("nudgebot_catchup_failing_channels", "acme") == 1
    assert await watched.metric("nudgebot_catchup_failing_channels", "partners") == 0
    assert (await watched.readyz()).json()["components"]["catch-up"] == "not ready"

    # The bot is invited back: everything reads, and every signal says so.
    del slack.fake.refused[ACME]
    slack.fake.post(ACME, CUSTOMER, "asked while the bot was out")
    report = await watched.catchup.run_once()
    assert report.failed == 0 and report.messages == 1
    ready = await watched.readyz("?required=catch-up")
    assert ready.status_code == 200
    assert ready.json()["components"]["catch-up"] == "ok" and "degraded" not in ready.json()
    assert await watched.metric("nudgebot_catchup_failing_channels", "acme") == 0
    assert "catch-up of acme C0CUST001 works again" in caplog.text


async def test_nudgebot_run_lists_catch_up_in_readyz(
    fake: FakeSlack, runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process ``nudgebot run`` assembles hands its catch-up check to /readyz."""
    from bot.wiring.process import assemble
    from tests.fakes.slack_api import BOT_TOKEN
    from tests.slack.slack_payloads import SECRET

    for name, value in (("SLACK_BOT_TOKEN", BOT_TOKEN), ("SLACK_SIGNING_SECRET", SECRET),
                        ("SLACK_API_URL", fake.api_url)):  # fmt: skip
        monkeypatch.setenv(name, value)
    process = assemble(runtime)
    transport = httpx.ASGITransport(app=process.app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        body = (await http.get("/readyz")).json()  # not started yet: Slack is not ready
    assert body["components"]["catch-up"] == "ok"
    assert "catch-up" not in body["not_ready"]
