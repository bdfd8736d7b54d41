"""The core's inbox: what adapters hand inbound events to. For now its group commit
(``InboxBatcher``, shared by Slack and Telegram) and its redelivery filter (``RecentIds``);
adapters may import these public types (import-linter), nothing else of the core's insides.
"""

from bot.inbox.batcher import InboxBatcher
from bot.inbox.recent import RecentIds

__all__ = ["InboxBatcher", "RecentIds"]
