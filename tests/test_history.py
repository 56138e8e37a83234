"""The history generator (hall/history.py): open days only, busy Mondays, consistent tickets,
cases and counters, deterministic for a seed, refusing to write over existing days."""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import date, timedelta

import pytest
import sqlalchemy as sa

from hall import history
from hall.domain.errors import Conflict, Invalid
from hall.domain.workdays import Calendar
from hall.extensions import db
from hall.models import (
    Case,
    CaseCounter,
    Hall,
    NumberCounter,
    Queue,
    Ticket,
    User,
    Window,
    WindowQueue,
)
from tests.conftest import dispose, load_demo, make_app

# Sun 2026-02-08 … Tue 2026-02-17: Mon 9 – Fri 13 open, Sat 14 a make-up working day (调休上班),
# Sun 15 – Tue 17 the Spring Festival holiday
FIRST, END = date(2026, 2, 8), date(2026, 2, 17)
OPEN = [date(2026, 2, d) for d in (9, 10, 11, 12, 13, 14)]
CLOSED = [date(2026, 2, d) for d in (8, 15, 16, 17)]


def _demo_hall(application):
    load_demo(application)
    return db.session.scalar(sa.select(Hall).where(Hall.code == "demo"))


def _generate(url: str, **options) -> dict:
    """Load the demo into a fresh app on `url` and generate; returns the summary."""
    application = make_app(url)
    try:
        with application.app_context():
            hall = _demo_hall(application)
            return history.generate(db.session, hall, **options)
    finally:
        dispose(application)


def _snapshot(url: str) -> tuple[list, list]:
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        tickets = conn.execute(
            sa.select(
                Ticket.service_day,
                Ticket.label,
                Ticket.window_id,
                Ticket.issued_at,
                Ticket.called_at,
                Ticket.finished_at,
                Ticket.status,
            ).order_by(Ticket.id)
        ).all()
        cases = conn.execute(
            sa.select(
                Case.number, Case.outcome, Case.matter_id, Case.due_date, Case.completed_on
            ).order_by(Case.id)
        ).all()
    engine.dispose()
    return tickets, cases


@pytest.fixture(scope="module")
def small_db(tmp_path_factory, sqlite_template):
    """Ten days (a week, a make-up Saturday, the Spring Festival) of 3 windows on SQLite,
    generated once for the module."""
    path = tmp_path_factory.mktemp("history") / "hall.sqlite3"
    shutil.copy(sqlite_template, path)
    application = make_app(f"sqlite:///{path}")
    with application.app_context():
        hall = _demo_hall(application)
        summary = history.generate(db.session, hall, days=10, end=END, windows=3, seed=7)
        hall_id = hall.id
    yield application, hall_id, summary
    dispose(application)


@pytest.fixture
def small(small_db):
    """The module's generated hall, inside an app context."""
    application = small_db[0]
    with application.app_context():
        yield small_db
        db.session.rollback()


def test_open_days_only_and_busy_mondays(small):
    _app, hall_id, summary = small
    per_day = dict(
        db.session.execute(
            sa.select(Ticket.service_day, sa.func.count())
            .where(Ticket.hall_id == hall_id, Ticket.service_day.between(FIRST, END))
            .group_by(Ticket.service_day)
        ).all()
    )
    assert sorted(per_day) == OPEN  # the make-up Saturday is open; Sundays, holidays closed
    assert not set(per_day) & set(CLOSED)
    assert summary["open_days"] == 6 and summary["days"] == 10
    assert summary["start"] == FIRST and summary["end"] == END
    assert summary["tickets"] == sum(per_day.values())
    assert per_day[date(2026, 2, 9)] > per_day[date(2026, 2, 13)]  # Monday > Friday
    assert 300 < sum(per_day.values()) / 6 < 600  # ~150 a window and day
    # the morning is busier than the afternoon (hall-local hours)
    issued = db.session.scalars(sa.select(Ticket.issued_at).where(Ticket.service_day <= END))
    hours = Counter((t + timedelta(hours=8)).hour for t in issued)
    assert hours[9] + hours[10] > hours[14] + hours[15]


