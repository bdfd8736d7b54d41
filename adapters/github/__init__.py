"""GitHub: issues and their comments in ``repo`` (maintainers are the team), discussions when
enabled, closing ends the waiting, and replying as the token's account. See
``poller.GitHubPoller``."""

from adapters.github.poller import GitHubPoller

__all__ = ["GitHubPoller"]
