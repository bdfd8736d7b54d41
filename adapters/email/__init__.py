"""A shared support mailbox (``platform: email``): IMAP polling in, SMTP replies out.

A conversation is a mail thread: ``thread`` is the Message-ID of the mail that started it.
See ``poller.EmailPoller`` and the README's "Email" section.
"""

PLATFORM = "email"

from adapters.email.poller import EmailPoller  # noqa: E402  # after PLATFORM, which it reads
from adapters.email.settings import EmailConfigError, settings_of  # noqa: E402

__all__ = ["PLATFORM", "EmailConfigError", "EmailPoller", "settings_of"]
