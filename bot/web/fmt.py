"""Small formatters the dashboard pages share: durations, times in the config's zone, names,
and links that can only ever be web links."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.domain.durations import format_duration
from bot.domain.localtime import PAGE, labelled
from bot.web.html import Safe, element


def dur(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "–"
    return format_duration(timedelta(seconds=round(float(seconds))))


def web_link(url: str, text: str = "open", **attrs: object) -> Safe:
    # Only web links: a javascript: or data: URL from a platform must never become clickable.
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        return Safe("")
    if scheme not in ("http", "https"):
        return Safe("")
    return element("a", text, href=url, rel="noopener noreferrer", **attrs)


class People:
    """Names of team members and times in the config's time zone."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.tz = ZoneInfo(config.timezone)

    def name(self, person: str | None) -> str:
        """A member by name (``Alice``, never ``person:alice``); anyone else as given."""
        return self.config.display_name(person) if person else ""

    def when(self, at: datetime) -> str:
        try:
            return labelled(at, self.tz, PAGE)  # e.g. Thu 24 Dec 2026 10:00 CET
        except OverflowError:  # ?since=0001-01-01 in a zone west of UTC
            return at.isoformat()
