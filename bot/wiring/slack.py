"""Slack from the environment: ``SLACK_BOT_TOKEN`` + ``SLACK_SIGNING_SECRET`` turn it on,
``SLACK_APP_TOKEN`` switches to Socket Mode, ``SLACK_API_URL`` redirects every Web API call."""

from __future__ import annotations

import os
from collections.abc import Mapping

from adapters.slack.names import SlackChannelNames
from adapters.slack.service import DEFAULT_API_URL, SlackService, SlackSettings
from bot.app import Runtime
from bot.domain.ports import Core
from bot.wiring.component import Component


def settings_from_env(env: Mapping[str, str] | None = None) -> SlackSettings | None:
    environ = os.environ if env is None else env
    token = environ.get("SLACK_BOT_TOKEN", "").strip()
    secret = environ.get("SLACK_SIGNING_SECRET", "").strip()
    if not token or not secret:
        return None
    api_url = environ.get("SLACK_API_URL", "").strip() or DEFAULT_API_URL
    return SlackSettings(
        bot_token=token,
        signing_secret=secret,
        app_token=environ.get("SLACK_APP_TOKEN", "").strip() or None,
        api_url=api_url if api_url.endswith("/") else api_url + "/",
    )


def build(
    runtime: Runtime,
    core: Core,
    *,
    env: Mapping[str, str] | None = None,
    settings: SlackSettings | None = None,
) -> Component | None:
    """The Slack component, or None when Slack is not configured."""
    chosen = settings or settings_from_env(env)
    if chosen is None:
        return None
    return component(SlackService(chosen, core, runtime.config, runtime.now))


def component(service: SlackService) -> Component:
    return Component(
        name="slack",
        routes=service.routes,
        messenger=service.messenger,
        replier=service.messenger,
        namer=SlackChannelNames(service.client),
        start=service.start,
        stop=service.stop,
        ready=service.ready,
        catchup=service.catchup,
    )
