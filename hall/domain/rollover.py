"""Day rollover (日切): at the hall's midnight a new service day begins.

Numbers restart by themselves (the number counters are kept per queue and service day, see
tickets.issue). What is left of the old day is closed here: a ticket still waiting, called or
serving when its service day is over becomes ``expired`` — counted, with an event each, never
deleted — and a window that was holding one is free again.

`expire_past_days` is the domain workflow (takes a Session, never commits). `sweep` and
`start_sweeper` are its callers: the `hall tickets expire` command and a background task of
the server that runs every minute; they commit, then publish a fresh board. The same task
rolls the report figures of past days up (hall.domain.reports.rollup_pending): yesterday's
after midnight, and a week a minute of any past a hall still lacks. With HALL_RETENTION_DAYS
set it also erases, once a day per process, the residents' personal fields of cases closed
longer ago than that (hall.domain.retention).
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hall.domain import board, tickets
from hall.models import Hall, Ticket, TicketEvent, utcnow
from hall.models.tickets import OPEN_STATUSES

SWEEPER_KEY = "hall_sweeper"
ROLLUP_DAYS_PER_SWEEP = 7  # past days of report figures a sweep rolls up per hall (a week)

_T = Ticket.__table__
# Written so both SQLite and PostgreSQL use the partial index of open tickets (ix_tickets_open).
_OPEN = sa.text("tickets.status in ('waiting','called','serving')")
_PAST_OPEN = (
    _T.c.hall_id == sa.bindparam("p_hall"),
    _T.c.service_day < sa.bindparam("p_day"),
    _OPEN,
)
_LEFT_OPEN = sa.select(_T.c.status, sa.func.count()).where(*_PAST_OPEN).group_by(_T.c.status)
# One statement per former state, so each expired ticket's event can say what it was. On
# PostgreSQL a row another transaction is expiring right now is waited for, then skipped (its
# status no longer matches): each ticket is expired, and logged, exactly once.
_EXPIRE = (
    sa.update(_T)
    .where(*_PAST_OPEN, _T.c.status == sa.bindparam("p_status"))
    .values(status="expired")
    .returning(_T.c.id, _T.c.window_id)
)
_LOG = sa.insert(TicketEvent.__table__)


def _halls(session: Session, hall: Hall | str | None) -> list[Hall]:
    if isinstance(hall, Hall):
        return [hall]
    if hall is not None:
        return [tickets.get_hall(session, hall)]  # NotFound
    return list(session.scalars(sa.select(Hall).order_by(Hall.id)))


def expire_past_days(
    session: Session, hall: Hall | str | None = None, now: datetime | None = None
) -> dict[str, dict[str, int]]:
    """Close as ``expired`` every ticket of a past service day (the hall's local date at
    ``now``) that is still waiting, called or serving; one event each (action ``expired``,
    by nobody: the system); queue a fresh board for each hall that changed.

    Returns what was closed per hall code and former state, e.g.
    ``{"demo": {"waiting": 3, "called": 1, "serving": 0}}``. Running it again, or in two
    processes at once, closes nothing twice.
    """
    now = now or utcnow()
    result: dict[str, dict[str, int]] = {}
    for each in _halls(session, hall):
        result[each.code] = _expire_hall(session, each, now)
    return result


def _expire_hall(session: Session, hall: Hall, now: datetime) -> dict[str, int]:
    counts = dict.fromkeys(OPEN_STATUSES, 0)
    params = {"p_hall": hall.id, "p_day": board.service_day(hall, now)}
    left_open = dict(session.execute(_LEFT_OPEN, params).all())  # cheap: a small index
    if not left_open:
        return counts
    events = []
    expired_ids = set()
    for status in OPEN_STATUSES:
        if not left_open.get(status):
            continue
        rows = session.execute(_EXPIRE, {**params, "p_status": status}).all()
        counts[status] = len(rows)
        for ticket_id, window_id in rows:
            expired_ids.add(ticket_id)
            events.append(
                {
                    "ticket_id": ticket_id,
                    "hall_id": hall.id,
                    "action": "expired",
                    "window_id": window_id,
                    "user_id": None,
                    "device_id": None,
                    "at": now,
                    "detail": f"from={status}",
                }
            )
    if not events:
        return counts  # another process closed them first
    session.execute(_LOG, events)  # executemany
    # Tickets this session holds as objects are read again when next used.
    for obj in list(session.identity_map.values()):
        if isinstance(obj, Ticket) and obj.id in expired_ids:
            session.expire(obj)
    tickets.publish_board(session, hall)  # screens, counters and phones apply it
    return counts


def total(counts: dict[str, dict[str, int]]) -> int:
    """How many tickets a result of `expire_past_days` closed in all."""
    return sum(sum(per_hall.values()) for per_hall in counts.values())


# ---------------------------------------------------------------- callers: command, server


def sweep(
    session: Session, hall: Hall | str | None = None, now: datetime | None = None
) -> dict[str, dict[str, int]]:
    """Run the rollover hall by hall, each hall committed, then its board published."""
    from hall import realtime  # the caller's side: commit, then publish

    now = now or utcnow()
    result: dict[str, dict[str, int]] = {}
    try:
        halls = _halls(session, hall)
        codes = [each.code for each in halls]
        session.rollback()  # end the reading transaction; each hall gets its own
        for code in codes:
            result.update(expire_past_days(session, code, now))
            realtime.commit_and_publish(session)
    except BaseException:
        session.rollback()
        realtime.discard(session)
        raise
    return result


def rollup_reports(session: Session, budget: int = ROLLUP_DAYS_PER_SWEEP) -> dict[str, int]:
    """Roll up the report figures of the past days each hall still lacks (yesterday first,
    at most `budget` days a hall), each hall committed: {hall code: days stored}."""
    from hall.domain import rates, reports

    done: dict[str, int] = {}
    for hall_id, code in session.execute(sa.select(Hall.id, Hall.code).order_by(Hall.id)).all():
        try:
            today = rates.hall_today(session, hall_id)
            count = reports.rollup_pending(session, hall_id, today, budget)
            session.commit()
        except sa.exc.SQLAlchemyError:  # another process stored the same day first
            session.rollback()
            _log().info("report rollup of hall %s deferred to the next minute", code)
            continue
        if count:
            done[code] = count
    return done


def sweeper_enabled(app) -> bool:
    """HALL_SWEEPER (config, else environment); unset: on, except in tests (TESTING)."""
    value = app.config.get("HALL_SWEEPER")
    if value is None:
        value = os.environ.get("HALL_SWEEPER")
    if value is None:
        return not app.config.get("TESTING")
    if isinstance(value, str):
        return value.strip().lower() in {"1", "true", "yes", "on"}
    return bool(value)


def seconds_to_next_minute(at: float | None = None) -> float:
    """Seconds until just after the next full minute (a little jitter spreads processes)."""
    at = time.time() if at is None else at
    return 60.0 - (at % 60.0) + random.uniform(0.5, 2.5)


def _log() -> logging.Logger:
    # Taken when first used, after the migrations' logging set-up (fileConfig) has run:
    # fileConfig silences the loggers that exist at that moment.
    return logging.getLogger(__name__)


class Sweeper:
    """The server's background task: the rollover once at start, then every minute."""

    def __init__(self, app) -> None:
        self.app = app
        self.stopping = threading.Event()
        self.runs = 0
        self.task = None
        # the day (installation time zone) the retention last ran in this process
        self.retention_day = None

    def run_once(self) -> dict[str, dict[str, int]]:
        """One sweep of every hall in a fresh app context; logs what it closed."""
        from hall.extensions import db

        with self.app.app_context():
            try:
                result = sweep(db.session)
                rolled = rollup_reports(db.session)
                self.run_retention(db.session)
            finally:
                db.session.remove()
        if rolled:
            _log().info("report rollup: %s past days stored %s", sum(rolled.values()), rolled)
        self.runs += 1
        closed = {code: c for code, c in result.items() if any(c.values())}
        if closed:
            _log().info("day rollover: expired tickets of past days %s", closed)
        return result

    def run_retention(self, session: Session, now: datetime | None = None) -> dict | None:
        """Erase old personal data once a day when HALL_RETENTION_DAYS > 0 (None when not
        due): a count first, the UPDATE and its audit row only when something is left."""
        days = int(self.app.config.get("HALL_RETENTION_DAYS") or 0)
        if days <= 0:
            return None
        from hall.domain import retention

        zone = self.app.config.get("HALL_TIMEZONE") or "Asia/Shanghai"
        today = retention.cutoff(0, now, zone)
        if self.retention_day == today:
            return None
        before = retention.cutoff(days, now, zone)
        try:
            if retention.count_personal_data(session, before):
                result = retention.erase_personal_data(session, before, via="sweeper")
                session.commit()
                logging.getLogger("hall.domain.retention").info(
                    "retention: personal fields erased %s", result
                )
            else:
                session.rollback()
                result = {"before": before.isoformat(), "cases": 0, "dry_run": False}
        except sa.exc.SQLAlchemyError:
            session.rollback()
            logging.getLogger("hall.domain.retention").exception(
                "retention failed; trying again in a minute"
            )
            return None
        self.retention_day = today
        return result

    def loop(self) -> None:
        """Never ends by an error: each failure is logged and the next minute tries again."""
        delay = 0.0
        while not self.stopping.wait(delay):
            try:
                self.run_once()
            except Exception:
                _log().exception("day rollover failed; trying again in a minute")
            delay = seconds_to_next_minute()

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to end and wait for it (tests; a server just exits)."""
        self.stopping.set()
        if self.task is not None:
            self.task.join(timeout)


def start_sweeper(app) -> Sweeper | None:
    """Start the rollover task of this server process once (None when HALL_SWEEPER is off).

    Every process may run one: a ticket is expired once however many sweep at a time.
    """
    if not sweeper_enabled(app):
        return None
    running = app.extensions.get(SWEEPER_KEY)
    if running is not None:
        return running
    from hall.extensions import socketio

    sweeper = Sweeper(app)
    app.extensions[SWEEPER_KEY] = sweeper
    sweeper.task = socketio.start_background_task(sweeper.loop)
    return sweeper
