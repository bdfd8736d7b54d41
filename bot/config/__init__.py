"""Configuration: ``nudgebot.yaml`` loaded into immutable, typed models.

config = load_config(cli_path)       # raises ConfigError listing every problem
config.policy_for("acme").reply_within
"""

from bot.config.errors import ConfigError, ConfigIssue
from bot.config.loader import (
    DEFAULT_CONFIG_PATH,
    ENV_VAR,
    load_config,
    parse_config,
    resolve_config_path,
)
from bot.config.models import (
    DEFAULT_CLOSING_WORDS,
    DEFAULT_ICAL_REFRESH,
    Config,
    Escalation,
    EscalationKind,
    Handoff,
    Notify,
    NudgeLimits,
    NudgeOverrides,
    Override,
    Person,
    Platform,
    Policy,
    Rotation,
    Source,
)

__all__ = [
    "DEFAULT_CLOSING_WORDS",
    "DEFAULT_CONFIG_PATH",
    "DEFAULT_ICAL_REFRESH",
    "ENV_VAR",
    "Config",
    "ConfigError",
    "ConfigIssue",
    "Escalation",
    "EscalationKind",
    "Handoff",
    "Notify",
    "NudgeLimits",
    "NudgeOverrides",
    "Override",
    "Person",
    "Platform",
    "Policy",
    "Rotation",
    "Source",
    "load_config",
    "parse_config",
    "resolve_config_path",
]
