"""X (Twitter API v2): mentions of the user and the user's own replies, conversations by
``conversation_id``, and replying as the user. See ``poller.XPoller``."""

from adapters.x.poller import XPoller

__all__ = ["XPoller"]
