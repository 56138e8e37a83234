"""The working-day calendar and due dates (DOMAIN.md "Deadlines").

A day is a working day when the admin's calendar (table `calendar_days`) says so; else when
the holiday library (chinesecalendar: statutory holidays and make-up working days 调休, for
the years the State Council has published) says so; else — a year the library does not know
— when it is Monday to Friday, and `calendar_warnings` says loudly that the year has no data.

A hall's own entry (a local closure, a hall working on a holiday) wins over the installation's
entry of the same day, which wins over the library.

Due date = the Nth working day after the acceptance day (the acceptance day is not counted;
行政许可法 §42, 民法典 §201); days inside a pause (补正, special procedures) are not counted.
Natural-day limits count every day, and a limit ending on a day the hall does not work moves
to the next working day (民法典 §203).

The admin's entries are written here too (`save_entries`, `remove_entry`), for the management
page and the `hall calendar` command alike: each change writes an AuditEvent, and a schedule
typed as lines (`2027-01-01 holiday 元旦`) is checked whole before anything is written.
"""

from __future__ import annotations

import functools
import importlib.metadata
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta

import chinese_calendar
import sqlalchemy as sa
from sqlalchemy.orm import Session

from hall.domain.errors import Invalid, NotFound
from hall.models import CALENDAR_KINDS, AuditEvent, CalendarDay, Hall, User, utcnow

MAX_LIMIT_DAYS = 3650  # a limit beyond ten years is an input error, not a deadline
UNITS = ("working", "natural")
YEAR_MIN, YEAR_MAX = 2000, 2099  # the years an entry (or a due-date question) may name
NAME_MAX = 100  # calendar_days.name
MAX_LINES = 1000  # a schedule pasted at once (a year has fewer than 40 special days)
MAX_TEXT = 100_000  # characters of such a schedule
MAX_PROBLEMS = 100  # problems reported for one schedule; the rest are counted

KINDS = tuple(CALENDAR_KINDS)
# the words a schedule line may use for a kind (NFKC-normalised, lower case)
KIND_WORDS = {
    "holiday": "holiday",
    "workday": "workday",
    "closure": "closure",
    "放假": "holiday",
    "休": "holiday",
    "节假日": "holiday",
    "上班": "workday",
    "班": "workday",
    "调休上班": "workday",
    "停止办公": "closure",
    "闭厅": "closure",
}
# (Chinese, English) names of the kinds, for lists and messages
KIND_TEXT = {
    "holiday": ("放假", "holiday"),
    "workday": ("调休上班", "make-up working day"),
    "closure": ("停止办公", "closure"),
}
assert set(KIND_TEXT) == set(CALENDAR_KINDS)

# the holiday library names its festivals in English only
FESTIVALS_ZH = {
    "New Year's Day": "元旦",
    "Spring Festival": "春节",
    "Tomb-sweeping Day": "清明节",
    "Labour Day": "劳动节",
    "Dragon Boat Festival": "端午节",
    "Mid-autumn Festival": "中秋节",
    "National Day": "国庆节",
    "Anti-Fascist 70th Day": "抗战胜利70周年纪念日",
}
WEEKDAYS_ZH = "一二三四五六日"

_DAY = re.compile(
    r"(?P<y>[0-9]{4})\s*[-/.年]\s*(?P<m>[0-9]{1,2})\s*[-/.月]\s*(?P<d>[0-9]{1,2})\s*日?"
    r"|(?P<y8>[0-9]{4})(?P<m8>[0-9]{2})(?P<d8>[0-9]{2})"
)
_FIELDS = re.compile(r"[\s,，;；]+")
# control characters and lone surrogates: never stored
_INVISIBLE = re.compile("[\x00-\x08\x0b-\x1f\x7f\ud800-\udfff]")


@dataclass(frozen=True)
class Pause:
    """Days not counted: from `start` to `end` inclusive (`end` None: still paused)."""

    start: date
    end: date | None


