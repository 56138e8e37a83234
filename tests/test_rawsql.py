"""The hot paths' SQL on the driver (hall.domain.rawsql): values stored exactly as SQLAlchemy
stores them, rows shown exactly as the ORM shows them, driver errors as SQLAlchemy's, and
events that carry the counts they changed. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from hall.domain import board, tickets
from hall.domain.rawsql import SQL, raw, read_day, read_time
from hall.models import Ticket, TicketEvent
from tests.conftest import open_windows


def committed(session, ticket_id):
    """The ORM's view of a ticket, read fresh from the database."""
    session.expire_all()
    return session.get(Ticket, ticket_id)


@pytest.mark.parametrize(
    "instant",
    [
        datetime(2026, 11, 28, 4, 31, 49, 347001, tzinfo=UTC),
        datetime(2026, 11, 28, 4, 31, 49, tzinfo=UTC),  # no microseconds: still 6 digits
        datetime(2026, 1, 1, 8, 0, tzinfo=timezone(timedelta(hours=8))),  # stored as UTC
    ],
)
def test_instants_and_days_are_stored_as_sqlalchemy_stores_them(session, demo, instant):
    orm = tickets.issue(session, "demo", queue_prefix="A", now=instant)
    row = tickets.issue_row(session, "demo", queue_prefix="A", now=instant)
    session.commit()
    r = raw(session)
    stored = r.all(
        SQL("SELECT sort_at, issued_at, service_day FROM tickets WHERE id IN (:a, :b)"),
        {"a": orm.id, "b": row.id},
    )
    assert stored[0] == stored[1]  # written by the ORM and by the driver: the same values
    assert read_time(stored[0][0]) == instant
    assert read_day(stored[0][2]) == board.service_day(orm.queue.hall, instant)
    # and read back by the ORM as they were written
    assert committed(session, row.id).issued_at == instant
    # comparisons in SQL see the same order as in Python (SQLite compares text)
    earlier = r.scalar(
        SQL("SELECT count(*) FROM tickets WHERE id = :id AND sort_at < :at"),
        {"id": row.id, "at": r.time(instant.replace(microsecond=instant.microsecond + 1))},
    )
    assert earlier == 1


def test_read_time_and_day_accept_both_drivers_forms():
    aware = datetime(2026, 3, 2, 15, 59, 0, 5, tzinfo=UTC)
    assert read_time("2026-03-02 15:59:00.000005") == aware
    assert read_time(aware.replace(tzinfo=None)) == aware
    assert read_time(None) is None
    assert read_day("2026-03-02") == date(2026, 3, 2) == read_day(date(2026, 3, 2))


def test_named_parameters_become_psycopg_style_and_percent_signs_survive():
    sql = SQL("SELECT name FROM queues WHERE prefix = :prefix AND name LIKE '%窗口%'")
    assert sql.postgresql == (
        "SELECT name FROM queues WHERE prefix = %(prefix)s AND name LIKE '%%窗口%%'"
    )
    assert sql.sqlite.count(":prefix") == 1


def test_a_row_is_shown_exactly_as_the_orm_ticket(app, session, demo):
    """TicketRow and Ticket give the same dict in every state the workflows make."""
    open_windows(app, 1, 2)
    matter = session.scalars(sa.text("SELECT code FROM matters WHERE queue_id IS NOT NULL")).first()
    waiting = tickets.issue_row(session, "demo", matter_code=matter, priority=True)
    called = tickets.call_next_row(session, "demo", 1)
    sent = tickets.transfer_row(session, called.id, to_window=2)
    session.commit()
    for row in (waiting, sent):
        fresh = tickets.ticket_row(session, row.id)
        assert board.ticket_dict(fresh) == board.ticket_dict(committed(session, row.id))
    served = tickets.call_next_row(session, "demo", 2)
    tickets.start_row(session, served.id)
    session.commit()
    fresh = tickets.ticket_row(session, served.id)
    assert fresh.status == "serving" and fresh.window_number == 2
    assert board.ticket_dict(fresh) == board.ticket_dict(committed(session, served.id))
    assert board.ticket_dict(fresh)["matter"] == matter


def test_the_orm_forms_refresh_a_ticket_the_session_holds(app, session, demo):
    open_windows(app, 1)
    held = tickets.issue(session, "demo", queue_prefix="A")
    session.commit()
    assert held.status == "waiting" and held.window is None
    assert tickets.call_next(session, "demo", 1) is held
    assert held.status == "called" and held.window.number == 1
    tickets.finish(session, held.id)
    assert held.status == "finished" and held.finished_at is not None


def test_orm_changes_pending_in_the_session_are_written_before_the_sql(app, session, demo):
    """The workflows flush first: what a caller changed through the ORM is what they see."""
    from hall.models import Window

    window = session.scalar(sa.select(Window).where(Window.number == 1))
    window.status = "open"  # not flushed: call_next must still see the window open
    tickets.issue(session, "demo", queue_prefix="A")
    assert tickets.call_next_row(session, "demo", 1) is not None


def test_driver_errors_are_raised_as_sqlalchemy_errors(session, demo):
    with pytest.raises(sa.exc.DBAPIError) as caught:
        raw(session).execute(SQL("SELECT nothing FROM no_such_table"))
    assert isinstance(caught.value, sa.exc.OperationalError | sa.exc.ProgrammingError)
    assert "no_such_table" in str(caught.value)


def test_the_driver_shares_the_sessions_transaction(session, demo):
    """A rollback takes back what the SQL wrote, with what the ORM wrote."""
    before = session.scalar(sa.select(sa.func.count()).select_from(TicketEvent))
    tickets.issue_row(session, "demo", queue_prefix="A")
    session.rollback()
    tickets.take_events(session)
    after = session.scalar(sa.select(sa.func.count()).select_from(TicketEvent))
    assert after == before
    assert session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 0


def test_events_carry_the_counts_of_the_queues_they_changed(app, session, demo):
    open_windows(app, 1)  # window 1 serves A first
    tickets.issue(session, "demo", queue_prefix="A")
    tickets.issue(session, "demo", queue_prefix="B")
    issued = tickets.take_events(session)
    assert [e["data"]["waiting"] for e in issued] == [{"A": 1}, {"B": 1}]
    called = tickets.call_next_row(session, "demo", 1)
    assert tickets.take_events(session)[0]["data"]["waiting"] == {"A": 0}
    tickets.transfer_row(session, called.id, to_queue="B")
    moved = tickets.take_events(session)[0]["data"]
    assert moved["waiting"] == {"A": 0, "B": 2}  # the queue it left and the one it joined
    session.commit()
    # the board still has every queue, zero included
    snapshot = board.snapshot(session, session.get(tickets.Hall, called.hall_id))
    counts = {q["prefix"]: q["waiting"] for q in snapshot["queues"]}
    assert counts["A"] == 0 and counts["B"] == 2 and counts["C"] == 0
