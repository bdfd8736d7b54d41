"""Tests of the TWCS → import-schema converter and the independent reply-time reference."""

from __future__ import annotations

import csv
import importlib.util
import json
import statistics
import subprocess
import sys
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.conftest import SHARED_DATA, shared_data

REPO_ROOT = Path(__file__).resolve().parent.parent
DATA = SHARED_DATA / "twcs-head5000.csv"
SCRIPT = REPO_ROOT / "scripts" / "twcs_to_jsonl.py"


def _load(name: str, path: Path) -> ModuleType:
    # By path, so this works whether or not tests/ is a package and scripts/ is not one.
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(name, module)
    spec.loader.exec_module(module)
    return module


conv = _load("twcs_to_jsonl", SCRIPT)
ref = _load("reference_twcs", Path(__file__).resolve().parent / "reference_twcs.py")


@pytest.fixture(scope="module")
def twcs_data() -> Path:
    return shared_data(DATA.name)  # skips, or fails under CI=true, when the data is absent


needs_data = pytest.mark.usefixtures("twcs_data")


@pytest.fixture(scope="module")
def twcs_rows(twcs_data: Path) -> list[dict[str, Any]]:
    return list(conv.convert(twcs_data))


def _by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in rows}


# --- hand-made rows -----------------------------------------------------------------


def _msg(thread: str, mid: str, at: str, who: str, team: bool) -> dict[str, Any]:
    return {
        "thread": thread,
        "id": mid,
        "at": f"2026-11-28T{at}Z",
        "author": {"id": who, "name": who},
        "team": team,
        "text": "",
        "url": "",
    }


HAND = [
    # Thread A (given out of order on purpose).
    _msg("A", "3", "10:05:00", "alice", True),  # closes 10:00 → 300 s (alice)
    _msg("A", "1", "10:00:00", "cust", False),  # opens
    _msg("A", "2", "10:01:00", "cust", False),  # follow-up: does not move it
    _msg("A", "4", "10:06:00", "bob", True),  # not waiting: earns nothing
    _msg("A", "5", "10:10:00", "cust", False),  # opens
    _msg("A", "6", "10:30:00", "bob", True),  # → 1200 s (bob)
    # Same instant: ids compare as strings, "10" < "9", so the customer comes first
    # and alice's message closes it after 0 s. (Numeric order would give nothing.)
    _msg("A", "9", "11:00:00", "alice", True),
    _msg("A", "10", "11:00:00", "cust", False),
    _msg("A", "11", "11:20:00", "cust", False),  # "thanks": closing words are off → opens
    _msg("A", "12", "11:50:00", "bob", True),  # → 1800 s (bob)
    # Thread B: a team message alone is a broadcast.
    _msg("B", "20", "09:00:00", "carol", True),
    # Thread C: team speaks first, then a customer, then alice answers.
    _msg("C", "30", "09:00:00", "alice", True),
    _msg("C", "31", "09:10:00", "cust2", False),
    _msg("C", "32", "09:40:00", "alice", True),  # → 1800 s (alice)
    # Thread D: a customer nobody answered.
    _msg("D", "40", "12:00:00", "cust3", False),
    _msg("D", "41", "12:05:00", "cust3", False),
]


def test_hand_made_reply_times() -> None:
    samples = ref.reply_samples_by_author(HAND)
    assert {a: sorted(v) for a, v in samples.items()} == {
        "alice": [0.0, 300.0, 1800.0],
        "bob": [1200.0, 1800.0],
    }
    assert ref.median_reply_seconds_by_author(HAND) == {"alice": 300.0, "bob": 1500.0}
    assert ref.reply_counts_by_author(HAND) == {"alice": 3, "bob": 2}
    # alice: inclusive quantiles of [0, 300, 1800] → 300 + 0.8 * 1500 = 1500
    # bob: [1200, 1800] → 1200 + 0.9 * 600 = 1740
    p90s = ref.p90_reply_seconds_by_author(HAND)
    assert p90s["alice"] == pytest.approx(1500.0)
    assert p90s["bob"] == pytest.approx(1740.0)


