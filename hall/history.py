"""A realistic past for a hall (历史数据生成): tickets and cases over many service days, so that
the reports can be tried and measured at scale (`hall demo --history DAYS`, bench/reports.py).

`generate(session, hall, days=…)` fills the `days` calendar days that end on `end` (inclusive;
default yesterday in the hall's time zone). What a day looks like:

* **Open days only.** A day gets tickets when `Calendar.is_working_day` says the hall works:
  weekends and statutory holidays are closed, make-up working days (调休上班) are open, and the
  admin's entries (local closures…) count.
* **Volume.** About 150 tickets per window and day on average (40 windows ≈ 6,000 a day ≈
  1.5 million a year), more on Mondays (×1.22) and on the first day after a holiday (×1.15),
  fewer on Fridays (×0.84), ±8 % noise.
* **Busy hours.** Tickets are taken from 8:40 to 16:45, with a morning peak (9:00–11:00,
  about 60 % of the day before noon) and a smaller one from 14:00 to 15:00.
* **The counter.** The windows call from 9:00, each serving its queues in its own priority
  order (priority tickets 绿色通道 first within a queue), with a 45-minute lunch break taken
  in two shifts so that the hall never closes at noon; a simulation of the day gives every
  ticket its window, staff member, call, start and finish. Waits run from a few minutes to
  over an hour at the Monday morning peak; service minutes depend on the matter's kind (即办
  件 shortest) and the outcome (咨询 shortest). About 5 % of the called tickets are no-shows
  (more after a long wait): called twice, never started. Windows serve everyone who took a
  number, past closing time if need be (延时服务).
* **Cases.** Every finished ticket records one case per matter handled (12 % two matters),
  with the outcome mix of a real hall: about 60 % 当场办结, 25 % 受理 (due date from the
  Calendar and the matter's promised limit), 7 % 补正 (the missing materials listed), 3 %
  不予受理 (with a reason), 5 % 咨询 (no case number). Accepted cases are completed on a
  working day: about half early, a third on the due date, one in ten late, and among those
  accepted in the last STRAGGLER_DAYS days before today 0.5 % not yet — open and, once their
  due date has passed, overdue (逾期); older ones of those were completed late in the end, as
  a hall chases its overdue cases. A case due after today is still open when its planned
  completion day has not come yet.
* **Numbers.** Tickets are numbered per queue and day (A001…) in the order they were taken,
  cases per hall and day (DEMO-20260105-0001…) in the order they were recorded, and the
  counters (`number_counters`, `case_counters`) of those days are set to the last number
  handed out, so that nothing generated can clash with live numbering.

Not generated: **ticket events** (`ticket_events`, the audit trail of each action) — they
would multiply the volume by four and neither the rates nor the reports read them — nor
case pauses (补正 after acceptance, special procedures), nor audit events.

Windows and staff: `windows=N` uses the hall's first N windows and, when the hall has fewer,
creates the missing ones (numbers after the last, 综合受理, serving one queue first and then
every other queue); every window used gets a staff member of its own — the hall's staff
accounts in job-number order, then new accounts without a password (they cannot sign in).

Deterministic for a seed: a day's tickets and cases depend only on the seed, the day, the
hall's windows, queues, matters and calendar — except the unguessable tokens (ticket tracking
tokens, case verification tokens), which are always random.

Fast: rows are written with Core `insert()` executemany in chunks (10,000 rows), with the
ticket ids reserved up front (the sequence on PostgreSQL; the table's maximum inside the
write transaction on SQLite), one transaction per day. It refuses (Conflict) to write over
days that already have tickets or counters in the hall: generate into an empty range.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import json
import random
import secrets
import time
from collections import deque
from collections.abc import Callable
from datetime import date, datetime, timedelta
from datetime import time as clock
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hall.domain.cases import OUTCOME_STATUS, case_number
from hall.domain.cases import timing as case_timing
from hall.domain.errors import Conflict, Invalid
from hall.domain.tickets import TOKEN_BYTES
from hall.domain.workdays import Calendar
from hall.models import (
    Case,
    CaseCounter,
    Hall,
    Material,
    Matter,
    NumberCounter,
    Queue,
    Ticket,
    User,
    UTCDateTime,
    Window,
    WindowQueue,
    utcnow,
)

TICKETS_PER_WINDOW = 150  # a day's average
MAX_DAYS = 3660
MAX_WINDOWS = 200
CHUNK = 10_000  # rows per executemany
SQLITE_CACHE_KB = 262_144  # SQLite page cache while generating (the default is 2 MB)
# Monday … Sunday (a Saturday or Sunday is open only as a make-up working day)
WEEKDAY_FACTOR = (1.22, 1.03, 0.98, 0.93, 0.84, 0.9, 0.9)
AFTER_HOLIDAY = 1.15
NOISE = 0.08
# when tickets are taken: (from minute, to minute of the local day, weight)
ARRIVALS = (
    (520, 540, 5.0),  # 8:40 – 9:00, people wait for the doors
    (540, 570, 11.0),
    (570, 600, 13.0),
    (600, 630, 13.0),
    (630, 660, 11.0),
    (660, 690, 7.0),
    (690, 720, 4.0),
    (720, 780, 2.5),  # noon
    (780, 810, 3.0),
    (810, 840, 6.0),
    (840, 870, 8.0),
    (870, 900, 8.0),
    (900, 930, 6.0),
    (930, 960, 4.0),
    (960, 990, 2.5),
    (990, 1005, 1.0),  # tickets until 16:45
)
OPEN_AT = 540  # 9:00: the first call
AGING_MINUTES = 45  # a window takes the longest-waiting ticket of its queues past this wait
LUNCH = ((720, 765), (765, 810))  # two shifts, 45 minutes each
# mean service minutes by matter kind, and a factor by outcome
SERVICE_MINUTES = {"immediate": 1.3, "promised": 2.1, "joint": 2.8, "referred": 2.4}
OUTCOME_MINUTES = {
    "on_the_spot": 1.0,
    "accepted": 1.0,
    "correction": 0.9,
    "rejected": 0.8,
    "consultation": 0.5,
}
CONSULTATION_MINUTES = 1.0  # a ticket without any matter of its queue
MATTER_WEIGHT = {"immediate": 2.0, "promised": 1.0, "joint": 0.6, "referred": 0.6}
OUTCOME_MIX = {
    "immediate": (
        ("on_the_spot", 0.87),
        ("accepted", 0.02),
        ("correction", 0.04),
        ("rejected", 0.02),
        ("consultation", 0.05),
    ),
    "other": (
        ("on_the_spot", 0.22),
        ("accepted", 0.56),
        ("correction", 0.12),
        ("rejected", 0.05),
        ("consultation", 0.05),
    ),
}
TWO_MATTERS = 0.12
PRIORITY = 0.03  # 绿色通道
TICKET_MATTER = 0.7  # tickets taken for a matter (the rest for a queue)
# an accepted case's completion: (share, plan)
COMPLETION = (("early", 0.52), ("on_time", 0.36), ("late", 0.115), ("never", 0.005))
STRAGGLER_DAYS = 30  # an accepted case left open ("never") is at most this old; older: late
REJECT_REASONS = (
    "申请事项不属于本部门职权范围，请向有关行政机关申请",
    "申请人不符合受理条件",
    "申请事项依法不需要取得行政许可",
    "同一事项已在办理中，不予重复受理",
)
SURNAMES = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
)
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉萍红娥玲建国志"
PHONE_PREFIXES = ("138", "139", "137", "136", "135", "150", "151", "158", "186", "187", "189")

Progress = Callable[[int, int, date], None]


# ---------------------------------------------------------------- bulk writes

TICKET_COLUMNS = (
    "id",
    "token",
    "hall_id",
    "queue_id",
    "issue_queue_id",
    "service_day",
    "number",
    "label",
    "matter_id",
    "priority",
    "status",
    "sort_at",
    "window_id",
    "target_window_id",
    "staff_id",
    "issued_at",
    "called_at",
    "last_called_at",
    "started_at",
    "finished_at",
    "call_count",
    "returned",
)
CASE_COLUMNS = (
    "number",
    "verify_token",
    "hall_id",
    "ticket_id",
    "matter_id",
    "window_id",
    "staff_id",
    "outcome",
    "status",
    "kind",
    "limit_days",
    "limit_unit",
    "applicant_name",
    "applicant_phone",
    "materials_received",
    "missing_materials",
    "reason",
    "result",
    "accepted_at",
    "accepted_on",
    "due_date",
    "completed_at",
    "completed_on",
    "completed_by_id",
    "timing",
)
# every column is written (the ORM defaults do not apply to these inserts)
assert set(TICKET_COLUMNS) == set(Ticket.__table__.columns.keys())
assert set(CASE_COLUMNS) == set(Case.__table__.columns.keys()) - {"id"}
_JSON_COLUMNS = ("materials_received", "missing_materials")


def _identity(value):
    return value


def _sqlite_instant(value: datetime | None) -> str | None:
    """An instant as SQLAlchemy's SQLite DATETIME stores it (naive UTC, microseconds)."""
    return None if value is None else value.isoformat(" ", "microseconds")


