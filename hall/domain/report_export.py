"""The manager report (hall.domain.reports.report_dict) as files: .xlsx, .csv and the PDF.

Every number comes from the report's dict, so the page, the API and each file agree; the
files only lay them out. The .xlsx (openpyxl) has sheets named in Chinese: 汇总 (hall,
period, filters, the totals and each rate with its formula), one sheet for the grouping
(按窗口, 按部门…: rates as numbers formatted 0.0%, minutes as 0.0, frozen header, and a native
bar chart of 当场办结率 drawn from the sheet's cells), 逾期办件 (the overdue cases, names masked),
分时段取号 (tickets per hour, with its chart) and 等候时长 (waits over time). The .csv is the
grouped table, UTF-8 with BOM, rates as the percent strings shown on the page.

File contents are Chinese (the language of the assessment); a rate without a denominator is
an empty cell in the .xlsx and 「—」 elsewhere.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.chart import BarChart, Reference
from openpyxl.styles import Alignment, Border, Font, PatternFill, Side
from openpyxl.utils import get_column_letter
from sqlalchemy.orm import Session

from hall.domain import rates
from hall.domain.errors import Invalid, NotFound
from hall.models import Department, Hall, Matter, User, Window
from printouts.report import OVERDUE_COLUMNS, flat_row, minutes, overdue_cells, report_pdf

FORMATS = ("xlsx", "pdf", "csv")
MIMETYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
    "csv": "text/csv; charset=utf-8",
}
DASH = rates.DASH
PERCENT = "0.0%"
MINUTES = "0.0"
COUNT = "0"

# the sheet of each grouping, and the heading of its first column
GROUP_SHEETS = {
    "window": ("按窗口", "窗口"),
    "department": ("按部门", "部门"),
    "matter": ("按事项", "事项"),
    "staff": ("按人员", "工作人员"),
    "day": ("按日", "日期"),
    "week": ("按周", "周"),
    "month": ("按月", "月份"),
}
SUMMARY_SHEET = "汇总"
OVERDUE_SHEET = "逾期办件"
HOURLY_SHEET = "分时段取号"
WAITS_SHEET = "等候时长"
TITLE = "办件与排队统计报表"


@dataclass(frozen=True)
class Column:
    """A column of the grouped table: the row's field, its Chinese heading, its kind
    (count, rate, minutes) and its width in the .xlsx (characters)."""

    key: str
    heading: str
    kind: str = "count"
    width: float = 10


# the grouped table, in order (the first column, the group's label, comes before these)
COLUMNS = (
    Column("issued", "取号数"),
    Column("served", "已办理"),
    Column("no_shows", "过号数"),
    Column("no_show_rate", "过号率", "rate"),
    Column("avg_wait_minutes", "平均等候（分钟）", "minutes", 12),
    Column("p90_wait_minutes", "90% 等候（分钟）", "minutes", 12),
    Column("avg_service_minutes", "平均办理（分钟）", "minutes", 12),
    Column("on_the_spot", "当场办结"),
    Column("accepted", "受理"),
    Column("correction", "补正"),
    Column("rejected", "不予受理"),
    Column("consultation", "咨询"),
    Column("handled", "受理总数"),
    Column("on_the_spot_rate", "当场办结率", "rate", 11),
    Column("immediate_handled", "即办件受理总数", "count", 12),
    Column("immediate_on_the_spot", "即办件当场办结", "count", 12),
    Column("immediate_rate", "即办件当场办结率", "rate", 13),
    Column("promised_completed", "已办结承诺件", "count", 11),
    Column("promised_on_time", "按时办结"),
    Column("promised_rate", "承诺办结率", "rate", 11),
    Column("open_overdue", "逾期未办结", "count", 11),
    Column("strict_rate", "严格承诺办结率", "rate", 13),
    Column("early", "提前办结"),
    Column("early_rate", "提前办结率", "rate", 11),
    Column("late", "超时办结"),
)
COLUMN_BY_KEY = {column.key: column for column in COLUMNS}
RATE_KEYS = tuple(column.key for column in COLUMNS if column.kind == "rate")

# the summary's lines: the queue figures, the outcomes, then each rate with its formula
SUMMARY_KEYS = (
    "issued",
    "served",
    "no_shows",
    "no_show_rate",
    "avg_wait_minutes",
    "p90_wait_minutes",
    "avg_service_minutes",
    "on_the_spot",
    "accepted",
    "correction",
    "rejected",
    "consultation",
    "handled",
    "on_the_spot_rate",
    "immediate_rate",
    "promised_completed",
    "promised_on_time",
    "promised_rate",
    "open_overdue",
    "strict_rate",
    "early",
    "early_rate",
    "late",
)
NO_SHOW_FORMULA = "过号率 = 过号数 ÷ 取号数"

HEADER_FILL = PatternFill("solid", fgColor="DCE6F1")
TOTAL_FILL = PatternFill("solid", fgColor="F2F2F2")
THIN = Side(style="thin", color="A6A6A6")
BORDER = Border(left=THIN, right=THIN, top=THIN, bottom=THIN)
BOLD = Font(bold=True)


# ---------------------------------------------------------------- reading the report


def check_format(fmt: str | None) -> str:
    """The export format (xlsx, pdf, csv), or Invalid."""
    value = (fmt or "").strip().lower().lstrip(".")
    if value not in FORMATS:
        raise Invalid(
            "bad_format",
            f"导出格式 {fmt} 无效，可选 xlsx、pdf、csv",
            f"Unknown export format {fmt}; use xlsx, pdf or csv",
        )
    return value


def group_sheet(group: str | None) -> str:
    """The sheet name of a grouping: 按窗口, 按部门, 按事项, 按人员, 按日, 按周, 按月."""
    return GROUP_SHEETS.get(group or "", ("分组", "分组"))[0]


def group_heading(group: str | None) -> str:
    """The heading of the grouped table's first column: 窗口, 部门…"""
    return GROUP_SHEETS.get(group or "", ("分组", "分组"))[1]


