"""Fold several deliveries of the same messages into one stored form, as the store would.

The store applies a plain message only if it has none (redelivery changes nothing), an edit
only over an older edit (equal times: the greater text), and a deletion always. Folding a
batch with the same rules lets ingest write a brand-new conversation in one go instead of
writing, reading back and rewriting it; the property tests compare both paths.

The stored form is the ``MessageFact`` state is computed from: ingest writes its rows from
the same records, so an imported message costs one record after parsing, not two.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from bot.domain.events import InboundMessage, Kind, MessageFact

_MESSAGE = Kind.MESSAGE


def stored(m: InboundMessage, text: str | None = None, deleted: bool = False,
           edited_at: datetime | None = None) -> MessageFact:  # fmt: skip
    """``m`` as the store keeps it (with a winning edit's text and time, or deleted)."""
    return MessageFact(m.message_id, m.at, m.is_team, m.author.id, m.person,
                       m.text if text is None else text, deleted, m.author.name, m.url,
                       edited_at)  # fmt: skip


def fold(messages: Sequence[InboundMessage]) -> list[MessageFact]:
    # The common case, and every message of a bulk import: plain messages, each once.
    out: list[MessageFact] = []
    seen: set[str] = set()
    for m in messages:
        if m.kind is not _MESSAGE or m.message_id in seen:
            return _fold(messages)
        seen.add(m.message_id)
        a = m.author
        out.append(MessageFact(m.message_id, m.at, m.is_team, a.id, m.person, m.text, False,
                               a.name, m.url))  # fmt: skip
    return out


def _edit_rank(m: InboundMessage) -> tuple[datetime, str]:
    return (m.edited_at or m.at, m.text)


def _fold(messages: Iterable[InboundMessage]) -> list[MessageFact]:
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
    out: list[MessageFact] = []
    for mid in {**plain, **edits, **deletes}:
        edit = edits.get(mid)
        base = plain.get(mid) or edit or deletes[mid]
        if edit is None:
            out.append(stored(base, deleted=mid in deletes))
        else:
            edited_at = edit.edited_at or edit.at
            out.append(stored(base, edit.text, mid in deletes, edited_at))
    return out
