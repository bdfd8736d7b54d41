"""The read-only path of the query commands: config, routing and on-call overrides over the
bare database driver (``storage.fastread``), without SQLAlchemy, the nudge engine, httpx or
icalendar. `nudgebot waiting` answers through it in a fraction of the full path's time.

It answers exactly as the full path (``bot.cli.common.load_runtime``) would, or not at all:
``open_view`` returns None — and the command takes the full path — when a rotation has an
iCal calendar (the calendar decides who is on call, and only the full path loads it),
when ``NUDGEBOT_MESSENGER`` is malformed (the full path names the problem), and whenever
``storage.fastread.open_reader`` declines (unusual URL, missing file, schema behind, errors).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import UTC, datetime

from bot.cli.common import load_cli_config
from bot.config import Config
from bot.domain.routing import Routing
from bot.services.oncall_view import KEEP, OncallView
from bot.services.routes import build_routing
from bot.services.waiting import WaitingRow, by_person
from storage.fastread import FastReader, open_reader
from storage.schema_version import head_revision

log = logging.getLogger("nudgebot.cli")


@dataclass
class ReadView:
    config: Config
    reader: FastReader
    oncall: OncallView
    routing: Routing
    now: datetime

    def close(self) -> None:
        self.reader.close()

    def waiting(
        self, *, source: str | None, person: str | None, limit: int | None
    ) -> tuple[list[WaitingRow], int]:
        """Rows (oldest first) and how many are waiting in all, as the full path counts."""
        records = self.reader.waiting(source=source, limit=None if person else limit)
        rows = by_person(records, self.routing, self.now, person, None)
        if person is not None:  # responsibility is known only after routing
            return (rows[:limit] if limit else rows), len(rows)
        if limit is None or len(rows) < limit:
            return rows, len(rows)
        return rows, self.reader.count_waiting(source)


def _messenger_setting_ok() -> bool:
    raw = os.environ.get("NUDGEBOT_MESSENGER", "").strip()
    return not raw or raw == "console" or (raw.startswith("record:") and len(raw) > 7)


def open_view(config_path: str | None) -> ReadView | None:
    config = load_cli_config(config_path)
    if any(r.ical is not None for r in config.rotations.values()):
        return None
    if not _messenger_setting_ok():
        return None
    reader = open_reader(None, head_revision())
    if reader is None:
        return None
    now = datetime.now(UTC)
    oncall = OncallView(config)
    try:
        oncall.use(reader.overrides(ending_after=now - KEEP))
    except Exception as exc:  # the full path logs and answers without them; let it
        log.debug("fast read path declined: %s", exc)
        reader.close()
        return None
    return ReadView(config, reader, oncall, build_routing(config, oncall.on_call), now)
