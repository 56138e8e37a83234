"""Completion rates (DOMAIN.md "Rates"): 当场办结率 (also for 即办件 alone), 承诺办结率 with
the open overdue cases (逾期未办结) and the strict rate beside it, 提前办结率, and the cases by
outcome — in total, or per window, department, matter, staff member, day, week or month.

Everything is aggregated in SQL: three GROUP BY queries with conditional sums
(``SUM(CASE WHEN … THEN 1 ELSE 0 END)``), the same on SQLite and PostgreSQL; Python only
folds the small per-key (or per-day) aggregates into rows.

How a case is counted (the formulas are in FORMULAS and shown with every rate):

* **Periods.** The outcome counts and 当场办结率 count cases by the day they were recorded
  (``accepted_on`` in [start, end]); 承诺办结率, the strict rate, 提前办结率 and 超时办结 count
  accepted cases by the day they were completed (``completed_on`` in [start, end]).
* **承诺件** are the cases recorded with the outcome 受理 (accepted: promised, joint, referred —
  and an immediate matter accepted to be finished later): the cases that have a due date.
  On time = ``timing`` early or on_time (completed on or before the due date); 提前 = early
  (before it); 超时 = late.
* **Attribution.** A case counts for the window, staff member and matter that recorded it
  (``cases.window_id``, ``staff_id``, ``matter_id``; the department is the matter's) — also
  when it is completed later and when it is overdue. Who completed it plays no part. Cases
  without a window or staff member get a row of their own (key None) at the end.
* **逾期未办结 (open_overdue).** Accepted cases still open or paused whose due date is before
  ``today`` (the hall's date by default), with the same hall/window/department/matter/staff
  filters, recorded on or before ``end`` — however long before ``start``: an old overdue case
  keeps counting until it is completed. It is a count as of ``today``, not of the period.
* **Period rows** (day/week/month) cover every day, week or month of [start, end], empty ones
  included, each clamped to the range (``start``/``end`` of the row). Every row holds what
  the same call for that period alone would give: its open overdue count is of the cases
  recorded on or before the row's last day, so those counts grow from row to row and the last
  row's equals the total's (they do not add up across rows; every other count does).
* **Other groups** list the keys that have at least one counted case, in display order
  (window number, department and matter catalogue order, staff job number).

A rate is None (shown 「—」) when its denominator is 0, else a float from 0 to 1.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask_babel import lazy_gettext
from sqlalchemy.orm import Session, joinedload

from hall.domain.errors import Invalid
from hall.models import OUTCOMES, Case, Department, Hall, Matter, User, Window, utcnow

GROUPS = ("window", "department", "matter", "staff", "day", "week", "month")
PERIOD_GROUPS = ("day", "week", "month")
MAX_DAYS = 1096  # the longest range: three years, one of them a leap year
DEFAULT_TIMEZONE = "Asia/Shanghai"
DASH = "—"

HANDLED = ("on_the_spot", "accepted")  # the denominator of 当场办结率
OPEN = ("open", "paused")
ON_TIME = ("early", "on_time")

FORMULAS = {
    "on_the_spot_rate": {
        "name": "当场办结率",
        "name_en": "On-the-spot completion rate",
        "zh": "当场办结率 = 当场办结件数 ÷（当场办结件数 + 受理的承诺件、联办件、上报件数）",
        "en": (
            "On-the-spot completion rate = cases completed on the spot ÷ (cases completed "
            "on the spot + promised, joint and referred cases accepted)"
        ),
    },
    "immediate_rate": {
        "name": "即办件当场办结率",
        "name_en": "On-the-spot rate of immediate matters",
        "zh": (
            "即办件当场办结率 = 即办件当场办结件数 ÷（即办件当场办结件数 + 即办件受理件数），"
            "目标 100%"
        ),
        "en": (
            "On-the-spot rate of immediate matters = immediate-matter cases completed on the "
            "spot ÷ (those + immediate-matter cases accepted for later); target 100%"
        ),
    },
    "promised_rate": {
        "name": "承诺办结率",
        "name_en": "On-time completion rate",
        "zh": "承诺办结率 = 按时办结的承诺件数 ÷ 已办结的承诺件数（同时列出逾期未办结件数）",
        "en": (
            "On-time completion rate = accepted cases completed on or before their due date "
            "÷ accepted cases completed (shown with the open overdue cases)"
        ),
    },
    "strict_rate": {
        "name": "严格承诺办结率",
        "name_en": "Strict on-time completion rate",
        "zh": "严格承诺办结率 = 按时办结的承诺件数 ÷（已办结的承诺件数 + 逾期未办结件数）",
        "en": (
            "Strict on-time completion rate = accepted cases completed on or before their "
            "due date ÷ (accepted cases completed + open overdue cases)"
        ),
    },
    "early_rate": {
        "name": "提前办结率",
        "name_en": "Early completion rate",
        "zh": "提前办结率 = 提前办结件数 ÷ 已办结的承诺件数",
        "en": (
            "Early completion rate = accepted cases completed before their due date "
            "÷ accepted cases completed"
        ),
    },
}
RATES = tuple(FORMULAS)

# How the period and the open overdue cases are counted, shown under a table of rates.
NOTES = {
    "zh": (
        "当场办结率按登记（受理）日期统计；承诺办结率、严格承诺办结率、提前办结率按办结日期统计。"
        "逾期未办结：统计截止日及以前受理、已过办结期限、至今仍未办结（含暂停计时）的承诺件。"
        "办件计入登记它的窗口、工作人员和事项。"
    ),
    "en": (
        "The on-the-spot rates count cases by the day they were recorded; the on-time, "
        "strict and early rates count accepted cases by the day they were completed. Open "
        "overdue: accepted cases recorded by the end of the period, past their due date and "
        "still open or paused today. A case counts for the window, staff member and matter "
        "that recorded it."
    ),
}

# Column headings for pages and exports (lazy: translated when shown).
COLUMNS = {
    "on_the_spot": lazy_gettext("当场办结"),
    "accepted": lazy_gettext("受理"),
    "correction": lazy_gettext("补正"),
    "rejected": lazy_gettext("不予受理"),
    "consultation": lazy_gettext("咨询"),
    "handled": lazy_gettext("受理总数"),
    "on_the_spot_rate": lazy_gettext("当场办结率"),
    "immediate_handled": lazy_gettext("即办件受理总数"),
    "immediate_on_the_spot": lazy_gettext("即办件当场办结"),
    "immediate_rate": lazy_gettext("即办件当场办结率"),
    "promised_completed": lazy_gettext("已办结承诺件"),
    "promised_on_time": lazy_gettext("按时办结"),
    "promised_rate": lazy_gettext("承诺办结率"),
    "open_overdue": lazy_gettext("逾期未办结"),
    "strict_rate": lazy_gettext("严格承诺办结率"),
    "early": lazy_gettext("提前办结"),
    "early_rate": lazy_gettext("提前办结率"),
    "late": lazy_gettext("超时办结"),
}
GROUP_LABELS = {
    "window": lazy_gettext("按窗口"),
    "department": lazy_gettext("按部门"),
    "matter": lazy_gettext("按事项"),
    "staff": lazy_gettext("按工作人员"),
    "day": lazy_gettext("按日"),
    "week": lazy_gettext("按周"),
    "month": lazy_gettext("按月"),
}

NO_WINDOW = "未记录窗口"
NO_STAFF = "未记录工作人员"
TOTAL = "合计"


def _ratio(numerator: int, denominator: int) -> float | None:
    return numerator / denominator if denominator else None


@dataclass
class RateRow:
    """The counts and rates of one group (a window, a week…) or of the whole selection.

    `key` is the group's public key: window number, department or matter code, staff
    username, ISO day, ISO week (2026-W48) or month (2026-11); None for the total and for
    cases without a window or staff member. `start`/`end` bound a period row (clamped to the
    range asked for); `id` is the database id of a window, department, matter or user.
    """

    key: str | int | None
    label: str
    # recorded in the period (accepted_on), by outcome
    on_the_spot: int = 0
    accepted: int = 0
    correction: int = 0
    rejected: int = 0
    consultation: int = 0
    # of those, the cases of matters of kind immediate (即办件)
    immediate_handled: int = 0
    immediate_on_the_spot: int = 0
    # accepted cases completed in the period (completed_on), by timing
    promised_completed: int = 0
    promised_on_time: int = 0
    early: int = 0
    late: int = 0
    # accepted cases recorded on or before the period's end, still open today, past due
    open_overdue: int = 0
    start: date | None = None
    end: date | None = None
    id: int | None = field(default=None, compare=False)

    @property
    def handled(self) -> int:
        """受理总数: on the spot + accepted (the denominator of 当场办结率)."""
        return self.on_the_spot + self.accepted

    @property
    def on_the_spot_rate(self) -> float | None:
        """当场办结率."""
        return _ratio(self.on_the_spot, self.handled)

    @property
    def immediate_rate(self) -> float | None:
        """即办件当场办结率."""
        return _ratio(self.immediate_on_the_spot, self.immediate_handled)

    @property
    def promised_rate(self) -> float | None:
        """承诺办结率 (on time ÷ completed)."""
        return _ratio(self.promised_on_time, self.promised_completed)

    @property
    def strict_rate(self) -> float | None:
        """严格承诺办结率 (on time ÷ (completed + open overdue))."""
        return _ratio(self.promised_on_time, self.promised_completed + self.open_overdue)

    @property
    def early_rate(self) -> float | None:
        """提前办结率 (early ÷ completed)."""
        return _ratio(self.early, self.promised_completed)

    def add(self, counts: dict[str, int]) -> None:
        """Add counts (field name → number) to this row."""
        for name, value in counts.items():
            setattr(self, name, getattr(self, name) + value)


COUNTS = (
    "on_the_spot",
    "accepted",
    "correction",
    "rejected",
    "consultation",
    "immediate_handled",
    "immediate_on_the_spot",
    "promised_completed",
    "promised_on_time",
    "early",
    "late",
    "open_overdue",
)


def percent(value: float | None) -> str:
    """A rate as shown: 「87.5%」 (one decimal, half up), or 「—」 when there is none."""
    if value is None:
        return DASH
    shown = (Decimal(repr(value)) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return f"{shown}%"


def formula(rate: str, locale: str = "zh") -> str:
    """The formula of a rate (a key of FORMULAS) in Chinese or English."""
    return FORMULAS[rate]["en" if str(locale).startswith("en") else "zh"]


def rate_dict(row: RateRow) -> dict:
    """A row as JSON: key, label, period bounds, counts, rates (0–1 or null) and percents."""
    data = {
        "key": row.key,
        "label": row.label,
        "start": row.start.isoformat() if row.start else None,
        "end": row.end.isoformat() if row.end else None,
    }
    data.update({name: getattr(row, name) for name in COUNTS})
    data["handled"] = row.handled
    for rate in RATES:
        data[rate] = getattr(row, rate)
    data["percent"] = {rate: percent(getattr(row, rate)) for rate in RATES}
    return data


# ---------------------------------------------------------------- periods


def week_key(day: date) -> tuple[str, str]:
    """The ISO week of a day: (「2026-W48」, 「2026 年第 48 周」); weeks start on Monday."""
    year, week, _weekday = day.isocalendar()
    return f"{year}-W{week:02d}", f"{year} 年第 {week} 周"


def month_key(day: date) -> tuple[str, str]:
    """The month of a day: (「2026-11」, 「2026 年 11 月」)."""
    return f"{day.year}-{day.month:02d}", f"{day.year} 年 {day.month} 月"


def periods(group: str, start: date, end: date) -> Iterator[tuple[str, str, date, date]]:
    """(key, label, first day, last day) of each period of [start, end], clamped to it."""
    first = start
    while first <= end:
        if group == "day":
            last = first
            key, label = first.isoformat(), first.isoformat()
        elif group == "week":
            last = first + timedelta(days=6 - first.weekday())
            key, label = week_key(first)
        else:
            following = date(first.year + first.month // 12, first.month % 12 + 1, 1)
            last = following - timedelta(days=1)
            key, label = month_key(first)
        last = min(last, end)
        yield key, label, first, last
        first = last + timedelta(days=1)


# ---------------------------------------------------------------- SQL


def count_if(condition) -> sa.ColumnElement:
    """SUM(CASE WHEN condition THEN 1 ELSE 0 END), never NULL."""
    one, zero = sa.literal_column("1"), sa.literal_column("0")
    return sa.func.coalesce(sa.func.sum(sa.case((condition, one), else_=zero)), zero)


# the three aggregates: (field name, expression) pairs; hall.domain.reports rolls the first
# two up per day
RECORDED = [
    *[(outcome, count_if(Case.outcome == outcome)) for outcome in OUTCOMES],
    (
        "immediate_handled",
        count_if(sa.and_(Case.kind == "immediate", Case.outcome.in_(HANDLED))),
    ),
    (
        "immediate_on_the_spot",
        count_if(sa.and_(Case.kind == "immediate", Case.outcome == "on_the_spot")),
    ),
]
COMPLETED = [
    ("promised_completed", sa.func.count()),
    ("promised_on_time", count_if(Case.timing.in_(ON_TIME))),
    ("early", count_if(Case.timing == "early")),
    ("late", count_if(Case.timing == "late")),
]
_OVERDUE = [("open_overdue", sa.func.count())]
# the cases COMPLETED counts, besides their completed_on in the period
COMPLETED_CASES = (Case.outcome == "accepted", Case.status == "completed")

_KEY_COLUMNS = {
    "window": Case.window_id,
    "staff": Case.staff_id,
    "matter": Case.matter_id,
    "department": Matter.department_id,
}


@dataclass(frozen=True)
class Selection:
    """What a report counts: the period, the day that decides what is overdue, the grouping
    and the filters (made by ``selection``)."""

    start: date
    end: date
    today: date
    group: str | None
    filters: tuple  # (cases column, value) pairs: hall, window, matter, staff
    department_id: int | None

    @property
    def join_matter(self) -> bool:
        return self.department_id is not None or self.group == "department"

    def conditions(self, *, by_index: bool) -> list:
        """The filters as conditions; `by_index` False keeps SQLite from driving the query
        by their indexes (``column + 0``), so that it uses the open-due index instead."""
        found = [(column if by_index else column + 0) == value for column, value in self.filters]
        if self.department_id is not None:
            found.append(Matter.department_id == self.department_id)
        return found


def _aggregate(
    session: Session,
    selection: Selection,
    measures: list,
    key_column,
    conditions: list,
    *,
    by_index: bool = True,
) -> list[tuple[object, dict[str, int]]]:
    """One GROUP BY query: [(key or None, {field: count})]; one row without a key column."""
    columns = [expr.label(name) for name, expr in measures]
    if key_column is not None:
        columns.insert(0, key_column.label("group_key"))
    stmt = sa.select(*columns).select_from(Case)
    if selection.join_matter:
        stmt = stmt.join(Matter, Matter.id == Case.matter_id)
    stmt = stmt.where(*selection.conditions(by_index=by_index), *conditions)
    if key_column is not None:
        stmt = stmt.group_by(key_column)
    result = []
    for row in session.execute(stmt):
        values = row._mapping
        key = values["group_key"] if key_column is not None else None
        result.append((key, {name: int(values[name] or 0) for name, _expr in measures}))
    return result


def _queries(
    session: Session, selection: Selection, parts=("recorded", "completed", "overdue")
) -> tuple[list, list, list]:
    """The recorded, completed and open-overdue aggregates, keyed by group (or by day);
    the parts not asked for are empty."""
    group = selection.group
    period = group in PERIOD_GROUPS

    def key(date_column):
        if group is None:
            return None
        return date_column if period else _KEY_COLUMNS[group]

    recorded = completed = overdue = []
    if "recorded" in parts:
        recorded = _aggregate(
            session,
            selection,
            RECORDED,
            key(Case.accepted_on),
            [Case.accepted_on >= selection.start, Case.accepted_on <= selection.end],
        )
    if "completed" in parts:
        completed = _aggregate(
            session,
            selection,
            COMPLETED,
            key(Case.completed_on),
            [
                *COMPLETED_CASES,
                Case.completed_on >= selection.start,
                Case.completed_on <= selection.end,
            ],
        )
    if "overdue" in parts:
        overdue = _aggregate(
            session,
            selection,
            _OVERDUE,
            key(Case.accepted_on),
            [
                Case.outcome == "accepted",
                Case.status.in_(OPEN),
                Case.due_date < selection.today,
                Case.accepted_on <= selection.end,
            ],
            # few cases are open: find them by (status, due_date), not through years of the
            # hall's (or the window's) history, which SQLite would otherwise choose
            by_index=False,
        )
    return recorded, completed, overdue


# ---------------------------------------------------------------- rows


def _period_rows(selection: Selection, counted, overdue) -> list[RateRow]:
    rows = [
        RateRow(key=key, label=label, start=first, end=last)
        for key, label, first, last in periods(selection.group, selection.start, selection.end)
    ]
    firsts = [row.start for row in rows]

    def row_of(day: date) -> RateRow:
        # the last period starting on or before the day (days are within [start, end])
        return rows[bisect_right(firsts, day) - 1]

    for day, counts in counted:
        row_of(day).add(counts)
    # open overdue as of each period's end: recorded on or before it (cumulative)
    by_day = sorted((day, counts["open_overdue"]) for day, counts in overdue)
    running, position = 0, 0
    for row in rows:
        while position < len(by_day) and by_day[position][0] <= row.end:
            running += by_day[position][1]
            position += 1
        row.open_overdue = running
    return rows


def labelled_rows(session: Session, selection: Selection, keys: set) -> dict[object, RateRow]:
    """A row for each database id of the group, with its public key, label and order."""
    group = selection.group
    ids = [key for key in keys if key is not None]
    rows: dict[object, RateRow] = {}
    if group == "window":
        windows = session.scalars(
            sa.select(Window)
            .options(joinedload(Window.hall))
            .where(Window.id.in_(ids))
            .order_by(Window.hall_id, Window.number)
        ).all()
        several_halls = len({window.hall_id for window in windows}) > 1
        for window in windows:
            label = f"{window.number} 号窗口 {window.name}"
            key = window.number
            if several_halls:
                label = f"{window.hall.name} {label}"
                key = f"{window.hall.code}:{window.number}"
            rows[window.id] = RateRow(key=key, label=label, id=window.id)
        if None in keys:
            rows[None] = RateRow(key=None, label=NO_WINDOW)
    elif group == "staff":
        users = session.scalars(
            sa.select(User).where(User.id.in_(ids)).order_by(User.job_number, User.username)
        )
        for user in users:
            label = user.display_name
            if user.job_number:
                label = f"{label}（工号 {user.job_number}）"
            rows[user.id] = RateRow(key=user.username, label=label, id=user.id)
        if None in keys:
            rows[None] = RateRow(key=None, label=NO_STAFF)
    elif group == "matter":
        for matter in session.scalars(
            sa.select(Matter).where(Matter.id.in_(ids)).order_by(Matter.sort_order, Matter.code)
        ):
            rows[matter.id] = RateRow(key=matter.code, label=matter.name, id=matter.id)
    elif group == "department":
        for department in session.scalars(
            sa.select(Department)
            .where(Department.id.in_(ids))
            .order_by(Department.sort_order, Department.code)
        ):
            rows[department.id] = RateRow(
                key=department.code, label=department.name, id=department.id
            )
    return rows


def _group_rows(session: Session, selection: Selection, counted, overdue):
    keys = {key for key, _counts in (*counted, *overdue)}
    rows = labelled_rows(session, selection, keys)
    for key, counts in (*counted, *overdue):
        rows[key].add(counts)
    return list(rows.values())


# ---------------------------------------------------------------- entry points


def hall_today(session: Session, hall_id: int | None = None) -> date:
    """Today in the hall's time zone (Asia/Shanghai when no hall is given)."""
    zone = DEFAULT_TIMEZONE
    if hall_id is not None:
        hall = session.get(Hall, hall_id)
        if hall is not None:
            zone = hall.timezone
    return utcnow().astimezone(ZoneInfo(zone)).date()


