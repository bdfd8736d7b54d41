"""How background work reports a failure: a database that is away (restart, outage, a lock
held too long) is expected and transient — one warning line, no traceback, every time;
anything else is a bug and gets its traceback."""

from __future__ import annotations

import logging

from storage.db import describe_error, is_unavailable


def log_failure(log: logging.Logger, what: str, exc: BaseException) -> None:
    if is_unavailable(exc):
        log.warning("%s: database unavailable (%s)", what, describe_error(exc))
    else:
        log.error("%s", what, exc_info=exc)
