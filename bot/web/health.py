"""Liveness, readiness and metrics (the front page is the dashboard, bot.web.dashboard).

Liveness never touches the database: a slow database must not get a healthy process
restarted. Readiness does, with a deadline, so a load balancer stops sending traffic to a
replica whose database is gone.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime
from pathlib import Path

from sqlalchemy import text
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from bot.web.metrics import CONTENT_TYPE, dead_letter_family
from bot.web.state import web_state
from storage.conversation_queries import count_waiting_by_source
from storage.db import Database
from storage.dead_letters_repo import count_by_platform

log = logging.getLogger("nudgebot.web")
READY_TIMEOUT = 2.0


async def healthz(_request: Request) -> Response:
    return JSONResponse({"ok": True})


def _reason(exc: BaseException) -> str:
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__


def _missing_file(db: Database) -> str | None:
    if not db.is_sqlite:
        return None
    path = db.engine.url.database or ""
    if not path or path.startswith("file:") or Path(path).exists():
        return None  # URI filenames name their file in ways not worth second-guessing here
    return f"database file {path} does not exist"


async def database_problem(db: Database, deadline: float = READY_TIMEOUT) -> str | None:
    """None when the database answers, else why not.

    ``SELECT 1`` alone would pass on a SQLite file that was deleted: pooled connections
    keep writing to the unlinked inode, and new ones quietly create an empty file. So the
    file must still be there, and the schema's version table must answer too.
    """
    if (missing := _missing_file(db)) is not None:
        return missing
    try:
        async with asyncio.timeout(deadline), db.read() as session:
            await session.execute(text("SELECT 1"))
            await session.execute(text("SELECT version_num FROM alembic_version"))
    except TimeoutError:
        return f"database did not answer within {deadline:g}s"
    except Exception as exc:  # any driver error means "not ready", never a crash
        return f"database unavailable: {_reason(exc)}"
    return None


async def readyz(request: Request) -> Response:
    """503 while any part is not ready; the body names the parts (``components``: each ``ok``
    or ``not ready``) so a degraded Slack is told apart from a lost database. Anyone may ask,
    so the reasons (driver errors, file paths) go to the log only. ``?required=database,…``
    lets only the named parts decide the status (the compose healthcheck asks for the
    database: the dashboard and API stay up while Slack is down); advisory parts (catch-up)
    decide it only when named there."""
    web = web_state(request)
    problems: dict[str, list[str]] = {}
    if (problem := await database_problem(web.runtime.db)) is not None:
        problems["database"] = [problem]
    names = ["database"]
    advisories: set[str] = set()
    for part in web.ready_checks:
        name = part.name
        names.append(name)
        if part.advisory:
            advisories.add(name)
        try:
            problem = await part.check()
        except Exception as exc:
            problem = f"readiness check failed: {_reason(exc)}"
        if problem is not None:
            problems.setdefault(name, []).append(problem)
    names = list(dict.fromkeys(names))
    components = {name: "not ready" if name in problems else "ok" for name in names}
    wanted = request.query_params.get("required")
    deciding = set(wanted.split(",")) if wanted else set(names) - advisories
    failing = [n for n in names if n in problems and n in deciding]
    # Advisory parts log their own failures where they happen (one line each); repeating
    # them on every probe would bury those lines.
    logged = {n: ps for n, ps in problems.items() if n not in advisories or n in deciding}
    if logged:
        reasons = (f"{n}: {p}" for n, ps in logged.items() for p in ps)
        log.warning("not ready: %s", "; ".join(reasons))
    if failing:
        body = {
            "ok": False,
            "error": f"not ready: {', '.join(failing)}",
            "not_ready": failing,
            "components": components,
        }
        return JSONResponse(body, status_code=503)
    ready: dict[str, object] = {"ok": True, "components": components}
    if problems:
        ready["degraded"] = sorted(problems)
    return JSONResponse(ready)


async def _waiting_counts(db: Database) -> dict[str, tuple[int, datetime | None]] | None:
    if (missing := _missing_file(db)) is not None:
        log.warning("metrics: waiting gauges unavailable: %s", missing)
        return None
    try:
        async with asyncio.timeout(READY_TIMEOUT), db.read() as session:
            return await count_waiting_by_source(session)
    except Exception as exc:
        log.warning("metrics: waiting gauges unavailable: %s", _reason(exc))
        return None


async def _dead_letters(db: Database) -> dict[str, int] | None:
    if _missing_file(db) is not None:
        return None  # _waiting_counts has said why
    try:
        async with asyncio.timeout(READY_TIMEOUT), db.read() as session:
            return await count_by_platform(session)
    except Exception as exc:
        log.warning("metrics: dead letter counts unavailable: %s", _reason(exc))
        return None


async def metrics(request: Request) -> Response:
    web = web_state(request)
    counts = await _waiting_counts(web.runtime.db)
    feeds = {r: (s.failures, s.last_success) for r, s in web.runtime.oncall.feed_status().items()}
    body = web.metrics.render(counts, web.runtime.now(), web.runtime.config.sources, ical=feeds)
    dead = await _dead_letters(web.runtime.db) if counts is not None else None
    if dead is not None:
        body += dead_letter_family(dead).render() + "\n"
    return Response(body, media_type=CONTENT_TYPE)
