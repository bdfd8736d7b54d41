"""Meta's documented notifications, signed, through the real ASGI app into the database."""

from __future__ import annotations

from datetime import timedelta

import pytest

from bot.domain.events import ActionKind
from bot.domain.ports import ActionRequest
from bot.wiring import whatsapp
from tests.whatsapp import payloads as p
from tests.whatsapp.wa_kit import T0, VERIFY_TOKEN, Harness


async def test_verification_echoes_the_challenge_as_plain_text(wa: Harness) -> None:
    params = {"hub.mode": "subscribe", "hub.verify_token": VERIFY_TOKEN,
              "hub.challenge": "1158201444"}  # fmt: skip
    response = await wa.client.get("/whatsapp/webhook", params=params)
    assert response.status_code == 200
    assert response.text == "1158201444"
    assert response.headers["content-type"].startswith("text/plain")


async def test_text_message_is_stored_as_the_customers_waiting_conversation(wa: Harness) -> None:
    response = await wa.post(p.text())
    assert response.status_code == 200, response.text
    assert response.json() == {"ok": True, "received": 1, "statuses": 0}
    assert await wa.messages() == [
        ("wamid.HBgLMTY1MDM4Nzk0MzkVAgASGBQzQTRBNjU5OUFFRTAzODEwMTQ0RgA=", p.SHEENA,
         "Does it come in another color?", False),
    ]  # fmt: skip
    [item] = await wa.core.waiting()
    assert (item.source, item.platform, item.channel) == ("wa", "whatsapp", p.PHONE_NUMBER_ID)
    assert item.customer == "Sheena Nelson"
    assert item.waiting_since == T0
    assert item.due_at == T0 + timedelta(minutes=15)
    assert wa.metrics.ingested.value("wa") == 1


async def test_image_with_caption_interactive_button_and_list_replies(wa: Harness) -> None:
    for payload in (
        p.image(ts=p.TS + 1),
        p.button_reply(ts=p.TS + 2),
        p.list_reply(ts=p.TS + 3),
        p.image(None, wamid="wamid.nocap", ts=p.TS + 4),
    ):
        assert (await wa.post(payload)).status_code == 200  # fmt: skip
    texts = [text for _, _, text, _ in await wa.messages()]
    assert texts == ["[image] Can I get this in blue?", "Change", "Priority Mail Express",
                     "[image]"]  # fmt: skip
    # one customer, one chat with the number: one conversation, still waiting since the first
    [item] = await wa.core.waiting()
    assert item.waiting_since == T0 + timedelta(seconds=1)


async def test_a_redelivery_changes_nothing(wa: Harness) -> None:
    assert (await wa.post(p.text())).status_code == 200
    assert (await wa.post(p.text())).status_code == 200
    assert len(await wa.messages()) == 1


async def test_two_customers_are_two_conversations(wa: Harness) -> None:
    await wa.post(p.text("Hi", wamid="wamid.a"))
    await wa.post(p.text("Hello", wamid="wamid.b", wa_id="4915112345678", name="Jonas"))
    customers = sorted(item.customer for item in await wa.core.waiting())
    assert customers == ["Jonas", "Sheena Nelson"]


async def test_another_numbers_notifications_are_ignored(wa: Harness) -> None:
    response = await wa.post(p.text(number="999999999999999"))
    assert response.status_code == 200
    assert response.json()["received"] == 0
    assert await wa.messages() == []


async def test_status_updates_store_nothing_and_count_only_our_replies(wa: Harness) -> None:
    await wa.post(p.text())
    [item] = await wa.core.waiting()
    wa.fake.customer_wrote(p.SHEENA, wa.clock().timestamp())
    result = await wa.core.act(ActionRequest(item.conversation_id, ActionKind.REPLY, "alice",
                                             wa.clock(), text="Yes, in blue."))  # fmt: skip
    assert result.ok, result.message
    [sent] = wa.fake.sends
    ours = [mid for mid, _, _, team in await wa.messages() if team]
    before = await wa.messages()
    for state in ("sent", "delivered", "read"):
        response = await wa.post(p.status(ours[0], state))
        assert response.status_code == 200
        assert response.json() == {"ok": True, "received": 0, "statuses": 1}
    await wa.post(p.status("wamid.sent-from-elsewhere", "delivered"))
    assert await wa.messages() == before
    events = wa.metrics.platform_events
    assert events.value("whatsapp", "reply_delivered") == 1
    assert events.value("whatsapp", "reply_read") == 1
    assert events.value("whatsapp", "status_other") == 1
    metrics_text = (await wa.client.get("/metrics")).text
    assert 'nudgebot_platform_events_total{platform="whatsapp",event="reply_read"} 1' in (
        metrics_text
    )
    assert sent.body["to"] == p.SHEENA


async def test_readyz_reports_the_component(wa: Harness, caplog: pytest.LogCaptureFixture) -> None:
    assert (await wa.client.get("/readyz")).status_code == 200
    await wa.wa.service.stop()
    response = await wa.client.get("/readyz")
    assert response.status_code == 503
    # Anyone may ask /readyz: the part is named there, the reason only in the log.
    assert response.json()["not_ready"] == ["whatsapp"]
    assert response.json()["components"]["whatsapp"] == "not ready"
    assert "whatsapp has not started" in caplog.text


async def test_the_process_builds_whatsapp_only_when_configured(
    wa: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    assert whatsapp.build(wa.runtime, wa.core, env={}) is None
    assert "WHATSAPP_TOKEN is unset" in caplog.text
    env = {"WHATSAPP_TOKEN": "t", "WHATSAPP_APP_SECRET": "s", "WHATSAPP_VERIFY_TOKEN": "v"}
    component = whatsapp.build(wa.runtime, wa.core, env=env)
    assert component is not None and component.replier is not None
    assert {getattr(r, "path", "") for r in component.routes} == {"/whatsapp/webhook"}
    assert component.stop is not None
    await component.stop()


async def test_reactions_open_no_wait_and_unknown_kinds_are_kept(wa: Harness) -> None:
    reaction = p.text()
    message = reaction["entry"][0]["changes"][0]["value"]["messages"][0]
    message.update(type="reaction", reaction={"message_id": "wamid.ours", "emoji": "👍"})
    del message["text"]
    response = await wa.post(reaction)
    assert response.status_code == 200 and response.json()["received"] == 0
    flow = p.button_reply(wamid="wamid.flow")
    inter = flow["entry"][0]["changes"][0]["value"]["messages"][0]["interactive"]
    inter.clear()
    inter.update(type="nfm_reply", nfm_reply={"name": "flow", "body": "Sent",
                                              "response_json": "{}"})  # fmt: skip
    unknown = p.text(wamid="wamid.unknown", ts=p.TS + 5)
    um = unknown["entry"][0]["changes"][0]["value"]["messages"][0]
    um.update(type="order", order={"catalog_id": "1"})
    del um["text"]
    assert (await wa.post(flow)).status_code == 200
    assert (await wa.post(unknown)).status_code == 200
    assert [text for _, _, text, _ in await wa.messages()] == ["Sent", "[order]"]