# ---------------------------------------------------------------- the holiday library


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


@functools.cache
def library_version() -> str:
    """The installed version of the holiday library (chinesecalendar)."""
    try:
        return importlib.metadata.version("chinesecalendar")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - vendored copies
        return "?"


def festival_zh(name: str) -> str:
    """The Chinese name of one of the library's festivals."""
    return FESTIVALS_ZH.get(name, name)


def library_days(year: int) -> list[tuple[date, str, str]]:
    """The library's special days of a year, (day, kind, Chinese name), in date order:
    the holidays (weekends inside a holiday period included) and the make-up working days.
    Empty for a year the library does not know."""
    if not library_knows(year):
        return []
    days = [
        (day, "holiday", festival_zh(name))
        for day, name in chinese_calendar.holidays.items()
        if day.year == year
    ]
    days += [
        (day, "workday", festival_zh(name) + "调休")
        for day, name in chinese_calendar.workdays.items()
        if day.year == year and day.weekday() >= 5
    ]
    return sorted(days)


def weekday_text(day: date) -> tuple[str, str]:
    """(星期一, Mon) …"""
    return f"星期{WEEKDAYS_ZH[day.weekday()]}", day.strftime("%a")


# ---------------------------------------------------------------- working days and due dates


class Calendar:
    """Working days of one hall (or of the installation when `hall_id` is None), with the
    admin's entries loaded once per year asked about."""

    def __init__(self, session: Session, hall_id: int | None = None):
        self.session = session
        self.hall_id = hall_id
        self._entries: dict[date, str] = {}
        self._years: set[int] = set()

    def _load(self, start: date, end: date) -> None:
        missing = [y for y in range(start.year, end.year + 1) if y not in self._years]
        if not missing:
            return
        first, last = date(min(missing), 1, 1), date(max(missing), 12, 31)
        scope = CalendarDay.hall_id.is_(None)
        if self.hall_id is not None:
            scope = sa.or_(scope, CalendarDay.hall_id == self.hall_id)
        rows = self.session.execute(
            sa.select(CalendarDay.day, CalendarDay.kind, CalendarDay.hall_id)
            .where(CalendarDay.day.between(first, last))
            .where(scope)
        ).all()
        # the installation's entries first, then the hall's own on top
        for day, kind, _hall in sorted(rows, key=lambda r: r.hall_id is not None):
            if day.year in missing:
                self._entries[day] = kind
        self._years.update(range(first.year, last.year + 1))

    def entry(self, day: date) -> str | None:
        """The admin's entry that decides this day for this hall (None: no entry)."""
        self._load(day, day)
        return self._entries.get(day)

    def is_working_day(self, day: date) -> bool:
        """Whether the hall works on this day."""
        kind = self.entry(day)
        if kind == "workday":
            return True
        if kind in ("holiday", "closure"):
            return False
        if library_knows(day.year):
            # the library's own is_workday validates the date against every year it knows on
            # each call; its two tables answer the same question directly
            if day in chinese_calendar.workdays:
                return True
            if day in chinese_calendar.holidays:
                return False
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
        if unit not in UNITS:
            raise ValueError(f"unknown unit of a limit: {unit!r}")
        pauses = list(pauses)
        if any(p.end is None for p in pauses):
            return None
        if days == 0:
            return accepted_on

        def paused(day: date) -> bool:
            return any(p.start <= day <= p.end for p in pauses)

        try:
            day, counted = accepted_on, 0
            while counted < days:
                day += timedelta(days=1)
                if paused(day):
                    continue
                if unit == "natural" or self.is_working_day(day):
                    counted += 1
            if unit == "natural":
                while paused(day) or not self.is_working_day(day):
                    day += timedelta(days=1)
        except OverflowError:
            raise ValueError(f"due date beyond the calendar: {accepted_on} + {days}") from None
        return day

    def working_days_between(self, start: date, end: date) -> int:
        """Working days after `start` up to and including `end` (negative when end < start)."""
        if end < start:
            return -self.working_days_between(end, start)
        self._load(start, end)
        return sum(
            1 for n in range(1, (end - start).days + 1) if self.is_working_day(start + timedelta(n))
        )


