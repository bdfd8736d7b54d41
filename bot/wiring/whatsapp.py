"""WhatsApp Cloud API from the config and environment: a ``Component`` with the webhook
routes and the replier — or None when no source has ``platform: whatsapp`` or
``WHATSAPP_TOKEN`` is unset.

| variable | meaning | default |
|---|---|---|
| ``WHATSAPP_TOKEN`` | a (system-user) access token with whatsapp_business_messaging | WhatsApp off |
| ``WHATSAPP_APP_SECRET`` | the Meta app's secret: checks ``X-Hub-Signature-256`` | required |
| ``WHATSAPP_VERIFY_TOKEN`` | what you type as "Verify token" in the app's webhook setup | required |
| ``WHATSAPP_API_URL`` | Graph API base | ``https://graph.facebook.com/v21.0`` |
"""  # noqa: E501

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import httpx
from starlette.requests import Request

from adapters.whatsapp import PLATFORM
from adapters.whatsapp.client import DEFAULT_API_URL, WhatsAppClient, WhatsAppReplier
from adapters.whatsapp.parse import Status
from adapters.whatsapp.webhook import webhook_routes
from bot.app import Runtime
from bot.domain.events import InboundMessage
from bot.domain.ports import Core
from bot.web.state import web_state
from bot.wiring.component import Component

log = logging.getLogger("nudgebot.whatsapp")
TIMEOUT = httpx.Timeout(10.0, connect=5.0)


class WhatsAppConfigError(ValueError):
    pass


@dataclass(frozen=True)
class WhatsAppSettings:
    token: str = field(repr=False)
    app_secret: str = field(repr=False)
    verify_token: str = field(repr=False)
    api_url: str = DEFAULT_API_URL

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> WhatsAppSettings | None:
        token = env.get("WHATSAPP_TOKEN", "").strip()
        if not token:
            return None
        secret = env.get("WHATSAPP_APP_SECRET", "").strip()
        verify = env.get("WHATSAPP_VERIFY_TOKEN", "").strip()
        missing = [n for n, v in (("WHATSAPP_APP_SECRET", secret),
                                  ("WHATSAPP_VERIFY_TOKEN", verify)) if not v]  # fmt: skip
        if missing:
            raise WhatsAppConfigError(
                f"WHATSAPP_TOKEN is set but {' and '.join(missing)} is not: without them no "
                "webhook from Meta can be verified (App secret: App settings → Basic; verify "
                "token: any random string you also enter in the app's WhatsApp webhook setup)"
            )
        api_url = env.get("WHATSAPP_API_URL", "").strip() or DEFAULT_API_URL
        if not api_url.lower().startswith(("https://", "http://")):
            raise WhatsAppConfigError(f"WHATSAPP_API_URL={api_url!r} is not an http(s) URL")
        return cls(token, secret, verify, api_url)


class WhatsAppService:
    """The webhook's ``Sink`` and the replier's HTTP client, with their lifecycle."""

    def __init__(
        self, core: Core, numbers: Mapping[str, str], settings: WhatsAppSettings,
        http: httpx.AsyncClient | None = None,
    ) -> None:  # fmt: skip
        self.core = core
        self.numbers = dict(numbers)  # phone_number_id -> source id
        self.settings = settings
        self._own_http = http is None
        self.http = http if http is not None else httpx.AsyncClient(timeout=TIMEOUT)
        self.client = WhatsAppClient(self.http, settings.api_url, settings.token)
        self.started = False

    def source_of(self, phone_number_id: str) -> str | None:
        return self.numbers.get(phone_number_id)

    async def store(self, messages: Sequence[InboundMessage]) -> None:
        await self.core.ingest(messages)

    async def statuses(self, request: Request, statuses: Sequence[Status]) -> None:
        """Delivery reports. Only those of replies we posted (stored as team messages with
        the ``wamid`` as id) matter; there is no per-message state to keep them in, so they
        are logged and counted (``nudgebot_platform_events_total{platform="whatsapp"}``)."""
        metrics = web_state(request).metrics
        for st in statuses:
            source = self.source_of(st.phone_number_id)
            ours = source is not None and await self.core.conversation_of(source, st.message_id)
            if not ours:
                metrics.platform_event(PLATFORM, "status_other")
                continue
            metrics.platform_event(PLATFORM, f"reply_{st.status}"[:40])
            if st.status == "failed":
                log.warning("WhatsApp reply %s to %s failed (error %s)", st.message_id,
                            st.recipient, st.error or "?")  # fmt: skip
            else:
                log.info("WhatsApp reply %s in conversation %s: %s", st.message_id, ours,
                         st.status)  # fmt: skip

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.started = False
        if self._own_http:
            await self.http.aclose()

    def ready(self) -> bool:
        return self.started and not self.http.is_closed


def _counted(request: Request, source: str, count: int) -> None:
    web_state(request).metrics.messages_ingested(source, count)


@dataclass
class WhatsApp:
    component: Component
    service: WhatsAppService


def assemble(
    runtime: Runtime, core: Core, settings: WhatsAppSettings, http: httpx.AsyncClient | None = None
) -> WhatsApp:
    """``http`` lets tests hand in a client of their own (closed by them)."""
    numbers = {
        s.phone_number_id: s.id
        for s in runtime.config.sources.values()
        if s.platform == PLATFORM and s.phone_number_id
    }
    service = WhatsAppService(core, numbers, settings, http)
    config = runtime.config

    def name(person: str) -> str:
        found = config.person(person)
        return found.name if found is not None else person

    replier = WhatsAppReplier(service.client, name)
    component = Component(
        name=PLATFORM,
        routes=webhook_routes(service, settings.app_secret, settings.verify_token, _counted),
        replier=replier,
        start=service.start,
        stop=service.stop,
        ready=service.ready,
    )
    return WhatsApp(component, service)


def build(runtime: Runtime, core: Core, env: Mapping[str, str] | None = None) -> Component | None:
    wanted = [s.id for s in runtime.config.sources.values() if s.platform == PLATFORM]
    if not wanted:
        return None
    settings = WhatsAppSettings.from_env(os.environ if env is None else env)
    if settings is None:
        log.warning("sources %s are WhatsApp sources but WHATSAPP_TOKEN is unset: WhatsApp "
                    "is off", ", ".join(wanted))  # fmt: skip
        return None
    return assemble(runtime, core, settings).component
