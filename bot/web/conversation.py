"""``/conversations/{id}``: one conversation — transcript, waiting periods, nudges, actions,
who is responsible now and why — with the chat buttons' actions as forms.

``GET`` renders; ``POST`` acts (claim, assign, snooze, not needed) through the same service
the chat buttons use (bot.services.nudge_actions), so the action lands in the history and
every nudge already sent is updated in place. Forms carry a CSRF token (bot.web.csrf); a
result comes back as a fixed notice code after a redirect, never as text from the request.
"""

from __future__ import annotations

from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from bot.domain.events import ActionKind
from bot.domain.ladder import snooze_until
from bot.domain.ports import ActionRequest
from bot.web import csrf
from bot.web.conversation_view import DONE, ConversationView, load_view
from bot.web.errors import ApiError
from bot.web.html import render
from bot.web.page import login_page, page
from bot.web.session import authenticated
from bot.web.state import web_state

MAX_FORM = 4096
SNOOZES = ("30m", "2h", "tomorrow")


def _id(request: Request) -> int:
    raw = request.path_params.get("conversation_id", "")
    if not raw.isdigit() or len(raw) > 18:
        raise ApiError(404, "no such conversation")
    return int(raw)


async def show(request: Request) -> Response:
    if not authenticated(request):
        return login_page(status=401 if "authorization" in request.headers else 200)
    view = await load_view(request, _id(request))
    done = request.query_params.get("done")
    notice = DONE.get(done or "", "")
    return page(f"Nudgebot · conversation {view.stored.head.id}", view.body(notice), logout=True)


async def _form(request: Request) -> dict[str, str] | None:
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_FORM:
            return None
    try:
        fields = parse_qs(body.decode("utf-8"), max_num_fields=10)
    except (UnicodeDecodeError, ValueError):
        return None
    return {k: v[0].strip() for k, v in fields.items() if v}


async def act(request: Request) -> Response:
    if not authenticated(request):
        return login_page("Sign in first.", status=401)
    conversation = _id(request)
    form = await _form(request)
    if form is None:
        return await _again(request, conversation, "That form could not be read.", 400)
    refused = csrf.refusal(request, form.get(csrf.FIELD))
    if refused is not None:
        return await _again(request, conversation, refused, 403)
    runtime = web_state(request).runtime
    config = runtime.config
    actor = form.get("as", "")
    if config.person(actor) is None:
        return await _again(request, conversation, "Choose who you are (a team member).", 400)
    action = form.get("action", "")
    now = runtime.now()
    request_: ActionRequest
    if action == "claim":
        request_ = ActionRequest(conversation, ActionKind.CLAIM, actor, now, via="web")
    elif action == "assign":
        to = form.get("to", "")
        if config.person(to) is None:
            return await _again(request, conversation, "Choose whom to assign it to.", 400)
        note = f"assigned by {config.person(actor).name}" if to != actor else ""  # type: ignore[union-attr]
        request_ = ActionRequest(conversation, ActionKind.CLAIM, to, now, via="web", note=note)
    elif action.startswith("snooze:") and action.removeprefix("snooze:") in SNOOZES:
        zone = config.person(actor).tz  # type: ignore[union-attr]
        until = snooze_until(action.removeprefix("snooze:"), now, zone)
        request_ = ActionRequest(
            conversation, ActionKind.SNOOZE, actor, now, until=until, via="web"
        )
    elif action == "not_needed":
        request_ = ActionRequest(conversation, ActionKind.NOT_NEEDED, actor, now, via="web")
    else:
        return await _again(request, conversation, "Unknown action.", 400)
    result = await runtime.engine.act(request_)
    if not result.ok:
        return await _again(request, conversation, result.message, 409)
    code = "assign" if action == "assign" else action.split(":")[0]
    return RedirectResponse(f"/conversations/{conversation}?done={code}", status_code=303)


async def _again(request: Request, conversation: int, message: str, status: int) -> Response:
    """The page again with the problem on top (nothing was changed)."""
    view: ConversationView = await load_view(request, conversation)
    notice = render('<section class="notice error" role="alert">$m</section>', m=message)
    return page(f"Nudgebot · conversation {conversation}", view.body(notice), status=status,
                logout=True)  # fmt: skip
