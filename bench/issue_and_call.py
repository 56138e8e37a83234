"""Benchmark: ticket issue throughput and call-next latency of a real `hall serve`.

Sets up a throw-away hall (fresh HALL_DATA_DIR with the embedded SQLite file, or a fresh
PostgreSQL database), loads the demo, starts `hall serve` and the bare baseline app
(bench/bare_app.py, served the same way) as subprocesses and measures with HTTP clients on
127.0.0.1, one connection per client thread, kept alive as long as the server allows (the
werkzeug server of `hall serve` closes every connection after one response, so each request
also pays a TCP connect, for the hall and the baseline alike):

  (a) POST /api/v1/tickets with 1 and 8 concurrent clients: requests/s, ratio hall/bare;
  (b) 6 windows calling concurrently (call-next, then finish the called ticket): call-next
      latency p50/p90/p99/max, and the same loop against the bare endpoint;
  (c) correctness while benchmarking: no duplicate ticket numbers, no ticket called twice
      (from the answers and from the database afterwards); exits 1 when violated, 2 when
      only HTTP errors (4xx/5xx, dropped connections) occurred.

Speed targets are reported, never asserted. Usage:

    python bench/issue_and_call.py [--seconds 8]
    python bench/issue_and_call.py --database-url postgresql+psycopg://postgres@127.0.0.1/postgres
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import itertools
import json
import os
import platform
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, deque
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from scratch import Postgres  # bench/scratch.py, next to this script

HERE = Path(__file__).resolve().parent
HALL = "demo"
QUEUES = "ABCDEFG"
WINDOWS = range(1, 7)
ISSUE_TARGET_RATIO = 0.5
CALL_P99_TARGET_MS = 25.0
UNREACHED_LIMIT = "100000000/minute"  # --rate-limits: counted at every issue, never reached


def log(message: str) -> None:
    print(f"[bench] {message}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- HTTP client


class Client:
    """One keep-alive HTTP/1.1 connection (one per client thread)."""

    def __init__(self, port: int, token: str | None = None):
        self.port = port
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.connections = 0
        self.conn: http.client.HTTPConnection | None = None

    def _connect(self) -> http.client.HTTPConnection:
        if self.conn is None:
            self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
            self.connections += 1
        return self.conn

    def request(self, method: str, path: str, payload=None) -> tuple[int, bytes, float]:
        """Send one request; returns status, body and the seconds it took."""
        body = None if payload is None else json.dumps(payload).encode()
        conn = self._connect()
        start = time.perf_counter()
        conn.request(method, path, body=body, headers=self.headers)
        response = conn.getresponse()
        raw = response.read()
        elapsed = time.perf_counter() - start
        if response.will_close:
            self.close()
        return response.status, raw, elapsed

    def post(self, path: str, payload=None) -> tuple[int, bytes, float]:
        return self.request("POST", path, payload if payload is not None else {})

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


# ---------------------------------------------------------------- CPU accounting


def _proc_cpu(pid: int) -> float | None:
    """User + system CPU seconds of a process (Linux /proc), None when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class CpuMeter:
    """CPU time spent by a server process and, on PostgreSQL, by the backends serving our
    database: a measure of cost per request that other load on the machine disturbs less
    than wall-clock rates do."""

    def __init__(self, pid: int, database: str | None = None):
        self.pid = pid
        self.database = database.encode() if database else None

    def _backends(self) -> dict[int, float]:
        found = {}
        if not self.database:
            return found
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                cmdline = (entry / "cmdline").read_bytes()
            except OSError:
                continue
            if cmdline.startswith(b"postgres: ") and self.database in cmdline.split(b" "):
                cpu = _proc_cpu(int(entry.name))
                if cpu is not None:
                    found[int(entry.name)] = cpu
        return found

    def _server(self) -> dict[int, float]:
        """The server process and its descendants (e.g. gunicorn's workers)."""
        parents = {}
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    stat = (entry / "stat").read_text()
                except OSError:
                    continue
                parents[int(entry.name)] = int(stat.rpartition(")")[2].split()[1])
        family, grew = {self.pid}, True
        while grew:
            more = {pid for pid, ppid in parents.items() if ppid in family} - family
            family |= more
            grew = bool(more)
        found = {pid: _proc_cpu(pid) for pid in family}
        return {pid: cpu for pid, cpu in found.items() if cpu is not None}

    def snapshot(self):
        return self._server(), self._backends()

    def since(self, before) -> tuple[float | None, float | None]:
        server0, db0 = before
        server1, db1 = self.snapshot()
        if self.pid not in server0 or self.pid not in server1:
            return None, None
        server = sum(cpu - server0.get(pid, 0.0) for pid, cpu in server1.items())
        db = sum(cpu - db0.get(pid, 0.0) for pid, cpu in db1.items()) if self.database else None
        return server, db


