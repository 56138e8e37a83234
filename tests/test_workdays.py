"""Working days and due dates (DOMAIN.md "Deadlines"): the 2026 State Council schedule, the
reference dates, natural-day limits, pauses, the admin's entries, the Monday–Friday fallback
of a year nobody has published yet, and the warnings about it.

Pure calendar logic: one SQLite database for the module, each test in a transaction that is
rolled back (the calendar reads the entries a test has flushed).
"""

from __future__ import annotations

import shutil
from datetime import date, timedelta

import chinese_calendar
import pytest
import sqlalchemy as sa

from hall.domain import workdays
from hall.domain.errors import Invalid, NotFound
from hall.domain.workdays import Calendar, Entry, Pause, calendar_warnings
from hall.extensions import db
from hall.models import AuditEvent, CalendarDay, Hall
from tests.conftest import dispose, make_app

D = date.fromisoformat

# The State Council's 2026 schedule (国务院办公厅关于2026年部分节假日安排的通知), as the
# holiday library has it: days off (weekends inside the periods included) …
HOLIDAYS_2026 = {
    "元旦": ("2026-01-01", "2026-01-03"),
    "春节": ("2026-02-15", "2026-02-23"),
    "清明节": ("2026-04-04", "2026-04-06"),
    "劳动节": ("2026-05-01", "2026-05-05"),
    "端午节": ("2026-06-19", "2026-06-21"),
    "中秋节": ("2026-09-25", "2026-09-27"),
    "国庆节": ("2026-10-01", "2026-10-07"),
}
# … and the make-up working days (调休上班) on a Saturday or a Sunday
MAKE_UP_2026 = {
    D("2026-01-04"): "Sunday, 元旦调休",
    D("2026-02-14"): "Saturday, 春节调休",
    D("2026-02-28"): "Saturday, 春节调休",
    D("2026-05-09"): "Saturday, 劳动节调休",
    D("2026-09-20"): "Sunday, 国庆节调休",
    D("2026-10-10"): "Saturday, 国庆节调休",
}


@pytest.fixture(scope="module")
def calendar_app(tmp_path_factory, sqlite_template):
    path = tmp_path_factory.mktemp("workdays") / "hall.sqlite3"
    shutil.copy(sqlite_template, path)
    application = make_app(f"sqlite:///{path}")
    with application.app_context():
        db.session.add_all(
            [
                Hall(code="east", name="东区政务服务中心", timezone="Asia/Shanghai", notice=""),
                Hall(code="west", name="西街道便民服务中心", timezone="Asia/Shanghai", notice=""),
            ]
        )
        db.session.commit()
    yield application
    dispose(application)


@pytest.fixture
def session(calendar_app):
    """A session whose writes are rolled back after the test."""
    with calendar_app.app_context():
        yield db.session
        db.session.rollback()
        db.session.remove()


def hall_id(session, code: str) -> int:
    return session.scalar(sa.select(Hall.id).where(Hall.code == code))


def enter(session, day: str, kind: str, hall: str | None = None, name: str = "") -> None:
    session.add(
        CalendarDay(
            day=D(day), kind=kind, name=name, hall_id=hall_id(session, hall) if hall else None
        )
    )
    session.flush()


def days(start: str, end: str):
    day = D(start)
    while day <= D(end):
        yield day
        day += timedelta(days=1)


# ---------------------------------------------------------------- the 2026 schedule


