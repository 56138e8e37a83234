"""Tickets (取号), their events (the audit trail) and the per-day number counters."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hall.models.base import Base, UTCDateTime, utcnow
from hall.models.catalog import Matter, Queue
from hall.models.org import Window

TICKET_STATUSES = ("waiting", "called", "serving", "finished", "no_show", "expired")
ACTIVE_STATUSES = ("called", "serving")
# Still open: a ticket in one of these states when its service day ends is closed as
# `expired` by the day rollover (hall.domain.rollover).
OPEN_STATUSES = ("waiting", "called", "serving")


class NumberCounter(Base):
    """The last number handed out per queue and service day; incremented atomically."""

    __tablename__ = "number_counters"

    queue_id: Mapped[int] = mapped_column(sa.ForeignKey("queues.id"), primary_key=True)
    service_day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class Ticket(Base):
    """A queue ticket: one visit of a resident, from issue to finish."""

    __tablename__ = "tickets"
    __table_args__ = (
        # The backstop against duplicate numbers (the counter is the mechanism).
        sa.UniqueConstraint("issue_queue_id", "service_day", "number", name="uq_tickets_number"),
        sa.CheckConstraint(
            "status in ('waiting','called','serving','finished','no_show','expired')",
            name="status",
        ),
        # The backstop against one window holding two tickets at once.
        sa.Index(
            "uq_tickets_active_window",
            "window_id",
            unique=True,
            sqlite_where=sa.text("status in ('called','serving')"),
            postgresql_where=sa.text("status in ('called','serving')"),
        ),
        sa.Index("ix_tickets_waiting", "hall_id", "service_day", "status", "queue_id"),
        # The open tickets only (small): the rollover finds those of past days without
        # scanning the hall's whole history.
        sa.Index(
            "ix_tickets_open",
            "hall_id",
            "service_day",
            sqlite_where=sa.text("status in ('waiting','called','serving')"),
            postgresql_where=sa.text("status in ('waiting','called','serving')"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(sa.String(32), unique=True)
    hall_id: Mapped[int] = mapped_column(sa.ForeignKey("halls.id"))
    # The queue now holding the ticket (a transfer changes it)…
    queue_id: Mapped[int] = mapped_column(sa.ForeignKey("queues.id"))
    # …and the queue whose counter issued its number (never changes).
    issue_queue_id: Mapped[int] = mapped_column(sa.ForeignKey("queues.id"))
    service_day: Mapped[date] = mapped_column(sa.Date)
    number: Mapped[int]
    # The prefix at issue time, so the label survives renaming the queue.
    label: Mapped[str] = mapped_column(sa.String(16))
    matter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("matters.id"))
    priority: Mapped[bool] = mapped_column(default=False)
    status: Mapped[str] = mapped_column(sa.String(10), default="waiting")
    # Order within the queue; a transfer keeps it, a returning no-show gets a new one.
    sort_at: Mapped[datetime] = mapped_column(UTCDateTime)
    window_id: Mapped[int | None] = mapped_column(sa.ForeignKey("windows.id"))
    target_window_id: Mapped[int | None] = mapped_column(sa.ForeignKey("windows.id"))
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    called_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_called_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    call_count: Mapped[int] = mapped_column(default=0)
    returned: Mapped[bool] = mapped_column(default=False)

    queue: Mapped[Queue] = relationship(foreign_keys=[queue_id])
    matter: Mapped[Matter | None] = relationship()
    window: Mapped[Window | None] = relationship(foreign_keys=[window_id])
    target_window: Mapped[Window | None] = relationship(foreign_keys=[target_window_id])

    # The flat names shown with a ticket, as hall.domain.tickets.TicketRow has them: views
    # and events take either.
    @property
    def queue_prefix(self) -> str:
        return self.queue.prefix

    @property
    def queue_name(self) -> str:
        return self.queue.name

    @property
    def window_number(self) -> int | None:
        return self.window.number if self.window else None

    @property
    def window_name(self) -> str | None:
        return self.window.name if self.window else None

    @property
    def target_window_number(self) -> int | None:
        return self.target_window.number if self.target_window else None

    @property
    def matter_code(self) -> str | None:
        return self.matter.code if self.matter else None

    @property
    def matter_name(self) -> str | None:
        return self.matter.name if self.matter else None


# The waiting tickets in call order (migration 0010): those sent to a window, then each
# queue's, by priority (绿色通道 first), arrival and id; a call reads the first few of it.
# Queries use it by naming the same condition, literally: WAITING_ONLY.
WAITING_ONLY = sa.text("tickets.status = 'waiting'")
sa.Index(
    "ix_tickets_call_order",
    Ticket.target_window_id,
    Ticket.queue_id,
    Ticket.service_day,
    Ticket.priority.desc(),
    Ticket.sort_at,
    Ticket.id,
    sqlite_where=sa.text("status = 'waiting'"),
    postgresql_where=sa.text("status = 'waiting'"),
)


class TicketEvent(Base):
    """One state change of a ticket: who did what, when, where (the source of statistics)."""

    __tablename__ = "ticket_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(sa.ForeignKey("tickets.id"), index=True)
    hall_id: Mapped[int] = mapped_column(sa.ForeignKey("halls.id"))
    action: Mapped[str] = mapped_column(sa.String(16))
    window_id: Mapped[int | None] = mapped_column(sa.ForeignKey("windows.id"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    device_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_tokens.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    detail: Mapped[str] = mapped_column(sa.String(200), default="")
    # the client's address (IPv4 or IPv6) of the request that made the change; None for the
    # server's own changes (day rollover) and the command line
    ip: Mapped[str | None] = mapped_column(sa.String(45))
