"""The working-day calendar for admins: holidays, make-up working days, local closures.

One page per hall and year (工作日历): the holiday library's schedule for the years it knows
(read-only, for reference), the admin's entries for the whole installation and for this
hall, and what each special day means for this hall. Admins add an entry, paste a whole
year's schedule as lines (checked whole: nothing is saved while a line is wrong) and remove
entries; managers see the page without the forms. Every change is an AuditEvent.

Every management page shows a banner when the current or the next year has no official
schedule (`calendar_warnings`): until it is entered, working days are counted Monday–Friday.
"""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import login_required

from hall import realtime
from hall.auth import Principal
from hall.domain import workdays
from hall.domain.errors import DomainError, Forbidden, Invalid, NotFound
from hall.extensions import db
from hall.manage import blueprint
from hall.manage.catalog import _context
from hall.manage.views import page_context
from hall.models import CalendarDay, Hall

DEFAULT_TIMEZONE = "Asia/Shanghai"
EXAMPLE = "2027-01-01 holiday 元旦\n2027-02-20 workday 春节调休"


def today_of(hall: Hall) -> date:
    """Today in the hall's time zone."""
    try:
        zone = ZoneInfo(hall.timezone or DEFAULT_TIMEZONE)
    except (ValueError, KeyError, OSError):
        zone = ZoneInfo(DEFAULT_TIMEZONE)
    return datetime.now(zone).date()


@blueprint.context_processor
def _calendar_banner():
    """`calendar_banner(hall)`: the warnings of the calendar for the frame of every manage page,
    {"warnings": [(zh, en)…], "year": the first year without data} or None (computed once a
    request, only when a page shows the frame; no query while the library knows both years)."""

    def calendar_banner(hall: Hall | None) -> dict | None:
        if hall is None:
            return None
        if "calendar_banner" not in g:
            today = today_of(hall)
            warnings = workdays.calendar_warnings(db.session, today)
            banner = None
            if warnings:
                years = workdays.years_without_data(db.session, (today.year, today.year + 1))
                banner = {"warnings": warnings, "year": years[0] if years else today.year}
            g.calendar_banner = banner
        return g.calendar_banner

    return {"calendar_banner": calendar_banner}


def _admin(principal: Principal) -> None:
    """Only admins change the calendar; managers see it."""
    if principal.role != "admin":
        raise Forbidden(
            "forbidden",
            "只有管理员可以修改工作日历",
            "Only admins may change the working-day calendar",
        )


def _scope(hall: Hall, value) -> Hall | None:
    """The hall an entry is for: None for the whole installation."""
    if value == "all":
        return None
    if value == "hall":
        return hall
    raise Invalid(
        "bad_scope",
        "请选择适用范围：全区所有大厅或本大厅",
        "Choose where the entry applies: every hall or this hall",
    )


def _kind_options() -> list[tuple[str, str]]:
    return [
        ("holiday", _("放假（法定节假日）")),
        ("workday", _("上班（调休上班日）")),
        ("closure", _("停止办公（本地闭厅）")),
    ]


def _scope_options(hall: Hall) -> list[tuple[str, str]]:
    return [
        ("all", _("全区所有大厅（国务院安排）")),
        ("hall", _("仅本大厅：%(name)s", name=hall.name)),
    ]


def _rows(hall: Hall, year: int) -> list[dict]:
    """Every special day of the year for this hall: the library's and the admin's."""
    library = {day: (kind, name) for day, kind, name in workdays.library_days(year)}
    entries: dict[date, list[workdays.Listed]] = {}
    for entry in workdays.list_entries(db.session, year, hall_id=hall.id):
        entries.setdefault(entry.day, []).append(entry)
    calendar = workdays.Calendar(db.session, hall.id)
    rows = []
    for day in sorted(set(library) | set(entries)):
        kind, name = library.get(day, (None, ""))
        rows.append(
            {
                "day": day.isoformat(),
                "weekday": workdays.weekday_text(day),
                "weekend": day.weekday() >= 5,
                "library_kind": kind,
                "library_name": name,
                "entries": entries.get(day, []),
                "working": calendar.is_working_day(day),
            }
        )
    return rows


def _page(
    hall: Hall,
    principal: Principal,
    year: int,
    *,
    add_values: dict | None = None,
    add_problems: list[workdays.Problem] | None = None,
    import_text: str = "",
    import_scope: str = "all",
    import_problems: list[workdays.Problem] | None = None,
    import_more: int = 0,
    year_error: tuple[str, str] | None = None,
    status: int = 200,
):
    statuses = {s.year: s for s in workdays.year_statuses(db.session, [year])}
    this_year = statuses[year]
    today = today_of(hall)
    return render_template(
        "manage/calendar.html",
        **page_context(hall, "calendar"),
        year=year,
        years=list(range(today.year - 1, today.year + 3)),
        status=this_year,
        library_version=workdays.library_version(),
        library_years=workdays.library_years(),
        rows=_rows(hall, year),
        can_edit=principal.role == "admin",
        kinds=_kind_options(),
        scopes=_scope_options(hall),
        add_values=add_values or {"day": "", "kind": "holiday", "name": "", "scope": "all"},
        add_problems=add_problems or [],
        import_text=import_text,
        import_scope=import_scope,
        import_problems=import_problems or [],
        import_more=import_more,
        year_error=year_error,
        example=EXAMPLE,
        name_max=workdays.NAME_MAX,
        year_min=workdays.YEAR_MIN,
        year_max=workdays.YEAR_MAX,
    ), status


