"""Nothing secret reaches a log, and nothing from outside forges or floods one.

``install()`` puts ``RedactingFilter`` on every handler of the root logger, so it sees every
record whatever logger wrote it (ours, httpx, Bolt, python-telegram-bot, uvicorn). The filter

- redacts Telegram bot tokens, Slack ``xox…``/``xapp-…`` tokens, passwords in URLs,
  ``Authorization`` values, secret-looking query parameters, and every secret the process
  was given (``register``: environment variables named like tokens, config secrets);
- replaces the body of Bolt's "Invalid request signature detected" line (it logs the whole
  unverified body at INFO) by its length and a hash;
- escapes newlines and terminal controls, so outside text cannot start a forged log line;
- cuts a message longer than ``MAX_MESSAGE`` characters.

The HTTP client loggers (httpx, httpcore) are set to WARNING: at INFO httpx logs every
request URL, and a Telegram Bot API URL holds the bot token.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from collections.abc import Iterable, Mapping

from bot.domain.untrusted import terminal

MAX_MESSAGE = 4000
REDACTED = "[redacted]"
_MIN_SECRET = 8  # shorter values would redact ordinary words
_SECRET_ENV = re.compile(r"(TOKEN|SECRET|PASSWORD|PASSWD|API_KEY|PRIVATE_KEY)", re.IGNORECASE)
_QUIET = ("httpx", "httpcore", "hpack", "urllib3")

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # Telegram: <bot id>:<35 characters>, also inside /bot<token>/ in API URLs.
    (re.compile(r"(?<![0-9])\d{5,}:[A-Za-z0-9_-]{30,}"), REDACTED),
    # Slack bot/user/app/config tokens.
    (re.compile(r"\bxox[a-z]-[A-Za-z0-9-]{8,}"), REDACTED),
    (re.compile(r"\bxapp-[A-Za-z0-9-]{8,}"), REDACTED),
    # scheme://user:password@host
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@"), rf"\1{REDACTED}@"),
    # Authorization: Bearer …, 'authorization': 'Basic …', X-…-Token headers
    (
        re.compile(
            r"(?i)((?:proxy-)?authorization|x-[a-z-]*(?:token|secret|signature))"
            r"(['\"]?\s*[:=]\s*['\"]?)(?:(bearer|basic|bot|token)\s+)?[^\s'\",}]+"
        ),
        rf"\1\2\3 {REDACTED}",
    ),
    # ?token=… &access_token=… &secret=… &password=… &key=…
    (
        re.compile(
            r"(?i)([?&;](?:access_token|token|secret|password|passwd|api_key|apikey|key|sig)=)"
            r"[^&\s'\"]+"
        ),
        rf"\1{REDACTED}",
    ),
)
_BOLT_BAD_SIGNATURE = re.compile(
    r"^(Invalid request signature detected) \(signature: .*?, timestamp: .*?, body: (.*)\)$",
    re.DOTALL,
)


def _bolt_line(message: str) -> str:
    """Bolt's failed-verification line without the unverified body (length and hash only)."""
    found = _BOLT_BAD_SIGNATURE.match(message)
    if found is None:
        return message
    body = found.group(2).encode("utf-8", "replace")
    digest = hashlib.sha256(body).hexdigest()[:16]
    return f"{found.group(1)} (body: {len(body)} bytes, sha256 {digest}…, not logged)"


class RedactingFilter(logging.Filter):
    def __init__(self, secrets: Iterable[str] = ()) -> None:
        super().__init__()
        self.secrets: set[str] = set()
        self.register(secrets)

    def register(self, secrets: Iterable[str | None]) -> None:
        for secret in secrets:
            if secret and len(secret.strip()) >= _MIN_SECRET:
                self.secrets.add(secret.strip())

    def redact(self, text: str) -> str:
        for secret in sorted(self.secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        for pattern, replacement in _PATTERNS:
            text = pattern.sub(replacement, text)
        return text

    def clean(self, text: str) -> str:
        if len(text) > MAX_MESSAGE:
            text = f"{text[:MAX_MESSAGE]}… ({len(text) - MAX_MESSAGE} more characters not logged)"
        return terminal(self.redact(text))

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "nudgebot_clean", False):  # several handlers share one record
            return True
        record.nudgebot_clean = True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the record (or raise here)
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = self.clean(_bolt_line(message))
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            # Tracebacks keep their lines, each indented, so none can pass for a log line.
            lines = self.redact(record.exc_text).splitlines()
            record.exc_text = "\n".join("  | " + terminal(line) for line in lines)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def secrets_from_env(env: Mapping[str, str]) -> list[str]:
    """Values of variables named like secrets, and the password of ``DATABASE_URL``."""
    found = [v for k, v in env.items() if _SECRET_ENV.search(k)]
    db = re.match(r"^[^:]+://[^:/@]*:([^@/]+)@", env.get("DATABASE_URL", ""))
    if db:
        found.append(db.group(1))
    return found


def config_secrets(sources: Iterable[object], calendars: Iterable[str | None]) -> list[str]:
    """Secrets a config holds: source secrets and tokens, calendar URLs (a "secret address"
    is the whole URL)."""
    found: list[str] = []
    for source in sources:
        for name in ("secret", "token", "api_key", "password", "bearer_token"):
            value = getattr(source, name, None)
            if isinstance(value, str):
                found.append(value)
    found.extend(url for url in calendars if url and "://" in url)
    return found


_installed: RedactingFilter | None = None


def install(secrets: Iterable[str] = (), env: Mapping[str, str] | None = None) -> RedactingFilter:
    """Attach the filter to every root handler (once) and quiet the HTTP client loggers."""
    global _installed
    for name in _QUIET:
        logging.getLogger(name).setLevel(logging.WARNING)
    if _installed is None:
        _installed = RedactingFilter()
    _installed.register(secrets_from_env(os.environ if env is None else env))
    _installed.register(secrets)
    root = logging.getLogger()
    for handler in root.handlers:
        if _installed not in handler.filters:
            handler.addFilter(_installed)
    return _installed


def register(secrets: Iterable[str | None]) -> None:
    """More secrets to redact (config values), once ``install`` ran."""
    if _installed is not None:
        _installed.register(secrets)