# ---------------------------------------------------------------- which years have data


def _entered_holidays(session: Session, years: Iterable[int]) -> set[int]:
    """The years (of those given) with at least one installation-wide holiday entered."""
    years = sorted(set(years))
    if not years:
        return set()
    days = session.scalars(
        sa.select(CalendarDay.day).where(
            CalendarDay.hall_id.is_(None),
            CalendarDay.kind == "holiday",
            CalendarDay.day.between(date(years[0], 1, 1), date(years[-1], 12, 31)),
        )
    )
    return {d.year for d in days} & set(years)


def years_without_data(session: Session, years: Iterable[int]) -> list[int]:
    """The years (of those given) that neither the holiday library nor the admin's calendar
    (an installation-wide holiday entered for it) has the official schedule of: their
    working days are Monday to Friday."""
    unknown = sorted({y for y in years if not library_knows(y)})
    entered = _entered_holidays(session, unknown)
    return [y for y in unknown if y not in entered]


def calendar_warnings(session: Session, today: date) -> list[tuple[str, str]]:
    """(zh, en) warnings for the current and the next year when neither the holiday library
    nor the admin's calendar has that year's official schedule."""
    return [
        (
            f"{year} 年的法定节假日和调休安排尚未录入：在录入前按周一至周五计算工作日，"
            "办结期限可能不准确。请在「工作日历」中录入国务院办公厅公布的安排。",
            f"No official holiday schedule for {year}: working days are counted as Monday "
            "to Friday until the State Council's schedule is entered in the calendar, so "
            "due dates may be wrong.",
        )
        for year in years_without_data(session, (today.year, today.year + 1))
    ]


@dataclass(frozen=True)
class YearStatus:
    """What the calendar knows of a year."""

    year: int
    library: bool  # the holiday library has the official schedule
    everywhere: int  # installation-wide entries
    halls: int  # entries of single halls
    holidays_entered: bool  # an installation-wide holiday is entered

    @property
    def official(self) -> bool:
        """Whether the official schedule is known (library or entered)."""
        return self.library or self.holidays_entered


def year_statuses(session: Session, years: Iterable[int]) -> list[YearStatus]:
    """The status of the given years and of every year with entries, in order."""
    rows = session.execute(sa.select(CalendarDay.day, CalendarDay.hall_id, CalendarDay.kind)).all()
    counts: dict[int, list[int]] = {}
    holidays: set[int] = set()
    for day, hall_id, kind in rows:
        counts.setdefault(day.year, [0, 0])
        if hall_id is None:
            counts[day.year][0] += 1
            if kind == "holiday":
                holidays.add(day.year)
        else:
            counts[day.year][1] += 1
    return [
        YearStatus(
            year=y,
            library=library_knows(y),
            everywhere=counts.get(y, [0, 0])[0],
            halls=counts.get(y, [0, 0])[1],
            holidays_entered=y in holidays,
        )
        for y in sorted(set(years) | set(counts))
    ]


# ---------------------------------------------------------------- reading entries


@dataclass(frozen=True)
class Problem:
    """Why a line (or a field) of an entry is refused, in Chinese and English."""

    line: int | None
    zh: str
    en: str

    def __str__(self) -> str:
        where = f"第 {self.line} 行 / line {self.line}: " if self.line else ""
        return f"{where}{self.zh} / {self.en}"


class ScheduleRefused(Invalid):
    """Entries refused: nothing was written; `problems` says why, by line."""

    def __init__(self, problems: list[Problem], more: int = 0) -> None:
        total = len(problems) + more
        if total == 1 and problems[0].line is None:
            zh, en = problems[0].zh, problems[0].en
        else:
            zh = f"有 {total} 处问题，没有保存任何条目"
            en = f"{total} problem(s): nothing was saved"
        super().__init__("calendar_refused", zh, en)
        self.problems = problems
        self.more = more


