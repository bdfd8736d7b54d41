"""Slash commands and App Home: answers for team members, a polite refusal for anyone else."""

from __future__ import annotations

import json
from typing import Any

from adapters.slack.views import HELP, REFUSAL
from tests.slack.conftest import Slack
from tests.slack.slack_payloads import (
    ALICE,
    BOB,
    OTHER_TEAM,
    STRANGER,
    command_body,
    envelope,
    message,
    post,
)

T0 = "1795865399.900100"  # 11:29:59.9
T1 = "1795866299.900200"  # 11:44:59.9


async def seed(slack: Slack) -> None:
    await post(slack.http, message(T1, text="Is the API down?"))  # acme, Alice's
    await post(
        slack.http,
        message(
            T0,
            channel="C0PARTNER1",
            team=OTHER_TEAM,
            user="U0PARTNER9",
            text="Invoice <wrong> & late",
        ),
    )


def shown(value: Any) -> str:
    """A rich_text block as the mrkdwn it reads like (for assertions only)."""
    if isinstance(value, list):
        return "".join(shown(v) for v in value)
    kind = value.get("type")
    if kind == "text":
        return f"*{value['text']}*" if value.get("style", {}).get("bold") else str(value["text"])
    if kind == "user":
        return f"<@{value['user_id']}>"
    if kind == "channel":
        return f"<#{value['channel_id']}>"
    if kind == "link":
        return f"<{value['url']}|{value['text']}>"
    if kind == "emoji":
        return f":{value['name']}:"
    sep = "\n" if kind in ("rich_text", "rich_text_list") else ""
    return sep.join(shown(v) for v in value.get("elements", []))


async def test_waiting_for_a_member_is_ephemeral_grouped_and_oldest_first(slack: Slack) -> None:
    await seed(slack)
    response = await post(slack.http, command_body("/waiting"))
    assert response.status_code == 200
    body = response.json()
    assert body["response_type"] == "ephemeral"
    assert body["text"] == "2 conversation(s) waiting"
    sections = [b["text"]["text"] for b in body["blocks"] if b["type"] == "section"]
    assert sections == ["*Waiting for a reply* (2)"]
    # Rows are rich_text (customer names are literal text there), shown here as mrkdwn.
    groups = [shown(b) for b in body["blocks"] if b["type"] == "rich_text"]
    partners, acme = groups  # the oldest wait's source first
    assert partners.startswith("*partners*") and acme.startswith("*acme*")
    assert "<@U0PARTNER9> in <#C0PARTNER1> — waiting *30m*" in partners and "Bob" in partners
    assert "<#C0CUST001> — waiting *15m* · :red_circle: overdue · Alice" in acme
    assert "|open>" in acme


async def test_waiting_mine(slack: Slack) -> None:
    await seed(slack)
    alice = (await post(slack.http, command_body("/waiting", "mine"))).json()
    bob = (await post(slack.http, command_body("/waiting", " Mine ", user=BOB))).json()
    alice_text, bob_text = json.dumps(alice["blocks"]), json.dumps(bob["blocks"])
    assert "Waiting on you* (1)" in alice_text and "C0CUST001" in alice_text
    assert "C0PARTNER1" not in alice_text
    assert "C0PARTNER1" in bob_text and "C0CUST001" not in bob_text


async def test_waiting_when_nobody_waits(slack: Slack) -> None:
    body = (await post(slack.http, command_body("/waiting"))).json()
    assert body["text"] == "Nobody is waiting."
    assert "Nobody is waiting. :tada:" in json.dumps(body["blocks"])


async def test_strangers_get_a_refusal_that_reveals_nothing(slack: Slack) -> None:
    await seed(slack)
    for command, text in (
        ("/waiting", ""),
        ("/waiting", "mine"),
        ("/oncall", ""),
        ("/nudgebot", "help"),
    ):
        response = await post(slack.http, command_body(command, text, user=STRANGER))
        assert response.status_code == 200
        body = response.json()
        assert body == {"text": REFUSAL, "response_type": "ephemeral"}


async def test_oncall_and_help(slack: Slack) -> None:
    oncall = (await post(slack.http, command_body("/oncall"))).json()
    assert oncall["response_type"] == "ephemeral"
    # Turns alternate weekly from Mon 2 Nov 09:00 UTC: the 4th (from 23 Nov) is Bob's. Times
    # are in the asker's zone (Alice: Berlin).
    assert oncall["text"] == "*On call now*\n• *support*: Bob until Mon 30 Nov 10:00, then Alice"
    helped = (await post(slack.http, command_body("/nudgebot", "help"))).json()
    assert helped["text"] == HELP
    unknown = (await post(slack.http, command_body("/nudgebot", "dance"))).json()
    assert unknown["text"] == HELP


async def test_app_home_for_a_member(slack: Slack) -> None:
    await seed(slack)
    assert (await post(slack.http, envelope("app_home_opened.json"))).status_code == 200
    await slack.settle()
    [call] = slack.fake.calls_to("views.publish")
    assert call.params["user_id"] == ALICE
    view = call.params["view"]
    assert view["type"] == "home"
    text = json.dumps(view["blocks"])
    assert "*Waiting on you* (1)" in text and "The team's waiting list* (2)" in text
    assert "C0PARTNER1" in text


async def test_app_home_for_a_stranger(slack: Slack) -> None:
    await seed(slack)
    opened = envelope("app_home_opened.json", "Ev0HOM00002", user=STRANGER)
    assert (await post(slack.http, opened)).status_code == 200
    await slack.settle()
    [call] = slack.fake.calls_to("views.publish")
    text = json.dumps(call.params["view"])
    assert "I only answer members" in text
    assert "C0PARTNER1" not in text and "U0PARTNER9" not in text


async def test_app_home_retry_publishes_once(slack: Slack) -> None:
    opened = envelope("app_home_opened.json", "Ev0HOM00003")
    for attempt in (None, 1):
        assert (await post(slack.http, opened, retry=attempt)).status_code == 200
    await slack.settle()
    assert len(slack.fake.calls_to("views.publish")) == 1
