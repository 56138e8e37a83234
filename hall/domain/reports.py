"""Manager reports (issue 5): the tickets of a hall — issued, served, no-shows, waits and
service times, busy hours — beside the completion rates of hall.domain.rates, per window,
department, matter, staff member, day, week or month, with the open overdue cases.

``build`` gathers a Report; ``report_dict`` turns it into the one JSON-able dict that the
page, the API, the .xlsx and the PDF all show (the same numbers everywhere).

How a ticket is counted (the formulas are in FORMULAS and shown with every report):

* **Period.** A ticket counts on its service day (``service_day`` in [start, end]): its
  issue, its wait, its service and its no-show, even when served after midnight.
* **issued** 取号数: tickets issued; **served** 办结数: tickets finished; **no_shows** 过号数:
  tickets marked no-show (过号); **no_show_rate** 过号率 = no_shows ÷ (served + no_shows).
* **wait** 等候时间 = ``called_at − issued_at`` of every ticket called at least once (its
  first call), in whole seconds; **average wait** = the sum of the waits ÷ their number.
* **p90** 90% 分位等候时间: the smallest whole number of minutes N such that at least 90 % of
  the waits are N minutes or less — the 90th percentile (nearest rank) rounded up to the
  minute. It is computed from per-minute histograms (a wait of 4 min 10 s counts in minute
  5), so it is exact to the minute; waits over 240 minutes count as 241.
* **service time** 办理时间 = ``finished_at − coalesce(started_at, called_at)`` of finished
  tickets; **average service time** = their sum ÷ their number. Averages are in minutes.
* **Attribution.** A ticket counts for the window and staff member that called (served) it
  (``tickets.window_id``, ``staff_id``; a ticket never called: the row of key None, 「未记录
  窗口」/「未记录工作人员」) and for its matter and the matter's department (a ticket without
  a matter: 「未选事项」). The window/staff/matter/department filters select tickets the
  same way. The rates (hall.domain.rates, the same filters and grouping) count cases by
  their own rules and are merged into the rows by key; a row lists a key that has tickets
  or cases.
* **Hourly** 各时段取号数: tickets issued per hour of the day (hall-local time).
* **Waits over time**: average and p90 per day — per month when the range is longer than
  62 days; per the group's period when grouped by day, week or month.
* **Overdue**: the open overdue cases (逾期未办结) of the rates' total, due first, with the
  applicant masked.

Speed: a past day is rolled up once (``rollup``) into ``report_ticket_stats`` — per (day,
window, staff member, matter) the sums above, sparse histograms of the waits (per minute)
and of the issue hours, and the rates' counts of the cases recorded and completed that day
(hall.domain.rates; only the open overdue cases, a count as of today, are always counted
live), and the same again summed over the matters per (day, window, staff member), which is
all a report reads unless it groups or filters by matter or department — and a complete ISO
week or month once more from its days,
so that a report over a year reads about a dozen months of rollup rows instead of millions
of tickets (a range is covered by complete months or weeks where its periods allow, and by
days at its edges). ``build`` rolls up the past days it finds missing (kept when the caller
commits) and counts today and later days live from the tickets, with the same queries. A
day still holding a called or serving ticket is never stored. Rolling a day up again
replaces its rows and those of its week and month (idempotent).
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_right
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.orm import Session

from hall.domain import cases as cases_domain
from hall.domain import rates
from hall.domain.errors import Invalid, NotFound
from hall.domain.workdays import Calendar
from hall.models import (
    Case,
    Department,
    Hall,
    Matter,
    ReportPeriod,
    ReportTicketStat,
    Ticket,
    User,
    Window,
)

log = logging.getLogger(__name__)

GROUPS = rates.GROUPS
PERIOD_GROUPS = rates.PERIOD_GROUPS
OVERFLOW = 241  # the wait bucket of waits over 240 minutes
LONGEST_MINUTES = OVERFLOW - 1
NO_MATTER = "未选事项"
TOTAL = rates.TOTAL
DAILY_WAITS_DAYS = 62  # waits over time by day up to this many days, then by month
ROLLUP_CHUNK_DAYS = 31  # days computed by one set of queries when rolling up many

TICKET_FORMULAS = {
    "no_show_rate": {
        "name": "过号率",
        "name_en": "No-show rate",
        "zh": "过号率 = 过号数 ÷（办结数 + 过号数）",
        "en": "No-show rate = tickets not answered (no-shows) ÷ (tickets served + no-shows)",
    },
    "avg_wait_minutes": {
        "name": "平均等候时间",
        "name_en": "Average wait",
        "zh": "平均等候时间 = 已叫号票的（首次叫号时间 − 取号时间）之和 ÷ 已叫号票数，单位分钟",
        "en": (
            "Average wait = the sum of (first call − issue) of the tickets called ÷ the "
            "number of tickets called, in minutes"
        ),
    },
    "p90_wait_minutes": {
        "name": "90% 分位等候时间",
        "name_en": "90th-percentile wait",
        "zh": (
            "90% 分位等候时间 = 至少 90% 的已叫号票等候不超过的最小整分钟数"
            "（按分钟向上取整统计，精确到 1 分钟；超过 240 分钟记为 241）"
        ),
        "en": (
            "90th-percentile wait = the smallest whole number of minutes within which at "
            "least 90% of the tickets called were called (waits counted per minute, rounded "
            "up: exact to the minute; waits over 240 minutes count as 241)"
        ),
    },
    "avg_service_minutes": {
        "name": "平均办理时间",
        "name_en": "Average service time",
        "zh": "平均办理时间 = 已办结票的（办结时间 − 开始办理时间）之和 ÷ 已办结票数，单位分钟",
        "en": (
            "Average service time = the sum of (finish − start of service, or the call when "
            "not started) of the tickets served ÷ the number of tickets served, in minutes"
        ),
    },
}
FORMULAS = {**TICKET_FORMULAS, **rates.FORMULAS}

NOTES = {
    "zh": (
        "取号、等候、办理、过号按取号日期统计，计入叫号（办理）的窗口和工作人员、所选事项及其部门；"
        "未叫号的票计入「未记录窗口」，未选事项的票计入「未选事项」。" + rates.NOTES["zh"]
    ),
    "en": (
        "Tickets, waits, service times and no-shows count on the day the ticket was issued, "
        "for the window and staff member that called it and for its matter and the "
        "matter's department; tickets never called count as 'no window', tickets without "
        "a matter as 'no matter chosen'. " + rates.NOTES["en"]
    ),
}

# the sums of a rollup row, in this order everywhere below
SUMS = ("issued", "served", "no_shows", "wait_sum", "wait_count", "service_sum", "service_count")
# the counts of the cases recorded (by accepted_on) and completed (by completed_on) on a day,
# as hall.domain.rates counts them (the open overdue ones are always counted live)
CASE_SUMS = tuple(name for name in rates.COUNTS if name != "open_overdue")
# a rollup row's values: [*SUMS, waits, hours, *CASE_SUMS]
WAITS, HOURS, CASES_AT = len(SUMS), len(SUMS) + 1, len(SUMS) + 2


# ---------------------------------------------------------------- values


def _minutes(total_seconds: int, count: int) -> float | None:
    return total_seconds / count / 60 if count else None


def p90(histogram: dict) -> float | None:
    """The 90th percentile (nearest rank) of a {minutes: count} histogram, in minutes."""
    items = sorted((int(bucket), count) for bucket, count in histogram.items() if count)
    total = sum(count for _bucket, count in items)
    if not total:
        return None
    rank = math.ceil(total * 9 / 10)
    running = 0
    for bucket, count in items:
        running += count
        if running >= rank:
            return float(bucket)
    return float(items[-1][0])  # pragma: no cover (the loop always reaches the rank)


def rounded(value: float | None, places: str = "0.1") -> float | None:
    """Minutes as shown: one decimal, half up (None stays None)."""
    if value is None:
        return None
    return float(Decimal(repr(value)).quantize(Decimal(places), rounding=ROUND_HALF_UP))


class _Sums:
    """The sums of some tickets and the histogram of their waits."""

    __slots__ = ("values", "waits")

    def __init__(self) -> None:
        self.values = [0] * len(SUMS)
        self.waits: dict[str, int] = {}

    def add(self, values: Iterable[int], waits: dict) -> None:
        mine = self.values
        for index, value in enumerate(values):
            mine[index] += value
        hist = self.waits
        for bucket, count in waits.items():
            hist[bucket] = hist.get(bucket, 0) + count

    def merge(self, other: _Sums) -> None:
        self.add(other.values, other.waits)


@dataclass
class ReportRow:
    """The ticket numbers of a group (or of the total) and its rates (same key)."""

    key: object
    label: str
    issued: int = 0
    served: int = 0
    no_shows: int = 0
    no_show_rate: float | None = None
    avg_wait_minutes: float | None = None
    p90_wait_minutes: float | None = None
    avg_service_minutes: float | None = None
    rates: rates.RateRow | None = None
    waits_counted: int = 0  # tickets called (the denominator of the average wait)
    services_counted: int = 0  # tickets served with a service time
    start: date | None = None
    end: date | None = None
    id: int | None = field(default=None, compare=False)

    @classmethod
    def of(cls, key, label: str, sums: _Sums | None, rate_row: rates.RateRow, **extra):
        sums = sums or _Sums()
        issued, served, no_shows, wait_sum, wait_count, service_sum, service_count = sums.values
        return cls(
            key=key,
            label=label,
            issued=issued,
            served=served,
            no_shows=no_shows,
            no_show_rate=no_shows / (served + no_shows) if served + no_shows else None,
            avg_wait_minutes=_minutes(wait_sum, wait_count),
            p90_wait_minutes=p90(sums.waits),
            avg_service_minutes=_minutes(service_sum, service_count),
            rates=rate_row,
            waits_counted=wait_count,
            services_counted=service_count,
            **extra,
        )


@dataclass
class Report:
    """Everything a report shows; see the module docstring for how it is counted."""

    hall: dict
    start: date
    end: date
    group: str
    filters: dict
    rows: list[ReportRow]
    total: ReportRow
    hourly: list[dict]
    waits: list[dict]
    overdue: list[dict]
    formulas: dict
    today: date | None = None
    waits_by: str = "day"


# ---------------------------------------------------------------- SQL on the tickets


def _epoch(dialect: str, column) -> sa.ColumnElement:
    """Whole seconds since 1970 of a (naive UTC) timestamp column, as an integer."""
    if dialect == "sqlite":
        return sa.cast(sa.func.strftime("%s", column), sa.Integer)
    return sa.cast(sa.func.floor(sa.extract("epoch", column)), sa.BigInteger)


def _number(value: int) -> sa.ColumnElement:
    """An integer rendered into the SQL (not a bound parameter), so that the same
    expression in SELECT and GROUP BY is the same to PostgreSQL."""
    return sa.literal_column(str(int(value)), sa.Integer)


def _utc_offset(zone: ZoneInfo, day: date) -> int:
    """The zone's offset from UTC at noon of the day, in seconds (business hours)."""
    return int(datetime.combine(day, time(12), zone).utcoffset().total_seconds())