@dataclass(frozen=True)
class Entry:
    """An entry to save: a day, its kind and name (`line`: where it was typed)."""

    day: date
    kind: str
    name: str = ""
    line: int | None = None


def clean_text(value) -> str:
    """One line of text as stored: no control characters, white space collapsed."""
    if not isinstance(value, str):
        return ""
    return " ".join(_INVISIBLE.sub("", value).split())


def parse_day(text: str) -> date:
    """A day typed as 2027-01-01 (also 2027/1/1, 2027.1.1, 20270101, 2027年1月1日); full-width
    digits are accepted. Invalid (400) for anything else or a year outside 2000–2099."""
    value = unicodedata.normalize("NFKC", clean_text(text))
    match = _DAY.fullmatch(value) if len(value) <= 20 else None
    if not match:
        shown = value[:30]
        raise Invalid(
            "bad_day",
            f"日期「{shown}」格式不正确，应为 年-月-日，如 2027-01-01",
            f"“{shown}” is not a date; write year-month-day, such as 2027-01-01",
        )
    year, month, day = (int(match[k] or match[k + "8"]) for k in ("y", "m", "d"))
    if not YEAR_MIN <= year <= YEAR_MAX:
        raise Invalid(
            "bad_year",
            f"年份 {year} 超出范围：只能录入 {YEAR_MIN}–{YEAR_MAX} 年的日期",
            f"Year {year} is out of range: only {YEAR_MIN}–{YEAR_MAX} can be entered",
        )
    try:
        return date(year, month, day)
    except ValueError:
        raise Invalid(
            "bad_day",
            f"日期 {value} 不存在（{year} 年 {month} 月没有 {day} 日）",
            f"{value} is not a day of the calendar",
        ) from None


def parse_kind(text: str) -> str:
    """holiday / workday / closure (also 放假 / 上班 / 停止办公)."""
    value = unicodedata.normalize("NFKC", clean_text(text)).lower()
    kind = KIND_WORDS.get(value)
    if kind is None:
        shown = value[:30]
        raise Invalid(
            "bad_kind",
            f"类型「{shown}」不正确，应为 holiday（放假）、workday（调休上班）或 closure（停止办公）",
            f"Kind “{shown}” is unknown: use holiday, workday or closure",
        )
    return kind


def parse_name(text: str) -> str:
    """The name of an entry (春节, 国庆节调休, 台风停止办公…), at most 100 characters."""
    name = clean_text(text)
    if len(name) > NAME_MAX:
        raise Invalid(
            "name_too_long",
            f"名称最多 {NAME_MAX} 个字，现在有 {len(name)} 个",
            f"The name is limited to {NAME_MAX} characters; it has {len(name)}",
        )
    return name


def parse_year(text) -> int:
    """A year from 2000 to 2099 (Invalid otherwise)."""
    value = unicodedata.normalize("NFKC", clean_text(str(text) if text is not None else ""))
    if value.isascii() and value.isdigit() and len(value) == 4:
        year = int(value)
        if YEAR_MIN <= year <= YEAR_MAX:
            return year
    raise Invalid(
        "bad_year",
        f"年份应为 {YEAR_MIN} 到 {YEAR_MAX} 之间的四位数",
        f"The year must be a four-digit year from {YEAR_MIN} to {YEAR_MAX}",
    )


