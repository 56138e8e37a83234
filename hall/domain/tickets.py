"""Ticket workflows (取号、叫号): issue, call next, recall, no-show, transfer, start, finish.

Every function takes a Session, changes rows, records a TicketEvent and queues a realtime
event on ``session.info["hall_events"]``; the caller commits, then publishes.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.orm import Session, contains_eager, joinedload, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from hall.domain import board
from hall.domain.errors import Conflict, Forbidden, Invalid, NotFound
from hall.models import (
    AuditEvent,
    Hall,
    Matter,
    NumberCounter,
    Queue,
    Ticket,
    TicketEvent,
    UTCDateTime,
    Window,
    WindowQueue,
    utcnow,
)
from hall.models.tickets import WAITING_ONLY

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
_QUEUE_WITH_HALL = (
    sa.select(Queue)
    .join(Queue.hall)
    .options(contains_eager(Queue.hall))
    .where(Hall.code == sa.bindparam("code"), Queue.prefix == sa.bindparam("prefix"))
)
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
# lock the ticket row only, not the queue row joined to it
_TICKET_LOCKED = _TICKET_BY_ID.with_for_update(of=Ticket)
_LOCKED_KEY = "hall_locked_tickets"


def get_ticket(session: Session, ticket_id: int, *, lock: bool = False) -> Ticket:
    """The ticket with this id (fresh from the database, row-locked when asked), or NotFound.

    A ticket locked earlier in the same transaction is returned as it is: nobody else can
    have changed it since (the row lock; on SQLite the write lock of the transaction)."""
    locked = session.info.get(_LOCKED_KEY)
    if lock and locked and ticket_id in locked:
        ticket = locked[ticket_id]
        if ticket in session and not sa.inspect(ticket).expired_attributes:
            return ticket
    statement = _TICKET_LOCKED if lock else _TICKET_BY_ID
    ticket = session.execute(statement, {"id": ticket_id}).scalar_one_or_none()
    if ticket is None:
        raise NotFound("ticket_not_found", "没有这张票", f"No ticket {ticket_id}")
    if lock:
        session.info.setdefault(_LOCKED_KEY, {})[ticket_id] = ticket
    return ticket


def _forget_locks(session: Session, transaction) -> None:
    """after_transaction_end: the row locks of a transaction end with it."""
    if transaction.parent is None:
        session.info.pop(_LOCKED_KEY, None)


if not event.contains(Session, "after_transaction_end", _forget_locks):
    event.listen(Session, "after_transaction_end", _forget_locks)


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


# ---------------------------------------------------------------- events


# Hot-path statements, built once with bound parameters (Core tables: no ORM overhead).
_T = Ticket.__table__
_H = Hall.__table__
_NEXT_SEQ = (
    sa.update(_H)
    .where(_H.c.id == sa.bindparam("p_hall"))
    .values(seq=_H.c.seq + 1)
    .returning(_H.c.seq)
)
_LOG = sa.insert(TicketEvent.__table__)
_EARLIER = sa.or_(
    _T.c.sort_at < sa.bindparam("sort_at"),
    sa.and_(_T.c.sort_at == sa.bindparam("sort_at"), _T.c.id < sa.bindparam("id")),
)
# Counted in ix_tickets_call_order alone, never reading the rows: every column named here is
# in that index (a ticket's queue or target window is of its hall: no hall_id needed).
_AHEAD_BASE = sa.select(sa.func.count()).where(
    WAITING_ONLY, _T.c.service_day == sa.bindparam("day"), _T.c.id != sa.bindparam("id")
)
_AHEAD_AT_WINDOW = _AHEAD_BASE.where(_T.c.target_window_id == sa.bindparam("target"), _EARLIER)
_AHEAD_IN_QUEUE = _AHEAD_BASE.where(
    _T.c.queue_id == sa.bindparam("queue_id"), _T.c.target_window_id.is_(None)
)
_AHEAD_PRIORITY = _AHEAD_IN_QUEUE.where(_T.c.priority.is_(True), _EARLIER)
_AHEAD_ORDINARY = _AHEAD_IN_QUEUE.where(sa.or_(_T.c.priority.is_(True), _EARLIER))
_WQ = WindowQueue.__table__
_W = Window.__table__
_OPEN_WINDOWS = (
    sa.select(sa.func.count())
    .select_from(_WQ.join(_W, _W.c.id == _WQ.c.window_id))
    .where(_WQ.c.queue_id == sa.bindparam("queue_id"), _W.c.status == "open")
)


def _next_seq(session: Session, hall: Hall) -> int:
    """Allocate the hall's next event number (taken last, so the row lock is held briefly)."""
    seq = session.execute(_NEXT_SEQ, {"p_hall": hall.id}).scalar_one()
    set_committed_value(hall, "seq", seq)
    return seq