def test_the_library_has_the_2026_schedule_of_the_state_council(session):
    assert workdays.library_knows(2026) and workdays.library_knows(2004)
    assert not workdays.library_knows(2027) and not workdays.library_knows(2003)
    weekend_workdays = {
        day for day in chinese_calendar.workdays if day.year == 2026 and day.weekday() >= 5
    }
    assert weekend_workdays == set(MAKE_UP_2026)
    calendar = Calendar(session)
    for day in MAKE_UP_2026:
        assert day.weekday() >= 5 and calendar.is_working_day(day), day
    for name, (first, last) in HOLIDAYS_2026.items():
        for day in days(first, last):
            assert not calendar.is_working_day(day), (name, day)
    # the days around the holidays are plain working days
    for day in ("2025-12-31", "2026-01-05", "2026-02-13", "2026-02-24", "2026-04-07"):
        assert calendar.is_working_day(D(day)), day
    for day in ("2026-05-06", "2026-06-18", "2026-09-24", "2026-09-28", "2026-10-08"):
        assert calendar.is_working_day(D(day)), day
    names = {name for _day, _kind, name in workdays.library_days(2026)}
    assert {"春节", "国庆节", "春节调休", "劳动节调休"} <= names


@pytest.mark.parametrize(
    ("accepted", "limit", "due"),
    [
        ("2025-09-26", 5, "2025-10-10"),  # DOMAIN.md: across the 2025 National Day
        ("2026-02-13", 1, "2026-02-14"),  # DOMAIN.md: the make-up Saturday before 春节
        ("2026-02-13", 20, "2026-03-19"),  # DOMAIN.md: across 春节 and both make-up Saturdays
    ],
)
def test_the_reference_dates_of_domain_md(session, accepted, limit, due):
    assert Calendar(session).due_date(D(accepted), limit) == D(due)


@pytest.mark.parametrize(
    ("accepted", "limit", "due"),
    [
        # 元旦 2026: Jan 1–3 off, Sunday Jan 4 worked
        ("2025-12-31", 1, "2026-01-04"),
        ("2025-12-31", 2, "2026-01-05"),
        # 春节 2026: Feb 15–23 off, Saturdays Feb 14 and Feb 28 worked
        ("2026-02-12", 1, "2026-02-13"),
        ("2026-02-13", 2, "2026-02-24"),
        ("2026-02-14", 1, "2026-02-24"),  # accepted on the make-up Saturday itself
        ("2026-02-15", 1, "2026-02-24"),  # accepted (online) during the holiday
        ("2026-02-27", 1, "2026-02-28"),
        ("2026-02-27", 2, "2026-03-02"),
        ("2026-02-10", 10, "2026-03-02"),
        # 劳动节 2026: May 1–5 off, Saturday May 9 worked
        ("2026-04-30", 1, "2026-05-06"),
        ("2026-04-30", 4, "2026-05-09"),
        ("2026-04-30", 5, "2026-05-11"),
        ("2026-05-08", 1, "2026-05-09"),
        # 中秋节 and 国庆节 2026: Sunday Sep 20 worked, Sep 25–27 and Oct 1–7 off,
        # Saturday Oct 10 worked
        ("2026-09-18", 1, "2026-09-20"),
        ("2026-09-18", 2, "2026-09-21"),
        ("2026-09-24", 1, "2026-09-28"),
        ("2026-09-30", 1, "2026-10-08"),
        ("2026-09-30", 3, "2026-10-10"),
        ("2026-09-30", 4, "2026-10-12"),
        ("2026-09-18", 15, "2026-10-15"),
    ],
)
def test_due_dates_across_the_2026_holidays_and_make_up_days(session, accepted, limit, due):
    assert Calendar(session).due_date(D(accepted), limit) == D(due)


def test_the_acceptance_day_is_not_counted_and_a_zero_limit_is_the_same_day(session):
    calendar = Calendar(session)
    assert calendar.due_date(D("2026-03-02"), 1) == D("2026-03-03")
    assert calendar.due_date(D("2026-03-02"), 0) == D("2026-03-02")
    assert calendar.due_date(D("2026-03-02"), 0, "natural") == D("2026-03-02")


