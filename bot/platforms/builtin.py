"""The platforms Nudgebot ships with: one entry each. Adding a platform is one folder under
``adapters/``, its wiring module, and one entry here (plus its tests and docs)."""

from __future__ import annotations

import re
from datetime import timedelta

from bot.platforms.spec import Can, PersonAddress, Platform

_INBOUND = frozenset({Can.ROUTE, Can.REPLY, Can.DEAD_LETTERS})
_POLLED = frozenset({Can.POLL, Can.REPLY})

BUILTIN: tuple[Platform, ...] = (
    # Slack and Telegram come first: a member with both addresses and no `notify:` is
    # nudged on Slack (registry order).
    Platform(
        name="slack", title="Slack",
        can=_INBOUND | {Can.CATCH_UP, Can.NUDGE, Can.NAMES},
        source_keys=("channels", "backfill", "reconcile_every"),
        own_keys=("channels", "reconcile_every"), options=("reactions",),
        address=PersonAddress(
            label="slack ID", example="U0ALICE01", placeholder="Slack user ID, e.g. U0ALICE01"
        ),
        messenger_env="SLACK_BOT_TOKEN", wiring="bot.wiring.slack:build",
    ),
    Platform(
        name="telegram", title="Telegram", can=_INBOUND | {Can.NUDGE, Can.NAMES},
        source_keys=("chats",), own_keys=("chats",), options=("private_chats",),
        address=PersonAddress(
            label="telegram ID", example="111111111", placeholder="numeric Telegram user ID",
            pattern=re.compile(r"^-?\d+$"), invalid="is not a Telegram user ID",
            invalid_fix="use the numeric ID (e.g. 111111111); a bot cannot message @usernames",
        ),
        messenger_env="TELEGRAM_BOT_TOKEN", wiring="bot.wiring.telegram:build",
    ),
    # Its route is part of the web app itself (bot.web.hooks): no wiring of its own.
    Platform(
        name="webhook", title="Webhook", can=frozenset({Can.ROUTE, Can.DEAD_LETTERS}),
        source_keys=("secret",),
        required={"secret": "add secret: ${WEBHOOK_SECRET} and export WEBHOOK_SECRET"},
    ),
    Platform(
        name="mastodon", title="Mastodon", can=_POLLED,
        source_keys=("instance", "token", "poll_every"), options=("account_id",),
        required={
            "instance": "add e.g. instance: https://mastodon.social",
            "token": "add token: ${MASTODON_TOKEN} (an access token of the account)",
        },
        poller="adapters.mastodon:MastodonPoller",
    ),
    Platform(
        name="discourse", title="Discourse", can=_POLLED,
        source_keys=("url", "api_key", "api_username", "categories", "poll_every"),
        required={"url": "add e.g. url: https://forum.example.com"},
        poller="adapters.discourse:DiscoursePoller",
    ),
    Platform(
        name="github", title="GitHub", can=_POLLED,
        source_keys=("repo", "token", "api_url", "poll_every"),
        options=("pull_requests", "backfill", "discussions", "maintainers"),
        required={"repo": "add e.g. repo: acme/widget"},
        poller="adapters.github:GitHubPoller",
    ),
    Platform(
        name="x", title="X", can=_POLLED,
        source_keys=("token", "poll_every"), options=("web_url", "user_id"),
        required={"token": "add token: ${X_BEARER_TOKEN}"},
        poller="adapters.x:XPoller",
    ),
    # Credentials come from WHATSAPP_* variables, so a source takes only these keys.
    Platform(
        name="whatsapp", title="WhatsApp", can=frozenset({Can.ROUTE, Can.REPLY}),
        source_keys=("phone_number_id",), own_keys=("phone_number_id",), strict=True,
        keys_note="WHATSAPP_TOKEN etc. are environment variables",
        required={
            "phone_number_id": 'add phone_number_id: "1234567890" (WhatsApp Manager → API Setup)'
        },
        wiring="bot.wiring.whatsapp:build",
        reply_window=timedelta(hours=24),  # Meta's customer-service window
    ),
    # A shared mailbox: IMAP in, SMTP out (adapters/email). Its keys are options, so an
    # `imap:` on another platform's source is warned about, not silently dropped; they are
    # checked by bot/config/email.py, which the adapter reads them with. `email:` is also a
    # member's identity (Person.email, validated there), so the address takes any text;
    # nobody is nudged by mail without `notify: email`.
    Platform(
        name="email", title="Email", can=_POLLED | {Can.NUDGE, Can.DEAD_LETTERS},
        source_keys=("poll_every",),
        options=("address", "imap", "smtp", "folders", "team_domains", "backfill", "max_size"),
        required={
            "address": "add address: support@example.com (the shared mailbox)",
            "imap": "add imap: {host: imap.example.com, password: ${IMAP_PASSWORD}}",
        },
        address=PersonAddress(
            label="email", example="alice@example.com",
            placeholder="address, e.g. alice@example.com",
            pattern=re.compile(r".*", re.DOTALL), default_notify=False,
        ),
        poller="adapters.email:EmailPoller", check="bot.config.email:check",
        credentials="bot.config.email:credentials", notify_check="bot.config.email:notify_check",
    ),
    #
    # `nudgebot import` stores history under this one; it has no adapter at all.
    Platform(name="import", title="Import"),
)  # fmt: skip
