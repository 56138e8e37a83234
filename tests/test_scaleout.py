"""Several server processes on PostgreSQL and Redis: a call made through one process reaches a
screen connected to another (Socket.IO Redis message queue)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests

from tests.conftest import REDIS_URL, _token, free_port, need, open_windows
from tests.test_realtime import connect, wait_for


def start_server(database_url: str, redis_url: str, data_dir) -> tuple[subprocess.Popen, str]:
    """`hall serve` in its own process; returns it and its base URL once it answers."""
    port = free_port()
    env = {
        **os.environ,
        "HALL_DATABASE_URL": database_url,
        "HALL_REDIS_URL": redis_url,
        "HALL_SECRET_KEY": "test-secret-key-for-scaleout",
        "HALL_DATA_DIR": str(data_dir),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "hall.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(proc.stderr.read().decode())
        try:
            if requests.get(f"{url}/api/v1/halls", timeout=1).status_code == 200:
                return proc, url
        except requests.ConnectionError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("server did not start")


@pytest.mark.slow
def test_a_call_through_one_process_reaches_a_screen_on_another(pg_app, pg_demo, tmp_path):
    app = pg_app
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    need(bool(REDIS_URL), "scale-out tests need HALL_TEST_REDIS_URL")
    staff = _token(app, username="staff1")
    kiosk = _token(app, device_kind="kiosk", hall_code="demo")
    open_windows(app, 4)
    first, first_url = start_server(url, REDIS_URL, tmp_path)
    second, second_url = start_server(url, REDIS_URL, tmp_path)
    try:
        client, inbox = connect(second_url, hall="demo")
        wait_for(inbox, "board")
        headers = {"Authorization": f"Bearer {kiosk}"}
        made = requests.post(
            f"{first_url}/api/v1/tickets",
            json={"hall": "demo", "queue": "C"},
            headers=headers,
            timeout=10,
        )
        assert made.status_code == 201
        issued, _ = wait_for(inbox, "ticket.issued")
        assert issued["ticket"]["number"] == "C001"
        called = requests.post(
            f"{first_url}/api/v1/halls/demo/windows/4/call-next",
            headers={"Authorization": f"Bearer {staff}"},
            timeout=10,
        )
        assert called.json()["ticket"]["number"] == "C001"
        event, _ = wait_for(inbox, "ticket.called")
        assert event["speech"] == "请 C001 号到 4 号窗口办理" and event["seq"] == issued["seq"] + 1
        client.disconnect()
    finally:
        for proc in (first, second):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