# ---------------------------------------------------------------- measurements


@dataclass
class Run:
    """What one measured run collected."""

    ok: int = 0
    errors: Counter = field(default_factory=Counter)
    latencies: list[float] = field(default_factory=list)  # seconds, of the measured request
    extra_latencies: list[float] = field(default_factory=list)  # seconds, e.g. finish
    bodies: list[dict] = field(default_factory=list)
    calls: list[tuple[int, dict]] = field(default_factory=list)  # (window, ticket)
    empty: int = 0  # call-next answered {"ticket": null}
    per_worker: dict = field(default_factory=dict)  # calls made by each window
    cap: int = 0  # the calls a window may make at most
    cpu: float | None = None  # CPU seconds of the server process during the run
    db_cpu: float | None = None  # CPU seconds of the PostgreSQL backends of the database
    connections: int = 0
    wall: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def rate(self) -> float:
        return self.ok / self.wall if self.wall else 0.0


def _threads(workers, stop: threading.Event, run: Run | None = None, meter=None) -> float:
    """Start the workers together, wait for them; returns the wall time in seconds (and
    puts the CPU time the server spent meanwhile into the run)."""
    barrier = threading.Barrier(len(workers) + 1)
    ends: list[float] = []

    def wrap(work):
        barrier.wait()
        try:
            work()
        except (OSError, http.client.HTTPException) as err:  # counted, unless stopping
            if run is not None and not stop.is_set():
                with run.lock:
                    run.errors[f"connection {type(err).__name__}"] += 1
        finally:
            ends.append(time.perf_counter())

    threads = [threading.Thread(target=wrap, args=(w,), daemon=True) for w in workers]
    for t in threads:
        t.start()
    cpu_before = meter.snapshot() if meter else None
    barrier.wait()
    start = time.perf_counter()
    try:
        for t in threads:
            t.join()
    except BaseException:
        stop.set()
        raise
    if meter and run is not None:
        run.cpu, run.db_cpu = meter.since(cpu_before)
    return (max(ends) if ends else time.perf_counter()) - start


def _record_error(run: Run, what: str, status: int, raw: bytes) -> None:
    try:
        code = json.loads(raw).get("error", "")
    except (ValueError, AttributeError):
        code = raw[:40].decode(errors="replace")
    with run.lock:
        run.errors[f"{what} {status} {code}".strip()] += 1


def measure_issue(
    port, token, clients, seconds, max_requests, stop, keep_bodies, meter=None
) -> Run:
    """POST /api/v1/tickets from `clients` keep-alive connections, bounded in time and count."""
    run = Run()
    budget = itertools.count()
    deadline_box = {}

    def work(offset: int):
        client = Client(port, token)
        latencies, bodies, ok, i = [], [], 0, offset
        try:
            while not stop.is_set() and time.perf_counter() < deadline_box["t"]:
                if next(budget) >= max_requests:
                    break
                queue = QUEUES[i % len(QUEUES)]
                i += 1
                status, raw, dt = client.post("/api/v1/tickets", {"hall": HALL, "queue": queue})
                if status != 201:
                    _record_error(run, "issue", status, raw)
                    continue
                ok += 1
                latencies.append(dt)
                if keep_bodies:
                    bodies.append(json.loads(raw))
        finally:
            client.close()
            with run.lock:
                run.ok += ok
                run.latencies += latencies
                run.bodies += bodies
                run.connections += client.connections

    workers = [(lambda n=n: work(n)) for n in range(clients)]
    deadline_box["t"] = time.perf_counter() + seconds + 0.05
    run.wall = _threads(workers, stop, run, meter)
    return run


