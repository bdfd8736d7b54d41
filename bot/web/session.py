"""Who may see the dashboard: ``NUDGEBOT_API_TOKEN`` as a bearer header, or a session cookie
from the login form.

The cookie never holds the token. It holds ``v2.<id>.<HMAC-SHA256(token, id)>`` for a random
session id whose SHA-256 is a row in ``dashboard_sessions`` (storage.sessions_repo): logout
deletes the row, so the cookie is dead on every replica; a session also ends after IDLE
without use and after MAX_AGE in all; changing the token ends every session (the MAC). It is
``HttpOnly`` (no script can read it), ``SameSite=Strict`` (no other site's page can make the
browser send it) and ``Secure`` when the request came over https or ``NUDGEBOT_PUBLIC_URL``
is https. ``AuthGuard`` (the middleware) resolves the cookie before the route runs and
throttles failed sign-ins and bearer tokens per client address (bot.web.throttle).

CSRF: the only state-changing requests are ``POST /login`` and ``POST /logout``, plain
same-site form posts. SameSite=Strict already keeps the cookie off cross-site requests; on
top, a POST whose ``Origin`` (or ``Sec-Fetch-Site``) says it came from another site is
refused with 403. Logging someone in cross-site would need the token anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.web.errors import error
from bot.web.page import login_page
from bot.web.state import web_state
from bot.web.throttle import SharedThrottle
from storage import sessions_repo

COOKIE = "nudgebot_session"
MAX_AGE = 7 * 24 * 3600  # absolute lifetime of a session
IDLE = 12 * 3600  # a session unused this long has ended
MAX_FORM = 8192  # bytes; a token field needs far less
PUBLIC_URL_ENV = "NUDGEBOT_PUBLIC_URL"
_STATE = "nudgebot_session_ok"
# Where a 401 means a wrong token or password (counted by the throttle).
_GUARDED = ("/login", "/api/")


def _mac(token: str, session_id: str) -> str:
    message = f"nudgebot-dashboard-session:{session_id}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def session_value(token: str, session_id: str) -> str:
    return f"v2.{session_id}.{_mac(token, session_id)}"


def session_id(token: str, value: str) -> str | None:
    """The session id a cookie carries when its MAC is right for ``token``, else None."""
    version, _, rest = value.partition(".")
    sid, _, mac = rest.rpartition(".")
    plain = sid.replace("-", "").replace("_", "")
    if version != "v2" or not 16 <= len(sid) <= 64 or not (plain.isascii() and plain.isalnum()):
        return None
    return sid if hmac.compare_digest(mac.encode(), _mac(token, sid).encode()) else None


def _bearer_ok(request: Request, token: str) -> bool | None:
    """None without an Authorization header, else whether it carries the token."""
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, credential = header.strip().encode("latin-1").partition(b" ")
    return scheme.lower() == b"bearer" and hmac.compare_digest(credential.strip(), token.encode())


def authenticated(request: Request) -> bool:
    token = web_state(request).api_token
    if not token:
        return False
    bearer = _bearer_ok(request, token)
    if bearer is not None:
        return bearer
    return request.scope.get("state", {}).get(_STATE) is True


def client_address(scope: Scope) -> str:
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _attempt(scope: Scope) -> bool:
    """Whether the request tries a credential: a sign-in, a bearer header, a ``?token=``."""
    if scope["method"] == "POST" and scope["path"] == "/login":
        return True
    headers = dict(scope.get("headers") or ())
    return b"authorization" in headers or b"token=" in scope.get("query_string", b"")


class AuthGuard:
    """Resolves the session cookie (one keyed read) and throttles credential failures."""

    def __init__(self, app: ASGIApp, throttle: SharedThrottle | None = None) -> None:
        self.app = app
        self._throttle = throttle  # built on first use: the runtime hangs on app.state

    def throttle(self, scope: Scope) -> SharedThrottle:
        if self._throttle is None:
            runtime = web_state(Request(scope)).runtime
            self._throttle = SharedThrottle(runtime.db, runtime.now)
        return self._throttle

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = scope["path"]
        attempt = _attempt(scope) and (path == "/" or path.startswith(_GUARDED))
        address = client_address(scope)
        throttle = self.throttle(scope)
        if attempt and (wait := await throttle.retry_after(address)) is not None:
            why = f"Too many failed attempts from this address; retry in {wait}s."
            response: Response = (
                error(429, why) if path.startswith("/api/") else login_page(why, status=429)
            )
            response.headers["Retry-After"] = str(wait)
            await response(scope, receive, send)
            return
        request = Request(scope)
        cookie = request.cookies.get(COOKIE)
        token = web_state(request).api_token
        if cookie and token:
            sid = session_id(token, cookie)
            runtime = web_state(request).runtime
            ok = sid is not None and await sessions_repo.alive(
                runtime.db, sid, runtime.now(), timedelta(seconds=IDLE), timedelta(seconds=MAX_AGE)
            )
            scope.setdefault("state", {})[_STATE] = ok

        async def watch(message: Message) -> None:
            if attempt and message["type"] == "http.response.start" and message["status"] == 401:
                await throttle.failed(address)
            await send(message)

        await self.app(scope, receive, watch)


def secure(request: Request) -> bool:
    public = os.environ.get(PUBLIC_URL_ENV, "").strip().lower()
    return request.url.scheme == "https" or public.startswith("https://")


def same_site(request: Request) -> bool:
    """Whether a POST came from our own pages: by ``Sec-Fetch-Site`` where the browser sends
    it, else by ``Origin``; a request with neither (curl, scripts) carries no ambient cookie
    risk and passes."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        return site in ("same-origin", "none")
    origin = request.headers.get("origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc.lower() == request.headers.get("host", "").lower()


async def _token_field(request: Request) -> str | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return None
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return None
    values = fields.get("token") or [""]
    return values[0].strip()


async def login(request: Request) -> Response:
    if not same_site(request):
        return login_page("This form must be sent from the dashboard itself.", status=403)
    token = web_state(request).api_token
    if not token:
        return login_page(
            "The dashboard is disabled: NUDGEBOT_API_TOKEN is not set on the server.", status=401
        )
    given = await _token_field(request)
    if given is None:
        return login_page("That form could not be read; enter the token again.", status=400)
    if not given or not hmac.compare_digest(given.encode(), token.encode()):
        return login_page("Wrong token.", status=401)
    sid = secrets.token_urlsafe(32)
    runtime = web_state(request).runtime
    await sessions_repo.create(
        runtime.db, sid, runtime.now(), timedelta(seconds=IDLE), timedelta(seconds=MAX_AGE)
    )
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        session_value(token, sid),
        max_age=MAX_AGE,
        path="/",
        secure=secure(request),
        httponly=True,
        samesite="strict",
    )
    return response


async def logout(request: Request) -> Response:
    if not same_site(request):
        return login_page("This form must be sent from the dashboard itself.", status=403)
    token = web_state(request).api_token
    cookie = request.cookies.get(COOKIE)
    sid = session_id(token, cookie) if token and cookie else None
    if sid is not None:
        await sessions_repo.end(web_state(request).runtime.db, sid)  # dead on every replica
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(
        COOKIE, path="/", secure=secure(request), httponly=True, samesite="strict"
    )
    return response
