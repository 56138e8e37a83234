"""The ticket workflows on a real database: numbering, ordering, state machine, events."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from hall.domain import board, tickets
from hall.domain.errors import Conflict, Invalid, NotFound
from hall.models import Hall, Matter, Ticket, TicketEvent, utcnow
from tests.conftest import open_windows


def issue(session, prefix="A", **kw):
    ticket = tickets.issue(session, "demo", queue_prefix=prefix, **kw)
    session.commit()
    tickets.take_events(session)
    return ticket


def call(session, window):
    ticket = tickets.call_next(session, "demo", window)
    session.commit()
    tickets.take_events(session)
    return ticket


def test_numbers_count_up_per_queue_with_the_prefix(session, demo):
    labels = [issue(session, p).label for p in ("A", "A", "B", "A")]
    assert labels == ["A001", "A002", "B001", "A003"]


def test_numbers_restart_on_the_next_service_day_in_the_hall_time_zone(session, demo):
    # 15:59 UTC is 23:59 in Shanghai; 16:00 UTC is the next local day.
    late = datetime(2026, 3, 2, 15, 59, tzinfo=UTC)
    a = issue(session, now=late)
    b = issue(session, now=late + timedelta(seconds=75))
    c = issue(session, now=late + timedelta(minutes=2))
    assert (a.label, str(a.service_day)) == ("A001", "2026-03-02")
    assert (b.label, str(b.service_day)) == ("A001", "2026-03-03")
    assert c.label == "A002"


def test_priority_tickets_are_called_before_ordinary_ones_of_their_queue(app, session, demo):
    open_windows(app, 6)  # window 6 serves E, then A
    first = issue(session, "E")
    green = issue(session, "E", priority=True)
    assert call(session, 6).id == green.id
    tickets.finish(session, green.id)
    session.commit()
    assert call(session, 6).id == first.id


def test_a_window_takes_its_queues_in_its_own_priority_order(app, session, demo):
    open_windows(app, 3, 4)  # 3: B then A; 4: C then A
    a1 = issue(session, "A")
    b1 = issue(session, "B")
    c1 = issue(session, "C")
    assert call(session, 3).id == b1.id
    assert call(session, 4).id == c1.id
    for t in (b1, c1):
        tickets.finish(session, t.id)
    session.commit()
    assert call(session, 3).id == a1.id
    assert call(session, 4) is None


def test_call_next_returns_none_when_nobody_waits(app, session, demo):
    open_windows(app, 1)
    assert call(session, 1) is None


def test_calling_at_a_paused_or_closed_window_is_refused(app, session, demo):
    issue(session)
    with pytest.raises(Conflict) as closed:
        tickets.call_next(session, "demo", 1)
    assert closed.value.code == "window_closed"
    session.rollback()
    open_windows(app, 1)
    tickets.set_window_status(session, "demo", 1, "paused")
    session.commit()
    with pytest.raises(Conflict) as paused:
        tickets.call_next(session, "demo", 1)
    assert paused.value.code == "window_paused" and "暂停" in paused.value.zh


def test_a_window_with_a_current_ticket_must_finish_it_before_calling_again(app, session, demo):
    open_windows(app, 1)
    issue(session)
    issue(session)
    first = call(session, 1)
    with pytest.raises(Conflict) as busy:
        tickets.call_next(session, "demo", 1)
    assert busy.value.code == "window_busy" and first.label in busy.value.zh


def test_state_machine_refuses_actions_out_of_order(app, session, demo):
    open_windows(app, 1, 2)
    ticket = issue(session)
    with pytest.raises(Conflict):
        tickets.recall(session, ticket.id)  # still waiting
    session.rollback()
    call(session, 1)
    with pytest.raises(Conflict) as other:
        tickets.finish(session, ticket.id, window_number=2)
    assert other.value.code == "other_window"
    session.rollback()
    tickets.start(session, ticket.id, window_number=1)
    tickets.finish(session, ticket.id, window_number=1)
    session.commit()
    with pytest.raises(Conflict) as finished:
        tickets.recall(session, ticket.id)
    assert finished.value.code == "wrong_state" and "已办结" in finished.value.zh


def test_recall_counts_and_no_show_may_come_back_once_at_the_head(app, session, demo):
    open_windows(app, 5)
    late = issue(session, "D")
    other = issue(session, "D")
    call(session, 5)
    tickets.recall(session, late.id)
    session.commit()
    assert session.get(Ticket, late.id).call_count == 2
    tickets.no_show(session, late.id)
    session.commit()
    tickets.return_ticket(session, late.id, after=0)
    session.commit()
    assert tickets.waiting_ahead(session, session.get(Ticket, late.id)) == 0
    assert tickets.waiting_ahead(session, session.get(Ticket, other.id)) == 1
    assert call(session, 5).id == late.id
    tickets.no_show(session, late.id)
    session.commit()
    with pytest.raises(Conflict) as again:
        tickets.return_ticket(session, late.id)
    assert again.value.code == "already_returned"


def test_transfer_keeps_the_number_and_goes_ahead_of_later_arrivals(app, session, demo):
    open_windows(app, 3, 5)
    d1 = issue(session, "D")
    b_early = issue(session, "B")
    b_later = issue(session, "B")
    call(session, 3)  # takes b_early
    assert call(session, 5).id == d1.id
    tickets.transfer(session, d1.id, to_queue="B")
    session.commit()
    moved = session.get(Ticket, d1.id)
    assert moved.label == "D001" and moved.status == "waiting"
    tickets.finish(session, b_early.id)
    session.commit()
    assert call(session, 3).id == d1.id  # issued before b_later
    assert tickets.waiting_ahead(session, session.get(Ticket, b_later.id)) == 0


def test_transfer_to_a_window_is_called_there_first(app, session, demo):
    open_windows(app, 1, 7)
    f1 = issue(session, "F")
    a1 = issue(session, "A")
    assert call(session, 1).id == a1.id
    f2 = issue(session, "F")
    tickets.transfer(session, a1.id, to_window=7)
    session.commit()
    assert call(session, 7).id == a1.id
    tickets.finish(session, a1.id)
    session.commit()
    assert call(session, 7).id == f1.id
    assert f2.status == "waiting"


def test_tickets_sent_to_a_window_wait_in_one_order_on_both_databases(app, session, demo):
    """Sent to a window, tickets wait there by the window's order of their queues (one of a
    queue the window does not serve last: SQLite sorted it first, PostgreSQL last), then
    绿色通道 first, then arrival; each one's position is its place in that order."""
    open_windows(app, 1, 7)  # 7 serves F only
    f1, a1, f2 = issue(session, "F"), issue(session, "A"), issue(session, "F")
    for ticket in (a1, f1, f2):
        assert call(session, 1).id == ticket.id
        tickets.transfer(session, ticket.id, to_window=7)
        session.commit()
    green = issue(session, "F", priority=True)
    assert call(session, 1).id == green.id
    tickets.transfer(session, green.id, to_window=7)
    session.commit()
    expected = [green, f1, f2, a1]
    for place, ticket in enumerate(expected):
        assert tickets.waiting_ahead(session, session.get(Ticket, ticket.id)) == place
    assert tickets.position(session, session.get(Ticket, a1.id), default=5) == (3, 15)
    called = []
    for _ in expected:
        called.append(call(session, 7).id)
        tickets.finish(session, called[-1])
        session.commit()
    assert called == [t.id for t in expected]


