"""The day rollover (日切) across midnight in Asia/Shanghai, with an injected clock: numbers
restart, yesterday's open tickets are closed as expired (counted, logged once, never deleted)
and their windows are free again."""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from hall import realtime
from hall.cli import main
from hall.domain import board, rollover, tickets
from hall.domain.errors import Conflict
from hall.extensions import db
from hall.models import Hall, Ticket, TicketEvent
from tests.conftest import open_windows

# 15:58 UTC is 23:58 in Shanghai on 2 March; 16:01 UTC is 00:01 on 3 March.
EVENING = datetime(2026, 3, 2, 15, 58, tzinfo=UTC)
MIDNIGHT = datetime(2026, 3, 2, 16, 0, tzinfo=UTC)
AFTER = datetime(2026, 3, 2, 16, 1, tzinfo=UTC)


class Clock:
    """The instant the workflows and the board take as now."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock(monkeypatch) -> Clock:
    value = Clock(EVENING)
    monkeypatch.setattr(board, "utcnow", value)
    monkeypatch.setattr(tickets, "utcnow", value)
    return value


def issue(session, prefix: str, now: datetime) -> Ticket:
    ticket = tickets.issue(session, "demo", queue_prefix=prefix, now=now)
    session.commit()
    tickets.take_events(session)
    return ticket


def statuses(session, *ids: int) -> list[str]:
    session.expire_all()
    return [session.get(Ticket, i).status for i in ids]


def expired_events(session) -> list[TicketEvent]:
    return list(
        session.scalars(
            sa.select(TicketEvent)
            .where(TicketEvent.action == "expired")
            .order_by(TicketEvent.ticket_id)
        )
    )


def test_at_midnight_numbers_restart_and_yesterdays_open_tickets_expire(app, session, demo, clock):
    open_windows(app, 1, 3)
    a1, a2, a3 = (issue(session, "A", EVENING) for _ in range(3))
    b1 = issue(session, "B", EVENING)
    c1 = issue(session, "C", EVENING)
    clock.now = EVENING + timedelta(minutes=1)
    assert tickets.call_next(session, "demo", 1, now=clock.now).id == a1.id  # called at 1
    assert tickets.call_next(session, "demo", 3, now=clock.now).id == b1.id
    tickets.start(session, b1.id)  # serving at 3
    session.commit()
    tickets.take_events(session)
    c1_id = c1.id

    clock.now = AFTER
    today = issue(session, "A", AFTER)
    assert (today.label, str(today.service_day)) == ("A001", "2026-03-03")
    # before the rollover, window 1 still holds yesterday's A001
    with pytest.raises(Conflict):
        tickets.call_next(session, "demo", 1, now=AFTER)
    session.rollback()
    seq = session.scalar(sa.select(Hall.seq).where(Hall.code == "demo"))

    result = rollover.expire_past_days(session, now=AFTER)
    assert result == {"demo": {"waiting": 3, "called": 1, "serving": 1}}
    published = realtime.commit_and_publish(session)

    assert statuses(session, a1.id, a2.id, a3.id, b1.id, c1_id) == ["expired"] * 5
    assert statuses(session, today.id) == ["waiting"]
    events = expired_events(session)
    assert [e.ticket_id for e in events] == sorted([a1.id, a2.id, a3.id, b1.id, c1_id])
    by_ticket = {e.ticket_id: e for e in events}
    assert by_ticket[a1.id].detail == "from=called" and by_ticket[a1.id].window_id is not None
    assert by_ticket[b1.id].detail == "from=serving"
    assert by_ticket[a2.id].detail == "from=waiting" and by_ticket[a2.id].window_id is None
    assert all(e.user_id is None and e.device_id is None and e.at == AFTER for e in events)

    # one fresh board, after commit: no window holds yesterday's tickets, today's queue counts
    assert [e["name"] for e in published] == ["board"]
    snapshot = published[0]["data"]
    assert snapshot["seq"] == seq + 1 and snapshot["service_day"] == "2026-03-03"
    windows = {w["number"]: w for w in snapshot["windows"]}
    assert windows[1]["current"] is None and windows[3]["current"] is None
    assert {q["prefix"]: q["waiting"] for q in snapshot["queues"]}["A"] == 1

    # the window is free: it calls today's A001; yesterday's tickets cannot be acted on
    assert tickets.call_next(session, "demo", 1, now=AFTER).id == today.id
    session.commit()
    tickets.take_events(session)
    with pytest.raises(Conflict) as refused:
        tickets.finish(session, b1.id)
    assert refused.value.code == "wrong_state" and "已过期" in refused.value.zh
    session.rollback()

    # again: nothing left to close, nothing logged or published twice
    assert rollover.expire_past_days(session, now=AFTER + timedelta(minutes=1)) == {
        "demo": {"waiting": 0, "called": 0, "serving": 0}
    }
    assert realtime.commit_and_publish(session) == []
    assert len(expired_events(session)) == 5
    assert statuses(session, today.id) == ["called"]


def test_tickets_of_today_and_closed_ones_are_left_alone(app, session, demo, clock):
    open_windows(app, 1)
    done = issue(session, "A", EVENING)
    tickets.call_next(session, "demo", 1, now=EVENING)
    tickets.finish(session, done.id)
    session.commit()
    tickets.take_events(session)
    before_midnight = issue(session, "A", EVENING)
    # a minute before midnight nothing is past yet
    assert rollover.expire_past_days(session, "demo", now=MIDNIGHT - timedelta(seconds=1)) == {
        "demo": {"waiting": 0, "called": 0, "serving": 0}
    }
    assert tickets.take_events(session) == []
    assert rollover.expire_past_days(session, "demo", now=MIDNIGHT)["demo"]["waiting"] == 1
    session.commit()
    assert statuses(session, done.id, before_midnight.id) == ["finished", "expired"]


def test_the_phone_page_says_the_ticket_expired_instead_of_a_position(app, client, demo):
    yesterday = datetime.now(UTC) - timedelta(days=1)
    with app.app_context():  # not held during the requests: each picks its own language
        token = issue(db.session, "A", yesterday).token
        rollover.sweep(db.session)
    body = client.get(f"/t/{token}.json").json
    assert body["status"] == "expired" and body["status_text"] == "已过期"
    assert body["waiting_ahead"] == 0 and body["window"] is None
    english = client.get(f"/t/{token}.json?lang=en").json
    assert english["status_text"] == "Expired"
    page = client.get(f"/t/{token}?lang=en").get_data(as_text=True)
    assert "This number expired when the hall closed on {day}" in page
    assert '"status": "expired"' in page
    spec = client.get("/api/v1/openapi.json").json
    assert "expired" in spec["components"]["schemas"]["Ticket"]["properties"]["status"]["enum"]


@pytest.fixture
def run(app, monkeypatch):
    """Invoke `hall …` against the test database."""
    monkeypatch.setenv("HALL_DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])

    def invoke(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_the_command_closes_past_tickets_and_says_what_it_closed(app, session, demo, run):
    yesterday = datetime.now(UTC) - timedelta(days=1)
    open_windows(app, 1)
    called = issue(session, "A", yesterday)
    tickets.call_next(session, "demo", 1, now=yesterday)
    session.commit()
    tickets.take_events(session)
    waiting = issue(session, "B", yesterday)
    today = issue(session, "A", datetime.now(UTC))

    result = run("tickets", "expire", "--hall", "demo")
    assert result.exit_code == 0, result.output
    assert "demo: 已过期 / expired 2 (等候中 waiting 1, 已叫号 called 1, 办理中 serving 0)" in (
        result.output
    )
    assert statuses(session, called.id, waiting.id, today.id) == ["expired", "expired", "waiting"]
    again = run("tickets", "expire")
    assert again.exit_code == 0 and "no open tickets of past days" in again.output
    unknown = run("tickets", "expire", "--hall", "nowhere")
    assert unknown.exit_code == 2 and "nowhere" in unknown.output


def _past_tickets(app, session, count: int) -> list[int]:
    """`count` tickets of yesterday, the first one called at window 1."""
    yesterday = datetime.now(UTC) - timedelta(days=1)
    open_windows(app, 1)
    ids = [tickets.issue(session, "demo", queue_prefix="A", now=yesterday).id for _ in range(count)]
    tickets.call_next(session, "demo", 1, now=yesterday)
    session.commit()
    tickets.take_events(session)
    return ids


def _expired_once(session, ids: list[int]) -> None:
    session.expire_all()
    assert statuses(session, *ids) == ["expired"] * len(ids)
    per_ticket = session.execute(
        sa.select(TicketEvent.ticket_id, sa.func.count())
        .where(TicketEvent.action == "expired")
        .group_by(TicketEvent.ticket_id)
    ).all()
    assert sorted(per_ticket) == [(i, 1) for i in sorted(ids)]


def test_sweeps_running_at_once_expire_each_ticket_once(app, session, demo):
    ids = _past_tickets(app, session, 40)
    threads_count = 4
    start = threading.Barrier(threads_count)
    results, errors = [], []

    def sweep_now():
        with app.app_context():
            try:
                start.wait()
                results.append(rollover.sweep(db.session))
            except Exception as err:  # reported below
                errors.append(err)
            finally:
                db.session.remove()

    workers = [threading.Thread(target=sweep_now) for _ in range(threads_count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(30)
    assert errors == []
    assert rollover.total({str(i): r["demo"] for i, r in enumerate(results)}) == 40
    _expired_once(session, ids)


def test_a_sweep_waiting_for_another_finds_nothing_left_to_close(app, session, demo):
    ids = _past_tickets(app, session, 5)
    first = rollover.expire_past_days(session)  # not committed yet: its rows stay locked
    second: dict = {}

    def sweep_meanwhile():
        with app.app_context():
            try:
                second.update(rollover.sweep(db.session))
            finally:
                db.session.remove()

    waiting = threading.Thread(target=sweep_meanwhile)
    waiting.start()
    waiting.join(0.5)
    assert waiting.is_alive()  # held up by the first sweep's transaction
    realtime.commit_and_publish(session)
    waiting.join(30)
    assert first == {"demo": {"waiting": 4, "called": 1, "serving": 0}}
    assert second == {"demo": {"waiting": 0, "called": 0, "serving": 0}}
    _expired_once(session, ids)


def test_the_sweeper_is_off_in_tests_and_keeps_running_after_a_failure(
    app, session, demo, monkeypatch, caplog
):
    assert rollover.start_sweeper(app) is None  # TESTING, HALL_SWEEPER unset
    (ticket_id,) = _past_tickets(app, session, 1)
    monkeypatch.setattr(rollover, "seconds_to_next_minute", lambda at=None: 0.05)
    real_sweep, calls = rollover.sweep, []

    def flaky_sweep(session, *args, **kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("database away")
        return real_sweep(session, *args, **kwargs)

    monkeypatch.setattr(rollover, "sweep", flaky_sweep)
    app.config["HALL_SWEEPER"] = True
    caplog.set_level(logging.INFO, logger="hall.domain.rollover")
    sweeper = rollover.start_sweeper(app)
    try:
        assert rollover.start_sweeper(app) is sweeper  # once per app
        deadline = time.monotonic() + 10
        while sweeper.runs < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        sweeper.stop()
        app.extensions.pop(rollover.SWEEPER_KEY, None)
    assert sweeper.runs >= 1 and not sweeper.task.is_alive()
    assert "day rollover failed" in caplog.text and "expired tickets" in caplog.text
    assert statuses(session, ticket_id) == ["expired"]