Combo = tuple  # (day, window_id, staff_id, matter_id)


def _compute(
    session: Session, hall: Hall, start: date, end: date
) -> tuple[dict[Combo, list], dict[date, int]]:
    """The tickets of [start, end] summed per (day, window, staff, matter), with the waits
    and issue hours as histograms, and the cases recorded and completed on those days
    counted per (day, window, staff, matter) of the case:
    ({combo: [*SUMS, waits, hours, *CASE_SUMS]}, {day: issued})."""
    dialect = session.get_bind().dialect.name
    keys = (Ticket.service_day, Ticket.window_id, Ticket.staff_id, Ticket.matter_id)
    where = (Ticket.hall_id == hall.id, Ticket.service_day >= start, Ticket.service_day <= end)
    issued_s = _epoch(dialect, Ticket.issued_at)
    waited = _epoch(dialect, Ticket.called_at) - issued_s
    zero = sa.literal_column("0")
    waited = sa.case((waited < zero, zero), else_=waited)
    finished = sa.and_(
        Ticket.status == "finished",
        Ticket.finished_at.is_not(None),
        sa.func.coalesce(Ticket.started_at, Ticket.called_at).is_not(None),
    )
    served_s = _epoch(dialect, Ticket.finished_at) - _epoch(
        dialect, sa.func.coalesce(Ticket.started_at, Ticket.called_at)
    )
    served_s = sa.case((served_s < zero, zero), else_=served_s)
    sums = sa.select(
        *keys,
        sa.func.count().label("issued"),
        rates.count_if(Ticket.status == "finished"),
        rates.count_if(Ticket.status == "no_show"),
        sa.func.coalesce(sa.func.sum(waited), zero),
        sa.func.count(Ticket.called_at),
        sa.func.coalesce(sa.func.sum(sa.case((finished, served_s))), zero),
        rates.count_if(finished),
    ).where(*where)
    combos: dict[Combo, list] = {}
    for row in session.execute(sums.group_by(*keys)):
        combos[tuple(row[:4])] = [*(int(v or 0) for v in row[4:]), {}, {}, *_NO_CASES]

    bucket = sa.case(
        (waited <= zero, zero),
        (waited > _number(LONGEST_MINUTES * 60), _number(OVERFLOW)),
        else_=(waited + _number(59)) // _number(60),
    ).label("bucket")
    waits = (
        sa.select(*keys, bucket, sa.func.count())
        .where(*where, Ticket.called_at.is_not(None))
        .group_by(*keys, bucket)
    )
    for *combo, minutes, count in session.execute(waits):
        combos[tuple(combo)][WAITS][str(minutes)] = count

    # hours of the day, hall-local: days grouped by their UTC offset (one run in China)
    zone = ZoneInfo(hall.timezone)
    runs: list[tuple[int, date, date]] = []
    day = start
    while day <= end:
        offset = _utc_offset(zone, day)
        if runs and runs[-1][0] == offset:
            runs[-1] = (offset, runs[-1][1], day)
        else:
            runs.append((offset, day, day))
        day += timedelta(days=1)
    issued_by_day: dict[date, int] = {}
    for offset, first, last in runs:
        hour = ((issued_s + _number(offset)) // _number(3600) % _number(24)).label("hour")
        hours = (
            sa.select(*keys, hour, sa.func.count())
            .where(
                Ticket.hall_id == hall.id,
                Ticket.service_day >= first,
                Ticket.service_day <= last,
            )
            .group_by(*keys, hour)
        )
        for *combo, at, count in session.execute(hours):
            combos[tuple(combo)][HOURS][str(at)] = count
    for combo, values in combos.items():
        issued_by_day[combo[0]] = issued_by_day.get(combo[0], 0) + values[0]
    _count_cases(session, hall, start, end, combos)
    return combos, issued_by_day


_NO_CASES = (0,) * len(CASE_SUMS)


def _count_cases(session: Session, hall: Hall, start: date, end: date, combos: dict) -> None:
    """Add to the combos the cases of the hall recorded on a day of [start, end] (by
    outcome) and those completed on one (by timing), per (day, window, staff, matter)."""
    parts = (
        (Case.accepted_on, rates.RECORDED, ()),
        (Case.completed_on, rates.COMPLETED, rates.COMPLETED_CASES),
    )
    for day_column, measures, conditions in parts:
        keys = (day_column, Case.window_id, Case.staff_id, Case.matter_id)
        stmt = (
            sa.select(*keys, *(expr for _name, expr in measures))
            .where(Case.hall_id == hall.id, day_column >= start, day_column <= end, *conditions)
            .group_by(*keys)
        )
        positions = [CASES_AT + CASE_SUMS.index(name) for name, _expr in measures]
        for row in session.execute(stmt):
            combo = tuple(row[:4])
            values = combos.get(combo)
            if values is None:
                values = combos[combo] = [*([0] * len(SUMS)), {}, {}, *_NO_CASES]
            for position, value in zip(positions, row[4:], strict=True):
                values[position] += int(value or 0)


def _busy_days(session: Session, hall_id: int, start: date, end: date) -> set[date]:
    """Days of [start, end] that still hold a called or serving ticket (not over yet)."""
    return set(
        session.scalars(
            sa.select(Ticket.service_day)
            .where(
                Ticket.hall_id == hall_id,
                Ticket.service_day >= start,
                Ticket.service_day <= end,
                Ticket.status.in_(("called", "serving")),
            )
            .distinct()
        )
    )


def _span_bounds(span: str, day: date) -> tuple[date, date]:
    """The first and last day of the day, ISO week or month holding a day."""
    if span == "day":
        return day, day
    if span == "week":
        first = day - timedelta(days=day.weekday())
        return first, first + timedelta(days=6)
    first = day.replace(day=1)
    following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
    return first, following - timedelta(days=1)


def _row_values(hall_id: int, span: str, combo: Combo, values: list, by_matter=True) -> dict:
    return {
        "hall_id": hall_id,
        "span": span,
        "by_matter": by_matter,
        "day": combo[0],
        "window_id": combo[1],
        "staff_id": combo[2],
        "matter_id": combo[3],
        **dict(zip(SUMS, values[: len(SUMS)], strict=True)),
        "waits": values[WAITS],
        "hours": values[HOURS],
        **dict(zip(CASE_SUMS, values[CASES_AT:], strict=True)),
    }


def _merge_values(target: list, values: Iterable) -> None:
    """Add a rollup row's values ([*SUMS, waits, hours, *CASE_SUMS]) to another's."""
    for index, value in enumerate(values):
        if index in (WAITS, HOURS):
            histogram = target[index]
            for key, count in value.items():
                histogram[key] = histogram.get(key, 0) + count
        else:
            target[index] += value


def _empty_values() -> list:
    return [*([0] * len(SUMS)), {}, {}, *_NO_CASES]


def _rows(hall_id: int, span: str, combos: dict[Combo, list]) -> list[dict]:
    """The rollup rows of some combos: one per (day, window, staff, matter), and the same
    summed over the matters, one per (day, window, staff) — what most reports read."""
    rows = [_row_values(hall_id, span, combo, values) for combo, values in combos.items()]
    summed: dict[Combo, list] = {}
    for (day, window_id, staff_id, _matter_id), values in combos.items():
        key = (day, window_id, staff_id, None)
        target = summed.get(key)
        if target is None:
            target = summed[key] = _empty_values()
        _merge_values(target, values)
    rows.extend(
        _row_values(hall_id, span, combo, values, False) for combo, values in summed.items()
    )
    return rows


def _replace(
    session: Session,
    hall_id: int,
    span: str,
    firsts: list[date],
    rows: list[dict],
    issued: dict[date, int],
) -> None:
    """Delete the rollup of these periods and insert the given rows and period marks."""
    for chunk in _chunks(sorted(firsts), 500):
        session.execute(
            sa.delete(ReportTicketStat).where(
                ReportTicketStat.hall_id == hall_id,
                ReportTicketStat.span == span,
                ReportTicketStat.day.in_(chunk),
            )
        )
        session.execute(
            sa.delete(ReportPeriod).where(
                ReportPeriod.hall_id == hall_id,
                ReportPeriod.span == span,
                ReportPeriod.first.in_(chunk),
            )
        )
    for chunk in _chunks(rows, 5000):
        session.execute(sa.insert(ReportTicketStat), chunk)
    session.execute(
        sa.insert(ReportPeriod),
        [
            {"hall_id": hall_id, "span": span, "first": first, "issued": issued.get(first, 0)}
            for first in firsts
        ],
    )


def _store(
    session: Session,
    hall_id: int,
    days: list[date],
    combos: dict[Combo, list],
    issued_by_day: dict[date, int],
) -> None:
    """Replace the rollup of these days by the given sums, then sum again the weeks and
    months around them that are complete."""
    if not days:
        return
    wanted = set(days)
    rows = _rows(hall_id, "day", {c: v for c, v in combos.items() if c[0] in wanted})
    _replace(session, hall_id, "day", days, rows, issued_by_day)
    periods = {(span, *_span_bounds(span, day)) for day in days for span in ("week", "month")}
    for span, first, last in sorted(periods):
        _derive(session, hall_id, span, first, last)


def _derive(session: Session, hall_id: int, span: str, first: date, last: date) -> bool:
    """Sum the rolled-up days of a week or month into rows of that span; False (nothing
    stored) unless every one of its days is rolled up."""
    rolled = session.scalar(
        sa.select(sa.func.count())
        .select_from(ReportPeriod)
        .where(
            ReportPeriod.hall_id == hall_id,
            ReportPeriod.span == "day",
            ReportPeriod.first >= first,
            ReportPeriod.first <= last,
        )
    )
    if rolled != (last - first).days + 1:
        return False
    t = ReportTicketStat
    merged: dict[Combo, list] = {}
    for row in session.execute(
        sa.select(t.window_id, t.staff_id, t.matter_id, *_stored_columns()).where(
            t.hall_id == hall_id,
            t.span == "day",
            t.by_matter.is_(True),
            t.day >= first,
            t.day <= last,
        )
    ):
        combo = (first, *row[:3])
        values = merged.get(combo)
        if values is None:
            values = merged[combo] = _empty_values()
        _merge_values(values, row[3:])
    rows = _rows(hall_id, span, merged)
    issued = {first: sum(values[0] for values in merged.values())}
    _replace(session, hall_id, span, [first], rows, issued)
    return True


def _chunks(items: list, size: int) -> Iterator[list]:
    for index in range(0, len(items), size):
        yield items[index : index + size]


def _days(start: date, end: date) -> Iterator[date]:
    day = start
    while day <= end:
        yield day
        day += timedelta(days=1)


def rollup_range(session: Session, hall_id: int, start: date, end: date) -> int:
    """Roll up (again) the days of [start, end] of a hall, replacing their rows, and the
    weeks and months around them once complete; days that still hold a called or serving
    ticket are left out. Returns the number of days rolled up. Does not commit."""
    hall = session.get(Hall, hall_id)
    if hall is None:
        raise NotFound("hall_not_found", "没有这个大厅", "No such hall")
    done = 0
    first = start
    while first <= end:
        last = min(end, first + timedelta(days=ROLLUP_CHUNK_DAYS - 1))
        busy = _busy_days(session, hall_id, first, last)
        combos, issued_by_day = _compute(session, hall, first, last)
        days = [day for day in _days(first, last) if day not in busy]
        _store(session, hall_id, days, combos, issued_by_day)
        done += len(days)
        first = last + timedelta(days=1)
    return done


def rollup(session: Session, hall_id: int, day: date) -> bool:
    """Roll up (again) one day of a hall: its rows replaced by the sums of its tickets (and
    its week and month summed again when complete). False (nothing stored) while the day
    still holds a called or serving ticket. Meant for past days (a CLI or cron job after
    midnight); does not commit."""
    return rollup_range(session, hall_id, day, day) == 1


def rollup_pending(session: Session, hall_id: int, today: date, budget: int = 7) -> int:
    """Roll up the past days of a hall not rolled up yet — yesterday first, back to its first
    ticket or case, at most three years — at most `budget` days; returns how many were
    stored. The server's sweeper calls it every minute (hall.domain.rollover), so each night
    rolls yesterday up and a database upgraded or restored fills its rollup in the
    background, a week a minute. Does not commit."""
    yesterday = today - timedelta(days=1)
    firsts = [
        session.scalar(sa.select(sa.func.min(Ticket.service_day)).where(Ticket.hall_id == hall_id)),
        session.scalar(sa.select(sa.func.min(Case.accepted_on)).where(Case.hall_id == hall_id)),
    ]
    known = [day for day in firsts if day is not None]
    if not known:
        return 0
    start = max(min(known), today - timedelta(days=rates.MAX_DAYS))
    if start > yesterday:
        return 0
    rolled = set(
        session.scalars(
            sa.select(ReportPeriod.first).where(
                ReportPeriod.hall_id == hall_id,
                ReportPeriod.span == "day",
                ReportPeriod.first >= start,
                ReportPeriod.first <= yesterday,
            )
        )
    )
    missing = [day for day in _days(start, yesterday) if day not in rolled][-budget:]
    done = 0
    while missing:  # contiguous runs, each rolled up by one set of queries
        last = missing.pop()
        first = last
        while missing and missing[-1] == first - timedelta(days=1):
            first = missing.pop()
        done += rollup_range(session, hall_id, first, last)
    return done


# ---------------------------------------------------------------- gathering


def _cover(unit: str, start: date, end: date, derived: set) -> tuple[list, list]:
    """How to read [start, end] so that every piece lies within one `unit` period: the
    complete weeks and months already summed ([(span, first)]) and day ranges for the rest
    ([(first, last)])."""
    if unit == "day":
        return [], [(start, end)]
    periods, ranges = [], []
    for _key, _label, first, last in rates.periods(unit, start, end):
        if (first, last) == _span_bounds(unit, first) and (unit, first) in derived:
            periods.append((unit, first))
        elif unit == "month":
            for _k, _l, week_first, week_last in rates.periods("week", first, last):
                whole = (week_first, week_last) == _span_bounds("week", week_first)
                if whole and ("week", week_first) in derived:
                    periods.append(("week", week_first))
                else:
                    ranges.append((week_first, week_last))
        else:
            ranges.append((first, last))
    merged: list = []
    for first, last in ranges:
        if merged and merged[-1][1] + timedelta(days=1) == first:
            merged[-1] = (merged[-1][0], last)
        else:
            merged.append((first, last))
    return periods, merged


def _stored_columns() -> list:
    """The columns of a rollup row's values, in their order ([*SUMS, waits, hours,
    *CASE_SUMS])."""
    t = ReportTicketStat
    return [getattr(t, name) for name in (*SUMS, "waits", "hours", *CASE_SUMS)]


def _stored_rows(session: Session, hall_id: int, where, filters: dict) -> list[tuple]:
    """The rollup rows selected by `where` that pass the filters, as plain tuples: per
    matter when the filters or the grouping need the matter, else the rows summed over the
    matters (a few dozen a period instead of thousands)."""
    t = ReportTicketStat
    stmt = sa.select(t.day, t.window_id, t.staff_id, t.matter_id, *_stored_columns())
    stmt = stmt.where(t.hall_id == hall_id, t.by_matter.is_(filters["by_matter"]), where)
    if filters["window_id"] is not None:
        stmt = stmt.where(t.window_id == filters["window_id"])
    if filters["staff_id"] is not None:
        stmt = stmt.where(t.staff_id == filters["staff_id"])
    if filters["matter_ids"] is not None:
        stmt = stmt.where(t.matter_id.in_(sorted(filters["matter_ids"]) or [-1]))
    # Core, not the ORM session's result machinery: tens of thousands of plain rows
    return session.connection().execute(stmt).all()


def _passes(combo: Combo, filters: dict) -> bool:
    _day, window_id, staff_id, matter_id = combo
    if filters["window_id"] is not None and window_id != filters["window_id"]:
        return False
    if filters["staff_id"] is not None and staff_id != filters["staff_id"]:
        return False
    return filters["matter_ids"] is None or matter_id in filters["matter_ids"]


def _gather(
    session: Session,
    hall: Hall,
    start: date,
    end: date,
    today: date,
    unit: str,
    filters: dict,
    store: bool,
) -> list[list[tuple]]:
    """The rows of the tickets of [start, end], each within one `unit` period: complete
    weeks and months and rolled-up days from the rollup, missing past days computed (and
    stored when `store`), today and later days computed live."""
    sources: list[list[tuple]] = []
    t = ReportTicketStat
    past_end = min(end, today - timedelta(days=1))
    if start <= past_end:
        derived = set()
        if unit != "day":
            derived = set(
                session.execute(
                    sa.select(ReportPeriod.span, ReportPeriod.first).where(
                        ReportPeriod.hall_id == hall.id,
                        ReportPeriod.span != "day",
                        ReportPeriod.first >= start,
                        ReportPeriod.first <= past_end,
                    )
                ).all()
            )
        periods, ranges = _cover(unit, start, past_end, derived)
        for span in ("week", "month"):
            firsts = [first for kind, first in periods if kind == span]
            if firsts:
                where = sa.and_(t.span == span, t.day.in_(firsts))
                sources.append(_stored_rows(session, hall.id, where, filters))
        missing: list[date] = []
        if ranges:
            in_ranges = [ReportPeriod.first.between(a, b) for a, b in ranges]
            rolled = set(
                session.scalars(
                    sa.select(ReportPeriod.first).where(
                        ReportPeriod.hall_id == hall.id,
                        ReportPeriod.span == "day",
                        sa.or_(*in_ranges),
                    )
                )
            )
            if rolled:
                where = sa.and_(t.span == "day", sa.or_(*[t.day.between(a, b) for a, b in ranges]))
                sources.append(_stored_rows(session, hall.id, where, filters))
            missing = [day for a, b in ranges for day in _days(a, b) if day not in rolled]
        if missing:
            combos, issued_by_day = _compute(session, hall, missing[0], missing[-1])
            wanted = set(missing)
            sources.append(
                [
                    (*combo, *values)
                    for combo, values in combos.items()
                    if combo[0] in wanted and _passes(combo, filters)
                ]
            )
            if store:
                _keep(session, hall.id, missing, combos, issued_by_day)
    live_start = max(start, today)
    if live_start <= end:
        combos, _issued = _compute(session, hall, live_start, end)
        sources.append(
            [(*combo, *values) for combo, values in combos.items() if _passes(combo, filters)]
        )
    return sources


def _keep(session: Session, hall_id: int, missing: list[date], combos, issued_by_day) -> None:
    """Store the rollup of missing past days, in a savepoint: a failure (another request
    storing the same day, SQLite refusing a write in a read transaction) only loses the
    cache, never the report."""
    busy = _busy_days(session, hall_id, missing[0], missing[-1])
    days = [day for day in missing if day not in busy]
    if not days:
        return
    try:
        with session.begin_nested():
            _store(session, hall_id, days, combos, issued_by_day)
    except (exc.IntegrityError, exc.OperationalError) as error:
        log.info("report rollup of hall %s not stored: %s", hall_id, error)


# ---------------------------------------------------------------- building


def _waits_by(group: str, start: date, end: date) -> str:
    if group in PERIOD_GROUPS:
        return group
    return "day" if (end - start).days + 1 <= DAILY_WAITS_DAYS else "month"


def _filters(session: Session, hall: Hall, window_id, department_id, matter_id, staff_id):
    """(the ids the tickets are selected by, the codes shown)."""
    shown = {"window": None, "department": None, "matter": None, "staff": None}
    matter_ids = None
    if window_id is not None:
        window = session.get(Window, window_id)
        if window is None or window.hall_id != hall.id:
            raise NotFound("window_not_found", "本大厅没有这个窗口", "No such window in this hall")
        shown["window"] = window.number
    if department_id is not None:
        department = session.get(Department, department_id)
        if department is None:
            raise NotFound("department_not_found", "没有这个部门", "No such department")
        shown["department"] = department.code
        matter_ids = set(
            session.scalars(sa.select(Matter.id).where(Matter.department_id == department_id))
        )
    if matter_id is not None:
        matter = session.get(Matter, matter_id)
        if matter is None:
            raise NotFound("matter_not_found", "没有这个事项", "No such matter")
        shown["matter"] = matter.code
        matter_ids = {matter_id} if matter_ids is None else matter_ids & {matter_id}
    if staff_id is not None:
        user = session.get(User, staff_id)
        if user is None:
            raise NotFound("staff_not_found", "没有这个工作人员", "No such staff member")
        shown["staff"] = user.username
    ids = {"window_id": window_id, "staff_id": staff_id, "matter_ids": matter_ids}
    return ids, shown


def _group_rows(
    session: Session,
    chosen: rates.Selection,
    by_key: dict,
    rate_rows: list[rates.RateRow],
) -> list[ReportRow]:
    """One row per window/department/matter/staff member with tickets or cases, in the
    rates' display order; tickets without a matter last."""
    rates_by_id = {row.id: row for row in rate_rows}
    ids = set(by_key) | set(rates_by_id)
    labelled = rates.labelled_rows(session, chosen, ids)
    if None in ids and None not in labelled:  # matter and department: tickets only
        labelled[None] = rates.RateRow(key=None, label=NO_MATTER)
    rows = []
    for key_id, empty in labelled.items():
        rate_row = rates_by_id.get(key_id, empty)
        rows.append(ReportRow.of(empty.key, empty.label, by_key.get(key_id), rate_row, id=empty.id))
    return rows


def _period_points(periods: list, sums: dict[int, _Sums]) -> list[dict]:
    points = []
    for index, (key, label, first, last) in enumerate(periods):
        cell = sums.get(index) or _Sums()
        wait_sum, wait_count = cell.values[3], cell.values[4]
        points.append(
            {
                "key": key,
                "label": label,
                "start": first.isoformat(),
                "end": last.isoformat(),
                "count": wait_count,
                "avg": rounded(_minutes(wait_sum, wait_count)),
                "p90": p90(cell.waits),
            }
        )
    return points


def build(
    session: Session,
    *,
    hall_id: int,
    start: date,
    end: date,
    group: str = "window",
    window_id: int | None = None,
    department_id: int | None = None,
    matter_id: int | None = None,
    staff_id: int | None = None,
    today: date | None = None,
    store: bool = True,
) -> Report:
    """The report of a hall for [start, end], grouped by `group`, filtered by window,
    department, matter and staff member (database ids). `today` (default: the hall's date)
    decides which days are over (read from the rollup) and which cases are overdue.
    `store`: keep the rollup of past days found missing (in the session: commit to keep).
    Raises Invalid for an unknown group or a bad range, NotFound for an unknown id."""
    if group not in GROUPS:
        raise Invalid(
            "bad_group",
            f"分组方式 {group} 无效，可选 {'、'.join(GROUPS)}",
            f"Unknown grouping {group}; use one of {', '.join(GROUPS)}",
        )
    # the rates' selection: checks the range, fixes `today` (the hall's date by default)
    chosen = rates.selection(
        session,
        start=start,
        end=end,
        group=group,
        hall_id=hall_id,
        window_id=window_id,
        department_id=department_id,
        matter_id=matter_id,
        staff_id=staff_id,
        today=today,
    )
    hall = session.get(Hall, hall_id)
    if hall is None:
        raise NotFound("hall_not_found", "没有这个大厅", "No such hall")
    today = chosen.today
    ids, shown = _filters(session, hall, window_id, department_id, matter_id, staff_id)
    ids["by_matter"] = group in ("matter", "department") or ids["matter_ids"] is not None

    waits_by = _waits_by(group, start, end)
    sources = _gather(session, hall, start, end, today, waits_by, ids, store)

    # the group of a ticket row and the period of its waits
    periods = list(rates.periods(group, start, end)) if group in PERIOD_GROUPS else []
    wait_periods = periods if waits_by == group else list(rates.periods(waits_by, start, end))
    wait_firsts = [first for _key, _label, first, _last in wait_periods]
    period_firsts = [first for _key, _label, first, _last in periods]
    department_of = {}
    if group == "department":
        department_of = dict(session.execute(sa.select(Matter.id, Matter.department_id)).all())
    key_index = {"window": 1, "staff": 2, "matter": 3, "department": 3}.get(group)

    # one pass over the rows: sums per (group key, day) cell, hours in total, and the case
    # counts per key of the rates (the day for period groups, else the group's id)
    by_day: dict[tuple, _Sums] = {}
    hourly = [0] * 24
    counted: dict[object, list[int]] = {}
    period_group = group in PERIOD_GROUPS
    for rows in sources:
        for row in rows:
            key = None if key_index is None else row[key_index]
            cell = by_day.get((key, row[0]))
            if cell is None:
                cell = by_day[(key, row[0])] = _Sums()
            cell.add(row[4 : 4 + WAITS], row[4 + WAITS])
            for hour, issued in row[4 + HOURS].items():
                hourly[int(hour)] += issued
            cases = row[4 + CASES_AT :]
            if any(cases):
                if period_group:
                    key = row[0]
                elif group == "department":
                    key = department_of.get(key)
                sums = counted.get(key)
                if sums is None:
                    sums = counted[key] = [0] * len(CASE_SUMS)
                for index, value in enumerate(cases):
                    sums[index] += value

    rate_rows, rate_total = rates.rows_of(
        session,
        chosen,
        [(key, dict(zip(CASE_SUMS, sums, strict=True))) for key, sums in counted.items()],
        rates.open_overdue(session, chosen),
    )

    by_key: dict[object, _Sums] = {}
    by_wait: dict[int, _Sums] = {}
    by_period: dict[int, _Sums] = {}
    total = _Sums()
    for (key, day), cell in by_day.items():
        if group == "department":
            key = department_of.get(key)
        if group in PERIOD_GROUPS:
            key = bisect_right(period_firsts, day) - 1
            by_period.setdefault(key, _Sums()).merge(cell)
        else:
            by_key.setdefault(key, _Sums()).merge(cell)
        by_wait.setdefault(bisect_right(wait_firsts, day) - 1, _Sums()).merge(cell)
    for cell in by_wait.values():  # every cell is in exactly one period of the waits
        total.merge(cell)

    if group in PERIOD_GROUPS:
        rows_out = [
            ReportRow.of(key, label, by_period.get(index), rate_row, start=first, end=last)
            for index, ((key, label, first, last), rate_row) in enumerate(
                zip(periods, rate_rows, strict=True)
            )
        ]
    else:
        rows_out = _group_rows(session, chosen, by_key, rate_rows)

    return Report(
        hall={"id": hall.id, "code": hall.code, "name": hall.name},
        start=start,
        end=end,
        group=group,
        filters=shown,
        rows=rows_out,
        total=ReportRow.of(None, TOTAL, total, rate_total, start=start, end=end),
        hourly=[{"hour": hour, "issued": hourly[hour]} for hour in range(24)],
        waits=_period_points(wait_periods, by_wait),
        overdue=_overdue(session, hall, end, today, window_id, staff_id, ids["matter_ids"]),
        formulas=FORMULAS,
        today=today,
        waits_by=waits_by,
    )


def _overdue(session, hall, end, today, window_id, staff_id, matter_ids) -> list[dict]:
    """The open overdue cases counted by the rates' total (accepted, open, past due today,
    recorded on or before `end`), due first, applicants masked."""
    # found by (status, due_date): few cases are open, years of them are not (``+ 0`` keeps
    # SQLite from walking the hall's whole history by its index, as in hall.domain.rates)
    stmt = (
        sa.select(Case)
        .options(*cases_domain.CASE_LOADS)
        .where(
            Case.status == "open",
            Case.due_date < today,
            Case.outcome == "accepted",
            Case.hall_id + 0 == hall.id,
            Case.accepted_on <= end,
        )
        .order_by(Case.due_date, Case.accepted_at, Case.id)
    )
    if window_id is not None:
        stmt = stmt.where(Case.window_id + 0 == window_id)
    if staff_id is not None:
        stmt = stmt.where(Case.staff_id + 0 == staff_id)
    if matter_ids is not None:
        stmt = stmt.where((Case.matter_id + 0).in_(sorted(matter_ids) or [-1]))
    calendar = Calendar(session, hall.id)
    return [
        cases_domain.case_dict(case, today=today, masked=True, calendar=calendar)
        for case in session.scalars(stmt).unique()
    ]


# ---------------------------------------------------------------- JSON


def row_dict(row: ReportRow) -> dict:
    """A row as JSON: the ticket numbers (minutes to one decimal), the no-show rate with its
    percent, and the row's rates (hall.domain.rates.rate_dict)."""
    return {
        "key": row.key,
        "label": row.label,
        "start": row.start.isoformat() if row.start else None,
        "end": row.end.isoformat() if row.end else None,
        "issued": row.issued,
        "served": row.served,
        "no_shows": row.no_shows,
        "no_show_rate": row.no_show_rate,
        "avg_wait_minutes": rounded(row.avg_wait_minutes),
        "p90_wait_minutes": row.p90_wait_minutes,
        "avg_service_minutes": rounded(row.avg_service_minutes),
        "waits_counted": row.waits_counted,
        "services_counted": row.services_counted,
        "percent": {"no_show_rate": rates.percent(row.no_show_rate)},
        "rates": rates.rate_dict(row.rates) if row.rates is not None else None,
    }


def report_dict(report: Report) -> dict:
    """The report as JSON: the single source of the numbers of the page, the API, the
    .xlsx and the PDF (rates with their percent strings, minutes to one decimal)."""
    return {
        "hall": report.hall,
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "today": report.today.isoformat() if report.today else None,
        "group": report.group,
        "filters": report.filters,
        "rows": [row_dict(row) for row in report.rows],
        "total": row_dict(report.total),
        "hourly": report.hourly,
        "waits_by": report.waits_by,
        "waits": report.waits,
        "overdue": report.overdue,
        "formulas": report.formulas,
        "notes": NOTES,
    }
