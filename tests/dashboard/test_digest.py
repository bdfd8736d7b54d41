"""The weekly digest: its figures against `stats --json`, rendered by the real Slack and
Telegram messengers against the fake APIs, sent once per owner and week across replicas."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from telegram.ext import ExtBot
from typer.testing import CliRunner

from adapters.console.recording import RecordingMessenger
from adapters.slack.messenger import SlackMessenger
from adapters.slack.pacing import ChannelPacer
from adapters.slack.service import SlackSettings, web_client
from adapters.telegram.messenger import TelegramMessenger
from adapters.telegram.ratelimit import ChatRateLimiter
from bot.app import Runtime
from bot.cli.main import app as cli_app
from bot.config import ConfigError, load_config, parse_config
from bot.config.models import DigestSettings
from bot.domain.durations import format_duration
from bot.domain.ports import Delivered, DeliveryError, Recipient
from bot.services.digest import DigestWriter, oncall_reporter
from bot.services.digest_send import GRACE, DigestService, messenger_send, slot_for
from storage import digests_repo
from tests.dashboard.kit import CONFIG, LAST_WEEK, NOW, seed
from tests.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.fakes.telegram_api import FakeTelegramAPI, check_html

BERLIN = ZoneInfo("Europe/Berlin")
# Alice reads on Berlin time: her last week is 22 Nov 23:00 UTC to 29 Nov 23:00 UTC.
WEEK_START = datetime(2026, 11, 22, 23, tzinfo=UTC)
WEEK_END = datetime(2026, 11, 29, 23, tzinfo=UTC)


class Recording:
    """A messenger's ``send_text`` as a function, remembering what it was asked to send."""

    def __init__(self, fail: list[DeliveryError] | None = None) -> None:
        self.sent: list[tuple[Recipient, str]] = []
        self.fail = fail or []

    async def __call__(self, recipient: Recipient, text: str) -> Delivered:
        if self.fail:
            raise self.fail.pop(0)
        self.sent.append((recipient, text))
        return Delivered(f"ref-{len(self.sent)}")


def writer(runtime: Runtime) -> DigestWriter:
    return DigestWriter(runtime.db, runtime.config, oncall_reporter(runtime.oncall))


async def stats_json(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch, now: datetime, since: datetime
) -> dict[str, Any]:
    """`nudgebot stats --json` through the console script, its clock set to ``now``."""
    real = Runtime.from_config

    def build(
        cls: type[Runtime],
        path: str | None = None,
        database: str | None = None,
        _now: Callable[[], datetime] | None = None,
    ) -> Runtime:
        return real(load_config(path), database, now=lambda: now)

    monkeypatch.setattr(Runtime, "build", classmethod(build))
    config = tmp_path / "cli.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("NUDGEBOT_CONFIG", str(config))
    args = ["stats", "--json", "--since", since.isoformat()]
    # The console script runs its own event loop, so it gets a thread of its own.
    result = await asyncio.to_thread(CliRunner().invoke, cli_app, args)
    assert result.exit_code == 0, result.stdout + result.stderr
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def dur(seconds: float) -> str:
    return format_duration(timedelta(seconds=seconds))


