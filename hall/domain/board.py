"""What screens, counters and phones are shown: snapshots and event payloads as plain dicts."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hall.domain.rawsql import SQL, raw
from hall.models import Hall, Queue, Ticket, TicketEvent, Window, utcnow

DIGITS = "零一二三四五六七八九"
ACTIVE = sa.text("tickets.status in ('called','serving')")  # matches the partial index
RECENT_CALLS = 8


def service_day(hall: Hall, now: datetime | None = None) -> date:
    """The hall's local date: numbers restart when it changes."""
    return (now or utcnow()).astimezone(ZoneInfo(hall.timezone)).date()


def speech_text(label: str, window_number: int) -> str:
    """The call as shown: 「请 A001 号到 3 号窗口办理」."""
    return f"请 {label} 号到 {window_number} 号窗口办理"


def utterance(label: str, window_number: int) -> str:
    """The call as spoken: the ticket number read digit by digit (A零零一)."""
    letters = "".join(c for c in label if not c.isdigit())
    digits = "".join(DIGITS[int(c)] for c in label if c.isdigit())
    return f"请，{letters}{digits}号，到{window_number}号窗口办理"


def iso(value: datetime | None) -> str | None:
    """An instant as ISO 8601 (UTC), or None."""
    return value.isoformat() if value else None


def ticket_dict(ticket) -> dict:
    """The public face of a ticket (no personal data): a Ticket or a TicketRow (both have the
    flat names of its queue, window and matter)."""
    active = ticket.status in ("called", "serving")
    return {
        "id": ticket.id,
        "token": ticket.token,
        "number": ticket.label,
        "queue": ticket.queue_prefix,
        "queue_name": ticket.queue_name,
        "status": ticket.status,
        "priority": ticket.priority,
        "window": ticket.window_number if active else None,
        "window_name": ticket.window_name if active else None,
        "target_window": ticket.target_window_number,
        "matter": ticket.matter_code,
        "matter_name": ticket.matter_name,
        "service_day": ticket.service_day.isoformat(),
        "issued_at": iso(ticket.issued_at),
        "called_at": iso(ticket.called_at),
        "started_at": iso(ticket.started_at),
        "finished_at": iso(ticket.finished_at),
        "last_called_at": iso(ticket.last_called_at),
        "call_count": ticket.call_count,
        "returned": ticket.returned,
    }


def current_tickets(session: Session, hall: Hall) -> dict[int, Ticket]:
    """The ticket each window is calling or serving, by window id."""
    # Written so SQLite uses the partial index of active tickets per window.
    rows = session.scalars(
        sa.select(Ticket).where(
            Ticket.window_id.in_(sa.select(Window.id).where(Window.hall_id == hall.id)),
            ACTIVE,
        )
    )
    return {t.window_id: t for t in rows}


def window_dict(window: Window, current: Ticket | None) -> dict:
    """A window as screens show it: number, name, status, staff on duty, current ticket."""
    staff = window.staff
    return {
        "number": window.number,
        "name": window.name,
        "status": window.status,
        "queues": [q.prefix for q in window.queues],
        "staff": (
            {"display_name": staff.display_name, "job_number": staff.job_number} if staff else None
        ),
        "current": (
            {
                "id": current.id,
                "number": current.label,
                "status": current.status,
                "queue": current.queue.prefix,
                "priority": current.priority,
                "matter_name": current.matter.name if current.matter else None,
                "call_count": current.call_count,
                "called_at": iso(current.called_at),
                "last_called_at": iso(current.last_called_at),
                "started_at": iso(current.started_at),
            }
            if current
            else None
        ),
    }


# on the driver (hall.domain.rawsql): every ticket event carries these counts
_WAITING_COUNTS = SQL(
    """
    SELECT queues.prefix, count(tickets.id) FROM queues
    LEFT JOIN tickets ON tickets.queue_id = queues.id AND tickets.hall_id = :hall_id
        AND tickets.service_day = :day AND tickets.status = 'waiting'
    WHERE queues.hall_id = :hall_id
    GROUP BY queues.prefix ORDER BY queues.prefix
    """
)


_WAITING_IN_QUEUE = SQL(
    """
    SELECT queues.prefix, count(tickets.id) FROM queues
    LEFT JOIN tickets ON tickets.queue_id = queues.id AND tickets.hall_id = :hall_id
        AND tickets.service_day = :day AND tickets.status = 'waiting'
    WHERE queues.id = :queue_id AND queues.hall_id = :hall_id
    GROUP BY queues.prefix
    """
)


def waiting_counts(
    session: Session, hall, day: date | None = None, queue_ids: tuple[int, ...] | None = None
) -> dict[str, int]:
    """Waiting tickets per queue prefix today: of every queue (zero included), or only of the
    queues `queue_ids` (what a ticket event changed: a count costs a read of the queue's
    waiting tickets in the index)."""
    session.flush()
    r = raw(session)
    params = {"hall_id": hall.id, "day": r.day(day or service_day(hall))}
    if queue_ids is None:
        return dict(r.all(_WAITING_COUNTS, params))
    counts = {}
    for queue_id in dict.fromkeys(queue_ids):
        counts.update(r.all(_WAITING_IN_QUEUE, {**params, "queue_id": queue_id}))
    return counts


def recent_calls(session: Session, hall: Hall, limit: int = RECENT_CALLS) -> list[dict]:
    """The latest calls (and recalls) of today, newest first."""
    day = service_day(hall)
    zone = ZoneInfo(hall.timezone)
    day_start = datetime(day.year, day.month, day.day, tzinfo=zone)
    rows = session.execute(
        sa.select(TicketEvent.at, Ticket.label, Window.number, Window.name)
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .join(Window, Window.id == TicketEvent.window_id)
        .where(
            TicketEvent.hall_id == hall.id,
            TicketEvent.action.in_(("called", "recalled")),
            TicketEvent.at >= day_start,  # bounded by the index on `at`, not all history
            Ticket.service_day == day,
        )
        .order_by(TicketEvent.id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "number": label,
            "window": number,
            "window_name": name,
            "at": iso(at),
            "speech": speech_text(label, number),
            "utterance": utterance(label, number),
        }
        for at, label, number, name in rows
    ]


def snapshot(session: Session, hall: Hall) -> dict:
    """The full board: what every screen shows, with the seq it is true at."""
    day = service_day(hall)
    current = current_tickets(session, hall)
    waiting = waiting_counts(session, hall, day)
    queues = session.scalars(
        sa.select(Queue).where(Queue.hall_id == hall.id).order_by(Queue.prefix)
    )
    windows = session.scalars(
        sa.select(Window).where(Window.hall_id == hall.id).order_by(Window.number)
    )
    return {
        "seq": hall.seq,
        "hall": {"code": hall.code, "name": hall.name, "notice": hall.notice},
        "service_day": day.isoformat(),
        "now": iso(utcnow()),
        "queues": [
            {"prefix": q.prefix, "name": q.name, "waiting": waiting.get(q.prefix, 0)}
            for q in queues
        ],
        "windows": [window_dict(w, current.get(w.id)) for w in windows],
        "recent_calls": recent_calls(session, hall),
    }