def measure_calls(
    port, token, seconds, max_calls, stop, bare: bool, meter=None, pace: float = 0.0
) -> Run:
    """Windows 1–6 in parallel, each: call-next, then finish the called ticket (a loop).

    Back to back, or with `pace` > 0 each window starts a loop that many times a second
    (at once when it is late). Against the bare app the same two requests per loop go to
    its one endpoint."""
    run = Run(cap=max_calls)
    deadline_box = {}

    def work(number: int):
        client = Client(port, token)
        calls, finishes, called, ok = [], [], [], 0
        # the windows' loops spread over the first interval, not all at the same instant
        due = time.perf_counter() + (number / len(WINDOWS) / pace if pace else 0.0)
        try:
            for _ in range(max_calls):
                if pace:
                    wait = due - time.perf_counter()
                    if wait > 0 and stop.wait(wait):
                        break
                    due = max(due + 1 / pace, time.perf_counter())
                if stop.is_set() or time.perf_counter() >= deadline_box["t"]:
                    break
                if bare:
                    status, raw, dt = client.post("/api/v1/tickets", {"hall": HALL, "queue": "A"})
                    if status != 201:
                        _record_error(run, "bare", status, raw)
                        continue
                    calls.append(dt)
                    ok += 1
                    status, raw, dt = client.post("/api/v1/tickets", {"window": number})
                    if status == 201:
                        finishes.append(dt)
                    continue
                status, raw, dt = client.post(f"/api/v1/halls/{HALL}/windows/{number}/call-next")
                if status != 200:
                    _record_error(run, "call-next", status, raw)
                    break
                ticket = json.loads(raw)["ticket"]
                if ticket is None:
                    with run.lock:
                        run.empty += 1
                    break
                calls.append(dt)
                called.append((number, ticket))
                ok += 1
                status, raw, dt = client.post(
                    f"/api/v1/tickets/{ticket['id']}/finish", {"window": number}
                )
                if status != 200:
                    _record_error(run, "finish", status, raw)
                    break
                finishes.append(dt)
        finally:
            client.close()
            with run.lock:
                run.ok += ok
                run.latencies += calls
                run.extra_latencies += finishes
                run.calls += called
                run.connections += client.connections
                run.per_worker[number] = ok

    workers = [(lambda n=n: work(n)) for n in WINDOWS]
    deadline_box["t"] = time.perf_counter() + seconds + 0.05
    run.wall = _threads(workers, stop, run, meter)
    return run


def issue_many(port, token, prefixes: list[str], seconds: float, stop) -> Run:
    """Issue one ticket per prefix with 8 clients, for at most `seconds` (set-up)."""
    run = Run()
    todo = deque(prefixes)
    deadline = time.perf_counter() + seconds

    def work():
        client = Client(port, token)
        try:
            while not stop.is_set() and time.perf_counter() < deadline:
                try:
                    queue = todo.popleft()
                except IndexError:
                    break
                status, raw, _ = client.post("/api/v1/tickets", {"hall": HALL, "queue": queue})
                if status != 201:
                    _record_error(run, "issue", status, raw)
                    continue
                body = json.loads(raw)
                with run.lock:
                    run.ok += 1
                    run.bodies.append(body)
        finally:
            client.close()

    run.wall = _threads([work] * 8, stop, run)
    return run


