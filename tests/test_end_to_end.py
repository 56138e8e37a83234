"""The core loop as people live it, in a real browser: a resident taps the kiosk, the ticket is
shown; a clerk signs in and calls it with one key; the hall screen shows the number and asks
the speech engine to say it."""

from __future__ import annotations

import json

import pytest

from tests.conftest import ARTIFACTS, serving_demo
from tests.test_display import FAKE_ENGINE, ZH


@pytest.fixture
def hall_server(sqlite_url):
    """The demo hall on a real port with its staff passwords (SQLite: a browser test)."""
    with serving_demo(sqlite_url) as server:
        yield server


@pytest.mark.browser
def test_kiosk_tap_counter_call_and_the_hall_screen_speaks(browser_context, hall_server):
    url = hall_server.url
    errors: list[str] = []

    screen = browser_context.new_page()
    screen.on("pageerror", lambda e: errors.append(f"screen: {e}"))
    # a speech engine with a Chinese voice that records what it is asked to say
    screen.add_init_script(f"({FAKE_ENGINE})({json.dumps({'voices': [ZH]})})")
    screen.set_viewport_size({"width": 1920, "height": 1080})
    screen.goto(f"{url}/display/demo")
    screen.wait_for_function("document.body.dataset.status === 'live'")

    kiosk = browser_context.new_page()
    kiosk.on("pageerror", lambda e: errors.append(f"kiosk: {e}"))
    kiosk.set_viewport_size({"width": 1080, "height": 1920})
    kiosk.goto(f"{url}/kiosk/demo")
    kiosk.wait_for_selector("#k-live[data-state=live]")
    kiosk.click("[data-go=dept-bdc]")
    kiosk.click("[data-matter=BD-001]")
    kiosk.wait_for_selector("[data-screen=result]:not([hidden])")
    number = kiosk.inner_text("#r-number")
    assert number == "D001"

    counter = browser_context.new_page()
    counter.on("pageerror", lambda e: errors.append(f"counter: {e}"))
    counter.set_viewport_size({"width": 1366, "height": 768})
    counter.goto(f"{url}/counter/")
    counter.fill("#username", "staff3")
    counter.fill("#password", hall_server.passwords["staff3"])
    counter.press("#password", "Enter")
    counter.wait_for_url(f"{url}/counter/")
    counter.click("form[action$='/demo/5/open'] button[type=submit]")
    counter.wait_for_url(f"{url}/counter/demo/5")
    counter.wait_for_selector("#live-status.ct-live-live")
    counter.keyboard.press("n")
    counter.wait_for_function(
        f"document.querySelector('#current-number').textContent.trim() === '{number}'"
    )

    screen.wait_for_function(
        f"document.querySelector('.latest-number')?.textContent === '{number}'"
    )
    assert "5 号窗口" in screen.inner_text("#latest-call")
    screen.wait_for_function("window.fakeSpeech.filter(s => s.text).length >= 2", timeout=20_000)
    said = [s["text"] for s in screen.evaluate("window.fakeSpeech") if s.get("text")]
    assert said[:2] == ["请，D零零一号，到5号窗口办理"] * 2
    ARTIFACTS.mkdir(exist_ok=True)
    screen.screenshot(path=str(ARTIFACTS / "hall-screen-after-call.png"))
    counter.screenshot(path=str(ARTIFACTS / "counter-after-call.png"))
    assert errors == []
