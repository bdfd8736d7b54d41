"""The email source's cursor, one JSON text in the database (``bot.services.polling`` saves
it after the mail it covers is stored): ``{folder: [UIDVALIDITY, last UID stored]}``, plus
the subject fallback's ``[[key, thread], …]`` (oldest first) under ``SUBJECTS_KEY``, so a
restart still joins a "Re: …" without any ids to the thread it answers."""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping

from bot.domain.polling import Recent

log = logging.getLogger("nudgebot.email")
SUBJECTS = 5_000  # subject + customer -> thread pairs kept (the most recently written)
SUBJECTS_KEY = "\nsubjects"  # beside the folders' names: no IMAP mailbox name has a newline


def topic(subject: str, customer: str) -> str:
    """The fallback's key: short (it is kept in the cursor), and no customer data in clear."""
    return hashlib.sha256(f"{subject}\n{customer}".encode()).hexdigest()[:24]


def load(cursor: str | None, source: str) -> tuple[dict[str, list[int]], Recent]:
    """The cursor: ``{folder: [UIDVALIDITY, UID]}``, plus ``SUBJECTS_KEY``: the fallback's
    ``[[key, thread], …]``, oldest first. It is saved after the mail it covers is stored, so
    a restart finds every thread the fallback can join."""
    subjects = Recent(SUBJECTS)
    if not cursor:
        return {}, subjects
    try:
        data = json.loads(cursor)
        for key, thread in data.pop(SUBJECTS_KEY, []):
            subjects[str(key)] = str(thread)
        return {str(k): [int(v[0]), int(v[1])] for k, v in data.items()}, subjects
    except (ValueError, TypeError, KeyError, IndexError, AttributeError):
        log.warning("%s: unreadable cursor %r; reading again from the backfill", source, cursor)
        return {}, Recent(SUBJECTS)


def dump(state: Mapping[str, list[int]], subjects: Recent) -> str:
    data: dict[str, object] = dict(state)
    if subjects:
        data[SUBJECTS_KEY] = [[k, v] for k, v in subjects.items()]
    return json.dumps(data, sort_keys=True)
