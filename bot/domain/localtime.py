"""The one way a time is shown to people: on the config's clock (or the reader's), labelled.

The CLI, the dashboard and the digests all show an instant as wall-clock time in a zone
followed by that zone's abbreviation (``2026-12-24 10:00 CET``), so a time is never read on
the wrong clock; the zone's full name (``Europe/Berlin``) goes in the table or page heading.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

CLI = "%Y-%m-%d %H:%M"
PAGE = "%a %d %b %Y %H:%M"  # the dashboard's pages
SHORT = "%a %d %b %H:%M"  # inside a week (the digest)


def labelled(at: datetime, zone: ZoneInfo, fmt: str = CLI) -> str:
    """``at`` on ``zone``'s wall clock, with the zone's abbreviation (CET, CEST, JST, UTC)."""
    local = at.astimezone(zone)
    return f"{local:{fmt}} {local.tzname()}"