def _year_of_request(hall: Hall) -> tuple[int, tuple[str, str] | None]:
    """The year asked for (?year=), else this year; a bad year is said, not fatal."""
    value = request.values.get("year")
    if value is None or value == "":
        return today_of(hall).year, None
    try:
        return workdays.parse_year(value), None
    except Invalid as err:
        return today_of(hall).year, (err.zh, err.en)


def _commit_or_problem(day_hint: str) -> workdays.Problem | None:
    """Commit; a day someone else entered meanwhile becomes a problem (nothing saved)."""
    try:
        realtime.commit_and_publish(db.session)
    except sa.exc.IntegrityError:
        db.session.rollback()
        realtime.discard(db.session)
        return workdays.Problem(
            None,
            f"{day_hint or '其中有的日期'}刚刚被其他人录入了条目，没有保存任何修改，请刷新后再试",
            "Someone else has just entered one of these days; nothing was saved. Reload "
            "the page and try again.",
        )
    return None


@blueprint.get("/<hall_code>/calendar")
@login_required
def calendar(hall_code: str):
    """The working-day calendar of a year (工作日历): library, entries, forms for admins."""
    principal, hall = _context(hall_code)
    year, error = _year_of_request(hall)
    return _page(hall, principal, year, year_error=error, status=400 if error else 200)


@blueprint.post("/<hall_code>/calendar/add")
@login_required
def calendar_add(hall_code: str):
    """Add one entry: a day, its kind, a name, for every hall or this hall."""
    principal, hall = _context(hall_code)
    _admin(principal)
    year, _error = _year_of_request(hall)
    form = request.form
    values = {
        "day": workdays.clean_text(form.get("day", ""))[:40],
        "kind": workdays.clean_text(form.get("kind", ""))[:20],
        "name": workdays.clean_text(form.get("name", ""))[:200],
        "scope": workdays.clean_text(form.get("scope", ""))[:10],
    }
    problems: list[workdays.Problem] = []
    parsed = {}
    for field, parse in (
        ("day", workdays.parse_day),
        ("kind", workdays.parse_kind),
        ("name", workdays.parse_name),
        ("scope", lambda value: _scope(hall, value)),
    ):
        try:
            parsed[field] = parse(values[field])
        except Invalid as err:
            problems.append(workdays.Problem(None, err.zh, err.en))
    if not problems:
        entry = workdays.Entry(parsed["day"], parsed["kind"], parsed["name"])
        try:
            saved = workdays.save_entries(
                db.session, [entry], hall=parsed["scope"], user_id=principal.user.id, via="web"
            )
        except workdays.ScheduleRefused as err:
            db.session.rollback()
            problems = err.problems
        else:
            problem = _commit_or_problem(f"{entry.day} ")
            if problem is None:
                if saved.added:
                    flash(_("已添加 %(day)s 的工作日历条目。", day=entry.day.isoformat()), "info")
                else:
                    flash(
                        _("%(day)s 已有相同的条目，没有修改。", day=entry.day.isoformat()), "info"
                    )
                return redirect(
                    url_for("manage.calendar", hall_code=hall.code, year=entry.day.year)
                )
            problems = [problem]
        year = parsed["day"].year
    return _page(hall, principal, year, add_values=values, add_problems=problems, status=400)


@blueprint.post("/<hall_code>/calendar/import")
@login_required
def calendar_import(hall_code: str):
    """Add a whole schedule typed as lines (`2027-01-01 holiday 元旦`), all or nothing."""
    principal, hall = _context(hall_code)
    _admin(principal)
    year, _error = _year_of_request(hall)
    text = request.form.get("lines", "")
    scope_value = workdays.clean_text(request.form.get("scope", ""))[:10]
    shown = text[: workdays.MAX_TEXT]
    problems: list[workdays.Problem] = []
    more = 0
    try:
        scope = _scope(hall, scope_value)
        entries = workdays.read_schedule(text)
        saved = workdays.save_entries(
            db.session, entries, hall=scope, user_id=principal.user.id, via="import"
        )
    except workdays.ScheduleRefused as err:
        db.session.rollback()
        problems, more = err.problems, err.more
    except DomainError as err:
        db.session.rollback()
        problems = [workdays.Problem(None, err.zh, err.en)]
    else:
        problem = _commit_or_problem("")
        if problem is None:
            flash(
                _(
                    "已导入 %(added)s 个条目，%(unchanged)s 个与已有条目相同未修改。",
                    added=len(saved.added),
                    unchanged=len(saved.unchanged),
                ),
                "info",
            )
            first = min(e.day for e in entries)
            return redirect(url_for("manage.calendar", hall_code=hall.code, year=first.year))
        problems = [problem]
    return _page(
        hall,
        principal,
        year,
        import_text=shown,
        import_scope=scope_value if scope_value in ("all", "hall") else "all",
        import_problems=problems,
        import_more=more,
        status=400,
    )


@blueprint.post("/<hall_code>/calendar/<int:entry_id>/delete")
@login_required
def calendar_remove(hall_code: str, entry_id: int):
    """Remove an entry of the installation or of this hall; the library applies again."""
    principal, hall = _context(hall_code)
    _admin(principal)
    row = None
    if 0 < entry_id < 2**31:
        row = db.session.get(CalendarDay, entry_id, with_for_update=True)
    if row is None or row.hall_id not in (None, hall.id):
        raise NotFound(
            "calendar_entry_not_found",
            "没有这个工作日历条目（可能已被删除）",
            "No such calendar entry (it may have been removed already)",
        )
    day = row.day
    workdays.remove_entry(db.session, row, user_id=principal.user.id, via="web")
    realtime.commit_and_publish(db.session)
    flash(_("已删除 %(day)s 的工作日历条目。", day=day.isoformat()), "info")
    return redirect(url_for("manage.calendar", hall_code=hall.code, year=day.year))