def test_limits_out_of_range_and_unknown_units_are_refused(session):
    calendar = Calendar(session)
    for bad in (-1, workdays.MAX_LIMIT_DAYS + 1):
        with pytest.raises(ValueError):
            calendar.due_date(D("2026-03-02"), bad)
    with pytest.raises(ValueError):
        calendar.due_date(D("2026-03-02"), 5, "weeks")
    with pytest.raises(ValueError):  # beyond the last day Python knows: not a crash
        calendar.due_date(date.max - timedelta(days=3), 10, "natural")
    # the longest limit allowed is counted (and loads each year's entries once)
    assert calendar.due_date(D("2026-03-02"), workdays.MAX_LIMIT_DAYS) > D("2040-01-01")


# ---------------------------------------------------------------- natural days


@pytest.mark.parametrize(
    ("accepted", "limit", "due"),
    [
        ("2026-03-02", 10, "2026-03-12"),  # ends on a Thursday: as counted
        ("2026-03-02", 5, "2026-03-09"),  # ends on Saturday Mar 7: moves to Monday
        ("2026-09-21", 10, "2026-10-08"),  # ends on National Day (Oct 1): after the holiday
        ("2026-02-04", 10, "2026-02-14"),  # ends on the make-up Saturday: a working day
        ("2026-02-13", 3, "2026-02-24"),  # ends inside 春节
        ("2026-12-21", 10, "2026-12-31"),
    ],
)
def test_natural_day_limits_count_every_day_but_end_on_a_working_day(session, accepted, limit, due):
    assert Calendar(session).due_date(D(accepted), limit, "natural") == D(due)


# ---------------------------------------------------------------- pauses


def test_pauses_extend_the_due_date_and_an_open_pause_stops_the_clock(session):
    calendar = Calendar(session)
    accepted = D("2026-03-02")
    assert calendar.due_date(accepted, 5) == D("2026-03-09")
    # 补正 from Wednesday to Thursday: two working days not counted
    assert calendar.due_date(accepted, 5, pauses=[Pause(D("2026-03-04"), D("2026-03-05"))]) == D(
        "2026-03-11"
    )
    # a pause over a weekend only changes nothing
    assert calendar.due_date(accepted, 5, pauses=[Pause(D("2026-03-07"), D("2026-03-08"))]) == D(
        "2026-03-09"
    )
    # two pauses (补正, then an expert review 专家评审) add up
    two = [Pause(D("2026-03-03"), D("2026-03-03")), Pause(D("2026-03-09"), D("2026-03-13"))]
    assert calendar.due_date(accepted, 5, pauses=two) == D("2026-03-17")
    # a pause across 春节 counts nothing twice
    spring = [Pause(D("2026-02-12"), D("2026-02-25"))]
    assert calendar.due_date(D("2026-02-11"), 1, pauses=spring) == D("2026-02-26")
    # natural days: paused days are not counted either
    assert calendar.due_date(
        accepted, 10, "natural", pauses=[Pause(D("2026-03-03"), D("2026-03-04"))]
    ) == D("2026-03-16")
    # still waiting for the applicant's corrections: no due date yet
    assert calendar.due_date(accepted, 5, pauses=[Pause(D("2026-03-04"), None)]) is None
    assert (
        calendar.due_date(
            accepted,
            5,
            "natural",
            pauses=[Pause(D("2026-03-03"), D("2026-03-03")), Pause(D("2026-03-05"), None)],
        )
        is None
    )


# ---------------------------------------------------------------- the admin's entries


def test_a_local_closure_on_a_working_day_pushes_the_due_date(session):
    accepted = D("2026-03-02")
    enter(session, "2026-03-04", "closure", name="台风停止办公")  # every hall
    for calendar in (Calendar(session), Calendar(session, hall_id(session, "east"))):
        assert not calendar.is_working_day(D("2026-03-04"))
        assert calendar.due_date(accepted, 5) == D("2026-03-10")


