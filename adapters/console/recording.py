"""Messengers that record instead of sending.

``RecordingMessenger`` keeps every call in memory and can be told to fail (transiently, with
a platform's ``Retry-After``, or for good) — for tests. ``JsonlMessenger`` appends one JSON
line per call to a file with a single ``O_APPEND`` write, so several processes (replicas in a
scenario test) can share it; select it with ``NUDGEBOT_MESSENGER=record:/path/file.jsonl``.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from bot.domain.ports import (
    Delivered,
    DeliveryError,
    NudgeUpdate,
    NudgeView,
    Recipient,
    ReplyTarget,
)
from bot.domain.summary import SummaryView


@dataclass(frozen=True)
class Call:
    kind: str  # nudge | update | text | reply | summary | summary-update
    ok: bool
    ref: str = ""
    view: NudgeView | None = None
    update: NudgeUpdate | None = None
    recipient: Recipient | None = None
    target: ReplyTarget | None = None
    text: str = ""
    error: str = ""
    summary: SummaryView | None = None


class RecordingMessenger:
    """Every call, in order, successful or not. Also a ``Replier`` for the Reply button."""

    def __init__(self, platform: str = "recording") -> None:
        self.platform = platform
        self.calls: list[Call] = []
        self._failures: deque[BaseException] = deque()
        self._ids = itertools.count(1)

    # --- scripting failures -----------------------------------------------------------------

    def fail_next(self, times: int = 1, error: BaseException | None = None) -> None:
        """The next ``times`` calls raise ``error`` (default: a transient DeliveryError)."""
        for _ in range(times):
            self._failures.append(error or DeliveryError("platform unavailable"))

    def _maybe_fail(self, kind: str, **fields: object) -> None:
        if self._failures:
            exc = self._failures.popleft()
            self.calls.append(Call(kind, False, error=str(exc), **fields))  # type: ignore[arg-type]
            raise exc

    # --- what was recorded ------------------------------------------------------------------

    @property
    def nudges(self) -> list[NudgeView]:
        return [c.view for c in self.calls if c.kind == "nudge" and c.ok and c.view is not None]

    @property
    def updates(self) -> list[tuple[str, NudgeUpdate]]:
        return [(c.ref, c.update) for c in self.calls if c.kind == "update" and c.ok and c.update]

    @property
    def summaries(self) -> list[Call]:
        """Summary messages posted and edited, in order (``kind`` tells which)."""
        return [c for c in self.calls if c.kind in ("summary", "summary-update") and c.ok]

    @property
    def replies(self) -> list[Call]:
        return [c for c in self.calls if c.kind == "reply" and c.ok]

    # --- Messenger --------------------------------------------------------------------------

    async def send_nudge(self, view: NudgeView) -> Delivered:
        self._maybe_fail("nudge", view=view)
        ref = f"{self.platform}:{next(self._ids)}"
        self.calls.append(Call("nudge", True, ref, view=view))
        return Delivered(ref)

    async def update_nudge(self, ref: str, view: NudgeView, update: NudgeUpdate) -> None:
        self._maybe_fail("update", ref=ref, view=view, update=update)
        self.calls.append(Call("update", True, ref, view=view, update=update))

    async def send_text(self, recipient: Recipient, text: str) -> Delivered:
        self._maybe_fail("text", recipient=recipient, text=text)
        ref = f"{self.platform}:{next(self._ids)}"
        self.calls.append(Call("text", True, ref, recipient=recipient, text=text))
        return Delivered(ref)

    async def send_summary(self, view: SummaryView) -> Delivered:
        self._maybe_fail("summary", summary=view)
        ref = f"{self.platform}:{next(self._ids)}"
        self.calls.append(Call("summary", True, ref, recipient=view.recipient, summary=view))
        return Delivered(ref)

    async def update_summary(self, ref: str, view: SummaryView) -> None:
        self._maybe_fail("summary-update", ref=ref, summary=view)
        self.calls.append(Call("summary-update", True, ref, recipient=view.recipient, summary=view))

    # --- Replier ----------------------------------------------------------------------------

    async def send_reply(self, target: ReplyTarget, text: str, person: str) -> Delivered:
        self._maybe_fail("reply", target=target, text=text)
        ref = f"reply-{next(self._ids)}"
        self.calls.append(Call("reply", True, ref, target=target, text=f"{person}: {text}"))
        return Delivered(ref)


class JsonlMessenger:
    """Appends ``{"kind", "nudge", "conversation", "step", "recipient", "due", "wall", "pid"}``
    lines; ``wall`` is the Unix time of the call, for lateness measurements."""

    def __init__(self, path: str | Path, platform: str = "record") -> None:
        self.platform = platform
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        self._ids = itertools.count(1)
        self._pid = os.getpid()

    def _write(self, record: dict[str, object]) -> None:
        record.update(wall=time.time(), pid=self._pid)
        os.write(self._fd, (json.dumps(record, separators=(",", ":")) + "\n").encode())

    async def send_nudge(self, view: NudgeView) -> Delivered:
        ref = f"{self._pid}:{next(self._ids)}"
        self._write({
            "kind": "nudge", "ref": ref, "nudge": view.nudge_id,
            "conversation": view.conversation_id, "step": view.step.value,
            "recipient": view.recipient.person or view.recipient.address,
            "due": view.due_at.isoformat() if view.due_at else None,
        })  # fmt: skip
        return Delivered(ref)

    async def update_nudge(self, ref: str, view: NudgeView, update: NudgeUpdate) -> None:
        self._write({
            "kind": "update", "ref": ref, "nudge": view.nudge_id,
            "conversation": view.conversation_id, "outcome": update.outcome.value,
            "by": update.by,
        })  # fmt: skip

    async def send_text(self, recipient: Recipient, text: str) -> Delivered:
        ref = f"{self._pid}:{next(self._ids)}"
        self._write({"kind": "text", "ref": ref, "recipient": recipient.address, "text": text})
        return Delivered(ref)

    def _summary(self, kind: str, ref: str, view: SummaryView) -> None:
        self._write({
            "kind": kind, "ref": ref, "summary": view.summary_id, "reason": view.reason.value,
            "recipient": view.recipient.person or view.recipient.address,
            "waiting": view.waiting, "escalated": view.escalated, "held_back": view.held_back,
            "oldest": [i.conversation_id for i in view.oldest],
        })  # fmt: skip

    async def send_summary(self, view: SummaryView) -> Delivered:
        ref = f"{self._pid}:{next(self._ids)}"
        self._summary("summary", ref, view)
        return Delivered(ref)

    async def update_summary(self, ref: str, view: SummaryView) -> None:
        self._summary("summary-update", ref, view)

    def close(self) -> None:
        os.close(self._fd)
