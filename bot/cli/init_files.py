"""What `nudgebot init` writes: a commented ``nudgebot.yaml``, the Slack app manifest with the
public URL filled in, and an env file with fresh secrets. Pure text; no prompts here."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from importlib import resources

PLACEHOLDER = "https://YOUR-HOST"
DEFAULT_SOURCE_IDS = {
    "webhook": "website",
    "slack": "customers",
    "telegram": "community",
    "email": "support-mail",
    "whatsapp": "whatsapp",
}


@dataclass(frozen=True)
class Mailbox:
    """A ``platform: email`` source: the shared address and its servers (passwords stay in
    .env as ``IMAP_PASSWORD`` / ``SMTP_PASSWORD``)."""

    address: str
    imap_host: str
    smtp_host: str | None  # None: no reply-through
    team_domains: tuple[str, ...]


@dataclass(frozen=True)
class Answers:
    person: str
    name: str
    timezone: str
    slack: str | None
    telegram: str | None
    platform: str  # of the first source: webhook | slack | telegram | email | whatsapp
    source: str
    channel: str | None  # Slack channel ID, Telegram chat ID or WhatsApp phone number ID
    public_url: str | None
    mailbox: Mailbox | None = None  # platform: email

    @property
    def notify(self) -> str | None:
        return "slack" if self.slack else ("telegram" if self.telegram else None)


def _person(a: Answers) -> str:
    lines = [
        f"  {a.person}:",
        f"    name: {_quote(a.name)}",
        f"    slack: {a.slack}                 # Slack user ID (profile → ⋮ → Copy member ID)"
        if a.slack
        else "    # slack: U0XXXXXXX             # Slack user ID (profile → ⋮ → Copy member ID)",
        f"    telegram: {a.telegram}           # numeric Telegram user ID"
        if a.telegram
        else "    # telegram: 111111111          # numeric Telegram user ID (/whoami to the bot)",
    ]
    if a.notify:
        lines.append(
            f"    notify: {a.notify}                  # where nudges reach you: slack | telegram"
        )
    else:
        lines.append("    # notify: slack                # add a slack or telegram ID first: "
                     "without one nobody can be nudged")  # fmt: skip
    lines += [
        "    owner: true                    # gets escalations and the weekly digest",
        "    # hours: Mon-Fri 09:00-17:30   # nudges wait for these unless you are on call",
    ]
    return "\n".join(lines)


def _source(a: Answers) -> str:
    lines = [f"  {a.source}:", f"    platform: {a.platform}"]
    if a.platform == "slack":
        lines.append(
            f"    channels: [{a.channel}]          # customer channels the bot is invited to"
        )
    elif a.platform == "telegram":
        lines.append(f'    chats: ["{a.channel}"]       # group chat IDs (negative numbers)')
    elif a.platform == "whatsapp":
        lines.append(f'    phone_number_id: "{a.channel}"   # WhatsApp Manager → API Setup; '
                     "webhook: GET/POST /whatsapp/webhook")  # fmt: skip
    elif a.mailbox is not None:
        lines += _mailbox(a.mailbox)
    else:
        lines.append("    secret: ${WEBHOOK_SECRET}      # POST /hooks/" + a.source
                     + " signs with HMAC-SHA256 of this")  # fmt: skip
    lines += [f"    owner: {a.person}", "    policy: standard"]
    return "\n".join(lines)


def _mailbox(m: Mailbox) -> list[str]:
    user = m.address
    lines = [
        f"    address: {m.address}      # the shared mailbox; replies go out from here",
        f"    imap: {{host: {m.imap_host}, port: 993, user: {user}, "
        'password: "${IMAP_PASSWORD}", tls: true}',
    ]
    if m.smtp_host:
        lines.append(f"    smtp: {{host: {m.smtp_host}, port: 587, user: {user}, "
                     "password: \"${SMTP_PASSWORD}\", starttls: true}")  # fmt: skip
    else:
        lines.append("    # smtp: {host: smtp.example.com, port: 587, user: …, "
                     "password: \"${SMTP_PASSWORD}\", starttls: true}   # for Reply")  # fmt: skip
    domains = ", ".join(m.team_domains)
    lines += [
        "    folders: [INBOX]                # customer mail; Sent is found by \\Sent itself",
        f"    team_domains: [{domains}]       # senders from these domains are the team",
        "    poll_every: 60s                 # with IMAP IDLE new mail comes at once anyway",
        "    backfill: 7d                    # how far back the first poll reads",
    ]
    return lines


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def render_config(a: Answers) -> str:
    return f"""\
