"""Cases (办件): what a counter recorded for each matter handled at a visit, their pauses,
the working-day calendar, and the per-hall daily counter of case numbers.

DOMAIN.md "Cases" and "Deadlines". One row of `cases` per matter handled at the counter:

| outcome        | 中文     | status at finish | case number | counts in 当场办结率        |
|----------------|----------|------------------|-------------|-----------------------------|
| `on_the_spot`  | 当场办结 | completed        | yes         | numerator and denominator   |
| `accepted`     | 受理     | open             | yes         | denominator                 |
| `correction`   | 补正     | closed           | yes (notice)| no                          |
| `rejected`     | 不予受理 | closed           | yes (notice)| no                          |
| `consultation` | 咨询     | closed           | no          | no                          |

An accepted case goes open → paused ↔ open → completed; at completion `timing` records
early / on_time / late against the due date (the hall's local dates).
"""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hall.models.base import Base, UTCDateTime, utcnow
from hall.models.catalog import Matter
from hall.models.org import Hall, User, Window

OUTCOMES = {
    "on_the_spot": "当场办结",
    "accepted": "受理",
    "correction": "补正",
    "rejected": "不予受理",
    "consultation": "咨询",
}
CASE_STATUSES = {
    "open": "办理中",
    "paused": "暂停计时",
    "completed": "已办结",
    "closed": "已结束",
}
TIMINGS = {"early": "提前办结", "on_time": "按时办结", "late": "超时办结"}
PAUSE_KINDS = {
    "correction": "补正材料",
    "special": "特别程序",  # 听证、检验、检测、鉴定、专家评审 (行政许可法 §45)
}
CALENDAR_KINDS = {
    "holiday": "法定节假日",  # not a working day although Monday–Friday
    "workday": "调休上班",  # a working day although Saturday or Sunday
    "closure": "本地停止办公",  # a hall closed for the day (weather, local decision)
}


def _check(column: str, values) -> sa.CheckConstraint:
    listed = ",".join(f"'{v}'" for v in values)
    return sa.CheckConstraint(f"{column} in ({listed})", name=column)


