"""Ticket workflows (取号、叫号): issue, call next, recall, no-show, transfer, start, finish.

Every function takes a Session, changes rows, records a TicketEvent and queues a realtime
event on ``session.info["hall_events"]``; the caller commits, then publishes. The workflows
run their SQL on the driver (hall.domain.rawsql) and work on `TicketRow`s; each also has a
form giving the ORM Ticket (`issue` beside `issue_row`…).
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import NamedTuple

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from hall.domain import board
from hall.domain.errors import Conflict, Forbidden, Invalid, NotFound
from hall.domain.rawsql import SQL, Raw, raw, read_day, read_time
from hall.models import AuditEvent, Hall, Matter, Queue, Ticket, Window, utcnow

EVENTS_KEY = "hall_events"
CANDIDATES = 8  # how many waiting tickets one call tries to claim before looking again
RECENT_SERVICES = 20  # finished tickets averaged for the wait estimate
# the tracking token of a ticket (/t/<token>): 16 random bytes, 128 bits, 22 characters
TOKEN_BYTES = 16


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff user and/or a device token, for the audit trail."""

    user_id: int | None = None
    device_id: int | None = None
    hall_id: int | None = None  # the hall the actor is bound to; None: every hall
    ip: str | None = None  # the client's address, when acting through a request


NOBODY = Actor()


# ---------------------------------------------------------------- lookups

# Statements of the hot paths are built once, with bound parameters: building a statement
# costs several times more than executing it (see bench/README.md).
_HALL_BY_CODE = sa.select(Hall).where(Hall.code == sa.bindparam("code"))
_WINDOW_BY_NUMBER = sa.select(Window).where(
    Window.hall_id == sa.bindparam("hall_id"), Window.number == sa.bindparam("number")
)
_QUEUE_BY_PREFIX = sa.select(Queue).where(
    Queue.hall_id == sa.bindparam("hall_id"), Queue.prefix == sa.bindparam("prefix")
)
# a ticket is always shown with its queue (prefix, name): load both in one statement
_WITH_QUEUE = [joinedload(Ticket.queue, innerjoin=True)]
_TICKET_BY_TOKEN = sa.select(Ticket).where(Ticket.token == sa.bindparam("token"))
_MATTER_BY_CODE = sa.select(Matter).where(Matter.code == sa.bindparam("code"))


def get_hall(session: Session, code: str) -> Hall:
    """The hall with this code, or NotFound (looked up once per session)."""
    known = session.info.setdefault("hall_ids", {})
    if code in known:
        hall = session.get(Hall, known[code])
    else:
        hall = session.scalar(_HALL_BY_CODE, {"code": code})
    if hall is not None:
        known[code] = hall.id
    if hall is None:
        raise NotFound("hall_not_found", f"没有编码为 {code} 的大厅", f"No hall with code {code}")
    return hall


def get_window(session: Session, hall: Hall, number: int) -> Window:
    """The window with this number in the hall, or NotFound."""
    window = session.scalar(_WINDOW_BY_NUMBER, {"hall_id": hall.id, "number": number})
    if window is None:
        raise NotFound(
            "window_not_found", f"没有 {number} 号窗口", f"No window number {number} in this hall"
        )
    return window


def get_queue(session: Session, hall: Hall, prefix: str) -> Queue:
    """The queue with this prefix in the hall, or NotFound."""
    queue = session.scalar(_QUEUE_BY_PREFIX, {"hall_id": hall.id, "prefix": prefix.upper()})
    if queue is None:
        raise NotFound("queue_not_found", f"没有 {prefix} 类业务队列", f"No queue {prefix}")
    return queue


_TICKET_BY_ID = (
    sa.select(Ticket)
    .options(*_WITH_QUEUE)
    .where(Ticket.id == sa.bindparam("id"))
    .execution_options(populate_existing=True)
)


def get_ticket(session: Session, ticket_id: int) -> Ticket:
    """The ticket with this id (fresh from the database), or NotFound."""
    ticket = session.execute(_TICKET_BY_ID, {"id": ticket_id}).scalar_one_or_none()
    if ticket is None:
        raise NotFound("ticket_not_found", "没有这张票", f"No ticket {ticket_id}")
    return ticket


def get_ticket_by_token(session: Session, token: str) -> Ticket:
    """The ticket behind a tracking token, or NotFound."""
    ticket = session.scalar(_TICKET_BY_TOKEN, {"token": token})
    if ticket is None:
        raise NotFound("ticket_not_found", "没有这张票", "No such ticket")
    return ticket


def queue_for_matter(session: Session, hall: Hall, code: str) -> tuple[Queue, Matter]:
    """The queue of this hall that handles a matter: its own queue, or one with its prefix."""
    matter = session.scalar(_MATTER_BY_CODE, {"code": code})
    if matter is None or not matter.active:
        raise NotFound("matter_not_found", f"没有编码为 {code} 的事项", f"No matter {code}")
    if matter.queue is None:
        raise Conflict(
            "matter_without_queue", "该事项未设置取号队列", "This matter has no queue to join"
        )
    if matter.queue.hall_id == hall.id:
        return matter.queue, matter
    queue = session.scalar(_QUEUE_BY_PREFIX, {"hall_id": hall.id, "prefix": matter.queue.prefix})
    if queue is None:
        raise NotFound(
            "matter_not_in_hall", "本大厅不办理该事项", "This matter is not handled in this hall"
        )
    return queue, matter


# ---------------------------------------------------------------- rows

# The workflows below read and write tickets with SQL run on the driver (hall.domain.rawsql):
# they are the hot paths of the hall (every ticket issued, called and finished). They work
# on TicketRow, a ticket with the names shown beside it; the functions that return ORM
# Tickets (`issue`, `call_next`, `finish`…) load them afterwards for pages, the command line
# and the tests.


class HallRef(NamedTuple):
    """What the workflows need of a hall."""

    id: int
    code: str
    timezone: str


class WindowRef(NamedTuple):
    """What a call needs of a window (read as it locks the row)."""

    id: int
    number: int
    name: str
    status: str
    staff_id: int | None
    busy: str | None  # the number the window is calling or serving, if any


