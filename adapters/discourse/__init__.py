"""Discourse: posts in the configured categories (customers: everyone but staff and the
team), and replying as the API user. See ``poller.DiscoursePoller``."""

from adapters.discourse.poller import DiscoursePoller

__all__ = ["DiscoursePoller"]
