"""``${NAME}`` and ``${NAME:-default}`` in config values, taken from the environment.

Substitution happens after YAML parsing, on string values only, so a secret containing
``:`` or ``#`` cannot change the structure of the file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from bot.config.errors import Issues, child, item

# ``$${`` is a literal ``${``; a ``${`` that matches neither form is reported, because
# silently keeping it would ship the placeholder text as a token or secret.
_REFERENCE = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{")
MAX_DEPTH = 32
# Aliases let a short file describe a huge tree ("billion laughs"); anything that later walks
# the config (repr, JSON for the API, adapters reading ``extra``) would expand it in full.
MAX_VALUES = 50_000


class Unresolved:
    """Stands in for a value whose variable was missing; its issue is already recorded."""

    _instance: Unresolved | None = None

    def __new__(cls) -> Unresolved:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<unresolved>"


UNRESOLVED = Unresolved()


def _substitute(text: str, path: str, env: Mapping[str, str], issues: Issues) -> str | Unresolved:
    failed = False

    def replace(match: re.Match[str]) -> str:
        nonlocal failed
        whole, name, default = match.group(0), match.group(1), match.group(2)
        if whole == "$${":
            return "${"
        if name is None:
            failed = True
            issues.add(
                path,
                f"{text!r} has a '${{' that is not a variable reference",
                "write ${NAME} or ${NAME:-default}, or $${ for a literal ${",
            )
            return whole
        value = env.get(name)
        if default is not None:
            # Like the shell's ``:-``: an empty variable also takes the default.
            return value if value else default
        if value is None:
            failed = True
            issues.add(
                path,
                f"environment variable {name} is not set",
                "export it or write the value",
            )
            return whole
        return value

    result = _REFERENCE.sub(replace, text) if "$" in text else text
    return UNRESOLVED if failed else result


def interpolate(data: object, env: Mapping[str, str], issues: Issues) -> object:
    """A copy of ``data`` with every string value interpolated.

    Aliased nodes are copied once and self-referencing aliases are reported instead of
    recursing forever. Returns None when the data is too big once aliases are expanded.
    """
    done: dict[int, object] = {}
    sizes: dict[int, int] = {}  # values under a node once aliases are expanded
    active: set[int] = set()

    def size(value: object) -> int:
        return sizes.get(id(value), 1) if isinstance(value, dict | list) else 1

    def walk(value: object, path: str, depth: int) -> object:
        if isinstance(value, str):
            return _substitute(value, path, env, issues)
        if not isinstance(value, dict | list):
            return value
        key = id(value)
        if key in done:
            return done[key]
        if key in active:
            issues.add(path, "an alias refers to the node that contains it", "remove that *alias")
            return None
        if depth > MAX_DEPTH:
            issues.add(path, f"nested more than {MAX_DEPTH} levels deep", "flatten the structure")
            return None
        active.add(key)
        out: object
        if isinstance(value, dict):
            out = {k: walk(v, child(path, k), depth + 1) for k, v in value.items()}
        else:
            out = [walk(v, item(path, i), depth + 1) for i, v in enumerate(value)]
        active.discard(key)
        done[key] = out
        children = value.values() if isinstance(value, dict) else value
        sizes[key] = min(1 + sum(size(v) for v in children), MAX_VALUES + 1)
        return out

    result = walk(data, "", 0)
    if size(data) > MAX_VALUES:
        issues.add(
            "",
            f"the file expands to more than {MAX_VALUES} values through *aliases",
            "use fewer nested aliases",
        )
        return None
    return result