def test_tickets_consistent(small):
    _app, hall_id, summary = small
    tickets = db.session.scalars(
        sa.select(Ticket).where(Ticket.hall_id == hall_id, Ticket.service_day <= END)
    ).all()
    statuses = Counter(t.status for t in tickets)
    assert set(statuses) == {"finished", "no_show"}
    assert 0.01 < statuses["no_show"] / len(tickets) < 0.12
    assert summary["no_show"] == statuses["no_show"]
    windows = {t.window_id for t in tickets}
    assert len(windows) == 3
    staff = {(t.window_id, t.staff_id) for t in tickets}
    assert len(staff) == 3 and len({s for _w, s in staff}) == 3  # one staff member a window
    waits = []
    for t in tickets:
        assert t.called_at >= t.issued_at and t.sort_at == t.issued_at
        assert t.window_id is not None and t.staff_id is not None
        local_day = (t.issued_at + timedelta(hours=8)).date()
        assert local_day == t.service_day
        if t.status == "finished":
            assert t.started_at >= t.called_at and t.finished_at >= t.started_at
            assert t.call_count == 1
        else:
            assert t.started_at is None and t.finished_at is None and t.call_count == 2
        waits.append((t.called_at - t.issued_at).total_seconds() / 60)
    assert min(waits) < 5 and max(waits) > 30
    # numbers: 1…n per queue and day, labels match, counters hold the last one
    by_queue: dict[tuple, list[int]] = {}
    for t in tickets:
        by_queue.setdefault((t.issue_queue_id, t.service_day), []).append(t.number)
        assert t.queue_id == t.issue_queue_id and t.label.endswith(f"{t.number:03d}")
    counters = {
        (c.queue_id, c.service_day): c.last
        for c in db.session.scalars(
            sa.select(NumberCounter)
            .join(Queue)
            .where(Queue.hall_id == hall_id, NumberCounter.service_day <= END)
        )
    }
    assert set(counters) == set(by_queue)
    for key, numbers in by_queue.items():
        assert sorted(numbers) == list(range(1, len(numbers) + 1))
        assert counters[key] == len(numbers)
    # tickets issued in number order within a queue
    ordered = sorted(tickets, key=lambda t: (t.issue_queue_id, t.service_day, t.number))
    for a, b in zip(ordered, ordered[1:], strict=False):
        if (a.issue_queue_id, a.service_day) == (b.issue_queue_id, b.service_day):
            assert a.issued_at <= b.issued_at


def test_cases_consistent(small):
    _app, hall_id, summary = small
    cases = db.session.scalars(
        sa.select(Case).where(Case.hall_id == hall_id, Case.accepted_on <= END)
    ).all()
    tickets = {
        t.id: t for t in db.session.scalars(sa.select(Ticket).where(Ticket.service_day <= END))
    }
    outcomes = Counter(c.outcome for c in cases)
    assert set(outcomes) == {"on_the_spot", "accepted", "correction", "rejected", "consultation"}
    assert 0.45 < outcomes["on_the_spot"] / len(cases) < 0.75
    assert 0.15 < outcomes["accepted"] / len(cases) < 0.35
    assert summary["outcomes"] == {k: outcomes[k] for k in summary["outcomes"]}
    per_ticket = Counter(c.ticket_id for c in cases)
    assert max(per_ticket.values()) == 2  # some tickets handled two matters
    finished = {t.id for t in tickets.values() if t.status == "finished"}
    assert set(per_ticket) == finished  # every finished ticket, and only those
    calendar = Calendar(db.session, hall_id)
    today = date.today()
    timings = Counter()
    for case in cases:
        ticket = tickets[case.ticket_id]
        assert case.window_id == ticket.window_id and case.staff_id == ticket.staff_id
        assert case.accepted_at == ticket.finished_at and case.accepted_on == ticket.service_day
        if case.outcome == "consultation":
            assert case.number is None and case.status == "closed"
        else:
            assert case.number.startswith(f"DEMO-{case.accepted_on:%Y%m%d}-")
        if case.outcome == "on_the_spot":
            assert case.status == "completed" and case.completed_on == case.accepted_on
        if case.outcome == "correction":
            assert case.missing_materials and case.status == "closed"
        if case.outcome == "rejected":
            assert case.reason and case.status == "closed"
        if case.outcome != "accepted":
            assert case.due_date is None
            continue
        assert case.due_date == calendar.due_date(
            case.accepted_on, case.limit_days, case.limit_unit
        )
        if case.status == "completed":
            assert calendar.is_working_day(case.completed_on)
            assert case.completed_at >= case.accepted_at and case.completed_on < today
            expected = (
                "early"
                if case.completed_on < case.due_date
                else "on_time"
                if case.completed_on == case.due_date
                else "late"
            )
            assert case.timing == expected
            timings[case.timing] += 1
        else:
            assert case.status == "open" and case.timing is None
    assert timings["early"] > timings["late"] > 0 and timings["on_time"] > 0
    # case numbers: unique, 1…n per day in the order recorded, the day counters hold n
    numbered = [c for c in cases if c.number]
    assert len({c.number for c in numbered}) == len(numbered)
    counters = dict(
        db.session.execute(
            sa.select(CaseCounter.day, CaseCounter.last).where(
                CaseCounter.hall_id == hall_id, CaseCounter.day <= END
            )
        ).all()
    )
    for day, last in counters.items():
        serials = sorted(
            (c.accepted_at, int(c.number.rsplit("-", 1)[1]))
            for c in numbered
            if c.accepted_on == day
        )
        assert [s for _at, s in serials] == list(range(1, last + 1))
    assert sorted(counters) == OPEN


