"""``sources:`` — the places customers talk, and who answers there."""

from __future__ import annotations

import re
from collections.abc import Collection

from bot import platforms
from bot.config import fields
from bot.config.errors import Issues, child, closest, item
from bot.config.models import Platform, Source

# Keys that are `Source` fields; a platform's own keys beyond these land in `Source.extra`.
SOURCE_KEYS = (
    "platform", "owner", "rotation", "policy", "channels", "chats", "customers", "secret",
    "instance", "token", "poll_every", "url", "api_key", "api_username", "categories", "repo",
    "api_url", "backfill", "reconcile_every", "phone_number_id",
)  # fmt: skip
# Keys every platform's sources take.
COMMON_KEYS = ("platform", "owner", "rotation", "policy", "customers")
CUSTOMERS = ("everyone-else", "external")
DEFAULT_POLICY = "default"
_DIGITS = re.compile(r"^\d{1,32}$")


def source_keys() -> tuple[str, ...]:
    """Every key a source may carry: the fields, and every registered platform's keys."""
    keys = dict.fromkeys(SOURCE_KEYS)
    for spec in platforms.all_platforms():
        keys.update(dict.fromkeys(spec.source_keys))
    return tuple(keys)


def _owned() -> dict[str, str]:
    """key -> the one platform whose sources may carry it."""
    return {key: p.name for p in platforms.all_platforms() for key in p.own_keys}


_URL = re.compile(r"^https?://[^\s/]+", re.IGNORECASE)
_REPO = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_CHAT = re.compile(r"^(?:-?\d+|@[A-Za-z0-9_]{4,})$")


def _platform(e: fields.Entry) -> Platform | None:
    known = platforms.names()
    if not e.require("platform", f"add platform: one of {', '.join(known)}"):
        return None
    got = e.text("platform", "slack")
    if got is None:
        return None
    if got.lower() in known:
        return got.lower()
    guess = closest(got.lower(), known)
    hint = f"did you mean {guess}? " if guess else ""
    e.issues.add(
        e.at("platform"), f"unknown platform {got!r}", f"{hint}Use one of {', '.join(known)}"
    )
    return None


def _url(e: fields.Entry, key: str, example: str) -> str | None:
    got = e.text(key, example)
    if got is None or _URL.match(got):
        return got
    e.issues.add(e.at(key), f"{got!r} is not an http(s) URL", f"write e.g. {key}: {example}")
    return None


def _channels(e: fields.Entry) -> tuple[str, ...]:
    channels = e.text_list("channels", "[C0CUST001]") or ()
    for i, channel in enumerate(channels):
        if channel.startswith("#") or not channel.isalnum():
            e.issues.add(
                item(e.at("channels"), i),
                f"{channel!r} is not a Slack channel ID",
                "use the channel ID (C…, from the channel's details), not its name",
            )
    return channels


def _chats(e: fields.Entry) -> tuple[str, ...]:
    chats = e.text_list("chats", "[-1001234567890]") or ()
    for i, chat in enumerate(chats):
        if not _CHAT.match(chat):
            e.issues.add(
                item(e.at("chats"), i),
                f"{chat!r} is not a Telegram chat ID",
                "use the numeric chat ID (e.g. -1001234567890) or @channelname",
            )
    return chats


def _checks(e: fields.Entry, spec: platforms.Platform) -> None:
    for key, only in _owned().items():
        if e.has(key) and spec.name != only:
            e.issues.add(
                e.at(key),
                f"{key} is only read by {only} sources",
                f"remove it, or set platform: {only}",
            )
    for key, fix in spec.required.items():
        e.require(key, fix)
    if spec.strict:
        _strict(e, spec)
    for key in ("secret", "token", "api_key"):
        value = e.get(key)
        if isinstance(value, str) and not value.strip():
            e.issues.add(
                e.at(key), f"{key} is empty", f"set {key} (or export the variable it names)"
            )


def _extra(e: fields.Entry, spec: platforms.Platform | None) -> dict[str, object]:
    """Keys the adapter reads itself: unknown ones, and the platform's own keys that are no
    `Source` field. ``backfill`` is checked here for Slack; other platforms' pollers
    (GitHub) read and check their own."""
    extra = dict(e.extra)
    if spec is not None:
        extra.update({k: e.get(k) for k in spec.source_keys if k not in SOURCE_KEYS and e.has(k)})
    if (spec is None or "backfill" not in spec.source_keys) and e.has("backfill"):
        extra["backfill"] = e.get("backfill")
    return extra


def _strict(e: fields.Entry, spec: platforms.Platform) -> None:
    """Strict keys (WhatsApp): a typo next to a number id would otherwise be silently
    ignored."""
    allowed = (*COMMON_KEYS, *spec.source_keys)
    owned = _owned()
    # Keys the entry itself flagged ("did you mean") are not repeated here.
    stray = [k for k in e.raw if k in source_keys() and k not in allowed and k not in owned]
    for key in [*stray, *e.extra]:
        if isinstance(key, str):
            guess = closest(key, allowed)
            fix = (f"did you mean {guess!r}?" if guess
                   else f"a {spec.name} source takes: {', '.join(allowed)}"
                        + (f"; {spec.keys_note}" if spec.keys_note else ""))  # fmt: skip
            e.issues.add(e.at(key), f"unknown key {key!r} for a {spec.name} source", fix)