def test_hand_made_first_response_waiting_and_broadcasts() -> None:
    assert ref.first_response_samples_by_author(HAND) == {"alice": [300.0, 1800.0]}
    assert ref.median_first_response_seconds_by_author(HAND) == {"alice": 1050.0}
    assert ref.waiting_since_by_thread(HAND) == {"D": datetime(2026, 11, 28, 12, 0, tzinfo=UTC)}
    assert ref.broadcast_count(HAND) == 1
    summary = ref.summary(HAND)
    assert summary["reply"] == {"count": 5, "median_seconds": 1200.0, "p90_seconds": 1800.0}
    assert summary["first_response"]["count"] == 2
    assert summary["replies"] == 5
    assert summary["unanswered"] == 1
    assert summary["by_person"]["bob"]["first_response"]["count"] == 0


def test_hand_made_is_independent_of_input_order() -> None:
    def sorted_samples(rows: list[dict[str, Any]]) -> dict[str, list[float]]:
        return {a: sorted(v) for a, v in ref.reply_samples_by_author(rows).items()}

    expected = sorted_samples(HAND)
    assert sorted_samples(list(reversed(HAND))) == expected
    assert sorted_samples(sorted(HAND, key=lambda r: r["id"])) == expected


def test_p90_edges() -> None:
    assert ref.p90([42.0]) == 42.0
    assert ref.p90([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 11.0]) == 10.0
    with pytest.raises(ValueError):
        ref.p90([])


def test_reference_rejects_naive_times() -> None:
    row = _msg("X", "1", "10:00:00", "c", False)
    row["at"] = "2026-11-28T10:00:00"
    with pytest.raises(ValueError, match="time zone"):
        ref.reply_samples_by_author([row])


# --- converter on small inputs ------------------------------------------------------


def _csv_row(tweet_id: str, parent: str, inbound: str = "True") -> dict[str, str]:
    return {
        "tweet_id": tweet_id,
        "author_id": "brand" if inbound == "False" else "42",
        "inbound": inbound,
        "created_at": "Tue Oct 31 22:10:47 +0000 2017",
        "text": "hi,\nthere",
        "response_tweet_id": "",
        "in_response_to_tweet_id": parent,
    }


def test_parse_twitter_time() -> None:
    assert conv.iso_utc(conv.parse_twitter_time("Tue Oct 31 22:10:47 +0000 2017")) == (
        "2017-10-31T22:10:47Z"
    )
    moment = conv.parse_twitter_time("Wed Nov 01 01:30:00 +0230 2017")
    assert moment == datetime(2017, 10, 31, 23, 0, tzinfo=UTC)
    with pytest.raises(ValueError):
        conv.parse_twitter_time("2017-10-31 22:10:47")


def test_converter_cycles_outside_parents_and_float_ids() -> None:
    rows = [
        _csv_row("1", "2"),
        _csv_row("2", "3"),
        _csv_row("3", "1"),  # cycle 1 → 2 → 3 → 1: cut at the smallest id
        _csv_row("4", "3"),  # leads into the cycle
        _csv_row("5", "999", inbound="False"),  # parent outside the file: own root
        _csv_row("6", "5.0"),  # float-written parent id
    ]
    out = {m["id"]: m for m in conv.convert_rows(rows)}
    assert {i: m["thread"] for i, m in out.items()} == {
        "1": "tw-1",
        "2": "tw-1",
        "3": "tw-1",
        "4": "tw-1",
        "5": "tw-5",
        "6": "tw-5",
    }
    assert out["5"]["team"] is True and out["6"]["team"] is False
    assert out["5"]["url"] == "https://twitter.com/brand/status/5"
    assert out["6"]["text"] == "hi,\nthere"


def test_converter_rejects_bad_inbound_and_duplicates() -> None:
    with pytest.raises(ValueError, match="inbound"):
        list(conv.convert_rows([_csv_row("1", "", inbound="maybe")]))
    with pytest.raises(ValueError, match="duplicate"):
        list(conv.convert_rows([_csv_row("1", ""), _csv_row("1", "")]))


# --- the real sample ----------------------------------------------------------------
# Figures on the sample are derived here from the data itself, by a plain walk over each
# thread, never pinned: a golden number would only repeat what the reference printed once.


