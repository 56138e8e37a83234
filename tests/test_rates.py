"""Completion rates (hall.domain.rates, GET /api/v1/rates) against hand-computed fixtures.

The cases are inserted with the model (not through the case workflow), on the demo hall.
Today is 2026-12-10 throughout. The fixture, by window (staff1 at window 3, staff2 at 4):

| case | window | matter (kind)        | outcome      | recorded | due   | completed / status  |
|------|--------|----------------------|--------------|----------|-------|---------------------|
| c1   | 3      | GA-004 (immediate)   | on_the_spot  | 11-02    |       | 11-02               |
| c2   | 3      | GA-004 (immediate)   | on_the_spot  | 11-03    |       | 11-03               |
| c3   | 3      | GA-004 (immediate)   | accepted     | 11-03    | 11-04 | 11-04 on_time       |
| c4   | 3      | GA-001 (promised)    | accepted     | 11-05    | 11-12 | 11-10 early         |
| c5   | 3      | GA-001               | accepted     | 11-06    | 11-13 | 11-13 on_time       |
| c6   | 3      | GA-001               | accepted     | 11-09    | 11-16 | 11-20 late          |
| c7   | 3      | GA-001               | accepted     | 11-10    | 11-17 | open: OVERDUE       |
| c8   | 3      | GA-001               | correction   | 11-10    |       | closed              |
| c9   | 3      | GA-001               | consultation | 11-11    |       | closed              |
| c19  | 3      | GA-004 (immediate)   | on_the_spot  | 11-30    |       | 11-30               |
| c10  | 4      | RS-002 (promised)    | on_the_spot  | 11-12    |       | 11-12               |
| c11  | 4      | RS-002               | accepted     | 11-12    | 12-20 | open (not yet due)  |
| c12  | 4      | RS-002               | rejected     | 11-13    |       | closed              |
| c13  | 4      | RS-002               | accepted     | 10-20    | 10-30 | 11-02 late          |
| c14  | 4      | RS-002               | accepted     | 10-15    | 10-22 | paused: OVERDUE     |
| c15  | 4      | RS-002               | accepted     | 11-25    | 12-05 | 12-01 on_time       |
| c16  | 4      | RS-002               | accepted     | 12-01    | 12-03 | open: OVERDUE       |
| c18  | none   | RS-001 (immediate)   | on_the_spot  | 11-20    |       | 11-20               |
| c17  | (another hall)  RS-001      | on_the_spot  | 11-05    |       | 11-05               |

November in the demo hall, by hand:
recorded in November: on the spot c1 c2 c10 c18 c19 = 5; accepted c3 c4 c5 c6 c7 c11 c15 = 7;
correction 1, rejected 1, consultation 1 → 当场办结率 5/12; immediate: c1 c2 c3 c18 c19 = 5
handled, 4 on the spot → 4/5. Completed in November: c3 c4 c5 c6 c13 = 5, on time c3 c4 c5 = 3
(early c4), late c6 c13 → 承诺办结率 3/5; open overdue recorded by 11-30: c7 c14 = 2 → strict
3/7 (the plain rate hides c7 and c14); 提前办结率 1/5.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from hall.auth import add_user, create_token
from hall.domain import rates
from hall.domain.errors import Invalid
from hall.extensions import db
from hall.models import Case, Department, Hall, Matter, User, Window
from tests.conftest import auth

TODAY = date(2026, 12, 10)
NOV = {"start": date(2026, 11, 1), "end": date(2026, 11, 30), "today": TODAY}
_numbers = itertools.count(1)


# the table of the module docstring: window (its staff member), matter, outcome, recorded,
# due, completed, then the timing of a completed case or the status of an open one
CASES = [
    (3, "GA-004", "on_the_spot", "11-02", None, None, None),  # c1
    (3, "GA-004", "on_the_spot", "11-03", None, None, None),  # c2
    (3, "GA-004", "accepted", "11-03", "11-04", "11-04", "on_time"),  # c3
    (3, "GA-001", "accepted", "11-05", "11-12", "11-10", "early"),  # c4
    (3, "GA-001", "accepted", "11-06", "11-13", "11-13", "on_time"),  # c5
    (3, "GA-001", "accepted", "11-09", "11-16", "11-20", "late"),  # c6
    (3, "GA-001", "accepted", "11-10", "11-17", None, "open"),  # c7
    (3, "GA-001", "correction", "11-10", None, None, None),  # c8
    (3, "GA-001", "consultation", "11-11", None, None, None),  # c9
    (3, "GA-004", "on_the_spot", "11-30", None, None, None),  # c19
    (4, "RS-002", "on_the_spot", "11-12", None, None, None),  # c10
    (4, "RS-002", "accepted", "11-12", "12-20", None, "open"),  # c11
    (4, "RS-002", "rejected", "11-13", None, None, None),  # c12
    (4, "RS-002", "accepted", "10-20", "10-30", "11-02", "late"),  # c13
    (4, "RS-002", "accepted", "10-15", "10-22", None, "paused"),  # c14
    (4, "RS-002", "accepted", "11-25", "12-05", "12-01", "on_time"),  # c15
    (4, "RS-002", "accepted", "12-01", "12-03", None, "open"),  # c16
    (None, "RS-001", "on_the_spot", "11-20", None, None, None),  # c18
]


def d(text: str) -> date:
    return date.fromisoformat(f"2026-{text}")


def ids(session, model, column, value) -> int:
    return session.scalar(sa.select(model.id).where(column == value))


def add_case(session, hall, matter, window, staff, outcome, recorded, **extra) -> Case:
    """Insert one case as the counter would have left it."""
    number = next(_numbers)
    status = {"on_the_spot": "completed", "accepted": "open"}.get(outcome, "closed")
    fields = {
        "hall_id": hall.id,
        "matter_id": matter.id,
        "window_id": window.id if window else None,
        "staff_id": staff.id if staff else None,
        "outcome": outcome,
        "status": status,
        "kind": matter.kind,
        "number": None if outcome == "consultation" else f"T-{number:05d}",
        "verify_token": f"token-{number}-{hall.code}",
        "accepted_at": datetime.combine(recorded, datetime.min.time(), tzinfo=UTC),
        "accepted_on": recorded,
    }
    if outcome == "on_the_spot":
        fields.update(completed_on=recorded, completed_at=fields["accepted_at"])
    fields.update(extra)
    case = Case(**fields)
    session.add(case)
    return case


@pytest.fixture
def cases(app, demo):
    """The fixture of the module docstring; returns a dict of the ids tests filter by.

    Built in an app context of its own: the API tests' requests must not share one."""
    with app.app_context():
        return _insert_cases(db.session)