class Case(Base):
    """One matter handled at the counter (办件), with its outcome, due date and result."""

    __tablename__ = "cases"
    __table_args__ = (
        _check("outcome", OUTCOMES),
        _check("status", CASE_STATUSES),
        _check("timing", TIMINGS),
        _check("kind", ("immediate", "promised", "joint", "referred")),
        _check("limit_unit", ("working", "natural")),
        # covering indexes of the rates (hall/domain/rates.py): a period's cases by the day
        # recorded / completed, with every column the aggregation groups or counts by
        sa.Index(
            "ix_cases_rates_recorded",
            "hall_id",
            "accepted_on",
            "outcome",
            "kind",
            "window_id",
            "staff_id",
            "matter_id",
        ),
        sa.Index(
            "ix_cases_rates_completed",
            "hall_id",
            "completed_on",
            "outcome",
            "status",
            "timing",
            "window_id",
            "staff_id",
            "matter_id",
        ),
        sa.Index("ix_cases_open_due", "status", "due_date"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # readable and unique: <HALL>-<YYYYMMDD>-<NNNN> (hall-local date); none for consultations
    number: Mapped[str | None] = mapped_column(sa.String(40), unique=True)
    # the verification page's key (/v/<token>): unguessable, at least 128 bits
    verify_token: Mapped[str] = mapped_column(sa.String(43), unique=True)
    hall_id: Mapped[int] = mapped_column(sa.ForeignKey("halls.id"))
    ticket_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tickets.id"), index=True)
    matter_id: Mapped[int] = mapped_column(sa.ForeignKey("matters.id"), index=True)
    window_id: Mapped[int | None] = mapped_column(sa.ForeignKey("windows.id"), index=True)
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"), index=True)
    outcome: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(12))
    # the matter's kind and limit when the case was recorded (the catalogue may change later)
    kind: Mapped[str] = mapped_column(sa.String(10))
    limit_days: Mapped[int] = mapped_column(default=0)
    limit_unit: Mapped[str] = mapped_column(sa.String(10), default="working")

    applicant_name: Mapped[str] = mapped_column(sa.String(100), default="")
    applicant_phone: Mapped[str] = mapped_column(sa.String(30), default="")
    # 受理: the materials received; 补正: everything missing (一次性告知), chosen from the
    # matter's materials plus free text — each a list of {"name": …, "note": …}
    materials_received: Mapped[list] = mapped_column(sa.JSON, default=list)
    missing_materials: Mapped[list] = mapped_column(sa.JSON, default=list)
    reason: Mapped[str] = mapped_column(sa.Text, default="")  # 不予受理 reason; notes
    result: Mapped[str] = mapped_column(sa.Text, default="")  # 办理结果 at completion

    accepted_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    accepted_on: Mapped[date] = mapped_column(sa.Date)  # hall-local date of accepted_at
    due_date: Mapped[date | None] = mapped_column(sa.Date)  # accepted cases only
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    completed_on: Mapped[date | None] = mapped_column(sa.Date)
    completed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    timing: Mapped[str | None] = mapped_column(sa.String(8))  # early / on_time / late

    hall: Mapped[Hall] = relationship()
    matter: Mapped[Matter] = relationship()
    window: Mapped[Window | None] = relationship()
    staff: Mapped[User | None] = relationship(foreign_keys=[staff_id])
    completed_by: Mapped[User | None] = relationship(foreign_keys=[completed_by_id])
    pauses: Mapped[list[CasePause]] = relationship(
        back_populates="case", order_by="CasePause.started_on", cascade="all, delete-orphan"
    )

    @property
    def outcome_label(self) -> str:
        """当场办结 / 受理 / …"""
        return OUTCOMES.get(self.outcome, self.outcome)

    @property
    def status_label(self) -> str:
        """办理中 / 暂停计时 / …"""
        return CASE_STATUSES.get(self.status, self.status)

    @property
    def timing_label(self) -> str:
        """提前办结 / 按时办结 / 超时办结, or empty."""
        return TIMINGS.get(self.timing or "", "")


class CasePause(Base):
    """A stretch of days not counted towards a case's limit: waiting for corrections (补正)
    or a special procedure (听证、检验、检测、鉴定、专家评审); open while `ended_on` is null."""

    __tablename__ = "case_pauses"
    __table_args__ = (_check("kind", PAUSE_KINDS),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(sa.ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(12))
    reason: Mapped[str] = mapped_column(sa.Text, default="")
    started_on: Mapped[date] = mapped_column(sa.Date)  # first day not counted
    ended_on: Mapped[date | None] = mapped_column(sa.Date)  # last day not counted
    started_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    ended_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    case: Mapped[Case] = relationship(back_populates="pauses")


class CaseCounter(Base):
    """The last case number of a hall on a (hall-local) day; taken atomically."""

    __tablename__ = "case_counters"

    hall_id: Mapped[int] = mapped_column(sa.ForeignKey("halls.id"), primary_key=True)
    day: Mapped[date] = mapped_column(sa.Date, primary_key=True)
    last: Mapped[int] = mapped_column(default=0)


class CalendarDay(Base):
    """An admin's entry in the working-day calendar, overriding the holiday library:
    a statutory holiday, a make-up working day (调休上班) or a local closure.

    `hall_id` null: the whole installation (the State Council's schedule); set: one hall.
    """

    __tablename__ = "calendar_days"
    __table_args__ = (
        sa.UniqueConstraint("hall_id", "day", name="uq_calendar_days_hall_day"),
        # NULLs are distinct in a unique constraint: one installation-wide entry a day
        sa.Index(
            "uq_calendar_days_day_everywhere",
            "day",
            unique=True,
            sqlite_where=sa.text("hall_id IS NULL"),
            postgresql_where=sa.text("hall_id IS NULL"),
        ),
        _check("kind", CALENDAR_KINDS),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hall_id: Mapped[int | None] = mapped_column(sa.ForeignKey("halls.id"))
    day: Mapped[date] = mapped_column(sa.Date, index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    name: Mapped[str] = mapped_column(sa.String(100), default="")  # 春节, 国庆节调休…
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