def _publish(session: Session, hall: Hall, name: str, payload: dict, rooms: list[str]) -> dict:
    """Queue an event for publication after commit; it carries the hall's next seq."""
    payload = {"seq": _next_seq(session, hall), "hall": hall.code, **payload}
    session.info.setdefault(EVENTS_KEY, []).append({"name": name, "data": payload, "rooms": rooms})
    return payload


def _log(session: Session, ticket: Ticket, action: str, actor: Actor, detail: str = "") -> None:
    """Write the TicketEvent of a state change (who, what, when, where)."""
    session.execute(
        _LOG,
        {
            "ticket_id": ticket.id,
            "hall_id": ticket.hall_id,
            "action": action,
            "window_id": ticket.window_id,
            "user_id": actor.user_id,
            "device_id": actor.device_id,
            "at": utcnow(),
            "detail": detail,
            "ip": actor.ip,
        },
    )


def _ticket_event(
    session: Session, hall: Hall, ticket: Ticket, name: str, *, moved: bool = False, **extra
) -> dict:
    """Queue a ticket event with the ticket and the waiting counts; `moved` when its queue or
    window ids were just changed, so its relationships are read again."""
    session.flush()
    if moved:
        session.expire(ticket, ["queue", "window", "target_window"])
    payload = {
        "ticket": board.ticket_dict(ticket),
        "waiting": board.waiting_counts(session, hall, ticket.service_day),
        **extra,
    }
    rooms = [f"hall:{hall.code}", f"ticket:{ticket.token}"]
    if ticket.window_id:
        rooms.append(f"window:{hall.code}:{ticket.window.number}")
    return _publish(session, hall, name, payload, rooms)


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
    _next_seq(session, hall)
    session.info.setdefault(EVENTS_KEY, []).append(
        {"name": "board", "data": board.snapshot(session, hall), "rooms": [f"hall:{hall.code}"]}
    )


def take_events(session: Session) -> list[dict]:
    """Remove and return the events queued by the workflows of this transaction."""
    return session.info.pop(EVENTS_KEY, [])


# ---------------------------------------------------------------- issue


_NC = NumberCounter.__table__
_TAKE_NUMBER: dict[str, sa.Executable] = {}


def _take_number_statement(dialect: str) -> sa.Executable:
    """INSERT … ON CONFLICT DO UPDATE SET last = last + 1 RETURNING last: one atomic
    statement that starts a queue's day at 1 or takes the next number."""
    if dialect not in _TAKE_NUMBER:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(_NC).values(
            queue_id=sa.bindparam("queue_id"), service_day=sa.bindparam("day"), last=1
        )
        _TAKE_NUMBER[dialect] = stmt.on_conflict_do_update(
            index_elements=[_NC.c.queue_id, _NC.c.service_day],
            set_={"last": _NC.c.last + 1},
        ).returning(_NC.c.last)
    return _TAKE_NUMBER[dialect]


def _next_number(session: Session, queue: Queue, day) -> int:
    """Atomically take the next number of a queue for a service day."""
    stmt = _take_number_statement(session.get_bind().dialect.name)
    return session.execute(stmt, {"queue_id": queue.id, "day": day}).scalar_one()


_NEW_TICKET = sa.insert(_T).returning(_T.c.id)
_NEW_TICKET_BLANKS = {
    "window_id": None,
    "target_window_id": None,
    "staff_id": None,
    "called_at": None,
    "last_called_at": None,
    "started_at": None,
    "finished_at": None,
    "call_count": 0,
    "returned": False,
}


