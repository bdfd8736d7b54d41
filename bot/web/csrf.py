"""CSRF tokens for the dashboard's action forms (claim, assign, snooze, not needed).

On top of what guards the login form (the session cookie is ``SameSite=Strict``, and a POST
whose ``Sec-Fetch-Site``/``Origin`` names another site is refused), every action form carries
a token bound to the session: HMAC-SHA256(API token, session cookie). Another site can neither
read it from our page nor compute it, and it stops working with the session. A request that
authenticates with the bearer header carries no ambient credential and needs no token.
"""

from __future__ import annotations

import hashlib
import hmac

from starlette.requests import Request

from bot.web.session import COOKIE, same_site
from bot.web.state import web_state

FIELD = "csrf"


def token_for(request: Request) -> str:
    api_token = web_state(request).api_token or ""
    session = request.cookies.get(COOKIE, "")
    message = f"nudgebot-csrf:{session}".encode()
    return hmac.new(api_token.encode(), message, hashlib.sha256).hexdigest()


def refusal(request: Request, given: str | None) -> str | None:
    """Why this (already authenticated) POST must be refused, or None when it may act."""
    if not same_site(request):
        return "This form must be sent from the dashboard itself."
    if "authorization" in request.headers:
        return None
    if not given or not hmac.compare_digest(given.encode(), token_for(request).encode()):
        return "The form has expired or did not come from the dashboard; reload the page."
    return None
