"""Load benchmark: a busy hall on loopback — 200 hall screens, 40 counters, 10 kiosks.

For each run (`--runs`, each lasting `--seconds`, default 60):

  sqlite-1proc    the single-process default: embedded SQLite in a temporary HALL_DATA_DIR,
                  one `hall serve`, no Redis
  pg-1proc        a scratch PostgreSQL database (bench/scratch.py), one `hall serve`, no Redis
  pg-2proc        the same database, two `hall serve` processes on two ports joined by Redis
                  (Flask-SocketIO message queue)
  pg-1proc-redis  (not run by default) one process on PostgreSQL with the Redis queue, to
                  separate the cost of Redis from the cost of a second process

Set-up (not measured): `hall db upgrade` (PostgreSQL), `hall demo --no-serve`, then straight
into the database: windows 9–40 (综合受理, each serving every queue, a different one first),
one staff account and API token per window, one kiosk device token per kiosk; the servers
start, each counter opens its window (`POST …/windows/<n>/status`), 200 tickets are issued
so that no window finds its queues empty, and the screens connect and join.

Load (all on 127.0.0.1, spread round-robin over the server processes):

  screens   200 Socket.IO clients over WebSocket in `--screen-procs` child processes
            (default 2), each joined to hall "demo" and recording the arrival time
            (time.monotonic(), system-wide on Linux) of every event. By default minimal
            Engine.IO 4 / Socket.IO 5 clients, all of a process in one selector loop
            (`--screen-client raw`): 200 python-socketio Client objects (`socketio`, two
            threads each) cost ~5× the CPU and their ~600 threads compete with the server;
  counters  40 threads, one per window, each looping: call-next, serve for U(0.5, 1.5) ×
            2/3 × `--call-interval` s, finish, pause for U(0.5, 1.5) × 1/3 × `--call-interval`
            s (default 1.5 s: ~27 calls/s for the hall, far above a real hall's rate);
  kiosks    10 threads issuing tickets at a steady pace, `--issue-ratio` (default 1.2) × the
            counters' expected call rate, over queues A–G in turn.

Measured: tickets issued/s, call-next p50/p99, call-to-screen latency p50/p99 — from the
moment the counter received the call-next answer to each screen receiving the matching
`ticket.called` (matched by number and window), and from the moment the request was sent —,
events missed by screens (every screen must receive every call, and every seq of the hall),
errors (HTTP non-2xx, exceptions, screen disconnects), CPU of every process from /proc.

Exit status: 0 all checks passed, 1 a correctness violation (duplicate number, ticket called
twice, an event missed by a screen…), 2 only errors (HTTP errors, dropped connections,
disconnected screens), 130 interrupted. Targets (call-to-screen p99 < 100 ms, no errors) are
shown, never asserted. Usage:

    python bench/load.py [--seconds 60] [--runs sqlite-1proc,pg-1proc,pg-2proc]
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import http.client
import json
import multiprocessing
import os
import platform
import random
import secrets
import selectors
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from array import array
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from issue_and_call import (  # bench/issue_and_call.py, next to this script
    Client,
    CpuMeter,
    Servers,
    _proc_cpu,
    check_database,
    free_port,
    hall_command,
    percentile,
    run_hall,
)
from scratch import Postgres  # bench/scratch.py

HALL = "demo"
QUEUES = "ABCDEFG"
SCREEN_P99_TARGET_MS = 100.0
PREFILL = 200  # tickets issued before the run, so that no window starts with empty queues

RUNS = {
    # name: (database, server processes, Redis message queue)
    "sqlite-1proc": ("sqlite", 1, False),
    "pg-1proc": ("postgresql", 1, False),
    "pg-2proc": ("postgresql", 2, True),
    "pg-1proc-redis": ("postgresql", 1, True),
}
DEFAULT_RUNS = "sqlite-1proc,pg-1proc,pg-2proc"


def log(message: str) -> None:
    print(f"[load] {message}", file=sys.stderr, flush=True)


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


# ---------------------------------------------------------------- screens (child processes)

EVENT_NAMES = (
    "board",
    "ticket.issued",
    "ticket.called",
    "ticket.updated",
    "window.updated",
    "hall.updated",
)


class Inbox:
    """What the screens of one child process received (appended from any thread)."""

    def __init__(self, count: int):
        self.count = count
        self.called: list[tuple[int, float, str, int]] = []  # (screen, arrival, number, window)
        self.seqs = [array("q") for _ in range(count)]
        self.last = [0] * count  # highest seq seen
        self.names: Counter = Counter()
        self.errors: Counter = Counter()
        self.joined_seq: list[int | None] = [None] * count  # None: not joined
        self.dropped: set[int] = set()  # screens disconnected during the run
        self.stopping = threading.Event()
        # what hall/static/js/live.js (the real screens) would do with the events as they came
        self.gaps = 0  # an event beyond last + 1: live.js asks for the whole board (sync)
        self.overtaken = 0  # an event at or below the last seq: live.js drops it
        self.overtaken_calls = 0  # … a ticket.called: its announcement is never made

    def joined(self, i: int, seq: int) -> None:
        self.joined_seq[i] = seq
        self.last[i] = max(self.last[i], seq)

    def event(self, i: int, at: float, name: str, data) -> None:
        self.names[name] += 1
        if not isinstance(data, dict):
            return
        if name == "ticket.called":
            self.called.append((i, at, str(data.get("number")), data.get("window")))
        seq = data.get("seq")
        if not isinstance(seq, int) or name == "board":
            return
        self.seqs[i].append(seq)
        joined = self.joined_seq[i]
        if joined is None or seq <= joined:
            return  # before the snapshot: not counted
        if seq <= self.last[i]:
            self.overtaken += 1
            self.overtaken_calls += name == "ticket.called"
        else:
            self.gaps += seq > self.last[i] + 1
            self.last[i] = seq

    def caught_up(self, final_seq: int) -> bool:
        return all(
            self.joined_seq[i] is None or self.last[i] >= final_seq for i in range(self.count)
        )

    def summary(self, final_seq: int, calls: dict) -> dict:
        """Latencies of every (screen, call) pair and what was missed, duplicated, unmatched."""
        from_answer, from_sent = array("d"), array("d")
        matched: dict[int, set] = defaultdict(set)
        unmatched = duplicate_calls = 0
        for i, at, number, window in list(self.called):
            key = f"{number}@{window}"
            times = calls.get(key)
            if times is None:
                unmatched += 1  # a call the counters did not see answered
                continue
            if key in matched[i]:
                duplicate_calls += 1
                continue
            matched[i].add(key)
            sent, answered = times
            from_answer.append(at - answered)
            from_sent.append(at - sent)
        live = [i for i in range(self.count) if self.joined_seq[i] is not None]
        kept = [i for i in live if i not in self.dropped]
        missing_seq = duplicate_seq = out_of_order = 0
        for i in live:
            got = [s for s in self.seqs[i] if s > self.joined_seq[i]]
            seen = set(got)
            if i in kept:
                missing_seq += len(set(range(self.joined_seq[i] + 1, final_seq + 1)) - seen)
            duplicate_seq += len(got) - len(seen)
            out_of_order += sum(1 for a, b in zip(got, got[1:], strict=False) if b < a)
        return {
            "screens": len(live),
            "from_answer": from_answer.tobytes(),
            "from_sent": from_sent.tobytes(),
            "missing_calls": sum(len(calls) - len(matched[i]) for i in kept),
            "missing_calls_dropped": sum(len(calls) - len(matched[i]) for i in self.dropped),
            "gaps": self.gaps,
            "overtaken": self.overtaken,
            "overtaken_calls": self.overtaken_calls,
            "duplicate_calls": duplicate_calls,
            "unmatched_calls": unmatched,
            "missing_seq": missing_seq,
            "duplicate_seq": duplicate_seq,
            "out_of_order": out_of_order,
            "late": sum(1 for i in kept if self.last[i] < final_seq),
            "events": dict(self.names),
            "errors": dict(self.errors),
        }


def _serve_parent(conn, inbox: Inbox, wait) -> None:
    """The child's side of the protocol with the parent:

    → ("ready", {joined, errors}) once every screen joined (or failed);
    ← ("stop", final_seq, calls), calls mapping "number@window" to (sent, answered);
    → ("result", summary) once every screen saw final_seq (at most 5 s later).
    `wait(seconds)` keeps the screens going meanwhile."""
    joined = sum(1 for s in inbox.joined_seq if s is not None)
    try:
        conn.send(("ready", {"joined": joined, "errors": dict(inbox.errors)}))
    except OSError:
        return
    while not conn.poll(0):
        wait(0.05)
    try:
        message = conn.recv()
    except (EOFError, OSError):  # the parent stopped the run: end quietly
        return
    if message[0] != "stop":
        return
    _, final, calls = message
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and not inbox.caught_up(final):
        wait(0.05)
    inbox.stopping.set()
    with contextlib.suppress(OSError):
        conn.send(("result", inbox.summary(final, calls)))


def socketio_screens(conn, ports: list[int], first: int, count: int) -> None:
    """`count` python-socketio clients (WebSocket transport), each with its own threads."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us
    import socketio

    inbox = Inbox(count)
    clients: list = [None] * count

    def connect(i: int) -> None:
        port = ports[(first + i) % len(ports)]
        client = socketio.Client(reconnection=False)
        for name in EVENT_NAMES:
            client.on(
                name,
                lambda data=None, name=name: inbox.event(i, time.monotonic(), name, data),
            )
        client.on("*", lambda name, data=None: inbox.event(i, time.monotonic(), name, data))

        def gone(*_):
            if not inbox.stopping.is_set():
                inbox.errors[f"screen disconnected (port {port})"] += 1
                inbox.dropped.add(i)

        client.on("disconnect", gone)
        try:
            client.connect(f"http://127.0.0.1:{port}", transports=["websocket"], wait_timeout=30)
            ack = client.call("join", {"hall": HALL}, timeout=30)
            if not (isinstance(ack, dict) and ack.get("ok")):
                inbox.errors[f"join refused: {ack!r:.60}"] += 1
                return
            inbox.joined(i, int(ack["seq"]))
            clients[i] = client
        except Exception as err:  # noqa: BLE001 - counted and reported
            inbox.errors[f"screen connect {type(err).__name__}"] += 1
            with contextlib.suppress(Exception):
                client.disconnect()

    todo = list(range(count))
    lock = threading.Lock()

    def connector():
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            connect(i)

    helpers = [threading.Thread(target=connector, daemon=True) for _ in range(8)]
    for t in helpers:
        t.start()
    for t in helpers:
        t.join()
    _serve_parent(conn, inbox, time.sleep)
    # a graceful disconnect can take seconds per client: all at once, in the background;
    # the parent ends this process once it has the result
    for client in clients:
        if client is not None:
            threading.Thread(target=client.disconnect, daemon=True).start()
    time.sleep(2)


