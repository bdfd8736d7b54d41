"""One iCal rotation's calendar: read from a file or fetched from a URL, kept while it is good.

A file is read when the bot starts and again whenever its size or modification time changes.
A URL is fetched every ``refresh`` (default 10 minutes) with ``If-None-Match`` /
``If-Modified-Since`` from the last good copy, so an unchanged feed costs a 304. Whatever goes
wrong — network, a non-2xx status, an oversized body, a calendar that does not parse or cannot
be expanded — the last good copy stays in use, the failure is logged and counted
(``/metrics``: ``nudgebot_ical_fetch_failures_total``), and the bot keeps running.

Calendar URLs often carry a secret (Google's "secret address"), so logs and errors show only
the scheme and host. Redirects are followed by hand: at most MAX_REDIRECTS, only to http(s),
and never into loopback, link-local or private ranges unless the configured URL itself points
into one — so a calendar provider cannot make the bot fetch internal addresses.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx

from bot.config import Config, Rotation
from bot.domain.ical_limits import IcalError
from bot.domain.ical_schedule import MAX_BYTES, IcalSchedule, parse_ical
from bot.domain.turns import RotationError

log = logging.getLogger("nudgebot.oncall")
FETCH_TIMEOUT = 30.0
MAX_REDIRECTS = 3
_URL = re.compile(r"^(?:https?|webcal)://", re.IGNORECASE)
_PROBE = timedelta(days=1)


class FeedError(Exception):
    pass


def person_resolver(config: Config) -> Callable[[str], str | None]:
    """Names a calendar may use for a member: id, name, email or handle (``@`` optional),
    case-insensitively. A name two members share resolves to nobody rather than a guess."""
    index: dict[str, str | None] = {}

    def add(key: str | None, person: str) -> None:
        if not key or not key.strip():
            return
        norm = key.strip().lstrip("@").strip().lower()
        if norm:
            index[norm] = person if index.get(norm, person) == person else None

    for person in config.team.values():
        for key in (person.id, person.name, person.email, *person.handles):
            add(key, person.id)

    def resolve(text: str) -> str | None:
        return index.get(text.strip().lstrip("@").strip().lower())

    return resolve


def _blocked(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback or ip.is_link_local or ip.is_private or ip.is_reserved
        or ip.is_multicast or ip.is_unspecified
    )  # fmt: skip


async def _internal(host: str, *, unresolved: bool) -> bool:
    """Whether ``host`` is (or resolves to) a loopback, link-local or private address;
    ``unresolved`` is the answer when it does not resolve."""
    try:
        return _blocked(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None)
        found = {ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos}
    except (OSError, ValueError, UnicodeError):
        return unresolved
    return any(_blocked(ip) for ip in found) if found else unresolved


def redact(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or '?'}/…"


@dataclass(frozen=True)
class FeedStatus:
    failures: int  # failed loads since the process started
    last_success: datetime | None  # last good copy confirmed (parsed, or 304 Not Modified)
    error: str | None  # why the latest attempt failed; None when it succeeded
    unresolved: tuple[str, ...]  # event summaries naming nobody on the team


class IcalFeed:
    def __init__(
        self,
        rotation: Rotation,
        resolve: Callable[[str], str | None],
        *,
        max_bytes: int = MAX_BYTES,
    ) -> None:
        assert rotation.ical is not None
        self.rotation = rotation.id
        self.location = rotation.ical
        self.is_url = bool(_URL.match(rotation.ical))
        self.url = re.sub(r"^webcal://", "https://", rotation.ical, flags=re.IGNORECASE)
        self.refresh = rotation.refresh
        self.tz = rotation.tz
        self.resolve = resolve
        self.max_bytes = max_bytes
        self.schedule: IcalSchedule | None = None
        self.etag: str | None = None
        self.last_modified: str | None = None
        self.failures = 0
        self.last_success: datetime | None = None
        self.error: str | None = None
        self.next_due: datetime | None = None  # None: never tried
        self._stamp: tuple[int, int] | None = None

    @property
    def where(self) -> str:
        return redact(self.url) if self.is_url else self.location

    def status(self) -> FeedStatus:
        unresolved = self.schedule.unresolved if self.schedule else ()
        return FeedStatus(self.failures, self.last_success, self.error, unresolved)

    def due(self, now: datetime) -> bool:
        return self.next_due is None or now >= self.next_due

    # --- files ---------------------------------------------------------------------------

    def _read_file(self, now: datetime) -> bytes | None:
        """The file's bytes when it changed since the last read (or is due for a retry)."""
        path = Path(self.location)
        try:
            info = path.stat()
            stamp = (info.st_mtime_ns, info.st_size)
            if stamp == self._stamp and not (self.error and self.due(now)):
                return None
            self._stamp = stamp
            self.next_due = now + self.refresh
            if info.st_size > self.max_bytes:
                raise FeedError(f"{path} is {info.st_size} bytes; the limit is {self.max_bytes}")
            return path.read_bytes()
        except OSError as exc:
            if not self.due(now):
                return None
            self._stamp = None
            self.next_due = now + self.refresh
            self._failed(now, f"cannot read {path}: {exc.strerror or exc}")
        except FeedError as exc:
            self._failed(now, str(exc))
        return None

    def load_file(self, now: datetime) -> bool:
        """Read (or re-read) the file now; True when a new good copy is in use."""
        data = self._read_file(now)
        return data is not None and self._accept(data, now, self._parse(data, now))

    async def reload_file(self, now: datetime) -> bool:
        data = self._read_file(now)
        if data is None:
            return False
        return self._accept(data, now, await asyncio.to_thread(self._parse, data, now))

    # --- URLs ----------------------------------------------------------------------------

    async def fetch(self, client: httpx.AsyncClient, now: datetime) -> bool:
        """One conditional GET; True when a new good copy is in use."""
        self.next_due = now + self.refresh
        headers = {"Accept": "text/calendar, */*;q=0.5"}
        if self.schedule is not None:
            if self.etag:
                headers["If-None-Match"] = self.etag
            if self.last_modified:
                headers["If-Modified-Since"] = self.last_modified
        try:
            async with self._follow(client, headers) as response:
                if response.status_code == 304 and self.schedule is not None:
                    self._succeeded(now)
                    return False
                if not 200 <= response.status_code < 300:
                    raise FeedError(f"{self.where} answered HTTP {response.status_code}")
                data = await self._body(response)
                etag = response.headers.get("etag")
                modified = response.headers.get("last-modified")
        except FeedError as exc:
            self._failed(now, str(exc))
            return False
        except Exception as exc:  # network, TLS, a bad URL: all mean "no new copy this time"
            detail = re.sub(r"\S+://\S+", self.where, str(exc)) or type(exc).__name__
            self._failed(now, f"fetching {self.where} failed: {detail}")
            return False
        parsed = await asyncio.to_thread(self._parse, data, now)
        if self._accept(data, now, parsed):
            self.etag, self.last_modified = etag, modified
            return True
        return False

    @contextlib.asynccontextmanager
    async def _follow(
        self, client: httpx.AsyncClient, headers: dict[str, str]
    ) -> AsyncIterator[httpx.Response]:
        """GET the URL, following at most MAX_REDIRECTS redirects, each to an http(s) URL
        outside loopback, link-local and private ranges — unless the configured URL is itself
        in one (an internal calendar server may redirect internally)."""
        url = httpx.URL(self.url)
        internal_ok = await _internal(url.host, unresolved=False)
        for _hop in range(MAX_REDIRECTS + 1):
            async with client.stream(
                "GET", url, headers=headers, timeout=FETCH_TIMEOUT, follow_redirects=False
            ) as response:
                location = response.headers.get("location")
                if not (response.is_redirect and location):
                    yield response
                    return
                try:
                    target = response.url.join(location)
                except (httpx.InvalidURL, ValueError):
                    raise FeedError(f"{self.where} redirected to a malformed URL") from None
            if target.scheme not in ("http", "https") or not target.host:
                raise FeedError(f"{self.where} redirected to a {target.scheme or 'bad'} URL")
            if not internal_ok and await _internal(target.host, unresolved=True):
                raise FeedError(
                    f"{self.where} redirected to {target.scheme}://{target.host}/…, "
                    "a loopback, link-local or private address"
                )
            url = target
        raise FeedError(f"{self.where}: more than {MAX_REDIRECTS} redirects")

    async def _body(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise FeedError(f"{self.where}: {declared} bytes; the limit is {self.max_bytes}")
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise FeedError(f"{self.where}: more than {self.max_bytes} bytes")
            chunks.append(chunk)
        return b"".join(chunks)

    # --- both ----------------------------------------------------------------------------

    def _parse(self, data: bytes, now: datetime) -> IcalSchedule | str:
        """The schedule, or why not. Expands a little around ``now`` so a calendar that parses
        but cannot be expanded (a hostile recurrence) is refused before it replaces a good one."""
        try:
            schedule = parse_ical(data, self.resolve, max_bytes=self.max_bytes, default_tz=self.tz)
            schedule.on_call(now)
            schedule.turns(now - _PROBE, now + _PROBE)
        except (IcalError, RotationError) as exc:
            return str(exc)
        except Exception as exc:  # a parser bug on hostile input must not take the bot down
            return f"unreadable calendar: {type(exc).__name__}: {exc}"
        return schedule

    def _accept(self, data: bytes, now: datetime, parsed: IcalSchedule | str) -> bool:
        if isinstance(parsed, str):
            self._failed(now, f"{self.where}: {parsed}")
            return False
        self.schedule = parsed
        self._succeeded(now)
        if parsed.unresolved:
            log.warning(
                "rotation %s: calendar events naming nobody on the team: %s",
                self.rotation,
                ", ".join(parsed.unresolved[:10]),
            )
        return True

    def _succeeded(self, now: datetime) -> None:
        self.last_success = now
        self.error = None

    def _failed(self, now: datetime, message: str) -> None:
        self.failures += 1
        self.error = message
        kept = "keeping the last good copy" if self.schedule else "no good copy yet"
        log.warning("rotation %s: calendar update failed (%s): %s", self.rotation, kept, message)