def _insert_cases(session) -> dict:
    hall = session.scalar(sa.select(Hall).where(Hall.code == "demo"))
    east = Hall(code="east", name="东区便民服务中心")
    session.add(east)
    m = {m.code: m for m in session.scalars(sa.select(Matter).where(Matter.code.like("%-00%")))}
    w = {w.number: w for w in session.scalars(sa.select(Window).where(Window.hall_id == hall.id))}
    u = {u.username: u for u in session.scalars(sa.select(User))}
    assert m["GA-004"].kind == m["RS-001"].kind == "immediate"
    assert m["GA-001"].kind == m["RS-002"].kind == "promised"

    staff_at = {3: u["staff1"], 4: u["staff2"], None: None}
    for window, matter, outcome, recorded, due, completed, state in CASES:
        extra = {"due_date": d(due) if due else None}
        if completed:
            extra.update(status="completed", completed_on=d(completed), timing=state)
        elif state:
            extra["status"] = state
        add_case(
            session, hall, m[matter], w.get(window), staff_at[window], outcome, d(recorded), **extra
        )
    session.flush()
    add_case(session, east, m["RS-001"], None, None, "on_the_spot", d("11-05"))  # c17
    session.flush()
    known = {
        "hall": hall.id,
        "east": east.id,
        "window3": w[3].id,
        "staff1": u["staff1"].id,
        "gaj": ids(session, Department, Department.code, "gaj"),
        "GA-001": m["GA-001"].id,
    }
    session.commit()
    return known


def numbers(row: rates.RateRow) -> tuple:
    """(on the spot, accepted, correction, rejected, consultation | immediate handled, on the
    spot | completed, on time, early, late, open overdue)"""
    return (
        (row.on_the_spot, row.accepted, row.correction, row.rejected, row.consultation),
        (row.immediate_handled, row.immediate_on_the_spot),
        (row.promised_completed, row.promised_on_time, row.early, row.late, row.open_overdue),
    )


