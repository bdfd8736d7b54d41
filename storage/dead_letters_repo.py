"""Dead letters: inbound payloads that passed authentication but could not be read.

One row per distinct payload (sha256 of the bytes) per platform and source: a platform that
redelivers the same unreadable payload — Slack retries, a webhook sender's retry loop —
counts up ``deliveries`` instead of filling the table. The body is kept exactly: as text when
it is clean UTF-8, else base64 (see ``DeadLetter.encoding``).
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.domain.ports import DeadLetter as Letter
from storage.db import Database, insert_for
from storage.models import DeadLetter

_MAX_REASON = 500
_MAX_SOURCE = 64


@dataclass(frozen=True)
class StoredLetter:
    id: int
    platform: str
    source: str
    reason: str
    payload: bytes
    size: int
    received_at: datetime
    last_received_at: datetime
    deliveries: int

    def text(self) -> str:
        """The payload for a terminal or JSON: as text, undecodable bytes escaped."""
        return self.payload.decode("utf-8", "backslashreplace")


def encode_payload(payload: bytes) -> tuple[str, str]:
    """(encoding, stored text): utf-8 when that is lossless and storable, else base64."""
    try:
        decoded = payload.decode("utf-8")
    except UnicodeDecodeError:
        decoded = None
    if decoded is not None and "\x00" not in decoded:
        return "utf-8", decoded
    return "base64", base64.b64encode(payload).decode("ascii")


def decode_payload(encoding: str, stored: str) -> bytes:
    return base64.b64decode(stored) if encoding == "base64" else stored.encode("utf-8")


def _one_line(text: str, limit: int) -> str:
    flat = " ".join(text.split())
    flat = flat.encode("utf-8", "replace").decode("utf-8")  # no lone surrogates
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


async def keep(db: Database, letter: Letter) -> None:
    encoding, stored = encode_payload(letter.payload)
    at = letter.received_at
    async with db.write() as session:
        stmt = insert_for(session, DeadLetter).values(
            platform=letter.platform[:32],
            source=_one_line(letter.source, _MAX_SOURCE),
            reason=_one_line(letter.reason, _MAX_REASON) or "unreadable",
            encoding=encoding,
            payload=stored,
            size=len(letter.payload),
            digest=hashlib.sha256(letter.payload).hexdigest(),
            received_at=at,
            last_received_at=at,
            deliveries=1,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["platform", "source", "digest"],
            set_={
                "deliveries": DeadLetter.deliveries + 1,
                "last_received_at": stmt.excluded.last_received_at,
            },
        )
        await session.execute(stmt)


async def listing(db: Database, *, limit: int | None = None) -> list[StoredLetter]:
    """Newest first."""
    d = DeadLetter
    stmt = select(d).order_by(d.last_received_at.desc(), d.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    async with db.read() as session:
        rows = list(await session.scalars(stmt))
    return [_letter(r) for r in rows]


def _letter(r: DeadLetter) -> StoredLetter:
    return StoredLetter(
        r.id, r.platform, r.source, r.reason, decode_payload(r.encoding, r.payload), r.size,
        r.received_at, r.last_received_at, r.deliveries,
    )  # fmt: skip


async def count_by_platform(session: AsyncSession) -> dict[str, int]:
    d = DeadLetter
    stmt = select(d.platform, func.count()).group_by(d.platform)
    return {platform: int(n) for platform, n in (await session.execute(stmt)).tuples()}
