"""The keys of a ``platform: email`` source (read by ``adapters/email``), checked once with
a message that says what to write (they arrive as the source's extra keys; the config
loader has already expanded ``${IMAP_PASSWORD}``-style variables).

    support-mail:
      platform: email
      address: support@example.com
      imap: {host: imap.example.com, port: 993, user: support@example.com,
             password: ${IMAP_PASSWORD}, tls: true}
      smtp: {host: smtp.example.com, port: 587, user: support@example.com,
             password: ${SMTP_PASSWORD}, starttls: true}
      folders: [INBOX]
      team_domains: [example.com]
      poll_every: 60s
      backfill: 7d
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from bot.config.models import Config, Source
from bot.domain.durations import parse_duration

KEYS = ("address", "imap", "smtp", "folders", "team_domains", "backfill", "max_size")
_ADDRESS = re.compile(r"^[^@\s<>\"',;]+@[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")
_DOMAIN = re.compile(r"^[A-Za-z0-9.-]+\.[A-Za-z0-9-]+$")
DEFAULT_MAX_SIZE = 25 * 1024 * 1024  # Gmail's and most providers' limit for one mail


class EmailConfigError(ValueError):
    pass


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    user: str
    password: str = field(repr=False)
    tls: bool  # IMAP: implicit TLS (993); SMTP: implicit TLS (465)
    starttls: bool  # upgrade a plain connection (SMTP 587, IMAP 143)


@dataclass(frozen=True)
class EmailSettings:
    address: str
    imap: Server
    smtp: Server | None
    folders: tuple[str, ...]
    team_domains: tuple[str, ...]
    backfill: timedelta
    max_size: int

    @property
    def domain(self) -> str:
        return self.address.rpartition("@")[2]


def _flag(raw: Mapping[str, object], key: str, default: bool, where: str) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise EmailConfigError(f"{where}.{key}: write true or false, not {value!r}")
    return value


def _server(
    raw: object, where: str, address: str, *, port: int, tls: bool, starttls: bool
) -> Server:
    if not isinstance(raw, Mapping):
        raise EmailConfigError(
            f"{where}: write e.g. {where}: {{host: {where}.example.com, "
            f"port: {port}, user: {address}, password: ${{{where.upper()}_PASSWORD}}}}"
        )
    unknown = sorted(set(map(str, raw)) - {"host", "port", "user", "password", "tls", "starttls"})
    if unknown:
        raise EmailConfigError(
            f"{where}: unknown key {unknown[0]!r} "
            "(it takes host, port, user, password, tls, starttls)"
        )
    host = str(raw.get("host") or "").strip()
    if not host or any(c.isspace() for c in host):
        raise EmailConfigError(
            f"{where}.host: write the server's host name, e.g. {where}.example.com"
        )
    implicit = _flag(raw, "tls", tls, where)
    got_port = raw.get("port", port if not implicit or where == "imap" else 465)
    if isinstance(got_port, bool) or not isinstance(got_port, int) or not 0 < got_port < 65536:
        raise EmailConfigError(f"{where}.port: {got_port!r} is not a port number")
    password = raw.get("password")
    if password is not None and not str(password).strip():
        raise EmailConfigError(f"{where}.password: it is empty; export the variable it names")
    return Server(
        host=host,
        port=got_port,
        user=str(raw.get("user") or address),
        password=str(password or ""),
        tls=implicit,
        starttls=_flag(raw, "starttls", starttls and not implicit, where),
    )


def _names(raw: object, key: str, default: tuple[str, ...]) -> tuple[str, ...]:
    if raw is None:
        return default
    if isinstance(raw, str):
        raw = [raw]
    if not isinstance(raw, list | tuple) or not all(isinstance(v, str) and v.strip() for v in raw):
        raise EmailConfigError(
            f"{key}: write a list, e.g. {key}: {list(default) or ['example.com']}"
        )
    return tuple(v.strip() for v in raw)


def settings_of(source: Source) -> EmailSettings:
    """The source's email settings, or ``EmailConfigError`` naming the key and the fix."""
    extra = source.extra
    address = str(extra.get("address") or "").strip().lower()
    if not _ADDRESS.match(address):
        raise EmailConfigError(
            f"address: {address!r} is not an address; write the shared mailbox, e.g. "
            "address: support@example.com"
            if address
            else "address: add address: support@example.com (the shared mailbox)"
        )
    if "imap" not in extra:
        raise EmailConfigError(
            "imap: add imap: {host: …, port: 993, user: …, password: ${IMAP_PASSWORD}}"
        )
    imap = _server(extra["imap"], "imap", address, port=993, tls=True, starttls=False)
    if not imap.tls and imap.port == 993:
        imap = Server(imap.host, 143, imap.user, imap.password, False, imap.starttls)
    smtp = None
    if extra.get("smtp") is not None:
        smtp = _server(extra["smtp"], "smtp", address, port=587, tls=False, starttls=True)
    domains = tuple(
        d.lower().lstrip("@") for d in _names(extra.get("team_domains"), "team_domains", ())
    )
    for d in domains:
        if not _DOMAIN.match(d):
            raise EmailConfigError(f"team_domains: {d!r} is not a domain (write e.g. example.com)")
    try:
        backfill = parse_duration(str(extra.get("backfill", "7d")))
    except ValueError as exc:
        raise EmailConfigError(f"backfill: {exc}") from None
    max_size = extra.get("max_size", DEFAULT_MAX_SIZE)
    if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size < 1024:
        raise EmailConfigError(f"max_size: {max_size!r} is not a size in bytes (≥ 1024)")
    return EmailSettings(
        address=address,
        imap=imap,
        smtp=smtp,
        folders=_names(extra.get("folders"), "folders", ("INBOX",)),
        team_domains=domains,
        backfill=backfill,
        max_size=max_size,
    )


# The registry's hooks (bot/platforms/builtin.py, the ``email`` entry): config validation,
# the startup report, and whether ``notify: email`` can be delivered.


def check(source: Source) -> None:
    """Config validation: the keys checked by the code the adapter reads them with."""
    settings_of(source)


def credentials(source: Source) -> tuple[str, str | None]:
    """What the startup report says of the source's credentials, and a warning or None."""
    imap, smtp = source.extra.get("imap"), source.extra.get("smtp")
    said = (
        "IMAP password set" if isinstance(imap, Mapping) and imap.get("password")
        else "no IMAP password"
    )  # fmt: skip
    if not isinstance(smtp, Mapping):
        return (
            f"{said}, no smtp",
            f"source {source.id}: no smtp: settings, so Reply cannot send mail",
        )
    return f"{said}, SMTP {smtp.get('host')}", None


def notify_check(config: Config) -> str | None:
    """``notify: email`` goes out through an email source's ``smtp:``; None when one has it."""
    if any(s.platform == "email" and s.extra.get("smtp") for s in config.sources.values()):
        return None
    return "no email source has smtp:"