# Nudgebot's config, written by `nudgebot init`. Check it with `nudgebot check-config`.
# Reference: README.md (config), docs/slack.md, docs/telegram.md, docs/polled-sources.md.
# Values may read the environment as ${{NAME}}: keep secrets out of this file.

timezone: {a.timezone:<22} # the default for everybody and every policy below
# closing_words: [thanks, thank you, ok, great, 👍]   # replies that don't reopen a wait

team:
{_person(a)}

# On-call: who answers out of hours and for sources without an owner.
# rotations:
#   support:
#     members: [{a.person}]
#     shift: 1w                     # one turn
#     handoff: Mon 09:00            # when turns change
#     start: 2026-11-02             # first turn starts at the first handoff on/after this
#   # or: ical: https://…/schedule.ics (PagerDuty, Opsgenie, Grafana OnCall, Google Calendar)

policies:
  standard:
    reply_within: 15m               # first nudge when a conversation waited this long
    business_hours: Mon-Fri 09:00-18:00   # the clock only runs inside these; omit for 24/7
    # holidays: DE                  # country (or DE-BE) whose public holidays stop the clock
    remind_every: 30m               # repeat to the responsible person
    escalate_after: 1h              # from the first nudge: then also tell escalate_to
    escalate_to: owner              # owner | rotation:NAME | person:ID | slack-channel:CID

sources:
{_source(a)}
"""


def render_manifest(public_url: str | None) -> str:
    template = (resources.files("bot") / "templates" / "slack-app-manifest.yaml").read_text(
        encoding="utf-8"
    )
    if not public_url:
        return template
    return template.replace(PLACEHOLDER, public_url.rstrip("/"))


def render_env(a: Answers) -> str:
    lines = [
        "# Secrets for Nudgebot, written by `nudgebot init`. Keep this file out of git.",
        "# Load it with `set -a; . ./.env; set +a` (Docker Compose reads it by itself).",
        f"NUDGEBOT_API_TOKEN={secrets.token_urlsafe(32)}",
        f"WEBHOOK_SECRET={secrets.token_urlsafe(32)}",
        f"NUDGEBOT_PUBLIC_URL={a.public_url}"
        if a.public_url
        else "# NUDGEBOT_PUBLIC_URL=https://…",
        "# Slack (https://api.slack.com/apps → your app): Basic Information, OAuth & Permissions",
        "# SLACK_BOT_TOKEN=xoxb-…",
        "# SLACK_SIGNING_SECRET=…",
        "# Telegram (@BotFather)",
        "# TELEGRAM_BOT_TOKEN=123456:ABC…",
        f"TELEGRAM_WEBHOOK_SECRET={secrets.token_urlsafe(32)}",
    ]
    if a.mailbox is not None:  # nudgebot.yaml reads them: check-config says while empty
        lines += ["# Email: the shared mailbox's passwords (app passwords where 2FA is on)",
                  "IMAP_PASSWORD="]  # fmt: skip
        lines += ["SMTP_PASSWORD="] if a.mailbox.smtp_host else ["# SMTP_PASSWORD="]
    lines += [
        "# WhatsApp Cloud API (developers.facebook.com → your app → WhatsApp)",
        "# WHATSAPP_TOKEN=EAAG…             # a system user's token",
        "# WHATSAPP_APP_SECRET=…            # App settings → Basic → App secret",
        f"WHATSAPP_VERIFY_TOKEN={secrets.token_urlsafe(24)}"
        if a.platform == "whatsapp"
        else "# WHATSAPP_VERIFY_TOKEN=…",
        "# WHATSAPP_API_URL=https://graph.facebook.com/v21.0",
    ]
    return "\n".join(lines) + "\n"
