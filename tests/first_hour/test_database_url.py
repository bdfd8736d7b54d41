"""An unusable DATABASE_URL is named with its fix; the password never shows; postgres:// is
PostgreSQL; no directory is ever created for a SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from storage.db import DatabaseURLError, async_url, connect, redacted, sync_url


def _cli(tmp_path: Path, url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "NUDGEBOT_CONFIG"}
    env["DATABASE_URL"] = url
    return subprocess.run(
        [sys.executable, "-m", "bot", *args], cwd=tmp_path, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_waiting_never_creates_directories(tmp_path: Path) -> None:
    target = tmp_path / "nonexistent" / "dir" / "x.db"
    done = _cli(tmp_path, f"sqlite:///{target}", "waiting")
    assert done.returncode != 0
    assert "does not exist" in done.stderr and "Nobody is waiting" not in done.stdout
    assert not (tmp_path / "nonexistent").exists()


def test_two_slashes_are_told_to_use_three(tmp_path: Path) -> None:
    done = _cli(tmp_path, "sqlite://nudgebot.db", "waiting")
    assert done.returncode != 0
    assert "three slashes" in done.stderr and "sqlite:///nudgebot.db" in done.stderr
    assert "in-memory" not in done.stderr


@pytest.mark.parametrize(
    "url",
    [
        "mysql://nb:s3cr3t-pw@db.example/nb",
        "nb:s3cr3t-pw@db.example/nb",
        "nonsense://nb:s3cr3t-pw@",
    ],
)
def test_errors_never_print_the_password(tmp_path: Path, url: str) -> None:
    done = _cli(tmp_path, url, "waiting")
    assert "s3cr3t-pw" not in done.stdout + done.stderr
    assert done.returncode != 0 and "DATABASE_URL" in done.stderr


def test_postgres_scheme_is_postgresql_with_psycopg() -> None:
    assert async_url("postgres://nb:pw@db.example/nb").drivername == "postgresql+psycopg"
    assert sync_url("postgres://nb@db.example/nb").drivername == "postgresql+psycopg"
    assert sync_url("postgres+psycopg://nb@h/nb").drivername == "postgresql+psycopg"


def test_redacted_keeps_the_user_and_host() -> None:
    assert redacted("postgres://nb:pw@h/db") == "postgres://nb:***@h/db"
    assert redacted("sqlite:///x.db") == "sqlite:///x.db"


def test_connect_refuses_a_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(DatabaseURLError, match="does not exist"):
        connect(f"sqlite:///{tmp_path}/missing/x.db")
