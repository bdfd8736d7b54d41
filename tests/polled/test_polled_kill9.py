"""`kill -9` mid-poll: a real `nudgebot run` process polls Mastodon, Discourse and GitHub (the
local fakes, over real HTTP) and is killed with SIGKILL while a poll request is in flight —
three times, a different platform's request each time, with customers writing while it is
down — more than a page of them, so a lost cursor (a first poll reads the newest page only)
would lose messages. After the last restart every message is stored exactly once: the
cursors in the database survived, nothing was skipped past and nothing was stored twice."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select

from storage.db import sync_url
from storage.models import Conversation, Message, PollCursor
from tests.polled.fake_discourse import API_KEY, FakeDiscourse
from tests.polled.fake_github import REPO, FakeGitHub
from tests.polled.fake_github import TOKEN as GH_TOKEN
from tests.polled.fake_mastodon import TOKEN as MASTODON_TOKEN
from tests.polled.fake_mastodon import FakeMastodon
from tests.polled.fakeserver import FakeServer
from tests.polled.kit import TEAM

WAIT = 60.0  # seconds: a busy shared machine, and `run` imports a lot


def _now() -> datetime:
    return datetime.now(UTC)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class World:
    """The three fakes and what customers wrote there (each text unique)."""

    def __init__(self, mastodon: FakeMastodon, forum: FakeDiscourse, github: FakeGitHub) -> None:
        self.mastodon, self.forum, self.github = mastodon, forum, github
        self.expected: dict[str, list[str]] = {"fediverse": [], "forum": [], "issues": []}
        self.n = 0

    def customers_write(self, mastodon: int = 1, forum: int = 1, github: int = 1) -> None:
        """New threads on each platform, one message each."""
        at = _now() - timedelta(seconds=1)
        for _ in range(mastodon):
            self.n += 1
            text = f"mastodon question {self.n}."
            who = self.mastodon.account(f"cust{self.n}", domain="x.social")
            self.mastodon.mention(who, text, at)
            self.expected["fediverse"].append(text)
        for _ in range(forum):
            self.n += 1
            text = f"forum question {self.n}."
            self.forum.topic(self.forum.user(f"user{self.n}"), f"Help {self.n}", text, at)
            self.expected["forum"].append(text)
        for _ in range(github):
            self.n += 1
            text = f"github question {self.n}."
            self.github.open(f"dev{self.n}", f"Bug {self.n}", text, at)
            self.expected["issues"].append(text)

    def total(self) -> int:
        return sum(len(v) for v in self.expected.values())


@pytest.fixture
def world() -> Iterator[World]:
    # Small forum pages: a cursor lost would leave all but the newest page unread.
    with FakeMastodon(_now) as m, FakeDiscourse(_now, page=5) as d, FakeGitHub(_now) as g:
        yield World(m, d, g)


def _config(tmp_path: Path, world: World) -> Path:
    path = tmp_path / "nudgebot.yaml"
    path.write_text(TEAM + f"""\
  fediverse:
    platform: mastodon
    instance: {world.mastodon.base_url}
    token: {MASTODON_TOKEN}
    poll_every: 1s
    owner: alice
  forum:
    platform: discourse
    url: {world.forum.base_url}
    api_key: {API_KEY}
    api_username: system
    categories: [support]
    poll_every: 1s
    owner: alice
  issues:
    platform: github
    repo: {REPO}
    token: {GH_TOKEN}
    api_url: {world.github.base_url}
    poll_every: 1s
    owner: alice
""", encoding="utf-8")  # fmt: skip
    return path


class Process:
    def __init__(self, db_url: str, config: Path, log: Path) -> None:
        self.env = {
            **os.environ,
            "DATABASE_URL": db_url,
            "NUDGEBOT_CONFIG": str(config),
            "NUDGEBOT_PORT": str(_free_port()),
            "NUDGEBOT_MESSENGER": "console",
        }
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "bot", "run"], env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT)  # fmt: skip

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        assert self.proc.wait(timeout=10) == -signal.SIGKILL

    def alive(self) -> None:
        assert self.proc is not None
        code = self.proc.poll()
        assert code is None, f"nudgebot run exited {code}: {self.log.read_text()[-3000:]}"

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _texts(db_url: str) -> dict[str, list[str]]:
    engine = create_engine(sync_url(db_url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(Message.source, Message.text)).all()
    finally:
        engine.dispose()
    found: dict[str, list[str]] = {}
    for source, text in rows:
        found.setdefault(source, []).append(text)
    return found


def _until(check: Callable[[], bool], proc: Process, what: str) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        proc.alive()
        assert time.monotonic() < deadline, f"{what} within {WAIT}s: {proc.log.read_text()[-3000:]}"
        time.sleep(0.2)


def _matches(got: list[str], expected: list[str]) -> list[int]:
    """For each expected text, in how many stored messages it appears."""
    return [sum(1 for t in got if e in t) for e in expected]


def _stored_once(db_url: str, world: World) -> bool:
    found = _texts(db_url)
    return all(
        min(_matches(found.get(source, []), expected), default=1) >= 1
        for source, expected in world.expected.items()
    )


def test_kill_9_mid_poll_loses_and_repeats_nothing(
    world: World, db_url: str, tmp_path: Path
) -> None:
    process = Process(db_url, _config(tmp_path, world), tmp_path / "run.log")
    world.customers_write()
    process.start()
    try:
        _until(lambda: _stored_once(db_url, world), process, "the first poll stored everything")
        held: list[tuple[FakeServer, str]] = [
            (world.mastodon, r"/api/v1/notifications"),
            (world.forum, r"/posts\.json"),
            (world.github, r"/repos/.*/issues"),
        ]
        for server, path in held:
            world.customers_write()  # new messages the running process is about to read
            server.hold(path)
            assert server.held.wait(WAIT), f"no poll reached {path}"
            process.kill9()  # mid-poll: the request is in flight, unanswered
            server.release()
            # Customers go on writing while it is down: more than one page (Mastodon's is 40,
            # this forum's 5), which a poller without its cursor would not read back.
            world.customers_write(mastodon=45, forum=8, github=2)
            process.start()
            _until(lambda: _stored_once(db_url, world), process, "caught up after kill -9")
        found = _texts(db_url)
        for source, expected in world.expected.items():
            assert _matches(found.get(source, []), expected) == [1] * len(expected), source
        assert sum(len(v) for v in found.values()) == world.total()  # nothing stored twice
        engine = create_engine(sync_url(db_url))
        try:
            with engine.connect() as conn:
                conversations = conn.scalar(select(func.count()).select_from(Conversation))
                cursors = set(conn.scalars(select(PollCursor.source)))
        finally:
            engine.dispose()
        assert conversations == world.total()  # one thread per customer question
        assert {"fediverse", "forum", "issues"} <= cursors
    finally:
        process.stop()
