"""bot/inbox/batcher.py's batching rules, batch by batch: which items share a transaction.

Senders are asyncio tasks on one loop, so who arrives before which write is decided by the
order they are scheduled in, not by a clock: every expected batch below follows from it. A
``linger`` that should never run out is long (the test would hang, not flake, if it did)."""

from __future__ import annotations

import asyncio
import logging

import pytest

from bot.inbox import InboxBatcher

LONG = 60.0  # a linger the right batcher never waits out


class Store:
    """A commit that records batches and can be held open until released."""

    def __init__(self, hold_first: bool = False) -> None:
        self.batches: list[list[str]] = []
        self.gate = asyncio.Event()
        if not hold_first:
            self.gate.set()
        self.failing: set[str] = set()

    async def commit(self, items: list[str]) -> None:
        self.batches.append(list(items))
        await self.gate.wait()
        bad = self.failing.intersection(items)
        if bad:
            raise ValueError(f"bad {sorted(bad)}")


async def test_items_waiting_together_share_one_batch_up_to_max_batch() -> None:
    store = Store()
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=3, linger=0.0)
    await asyncio.gather(*(batcher.submit(x) for x in "abcde"))
    assert store.batches == [["a", "b", "c"], ["d", "e"]]
    assert batcher.batches == 2


async def test_a_lone_item_is_written_at_once() -> None:
    store = Store()
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=3, linger=LONG)
    await batcher.submit("a")
    await batcher.submit("b")
    assert store.batches == [["a"], ["b"]]


async def test_size_weighs_items_and_an_oversized_item_goes_alone() -> None:
    store = Store()
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=4, linger=0.0, size=len)
    await asyncio.gather(*(batcher.submit(x) for x in ("ab", "cd", "e", "fghij", "k", "lmn")))
    assert store.batches == [["ab", "cd"], ["e"], ["fghij"], ["k", "lmn"]]


async def _senders_return_while_c_arrives(
    store: Store, batcher: InboxBatcher[str]
) -> tuple[list[asyncio.Task[None]], asyncio.Task[None]]:
    """ "a" and "b" are written together (held by the store) while "c" arrives; then the
    store lets go and their senders come straight back with "a2" and "b2"."""

    async def sender(item: str, then: str) -> None:
        await batcher.submit(item)
        await batcher.submit(then)

    busy = [asyncio.create_task(sender(x, x + "2")) for x in "ab"]
    for _ in range(3):
        await asyncio.sleep(0)
    c = asyncio.create_task(batcher.submit("c"))
    await asyncio.sleep(0)
    store.gate.set()
    return busy, c


async def test_items_arriving_during_a_write_join_the_next_batch() -> None:
    store = Store(hold_first=True)
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=10, linger=0.0)
    first = asyncio.create_task(batcher.submit("a"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)  # the writer took "a" and is inside commit
    later = [asyncio.create_task(batcher.submit(x)) for x in "bc"]
    await asyncio.sleep(0)
    store.gate.set()
    await asyncio.gather(first, *later)
    assert store.batches == [["a"], ["b", "c"]]


async def test_after_a_busy_batch_the_writer_lingers_for_the_senders_it_answered() -> None:
    # "a" and "b" are written together while "c" arrives; their senders come straight back
    # with "a2" and "b2". The writer waits for them (three were busy) and writes all three
    # in one batch instead of "c" alone and then the other two.
    store = Store(hold_first=True)
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=10, linger=LONG)

    async def sender(item: str, then: str | None = None) -> None:
        await batcher.submit(item)
        if then is not None:
            await batcher.submit(then)

    busy = [asyncio.create_task(sender("a", "a2")), asyncio.create_task(sender("b", "b2"))]
    for _ in range(3):
        await asyncio.sleep(0)
    assert store.batches == [["a", "b"]]
    c = asyncio.create_task(sender("c"))
    await asyncio.sleep(0)
    store.gate.set()
    await asyncio.gather(*busy, c)
    assert store.batches == [["a", "b"], ["c", "a2", "b2"]]
    await batcher.close()


