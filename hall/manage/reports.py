"""Reports for managers (统计报表): tickets, waits and completion rates of a hall over a period.

GET /manage/<hall>/reports shows, for the filters of a plain GET form (date range with quick
picks, department, window, staff member, matter) and a grouping (window, department, matter,
staff; day, week, month): tickets issued, served, no-shows and the no-show rate, the average
and 90th-percentile wait, the average service time, the cases by outcome and the rates, each
rate with its formula in words, and the list of overdue cases. The numbers are those of
``hall.domain.reports.report_dict`` — the same dict the API returns — so the page, the API and
the exports agree. The tables need no script; reports.js draws three charts (rates per window,
tickets per hour of day, waits over time) with the vendored Chart.js from the JSON the page
carries in a data- attribute, and sorts the tables.

GET /manage/<hall>/reports/staff is the staff view for the assessment (绩效考核): each staff
member's served tickets, average service time and rates; satisfaction shows 「—」 until ratings
exist. Its column headings are links that sort on the server (?sort=&dir=), and reports.js
sorts in place without reloading.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import sqlalchemy as sa
from flask import current_app, render_template, request, url_for
from flask_babel import get_locale, lazy_gettext
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.routing import BuildError

from hall.domain import board
from hall.domain import reports as domain
from hall.domain.errors import DomainError, Invalid
from hall.domain.rates import NOTES, percent
from hall.extensions import db
from hall.manage import blueprint
from hall.manage.cases import _hall
from hall.manage.views import page_context
from hall.models import Department, Hall, Matter, User, Window

DASH = "—"
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_TEXT = 64
FILTERS = ("window", "department", "matter", "staff")
EXPORT_FORMATS = (("xlsx", lazy_gettext("导出 Excel")), ("pdf", lazy_gettext("导出 PDF")))

GROUP_NAMES = {
    "window": lazy_gettext("按窗口"),
    "department": lazy_gettext("按部门"),
    "matter": lazy_gettext("按事项"),
    "staff": lazy_gettext("按工作人员"),
    "day": lazy_gettext("按日"),
    "week": lazy_gettext("按周"),
    "month": lazy_gettext("按月"),
}
PICKS = (
    ("today", lazy_gettext("今日")),
    ("week", lazy_gettext("本周")),
    ("month", lazy_gettext("本月")),
    ("last_month", lazy_gettext("上月")),
    ("year", lazy_gettext("本年")),
)
# (key, heading, kind): kind "count", "minutes" or "rate" (a percent with its formula)
TICKET_COLUMNS = (
    ("issued", lazy_gettext("取号"), "count"),
    ("served", lazy_gettext("已办理"), "count"),
    ("no_shows", lazy_gettext("过号"), "count"),
    ("no_show_rate", lazy_gettext("过号率"), "rate"),
    ("avg_wait_minutes", lazy_gettext("平均等候（分钟）"), "minutes"),
    ("p90_wait_minutes", lazy_gettext("90% 等候不超过（分钟）"), "minutes"),
    ("avg_service_minutes", lazy_gettext("平均办理时长（分钟）"), "minutes"),
)
CASE_COLUMNS = (
    ("on_the_spot", lazy_gettext("当场办结"), "count"),
    ("accepted", lazy_gettext("受理"), "count"),
    ("correction", lazy_gettext("补正"), "count"),
    ("rejected", lazy_gettext("不予受理"), "count"),
    ("consultation", lazy_gettext("咨询"), "count"),
    ("on_the_spot_rate", lazy_gettext("当场办结率"), "rate"),
    ("immediate_rate", lazy_gettext("即办件当场办结率"), "rate"),
    ("promised_completed", lazy_gettext("已办结承诺件"), "count"),
    ("promised_on_time", lazy_gettext("按时办结"), "count"),
    ("promised_rate", lazy_gettext("承诺办结率"), "rate"),
    ("open_overdue", lazy_gettext("逾期未办结"), "count"),
    ("strict_rate", lazy_gettext("严格承诺办结率"), "rate"),
    ("early", lazy_gettext("提前办结"), "count"),
    ("early_rate", lazy_gettext("提前办结率"), "rate"),
    ("late", lazy_gettext("超时办结"), "count"),
)
STAFF_COLUMNS = (
    ("served", lazy_gettext("已办理"), "count"),
    ("avg_service_minutes", lazy_gettext("平均办理时长（分钟）"), "minutes"),
    ("avg_wait_minutes", lazy_gettext("平均等候（分钟）"), "minutes"),
    ("handled", lazy_gettext("受理总数"), "count"),
    ("on_the_spot_rate", lazy_gettext("当场办结率"), "rate"),
    ("promised_rate", lazy_gettext("承诺办结率"), "rate"),
    ("open_overdue", lazy_gettext("逾期未办结"), "count"),
    ("strict_rate", lazy_gettext("严格承诺办结率"), "rate"),
    ("early_rate", lazy_gettext("提前办结率"), "rate"),
)
GROUP_HEADINGS = {
    "window": lazy_gettext("窗口"),
    "department": lazy_gettext("办理部门"),
    "matter": lazy_gettext("事项"),
    "staff": lazy_gettext("经办人"),
    "day": lazy_gettext("日期"),
    "week": lazy_gettext("周"),
    "month": lazy_gettext("月份"),
}
CHART_RATES = ("on_the_spot_rate", "promised_rate", "strict_rate", "early_rate")


class BadFilter(Invalid):
    """A filter value the page cannot use (400, said on the page)."""


def _bad(name: str, zh: str, en: str) -> BadFilter:
    return BadFilter("bad_parameter", zh, en, parameter=name)


# ---------------------------------------------------------------- parsing


def _text(name: str) -> str:
    """A query-string value, stripped ('' when absent); refuses long or control characters."""
    value = (request.args.get(name) or "").strip()
    if len(value) > MAX_TEXT or any(ord(ch) < 32 for ch in value):
        raise _bad(
            name,
            f"参数 {name} 无效（过长或含控制字符）",
            f"Parameter {name} is invalid (too long or with control characters)",
        )
    return value


def _date(name: str) -> date | None:
    value = _text(name)
    if not value:
        return None
    try:
        if not ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise _bad(
            name,
            f"日期「{value}」无效，格式应为 YYYY-MM-DD",
            f"The date “{value}” is invalid; use YYYY-MM-DD",
        ) from None


def _filter_ids(hall: Hall, typed: dict) -> dict:
    """The domain ids of the window/department/matter/staff filters (codes as typed)."""
    ids = {}
    if typed["window"]:
        number = typed["window"]
        window = None
        if number.isascii() and number.isdigit() and len(number) < 6:
            window = db.session.scalar(
                sa.select(Window).where(Window.hall_id == hall.id, Window.number == int(number))
            )
        if window is None:
            raise _bad("window", f"本大厅没有 {number} 号窗口", f"There is no window {number} here")
        ids["window_id"] = window.id
    if typed["department"]:
        code = typed["department"]
        department = db.session.scalar(sa.select(Department).where(Department.code == code))
        if department is None:
            raise _bad("department", f"没有编码为 {code} 的部门", f"No department with code {code}")
        ids["department_id"] = department.id
    if typed["matter"]:
        code = typed["matter"]
        matter = db.session.scalar(sa.select(Matter).where(Matter.code == code))
        if matter is None:
            raise _bad("matter", f"没有编码为 {code} 的事项", f"No matter with code {code}")
        ids["matter_id"] = matter.id
    if typed["staff"]:
        username = typed["staff"]
        user = db.session.scalar(sa.select(User).where(User.username == username))
        if user is None or (user.hall_id is not None and user.hall_id != hall.id):
            raise _bad(
                "staff",
                f"本大厅没有用户名为 {username} 的工作人员",
                f"No staff member {username} in this hall",
            )
        ids["staff_id"] = user.id
    return ids


def _month_start(day: date) -> date:
    return day.replace(day=1)


def quick_ranges(today: date) -> dict[str, tuple[date, date]]:
    """今日, 本周 (from Monday), 本月, 上月 (whole), 本年 — each up to today."""
    last_month_end = _month_start(today) - timedelta(days=1)
    return {
        "today": (today, today),
        "week": (today - timedelta(days=today.weekday()), today),
        "month": (_month_start(today), today),
        "last_month": (_month_start(last_month_end), last_month_end),
        "year": (today.replace(month=1, day=1), today),
    }


def _typed() -> dict:
    """The form as typed (strings), for refilling it also when a value is refused."""
    typed = {}
    for name in ("from", "to", "group", "sort", "dir", *FILTERS):
        value = request.args.get(name) or ""
        typed[name] = value[:MAX_TEXT] if value.isprintable() else ""
    return typed


def _selection(hall: Hall, typed: dict, *, group: str | None = None) -> dict:
    """The parsed filters: start, end, group, the domain ids and the query to repeat them."""
    for name in FILTERS:
        typed[name] = _text(name)
    today = board.service_day(hall)
    start, end = _date("from"), _date("to")
    if start is None and end is None:
        start, end = quick_ranges(today)["month"]
    end = end or today
    start = start or end
    if group is None:
        group = _text("group") or "window"
        if group not in domain.GROUPS:
            raise _bad(
                "group",
                f"分组方式「{group}」无效",
                f"Unknown grouping “{group}”",
            )
    typed.update({"from": start.isoformat(), "to": end.isoformat(), "group": group})
    ids = _filter_ids(hall, typed)
    query = {name: typed[name] for name in FILTERS if typed[name]}
    return {
        "start": start,
        "end": end,
        "group": group,
        "ids": ids,
        "today": today,
        "query": {"from": start.isoformat(), "to": end.isoformat(), "group": group, **query},
    }


# ---------------------------------------------------------------- formatting


def _value(row: dict, key: str):
    """A number of a report row: its ticket numbers, else its rates (row["rates"])."""
    if key in row:
        return row[key]
    return (row.get("rates") or {}).get(key)


def _percent_of(row: dict, key: str) -> str:
    """The percent string of a rate as report_dict gives it (「—」 when there is none)."""
    shown = (row.get("percent") or {}).get(key)
    if shown is None:
        shown = ((row.get("rates") or {}).get("percent") or {}).get(key)
    if shown is not None:
        return shown
    return percent(_value(row, key))


def _cell(row: dict, key: str, kind: str) -> dict:
    """One table cell: the text shown and the value to sort by ('' when there is none)."""
    value = _value(row, key)
    if kind == "rate":
        return {"text": _percent_of(row, key), "sort": "" if value is None else value}
    if value is None:
        return {"text": DASH, "sort": ""}
    if kind == "minutes":
        return {"text": f"{value:.1f}", "sort": value}
    return {"text": str(value), "sort": value}


def _formula(formulas: dict, key: str, locale: str) -> str:
    found = formulas.get(key)
    if isinstance(found, dict):
        return found.get("en" if locale == "en" else "zh", "")
    return found or ""


def _columns(columns, formulas: dict, locale: str) -> list[dict]:
    return [
        {"key": key, "label": str(label), "kind": kind, "formula": _formula(formulas, key, locale)}
        for key, label, kind in columns
    ]


def _table(rows: list[dict], total: dict | None, columns: list[dict]) -> dict:
    def line(row: dict, is_total: bool) -> dict:
        return {
            "key": row.get("key"),
            "label": _("合计") if is_total else (row.get("label") or DASH),
            "total": is_total,
            "cells": [_cell(row, column["key"], column["kind"]) for column in columns],
        }

    return {
        "columns": columns,
        "rows": [line(row, False) for row in rows],
        "total": line(total, True) if total is not None else None,
    }


def _formula_list(formulas: dict, locale: str) -> list[dict]:
    """Every formula of the report, named, in the page's language."""
    listed = []
    for key, found in formulas.items():
        if isinstance(found, dict):
            name = found.get("name_en" if locale == "en" else "name") or key
            text = found.get("en" if locale == "en" else "zh", "")
        else:
            name, text = key, str(found)
        listed.append({"key": key, "name": name, "text": text})
    return listed


