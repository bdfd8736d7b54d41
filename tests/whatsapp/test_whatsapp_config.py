"""The ``platform: whatsapp`` source schema and the WHATSAPP_* environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.app import Runtime
from bot.config import load_config
from bot.config.errors import Issues
from bot.config.sources import parse_source
from bot.wiring.process import assemble
from bot.wiring.whatsapp import WhatsAppConfigError, WhatsAppSettings
from tests.whatsapp.wa_kit import CONFIG


def _parse(raw: dict[str, object]) -> tuple[object, list[tuple[str, str, str]]]:
    issues = Issues("nudgebot.yaml")
    source = parse_source(issues, "sources.wa", "wa", raw, team=(), rotations=(), policies=())
    return source, [(i.path, i.message, i.fix) for i in issues.items]


def test_the_documented_source_parses() -> None:
    source, problems = _parse({"platform": "whatsapp", "phone_number_id": "1234567890"})
    assert problems == []
    assert source is not None and source.phone_number_id == "1234567890"  # type: ignore[attr-defined]
    # YAML without quotes reads a number: accepted as its text
    source, _ = _parse({"platform": "whatsapp", "phone_number_id": 1234567890})
    assert source.phone_number_id == "1234567890"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("raw", "path", "fix_part"),
    [
        ({"platform": "whatsapp"}, "sources.wa.phone_number_id", "API Setup"),
        ({"platform": "whatsapp", "phone_numberid": "1"}, "sources.wa.phone_numberid",
         "did you mean 'phone_number_id'?"),
        ({"platform": "whatsapp", "phone_number_id": "1", "token": "x"}, "sources.wa.token",
         "environment variables"),
        ({"platform": "whatsapp", "phone_number_id": "1", "verify_tokn": "x"},
         "sources.wa.verify_tokn", "a whatsapp source takes"),
        ({"platform": "whatsapp", "phone_number_id": "+49 170 1234567"},
         "sources.wa.phone_number_id", "not the phone number itself"),
        ({"platform": "whatsap", "phone_number_id": "1"}, "sources.wa.platform",
         "did you mean whatsapp?"),
        ({"platform": "webhook", "secret": "s", "phone_number_id": "1"},
         "sources.wa.phone_number_id", "set platform: whatsapp"),
    ],
)  # fmt: skip
def test_mistakes_name_the_key_and_the_fix(
    raw: dict[str, object], path: str, fix_part: str
) -> None:
    source, problems = _parse(raw)
    assert source is None
    assert any(p == path and fix_part in fix for p, _, fix in problems), problems


def test_settings_from_the_environment() -> None:
    assert WhatsAppSettings.from_env({}) is None
    env = {"WHATSAPP_TOKEN": "t", "WHATSAPP_APP_SECRET": "s", "WHATSAPP_VERIFY_TOKEN": "v"}
    settings = WhatsAppSettings.from_env(env)
    assert settings is not None and settings.api_url == "https://graph.facebook.com/v21.0"
    assert "token=" not in repr(settings) and "app_secret" not in repr(settings)
    custom = WhatsAppSettings.from_env({**env, "WHATSAPP_API_URL": "http://127.0.0.1:9/v21.0"})
    assert custom is not None and custom.api_url == "http://127.0.0.1:9/v21.0"
    with pytest.raises(WhatsAppConfigError, match="WHATSAPP_APP_SECRET"):
        WhatsAppSettings.from_env({"WHATSAPP_TOKEN": "t", "WHATSAPP_VERIFY_TOKEN": "v"})
    with pytest.raises(WhatsAppConfigError, match="not an http"):
        WhatsAppSettings.from_env({**env, "WHATSAPP_API_URL": "graph.facebook.com"})


async def test_nudgebot_run_assembles_whatsapp_from_the_environment(
    tmp_path: Path, db_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SLACK_BOT_TOKEN", "TELEGRAM_BOT_TOKEN", "NUDGEBOT_MESSENGER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WHATSAPP_TOKEN", "t")
    monkeypatch.setenv("WHATSAPP_APP_SECRET", "s")
    monkeypatch.setenv("WHATSAPP_VERIFY_TOKEN", "v")
    path = tmp_path / "nudgebot.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    runtime = Runtime.from_config(load_config(str(path)), db_url)
    try:
        process = assemble(runtime)
        assert [c.name for c in process.components if c.name == "whatsapp"] == ["whatsapp"]
        assert "whatsapp" in runtime.repliers
        paths = {getattr(r, "path", "") for r in process.app.routes}
        assert "/whatsapp/webhook" in paths
        for component in process.components:
            if component.stop is not None:
                await component.stop()
    finally:
        await runtime.close()
