"""A shared support mailbox (``platform: email``): IMAP polling in, SMTP replies out.

A conversation is a mail thread: ``thread`` is the Message-ID of the mail that started it.
See ``poller.EmailPoller`` and the README's "Email" section.
"""

from collections.abc import Mapping

PLATFORM = "email"

from adapters.email.notify import EmailMessenger  # noqa: E402
from adapters.email.poller import EmailPoller  # noqa: E402  # after PLATFORM, which it reads
from bot.config.email import EmailConfigError, settings_of  # noqa: E402


def email_messenger(sources: Mapping[str, object]) -> EmailMessenger | None:
    """``notify: email`` goes out through the first email source with ``smtp:`` (by id)."""
    for _, polled in sorted(sources.items()):
        poller = getattr(polled, "poller", None)
        if isinstance(poller, EmailPoller) and poller.settings.smtp is not None:
            return EmailMessenger(poller.settings)
    return None


__all__ = [
    "PLATFORM",
    "EmailConfigError",
    "EmailMessenger",
    "EmailPoller",
    "email_messenger",
    "settings_of",
]