def test_transfer_needs_exactly_one_target(app, session, demo):
    open_windows(app, 1)
    issue(session)
    t = call(session, 1)
    with pytest.raises(Invalid):
        tickets.transfer(session, t.id)
    session.rollback()
    with pytest.raises(NotFound):
        tickets.transfer(session, t.id, to_queue="Z")


def test_unknown_hall_queue_and_matter_are_not_found(session, demo):
    for kwargs in ({"queue_prefix": "Z"}, {"matter_code": "NOPE"}):
        with pytest.raises(NotFound):
            tickets.issue(session, "demo", **kwargs)
    with pytest.raises(NotFound):
        tickets.issue(session, "nowhere", queue_prefix="A")


def test_a_matter_ticket_joins_the_matters_queue(session, demo):
    ticket = tickets.issue(session, "demo", matter_code="BD-001")
    assert ticket.label == "D001" and ticket.matter.name.startswith("不动产转移登记")
    # the issued ticket is the row as stored: same values when read back from the database
    session.commit()
    stored = session.execute(sa.select(Ticket.__table__).where(Ticket.id == ticket.id)).one()
    for column in Ticket.__table__.columns:
        assert getattr(ticket, column.key) == getattr(stored, column.key), column.key


def test_a_retired_matter_takes_no_tickets(session, demo):
    matter = session.scalar(sa.select(Matter).where(Matter.code == "BD-001"))
    matter.active = False
    session.commit()
    with pytest.raises(NotFound) as refused:
        tickets.issue(session, "demo", matter_code="BD-001")
    assert refused.value.code == "matter_not_found"