def test_a_halls_own_closure_does_not_affect_another_hall(session):
    east, west = hall_id(session, "east"), hall_id(session, "west")
    enter(session, "2026-03-04", "closure", hall="east", name="东区停电")
    accepted = D("2026-03-02")
    assert Calendar(session, east).due_date(accepted, 5) == D("2026-03-10")
    assert Calendar(session, west).due_date(accepted, 5) == D("2026-03-09")
    assert Calendar(session).due_date(accepted, 5) == D("2026-03-09")
    assert Calendar(session, east).working_days_between(accepted, D("2026-03-09")) == 4
    assert Calendar(session, west).working_days_between(accepted, D("2026-03-09")) == 5


def test_a_halls_entry_wins_over_the_installations_and_both_over_the_library(session):
    east = hall_id(session, "east")
    # the installation declares a working Saturday; east stays closed that day
    enter(session, "2026-03-07", "workday", name="全区加班")
    enter(session, "2026-03-07", "closure", hall="east")
    assert Calendar(session).is_working_day(D("2026-03-07"))
    assert not Calendar(session, east).is_working_day(D("2026-03-07"))
    # east opens on National Day (a 便民 service day); the others stay closed
    enter(session, "2026-10-02", "workday", hall="east", name="国庆值班")
    assert Calendar(session, east).is_working_day(D("2026-10-02"))
    assert not Calendar(session, hall_id(session, "west")).is_working_day(D("2026-10-02"))
    assert Calendar(session, east).due_date(D("2026-09-30"), 1) == D("2026-10-02")


def test_installation_make_up_days_for_a_year_the_library_does_not_know(session):
    calendar_before = Calendar(session)
    # nothing entered for 2027: Monday–Friday
    assert calendar_before.due_date(D("2027-02-18"), 2) == D("2027-02-22")
    # a schedule for 2027 entered by the admin (an example, not the official one)
    enter(session, "2027-02-19", "holiday", name="春节")
    enter(session, "2027-02-20", "workday", name="春节调休")  # a Saturday
    enter(session, "2027-02-22", "holiday", name="春节")
    calendar = Calendar(session)
    assert calendar.is_working_day(D("2027-02-20"))
    assert not calendar.is_working_day(D("2027-02-22"))
    assert calendar.due_date(D("2027-02-18"), 1) == D("2027-02-20")
    assert calendar.due_date(D("2027-02-18"), 2) == D("2027-02-23")
    assert calendar.working_days_between(D("2027-02-18"), D("2027-02-26")) == 5


def test_a_year_without_data_falls_back_to_monday_to_friday(session):
    calendar = Calendar(session)
    assert D("2027-01-01").weekday() == 4  # a Friday: a working day until the schedule is in
    assert calendar.is_working_day(D("2027-01-01"))
    assert not calendar.is_working_day(D("2027-01-02"))
    assert calendar.due_date(D("2026-12-31"), 1) == D("2027-01-01")
    assert calendar.due_date(D("2026-12-31"), 2) == D("2027-01-04")
    assert calendar.due_date(D("2027-09-30"), 5) == D("2027-10-07")  # no National Day known
    assert calendar.due_date(D("2027-01-01"), 1, "natural") == D("2027-01-04")
    assert calendar.working_days_between(D("2027-01-01"), D("2027-01-31")) == 20
    assert workdays.years_without_data(session, [2026, 2027, 2028]) == [2027, 2028]


def test_working_days_between(session):
    calendar = Calendar(session)
    assert calendar.working_days_between(D("2026-02-13"), D("2026-03-19")) == 20
    assert calendar.working_days_between(D("2026-03-19"), D("2026-02-13")) == -20
    assert calendar.working_days_between(D("2025-09-26"), D("2025-10-10")) == 5
    assert calendar.working_days_between(D("2026-03-02"), D("2026-03-02")) == 0
    assert calendar.working_days_between(D("2026-10-01"), D("2026-10-07")) == 0
    # 2026: 365 days, 104 weekend days, 19 weekday holidays, 6 make-up days
    assert calendar.working_days_between(D("2025-12-31"), D("2026-12-31")) == 365 - 104 - 19 + 6
    # the inverse of due_date for every limit of a year
    accepted = D("2026-01-30")
    for limit in range(1, 60):
        due = calendar.due_date(accepted, limit)
        assert calendar.working_days_between(accepted, due) == limit


