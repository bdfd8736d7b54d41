"""`nudgebot demo` as a visitor runs it: the real command in a subprocess, its terminal output,
its dashboard over HTTP, and Ctrl-C."""

from __future__ import annotations

import asyncio
import html
import io
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from rich.console import Console

from bot.cli.demo import _SCRUB, TOKEN_ENV, banner, prepare
from bot.demo.feed import to_message
from bot.demo.stream import SCRIPT

REPO = Path(__file__).resolve().parents[2]
RUN_SECONDS = 30.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.slow
@pytest.mark.skipif(
    os.environ.get("NUDGEBOT_TEST_DB") == "postgresql",
    reason="the demo always uses its own temporary SQLite; the SQLite run covers it",
)
def test_demo_shows_the_whole_loop_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    port = free_port()
    out_path, err_path = tmp_path / "stdout.txt", tmp_path / "stderr.txt"
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200", "TMPDIR": str(tmp_path)}
    env.pop("NUDGEBOT_CONFIG", None)
    env.pop("DATABASE_URL", None)
    started = time.monotonic()
    with out_path.open("wb") as out, err_path.open("wb") as err:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "demo", "--port", str(port), "--speed", "2",
             "--seed", "7"],
            cwd=REPO, env=env, stdout=out, stderr=err,
        )  # fmt: skip
        try:

            def output() -> str:
                return out_path.read_text(encoding="utf-8", errors="replace")

            wait_for(lambda: "token: " in output(), 20, "the banner with the token")
            token = re.search(r"token: (\S+?)\)", output())
            assert token is not None, output()
            db = re.search(r"DATABASE_URL=sqlite:///(\S+) ", output())
            assert db is not None, output()
            bearer = {"Authorization": f"Bearer {token.group(1)}"}
            base = f"http://127.0.0.1:{port}"

            def healthy() -> bool:
                try:
                    return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
                except httpx.TransportError:
                    return False

            wait_for(healthy, 20, "/healthz")
            waiting: list[dict[str, object]] = []

            def someone_waits() -> bool:
                nonlocal waiting
                got = httpx.get(f"{base}/api/waiting", headers=bearer, timeout=5)
                assert got.status_code == 200, got.text
                waiting = got.json()
                return bool(waiting)

            wait_for(someone_waits, 15, "a waiting conversation in /api/waiting")
            page = httpx.get(f"{base}/", headers=bearer, timeout=5)
            assert page.status_code == 200
            assert html.escape(str(waiting[0]["customer"])) in page.text
            assert httpx.get(f"{base}/api/waiting", timeout=5).status_code == 401

            time.sleep(max(0.0, RUN_SECONDS - (time.monotonic() - started)))
            assert proc.poll() is None, "the demo stopped on its own"
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=20)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    text, errors = out_path.read_text(encoding="utf-8"), err_path.read_text(encoding="utf-8")
    assert proc.returncode == 0, errors
    assert "Traceback" not in errors and "Traceback" not in text, errors
    for platform in ("(webhook)", "(slack)", "(telegram)"):
        assert platform in text  # customers on every platform
    assert "conversation(s) waiting" in text
    assert "waiting for a reply →" in text  # first nudges
    assert "still waiting →" in text  # reminders
    assert "escalated: nobody has answered → alice" in text  # to the owner
    assert "✅ answered by" in text  # nudges updated in place
    assert "demo stopped" in text
    assert not Path(db.group(1)).parent.exists(), "the temporary directory was not removed"


@pytest.mark.skipif(
    os.environ.get("NUDGEBOT_TEST_DB") == "postgresql",
    reason="the demo always uses its own temporary SQLite; the SQLite run covers it",
)
def test_the_printed_waiting_command_reads_the_demo_database(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """The banner's "from another terminal" line, run as printed in a shell."""
    for name in (*_SCRUB, TOKEN_ENV):  # prepare() changes these; put them back afterwards
        monkeypatch.setenv(name, "")
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    setup, runtime = prepare(1.0)
    try:
        customers = [say for say in SCRIPT if say.person is None][:4]
        at = datetime.now(UTC) - timedelta(minutes=1)

        async def feed() -> None:
            try:
                messages = [to_message(s, f"m{n}", at) for n, s in enumerate(customers)]
                await runtime.inbox.ingest_batch(messages)
            finally:
                await runtime.close()

        asyncio.run(feed())
        printed = io.StringIO()
        banner(Console(file=printed, width=80), setup, "127.0.0.1", 8080)
        [command] = [line.strip() for line in printed.getvalue().splitlines() if "waiting" in line
                     and line.strip().startswith("DATABASE_URL=")]  # fmt: skip
        bin_dir = Path(sys.executable).parent
        assert shutil.which("nudgebot", path=str(bin_dir)), "the nudgebot script is not installed"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "NUDGEBOT_CONFIG")}
        env.update(PATH=f"{bin_dir}{os.pathsep}{env.get('PATH', '')}", COLUMNS="200")
        done = subprocess.run(["bash", "-c", command], env=env, capture_output=True, text=True,
                              timeout=60, check=False)  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert "4 waiting, oldest first" in done.stdout, done.stdout
        for say in customers:
            assert say.author.split()[0] in done.stdout
    finally:
        shutil.rmtree(setup.workdir, ignore_errors=True)
