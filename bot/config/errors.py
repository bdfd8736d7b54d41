"""Config problems, collected rather than raised one at a time.

People fix a config file in one sitting; seeing every problem at once saves a round trip per
mistake.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ConfigIssue:
    file: str
    path: str  # dotted key path such as ``rotations.support.members[2]``; "" for the whole file
    message: str
    fix: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.path}: " if self.path else f"{self.file}: "
        return f"{where}{self.message} — {self.fix}" if self.fix else f"{where}{self.message}"


class ConfigError(Exception):
    def __init__(self, issues: Iterable[ConfigIssue]) -> None:
        self.issues: list[ConfigIssue] = list(issues)
        super().__init__(str(self))

    def __str__(self) -> str:
        return "\n".join(str(issue) for issue in self.issues)


class Issues:
    """Collector handed down through the validators of one file."""

    def __init__(self, file: str) -> None:
        self.file = file
        self.items: list[ConfigIssue] = []

    def add(self, path: str, message: str, fix: str) -> None:
        self.items.append(ConfigIssue(self.file, path, message, fix))

    @property
    def count(self) -> int:
        return len(self.items)

    def raise_if_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)


def child(path: str, key: object) -> str:
    return f"{path}.{key}" if path else str(key)


def item(path: str, index: int) -> str:
    return f"{path}[{index}]"


def closest(word: str, choices: Iterable[str], cutoff: float = 0.6) -> str | None:
    matches = difflib.get_close_matches(word, list(choices), n=1, cutoff=cutoff)
    return matches[0] if matches else None


def split_message(text: str, default_fix: str) -> tuple[str, str]:
    """Split a domain parser's ``"problem; write e.g. …"`` message into message and fix."""
    problem, sep, fix = text.partition("; ")
    return (problem, fix) if sep else (text, default_fix)
