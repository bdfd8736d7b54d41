"""Updates python-telegram-bot cannot read: acknowledged (200) so Telegram's queue moves on,
stored from the fields Nudgebot needs when those are there, else kept as dead letters —
counted in /metrics and listed by `nudgebot dead-letters`."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from bot.cli.main import app as cli
from storage import dead_letters_repo
from tests.telegram.tg_kit import DANA, GROUP, T0, USERS, Harness, chat

# PTB 22 requires PollOption.persistent_id (Bot API 9.6); older servers do not send it.
POLL = {
    "id": "5825895662671101957", "question": "Which plan?", "total_voter_count": 0,
    "options": [{"text": "Basic", "voter_count": 0}, {"text": "Pro", "voter_count": 0}],
    "is_closed": False, "is_anonymous": True, "type": "regular",
    "allows_multiple_answers": False,
}  # fmt: skip


def raw_message(number: int, **fields: Any) -> dict[str, Any]:
    body = {"message_id": number, "from": USERS[DANA], "chat": chat(GROUP),
            "date": int(T0.timestamp())}  # fmt: skip
    body.update(fields)
    return body


async def test_a_message_ptb_refuses_is_stored_from_the_fields_we_need(tg: Harness) -> None:
    sender = {"id": DANA, "is_bot": False, "username": "dana_k"}  # no first_name
    update = {"update_id": 41, "message": raw_message(201, text="Is my order lost?")}
    update["message"]["from"] = sender
    response = await tg.post(update)
    assert response.status_code == 200, response.text
    assert await tg.stored() == [(f"{GROUP}:201", "201", "Is my order lost?", False)]
    waiting = await tg.core.waiting()
    assert len(waiting) == 1 and waiting[0].customer == "dana_k"
    assert await dead_letters_repo.listing(tg.runtime.db) == []


async def test_old_bot_api_fields_missing_still_stores_and_threads_replies(tg: Harness) -> None:
    # Telegram's own 2015 webhook examples: no from.is_bot; a caption on a photo PTB refuses.
    old_user = {k: v for k, v in USERS[DANA].items() if k != "is_bot"}
    first = {"update_id": 50, "message": {**raw_message(301, text="Hello?"), "from": old_user}}
    photo = [{"width": 90, "height": 90}]  # no file ids
    second = {"update_id": 51, "message": {**raw_message(302, photo=photo, caption="This one"),
                                           "reply_to_message": first["message"]}}  # fmt: skip
    for update in (first, second):
        assert (await tg.post(update)).status_code == 200
    stored = await tg.stored()
    assert [(m, text) for m, _t, text, _team in stored] == [
        (f"{GROUP}:301", "Hello?"), (f"{GROUP}:302", "This one"),
    ]  # fmt: skip
    assert stored[0][1] == stored[1][1]  # the reply joined the replied message's thread
    # A sticker PTB refuses carries no words: kept whole as a dead letter instead.
    sticker = {"width": 512, "height": 512, "emoji": "👌", "is_animated": True}
    third = {"update_id": 52, "message": raw_message(303, sticker=sticker)}
    assert (await tg.post(third)).status_code == 200
    assert len(await tg.stored()) == 2
    [letter] = await dead_letters_repo.listing(tg.runtime.db)
    assert json.loads(letter.payload) == third


async def test_a_poll_without_persistent_id_is_a_dead_letter_listed_and_counted(
    tg: Harness, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    update = {"update_id": 60, "message": raw_message(401, poll=POLL)}
    body = json.dumps(update).encode()
    response = await tg.post(body)
    assert response.status_code == 200, response.text  # acknowledged: the queue moves on
    assert await tg.stored() == []
    [letter] = await dead_letters_repo.listing(tg.runtime.db)
    assert letter.platform == "telegram" and letter.source == "community"
    assert letter.payload == body and "persistent_id" in letter.reason

    metrics = (await tg.client.get("/metrics")).text
    assert 'nudgebot_dead_letters{platform="telegram"} 1' in metrics
    assert 'nudgebot_dead_letters{platform="slack"} 0' in metrics

    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.setenv("NUDGEBOT_CONFIG", str(tmp_path / "nudgebot.yaml"))
    runner = CliRunner()
    result = await asyncio.to_thread(runner.invoke, cli, ["dead-letters", "--json"])
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["platform"] == "telegram" and row["source"] == "community"
    assert row["encoding"] == "utf-8" and json.loads(row["payload"]) == update
    assert row["deliveries"] == 1 and row["received_at"].endswith("Z")
    # Wide enough that Rich folds nothing, as COLUMNS is when the command runs.
    table = await asyncio.to_thread(runner.invoke, cli, ["dead-letters"], env={"COLUMNS": "400"})
    assert table.exit_code == 0 and "persistent_id" in table.stdout


async def test_dead_letters_listing_when_there_are_none(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", db_url)
    monkeypatch.delenv("NUDGEBOT_CONFIG", raising=False)
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    result = await asyncio.to_thread(runner.invoke, cli, ["dead-letters", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout) == []
    table = await asyncio.to_thread(runner.invoke, cli, ["dead-letters"])
    assert table.exit_code == 0 and "No dead letters" in table.stdout


async def test_a_store_that_fails_for_good_is_kept_not_dropped(
    tg: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(_incoming: Any) -> None:
        raise RuntimeError("a bug in threading")

    monkeypatch.setattr(tg.service.handlers, "store", broken)
    update = tg.updates.message(GROUP, DANA, "Hello?", T0)
    response = await tg.post(update)
    assert response.status_code == 200  # a redelivery would fail the same way
    [letter] = await dead_letters_repo.listing(tg.runtime.db)
    assert "RuntimeError: a bug in threading" in letter.reason
    assert json.loads(letter.payload)["update_id"] == update["update_id"]


async def test_no_2xx_when_neither_the_message_nor_a_dead_letter_was_stored(
    tg: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(_incoming: Any) -> None:
        raise RuntimeError("a bug in threading")

    async def database_gone(_letter: Any) -> None:
        raise ConnectionError("database went away")

    keep = tg.core.keep_dead_letter
    monkeypatch.setattr(tg.service.handlers, "store", broken)
    monkeypatch.setattr(tg.core, "keep_dead_letter", database_gone)
    update = tg.updates.message(GROUP, DANA, "Hello?", T0 + timedelta(minutes=1))
    response = await tg.post(update)
    assert response.status_code == 503 and response.headers["Retry-After"] == "5"
    unreadable = {"update_id": 61, "message": raw_message(402, poll=POLL)}
    assert (await tg.post(unreadable)).status_code == 503  # Telegram keeps it and retries
    monkeypatch.setattr(tg.core, "keep_dead_letter", keep)  # the database is back
    assert (await tg.post(unreadable)).status_code == 200
    assert len(await dead_letters_repo.listing(tg.runtime.db)) == 1


async def test_a_message_with_fields_of_the_wrong_type_is_a_dead_letter_not_dropped(
    tg: Harness,
) -> None:
    """PTB does not check field types: ``"text": 5`` reads, then breaks on our side."""
    numeric = {"update_id": 70, "message": raw_message(501, text=5)}
    listed = {"update_id": 71, "message": raw_message(502, caption=["Is it lost?"])}
    for update in (numeric, listed):
        response = await tg.post(update)
        assert response.status_code == 200, response.text  # acknowledged: the queue moves on
    assert await tg.stored() == []
    letters = await dead_letters_repo.listing(tg.runtime.db)
    assert sorted(json.loads(d.payload)["update_id"] for d in letters) == [70, 71]
    assert all(d.reason.startswith("cannot read this update (") for d in letters)
    assert {d.source for d in letters} == {"community"}


async def test_an_update_of_no_kind_we_know_is_a_dead_letter(tg: Harness) -> None:
    """A kind newer than PTB, or no content at all: kept. A kind PTB knows that we do not
    subscribe to stays a quiet 200 (``test_unknown_update_kinds_are_accepted_and_ignored``)."""
    channel = chat(-1001111111111) | {"type": "channel"}
    post = {"message_id": 9, "chat": channel, "date": 1795860000, "text": "New release!"}
    known = {"update_id": 80, "channel_post": post}
    newer = {"update_id": 81, "guest_chat_message": {"text": "Hello?"}}
    empty = {"update_id": 82}
    nothing = {"update_id": 83, "message": None}
    for update in (known, newer, empty, nothing):
        assert (await tg.post(update)).status_code == 200
    letters = {json.loads(d.payload)["update_id"]: d.reason
               for d in await dead_letters_repo.listing(tg.runtime.db)}  # fmt: skip
    assert letters == {
        81: "no update kind python-telegram-bot knows (keys: guest_chat_message)",
        82: "no update kind python-telegram-bot knows (keys: -)",
        83: "no update kind python-telegram-bot knows (keys: message)",
    }