def _sqlite_day(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


class _Writer:
    """Bulk inserts of tickets and cases as rows of values in TICKET_COLUMNS / CASE_COLUMNS
    order, instants as naive UTC: the driver's executemany in chunks of CHUNK rows, the
    values converted as SQLAlchemy would store them (SQLite: ISO text, 0/1, JSON text;
    PostgreSQL: the driver adapts them). Another dialect goes through Core `insert()`."""

    def __init__(self, session: Session):
        self.session = session
        self.dialect = session.get_bind().dialect.name
        if self.dialect == "sqlite":
            self.instant, self.day = _sqlite_instant, _sqlite_day
            self.flag = int
            self.json = functools.partial(json.dumps, ensure_ascii=False)
            mark, json_mark = "?", "?"
        elif self.dialect == "postgresql":
            self.instant = self.day = self.flag = _identity
            self.json = functools.partial(json.dumps, ensure_ascii=False)
            mark, json_mark = "%s", "CAST(%s AS json)"
        else:
            self.instant = self.day = self.flag = self.json = _identity
            mark = json_mark = None
        self.sql = {}
        for table, columns in (("tickets", TICKET_COLUMNS), ("cases", CASE_COLUMNS)):
            if mark is None:
                self.sql[table] = None
                continue
            marks = ", ".join(json_mark if c in _JSON_COLUMNS else mark for c in columns)
            self.sql[table] = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})"

    def insert(self, table: str, columns: tuple[str, ...], rows: list[tuple]) -> None:
        connection = self.session.connection()
        sql = self.sql[table]
        for at in range(0, len(rows), CHUNK):
            chunk = rows[at : at + CHUNK]
            if sql is not None:
                connection.exec_driver_sql(sql, chunk)
            else:
                plain = _TICKETS if table == "tickets" else _CASES
                connection.execute(
                    sa.insert(plain), [dict(zip(columns, r, strict=True)) for r in chunk]
                )

    def reserve_ticket_ids(self, count: int) -> list[int]:
        """`count` unused ticket ids, in ascending order. On PostgreSQL from the table's
        sequence (safe beside live traffic); elsewhere above the current maximum, which is
        safe because the caller already holds the write lock (it wrote the day's counters)."""
        if count == 0:
            return []
        session = self.session
        if self.dialect == "postgresql":
            ids = session.scalars(
                sa.text(
                    "SELECT nextval(pg_get_serial_sequence('tickets', 'id')) "
                    "FROM generate_series(1, :n)"
                ),
                {"n": count},
            ).all()
            return sorted(ids)
        first = session.scalar(sa.select(sa.func.coalesce(sa.func.max(Ticket.id), 0))) + 1
        return list(range(first, first + count))


