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
  day (0–23, hall-local).

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
        sa.Index("ix_report_ticket_stats_period", "hall_id", "span", "day"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hall_id: Mapped[int] = mapped_column(sa.ForeignKey("halls.id"))
    span: Mapped[str] = mapped_column(sa.String(5), default="day", server_default="day")
    day: Mapped[date] = mapped_column(sa.Date)  # the period's first day
    # who called (served) the tickets; none for tickets never called
    window_id: Mapped[int | None] = mapped_column(sa.ForeignKey("windows.id"))
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    matter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("matters.id"))
    issued: Mapped[int] = mapped_column(default=0, server_default="0")
    served: Mapped[int] = mapped_column(default=0, server_default="0")
    no_shows: Mapped[int] = mapped_column(default=0, server_default="0")
    wait_sum: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    wait_count: Mapped[int] = mapped_column(default=0, server_default="0")
    service_sum: Mapped[int] = mapped_column(sa.BigInteger, default=0, server_default="0")
    service_count: Mapped[int] = mapped_column(default=0, server_default="0")
    waits: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # {"minutes": count}
    hours: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # {"hour": count}