def issue(
    session: Session,
    hall_code: str,
    *,
    queue_prefix: str | None = None,
    matter_code: str | None = None,
    priority: bool = False,
    actor: Actor = NOBODY,
    now: datetime | None = None,
) -> Ticket:
    """Issue a ticket (取号) for a queue or a matter; priority marks 绿色通道."""
    matter = None
    if not (matter_code or queue_prefix):
        raise Invalid("queue_required", "请指定业务队列或事项", "Give a queue or a matter")
    queue = None
    if queue_prefix and not matter_code:
        # the queue and its hall in one statement (the hot path of the kiosk and the API)
        params = {"code": hall_code, "prefix": queue_prefix.upper()}
        queue = session.scalar(_QUEUE_WITH_HALL, params)
    if queue is not None:
        hall = queue.hall
        session.info.setdefault("hall_ids", {})[hall.code] = hall.id
        _check_actor_hall(actor, hall)
    else:
        hall = get_hall(session, hall_code)
        _check_actor_hall(actor, hall)  # before telling what the hall has or has not
        if matter_code:
            queue, matter = queue_for_matter(session, hall, matter_code)
        else:
            queue = get_queue(session, hall, queue_prefix)  # NotFound
    now = now or utcnow()
    day = board.service_day(hall, now)
    number = _next_number(session, queue, day)
    values = {
        "token": secrets.token_urlsafe(TOKEN_BYTES),
        "hall_id": hall.id,
        "queue_id": queue.id,
        "issue_queue_id": queue.id,
        "service_day": day,
        "number": number,
        "label": f"{queue.prefix}{number:03d}",
        "matter_id": matter.id if matter else None,
        "priority": bool(priority),
        "status": "waiting",
        "sort_at": now,
        "issued_at": now,
        **_NEW_TICKET_BLANKS,
    }
    # A Core INSERT, then the row joins the session as a loaded object: no unit-of-work flush
    # and no SELECT to read it back.
    ticket = Ticket(id=session.execute(_NEW_TICKET, values).scalar_one(), **values)
    make_transient_to_detached(ticket)
    session.add(ticket)
    set_committed_value(ticket, "queue", queue)
    set_committed_value(ticket, "matter", matter)
    _log(session, ticket, "issued", actor, "priority" if priority else "")
    _ticket_event(session, hall, ticket, "ticket.issued")
    return ticket


# ---------------------------------------------------------------- position and wait


def waiting_ahead(session: Session, ticket: Ticket) -> int:
    """How many waiting tickets will be called before this one."""
    if ticket.status != "waiting":
        return 0
    params = {"day": ticket.service_day, "id": ticket.id, "sort_at": ticket.sort_at}
    if ticket.target_window_id:
        stmt = _AHEAD_AT_WINDOW
        params["target"] = ticket.target_window_id
    else:
        stmt = _AHEAD_PRIORITY if ticket.priority else _AHEAD_ORDINARY
        params["queue_id"] = ticket.queue_id
    return session.execute(stmt, params).scalar_one()


_SERVICE_CACHE: dict[int, tuple[float, float]] = {}
SERVICE_CACHE_SECONDS = 30.0


def average_service_minutes(session: Session, hall: Hall, default: float) -> float:
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


# those ahead and the open windows of the queue, in one statement
_POSITION_ORDINARY = sa.select(_AHEAD_ORDINARY.scalar_subquery(), _OPEN_WINDOWS.scalar_subquery())
_POSITION_PRIORITY = sa.select(_AHEAD_PRIORITY.scalar_subquery(), _OPEN_WINDOWS.scalar_subquery())


def position(session: Session, ticket: Ticket, default: float = 5.0) -> tuple[int, int]:
    """(how many are ahead, estimated minutes until the call) of a ticket, as phones show it:
    those ahead × mean service time ÷ open windows of its queue (one window when it was sent
    to a window)."""
    if ticket.status != "waiting":
        return 0, 0
    if ticket.target_window_id:
        ahead, open_windows = waiting_ahead(session, ticket), 1
    else:
        stmt = _POSITION_PRIORITY if ticket.priority else _POSITION_ORDINARY
        params = {
            "day": ticket.service_day,
            "id": ticket.id,
            "sort_at": ticket.sort_at,
            "queue_id": ticket.queue_id,
        }
        ahead, open_windows = session.execute(stmt, params).one()
    if ahead == 0:
        return 0, 0
    hall = session.get(Hall, ticket.hall_id)
    minutes = ahead * average_service_minutes(session, hall, default) / (open_windows or 1)
    return ahead, math.ceil(minutes)


# ---------------------------------------------------------------- calling


