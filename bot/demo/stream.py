"""The demo's traffic: a scripted first minute that shows the whole ladder, then random
customers and team members for as long as the demo runs.

Times are seconds from the start at speed 1; the runner divides them by ``--speed``. With the
demo policy (reply within 10s, remind every 10s, escalate 20s after the first nudge) the
script produces, in order: four conversations waiting, their first nudges, a follow-up that
does not move the wait, an answer that turns a nudge green, a "thanks!" that opens nothing,
reminders, an escalation to the owner, and answers that turn every nudge sent green.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Iterator
from dataclasses import dataclass

from bot.demo.config import SLACK_CHANNEL, TEAM, TELEGRAM_CHAT

PLATFORMS = {"website": "webhook", "acme": "slack", "community": "telegram"}
CHANNELS = {"website": "", "acme": SLACK_CHANNEL, "community": TELEGRAM_CHAT}


@dataclass(frozen=True, order=True)
class Say:
    """One message at ``at`` seconds; ``person`` is the team member id for team messages."""

    at: float
    source: str
    thread: str
    author: str  # display name
    text: str
    person: str | None = None

    @property
    def platform(self) -> str:
        return PLATFORMS[self.source]

    @property
    def channel(self) -> str:
        return CHANNELS[self.source]

    @property
    def author_id(self) -> str:
        """A team member's identity on the platform; customers get a stable made-up id."""
        if self.person is None:
            return "cust-" + self.author.split()[0].lower()
        member = next(m for m in TEAM if m.id == self.person)
        return {"slack": member.slack, "telegram": member.telegram}.get(self.platform, member.id)


def _team(person: str) -> str:
    return next(m.name for m in TEAM if m.id == person)


SCRIPT: tuple[Say, ...] = (
    Say(0.5, "website", "ticket-1", "Dana", "Hi! Where is my order #1042? It was due yesterday."),
    Say(2.5, "acme", "s-1", "Sam (Acme)", "Our nightly export has failed since this morning."),
    Say(4.5, "community", "g-1", "Lee", "Is there a way to switch to yearly billing?"),
    Say(6.5, "website", "ticket-2", "Noor", "Could you send me the invoice for March?"),
    Say(12.0, "website", "ticket-1", "Dana", "Any news on this?"),
    Say(18.0, "community", "g-1", _team("bob"), "Yes: Settings → Billing → Yearly.", "bob"),
    Say(21.0, "community", "g-1", "Lee", "thanks!"),
    Say(23.0, "website", "ticket-2", _team("alice"), "The invoice is in your inbox.", "alice"),
    Say(26.0, "acme", "s-2", "Priya (Acme)", "Is the API down? We get 502s on /orders."),
    Say(35.0, "website", "ticket-1", _team("alice"), "So sorry, Dana: it ships today.", "alice"),
    Say(38.0, "acme", "s-1", _team("carol"), "Found it: an expired token. Fixed.", "carol"),
)
SCRIPT_END = 40.0

CUSTOMERS = ("Ana", "Ben", "Chen", "Dev", "Eli", "Fatima", "Gus", "Hana", "Ivo", "Jun", "Kofi")
QUESTIONS = (
    "How do I reset my password?",
    "Can I add a second user to my account?",
    "The app crashes when I upload a photo.",
    "Do you ship to Norway?",
    "I was charged twice this month.",
    "Is there an API for exports?",
    "My discount code doesn't work.",
    "How long does a refund take?",
)
FOLLOW_UPS = ("Hello?", "Any update?", "Still stuck here.", "Anyone around?")
ANSWERS = (
    "On it — give me a minute.",
    "Fixed on our side, please try again.",
    "Here's the guide: https://example.com/help",
    "I've refunded the duplicate charge.",
)
CLOSINGS = ("thanks!", "thank you", "great", "👍")


def random_stream(rng: random.Random, start: float = SCRIPT_END) -> Iterator[Say]:
    """Endless traffic after the script: a new conversation every 3–6 s; about two thirds get
    a team answer within 8–40 s (some after a reminder or an escalation), some customers
    follow up meanwhile, and some say thanks afterwards."""
    pending: list[Say] = []
    counter = itertools.count(1)
    at = start
    while True:
        at += rng.uniform(3.0, 6.0)
        while pending and pending[0].at <= at:
            yield heapq.heappop(pending)
        source = rng.choice(tuple(PLATFORMS))
        n = next(counter)
        thread = f"r-{n}"
        customer = rng.choice(CUSTOMERS)
        yield Say(at, source, thread, customer, rng.choice(QUESTIONS))
        if rng.random() < 0.3:
            heapq.heappush(pending, Say(at + rng.uniform(4, 12), source, thread, customer,
                                        rng.choice(FOLLOW_UPS)))  # fmt: skip
        if rng.random() < 0.65:
            member = rng.choice(TEAM)
            answered = at + rng.uniform(8, 40)
            heapq.heappush(pending, Say(answered, source, thread, member.name,
                                        rng.choice(ANSWERS), member.id))  # fmt: skip
            if rng.random() < 0.4:
                heapq.heappush(pending, Say(answered + rng.uniform(2, 4), source, thread,
                                            customer, rng.choice(CLOSINGS)))  # fmt: skip


def demo_stream(rng: random.Random) -> Iterator[Say]:
    """The script, then random traffic, in time order."""
    yield from SCRIPT
    yield from random_stream(rng)