async def test_digest_figures_match_stats_json(
    seeded: Runtime, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    digest = await writer(seeded).compose("alice", NOW)
    assert (digest.since, digest.until, digest.week) == (WEEK_START, WEEK_END, "2026-W48")
    stats = await stats_json(tmp_path, db_url, monkeypatch, WEEK_END, WEEK_START)
    before = await stats_json(
        tmp_path, db_url, monkeypatch, WEEK_START, WEEK_START - timedelta(days=7)
    )
    text = digest.text
    assert text.startswith(
        "**Weekly digest for Alice Liddell** · 2026-W48 (Mon 23 Nov – Sun 29 Nov"
    )
    # Replies and broadcasts, and their change on the week before.
    assert stats["replies"] == LAST_WEEK["replies"] and before["replies"] == 2
    assert f"**Replies** {stats['replies']} (+1 vs the week before)" in text
    assert f"**broadcasts** {stats['broadcasts']} (+2)" in text
    # Response times as stats reports them, formatted.
    reply = stats["reply"]
    assert (
        f"**Reply time** median {dur(reply['median_seconds'])}, p90 {dur(reply['p90_seconds'])} "
        f"over {reply['count']} (week before: median {dur(before['reply']['median_seconds'])}"
    ) in text
    first = stats["first_response"]
    assert f"**First response** median {dur(first['median_seconds'])}" in text
    assert f"**SLA met** {stats['sla_met_ratio']:.0%} " in text
    assert f"**still unanswered** {stats['unanswered']}" in text
    weeks = stats["engagement"]["weeks"]
    started, answered = sum(w["conversations"] for w in weeks), sum(w["answered"] for w in weeks)
    assert f"**Conversations** {started} started, {answered} answered (75%)" in text
    # The slowest: the open one first, then by reply time; links as our "open" links.
    slow = text[text.index("**Slowest conversations**") :]
    assert slow.index("Jules in acme") < slow.index("Hank in website: 2h 00m, answered by Carol")
    assert "still waiting · [open](https://support.example/acme/a3)" in slow
    # Who's on call: alice's turn started at 09:00 UTC today (the rotation is on UTC).
    assert "support: Alice Liddell until Mon 07 Dec 10:00 CET, then Bob" in text


async def test_empty_database_digest(runtime: Runtime) -> None:
    text = (await writer(runtime).compose("bob", NOW)).text
    assert "**Replies** 0 (±0 vs the week before)" in text
    assert "None: nobody waited last week." in text
    assert "median –" in text and "**SLA met** –" in text


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    server = await FakeSlack(clock=lambda: NOW.timestamp()).start()
    yield server
    await server.stop()


async def test_digest_through_slack(
    seeded: Runtime,
    fake_slack: FakeSlack,
    tmp_path: Path,
    db_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Alice's week runs on Berlin time; the figures Slack shows are `stats --json`'s for it.
    stats = await stats_json(tmp_path, db_url, monkeypatch, WEEK_END, WEEK_START)
    settings = SlackSettings(bot_token=BOT_TOKEN, signing_secret="x", api_url=fake_slack.api_url)
    messenger = SlackMessenger(web_client(settings), ChannelPacer(0.01), lambda p: p)
    seeded.messengers["slack"] = messenger
    service = DigestService(seeded.db, seeded.config, oncall_reporter(seeded.oncall))
    # Alice's slot is Monday 09:00 in Berlin (08:00 UTC); NOW is 09:30 UTC.
    [outcome] = [
        o
        for o in await service.due_digests(NOW, messenger_send(seeded.messengers))
        if o.person == "alice"
    ]
    assert outcome.sent, outcome.detail
    [call] = fake_slack.calls_to("chat.postMessage")
    assert call.params["channel"] == "U0ALICE01"
    posted = call.params["text"]
    assert posted.startswith("*Weekly digest for Alice Liddell* · 2026-W48")
    assert "*Replies* 3 (+1 vs the week before)" in posted and "**" not in posted
    assert f"*Replies* {stats['replies']} " in posted
    assert f"*broadcasts* {stats['broadcasts']} " in posted
    assert f"*SLA met* {stats['sla_met_ratio']:.0%} " in posted and "*SLA met* 50%" in posted
    assert f"*still unanswered* {stats['unanswered']}" in posted
    reply = stats["reply"]
    assert (
        f"*Reply time* median {dur(reply['median_seconds'])}, p90 {dur(reply['p90_seconds'])} "
        f"over {reply['count']}"
    ) in posted
    assert "support: Alice Liddell until Mon 07 Dec 10:00 CET, then Bob" in posted


async def test_digest_through_telegram(
    seeded: Runtime, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Bob's week runs on UTC: Monday 23 Nov 00:00 to Monday 30 Nov 00:00.
    monday = datetime(2026, 11, 23, tzinfo=UTC)
    stats = await stats_json(tmp_path, db_url, monkeypatch, monday + timedelta(days=7), monday)
    with FakeTelegramAPI() as fake:
        bot = ExtBot(
            fake.token, base_url=fake.base_url, rate_limiter=ChatRateLimiter(chat_per_second=1000)
        )
        async with bot:
            seeded.messengers["telegram"] = TelegramMessenger(bot)
            service = DigestService(seeded.db, seeded.config, oncall_reporter(seeded.oncall))
            # Bob reads on UTC: his slot is 09:00 UTC.
            outcomes = await service.due_digests(NOW, messenger_send(seeded.messengers))
        by_person = {o.person: o for o in outcomes}
        assert by_person["bob"].sent, by_person["bob"].detail
        assert not by_person["alice"].sent  # no slack messenger here: retried later
        [call] = fake.calls_to("sendMessage")
    assert call.params["chat_id"] == 222222222 and call.params["parse_mode"] == "HTML"
    html = call.params["text"]
    assert check_html(html)[0] is None
    assert html.startswith(
        "<b>Weekly digest for Bob</b> · 2026-W48 (Mon 23 Nov – Sun 29 Nov 2026, UTC)"
    )
    # UTC weeks: W48's replies and broadcasts are the same as on Berlin's clock here.
    assert "<b>Replies</b> 3 (+1 vs the week before)" in html
    assert f"<b>Replies</b> {stats['replies']} " in html
    assert f"<b>broadcasts</b> {stats['broadcasts']} " in html
    assert f"<b>SLA met</b> {stats['sla_met_ratio']:.0%} " in html
    assert f"<b>still unanswered</b> {stats['unanswered']}" in html
    reply = stats["reply"]
    assert (
        f"<b>Reply time</b> median {dur(reply['median_seconds'])}, "
        f"p90 {dur(reply['p90_seconds'])} over {reply['count']}"
    ) in html
    assert "<b>Conversations</b> 4 started, 3 answered (75%)" in html
    assert "2h 00m, answered by Carol" in html


async def test_sent_once_per_owner_and_week_across_replicas(runtime: Runtime, db_url: str) -> None:
    await seed(runtime)
    replicas = [Runtime.from_config(runtime.config, db_url, now=runtime.now) for _ in range(3)]
    try:
        sends = [Recording() for _ in replicas]
        services = [DigestService(r.db, r.config) for r in replicas]
        await asyncio.gather(
            *(s.due_digests(NOW, send) for s, send in zip(services, sends, strict=True))
        )
        sent = [r.person for send in sends for r, _ in send.sent]
        assert sorted(sent) == ["alice", "bob"]
        # Later ticks in the same week send nothing more, on any replica.
        for s, send in zip(services, sends, strict=True):
            assert await s.due_digests(NOW + timedelta(hours=3), send) == []
        assert sum(len(send.sent) for send in sends) == 2
        # Next week's slot sends again.
        again = Recording()
        outcomes = await services[0].due_digests(NOW + timedelta(days=7), again)
        assert sorted(o.person for o in outcomes if o.sent) == ["alice", "bob"]
    finally:
        for r in replicas:
            await r.close()


async def test_slot_grace_and_retries(seeded: Runtime) -> None:
    service = DigestService(seeded.db, seeded.config)
    alice = slot_for(seeded.config, "alice", NOW)
    bob = slot_for(seeded.config, "bob", NOW)
    assert alice.at == datetime(2026, 11, 30, 8, tzinfo=UTC) and alice.week == "2026-W49"
    assert bob.at == datetime(2026, 11, 30, 9, tzinfo=UTC)  # each on their own clock
    quiet = Recording()
    assert await service.due_digests(alice.at - timedelta(seconds=1), quiet) == []
    assert await service.due_digests(bob.at + GRACE, quiet) == []  # too late: skipped
    assert quiet.sent == []
    # A transient failure is retried after RETRY; a permanent one is not.
    flaky = Recording([DeliveryError("timeout"), DeliveryError("blocked", permanent=True)])
    first = await service.due_digests(NOW, flaky)
    assert {o.person: o.sent for o in first} == {"alice": False, "bob": False}
    assert await service.due_digests(NOW + timedelta(minutes=1), flaky) == []
    retried = await service.due_digests(NOW + timedelta(minutes=6), flaky)
    [(person, ok)] = [(o.person, o.sent) for o in retried]
    async with seeded.db.read() as session:
        rows = {p: await digests_repo.record(session, p, "2026-W49") for p in ("alice", "bob")}
    states = {p: (r.state if r else None) for p, r in rows.items()}
    assert ok and states[person] == "sent"
    assert sorted(states.values()) == ["failed", "sent"]


async def test_tick_is_throttled_and_never_raises(seeded: Runtime) -> None:
    service = DigestService(seeded.db, seeded.config)
    boom = Recording()

    async def broken(_now: datetime, _send: Any) -> list[Any]:
        raise RuntimeError("database on fire")

    calls: list[datetime] = []

    async def counting(now: datetime, send: Any) -> list[Any]:
        calls.append(now)
        return []

    service.due_digests = broken  # type: ignore[method-assign]
    await service.tick(NOW, boom)  # logged, not raised
    service.due_digests = counting  # type: ignore[method-assign]
    await service.tick(NOW + timedelta(seconds=10), boom)
    await service.tick(NOW + timedelta(seconds=61), boom)
    assert calls == [NOW + timedelta(seconds=61)]


def test_digest_config() -> None:
    assert load_config.__name__  # the loader below is the real one
    assert parse_config("timezone: UTC\n").digest == DigestSettings()
    got = parse_config('digest: {at: "Fri 16:30", enabled: false}\n').digest
    assert (got.weekday, got.at.hour, got.at.minute, got.enabled) == (4, 16, 30, False)
    for bad, fragment in [
        ('digest: {at: "09:00"}', "names no weekday"),
        ('digest: {at: "Someday 09:00"}', "is not a weekday and time"),
        ('digest: {at: "Mon 25:00"}', "is not a weekday and time"),
        ("digest: {when: Mon 09:00}", "unknown key 'when'"),
        ("digest: [Mon]", "expected a mapping"),
        ("digest: {enabled: maybe}", "expected true or false"),
    ]:
        with pytest.raises(ConfigError) as caught:
            parse_config(bad + "\n")
        assert fragment in str(caught.value), str(caught.value)
        assert "digest" in str(caught.value)


def test_digest_preview_cli(
    seeded: Runtime, tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "cli.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("NUDGEBOT_CONFIG", str(config))
    runner = CliRunner()
    at = ["--at", NOW.isoformat()]
    one = runner.invoke(cli_app, ["digest", "--preview", "--person", "bob", *at])
    assert one.exit_code == 0, one.stdout + one.stderr
    assert "**Weekly digest for Bob** · 2026-W48" in one.stdout
    both = runner.invoke(cli_app, ["digest", "--preview", *at])
    assert both.exit_code == 0 and len(re.findall(r"Weekly digest for", both.stdout)) == 2
    stranger = runner.invoke(cli_app, ["digest", "--preview", "--person", "zed"])
    assert stranger.exit_code == 2 and "not on the team" in stranger.stderr
    bare = runner.invoke(cli_app, ["digest"])
    assert bare.exit_code == 2 and "--preview" in bare.stderr


async def test_the_running_scheduler_sends_the_digests(
    seeded: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    # `nudgebot run`'s scheduler tick (Runtime.start) sends the digest: not only the service.
    monkeypatch.setenv("NUDGEBOT_TICK_SECONDS", "0.1")
    slack, telegram = RecordingMessenger("slack"), RecordingMessenger("telegram")
    seeded.messengers.clear()
    seeded.messengers.update({"slack": slack, "telegram": telegram})

    def sent() -> list[Any]:
        return [
            c
            for m in (slack, telegram)
            for c in m.calls
            if c.kind == "text" and c.ok and c.recipient and "Weekly digest" in c.text
        ]

    def digests() -> dict[str, str]:
        return {c.recipient.person or "": c.text for c in sent()}

    await seeded.start()
    try:
        for _ in range(100):
            if len(digests()) == 2:
                break
            await asyncio.sleep(0.05)
    finally:
        await seeded.stop()
    got = digests()
    assert sorted(got) == ["alice", "bob"], got
    assert got["alice"].startswith("**Weekly digest for Alice Liddell** · 2026-W48")
    # Once each, through each owner's own messenger (other texts, e.g. hand-offs, aside).
    assert sorted((c.recipient.platform, c.recipient.address) for c in sent()) == [
        ("slack", "U0ALICE01"),
        ("telegram", "222222222"),
    ]
