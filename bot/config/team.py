"""``team:`` — the people Nudgebot knows, and how to reach them."""

from __future__ import annotations

import re

from bot import platforms
from bot.config import fields
from bot.config.errors import Issues, child
from bot.config.interpolate import UNRESOLVED
from bot.config.models import Notify, Person
from bot.config.nudges import parse_overrides

# A member's keys; each nudging platform's address key is added from the registry (person_keys).
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
_GITHUB_LOGIN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,38}$")
_LABEL = {"github": "GitHub login", "email": "email"}


def person_keys() -> tuple[str, ...]:
    """Every key a member may carry: PERSON_KEYS and each nudging platform's address key."""
    return tuple(dict.fromkeys((*PERSON_KEYS, *(p.name for p in platforms.addressable()))))


def _label(kind: str) -> str:
    spec = platforms.get(kind)
    return spec.address.label if spec is not None and spec.address is not None else _LABEL[kind]


def _address(e: fields.Entry, key: str, spec: platforms.PersonAddress) -> str | None:
    if spec.pattern is None:
        return e.text(key, spec.example) or None
    value = e.get(key)
    if value is None or value is UNRESOLVED:
        return None
    raw = str(value).strip() if isinstance(value, int | str) and not isinstance(value, bool) else ""
    if spec.pattern.match(raw):
        return raw
    e.issues.add(e.at(key), f"{fields.describe(value)} {spec.invalid}", spec.invalid_fix)
    return None


def _addresses(e: fields.Entry) -> dict[str, str]:
    found = {}
    for platform in platforms.addressable():
        assert platform.address is not None
        if (got := _address(e, platform.name, platform.address)) is not None:
            found[platform.name] = got
    return found


def _notify(e: fields.Entry, person: str, addresses: dict[str, str]) -> Notify | None:
    value = e.get("notify")
    if value is None or value is UNRESOLVED:
        return None
    if isinstance(value, str) and addresses.get(value):
        return value
    places = [p for p in platforms.addressable() if p.address is not None]
    chosen = next((p for p in places if p.name == value), None)
    if chosen is not None and chosen.address is not None:
        others = " or ".join(f"notify: {p.name}" for p in places if p is not chosen)
        e.issues.add(
            e.at("notify"),
            f"notify: {chosen.name} but {person} has no {chosen.address.label}",
            f"add {chosen.name}: <{chosen.address.placeholder}> under team.{person}"
            + (f", or {others}" if others else ""),
        )
    else:
        e.issues.add(
            e.at("notify"),
            f"{fields.describe(value)} is not a place to send nudges",
            f"write {' or '.join(p.name for p in places)}",
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
    e = fields.Entry(issues, path, body, person_keys())
    name = e.text("name", "Alice Liddell")
    addresses = _addresses(e)
    tz = e.zone("timezone")
    hours = e.hours("hours")
    owner = e.flag("owner")
    email = _email(e)
    github = _github(e)
    handles = e.text_list("handles", "[alice@mastodon.social]")
    nudges = parse_overrides(issues, e.at("nudges"), e.get("nudges")) if e.has("nudges") else None
    notify = _notify(e, person_id, addresses)
    if issues.count != mark:
        return None
    return Person(
        id=person_id,
        name=name or person_id,
        addresses=addresses,
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
            **person.addresses,
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
                    f"{_label(kind)} {value} also belongs to {other}",
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
