"""End to end in a real browser: headless Chromium (Debian's package) driven by Selenium and
chromedriver, against the real app under uvicorn on 127.0.0.1, over a seeded database.

It logs in through the form, sees the waiting list and the chart, logs out, and leaves
screenshots in ``artifacts/`` (gitignored) for a person to look at. Chromium comes from
``apt-get install chromium chromium-driver``; when it is missing the session fixture installs
it, but only as root under ``CI=true``; under ``CI=true`` otherwise the test fails, anywhere else
it skips and says how to get it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from bot.app import Runtime
from bot.config import Config
from bot.web.app import create_app
from bot.web.metrics import Metrics
from tests.conftest import REPO
from tests.dashboard.kit import TOKEN, seed, write_config

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
ARTIFACTS = REPO / "artifacts"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def chromium() -> tuple[str, str]:
    """Paths of Chromium and chromedriver, installing Debian's packages on CI when missing."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.geteuid() != 0 or os.environ.get("CI") != "true":
            missing = (
                f"{CHROMIUM} or {CHROMEDRIVER} is missing; install them with "
                "`apt-get install -y chromium chromium-driver` (this test installs them itself "
                "only as root with CI=true)"
            )
            if os.environ.get("CI") == "true":  # CI must show the browser test, not skip it
                pytest.fail(missing)
            pytest.skip(missing)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for command in (
            ["apt-get", "update", "-q"],
            ["apt-get", "install", "-y", "-q", "chromium", "chromium-driver"],
        ):
            done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
            if done.returncode != 0:
                pytest.fail(f"{' '.join(command)} failed:\n{done.stdout[-2000:]}{done.stderr}")
    return CHROMIUM, CHROMEDRIVER


class _Server(uvicorn.Server):
    """uvicorn in a thread of its own, closing the runtime on its own event loop."""

    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self.runtime = runtime

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        await self.runtime.close()


@pytest.fixture
def server(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """The base URL of the real app, seeded; it runs until the test ends."""
    config: Config = write_config(tmp_path)
    from tests.dashboard.kit import NOW

    async def seed_once() -> None:
        runtime = Runtime.from_config(config, db_url, now=lambda: NOW)
        try:
            await seed(runtime)
        finally:
            await runtime.close()

    asyncio.run(seed_once())
    monkeypatch.setenv("NUDGEBOT_API_TOKEN", TOKEN)
    monkeypatch.delenv("NUDGEBOT_PUBLIC_URL", raising=False)
    runtime = Runtime.from_config(config, db_url, now=lambda: NOW)  # connects on the server's loop
    app = create_app(runtime, metrics=Metrics())
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    uv = _Server(uvicorn.Config(app, log_level="warning", ws="none", lifespan="off"), runtime)
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(200):
        if uv.started:
            break
        threading.Event().wait(0.05)
    assert uv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    uv.should_exit = True
    thread.join(timeout=10)
    sock.close()


@pytest.fixture
def browser(chromium: tuple[str, str]) -> Iterator[Any]:
    if os.environ.get("CI") == "true":
        import selenium.webdriver as webdriver  # the dev extra has it: never skip on CI
    else:
        webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    binary, driver_path = chromium
    options = Options()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--hide-scrollbars",
        "--lang=en-US",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def _full_page(driver: Any, path: Path) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1280, min(int(height) + 40, 6000))
    path.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(path)), path


def _wait_for(browser: Any, how: str, what: str) -> Any:
    """The element, once the page that a click started has loaded it."""
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.wait import WebDriverWait

    return WebDriverWait(browser, 15).until(ec.presence_of_element_located((how, what)))


