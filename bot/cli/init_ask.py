"""How `nudgebot init` asks: a prompt with a check that asks again, or with
``--non-interactive`` the flag's (or default) value, a bad one failing with the flag named."""

from __future__ import annotations

import re
from collections.abc import Callable

import typer

from bot.cli.common import fail, out

Check = Callable[[str], str | None]  # None when fine, else what is wrong


def pattern(rx: re.Pattern[str], what: str, optional: bool = False) -> Check:
    def check(value: str) -> str | None:
        if optional and not value:
            return None
        return None if rx.match(value) else f"{value!r} is not {what}"

    return check


class Asker:
    """typer.prompt with validation; with ``--non-interactive`` every answer is its default
    (a flag or the built-in one) and a bad one fails instead of asking again."""

    def __init__(self, interactive: bool) -> None:
        self.interactive = interactive

    def ask(self, flag: str, question: str, default: str | None, check: Check) -> str:
        if not self.interactive:
            value = (default or "").strip()
            problem = check(value)
            if problem:
                fail(f"{flag}: {problem}")
            return value
        while True:
            raw = typer.prompt(question, default=default or "", show_default=bool(default))
            value = str(raw).strip()
            problem = check(value)
            if problem is None:
                return value
            out.print(f"[red]{problem}[/]", soft_wrap=True)
