"""The ladder end to end on a real database with an injected clock: business hours, a
holiday, a DST week, quiet hours, catch-up after downtime."""

from __future__ import annotations

from datetime import timedelta

from bot.config import Escalation
from bot.domain.ports import Step
from storage.db import Database
from tests.engine.engine_kit import Clock, Harness, berlin, make_config, person

FIRST, REMINDER, ESCALATION = Step.FIRST, Step.REMINDER, Step.ESCALATION
OFFICE = "Mon-Fri 09:00-18:00"


async def test_ladder_over_business_hours(db: Database) -> None:
    config = make_config(business_hours=OFFICE, escalate_after="1h",
                         escalate_to=Escalation("person", "bob"))  # fmt: skip
    h = Harness(db, Clock(berlin("2026-06-05 17:50")), config)  # a Friday
    cid = await h.customer("t1", berlin("2026-06-05 17:50"))
    # 10 minutes left on Friday, 5 more on Monday morning.
    assert await h.next_nudge_at(cid) == berlin("2026-06-08 09:05")
    await h.tick(berlin("2026-06-05 18:30"))
    await h.tick(berlin("2026-06-08 09:04:59"))
    assert h.sent == []
    await h.tick(berlin("2026-06-08 09:05"))
    assert h.sent_to() == [("alice", FIRST)]
    assert h.sent[0].transcript[-1].text == "Where is my order?"
    await h.tick(berlin("2026-06-08 09:34"))
    assert len(h.sent) == 1
    await h.tick(berlin("2026-06-08 09:35"))
    assert h.sent_to()[-1] == ("alice", REMINDER)
    await h.tick(berlin("2026-06-08 10:05"))
    assert sorted(h.sent_to()[-2:]) == [("alice", REMINDER), ("bob", ESCALATION)]
    await h.tick(berlin("2026-06-08 10:35"))  # reminders go on; the escalation was once
    assert h.sent_to()[-1] == ("alice", REMINDER) and len(h.sent) == 5


async def test_reminders_pause_outside_business_hours(db: Database) -> None:
    config = make_config(business_hours=OFFICE)
    h = Harness(db, Clock(berlin("2026-06-05 17:00")), config)
    await h.customer("t1", berlin("2026-06-05 17:00"))
    await h.tick(berlin("2026-06-05 17:15"))
    await h.tick(berlin("2026-06-05 17:45"))
    assert h.sent_to() == [("alice", FIRST), ("alice", REMINDER)]
    await h.tick(berlin("2026-06-06 12:00"))  # Saturday: 15 business minutes left
    assert len(h.sent) == 2
    await h.tick(berlin("2026-06-08 09:15"))
    assert h.sent_to()[-1] == ("alice", REMINDER) and len(h.sent) == 3


async def test_a_holiday_is_skipped(db: Database) -> None:
    config = make_config(business_hours=OFFICE, holidays="DE")
    h = Harness(db, Clock(berlin("2026-12-24 17:55")), config)  # Thu; Fri 25th is Christmas
    cid = await h.customer("t1", berlin("2026-12-24 17:55"))
    assert await h.next_nudge_at(cid) == berlin("2026-12-28 09:10")
    await h.tick(berlin("2026-12-25 10:00"))
    assert h.sent == []
    await h.tick(berlin("2026-12-28 09:10"))
    assert h.sent_to() == [("alice", FIRST)]


async def test_a_dst_week_keeps_local_times(db: Database) -> None:
    # Berlin springs forward on Sunday 2026-03-29: 09:10 is 08:10 UTC before, 07:10 after.
    config = make_config(business_hours=OFFICE)
    h = Harness(db, Clock(berlin("2026-03-27 17:55")), config)
    cid = await h.customer("t1", berlin("2026-03-27 17:55"))
    due = await h.next_nudge_at(cid)
    assert due == berlin("2026-03-30 09:10") and due is not None and due.hour == 7
    await h.tick(due - timedelta(seconds=1))
    assert h.sent == []
    await h.tick(due)
    await h.tick(berlin("2026-03-30 09:40"))
    assert h.sent_to() == [("alice", FIRST), ("alice", REMINDER)]
    assert [v.now for v in h.sent] == [berlin("2026-03-30 09:10"), berlin("2026-03-30 09:40")]


async def test_owner_out_of_hours_goes_to_on_call(db: Database) -> None:
    team = {
        "alice": person("alice", owner=True, hours="Mon-Fri 09:00-17:00", timezone="Europe/Berlin"),
        "bob": person("bob", timezone="Europe/Berlin"),
    }
    config = make_config(team=team, rotation="support")  # 24/7 policy
    h = Harness(db, Clock(berlin("2026-06-03 22:00")), config, on_call=lambda _r, _at: "bob")
    await h.customer("t1", berlin("2026-06-03 22:00"))
    await h.tick(berlin("2026-06-03 22:15"))
    await h.tick(berlin("2026-06-03 22:45"))
    assert h.sent_to() == [("bob", FIRST), ("bob", REMINDER)]
    assert h.sent[0].responsible == ("bob",)