def read_schedule(text: str) -> list[Entry]:
    """Entries typed one a line: `DAY KIND [NAME]`, e.g. `2027-01-01 holiday 元旦` or
    `2027-02-20 workday 春节调休`; blank lines and lines starting with # are skipped.
    Everything is checked: ScheduleRefused lists every problem, by line."""
    if not isinstance(text, str):
        text = ""
    if len(text) > MAX_TEXT:
        raise ScheduleRefused(
            [
                Problem(
                    None,
                    f"内容太长：最多 {MAX_TEXT} 个字符，现在有 {len(text)} 个",
                    f"The text is too long: at most {MAX_TEXT} characters, it has {len(text)}",
                )
            ]
        )
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    numbered = [
        (number, line.strip())
        for number, line in enumerate(lines, 1)
        if line.strip() and not line.strip().startswith(("#", "＃"))
    ]
    if len(numbered) > MAX_LINES:
        raise ScheduleRefused(
            [
                Problem(
                    None,
                    f"条目太多：一次最多 {MAX_LINES} 行，现在有 {len(numbered)} 行",
                    f"Too many lines: at most {MAX_LINES} at once, there are {len(numbered)}",
                )
            ]
        )
    if not numbered:
        raise ScheduleRefused(
            [
                Problem(
                    None,
                    "没有可导入的条目：每行写一个日期、类型和名称，如 2027-01-01 holiday 元旦",
                    "Nothing to import: write one day a line, such as 2027-01-01 holiday 元旦",
                )
            ]
        )
    entries: list[Entry] = []
    problems: list[Problem] = []
    seen: dict[date, int] = {}
    for number, line in numbered:
        fields = _FIELDS.split(line, maxsplit=2)
        if len(fields) < 2:
            problems.append(
                Problem(
                    number,
                    "应写日期和类型（及名称），如 2027-01-01 holiday 元旦",
                    "Write a day and a kind (and a name), such as 2027-01-01 holiday 元旦",
                )
            )
            continue
        try:
            day = parse_day(fields[0])
            kind = parse_kind(fields[1])
            name = parse_name(fields[2] if len(fields) > 2 else "")
        except Invalid as err:
            problems.append(Problem(number, err.zh, err.en))
            continue
        if day in seen:
            problems.append(
                Problem(
                    number,
                    f"{day} 与第 {seen[day]} 行重复：每天只能有一个条目",
                    f"{day} is already on line {seen[day]}: one entry a day",
                )
            )
            continue
        seen[day] = number
        entries.append(Entry(day, kind, name, number))
    if problems:
        raise ScheduleRefused(problems[:MAX_PROBLEMS], more=max(0, len(problems) - MAX_PROBLEMS))
    return entries


# ---------------------------------------------------------------- writing entries


def scope_text(hall: Hall | None) -> tuple[str, str]:
    """(全区所有大厅, every hall) or the hall's name."""
    if hall is None:
        return "全区所有大厅", "every hall"
    return hall.name, f"hall {hall.code}"


def _audit(
    session: Session, action: str, row: CalendarDay, hall: Hall | None, user_id, via: str
) -> None:
    scope = hall.code if hall is not None else "all"
    detail = f"day={row.day.isoformat()} kind={row.kind} scope={scope} via={via}"
    if row.name:
        detail += f" name={row.name}"
    session.add(
        AuditEvent(
            hall_id=hall.id if hall is not None else None,
            user_id=user_id,
            action=action,
            detail=detail[:500],
            at=utcnow(),
        )
    )


@dataclass
class Saved:
    """What `save_entries` did."""

    added: list[Entry]
    unchanged: list[Entry]


