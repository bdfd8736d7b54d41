"""A fake Slack Web API: a real HTTP server on 127.0.0.1 that the real slack_sdk talks to.

It records every call (method, merged query/form/JSON params, token), answers the methods
Nudgebot uses with the shapes Slack documents, and misbehaves on request: ``fail_next`` answers
429 (with ``Retry-After``) or 500 for the next N calls, ``limit_per_channel`` enforces
``chat.postMessage``'s one message per second per channel, ``gates`` hold a method's calls
until a test opens them. It also serves ``response_url`` posts and a Socket Mode WebSocket
(``apps.connections.open``) so both transports can be exercised, and keeps channel content
(``post``/``edit``/``delete``, as people would) for ``conversations.history`` (newest first,
parents only with ``reply_count``/``latest_reply``, exclusive ``oldest``/``latest`` unless
``inclusive``, ``limit`` + ``cursor``) and ``conversations.replies`` (the parent, then its
replies oldest first). Modelled on bolt-python's ``tests/mock_web_api_server`` (in spirit).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

TEAM_ID = "T0ACME001"
BOT_USER = "U0NUDGEBOT"
BOT_ID = "B0NUDGEBOT"
WORKSPACE_URL = "https://acme-support.slack.com/"
BOT_TOKEN = "xoxb-test-token"
APP_TOKEN = "xapp-test-token"


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    token: str | None
    status: int = 200
    at: float = field(default_factory=time.monotonic)


@dataclass
class _Failure:
    status: int
    retry_after: str | None
    methods: frozenset[str] | None


class FakeSlack:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock  # where message ts come from: tests pin it to their own clock
        self.calls: list[Call] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}
        self.responses: list[dict[str, Any]] = []  # posts to response_url
        self.users: dict[str, dict[str, Any]] = {}
        self.archived: set[str] = set()  # chat.postMessage there answers is_archived
        # channel -> error that conversations.history/replies answer there (``not_in_channel``
        # once the bot was removed, ``channel_not_found`` once it was deleted)
        self.refused: dict[str, str] = {}
        self.rate_limited = 0
        self.socket_acks: list[dict[str, Any]] = []
        self._failures: list[_Failure] = []
        self._interval: float | None = None
        self._limit_retry_after: str | None = None
        self._last_post: dict[str, float] = {}
        self._seq = itertools.count(1)
        self._sockets: list[web.WebSocketResponse] = []
        self._runner: web.AppRunner | None = None
        self.port = 0
        # Each gate holds calls to its method until the test opens it (catch-up vs live).
        self.gates: dict[str, asyncio.Event] = {}

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, port: int = 0) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response_url)
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/_control/limit", self._control_limit)
        app.router.add_get("/_control/posts", self._control_posts)
        app.router.add_post("/_control/messages", self._control_messages)
        app.router.add_get("/_control/calls", self._control_calls)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        server = site._server
        assert server is not None and server.sockets  # type: ignore[attr-defined]
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
        return self

    async def stop(self) -> None:
        for ws in self._sockets:
            await ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def response_url(self, key: str = "r1") -> str:
        return f"http://127.0.0.1:{self.port}/response/{key}"

    # -- misbehaviour ----------------------------------------------------------------------
    def fail_next(
        self,
        n: int,
        status: int = 429,
        retry_after: float | str | None = 1,
        methods: tuple[str, ...] | None = None,
    ) -> None:
        """Answer the next ``n`` calls (to ``methods``, or any) with ``status``."""
        header = None if retry_after is None else str(retry_after)
        wanted = frozenset(methods) if methods else None
        self._failures.extend(_Failure(status, header, wanted) for _ in range(n))

    def limit_per_channel(self, interval: float = 1.0, retry_after: str | None = None) -> None:
        """Refuse a ``chat.postMessage`` to a channel within ``interval`` of the last accepted
        one, with 429 and ``Retry-After``: the time left, in whole seconds as Slack does, or
        fractional when ``interval`` is under a second (benchmarks that scale time down)."""
        self._interval = interval
        self._limit_retry_after = retry_after

    # -- channel content, as people would post it (for conversations.history / replies) ---
    def post(
        self,
        channel: str,
        user: str,
        text: str,
        *,
        ts: str | None = None,
        thread_ts: str | None = None,
        team: str = TEAM_ID,
        **extra: Any,
    ) -> str:
        """A message a person posted (not through the API): stored as Slack keeps it, with
        the thread parent's ``reply_count``/``latest_reply``/``reply_users`` kept up to date."""
        ts = ts or self._ts()
        message: dict[str, Any] = {"type": "message", "user": user, "text": text, "ts": ts,
                                   "team": team, **extra}  # fmt: skip
        if team != TEAM_ID:  # Slack Connect: the sender's workspace on every mark
            message.update(user_team=team, source_team=team)
        if thread_ts is not None and thread_ts != ts:
            message["thread_ts"] = thread_ts
            message["parent_user_id"] = self.messages[(channel, thread_ts)].get("user")
        self.messages[(channel, ts)] = message
        if thread_ts is not None and thread_ts != ts:
            self._thread_changed(channel, thread_ts)
        return ts

    def edit(self, channel: str, ts: str, text: str) -> None:
        message = self.messages[(channel, ts)]
        message["text"] = text
        message["edited"] = {"user": message.get("user"), "ts": self._ts()}

    def delete(self, channel: str, ts: str) -> None:
        """As Slack does: a parent with replies stays as a tombstone, anything else is gone."""
        message = self.messages.pop((channel, ts))
        if message.get("reply_count") and message.get("thread_ts") == ts:
            self.messages[(channel, ts)] = {
                "type": "message", "subtype": "tombstone", "text": "This message was deleted.",
                "user": "USLACKBOT", "ts": ts, "thread_ts": ts,
                **{k: message[k] for k in ("reply_count", "latest_reply", "reply_users")},
            }  # fmt: skip
        parent = message.get("thread_ts")
        if parent and parent != ts and (channel, parent) in self.messages:
            self._thread_changed(channel, parent)
            root = self.messages[(channel, parent)]
            if root.get("subtype") == "tombstone" and not root.get("reply_count"):
                del self.messages[(channel, parent)]  # its last reply gone: so is the tombstone

    def _replies(self, channel: str, parent: str) -> list[dict[str, Any]]:
        return sorted(
            (m for (c, t), m in self.messages.items()
             if c == channel and m.get("thread_ts") == parent and t != parent),
            key=lambda m: _ts_key(m["ts"]),
        )  # fmt: skip

    def _thread_changed(self, channel: str, parent: str) -> None:
        root = self.messages[(channel, parent)]
        replies = self._replies(channel, parent)
        if not replies:
            for key in ("reply_count", "latest_reply", "reply_users", "reply_users_count"):
                root.pop(key, None)
            return
        users = list(dict.fromkeys(str(m.get("user")) for m in replies))
        root.update(thread_ts=parent, reply_count=len(replies), latest_reply=replies[-1]["ts"],
                    reply_users=users[:5], reply_users_count=len(users))  # fmt: skip

    # -- queries for tests -----------------------------------------------------------------
    def calls_to(self, method: str) -> list[Call]:
        return [c for c in self.calls if c.method == method and c.status == 200]

    def posted(self, channel: str | None = None) -> list[dict[str, Any]]:
        return [
            dict(c.params)
            for c in self.calls_to("chat.postMessage")
            if channel is None or c.params.get("channel") == channel
        ]

    # -- control, for a fake run in its own process (benchmarks) ----------------------------
    async def _control_limit(self, request: web.Request) -> web.Response:
        self.limit_per_channel(float((await request.json())["interval"]))
        return web.json_response({"ok": True})

    async def _control_posts(self, _request: web.Request) -> web.Response:
        posts = [
            {
                "at": c.at,
                "status": c.status,
                "channel": c.params.get("channel"),
                "metadata": c.params.get("metadata"),
            }
            for c in self.calls
            if c.method == "chat.postMessage"
        ]
        return web.json_response({"posts": posts, "rate_limited": self.rate_limited})

    async def _control_messages(self, request: web.Request) -> web.Response:
        """People's messages in bulk, as ``post`` takes them (catch-up benchmark)."""
        for m in await request.json():
            self.post(m.pop("channel"), m.pop("user"), m.pop("text"), **m)
        return web.json_response({"ok": True, "messages": len(self.messages)})

    async def _control_calls(self, _request: web.Request) -> web.Response:
        counts: dict[str, int] = {}
        for c in self.calls:
            key = f"{c.method} {c.status}"
            counts[key] = counts.get(key, 0) + 1
        return web.json_response(counts)

    # -- Socket Mode -----------------------------------------------------------------------
    async def socket_send(self, envelope: dict[str, Any]) -> None:
        for ws in self._sockets:
            await ws.send_json(envelope)

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json(
            {"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0NUDGE01"}}
        )
        async for msg in ws:
            if msg.type == WSMsgType.TEXT:
                self.socket_acks.append(json.loads(msg.data))
        return ws

    # -- HTTP ------------------------------------------------------------------------------
    async def _response_url(self, request: web.Request) -> web.Response:
        self.responses.append({"key": request.match_info["key"], **(await request.json())})
        return web.Response(text="ok")

    async def _params(self, request: web.Request) -> dict[str, Any]:
        params: dict[str, Any] = dict(request.query)
        if request.content_type == "application/json":
            params.update(await request.json())
        elif request.can_read_body:
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
        for key in ("blocks", "view", "metadata"):  # form posts carry JSON as text
            if isinstance(params.get(key), str):
                params[key] = json.loads(params[key])
        return params

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await self._params(request)
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ") if auth else params.pop("token", None)
        call = Call(method, params, token)
        self.calls.append(call)
        failure = self._failure(method)
        if failure is not None:
            call.status = failure.status
            headers = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            if failure.status == 429:
                return web.json_response(
                    {"ok": False, "error": "ratelimited"}, status=429, headers=headers
                )
            return web.Response(
                status=failure.status,
                text="<html>Server error</html>",
                content_type="text/html",
                headers=headers,
            )
        if method == "chat.postMessage" and (limited := self._over_limit(params)) is not None:
            call.status = 429
            self.rate_limited += 1
            return web.json_response(
                {"ok": False, "error": "ratelimited"}, status=429, headers={"Retry-After": limited}
            )
        expected = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        if token != expected:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        handler = getattr(self, "_" + method.replace(".", "_"), None)
        if (gate := self.gates.get(method)) is not None:
            await gate.wait()
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        return web.json_response(handler(params))

    def _failure(self, method: str) -> _Failure | None:
        for i, failure in enumerate(self._failures):
            if failure.methods is None or method in failure.methods:
                return self._failures.pop(i)
        return None

    def _over_limit(self, params: dict[str, Any]) -> str | None:
        if self._interval is None:
            return None
        channel, now = str(params.get("channel")), time.monotonic()
        last = self._last_post.get(channel)
        if last is not None and now - last < self._interval:
            left = self._interval - (now - last)
            if self._limit_retry_after:
                return self._limit_retry_after
            # Slack sends whole seconds; a time-scaled run (interval < 1 s) gets scaled ones.
            return str(max(1, int(left + 0.999))) if self._interval >= 1 else f"{left:.3f}"
        self._last_post[channel] = now
        return None

    def _ts(self) -> str:
        return f"{int(self.clock())}.{next(self._seq):06d}"

    # -- methods (shapes from https://docs.slack.dev/reference/methods) -------------------
    def _auth_test(self, _p: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": WORKSPACE_URL,
            "team": "Acme Support",
            "user": "nudgebot",
            "team_id": TEAM_ID,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = str(p.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if not p.get("text") and not p.get("blocks"):
            return {"ok": False, "error": "no_text"}
        if channel in self.archived:
            return {"ok": False, "error": "is_archived"}
        if channel.startswith(("U", "W")):  # posting to a user id lands in the app's DM
            channel = "D" + channel[1:]
        ts = self._ts()
        message = {
            "type": "message",
            "user": BOT_USER,
            "bot_id": BOT_ID,
            "app_id": "A0NUDGE01",
            "text": p.get("text", ""),
            "ts": ts,
            "team": TEAM_ID,
        }
        for key in ("blocks", "thread_ts", "metadata"):
            if key in p:
                message[key] = p[key]
        self.messages[(channel, ts)] = message
        return {"ok": True, "channel": channel, "ts": ts, "message": message}

    def _chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        key = (str(p.get("channel")), str(p.get("ts")))
        if key not in self.messages:
            return {"ok": False, "error": "message_not_found"}
        message = self.messages[key]
        message.update({k: p[k] for k in ("text", "blocks") if k in p})
        message["edited"] = {"user": BOT_USER, "ts": self._ts()}
        return {
            "ok": True,
            "channel": key[0],
            "ts": key[1],
            "text": message.get("text", ""),
            "message": message,
        }

    def _chat_getPermalink(self, p: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(p.get("channel") or ""), str(p.get("message_ts") or "")
        if not channel or not ts:
            return {"ok": False, "error": "message_not_found"}
        return {
            "ok": True,
            "channel": channel,
            "permalink": f"{WORKSPACE_URL}archives/{channel}/p{ts.replace('.', '')}",
        }

    def _chat_postEphemeral(self, _p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "message_ts": self._ts()}

    def _views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("trigger_id"):
            return {"ok": False, "error": "invalid_trigger_id"}
        return {
            "ok": True,
            "view": {
                "id": f"V{next(self._seq):08d}",
                "team_id": TEAM_ID,
                "state": {"values": {}},
                **p.get("view", {}),
            },
        }

    def _views_publish(self, p: dict[str, Any]) -> dict[str, Any]:
        if not p.get("user_id"):
            return {"ok": False, "error": "invalid_arguments"}
        return {
            "ok": True,
            "view": {"id": f"V{next(self._seq):08d}", "team_id": TEAM_ID, **p.get("view", {})},
        }

    def _users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user = self.users.get(str(p.get("user")))
        return {"ok": True, "user": user} if user else {"ok": False, "error": "user_not_found"}

    def _conversations_info(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = str(p.get("channel") or "")
        return {
            "ok": True,
            "channel": {
                "id": channel,
                "name": channel.lower(),
                "is_channel": True,
                "is_ext_shared": True,
                "is_member": True,
                "created": 1700000000,
            },
        }

    def _conversations_history(self, p: dict[str, Any]) -> dict[str, Any]:
        """Newest first, parents only (and thread broadcasts); ``oldest``/``latest`` exclusive
        unless ``inclusive``; ``limit`` (default 100) and an opaque ``cursor``."""
        channel = str(p.get("channel") or "")
        if not channel:
            return {"ok": False, "error": "channel_not_found"}
        if channel in self.refused:
            return {"ok": False, "error": self.refused[channel]}
        parents = [
            m for (c, t), m in self.messages.items()
            if c == channel
            and (m.get("thread_ts") in (None, t) or m.get("subtype") == "thread_broadcast")
        ]  # fmt: skip
        return self._page(p, sorted(parents, key=lambda m: _ts_key(m["ts"]), reverse=True))

    def _conversations_replies(self, p: dict[str, Any]) -> dict[str, Any]:
        """The parent first, then its replies oldest first, within ``oldest``/``latest``."""
        channel, parent = str(p.get("channel") or ""), str(p.get("ts") or "")
        root = self.messages.get((channel, parent))
        if root is None:
            return {"ok": False, "error": "thread_not_found"}
        page = self._page(p, self._replies(channel, parent), parent=root)
        page.pop("pin_count", None)
        return page

    def _page(
        self, p: dict[str, Any], items: list[dict[str, Any]], parent: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        inclusive = str(p.get("inclusive", "")).lower() in ("1", "true")
        oldest, latest = _ts_key(str(p.get("oldest") or "0")), p.get("latest")
        newest = _ts_key(str(latest)) if latest else None

        def inside(m: dict[str, Any]) -> bool:
            key = _ts_key(m["ts"])
            low = key >= oldest if inclusive else key > oldest
            high = newest is None or (key <= newest if inclusive else key < newest)
            return low and high

        chosen = [m for m in items if inside(m)]
        start = 0
        if p.get("cursor"):
            try:
                start = int(base64.b64decode(str(p["cursor"])).decode().removeprefix("offset:"))
            except ValueError:
                return {"ok": False, "error": "invalid_cursor"}
        limit = max(1, min(int(p.get("limit") or 100), 999))
        page = chosen[start : start + limit]
        more = start + limit < len(chosen)
        if parent is not None and start == 0:
            page = [parent, *page]
        cursor = base64.b64encode(f"offset:{start + limit}".encode()).decode() if more else ""
        return {
            "ok": True,
            "messages": [dict(m) for m in page],
            "has_more": more,
            "pin_count": 0,
            "response_metadata": {"next_cursor": cursor},
        }

    def _apps_connections_open(self, _p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}


def _ts_key(ts: str) -> tuple[int, int]:
    seconds, _, fraction = ts.partition(".")
    return int(seconds or 0), int((fraction + "000000")[:6] or 0)


async def _serve(port: int) -> None:
    fake = await FakeSlack().start(port)
    print(f"fake Slack Web API on {fake.api_url}", flush=True)
    await asyncio.to_thread(sys.stdin.buffer.read)  # until the parent closes our stdin
    await fake.stop()


if __name__ == "__main__":  # ``python -m tests.fakes.slack_api PORT``: its own process
    asyncio.run(_serve(int(sys.argv[1])))