@dataclass(slots=True)
class TicketRow:
    """A ticket's columns and the names shown with it (queue, window, matter), read or
    written by the workflows without ORM objects. `board.ticket_dict` and the presenters
    take it or a Ticket alike (the Ticket model has the same flat names)."""

    id: int
    token: str
    hall_id: int
    queue_id: int
    issue_queue_id: int
    service_day: date
    number: int
    label: str
    matter_id: int | None
    priority: bool
    status: str
    sort_at: datetime
    window_id: int | None
    target_window_id: int | None
    staff_id: int | None
    issued_at: datetime
    called_at: datetime | None
    last_called_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    call_count: int
    returned: bool
    queue_prefix: str
    queue_name: str
    hall_code: str
    hall_timezone: str
    window_number: int | None = None
    window_name: str | None = None
    window_staff_id: int | None = None
    target_window_number: int | None = None
    matter_code: str | None = None
    matter_name: str | None = None
    # (those ahead, open windows of its queue) as counted when it was issued, in the
    # statement that numbered its event: `position` takes them instead of counting again
    counted_position: tuple[int, int] | None = None

    @property
    def hall(self) -> HallRef:
        return HallRef(self.hall_id, self.hall_code, self.hall_timezone)


_ROW_SELECT = """
    SELECT tickets.id, tickets.token, tickets.hall_id, tickets.queue_id,
        tickets.issue_queue_id, tickets.service_day, tickets.number, tickets.label,
        tickets.matter_id, tickets.priority, tickets.status, tickets.sort_at,
        tickets.window_id, tickets.target_window_id, tickets.staff_id, tickets.issued_at,
        tickets.called_at, tickets.last_called_at, tickets.started_at, tickets.finished_at,
        tickets.call_count, tickets.returned,
        queues.prefix, queues.name, halls.code, halls.timezone,
        w.number, w.name, w.staff_id, tw.number, matters.code, matters.name
    FROM tickets
    JOIN queues ON queues.id = tickets.queue_id
    JOIN halls ON halls.id = tickets.hall_id
    LEFT JOIN windows w ON w.id = tickets.window_id
    LEFT JOIN windows tw ON tw.id = tickets.target_window_id
    LEFT JOIN matters ON matters.id = tickets.matter_id
    WHERE tickets.id = :id
"""
_ROW = SQL(_ROW_SELECT)
# PostgreSQL: the ticket's row locked (SQLite: the transaction holds the write lock), then
# read by _ROW in a statement of its own, as SeqWith says why: read with its joins by the
# statement that waited for the lock, a ticket another transaction had just moved to
# another queue or window was not found at all (404 instead of 409 wrong_state)
_LOCK_ROW = SQL("SELECT tickets.id FROM tickets WHERE tickets.id = :id FOR UPDATE")
_ROW_BY_TOKEN = SQL(_ROW_SELECT.replace("tickets.id = :id", "tickets.token = :token"))
_ROWS_KEY = "hall_locked_rows"


_TIMES = ("sort_at", "issued_at", "called_at", "last_called_at", "started_at", "finished_at")


def _to_row(values: tuple) -> TicketRow:
    row = TicketRow(*values)
    row.service_day = read_day(row.service_day)
    row.priority = bool(row.priority)
    row.returned = bool(row.returned)
    for name in _TIMES:
        setattr(row, name, read_time(getattr(row, name)))
    return row


def _raw(session: Session) -> Raw:
    """The driver's cursor of this transaction, after writing what the ORM holds pending
    (the SQL below does not flush it)."""
    session.flush()
    return raw(session)


def ticket_row(session: Session, ticket_id: int, *, lock: bool = False) -> TicketRow:
    """The ticket with this id as a row (row-locked when asked), or NotFound.

    A ticket locked earlier in the same transaction is returned as it is: nobody else can
    have changed it since (the row lock; on SQLite the write lock of the transaction), and
    the workflows keep the row up to date as they change it."""
    locked = session.info.get(_ROWS_KEY)
    if lock and locked and ticket_id in locked:
        return locked[ticket_id]
    r = _raw(session)
    if lock and r.postgres and r.one(_LOCK_ROW, {"id": ticket_id}) is None:
        values = None
    else:
        values = r.one(_ROW, {"id": ticket_id})
    if values is None:
        raise NotFound("ticket_not_found", "没有这张票", f"No ticket {ticket_id}")
    row = _to_row(values)
    if lock:
        session.info.setdefault(_ROWS_KEY, {})[ticket_id] = row
    return row


def ticket_row_by_token(session: Session, token: str) -> TicketRow:
    """The ticket behind a tracking token as a row, or NotFound."""
    values = _raw(session).one(_ROW_BY_TOKEN, {"token": token})
    if values is None:
        raise NotFound("ticket_not_found", "没有这张票", "No such ticket")
    return _to_row(values)


def _forget_rows(session: Session, transaction) -> None:
    """after_transaction_end: the row locks of a transaction end with it."""
    if transaction.parent is None:
        session.info.pop(_ROWS_KEY, None)


if not event.contains(Session, "after_transaction_end", _forget_rows):
    event.listen(Session, "after_transaction_end", _forget_rows)


def _orm_ticket(session: Session, ticket_id: int) -> Ticket:
    """The ORM Ticket of a row the workflows changed, read again (a copy the session held
    before is refreshed, relationships included)."""
    held = session.identity_map.get(identity_key(Ticket, ticket_id))
    if held is not None:
        session.expire(held)
    return session.execute(_TICKET_BY_ID, {"id": ticket_id}).scalar_one()


_HALL_REF = SQL("SELECT id, code, timezone FROM halls WHERE code = :code")


def hall_ref(session: Session, code: str) -> HallRef:
    """The hall with this code (id, code, time zone), or NotFound."""
    values = _raw(session).one(_HALL_REF, {"code": code})
    if values is None:
        raise NotFound("hall_not_found", f"没有编码为 {code} 的大厅", f"No hall with code {code}")
    return HallRef(*values)


