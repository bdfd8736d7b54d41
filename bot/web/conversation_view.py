"""The conversation page's markup. Every value from the database goes through ``render`` or
``element`` and so reaches the page as escaped text; the platform link only if http(s)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from starlette.requests import Request

from bot.config import Config
from bot.domain.routing import Route
from bot.web import csrf
from bot.web.errors import ApiError
from bot.web.fmt import People, dur, web_link
from bot.web.html import Safe, element, join, render, row_of, table
from bot.web.state import web_state
from storage import conversation_page_queries as store

DONE = {
    "claim": "Claimed. Nudges already sent say so.",
    "assign": "Assigned. Nudges already sent say so.",
    "snooze": "Snoozed: the next nudge waits.",
    "not_needed": "Marked as not needed: nobody will be nudged.",
}
_ENDS = {"reply": "answered by", "not_needed": "not needed, said", "deleted": "messages deleted"}
_PLATFORM = {"slack": "Slack", "telegram": "Telegram", "github": "GitHub", "mastodon": "Mastodon"}


def why(route: Route, rotation: str | None, name: str) -> str:
    """Who is responsible now and why, in words (DESIGN.md, "Responsible person")."""
    reasons = {
        "claimed": f"{name} claimed it",
        "owner": f"{name} owns this source and is within their hours",
        "on_call": f"{name} is on call in rotation {rotation}"
        if rotation
        else f"{name} is on call",
        "owner_out_of_hours": f"{name} owns this source; outside their hours and nobody is on "
        "call, so their nudge waits for their hours",
        "owners": "the source has no owner or rotation: every owner is responsible",
        "nobody": "nobody: the source has no owner and the team has no owners",
    }
    return reasons.get(route.reason, route.reason)


@dataclass(frozen=True)
class ConversationView:
    stored: store.Stored
    config: Config
    people: People
    now: datetime
    route: Route
    reason: str
    channel_name: str
    csrf_token: str

    def _when(self, at: datetime | None) -> str:
        return self.people.when(at) if at is not None else "–"

    def header(self) -> Safe:
        h = self.stored.head
        where = [h.source]
        if h.channel:
            where += [" · ", element("span", self.channel_name, title=h.channel, class_="channel")]
        platform = _PLATFORM.get(h.platform, h.platform)
        link = web_link(h.url, f"Open on {platform}", class_="platform-link")
        customer = h.customer_name or h.customer_id or "–"
        return render(
            '<section><h2>$customer <span class="muted">$where · $platform</span></h2>'
            '<p>$link</p>$status<p class="who">Responsible now: <b>$who</b> — $why</p>'
            "</section>",
            customer=customer,
            where=join(where),
            platform=platform,
            link=link or Safe('<span class="muted">no web link for this conversation</span>'),
            status=self.status(),
            who=", ".join(self.people.name(p) for p in self.route.people) or "nobody",
            why=self.reason,
        )

    def status(self) -> Safe:
        h = self.stored.head
        if h.waiting_since is None:
            return Safe('<p class="muted">Nobody is waiting here now.</p>')
        waited = dur((self.now - h.waiting_since).total_seconds())
        due = "no due time"
        if h.due_at is not None:
            late = self.now >= h.due_at
            due = f"{'overdue since' if late else 'due'} {self._when(h.due_at)}"
        snooze = ""
        if h.snoozed_until is not None and h.snoozed_until > self.now:
            snooze = f"; snoozed until {self._when(h.snoozed_until)}"
        return render(
            '<p><span class="badge">waiting</span> since $since ($waited); $due$snooze</p>',
            since=self._when(h.waiting_since),
            waited=waited,
            due=due,
            snooze=snooze,
        )

    def actions(self) -> Safe:
        if self.stored.head.waiting_since is None:
            return Safe("")
        team = sorted(self.config.team.values(), key=lambda p: p.name.lower())
        options = join(element("option", p.name, value=p.id) for p in team)
        pick = element("option", "— who are you? —", value="")
        return render(
            '<section class="actions"><h2>Act on it</h2>'
            '<form method="post" action="/conversations/$id">'
            '<input type="hidden" name="csrf" value="$token">'
            '<label>You are <select name="as" id="as" required>$pick$options</select></label>'
            '<button type="submit" name="action" value="claim">Claim</button>'
            '<label>Assign to <select name="to" id="to">$options</select></label>'
            '<button type="submit" name="action" value="assign">Assign</button>'
            '<button type="submit" name="action" value="snooze:30m">Snooze 30m</button>'
            '<button type="submit" name="action" value="snooze:2h">Snooze 2h</button>'
            '<button type="submit" name="action" value="snooze:tomorrow">'
            "Snooze until tomorrow 09:00</button>"
            '<button type="submit" name="action" value="not_needed">Not needed</button>'
            "</form></section>",
            id=self.stored.head.id,
            token=self.csrf_token,
            pick=pick,
            options=options,
        )

    def transcript(self) -> Safe:
        rows = []
        for line in self.stored.lines:
            who = self.people.name(line.author) if line.is_team else line.author
            marks = []
            if line.deleted:
                marks.append(element("span", "deleted", class_="badge"))
            if line.edited_at is not None:
                marks.append(
                    element("span", f"edited {self._when(line.edited_at)}", class_="muted")
                )
            text = element("span", line.text, class_="deleted" if line.deleted else None)
            cells = [
                self._when(line.at),
                join([who, " ", element("span", "team" if line.is_team else "customer",
                                        class_="muted")]),
                join([text, " ", join(marks, " ")]),
            ]  # fmt: skip
            rows.append(row_of(cells, class_="team" if line.is_team else "customer"))
        if not rows:
            return Safe('<p class="muted">No messages stored.</p>')
        return table(("time", "who", "message"), rows, class_="transcript")

    def periods(self) -> Safe:
        rows = []
        for p in self.stored.periods:
            if p.ended_at is None:
                end = "still waiting"
            else:
                by = self.people.name(p.answered_by) if p.answered_by else ""
                end = (
                    f"{self._when(p.ended_at)}, {_ENDS.get(p.end_reason or '', p.end_reason)} {by}"
                )
            late = p.due_at is not None and (p.ended_at or self.now) > p.due_at
            rows.append(
                (self._when(p.started_at), self._when(p.due_at), end.strip(), "yes" if late else "")
            )
        if not rows:
            return Safe('<p class="muted">No waiting periods.</p>')
        return table(("waiting from", "due", "ended", "late"), rows, class_="periods")

    def nudges(self) -> Safe:
        rows = []
        for n in self.stored.nudges:
            to = self.people.name(n.person) if n.person else n.recipient
            outcome = f"{n.outcome} by {self.people.name(n.outcome_by)}" if n.outcome else ""
            state = f"{n.state}: {n.error}" if n.error else n.state
            rows.append((self._when(n.at), n.step, to, n.platform or "–", state, outcome))
        if not rows:
            return Safe('<p class="muted">No nudges yet.</p>')
        return table(("when", "step", "to", "via", "state", "shows"), rows, class_="nudges")

    def history(self) -> Safe:
        rows = []
        for a in self.stored.actions:
            detail = f"until {self._when(a.until)}" if a.until else a.note[:200]
            rows.append(
                (self._when(a.at), a.kind.replace("_", " "), self.people.name(a.person),
                 a.via or "chat", detail)
            )  # fmt: skip
        if not rows:
            return Safe('<p class="muted">Nobody has acted on it yet.</p>')
        return table(("when", "action", "who", "via", "detail"), rows, class_="history")

    def body(self, notice: str | Safe = "") -> Safe:
        if notice and not isinstance(notice, Safe):
            notice = render('<section class="notice" role="status">$m</section>', m=notice)
        return render(
            '$notice<p><a href="/#waiting">« back to the dashboard</a></p>$header$actions'
            '<section><h2>Transcript <span class="muted">($tz)</span></h2>$transcript</section>'
            "<section><h2>Waiting periods</h2>$periods</section>"
            "<section><h2>Nudges</h2>$nudges</section>"
            "<section><h2>Actions</h2>$history</section>",
            notice=notice,
            header=self.header(),
            actions=self.actions(),
            tz=self.config.timezone,
            transcript=self.transcript(),
            periods=self.periods(),
            nudges=self.nudges(),
            history=self.history(),
        )


async def load_view(request: Request, conversation_id: int) -> ConversationView:
    web = web_state(request)
    runtime = web.runtime
    async with runtime.db.read() as session:
        stored = await store.load(session, conversation_id)
    if stored is None:
        raise ApiError(404, "no such conversation")
    await runtime.oncall.prepare()
    now = runtime.now()
    h = stored.head
    route = runtime.routing.route(h.source, h.claimed_by, now)
    people = People(runtime.config)
    reason = why(route, runtime.routing.source_rotation.get(h.source), people.name(route.primary))
    names = await web.channel_names.names([(h.platform, h.channel)])
    name = names.get((h.platform, h.channel), h.channel)
    return ConversationView(stored, runtime.config, people, now, route, reason, name,
                            csrf.token_for(request))  # fmt: skip