_LOCK_WINDOW = (
    sa.update(_W)
    .where(_W.c.hall_id == sa.bindparam("p_hall"), _W.c.number == sa.bindparam("p_number"))
    .values(version=_W.c.version + 1)
    .returning(_W.c.id)
)


_WINDOW_BY_ID = (
    sa.select(Window)
    .where(Window.id == sa.bindparam("id"))
    .execution_options(populate_existing=True)
)


def _lock_window(session: Session, hall: Hall, number: int) -> Window:
    """Take the window's row lock so calls at one window serialise, and return it."""
    window_id = session.execute(
        _LOCK_WINDOW, {"p_hall": hall.id, "p_number": number}
    ).scalar_one_or_none()
    if window_id is None:
        raise NotFound(
            "window_not_found", f"没有 {number} 号窗口", f"No window number {number} in this hall"
        )
    return session.execute(_WINDOW_BY_ID, {"id": window_id}).scalar_one()


def _require_open(window: Window) -> None:
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
# (by the window's order of their queues, then as below), then the window's queues in its
# order, each by priority (绿色通道) first, arrival, id.
_MINE = _T.c.target_window_id == sa.bindparam("window_id")
_ORDER = (_T.c.priority.desc(), _T.c.sort_at, _T.c.id)
# the hall checked on each row read, written so that SQLite does not prefer ix_tickets_waiting
# (hall, day, status, queue: every waiting ticket of the day, then a sort) over the index
_OF_HALL = (_T.c.hall_id + 0) == sa.bindparam("hall_id")
_TARGETED = (
    sa.select(_T.c.id)
    .select_from(
        _T.outerjoin(
            _WQ,
            sa.and_(_WQ.c.queue_id == _T.c.queue_id, _WQ.c.window_id == sa.bindparam("window_id")),
        )
    )
    .where(
        _MINE,
        WAITING_ONLY,
        _T.c.service_day == sa.bindparam("day"),
        _OF_HALL,
    )
    .order_by(_WQ.c.position, *_ORDER)
    .limit(CANDIDATES)
)


def _queued(queue_condition) -> sa.Select:
    """The first waiting tickets of the queues `queue_condition` names, in call order."""
    return (
        sa.select(_T.c.id)
        .where(
            _T.c.target_window_id.is_(None),
            queue_condition,
            _T.c.service_day == sa.bindparam("day"),
            WAITING_ONLY,
            _OF_HALL,
        )
        .order_by(*_ORDER)
        .limit(sa.bindparam("n"))  # what the reads before left to find: never more rows locked
    )


_IN_QUEUE = _queued(_T.c.queue_id == sa.bindparam("queue_id"))
# queues sharing a position in the window's order are taken together
_IN_QUEUES = _queued(_T.c.queue_id.in_(sa.bindparam("queue_ids", expanding=True)))
_WINDOW_QUEUES = (
    sa.select(_WQ.c.position, _WQ.c.queue_id)
    .where(_WQ.c.window_id == sa.bindparam("window_id"))
    .order_by(_WQ.c.position, _WQ.c.queue_id)
)
# PostgreSQL: skip rows another window is claiming right now instead of queueing behind it.
_PG = {
    stmt: stmt.with_for_update(of=_T, skip_locked=True)
    for stmt in (_TARGETED, _IN_QUEUE, _IN_QUEUES)
}
_BUSY = sa.select(_T.c.label).where(_T.c.window_id == sa.bindparam("window_id"), board.ACTIVE)
_NOW = sa.bindparam("p_now", type_=UTCDateTime())
# Claim a ticket only if it is still waiting: the guard against two windows calling it.
_CLAIM = (
    sa.update(_T)
    .where(_T.c.id == sa.bindparam("p_id"), _T.c.status == "waiting")
    .values(
        status="called",
        window_id=sa.bindparam("p_window"),
        target_window_id=None,
        staff_id=sa.bindparam("p_staff"),
        called_at=sa.func.coalesce(_T.c.called_at, _NOW),
        last_called_at=_NOW,
        call_count=_T.c.call_count + 1,
    )
)