def percentile(values: list[float], p: float) -> float:
    """Nearest-rank percentile of seconds, in milliseconds."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(p / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1] * 1000


# ---------------------------------------------------------------- processes and databases


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def hall_command() -> list[str]:
    script = Path(sys.executable).with_name("hall")
    if script.exists():
        return [str(script)]
    found = shutil.which("hall")
    if found:
        return [found]
    sys.exit("bench: the `hall` command was not found; install the project (pip install -e .)")


def run_hall(args: list[str], env: dict) -> str:
    result = subprocess.run(
        hall_command() + args, env=env, capture_output=True, text=True, timeout=300
    )
    if result.returncode != 0:
        raise RuntimeError(f"hall {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result.stdout


class Servers:
    """The subprocesses of a run; stop() ends them all (SIGTERM, then SIGKILL)."""

    def __init__(self, folder: Path):
        self.folder = folder
        self.procs: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, argv: list[str], env: dict) -> subprocess.Popen:
        out = open(self.folder / f"{name}.log", "wb")  # noqa: SIM115 - kept while it runs
        proc = subprocess.Popen(
            argv,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        out.close()
        self.procs.append((name, proc))
        return proc

    def log_tail(self, name: str) -> str:
        path = self.folder / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def wait_ready(self, name: str, proc: subprocess.Popen, port: int, path: str, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{name} exited with {proc.returncode}:\n{self.log_tail(name)}")
            client = Client(port)
            try:
                status, _, _ = client.request("GET", path)
                if status == 200:
                    return
            except OSError:
                pass
            finally:
                client.close()
            time.sleep(0.1)
        raise RuntimeError(f"{name} did not answer within {timeout} s:\n{self.log_tail(name)}")

    def stop(self) -> None:
        for _, proc in self.procs:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
        for name, proc in self.procs:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                log(f"{name} did not stop; killing it")
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        self.procs.clear()


def start_hall(servers: Servers, port: int, env: dict, command: str | None) -> subprocess.Popen:
    """Start `hall serve --port P` (or the given command) and wait until it answers."""
    if command:
        argv = shlex.split(command.format(port=port, python=sys.executable))
        if "/" not in argv[0]:  # e.g. gunicorn: the one of this virtualenv when there is one
            beside = Path(sys.executable).with_name(argv[0])
            argv[0] = str(beside) if beside.exists() else argv[0]
    else:
        argv = hall_command() + ["serve", "--port", str(port)]
    proc = servers.start("hall", argv, env)
    servers.wait_ready("hall", proc, port, "/api/v1/halls")
    return proc


HISTORY_PER_DAY = 500


def load_history(url: str, days: int) -> int:
    """Insert `days` past service days of finished tickets (500 a day) straight into the
    database, as a hall that has been running for a while has; returns the row count."""
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from hall.models import Hall, Queue, Ticket

    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        hall = conn.execute(sa.select(Hall.id, Hall.timezone).where(Hall.code == HALL)).one()
        queues = conn.execute(
            sa.select(Queue.id, Queue.prefix).where(Queue.hall_id == hall.id).order_by(Queue.id)
        ).all()
        today = datetime.now(ZoneInfo(hall.timezone)).date()
        total = 0
        for back in range(1, days + 1):
            day = today - timedelta(days=back)
            noon = datetime(day.year, day.month, day.day, 2, tzinfo=UTC)
            rows = []
            for i in range(HISTORY_PER_DAY):
                queue = queues[i % len(queues)]
                at = noon + timedelta(seconds=50 * i)
                rows.append(
                    {
                        "token": secrets.token_urlsafe(12),
                        "hall_id": hall.id,
                        "queue_id": queue.id,
                        "issue_queue_id": queue.id,
                        "service_day": day,
                        "number": i // len(queues) + 1,
                        "label": f"{queue.prefix}{i // len(queues) + 1:03d}",
                        "priority": False,
                        "status": "finished",
                        "sort_at": at,
                        "issued_at": at,
                        "called_at": at + timedelta(minutes=10),
                        "finished_at": at + timedelta(minutes=15),
                        "call_count": 1,
                        "returned": False,
                    }
                )
            conn.execute(sa.insert(Ticket), rows)
            total += len(rows)
    engine.dispose()
    return total


# ---------------------------------------------------------------- checks


@dataclass
class Checks:
    issued: int = 0
    duplicate_numbers: int = 0
    duplicate_ids: int = 0
    calls: int = 0
    called_twice: int = 0
    wrong_answer: int = 0
    db_duplicate_numbers: int | None = None
    db_called_twice: int | None = None
    db_two_active_at_window: int | None = None
    http_errors: Counter = field(default_factory=Counter)

    @property
    def violations(self) -> int:
        db = [self.db_duplicate_numbers, self.db_called_twice, self.db_two_active_at_window]
        return (
            self.duplicate_numbers
            + self.duplicate_ids
            + self.called_twice
            + self.wrong_answer
            + sum(v or 0 for v in db)
        )


def check_answers(checks: Checks, tickets: list[dict], calls: list[tuple[int, dict]]) -> None:
    checks.issued = len(tickets)
    numbers = Counter((t["service_day"], t["number"]) for t in tickets)
    checks.duplicate_numbers = sum(n - 1 for n in numbers.values() if n > 1)
    ids = Counter(t["id"] for t in tickets)
    checks.duplicate_ids = sum(n - 1 for n in ids.values() if n > 1)
    checks.calls = len(calls)
    called = Counter(t["id"] for _, t in calls)
    checks.called_twice = sum(n - 1 for n in called.values() if n > 1)
    checks.wrong_answer = sum(
        1 for window, t in calls if t["window"] != window or t["status"] != "called"
    )


def check_database(checks: Checks, url: str) -> None:
    """Count violations in the rows themselves (independent of what the API answered)."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        checks.db_duplicate_numbers = conn.exec_driver_sql(
            "SELECT coalesce(sum(n - 1), 0) FROM (SELECT count(*) AS n FROM tickets "
            "GROUP BY hall_id, service_day, label HAVING count(*) > 1) AS d"
        ).scalar_one()
        checks.db_called_twice = conn.exec_driver_sql(
            "SELECT count(*) FROM (SELECT ticket_id FROM ticket_events WHERE action = 'called' "
            "GROUP BY ticket_id HAVING count(*) > 1) AS d"
        ).scalar_one()
        checks.db_two_active_at_window = conn.exec_driver_sql(
            "SELECT count(*) FROM (SELECT window_id FROM tickets WHERE status IN "
            "('called', 'serving') GROUP BY window_id HAVING count(*) > 1) AS d"
        ).scalar_one()
    engine.dispose()


