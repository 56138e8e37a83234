"""Case numbers under load: many threads (and, on PostgreSQL, processes) record outcomes at
once, some of them rolling back after taking numbers; every number is unique and the numbers
of each hall-day run 1, 2, 3… without a gap."""

from __future__ import annotations

import multiprocessing
import secrets
import threading
from collections import defaultdict
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from hall.domain import cases, tickets
from hall.domain.cases import OutcomeInput
from hall.domain.tickets import Actor
from hall.extensions import db
from hall.models import Case, CaseCounter, Hall, Queue, Ticket, User, Window
from tests.conftest import make_app

THREADS = 6
PER_THREAD = 10
# two hall-local days, so that each day's numbering is checked on its own
DAYS = [datetime(2026, 9, 29, 2, tzinfo=UTC), datetime(2026, 9, 30, 2, tzinfo=UTC)]
OUTCOMES = [
    OutcomeInput("GA-004", "on_the_spot"),
    OutcomeInput("GA-003", "accepted", applicant_name="张三"),
    OutcomeInput("GA-007", "consultation"),  # no number
]


def _finished_tickets(app, count: int) -> tuple[list[int], int, int]:
    """`count` tickets already served and finished at window 3 by staff1 (one bulk insert);
    returns their ids, staff1's id and the hall's id."""
    with app.app_context():
        session = db.session
        hall = session.scalar(sa.select(Hall).where(Hall.code == "demo"))
        queue = session.scalar(
            sa.select(Queue).where(Queue.hall_id == hall.id, Queue.prefix == "B")
        )
        window = session.scalar(
            sa.select(Window).where(Window.hall_id == hall.id, Window.number == 3)
        )
        staff = session.scalar(sa.select(User).where(User.username == "staff1"))
        at = datetime(2026, 9, 1, 2, tzinfo=UTC)
        rows = [
            {
                "token": secrets.token_urlsafe(12),
                "hall_id": hall.id,
                "queue_id": queue.id,
                "issue_queue_id": queue.id,
                "service_day": date(2026, 9, 1),
                "number": n,
                "label": f"B{n:03d}",
                "priority": False,
                "status": "finished",
                "sort_at": at,
                "window_id": window.id,
                "staff_id": staff.id,
                "issued_at": at,
                "called_at": at,
                "finished_at": at,
                "call_count": 1,
                "returned": False,
            }
            for n in range(1, count + 1)
        ]
        session.execute(sa.insert(Ticket), rows)
        session.commit()
        ids = list(session.scalars(sa.select(Ticket.id).order_by(Ticket.id)))
        return ids, staff.id, hall.id


def _record_many(app, ticket_ids: list[int], staff_id: int, hall_id: int, errors: list) -> None:
    """Record the outcomes of each ticket; every fourth first takes its numbers and rolls
    back, as a finish refused late would."""
    actor = Actor(user_id=staff_id, hall_id=hall_id)
    with app.app_context():
        for i, ticket_id in enumerate(ticket_ids):
            now = DAYS[ticket_id % 2]
            try:
                if i % 4 == 0:
                    ticket = tickets.get_ticket(db.session, ticket_id)
                    cases.record_outcomes(db.session, ticket, OUTCOMES, actor=actor, now=now)
                    db.session.rollback()
                ticket = tickets.get_ticket(db.session, ticket_id)
                cases.record_outcomes(db.session, ticket, OUTCOMES, actor=actor, now=now)
                db.session.commit()
            except Exception as err:  # collected and asserted on: a failure must not hide
                db.session.rollback()
                errors.append(repr(err))


def _check(app, tickets_count: int) -> None:
    with app.app_context():
        rows = db.session.execute(sa.select(Case.accepted_on, Case.number, Case.outcome)).all()
        counters = dict(db.session.execute(sa.select(CaseCounter.day, CaseCounter.last)).all())
    assert len(rows) == tickets_count * len(OUTCOMES)
    numbers = [number for _day, number, _outcome in rows if number is not None]
    assert len(numbers) == len(set(numbers)) == tickets_count * 2, "duplicate case number"
    serials: dict[date, list[int]] = defaultdict(list)
    for day, number, _outcome in rows:
        if number is None:
            continue
        assert number.startswith(f"DEMO-{day:%Y%m%d}-")
        serials[day].append(int(number.rsplit("-", 1)[1]))
    assert set(serials) == {date(2026, 9, 29), date(2026, 9, 30)}
    for day, taken in serials.items():
        assert sorted(taken) == list(range(1, len(taken) + 1)), f"gap or duplicate on {day}"
        assert counters[day] == len(taken)


@pytest.mark.slow
def test_threads_recording_outcomes_at_once_get_distinct_gap_free_case_numbers(app, demo):
    total = THREADS * PER_THREAD
    ids, staff_id, hall_id = _finished_tickets(app, total)
    errors: list[str] = []
    workers = [
        threading.Thread(
            target=_record_many, args=(app, ids[n::THREADS], staff_id, hall_id, errors)
        )
        for n in range(THREADS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(300)
    assert not errors, errors[:5]
    _check(app, total)


def _process_worker(url: str, ticket_ids: list[int], staff_id: int, hall_id: int, queue) -> None:
    """Runs in a separate process: record the outcomes of these tickets."""
    app = make_app(url)
    errors: list[str] = []
    _record_many(app, ticket_ids, staff_id, hall_id, errors)
    with app.app_context():
        db.engine.dispose()
    queue.put(errors)


@pytest.mark.slow
def test_processes_on_postgresql_get_distinct_gap_free_case_numbers(pg_app, pg_demo):
    processes, per_process = 3, 20
    total = processes * per_process
    ids, staff_id, hall_id = _finished_tickets(pg_app, total)
    url = pg_app.config["SQLALCHEMY_DATABASE_URI"]
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_process_worker, args=(url, ids[n::processes], staff_id, hall_id, results)
        )
        for n in range(processes)
    ]
    for proc in procs:
        proc.start()
    errors = []
    for _ in procs:
        errors += results.get(timeout=300)
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert not errors, errors[:5]
    _check(pg_app, total)