def _notes(report: dict, locale: str) -> str:
    """How periods and open overdue cases are counted, in the page's language."""
    notes = report.get("notes") or NOTES
    return notes.get(locale, "") if isinstance(notes, dict) else str(notes)


def _export_links(hall: Hall, query: dict) -> list[dict]:
    """The .xlsx and PDF export links with the same filters, when the exports are installed."""
    if "manage.report_export" not in current_app.view_functions:
        return []
    links = []
    for fmt, label in EXPORT_FORMATS:
        for arguments in ({"hall_code": hall.code}, {"hall": hall.code}, {}):
            try:
                href = url_for("manage.report_export", **arguments, **query, format=fmt)
            except BuildError:
                continue
            links.append({"format": fmt, "label": str(label), "href": href})
            break
    return links


def _options(hall: Hall) -> dict:
    """The choices of the filter form: windows, departments, matters, staff of the hall."""
    windows = db.session.execute(
        sa.select(Window.number, Window.name)
        .where(Window.hall_id == hall.id)
        .order_by(Window.number)
    )
    departments = db.session.execute(
        sa.select(Department.code, Department.name).order_by(Department.sort_order, Department.code)
    )
    matters = db.session.execute(
        sa.select(Matter.code, Matter.name).order_by(Matter.sort_order, Matter.code)
    )
    people = db.session.execute(
        sa.select(User.username, User.display_name, User.job_number)
        .where(User.hall_id == hall.id, User.role == "staff")
        .order_by(User.job_number, User.username)
    )
    return {
        "window": [(str(n), _("%(n)s 号窗口", n=n) + " " + name) for n, name in windows],
        "department": [(code, name) for code, name in departments],
        "matter": [(code, name) for code, name in matters],
        "staff": [
            (username, name + (f"（{job}）" if job else "")) for username, name, job in people
        ],
    }