def _candidates(session: Session, hall: Hall, window: Window, day) -> list[int]:
    """Up to CANDIDATES waiting tickets this window may call, best first: transferred to
    it, then by its queue order, priority (绿色通道) before ordinary, first come first
    served. Reads the queues one after the other until it has enough."""
    postgres = session.get_bind().dialect.name == "postgresql"

    def read(stmt, **params) -> list[int]:
        stmt = _PG[stmt] if postgres else stmt
        params.update(hall_id=hall.id, day=day)
        return list(session.execute(stmt, params).scalars())

    ids = read(_TARGETED, window_id=window.id)
    if len(ids) >= CANDIDATES:
        return ids
    groups: dict[int, list[int]] = {}
    for position, queue_id in session.execute(_WINDOW_QUEUES, {"window_id": window.id}):
        groups.setdefault(position, []).append(queue_id)
    for queue_ids in groups.values():
        n = CANDIDATES - len(ids)
        if len(queue_ids) == 1:
            ids += read(_IN_QUEUE, queue_id=queue_ids[0], n=n)
        else:
            ids += read(_IN_QUEUES, queue_ids=queue_ids, n=n)
        if len(ids) >= CANDIDATES:
            break
    return ids


def call_next(
    session: Session,
    hall_code: str,
    window_number: int,
    *,
    actor: Actor = NOBODY,
    now: datetime | None = None,
    check: Callable[[Window], None] | None = None,
) -> Ticket | None:
    """Call the next ticket (叫号) at a window; None when nobody waits for it. `check` is
    called with the window as soon as it is locked, before anything else (it may raise)."""
    hall = get_hall(session, hall_code)
    window = _lock_window(session, hall, window_number)
    if check is not None:
        check(window)
    _require_open(window)
    busy = session.execute(_BUSY, {"window_id": window.id}).scalar()
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
        ids = _candidates(session, hall, window, day)
        if not ids:
            return None
        for ticket_id in ids:
            params = {
                "p_id": ticket_id,
                "p_window": window.id,
                "p_staff": actor.user_id,
                "p_now": now,
            }
            claimed = session.execute(_CLAIM, params).rowcount
            if claimed == 1:
                # read back as claimed (with its window): nothing of it needs expiring below
                ticket = session.execute(_TICKET_BY_ID, {"id": ticket_id}).scalar_one()
                _log(session, ticket, "called", actor)
                _announce(session, hall, ticket, recall=False)
                return ticket


def _announce(session: Session, hall: Hall, ticket: Ticket, *, recall: bool) -> dict:
    window = ticket.window
    return _ticket_event(
        session,
        hall,
        ticket,
        "ticket.called",
        number=ticket.label,
        window=window.number,
        window_name=window.name,
        speech=board.speech_text(ticket.label, window.number),
        utterance=board.utterance(ticket.label, window.number),
        recall=recall,
    )


def _check_actor_hall(actor: Actor, hall: Hall) -> None:
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
) -> tuple[Hall, Ticket]:
    """Load a ticket for an action, refusing it when the hall, state or window is wrong."""
    ticket = get_ticket(session, ticket_id, lock=True)
    hall = session.get(Hall, ticket.hall_id)
    _check_actor_hall(actor, hall)
    if ticket.status not in allowed:
        raise Conflict(
            "wrong_state",
            f"{ticket.label} 当前状态为「{STATUS_ZH[ticket.status]}」，不能{ACTION_ZH[action]}",
            f"{ticket.label} is {ticket.status.replace('_', '-')}; cannot {action} it",
            status=ticket.status,
        )
    acting_elsewhere = (
        window_number is not None
        and ticket.window is not None
        and ticket.window.number != int(window_number)
    )
    if acting_elsewhere:
        raise Conflict(
            "other_window",
            f"{ticket.label} 属于 {ticket.window.number} 号窗口，不是 {window_number} 号窗口",
            f"{ticket.label} belongs to window {ticket.window.number}, not {window_number}",
        )
    return hall, ticket


_UPDATE_TICKET = sa.update(_T).where(_T.c.id == sa.bindparam("p_id"))


def _update(session: Session, ticket: Ticket, **values) -> None:
    """Set columns of a loaded (and locked) ticket with one UPDATE, and on the object as
    written: no unit-of-work flush for a change of a row or two."""
    session.execute(_UPDATE_TICKET, {"p_id": ticket.id, **values})
    for name, value in values.items():
        set_committed_value(ticket, name, value)


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