async def test_quiet_hours_wait_for_the_owner_and_do_not_pile_up(db: Database) -> None:
    team = {
        "alice": person("alice", owner=True, hours="Mon-Fri 09:00-17:00", timezone="Europe/Berlin"),
    }
    config = make_config(team=team)  # 24/7 policy, nobody on call
    h = Harness(db, Clock(berlin("2026-06-03 22:00")), config)
    await h.customer("t1", berlin("2026-06-03 22:00"))
    at = berlin("2026-06-03 22:15")
    while at < berlin("2026-06-04 08:59"):  # the night: a tick every 10 minutes
        await h.tick(at)
        at += timedelta(minutes=10)
    assert h.sent == []
    await h.tick(berlin("2026-06-04 09:00"))
    assert h.sent_to() == [("alice", FIRST)]  # one nudge, not a night's worth
    await h.tick(berlin("2026-06-04 09:29"))
    await h.tick(berlin("2026-06-04 09:30"))
    assert h.sent_to() == [("alice", FIRST), ("alice", REMINDER)]


async def test_catch_up_after_downtime_sends_one_nudge(db: Database) -> None:
    h = Harness(db, Clock(berlin("2026-06-03 10:00")), make_config())
    await h.customer("t1", berlin("2026-06-03 10:00"))
    await h.tick(berlin("2026-06-03 10:15"))
    await h.tick(berlin("2026-06-03 14:00"))  # down for hours: 7 reminders were missed
    assert h.sent_to() == [("alice", FIRST), ("alice", REMINDER)]
    await h.tick(berlin("2026-06-03 14:29"))
    assert len(h.sent) == 2
    await h.tick(berlin("2026-06-03 14:30"))
    assert len(h.sent) == 3


async def test_escalation_to_owners_skips_who_is_already_responsible(db: Database) -> None:
    team = {
        "alice": person("alice", owner=True, timezone="Europe/Berlin"),
        "carol": person(
            "carol", owner=True, timezone="Europe/Berlin", telegram="333", notify="telegram"
        ),
    }
    config = make_config(team=team, remind_every=None, escalate_after="1h",
                         escalate_to=Escalation("owner"))  # fmt: skip
    h = Harness(db, Clock(berlin("2026-06-03 10:00")), config)
    await h.customer("t1", berlin("2026-06-03 10:00"))
    await h.tick(berlin("2026-06-03 10:15"))
    await h.tick(berlin("2026-06-03 11:15"))
    await h.tick(berlin("2026-06-03 13:00"))
    assert h.sent_to() == [("alice", FIRST), ("carol", ESCALATION)]
    assert h.sent[1].recipient.platform == "telegram" and h.sent[1].recipient.address == "333"


async def test_escalation_to_a_slack_channel(db: Database) -> None:
    config = make_config(remind_every=None, escalate_after="30m",
                         escalate_to=Escalation("slack-channel", "C0ESCAL8"))  # fmt: skip
    h = Harness(db, Clock(berlin("2026-06-03 10:00")), config)
    await h.customer("t1", berlin("2026-06-03 10:00"))
    await h.tick(berlin("2026-06-03 10:15"))
    await h.tick(berlin("2026-06-03 10:45"))
    assert h.sent_to() == [("alice", FIRST), ("C0ESCAL8", ESCALATION)]


async def test_person_without_an_address_is_a_visible_failure(db: Database) -> None:
    team = {"alice": person("alice", owner=True, slack=None)}
    h = Harness(db, Clock(berlin("2026-06-03 10:00")), make_config(team=team))
    await h.customer("t1", berlin("2026-06-03 10:00"))
    await h.tick(berlin("2026-06-03 10:15"))
    assert h.sent == []
    rows = await h.rows()
    assert [(r.state, r.recipient_key) for r in rows] == [("failed", "person:alice")]
    assert "no Slack or Telegram address" in rows[0].last_error


async def test_escalation_to_a_rotation_reaches_whoever_is_on_call_at_any_hour(
    db: Database,
) -> None:
    team = {
        "alice": person("alice", owner=True, timezone="Europe/Berlin"),
        "bob": person("bob", hours="Mon-Fri 09:00-17:00", timezone="Europe/Berlin"),
        "carol": person("carol", timezone="Europe/Berlin"),
    }
    config = make_config(team=team, remind_every=None, escalate_after="30m",
                         escalate_to=Escalation("rotation", "support"))  # fmt: skip
    asked: list[str] = []

    def on_call(rotation: str, _at: object) -> str | None:
        asked.append(rotation)
        return "bob" if rotation == "support" else None

    night = berlin("2026-06-03 22:00")  # bob is out of his hours, but on call
    h = Harness(db, Clock(night), config, on_call=on_call)
    await h.customer("t1", night)
    await h.tick(night + timedelta(minutes=15))
    await h.tick(night + timedelta(minutes=44))
    assert h.sent_to() == [("alice", FIRST)]
    await h.tick(night + timedelta(minutes=45))
    assert h.sent_to() == [("alice", FIRST), ("bob", ESCALATION)]
    assert "support" in asked


async def test_a_new_due_time_wakes_the_scheduler_after_ingest(db: Database) -> None:
    h = Harness(db, Clock(berlin("2026-06-03 10:00")), make_config())
    woken: list[object] = []
    h.engine.wakeup.bind(woken.append)
    await h.customer("t1", berlin("2026-06-03 10:00"))
    assert woken == [berlin("2026-06-03 10:15")]  # re-armed at the earlier due time
    await h.customer("t2", berlin("2026-06-03 09:50"))  # an older one, delivered late
    assert woken[-1] == berlin("2026-06-03 10:05")