# ---------------------------------------------------------------- events


_NEXT_SEQ = SQL("UPDATE halls SET seq = seq + 1 WHERE id = :hall_id RETURNING seq")
_LOG = SQL(
    """
    INSERT INTO ticket_events (ticket_id, hall_id, action, window_id, user_id, device_id, at,
        detail, ip)
    VALUES (:ticket_id, :hall_id, :action, :window_id, :user_id, :device_id, :at, :detail, :ip)
    """
)


class SeqWith:
    """The hall's next seq with counts taken once its row is held (`counts`: SQL scalar
    expressions, comma-separated). SQLite takes them in the same statement: its write lock,
    taken at BEGIN, already orders whole transactions. PostgreSQL counts in a statement of
    its own after the seq: a statement that waited for the hall's row reads in the snapshot
    it took before the wait, and would miss what a transaction holding the row committed
    meanwhile (tests/test_concurrency.py)."""

    __slots__ = ("together", "after")

    def __init__(self, counts: str):
        self.together = SQL(
            f"UPDATE halls SET seq = seq + 1 WHERE id = :hall_id RETURNING seq, {counts}"
        )
        self.after = SQL(f"SELECT {counts}")


# the seq with the waiting count of a queue (what a ticket event carries)
_QUEUE_WAITING = """
    SELECT count(*) FROM tickets WHERE tickets.hall_id = :hall_id
        AND tickets.service_day = :day AND tickets.status = 'waiting'
        AND tickets.queue_id = :queue_id
"""
_NEXT_SEQ_COUNTING = SeqWith(f"({_QUEUE_WAITING})")


def _take_seq(session: Session, hall_id: int, counting: SeqWith | None = None, **params) -> tuple:
    """Allocate the hall's next event number (taken last, so the row lock is held briefly);
    the seq, then what `counting` counts."""
    r = _raw(session)
    params["hall_id"] = hall_id
    if counting is None:
        row = r.one(_NEXT_SEQ, params)
    elif r.postgres:
        row = (r.scalar(_NEXT_SEQ, params), *r.one(counting.after, params))
    else:
        row = r.one(counting.together, params)
    held = session.identity_map.get(identity_key(Hall, hall_id))
    if held is not None:  # a Hall the session holds shows the seq just taken
        set_committed_value(held, "seq", row[0])
    return row


def _next_seq(session: Session, hall_id: int) -> int:
    """Allocate the hall's next event number."""
    return _take_seq(session, hall_id)[0]


def _publish(
    session: Session, hall, name: str, payload: dict, rooms: list[str], *, seq: int | None = None
) -> dict:
    """Queue an event for publication after commit; it carries the hall's next seq (taken
    here unless the caller took it already)."""
    if seq is None:
        seq = _next_seq(session, hall.id)
    payload = {"seq": seq, "hall": hall.code, **payload}
    session.info.setdefault(EVENTS_KEY, []).append({"name": name, "data": payload, "rooms": rooms})
    return payload


def _log(session: Session, ticket: TicketRow, action: str, actor: Actor, detail: str = "") -> None:
    """Write the TicketEvent of a state change (who, what, when, where)."""
    r = _raw(session)
    r.execute(
        _LOG,
        {
            "ticket_id": ticket.id,
            "hall_id": ticket.hall_id,
            "action": action,
            "window_id": ticket.window_id,
            "user_id": actor.user_id,
            "device_id": actor.device_id,
            "at": r.time(utcnow()),
            "detail": detail,
            "ip": actor.ip,
        },
    )


def _ticket_event(
    session: Session,
    ticket: TicketRow,
    name: str,
    *,
    left: int | None = None,
    seq_row: tuple | None = None,
    **extra,
) -> dict:
    """Queue a ticket event with the ticket and the waiting count of its queue (and of the
    queue it `left`, after a transfer): screens update the counts an event carries.
    `seq_row` is the (seq, waiting count, …) the caller took already (issue)."""
    hall = ticket.hall
    if seq_row is None:
        day = _raw(session).day(ticket.service_day)
        seq_row = _take_seq(session, hall.id, _NEXT_SEQ_COUNTING, day=day, queue_id=ticket.queue_id)
    seq, count = seq_row[:2]
    waiting = {}
    if left is not None:  # counted once the hall's row is held, as SeqWith counts
        waiting = board.waiting_counts(session, hall, ticket.service_day, (left,))
    waiting[ticket.queue_prefix] = count
    payload = {"ticket": board.ticket_dict(ticket), "waiting": waiting, **extra}
    rooms = [f"hall:{hall.code}", f"ticket:{ticket.token}"]
    if ticket.window_id:
        rooms.append(f"window:{hall.code}:{ticket.window_number}")
    return _publish(session, hall, name, payload, rooms, seq=seq)


def _window_event(session: Session, hall: Hall, window: Window) -> dict:
    session.flush()
    current = board.current_tickets(session, hall).get(window.id)
    return _publish(
        session,
        hall,
        "window.updated",
        {"window": board.window_dict(window, current)},
        [f"hall:{hall.code}", f"window:{hall.code}:{window.number}"],
    )


def publish_board(session: Session, hall: Hall) -> None:
    """Queue the hall's whole board, with its next seq, for publication after commit: after a
    change to windows or queues, screens, counters and phones apply it as on a resync."""
    session.flush()
    _next_seq(session, hall.id)
    session.info.setdefault(EVENTS_KEY, []).append(
        {"name": "board", "data": board.snapshot(session, hall), "rooms": [f"hall:{hall.code}"]}
    )


def take_events(session: Session) -> list[dict]:
    """Remove and return the events queued by the workflows of this transaction."""
    return session.info.pop(EVENTS_KEY, [])


# ---------------------------------------------------------------- issue