async def test_lingering_waits_for_no_more_than_max_batch() -> None:
    store = Store(hold_first=True)
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=2, linger=LONG)

    busy, c = await _senders_return_while_c_arrives(store, batcher)
    for _ in range(20):  # loop turns enough for everything that can happen now
        await asyncio.sleep(0)
    assert store.batches == [["a", "b"], ["c", "a2"]]  # not waiting for a third
    # "b2" is left, and the writer lingers for two again (it was busy): one more sender.
    await asyncio.gather(*busy, c, batcher.submit("x"))
    assert store.batches == [["a", "b"], ["c", "a2"], ["b2", "x"]]


async def test_a_linger_that_runs_out_writes_what_is_there() -> None:
    store = Store(hold_first=True)
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=10, linger=0.01)
    ab = [asyncio.create_task(batcher.submit(x)) for x in "ab"]
    for _ in range(3):
        await asyncio.sleep(0)
    c = asyncio.create_task(batcher.submit("c"))
    await asyncio.sleep(0)
    store.gate.set()
    await asyncio.gather(*ab, c)  # nobody comes back: "c" is written after the linger
    assert store.batches == [["a", "b"], ["c"]]
    store.gate.clear()
    d = asyncio.create_task(batcher.submit("d"))
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert store.batches[-1] == ["d"]  # the next lone item goes at once, no linger left set
    store.gate.set()
    await d


async def test_without_linger_a_busy_writer_does_not_wait() -> None:
    store = Store(hold_first=True)
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=10, linger=0.0)

    busy, c = await _senders_return_while_c_arrives(store, batcher)
    await asyncio.gather(*busy, c)
    assert store.batches == [["a", "b"], ["c"], ["a2", "b2"]]


@pytest.mark.parametrize(("turns", "expected"), [
    (0, [["a"], ["b"], ["c"], ["d"]]),
    (1, [["a", "b"], ["c", "d"]]),
    (3, [["a", "b", "c", "d"]]),
    (9, [["a", "b", "c", "d"]]),
])  # fmt: skip
async def test_an_idle_writer_gives_items_on_their_way_max_turns_loop_turns(
    turns: int, expected: list[list[str]]
) -> None:
    store = Store()
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=10, linger=0.0,
                                              max_turns=turns)  # fmt: skip

    async def late(item: str, turns_late: int) -> None:
        for _ in range(turns_late):
            await asyncio.sleep(0)
        await batcher.submit(item)

    # "b", "c", "d" arrive one loop turn after another, after the writer has started.
    await asyncio.gather(batcher.submit("a"), late("b", 1), late("c", 2), late("d", 3))
    assert store.batches == expected


async def test_gathering_stops_at_a_full_batch() -> None:
    store = Store()
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=2, linger=0.0, max_turns=9)

    async def late(item: str, turns_late: int) -> None:
        for _ in range(turns_late):
            await asyncio.sleep(0)
        await batcher.submit(item)

    await asyncio.gather(batcher.submit("a"), late("b", 1), late("c", 2), late("d", 3))
    assert store.batches == [["a", "b"], ["c", "d"]]


async def test_a_failed_batch_is_retried_item_by_item_and_only_the_bad_item_fails(
    caplog: pytest.LogCaptureFixture,
) -> None:
    store = Store()
    store.failing = {"c"}
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=10, linger=0.0)
    with caplog.at_level(logging.WARNING, logger="nudgebot.inbox"):
        results = await asyncio.gather(*(batcher.submit(x) for x in "abcd"),
                                       return_exceptions=True)  # fmt: skip
    assert [type(r).__name__ for r in results] == ["NoneType", "NoneType", "ValueError", "NoneType"]
    assert str(results[2]) == "bad ['c']"
    assert store.batches == [["a", "b", "c", "d"], ["a"], ["b"], ["c"], ["d"]]
    assert batcher.batches == 5
    assert [r.getMessage() for r in caplog.records] == [
        "storing 4 events together failed (ValueError(\"bad ['c']\")); retrying one by one"
    ]


async def test_a_lone_failure_reaches_its_sender_without_a_retry() -> None:
    store = Store()
    store.failing = {"a"}
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=10, linger=0.0)
    with pytest.raises(ValueError, match="bad"):
        await batcher.submit("a")
    assert store.batches == [["a"]]
    await batcher.submit("b")  # the batcher goes on
    assert store.batches == [["a"], ["b"]]


async def test_a_batcher_logs_to_the_logger_it_is_given() -> None:
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    log = logging.getLogger("tests.inbox.batching")
    log.addHandler(Keep())
    log.propagate = False
    store = Store()
    store.failing = {"a"}
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=10, linger=0.0, log=log)
    await asyncio.gather(*(batcher.submit(x) for x in "ab"), return_exceptions=True)
    assert [r.levelno for r in records] == [logging.WARNING]