def shown(row: Mapping, key: str) -> str:
    """A field as the page shows it: rates as 「87.5%」 (the report's own percent string when
    it has one), minutes with one decimal, 「—」 for none."""
    column = COLUMN_BY_KEY.get(key)
    number = row.get(key)
    if column is not None and column.kind == "rate":
        given = (row.get("percent") or {}).get(key)
        return given if given else rates.percent(number)
    if number is None:
        return DASH
    if column is not None and column.kind == "minutes":
        return minutes(number)
    return str(number)


def hall_name(data: Mapping) -> str:
    """The hall's name (the report's hall is a dict with code and name, or a text)."""
    hall = data.get("hall")
    if isinstance(hall, Mapping):
        return str(hall.get("name") or hall.get("code") or "")
    return "" if hall is None else str(hall)


def period(data: Mapping) -> str:
    """「2026-11-01 至 2026-11-30」."""
    return f"{_day(data.get('from'))} 至 {_day(data.get('to'))}"


def _day(value: object) -> str:
    return value.isoformat() if isinstance(value, date) else str(value or "")


FILTER_NAMES = {
    "hall": "大厅",
    "window": "窗口",
    "department": "部门",
    "matter": "事项",
    "staff": "工作人员",
}


def filters_text(data: Mapping) -> str:
    """The filters as one line: 「窗口：3 号窗口；事项：…」, or 「无（全部）」."""
    filters = data.get("filters") or {}
    parts = []
    if isinstance(filters, Mapping):
        items: Iterable = filters.items()
    else:
        items = ((None, item) for item in filters)
    for key, item in items:
        if item in (None, "", [], {}):
            continue
        if isinstance(item, Mapping):
            key = item.get("kind") or key
            text = item.get("label") or item.get("name") or item.get("key") or item.get("code")
        else:
            text = item
        if key == "hall":
            continue
        if key == "window" and str(text).isdigit():
            text = f"{text} 号窗口"
        name = FILTER_NAMES.get(str(key), str(key or ""))
        parts.append(f"{name}：{text}" if name else str(text))
    return "；".join(parts) or "无（全部）"


def formula_text(data: Mapping, key: str) -> str:
    """The formula of a rate as the report states it (Chinese)."""
    formulas = data.get("formulas") or {}
    entry = formulas.get(key)
    if isinstance(entry, Mapping):
        return str(entry.get("zh") or "")
    if isinstance(entry, str):
        return entry
    if key == "no_show_rate":
        return NO_SHOW_FORMULA
    if key in rates.FORMULAS:
        return rates.FORMULAS[key]["zh"]
    return ""


def formulas(data: Mapping) -> list[str]:
    """Every formula the report states, no-show rate first, each once."""
    keys = ["no_show_rate", *rates.RATES]
    keys += [key for key in (data.get("formulas") or {}) if key not in keys]
    found = []
    for key in keys:
        text = formula_text(data, key)
        if text and text not in found:
            found.append(text)
    return found


def notes(data: Mapping) -> str:
    """How the periods and the open overdue cases are counted (rates.NOTES)."""
    given = data.get("notes")
    if isinstance(given, Mapping):
        return str(given.get("zh") or "")
    if isinstance(given, str):
        return given
    return rates.NOTES["zh"]


