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

from bot import platforms
from bot.config.errors import closest
from bot.config.models import BUILTIN_POLICY, Config, Policy, Source
from bot.config.sources import source_keys


def messenger_env() -> dict[str, str]:
    """Messengers and their credentials in the environment (DESIGN: "off when unset")."""
    return {p.name: p.messenger_env for p in platforms.all_platforms() if p.messenger_env}


def _options(platform: str) -> tuple[str, ...]:
    """Options the platform's adapter reads besides the source keys (`Source.extra`)."""
    spec = platforms.get(platform)
    return spec.options if spec is not None else ()


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
    spec = platforms.get(source.platform)
    if spec is not None and spec.credentials is not None:  # e.g. email: IMAP and SMTP
        said: tuple[str, str | None] = platforms.load(spec.credentials)(source)
        return said
    variable = messenger_env().get(source.platform)
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
    if source.platform == "discourse":
        return ("api key set" if source.api_key else "no api key (public forum)"), None
    return "none needed", None


def _unknown_options(source: Source) -> list[str]:
    options = _options(source.platform)
    known = source_keys() + options
    found = []
    for key in source.extra:
        if key in options:
            continue
        guess = closest(key, known)
        hint = (
            f"did you mean {guess!r}?"
            if guess
            else f"{source.platform} sources read: " + (", ".join(options) or "no extra options")
        )
        found.append(f"sources.{source.id}.{key}: unknown option, ignored — {hint}")
    return found


def messengers_configured(env: Mapping[str, str]) -> set[str]:
    if env.get("NUDGEBOT_MESSENGER", "").strip():  # console/record stand in for every platform
        return set(messenger_env())
    return {name for name, var in messenger_env().items() if env.get(var, "").strip()}


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
    variables = messenger_env()
    for person in config.team.values():
        where = person.notify
        if where is None:
            keys = " or ".join(f"{p.name}:" for p in platforms.addressable())
            lines.append(f"person {person.id}: nudges go nowhere (no {keys} id)")
            warnings.append(f"team.{person.id}: nudges for {person.name} go nowhere — add {keys}")
            continue
        spec = platforms.get(where)
        if spec is not None and spec.notify_check is not None:  # e.g. email: a source's smtp:
            problem: str | None = platforms.load(spec.notify_check)(config)
        elif where in ready or where not in variables:  # no variable: nothing to check
            problem = None
        else:
            problem = f"{variables[where]} is not set"
        lines.append(
            f"person {person.id}: nudges go to {where}"
            + ("" if problem is None else f" (not configured: {problem})")
        )
        if problem is not None:
            warnings.append(
                f"team.{person.id}: notify is {where} but {problem}; "
                f"nudges for {person.name} will not be delivered"
            )
    return Report(tuple(lines), tuple(warnings))