def shown(row: rates.RateRow) -> tuple:
    """The five rates as shown: 当场, 即办件, 承诺, 严格, 提前."""
    return tuple(rates.percent(getattr(row, rate)) for rate in rates.RATES)


# ---------------------------------------------------------------- without a database


def test_percent_formulas_and_refused_arguments():
    assert rates.percent(0.875) == "87.5%" and rates.percent(3 / 7) == "42.9%"
    assert rates.percent(1.0) == "100.0%" and rates.percent(0.0) == "0.0%"
    assert rates.percent(0.0005) == "0.1%" and rates.percent(2 / 3) == "66.7%"
    assert rates.percent(None) == "—"
    empty = rates.RateRow(key=None, label="合计")
    assert [getattr(empty, rate) for rate in rates.RATES] == [None] * 5
    assert shown(empty) == ("—",) * 5
    row = rates.RateRow(key=3, label="3 号窗口", on_the_spot=7, accepted=1, promised_completed=4)
    row.promised_on_time, row.early, row.open_overdue = 3, 1, 2
    assert row.handled == 8 and row.on_the_spot_rate == 7 / 8 and row.strict_rate == 0.5
    data = rates.rate_dict(row)
    assert data["handled"] == 8 and data["on_the_spot_rate"] == 0.875
    assert data["percent"] == {
        "on_the_spot_rate": "87.5%",
        "immediate_rate": "—",
        "promised_rate": "75.0%",
        "strict_rate": "50.0%",
        "early_rate": "25.0%",
    }
    assert data["immediate_rate"] is None and data["start"] is None
    # every rate has its formula in both languages, with the required wording
    assert set(rates.FORMULAS) == set(rates.RATES)
    for rate, text in rates.FORMULAS.items():
        assert text["zh"].startswith(text["name"]) and text["en"] and text["name_en"]
        assert rates.formula(rate, "en") == text["en"] and rates.formula(rate) == text["zh"]
    assert (
        "÷（当场办结件数 + 受理的承诺件、联办件、上报件数）"
        in rates.FORMULAS["on_the_spot_rate"]["zh"]
    )
    assert "（已办结的承诺件数 + 逾期未办结件数）" in rates.FORMULAS["strict_rate"]["zh"]
    assert rates.week_key(d("11-30")) == ("2026-W49", "2026 年第 49 周")
    assert rates.month_key(d("11-30")) == ("2026-11", "2026 年 11 月")
    for bad, code in [
        ({"group": "year"}, "bad_group"),
        ({"start": d("11-02"), "end": d("11-01")}, "bad_range"),
        ({"start": date(2024, 1, 1), "end": date(2027, 1, 1)}, "range_too_long"),
    ]:
        arguments = {**NOV, **bad}
        with pytest.raises(Invalid) as refused:
            rates.compute(None, **arguments)  # refused before any query
        assert refused.value.code == code and refused.value.zh and refused.value.en


# ---------------------------------------------------------------- SQL (SQLite, PostgreSQL)