def test_login_see_waiting_list_and_chart(server: str, browser: Any) -> None:
    from selenium.webdriver.common.by import By

    ARTIFACTS.mkdir(exist_ok=True)
    browser.get(server + "/")
    assert "Sign in to the dashboard" in browser.page_source
    assert "Jules" not in browser.page_source
    _full_page(browser, ARTIFACTS / "dashboard-login.png")

    # A wrong token: the form again, with the error.
    browser.find_element(By.ID, "token").send_keys("wrong-token")
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    assert _wait_for(browser, By.CSS_SELECTOR, "p.error").text == "Wrong token."

    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    heading = _wait_for(browser, By.XPATH, '//h2[text()="Who\'s waiting"]')
    assert heading.is_displayed()

    cookie = browser.get_cookie("nudgebot_session")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert TOKEN not in cookie["value"]

    rows = browser.find_elements(By.CSS_SELECTOR, "table.waiting tbody tr")
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == [
        "Jules",
        '<script>alert("x")</script> & "Mallory"',
        "Kim",
    ]
    assert [r.get_attribute("class") for r in rows] == ["overdue", "overdue", ""]
    assert "overdue" in rows[0].text and "Alice Liddell" in rows[0].text

    chart = browser.find_element(By.CSS_SELECTOR, "svg.chart")
    assert chart.size["width"] > 300 and chart.size["height"] > 150
    assert len(chart.find_elements(By.CSS_SELECTOR, "circle.median")) == 5
    assert len(chart.find_elements(By.CSS_SELECTOR, "polyline")) >= 2
    assert browser.find_element(By.CSS_SELECTOR, "table.engagement").is_displayed()
    # Nothing the page holds ran as script: the hostile name is text.
    assert browser.execute_script("return window.__xss === undefined")
    _full_page(browser, ARTIFACTS / "dashboard.png")

    browser.find_element(By.CSS_SELECTOR, "form[action='/logout'] button").click()
    _wait_for(browser, By.ID, "token")
    assert "Sign in to the dashboard" in browser.page_source
    assert browser.get_cookie("nudgebot_session") is None
    assert shutil.which("chromium") or Path(CHROMIUM).exists()


# --- the conversation page and the filtered list, with Slack behind it ----------------------

# The screenshots in docs/img are refreshed only when asked: a test run leaves the checkout
# as it found it.
DOC_IMAGES = REPO / "docs" / "img" if os.environ.get("NUDGEBOT_DOC_IMAGES") else ARTIFACTS


