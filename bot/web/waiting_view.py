"""The dashboard's "Who's waiting" section: filters with their counts, one page of rows (each
linking to its conversation page), and the way to the next page.

The same markup is the whole page's section and the answer to ``?rows=1`` that the page's
script fetches every 30 seconds, so a refresh shows exactly what a reload would.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from urllib.parse import urlencode

from bot.services.waiting import WaitingRow
from bot.services.waiting_page import Page, Query
from bot.web.fmt import People, dur, web_link
from bot.web.html import Safe, element, join, render, row_of, table, void

_SORT_LABELS = {"waiting": "longest waiting first", "due": "due soonest first"}


def _params(q: Query, since: str | None, **change: object) -> dict[str, str]:
    values: dict[str, object] = {
        "since": since,
        "source": q.source,
        "person": q.person,
        "platform": q.platform,
        "overdue": None if q.overdue is None else ("true" if q.overdue else "false"),
        "sort": q.sort if q.sort != "waiting" else None,
        **change,
    }
    return {k: str(v) for k, v in values.items() if v is not None and v != ""}


class WaitingView:
    def __init__(
        self,
        page: Page,
        q: Query,
        people: People,
        now: datetime,
        names: Mapping[tuple[str, str], str],
        since: str | None,
    ) -> None:
        self.page = page
        self.q = q
        self.people = people
        self.now = now
        self.names = names
        self.since = since

    def url(self, **change: object) -> str:
        query = urlencode(_params(self.q, self.since, **change))
        return f"/?{query}#waiting" if query else "/#waiting"

    def _select(self, name: str, label: str, options: list[tuple[str, str]], chosen: str) -> Safe:
        opts = join(
            element("option", text, value=value, selected=(value == chosen))
            for value, text in options
        )
        return element("label", join([label, element("select", opts, name=name)]))

    def filters(self) -> Safe:
        c = self.page.counts
        q = self.q

        def choices(counts: Mapping[str, int], shown: object = str) -> list[tuple[str, str]]:
            out = [("", "all")]
            for key, n in counts.items():
                text = self.people.name(key) if shown == "person" else key
                out.append((key, f"{text} ({n})"))
            return out

        overdue = "" if q.overdue is None else ("true" if q.overdue else "false")
        fields = [
            self._select("source", "source", choices(c.source), q.source or ""),
            self._select("person", "responsible", choices(c.person, "person"), q.person or ""),
            self._select("platform", "platform", choices(c.platform), q.platform or ""),
            self._select(
                "overdue",
                "due",
                [
                    ("", "all"),
                    ("true", f"overdue ({c.overdue.get('overdue', 0)})"),
                    ("false", f"not yet due ({c.overdue.get('not_due', 0)})"),
                ],
                overdue,
            ),
            self._select("sort", "sort", list(_SORT_LABELS.items()), q.sort),
        ]
        hidden = void("input", type="hidden", name="since", value=self.since) if self.since else ""
        return element(
            "form",
            join([*fields, hidden, element("button", "Filter", type="submit")]),
            class_="filters",
            method="get",
            action="/",
        )

    def where(self, r: WaitingRow) -> Safe:
        if not r.channel:
            return Safe(r.source)
        name = self.names.get((r.platform, r.channel), r.channel)
        return join([r.source, " · ", element("span", name, title=r.channel, class_="channel")])

    def row(self, r: WaitingRow) -> Safe:
        due = (
            join(
                [element("span", "overdue", class_="badge"), " since ", self.people.when(r.due_at)]
            )
            if r.overdue and r.due_at
            else (f"in {dur((r.due_at - self.now).total_seconds())}" if r.due_at else "–")
        )
        cells = [
            element(
                "a", r.customer or "–", href=f"/conversations/{r.conversation}", class_="row-link"
            ),
            self.where(r),
            dur(r.waiting_seconds),
            due,
            ", ".join(self.people.name(p) for p in r.responsible_all) or "nobody",
            r.nudges_sent,
            r.last_message[:140],
            web_link(r.url),
        ]
        return row_of(cells, class_="overdue" if r.overdue else None)

    def section(self) -> Safe:
        c = self.page.counts
        shown = len(self.page.rows)
        summary = render(
            '<p class="muted">$matching of $total waiting match; showing $shown, $sort.</p>',
            matching=c.matching,
            total=c.total,
            shown=shown,
            sort=_SORT_LABELS[self.q.sort],
        )
        if not self.page.rows:
            body = (
                Safe("<p>Nobody is waiting. 🎉</p>")
                if c.total == 0
                else Safe("<p>Nobody waiting matches these filters.</p>")
            )
        else:
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
            body = table(headers, [self.row(r) for r in self.page.rows], class_="waiting")
        links = []
        if self.q.cursor:
            links.append(element("a", "« first page", href=self.url(), class_="first"))
        if self.page.next:
            links.append(
                element("a", "next page »", href=self.url(cursor=self.page.next), class_="next")
            )
        pager = element("nav", join(links), class_="pager") if links else Safe("")
        return join([self.filters(), summary, body, pager])
