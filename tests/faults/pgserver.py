"""A PostgreSQL server of the test's own, to stop, restart and kill at will.

The shared server at 127.0.0.1:5432 serves every parallel test run and must never be
restarted; fault tests and the fault benchmark start this one instead: ``initdb`` and
``pg_ctl`` (found with ``pg_config --bindir``) in a temporary directory, on a free port,
trust authentication, Unix socket in the same directory. As root (containers), the server
runs as the ``postgres`` user, since PostgreSQL refuses to run as root.

    with PgServer.create() as pg:
        url = pg.database("nudgebot")          # postgresql+psycopg://postgres@127.0.0.1:PORT/nudgebot
        pg.stop(); ...; pg.start()           # or pg.restart(), pg.kill()
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType

import pytest


def _bindir() -> Path | None:
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
    path = Path(out.stdout.strip())
    return path if (path / "initdb").exists() and (path / "pg_ctl").exists() else None


def unavailable() -> str | None:
    """Why no private server can run here, or None."""
    if _bindir() is None:
        return "initdb/pg_ctl not found (pg_config --bindir)"
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        return "running as root without runuser to drop to the postgres user"
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PgServer:
    def __init__(self, root: Path, port: int) -> None:
        bindir = _bindir()
        assert bindir is not None, unavailable()
        self.bindir = bindir
        self.root = root
        self.data = root / "data"
        self.port = port
        self.log = root / "server.log"

    @classmethod
    def create(cls, port: int | None = None) -> PgServer:
        # Directly under the temp dir: as root the server runs as ``postgres``, which cannot
        # enter pytest's private (0700) temp folders.
        root = Path(tempfile.mkdtemp(prefix="nudgebot-pg-"))
        server = cls(root, port or free_port())
        server._as_owner_dir()
        server._run("initdb", "-D", str(server.data), "-A", "trust", "-U", "postgres",
                    "--no-sync", "-E", "UTF8")  # fmt: skip
        server.start()
        return server

    # -- running -----------------------------------------------------------------------------
    def _as_owner_dir(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.root, user="postgres")

    def _run(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        cmd = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)
        if check and result.returncode != 0:
            raise RuntimeError(f"{tool} failed: {result.stderr or result.stdout}\n{self.tail()}")
        return result

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.log), "-o", options,
                  "-w", "-t", "60", "start")  # fmt: skip

    def stop(self, mode: str = "fast") -> None:
        """``fast`` ends every session (clients see "terminating connection due to
        administrator command"); ``immediate`` is a crash of the server."""
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop",
                  check=False)  # fmt: skip

    def restart(self, mode: str = "fast") -> None:
        self.stop(mode)
        self.start()

    def kill(self) -> None:
        """SIGKILL the postmaster (the children notice and exit): the harshest outage."""
        pidfile = self.data / "postmaster.pid"
        if pidfile.exists():
            os.kill(int(pidfile.read_text().split()[0]), signal.SIGKILL)

    def running(self) -> bool:
        return self._run("pg_ctl", "-D", str(self.data), "status", check=False).returncode == 0

    def tail(self, chars: int = 2000) -> str:
        return self.log.read_text()[-chars:] if self.log.exists() else ""

    # -- databases ---------------------------------------------------------------------------
    @property
    def server_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def database(self, name: str = "nudgebot", *, migrate: bool = True) -> str:
        """Create ``name`` (if new), migrate it, and return its URL."""
        from sqlalchemy import create_engine, text

        from storage.migrate import upgrade

        admin = create_engine(self.server_url, isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                exists = conn.execute(
                    text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}
                ).first()
                if exists is None:
                    conn.execute(text(f'CREATE DATABASE "{name}"'))
        finally:
            admin.dispose()
        url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{name}"
        if migrate:
            upgrade(url)
        return url

    def wait_ready(self, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"PostgreSQL on :{self.port} did not come back\n{self.tail()}")

    def destroy(self) -> None:
        self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PgServer:
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self.destroy()


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PgServer]:
    """A private PostgreSQL for one test module (its own port and data directory)."""
    if (why := unavailable()) is not None:
        pytest.skip(why)
    server = PgServer.create()
    try:
        yield server
    finally:
        server.destroy()