# ---------------------------------------------------------------- warnings


def test_warnings_name_the_current_or_next_year_without_data(session):
    assert calendar_warnings(session, D("2025-06-01")) == []  # 2025 and 2026 are known
    warnings = calendar_warnings(session, D("2026-11-27"))  # the holiday library ends in 2026
    assert len(warnings) == 1
    zh, en = warnings[0]
    assert "2027" in zh and "周一至周五" in zh and "工作日历" in zh
    assert "2027" in en and "Monday" in en
    both = calendar_warnings(session, D("2027-03-01"))
    assert [w[1].split(":")[0] for w in both] == [
        "No official holiday schedule for 2027",
        "No official holiday schedule for 2028",
    ]


def test_a_warning_stops_once_the_schedule_is_entered_for_every_hall(session):
    today = D("2026-11-27")
    # a hall's own holiday or a closure is not the State Council's schedule
    enter(session, "2027-01-01", "holiday", hall="east", name="元旦")
    enter(session, "2027-01-05", "closure", name="停电")
    enter(session, "2027-02-20", "workday", name="调休")
    assert len(calendar_warnings(session, today)) == 1
    enter(session, "2027-01-01", "holiday", name="元旦")
    assert calendar_warnings(session, today) == []
    statuses = {s.year: s for s in workdays.year_statuses(session, [2026, 2027, 2028])}
    assert statuses[2026].library and statuses[2026].official
    assert statuses[2027].official and not statuses[2027].library
    assert (statuses[2027].everywhere, statuses[2027].halls) == (3, 1)
    assert not statuses[2028].official


# ---------------------------------------------------------------- reading and saving entries


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2027-01-01", "2027-01-01"),
        (" 2027/1/1 ", "2027-01-01"),
        ("2027.02.20", "2027-02-20"),
        ("20270220", "2027-02-20"),
        ("2027年2月20日", "2027-02-20"),
        ("２０２７－０２－２０", "2027-02-20"),  # full-width, as a Chinese input method types
    ],
)
def test_days_are_read_in_the_usual_ways(text, day):
    assert workdays.parse_day(text) == D(day)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0000-01-01", "年份 0 超出范围"),
        ("0-01-01", "格式不正确"),
        ("1999-12-31", "超出范围"),
        ("2100-01-01", "超出范围"),
        ("2027-02-30", "不存在"),
        ("2027-13-01", "不存在"),
        ("tomorrow", "格式不正确"),
        ("", "格式不正确"),
        ("2027-01-01" * 100, "格式不正确"),
        ("2027-01-01\x00", "2027-01-01"),  # a control character is dropped, not stored
    ],
)
def test_bad_days_are_refused_with_a_message(text, message):
    if message == "2027-01-01":
        assert workdays.parse_day(text) == D("2027-01-01")
        return
    with pytest.raises(Invalid) as caught:
        workdays.parse_day(text)
    assert message in caught.value.zh and caught.value.en


def test_a_schedule_is_read_line_by_line_and_refused_whole_with_every_problem():
    entries = workdays.read_schedule(
        "# 2027 年安排\n"
        "2027-01-01 holiday 元旦\r\n"
        "\n"
        "2027-02-20\tworkday\t春节调休\n"
        "2027-02-15 放假 春节 （初一）\n"
        "2027-03-01,closure\n"
    )
    assert [(e.day.isoformat(), e.kind, e.name, e.line) for e in entries] == [
        ("2027-01-01", "holiday", "元旦", 2),
        ("2027-02-20", "workday", "春节调休", 4),
        ("2027-02-15", "holiday", "春节 （初一）", 5),
        ("2027-03-01", "closure", "", 6),
    ]
    with pytest.raises(workdays.ScheduleRefused) as caught:
        workdays.read_schedule(
            "2027-01-01 holiday 元旦\n"
            "2027-02-30 holiday 春节\n"
            "2027-02-20 rest\n"
            "2027-01-01 workday\n"
            "2027-05-01\n"
            f"2027-05-02 holiday {'节' * 101}\n"
            "0-0-0 holiday\n"
        )
    problems = caught.value.problems
    assert [p.line for p in problems] == [2, 3, 4, 5, 6, 7]
    assert "不存在" in problems[0].zh and "not a day" in problems[0].en
    assert "类型" in problems[1].zh and "holiday, workday or closure" in problems[1].en
    assert "第 1 行重复" in problems[2].zh and "line 1" in problems[2].en
    assert "最多 100 个字" in problems[4].zh
    assert str(problems[0]).startswith("第 2 行 / line 2: ")
    assert "6 处问题" in caught.value.zh


