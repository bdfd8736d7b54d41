"""The rotations service: routing follows rotations, overrides rank, calendars reload."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bot.services.ical_feed import person_resolver
from bot.services.oncall import OncallError, OncallService
from bot.services.waiting import list_waiting
from storage.db import Database
from tests.oncall.oncall_kit import (
    WEEKLY,
    Clock,
    customer_message,
    load,
    make_runtime,
    needs_ical,
    utc,
    with_ical,
)


def test_resolver_knows_ids_names_emails_and_handles(tmp_path: Path) -> None:
    resolve = person_resolver(load(tmp_path))
    assert resolve("alice") == "alice"
    assert resolve("ALICE LIDDELL") == "alice"
    assert resolve("Bob@Example.com") == "bob"
    assert resolve("@bobby") == "bob"
    assert resolve("bobby") == "bob"
    assert resolve("@Bernard Desruisseaux") == "bernard"
    assert resolve("Mallory") is None


def test_resolver_refuses_a_name_two_people_share(tmp_path: Path) -> None:
    resolve = person_resolver(load(tmp_path, WEEKLY.replace("name: Carol", "name: Bob")))
    assert resolve("Bob") is None
    assert resolve("carol") == "carol"


async def test_waiting_rows_follow_the_rotation(tmp_path: Path, db_url: str) -> None:
    # Week of 2026-11-30 is bob's. acme: owner alice (Mon-Fri 09:00-17:30 Berlin), rotation
    # support; community: rotation only.
    clock = Clock(utc(2026, 12, 2, 12))  # Wed 13:00 Berlin
    runtime = make_runtime(load(tmp_path), db_url, clock)
    try:
        await runtime.inbox.ingest_batch(
            [
                customer_message("acme", "a-1", utc(2026, 12, 2, 11)),
                customer_message("community", "c-1", utc(2026, 12, 2, 11, 30)),
            ],
        )

        async def responsible() -> dict[str, tuple[str | None, str]]:
            await runtime.oncall.prepare()
            rows = await list_waiting(runtime.db, runtime.routing, clock())
            return {r.source: (r.responsible, r.responsible_reason) for r in rows}

        assert await responsible() == {"acme": ("alice", "owner"), "community": ("bob", "on_call")}
        clock.at = utc(2026, 12, 5, 12)  # Saturday: alice is out of hours
        assert await responsible() == {"acme": ("bob", "on_call"), "community": ("bob", "on_call")}
        # A stored override moves both to carol.
        await runtime.oncall.take("support", "carol", length=None, end=utc(2026, 12, 5, 18))
        assert await responsible() == {
            "acme": ("carol", "on_call"),
            "community": ("carol", "on_call"),
        }
        clock.at = utc(2026, 12, 7, 8, 30)  # Mon 09:30 Berlin: alice in hours again, carol's week
        assert await responsible() == {
            "acme": ("alice", "owner"),
            "community": ("carol", "on_call"),
        }
    finally:
        await runtime.close()


async def test_stored_overrides_rank_after_config_ones_by_creation(
    tmp_path: Path, db_url: str
) -> None:
    clock = Clock(utc(2026, 12, 1))
    config = load(tmp_path)
    runtime = make_runtime(config, db_url, clock)
    other = make_runtime(config, db_url, clock)  # another replica on the same database
    try:
        at = utc(2026, 12, 17, 12)  # inside the config's carol-over-bob override
        assert runtime.oncall.on_call("support", at) == "carol"
        await runtime.oncall.take("support", "alice", start=utc(2026, 12, 17, 10), length=None,
                             end=utc(2026, 12, 17, 14))  # fmt: skip
        clock.at = utc(2026, 12, 1, 0, 5)
        await other.oncall.take("support", "bernard", start=utc(2026, 12, 17, 11),
                                end=utc(2026, 12, 17, 13))  # fmt: skip
        assert runtime.oncall.on_call("support", at) == "alice"  # not reloaded yet
        await runtime.oncall.refresh_overrides()
        assert runtime.oncall.on_call("support", at) == "bernard"  # created last
        assert runtime.oncall.on_call("support", utc(2026, 12, 17, 13, 30)) == "alice"
        assert runtime.oncall.on_call("support", utc(2026, 12, 17, 15)) == "carol"
        assert runtime.oncall.on_call("support", utc(2026, 12, 18, 12)) == "bob"
    finally:
        await runtime.close()
        await other.close()


async def test_take_validates_before_storing(tmp_path: Path, db: Database) -> None:
    service = OncallService(load(tmp_path), db, now=Clock(utc(2026, 12, 1)))
    with pytest.raises(OncallError, match="unknown rotation 'x'"):
        await service.take("x", "bob")
    with pytest.raises(OncallError, match="unknown person 'mallory'"):
        await service.take("support", "mallory")
    with pytest.raises(OncallError, match="more than zero"):
        await service.take("support", "bob", length=utc(2026, 1, 1) - utc(2026, 1, 1))
    with pytest.raises(OncallError, match="lies in the past"):
        await service.take("support", "bob", end=utc(2026, 11, 30))
    with pytest.raises(OncallError, match="not after the start"):
        await service.take("support", "bob", start=utc(2026, 12, 5), end=utc(2026, 12, 4))
    assert service.turns("support", utc(2026, 12, 1), utc(2026, 12, 2))[0].override is False
    await service.refresh_overrides()
    assert [t.override for t in service.turns("support", utc(2026, 12, 1), utc(2026, 12, 2))] == [
        False
    ]


async def test_calendar_file_is_reread_on_change_and_a_bad_edit_keeps_the_last_good_copy(
    tmp_path: Path, db: Database
) -> None:
    source = needs_ical("google-daily-rrule.ics").read_bytes()
    path = tmp_path / "team.ics"
    path.write_bytes(source)
    clock = Clock(utc(2026, 11, 30, 9))
    service = OncallService(load(tmp_path, with_ical(str(path))), db, now=clock)
    at = utc(2026, 11, 30, 10)  # 15:00 Yekaterinburg
    assert service.on_call("feed", at) == "bernard"
    assert service.feed_status()["feed"].failures == 0

    def rewrite(body: bytes, bump: int) -> None:
        path.write_bytes(body)
        stamp = path.stat().st_mtime_ns + bump * 1_000_000_000
        os.utime(path, ns=(stamp, stamp))

    rewrite(source.replace(b"@Bernard Desruisseaux", b"Carol"), 1)
    await service.refresh()
    assert service.on_call("feed", at) == "carol"
    rewrite(b"BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\nbroken", 2)
    await service.refresh()
    assert service.on_call("feed", at) == "carol"  # the last good copy stays in use
    status = service.feed_status()["feed"]
    assert status.failures == 1
    assert status.error is not None and "malformed" in status.error
    assert service.problem("feed") == status.error
    path.unlink()
    clock.at = utc(2026, 11, 30, 9, 20)  # past the 10m refresh: a missing file is retried
    await service.refresh()
    assert service.on_call("feed", at) == "carol"
    assert service.feed_status()["feed"].failures == 2
    assert "cannot read" in (service.problem("feed") or "")


async def test_huge_calendar_file_is_refused(tmp_path: Path, db: Database) -> None:
    path = tmp_path / "huge.ics"
    path.write_bytes(b"BEGIN:VCALENDAR\r\n" + b"X-PAD:" + b"a" * (6 * 1024 * 1024) + b"\r\n")
    service = OncallService(load(tmp_path, with_ical(str(path))), db, now=Clock(utc(2026, 12, 1)))
    assert service.on_call("feed", utc(2026, 12, 1)) is None
    assert "limit" in (service.problem("feed") or "")
    report = service.report(utc(2026, 12, 1))
    assert report["rotations"]["feed"]["on_call"] is None
    assert "limit" in report["problems"]["feed"]