def save_entries(
    session: Session,
    entries: list[Entry],
    *,
    hall: Hall | None,
    user_id: int | None,
    via: str,
) -> Saved:
    """Add entries for the whole installation (`hall` None) or one hall, all or nothing.

    An entry identical to one already there (same day, kind and name) is left as it is, so a
    schedule can be imported twice; a different entry on a day that has one is refused (the
    admin removes the old one first). Each entry added writes an AuditEvent. The caller
    commits; an IntegrityError at commit means someone else entered the day meanwhile.
    """
    days = [e.day for e in entries]
    existing: dict[date, CalendarDay] = {}
    if days:
        scope = CalendarDay.hall_id.is_(None) if hall is None else CalendarDay.hall_id == hall.id
        for chunk in range(0, len(days), 500):
            for row in session.scalars(
                sa.select(CalendarDay).where(scope, CalendarDay.day.in_(days[chunk : chunk + 500]))
            ):
                existing[row.day] = row
    problems: list[Problem] = []
    added: list[Entry] = []
    unchanged: list[Entry] = []
    where_zh, where_en = scope_text(hall)
    for entry in entries:
        if entry.kind not in CALENDAR_KINDS:
            problems.append(Problem(entry.line, "类型不正确", f"Unknown kind {entry.kind!r}"))
            continue
        old = existing.get(entry.day)
        if old is None:
            added.append(entry)
        elif old.kind == entry.kind and (old.name == entry.name or not entry.name):
            unchanged.append(entry)
        else:
            kind_zh, kind_en = KIND_TEXT[old.kind]
            label = f"「{old.name}」" if old.name else ""
            problems.append(
                Problem(
                    entry.line,
                    f"{where_zh}在 {entry.day} 已有条目：{kind_zh}{label}；如要修改，请先删除原条目",
                    f"{entry.day} already has an entry for {where_en} ({kind_en}"
                    f"{' ' + old.name if old.name else ''}); remove it first to change it",
                )
            )
    if problems:
        raise ScheduleRefused(problems[:MAX_PROBLEMS], more=max(0, len(problems) - MAX_PROBLEMS))
    for entry in added:
        row = CalendarDay(
            hall_id=hall.id if hall is not None else None,
            day=entry.day,
            kind=entry.kind,
            name=entry.name,
            created_by_id=user_id,
            created_at=utcnow(),
        )
        session.add(row)
        _audit(session, "calendar.add", row, hall, user_id, via)
    session.flush()
    return Saved(added=added, unchanged=unchanged)


def find_entry(session: Session, day: date, hall: Hall | None) -> CalendarDay:
    """The entry of a day for the installation (`hall` None) or a hall; NotFound else."""
    scope = CalendarDay.hall_id.is_(None) if hall is None else CalendarDay.hall_id == hall.id
    row = session.scalar(sa.select(CalendarDay).where(scope, CalendarDay.day == day))
    if row is None:
        where_zh, where_en = scope_text(hall)
        raise NotFound(
            "calendar_entry_not_found",
            f"{where_zh}在 {day} 没有工作日历条目",
            f"There is no calendar entry for {where_en} on {day}",
        )
    return row


def remove_entry(session: Session, row: CalendarDay, *, user_id: int | None, via: str) -> None:
    """Remove an entry (the library's schedule, if any, applies again); audited."""
    hall = session.get(Hall, row.hall_id) if row.hall_id is not None else None
    _audit(session, "calendar.remove", row, hall, user_id, via)
    session.delete(row)
    session.flush()


@dataclass(frozen=True)
class Listed:
    """One entry as lists show it."""

    id: int
    day: date
    kind: str
    name: str
    hall_code: str | None
    hall_name: str | None
    created_by: str


def list_entries(
    session: Session, year: int, *, hall_id: int | None = None, every_hall: bool = False
) -> list[Listed]:
    """The admin's entries of a year: the installation's, plus one hall's (`hall_id`) or
    every hall's (`every_hall`), by day."""
    scope = CalendarDay.hall_id.is_(None)
    if every_hall:
        scope = sa.true()
    elif hall_id is not None:
        scope = sa.or_(scope, CalendarDay.hall_id == hall_id)
    rows = session.execute(
        sa.select(CalendarDay, Hall.code, Hall.name, User.display_name)
        .outerjoin(Hall, Hall.id == CalendarDay.hall_id)
        .outerjoin(User, User.id == CalendarDay.created_by_id)
        .where(scope, CalendarDay.day.between(date(year, 1, 1), date(year, 12, 31)))
        .order_by(CalendarDay.day, CalendarDay.hall_id.is_not(None), Hall.code)
    ).all()
    return [
        Listed(
            id=row.id,
            day=row.day,
            kind=row.kind,
            name=row.name,
            hall_code=code,
            hall_name=name,
            created_by=user or "",
        )
        for row, code, name, user in rows
    ]