def _plain(table: sa.Table) -> sa.Table:
    """A Core copy of a table whose instants take naive UTC values (no UTCDateTime check)."""
    columns = [
        sa.Column(
            column.name,
            column.type.impl if isinstance(column.type, UTCDateTime) else column.type,
            primary_key=column.primary_key,
        )
        for column in table.columns
    ]
    return sa.Table(table.name, sa.MetaData(), *columns)


_TICKETS = _plain(Ticket.__table__)
_CASES = _plain(Case.__table__)


# ---------------------------------------------------------------- the hall's set-up


class _Setup:
    """What the simulation needs of the hall: windows with their queues and staff, matters
    by queue (with weights, kinds, limits, materials)."""

    def __init__(self, session: Session, hall: Hall, windows: int | None):
        self.windows_created = 0
        self.staff_created = 0
        queues = list(
            session.scalars(sa.select(Queue).where(Queue.hall_id == hall.id).order_by(Queue.prefix))
        )
        if not queues:
            raise Invalid("no_queues", "该大厅没有业务队列", "The hall has no queues")
        self.queue_ids = [q.id for q in queues]
        self.prefixes = [q.prefix for q in queues]
        index = {q.id: n for n, q in enumerate(queues)}
        rows = session.execute(
            sa.select(Window.id, Window.number)
            .where(Window.hall_id == hall.id)
            .order_by(Window.number)
        ).all()
        if windows is not None:
            if windows < 1 or windows > MAX_WINDOWS:
                raise Invalid(
                    "bad_windows",
                    f"窗口数须在 1 到 {MAX_WINDOWS} 之间",
                    f"The number of windows must be 1 to {MAX_WINDOWS}",
                )
            if len(rows) < windows:
                self._add_windows(session, hall, rows, windows - len(rows), queues)
                rows = session.execute(
                    sa.select(Window.id, Window.number)
                    .where(Window.hall_id == hall.id)
                    .order_by(Window.number)
                ).all()
            rows = rows[:windows]
        links: dict[int, list[int]] = {}
        for window_id, queue_id in session.execute(
            sa.select(WindowQueue.window_id, WindowQueue.queue_id)
            .where(WindowQueue.window_id.in_([r.id for r in rows]))
            .order_by(WindowQueue.window_id, WindowQueue.position)
        ):
            if queue_id in index:
                links.setdefault(window_id, []).append(index[queue_id])
        rows = [r for r in rows if links.get(r.id)]
        if not rows:
            raise Invalid(
                "no_windows", "该大厅没有服务队列的窗口", "The hall has no serving windows"
            )
        self.window_ids = [r.id for r in rows]
        self.window_numbers = [r.number for r in rows]
        self.window_queues = [links[r.id] for r in rows]
        self.staff_ids = self._staff(session, hall, len(rows))
        # tickets go to a queue in proportion to the windows that serve it first
        self.queue_weights = [0.0] * len(queues)
        for served in self.window_queues:
            self.queue_weights[served[0]] += 1.0
        for n, weight in enumerate(self.queue_weights):
            if weight == 0 and any(n in served for served in self.window_queues):
                self.queue_weights[n] = 0.25
        self._matters(session, queues, index)

    def _add_windows(self, session, hall, rows, count: int, queues: list[Queue]) -> None:
        last = max((r.number for r in rows), default=0)
        new = [last + 1 + n for n in range(count)]
        session.execute(
            sa.insert(Window),
            [
                {"hall_id": hall.id, "number": number, "name": "综合受理", "status": "closed"}
                for number in new
            ],
        )
        ids = dict(
            session.execute(
                sa.select(Window.number, Window.id).where(
                    Window.hall_id == hall.id, Window.number.in_(new)
                )
            ).all()
        )
        links = []
        for number in new:
            first = queues[(number - 1) % len(queues)]
            order = [first] + [q for q in queues if q.id != first.id]
            links += [
                {"window_id": ids[number], "queue_id": q.id, "position": position}
                for position, q in enumerate(order)
            ]
        session.execute(sa.insert(WindowQueue), links)
        self.windows_created = count

    def _staff(self, session: Session, hall: Hall, count: int) -> list[int]:
        staff = session.execute(
            sa.select(User.id, User.username)
            .where(User.hall_id == hall.id, User.role == "staff", User.active.is_(True))
            .order_by(User.job_number, User.username)
        ).all()
        ids = [row.id for row in staff[:count]]
        if len(ids) == count:
            return ids
        taken = set(session.scalars(sa.select(User.username)))
        rows = []
        n = len(staff)
        while len(ids) + len(rows) < count:
            n += 1
            username = f"staff{n}" if hall.code == "demo" else f"{hall.code}-staff{n}"
            while username in taken:
                username += "x"
            taken.add(username)
            name = SURNAMES[(n * 7) % len(SURNAMES)] + GIVEN[(n * 11) % len(GIVEN)]
            if n % 3:
                name += GIVEN[(n * 5 + 3) % len(GIVEN)]
            rows.append(
                {
                    "username": username,
                    "display_name": name,
                    "job_number": str(1000 + n),
                    "role": "staff",
                    "password_hash": "",
                    "hall_id": hall.id,
                    "active": True,
                    "created_at": utcnow(),
                }
            )
        session.execute(sa.insert(User), rows)
        by_name = dict(
            session.execute(
                sa.select(User.username, User.id).where(
                    User.username.in_([r["username"] for r in rows])
                )
            ).all()
        )
        self.staff_created = len(rows)
        return ids + [by_name[r["username"]] for r in rows]

    def _matters(self, session: Session, queues: list[Queue], index: dict[int, int]) -> None:
        matters = session.execute(
            sa.select(
                Matter.id,
                Matter.queue_id,
                Matter.kind,
                Matter.promised_days,
                Matter.promised_unit,
            )
            .where(Matter.queue_id.in_(self.queue_ids), Matter.active.is_(True))
            .order_by(Matter.sort_order, Matter.id)
        ).all()
        materials: dict[int, list[str]] = {}
        for matter_id, name in session.execute(
            sa.select(Material.matter_id, Material.name)
            .where(Material.matter_id.in_([m.id for m in matters]))
            .order_by(Material.matter_id, Material.position)
        ):
            materials.setdefault(matter_id, []).append(name)
        # per queue: the matters and their cumulative weights
        self.matters: list[list[tuple]] = [[] for _ in queues]
        self.matter_cum: list[list[float]] = [[] for _ in queues]
        for m in matters:
            q = index[m.queue_id]
            names = materials.get(m.id) or ["申请表"]
            info = (
                m.id,
                m.kind,
                m.promised_days,
                m.promised_unit,
                [{"name": name, "note": ""} for name in names],
            )
            self.matters[q].append(info)
            total = (self.matter_cum[q][-1] if self.matter_cum[q] else 0.0) + MATTER_WEIGHT.get(
                m.kind, 1.0
            )
            self.matter_cum[q].append(total)


