"""Daily rollups of the tickets for the manager reports (hall/domain/reports.py).

A past service day of a hall is rolled up once into a few hundred rows instead of thousands
of tickets, and a complete ISO week or month once more from its days, so that a report over
years reads a few thousand rollup rows, not millions of tickets:

* ``report_periods``: one row per (hall, span, first day) rolled up, span ``day``, ``week``
  (Monday to Sunday) or ``month`` — its presence says the period's tickets are in
  ``report_ticket_stats`` (a period without tickets has this row alone).
* ``report_ticket_stats``: per (hall, span, first day, window, staff member, matter) the
  sums of the period's tickets — issued, served, no-shows, the sum and count of waits and of service times
  in whole seconds — with two sparse histograms as JSON objects: ``waits`` counts the waits
  by whole minutes rounded up (bucket ``m`` holds waits of more than m−1 and at most m
  minutes; 241 holds those over 240 minutes) and ``hours`` the tickets issued by hour of
  day (0–23, hall-local); and the counts of hall.domain.rates of the cases recorded
  (``accepted_on``) and of the accepted cases completed (``completed_on``) in the period,
  per window, staff member and matter of the case. Only the open overdue cases, a count as
  of today, are never rolled up.

Rolling a period up again deletes its rows and inserts them anew (idempotent).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hall.models.base import Base, UTCDateTime, utcnow

SPANS = ("day", "week", "month")


class ReportPeriod(Base):
    """A (hall, day / ISO week / month) whose tickets are rolled up into report_ticket_stats."""

    __tablename__ = "report_periods"
    __table_args__ = (sa.CheckConstraint("span in ('day','week','month')", name="span"),)

    hall_id: Mapped[int] = mapped_column(sa.ForeignKey("halls.id"), primary_key=True)
    span: Mapped[str] = mapped_column(sa.String(5), primary_key=True)
    first: Mapped[date] = mapped_column(sa.Date, primary_key=True)  # its first day
    issued: Mapped[int] = mapped_column(default=0, server_default="0")  # its tickets
    rolled_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ReportTicketStat(Base):
    """The sums of one period's tickets of a hall for one window, staff member and matter."""

    __tablename__ = "report_ticket_stats"
    __table_args__ = (
        sa.CheckConstraint("span in ('day','week','month')", name="span"),
        sa.Index("ix_report_ticket_stats_period", "hall_id", "span", "by_matter", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hall_id: Mapped[int] = mapped_column(sa.ForeignKey("halls.id"))
    span: Mapped[str] = mapped_column(sa.String(5), default="day", server_default="day")
    day: Mapped[date] = mapped_column(sa.Date)  # the period's first day
    # who called (served) the tickets; none for tickets never called
    window_id: Mapped[int | None] = mapped_column(sa.ForeignKey("windows.id"))
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    matter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("matters.id"))
    # False: the same period, window and staff member summed over the matters (matter_id
    # None) — what a report reads unless it groups or filters by matter or department
    by_matter: Mapped[bool] = mapped_column(default=True, server_default=sa.true())
    issued: Mapped[int] = mapped_column(default=0, server_default="0")
    served: Mapped[int] = mapped_column(default=0, server_default="0")
    no_shows: Mapped[int] = mapped_column(default=0, server_default="0")
    wait_sum: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    wait_count: Mapped[int] = mapped_column(default=0, server_default="0")
    service_sum: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    service_count: Mapped[int] = mapped_column(default=0, server_default="0")
    waits: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # {"minutes": count}
    hours: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # {"hour": count}
    # the cases of the hall with this window, staff member and matter recorded in the period
    # (by accepted_on), by outcome, and of those the immediate matters' …
    on_the_spot: Mapped[int] = mapped_column(default=0, server_default="0")
    accepted: Mapped[int] = mapped_column(default=0, server_default="0")
    correction: Mapped[int] = mapped_column(default=0, server_default="0")
    rejected: Mapped[int] = mapped_column(default=0, server_default="0")
    consultation: Mapped[int] = mapped_column(default=0, server_default="0")
    immediate_handled: Mapped[int] = mapped_column(default=0, server_default="0")
    immediate_on_the_spot: Mapped[int] = mapped_column(default=0, server_default="0")
    # … and the accepted cases completed in the period (by completed_on), by timing
    promised_completed: Mapped[int] = mapped_column(default=0, server_default="0")
    promised_on_time: Mapped[int] = mapped_column(default=0, server_default="0")
    early: Mapped[int] = mapped_column(default=0, server_default="0")
    late: Mapped[int] = mapped_column(default=0, server_default="0")
