"""The platform registry: every platform declared once, read by config validation, the
wiring, recipient lookup, /readyz and /metrics.

    from bot import platforms
    platforms.get("slack").can            # frozenset({Can.ROUTE, Can.NUDGE, …})
    platforms.names()                      # ("slack", "telegram", …) in registry order
    with platforms.registered(Platform(name="pigeon", …)):   # tests: a throwaway platform
        ...

Pure data: it imports nothing of the project but itself, so every layer may read it.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from typing import Any

from bot.platforms.builtin import BUILTIN
from bot.platforms.spec import Build, Can, PersonAddress, Platform

__all__ = [
    "Build",
    "Can",
    "PersonAddress",
    "Platform",
    "addressable",
    "all_platforms",
    "default_notify",
    "get",
    "load",
    "names",
    "register",
    "registered",
    "unregister",
    "with_capability",
]

_REGISTRY: dict[str, Platform] = {}


def register(platform: Platform) -> Platform:
    """Add a platform; a name can be declared only once."""
    if platform.name in _REGISTRY:
        raise ValueError(f"platform {platform.name!r} is already registered")
    _REGISTRY[platform.name] = platform
    return platform


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


@contextmanager
def registered(platform: Platform) -> Iterator[Platform]:
    """A platform registered for the duration of a ``with`` block (tests)."""
    register(platform)
    try:
        yield platform
    finally:
        unregister(platform.name)


def get(name: str) -> Platform | None:
    return _REGISTRY.get(name)


def all_platforms() -> tuple[Platform, ...]:
    return tuple(_REGISTRY.values())


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def with_capability(can: Can) -> tuple[Platform, ...]:
    return tuple(p for p in _REGISTRY.values() if can in p.can)


def addressable() -> tuple[Platform, ...]:
    """Platforms a team member can be nudged on, each with its ``team.<id>`` key."""
    return tuple(p for p in _REGISTRY.values() if p.address is not None and Can.NUDGE in p.can)


def default_notify(addresses: Mapping[str, str]) -> str | None:
    """Where a member without ``notify:`` is nudged: the first platform in registry order
    that has their address (Slack before Telegram), else nowhere."""
    for platform in addressable():
        assert platform.address is not None
        if platform.address.default_notify and addresses.get(platform.name):
            return platform.name
    return None


def reply_window(name: str) -> timedelta | None:
    """The free-reply window of platform ``name`` (``Platform.reply_window``); None where
    replies are always allowed or the platform is unknown."""
    platform = _REGISTRY.get(name)
    return platform.reply_window if platform is not None else None


def load(ref: str | Any) -> Any:
    """The object a ``"module:attribute"`` reference names; other values as they are."""
    if not isinstance(ref, str):
        return ref
    module, _, attribute = ref.partition(":")
    return getattr(importlib.import_module(module), attribute)


for _platform in BUILTIN:
    register(_platform)