# ---------------------------------------------------------------- one day


class _Day:
    """The simulation of one open day: tickets (minutes of the local day) and their cases."""

    def __init__(self, setup: _Setup, day: date, factor: float, rng: random.Random):
        self.setup = setup
        self.day = day
        self.rng = rng
        count = len(setup.window_ids) * TICKETS_PER_WINDOW * factor
        self.count = max(1, round(count * (1 + rng.uniform(-NOISE, NOISE))))

    def tickets(self) -> list[list]:
        """[issued minute, queue, priority, window, called, started, finished, no-show,
        matters [(matter info, outcome)]] for every ticket, in issue order."""
        rng, setup = self.rng, self.setup
        slots = rng.choices(
            ARRIVALS, cum_weights=_ARRIVAL_CUM, k=self.count
        )  # the half-hour of each ticket
        queues = rng.choices(range(len(setup.queue_ids)), weights=setup.queue_weights, k=self.count)
        tickets = [
            [lo + rng.random() * (hi - lo), q, rng.random() < PRIORITY, None, None, None, None]
            + [False, ()]
            for (lo, hi, _w), q in zip(slots, queues, strict=True)
        ]
        tickets.sort(key=lambda t: t[0])
        waiting = [(deque(), deque()) for _ in setup.queue_ids]  # (priority, normal)
        for ticket in tickets:
            waiting[ticket[1]][0 if ticket[2] else 1].append(ticket)
        heap = [(float(OPEN_AT), w) for w in range(len(setup.window_ids))]
        heapq.heapify(heap)
        served = setup.window_queues
        while heap:
            now, w = heapq.heappop(heap)
            lunch = LUNCH[w % len(LUNCH)]
            if lunch[0] <= now < lunch[1]:
                heapq.heappush(heap, (float(lunch[1]), w))
                continue
            preferred = oldest = soonest = None
            for q in served[w]:
                for line in waiting[q]:
                    if line:
                        head = line[0][0]
                        if head <= now:
                            if preferred is None:
                                preferred = line
                            if oldest is None or head < oldest[0][0]:
                                oldest = line
                        elif soonest is None or head < soonest:
                            soonest = head
            ticket = None
            if preferred is not None:
                # the window's own order, unless a ticket of another of its queues has
                # waited long (staff take the oldest then)
                late = now - oldest[0][0] > AGING_MINUTES
                ticket = (oldest if late else preferred).popleft()
            if ticket is None:
                if soonest is not None:  # the next ticket this window may take
                    heapq.heappush(heap, (soonest, w))
                continue
            heapq.heappush(heap, (self._serve(ticket, w, now), w))
        return tickets

    def _serve(self, ticket: list, window: int, now: float) -> float:
        """Call the ticket at `now`; returns when the window is free again."""
        rng = self.rng
        ticket[3] = window
        ticket[4] = now
        wait = now - ticket[0]
        if rng.random() < 0.03 + 0.04 * min(wait / 60.0, 1.5):
            ticket[7] = True  # called twice, never came
            return now + 1.0 + rng.random() * 1.0
        start = now + 0.1 + rng.random() * 0.5
        choices = self.setup.matters[ticket[1]]
        if not choices:
            ticket[8] = ()
            minutes = CONSULTATION_MINUTES
        else:
            cum = self.setup.matter_cum[ticket[1]]
            first = choices[bisect.bisect_right(cum, rng.random() * cum[-1])]
            picked = [first]
            if len(choices) > 1 and rng.random() < TWO_MATTERS:
                second = first
                while second is first:
                    second = rng.choice(choices)
                picked.append(second)
            matters = []
            minutes = 0.0
            for n, matter in enumerate(picked):
                mix = OUTCOME_MIX["immediate" if matter[1] == "immediate" else "other"]
                outcome = _pick(mix, rng.random())
                mean = SERVICE_MINUTES.get(matter[1], 2.0) * OUTCOME_MINUTES[outcome]
                minutes += mean * (1.0 if n == 0 else 0.6)
                matters.append((matter, outcome))
            ticket[8] = tuple(matters)
        minutes = max(0.3, minutes * rng.lognormvariate(-0.125, 0.5))
        ticket[5] = start
        ticket[6] = start + minutes
        return ticket[6] + 0.1