def recall(session: Session, ticket_id: int, *, window_number=None, actor=NOBODY) -> Ticket:
    """Call the same ticket again (重呼); counted."""
    hall, ticket = _acting_on(session, ticket_id, ("called",), "recall", window_number, actor)
    _update(session, ticket, call_count=ticket.call_count + 1, last_called_at=utcnow())
    _log(session, ticket, "recalled", actor)
    _announce(session, hall, ticket, recall=True)
    return ticket


def no_show(session: Session, ticket_id: int, *, window_number=None, actor=NOBODY) -> Ticket:
    """Mark a called ticket as not showing up (过号); it may come back once."""
    hall, ticket = _acting_on(session, ticket_id, ("called",), "no-show", window_number, actor)
    _update(session, ticket, status="no_show")
    _log(session, ticket, "no_show", actor)
    _ticket_event(session, hall, ticket, "ticket.updated", action="no_show")
    return ticket


def return_ticket(
    session: Session, ticket_id: int, *, after: int = 0, actor: Actor = NOBODY
) -> Ticket:
    """Put a no-show back in its queue once (过号重排): at the head, or after ``after`` others."""
    hall, ticket = _acting_on(session, ticket_id, ("no_show",), "return", None, actor)
    if ticket.returned:
        raise Conflict(
            "already_returned",
            f"{ticket.label} 已经恢复过一次，请重新取号",
            f"{ticket.label} has already come back once; take a new ticket",
        )
    ahead = session.scalars(
        sa.select(Ticket.sort_at)
        .where(
            Ticket.hall_id == ticket.hall_id,
            Ticket.service_day == ticket.service_day,
            Ticket.queue_id == ticket.queue_id,
            Ticket.status == "waiting",
            Ticket.target_window_id.is_(None),
            Ticket.priority == ticket.priority,
        )
        .order_by(Ticket.sort_at, Ticket.id)
        .limit(max(after, 0) + 1)
    ).all()
    if not ahead:
        sort_at = utcnow()
    elif after <= 0:
        sort_at = ahead[0] - timedelta(microseconds=1)
    else:
        sort_at = ahead[min(after, len(ahead)) - 1] + timedelta(microseconds=1)
    ticket.status = "waiting"
    ticket.returned = True
    ticket.sort_at = sort_at
    ticket.window_id = None
    _log(session, ticket, "returned", actor, f"after={after}")
    _ticket_event(session, hall, ticket, "ticket.updated", moved=True, action="returned")
    return ticket


def start(session: Session, ticket_id: int, *, window_number=None, actor=NOBODY) -> Ticket:
    """The resident has arrived at the window: service starts (开始办理)."""
    hall, ticket = _acting_on(session, ticket_id, ("called",), "start", window_number, actor)
    _update(session, ticket, status="serving", started_at=utcnow())
    _log(session, ticket, "started", actor)
    _ticket_event(session, hall, ticket, "ticket.updated", action="started")
    return ticket


def finish(session: Session, ticket_id: int, *, window_number=None, actor=NOBODY) -> Ticket:
    """Service is over (办结); the window is free for the next call."""
    hall, ticket = _acting_on(
        session, ticket_id, ("called", "serving"), "finish", window_number, actor
    )
    _update(session, ticket, status="finished", finished_at=utcnow())
    _log(session, ticket, "finished", actor)
    _ticket_event(session, hall, ticket, "ticket.updated", action="finished")
    return ticket


def transfer(
    session: Session,
    ticket_id: int,
    *,
    to_queue: str | None = None,
    to_window: int | None = None,
    window_number=None,
    actor: Actor = NOBODY,
) -> Ticket:
    """Move a ticket to another queue or window (转移): same number, ahead of later arrivals."""
    hall, ticket = _acting_on(
        session, ticket_id, ("called", "serving"), "transfer", window_number, actor
    )
    if (to_queue is None) == (to_window is None):
        raise Invalid(
            "transfer_target",
            "请指定转移到的队列或窗口（二选一）",
            "Give either a queue or a window",
        )
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
        ticket.target_window_id = target.id
        detail = f"window={target.number}"
    else:
        queue = get_queue(session, hall, to_queue)
        ticket.queue_id = queue.id
        ticket.target_window_id = None
        detail = f"queue={queue.prefix}"
    _log(session, ticket, "transferred", actor, detail)
    ticket.status = "waiting"
    ticket.window_id = None
    _ticket_event(session, hall, ticket, "ticket.updated", moved=True, action="transferred")
    return ticket


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
    window = _lock_window(session, hall, window_number)
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