def _picks(hall: Hall, typed: dict, today: date, endpoint: str) -> list[dict]:
    kept = {name: typed[name] for name in (*FILTERS, "group") if typed.get(name)}
    return [
        {
            "key": key,
            "label": str(label),
            "href": url_for(
                endpoint,
                hall_code=hall.code,
                **kept,
                **{"from": first.isoformat()},
                to=last.isoformat(),
            ),
            "current": typed.get("from") == first.isoformat()
            and typed.get("to") == last.isoformat(),
        }
        for (key, label), (first, last) in zip(PICKS, quick_ranges(today).values(), strict=True)
    ]


def _opening_hours(hourly: list[dict]) -> list[dict]:
    """The hours to chart: 8:00 to 18:00, widened to every hour with tickets."""
    busy = [item["hour"] for item in hourly if item.get("issued")]
    first, last = min([8, *busy]), max([17, *busy])
    return [item for item in hourly if first <= item["hour"] <= last]


def _chart_data(report: dict, windows: list[dict]) -> dict:
    """What reports.js draws: rates per window (%), tickets per hour, waits over time."""
    hours = _opening_hours(report.get("hourly") or [])
    return {
        "windows": {
            "labels": [row.get("label") or DASH for row in windows],
            "series": [
                {
                    "key": key,
                    "label": str(dict((k, v) for k, v, _kind in CASE_COLUMNS)[key]),
                    "values": [
                        None if _value(row, key) is None else round(_value(row, key) * 100, 1)
                        for row in windows
                    ],
                }
                for key in CHART_RATES
            ],
        },
        "hourly": {
            "labels": [f"{item['hour']:02d}:00" for item in hours],
            "values": [item["issued"] for item in hours],
            "label": _("取号数"),
        },
        "waits": {
            "labels": [item.get("label") for item in report.get("waits", [])],
            "avg": [item.get("avg") for item in report.get("waits", [])],
            "p90": [item.get("p90") for item in report.get("waits", [])],
            "avg_label": _("平均等候（分钟）"),
            "p90_label": _("90% 等候不超过（分钟）"),
        },
        "text": {"percent": _("百分比"), "minutes": _("分钟"), "tickets": _("张")},
    }


