"""``shared_data``: a missing real data set skips a test on a developer's machine, and fails
it under ``CI=true`` (CI is given ../shared/data; a silent skip there hides real-data tests)."""

from __future__ import annotations

from pathlib import Path

import pytest

import tests.conftest as conftest
from tests.conftest import shared_data

ABSENT = "no-such-data-set.csv"


def test_missing_data_skips_outside_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match=ABSENT):
        shared_data(ABSENT)


def test_missing_data_fails_under_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI=true"):
        shared_data(ABSENT)


def test_present_data_is_its_path(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(conftest, "SHARED_DATA", tmp_path)
    (tmp_path / "sample.csv").write_text("a,b\n", encoding="utf-8")
    assert conftest.shared_data("sample.csv") == tmp_path / "sample.csv"