@pytest.fixture
def fake_slack() -> Iterator[Any]:
    """The fake Slack Web API on an event loop of its own thread (the app has another)."""
    from tests.dashboard.kit import NOW
    from tests.fakes.slack_api import FakeSlack

    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    started = FakeSlack(clock=lambda: NOW.timestamp()).start()
    fake = asyncio.run_coroutine_threadsafe(started, loop).result(10)
    yield fake
    asyncio.run_coroutine_threadsafe(fake.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(timeout=10)
    loop.close()


class _SlackServer(_Server):
    """The app with the Slack adapter attached, built and started on uvicorn's own loop."""

    def __init__(self, config: uvicorn.Config, runtime: Runtime, api_url: str) -> None:
        super().__init__(config, runtime)
        self.api_url = api_url
        self.loop: asyncio.AbstractEventLoop | None = None
        self.part: Any = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        from adapters.slack.service import SlackService, SlackSettings
        from bot.wiring.core import CoreService
        from bot.wiring.slack import component
        from tests.fakes.slack_api import BOT_TOKEN

        self.loop = asyncio.get_running_loop()
        settings = SlackSettings(
            bot_token=BOT_TOKEN, signing_secret="s" * 32, api_url=self.api_url, post_interval=0
        )
        service = SlackService(
            settings, CoreService(self.runtime), self.runtime.config, self.runtime.now
        )
        self.part = component(service)
        self.runtime.attach(self.part)
        await self.part.start()
        await super().startup(sockets)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.part is not None:
            await self.part.stop()
        await super().shutdown(sockets)

    def call(self, coro: Any) -> Any:
        assert self.loop is not None
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(30)


@pytest.fixture
def slack_server(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fake_slack: Any
) -> Iterator[tuple[str, _SlackServer]]:
    from tests.dashboard.kit import NOW

    config: Config = write_config(tmp_path)

    async def seed_once() -> None:
        runtime = Runtime.from_config(config, db_url, now=lambda: NOW)
        try:
            await seed(runtime)
        finally:
            await runtime.close()

    asyncio.run(seed_once())
    monkeypatch.setenv("NUDGEBOT_API_TOKEN", TOKEN)
    monkeypatch.delenv("NUDGEBOT_PUBLIC_URL", raising=False)
    runtime = Runtime.from_config(config, db_url, now=lambda: NOW)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    # The app is made on the first request, once the adapter is attached (routes, names).
    late = _LateApp()
    uv = _SlackServer(
        uvicorn.Config(late, log_level="warning", ws="none", lifespan="off"),
        runtime,
        fake_slack.api_url,
    )
    late.server = uv
    thread = threading.Thread(target=uv.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    for _ in range(400):
        if uv.started:
            break
        threading.Event().wait(0.05)
    assert uv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}", uv
    uv.should_exit = True
    thread.join(timeout=10)
    sock.close()


class _LateApp:
    """An ASGI app that builds the real one on its first request (after the adapter starts)."""

    def __init__(self) -> None:
        self.server: _SlackServer | None = None
        self.app: Any = None

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if self.app is None:
            assert self.server is not None
            self.app = create_app(
                self.server.runtime, routes=self.server.part.routes, metrics=Metrics()
            )
        await self.app(scope, receive, send)


def _small_shot(driver: Any, path: Path, width: int = 1100, most: int = 2000) -> None:
    """A screenshot for the docs: the page's own height up to ``most`` pixels (palette PNG
    when Pillow is there, to keep the file small)."""
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(width, min(int(height) + 20, most))
    path.parent.mkdir(parents=True, exist_ok=True)
    assert driver.save_screenshot(str(path)), path
    try:
        from PIL import Image
    except ImportError:
        return
    with Image.open(path) as image:
        image.convert("RGB").quantize(colors=64).save(path, optimize=True)


def test_filtered_list_conversation_page_claim_updates_slack(
    slack_server: tuple[str, _SlackServer], browser: Any, fake_slack: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    base, uv = slack_server
    engine = uv.runtime.engine
    assert engine is not None
    uv.call(engine.tick())  # Jules waited since Thursday: Alice gets her nudge in Slack
    [dm] = [
        c for c in fake_slack.calls_to("chat.postMessage") if c.params["channel"] == "U0ALICE01"
    ]

    browser.get(base + "/")
    browser.find_element(By.ID, "token").send_keys(TOKEN)
    browser.find_element(By.CSS_SELECTOR, "form[action='/login'] button").click()
    _wait_for(browser, By.CSS_SELECTOR, "form.filters")
    Select(browser.find_element(By.NAME, "person")).select_by_value("bob")
    Select(browser.find_element(By.NAME, "overdue")).select_by_value("true")
    browser.find_element(By.CSS_SELECTOR, "form.filters button").click()
    _wait_for(browser, By.CSS_SELECTOR, "select[name=person] option[value=bob][selected]")
    rows = browser.find_elements(By.CSS_SELECTOR, "table.waiting tbody tr")
    assert [r.find_element(By.TAG_NAME, "td").text for r in rows] == [
        '<script>alert("x")</script> & "Mallory"'
    ]
    assert "1 of 3 waiting match" in browser.page_source
    _small_shot(browser, DOC_IMAGES / "dashboard-filtered.png", most=860)

    # Every row leads to its conversation: Jules's, from the unfiltered list.
    browser.get(base + "/")
    browser.find_element(By.LINK_TEXT, "Jules").click()
    _wait_for(browser, By.CSS_SELECTOR, "section.actions")
    assert "Responsible now: Alice Liddell" in browser.find_element(By.CLASS_NAME, "who").text
    Select(browser.find_element(By.ID, "as")).select_by_value("bob")
    browser.find_element(By.CSS_SELECTOR, "button[value=claim]").click()
    notice = _wait_for(browser, By.CSS_SELECTOR, "section.notice")
    assert notice.text == "Claimed. Nudges already sent say so."
    assert "Responsible now: Bob" in browser.find_element(By.CLASS_NAME, "who").text
    history = browser.find_element(By.CSS_SELECTOR, "table.history").text
    assert "claim Bob web" in history

    uv.call(engine.tick())  # the owed in-place update goes out
    updates = fake_slack.calls_to("chat.update")
    assert updates, "the Slack nudge was not updated"
    assert "*Claimed* by Bob" in updates[-1].params["blocks"][0]["text"]["text"]
    assert updates[-1].params["channel"].startswith("D") and dm.params["channel"] == "U0ALICE01"
    browser.refresh()
    _wait_for(browser, By.CSS_SELECTOR, "table.nudges")
    assert "claimed by Bob" in browser.find_element(By.CSS_SELECTOR, "table.nudges").text
    assert browser.execute_script("return window.__xss === undefined")
    _small_shot(browser, DOC_IMAGES / "conversation.png", most=1250)
