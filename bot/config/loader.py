"""Find, read, interpolate and validate ``nudgebot.yaml`` into a :class:`Config`."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from bot.config import fields
from bot.config.digest import parse_digest
from bot.config.errors import ConfigError, Issues, closest
from bot.config.interpolate import interpolate
from bot.config.models import DEFAULT_CLOSING_WORDS, Config, DigestSettings, NudgeLimits
from bot.config.nudges import parse_nudges
from bot.config.policies import parse_policies
from bot.config.rotations import parse_rotations
from bot.config.sources import parse_sources
from bot.config.team import parse_team
from bot.config.yamlfile import parse_yaml

ENV_VAR = "NUDGEBOT_CONFIG"
DEFAULT_CONFIG_PATH = Path("nudgebot.yaml")
TOP_LEVEL_KEYS = (
    "timezone", "closing_words", "team", "rotations", "policies", "sources", "digest",
    "nudges",
)  # fmt: skip


def resolve_config_path(
    cli_value: str | Path | None = None, env: Mapping[str, str] | None = None
) -> Path:
    """``--config`` if given, else ``$NUDGEBOT_CONFIG``, else ``./nudgebot.yaml``."""
    explicit = _explicit_path(cli_value, os.environ if env is None else env)
    return explicit if explicit is not None else DEFAULT_CONFIG_PATH


def _explicit_path(cli_value: str | Path | None, env: Mapping[str, str]) -> Path | None:
    if cli_value is not None and str(cli_value) != "":
        return Path(cli_value)
    named = env.get(ENV_VAR, "")
    return Path(named) if named else None


def load_config(path: str | Path | None = None, *, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate the config; raise :class:`ConfigError` listing every problem.

    With no path and no ``$NUDGEBOT_CONFIG``, a missing ``./nudgebot.yaml`` gives the empty
    default config, so commands work before anyone writes one. A file that was named
    explicitly must exist.
    """
    environ = os.environ if env is None else env
    explicit = _explicit_path(path, environ)
    target = explicit if explicit is not None else DEFAULT_CONFIG_PATH
    issues = Issues(str(target))
    try:
        raw = target.read_bytes()
    except FileNotFoundError:
        if explicit is None:
            return Config()
        issues.add("", "file not found", f"create it, or point --config / {ENV_VAR} at the file")
        raise ConfigError(issues.items) from None
    except OSError as error:
        issues.add("", f"cannot read the file: {error.strerror or error}", "check the path")
        raise ConfigError(issues.items) from None
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        issues.add("", f"not UTF-8 text (byte {error.start})", "save the file as UTF-8")
        raise ConfigError(issues.items) from None
    return _build(text, issues, environ, target.resolve())


def parse_config(
    text: str,
    *,
    file: str = "nudgebot.yaml",
    env: Mapping[str, str] | None = None,
    path: Path | None = None,
) -> Config:
    """Validate config text that did not come from disk (tests, ``check-config -``)."""
    return _build(text, Issues(file), os.environ if env is None else env, path)


def _build(text: str, issues: Issues, env: Mapping[str, str], path: Path | None) -> Config:
    data = parse_yaml(text, issues)
    issues.raise_if_any()
    if data is None:  # an empty file
        return Config(path=path)
    if not isinstance(data, dict):
        issues.add(
            "",
            f"the file must be a mapping of sections, got {fields.describe(data)}",
            "start with keys such as timezone:, team:, rotations:, policies:, sources:",
        )
        raise ConfigError(issues.items)
    data = interpolate(data, env, issues)
    config = _validate(data, issues, path) if isinstance(data, dict) else None
    if config is None or issues.count:
        raise ConfigError(issues.items)
    return config


def _declared(raw: object) -> set[str]:
    """Ids written in a section, valid or not, so references to them do not cascade."""
    return {str(k) for k in raw if isinstance(k, str | int)} if isinstance(raw, dict) else set()


def _claimed_owners(raw: object) -> set[str]:
    if not isinstance(raw, dict):
        return set()
    return {
        str(k)
        for k, v in raw.items()
        if isinstance(v, dict) and v.get("owner") in (True, "true", "True")
    }


def _validate(data: dict[object, object], issues: Issues, path: Path | None) -> Config | None:
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            guess = closest(str(key), TOP_LEVEL_KEYS)
            fix = (
                f"did you mean {guess!r}?" if guess else f"valid keys: {', '.join(TOP_LEVEL_KEYS)}"
            )
            issues.add(str(key), f"unknown key {str(key)!r}", fix)
    tz = (
        fields.zone(issues, "timezone", data["timezone"])
        if data.get("timezone") is not None
        else "UTC"
    )
    default_tz = tz or "UTC"
    closing: tuple[str, ...] | None = DEFAULT_CLOSING_WORDS
    if data.get("closing_words") is not None:
        closing = fields.text_list(
            issues,
            "closing_words",
            data["closing_words"],
            "[thanks, thank you]",
            key="closing_words",
        )
    team = parse_team(issues, data.get("team"), default_tz)
    people = _declared(data.get("team"))
    base_dir = path.resolve().parent if path is not None else None
    rotations = parse_rotations(
        issues, data.get("rotations"), team=people, default_tz=default_tz, base_dir=base_dir
    )
    owners = {p.id for p in team.values() if p.owner} | _claimed_owners(data.get("team"))
    policies = parse_policies(
        issues,
        data.get("policies"),
        default_tz=default_tz,
        team=people,
        owners=owners,
        rotations=_declared(data.get("rotations")),
    )
    sources = parse_sources(
        issues,
        data.get("sources"),
        team=people,
        rotations=_declared(data.get("rotations")),
        policies=_declared(data.get("policies")),
    )
    digest = parse_digest(issues, data.get("digest")) if "digest" in data else DigestSettings()
    nudges = parse_nudges(issues, data.get("nudges")) if "nudges" in data else NudgeLimits()
    if issues.count or tz is None or closing is None or digest is None or nudges is None:
        return None
    return Config(
        timezone=tz,
        closing_words=closing,
        team=team,
        rotations=rotations,
        policies=policies,
        sources=sources,
        digest=digest,
        nudges=nudges,
        path=path,
    )
