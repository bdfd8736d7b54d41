"""``policies:`` — how fast a reply is due, on which clock, and who hears about misses."""

from __future__ import annotations

from collections.abc import Collection
from functools import cache
from typing import TYPE_CHECKING

from bot.config import fields
from bot.config.errors import Issues, child, closest
from bot.config.models import Escalation, Policy

POLICY_KEYS = (
    "reply_within", "business_hours", "timezone", "holidays", "remind_every", "escalate_after",
    "escalate_to",
)  # fmt: skip
if TYPE_CHECKING:
    from types import ModuleType


def _package() -> ModuleType:
    # Loaded only for a policy with `holidays:` (a tenth of a second): the read-only commands
    # load the config on every start.
    import holidays

    return holidays


_ESCALATE_FIX = "write owner, rotation:NAME, person:ID or slack-channel:CHANNEL_ID"


@cache
def _supported() -> dict[str, tuple[str, ...]]:
    return {
        country.upper(): tuple(subdivisions)
        for country, subdivisions in _package().list_supported_countries().items()
    }


def _holidays_exist(country: str, subdivision: str | None) -> bool:
    try:
        _package().country_holidays(country, subdiv=subdivision)
    except Exception:  # the package raises assorted errors for codes it lacks
        return False
    return True


def _holidays(e: fields.Entry) -> str | None:
    code = e.text("holidays", "DE or DE-BE")
    if code is None:
        return None
    country, _, subdivision = code.partition("-")
    country = country.strip().upper()
    subdivisions = _supported().get(country)
    if subdivisions is None:
        guess = closest(country, _supported())
        hint = f"did you mean {guess}? " if guess else ""
        e.issues.add(
            e.at("holidays"),
            f"no holidays known for country {country!r}",
            f"{hint}Use an ISO country code such as DE, FR or US",
        )
        return None
    canonical: str | None = None
    if subdivision:
        folded = {s.lower(): s for s in subdivisions}
        canonical = folded.get(subdivision.strip().lower())
        if canonical is None:
            shown = ", ".join(subdivisions[:30]) + (" …" if len(subdivisions) > 30 else "")
            e.issues.add(
                e.at("holidays"),
                f"{country} has no subdivision {subdivision!r}",
                f"use one of: {shown}" if shown else f"write just {country}",
            )
            return None
    if not _holidays_exist(country, canonical):
        e.issues.add(
            e.at("holidays"),
            f"the holidays package cannot load {code!r}",
            "use a country code such as DE, or a subdivision such as DE-BE",
        )
        return None
    return f"{country}-{canonical}" if canonical else country


def _escalate_to(
    e: fields.Entry, *, team: Collection[str], owners: Collection[str], rotations: Collection[str]
) -> Escalation | None:
    got = e.text("escalate_to", "owner")
    if got is None:
        return None
    kind, sep, target = (part.strip() for part in got.partition(":"))
    path = e.at("escalate_to")
    if got == "owner":
        if not owners:
            e.issues.add(
                path,
                "escalate_to: owner but no team member has owner: true",
                "set owner: true on someone under team:, or escalate to person:ID",
            )
            return None
        return Escalation("owner")
    if kind == "rotation" and sep:
        found = fields.reference(
            e.issues,
            path,
            target,
            kind="rotation",
            known=rotations,
            section="rotations",
            fix_else="escalate elsewhere",
        )
        return Escalation("rotation", found) if found else None
    if kind == "person" and sep:
        found = fields.reference(
            e.issues,
            path,
            target,
            kind="person",
            known=team,
            section="team",
            fix_else="escalate elsewhere",
        )
        return Escalation("person", found) if found else None
    if kind == "slack-channel" and sep and target and not any(c.isspace() for c in target):
        return Escalation("slack-channel", target)
    e.issues.add(path, f"{got!r} is not an escalation target", _ESCALATE_FIX)
    return None


def parse_policy(
    issues: Issues,
    path: str,
    policy_id: str,
    raw: object,
    *,
    default_tz: str,
    team: Collection[str],
    owners: Collection[str],
    rotations: Collection[str],
) -> Policy | None:
    body = fields.mapping(issues, path, raw, "{reply_within: 15m}")
    if body is None:
        return None
    mark = issues.count
    e = fields.Entry(issues, path, body, POLICY_KEYS)
    e.require("reply_within", "add e.g. reply_within: 15m (when the first nudge goes out)")
    reply_within = e.duration("reply_within")
    business_hours = e.hours("business_hours")
    tz = e.zone("timezone")
    holidays = _holidays(e)
    remind_every = e.duration("remind_every")
    escalate_after = e.duration("escalate_after", positive=False)
    escalate_to = _escalate_to(e, team=team, owners=owners, rotations=rotations)
    if e.has("escalate_after") and not e.has("escalate_to"):
        issues.add(
            e.at("escalate_to"),
            "escalate_after is set but not who to escalate to",
            f"add escalate_to: ({_ESCALATE_FIX})",
        )
    if issues.count != mark or reply_within is None:
        return None
    return Policy(
        id=policy_id,
        reply_within=reply_within,
        business_hours=business_hours,
        timezone=tz or default_tz,
        holidays=holidays,
        remind_every=remind_every,
        escalate_after=escalate_after,
        escalate_to=escalate_to,
    )


def parse_policies(
    issues: Issues,
    raw: object,
    *,
    default_tz: str,
    team: Collection[str],
    owners: Collection[str],
    rotations: Collection[str],
) -> dict[str, Policy]:
    body = fields.mapping(issues, "policies", raw, "policies: {standard: {reply_within: 15m}}")
    out: dict[str, Policy] = {}
    for key, value in (body or {}).items():
        policy_id = fields.entry_id(issues, "policies", key, "policy")
        if policy_id is None:
            continue
        policy = parse_policy(
            issues,
            child("policies", policy_id),
            policy_id,
            value,
            default_tz=default_tz,
            team=team,
            owners=owners,
            rotations=rotations,
        )
        if policy is not None:
            out[policy_id] = policy
    return out
