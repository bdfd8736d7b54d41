"""Customer-service windows: how long a platform lets us answer a customer freely.

WhatsApp allows a free-form (non-template) message only within 24 hours of the customer's
last message; after that only an approved template may be sent. Which platform has which
window is the registry's (``Platform.reply_window``); these pure functions take the window,
so the ladder, reply-through and every view agree on one rule.
"""

from __future__ import annotations

from datetime import datetime, timedelta


def window_closes_at(
    window: timedelta | None, last_customer_at: datetime | None
) -> datetime | None:
    """When a free-form reply stops being possible; None when the platform has no window
    (``window`` None) or the customer never wrote (then nothing can be answered anyway)."""
    if window is None or last_customer_at is None:
        return None
    return last_customer_at + window


def due_within_window(due: datetime | None, closes: datetime | None) -> datetime | None:
    """The ladder's due time: a window closing before the due time makes the close the due
    time (a reply after it would need a template)."""
    if due is None or closes is None:
        return due
    return min(due, closes)


def window_open(closes: datetime | None, now: datetime) -> bool:
    return closes is None or now < closes


def _span(seconds: int) -> str:
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{days}d {hours}h"
    if hours:
        return f"{hours}h {minutes}m"
    return f"{max(minutes, 1)}m"


def window_span(window: timedelta) -> str:
    """``24 h``, ``30 min``: a window's length in a sentence."""
    minutes = int(window.total_seconds()) // 60
    return f"{minutes // 60} h" if minutes % 60 == 0 else f"{minutes} min"


def describe_window(closes: datetime | None, now: datetime) -> str:
    """One line for a nudge or a listing: "reply within 3h 10m or a template is needed"."""
    if closes is None:
        return ""
    left = int((closes - now).total_seconds())
    if left <= 0:
        return "the reply window has closed: only a template message can reach them"
    return f"reply within {_span(left)} or a template is needed"