def test_total_periods_and_filters(session, cases):
    total = rates.compute(session, hall_id=cases["hall"], **NOV)
    assert len(total) == 1 and total[0].label == "合计"
    row = total[0]
    assert numbers(row) == ((5, 7, 1, 1, 1), (5, 4), (5, 3, 1, 2, 2))
    assert row.handled == 12 and row.on_the_spot_rate == 5 / 12
    assert row.immediate_rate == 0.8
    # the open overdue c7 and c14: hidden by the plain rate, shown by the strict one
    assert row.promised_rate == 0.6 and row.strict_rate == 3 / 7 and row.early_rate == 0.2
    assert shown(row) == ("41.7%", "80.0%", "60.0%", "42.9%", "20.0%")
    assert (row.start, row.end) == (NOV["start"], NOV["end"])

    # recorded counts by accepted_on, completions by completed_on: c13 (recorded in October,
    # completed 11-02) counts in November's completions only; c15 (recorded 11-25, completed
    # 12-01) in November's accepted and December's completions
    october = rates.compute(
        session, hall_id=cases["hall"], start=d("10-01"), end=d("10-31"), today=TODAY
    )[0]
    assert numbers(october) == ((0, 2, 0, 0, 0), (0, 0), (0, 0, 0, 0, 1))
    assert october.strict_rate == 0.0 and october.promised_rate is None
    december = rates.compute(
        session, hall_id=cases["hall"], start=d("12-01"), end=d("12-31"), today=TODAY
    )[0]
    assert numbers(december) == ((0, 1, 0, 0, 0), (0, 0), (1, 1, 0, 0, 3))
    # overdue is as of today: before c7's due date (11-17) only c14 is overdue
    earlier = rates.compute(session, hall_id=cases["hall"], **{**NOV, "today": d("11-17")})[0]
    assert earlier.open_overdue == 1 and earlier.strict_rate == 0.5

    # the hall filter: the other hall's case alone; no hall: both halls
    east = rates.compute(session, hall_id=cases["east"], **NOV)[0]
    assert numbers(east) == ((1, 0, 0, 0, 0), (1, 1), (0, 0, 0, 0, 0))
    assert rates.compute(session, **NOV)[0].on_the_spot == 6

    # each filter gives what its group row gives
    window = rates.compute(session, hall_id=cases["hall"], window_id=cases["window3"], **NOV)[0]
    staff = rates.compute(session, hall_id=cases["hall"], staff_id=cases["staff1"], **NOV)[0]
    department = rates.compute(session, hall_id=cases["hall"], department_id=cases["gaj"], **NOV)
    assert numbers(window) == numbers(staff) == numbers(department[0])
    assert numbers(window) == ((3, 5, 1, 0, 1), (4, 3), (4, 3, 1, 1, 1))
    matter = rates.compute(
        session, hall_id=cases["hall"], matter_id=cases["GA-001"], department_id=cases["gaj"], **NOV
    )[0]
    assert numbers(matter) == ((0, 4, 1, 0, 1), (0, 0), (3, 2, 1, 1, 1))
    assert shown(matter) == ("0.0%", "—", "66.7%", "50.0%", "33.3%")


def test_group_by_window_and_staff(session, cases):
    by_window = rates.compute(session, group="window", hall_id=cases["hall"], **NOV)
    assert [(r.key, r.label) for r in by_window] == [
        (3, "3 号窗口 户籍业务"),
        (4, "4 号窗口 社保医保"),
        (None, "未记录窗口"),
    ]
    three, four, nowhere = by_window
    assert numbers(three) == ((3, 5, 1, 0, 1), (4, 3), (4, 3, 1, 1, 1))
    assert shown(three) == ("37.5%", "75.0%", "75.0%", "60.0%", "25.0%")
    assert numbers(four) == ((1, 2, 0, 1, 0), (0, 0), (1, 0, 0, 1, 1))
    assert shown(four) == ("33.3%", "—", "0.0%", "0.0%", "0.0%")
    assert numbers(nowhere) == ((1, 0, 0, 0, 0), (1, 1), (0, 0, 0, 0, 0))
    assert shown(nowhere) == ("100.0%", "100.0%", "—", "—", "—")
    # every count adds up to the total, the open overdue ones included
    total = rates.compute(session, hall_id=cases["hall"], **NOV)[0]
    for name in rates.COUNTS:
        assert sum(getattr(r, name) for r in by_window) == getattr(total, name), name

    by_staff = rates.compute(session, group="staff", hall_id=cases["hall"], **NOV)
    assert [(r.key, r.label) for r in by_staff] == [
        ("staff1", "李晓梅（工号 1001）"),
        ("staff2", "张伟（工号 1002）"),
        (None, "未记录工作人员"),
    ]
    assert [numbers(r) for r in by_staff] == [numbers(r) for r in by_window]
    # a window with no case in the period has no row; one whose only case is overdue has
    october = rates.compute(
        session,
        group="window",
        hall_id=cases["hall"],
        start=d("10-15"),
        end=d("10-15"),
        today=TODAY,
    )
    assert [(r.key, r.open_overdue, r.strict_rate) for r in october] == [(4, 1, 0.0)]


