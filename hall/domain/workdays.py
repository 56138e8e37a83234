"""The working-day calendar and due dates (DOMAIN.md "Deadlines").

A day is a working day when the admin's calendar (table `calendar_days`) says so; else when
the holiday library (chinesecalendar: statutory holidays and make-up working days 调休, for
the years the State Council has published) says so; else — a year the library does not know
— when it is Monday to Friday, and `calendar_warnings` says loudly that the year has no data.

Due date = the Nth working day after the acceptance day (the acceptance day is not counted;
行政许可法 §42, 民法典 §201); days inside a pause (补正, special procedures) are not counted.
Natural-day limits count every day, and a limit ending on a holiday moves to the next working
day (民法典 §203).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import chinese_calendar
import sqlalchemy as sa
from sqlalchemy.orm import Session

from hall.models import CalendarDay

MAX_LIMIT_DAYS = 3650  # a limit beyond ten years is an input error, not a deadline


@dataclass(frozen=True)
class Pause:
    """Days not counted: from `start` to `end` inclusive (`end` None: still paused)."""

    start: date
    end: date | None


@functools.cache
def _library_bounds() -> tuple[int, int]:
    years = {d.year for d in chinese_calendar.holidays} | {
        d.year for d in chinese_calendar.workdays
    }
    return min(years), max(years)


def library_years() -> range:
    """The years the holiday library has official data for."""
    first, last = _library_bounds()
    return range(first, last + 1)


def library_knows(year: int) -> bool:
    """Whether the holiday library has the State Council's schedule for this year."""
    first, last = _library_bounds()
    return first <= year <= last


class Calendar:
    """Working days of one hall (or of the installation when `hall_id` is None), with the
    admin's entries loaded once for the span asked about."""

    def __init__(self, session: Session, hall_id: int | None = None):
        self.session = session
        self.hall_id = hall_id
        self._entries: dict[date, str] = {}
        self._loaded: tuple[date, date] | None = None

    def _load(self, start: date, end: date) -> None:
        if self._loaded and self._loaded[0] <= start and end <= self._loaded[1]:
            return
        if self._loaded:
            start, end = min(start, self._loaded[0]), max(end, self._loaded[1])
        rows = self.session.execute(
            sa.select(CalendarDay.day, CalendarDay.kind, CalendarDay.hall_id)
            .where(CalendarDay.day.between(start, end))
            .where(sa.or_(CalendarDay.hall_id.is_(None), CalendarDay.hall_id == self.hall_id))
        ).all()
        entries: dict[date, str] = {}
        # the installation's entries first, then the hall's own on top
        for day, kind, _hall in sorted(rows, key=lambda r: r.hall_id is not None):
            entries[day] = kind
        self._entries = entries
        self._loaded = (start, end)

    def is_working_day(self, day: date) -> bool:
        """Whether the hall works on this day."""
        self._load(day, day)
        kind = self._entries.get(day)
        if kind == "workday":
            return True
        if kind in ("holiday", "closure"):
            return False
        if library_knows(day.year):
            return chinese_calendar.is_workday(day)
        return day.weekday() < 5

    def due_date(
        self,
        accepted_on: date,
        days: int,
        unit: str = "working",
        pauses: Iterable[Pause] = (),
    ) -> date | None:
        """The last day of a limit of `days` counted after `accepted_on`; None while a pause
        is open (the clock is stopped, the due date unknown)."""
        if days < 0 or days > MAX_LIMIT_DAYS:
            raise ValueError(f"limit out of range: {days}")
        pauses = list(pauses)
        if any(p.end is None for p in pauses):
            return None
        if days == 0:
            return accepted_on
        self._load(accepted_on, accepted_on + timedelta(days=days * 3 + 60))

        def paused(day: date) -> bool:
            return any(p.start <= day <= p.end for p in pauses)

        day, counted = accepted_on, 0
        while counted < days:
            day += timedelta(days=1)
            if paused(day):
                continue
            if unit == "natural" or self.is_working_day(day):
                counted += 1
        if unit == "natural":
            while not self.is_working_day(day):
                day += timedelta(days=1)
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (negative when end < start)."""
        if end < start:
            return -self.working_days_between(end, start)
        self._load(start, end)
        return sum(
            1 for n in range(1, (end - start).days + 1) if self.is_working_day(start + timedelta(n))
        )


def calendar_warnings(session: Session, today: date) -> list[tuple[str, str]]:
    """(zh, en) warnings for the current and the next year when neither the holiday library
    nor the admin's calendar has that year's official schedule."""
    warnings = []
    for year in (today.year, today.year + 1):
        if library_knows(year):
            continue
        entered = session.scalar(
            sa.select(sa.func.count())
            .select_from(CalendarDay)
            .where(
                CalendarDay.hall_id.is_(None),
                CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31)),
            )
        )
        if entered:
            continue
        warnings.append(
            (
                f"{year} 年的法定节假日和调休安排尚未录入：在录入前按周一至周五计算工作日，"
                "办结期限可能不准确。请在「工作日历」中录入国务院办公厅公布的安排。",
                f"No official holiday schedule for {year}: working days are counted as Monday "
                "to Friday until the State Council's schedule is entered in the calendar, so "
                "due dates may be wrong.",
            )
        )
    return warnings