async def test_the_writer_task_carries_the_batchers_name() -> None:
    store = Store(hold_first=True)
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=10, linger=0.0, name="x-in")
    sent = asyncio.create_task(batcher.submit("a"))
    await asyncio.sleep(0)
    assert "x-in" in {t.get_name() for t in asyncio.all_tasks()}
    default: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=10, linger=0.0)
    other = asyncio.create_task(default.submit("b"))
    await asyncio.sleep(0)
    assert "inbox-batcher" in {t.get_name() for t in asyncio.all_tasks()}
    store.gate.set()
    await asyncio.gather(sent, other)


async def test_close_waits_for_the_writer_and_an_unused_batcher_closes_at_once() -> None:
    await InboxBatcher(Store().commit, max_batch=1, linger=0.0).close()
    store = Store(hold_first=True)
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=10, linger=0.0)
    sent = asyncio.create_task(batcher.submit("a"))
    await asyncio.sleep(0)
    sent.cancel()  # the sender goes away; its item is still written (shielded)
    closing = asyncio.create_task(batcher.close())
    await asyncio.sleep(0)
    assert not closing.done()
    store.gate.set()
    await closing
    assert store.batches == [["a"]]


async def test_lingering_wakes_only_once_all_the_busy_senders_are_back() -> None:
    # As above, but "b2" comes a few loop turns after "a2": the writer still waits for it.
    store = Store(hold_first=True)
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=10, linger=LONG)

    async def sender(item: str, then: str, turns_late: int) -> None:
        await batcher.submit(item)
        for _ in range(turns_late):
            await asyncio.sleep(0)
        await batcher.submit(then)

    busy = [asyncio.create_task(sender("a", "a2", 0)), asyncio.create_task(sender("b", "b2", 5))]
    for _ in range(3):
        await asyncio.sleep(0)
    c = asyncio.create_task(batcher.submit("c"))
    await asyncio.sleep(0)
    store.gate.set()
    await asyncio.gather(*busy, c)
    assert store.batches == [["a", "b"], ["c", "a2", "b2"]]


async def test_a_linger_of_one_second_is_a_linger() -> None:
    # Any positive linger waits for the busy senders (not only those above a second).
    store = Store(hold_first=True)
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=10, linger=1.0)

    busy, c = await _senders_return_while_c_arrives(store, batcher)
    await asyncio.gather(*busy, c)
    assert store.batches == [["a", "b"], ["c", "a2", "b2"]]


async def test_after_a_lone_write_the_writer_does_not_linger() -> None:
    # A batch of one is no sign of load: what arrived meanwhile is written at once, within a
    # few loop turns (a writer lingering for a second sender would still be waiting).
    store = Store(hold_first=True)
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=10, linger=LONG)
    a = asyncio.create_task(batcher.submit("a"))
    for _ in range(3):
        await asyncio.sleep(0)
    b = asyncio.create_task(batcher.submit("b"))
    await asyncio.sleep(0)
    store.gate.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert store.batches == [["a"], ["b"]]
    await asyncio.gather(a, b)


async def test_gathering_stops_at_the_first_loop_turn_without_a_new_item() -> None:
    store = Store()
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=10, linger=0.0, max_turns=9)

    async def late(item: str, turns_late: int) -> None:
        for _ in range(turns_late):
            await asyncio.sleep(0)
        await batcher.submit(item)

    # "b" arrives one turn after the writer started, "d" only after a quiet turn.
    await asyncio.gather(batcher.submit("a"), late("b", 1), late("d", 5))
    assert store.batches == [["a", "b"], ["d"]]


async def test_close_after_the_writer_was_cancelled_returns_quietly() -> None:
    # At shutdown the loop cancels the writer; close() then has nothing left to wait for.
    store = Store(hold_first=True)
    batcher: InboxBatcher[str] = InboxBatcher(store.commit, max_batch=10, linger=0.0, name="w1")
    sent = asyncio.create_task(batcher.submit("a"))
    await asyncio.sleep(0)
    [writer] = [t for t in asyncio.all_tasks() if t.get_name() == "w1"]
    writer.cancel()
    sent.cancel()
    await batcher.close()
    assert writer.cancelled()
