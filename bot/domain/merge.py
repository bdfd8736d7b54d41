"""Fold several deliveries of the same messages into one stored form, as the store would.

The store applies a plain message only if it has none (redelivery changes nothing), an edit
only over an older edit (equal times: the greater text), and a deletion always. Folding a
batch with the same rules lets ingest write a brand-new conversation in one go instead of
writing, reading back and rewriting it; the property tests compare both paths.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime

from bot.domain.events import InboundMessage, Kind


@dataclass(frozen=True)
class Stored:
    message: InboundMessage  # author, time, text (after the winning edit), …
    deleted: bool
    edited_at: datetime | None


def _edit_rank(m: InboundMessage) -> tuple[datetime, str]:
    return (m.edited_at or m.at, m.text)


def fold(messages: Iterable[InboundMessage]) -> list[Stored]:
    plain: dict[str, InboundMessage] = {}
    edits: dict[str, InboundMessage] = {}
    deletes: dict[str, InboundMessage] = {}
    for m in messages:
        if m.kind is Kind.MESSAGE:
            plain.setdefault(m.message_id, m)
        elif m.kind is Kind.EDIT:
            best = edits.get(m.message_id)
            if best is None or _edit_rank(m) > _edit_rank(best):
                edits[m.message_id] = m
        else:
            deletes.setdefault(m.message_id, m)
    out: list[Stored] = []
    for mid in {**plain, **edits, **deletes}:
        edit = edits.get(mid)
        base = plain.get(mid) or edit or deletes[mid]
        edited_at = None
        if edit is not None:
            edited_at = edit.edited_at or edit.at
            base = replace(base, text=edit.text)
        out.append(Stored(base, mid in deletes, edited_at))
    return out