def _overdue(report: dict) -> list[dict]:
    """The overdue cases as the page lists them (already masked by the report)."""
    listed = []
    for case in report.get("overdue", []):
        matter = case.get("matter")
        staff = case.get("staff")
        listed.append(
            {
                "number": case.get("number") or DASH,
                "matter": matter.get("name") if isinstance(matter, dict) else (matter or DASH),
                "applicant": case.get("applicant_name") or DASH,
                "window": case.get("window"),
                "staff": staff.get("name") if isinstance(staff, dict) else (staff or DASH),
                "accepted_on": case.get("accepted_on") or DASH,
                "due_date": case.get("due_date") or DASH,
                "days": case.get("overdue_days", case.get("working_days_left")),
            }
        )
    return listed


def _build(hall: Hall, selection: dict, group: str) -> dict:
    report = domain.build(
        db.session,
        hall_id=hall.id,
        start=selection["start"],
        end=selection["end"],
        group=group,
        today=selection["today"],
        **selection["ids"],
    )
    # build rolls up the past days it found missing; keep them for the next report
    db.session.commit()
    return domain.report_dict(report)


def _error_page(template: str, hall: Hall, typed: dict, err: DomainError, endpoint: str, nav: str):
    today = board.service_day(hall)
    return render_template(
        template,
        **page_context(hall, nav),
        typed=typed,
        options=_options(hall),
        groups=[(key, str(label)) for key, label in GROUP_NAMES.items()],
        picks=_picks(hall, typed, today, endpoint),
        error=(err.zh, err.en),
        report=None,
    ), 400 if err.status < 500 else err.status


# ---------------------------------------------------------------- views