def _raw_csv() -> list[dict[str, str]]:
    with DATA.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _parent(row: dict[str, str]) -> str:
    parent = row["in_response_to_tweet_id"]
    return parent.removesuffix(".0") if parent else ""


@dataclass
class Walk:
    replies: dict[str, list[float]] = field(default_factory=dict)
    firsts: dict[str, list[float]] = field(default_factory=dict)
    unanswered: int = 0
    broadcasts: int = 0


def _walk(rows: list[dict[str, Any]]) -> Walk:
    """Each thread in (time, id as text) order: a team message after a customer's is a reply,
    timed from the first customer message since the last team message; the thread's first
    reply is its first response; a thread ending on a customer is unanswered; team messages
    of a thread no customer spoke in are broadcasts."""
    out = Walk()
    by_thread: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_thread.setdefault(row["thread"], []).append(row)
    for thread in by_thread.values():
        thread.sort(key=lambda r: (datetime.fromisoformat(r["at"]), r["id"]))
        if all(r["team"] for r in thread):
            out.broadcasts += len(thread)
            continue
        since: datetime | None = None
        answered = False
        for r in thread:
            at = datetime.fromisoformat(r["at"])
            if not r["team"]:
                since = since or at
            elif since is not None:
                seconds = (at - since).total_seconds()
                out.replies.setdefault(r["author"]["id"], []).append(seconds)
                if not answered:
                    out.firsts.setdefault(r["author"]["id"], []).append(seconds)
                answered, since = True, None
        out.unanswered += since is not None
    return out


@needs_data
def test_converts_all_rows_validly(twcs_rows: list[dict[str, Any]]) -> None:
    assert len(twcs_rows) == 5000
    assert len({row["id"] for row in twcs_rows}) == 5000
    for row in twcs_rows:
        assert set(row) == {"thread", "id", "at", "author", "team", "text", "url"}
        assert isinstance(row["id"], str) and row["id"]
        assert row["at"].endswith("Z")
        moment = datetime.fromisoformat(row["at"])
        offset = moment.utcoffset()
        assert offset is not None and offset.total_seconds() == 0
        assert row["author"]["id"] == row["author"]["name"] != ""
        assert isinstance(row["team"], bool)
        assert row["url"] == f"https://twitter.com/{row['author']['id']}/status/{row['id']}"
        assert row["thread"].startswith("tw-")
        json.dumps(row)
    raw = _raw_csv()
    assert len(twcs_rows) == len(raw)
    # Team messages are the CSV's outbound tweets; a thread starts at every tweet that
    # replies to nothing or to a tweet outside the sample.
    assert sum(row["team"] for row in twcs_rows) == sum(r["inbound"] == "False" for r in raw)
    ids = {r["tweet_id"] for r in raw}
    roots = [r for r in raw if _parent(r) not in ids]
    assert len({row["thread"] for row in twcs_rows}) == len(roots)


@needs_data
def test_known_reply_chain_is_one_thread(twcs_rows: list[dict[str, Any]]) -> None:
    # sprintcare ↔ 115712: 8 ← 6 ← 5 ← 4 ← 3 ← 1 ← 2 (in_response_to chain).
    rows = _by_id(twcs_rows)
    chain = ["8", "6", "5", "4", "3", "1", "2"]
    assert {rows[i]["thread"] for i in chain} == {"tw-8"}
    thread = [row for row in twcs_rows if row["thread"] == "tw-8"]
    assert sorted(row["id"] for row in thread) == sorted(chain)
    assert rows["1"]["at"] == "2017-10-31T22:10:47Z"
    assert rows["1"]["team"] is True and rows["8"]["team"] is False
    # 21:45:10 → 21:46:24, 21:49:35 → 21:54:49, 22:08:27 → 22:10:47; 2 is left waiting.
    assert ref.reply_samples_by_author(thread) == {"sprintcare": [74.0, 314.0, 140.0]}
    assert ref.waiting_since_by_thread(thread) == {
        "tw-8": datetime(2017, 10, 31, 22, 11, 45, tzinfo=UTC)
    }


