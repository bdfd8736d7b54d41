"""Polling after downtime: the offset survives a restart (a command handled before the crash
does not run again), a stale offset is not trusted, and one update PTB cannot read does not
stall the loop."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

from storage import cursors_repo, dead_letters_repo
from storage.db import connect
from tests.fakes.telegram_api import BOT_ID
from tests.telegram.tg_kit import DANA, GROUP, T0, USERS, Harness, chat, harness

KEY = f"telegram:{BOT_ID}"


async def _until(check: Callable[[], Awaitable[bool]], within: float = 5.0) -> None:
    for _ in range(int(within / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"not done within {within}s")


async def _start(tg: Harness) -> None:
    assert tg.telegram.component.start is not None
    await tg.telegram.component.start()


async def _drained(tg: Harness) -> None:
    async def empty() -> bool:
        return not tg.fake.updates and bool(tg.fake.calls_to("getUpdates"))

    await _until(empty)
    await tg.service.idle()


async def test_restart_resumes_from_the_saved_offset(tmp_path: Path, db_url: str) -> None:
    command = None
    async with harness(tmp_path, db_url, mode="polling", public_url=None, start=False) as tg:
        command = tg.updates.message(GROUP, DANA, "/whoami", T0)
        question = tg.updates.message(GROUP, DANA, "Where is my order?", T0 + timedelta(seconds=5))
        tg.fake.queue_update(command)
        tg.fake.queue_update(question)
        await _start(tg)
        await _drained(tg)
        assert len(tg.fake.calls_to("sendMessage")) == 1  # the /whoami answer
        assert len(await tg.stored()) == 1
    db = connect(db_url)
    try:
        saved = await cursors_repo.load_cursor(db, KEY)
    finally:
        await db.dispose()
    assert saved == str(question["update_id"] + 1)

    # Killed before the next getUpdates confirmed them: Telegram serves both again.
    async with harness(tmp_path, db_url, mode="polling", public_url=None, start=False) as tg:
        tg.fake.queue_update(command)
        tg.fake.queue_update(question)
        later = tg.updates.message(GROUP, DANA, "Hello??", T0 + timedelta(minutes=2))
        later["update_id"] = question["update_id"] + 1
        tg.fake.queue_update(later)
        await _start(tg)
        await _drained(tg)
        first = tg.fake.calls_to("getUpdates")[0]
        assert int(first.params["offset"]) == question["update_id"] + 1
        assert tg.fake.calls_to("sendMessage") == []  # /whoami did not run twice
        assert [t for _m, _th, t, _team in await tg.stored()] == ["Where is my order?", "Hello??"]


async def test_an_offset_older_than_telegram_keeps_updates_is_not_used(
    tmp_path: Path, db_url: str
) -> None:
    db = connect(db_url)
    try:
        await cursors_repo.save_cursor(db, KEY, "999999999999", T0 - timedelta(hours=25))
    finally:
        await db.dispose()
    async with harness(tmp_path, db_url, mode="polling", public_url=None, start=False) as tg:
        # After a week without updates Telegram picks the next id at random: maybe lower.
        update = tg.updates.message(GROUP, DANA, "Anyone there?", T0)
        update["update_id"] = 12345
        tg.fake.queue_update(update)
        await _start(tg)
        await _drained(tg)
        assert tg.fake.calls_to("getUpdates")[0].params.get("offset") is None
        assert len(await tg.stored()) == 1


async def test_an_update_ptb_cannot_read_does_not_stall_polling(
    tmp_path: Path, db_url: str
) -> None:
    async with harness(tmp_path, db_url, mode="polling", public_url=None, start=False) as tg:
        first = tg.updates.message(GROUP, DANA, "Hi", T0)
        poll = {"id": "1", "question": "Which plan?", "options": [{"text": "A", "voter_count": 0}],
                "total_voter_count": 0, "is_closed": False, "is_anonymous": True,
                "type": "regular", "allows_multiple_answers": False}  # fmt: skip
        bad = {"update_id": first["update_id"] + 1, "message": {
            "message_id": 500, "from": USERS[DANA], "chat": chat(GROUP),
            "date": int(T0.timestamp()), "poll": poll}}  # fmt: skip
        last = tg.updates.message(GROUP, DANA, "Still there?", T0 + timedelta(minutes=1))
        last["update_id"] = first["update_id"] + 2
        for update in (first, bad, last):
            tg.fake.queue_update(update)
        await _start(tg)
        await _drained(tg)
        assert [t for _m, _th, t, _team in await tg.stored()] == ["Hi", "Still there?"]
        [letter] = await dead_letters_repo.listing(tg.runtime.db)
        assert "persistent_id" in letter.reason and letter.source == "community"