def hour_label(hour: object) -> str:
    """「08:00–09:00」 of an hour of the day."""
    try:
        start = int(hour)
    except (TypeError, ValueError):
        return str(hour)
    return f"{start:02d}:00–{start + 1:02d}:00"


def flat(data: Mapping) -> dict:
    """The report with each row's rates folded into the row (printouts.report.flat_row)."""
    return {
        **data,
        "rows": [flat_row(row) for row in data.get("rows") or []],
        "total": flat_row(data.get("total")),
    }


def rows_and_total(data: Mapping) -> tuple[list[Mapping], Mapping]:
    """The report's rows and its total row, rates folded in."""
    return [flat_row(row) for row in data.get("rows") or []], flat_row(data.get("total"))


# ---------------------------------------------------------------- .csv


def to_csv(data: Mapping) -> bytes:
    """The grouped table as CSV: UTF-8 with BOM (Excel opens it in Chinese), one heading
    line, a line per row and the 合计 line; rates as the page shows them (87.5%)."""
    rows, total = rows_and_total(data)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([group_heading(data.get("group")), *(c.heading for c in COLUMNS)])
    for row in [*rows, {**total, "label": total.get("label") or rates.TOTAL}]:
        writer.writerow([row.get("label") or "", *(shown(row, c.key) for c in COLUMNS)])
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


# ---------------------------------------------------------------- .xlsx


def _cell_value(row: Mapping, column: Column) -> object:
    number = row.get(column.key)
    if number is None:
        return None
    if column.kind in ("rate", "minutes"):
        return float(number)
    return number


def _number_format(column: Column) -> str:
    return {"rate": PERCENT, "minutes": MINUTES}.get(column.kind, COUNT)


def _heading_row(sheet, row: int, headings: list[str]) -> None:
    for index, heading in enumerate(headings, 1):
        cell = sheet.cell(row=row, column=index, value=heading)
        cell.font = BOLD
        cell.fill = HEADER_FILL
        cell.border = BORDER
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _summary_sheet(sheet, data: Mapping) -> None:
    _rows, total = rows_and_total(data)
    sheet["A1"] = f"{hall_name(data)}{TITLE}".strip()
    sheet["A1"].font = Font(bold=True, size=14)
    facts = [
        ("大厅", hall_name(data)),
        ("统计期间", period(data)),
        ("分组方式", group_sheet(data.get("group"))),
        ("筛选条件", filters_text(data)),
    ]
    for offset, (name, text) in enumerate(facts, 3):
        sheet.cell(row=offset, column=1, value=name).font = BOLD
        sheet.cell(row=offset, column=2, value=text)
    start = 3 + len(facts) + 1
    _heading_row(sheet, start, ["指标", "合计", "计算公式"])
    for offset, key in enumerate(SUMMARY_KEYS, start + 1):
        column = COLUMN_BY_KEY[key]
        sheet.cell(row=offset, column=1, value=column.heading).border = BORDER
        cell = sheet.cell(row=offset, column=2, value=_cell_value(total, column))
        cell.number_format = _number_format(column)
        cell.border = BORDER
        if cell.value is None:
            cell.value = DASH
            cell.alignment = Alignment(horizontal="right")
        text = formula_text(data, key) if column.kind == "rate" else ""
        note = sheet.cell(row=offset, column=3, value=text)
        note.border = BORDER
        note.alignment = Alignment(wrap_text=True, vertical="top")
    last = start + len(SUMMARY_KEYS)
    sheet.cell(row=last + 2, column=1, value="说明").font = BOLD
    sheet.cell(row=last + 2, column=2, value=notes(data)).alignment = Alignment(wrap_text=True)
    sheet.merge_cells(start_row=last + 2, start_column=2, end_row=last + 2, end_column=3)
    sheet.row_dimensions[last + 2].height = 75
    sheet.cell(
        row=last + 3,
        column=2,
        value="「—」表示分母为 0，无法计算比率；各分组表中对应单元格留空。",
    )
    sheet.column_dimensions["A"].width = 18
    sheet.column_dimensions["B"].width = 26
    sheet.column_dimensions["C"].width = 90