class RawScreen:
    """A minimal Socket.IO 5 / Engine.IO 4 client over one WebSocket, for a selector loop:
    it joins the hall, answers pings, and hands every event to the inbox. Frames from the
    server are unmasked; ours are masked, as RFC 6455 requires."""

    def __init__(self, i: int, port: int, inbox: Inbox):
        self.i, self.port, self.inbox = i, port, inbox
        self.sock: socket.socket | None = None
        self.buffer = bytearray()
        self.fragments = bytearray()

    # -- WebSocket framing
    def send_text(self, text: str) -> None:
        payload = text.encode()
        header = bytearray([0x81])
        n = len(payload)
        if n < 126:
            header.append(0x80 | n)
        elif n < 65536:
            header.append(0x80 | 126)
            header += n.to_bytes(2, "big")
        else:
            header.append(0x80 | 127)
            header += n.to_bytes(8, "big")
        mask = os.urandom(4)
        header += mask
        masked = bytes(b ^ mask[k % 4] for k, b in enumerate(payload))
        self.sock.sendall(bytes(header) + masked)

    def frames(self):
        """Complete text messages in the buffer (a close frame raises ConnectionError)."""
        buf = self.buffer
        while len(buf) >= 2:
            fin, opcode, n = buf[0] & 0x80, buf[0] & 0x0F, buf[1] & 0x7F
            pos = 2
            if n == 126:
                if len(buf) < 4:
                    return
                n, pos = int.from_bytes(buf[2:4], "big"), 4
            elif n == 127:
                if len(buf) < 10:
                    return
                n, pos = int.from_bytes(buf[2:10], "big"), 10
            if len(buf) < pos + n:
                return
            payload = bytes(buf[pos : pos + n])
            del buf[: pos + n]
            if opcode == 0x8:
                raise ConnectionError("closed by the server")
            if opcode == 0x9:  # WebSocket ping → pong
                self.sock.sendall(bytes([0x8A, 0x80 | len(payload)]) + b"\0\0\0\0" + payload)
                continue
            if opcode in (0x1, 0x0):
                self.fragments += payload
                if fin:
                    text = self.fragments.decode()
                    self.fragments.clear()
                    yield text

    # -- handshake (blocking, before the run)
    def connect(self) -> None:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(
            (
                "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\n"
                f"Host: 127.0.0.1:{self.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        head = b""
        while b"\r\n\r\n" not in head:
            chunk = sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            head += chunk
        head, _, rest = head.partition(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1.1 101"):
            raise ConnectionError(head.split(b"\r\n")[0].decode(errors="replace"))
        self.buffer += rest
        self._expect("0")  # Engine.IO open
        self.send_text("40")  # Socket.IO connect to "/"
        self._expect("40")
        self.send_text("420" + json.dumps(["join", {"hall": HALL}]))  # ack id 0
        ack = json.loads(self._expect("430")[3:])[0]
        if not (isinstance(ack, dict) and ack.get("ok")):
            raise ConnectionError(f"join refused: {ack!r:.60}")
        self.inbox.joined(self.i, int(ack["seq"]))
        sock.setblocking(False)

    def _expect(self, prefix: str) -> str:
        while True:
            for text in self.frames():
                if text.startswith(prefix):
                    return text
                self.handle(text, time.monotonic())
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self.buffer += chunk

    # -- the running connection
    def handle(self, text: str, at: float) -> None:
        if text == "2":  # Engine.IO ping → pong
            self.send_text("3")
        elif text.startswith("42"):
            name, *rest = json.loads(text[2:])
            self.inbox.event(self.i, at, name, rest[0] if rest else None)

    def readable(self) -> None:
        try:
            chunk = self.sock.recv(262144)
        except BlockingIOError:
            return
        at = time.monotonic()
        if not chunk:
            raise ConnectionError("connection closed")
        self.buffer += chunk
        for text in self.frames():
            self.handle(text, at)


def raw_screens(conn, ports: list[int], first: int, count: int) -> None:
    """`count` minimal WebSocket screens in one thread (a selector loop): cheap enough that
    the screens do not compete with the servers for the CPU as 200 threaded clients do."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    inbox = Inbox(count)
    selector = selectors.DefaultSelector()
    screens = {}
    for i in range(count):
        screen = RawScreen(i, ports[(first + i) % len(ports)], inbox)
        try:
            screen.connect()
        except (OSError, ValueError) as err:
            inbox.errors[f"screen connect {type(err).__name__}: {err}"[:80]] += 1
            continue
        screens[screen.sock.fileno()] = screen
        selector.register(screen.sock, selectors.EVENT_READ, screen)

    def wait(seconds: float) -> None:
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            for key, _ in selector.select(left):
                screen = key.data
                try:
                    screen.readable()
                except (OSError, ValueError) as err:
                    if not inbox.stopping.is_set():
                        inbox.errors[f"screen disconnected: {err}"[:80]] += 1
                        inbox.dropped.add(screen.i)
                    selector.unregister(screen.sock)
                    screen.sock.close()

    _serve_parent(conn, inbox, wait)
    for screen in screens.values():
        with contextlib.suppress(OSError):
            screen.sock.close()


class Screens:
    """The screen child processes, seen from the parent."""

    def __init__(self, ports: list[int], screens: int, procs: int, kind: str):
        ctx = multiprocessing.get_context("spawn")
        target = raw_screens if kind == "raw" else socketio_screens
        self.children = []
        per, extra = divmod(screens, procs)
        first = 0
        for n in range(procs):
            count = per + (1 if n < extra else 0)
            parent, child = ctx.Pipe()
            proc = ctx.Process(target=target, args=(child, ports, first, count), daemon=True)
            proc.start()
            child.close()
            self.children.append((proc, parent))
            first += count

    @property
    def pids(self) -> list[int]:
        return [proc.pid for proc, _ in self.children]

    def wait_ready(self, timeout: float = 180) -> tuple[int, Counter]:
        joined, errors = 0, Counter()
        for _proc, pipe in self.children:
            if not pipe.poll(timeout):
                raise RuntimeError("the screens did not connect in time")
            _, info = pipe.recv()
            joined += info["joined"]
            errors.update(info["errors"])
        return joined, errors

    def finish(self, final_seq: int, calls: dict) -> dict:
        for _, pipe in self.children:
            pipe.send(("stop", final_seq, calls))
        total = {
            "from_answer": array("d"),
            "from_sent": array("d"),
            "events": Counter(),
            "errors": Counter(),
        }
        for _proc, pipe in self.children:
            if not pipe.poll(120):
                raise RuntimeError("a screen process did not report")
            _, result = pipe.recv()
            for key, value in result.items():
                if key in ("from_answer", "from_sent"):
                    total[key].frombytes(value)
                elif isinstance(value, dict):
                    total[key].update(value)
                else:
                    total[key] = total.get(key, 0) + value
        return total

    def stop(self) -> None:
        for proc, pipe in self.children:
            pipe.close()
            proc.join(timeout=3)
            if proc.is_alive():
                proc.terminate()
                proc.join(timeout=5)
            if proc.is_alive():
                proc.kill()
                proc.join(timeout=5)
        self.children.clear()


# ---------------------------------------------------------------- counters and kiosks


@dataclass
class Load:
    """What the load threads collected."""

    issued: list[dict] = field(default_factory=list)
    issue_latency: list[float] = field(default_factory=list)
    call_latency: list[float] = field(default_factory=list)
    finish_latency: list[float] = field(default_factory=list)
    calls: list[tuple[int, dict, float, float]] = field(default_factory=list)  # w, t, sent, ans
    empty: int = 0
    errors: Counter = field(default_factory=Counter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def error(self, what: str, status: int, raw: bytes) -> None:
        try:
            code = json.loads(raw).get("error", "")
        except (ValueError, AttributeError):
            code = raw[:40].decode(errors="replace")
        with self.lock:
            self.errors[f"{what} {status} {code}".strip()] += 1


def timed_post(client: Client, path: str, payload=None) -> tuple[int, bytes, float, float]:
    """POST; returns status, body, and the monotonic times it was sent and answered."""
    sent = time.monotonic()
    status, raw, _ = client.post(path, payload)
    return status, raw, sent, time.monotonic()


def counter(load: Load, port: int, token: str, window: int, interval: float, until, stop):
    """One counter: call-next, serve, finish, pause; until the deadline."""
    rng = random.Random(window)
    client = Client(port, token)
    serve, pause = interval * 2 / 3, interval / 3

    def wait(seconds: float) -> None:
        stop.wait(max(0.0, min(seconds, until - time.monotonic())))

    try:
        while not stop.is_set() and time.monotonic() < until:
            try:
                status, raw, sent, answered = timed_post(
                    client, f"/api/v1/halls/{HALL}/windows/{window}/call-next"
                )
                if status != 200:
                    load.error("call-next", status, raw)
                    wait(pause)
                    continue
                ticket = json.loads(raw)["ticket"]
                with load.lock:
                    if ticket is None:
                        load.empty += 1
                    else:
                        load.call_latency.append(answered - sent)
                        load.calls.append((window, ticket, sent, answered))
                if ticket is None:
                    wait(pause)
                    continue
                wait(serve * rng.uniform(0.5, 1.5))
                status, raw, sent, answered = timed_post(
                    client, f"/api/v1/tickets/{ticket['id']}/finish", {"window": window}
                )
                if status != 200:
                    load.error("finish", status, raw)
                else:
                    with load.lock:
                        load.finish_latency.append(answered - sent)
                wait(pause * rng.uniform(0.5, 1.5))
            except (OSError, http.client.HTTPException, ValueError) as err:
                client.close()
                if not stop.is_set():
                    with load.lock:
                        load.errors[f"counter {type(err).__name__}"] += 1
                wait(pause)
    finally:
        client.close()


def kiosk(load: Load, port: int, token: str, number: int, rate: float, until, stop):
    """One kiosk issuing tickets at a steady pace (queues A–G in turn)."""
    client = Client(port, token)
    step = 1.0 / rate
    at = time.monotonic() + step * number / 10  # the kiosks do not all press at once
    i = number
    try:
        while not stop.is_set() and at < until:
            stop.wait(max(0.0, at - time.monotonic()))
            at += step
            queue = QUEUES[i % len(QUEUES)]
            i += 1
            try:
                status, raw, sent, answered = timed_post(
                    client, "/api/v1/tickets", {"hall": HALL, "queue": queue}
                )
            except (OSError, http.client.HTTPException) as err:
                client.close()
                if not stop.is_set():
                    with load.lock:
                        load.errors[f"kiosk {type(err).__name__}"] += 1
                continue
            if status != 201:
                load.error("issue", status, raw)
                continue
            body = json.loads(raw)
            with load.lock:
                load.issued.append(body)
                load.issue_latency.append(answered - sent)
    finally:
        client.close()


# ---------------------------------------------------------------- set-up


@dataclass
class HallSetup:
    """The hall of one run, once set up."""

    db_url: str
    staff_tokens: list[str]
    kiosk_tokens: list[str]


def set_up_hall(db_url: str, windows: int, kiosks: int) -> HallSetup:
    """Windows up to `windows`, a staff account and token per window, a token per kiosk."""
    from sqlalchemy.orm import Session

    from hall.auth import create_token
    from hall.models import Hall as HallRow
    from hall.models import Queue, User, Window, WindowQueue

    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    with Session(engine) as session:
        hall = session.scalars(sa.select(HallRow).where(HallRow.code == HALL)).one()
        queues = list(
            session.scalars(sa.select(Queue).where(Queue.hall_id == hall.id).order_by(Queue.prefix))
        )
        have = set(session.scalars(sa.select(Window.number).where(Window.hall_id == hall.id)))
        for number in range(1, windows + 1):
            if number in have:
                continue
            window = Window(hall_id=hall.id, number=number, name="综合受理", status="closed")
            session.add(window)
            session.flush()
            first = queues[(number - 1) % len(queues)]
            order = [first] + [q for q in queues if q.id != first.id]
            for position, q in enumerate(order):
                session.add(WindowQueue(window_id=window.id, queue_id=q.id, position=position))
        staff = []
        for number in range(1, windows + 1):
            user = User(
                username=f"bench{number:02d}",
                display_name=f"压测{number:02d}",
                job_number=str(9000 + number),
                role="staff",
                password_hash="",
                hall_id=hall.id,
            )
            session.add(user)
            session.flush()
            staff.append(create_token(session, user=user, name="bench/load.py"))
        kiosk_tokens = [
            create_token(session, device_kind="kiosk", hall=hall, name=f"bench kiosk {n}")
            for n in range(1, kiosks + 1)
        ]
        session.commit()
    engine.dispose()
    return HallSetup(db_url, staff, kiosk_tokens)


def final_seq(db_url: str) -> int:
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        seq = conn.exec_driver_sql("SELECT seq FROM halls WHERE code = 'demo'").scalar_one()
    engine.dispose()
    return int(seq)


def start_redis(servers: Servers) -> tuple[str, subprocess.Popen]:
    """A private redis-server on a free port: Redis pub/sub channels ignore the database
    number, so a shared Redis would mix our events with any other hall's on it."""
    binary = shutil.which("redis-server")
    if not binary:
        sys.exit("load: redis-server not found; install it or pass --redis-url")
    port = free_port()
    argv = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    argv += ["--appendonly", "no", "--daemonize", "no"]
    proc = servers.start("redis", argv, dict(os.environ))
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with (
            contextlib.suppress(OSError),
            socket.create_connection(("127.0.0.1", port), timeout=1) as s,
        ):
            s.sendall(b"PING\r\n")
            if s.recv(16).startswith(b"+PONG"):
                return f"redis://127.0.0.1:{port}/0", proc
        time.sleep(0.1)
    raise RuntimeError("redis-server did not start")


# ---------------------------------------------------------------- one run


@dataclass
class Result:
    name: str
    dialect: str
    processes: int
    redis: bool
    wall: float = 0.0
    load: Load = field(default_factory=Load)
    screens: dict = field(default_factory=dict)
    screens_joined: int = 0
    screens_total: int = 0
    cpu: dict = field(default_factory=dict)  # what → CPU seconds during the load
    violations: Counter = field(default_factory=Counter)
    checks: dict = field(default_factory=dict)
    load_before: str = ""
    load_after: str = ""

    @property
    def errors(self) -> Counter:
        return self.load.errors + self.screens.get("errors", Counter())


def _cpu(pids: list[int]) -> float:
    return sum(_proc_cpu(pid) or 0.0 for pid in pids)


def measure(name: str, args, folder: Path, redis_url: str | None, redis_pid: int | None, stop):
    database, processes, use_redis = RUNS[name]
    servers = Servers(folder)
    pg = Postgres(args.database_url) if database == "postgresql" else None
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALL_")}
    env.update(
        HALL_DATA_DIR=str(folder), HALL_SECRET_KEY=secrets.token_hex(32), PYTHONUNBUFFERED="1"
    )
    env["HALL_RATE_LIMITS"] = "0"  # one token issues thousands of tickets: no flood guard
    screens = None
    result = Result(name, "", processes, use_redis, screens_total=args.screens)
    try:
        if pg:
            env["HALL_DATABASE_URL"] = pg.create()
            result.dialect = f"PostgreSQL ({pg.name})"
            run_hall(["db", "upgrade"], env)
        else:
            result.dialect = "SQLite (embedded, WAL)"
        if use_redis:
            env["HALL_REDIS_URL"] = redis_url
        db_url = env.get("HALL_DATABASE_URL") or f"sqlite:///{folder / 'hall.sqlite3'}"
        log(f"{name}: data in {folder}; {result.dialect}")
        run_hall(["demo", "--no-serve"], env)
        hall = set_up_hall(db_url, args.counters, args.kiosks)

        ports, procs = [], []
        for n in range(processes):
            port = free_port()
            procs.append(
                servers.start(f"hall{n + 1}", hall_command() + ["serve", "--port", str(port)], env)
            )
            ports.append(port)
        for n, (port, proc) in enumerate(zip(ports, procs, strict=True)):
            servers.wait_ready(f"hall{n + 1}", proc, port, "/api/v1/halls")
        log(f"{name}: hall serve on {', '.join(f':{p}' for p in ports)}")

        # each counter opens its own window with its own token (signs in)
        for number in range(1, args.counters + 1):
            client = Client(ports[(number - 1) % len(ports)], hall.staff_tokens[number - 1])
            status, raw, _ = client.post(
                f"/api/v1/halls/{HALL}/windows/{number}/status", {"status": "open"}
            )
            client.close()
            if status != 200:
                raise RuntimeError(f"could not open window {number}: {status} {raw[:200]!r}")
        prefill = Load()
        client = Client(ports[0], hall.kiosk_tokens[0])
        for i in range(args.prefill):
            status, raw, _ = client.post("/api/v1/tickets", {"hall": HALL, "queue": QUEUES[i % 7]})
            if status != 201:
                raise RuntimeError(f"could not issue a ticket: {status} {raw[:200]!r}")
            prefill.issued.append(json.loads(raw))
        client.close()

        log(f"{name}: connecting {args.screens} screens ({args.screen_procs} processes)")
        screens = Screens(ports, args.screens, args.screen_procs, args.screen_client)
        result.screens_joined, connect_errors = screens.wait_ready()
        if connect_errors:  # (counted once, with the screens' result)
            log(f"{name}: screens that could not join: {dict(connect_errors)}")
        log(f"{name}: {result.screens_joined} screens joined; load for {args.seconds:g} s")

        # the counters' expected call rate → the kiosks' pace
        call_rate = args.counters / args.call_interval
        per_kiosk = args.issue_ratio * call_rate / args.kiosks
        load = result.load
        threads = []
        start = time.monotonic()
        until = start + args.seconds
        for number in range(1, args.counters + 1):
            port, token = ports[(number - 1) % len(ports)], hall.staff_tokens[number - 1]
            threads.append(
                threading.Thread(
                    target=counter,
                    args=(load, port, token, number, args.call_interval, until, stop),
                    daemon=True,
                )
            )
        for number in range(args.kiosks):
            port, token = ports[number % len(ports)], hall.kiosk_tokens[number]
            threads.append(
                threading.Thread(
                    target=kiosk,
                    args=(load, port, token, number, per_kiosk, until, stop),
                    daemon=True,
                )
            )
        meter_pg = CpuMeter(os.getpid(), pg.name) if pg else None
        pg_before = meter_pg.snapshot()[1] if meter_pg else {}
        pids = {
            "servers": [p.pid for p in procs],
            "screens": screens.pids,
            "redis": [redis_pid] if use_redis and redis_pid else [],
        }
        cpu_before = {k: _cpu(v) for k, v in pids.items()}
        bench_before = time.process_time()
        result.load_before = _load()
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.5)
        result.wall = time.monotonic() - start
        result.cpu = {k: _cpu(v) - cpu_before[k] for k, v in pids.items()}
        result.cpu["load threads"] = time.process_time() - bench_before
        if meter_pg:
            after = meter_pg.snapshot()[1]
            result.cpu["postgres"] = sum(c - pg_before.get(p, 0.0) for p, c in after.items())
        result.load_after = _load()

        time.sleep(0.5)  # the last events on their way
        seq = final_seq(db_url)
        calls = {f"{t['number']}@{w}": (sent, ans) for w, t, sent, ans in load.calls}
        result.screens = screens.finish(seq, calls)
        check(result, prefill.issued + load.issued, load.calls, db_url)
        for n, proc in enumerate(procs):
            if proc.poll() is not None:
                load.errors[f"hall{n + 1} exited ({proc.returncode})"] += 1
        return result
    finally:
        if screens:
            screens.stop()
        servers.stop()
        if pg:
            try:
                pg.drop()
            except Exception as err:  # noqa: BLE001 - report, keep cleaning up
                log(f"could not drop database {pg.name}: {err}")


def check(result: Result, issued: list[dict], calls: list, db_url: str) -> None:
    """Correctness, from the answers, the screens and the rows."""
    from issue_and_call import Checks, check_answers

    checks = Checks()
    check_answers(checks, issued, [(w, t) for w, t, _, _ in calls])
    check_database(checks, db_url)
    v = result.violations
    v["duplicate ticket numbers in answers"] = checks.duplicate_numbers
    v["duplicate ticket ids in answers"] = checks.duplicate_ids
    v["tickets called twice (answers)"] = checks.called_twice
    v["call answers for another window or status"] = checks.wrong_answer
    v["duplicate numbers in the tickets table"] = checks.db_duplicate_numbers or 0
    v["tickets with two 'called' events (rows)"] = checks.db_called_twice or 0
    v["windows holding two active tickets (rows)"] = checks.db_two_active_at_window or 0
    s = result.screens
    v["ticket.called missed by a connected screen (screen × call)"] = s.get("missing_calls", 0)
    v["events (any seq) missed by a connected screen (screen × seq)"] = s.get("missing_seq", 0)
    v["ticket.called received twice by a screen"] = s.get("duplicate_calls", 0)
    v["events received twice (seq) by a screen"] = s.get("duplicate_seq", 0)
    v["ticket.called without a matching answered call"] = s.get("unmatched_calls", 0)
    v["screens that did not join"] = max(0, result.screens_total - result.screens_joined)


# ---------------------------------------------------------------- report


def _ms(values, p) -> str:
    return f"{percentile(list(values), p):.1f}" if len(values) else "–"


def _pct_core(cpu: float | None, wall: float) -> str:
    return f"{100 * cpu / wall:.0f} %" if cpu is not None and wall else "–"


def report(args, results: list[Result], machine: str) -> str:
    names = [r.name for r in results]
    lines = [
        "## hall bench: load — "
        f"{args.screens} screens, {args.counters} counters, {args.kiosks} kiosks",
        "",
        f"{args.seconds:g} s per run · {os.cpu_count()} CPUs · {machine}"
        f" · Python {platform.python_version()} · call every ~{args.call_interval:g} s per"
        f" counter (serve {args.call_interval * 2 / 3:.2f} s, pause"
        f" {args.call_interval / 3:.2f} s, each ×U(0.5, 1.5)); kiosks at"
        f" {args.issue_ratio:g}× the expected call rate · screens: "
        + (
            "minimal WebSocket Socket.IO clients, one thread per process"
            if args.screen_client == "raw"
            else "python-socketio Client objects (WebSocket), two threads each"
        )
        + f", in {args.screen_procs} processes",
        "",
        "| measure | " + " | ".join(names) + " | target |",
        "|---|" + "---:|" * len(names) + "---|",
    ]

    def row(label: str, cells: list[str], target: str = "") -> None:
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {target} |")

    row("server processes", [f"{r.processes}" + (" + Redis" if r.redis else "") for r in results])
    row("database", [r.dialect.split(" ")[0] for r in results])
    row("load average before → after", [f"{r.load_before} → {r.load_after}" for r in results])
    row("tickets issued/s", [f"{len(r.load.issued) / r.wall:.1f}" for r in results])
    row(
        "calls/s (call-next answered a ticket)",
        [f"{len(r.load.calls) / r.wall:.1f}" for r in results],
    )
    row(
        "issue p50 / p99 (ms)",
        [f"{_ms(r.load.issue_latency, 50)} / {_ms(r.load.issue_latency, 99)}" for r in results],
    )
    row(
        "call-next p50 / p99 (ms)",
        [f"{_ms(r.load.call_latency, 50)} / {_ms(r.load.call_latency, 99)}" for r in results],
    )
    row(
        "finish p50 / p99 (ms)",
        [f"{_ms(r.load.finish_latency, 50)} / {_ms(r.load.finish_latency, 99)}" for r in results],
    )
    screen_met = []
    for r in results:
        lat = r.screens.get("from_answer", [])
        p99 = percentile(list(lat), 99) if len(lat) else float("inf")
        screen_met.append(p99 < SCREEN_P99_TARGET_MS)
    row(
        "**call-to-screen, from the answer, p50 / p99 (ms)**",
        [
            f"{_ms(r.screens.get('from_answer', []), 50)} / {_ms(r.screens.get('from_answer', []), 99)}"
            for r in results
        ],
        f"p99 < {SCREEN_P99_TARGET_MS:g} ms",
    )
    row(
        "&nbsp;&nbsp;target met",
        ["yes" if m else "**no**" for m in screen_met],
    )
    row(
        "call-to-screen, from the answer, min / max (ms)",
        [
            f"{_ms(r.screens.get('from_answer', []), 0)} / {_ms(r.screens.get('from_answer', []), 100)}"
            for r in results
        ],
    )
    row(
        "&nbsp;&nbsp;deliveries before the answer arrived",
        [
            f"{sum(1 for x in r.screens.get('from_answer', []) if x < 0) / max(1, len(r.screens.get('from_answer', []))):.0%}"
            for r in results
        ],
    )
    row(
        "call-to-screen, from the request sent, p50 / p99 (ms)",
        [
            f"{_ms(r.screens.get('from_sent', []), 50)} / {_ms(r.screens.get('from_sent', []), 99)}"
            for r in results
        ],
    )
    row(
        "deliveries measured (screen × call)",
        [f"{len(r.screens.get('from_answer', [])):,}" for r in results],
    )
    row(
        "events received by all screens",
        [
            f"{sum(r.screens.get('events', {}).values()):,} ({sum(r.screens.get('events', {}).values()) / r.wall:,.0f}/s)"
            for r in results
        ],
    )
    row(
        "events arriving out of seq order (screen × event)",
        [f"{r.screens.get('out_of_order', 0):,}" for r in results],
    )
    row(
        "&nbsp;&nbsp;live.js would resync (gap in seq; screen × event)",
        [f"{r.screens.get('gaps', 0):,}" for r in results],
    )
    row(
        "&nbsp;&nbsp;live.js would drop (overtaken; screen × event)",
        [f"{r.screens.get('overtaken', 0):,}" for r in results],
    )
    row(
        "&nbsp;&nbsp;… of them ticket.called (screens announce them from the board)",
        [f"{r.screens.get('overtaken_calls', 0):,}" for r in results],
    )
    row(
        "ticket.called lost by disconnected screens (screen × call)",
        [f"{r.screens.get('missing_calls_dropped', 0):,}" for r in results],
    )
    row("call-next answered null (queues ran dry)", [f"{r.load.empty}" for r in results])
    errors = [sum(r.errors.values()) for r in results]
    row("**errors**", [f"{e}" + ("" if e == 0 else " **(no)**") for e in errors], "0")
    whats = sorted({w for r in results for w in r.errors})
    for what in whats:
        row(f"&nbsp;&nbsp;{what}", [f"{r.errors.get(what, 0)}" for r in results])
    row("screens joined", [f"{r.screens_joined}/{args.screens}" for r in results])
    row(
        "screens (still connected) without the last event 5 s after",
        [f"{r.screens.get('late', 0)}" for r in results],
    )
    for key, label in (
        ("servers", "CPU: hall serve process(es)"),
        ("postgres", "CPU: PostgreSQL backends"),
        ("redis", "CPU: Redis"),
        ("screens", "CPU: screen clients"),
        ("load threads", "CPU: counters + kiosks (this process)"),
    ):
        row(f"{label} (% of one core)", [_pct_core(r.cpu.get(key), r.wall) for r in results])
    row(
        "CPU: all of the above (% of the machine)",
        [f"{100 * sum(r.cpu.values()) / r.wall / (os.cpu_count() or 1):.0f} %" for r in results],
    )
    sat = []
    for r in results:
        per_proc = (r.cpu.get("screens", 0) / max(1, args.screen_procs)) / r.wall
        sat.append(f"{'**yes**' if per_proc > 0.85 else 'no'} ({100 * per_proc:.0f} % per process)")
    row("screen clients saturated (> 85 % of a core each)", sat)
    lines += [
        "",
        "| correctness check | " + " | ".join(names) + " | ok |",
        "|---|" + "---:|" * len(names) + "---|",
    ]
    labels = list(dict.fromkeys(k for r in results for k in r.violations))
    for label in labels:
        values = [r.violations.get(label, 0) for r in results]
        lines.append(
            f"| {label} | "
            + " | ".join(str(v) for v in values)
            + f" | {'yes' if not any(values) else '**NO**'} |"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="200 screens, 40 counters, 10 kiosks against 1 and 2 `hall serve` processes."
    )
    parser.add_argument("--seconds", type=float, default=60.0, help="per run (default 60)")
    parser.add_argument(
        "--runs",
        default=DEFAULT_RUNS,
        help=f"comma-separated, of {', '.join(RUNS)} (default {DEFAULT_RUNS})",
    )
    parser.add_argument(
        "--database-url",
        default="postgresql+psycopg://postgres@127.0.0.1/postgres",
        help="PostgreSQL server for the pg-* runs: a fresh database hall_bench_<random> is "
        "created there and dropped at the end (default %(default)s)",
    )
    parser.add_argument(
        "--redis-url",
        help="an existing Redis for the message queue (default: a private redis-server on a "
        "free port, started and stopped by the benchmark: Redis pub/sub ignores the database "
        "number, so a shared Redis would mix these events with another hall's)",
    )
    parser.add_argument("--screens", type=int, default=200, help="default 200")
    parser.add_argument("--counters", type=int, default=40, help="windows calling (default 40)")
    parser.add_argument("--kiosks", type=int, default=10, help="default 10")
    parser.add_argument(
        "--call-interval",
        type=float,
        default=6.0,
        help="mean seconds between two calls of one counter (default 6: ~50x a real hall; "
        "1.5 is a stress level that saturates one process)",
    )
    parser.add_argument(
        "--issue-ratio",
        type=float,
        default=1.2,
        help="tickets issued per expected call (default 1.2, so queues never run dry)",
    )
    parser.add_argument("--prefill", type=int, default=PREFILL, help="tickets issued before")
    parser.add_argument(
        "--screen-procs", type=int, default=2, help="processes holding the screens (default 2)"
    )
    parser.add_argument(
        "--screen-client",
        choices=("raw", "socketio"),
        default="raw",
        help="raw: minimal WebSocket Socket.IO clients, one thread per process (default); "
        "socketio: python-socketio Client objects, two threads each",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary folder (logs)")
    args = parser.parse_args(argv)
    args.runs = [r.strip() for r in args.runs.split(",") if r.strip()]
    unknown = [r for r in args.runs if r not in RUNS]
    if unknown:
        parser.error(f"unknown run(s) {', '.join(unknown)}; choose from {', '.join(RUNS)}")
    return args


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    folder = Path(tempfile.mkdtemp(prefix="hall-load-"))
    stop = threading.Event()
    shared = Servers(folder)  # the private Redis
    results: list[Result] = []
    machine = f"load average {_load()} at the start"
    try:
        redis_url, redis_pid = args.redis_url, None
        if any(RUNS[r][2] for r in args.runs) and not redis_url:
            redis_url, proc = start_redis(shared)
            redis_pid = proc.pid
            log(f"private Redis at {redis_url}")
        for name in args.runs:
            sub = folder / name
            sub.mkdir()
            results.append(measure(name, args, sub, redis_url, redis_pid, stop))
            log(f"{name}: done")
        print(report(args, results, machine), flush=True)
        violations = sum(sum(r.violations.values()) for r in results)
        errors = sum(sum(r.errors.values()) for r in results)
        if violations or errors:
            log(f"{'correctness check FAILED' if violations else 'errors'}; logs kept in {folder}")
            args.keep = True
            return 1 if violations else 2
        return 0
    except KeyboardInterrupt:
        stop.set()
        log("interrupted")
        return 130
    finally:
        stop.set()
        shared.stop()
        if args.keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
