"""``team:`` — the people Nudgebot knows, and how to reach them."""

from __future__ import annotations

import re

from bot.config import fields
from bot.config.errors import Issues, child
from bot.config.interpolate import UNRESOLVED
from bot.config.models import Notify, Person
from bot.config.nudges import parse_overrides

PERSON_KEYS = (
    "name",
    "slack",
    "telegram",
    "timezone",
    "hours",
    "notify",
    "owner",
    "email",
    "github",
    "handles",
    "nudges",
)
_TELEGRAM_ID = re.compile(r"^-?\d+$")
_GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")
_LABEL = {
    "slack": "slack ID",
    "telegram": "telegram ID",
    "github": "GitHub login",
    "email": "email",
}


def _telegram(e: fields.Entry) -> str | None:
    value = e.get("telegram")
    if value is None or value is UNRESOLVED:
        return None
    raw = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if _TELEGRAM_ID.match(raw):
        return raw
    e.issues.add(
        e.at("telegram"),
        f"{fields.describe(value)} is not a Telegram user ID",
        "use the numeric ID (e.g. 111111111); a bot cannot message @usernames",
    )
    return None


def _notify(
    e: fields.Entry, person: str, slack: str | None, telegram: str | None, email: str | None = None
) -> Notify | None:
    value = e.get("notify")
    if value is None or value is UNRESOLVED:
        return None
    if value == "slack" and slack:
        return "slack"
    if value == "telegram" and telegram:
        return "telegram"
    if value == "email" and email:
        return "email"  # sent through an email source's smtp: (adapters/email/notify.py)
    if value == "slack":
        e.issues.add(
            e.at("notify"),
            f"notify: slack but {person} has no slack ID",
            f"add slack: <Slack user ID, e.g. U0ALICE01> under team.{person}, or notify: telegram",
        )
    elif value == "telegram":
        e.issues.add(
            e.at("notify"),
            f"notify: telegram but {person} has no telegram ID",
            f"add telegram: <numeric Telegram user ID> under team.{person}, or notify: slack",
        )
    elif value == "email":
        e.issues.add(
            e.at("notify"),
            f"notify: email but {person} has no email",
            f"add email: <address, e.g. alice@example.com> under team.{person}",
        )
    else:
        e.issues.add(
            e.at("notify"),
            f"{fields.describe(value)} is not a place to send nudges",
            "write slack, telegram or email",
        )
    return None


def _email(e: fields.Entry) -> str | None:
    got = e.text("email", "alice@example.com")
    if got is None:
        return None
    local, at, domain = got.partition("@")
    if at and local and domain and not any(c.isspace() for c in got):
        return got
    e.issues.add(e.at("email"), f"{got!r} is not an email address", "write e.g. alice@example.com")
    return None


def _github(e: fields.Entry) -> str | None:
    got = e.text("github", "octocat")
    if got is None:
        return None
    if _GITHUB_LOGIN.match(got.lstrip("@")):
        return got.lstrip("@")
    e.issues.add(e.at("github"), f"{got!r} is not a GitHub login", "write the login, e.g. octocat")
    return None


def parse_person(
    issues: Issues, path: str, person_id: str, raw: object, default_tz: str
) -> Person | None:
    body = fields.mapping(issues, path, raw, "{name: Alice, slack: U0ALICE01}")
    if body is None:
        return None
    mark = issues.count
    e = fields.Entry(issues, path, body, PERSON_KEYS)
    name = e.text("name", "Alice Liddell")
    slack = e.text("slack", "U0ALICE01") or None
    telegram = _telegram(e)
    tz = e.zone("timezone")
    hours = e.hours("hours")
    owner = e.flag("owner")
    email = _email(e)
    github = _github(e)
    handles = e.text_list("handles", "[alice@mastodon.social]")
    nudges = parse_overrides(issues, e.at("nudges"), e.get("nudges")) if e.has("nudges") else None
    notify = _notify(e, person_id, slack, telegram, email)
    if issues.count != mark:
        return None
    return Person(
        id=person_id,
        name=name or person_id,
        slack=slack,
        telegram=telegram,
        timezone=tz or default_tz,
        hours=hours,
        notify=notify,
        owner=bool(owner),
        email=email,
        github=github,
        handles=handles or (),
        nudges=nudges,
    )


def _check_identities(issues: Issues, team: dict[str, Person]) -> None:
    """Two people sharing one identity would make every message from it ambiguous."""
    seen: dict[tuple[str, str], str] = {}
    for person in team.values():
        pairs = {
            "slack": person.slack,
            "telegram": person.telegram,
            "github": person.github.lower() if person.github else None,
            "email": person.email.lower() if person.email else None,
        }
        for kind, value in pairs.items():
            if value is None:
                continue
            other = seen.setdefault((kind, value), person.id)
            if other != person.id:
                issues.add(
                    child(child("team", person.id), kind),
                    f"{_LABEL[kind]} {value} also belongs to {other}",
                    "give each person their own ID, or merge the two entries",
                )


def parse_team(issues: Issues, raw: object, default_tz: str) -> dict[str, Person]:
    body = fields.mapping(issues, "team", raw, "team: {alice: {name: Alice, slack: U0ALICE01}}")
    team: dict[str, Person] = {}
    for key, value in (body or {}).items():
        person_id = fields.entry_id(issues, "team", key, "person")
        if person_id is None:
            continue
        person = parse_person(issues, child("team", person_id), person_id, value, default_tz)
        if person is not None:
            team[person_id] = person
    _check_identities(issues, team)
    return team