def test_deterministic_for_a_seed(tmp_path, sqlite_template):
    urls = []
    for name in ("a", "b", "c"):
        path = tmp_path / f"{name}.sqlite3"
        shutil.copy(sqlite_template, path)
        urls.append(f"sqlite:///{path}")
    options = {"days": 4, "end": date(2026, 3, 13), "windows": 2}
    _generate(urls[0], seed=3, **options)
    _generate(urls[1], seed=3, **options)
    _generate(urls[2], seed=4, **options)
    first, second, other = (_snapshot(url) for url in urls)
    assert first == second and first[0]
    assert first[0] != other[0]


def test_refuses_days_that_have_tickets(small):
    _app, hall_id, summary = small
    hall = db.session.get(Hall, hall_id)
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Ticket))
    with pytest.raises(Conflict) as err:
        history.generate(db.session, hall, days=3, end=date(2026, 2, 14), windows=3)
    assert err.value.code == "history_exists"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == count
    # the days after are free
    more = history.generate(db.session, hall, days=7, end=END + timedelta(days=7), windows=3)
    assert more["open_days"] == 1 and more["tickets"] > 0  # Tue 2026-02-24
    with pytest.raises(Invalid):
        history.generate(db.session, hall, days=1, end=date.today() + timedelta(days=1))


def test_more_windows_on_both_databases(app):
    """On SQLite and PostgreSQL: extra windows and staff are created, ids do not clash with
    live tickets, a live ticket after the history gets its own number and id."""
    from hall.domain import tickets as ticket_domain

    with app.app_context():
        hall = _demo_hall(app)
        summary = history.generate(
            db.session, hall, days=3, end=date(2026, 3, 11), windows=10, seed=1
        )
        assert summary["windows"] == 10 and summary["windows_created"] == 2
        assert summary["staff_created"] == 4  # the demo has six staff accounts
        numbers = db.session.scalars(
            sa.select(Window.number).where(Window.hall_id == hall.id).order_by(Window.number)
        ).all()
        assert numbers == list(range(1, 11))
        window_10 = db.session.scalar(
            sa.select(Window).where(Window.hall_id == hall.id, Window.number == 10)
        )
        links = db.session.scalar(
            sa.select(sa.func.count()).where(WindowQueue.window_id == window_10.id)
        )
        assert links == 7
        assert db.session.scalar(sa.select(User).where(User.username == "staff10")) is not None
        used = db.session.scalar(sa.select(sa.func.count(sa.distinct(Ticket.window_id))))
        assert used == 10
        assert summary["tickets"] == db.session.scalar(
            sa.select(sa.func.count()).select_from(Ticket)
        )
        assert summary["cases"] == db.session.scalar(sa.select(sa.func.count()).select_from(Case))
        top = db.session.scalar(sa.select(sa.func.max(Ticket.id)))
        live = ticket_domain.issue(db.session, "demo", queue_prefix="A")
        db.session.commit()
        assert live.id > top and live.number == 1


def test_report_rates_from_the_rollup_equal_the_live_rates(small):
    """The reports count cases from the daily rollup (past days) and live (today): the
    rates of every grouping and filter equal those hall.domain.rates counts from the cases,
    before the rollup, when it is stored, when it is read back, and from weeks and months."""
    from hall.domain import rates, reports
    from hall.models import Matter

    _application, hall_id, _summary = small
    case = db.session.scalar(sa.select(Case).where(Case.window_id.is_not(None)).limit(1))
    department_id = db.session.get(Matter, case.matter_id).department_id
    span = {"start": FIRST - timedelta(days=30), "end": END, "today": END + timedelta(days=40)}

    def counted(rows) -> list[dict]:
        found = [rates.rate_dict(row) for row in rows]
        return [row for row in found if any(row[name] for name in rates.COUNTS)]

    def check(group: str, **chosen) -> rates.RateRow:
        report = reports.build(db.session, hall_id=hall_id, group=group, **span, **chosen)
        rows, total = rates.report(db.session, hall_id=hall_id, group=group, **span, **chosen)
        assert rates.rate_dict(report.total.rates) == rates.rate_dict(total)
        assert counted(row.rates for row in report.rows) == counted(rows), (group, chosen)
        return total

    for _round in ("live and stored", "read back"):
        for group in rates.GROUPS:
            for chosen in ({}, {"window_id": case.window_id}, {"department_id": department_id}):
                total = check(group, **chosen)
        assert total.handled > 0 and total.promised_completed > 0
    assert reports.rollup_range(db.session, hall_id, span["start"], span["end"]) > 0
    for group in ("month", "week", "window"):
        check(group)