@needs_data
def test_replies_to_outside_tweets_become_roots(twcs_rows: list[dict[str, Any]]) -> None:
    rows = _by_id(twcs_rows)
    # 1621 (AzureSupport) answers 1622 and 3745 (AmazonHelp) answers 3746, both outside.
    for tweet_id, child in (("1621", "1620"), ("3745", "3744"), ("222", "221")):
        assert rows[tweet_id]["thread"] == f"tw-{tweet_id}"
        assert rows[child]["thread"] == f"tw-{tweet_id}"
    assert rows["1621"]["team"] is True
    azure = [row for row in twcs_rows if row["thread"] == "tw-1621"]
    # No customer speaks in that thread: no reply time, two broadcast messages.
    assert all(row["team"] for row in azure)
    assert ref.reply_samples_by_author(azure) == {}
    assert ref.broadcast_count(twcs_rows) == _walk(twcs_rows).broadcasts
    # A brand reply to an outside tweet opens its thread without a reply time.
    amazon = [row for row in twcs_rows if row["thread"] == "tw-3745"]
    first = min(amazon, key=lambda row: (row["at"], row["id"]))
    assert first["id"] == "3745" and first["team"] is True
    assert ref.first_response_samples_by_author([first]) == {}


@needs_data
def test_reference_figures_for_biggest_brands(twcs_rows: list[dict[str, Any]]) -> None:
    counts = ref.reply_counts_by_author(twcs_rows)
    medians = ref.median_reply_seconds_by_author(twcs_rows)
    p90s = ref.p90_reply_seconds_by_author(twcs_rows)
    samples = ref.reply_samples_by_author(twcs_rows)
    firsts = ref.first_response_samples_by_author(twcs_rows)
    team_messages: dict[str, int] = {}
    for row in twcs_rows:
        if row["team"]:
            team_messages[row["author"]["id"]] = team_messages.get(row["author"]["id"], 0) + 1

    walk = _walk(twcs_rows)
    assert counts == {a: len(v) for a, v in walk.replies.items()}
    assert medians == {a: statistics.median(v) for a, v in walk.replies.items()}
    top5 = sorted(counts, key=lambda a: (-counts[a], a))[:5]
    for author in top5:
        assert medians[author] > 0
        assert p90s[author] >= medians[author]
        assert min(samples[author]) >= 0
        assert medians[author] == statistics.median(samples[author])
    # Only team authors get credit; each reply is one team message; a first response
    # is always also the reply that closes the thread's first waiting period.
    assert set(counts) <= set(team_messages)
    for author, n in counts.items():
        assert n <= team_messages[author]
        assert len(firsts.get(author, [])) <= n
    summary = ref.summary(twcs_rows)
    assert summary["reply"]["count"] == sum(counts.values()) == sum(map(len, walk.replies.values()))
    assert summary["first_response"]["count"] == sum(len(v) for v in firsts.values())
    assert {a: sorted(v) for a, v in firsts.items()} == {
        a: sorted(v) for a, v in walk.firsts.items()
    }
    threads_with_customers = {row["thread"] for row in twcs_rows if not row["team"]}
    assert summary["first_response"]["count"] <= len(threads_with_customers)
    assert summary["unanswered"] == walk.unanswered
    assert ref.broadcast_count(twcs_rows) == walk.broadcasts
    assert all(v["reply"]["count"] == counts.get(a, 0) for a, v in summary["by_person"].items())


@needs_data
def test_cli_writes_jsonl(tmp_path: Path) -> None:
    out = tmp_path / "twcs.jsonl"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), str(DATA), str(out)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    raw = _raw_csv()
    ids = {r["tweet_id"] for r in raw}
    roots = sum(_parent(r) not in ids for r in raw)
    assert f"{len(raw)} messages in {roots} threads" in result.stderr
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == len(raw)
    assert json.loads(lines[0]) == {
        "thread": "tw-8",
        "id": "1",
        "at": "2017-10-31T22:10:47Z",
        "author": {"id": "sprintcare", "name": "sprintcare"},
        "team": True,
        "text": "@115712 I understand. I would like to assist you. We would need to get you "
        "into a private secured link to further assist.",
        "url": "https://twitter.com/sprintcare/status/1",
    }
