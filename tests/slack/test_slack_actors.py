"""Customer or team in Slack Connect: every workspace mark, in bolt's order, then users.info."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from adapters.slack.actors import marks
from adapters.slack.events import ChannelWatch, Workspace, needs_lookup, translate
from bot.config import parse_config
from storage.models import Message
from tests.fakes.slack_api import TEAM_ID
from tests.slack.conftest import CONFIG, Slack
from tests.slack.slack_payloads import ALICE, OTHER_TEAM, message, post

CONNECT = "C0PARTNER1"  # partners: no ``customers`` rule, so only a foreign mark decides
T0 = "1795865400.000100"
T1 = "1795865700.000200"


async def is_team(slack: Slack, ts: str, channel: str = CONNECT) -> bool:
    async with slack.runtime.db.read() as session:
        row = await session.scalar(
            select(Message.is_team).where(Message.message_id == f"{channel}:{ts}")
        )
    assert row is not None, "not stored"
    return bool(row)


def connect_body(ts: str, user: str, **event: Any) -> dict[str, Any]:
    """A message in the shared channel with every team mark removed, then ``event`` set."""
    body = message(ts, user=user, channel=CONNECT, text="hello")
    for key in ("team", "user_team", "source_team", "user_profile"):
        body["event"].pop(key, None)
    body["event"].update(event)
    return body


def test_marks_follow_bolts_order_and_resolve_enterprise_ids() -> None:
    event = {"user_team": "E0ORG", "source_team": "T0SRC", "user_profile": {"team": "T0PRO"},
             "team": "T0EVT"}  # fmt: skip
    envelope = {"enterprise_id": "E0ORG", "team_id": "T0ORGWS", "is_ext_shared_channel": True}
    # The enterprise id the envelope pairs with a workspace stands for that workspace.
    assert marks(event, envelope) == ("T0ORGWS", "T0SRC", "T0PRO", "T0EVT")
    # Without marks on the event, the envelope's: context, team, authorizations.
    env = {"context_team_id": "T0CTX", "team_id": "T0ENV",
           "authorizations": [{"team_id": "T0AUTH"}, "junk"]}  # fmt: skip
    assert marks({}, env) == ("T0CTX", "T0ENV", "T0AUTH")
    # A channel that is not shared: the envelope names the receiving installation only.
    assert marks({"team": "T0EVT"}, {"team_id": "T0OTHER"}) == ("T0EVT",)
    assert marks({"user_team": 5, "user_profile": "x"}, None) == ()


async def test_foreign_event_team_alone_makes_a_customer(slack: Slack) -> None:
    # bolt's recorded Slack Connect message: the sender's workspace only in event.team and the
    # envelope's team_id; context_team_id names ours.
    body = connect_body(T0, "U0EXT0001", team=OTHER_TEAM)
    body.update(team_id=OTHER_TEAM, context_team_id=TEAM_ID, is_ext_shared_channel=True)
    assert (await post(slack.http, body)).status_code == 200
    assert not await is_team(slack, T0)
    assert len(await slack.core.waiting()) == 1


async def test_a_foreign_mark_wins_over_marks_naming_ours(slack: Slack) -> None:
    # app_mention in a shared channel: event.team is the receiving workspace (ours), the
    # sender's org shows in user_team / user_profile.team.
    body = connect_body(T0, "U0EXT0002", team=TEAM_ID, user_team="E0CUSTOMER",
                        user_profile={"team": "E0CUSTOMER", "display_name": "Eve"})  # fmt: skip
    body.update(is_ext_shared_channel=True)
    assert (await post(slack.http, body)).status_code == 200
    assert not await is_team(slack, T0)


async def test_our_marks_only_make_a_colleague_and_close_the_wait(slack: Slack) -> None:
    opener = connect_body(T0, "U0EXT0003", team=OTHER_TEAM, user_team=OTHER_TEAM)
    assert (await post(slack.http, opener)).status_code == 200
    reply = connect_body(T1, "U0COLLEAG1", team=TEAM_ID, user_team=TEAM_ID, thread_ts=T0)
    assert (await post(slack.http, reply)).status_code == 200
    assert await is_team(slack, T1)
    assert await slack.core.waiting() == []


async def test_a_config_member_is_team_whatever_the_marks(slack: Slack) -> None:
    body = connect_body(T0, ALICE, team=OTHER_TEAM, user_team=OTHER_TEAM)
    assert (await post(slack.http, body)).status_code == 200
    assert await is_team(slack, T0)


async def test_users_info_decides_when_no_mark_says_anything(slack: Slack) -> None:
    slack.fake.users["U0NOMARK1"] = {"id": "U0NOMARK1", "team_id": OTHER_TEAM}
    slack.fake.users["U0NOMARK2"] = {"id": "U0NOMARK2", "team_id": TEAM_ID}
    for ts, user in ((T0, "U0NOMARK1"), (T1, "U0NOMARK2")):
        body = connect_body(ts, user)
        for key in ("team_id", "context_team_id", "authorizations"):
            body.pop(key, None)
        assert (await post(slack.http, body)).status_code == 200
    assert not await is_team(slack, T0)
    assert await is_team(slack, T1)
    asked = [c.params["user"] for c in slack.fake.calls_to("users.info")]
    assert asked == ["U0NOMARK1", "U0NOMARK2"]
    # Asked once per user.
    again = connect_body("1795865800.000300", "U0NOMARK1")
    for key in ("team_id", "context_team_id", "authorizations"):
        again.pop(key, None)
    assert (await post(slack.http, again)).status_code == 200
    assert len(slack.fake.calls_to("users.info")) == 2


async def test_users_info_failing_falls_back_to_the_source_rule(slack: Slack) -> None:
    body = connect_body(T0, "U0UNKNOWN")  # the fake answers user_not_found
    for key in ("team_id", "context_team_id", "authorizations"):
        body.pop(key, None)
    assert (await post(slack.http, body)).status_code == 200
    assert await is_team(slack, T0)  # partners has no customers rule: a colleague


_WATCH = ChannelWatch.from_config(parse_config(CONFIG, env={}))
_marks_keys = st.sampled_from(
    ["team", "user_team", "source_team", "user_profile", "team_id", "context_team_id",
     "enterprise_id", "context_enterprise_id", "authorizations", "is_ext_shared_channel",
     "user", "ts", "subtype", "message", "previous_message", "channel", "text"]
)  # fmt: skip
_values = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(max_size=12),
              st.sampled_from(["T0ACME001", "T0CUSTOMER", "E0X", "1700000000.000100"])),
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(_marks_keys, inner, max_size=6)),
    max_leaves=20,
)  # fmt: skip


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(_marks_keys, _values, max_size=8),
       st.dictionaries(_marks_keys, _values, max_size=8))  # fmt: skip
def test_no_event_or_envelope_makes_classification_raise(
    event: dict[str, Any], envelope: dict[str, Any]
) -> None:
    marks(event, envelope)
    needs_lookup(event, envelope, _WATCH)
    partners = _WATCH.config.sources["partners"]
    translate(event, partners, _WATCH, Workspace(team_id=TEAM_ID), envelope=envelope)