def test_group_by_matter_and_department(session, cases):
    by_matter = {
        r.key: r for r in rates.compute(session, group="matter", hall_id=cases["hall"], **NOV)
    }
    assert set(by_matter) == {"GA-001", "GA-004", "RS-001", "RS-002"}
    assert numbers(by_matter["GA-004"]) == ((3, 1, 0, 0, 0), (4, 3), (1, 1, 0, 0, 0))
    assert numbers(by_matter["GA-001"]) == ((0, 4, 1, 0, 1), (0, 0), (3, 2, 1, 1, 1))
    assert numbers(by_matter["RS-002"]) == ((1, 2, 0, 1, 0), (0, 0), (1, 0, 0, 1, 1))
    assert numbers(by_matter["RS-001"]) == ((1, 0, 0, 0, 0), (1, 1), (0, 0, 0, 0, 0))
    assert shown(by_matter["GA-004"]) == ("75.0%", "75.0%", "100.0%", "100.0%", "0.0%")
    labels = dict(session.execute(sa.select(Matter.code, Matter.name)).all())
    assert all(row.label == labels[code] for code, row in by_matter.items())

    by_department = rates.compute(session, group="department", hall_id=cases["hall"], **NOV)
    assert [(r.key, r.label) for r in by_department] == [
        ("gaj", "区公安分局（户籍）"),
        ("rsj", "区人力资源和社会保障局"),
    ]
    gaj, rsj = by_department
    assert numbers(gaj) == ((3, 5, 1, 0, 1), (4, 3), (4, 3, 1, 1, 1))
    assert numbers(rsj) == ((2, 2, 0, 1, 0), (1, 1), (1, 0, 0, 1, 1))
    assert shown(rsj) == ("50.0%", "100.0%", "0.0%", "0.0%", "0.0%")
    # grouped by matter within one department
    only = rates.compute(
        session, group="matter", hall_id=cases["hall"], department_id=cases["gaj"], **NOV
    )
    assert {r.key for r in only} == {"GA-001", "GA-004"}


def test_group_by_day(session, cases):
    days = rates.compute(session, group="day", hall_id=cases["hall"], **NOV)
    assert len(days) == 30 and days[0].key == days[0].label == "2026-11-01"
    assert all(r.start == r.end == date.fromisoformat(r.key) for r in days)
    by_day = {r.key: r for r in days}
    assert numbers(by_day["2026-11-01"]) == ((0, 0, 0, 0, 0), (0, 0), (0, 0, 0, 0, 1))
    assert numbers(by_day["2026-11-02"]) == ((1, 0, 0, 0, 0), (1, 1), (1, 0, 0, 1, 1))
    assert numbers(by_day["2026-11-10"]) == ((0, 1, 1, 0, 0), (0, 0), (1, 1, 1, 0, 2))
    assert numbers(by_day["2026-11-13"]) == ((0, 0, 0, 1, 0), (0, 0), (1, 1, 0, 0, 2))
    # open overdue as of each day's end: c14 from the start, c7 from the day it was recorded
    assert [by_day[k].open_overdue for k in ("2026-11-09", "2026-11-10", "2026-11-30")] == [1, 2, 2]
    total = rates.compute(session, hall_id=cases["hall"], **NOV)[0]
    assert days[-1].open_overdue == total.open_overdue
    for name in rates.COUNTS:
        if name != "open_overdue":
            assert sum(getattr(r, name) for r in days) == getattr(total, name), name


def test_group_by_week_across_two_months(session, cases):
    weeks = rates.compute(
        session, group="week", hall_id=cases["hall"], start=d("11-23"), end=d("12-06"), today=TODAY
    )
    assert [(r.key, r.label, r.start, r.end) for r in weeks] == [
        ("2026-W48", "2026 年第 48 周", d("11-23"), d("11-29")),
        ("2026-W49", "2026 年第 49 周", d("11-30"), d("12-06")),
    ]
    w48, w49 = weeks
    assert numbers(w48) == ((0, 1, 0, 0, 0), (0, 0), (0, 0, 0, 0, 2))
    assert shown(w48) == ("0.0%", "—", "—", "0.0%", "—")
    # c19 recorded Monday 11-30, c16 recorded and c15 completed Tuesday 12-01: one week
    assert numbers(w49) == ((1, 1, 0, 0, 0), (1, 1), (1, 1, 0, 0, 3))
    assert shown(w49) == ("50.0%", "100.0%", "100.0%", "25.0%", "0.0%")
    # weeks are clamped to the range: November starts on a Sunday and ends on a Monday
    november = rates.compute(session, group="week", hall_id=cases["hall"], **NOV)
    assert [r.key for r in november] == [f"2026-W{n}" for n in range(44, 50)]
    assert (november[0].start, november[0].end) == (d("11-01"), d("11-01"))
    assert (november[-1].start, november[-1].end) == (d("11-30"), d("11-30"))
    assert sum(r.handled for r in november) == 12