_ARRIVAL_CUM = []
for _lo, _hi, _weight in ARRIVALS:
    _ARRIVAL_CUM.append((_ARRIVAL_CUM[-1] if _ARRIVAL_CUM else 0.0) + _weight)


def _pick(mix: tuple, value: float) -> str:
    for name, share in mix:
        value -= share
        if value < 0:
            return name
    return mix[-1][0]


def _applicant(rng: random.Random) -> tuple[str, str]:
    name = rng.choice(SURNAMES) + rng.choice(GIVEN)
    if rng.random() < 0.7:
        name += rng.choice(GIVEN)
    return name, rng.choice(PHONE_PREFIXES) + f"{rng.randrange(100_000_000):08d}"


# ---------------------------------------------------------------- the generator


class _Generator:
    def __init__(self, session: Session, hall: Hall, setup: _Setup, first: date, last: date):
        self.session = session
        self.hall = hall
        self.setup = setup
        self.calendar = Calendar(session, hall.id)
        self.zone = ZoneInfo(hall.timezone)
        self.today = utcnow().astimezone(self.zone).date()
        horizon = last + timedelta(days=400)  # room for the longest limits and late cases
        self.workdays = [
            first + timedelta(days=n)
            for n in range((horizon - first).days + 1)
            if self.calendar.is_working_day(first + timedelta(days=n))
        ]
        self._due: dict[tuple, date] = {}
        self.writer = _Writer(session)
        self.number_prefix = case_number(hall, first, 0).rsplit("-", 2)[0]
        self.empty_json = self.writer.json([])
        self._json: dict[str, object] = {}
        self.stats = {
            "tickets": 0,
            "finished": 0,
            "no_show": 0,
            "cases": 0,
            "outcomes": {outcome: 0 for outcome in OUTCOME_STATUS},
            "timings": {"early": 0, "on_time": 0, "late": 0},
            "open": 0,
            "open_overdue": 0,
            "wait_minutes": 0.0,
            "max_wait_minutes": 0.0,
        }

    def json_of(self, items) -> object:
        """A list of {"name", "note"} as the writer stores JSON, cached by its names."""
        key = "\n".join(item["name"] + "\t" + item["note"] for item in items)
        if key not in self._json:
            self._json[key] = self.writer.json([dict(item) for item in items])
        return self._json[key]

    def due_date(self, day: date, days: int, unit: str) -> date:
        key = (day, days, unit)
        if key not in self._due:
            self._due[key] = self.calendar.due_date(day, days, unit)
        return self._due[key]

    def workday_after(self, day: date, offset: int) -> date:
        """The working day `offset` working days after `day` (0: the first working day on
        or after it)."""
        at = bisect.bisect_left(self.workdays, day)
        at = min(at + offset, len(self.workdays) - 1)
        return self.workdays[at]

    def workdays_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end`."""
        return bisect.bisect_right(self.workdays, end) - bisect.bisect_right(self.workdays, start)

    def run_day(self, day: date, factor: float, seed: int) -> None:
        """Simulate one open day and write its counters, tickets and cases (one commit)."""
        rng = random.Random(f"hall-history:{seed}:{day.isoformat()}")
        tickets = _Day(self.setup, day, factor, rng).tickets()
        offset = self.zone.utcoffset(datetime.combine(day, clock(12)))
        base = datetime.combine(day, clock()) - offset  # local midnight, naive UTC
        instant, flag = self.writer.instant, self.writer.flag

        def at(minute: float) -> datetime:
            return base + timedelta(microseconds=round(minute * 60_000) * 1000)

        setup, session, hall_id = self.setup, self.session, self.hall.id
        numbers = [0] * len(setup.queue_ids)
        for ticket in tickets:  # numbers per queue in issue order
            numbers[ticket[1]] += 1
            ticket.append(numbers[ticket[1]])  # [9]: number
        # the counters first: on SQLite they take the write lock the id reservation needs
        session.execute(
            sa.insert(NumberCounter),
            [
                {"queue_id": setup.queue_ids[q], "service_day": day, "last": last}
                for q, last in enumerate(numbers)
                if last
            ],
        )
        ids = self.writer.reserve_ticket_ids(len(tickets))
        service_day = self.writer.day(day)
        ticket_rows = []
        stats = self.stats
        no_shows = 0
        for ticket, ticket_id in zip(tickets, ids, strict=True):
            ticket.append(ticket_id)  # [10]: id
            window = ticket[3]
            issued = instant(at(ticket[0]))
            called = instant(at(ticket[4]))
            matters = ticket[8]
            matter_id = matters[0][0][0] if matters and rng.random() < TICKET_MATTER else None
            queue_id = setup.queue_ids[ticket[1]]
            if ticket[7]:
                no_shows += 1
                status, last_called, started, finished = (
                    "no_show",
                    instant(at(ticket[4] + 1.0)),
                    None,
                    None,
                )
            else:
                status, last_called = "finished", called
                started, finished = instant(at(ticket[5])), instant(at(ticket[6]))
            ticket_rows.append(
                (
                    ticket_id,
                    secrets.token_urlsafe(TOKEN_BYTES),
                    hall_id,
                    queue_id,
                    queue_id,
                    service_day,
                    ticket[9],
                    f"{setup.prefixes[ticket[1]]}{ticket[9]:03d}",
                    matter_id,
                    flag(ticket[2]),
                    status,
                    issued,
                    setup.window_ids[window],
                    None,
                    setup.staff_ids[window],
                    issued,
                    called,
                    last_called,
                    started,
                    finished,
                    2 if ticket[7] else 1,
                    flag(False),
                )
            )
            wait = ticket[4] - ticket[0]
            stats["wait_minutes"] += wait
            if wait > stats["max_wait_minutes"]:
                stats["max_wait_minutes"] = wait
        # cases in the order they were recorded (at the ticket's finish)
        finished_tickets = sorted((t for t in tickets if not t[7]), key=lambda t: t[6])
        serial = 0
        case_rows = []
        prefix = f"{self.number_prefix}-{day:%Y%m%d}-"
        for ticket in finished_tickets:
            for matter, outcome in ticket[8]:
                number = None
                if outcome != "consultation":
                    serial += 1
                    number = f"{prefix}{serial:04d}"
                case_rows.append(self._case(ticket, matter, outcome, number, at, day, rng))
        if serial:
            session.execute(
                sa.insert(CaseCounter), [{"hall_id": hall_id, "day": day, "last": serial}]
            )
        self.writer.insert("tickets", TICKET_COLUMNS, ticket_rows)
        self.writer.insert("cases", CASE_COLUMNS, case_rows)
        session.commit()
        stats["tickets"] += len(tickets)
        stats["no_show"] += no_shows
        stats["finished"] += len(finished_tickets)
        stats["cases"] += len(case_rows)

    def _case(self, ticket, matter, outcome, number, at, day, rng) -> tuple:
        """The values of one case (CASE_COLUMNS order)."""
        matter_id, kind, limit_days, limit_unit, materials = matter
        writer = self.writer
        window = ticket[3]
        staff_id = self.setup.staff_ids[window]
        recorded = at(ticket[6])
        stats = self.stats
        stats["outcomes"][outcome] += 1
        name = phone = ""
        if outcome != "consultation":
            name, phone = _applicant(rng)
        received = missing = self.empty_json
        reason = result = ""
        status = OUTCOME_STATUS[outcome]
        due = completed_at = completed_on = completed_by = timing = None
        if outcome == "on_the_spot":
            completed_at, completed_on, completed_by = recorded, day, staff_id
            result = "当场办结"
        elif outcome == "correction":
            count = min(len(materials), 1 + (rng.random() < 0.3))
            missing = self.json_of(
                tuple(
                    {"name": item["name"], "note": "未提供或不符合要求"}
                    for item in rng.sample(materials, count)
                )
            )
        elif outcome == "rejected":
            reason = rng.choice(REJECT_REASONS)
        elif outcome == "accepted":
            received = self.json_of(materials)
            due = self.due_date(day, limit_days, limit_unit)
            done = self._completion_day(day, due, rng)
            if done is None or done >= self.today:
                stats["open"] += 1
                if due < self.today:
                    stats["open_overdue"] += 1
            else:
                if done == day:  # later the same day
                    minute = ticket[6] + 20 + rng.random() * 120
                else:
                    minute = 570 + rng.random() * 420  # 9:30 – 16:30
                status = "completed"
                completed_at = at(minute) + timedelta(days=(done - day).days)
                completed_on, completed_by = done, staff_id
                timing = case_timing(done, due)
                result = "已办结，结果已送达申请人"
                stats["timings"][timing] += 1
        return (
            number,
            secrets.token_urlsafe(32),
            self.hall.id,
            ticket[10],
            matter_id,
            self.setup.window_ids[window],
            staff_id,
            outcome,
            status,
            kind,
            limit_days,
            limit_unit,
            name,
            phone,
            received,
            missing,
            reason,
            result,
            writer.instant(recorded),
            writer.day(day),
            writer.day(due),
            writer.instant(completed_at),
            writer.day(completed_on),
            completed_by,
            timing,
        )

    def _completion_day(self, day: date, due: date, rng: random.Random) -> date | None:
        plan = _pick(COMPLETION, rng.random())
        if plan == "never":
            if (self.today - day).days <= STRAGGLER_DAYS:
                return None
            plan = "late"
        span = self.workdays_between(day, due)  # working days from acceptance to the due date
        if plan == "early" and span >= 2:
            return self.workday_after(day, rng.randint(1, span - 1))
        if plan == "late":
            return self.workday_after(due, rng.randint(1, 8))
        return due if span >= 1 or due == day else self.workday_after(due, 0)


def _day_factor(day: date, calendar: Calendar) -> float:
    factor = WEEKDAY_FACTOR[day.weekday()]
    previous = day - timedelta(days=1)
    closed = 0
    while closed < 10 and not calendar.is_working_day(previous):
        closed += 1
        previous -= timedelta(days=1)
    if closed > 2:  # longer than a weekend: the day after a holiday
        factor *= AFTER_HOLIDAY
    return factor


def _check_free(session: Session, hall: Hall, first: date, last: date) -> None:
    """Refuse a range in which the hall already has tickets or counters."""
    queue_ids = sa.select(Queue.id).where(Queue.hall_id == hall.id).scalar_subquery()
    found = session.scalar(
        sa.select(sa.func.min(Ticket.service_day)).where(
            Ticket.hall_id == hall.id, Ticket.service_day.between(first, last)
        )
    )
    found = found or session.scalar(
        sa.select(sa.func.min(NumberCounter.service_day)).where(
            NumberCounter.queue_id.in_(queue_ids), NumberCounter.service_day.between(first, last)
        )
    )
    found = found or session.scalar(
        sa.select(sa.func.min(CaseCounter.day)).where(
            CaseCounter.hall_id == hall.id, CaseCounter.day.between(first, last)
        )
    )
    if found is not None:
        raise Conflict(
            "history_exists",
            f"{hall.name} 在 {found} 已有取号记录，不能在 {first} 至 {last} 生成历史数据",
            f"{hall.code} already has tickets on {found}; cannot generate a history over "
            f"{first} – {last} (use an empty range or a fresh database)",
        )


def generate(
    session: Session,
    hall: Hall,
    *,
    days: int,
    end: date | None = None,
    windows: int | None = None,
    seed: int = 0,
    progress: Progress | None = None,
) -> dict:
    """Fill the `days` calendar days ending on `end` (inclusive; default yesterday in the
    hall's time zone) with tickets and cases; see the module docstring. Commits once per day
    (and once for new windows and staff). `progress(done, total, day)` is called after each
    day. Returns what was generated: the range, days open, windows, tickets, finished,
    no-shows, cases by outcome and timing, open and open overdue cases, average and longest
    wait (minutes), seconds spent. Raises Invalid for a bad range or window count, Conflict
    when the range already has tickets."""
    started = time.perf_counter()
    zone = ZoneInfo(hall.timezone)
    today = utcnow().astimezone(zone).date()
    end = end or today - timedelta(days=1)
    if days < 1 or days > MAX_DAYS:
        raise Invalid(
            "bad_days",
            f"天数须在 1 到 {MAX_DAYS} 之间",
            f"The number of days must be 1 to {MAX_DAYS}",
        )
    if end >= today:
        raise Invalid(
            "history_not_past",
            f"历史数据须在今天（{today}）之前",
            f"A history must end before today ({today})",
        )
    first = end - timedelta(days=days - 1)
    _check_free(session, hall, first, end)
    setup = _Setup(session, hall, windows)
    session.commit()
    generator = _Generator(session, hall, setup, first, end)
    calendar = generator.calendar
    open_days = 0
    sqlite = generator.writer.dialect == "sqlite"
    cache = session.scalar(sa.text("PRAGMA cache_size")) if sqlite else None
    try:
        for n in range(days):
            day = first + timedelta(days=n)
            if calendar.is_working_day(day):
                if sqlite:  # room for the indexes' pages (the connection may change per day)
                    session.execute(sa.text(f"PRAGMA cache_size=-{SQLITE_CACHE_KB}"))
                generator.run_day(day, _day_factor(day, calendar), seed)
                open_days += 1
            if progress is not None:
                progress(n + 1, days, day)
    finally:
        if sqlite:
            session.rollback()
            session.execute(sa.text(f"PRAGMA cache_size={int(cache)}"))
            session.commit()
    stats = generator.stats
    wait = stats.pop("wait_minutes")
    return {
        "start": first,
        "end": end,
        "days": days,
        "open_days": open_days,
        "windows": len(setup.window_ids),
        "windows_created": setup.windows_created,
        "staff_created": setup.staff_created,
        **stats,
        "average_wait_minutes": round(wait / stats["tickets"], 1) if stats["tickets"] else 0.0,
        "max_wait_minutes": round(stats["max_wait_minutes"], 1),
        "seconds": round(time.perf_counter() - started, 1),
    }
