"""Secrets we choose ourselves must be long and random: ``check-config`` and ``init`` refuse
a weaker one. (Platform tokens — Slack's, Telegram's bot token — are not ours to choose.)

"Random" can only be judged roughly: at least ``MIN_LENGTH`` characters, and at least
``MIN_DISTINCT`` different ones, which refuses ``aaaa…``, ``abcabc…`` and words repeated.
``python -c 'import secrets; print(secrets.token_urlsafe(32))'`` always passes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

MIN_LENGTH = 32
MIN_DISTINCT = 12
OURS = ("NUDGEBOT_API_TOKEN", "TELEGRAM_WEBHOOK_SECRET")
FIX = "generate one with: python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def weakness(value: str) -> str | None:
    """Why ``value`` is too weak to be a secret, or None."""
    value = value.strip()
    if len(value) < MIN_LENGTH:
        return f"is {len(value)} characters long; at least {MIN_LENGTH} random ones are needed"
    if len(set(value)) < MIN_DISTINCT:
        return f"repeats a few characters ({len(set(value))} different); it must be random"
    return None


def weak_secrets(
    env: Mapping[str, str], webhook_secrets: Iterable[tuple[str, str]] = ()
) -> list[str]:
    """One message per weak secret: the environment's own (``OURS``, when set) and each
    webhook source's ``secret`` (named by its key path)."""
    found = []
    named = [(name, env[name]) for name in OURS if env.get(name, "").strip()]
    for name, value in [*named, *webhook_secrets]:
        why = weakness(value)
        if why is not None:
            found.append(f"{name} {why} — {FIX}")
    return found