# ---------------------------------------------------------------- report


def _load() -> str:
    try:
        return " ".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "unknown"


def _ratio(a: float, b: float) -> str:
    return f"{a / b:.2f}" if b else "–"


def _cpu_ms(run: Run, per: int) -> tuple[float | None, float | None]:
    """Server (and database) CPU milliseconds per request."""
    requests = run.ok * per
    if run.cpu is None or not requests:
        return None, None
    db = run.db_cpu * 1000 / requests if run.db_cpu is not None else None
    return run.cpu * 1000 / requests, db


def _cpu_row(label: str, hall: Run, bare: Run, per: int) -> str:
    h, db = _cpu_ms(hall, per)
    b, _ = _cpu_ms(bare, per)
    if h is None or b is None:
        return f"| server CPU per request, {label} (ms) | not measured | | | – | |"
    total = h + (db or 0.0)
    shown = f"{h:.2f} + {db:.2f} db" if db is not None else f"{h:.2f}"
    return (
        f"| server CPU per request, {label} (ms) | {shown} | {b:.2f} | {_ratio(total, b)} | – | |"
    )


def report(args, dialect, results, checks: Checks) -> str:
    bare1, hall1 = results["bare1"], results["hall1"]
    bare8, hall8 = results["bare8"], results["hall8"]
    calls, bare_calls = results["calls"], results["bare_calls"]
    lines = [
        f"## hall bench: issue and call — {dialect}",
        "",
        f"{args.seconds:g} s per run · {os.cpu_count()} CPUs · load average {_load()}"
        f" · Python {platform.python_version()}"
        + (
            f" · hall served by `{args.serve_command}`, the baseline by hall.cli._serve"
            if args.serve_command
            else " · servers: `hall serve` and bench/bare_app.py, both through hall.cli._serve"
        )
        + (
            " · the hall's rate limits on (counted at every issue, set too high to refuse)"
            if args.rate_limits
            else " · the hall's rate limits off"
        )
        + " · clients: http.client threads on 127.0.0.1, one connection each, kept alive"
        " when the server allows",
        "",
        "| measure | hall | bare | hall/bare | target | met |",
        "|---|---:|---:|---:|---|---|",
    ]
    for label, h, b in (("issue, 1 client", hall1, bare1), ("issue, 8 clients", hall8, bare8)):
        ratio = h.rate / b.rate if b.rate else 0.0
        met = "yes" if ratio >= ISSUE_TARGET_RATIO else "**no**"
        lines.append(
            f"| {label} (req/s) | {h.rate:.0f} | {b.rate:.0f} | {_ratio(h.rate, b.rate)} "
            f"| hall/bare ≥ {ISSUE_TARGET_RATIO} | {met} |"
        )
    for label, h, b in (("issue, 1 client", hall1, bare1), ("issue, 8 clients", hall8, bare8)):
        hp, bp = percentile(h.latencies, 50), percentile(b.latencies, 50)
        h99, b99 = percentile(h.latencies, 99), percentile(b.latencies, 99)
        lines.append(
            f"| {label} p50 / p99 (ms) | {hp:.1f} / {h99:.1f} | {bp:.1f} / {b99:.1f} "
            f"| {_ratio(hp, bp)} / {_ratio(h99, b99)} | – | |"
        )
    for p in (50, 90, 99, 100):
        name = "max" if p == 100 else f"p{p}"
        h, b = percentile(calls.latencies, p), percentile(bare_calls.latencies, p)
        target, met = "–", ""
        if p == 99:
            target = f"< {CALL_P99_TARGET_MS:g} ms"
            met = "yes" if h < CALL_P99_TARGET_MS else "**no**"
        lines.append(
            f"| call-next, 6 windows, {name} (ms) | {h:.1f} | {b:.1f} | {_ratio(h, b)} "
            f"| {target} | {met} |"
        )
    paced, bare_paced = results.get("paced"), results.get("bare_paced")
    if paced is not None and bare_paced is not None:
        label = f"call-next, 6 windows at {args.paced_calls:g} calls/s each, p50 / p99 (ms)"
        h50, h99 = percentile(paced.latencies, 50), percentile(paced.latencies, 99)
        b50, b99 = percentile(bare_paced.latencies, 50), percentile(bare_paced.latencies, 99)
        lines.append(
            f"| {label} | {h50:.1f} / {h99:.1f} | {b50:.1f} / {b99:.1f} "
            f"| {_ratio(h50, b50)} / {_ratio(h99, b99)} | – | |"
        )
    f50, f99 = percentile(calls.extra_latencies, 50), percentile(calls.extra_latencies, 99)
    b50 = percentile(bare_calls.extra_latencies, 50)
    b99 = percentile(bare_calls.extra_latencies, 99)
    lines.append(
        f"| finish, 6 windows, p50 / p99 (ms) | {f50:.1f} / {f99:.1f} | {b50:.1f} / {b99:.1f} "
        f"| {_ratio(f50, b50)} / {_ratio(f99, b99)} | – | |"
    )
    hall_loops, bare_loops = calls.ok / calls.wall, bare_calls.ok / bare_calls.wall
    lines.append(
        f"| call-next + finish loops/s (all windows) | {hall_loops:.0f} | {bare_loops:.0f} "
        f"| {_ratio(hall_loops, bare_loops)} | – | |"
    )
    for label, h, b, per in (
        ("issue, 1 client", hall1, bare1, 1),
        ("issue, 8 clients", hall8, bare8, 1),
        ("call-next + finish loop", calls, bare_calls, 2),
    ):
        lines.append(_cpu_row(label, h, b, per))
    per_window = " ".join(f"{n}:{calls.per_worker.get(n, 0)}" for n in WINDOWS)
    lines.append(f"| calls per window (cap {calls.cap}) | {per_window} | | | – | |")
    lines += [
        "",
        "| correctness check | count | ok |",
        "|---|---:|---|",
    ]

    def row(label, value, good=lambda v: v == 0):
        if value is None:
            lines.append(f"| {label} | not checked | |")
        else:
            lines.append(f"| {label} | {value} | {'yes' if good(value) else '**NO**'} |")

    row("tickets issued (answers)", checks.issued, lambda v: v > 0)
    row("duplicate ticket numbers in answers", checks.duplicate_numbers)
    row("duplicate ticket ids in answers", checks.duplicate_ids)
    row("tickets called (answers)", checks.calls, lambda v: v > 0)
    row("ticket ids called twice in answers", checks.called_twice)
    row("call answers with another window or status", checks.wrong_answer)
    row("duplicate numbers in the tickets table", checks.db_duplicate_numbers)
    row("tickets with two 'called' events", checks.db_called_twice)
    row("windows holding two active tickets", checks.db_two_active_at_window)
    row("call-next answered null (queues ran dry)", calls.empty + (paced.empty if paced else 0))
    errors = sum(checks.http_errors.values())
    row("HTTP errors", errors)
    for what, n in sorted(checks.http_errors.items()):
        lines.append(f"| &nbsp;&nbsp;{what} | {n} | |")
    conns = {k: r.connections for k, r in results.items()}
    lines += ["", f"Connections opened per run (keep-alive check): {conns}"]
    return "\n".join(lines)


