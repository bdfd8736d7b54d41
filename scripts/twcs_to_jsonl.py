"""Convert "Customer Support on Twitter" (TWCS) CSV rows into Nudgebot's import schema.

Usage::

    python scripts/twcs_to_jsonl.py twcs-head5000.csv out.jsonl

Importable too: ``convert(csv_path)`` yields one dict per tweet, in file order.

Input columns: tweet_id, author_id, inbound, created_at, text, response_tweet_id,
in_response_to_tweet_id. The file is read with the ``csv`` module as UTF-8, because
texts contain commas, quotes and newlines.

Conversion rules, one JSON object per tweet::

    {"thread": "tw-<root tweet_id>", "id": "<tweet_id>", "at": "2017-10-31T22:10:47Z",
     "author": {"id": "<author_id>", "name": "<author_id>"}, "team": <bool>,
     "text": "<text>", "url": "https://twitter.com/<author_id>/status/<tweet_id>"}

- ``id`` is ``tweet_id`` as a string (unique in the dataset).
- ``at`` is ``created_at`` (``Tue Oct 31 22:10:47 +0000 2017``) converted to UTC and
  written as ISO-8601 with a ``Z`` suffix. Month and weekday names are parsed with a
  fixed English table, so the result does not depend on the process locale.
- ``team`` is true for brand tweets: ``inbound`` is ``False``. Customers have
  ``inbound == True``. Any other ``inbound`` value is an error.
- ``author.id`` and ``author.name`` are both ``author_id`` (customers are anonymised
  numbers, brands are their handles, e.g. ``AmazonHelp``).
- ``text`` is copied unchanged; ``response_tweet_id`` is not used (it is the inverse
  of ``in_response_to_tweet_id``).
- ``thread`` is the root of the ``in_response_to_tweet_id`` chain *within the file*:
  follow ``in_response_to_tweet_id`` while the parent is one of the rows read; the
  topmost tweet reached is the root, and ``thread = "tw-" + root tweet_id``. A Twitter
  conversation is a tree, so all replies under one root (several customers answering
  one brand tweet, say) share one thread.
- A tweet whose parent is *not* in the file (the dataset is cut after 5,000 rows)
  becomes the root of its own thread. Its earlier context is unknown, so e.g. a
  brand reply to an outside tweet is a team message that starts its thread. With
  no customer message before it in that thread it has no reply time, and if no
  customer ever speaks in that thread it is a broadcast.
- Cycles in the reply chain (not present in the real data) are cut: every tweet on
  or leading into a cycle gets the cycle member with the smallest ``tweet_id`` (by
  string order) as root.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

_MONTHS = {
    name: number
    for number, name in enumerate(
        ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
        start=1,
    )
}
_WEEKDAYS = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"}


def parse_twitter_time(value: str) -> datetime:
    """Parse ``Tue Oct 31 22:10:47 +0000 2017`` into an aware UTC datetime."""
    parts = value.split()
    if len(parts) != 6 or parts[0] not in _WEEKDAYS or parts[1] not in _MONTHS:
        raise ValueError(f"not a Twitter timestamp: {value!r}")
    _, month, day, clock, offset, year = parts
    hour, minute, second = (int(p) for p in clock.split(":"))
    if len(offset) != 5 or offset[0] not in "+-" or not offset[1:].isdigit():
        raise ValueError(f"bad UTC offset in Twitter timestamp: {value!r}")
    sign = 1 if offset[0] == "+" else -1
    delta = timedelta(hours=int(offset[1:3]), minutes=int(offset[3:5]))
    tz = timezone(sign * delta)
    local = datetime(int(year), _MONTHS[month], int(day), hour, minute, second, tzinfo=tz)
    return local.astimezone(UTC)


def iso_utc(moment: datetime) -> str:
    """``2017-10-31T22:10:47Z`` (microseconds kept if present)."""
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _parse_inbound(value: str, tweet_id: str) -> bool:
    cleaned = value.strip()
    if cleaned == "True":
        return True
    if cleaned == "False":
        return False
    raise ValueError(f"tweet {tweet_id}: inbound must be True or False, got {value!r}")


def _parent_id(value: str) -> str | None:
    cleaned = value.strip()
    if not cleaned:
        return None
    # Some TWCS exports write ids as floats ("123.0").
    if cleaned.endswith(".0") and cleaned[:-2].isdigit():
        cleaned = cleaned[:-2]
    return cleaned


def find_roots(parents: Mapping[str, str | None]) -> dict[str, str]:
    """Map every tweet id to the root of its reply chain among ``parents``' keys.

    ``parents[tweet] is None`` or a parent that is not a key makes ``tweet`` a root.
    Cycles are cut at their smallest id (string order).
    """
    roots: dict[str, str] = {}
    for start in parents:
        if start in roots:
            continue
        path: list[str] = []
        on_path: set[str] = set()
        current = start
        while True:
            if current in roots:
                root = roots[current]
                break
            if current in on_path:
                root = min(path[path.index(current) :])
                break
            path.append(current)
            on_path.add(current)
            parent = parents[current]
            if parent is None or parent not in parents:
                root = current
                break
            current = parent
        for tweet in path:
            roots[tweet] = root
    return roots


def convert_rows(rows: Sequence[Mapping[str, str]]) -> Iterator[dict[str, Any]]:
    """Convert already-read CSV rows (dicts keyed by the TWCS column names)."""
    parents: dict[str, str | None] = {}
    for row in rows:
        tweet_id = row["tweet_id"].strip()
        if tweet_id in parents:
            raise ValueError(f"duplicate tweet_id {tweet_id}")
        parents[tweet_id] = _parent_id(row["in_response_to_tweet_id"] or "")
    roots = find_roots(parents)
    for row in rows:
        tweet_id = row["tweet_id"].strip()
        author_id = row["author_id"].strip()
        yield {
            "thread": f"tw-{roots[tweet_id]}",
            "id": tweet_id,
            "at": iso_utc(parse_twitter_time(row["created_at"])),
            "author": {"id": author_id, "name": author_id},
            "team": not _parse_inbound(row["inbound"], tweet_id),
            "text": row["text"],
            "url": f"https://twitter.com/{author_id}/status/{tweet_id}",
        }


def convert(csv_path: Path) -> Iterator[dict[str, Any]]:
    """Yield one import-schema dict per tweet of the TWCS CSV at ``csv_path``, in file order."""
    with Path(csv_path).open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    yield from convert_rows(rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Convert a TWCS CSV into Nudgebot import JSONL (one message per line)."
    )
    parser.add_argument("csv_path", type=Path, metavar="CSV")
    parser.add_argument("out_path", type=Path, metavar="OUT.jsonl")
    args = parser.parse_args(argv)
    count = 0
    threads: set[str] = set()
    with args.out_path.open("w", encoding="utf-8") as out:
        for message in convert(args.csv_path):
            out.write(json.dumps(message, ensure_ascii=False) + "\n")
            count += 1
            threads.add(message["thread"])
    print(f"wrote {count} messages in {len(threads)} threads to {args.out_path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
