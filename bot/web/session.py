"""Who may see the dashboard: ``NUDGEBOT_API_TOKEN`` as a bearer header, or a session cookie
from the login form.

The cookie never holds the token. It holds ``v1.<issued>.<HMAC-SHA256(token, issued)>``: only
someone who knows the token can make one, it stops working after MAX_AGE (checked here, not
only by the browser), and changing the token ends every session. It is ``HttpOnly`` (no
script can read it), ``SameSite=Strict`` (no other site's page can make the browser send it)
and ``Secure`` when the request came over https or ``NUDGEBOT_PUBLIC_URL`` is https.

CSRF: the only state-changing requests are ``POST /login`` and ``POST /logout``, plain
same-site form posts. SameSite=Strict already keeps the cookie off cross-site requests; on
top, a POST whose ``Origin`` (or ``Sec-Fetch-Site``) says it came from another site is
refused with 403. Logging someone in cross-site would need the token anyway.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import time
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.web.page import login_page
from bot.web.state import web_state

COOKIE = "nudgebot_session"
MAX_AGE = 7 * 24 * 3600
MAX_FORM = 8192  # bytes; a token field needs far less
PUBLIC_URL_ENV = "NUDGEBOT_PUBLIC_URL"


def _mac(token: str, issued: int) -> str:
    message = f"nudgebot-dashboard-session:{issued}".encode()
    return hmac.new(token.encode(), message, hashlib.sha256).hexdigest()


def session_value(token: str, issued: int) -> str:
    return f"v1.{issued}.{_mac(token, issued)}"


def valid_session(token: str, value: str, now: float) -> bool:
    version, _, rest = value.partition(".")
    issued_text, _, mac = rest.partition(".")
    if version != "v1" or not issued_text.isdigit() or len(issued_text) > 12:
        return False
    issued = int(issued_text)
    if not issued <= now + 60 or now - issued > MAX_AGE:  # a minute of clock skew
        return False
    return hmac.compare_digest(mac.encode(), _mac(token, issued).encode())


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
    cookie = request.cookies.get(COOKIE)
    return cookie is not None and valid_session(token, cookie, time.time())


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
    response = RedirectResponse("/", status_code=303)
    response.set_cookie(
        COOKIE,
        session_value(token, int(time.time())),
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
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(
        COOKIE, path="/", secure=secure(request), httponly=True, samesite="strict"
    )
    return response
