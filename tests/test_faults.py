"""Faults, automated: a server process killed with SIGKILL in the middle of a stream of issues
and calls, and Redis stopped and started under two processes. Nothing is lost or duplicated,
each process keeps serving its own clients, and every client ends in sync with the board."""

from __future__ import annotations

import collections
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path

import pytest
import requests
import socketio
import sqlalchemy as sa

from tests.conftest import REDIS_URL, _token, free_port, need, open_windows
from tests.test_scaleout import start_server

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
# hall.realtime.RedisQueue in use (create_app passes client_manager=realtime.client_manager(url))
QUEUE_WIRED = (
    "realtime.client_manager("
    in (Path(__file__).parent.parent / "hall" / "__init__.py").read_text()
)
EVENTS = ("ticket.issued", "ticket.called", "ticket.updated", "window.updated", "hall.updated")


# ---------------------------------------------------------------- processes


class PrivateRedis:
    """A redis-server of this test alone, on its own port (the shared one is never touched)."""

    def __init__(self):
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
            + ["--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_connect_timeout=0.5).ping():
                    return self
            except redis.ConnectionError:
                time.sleep(0.05)
        raise AssertionError("redis-server did not start")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def private_redis():
    need(bool(REDIS_URL), "fault tests need HALL_TEST_REDIS_URL (Redis tests enabled)")
    need(os.access(REDIS_SERVER, os.X_OK), "fault tests need the redis-server binary")
    server = PrivateRedis().start()
    yield server
    server.stop()


def serve_on(
    port: int, database_url: str, redis_url: str, data_dir
) -> tuple[subprocess.Popen, str]:
    """`hall serve` on a given port (to restart a killed process where its clients look)."""
    env = {
        **os.environ,
        "HALL_DATABASE_URL": database_url,
        "HALL_REDIS_URL": redis_url,
        "HALL_SECRET_KEY": "test-secret-key-for-faults",
        "HALL_DATA_DIR": str(data_dir),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "hall.cli", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert proc.poll() is None, "hall serve exited"
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/v1/halls", timeout=1).ok:
                return proc, f"http://127.0.0.1:{port}"
        except requests.ConnectionError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("server did not start")


def started(*starts) -> list[tuple[subprocess.Popen, str]]:
    """Start servers at once (each start takes a second or two); all or none."""
    with ThreadPoolExecutor(len(starts)) as pool:
        futures = [pool.submit(start) for start in starts]
    done = [f.result() for f in futures if f.exception() is None]
    failed = [f.exception() for f in futures if f.exception() is not None]
    if failed:
        stop(*(proc for proc, _ in done))
        raise failed[0]
    return done


def stop(*procs: subprocess.Popen) -> None:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    for proc in procs:
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


# ---------------------------------------------------------------- a screen, as live.js is


class Screen:
    """A python-socketio client that behaves like live.js: reconnects by itself, joins on every
    connect, applies events in seq order, asks for the board on a gap. It keeps what a hall
    screen shows: the waiting counts, the latest call and the seq they are true at."""

    def __init__(self, url: str, hall: str = "demo"):
        self.hall = hall
        self.lock = threading.Lock()
        self.seq = -1
        self.waiting: dict[str, int] = {}
        self.latest: tuple[str, int] | None = None
        self.connects = 0
        self.boards = 0
        self.called: list[str] = []
        self.log = []
        self.sio = socketio.Client(
            reconnection=True,
            reconnection_attempts=0,  # for ever
            reconnection_delay=0.2,
            reconnection_delay_max=1,
            randomization_factor=0.5,
        )
        self.feed: list[bool] = []  # feed.status of its server: false while Redis is away
        self.sio.on("feed.status", self._on_feed)
        self.sio.on("connect", self._on_connect)
        self.sio.on("board", self._on_board)
        for name in EVENTS:
            self.sio.on(name, lambda data, name=name: self._on_event(name, data))
        self.sio.connect(url, transports=["websocket"], wait_timeout=10)

    def _on_connect(self):
        self.connects += 1
        self.sio.emit("join", {"hall": self.hall})

    def _sync(self):
        # disconnected meanwhile: the join after the reconnect brings the board
        with contextlib.suppress(socketio.exceptions.SocketIOError):
            self.sio.emit("sync", {"hall": self.hall})

    def _on_feed(self, data):
        self.feed.append(data["complete"])
        if data["complete"]:
            self._sync()

    def _on_board(self, board):
        self.log.append(("board", board["seq"]))
        with self.lock:
            if board["seq"] < self.seq:  # read before an event that overtook it: ask again
                self._sync()
                return
            self.seq = board["seq"]
            self.boards += 1
            self.waiting = {q["prefix"]: q["waiting"] for q in board["queues"]}
            calls = board["recent_calls"]
            self.latest = (calls[0]["number"], calls[0]["window"]) if calls else None

    def _on_event(self, name, data):
        self.log.append((name, data["seq"]))
        with self.lock:
            if data["seq"] <= self.seq:
                return
            gap = self.seq >= 0 and data["seq"] > self.seq + 1
            self.seq = data["seq"]
            if "waiting" in data:  # the counts of the queues the event changed
                self.waiting.update(data["waiting"])
            if name == "ticket.called":
                self.latest = (data["number"], data["window"])
                self.called.append(data["number"])
            if gap:
                self._sync()

    def shows(self) -> dict:
        with self.lock:
            return {"seq": self.seq, "waiting": dict(self.waiting), "latest": self.latest}

    def close(self):
        self.sio.shutdown()


def close(screens: list[Screen]) -> None:
    """Disconnect the screens at once (each waits for its socket to close)."""
    threads = [threading.Thread(target=s.close) for s in screens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)


def truth(url: str) -> dict:
    board = requests.get(f"{url}/api/v1/halls/demo/board", timeout=10).json()
    calls = board["recent_calls"]
    return {
        "seq": board["seq"],
        "waiting": {q["prefix"]: q["waiting"] for q in board["queues"]},
        "latest": (calls[0]["number"], calls[0]["window"]) if calls else None,
    }


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out: {what}")


def in_sync(screens: list[Screen], url: str, timeout: float = 10.0) -> dict:
    """Wait until every screen shows the board the API answers; returns that board."""
    true = truth(url)
    for screen in screens:
        wait_until(lambda s=screen: s.shows() == true, timeout, f"{s_id(screen)} in sync: {true}")
    return true


def s_id(screen: Screen) -> str:
    return f"screen of {screen.sio.connection_url} showing {screen.shows()}, last {screen.log[-6:]}"


# ---------------------------------------------------------------- requests that outlive a crash


def post(url: str, path: str, token: str, payload: dict | None = None, deadline: float = 30):
    """POST, retrying on connection errors (the process is down) until it answers."""
    give_up = time.monotonic() + deadline
    while True:
        try:
            return requests.post(
                f"{url}{path}",
                json=payload or {},
                headers={"Authorization": f"Bearer {token}"},
                timeout=10,
            )
        except requests.RequestException:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.1)


def get_board(url: str, deadline: float = 30) -> dict:
    give_up = time.monotonic() + deadline
    while True:
        try:
            return requests.get(f"{url}/api/v1/halls/demo/board", timeout=10).json()
        except requests.RequestException:
            if time.monotonic() > give_up:
                raise
            time.sleep(0.1)


@pytest.mark.slow
def test_kill_9_mid_stream_loses_nothing_duplicates_nothing_and_clients_resync(
    pg_app, pg_demo, private_redis, tmp_path
):
    app = pg_app
    database_url = app.config["SQLALCHEMY_DATABASE_URI"]
    staff = _token(app, username="staff1")
    kiosk = _token(app, device_kind="kiosk", hall_code="demo")
    open_windows(app, 1, 2, 3, 4)
    port = free_port()
    a_url = f"http://127.0.0.1:{port}"
    (a_proc, _), (b_proc, b_url) = started(
        partial(serve_on, port, database_url, private_redis.url, tmp_path),
        partial(start_server, database_url, private_redis.url, tmp_path),
    )
    procs = [a_proc, b_proc]
    screens: list[Screen] = []
    try:
        screens = [Screen(a_url), Screen(a_url), Screen(b_url)]
        wait_until(lambda: all(s.boards for s in screens), 10, "first boards")

        answered: list[int] = []  # ids of the tickets answered 201
        called: list[int] = []  # ids answered by a call-next
        lock = threading.Lock()
        issuing_done = threading.Event()
        errors: list[str] = []

        def issuer(queues: str, count: int):
            for i in range(count):
                made = post(
                    a_url, "/api/v1/tickets", kiosk, {"hall": "demo", "queue": queues[i % 3]}
                )
                if made.status_code != 201:
                    errors.append(f"issue {made.status_code} {made.text}")
                    continue
                with lock:
                    answered.append(made.json()["id"])
                time.sleep(0.02)

        def caller(window: int):
            while True:
                response = post(a_url, f"/api/v1/halls/demo/windows/{window}/call-next", staff)
                if response.status_code == 409:  # a call whose answer the crash swallowed
                    board = get_board(a_url)
                    current = next(w for w in board["windows"] if w["number"] == window)
                    if current["current"]:
                        path = f"/api/v1/tickets/{current['current']['id']}/no-show"
                        post(a_url, path, staff, {"window": window})
                    continue
                if response.status_code != 200:
                    errors.append(f"call {response.status_code} {response.text}")
                    return
                ticket = response.json()["ticket"]
                if ticket is None:
                    if issuing_done.is_set():
                        return
                    time.sleep(0.05)
                    continue
                with lock:
                    called.append(ticket["id"])
                post(a_url, f"/api/v1/tickets/{ticket['id']}/no-show", staff, {"window": window})

        issuers = [
            threading.Thread(target=issuer, args=(queues, 16)) for queues in ("ABC", "BCD", "CDA")
        ]
        callers = [threading.Thread(target=caller, args=(w,)) for w in (1, 2, 3, 4)]
        for thread in issuers + callers:
            thread.start()
        wait_until(lambda: len(answered) >= 16, 20, "a third of the stream")
        os.kill(procs[0].pid, signal.SIGKILL)  # process A dies mid-stream
        assert all(thread.is_alive() for thread in issuers)
        procs[0].wait(5)
        killed_at = time.monotonic()
        wait_until(lambda: not any(s.sio.connected for s in screens[:2]), 10, "A's screens see")
        procs[0], _ = serve_on(port, database_url, private_redis.url, tmp_path)  # same port
        restarted_in = time.monotonic() - killed_at
        for thread in issuers:
            thread.join(60)
        issuing_done.set()
        for thread in callers:
            thread.join(60)
        assert not errors, errors
        assert not any(t.is_alive() for t in issuers + callers)

        # one last issue and call, in order, so the last event is the whole truth
        last = post(a_url, "/api/v1/tickets", kiosk, {"hall": "demo", "queue": "A"})
        assert last.status_code == 201
        answered.append(last.json()["id"])
        final = post(a_url, "/api/v1/halls/demo/windows/3/call-next", staff)
        assert final.json()["ticket"]["id"] == last.json()["id"]
        called.append(last.json()["id"])

        true = in_sync(screens, a_url)
        assert true["latest"] == (last.json()["number"], 3)
        assert true == in_sync(screens, b_url)  # both processes answer the same board
        assert all(s.connects >= 2 for s in screens[:2])  # A's screens came back by themselves

        from hall.extensions import db
        from hall.models import Ticket, TicketEvent

        with app.app_context():
            rows = db.session.execute(sa.select(Ticket.id, Ticket.label, Ticket.status)).all()
            events = db.session.execute(
                sa.select(TicketEvent.ticket_id).where(TicketEvent.action == "called")
            ).scalars()
            calls_per_ticket = collections.Counter(events)
            db.session.remove()
        labels = [label for _, label, _ in rows]
        assert len(labels) == len(set(labels)), "a number was handed out twice"
        ids = {id_ for id_, _, _ in rows}
        assert set(answered) <= ids, "a ticket answered 201 is missing"
        assert len(set(answered)) == len(answered)
        assert max(calls_per_ticket.values()) == 1, "a ticket was called twice"
        assert len(called) == len(set(called))
        assert set(called) <= set(calls_per_ticket)
        # every ticket, even one issued by a request whose answer the crash swallowed, is called
        assert {status for _, _, status in rows} == {"no_show", "called"}
        assert len(calls_per_ticket) == len(rows)
        assert restarted_in < 15
    finally:
        close(screens)
        stop(*procs)


@pytest.mark.slow
def test_redis_stopped_and_started_each_process_serves_its_own_then_all_again(
    pg_app, pg_demo, private_redis, tmp_path
):
    app = pg_app
    database_url = app.config["SQLALCHEMY_DATABASE_URI"]
    staff = _token(app, username="staff1")
    kiosk = _token(app, device_kind="kiosk", hall_code="demo")
    open_windows(app, 1)
    (a_proc, a_url), (b_proc, b_url) = started(
        *[partial(start_server, database_url, private_redis.url, tmp_path)] * 2
    )
    screens: list[Screen] = []
    try:
        screens = [Screen(a_url), Screen(b_url)]
        on_a, on_b = screens
        wait_until(lambda: on_a.boards and on_b.boards, 10, "first boards")
        for _ in range(12):
            assert post(a_url, "/api/v1/tickets", kiosk, {"hall": "demo", "queue": "A"}).ok
        in_sync(screens, a_url)  # Redis carries A's events to B's screen

        private_redis.stop()
        called = post(a_url, "/api/v1/halls/demo/windows/1/call-next", staff)
        assert called.status_code == 200  # the API keeps answering
        number = called.json()["ticket"]["number"]
        wait_until(lambda: number in on_a.called, 3, "A's own screen gets the call")
        post(
            a_url, f"/api/v1/tickets/{called.json()['ticket']['id']}/no-show", staff, {"window": 1}
        )
        issued_on_b = post(b_url, "/api/v1/tickets", kiosk, {"hall": "demo", "queue": "B"})
        assert issued_on_b.status_code == 201
        wait_until(lambda: on_b.shows()["waiting"].get("B") == 1, 3, "B's own screen too")
        assert number not in on_b.called  # nothing crosses without Redis
        if QUEUE_WIRED:  # each server tells its clients their feed is incomplete
            wait_until(lambda: on_a.feed == on_b.feed == [False], 10, "feed.status false")
        for url in (a_url, b_url):
            assert requests.get(f"{url}/api/v1/halls/demo/board", timeout=10).status_code == 200

        private_redis.start()  # the same port
        back = time.monotonic()
        reached = None
        while reached is None and time.monotonic() - back < 15:
            response = post(a_url, "/api/v1/halls/demo/windows/1/call-next", staff)
            ticket = response.json()["ticket"]
            try:
                wait_until(lambda t=ticket: t["number"] in on_b.called, 1, "B hears A again")
                reached = time.monotonic() - back
            except AssertionError:
                pass
            post(a_url, f"/api/v1/tickets/{ticket['id']}/no-show", staff, {"window": 1})
        assert reached is not None, "cross-process events did not resume"
        if QUEUE_WIRED:
            wait_until(lambda: on_a.feed == on_b.feed == [False, True], 10, "feed.status true")
        # B's screen missed what happened while Redis was away: after the gap it is true again
        true = in_sync(screens, a_url)
        assert true["waiting"]["B"] == 1
        assert on_b.boards >= 2
    finally:
        close(screens)
        stop(a_proc, b_proc)
