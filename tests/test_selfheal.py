"""A hall screen in Chromium heals by itself: its server process is killed, the screen marks
itself as reconnecting with the old number dimmed; the server comes back on the same port, a
call is made, and the screen shows it live again without anyone reloading the page."""

from __future__ import annotations

import os
import signal

import pytest
import requests

from tests.conftest import _token, dispose, free_port, load_demo, make_app, open_windows
from tests.test_display import _wait, screen
from tests.test_faults import serve_on, stop


def call(url: str, kiosk: str, staff: str, window: int = 1) -> str:
    """Issue a ticket and call it at the window through the API; returns its number."""
    issued = requests.post(
        f"{url}/api/v1/tickets",
        json={"hall": "demo", "queue": "A"},
        headers={"Authorization": f"Bearer {kiosk}"},
        timeout=10,
    )
    assert issued.status_code == 201
    called = requests.post(
        f"{url}/api/v1/halls/demo/windows/{window}/call-next",
        headers={"Authorization": f"Bearer {staff}"},
        timeout=10,
    )
    assert called.json()["ticket"]["id"] == issued.json()["id"]
    return called.json()["ticket"]["number"]


@pytest.mark.browser
def test_browser_hall_screen_marks_a_dead_server_and_heals_after_its_restart(
    sqlite_url, tmp_path, browser_context
):
    app = make_app(sqlite_url)
    load_demo(app)
    staff = _token(app, username="staff1")
    kiosk = _token(app, device_kind="kiosk", hall_code="demo")
    open_windows(app, 1, 2)
    dispose(app)
    port = free_port()
    proc, url = serve_on(port, sqlite_url, "", tmp_path)
    try:
        page = screen(browser_context, 1920, 1080)
        page.goto(f"{url}/display/demo")
        _wait(
            page, "document.body.dataset.status === 'live' && window.hallScreen.live.state.seq >= 0"
        )
        first = call(url, kiosk, staff)
        _wait(page, f"document.querySelector('.latest-number')?.textContent === '{first}'")
        page.evaluate("window.sameDocument = true")  # gone if anything reloads the page

        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(5)
        _wait(page, "document.body.classList.contains('is-stale')")
        badge = page.inner_text("#status-badge")
        assert page.is_visible("#status-badge") and "正在重连" in badge and "reconnecting" in badge
        # the number it still shows is visibly not live: dimmed with the mark
        dimmed = page.evaluate(
            "Number(getComputedStyle(document.querySelector('.latest-number')"
            ".closest('.screen-frame > *')).opacity)"
        )
        assert dimmed < 0.6

        proc, _ = serve_on(port, sqlite_url, "", tmp_path)  # the same port
        second = call(url, kiosk, staff, window=2)
        _wait(page, f"document.querySelector('.latest-number')?.textContent === '{second}'", 20)
        _wait(page, "!document.body.classList.contains('is-stale')")
        assert page.is_hidden("#status-badge")
        assert page.evaluate("window.sameDocument") is True
    finally:
        stop(proc)