_QUEUE_AND_HALL = SQL(
    """
    SELECT queues.id, queues.prefix, queues.name, halls.id, halls.code, halls.timezone
    FROM queues JOIN halls ON halls.id = queues.hall_id
    WHERE halls.code = :code AND queues.prefix = :prefix
    """
)
# One atomic statement starts a queue's day at 1 or takes the next number.
_TAKE_NUMBER = SQL(
    """
    INSERT INTO number_counters (queue_id, service_day, last) VALUES (:queue_id, :day, 1)
    ON CONFLICT (queue_id, service_day) DO UPDATE SET last = number_counters.last + 1
    RETURNING last
    """
)
_NEW_TICKET = SQL(
    """
    INSERT INTO tickets (token, hall_id, queue_id, issue_queue_id, service_day, number, label,
        matter_id, priority, status, sort_at, issued_at, call_count, returned)
    VALUES (:token, :hall_id, :queue_id, :queue_id, :day, :number, :label, :matter_id,
        :priority, 'waiting', :now, :now, 0, :returned)
    RETURNING id
    """
)


def issue_row(
    session: Session,
    hall_code: str,
    *,
    queue_prefix: str | None = None,
    matter_code: str | None = None,
    priority: bool = False,
    actor: Actor = NOBODY,
    now: datetime | None = None,
) -> TicketRow:
    """Issue a ticket (取号) for a queue or a matter; priority marks 绿色通道."""
    if not (matter_code or queue_prefix):
        raise Invalid("queue_required", "请指定业务队列或事项", "Give a queue or a matter")
    r = _raw(session)
    matter = found = None
    if queue_prefix and not matter_code:
        # the queue and its hall in one statement (the hot path of the kiosk and the API)
        found = r.one(_QUEUE_AND_HALL, {"code": hall_code, "prefix": queue_prefix.upper()})
    if found is not None:
        queue_id, prefix, queue_name = found[:3]
        hall = HallRef(*found[3:])
        _check_actor_hall(actor, hall)
    else:
        hall_obj = get_hall(session, hall_code)
        _check_actor_hall(actor, hall_obj)  # before telling what the hall has or has not
        if matter_code:
            queue, matter = queue_for_matter(session, hall_obj, matter_code)
        else:
            queue = get_queue(session, hall_obj, queue_prefix)  # NotFound
        queue_id, prefix, queue_name = queue.id, queue.prefix, queue.name
        hall = HallRef(hall_obj.id, hall_obj.code, hall_obj.timezone)
    now = now or utcnow()
    day = board.service_day(hall, now)
    stored_day = r.day(day)
    number = r.scalar(_TAKE_NUMBER, {"queue_id": queue_id, "day": stored_day})
    token = secrets.token_urlsafe(TOKEN_BYTES)
    label = f"{prefix}{number:03d}"
    params = {
        "token": token,
        "hall_id": hall.id,
        "queue_id": queue_id,
        "day": stored_day,
        "number": number,
        "label": label,
        "matter_id": matter.id if matter else None,
        "priority": bool(priority),
        "now": r.time(now),
        "returned": False,
    }
    ticket = TicketRow(
        id=r.scalar(_NEW_TICKET, params),
        token=token,
        hall_id=hall.id,
        queue_id=queue_id,
        issue_queue_id=queue_id,
        service_day=day,
        number=number,
        label=label,
        matter_id=matter.id if matter else None,
        priority=bool(priority),
        status="waiting",
        sort_at=now,
        window_id=None,
        target_window_id=None,
        staff_id=None,
        issued_at=now,
        called_at=None,
        last_called_at=None,
        started_at=None,
        finished_at=None,
        call_count=0,
        returned=False,
        queue_prefix=prefix,
        queue_name=queue_name,
        hall_code=hall.code,
        hall_timezone=hall.timezone,
        matter_code=matter.code if matter else None,
        matter_name=matter.name if matter else None,
    )
    _log(session, ticket, "issued", actor, "priority" if priority else "")
    row = _take_seq(
        session,
        hall.id,
        _SEQ_OF_PRIORITY if priority else _SEQ_OF_ORDINARY,
        day=stored_day,
        queue_id=queue_id,
        priority=bool(priority),
        sort_at=params["now"],
        id=ticket.id,
    )
    _seq, waiting, counted, open_windows = row
    ticket.counted_position = (counted if priority else waiting - 1 - counted, open_windows)
    _ticket_event(session, ticket, "ticket.issued", seq_row=row)
    return ticket


def issue(session: Session, hall_code: str, **options) -> Ticket:
    """`issue_row`, giving the ORM Ticket (pages, the command line, tests)."""
    return _orm_ticket(session, issue_row(session, hall_code, **options).id)


# ---------------------------------------------------------------- position and wait

# Those ahead, counted as ranges of ix_tickets_call_order (target window, queue, day,
# priority, arrival, id): each count walks only the index entries it counts, comparing them
# with its range's bounds, instead of testing every waiting ticket of the queue against an
# expression (twice as fast with a thousand waiting). A ticket's queue or target window is of
# its hall: no hall_id needed.
_WAITING_IN = """
    SELECT count(*) FROM tickets
    WHERE tickets.status = 'waiting' AND tickets.service_day = :day
"""
_UNTARGETED = _WAITING_IN + (
    " AND tickets.target_window_id IS NULL AND tickets.queue_id = :queue_id"
    " AND tickets.priority = :priority"
)
# of the ticket's kind (:priority), arriving before it (arrival, then id), or after it
_BEFORE = (
    f"({_UNTARGETED} AND tickets.sort_at < :sort_at)"
    f" + ({_UNTARGETED} AND tickets.sort_at = :sort_at AND tickets.id < :id)"
)
_AFTER = (
    f"({_UNTARGETED} AND tickets.sort_at > :sort_at)"
    f" + ({_UNTARGETED} AND tickets.sort_at = :sort_at AND tickets.id > :id)"
)
_OPEN_WINDOWS = """
    SELECT count(*) FROM window_queues JOIN windows ON windows.id = window_queues.window_id
    WHERE window_queues.queue_id = :queue_id AND windows.status = 'open'
"""
# those ahead and the open windows of the queue, in one statement: a priority ticket has the
# earlier priority tickets ahead, an ordinary one every priority ticket (:yes) and the
# earlier ordinary ones
_POSITION_ORDINARY = SQL(
    f"SELECT ({_UNTARGETED.replace(':priority', ':yes')}) + {_BEFORE}, ({_OPEN_WINDOWS})"
)
_POSITION_PRIORITY = SQL(f"SELECT {_BEFORE}, ({_OPEN_WINDOWS})")
# Issuing, the statement that numbers the event (and counts the queue's waiting tickets,
# the new one included) also counts, in the same snapshot, what the new ticket's position
# needs: for an ordinary ticket those of the count that are not ahead of it (sent to a
# window, or ordinary and after it: a few at most, whose clock ran ahead), each a short
# range, so the queue is walked once; for a priority ticket the earlier priority ones; and
# the open windows of its queue.
_SENT_TO_A_WINDOW = (
    _WAITING_IN + " AND tickets.queue_id = :queue_id AND tickets.target_window_id IS NOT NULL"
)
_SEQ_OF_ORDINARY = SeqWith(
    f"({_QUEUE_WAITING}), ({_SENT_TO_A_WINDOW}) + {_AFTER}, ({_OPEN_WINDOWS})"
)
_SEQ_OF_PRIORITY = SeqWith(f"({_QUEUE_WAITING}), {_BEFORE}, ({_OPEN_WINDOWS})")


