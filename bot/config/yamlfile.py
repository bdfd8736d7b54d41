"""Read YAML the way people mean it in a config file.

A ``yaml.SafeLoader`` subclass (so still no arbitrary objects) with YAML 1.2-style scalars:
PyYAML's YAML 1.1 defaults would turn ``handoff: 10:00`` into the integer 600 (base 60),
``holidays: NO`` (Norway) into ``False`` and ``start: 2026-02-30`` into a crash. Dates and
times stay text here and are parsed by the validators, which can name the key that is wrong.
Duplicate keys are reported instead of silently keeping the last one.
"""

from __future__ import annotations

import re
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode, ScalarNode

from bot.config.errors import Issues

_MERGE = "tag:yaml.org,2002:merge"
_DROPPED = {
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:timestamp",
}
_BOOL = re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$")
_INT = re.compile(
    r"^(?:[-+]?0b[01][01_]*|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F][0-9a-fA-F_]*)$"
)
_FLOAT = re.compile(
    r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?"
    r"|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?"
    r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$"
)
# A whole ``${NAME}`` value inside a flow mapping or list (``{password: ${IMAP_PASSWORD}}``,
# as DESIGN.md writes the email source) is not valid YAML: ``{`` opens a mapping there. When
# the parser stops exactly at such a reference, that one is quoted and the text read again,
# so a file that parses keeps its exact meaning and nothing inside quotes is touched; the
# value is still substituted after parsing, never spliced into the YAML text.
_FLOW_REFERENCE = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::-[^}\"'\n,]*)?\}(?=\s*[,}\]])")
_MAX_QUOTED = 200
_SYNTAX_FIX = (
    "fix the YAML at that spot (indentation, a missing ':' or an unclosed quote or bracket)"
)


class _Loader(yaml.SafeLoader):
    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[str, int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, ScalarNode) or key_node.tag == _MERGE:
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in seen:
                raise ConstructorError(
                    None,
                    None,
                    f"duplicate key {key_node.value!r} (first on line {seen[key_node.value]})",
                    key_node.start_mark,
                )
            seen[key_node.value] = line
        return super().construct_mapping(node, deep)


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in _DROPPED]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver("tag:yaml.org,2002:bool", _BOOL, list("tTfF"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:int", _INT, list("-+0123456789"))
_Loader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def _where(error: yaml.YAMLError) -> str:
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    if mark is None:
        return ""
    return f"line {mark.line + 1}, column {mark.column + 1}"


def _problem(error: yaml.YAMLError) -> str:
    problem = getattr(error, "problem", None)
    context = getattr(error, "context", None)
    if problem and context:
        return f"{context}, {problem}"
    return str(problem or context or error).strip()


def _offset(text: str, mark: yaml.Mark) -> int:
    lines = text.split("\n")
    return sum(len(line) + 1 for line in lines[: mark.line]) + mark.column


def _load(text: str) -> object:
    current = text
    first: yaml.MarkedYAMLError | None = None
    for _ in range(_MAX_QUOTED):
        try:
            return yaml.load(current, Loader=_Loader)  # _Loader is a SafeLoader
        except yaml.MarkedYAMLError as error:
            first = first or error
            mark = error.problem_mark
            # PyYAML marks the ``{`` after the ``$`` (the ``$`` began a plain scalar).
            at = -1 if mark is None else _offset(current, mark) - 1
            found = _FLOW_REFERENCE.match(current, at) if at >= 0 else None
            if found is None:
                break
            current = f'{current[:at]}"{found.group(0)}"{current[found.end() :]}'
    # The error of the text as written: its line and column are the ones the user sees.
    assert first is not None
    raise first


def parse_yaml(text: str, issues: Issues) -> object:
    """The document's data, or ``None`` after recording why it could not be read."""
    try:
        return _load(text)
    except yaml.YAMLError as error:
        issues.add(_where(error), f"not valid YAML: {_problem(error)}", _SYNTAX_FIX)
    except RecursionError:
        issues.add("", "the YAML is nested too deeply to read", "flatten the structure")
    except Exception as error:
        # PyYAML's constructors let builtin errors escape on odd explicit tags
        # (``!!int abc``, ``!!binary`` garbage); the file is still just bad input.
        issues.add("", f"not valid YAML: {error}", _SYNTAX_FIX)
    return None
