"""The registry against what reads it: every entry resolves, the docs' table and the
import-linter independence list follow it."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

from bot import platforms
from bot.config import Person
from bot.web.metrics import dead_letter_family

REPO = Path(__file__).resolve().parents[2]


def test_every_wiring_and_poller_reference_resolves() -> None:
    for spec in platforms.all_platforms():
        for ref in (spec.wiring, spec.poller):
            if ref is not None:
                assert callable(platforms.load(ref)), f"{spec.name}: {ref}"


def test_a_name_is_declared_once() -> None:
    with pytest.raises(ValueError, match="already registered"):
        platforms.register(platforms.Platform(name="slack", title="Slack again"))
    assert platforms.get("slack") is not None


def test_the_independence_contract_lists_every_adapter_folder() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    listed = next(c["modules"] for c in contracts if c["type"] == "independence")
    folders = sorted(
        f"adapters.{p.name}" for p in (REPO / "adapters").iterdir() if (p / "__init__.py").exists()
    )
    assert sorted(listed) == folders


def _row(spec: platforms.Platform) -> str:
    can = ", ".join(sorted(c.value for c in spec.can)) or "–"
    key = f"`{spec.name}:`" if spec.address is not None else "–"
    env = f"`{spec.messenger_env}`" if spec.messenger_env else "–"
    return f"| {spec.name} | {spec.title} | {can} | {key} | {env} |"


def test_the_docs_table_is_the_registry() -> None:
    text = (REPO / "docs" / "platforms.md").read_text(encoding="utf-8")
    rows = [line for line in text.splitlines() if re.match(r"^\| [a-z]+ \| [A-Z]", line)]
    assert rows == [_row(p) for p in platforms.all_platforms()]


def test_default_notify_follows_registry_order() -> None:
    assert Person(id="a", telegram="1", slack="U1").notify == "slack"
    assert Person(id="a", telegram="1").notify == "telegram"
    assert Person(id="a", email="a@example.com").notify is None
    assert Person(id="a", slack="U1", notify="telegram").nudge_address() is None


def test_dead_letter_labels_come_from_the_registry() -> None:
    rendered = dead_letter_family({}).render()
    for name in ("slack", "telegram", "webhook"):
        assert f'platform="{name}"' in rendered
    assert 'platform="mastodon"' not in rendered