def test_empty_huge_and_endless_schedules_are_refused_clearly():
    for text, zh in (
        ("", "没有可导入的条目"),
        ("# only a comment\n\n", "没有可导入的条目"),
        ("x" * (workdays.MAX_TEXT + 1), "内容太长"),
        ("2027-01-01 holiday\n" * (workdays.MAX_LINES + 1), "条目太多"),
    ):
        with pytest.raises(workdays.ScheduleRefused) as caught:
            workdays.read_schedule(text)
        assert zh in caught.value.zh
    with pytest.raises(workdays.ScheduleRefused) as caught:
        workdays.read_schedule("bad line\n" * 500)
    assert len(caught.value.problems) == workdays.MAX_PROBLEMS and caught.value.more == 400


def test_saving_entries_is_all_or_nothing_idempotent_and_audited(session):
    east = session.get(Hall, hall_id(session, "east"))
    entries = workdays.read_schedule("2027-01-01 holiday 元旦\n2027-02-20 workday 春节调休\n")
    saved = workdays.save_entries(session, entries, hall=None, user_id=None, via="test")
    assert len(saved.added) == 2 and not saved.unchanged
    # the same schedule again: nothing changes; east may have its own entry the same day
    again = workdays.save_entries(session, entries, hall=None, user_id=None, via="test")
    assert not again.added and len(again.unchanged) == 2
    workdays.save_entries(
        session, [Entry(D("2027-01-01"), "closure", "东区检修")], hall=east, user_id=None, via="t"
    )
    # a different kind on an entered day: refused, and the good line is not saved either
    changed = workdays.read_schedule("2027-03-01 holiday 新\n2027-02-20 holiday 改\n")
    with pytest.raises(workdays.ScheduleRefused) as caught:
        workdays.save_entries(session, changed, hall=None, user_id=None, via="test")
    assert [p.line for p in caught.value.problems] == [2]
    assert (
        "已有条目" in caught.value.problems[0].zh
        and "remove it first" in caught.value.problems[0].en
    )
    assert session.scalar(sa.select(sa.func.count()).select_from(CalendarDay)) == 3
    listed = workdays.list_entries(session, 2027, hall_id=east.id)
    assert [(e.day.isoformat(), e.hall_code) for e in listed] == [
        ("2027-01-01", None),
        ("2027-01-01", "east"),
        ("2027-02-20", None),
    ]
    assert len(workdays.list_entries(session, 2027)) == 2
    row = workdays.find_entry(session, D("2027-01-01"), east)
    workdays.remove_entry(session, row, user_id=None, via="test")
    with pytest.raises(NotFound):
        workdays.find_entry(session, D("2027-01-01"), east)
    actions = session.execute(
        sa.select(AuditEvent.action, AuditEvent.hall_id, AuditEvent.detail).order_by(AuditEvent.id)
    ).all()
    assert [(a, h) for a, h, _d in actions] == [
        ("calendar.add", None),
        ("calendar.add", None),
        ("calendar.add", east.id),
        ("calendar.remove", east.id),
    ]
    assert actions[0].detail == "day=2027-01-01 kind=holiday scope=all via=test name=元旦"