def waiting_ahead(session: Session, ticket) -> int:
    """How many waiting tickets will be called before this one (a Ticket or a TicketRow)."""
    return position(session, ticket)[0] if ticket.status == "waiting" else 0


_SERVICE_CACHE: dict[int, tuple[float, float]] = {}
SERVICE_CACHE_SECONDS = 30.0


def average_service_minutes(session: Session, hall, default: float) -> float:
    """Mean service time of the hall's latest finished tickets today (default when none);
    kept for 30 s per process, since it only feeds an estimate."""
    cached = _SERVICE_CACHE.get(hall.id)
    now = time.monotonic()
    if cached and cached[0] > now:
        return cached[1]
    rows = session.execute(
        sa.select(Ticket.finished_at, sa.func.coalesce(Ticket.started_at, Ticket.called_at))
        .where(
            Ticket.hall_id == hall.id,
            Ticket.service_day == board.service_day(hall),
            Ticket.status == "finished",
        )
        .order_by(Ticket.finished_at.desc())
        .limit(RECENT_SERVICES)
    ).all()
    spans = [(end - start).total_seconds() / 60 for end, start in rows if end and start]
    value = max(0.5, sum(spans) / len(spans)) if spans else default
    _SERVICE_CACHE[hall.id] = (now + SERVICE_CACHE_SECONDS, value)
    return value


# those sent to one window, listed to find a ticket's place among them
SENT_LISTED = 1000


def position(session: Session, ticket, default: float = 5.0) -> tuple[int, int]:
    """(how many are ahead, estimated minutes until the call) of a ticket (a Ticket or a
    TicketRow), as phones show it: those ahead × mean service time ÷ open windows of its
    queue (one window when it was sent to a window)."""
    if ticket.status != "waiting":
        return 0, 0
    counted = getattr(ticket, "counted_position", None)  # a TicketRow just issued
    if counted is not None:
        return _estimate(session, ticket, *counted, default)
    r = _raw(session)
    day = r.day(ticket.service_day)
    if ticket.target_window_id:
        # its place among those sent to the window (a handful at most), listed as the
        # window's calls list them; the window calls them before its queues
        sent = {"window_id": ticket.target_window_id, "day": day, "hall_id": ticket.hall_id}
        ids = [row[0] for row in r.all(_TARGETED_SQL[0], {**sent, "n": SENT_LISTED})]
        ahead = ids.index(ticket.id) if ticket.id in ids else len(ids)
        return _estimate(session, ticket, ahead, 1, default)
    params = {"day": day, "id": ticket.id, "sort_at": r.time(ticket.sort_at)}
    params |= {"queue_id": ticket.queue_id, "priority": bool(ticket.priority), "yes": True}
    statement = _POSITION_PRIORITY if ticket.priority else _POSITION_ORDINARY
    ahead, open_windows = r.one(statement, params)
    return _estimate(session, ticket, ahead, open_windows, default)


def _estimate(session: Session, ticket, ahead: int, open_windows: int, default: float):
    """(ahead, minutes): those ahead × mean service time ÷ open windows."""
    if ahead == 0:
        return 0, 0
    hall = ticket.hall if isinstance(ticket, TicketRow) else session.get(Hall, ticket.hall_id)
    minutes = ahead * average_service_minutes(session, hall, default) / (open_windows or 1)
    return ahead, math.ceil(minutes)


# ---------------------------------------------------------------- calling


_WINDOW_BY_ID = (
    sa.select(Window)
    .where(Window.id == sa.bindparam("id"))
    .execution_options(populate_existing=True)
)
# Take the window's row lock (so calls at one window serialise) and read it, with the
# ticket it is calling or serving (the partial index of active tickets per window), read
# once the row is held: on PostgreSQL in a statement of its own, for the reason SeqWith
# gives (in one statement a second call at the window, waiting for the first, did not see
# the ticket it called, and its own call then broke the one-active-ticket index: a 500).
_WINDOW_BUSY = """
    SELECT tickets.label FROM tickets
    WHERE tickets.window_id = :window_id AND tickets.status in ('called','serving')
"""
_LOCK_WINDOW_ONLY = """
    UPDATE windows SET version = version + 1 WHERE hall_id = :hall_id AND number = :number
    RETURNING id, number, name, status, staff_id
"""
_LOCK_WINDOW = SQL(f"{_LOCK_WINDOW_ONLY}, ({_WINDOW_BUSY.replace(':window_id', 'windows.id')})")
_LOCK_WINDOW_ALONE = SQL(_LOCK_WINDOW_ONLY)
_WINDOW_BUSY_SQL = SQL(_WINDOW_BUSY)


