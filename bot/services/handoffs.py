"""Hand-off notices: when a turn starts, the incoming person hears it once.

``handoff_notices(now)`` looks at every rotation's turn at ``now``; a turn that started within
``GRACE`` gets one message to its person — until when they are on call, who comes next, and
what is waiting right now (how many, and the oldest few). Each notice is claimed in the
database first (``storage.oncall_repo``, unique per rotation, turn start and person), so it
goes out once however many replicas run this, and a failed send is retried on a later call
(at most ``MAX_ATTEMPTS`` times). An override starts a turn too, and so does the end of one
(the pager goes back).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from bot.config import Config
from bot.domain.durations import format_duration
from bot.domain.ports import DeliveryError, Messenger, Recipient
from bot.domain.routing import Routing
from bot.domain.turns import Turn
from bot.domain.untrusted import md_link
from bot.domain.untrusted import md_literal as lit
from bot.services.oncall import OncallService
from bot.services.waiting import WaitingRow, list_waiting
from storage.db import Database
from storage.oncall_repo import claim_handoff, finish_handoff

log = logging.getLogger("nudgebot.oncall")
Send = Callable[[Recipient, str], Awaitable[object]]
GRACE = timedelta(hours=1)  # a replica down at the hand-off still sends it this long after
LEASE = timedelta(minutes=2)
MAX_ATTEMPTS = 5
OLDEST = 3


def recipient_for(config: Config, person_id: str) -> Recipient | None:
    """Where a person's messages go (their ``notify`` platform), or None without an address."""
    person = config.person(person_id)
    if person is None or person.notify is None:
        return None
    address = person.notify_address
    return Recipient(person.notify, address, person.id, person.timezone) if address else None


def messenger_send(messengers: Mapping[str, Messenger]) -> Send:
    """``send`` through the runtime's messengers, looked up at send time (adapters attach late)."""

    async def send(recipient: Recipient, text: str) -> object:
        messenger = messengers.get(recipient.platform)
        if messenger is None:
            raise DeliveryError(f"no {recipient.platform} messenger is running")
        return await messenger.send_text(recipient, text)

    return send


def _local(at: datetime, tz: str) -> str:
    try:
        zone = ZoneInfo(tz)
    except (KeyError, ValueError):
        zone = ZoneInfo("UTC")
    return f"{at.astimezone(zone):%a %d %b %H:%M} ({zone.key})"


def render(
    config: Config, rotation: str, turn: Turn, following: Turn | None, tz: str,
    waiting: list[WaitingRow], now: datetime,
) -> str:  # fmt: skip
    # Markdown-light: the formatting is ours, every inserted value is md_literal text.
    lines = [f"You're on call for *{lit(rotation)}* until {_local(turn.end, tz)}."]
    if following is not None and following.person:
        person = config.person(following.person)
        lines.append(f"Next: {lit(person.name if person else following.person)}.")
    if not waiting:
        lines.append("Nobody is waiting right now.")
    else:
        plural = "conversation is" if len(waiting) == 1 else "conversations are"
        lines.append(f"{len(waiting)} {plural} waiting right now; the oldest:")
        for row in waiting[:OLDEST]:
            waited = format_duration(now - row.waiting_since)
            where = row.source + (f" #{row.channel}" if row.channel else "")
            link = f" {md_link('open', row.url)}" if row.url else ""
            who = lit(row.customer or "someone")
            lines.append(f"• {who} in {lit(where)}, waiting {waited}{link}")
    return "\n".join(lines)


async def handoff_notices(
    db: Database,
    oncall: OncallService,
    routing: Routing,
    now: datetime,
    send: Send,
    *,
    grace: timedelta = GRACE,
) -> int:
    """Send the notices due at ``now``; returns how many went out from this call."""
    config = oncall.config
    sent = 0
    rows: list[WaitingRow] | None = None
    for rid in oncall.rotation_ids:
        turn = oncall.turn_at(rid, now)
        if turn is None or turn.person is None or not now - grace <= turn.start <= now:
            continue
        attempt = await claim_handoff(
            db, rotation=rid, person=turn.person, turn_start=turn.start, turn_end=turn.end,
            now=now, lease=LEASE, max_attempts=MAX_ATTEMPTS,
        )  # fmt: skip
        if attempt is None:
            continue
        key = (rid, turn.person, turn.start)
        recipient = recipient_for(config, turn.person)
        if recipient is None:
            error = f"{turn.person} has no Slack or Telegram address to notify"
            await finish_handoff(db, *key, attempt=attempt, now=now, error=error)
            log.warning("hand-off notice for %s not sent: %s", rid, error)
            continue
        if rows is None:
            rows = await list_waiting(db, routing, now)
        sources = {s.id for s in config.sources.values() if s.rotation == rid}
        mine = [r for r in rows if r.source in sources or turn.person in r.responsible_all]
        following = oncall.status(rid, now).next
        text = render(config, rid, turn, following, recipient.timezone, mine, now)
        try:
            await send(recipient, text)
        except Exception as exc:
            permanent = isinstance(exc, DeliveryError) and exc.permanent
            last = permanent or attempt >= MAX_ATTEMPTS
            retry_at = None if last else now + timedelta(seconds=min(60 * 2**attempt, 900))
            error = f"{type(exc).__name__}: {exc}"
            await finish_handoff(db, *key, attempt=attempt, now=now, error=error, retry_at=retry_at)
            log.warning("hand-off notice for %s to %s failed: %s", rid, turn.person, exc)
            continue
        await finish_handoff(db, *key, attempt=attempt, now=now)
        sent += 1
    return sent


def handoff_job(
    db: Database, oncall: OncallService, routing: Routing, messengers: Mapping[str, Messenger]
) -> Callable[[datetime], Awaitable[int]]:
    """What ``OncallService.start`` runs at every turn change and refresh round."""
    send = messenger_send(messengers)

    async def job(now: datetime) -> int:
        return await handoff_notices(db, oncall, routing, now, send)

    return job
