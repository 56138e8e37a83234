"""Peers hand out duplicate numbers and call one ticket at two windows under load. Ours never:
many threads (and, on PostgreSQL, processes) issue and call at once; every number is unique
and gap-free per queue, and every ticket is called exactly once."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from hall.domain import tickets
from hall.extensions import db
from hall.models import Queue, Ticket, TicketEvent
from tests.conftest import make_app, open_windows

ISSUERS = 8
TICKETS = 2000
WINDOWS = [1, 2, 3, 4, 5, 6]
QUEUES = "ABCDEF"  # every one is served by at least one of windows 1–6


# The workflows' row forms, which the API and the kiosk run (the ORM forms add a read).
def _issue_many(app, count: int, offset: int, errors: list) -> None:
    with app.app_context():
        for i in range(count):
            try:
                prefix = QUEUES[(offset + i) % len(QUEUES)]
                tickets.issue_row(db.session, "demo", queue_prefix=prefix)
                db.session.commit()
            except Exception as err:  # collected and asserted on: a failure must not hide
                db.session.rollback()
                errors.append(repr(err))
            tickets.take_events(db.session)


def _call_until_done(app, window: int, issuing_done, errors: list) -> None:
    with app.app_context():
        idle_after_done = 0
        while idle_after_done < 3:
            try:
                ticket = tickets.call_next_row(db.session, "demo", window)
                db.session.commit()
                if ticket is not None:
                    tickets.finish_row(db.session, ticket.id, window_number=window)
                    db.session.commit()
            except Exception as err:
                db.session.rollback()
                errors.append(repr(err))
                ticket = None
            tickets.take_events(db.session)
            if ticket is None:
                if issuing_done():
                    idle_after_done += 1
                time.sleep(0.002)


def _check(app, expected: int) -> None:
    with app.app_context():
        rows = db.session.execute(
            sa.select(Queue.prefix, Ticket.number, Ticket.status).join(
                Queue, Queue.id == Ticket.issue_queue_id
            )
        ).all()
        assert len(rows) == expected
        by_queue: dict[str, list[int]] = {}
        for prefix, number, _status in rows:
            by_queue.setdefault(prefix, []).append(number)
        for prefix, numbers in by_queue.items():
            assert sorted(numbers) == list(range(1, len(numbers) + 1)), (
                f"gap or duplicate in {prefix}"
            )
        assert {status for *_, status in rows} == {"finished"}
        calls = Counter(
            db.session.scalars(
                sa.select(TicketEvent.ticket_id).where(TicketEvent.action == "called")
            )
        )
        assert len(calls) == expected and set(calls.values()) == {1}, "a ticket was called twice"


@pytest.mark.slow
def test_eight_issuers_and_six_windows_never_duplicate_or_double_call(app, demo):
    open_windows(app, *WINDOWS)
    errors: list[str] = []
    issuers = [
        threading.Thread(target=_issue_many, args=(app, TICKETS // ISSUERS, n, errors))
        for n in range(ISSUERS)
    ]
    done = lambda: not any(t.is_alive() for t in issuers)  # noqa: E731
    callers = [
        threading.Thread(target=_call_until_done, args=(app, w, done, errors)) for w in WINDOWS
    ]
    for thread in issuers + callers:
        thread.start()
    for thread in issuers + callers:
        thread.join(600)
    assert not errors, errors[:5]
    _check(app, TICKETS)


def _process_worker(url: str, role: str, arg: int, count: int, queue) -> None:
    """Runs in a separate process: issue `count` tickets, or call at window `arg`."""
    app = make_app(url)
    errors: list[str] = []
    if role == "issue":
        _issue_many(app, count, arg, errors)
    else:
        deadline = time.monotonic() + 300
        _call_until_done(
            app, arg, lambda: time.monotonic() > deadline or _all_issued(app, count), errors
        )
    queue.put(errors)


def _all_issued(app, total: int) -> bool:
    with app.app_context():
        issued = db.session.scalar(sa.select(sa.func.count()).select_from(Ticket))
        db.session.rollback()
        return issued >= total


@pytest.mark.slow
def test_processes_on_postgresql_never_duplicate_or_double_call(pg_app, pg_demo):
    app = pg_app
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    open_windows(app, *WINDOWS)
    total = 600
    ctx = multiprocessing.get_context("spawn")
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_process_worker, args=(url, "issue", n, total // 3, results))
        for n in range(3)
    ]
    procs += [
        ctx.Process(target=_process_worker, args=(url, "call", w, total, results))
        for w in (1, 2, 5)
    ]
    procs += [
        ctx.Process(target=_process_worker, args=(url, "call", w, total, results))
        for w in (3, 4, 6)
    ]
    for proc in procs:
        proc.start()
    errors = []
    for _ in procs:
        errors += results.get(timeout=600)
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    assert not errors, errors[:5]
    _check(app, total)


def _second_while_first_holds(app, first, second):
    """Run `first` (a workflow that ends by taking the hall's row) and leave it uncommitted,
    start `second` in a thread of its own, which then waits for that row, commit `first`
    half a second later; what `second` returned, and its events."""
    events, errors, results = [], [], []

    def run_second():
        with app.app_context():
            try:
                results.append(second(db.session))
                db.session.commit()
                events.extend(tickets.take_events(db.session))
            except Exception as err:
                errors.append(repr(err))

    with app.app_context():
        first(db.session)
        thread = threading.Thread(target=run_second)
        thread.start()
        time.sleep(0.5)  # the second is waiting for the hall's row (SQLite: the write lock)
        db.session.commit()
        tickets.take_events(db.session)
    thread.join(10)
    assert not errors and not thread.is_alive()
    return results[0], events


def _issue_three_in_a(app):
    open_windows(app, 1)  # window 1 takes queue A first
    with app.app_context():
        for _ in range(3):
            tickets.issue_row(db.session, "demo", queue_prefix="A")
            db.session.commit()
        tickets.take_events(db.session)


def test_a_calls_waiting_count_sees_an_issue_that_committed_while_it_waited(app, demo):
    """A ticket event counts its queue once it holds the hall's row, on PostgreSQL in a
    statement of its own: counted in the statement that waited for the row, PostgreSQL used
    the snapshot taken before the wait, so the call's event missed the ticket issued
    meanwhile and screens showed one fewer waiting until the queue's next event."""
    _issue_three_in_a(app)
    _, events = _second_while_first_holds(
        app,
        lambda session: tickets.issue_row(session, "demo", queue_prefix="A"),
        lambda session: tickets.call_next_row(session, "demo", 1),
    )
    (called,) = [e for e in events if e["name"] == "ticket.called"]
    assert called["data"]["waiting"]["A"] == 3  # 3 + 1 issued - 1 called


def test_a_new_tickets_position_sees_a_call_that_committed_while_it_waited(app, demo):
    """The same for the position a new ticket is issued with: A001 was called meanwhile."""
    _issue_three_in_a(app)
    new, events = _second_while_first_holds(
        app,
        lambda session: tickets.call_next_row(session, "demo", 1),
        lambda session: tickets.issue_row(session, "demo", queue_prefix="A"),
    )
    (issued,) = [e for e in events if e["name"] == "ticket.issued"]
    assert issued["data"]["waiting"]["A"] == 3
    assert new.label == "A004" and new.counted_position[0] == 2  # A002, A003
    with app.app_context():
        ticket = db.session.get(Ticket, new.id)
        assert tickets.waiting_ahead(db.session, ticket) == 2


def test_a_call_that_waited_for_another_at_its_window_is_refused_as_busy(app, demo):
    """Two calls at one window at once (a key pressed twice, two tabs): the second waits
    for the first and is refused with 409 window_busy. (On PostgreSQL it read the window's
    current ticket in the snapshot taken before the wait, saw none, and its own call broke
    the one-active-ticket index: a 500.)"""
    from hall.domain.errors import Conflict

    _issue_three_in_a(app)

    def second(session):
        with pytest.raises(Conflict) as busy:
            tickets.call_next_row(session, "demo", 1)
        return busy.value.code

    code, events = _second_while_first_holds(
        app, lambda session: tickets.call_next_row(session, "demo", 1), second
    )
    assert code == "window_busy" and events == []
    with app.app_context():
        called = db.session.scalars(sa.select(Ticket.label).where(Ticket.status == "called"))
        assert list(called) == ["A001"]


def test_a_transfers_count_of_the_queue_it_left_sees_an_issue_that_committed_meanwhile(app, demo):
    """A transfer's event counts the queue the ticket left once the hall's row is held."""
    _issue_three_in_a(app)
    with app.app_context():
        called = tickets.call_next_row(db.session, "demo", 1)  # A001
        db.session.commit()
        tickets.take_events(db.session)
    _, events = _second_while_first_holds(
        app,
        lambda session: tickets.issue_row(session, "demo", queue_prefix="A"),
        lambda session: tickets.transfer_row(session, called.id, to_queue="B"),
    )
    (moved,) = [e for e in events if e["name"] == "ticket.updated"]
    assert moved["data"]["waiting"] == {"A": 3, "B": 1}  # A002–A004; A001 now waits in B


def test_an_action_that_waited_for_another_on_its_ticket_finds_it_as_that_one_left_it(app, demo):
    """A finish that waited for a colleague's transfer of the same ticket is refused as
    wrong_state (409), on both databases. (On PostgreSQL the statement that waited for the
    ticket's row read it with its joins in the snapshot taken before the wait: the ticket,
    moved to another queue meanwhile, was not found at all, a 404.)"""
    from hall.domain.errors import Conflict

    _issue_three_in_a(app)
    with app.app_context():
        called = tickets.call_next_row(db.session, "demo", 1)  # A001
        db.session.commit()
        tickets.take_events(db.session)

    def finish(session):
        with pytest.raises(Conflict) as refused:
            tickets.finish_row(session, called.id, window_number=1)
        return refused.value.code

    code, events = _second_while_first_holds(
        app, lambda session: tickets.transfer_row(session, called.id, to_queue="B"), finish
    )
    assert code == "wrong_state" and events == []