def check_range(start: date, end: date) -> None:
    """Refuse a period that ends before it starts or spans more than three years."""
    if start > end:
        raise Invalid(
            "bad_range",
            f"开始日期 {start} 晚于结束日期 {end}",
            f"The start date {start} is after the end date {end}",
        )
    if (end - start).days + 1 > MAX_DAYS:
        raise Invalid(
            "range_too_long",
            "统计期间不能超过 3 年",
            "The period cannot be longer than 3 years",
        )


def selection(
    session: Session,
    *,
    start: date,
    end: date,
    group: str | None = None,
    hall_id: int | None = None,
    window_id: int | None = None,
    department_id: int | None = None,
    matter_id: int | None = None,
    staff_id: int | None = None,
    today: date | None = None,
) -> Selection:
    """What a report counts (see compute), checked: an unknown group or a bad range is
    refused (Invalid) before any query."""
    if group is not None and group not in GROUPS:
        raise Invalid(
            "bad_group",
            f"分组方式 {group} 无效，可选 {'、'.join(GROUPS)}",
            f"Unknown grouping {group}; use one of {', '.join(GROUPS)}",
        )
    check_range(start, end)
    filters = [
        (Case.hall_id, hall_id),
        (Case.window_id, window_id),
        (Case.matter_id, matter_id),
        (Case.staff_id, staff_id),
    ]
    return Selection(
        start=start,
        end=end,
        today=today or hall_today(session, hall_id),
        group=group,
        filters=tuple((column, value) for column, value in filters if value is not None),
        department_id=department_id,
    )