@blueprint.get("/<hall_code>/reports")
@login_required
def reports(hall_code: str):
    """The report page: filters, tables with formulas, overdue cases, charts, exports."""
    _principal, hall = _hall(hall_code)
    typed = _typed()
    try:
        selection = _selection(hall, typed)
        report = _build(hall, selection, selection["group"])
        if selection["group"] == "window":
            windows = report["rows"]
        else:
            windows = _build(hall, selection, "window")["rows"]
    except DomainError as err:
        db.session.rollback()
        return _error_page("manage/reports.html", hall, typed, err, "manage.reports", "reports")
    locale = "en" if str(get_locale()).startswith("en") else "zh"
    formulas = report.get("formulas") or {}
    total = report.get("total")
    return render_template(
        "manage/reports.html",
        **page_context(hall, "reports"),
        typed=typed,
        options=_options(hall),
        groups=[(key, str(label)) for key, label in GROUP_NAMES.items()],
        picks=_picks(hall, typed, selection["today"], "manage.reports"),
        error=None,
        report=report,
        tickets=_table(report["rows"], total, _columns(TICKET_COLUMNS, formulas, locale)),
        cases=_table(report["rows"], total, _columns(CASE_COLUMNS, formulas, locale)),
        formulas=_formula_list(formulas, locale),
        notes=_notes(report, locale),
        group_heading=str(GROUP_HEADINGS[selection["group"]]),
        overdue=_overdue(report),
        charts=_chart_data(report, windows),
        exports=_export_links(hall, selection["query"]),
        staff_url=url_for(
            "manage.staff_report",
            hall_code=hall.code,
            **{k: v for k, v in selection["query"].items() if k != "group"},
        ),
    )


SORT_DIRECTIONS = ("asc", "desc")


def _sorted(table: dict, key: str, direction: str) -> None:
    """Sort the rows in place by a column (rows without a value last); the total stays."""
    keys = ["label"] + [column["key"] for column in table["columns"]]
    if key not in keys:
        return
    if key == "label":
        table["rows"].sort(key=lambda row: str(row["label"]), reverse=direction == "desc")
        return
    index = keys.index(key) - 1
    present = [row for row in table["rows"] if row["cells"][index]["sort"] != ""]
    missing = [row for row in table["rows"] if row["cells"][index]["sort"] == ""]
    present.sort(key=lambda row: row["cells"][index]["sort"], reverse=direction == "desc")
    table["rows"] = present + missing


@blueprint.get("/<hall_code>/reports/staff")
@login_required
def staff_report(hall_code: str):
    """The staff view for the assessment: one row per staff member, sortable by any column."""
    _principal, hall = _hall(hall_code)
    typed = _typed()
    try:
        selection = _selection(hall, typed, group="staff")
        report = _build(hall, selection, "staff")
    except DomainError as err:
        db.session.rollback()
        return _error_page(
            "manage/reports_staff.html", hall, typed, err, "manage.staff_report", "reports"
        )
    locale = "en" if str(get_locale()).startswith("en") else "zh"
    formulas = report.get("formulas") or {}
    table = _table(report["rows"], report.get("total"), _columns(STAFF_COLUMNS, formulas, locale))
    sort = typed.get("sort") or "served"
    direction = typed.get("dir") if typed.get("dir") in SORT_DIRECTIONS else "desc"
    _sorted(table, sort, direction)
    kept = {k: v for k, v in selection["query"].items() if k != "group"}
    headings = [{"key": "label", "label": _("经办人"), "kind": "text"}, *table["columns"]]
    for heading in headings:
        current = heading["key"] == sort
        next_direction = "asc" if current and direction == "desc" else "desc"
        if heading["key"] == "label" and not current:
            next_direction = "asc"
        heading["href"] = url_for(
            "manage.staff_report",
            hall_code=hall.code,
            **kept,
            sort=heading["key"],
            dir=next_direction,
        )
        heading["sorted"] = (
            ("ascending" if direction == "asc" else "descending") if current else None
        )
    return render_template(
        "manage/reports_staff.html",
        **page_context(hall, "reports"),
        typed=typed,
        options=_options(hall),
        groups=[],
        picks=_picks(hall, typed, selection["today"], "manage.staff_report"),
        error=None,
        report=report,
        table=table,
        headings=headings,
        formulas=_formula_list(formulas, locale),
        notes=_notes(report, locale),
        reports_url=url_for("manage.reports", hall_code=hall.code, **kept, group="staff"),
    )
