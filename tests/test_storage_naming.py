"""Storage modules follow the naming rule in ``storage/__init__.py``."""

from __future__ import annotations

import ast
from pathlib import Path

import storage

MACHINERY = {"db", "models", "migrate", "schema_version", "rawsql", "sqlite_inline", "records",
             "fastread"}  # fmt: skip
STATEMENTS = {"insert", "update", "delete", "insert_for"}


def _modules() -> dict[str, Path]:
    root = Path(storage.__file__).parent
    return {p.stem: p for p in root.glob("*.py") if p.stem != "__init__"}


def _writes(path: Path) -> bool:
    """Does the module build an INSERT/UPDATE/DELETE (SQLAlchemy's insert()/update()/
    delete(), the dialect insert, or raw SQL text)?"""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            # insert(Table), update(Table), delete(Table), sa.update(...), the dialect's
            # insert (storage.db): not dict.update and the like.
            if isinstance(func, ast.Name) and func.id in STATEMENTS:
                return True
            if (
                isinstance(func, ast.Attribute)
                and func.attr in STATEMENTS
                and isinstance(func.value, ast.Name)
                and func.value.id in {"sa", "sqlalchemy", "postgresql", "sqlite", "db"}
            ):
                return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            head = node.value.lstrip().upper()
            if head.startswith(("INSERT ", "UPDATE ", "DELETE ")):
                return True
    return False


def test_every_storage_module_is_named_by_the_rule() -> None:
    wrong = [
        name
        for name in _modules()
        if name not in MACHINERY and not name.endswith(("_repo", "_queries"))
    ]
    assert wrong == [], "name them <subject>_repo or <subject>_queries (storage/__init__.py)"


def test_queries_modules_only_read() -> None:
    modules = _modules()
    # The detector sees the writes it must (else the check below could never fail).
    assert all(_writes(modules[n]) for n in ("messages_repo", "outbox_repo", "ingest_repo"))
    writers = [n for n, p in modules.items() if n.endswith("_queries") and _writes(p)]
    assert writers == [], "a module that writes is a _repo (storage/__init__.py)"
