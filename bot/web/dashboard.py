"""``GET /``: the owners' dashboard, server-rendered, refreshing itself every 30 seconds.

Without a valid bearer header or session cookie it shows the login form and no data. Bad
``?since=`` input gets a notice (and status 400) over the default window, never a 500.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

from starlette.requests import Request
from starlette.responses import Response

from bot.config import Config
from bot.domain.durations import format_duration
from bot.services.dashboard import CHART_DAYS, DashboardData, default_since, gather
from bot.services.digest import oncall_reporter
from bot.services.waiting import WaitingRow
from bot.web.api import since_param
from bot.web.chart import chart_table, reply_time_chart
from bot.web.errors import ApiError
from bot.web.html import Safe, element, join, render, row_of, table
from bot.web.page import login_page, page
from bot.web.session import authenticated
from bot.web.state import web_state

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


class View:
    def __init__(self, data: DashboardData, config: Config) -> None:
        self.d = data
        self.config = config
        self.tz = ZoneInfo(config.timezone)

    def name(self, person: str | None) -> str:
        found = self.config.person(person) if person else None
        return found.name if found is not None else (person or "")

    def when(self, at: datetime) -> str:
        try:
            return f"{at.astimezone(self.tz):%a %d %b %Y %H:%M}"
        except OverflowError:  # ?since=0001-01-01 in a zone west of UTC
            return at.isoformat()

    def kpis(self) -> Safe:
        s = self.d.stats
        overdue = sum(1 for r in self.d.waiting if r.overdue)
        tiles = [
            ("waiting now", self.d.waiting_total),
            ("overdue now", overdue),
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

    def waiting_row(self, r: WaitingRow) -> Safe:
        due = (
            join([element("span", "overdue", class_="badge"), " since ", self.when(r.due_at)])
            if r.overdue and r.due_at
            else (f"in {_dur((r.due_at - self.d.now).total_seconds())}" if r.due_at else "–")
        )
        cells = [
            r.customer or "–",
            f"{r.source}" + (f" · {r.channel}" if r.channel else ""),
            _dur(r.waiting_seconds),
            due,
            ", ".join(self.name(p) for p in r.responsible_all) or "nobody",
            r.nudges_sent,
            r.last_message[:140],
            _link(r.url),
        ]
        return row_of(cells, class_="overdue" if r.overdue else None)

    def waiting(self) -> Safe:
        rows = self.d.waiting
        if not rows:
            return Safe("<p>Nobody is waiting. 🎉</p>")
        more = self.d.waiting_total - len(rows)
        note = render('<p class="muted">… and $n more.</p>', n=more) if more > 0 else Safe("")
        headers = (
            "customer",
            "where",
            "waiting",
            "due",
            "responsible",
            "nudges",
            "last message",
            "",
        )
        return join([table(headers, [self.waiting_row(r) for r in rows], class_="waiting"), note])

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
                    self.name(turn.get("on_call")) or "nobody",
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
        rows = [
            (
                self.name(k) if key == "by_person" else k,
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
<section><h2>Who's waiting</h2>$waiting</section>
<section><h2>On call</h2>$oncall</section>
<section><h2>Reply time per day</h2>$chart</section>
<section><h2>Engagement: replies vs broadcasts, last 12 weeks</h2>$engagement</section>
<section><h2>By person</h2>$by_person</section>
<section><h2>By source</h2>$by_source</section>
<p class="muted">Updated $updated ($tz). This page refreshes every $refresh seconds.</p>"""


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
    rt = web.rt
    now = rt.now()
    raw = request.query_params.get("since")
    notice, status, since = Safe(""), 200, default_since(now)
    if raw is not None and raw.strip():
        try:
            since = since_param(raw, now)
        except ApiError as exc:
            status = 400
            notice = render(
                '<section class="notice error" role="alert">$m Showing the last '
                "$days days instead.</section>",
                m=exc.message,
                days=CHART_DAYS,
            )
    data = await gather(rt.db, rt.config, rt.routing, now, since, oncall_reporter(rt.oncall))
    view = View(data, rt.config)
    body = render(
        _BODY,
        notice=notice,
        since=view.when(since),
        kpis=view.kpis(),
        since_value=raw if raw is not None else f"{CHART_DAYS}d",
        waiting=view.waiting(),
        oncall=view.oncall(),
        chart=view.chart(),
        engagement=view.engagement(),
        by_person=view.breakdown("by_person", "person"),
        by_source=view.breakdown("by_source", "source"),
        updated=view.when(now),
        tz=rt.config.timezone,
        refresh=REFRESH_SECONDS,
    )
    return page("Nudgebot · dashboard", body, status=status, refresh=REFRESH_SECONDS, logout=True)
