"""Meta's two checks: the subscription challenge (GET) and the payload signature (POST).

Both compare in constant time. Header values arrive from Starlette as latin-1 text, so they
are turned back into the bytes the client sent before comparing; that keeps
``hmac.compare_digest`` away from its ASCII-only rule for ``str``.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

SIGNATURE_HEADER = "X-Hub-Signature-256"
_CHALLENGE = re.compile(r"[A-Za-z0-9_.-]{1,256}")


def signature_problem(app_secret: str, body: bytes, header: str | None) -> str | None:
    """None when ``header`` is ``sha256=<hex HMAC-SHA256 of body with the app secret>``."""
    if header is None or not header.strip():
        return f"missing {SIGNATURE_HEADER} header"
    scheme, _, digest = header.strip().encode("latin-1").partition(b"=")
    expected = hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest().encode()
    if scheme.lower() != b"sha256" or not hmac.compare_digest(expected, digest.lower()):
        return f"bad {SIGNATURE_HEADER}: not sha256=<HMAC-SHA256 of this body with the app secret>"
    return None


def sign(app_secret: str, body: bytes) -> str:
    """The header value Meta sends for ``body`` (tests, the benchmark)."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def challenge_answer(verify_token: str, params: Mapping[str, str]) -> str | None:
    """The ``hub.challenge`` to echo when Meta's verification request is genuine, else None."""
    if params.get("hub.mode") != "subscribe":
        return None
    given = params.get("hub.verify_token")
    challenge = params.get("hub.challenge", "")
    if given is None or not verify_token:
        return None
    if not hmac.compare_digest(verify_token.encode(), given.encode("utf-8", "surrogatepass")):
        return None
    # Meta's challenge is a number: anything else is refused, so the endpoint cannot be used
    # to reflect arbitrary content back to a browser.
    if not _CHALLENGE.fullmatch(challenge):
        return None
    return challenge