def test_every_change_writes_an_event_with_who_and_when(app, session, demo):
    from hall.domain.tickets import Actor

    open_windows(app, 1)
    ticket = issue(session)
    tickets.call_next(session, "demo", 1, actor=Actor(user_id=3))
    tickets.start(session, ticket.id, actor=Actor(user_id=3))
    tickets.finish(session, ticket.id, actor=Actor(user_id=3))
    session.commit()
    rows = session.execute(
        sa.select(TicketEvent.action, TicketEvent.user_id)
        .where(TicketEvent.ticket_id == ticket.id)
        .order_by(TicketEvent.id)
    ).all()
    assert rows == [("issued", None), ("called", 3), ("started", 3), ("finished", 3)]


def test_events_carry_increasing_seq_and_the_call_speech(app, session, demo):
    open_windows(app, 3)
    tickets.issue(session, "demo", queue_prefix="B")
    tickets.call_next(session, "demo", 3)
    events = tickets.take_events(session)
    session.commit()
    assert [e["name"] for e in events] == ["ticket.issued", "ticket.called"]
    seqs = [e["data"]["seq"] for e in events]
    assert seqs[1] == seqs[0] + 1
    called = events[1]["data"]
    assert called["speech"] == "请 B001 号到 3 号窗口办理"
    assert "零零一" in called["utterance"]
    assert "hall:demo" in events[1]["rooms"] and "window:demo:3" in events[1]["rooms"]
    snapshot = board.snapshot(session, session.scalar(sa.select(Hall)))
    assert snapshot["seq"] == seqs[1]
    assert snapshot["recent_calls"][0]["number"] == "B001"


def test_estimated_wait_uses_those_ahead_and_open_windows(app, session, demo):
    open_windows(app, 5)
    for _ in range(4):
        last = issue(session, "D")
    assert tickets.waiting_ahead(session, last) == 3
    assert tickets.position(session, last, default=5) == (3, 15)
    session.rollback()  # let the other session below write
    open_windows(app, 1)  # window 1 serves D too: two windows share the three ahead
    assert tickets.position(session, last, default=5) == (3, 8)
    first = session.scalar(sa.select(Ticket).where(Ticket.label == "D001"))
    assert tickets.position(session, first, default=5) == (0, 0)


def test_a_new_tickets_position_is_counted_as_it_is_issued_in_call_order(app, session, demo):
    """Issuing counts the new ticket's position in the statement that numbers its event (the
    queue's waiting count less those not ahead of it). It agrees with `position` counting
    afresh and with the order tickets are called in, whatever waits: priority tickets, one
    sent to a window, arrivals whose clock ran ahead or behind, a no-show put back at the
    head, two issued at the same instant."""
    open_windows(app, 1, 7)  # window 1 takes queue A first
    now = utcnow()

    def in_call_order(row) -> int:
        waiting = session.execute(
            sa.select(Ticket.id, Ticket.priority, Ticket.sort_at).where(
                Ticket.status == "waiting",
                Ticket.queue_id == row.queue_id,
                Ticket.target_window_id.is_(None),
                Ticket.service_day == row.service_day,
            )
        ).all()
        order = sorted(waiting, key=lambda t: (not t.priority, t.sort_at, t.id))
        return [t.id for t in order].index(row.id)

    seen = []

    def new(priority=False, at=None):
        row = tickets.issue_row(session, "demo", queue_prefix="A", priority=priority, now=at)
        afresh = dataclasses.replace(row, counted_position=None)
        ahead = in_call_order(row)
        assert row.counted_position[0] == ahead, row.label
        assert tickets.position(session, row) == tickets.position(session, afresh), row.label
        assert tickets.position(session, afresh)[0] == ahead, row.label
        seen.append(ahead)
        session.commit()
        tickets.take_events(session)
        return row

    new(), new(), new(priority=True), new()
    sent = call(session, 1)  # the priority ticket, sent on to window 7: it waits there
    tickets.transfer(session, sent.id, to_window=7)
    session.commit()
    new(), new(priority=True)
    new(at=now + timedelta(seconds=30))  # a clock ahead: the next one comes before it
    new(), new(priority=True, at=now - timedelta(seconds=30))
    new(at=now - timedelta(seconds=30))  # a clock behind
    back = call(session, 1)
    tickets.no_show(session, back.id)
    tickets.return_ticket(session, back.id, after=0)
    session.commit()
    same = now + timedelta(seconds=1)
    new(at=same), new(at=same), new(priority=True, at=same)
    assert seen == [0, 1, 0, 3, 3, 0, 5, 5, 0, 2, 8, 9, 2]
