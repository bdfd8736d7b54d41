"""End to end on real data: the public "Customer Support on Twitter" sample.

The CSV is converted to the import schema by ``scripts/twcs_to_jsonl.py``, loaded with the
real ``nudgebot import`` command into the database under test, and ``nudgebot stats --json``
is compared brand by brand with a plain-Python computation over the same rows
(``tests/reference_twcs.py``), written from DESIGN.md's semantics without project code.

Replies to tweets outside the 5,000 rows: such a tweet starts its own thread (its earlier
context is not in the file). A brand reply there has no customer message before it in its
thread, so it yields no reply time (and, if no customer ever speaks there, it is a
broadcast) — in the product and in the reference alike.

Closing words are turned off (``closing_words: []``) so both sides apply the same rule.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from tests.conftest import REPO, shared_data

CONFIG = """\
closing_words: []
sources:
  twcs:
    platform: import
"""


def _load(name: str, path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _nudgebot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_stats_match_an_independent_computation(db_url: str, tmp_path: Path) -> None:
    csv_path = shared_data("twcs-head5000.csv")
    converter = _load("twcs_to_jsonl", REPO / "scripts" / "twcs_to_jsonl.py")
    reference = _load("reference_twcs", REPO / "tests" / "reference_twcs.py")
    rows = list(converter.convert(csv_path))
    jsonl = tmp_path / "twcs.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    config = tmp_path / "nudgebot.yaml"
    config.write_text(CONFIG, encoding="utf-8")
    env = {**os.environ, "DATABASE_URL": db_url, "NUDGEBOT_CONFIG": str(config)}

    first = _nudgebot("import", str(jsonl), "--source", "twcs", env=env)
    assert first.returncode == 0, first.stderr
    assert "5000 new" in first.stdout
    again = _nudgebot("import", str(jsonl), "--source", "twcs", env=env)
    assert again.returncode == 0, again.stderr
    assert "0 new" in again.stdout  # re-importing the same file changes nothing

    result = _nudgebot("stats", "--since", "2000-01-01", "--json", env=env)
    assert result.returncode == 0, result.stderr
    stats = json.loads(result.stdout)

    expected_median = reference.median_reply_seconds_by_author(rows)
    expected_count = reference.reply_counts_by_author(rows)
    by_person = stats["by_person"]
    brands = {b for b, n in expected_count.items() if n > 0}
    assert len(brands) > 20
    for brand in sorted(brands):
        got = by_person[brand]["reply"]
        assert got["count"] == expected_count[brand], brand
        assert got["median_seconds"] == pytest.approx(expected_median[brand]), brand
    summary = reference.summary(rows)
    assert stats["reply"]["count"] == summary["reply"]["count"]
    assert stats["reply"]["median_seconds"] == pytest.approx(summary["reply"]["median_seconds"])
    assert stats["reply"]["p90_seconds"] == pytest.approx(summary["reply"]["p90_seconds"])
    assert stats["broadcasts"] == summary["broadcasts"]
    assert stats["unanswered"] == summary["unanswered"]
