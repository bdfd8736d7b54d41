"""``python -m bench.email_bench [--db sqlite|postgresql|both] [--messages N]`` (also
``python -m bench --only email``)

Email messages ingested per second from a real IMAP server: Debian's Dovecot, started in a
temp dir on a loopback port exactly as the tests start it (``tests/email/servers.py``), with
10,000 mails in 2,000 threads (a customer's mail and four replies, team replies in the
\\Sent folder, every reply with ``In-Reply-To``/``References``) appended over IMAP first.

Side by side, in one run, over the same mailbox:

- ``raw FETCH``: one imaplib session, ``UID SEARCH`` and ``UID FETCH BODY.PEEK[]`` in pages
  of 200 — the wire and Dovecot, nothing else;
- ``fetch + parse``: the same plus the adapter's parse (MIME, charsets, reply trimming);
- ``nudgebot``: the real poller through ``bot.wiring.polled`` (cursor, threading, the core's
  ingest and recompute) into a fresh database, until the source has caught up.

Nothing here asserts.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from adapters.email.parse import parse
from bench.common import BACKENDS, Table, fresh_database, load, machine, pg_available
from bot.app import Runtime
from bot.config import load_config
from bot.wiring.core import CoreService
from bot.wiring.polled import assemble
from tests.email.servers import Dovecot, dovecot

SOURCE = "support-mail"
PAGE = 200


def _mails(count: int, now: datetime) -> list[tuple[str, bytes]]:
    """(folder, raw) for ``count`` mails: threads of five, alternating customer and team."""
    out = []
    for i in range(count):
        thread, step = divmod(i, 5)
        team = step % 2 == 1
        msg = EmailMessage()
        customer = f"customer{thread % 400}@client{thread % 37}.example"
        msg["From"] = "Bob <bob@example.com>" if team else f"Customer <{customer}>"
        msg["To"] = customer if team else "support@example.com"
        msg["Subject"] = ("Re: " if step else "") + f"Order {thread} does not arrive"
        msg["Date"] = format_datetime(now - timedelta(hours=2) + timedelta(seconds=i))
        msg["Message-ID"] = f"<t{thread}.m{step}@bench.example>"
        if step:
            parents = " ".join(f"<t{thread}.m{s}@bench.example>" for s in range(step))
            msg["In-Reply-To"] = f"<t{thread}.m{step - 1}@bench.example>"
            msg["References"] = parents
        body = f"Message {step} about order {thread}.\nIt is still not here.\n"
        if step:
            body += "\nOn Mon, someone wrote:\n> " + "earlier text\n> " * 6
        msg.set_content(body + "\n-- \nSent from my phone\n")
        out.append(("Sent Messages" if team else "INBOX", msg.as_bytes()))
    return out


def fill(server: Dovecot, count: int, now: datetime) -> None:
    imap = server.client()
    try:
        for folder, raw in _mails(count, now):
            kind, _ = imap.append(f'"{folder}"', None, None, raw)
            assert kind == "OK"
    finally:
        imap.logout()


def raw_fetch(server: Dovecot, *, parsing: bool) -> tuple[float, int]:
    started = time.perf_counter()
    imap = server.client()
    n = 0
    try:
        for folder in ("INBOX", "Sent Messages"):
            imap.select(f'"{folder}"', readonly=True)
            _, data = imap.uid("SEARCH", "ALL")
            uids = data[0].split() if data and data[0] else []
            for i in range(0, len(uids), PAGE):
                _, rows = imap.uid(
                    "FETCH", b",".join(uids[i : i + PAGE]).decode(), "(UID BODY.PEEK[])"
                )
                for row in rows:
                    if isinstance(row, tuple):
                        n += 1
                        if parsing:
                            parse(row[1], fallback_id=str(n))
    finally:
        imap.logout()
    return time.perf_counter() - started, n


def config_text(server: Dovecot) -> str:
    return (
        "timezone: UTC\nteam:\n  alice: {name: Alice, slack: U0ALICE01, owner: true}\n"
        "policies:\n  standard: {reply_within: 15m}\nsources:\n"
        f"  {SOURCE}:\n    platform: email\n    policy: standard\n"
        "    address: support@example.com\n"
        f"    imap: {{host: 127.0.0.1, port: {server.port}, user: {server.user}, "
        f"password: {server.password}, tls: false}}\n"
        "    team_domains: [example.com]\n    backfill: 7d\n"
    )


async def nudgebot(server: Dovecot, url: str, folder: Path) -> tuple[float, int]:
    path = folder / "nudgebot.yaml"
    path.write_text(config_text(server), encoding="utf-8")
    runtime = Runtime.from_config(load_config(str(path)), url)
    core = CoreService(runtime)

    async def no_sleep(_delay: float) -> None:
        return None

    polled = assemble(runtime, core, sleep=no_sleep)
    source = polled.sources[SOURCE]
    started = time.perf_counter()
    try:
        for _ in range(10_000):
            await source.step()
            if not source.status.behind or source.status.failures:
                break
        elapsed = time.perf_counter() - started
        if source.status.failures:
            raise RuntimeError(f"poll failed: {source.status.last_error}")
        return elapsed, source.status.stored
    finally:
        for component in polled.components:
            if component.stop is not None:
                await component.stop()
        await runtime.close()


def run(backends: list[str], count: int) -> None:
    print(f"\n== Email: {count:,} mails ingested from Dovecot over IMAP (loopback), "
          "beside raw IMAP FETCH of the same mails ==")  # fmt: skip
    table = Table(("what", "db", "seconds", "mails", "mails/s", "vs raw FETCH"))
    with dovecot() as server:
        t0 = time.perf_counter()
        fill(server, count, datetime.now(UTC))
        print(f"  appended {count:,} mails in {time.perf_counter() - t0:.1f} s (not timed below)")
        raw_s, raw_n = raw_fetch(server, parsing=False)
        table.add("raw FETCH", "-", f"{raw_s:.2f}", raw_n, f"{raw_n / raw_s:,.0f}", "1.00")
        parse_s, parse_n = raw_fetch(server, parsing=True)
        table.add("fetch + parse", "-", f"{parse_s:.2f}", parse_n, f"{parse_n / parse_s:,.0f}",
                  f"{parse_s / raw_s:.2f}×")  # fmt: skip
        for backend in backends:
            before = load()
            with fresh_database(backend) as url, tempfile.TemporaryDirectory() as tmp:
                secs, stored = asyncio.run(nudgebot(server, url, Path(tmp)))
            table.add("nudgebot (poll+ingest)", backend, f"{secs:.2f}", stored,
                      f"{stored / secs:,.0f}", f"{secs / raw_s:.2f}×")  # fmt: skip
            print(f"  {backend}: load before {before}, after {load()}")
    print(table.render())


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.email_bench")
    parser.add_argument("--db", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--messages", type=int, default=10_000)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    wanted = list(BACKENDS) if args.db == "both" else [args.db]
    if "postgresql" in wanted and (why := pg_available()):
        print(f"PostgreSQL skipped: {why}")
        wanted.remove("postgresql")
    run(wanted, args.messages)


if __name__ == "__main__":
    main()