def _lock_window(session: Session, hall, number: int) -> WindowRef:
    """Take the window's row lock so calls at one window serialise, and read it."""
    r = _raw(session)
    params = {"hall_id": hall.id, "number": number}
    if r.postgres:
        values = r.one(_LOCK_WINDOW_ALONE, params)
        if values is not None:
            values = (*values, r.scalar(_WINDOW_BUSY_SQL, {"window_id": values[0]}))
    else:
        values = r.one(_LOCK_WINDOW, params)
    if values is None:
        raise NotFound(
            "window_not_found", f"没有 {number} 号窗口", f"No window number {number} in this hall"
        )
    return WindowRef(*values)


def _require_open(window) -> None:
    if window.status == "paused":
        raise Conflict(
            "window_paused",
            f"{window.number} 号窗口暂停服务中，请先恢复服务",
            f"Window {window.number} is paused; resume it first",
        )
    if window.status != "open":
        raise Conflict(
            "window_closed",
            f"{window.number} 号窗口未开启，请先签到上岗",
            f"Window {window.number} is closed; sign in to it first",
        )


# The candidates of a call, in the order of ix_tickets_call_order (each read is the head of
# that index, never a sort of the day's queue): first the tickets transferred to the window
# (by the window's order of their queues, those of queues it does not serve last on both
# databases, then as below), then the window's queues in its order, each by priority
# (绿色通道) first, arrival, id. The hall is checked on each row read, written
# `hall_id + 0` so that SQLite does not prefer ix_tickets_waiting (hall, day, status, queue:
# every waiting ticket of the day, then a sort) over the index. PostgreSQL skips rows another
# window is claiming right now instead of queueing behind them.
_ORDER = "tickets.priority DESC, tickets.sort_at, tickets.id"
_TARGETED = f"""
    SELECT tickets.id FROM tickets
    LEFT JOIN window_queues ON window_queues.queue_id = tickets.queue_id
        AND window_queues.window_id = :window_id
    WHERE tickets.target_window_id = :window_id AND tickets.status = 'waiting'
        AND tickets.service_day = :day AND tickets.hall_id + 0 = :hall_id
    ORDER BY window_queues.position IS NULL, window_queues.position, {_ORDER} LIMIT :n
"""


def _queued(queue_condition: str) -> str:
    """The first waiting tickets of the queues `queue_condition` names, in call order."""
    return f"""
        SELECT tickets.id FROM tickets
        WHERE tickets.target_window_id IS NULL AND {queue_condition}
            AND tickets.service_day = :day AND tickets.status = 'waiting'
            AND tickets.hall_id + 0 = :hall_id
        ORDER BY {_ORDER} LIMIT :n
    """


def _both(text: str) -> tuple[SQL, SQL]:
    """A candidate read as (SQLite, PostgreSQL) statements."""
    return SQL(text), SQL(text + " FOR UPDATE OF tickets SKIP LOCKED")


_TARGETED_SQL = _both(_TARGETED)
_IN_QUEUE = _both(_queued("tickets.queue_id = :queue_id"))
_WINDOW_QUEUES = SQL(
    """
    SELECT position, queue_id FROM window_queues WHERE window_id = :window_id
    ORDER BY position, queue_id
    """
)
# Claim a ticket only if it is still waiting: the guard against two windows calling it.
_CLAIM = SQL(
    """
    UPDATE tickets SET status = 'called', window_id = :window_id, target_window_id = NULL,
        staff_id = :staff_id, called_at = coalesce(called_at, :now), last_called_at = :now,
        call_count = call_count + 1
    WHERE id = :id AND status = 'waiting'
    """
)


def _candidates(r: Raw, hall, window: WindowRef, day) -> list[int]:
    """Up to CANDIDATES waiting tickets this window may call, best first: transferred to
    it, then by its queue order, priority (绿色通道) before ordinary, first come first
    served. Reads the queues one after the other until it has enough."""

    stored_day = r.day(day)

    def read(statements: tuple[SQL, SQL], **params) -> list[int]:
        params.update(hall_id=hall.id, day=stored_day)
        return [row[0] for row in r.all(statements[r.postgres], params)]

    ids = read(_TARGETED_SQL, window_id=window.id, n=CANDIDATES)
    if len(ids) >= CANDIDATES:
        return ids
    groups: dict[int, list[int]] = {}
    for position_, queue_id in r.all(_WINDOW_QUEUES, {"window_id": window.id}):
        groups.setdefault(position_, []).append(queue_id)
    for queue_ids in groups.values():
        n = CANDIDATES - len(ids)
        if len(queue_ids) == 1:
            ids += read(_IN_QUEUE, queue_id=queue_ids[0], n=n)
        else:  # queues sharing a position in the window's order are taken together
            listed = ", ".join(str(int(queue_id)) for queue_id in queue_ids)
            ids += read(_both(_queued(f"tickets.queue_id IN ({listed})")), n=n)
        if len(ids) >= CANDIDATES:
            break
    return ids


def call_next_row(
    session: Session,
    hall_code: str | HallRef,
    window_number: int,
    *,
    actor: Actor = NOBODY,
    now: datetime | None = None,
    check: Callable[[WindowRef], None] | None = None,
) -> TicketRow | None:
    """Call the next ticket (叫号) at a window; None when nobody waits for it. `check` is
    called with the window as soon as it is locked, before anything else (it may raise).
    The hall is given by its code, or as the HallRef the caller read already."""
    hall = hall_code if isinstance(hall_code, HallRef) else hall_ref(session, hall_code)
    r = _raw(session)
    window = _lock_window(session, hall, window_number)
    if check is not None:
        check(window)
    _require_open(window)
    busy = window.busy
    if busy is not None:
        raise Conflict(
            "window_busy",
            f"{window.number} 号窗口还在办理 {busy}，请先办结或过号",
            f"Window {window.number} still has {busy}; finish it or mark it a no-show",
            current=busy,
        )
    now = now or utcnow()
    day = board.service_day(hall, now)
    while True:
        ids = _candidates(r, hall, window, day)
        if not ids:
            return None
        for ticket_id in ids:
            params = {
                "id": ticket_id,
                "window_id": window.id,
                "staff_id": actor.user_id,
                "now": r.time(now),
            }
            if r.rowcount(_CLAIM, params) == 1:
                ticket = _to_row(r.one(_ROW, {"id": ticket_id}))  # as claimed, with its window
                session.info.setdefault(_ROWS_KEY, {})[ticket_id] = ticket  # locked: claimed
                _log(session, ticket, "called", actor)
                _announce(session, ticket, recall=False)
                return ticket


