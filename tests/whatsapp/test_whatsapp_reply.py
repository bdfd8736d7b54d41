"""Reply-through from the nudge: the fake Graph API records it, the 24-hour window refuses
late replies before Meta is asked, and Meta's errors reach the person as one line."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest

from adapters.whatsapp.client import WhatsAppClient, WhatsAppReplier
from bot.domain.events import ActionKind
from bot.domain.ports import ActionRequest, DeliveryError, ReplyTarget
from tests.fakes.whatsapp_api import TOKEN, FakeWhatsAppAPI
from tests.whatsapp import payloads as p
from tests.whatsapp.wa_kit import T0, Harness


async def _reply(wa: Harness, text: str = "Yes, it comes in blue.") -> tuple[bool, str]:
    [item] = await wa.core.waiting()
    result = await wa.core.act(
        ActionRequest(item.conversation_id, ActionKind.REPLY, "alice", wa.clock(), text=text)
    )
    return result.ok, result.message


async def test_reply_within_the_window_is_sent_and_recorded_as_the_teams(wa: Harness) -> None:
    await wa.post(p.text())
    wa.fake.customer_wrote(p.SHEENA, T0.timestamp())
    wa.clock.advance(timedelta(hours=23, minutes=50))
    ok, message = await _reply(wa)
    assert ok, message
    [send] = wa.fake.sends
    assert send.phone_number_id == p.PHONE_NUMBER_ID
    assert send.authorization == f"Bearer {TOKEN}"
    assert send.body["to"] == p.SHEENA
    assert send.body["type"] == "text"
    assert send.body["text"]["body"] == "Yes, it comes in blue.\n\n— Alice"
    stored = await wa.messages()
    assert stored[-1][0].startswith("wamid.FAKE") and stored[-1][3] is True
    assert await wa.core.waiting() == []


async def test_reply_outside_the_window_is_refused_without_asking_meta(wa: Harness) -> None:
    await wa.post(p.text())
    wa.fake.customer_wrote(p.SHEENA, T0.timestamp())
    wa.clock.advance(timedelta(hours=24, minutes=1))
    ok, message = await _reply(wa)
    assert not ok
    assert "template" in message and "24 h after the customer's last message" in message
    assert wa.fake.sends == [] and wa.fake.rejected == []  # Meta was never called
    assert len(await wa.core.waiting()) == 1  # still waiting: nothing was answered


async def test_a_later_customer_message_reopens_the_window(wa: Harness) -> None:
    await wa.post(p.text())
    await wa.post(p.text("Hello??", wamid="wamid.later", ts=p.TS + 20 * 3600))
    wa.fake.customer_wrote(p.SHEENA, p.TS + 20 * 3600)
    wa.clock.advance(timedelta(hours=30))  # 30 h after the first, 10 h after the last
    ok, message = await _reply(wa)
    assert ok, message
    assert len(wa.fake.sends) == 1


async def test_rate_limit_130429_is_reported_and_nothing_recorded(wa: Harness) -> None:
    await wa.post(p.text())
    wa.fake.customer_wrote(p.SHEENA, T0.timestamp())
    wa.fake.fail_next(130429)
    ok, message = await _reply(wa)
    assert not ok
    assert "rate limited" in message and "130429" in message
    assert [t for *_, t in await wa.messages()] == [False]
    ok, message = await _reply(wa)  # the next try goes through
    assert ok, message


@pytest.fixture
async def replier() -> object:
    with FakeWhatsAppAPI(clock=lambda: T0.timestamp()) as fake:
        async with httpx.AsyncClient(timeout=5.0) as http:
            yield fake, WhatsAppReplier(WhatsAppClient(http, fake.base_url, TOKEN))


TARGET = ReplyTarget("wa", "whatsapp", p.PHONE_NUMBER_ID, p.SHEENA)


async def test_meta_refusing_131047_is_a_permanent_error_naming_the_window(replier) -> None:  # type: ignore[no-untyped-def]
    fake, send = replier
    # our clock thought the window open, Meta's did not (e.g. a message we never saw)
    with pytest.raises(DeliveryError) as caught:
        await send.send_reply(TARGET, "hi", "alice")
    assert caught.value.permanent
    assert "131047" in str(caught.value) and "template" in str(caught.value)
    assert fake.rejected[0][:2] == (400, 131047)


async def test_rate_limit_is_retryable_and_errors_never_show_the_token(replier) -> None:  # type: ignore[no-untyped-def]
    fake, send = replier
    fake.customer_wrote(p.SHEENA, T0.timestamp())
    fake.fail_next(130429)
    with pytest.raises(DeliveryError) as caught:
        await send.send_reply(TARGET, "hi", "alice")
    assert not caught.value.permanent and caught.value.retry_after is not None
    assert TOKEN not in str(caught.value)
    fake.fail_next(131056, message="(#131056) pair rate limit")
    with pytest.raises(DeliveryError) as caught:
        await send.send_reply(TARGET, "hi", "alice")
    assert caught.value.retry_after is not None


async def test_a_bad_token_and_an_unreachable_api_are_delivery_errors() -> None:
    with FakeWhatsAppAPI(clock=lambda: T0.timestamp()) as fake:
        fake.customer_wrote(p.SHEENA, T0.timestamp())
        async with httpx.AsyncClient(timeout=5.0) as http:
            bad = WhatsAppReplier(WhatsAppClient(http, fake.base_url, "wrong-token"))
            with pytest.raises(DeliveryError) as caught:
                await bad.send_reply(TARGET, "hi", "alice")
            assert caught.value.permanent and "190" in str(caught.value)
            url = fake.base_url
    async with httpx.AsyncClient(timeout=2.0) as http:
        gone = WhatsAppReplier(WhatsAppClient(http, url, TOKEN))
        with pytest.raises(DeliveryError) as caught:
            await gone.send_reply(TARGET, "hi", "alice")
        assert not caught.value.permanent