def _group_sheet(sheet, data: Mapping) -> None:
    rows, total = rows_and_total(data)
    headings = [group_heading(data.get("group")), *(c.heading for c in COLUMNS)]
    _heading_row(sheet, 1, headings)
    sheet.row_dimensions[1].height = 32
    for offset, row in enumerate([*rows, total], 2):
        is_total = offset == len(rows) + 2
        label = (row.get("label") or rates.TOTAL) if is_total else row.get("label")
        first = sheet.cell(row=offset, column=1, value=label)
        first.border = BORDER
        for index, column in enumerate(COLUMNS, 2):
            cell = sheet.cell(row=offset, column=index, value=_cell_value(row, column))
            cell.number_format = _number_format(column)
            cell.border = BORDER
        if is_total:
            for index in range(1, len(headings) + 1):
                sheet.cell(row=offset, column=index).font = BOLD
                sheet.cell(row=offset, column=index).fill = TOTAL_FILL
    sheet.freeze_panes = "B2"
    longest = max([len(str(row.get("label") or "")) for row in rows] + [8])
    sheet.column_dimensions["A"].width = min(2 + longest * 1.8, 48)
    for index, column in enumerate(COLUMNS, 2):
        sheet.column_dimensions[get_column_letter(index)].width = column.width
    if rows:
        rate_column = 2 + [c.key for c in COLUMNS].index("on_the_spot_rate")
        chart = BarChart()
        chart.type = "col"
        chart.title = "当场办结率"
        chart.y_axis.title = "当场办结率"
        chart.y_axis.number_format = PERCENT
        chart.y_axis.scaling.min = 0
        chart.y_axis.scaling.max = 1
        chart.y_axis.delete = False
        chart.x_axis.delete = False
        chart.legend = None
        values = Reference(
            sheet, min_col=rate_column, min_row=1, max_row=len(rows) + 1, max_col=rate_column
        )
        labels = Reference(sheet, min_col=1, min_row=2, max_row=len(rows) + 1)
        chart.add_data(values, titles_from_data=True)
        chart.set_categories(labels)
        chart.height = 9
        chart.width = min(max(16, 1.2 * len(rows)), 60)
        sheet.add_chart(chart, f"B{len(rows) + 5}")


def _overdue_sheet(sheet, data: Mapping) -> None:
    cases = [case for case in data.get("overdue") or [] if isinstance(case, Mapping)]
    _heading_row(sheet, 1, [heading for heading, _width in OVERDUE_COLUMNS])
    for offset, case in enumerate(cases, 2):
        for index, text in enumerate(overdue_cells(case), 1):
            late = index == len(OVERDUE_COLUMNS) and text.isdigit()
            cell = sheet.cell(row=offset, column=index, value=int(text) if late else text)
            cell.border = BORDER
    if not cases:
        sheet.cell(row=2, column=1, value="无逾期未办结的办件")
    sheet.freeze_panes = "A2"
    for index, (_heading, width) in enumerate(OVERDUE_COLUMNS, 1):
        sheet.column_dimensions[get_column_letter(index)].width = max(8, width * 0.5)


def _hourly_sheet(sheet, data: Mapping) -> None:
    hours = [hour for hour in data.get("hourly") or [] if isinstance(hour, Mapping)]
    _heading_row(sheet, 1, ["时段", "取号数"])
    for offset, hour in enumerate(hours, 2):
        sheet.cell(row=offset, column=1, value=hour_label(hour.get("hour"))).border = BORDER
        cell = sheet.cell(row=offset, column=2, value=hour.get("issued") or 0)
        cell.number_format = COUNT
        cell.border = BORDER
    sheet.freeze_panes = "A2"
    sheet.column_dimensions["A"].width = 16
    sheet.column_dimensions["B"].width = 10
    if hours:
        chart = BarChart()
        chart.type = "col"
        chart.title = "分时段取号数"
        chart.legend = None
        chart.y_axis.delete = False
        chart.x_axis.delete = False
        chart.add_data(
            Reference(sheet, min_col=2, min_row=1, max_row=len(hours) + 1), titles_from_data=True
        )
        chart.set_categories(Reference(sheet, min_col=1, min_row=2, max_row=len(hours) + 1))
        chart.height, chart.width = 8, 18
        sheet.add_chart(chart, "D2")


def _waits_sheet(sheet, data: Mapping) -> None:
    waits = [wait for wait in data.get("waits") or [] if isinstance(wait, Mapping)]
    _heading_row(sheet, 1, ["期间", "平均等候（分钟）", "90% 等候（分钟）"])
    for offset, wait in enumerate(waits, 2):
        sheet.cell(row=offset, column=1, value=wait.get("label")).border = BORDER
        for index, key in ((2, "avg"), (3, "p90")):
            number = wait.get(key)
            cell = sheet.cell(row=offset, column=index, value=None if number is None else number)
            cell.number_format = MINUTES
            cell.border = BORDER
    sheet.freeze_panes = "A2"
    sheet.column_dimensions["A"].width = 18
    sheet.column_dimensions["B"].width = 16
    sheet.column_dimensions["C"].width = 16


