"""A fake Slack Web API: a real HTTP server on 127.0.0.1 that the real slack_sdk talks to.

It records every call (method, merged query/form/JSON params, token), answers the methods
Nudgebot uses with the shapes Slack documents, and misbehaves on request: ``fail_next`` answers
429 (with ``Retry-After``) or 500 for the next N calls, ``limit_per_channel`` enforces
``chat.postMessage``'s one message per second per channel. It also serves ``response_url``
posts and a Socket Mode WebSocket (``apps.connections.open``) so both transports can be
exercised. Modelled on bolt-python's ``tests/mock_web_api_server`` (in spirit).
"""

from __future__ import annotations

import asyncio
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

    # -- lifecycle -------------------------------------------------------------------------
    async def start(self, port: int = 0) -> FakeSlack:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/response/{key}", self._response_url)
        app.router.add_get("/socket", self._socket)
        app.router.add_post("/_control/limit", self._control_limit)
        app.router.add_get("/_control/posts", self._control_posts)
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

    def _apps_connections_open(self, _p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket"}


async def _serve(port: int) -> None:
    fake = await FakeSlack().start(port)
    print(f"fake Slack Web API on {fake.api_url}", flush=True)
    await asyncio.to_thread(sys.stdin.buffer.read)  # until the parent closes our stdin
    await fake.stop()


if __name__ == "__main__":  # ``python -m tests.fakes.slack_api PORT``: its own process
    asyncio.run(_serve(int(sys.argv[1])))
