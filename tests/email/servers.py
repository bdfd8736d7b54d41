"""Real mail servers for the email tests: Debian's Dovecot (IMAP) in a temp dir on a
loopback port with one passwd-file user, and aiosmtpd (SMTP) recording what it is sent.

Dovecot comes from ``make dovecot`` (run by .ci/run). Without it the tests skip and say how
to get it, except under ``CI=true``, where a skip would hide the whole email suite.
"""

from __future__ import annotations

import contextlib
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

DOVECOT = "/usr/sbin/dovecot"
USER, PASSWORD = "support@example.com", "imap-secret"

CONF = """\
base_dir = {root}/run
state_dir = {root}/state
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {root}/dovecot.log
default_internal_user = {internal}
default_login_user = {login}
default_internal_group = {group}
first_valid_uid = 0
mail_location = sdbox:{root}/mail/%u
mail_uid = {uid}
mail_gid = {gid}
imap_max_line_length = 2M
mail_fsync = never
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {root}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={root}/mail/%u
}}
namespace inbox {{
  inbox = yes
  separator = /
  mailbox "Sent Messages" {{
    special_use = \\Sent
    auto = subscribe
  }}
  mailbox Drafts {{
    special_use = \\Drafts
    auto = subscribe
  }}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service stats {{
  unix_listener stats-reader {{
    mode = 0666
  }}
  unix_listener stats-writer {{
    mode = 0666
  }}
}}
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _missing(reason: str) -> None:
    if os.environ.get("CI") == "true":  # CI must run the email suite, not skip it
        pytest.fail(reason)
    pytest.skip(reason)


@dataclass
class Dovecot:
    root: Path
    port: int
    process: subprocess.Popen[bytes]
    user: str = USER
    password: str = PASSWORD

    def client(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.port)
        imap.login(self.user, self.password)
        return imap

    def append(
        self, raw: bytes | EmailMessage, folder: str = "INBOX", at: datetime | None = None
    ) -> None:
        data = raw.as_bytes() if isinstance(raw, EmailMessage) else raw
        stamp = imaplib.Time2Internaldate(at) if at is not None else None
        imap = self.client()
        try:
            kind, detail = imap.append(f'"{folder}"', None, stamp, data)
            assert kind == "OK", detail
        finally:
            imap.logout()

    def wipe(self) -> None:
        """Empty every folder (the server runs for the whole session)."""
        imap = self.client()
        try:
            for folder in ("INBOX", "Sent Messages"):
                _, count = imap.select(f'"{folder}"')
                if count[0] in (b"0", None):
                    continue
                imap.store("1:*", "+FLAGS", "(\\Deleted)")
                imap.expunge()
        finally:
            imap.logout()


def _users() -> tuple[str, str, str, int, int]:
    """(internal user, login user, group, mail uid, gid): root hands dovecot its own users."""
    if os.geteuid() != 0:
        me = pwd.getpwuid(os.geteuid())
        import grp

        return me.pw_name, me.pw_name, grp.getgrgid(me.pw_gid).gr_name, me.pw_uid, me.pw_gid
    internal = pwd.getpwnam("dovecot")
    login = "dovenull" if _has_user("dovenull") else "dovecot"
    import grp

    return "dovecot", login, grp.getgrgid(internal.pw_gid).gr_name, internal.pw_uid, internal.pw_gid


def _has_user(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@contextlib.contextmanager
def dovecot(extra_conf: str = "") -> Iterator[Dovecot]:
    """``extra_conf``: more settings, e.g. ``imap_capability`` for a server without IDLE."""
    if not Path(DOVECOT).exists():
        _missing(
            f"{DOVECOT} is missing: run `make dovecot` as root (apt-get install "
            "--no-install-recommends dovecot-imapd) for the email tests"
        )
    root = Path(tempfile.mkdtemp(prefix="nudgebot-dovecot-"))
    root.chmod(0o755)
    internal, login, group, uid, gid = _users()
    for sub in ("run", "state", "mail"):
        (root / sub).mkdir()
        os.chown(root / sub, uid, gid)
    (root / "passwd").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n", encoding="utf-8")
    port = _free_port()
    conf = root / "dovecot.conf"
    conf.write_text(
        CONF.format(
            root=root, port=port, internal=internal, login=login, group=group, uid=uid, gid=gid
        )
        + extra_conf,
        encoding="utf-8",
    )
    with (root / "stdout.log").open("wb") as out:
        process = subprocess.Popen(
            [DOVECOT, "-F", "-c", str(conf)], stdout=out, stderr=subprocess.STDOUT
        )
    try:
        for _ in range(200):  # readiness, not timing: until the listener answers or it died
            if process.poll() is not None:
                logs = [
                    (root / n).read_text(errors="replace")[-3000:]
                    for n in ("stdout.log", "dovecot.log")
                    if (root / n).exists()
                ]
                pytest.fail(f"dovecot exited {process.returncode}:\n" + "\n".join(logs))
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.5):
                break
            time.sleep(0.05)
        else:
            pytest.fail("dovecot never listened on its port")
        yield Dovecot(root, port, process)
    finally:
        process.terminate()
        try:
            process.wait(20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(root, ignore_errors=True)


@dataclass
class Recorder:
    envelopes: list[Envelope] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 OK"


@contextlib.contextmanager
def smtp_server() -> Iterator[tuple[Controller, Recorder]]:
    recorder = Recorder()
    controller = Controller(recorder, hostname="127.0.0.1", port=_free_port())
    controller.start()
    try:
        yield controller, recorder
    finally:
        controller.stop()