def call_next(session: Session, hall_code: str, window_number: int, **options) -> Ticket | None:
    """`call_next_row`, giving the ORM Ticket (pages, the command line, tests)."""
    row = call_next_row(session, hall_code, window_number, **options)
    return _orm_ticket(session, row.id) if row else None


def _announce(session: Session, ticket: TicketRow, *, recall: bool) -> dict:
    return _ticket_event(
        session,
        ticket,
        "ticket.called",
        number=ticket.label,
        window=ticket.window_number,
        window_name=ticket.window_name,
        speech=board.speech_text(ticket.label, ticket.window_number),
        utterance=board.utterance(ticket.label, ticket.window_number),
        recall=recall,
    )


def _check_actor_hall(actor: Actor, hall) -> None:
    """Refuse an actor bound to another hall (403 other_hall)."""
    if actor.hall_id is not None and actor.hall_id != hall.id:
        raise Forbidden("other_hall", "无权操作其他大厅", "Not allowed for another hall")


def _acting_on(
    session: Session,
    ticket_id: int,
    allowed: tuple[str, ...],
    action: str,
    window_number,
    actor: Actor,
) -> TicketRow:
    """Load a ticket for an action, refusing it when the hall, state or window is wrong."""
    ticket = ticket_row(session, ticket_id, lock=True)
    _check_actor_hall(actor, ticket.hall)
    if ticket.status not in allowed:
        raise Conflict(
            "wrong_state",
            f"{ticket.label} 当前状态为「{STATUS_ZH[ticket.status]}」，不能{ACTION_ZH[action]}",
            f"{ticket.label} is {ticket.status.replace('_', '-')}; cannot {action} it",
            status=ticket.status,
        )
    acting_elsewhere = (
        window_number is not None
        and ticket.window_id is not None
        and ticket.window_number != int(window_number)
    )
    if acting_elsewhere:
        raise Conflict(
            "other_window",
            f"{ticket.label} 属于 {ticket.window_number} 号窗口，不是 {window_number} 号窗口",
            f"{ticket.label} belongs to window {ticket.window_number}, not {window_number}",
        )
    return ticket


_UPDATABLE = frozenset(
    (
        "status",
        "queue_id",
        "window_id",
        "target_window_id",
        "sort_at",
        "started_at",
        "finished_at",
        "last_called_at",
        "call_count",
        "returned",
    )
)
_UPDATES: dict[tuple[str, ...], SQL] = {}


def _update(session: Session, ticket: TicketRow, **values) -> None:
    """Set columns of a loaded (and locked) ticket with one UPDATE, and on the row as
    written (`_moved` reads the names of a new queue or window)."""
    names = tuple(sorted(values))
    sql = _UPDATES.get(names)
    if sql is None:
        assert _UPDATABLE.issuperset(names), names
        assignments = ", ".join(f"{name} = :{name}" for name in names)
        sql = _UPDATES[names] = SQL(f"UPDATE tickets SET {assignments} WHERE id = :ticket_id")
    r = _raw(session)
    params = {name: r.time(value) if name in _TIMES else value for name, value in values.items()}
    r.execute(sql, {"ticket_id": ticket.id, **params})
    for name, value in values.items():
        setattr(ticket, name, value)


def _moved(session: Session, ticket: TicketRow) -> TicketRow:
    """The row read again after its queue or window changed (the names shown with it)."""
    fresh = _to_row(_raw(session).one(_ROW, {"id": ticket.id}))
    session.info.setdefault(_ROWS_KEY, {})[ticket.id] = fresh
    return fresh


STATUS_ZH = {
    "waiting": "等候中",
    "called": "已叫号",
    "serving": "办理中",
    "finished": "已办结",
    "no_show": "过号",
    "expired": "已过期",
}
ACTION_ZH = {
    "recall": "重呼",
    "no-show": "过号",
    "start": "开始办理",
    "finish": "办结",
    "transfer": "转移",
    "return": "恢复排队",
}


def recall_row(session: Session, ticket_id: int, *, window_number=None, actor=NOBODY):
    """Call the same ticket again (重呼); counted."""
    ticket = _acting_on(session, ticket_id, ("called",), "recall", window_number, actor)
    _update(session, ticket, call_count=ticket.call_count + 1, last_called_at=utcnow())
    _log(session, ticket, "recalled", actor)
    _announce(session, ticket, recall=True)
    return ticket


def no_show_row(session: Session, ticket_id: int, *, window_number=None, actor=NOBODY):
    """Mark a called ticket as not showing up (过号); it may come back once."""
    ticket = _acting_on(session, ticket_id, ("called",), "no-show", window_number, actor)
    _update(session, ticket, status="no_show")
    _log(session, ticket, "no_show", actor)
    _ticket_event(session, ticket, "ticket.updated", action="no_show")
    return ticket


_RETURN_PLACE = SQL(
    """
    SELECT tickets.sort_at FROM tickets
    WHERE tickets.target_window_id IS NULL AND tickets.queue_id = :queue_id
        AND tickets.service_day = :day AND tickets.status = 'waiting'
        AND tickets.hall_id + 0 = :hall_id AND tickets.priority = :priority
    ORDER BY tickets.sort_at, tickets.id LIMIT :n
    """
)


