"""Real clients against a real server: a call reaches a python-socketio client in the hall's
room within 100 ms of the call-next response, with the number, the window and the speech."""

from __future__ import annotations

import queue
import time

import requests
import socketio

from tests.conftest import _token, open_windows


def connect(url: str, **join) -> tuple[socketio.Client, queue.Queue]:
    """A real python-socketio client (WebSocket transport) joined to rooms; events go to a queue."""
    inbox: queue.Queue = queue.Queue()
    client = socketio.Client(reconnection=False)
    for name in ("board", "ticket.issued", "ticket.called", "ticket.updated", "window.updated"):
        client.on(name, lambda data, name=name: inbox.put((name, data, time.perf_counter())))
    client.connect(url, transports=["websocket"], wait_timeout=10)
    ack = client.call("join", join, timeout=10)
    assert ack["ok"] is True
    return client, inbox


def wait_for(inbox: queue.Queue, wanted: str, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while True:
        name, data, at = inbox.get(timeout=max(0.01, deadline - time.monotonic()))
        if name == wanted:
            return data, at


def test_a_call_reaches_a_real_client_within_100_ms(app, live_server):
    staff = _token(app, username="staff1")
    kiosk = _token(app, device_kind="kiosk", hall_code="demo")
    open_windows(app, 3)
    client, inbox = connect(live_server.url, hall="demo")
    try:
        board, _ = wait_for(inbox, "board")
        http = requests.Session()
        issued = http.post(
            f"{live_server.url}/api/v1/tickets",
            json={"hall": "demo", "queue": "B"},
            headers={"Authorization": f"Bearer {kiosk}"},
            timeout=10,
        )
        assert issued.status_code == 201
        wait_for(inbox, "ticket.issued")
        latencies = []
        for _ in range(3):  # the first call warms the connection; all must be fast
            response = http.post(
                f"{live_server.url}/api/v1/halls/demo/windows/3/call-next",
                headers={"Authorization": f"Bearer {staff}"},
                timeout=10,
            )
            answered = time.perf_counter()
            ticket = response.json()["ticket"]
            if ticket is None:
                break
            event, arrived = wait_for(inbox, "ticket.called")
            latencies.append(max(0.0, arrived - answered))
            assert event["number"] == ticket["number"] == "B001"
            assert event["window"] == 3 and event["window_name"] == "户籍业务"
            assert event["speech"] == "请 B001 号到 3 号窗口办理"
            assert event["seq"] > board["seq"] and event["hall"] == "demo"
            http.post(
                f"{live_server.url}/api/v1/tickets/{ticket['id']}/no-show",
                headers={"Authorization": f"Bearer {staff}"},
                json={"window": 3},
                timeout=10,
            )
            http.post(
                f"{live_server.url}/api/v1/tickets/{ticket['id']}/return",
                headers={"Authorization": f"Bearer {staff}"},
                timeout=10,
            )
        assert latencies and max(latencies) < 0.1, latencies
    finally:
        client.disconnect()


def test_a_client_that_joins_late_gets_the_board_with_the_current_call(app, live_server):
    staff = _token(app, username="staff1")
    kiosk = _token(app, device_kind="kiosk", hall_code="demo")
    open_windows(app, 5)
    requests.post(
        f"{live_server.url}/api/v1/tickets",
        json={"hall": "demo", "queue": "D"},
        headers={"Authorization": f"Bearer {kiosk}"},
        timeout=10,
    )
    requests.post(
        f"{live_server.url}/api/v1/halls/demo/windows/5/call-next",
        headers={"Authorization": f"Bearer {staff}"},
        timeout=10,
    )
    client, inbox = connect(live_server.url, hall="demo", window=5)
    try:
        board, _ = wait_for(inbox, "board")
        window = next(w for w in board["windows"] if w["number"] == 5)
        assert window["current"]["number"] == "D001"
        assert board["recent_calls"][0] == {
            **board["recent_calls"][0],
            "number": "D001",
            "window": 5,
        }
    finally:
        client.disconnect()
