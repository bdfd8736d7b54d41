"""README command 1 then command 2: the Makefile copes with a venv made by a plain install,
asks before installing Chromium, streams suite progress; the packaging warns about nothing."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import tomllib
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _plain_venv(tmp_path: Path) -> Path:
    """What README command 1 leaves: a venv with `nudgebot` and no dev tools. Its `pip`
    records what it was asked to install instead of installing it."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(sys.executable)
    _tool(venv, "nudgebot")
    (venv / "bin" / "pip").write_text(f'#!/bin/sh\necho "$*" >> {tmp_path}/pip.log\n')
    (venv / "bin" / "pip").chmod(0o755)
    return venv


def _tool(venv: Path, name: str) -> None:
    (venv / "bin" / name).write_text("#!/bin/sh\n")
    (venv / "bin" / name).chmod(0o755)


def _make(target: str, venv: Path, *flags: str) -> str:
    done = subprocess.run(
        ["make", *flags, "--no-print-directory", target, f"VENV={venv}"],
        cwd=REPO, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return done.stdout


def test_install_adds_dev_tools_to_a_venv_made_by_readme_command_1(tmp_path: Path) -> None:
    _make("install", _plain_venv(tmp_path))
    assert "install --quiet -e .[dev]" in (tmp_path / "pip.log").read_text()


def test_install_reinstalls_when_a_dev_tool_went_missing(tmp_path: Path) -> None:
    venv = _plain_venv(tmp_path)
    for tool in ("pytest", "mypy", "lint-imports", "ruff"):
        _tool(venv, tool)
    _make("install", venv)
    (tmp_path / "pip.log").unlink()
    _make("install", venv)  # everything there: nothing to do
    assert not (tmp_path / "pip.log").exists()
    (venv / "bin" / "ruff").unlink()
    _make("install", venv)
    assert ".[dev]" in (tmp_path / "pip.log").read_text()


def test_tests_do_not_install_chromium_unless_asked(tmp_path: Path) -> None:
    venv = _plain_venv(tmp_path)
    plan = _make("unit", venv, "-n")
    assert "apt-get" not in plan and "chromium" not in plan


def test_browser_never_upgrades_installed_packages() -> None:
    makefile = (REPO / "Makefile").read_text()
    recipe = makefile.split("\nbrowser:", 1)[1].split("\n\n", 1)[0]
    install_lines = [ln for ln in recipe.splitlines() if "apt-get install -y" in ln]
    assert install_lines and all("--no-upgrade" in ln for ln in install_lines)
    assert "apt-get install -s" in recipe  # simulates first and refuses upgrades


def test_ci_runs_readme_command_1_then_command_2() -> None:
    script = (REPO / ".ci" / "run").read_text()
    assert script.index("rm -rf .venv") < script.index('bash -c "$first"')
    assert script.index('bash -c "$first"') < script.index('bash -c "$second"')
    assert script.count("rm -rf .venv") == 1
    assert "make browser" in script


def test_suites_stream_progress_with_a_prefix(tmp_path: Path) -> None:
    """A fake pytest that prints two lines, the first long before the second: the runner
    passes each line on (prefixed) as it comes rather than printing logs at the end."""
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "pytest").write_text(
        '#!/bin/sh\necho "line one $NUDGEBOT_TEST_DB"\n'
        'while [ ! -e "$GATE" ]; do sleep 0.05; done\necho "line two"\n'
    )
    (fake / "pytest").chmod(0o755)
    gate = tmp_path / "gate"
    proc = subprocess.Popen(
        [str(REPO / "scripts" / "run-suites"), str(fake)],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "GATE": str(gate)},
    )  # fmt: skip
    assert proc.stdout is not None
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(proc.stdout.readline, "")))
    reader.start()
    first_line = threading.Event()
    for _ in range(200):  # up to 10 s for the first line while both suites hold
        if any("line one" in s for s in seen):
            first_line.set()
            break
        first_line.wait(0.05)
    gate.touch()
    proc.wait(timeout=30)
    reader.join(timeout=5)
    proc.stdout.close()
    assert first_line.is_set(), f"nothing streamed before the suites ended: {seen}"
    assert any(s.startswith(("[sqlite] line one", "[postgresql] line one")) for s in seen)
    rest = "".join(seen)
    assert proc.returncode == 0
    assert "[sqlite] line two" in rest and "[postgresql] finished (exit 0)" in rest


@pytest.mark.parametrize("key", ["license"])
def test_pyproject_uses_the_spdx_license_string(key: str) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    assert isinstance(project[key], str)