def return_row(session: Session, ticket_id: int, *, after: int = 0, actor: Actor = NOBODY):
    """Put a no-show back in its queue once (过号重排): at the head, or after ``after`` others."""
    ticket = _acting_on(session, ticket_id, ("no_show",), "return", None, actor)
    if ticket.returned:
        raise Conflict(
            "already_returned",
            f"{ticket.label} 已经恢复过一次，请重新取号",
            f"{ticket.label} has already come back once; take a new ticket",
        )
    r = _raw(session)
    params = {
        "queue_id": ticket.queue_id,
        "day": r.day(ticket.service_day),
        "hall_id": ticket.hall_id,
        "priority": ticket.priority,
        "n": max(after, 0) + 1,
    }
    ahead = [read_time(row[0]) for row in r.all(_RETURN_PLACE, params)]
    if not ahead:
        sort_at = utcnow()
    elif after <= 0:
        sort_at = ahead[0] - timedelta(microseconds=1)
    else:
        sort_at = ahead[min(after, len(ahead)) - 1] + timedelta(microseconds=1)
    _update(session, ticket, status="waiting", returned=True, sort_at=sort_at, window_id=None)
    _log(session, ticket, "returned", actor, f"after={after}")
    ticket = _moved(session, ticket)
    _ticket_event(session, ticket, "ticket.updated", action="returned")
    return ticket


def start_row(session: Session, ticket_id: int, *, window_number=None, actor=NOBODY):
    """The resident has arrived at the window: service starts (开始办理)."""
    ticket = _acting_on(session, ticket_id, ("called",), "start", window_number, actor)
    _update(session, ticket, status="serving", started_at=utcnow())
    _log(session, ticket, "started", actor)
    _ticket_event(session, ticket, "ticket.updated", action="started")
    return ticket


def finish_row(session: Session, ticket_id: int, *, window_number=None, actor=NOBODY):
    """Service is over (办结); the window is free for the next call."""
    ticket = _acting_on(session, ticket_id, ("called", "serving"), "finish", window_number, actor)
    _update(session, ticket, status="finished", finished_at=utcnow())
    _log(session, ticket, "finished", actor)
    _ticket_event(session, ticket, "ticket.updated", action="finished")
    return ticket


def transfer_row(
    session: Session,
    ticket_id: int,
    *,
    to_queue: str | None = None,
    to_window: int | None = None,
    window_number=None,
    actor: Actor = NOBODY,
) -> TicketRow:
    """Move a ticket to another queue or window (转移): same number, ahead of later arrivals."""
    ticket = _acting_on(session, ticket_id, ("called", "serving"), "transfer", window_number, actor)
    if (to_queue is None) == (to_window is None):
        raise Invalid(
            "transfer_target",
            "请指定转移到的队列或窗口（二选一）",
            "Give either a queue or a window",
        )
    hall = session.get(Hall, ticket.hall_id)
    if to_window is not None:
        target = get_window(session, hall, int(to_window))
        if target.id == ticket.window_id:
            raise Conflict(
                "same_window", "不能转移到本窗口", "Cannot transfer a ticket to its own window"
            )
        if target.status == "closed":
            raise Conflict(
                "window_closed",
                f"{target.number} 号窗口未开启",
                f"Window {target.number} is closed",
            )
        moved = {"target_window_id": target.id}
        detail = f"window={target.number}"
    else:
        queue = get_queue(session, hall, to_queue)
        moved = {"queue_id": queue.id, "target_window_id": None}
        detail = f"queue={queue.prefix}"
    _log(session, ticket, "transferred", actor, detail)
    left = ticket.queue_id
    _update(session, ticket, status="waiting", window_id=None, **moved)
    ticket = _moved(session, ticket)
    _ticket_event(session, ticket, "ticket.updated", left=left, action="transferred")
    return ticket


def _orm_returning(workflow: Callable[..., TicketRow]) -> Callable[..., Ticket]:
    """A workflow on rows as one giving the ORM Ticket (pages, the command line, tests)."""

    def run(session: Session, ticket_id: int, **options) -> Ticket:
        return _orm_ticket(session, workflow(session, ticket_id, **options).id)

    run.__name__ = workflow.__name__.removesuffix("_row")
    run.__doc__ = f"{workflow.__doc__}\n\n    The ORM Ticket of `{workflow.__name__}`."
    return run


recall = _orm_returning(recall_row)
no_show = _orm_returning(no_show_row)
return_ticket = _orm_returning(return_row)
start = _orm_returning(start_row)
finish = _orm_returning(finish_row)
transfer = _orm_returning(transfer_row)


# ---------------------------------------------------------------- windows


def set_window_status(
    session: Session,
    hall_code: str,
    window_number: int,
    status: str,
    *,
    staff_id: int | None = None,
    actor: Actor = NOBODY,
) -> Window:
    """Open (sign in), pause (暂停服务), resume or close (sign off) a window."""
    if status not in ("open", "paused", "closed"):
        raise Invalid(
            "bad_status", "窗口状态只能是 open、paused 或 closed", "Unknown window status"
        )
    hall = get_hall(session, hall_code)
    locked = _lock_window(session, hall, window_number)
    window = session.execute(_WINDOW_BY_ID, {"id": locked.id}).scalar_one()
    if status == "closed":
        busy = board.current_tickets(session, hall).get(window.id)
        if busy is not None:
            raise Conflict(
                "window_busy",
                f"请先办结或过号 {busy.label} 再关闭窗口",
                f"Finish {busy.label} or mark it a no-show before closing the window",
            )
        window.staff_id = None
    elif status == "paused" and window.status == "closed":
        raise Conflict("window_closed", "窗口未开启，不能暂停", "A closed window cannot be paused")
    elif staff_id is not None:
        window.staff_id = staff_id
    window.status = status
    session.add(
        AuditEvent(
            hall_id=hall.id,
            user_id=actor.user_id,
            action=f"window.{status}",
            detail=f"window={window.number}",
            at=utcnow(),
        )
    )
    _window_event(session, hall, window)
    return window


def set_notice(session: Session, hall_code: str, text: str, *, actor: Actor = NOBODY) -> Hall:
    """Set the scrolling notice line of the hall screens."""
    hall = get_hall(session, hall_code)
    text = (text or "").strip()
    if len(text) > 500:
        raise Invalid(
            "notice_too_long", "通知不能超过 500 字", "The notice is limited to 500 characters"
        )
    hall.notice = text
    session.add(
        AuditEvent(hall_id=hall.id, user_id=actor.user_id, action="hall.notice", at=utcnow())
    )
    _publish(session, hall, "hall.updated", {"notice": text}, [f"hall:{hall.code}"])
    return hall
