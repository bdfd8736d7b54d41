"""Mastodon (and API-compatible servers): mentions of the account, the account's own replies,
and replying as the account. See ``poller.MastodonPoller`` and docs/polled-sources.md."""

from adapters.mastodon.poller import MastodonPoller

__all__ = ["MastodonPoller"]