def test_group_by_month(session, cases):
    months = rates.compute(
        session, group="month", hall_id=cases["hall"], start=d("10-01"), end=d("12-31"), today=TODAY
    )
    assert [(r.key, r.label, r.start, r.end) for r in months] == [
        ("2026-10", "2026 年 10 月", d("10-01"), d("10-31")),
        ("2026-11", "2026 年 11 月", d("11-01"), d("11-30")),
        ("2026-12", "2026 年 12 月", d("12-01"), d("12-31")),
    ]
    october, november, december = months
    assert numbers(october) == ((0, 2, 0, 0, 0), (0, 0), (0, 0, 0, 0, 1))
    assert numbers(november) == ((5, 7, 1, 1, 1), (5, 4), (5, 3, 1, 2, 2))
    assert numbers(december) == ((0, 1, 0, 0, 0), (0, 0), (1, 1, 0, 0, 3))
    rows, total = rates.report(
        session, group="month", hall_id=cases["hall"], start=d("10-01"), end=d("12-31"), today=TODAY
    )
    assert [numbers(r) for r in rows] == [numbers(r) for r in months]
    assert numbers(total) == ((5, 10, 1, 1, 1), (5, 4), (6, 4, 1, 2, 3))
    assert shown(total) == ("33.3%", "80.0%", "66.7%", "44.4%", "16.7%")


def test_zero_denominators_and_empty_groups(session, cases):
    june = {"start": date(2026, 6, 1), "end": date(2026, 6, 30), "today": TODAY}
    row = rates.compute(session, hall_id=cases["hall"], **june)[0]
    assert numbers(row) == ((0, 0, 0, 0, 0), (0, 0), (0, 0, 0, 0, 0))
    assert shown(row) == ("—",) * 5 and rates.rate_dict(row)["promised_rate"] is None
    assert rates.compute(session, group="window", hall_id=cases["hall"], **june) == []
    assert len(rates.compute(session, group="month", hall_id=cases["hall"], **june)) == 1
    # only corrections, rejections and consultations: no denominator at all
    nov10 = rates.compute(
        session,
        hall_id=cases["hall"],
        window_id=cases["window3"],
        start=d("11-11"),
        end=d("11-11"),
        today=d("11-12"),
    )[0]
    assert numbers(nov10) == ((0, 0, 0, 0, 1), (0, 0), (0, 0, 0, 0, 0))
    assert shown(nov10) == ("—",) * 5


# ---------------------------------------------------------------- the API


@pytest.fixture
def today_is(monkeypatch):
    """The hall's today is 2026-12-10 (10:00 in Shanghai)."""
    monkeypatch.setattr(rates, "utcnow", lambda: datetime(2026, 12, 10, 2, tzinfo=UTC))


def token_of(app, username: str) -> str:
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        value = create_token(db.session, user=user)
        db.session.commit()
        return value


def get(client, token=None, **params):
    headers = auth(token) if token else {}
    return client.get("/api/v1/rates", query_string=params, headers=headers)


def test_api_rates_by_window_and_defaults(app, client, cases, today_is):
    token = token_of(app, "staff1")
    answer = get(client, token, group="window", **{"from": "2026-11-01", "to": "2026-11-30"})
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert (body["hall"], body["from"], body["to"], body["group"]) == (
        "demo",
        "2026-11-01",
        "2026-11-30",
        "window",
    )
    assert body["today"] == "2026-12-10" and body["filters"] == {}
    assert [r["key"] for r in body["rows"]] == [3, 4, None]
    three = body["rows"][0]
    assert three["label"] == "3 号窗口 户籍业务" and three["handled"] == 8
    assert three["on_the_spot_rate"] == 0.375 and three["percent"]["strict_rate"] == "60.0%"
    total = body["total"]
    assert (total["promised_completed"], total["promised_on_time"], total["open_overdue"]) == (
        5,
        3,
        2,
    )
    assert total["percent"] == {
        "on_the_spot_rate": "41.7%",
        "immediate_rate": "80.0%",
        "promised_rate": "60.0%",
        "strict_rate": "42.9%",
        "early_rate": "20.0%",
    }
    assert body["formulas"]["strict_rate"]["zh"] == rates.FORMULAS["strict_rate"]["zh"]
    assert body["notes"]["zh"] and body["notes"]["en"]

    # no parameters: today in the hall, one total row; from alone: up to today
    today = get(client, token).json
    assert (today["from"], today["to"], today["group"]) == ("2026-12-10", "2026-12-10", None)
    assert len(today["rows"]) == 1 and today["rows"][0] == today["total"]
    assert (
        today["total"]["open_overdue"] == 3 and today["total"]["percent"]["strict_rate"] == "0.0%"
    )
    since = get(client, token, **{"from": "2026-12-01"}).json
    assert (since["from"], since["to"], since["total"]["accepted"]) == (
        "2026-12-01",
        "2026-12-10",
        1,
    )

    # a browser signed in with its cookie session (GET needs no CSRF token)
    with app.app_context():
        manager = db.session.scalar(sa.select(User.id).where(User.username == "manager"))
    with client.session_transaction() as cookie:
        cookie["_user_id"] = str(manager)
        cookie["_fresh"] = True
    months = get(client, group="month", **{"from": "2026-10-01", "to": "2026-12-31"}).json
    assert [(r["key"], r["open_overdue"]) for r in months["rows"]] == [
        ("2026-10", 1),
        ("2026-11", 2),
        ("2026-12", 3),
    ]


