"""``GET /``: the owners' dashboard, server-rendered; its waiting rows refresh every 30 seconds.

Without a valid bearer header or session cookie it shows the login form and no data. Bad
``?since=`` input gets a notice (and status 400) over the default window, never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode, urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from bot.config import Config
from bot.domain.durations import format_duration
from bot.services.dashboard import CHART_DAYS, WAITING_ROWS, DashboardData, default_since, gather
from bot.services.digest import oncall_reporter
from bot.services.waiting_page import BadQuery, Page, Query
from bot.web.api import load_page, since_param, waiting_query
from bot.web.chart import chart_table, reply_time_chart
from bot.web.errors import ApiError
from bot.web.fmt import People
from bot.web.html import Safe, element, join, render, table
from bot.web.page import HEADERS, login_page, page
from bot.web.session import authenticated
from bot.web.state import web_state
from bot.web.waiting_view import WaitingView

REFRESH_SECONDS = 30


def _dur(seconds: object) -> str:
    if not isinstance(seconds, int | float):
        return "–"
    return format_duration(timedelta(seconds=round(float(seconds))))


def _pct(value: object) -> str:
    return f"{float(value):.0%}" if isinstance(value, int | float) else "–"


def _link(url: str, text: str = "open") -> Safe:
    # Only web links: a javascript: or data: URL from a platform must never become clickable.
    if urlsplit(url).scheme.lower() not in ("http", "https"):
        return Safe("")
    return element("a", text, href=url, rel="noopener noreferrer")


class View(People):
    def __init__(self, data: DashboardData, config: Config) -> None:
        super().__init__(config)
        self.d = data

    def person_link(self, person: object) -> Safe:
        if not isinstance(person, str) or self.config.person(person) is None:
            return element("span", self.name(person) if isinstance(person, str) else "nobody")
        href = f"/?{urlencode({'person': person})}#waiting"
        return element("a", self.name(person), href=href)

    def kpis(self) -> Safe:
        s = self.d.stats
        counts = self.d.waiting.counts
        tiles = [
            ("waiting now", counts.total),
            ("overdue now", counts.overdue_total),
            ("SLA met", _pct(s["sla_met_ratio"])),
            ("first response, median", _dur(s["first_response"]["median_seconds"])),
            ("reply time, median", _dur(s["reply"]["median_seconds"])),
            ("replies / broadcasts", f"{s['replies']} / {s['broadcasts']}"),
        ]
        return element(
            "div",
            join(element("div", join([element("b", v), k]), class_="kpi") for k, v in tiles),
            class_="kpis",
        )

    def oncall(self) -> Safe:
        report = self.d.oncall
        rotations: Mapping[str, Any] = (report or {}).get("rotations") or {}
        if not rotations:
            return Safe('<p class="muted">No rotations are configured.</p>')
        rows = []
        for rotation, turn in sorted(rotations.items()):
            nxt = turn.get("next")
            if isinstance(nxt, Mapping):
                nxt = nxt.get("person") or nxt.get("on_call")
            until = turn.get("until")
            rows.append(
                (
                    rotation,
                    self.person_link(turn.get("on_call")),
                    self.when(datetime.fromisoformat(until.replace("Z", "+00:00")))
                    if isinstance(until, str) and until
                    else "–",
                    self.name(str(nxt)) if nxt else "–",
                )
            )
        return table(("rotation", "on call now", "until", "next"), rows)

    def chart(self) -> Safe:
        title = f"Reply time per day, last {CHART_DAYS} days ({self.config.timezone})"
        return join(
            [
                reply_time_chart(self.d.days, title),
                element(
                    "details", join([element("summary", "The numbers"), chart_table(self.d.days)])
                ),
            ]
        )

    def engagement(self) -> Safe:
        rows = []
        for w in reversed(self.d.engagement["weeks"]):
            sent = w["replies"] + w["broadcasts"]
            rows.append(
                (
                    w["week"],
                    w["replies"],
                    w["broadcasts"],
                    _pct(w["replies"] / sent) if sent else "–",
                    w["conversations"],
                    w["answered"],
                    _pct(w["answered_ratio"]),
                    _dur(w["median_reply_seconds"]),
                )
            )
        headers = (
            "week",
            "replies",
            "broadcasts",
            "replies share",
            "conversations",
            "answered",
            "answered share",
            "median reply",
        )
        return table(headers, rows, class_="engagement")

    def breakdown(self, key: str, label: str) -> Safe:
        groups: Mapping[str, Mapping[str, Any]] = self.d.stats[key]
        if not groups:
            return Safe('<p class="muted">No conversations in this period.</p>')
        field = "person" if key == "by_person" else "source"

        def first(k: str) -> Safe:
            # A row leads to the waiting list filtered to it (a person or source unknown to
            # the config — an imported author id — has no filter, so no link).
            known = self.config.person(k) if field == "person" else self.config.source(k)
            text = self.name(k) if field == "person" else k
            if known is None:
                return element("span", text)
            return element("a", text, href=f"/?{urlencode({field: k})}#waiting")

        rows = [
            (
                first(k),
                b["replies"],
                b["broadcasts"],
                _dur(b["first_response"]["median_seconds"]),
                _dur(b["first_response"]["p90_seconds"]),
                _dur(b["reply"]["median_seconds"]),
                _dur(b["reply"]["p90_seconds"]),
                b["reply"]["count"],
                _pct(b["sla_met_ratio"]),
                b["unanswered"],
            )
            for k, b in groups.items()
        ]
        headers = (
            label,
            "replies",
            "broadcasts",
            "first resp. median",
            "p90",
            "reply median",
            "p90",
            "answered",
            "SLA met",
            "unanswered",
        )
        return table(headers, rows)


_BODY = """$notice<section><h2>At a glance <span class="muted">since $since</span></h2>$kpis
<form class="since" method="get" action="/"><label for="since">Period</label>
<input id="since" name="since" value="$since_value" size="14">
<button type="submit">Show</button><span class="muted">7d, 30d, 12w or a date like 2026-11-01
</span></form></section>
<section><h2>Who's waiting</h2><div id="waiting">$waiting</div></section>
<section><h2>On call</h2>$oncall</section>
<section><h2>Reply time per day</h2>$chart</section>
<section><h2>Engagement: replies vs broadcasts, last 12 weeks</h2>$engagement</section>
<section><h2>By person</h2>$by_person</section>
<section><h2>By source</h2>$by_source</section>
<p class="muted">Updated $updated ($tz); figures over time as of $figures (kept a minute).
The waiting list refreshes every $refresh seconds.</p>"""


def _notice(message: str) -> Safe:
    return render('<section class="notice error" role="alert">$m</section>', m=message)


async def index(request: Request) -> Response:
    if not authenticated(request):
        if "authorization" in request.headers or not web_state(request).api_token:
            error = (
                "Bad bearer token."
                if web_state(request).api_token
                else "The dashboard is disabled: NUDGEBOT_API_TOKEN is not set on the server."
            )
            return login_page(error, status=401)
        return login_page()
    web = web_state(request)
    runtime = web.runtime
    now = runtime.now()
    raw = request.query_params.get("since")
    notices: list[Safe] = []
    status, since = 200, default_since(now)
    # The history cache's key: the window as typed, so "7d" is one entry as the clock moves.
    window = f"{CHART_DAYS}d"
    if raw is not None and raw.strip():
        try:
            since = since_param(raw, now)
            window = raw.strip()
        except ApiError as exc:
            status = 400
            notices.append(_notice(f"{exc.message} Showing the last {CHART_DAYS} days instead."))
    try:
        query = waiting_query(request, default_limit=WAITING_ROWS)
    except ApiError as exc:
        status = 400
        notices.append(_notice(f"{exc.message} Showing everyone waiting instead."))
        query = Query(limit=WAITING_ROWS)
    people = People(runtime.config)
    since_arg = raw if raw is not None and raw.strip() else None
    if request.query_params.get("rows") == "1":  # the page's script, every REFRESH_SECONDS
        result = await load_page(request, query)
        section = await _waiting_section(request, result, query, people, now, since_arg)
        return HTMLResponse(section, status_code=status, headers=HEADERS)
    await runtime.oncall.prepare()

    async def load(q: Query) -> DashboardData:
        oncall = oncall_reporter(runtime.oncall)
        return await gather(
            runtime.db, runtime.config, runtime.routing, now, since, oncall, q, web.history, window
        )

    try:
        data = await load(query)
    except BadQuery as exc:  # a cursor from elsewhere: the first page, with a notice
        status = 400
        notices.append(_notice(f"{exc} Showing the first page instead."))
        query = Query(limit=WAITING_ROWS, sort=query.sort)
        data = await load(query)
    view = View(data, runtime.config)
    body = render(
        _BODY,
        notice=join(notices),
        since=view.when(since),
        kpis=view.kpis(),
        since_value=raw if raw is not None else f"{CHART_DAYS}d",
        waiting=await _waiting_section(request, data.waiting, query, people, now, since_arg),
        oncall=view.oncall(),
        chart=view.chart(),
        engagement=view.engagement(),
        by_person=view.breakdown("by_person", "person"),
        by_source=view.breakdown("by_source", "source"),
        updated=view.when(now),
        figures=view.when(data.figures_at or now),
        tz=runtime.config.timezone,
        refresh=REFRESH_SECONDS,
    )
    return page("Nudgebot · dashboard", body, status=status, logout=True, script=True)


async def _waiting_section(
    request: Request,
    result: Page,
    query: Query,
    people: People,
    now: datetime,
    since: str | None,
) -> Safe:
    names = await web_state(request).channel_names.names(
        (r.platform, r.channel) for r in result.rows
    )
    return WaitingView(result, query, people, now, names, since).section()