def rows_of(
    session: Session, selection: Selection, counted: list, overdue: list
) -> tuple[list[RateRow], RateRow]:
    """The rows of the selection's grouping and the total, from aggregates: `counted` the
    recorded and completed counts, `overdue` the open overdue ones, each a list of
    (key, {field: count}) — the key a day for period groups, a database id for the others
    (None: no window or staff member), ignored without a group."""
    total = RateRow(key=None, label=TOTAL, start=selection.start, end=selection.end)
    for _key, counts in (*counted, *overdue):
        total.add(counts)
    group = selection.group
    if group is None:
        return [total], total
    if group in PERIOD_GROUPS:
        return _period_rows(selection, counted, overdue), total
    return _group_rows(session, selection, counted, overdue), total


def report(session: Session, **arguments) -> tuple[list[RateRow], RateRow]:
    """The rows of a grouping and the total, from one set of queries (see compute for the
    arguments)."""
    chosen = selection(session, **arguments)
    recorded, completed, overdue = _queries(session, chosen)
    return rows_of(session, chosen, [*recorded, *completed], overdue)


def open_overdue(session: Session, chosen: Selection) -> list[tuple[object, dict[str, int]]]:
    """The open overdue counts of a selection (a count as of its `today`), keyed like
    rows_of expects: by the day recorded for period groups, else by the group's id."""
    return _queries(session, chosen, parts=("overdue",))[2]


def compute(
    session: Session,
    *,
    start: date,
    end: date,
    group: str | None = None,
    hall_id: int | None = None,
    window_id: int | None = None,
    department_id: int | None = None,
    matter_id: int | None = None,
    staff_id: int | None = None,
    today: date | None = None,
) -> list[RateRow]:
    """The rates of the cases selected by the filters in [start, end]: one total row
    (group None) or one row per window, department, matter, staff member, day, week or
    month. `today` (default: the hall's date) decides which open cases are overdue.
    Raises Invalid for an unknown group, start after end or a range over three years."""
    rows, _total_row = report(
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
    return rows
