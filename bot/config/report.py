"""The startup report, the same in `check-config` and at `run`: per source its platform,
credentials and policy; per person where nudges go. Setups that would silently do nothing
(no credentials, a messenger nobody configured, a misspelled option, no config file) are
warnings, which ``--strict`` turns into errors."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bot.config.errors import closest
from bot.config.models import BUILTIN_POLICY, Config, Policy, Source
from bot.config.sources import SOURCE_KEYS

# Messengers and their credentials in the environment (DESIGN: "off when unset").
MESSENGER_ENV = {"slack": "SLACK_BOT_TOKEN", "telegram": "TELEGRAM_BOT_TOKEN"}
# Options each platform's adapter reads besides SOURCE_KEYS (kept in `Source.extra`).
PLATFORM_OPTIONS: Mapping[str, tuple[str, ...]] = {
    "slack": ("reactions",),
    "telegram": ("private_chats",),
    "github": ("pull_requests", "backfill", "discussions", "maintainers"),
    "mastodon": ("account_id",),
    "x": ("web_url", "user_id"),
    "email": ("address", "imap", "smtp", "folders", "team_domains", "backfill", "max_size"),
}


@dataclass(frozen=True)
class Report:
    lines: tuple[str, ...]
    warnings: tuple[str, ...]


def _span(value: timedelta) -> str:
    hours, rest = divmod(int(value.total_seconds()), 3600)
    return f"{hours}h" + (f"{rest // 60}m" if rest else "") if hours else f"{rest // 60}m"


def describe_policy(policy: Policy) -> str:
    parts = [f"reply within {_span(policy.reply_within)}"]
    parts.append("24/7" if policy.business_hours is None else f"business hours {policy.timezone}")
    parts.append(f"remind every {_span(policy.remind_every)}" if policy.remind_every else "")
    parts.append(
        f"escalate after {_span(policy.escalate_after)}" if policy.escalate_after
        else "no escalation"
    )  # fmt: skip
    return ", ".join(p for p in parts if p)


def _credentials(source: Source, env: Mapping[str, str]) -> tuple[str, str | None]:
    """(what the report says, a warning or None)."""
    variable = MESSENGER_ENV.get(source.platform)
    if variable is not None:
        if env.get(variable, "").strip():
            return f"{variable} set", None
        return f"{variable} not set", (
            f"source {source.id}: {source.platform} has no credentials ({variable} is not set); "
            f"nothing from it will be seen — export {variable}"
        )
    if source.platform in ("webhook",):
        return "secret set", None
    if source.platform in ("mastodon", "x"):
        return "token set", None
    if source.platform == "github":
        return ("token set" if source.token else "no token (public API, 60 requests/h)"), None
    if source.platform == "email":
        imap, smtp = source.extra.get("imap"), source.extra.get("smtp")
        said = (
            "IMAP password set"
            if isinstance(imap, Mapping) and imap.get("password")
            else "no IMAP password"
        )
        if not isinstance(smtp, Mapping):
            return (
                f"{said}, no smtp",
                f"source {source.id}: no smtp: settings, so Reply cannot send mail",
            )
        return f"{said}, SMTP {smtp.get('host')}", None
    if source.platform == "discourse":
        return ("api key set" if source.api_key else "no api key (public forum)"), None
    return "none needed", None


def _unknown_options(source: Source) -> list[str]:
    known = tuple(SOURCE_KEYS) + PLATFORM_OPTIONS.get(source.platform, ())
    found = []
    for key in source.extra:
        if key in PLATFORM_OPTIONS.get(source.platform, ()):
            continue
        guess = closest(key, known)
        hint = (
            f"did you mean {guess!r}?"
            if guess
            else f"{source.platform} sources read: "
            + (", ".join(PLATFORM_OPTIONS.get(source.platform, ())) or "no extra options")
        )
        found.append(f"sources.{source.id}.{key}: unknown option, ignored — {hint}")
    return found


def messengers_configured(env: Mapping[str, str]) -> set[str]:
    if env.get("NUDGEBOT_MESSENGER", "").strip():  # console/record stand in for every platform
        return set(MESSENGER_ENV)
    return {name for name, var in MESSENGER_ENV.items() if env.get(var, "").strip()}


def startup_report(
    config: Config, config_path: Path | str, env: Mapping[str, str] | None = None
) -> Report:
    env = os.environ if env is None else env
    lines: list[str] = []
    warnings: list[str] = []
    if config.path is None:
        warnings.append(
            f"{config_path} does not exist: running on the built-in empty config (no team, no "
            "sources); write one with `nudgebot init` or point --config at yours"
        )
    for source in config.sources.values():
        said, warning = _credentials(source, env)
        policy = config.policy_for(source.id)
        if policy is BUILTIN_POLICY:
            named = f"built-in default ({describe_policy(policy)})"
        elif policy is not None:
            named = f"{policy.id} ({describe_policy(policy)})"
        else:
            named = "none"
        lines.append(f"source {source.id}: {source.platform}, credentials: {said}, policy {named}")
        if warning:
            warnings.append(warning)
        warnings.extend(_unknown_options(source))
    ready = messengers_configured(env)
    for person in config.team.values():
        where = person.notify
        if where is None:
            lines.append(f"person {person.id}: nudges go nowhere (no slack: or telegram: id)")
            warnings.append(
                f"team.{person.id}: nudges for {person.name} go nowhere — add slack: or telegram:"
            )
            continue
        if where == "email":
            smtp = any(
                s.platform == "email" and s.extra.get("smtp") for s in config.sources.values()
            )
            missing = "" if smtp else " (not configured: no email source with smtp:)"
            lines.append(f"person {person.id}: nudges go to email {person.email}{missing}")
            if not smtp:
                warnings.append(
                    f"team.{person.id}: notify is email but no email source has smtp:; "
                    f"nudges for {person.name} will not be delivered"
                )
            continue
        ok = where in ready
        lines.append(
            f"person {person.id}: nudges go to {where}"
            + ("" if ok else f" (not configured: {MESSENGER_ENV[where]} is not set)")
        )
        if not ok:
            warnings.append(
                f"team.{person.id}: notify is {where} but {MESSENGER_ENV[where]} is not set; "
                f"nudges for {person.name} will not be delivered"
            )
    return Report(tuple(lines), tuple(warnings))