def test_api_filters(app, client, cases, today_is):
    token = token_of(app, "manager")
    nov = {"from": "2026-11-01", "to": "2026-11-30"}
    window = get(client, token, window="3", **nov).json
    assert window["filters"] == {"window": 3} and window["total"]["handled"] == 8
    matter = get(client, token, group="staff", department="gaj", matter="GA-001", **nov).json
    assert matter["filters"] == {"department": "gaj", "matter": "GA-001"}
    assert [(r["key"], r["accepted"], r["open_overdue"]) for r in matter["rows"]] == [
        ("staff1", 4, 1)
    ]
    staff = get(client, token, staff="staff2", group="matter", hall="demo", **nov).json
    assert [r["key"] for r in staff["rows"]] == ["RS-002"] and staff["filters"] == {
        "staff": "staff2"
    }
    weeks = get(client, token, group="week", **{"from": "2026-11-23", "to": "2026-12-06"}).json
    assert [r["label"] for r in weeks["rows"]] == ["2026 年第 48 周", "2026 年第 49 周"]
    assert weeks["rows"][1]["start"] == "2026-11-30" and weeks["rows"][1]["end"] == "2026-12-06"


def test_api_refusals_are_json(app, client, cases, today_is):
    staff = token_of(app, "staff1")
    nov = {"from": "2026-11-01", "to": "2026-11-30"}
    refused = {
        ("bad_date", 400): [{"from": "2026-13-01"}, {"to": "20261130"}, {"from": "yesterday"}],
        ("bad_range", 400): [{"from": "2026-11-30", "to": "2026-11-01"}, {"from": "2026-12-11"}],
        ("range_too_long", 400): [{"from": "2023-11-01", "to": "2026-11-30"}],
        ("bad_group", 400): [{"group": "year"}, {"group": "Window"}],
        ("bad_parameter", 400): [{"window": "abc"}, {"window": "0"}, {"matter": "x" * 65}],
        ("window_not_found", 404): [{"window": "99"}],
        ("department_not_found", 404): [{"department": "nope"}],
        ("matter_not_found", 404): [{"matter": "NOPE-1"}],
        ("staff_not_found", 404): [{"staff": "nobody"}],
        ("hall_not_found", 404): [{"hall": "nowhere"}],
        ("other_hall", 403): [{"hall": "east"}],
    }
    for (code, status), examples in refused.items():
        for params in examples:
            # the given dates replace November's; a lone from runs up to today
            answer = get(client, staff, **(params if "from" in params else {**nov, **params}))
            assert answer.status_code == status, (params, answer.json)
            assert answer.json["error"] == code, params
            assert answer.json["message"] and answer.json["message_en"]
    assert get(client).status_code == 401 and get(client).json["error"] == "login_required"
    with app.app_context():
        kiosk = create_token(
            db.session, device_kind="kiosk", hall=db.session.get(Hall, cases["hall"])
        )
        # an account bound to no hall must name one when there are several
        roaming = add_user(db.session, "roaming", "secret-password", role="manager")
        roaming_token = create_token(db.session, user=roaming)
        db.session.commit()
    assert get(client, kiosk).status_code == 403 and get(client, kiosk).json["error"] == "forbidden"
    assert get(client, roaming_token).json["error"] == "hall_required"
    east = get(client, roaming_token, hall="east", **nov)
    assert east.status_code == 200 and east.json["total"]["on_the_spot"] == 1