def _phone_number_id(e: fields.Entry) -> str | None:
    number = e.text("phone_number_id", '"1234567890"')
    if number is not None and not _DIGITS.match(number):
        e.issues.add(
            e.at("phone_number_id"),
            f"{number!r} is not a phone number id",
            "use the numeric Phone number ID from WhatsApp Manager → API Setup, "
            "not the phone number itself",
        )
        return None
    return number


def _hook_check(e: fields.Entry, source: Source, spec: platforms.Platform) -> None:
    """The platform's own check of its keys (``Platform.check``, e.g. email's imap/smtp):
    a ``ValueError("key.sub: problem")`` becomes an issue at ``key``."""
    try:
        platforms.load(spec.check)(source)
    except ValueError as exc:
        key, _, problem = str(exc).partition(": ")
        e.issues.add(
            e.at(key.split(".")[0]), problem or key, f"see the README's {spec.title} section"
        )


def _ref(e: fields.Entry, key: str, kind: str, known: Collection[str], section: str) -> str | None:
    if not e.has(key):
        return None
    return fields.reference(
        e.issues,
        e.at(key),
        e.get(key),
        kind=kind,
        known=known,
        section=section,
        fix_else=f"remove {key} from this source",
    )


def parse_source(
    issues: Issues,
    path: str,
    source_id: str,
    raw: object,
    *,
    team: Collection[str],
    rotations: Collection[str],
    policies: Collection[str],
) -> Source | None:
    body = fields.mapping(issues, path, raw, "{platform: webhook, secret: ${WEBHOOK_SECRET}}")
    if body is None:
        return None
    mark = issues.count
    e = fields.Entry(issues, path, body, source_keys(), extras=True)
    platform = _platform(e)
    spec = platforms.get(platform) if platform is not None else None
    keys: tuple[str, ...] = spec.source_keys if spec is not None else ()
    if spec is not None:
        _checks(e, spec)
    owner = _ref(e, "owner", "person", team, "team")
    rotation = _ref(e, "rotation", "rotation", rotations, "rotations")
    policy = _ref(e, "policy", "policy", policies, "policies")
    if not e.has("policy") and DEFAULT_POLICY in policies:
        policy = DEFAULT_POLICY
    customers = e.text("customers", "everyone-else")
    if customers is not None and customers not in CUSTOMERS:
        issues.add(
            e.at("customers"),
            f"{customers!r} is not a customers setting",
            f"write one of: {', '.join(CUSTOMERS)}",
        )
    source = Source(
        id=source_id,
        platform=platform or "import",
        owner=owner,
        rotation=rotation,
        policy=policy,
        channels=_channels(e),
        chats=_chats(e),
        customers=customers,
        secret=e.text("secret", "${WEBHOOK_SECRET}"),
        instance=_url(e, "instance", "https://mastodon.social"),
        token=e.text("token", "${TOKEN}"),
        poll_every=e.duration("poll_every"),
        url=_url(e, "url", "https://forum.example.com"),
        api_key=e.text("api_key", "${DISCOURSE_KEY}"),
        api_username=e.text("api_username", "system"),
        categories=e.text_list("categories", "[support]") or (),
        repo=e.text("repo", "acme/widget"),
        api_url=_url(e, "api_url", "https://api.github.com"),
        backfill=e.duration("backfill") if "backfill" in keys else None,
        reconcile_every=e.duration("reconcile_every") if "reconcile_every" in keys else None,
        phone_number_id=_phone_number_id(e) if "phone_number_id" in keys else None,
        extra={key: fields.freeze(value) for key, value in _extra(e, spec).items()},
    )
    if spec is not None and spec.check is not None and issues.count == mark:
        _hook_check(e, source, spec)
    if source.reconcile_every is not None and source.reconcile_every.total_seconds() < 60:
        issues.add(
            e.at("reconcile_every"),
            "reconcile_every is shorter than a minute",
            "write 1m or more (each round reads history of every channel: Slack allows "
            "about 50 such calls a minute)",
        )
    if source.repo is not None and not _REPO.match(source.repo):
        issues.add(
            e.at("repo"),
            f"{source.repo!r} is not a repository",
            "write owner/name, e.g. acme/widget",
        )
    return source if issues.count == mark and platform is not None else None


def parse_sources(
    issues: Issues,
    raw: object,
    *,
    team: Collection[str],
    rotations: Collection[str],
    policies: Collection[str],
) -> dict[str, Source]:
    body = fields.mapping(issues, "sources", raw, "sources: {website: {platform: webhook, …}}")
    out: dict[str, Source] = {}
    for key, value in (body or {}).items():
        source_id = fields.entry_id(issues, "sources", key, "source")
        if source_id is None:
            continue
        source = parse_source(
            issues,
            child("sources", source_id),
            source_id,
            value,
            team=team,
            rotations=rotations,
            policies=policies,
        )
        if source is not None:
            out[source_id] = source
    return out
