"""The core's inbox, the one door inbound messages come in by (``bot.inbox.inbox.Inbox``,
built by the composition root; adapters reach it as ``Core.ingest``).

This package module exports what adapters may import (import-linter): the redelivery filter
``RecentIds`` and the group-commit ``InboxBatcher``. The inbox itself (``inbox``, ``store``,
``threads``) writes to storage, which adapters must not reach, even indirectly.
"""

from bot.inbox.batcher import InboxBatcher
from bot.inbox.recent import RecentIds

__all__ = ["InboxBatcher", "RecentIds"]