def to_xlsx(data: Mapping) -> bytes:
    """The report as an .xlsx workbook (see the module docstring for its sheets)."""
    book = Workbook()
    summary = book.active
    summary.title = SUMMARY_SHEET
    _summary_sheet(summary, data)
    _group_sheet(book.create_sheet(group_sheet(data.get("group"))), data)
    _overdue_sheet(book.create_sheet(OVERDUE_SHEET), data)
    _hourly_sheet(book.create_sheet(HOURLY_SHEET), data)
    _waits_sheet(book.create_sheet(WAITS_SHEET), data)
    book.properties.title = f"{hall_name(data)}{TITLE}"
    book.properties.creator = "hall"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


# ---------------------------------------------------------------- building


def parse_day(text: str | None, name: str) -> date | None:
    """A day of the form 2026-11-01 (None when not given), or Invalid."""
    if text is None or not str(text).strip():
        return None
    try:
        return date.fromisoformat(str(text).strip())
    except ValueError:
        raise Invalid(
            "bad_date",
            f"{name}日期 {text} 无效，应为 2026-11-01 这样的格式",
            f"The {'start' if name == '开始' else 'end'} date {text} is not a day like 2026-11-01",
        ) from None


def default_period(start: date | None, end: date | None, today: date) -> tuple[date, date]:
    """The period as the report page reads it: this month up to today when neither day is
    given, the end defaulting to today and the start to the end."""
    if start is None and end is None:
        return today.replace(day=1), today
    end = end or today
    return start or end, end


def resolve_filters(
    session: Session,
    hall: Hall,
    *,
    window: str | None = None,
    department: str | None = None,
    matter: str | None = None,
    staff: str | None = None,
) -> dict[str, int]:
    """The database ids of the filters given by their public keys — window number (of the
    hall), department or matter code, username of a staff member (of the hall) — for
    reports.build, as the report page reads them; NotFound for one that does not exist."""
    found: dict[str, int] = {}
    given = {"window": window, "department": department, "matter": matter, "staff": staff}
    for name, text in given.items():
        text = (text or "").strip()
        if not text:
            continue
        if name == "window":
            number = int(text) if text.isdigit() and len(text) < 9 else -1
            stmt = sa.select(Window.id).where(Window.hall_id == hall.id, Window.number == number)
        elif name == "department":
            stmt = sa.select(Department.id).where(Department.code == text)
        elif name == "matter":
            stmt = sa.select(Matter.id).where(Matter.code == text)
        else:
            stmt = sa.select(User.id).where(
                User.username == text, sa.or_(User.hall_id.is_(None), User.hall_id == hall.id)
            )
        ident = session.scalar(stmt) if "\x00" not in text else None
        if ident is None:
            zh, en = FILTER_NAMES[name], name
            raise NotFound(f"{name}_not_found", f"没有这个{zh}：{text}", f"No such {en}: {text}")
        found[f"{name}_id"] = ident
    return found


def report_for(
    session: Session,
    hall: Hall,
    *,
    start: date,
    end: date,
    group: str = "window",
    window: str | None = None,
    department: str | None = None,
    matter: str | None = None,
    staff: str | None = None,
    today: date | None = None,
) -> dict:
    """The report's dict (reports.report_dict) for a hall, the period and the filters given
    by their public keys: the one source of every number in the files."""
    ids = resolve_filters(
        session, hall, window=window, department=department, matter=matter, staff=staff
    )
    from hall.domain import reports  # the report's one source, imported when first used

    built = reports.build(
        session, hall_id=hall.id, start=start, end=end, group=group, today=today, **ids
    )
    return reports.report_dict(built)


# ---------------------------------------------------------------- any format


def export(data: Mapping, fmt: str) -> bytes:
    """The report in one of FORMATS (the PDF by printouts.report)."""
    fmt = check_format(fmt)
    if fmt == "xlsx":
        return to_xlsx(data)
    if fmt == "csv":
        return to_csv(data)
    return report_pdf(data, notes=notes(data))


def file_name(data: Mapping, fmt: str) -> str:
    """「统计报表-demo-按窗口-20261101-20261130.xlsx」."""
    hall = data.get("hall")
    code = hall.get("code") if isinstance(hall, Mapping) else None
    parts = ["统计报表", str(code or hall_name(data) or ""), group_sheet(data.get("group"))]
    days = [_day(data.get(key)).replace("-", "") for key in ("from", "to")]
    return "-".join(part for part in [*parts, *days] if part) + f".{fmt}"