# ---------------------------------------------------------------- main


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Ticket issue throughput and call-next latency of `hall serve`, "
        "against a bare Flask app served the same way."
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=8.0,
        help="duration of each measured run (8 runs, 6 with --paced-calls 0; default 8)",
    )
    parser.add_argument(
        "--database-url",
        help="a postgresql+psycopg:// URL of a server: the benchmark creates a "
        "fresh database hall_bench_<random> there and drops it at the end "
        "(default: the embedded SQLite file in a temporary HALL_DATA_DIR)",
    )
    parser.add_argument(
        "--max-requests",
        type=int,
        default=50_000,
        help="upper bound of requests per issue run (default 50000)",
    )
    parser.add_argument(
        "--max-calls",
        type=int,
        default=5_000,
        help="upper bound of calls per window (default: from the measured "
        "issue rate, at most 5000)",
    )
    parser.add_argument(
        "--paced-calls",
        type=float,
        default=5.0,
        help="also measure call-next with each window calling this many times a second "
        "instead of back to back (latency without the queue the benchmark's own loop "
        "makes; 0: skip; default 5)",
    )
    parser.add_argument(
        "--history-days",
        type=int,
        default=0,
        help=f"first load this many past days of finished tickets "
        f"({HISTORY_PER_DAY} a day), to see how the hall ages (default 0)",
    )
    parser.add_argument(
        "--serve-command",
        help="serve the hall with this command instead of `hall serve --port "
        "{port}`, to compare variants ({port} and {python} are filled in; the "
        "bare baseline is still served by hall.cli._serve)",
    )
    parser.add_argument(
        "--rate-limits",
        action="store_true",
        help="serve the hall with its rate limits on, as in production: every issue is "
        "counted per token and per queue, with limits too high to refuse one (default: off)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary folder (server logs, SQLite file)"
    )
    return parser.parse_args(argv)


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main(argv=None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, _terminate)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # also when started in background
    folder = Path(tempfile.mkdtemp(prefix="hall-bench-"))
    servers = Servers(folder)
    pg = Postgres(args.database_url) if args.database_url else None
    stop = threading.Event()
    env = {k: v for k, v in os.environ.items() if not k.startswith("HALL_")}
    env.update(
        HALL_DATA_DIR=str(folder), HALL_SECRET_KEY=secrets.token_hex(32), PYTHONUNBUFFERED="1"
    )
    if args.rate_limits:  # counted as in production, never refused: one token issues them all
        env.update(
            HALL_RATE_LIMITS="1",
            HALL_LIMIT_ISSUE=UNREACHED_LIMIT,
            HALL_LIMIT_ISSUE_QUEUE=UNREACHED_LIMIT,
        )
    else:
        env["HALL_RATE_LIMITS"] = "0"  # one token issues thousands of tickets: no flood guard
    try:
        if pg:
            env["HALL_DATABASE_URL"] = pg.create()
            dialect = f"PostgreSQL (fresh database {pg.name})"
        else:
            dialect = "SQLite (embedded, WAL)"
        db_url = env.get("HALL_DATABASE_URL") or f"sqlite:///{folder / 'hall.sqlite3'}"
        log(f"data in {folder}; {dialect}")
        if pg:  # (`hall demo` upgrades the SQLite file itself)
            run_hall(["db", "upgrade"], env)
        run_hall(["demo", "--no-serve"], env)
        token = run_hall(["token", "create", "staff1", "--name", "bench"], env).strip()
        if args.history_days:
            log(f"loading {args.history_days} past days of finished tickets")
            rows = load_history(db_url, args.history_days)
            dialect += f", with {rows} past tickets ({args.history_days} days)"

        hall_port, bare_port = free_port(), free_port()
        bare = servers.start(
            "bare", [sys.executable, str(HERE / "bare_app.py"), "--port", str(bare_port)], env
        )
        hall = start_hall(servers, hall_port, env, args.serve_command)
        servers.wait_ready("bare", bare, bare_port, "/ping")
        meters = {bare_port: CpuMeter(bare.pid), hall_port: CpuMeter(hall.pid, pg and pg.name)}
        log(f"hall on :{hall_port}, bare on :{bare_port}; warming up")
        warm = min(1.0, args.seconds)
        tickets: list[dict] = []
        checks = Checks()
        for port, tok in ((bare_port, None), (hall_port, token)):
            run = measure_issue(port, tok, 8, warm, args.max_requests, stop, tok is not None)
            tickets += run.bodies
            checks.http_errors.update(run.errors)

        results: dict[str, Run] = {}
        for name, port, tok, clients in (
            ("bare1", bare_port, None, 1),
            ("hall1", hall_port, token, 1),
            ("bare8", bare_port, None, 8),
            ("hall8", hall_port, token, 8),
        ):
            log(f"issue: {name} for {args.seconds:g} s")
            run = measure_issue(
                port,
                tok,
                clients,
                args.seconds,
                args.max_requests,
                stop,
                tok is not None,
                meters[port],
            )
            results[name] = run
            tickets += run.bodies
            checks.http_errors.update(run.errors)

        # A cap of calls per window, from the measured rate: a window doing 3× its fair share
        # of loops (2 requests each, 6 windows) still stays under it. Then enough waiting
        # tickets that no window runs dry within the cap: windows 1–2 take A first (2 × cap),
        # windows 3, 4, 5, 6 take B, C, D, E first (cap each).
        rate = max(results["hall1"].rate, results["hall8"].rate)
        max_calls = min(args.max_calls, max(20, int(rate * args.seconds / 4) + 1))
        have = Counter(t["queue"] for t in tickets)
        # per window, in the paced run (none when it is skipped)
        paced_calls = int(args.paced_calls * args.seconds) + 2 if args.paced_calls > 0 else 0
        per = max_calls + paced_calls
        need = {"A": 2 * per, "B": per, "C": per, "D": per, "E": per}
        short = {q: max(0, n - have[q]) for q, n in need.items()}
        extra = [q for i in range(max(short.values())) for q in short if i < short[q]]
        log(f"pre-issuing {len(extra)} tickets so that windows always find one")
        run = issue_many(hall_port, token, extra, max(5.0, args.seconds), stop)
        tickets += run.bodies
        checks.http_errors.update(run.errors)
        have = Counter(t["queue"] for t in tickets)  # a slow hall may not have made them all
        left = {q: have[q] - paced_calls * (1 + (q == "A")) for q in "ABCDE"}
        max_calls = max(1, min(max_calls, left["A"] // 2, *(left[q] for q in "BCDE")))

        opener = Client(hall_port, token)
        for number in WINDOWS:
            status, raw, _ = opener.post(
                f"/api/v1/halls/{HALL}/windows/{number}/status", {"status": "open"}
            )
            if status != 200:
                raise RuntimeError(f"could not open window {number}: {status} {raw[:200]!r}")
        opener.close()

        log(f"call-next: hall, 6 windows for {args.seconds:g} s (≤ {max_calls} calls each)")
        results["calls"] = measure_calls(
            hall_port, token, args.seconds, max_calls, stop, False, meters[hall_port]
        )
        log(f"call-next: bare, 6 windows for {args.seconds:g} s")
        results["bare_calls"] = measure_calls(
            bare_port, None, args.seconds, args.max_calls, stop, True, meters[bare_port]
        )
        if args.paced_calls > 0:
            log(f"call-next: hall and bare, 6 windows at {args.paced_calls:g} calls/s each")
            for key, port, tok, bare in (
                ("paced", hall_port, token, False),
                ("bare_paced", bare_port, None, True),
            ):
                results[key] = measure_calls(
                    port,
                    tok,
                    args.seconds,
                    paced_calls,
                    stop,
                    bare,
                    meters[port],
                    pace=args.paced_calls,
                )
        for key in ("calls", "bare_calls", "paced", "bare_paced"):
            if key in results:
                checks.http_errors.update(results[key].errors)

        called = results["calls"].calls + (results["paced"].calls if "paced" in results else [])
        check_answers(checks, tickets, called)
        check_database(checks, db_url)
        for name, proc in servers.procs:
            if proc.poll() is not None:
                checks.http_errors[f"{name} server exited ({proc.returncode})"] += 1
        print(report(args, dialect, results, checks), flush=True)
        if checks.violations or sum(checks.http_errors.values()):
            what = "correctness check FAILED" if checks.violations else "HTTP errors"
            log(f"{what} (see the table); server logs kept in {folder}")
            args.keep = True
            return 1 if checks.violations else 2
        return 0
    except KeyboardInterrupt:
        stop.set()
        log("interrupted")
        return 130
    finally:
        stop.set()
        servers.stop()
        if pg:
            try:
                pg.drop()
            except Exception as err:  # noqa: BLE001 - report, keep cleaning up
                log(f"could not drop database {pg.name}: {err}")
        if args.keep:
            log(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
