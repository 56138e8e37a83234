"""The manager report (统计报表) as an A4 landscape PDF, from the report's plain dict.

The title and the hall, the period and the filters; the summary (tickets, waits, cases by
outcome and every rate as the page shows it); the grouped table (its header repeated on every
page, the 合计 row last); a bar chart of 当场办结率 and 承诺办结率 per row beside one of the
tickets per hour of the day; each rate's formula and how it is counted; the overdue cases
(names masked by the caller). Every number is printed as given — rates as their percent
strings (``row["percent"][rate]``) — so the PDF says what the page says.

The dict is hall.domain.reports.report_dict's: ``hall`` ({code, name} or a text), ``from``,
``to``, ``group``, ``filters``, ``rows`` and ``total`` (counts, rates 0–1, ``percent``),
``hourly`` ([{hour, issued}]), ``waits``, ``overdue`` (case dicts), ``formulas``
({rate: {name, zh, en}}). Imports neither flask nor hall; texts are cleaned and escaped.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4, landscape
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from printouts.errors import PrintoutError
from printouts.font import cjk_font
from printouts.guide import clean_text
from printouts.layout import body_frame

PAGE_WIDTH, PAGE_HEIGHT = landscape(A4)
MARGIN_X = 14 * mm
MARGIN_TOP = 14 * mm
MARGIN_BOTTOM = 14 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN_X
BLANK = "—"
TITLE = "办件与排队统计报表"
CHART_ROWS = 40  # rows drawn in the chart at most (the table lists them all)
OVERDUE_LIMIT = 2000  # overdue cases printed at most; the count names the rest

INK = colors.HexColor("#111111")
NAVY = colors.HexColor("#0b2e59")
GREY = colors.HexColor("#5f6670")
RULE = colors.HexColor("#8a96a3")
SHADE = colors.HexColor("#eef2f7")
TOTAL_SHADE = colors.HexColor("#f3f3f3")
BAR_1 = colors.HexColor("#2f6db5")
BAR_2 = colors.HexColor("#e39b2d")
BAR_3 = colors.HexColor("#3f8f5a")

GROUPS = {
    "window": ("按窗口", "窗口"),
    "department": ("按部门", "部门"),
    "matter": ("按事项", "事项"),
    "staff": ("按人员", "工作人员"),
    "day": ("按日", "日期"),
    "week": ("按周", "周"),
    "month": ("按月", "月份"),
}
FILTER_NAMES = {"window": "窗口", "department": "部门", "matter": "事项", "staff": "工作人员"}
RATE_NAMES = {
    "no_show_rate": "过号率",
    "on_the_spot_rate": "当场办结率",
    "immediate_rate": "即办件当场办结率",
    "promised_rate": "承诺办结率",
    "strict_rate": "严格承诺办结率",
    "early_rate": "提前办结率",
}
NO_SHOW_FORMULA = "过号率 = 过号数 ÷ 取号数"

# the grouped table's columns after the label: (field, heading, kind, width in mm)
TABLE_COLUMNS = (
    ("issued", "取号数", "count", 11),
    ("served", "已办理", "count", 11),
    ("no_shows", "过号数", "count", 11),
    ("no_show_rate", "过号率", "rate", 11.5),
    ("avg_wait_minutes", "平均等候（分钟）", "minutes", 12),
    ("p90_wait_minutes", "90%等候（分钟）", "minutes", 12),
    ("avg_service_minutes", "平均办理（分钟）", "minutes", 12),
    ("on_the_spot", "当场办结", "count", 10.5),
    ("accepted", "受理", "count", 10),
    ("correction", "补正", "count", 9),
    ("rejected", "不予受理", "count", 10),
    ("consultation", "咨询", "count", 9),
    ("on_the_spot_rate", "当场办结率", "rate", 12),
    ("immediate_rate", "即办件当场办结率", "rate", 12.5),
    ("promised_completed", "已办结承诺件", "count", 11.5),
    ("promised_rate", "承诺办结率", "rate", 12),
    ("open_overdue", "逾期未办结", "count", 11),
    ("strict_rate", "严格承诺办结率", "rate", 12.5),
    ("early_rate", "提前办结率", "rate", 12),
    ("late", "超时办结", "count", 10),
)
SUMMARY = (
    ("issued", "取号数", "count"),
    ("served", "已办理", "count"),
    ("no_shows", "过号数", "count"),
    ("no_show_rate", "过号率", "rate"),
    ("avg_wait_minutes", "平均等候（分钟）", "minutes"),
    ("p90_wait_minutes", "90% 等候（分钟）", "minutes"),
    ("avg_service_minutes", "平均办理（分钟）", "minutes"),
    ("handled", "受理总数", "count"),
    ("on_the_spot", "当场办结", "count"),
    ("accepted", "受理（承诺件等）", "count"),
    ("correction", "补正", "count"),
    ("rejected", "不予受理", "count"),
    ("consultation", "咨询", "count"),
    ("promised_completed", "已办结承诺件", "count"),
    ("promised_on_time", "按时办结", "count"),
    ("early", "提前办结", "count"),
    ("late", "超时办结", "count"),
    ("open_overdue", "逾期未办结", "count"),
    ("on_the_spot_rate", "当场办结率", "rate"),
    ("immediate_rate", "即办件当场办结率", "rate"),
    ("promised_rate", "承诺办结率", "rate"),
    ("strict_rate", "严格承诺办结率", "rate"),
    ("early_rate", "提前办结率", "rate"),
)
# the overdue list: heading and width (mm) of each column of overdue_cells
OVERDUE_COLUMNS = (
    ("办件编号", 38),
    ("事项", 62),
    ("申请人", 18),
    ("联系电话", 26),
    ("窗口", 30),
    ("工作人员", 30),
    ("受理日期", 21),
    ("办结期限", 21),
    ("状态", 16),
    ("逾期工作日", 17),
)
STATUS_LABELS = {"open": "办理中", "paused": "暂停计时"}


# ---------------------------------------------------------------- values


def _text(value: object, limit: int = 300) -> str:
    """One printable line (see guide.clean_text)."""
    return " ".join(clean_text(value, limit=limit).split())


def percent(value: object) -> str:
    """A rate 0–1 as 「87.5%」 (one decimal, half up, as the page rounds), 「—」 for none."""
    if value is None or isinstance(value, bool):
        return BLANK
    try:
        shown = (Decimal(repr(float(value))) * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    except (TypeError, ValueError, ArithmeticError):
        return BLANK
    return f"{shown}%"


def minutes(value: object) -> str:
    """Minutes with one decimal, half up (7.25 → 「7.3」), 「—」 for none."""
    if value is None or isinstance(value, bool):
        return BLANK
    try:
        return str(Decimal(repr(float(value))).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP))
    except (TypeError, ValueError, ArithmeticError):
        return BLANK


def shown(row: Mapping, key: str, kind: str) -> str:
    """A field as the page shows it: the report's percent string for a rate, minutes with
    one decimal, counts as integers, 「—」 for none."""
    if kind == "rate":
        given = (row.get("percent") or {}).get(key)
        return _text(given, 20) if given else percent(row.get(key))
    value = row.get(key)
    if value is None or isinstance(value, bool):
        return BLANK
    if kind == "minutes":
        return minutes(value)
    return _text(value, 20)


def _day(value: object) -> str:
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()[:10]
    return _text(value, 40)


def _hall(data: Mapping) -> str:
    hall = data.get("hall")
    if isinstance(hall, Mapping):
        return _text(hall.get("name") or hall.get("code"), 100)
    return _text(hall, 100)


def _filters(data: Mapping) -> str:
    filters = data.get("filters") or {}
    parts = []
    items = filters.items() if isinstance(filters, Mapping) else ((None, f) for f in filters)
    for key, item in items:
        if item in (None, "", [], {}) or key == "hall":
            continue
        if isinstance(item, Mapping):
            key = item.get("kind") or key
            item = item.get("label") or item.get("name") or item.get("key") or item.get("code")
        name = FILTER_NAMES.get(str(key), _text(key, 20) if key else "")
        parts.append(f"{name}：{_text(item, 100)}" if name else _text(item, 100))
    return "；".join(parts) or "无（全部）"


def _formulas(data: Mapping) -> list[tuple[str, str]]:
    """(name, formula) of the no-show rate and of each rate the report states."""
    given = data.get("formulas") or {}
    found = []
    if "no_show_rate" not in given:
        found.append(("过号率", NO_SHOW_FORMULA))
    for key, entry in given.items():
        if isinstance(entry, Mapping):
            name = entry.get("name") or RATE_NAMES.get(key, key)
            text = entry.get("zh") or ""
        else:
            name, text = RATE_NAMES.get(key, key), entry
        if text:
            found.append((_text(name, 40), _text(text, 500)))
    return found


def flat_row(row: Mapping | None) -> dict:
    """A report row with its rates (``row["rates"]``, a rates.rate_dict, or None) folded in:
    one mapping of counts, rates and ``percent`` strings (the no-show rate's included)."""
    row = dict(row or {})
    nested = row.pop("rates", None)
    percents = dict(row.get("percent") or {})
    if isinstance(nested, Mapping):
        for key, item in nested.items():
            if key == "percent":
                percents.update(item or {})
            elif key not in row or key in ("start", "end"):
                row.setdefault(key, item)
    row["percent"] = percents
    return row


def _name(item: object) -> str:
    if isinstance(item, Mapping):
        item = item.get("name") or item.get("label") or item.get("code")
    return _text(item, 200)


def overdue_cells(case: Mapping) -> list[str]:
    """An overdue case (hall.domain.cases.case_dict, masked) as the texts of OVERDUE_COLUMNS."""
    matter = case.get("matter")
    matter_text = _name(matter)
    if isinstance(matter, Mapping) and matter.get("code"):
        matter_text = f"{_text(matter.get('code'), 64)} {matter_text}"
    window = case.get("window")
    window_text = f"{_text(window, 10)} 号窗口" if window not in (None, "") else ""
    if case.get("window_name"):
        window_text = f"{window_text} {_text(case.get('window_name'), 60)}".strip()
    staff = case.get("staff")
    staff_text = _name(staff)
    if isinstance(staff, Mapping) and staff.get("job_number"):
        staff_text = f"{staff_text}（工号 {_text(staff.get('job_number'), 32)}）"
    left = case.get("working_days_left")
    late = (
        str(-left) if isinstance(left, int) and not isinstance(left, bool) and left < 0 else BLANK
    )
    status = case.get("status_label") or STATUS_LABELS.get(str(case.get("status")), "")
    return [
        _text(case.get("number"), 64),
        matter_text,
        _text(case.get("applicant_name"), 60),
        _text(case.get("applicant_phone"), 30),
        window_text,
        staff_text,
        _day(case.get("accepted_on")),
        _day(case.get("due_date")),
        _text(status, 20),
        late,
    ]


# ---------------------------------------------------------------- layout


class _Styles:
    def __init__(self) -> None:
        font = cjk_font()
        base = ParagraphStyle(
            "report-body",
            fontName=font,
            bulletFontName=font,
            fontSize=9,
            leading=13,
            textColor=INK,
            wordWrap="CJK",
        )

        def style(name: str, **changes) -> ParagraphStyle:
            return ParagraphStyle(f"report-{name}", parent=base, **changes)

        self.body = base
        self.title = style("title", fontSize=18, leading=24, alignment=TA_CENTER, textColor=NAVY)
        self.subtitle = style("subtitle", fontSize=10.5, leading=15, alignment=TA_CENTER)
        self.section = style(
            "section", fontSize=11.5, leading=16, textColor=NAVY, spaceBefore=8, spaceAfter=4
        )
        self.cell = style("cell", fontSize=7, leading=9)
        self.head = style("head", fontSize=7, leading=8.5, alignment=TA_CENTER, textColor=NAVY)
        self.small = style("small", fontSize=8, leading=11.5, textColor=GREY)


def _para(text: str, style: ParagraphStyle) -> Paragraph:
    return Paragraph(escape(text).replace("\n", "<br/>"), style)


def _grid(extra: list[tuple]) -> TableStyle:
    return TableStyle(
        [
            ("FONTNAME", (0, 0), (-1, -1), cjk_font()),
            ("FONTSIZE", (0, 0), (-1, -1), 7.5),
            ("GRID", (0, 0), (-1, -1), 0.4, RULE),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("TOPPADDING", (0, 0), (-1, -1), 2),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ("LEFTPADDING", (0, 0), (-1, -1), 3),
            ("RIGHTPADDING", (0, 0), (-1, -1), 3),
            *extra,
        ]
    )


def _heading(data: Mapping, styles: _Styles) -> list:
    group = GROUPS.get(str(data.get("group") or ""), ("", ""))[0]
    hall = _hall(data)
    lines = [
        _para(f"{hall}{TITLE}", styles.title),
        Spacer(1, 2 * mm),
        _para(
            f"统计期间：{_day(data.get('from'))} 至 {_day(data.get('to'))} ｜ "
            f"分组：{group or BLANK} ｜ 筛选：{_filters(data)}",
            styles.subtitle,
        ),
        Spacer(1, 3 * mm),
    ]
    return lines


def _summary(data: Mapping, styles: _Styles) -> list:
    total = data.get("total") or {}
    cells = [(name, shown(total, key, kind)) for key, name, kind in SUMMARY]
    per_line = 6
    table = []
    for start in range(0, len(cells), per_line):
        chunk = cells[start : start + per_line]
        chunk += [("", "")] * (per_line - len(chunk))
        line = []
        for name, number in chunk:
            line += [name, number]
        table.append(line)
    width = CONTENT_WIDTH / per_line
    summary = Table(table, colWidths=[width * 0.62, width * 0.38] * per_line, hAlign="LEFT")
    commands = [("FONTSIZE", (0, 0), (-1, -1), 8)]
    for column in range(0, per_line * 2, 2):
        commands += [
            ("BACKGROUND", (column, 0), (column, -1), SHADE),
            ("TEXTCOLOR", (column, 0), (column, -1), NAVY),
            ("ALIGN", (column + 1, 0), (column + 1, -1), "RIGHT"),
        ]
    summary.setStyle(_grid(commands))
    return [_para("一、汇总", styles.section), summary]


def _group_table(data: Mapping, styles: _Styles) -> list:
    group = str(data.get("group") or "")
    first = GROUPS.get(group, ("", "分组"))[1]
    widths = [column[3] * mm for column in TABLE_COLUMNS]
    label_width = CONTENT_WIDTH - sum(widths)
    header = [_para(first, styles.head)] + [
        _para(heading, styles.head) for _key, heading, _kind, _width in TABLE_COLUMNS
    ]
    rows = list(data.get("rows") or [])
    total = dict(data.get("total") or {})
    body = []
    for row in [*rows, total]:
        label = _text(row.get("label"), 120) or ("合计" if row is total else BLANK)
        body.append(
            [_para(label, styles.cell)]
            + [shown(row, key, kind) for key, _heading, kind, _width in TABLE_COLUMNS]
        )
    table = Table([header, *body], colWidths=[label_width, *widths], repeatRows=1)
    commands = [
        ("BACKGROUND", (0, 0), (-1, 0), SHADE),
        ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
        ("FONTSIZE", (1, 1), (-1, -1), 7),
        ("BACKGROUND", (0, -1), (-1, -1), TOTAL_SHADE),
    ]
    for index, (_key, _heading, kind, _width) in enumerate(TABLE_COLUMNS, 1):
        if kind == "rate":
            commands.append(("TEXTCOLOR", (index, 1), (index, -1), NAVY))
    table.setStyle(_grid(commands))
    title = GROUPS.get(group, ("分组统计", ""))[0]
    return [_para(f"二、{title}统计", styles.section), table]


def _short(text: str, limit: int = 9) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _rate_value(row: Mapping, key: str) -> float:
    value = row.get(key)
    try:
        return max(0.0, min(float(value), 1.0)) * 100 if value is not None else 0.0
    except (TypeError, ValueError):
        return 0.0


def _rates_chart(data: Mapping, width: float, height: float) -> Drawing:
    """Grouped bars: 当场办结率 and 承诺办结率 of each row (in percent)."""
    font = cjk_font()
    rows = list(data.get("rows") or [])[:CHART_ROWS]
    drawing = Drawing(width, height)
    drawing.initialFontName = font  # not Helvetica: every font of the PDF is embedded
    drawing.add(
        String(0, height - 11, "各组当场办结率、承诺办结率（%）", fontName=font, fontSize=9)
    )
    if not rows:
        drawing.add(String(0, height / 2, "无数据", fontName=font, fontSize=9, fillColor=GREY))
        return drawing
    chart = VerticalBarChart()
    chart.x, chart.y = 30, 48
    chart.width, chart.height = width - 40, height - 48 - 34
    chart.data = [
        [_rate_value(row, "on_the_spot_rate") for row in rows],
        [_rate_value(row, "promised_rate") for row in rows],
    ]
    chart.bars[0].fillColor = BAR_1
    chart.bars[1].fillColor = BAR_2
    chart.bars.strokeColor = None
    chart.valueAxis.valueMin = 0
    chart.valueAxis.valueMax = 100
    chart.valueAxis.valueStep = 20
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.categoryAxis.categoryNames = [_short(_text(row.get("label"), 40)) for row in rows]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 6.5
    chart.categoryAxis.labels.angle = 30 if len(rows) > 4 else 0
    chart.categoryAxis.labels.boxAnchor = "ne" if len(rows) > 4 else "n"
    chart.groupSpacing = 4
    drawing.add(chart)
    legend = Legend()
    legend.x, legend.y = width - 150, height - 6
    legend.fontName = font
    legend.fontSize = 7.5
    legend.alignment = "right"
    legend.columnMaximum = 1
    legend.dx = legend.dy = 7
    legend.colorNamePairs = [(BAR_1, "当场办结率"), (BAR_2, "承诺办结率")]
    drawing.add(legend)
    if len(data.get("rows") or []) > CHART_ROWS:
        drawing.add(
            String(
                0,
                2,
                f"图中只画出前 {CHART_ROWS} 组，全部见表。",
                fontName=font,
                fontSize=7,
                fillColor=GREY,
            )
        )
    return drawing


def _hourly_chart(data: Mapping, width: float, height: float) -> Drawing:
    """Bars of the tickets issued in each hour of the day (the hall's busy hours)."""
    font = cjk_font()
    hours = [hour for hour in data.get("hourly") or [] if isinstance(hour, Mapping)]
    drawing = Drawing(width, height)
    drawing.initialFontName = font  # not Helvetica: every font of the PDF is embedded
    drawing.add(String(0, height - 11, "分时段取号数", fontName=font, fontSize=9))
    counts = []
    for hour in hours:
        try:
            counts.append(max(int(hour.get("issued") or 0), 0))
        except (TypeError, ValueError):
            counts.append(0)
    busy = [index for index, count in enumerate(counts) if count]
    if not busy:
        drawing.add(String(0, height / 2, "无数据", fontName=font, fontSize=9, fillColor=GREY))
        return drawing
    # the hours from the first to the last with tickets (not the empty night)
    hours = hours[busy[0] : busy[-1] + 1]
    counts = counts[busy[0] : busy[-1] + 1]
    chart = VerticalBarChart()
    chart.x, chart.y = 30, 30
    chart.width, chart.height = width - 40, height - 30 - 34
    chart.data = [counts]
    chart.bars[0].fillColor = BAR_3
    chart.bars.strokeColor = None
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontName = font
    chart.valueAxis.labels.fontSize = 7
    chart.valueAxis.forceZero = 1
    if max(counts) < 5:
        chart.valueAxis.valueMax = 5
        chart.valueAxis.valueStep = 1
    chart.categoryAxis.categoryNames = [f"{_text(hour.get('hour'), 4)}时" for hour in hours]
    chart.categoryAxis.labels.fontName = font
    chart.categoryAxis.labels.fontSize = 7
    drawing.add(chart)
    return drawing


def _charts(data: Mapping, styles: _Styles) -> list:
    gap = 8 * mm
    height = 66 * mm
    left = (CONTENT_WIDTH - gap) * 0.62
    right = CONTENT_WIDTH - gap - left
    table = Table(
        [[_rates_chart(data, left, height), "", _hourly_chart(data, right, height)]],
        colWidths=[left, gap, right],
    )
    table.setStyle(
        TableStyle(
            [
                ("FONTNAME", (0, 0), (-1, -1), cjk_font()),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return [CondPageBreak(height + 20 * mm), _para("三、图表", styles.section), table]


def _formula_section(data: Mapping, styles: _Styles, notes: str) -> list:
    items = [_para("四、计算公式与口径", styles.section)]
    for name, text in _formulas(data):
        items.append(_para(f"{name}：{text}" if not text.startswith(name) else text, styles.body))
    if notes:
        items.append(Spacer(1, 2 * mm))
        items.append(_para(_text(notes, 2000), styles.small))
    items.append(_para("「—」表示分母为 0，无法计算比率。", styles.small))
    return [KeepTogether(items)]


def _overdue(data: Mapping, styles: _Styles) -> list:
    cases = [case for case in data.get("overdue") or [] if isinstance(case, Mapping)]
    title = _para(f"五、逾期未办结办件（{len(cases)} 件）", styles.section)
    if not cases:
        return [title, _para("无逾期未办结的办件。", styles.body)]
    widths = [width * mm for _heading, width in OVERDUE_COLUMNS]
    scale = CONTENT_WIDTH / sum(widths)
    widths = [width * scale for width in widths]
    header = [_para(heading, styles.head) for heading, _width in OVERDUE_COLUMNS]
    body = [
        [_para(text, styles.cell) for text in overdue_cells(case)] for case in cases[:OVERDUE_LIMIT]
    ]
    table = Table([header, *body], colWidths=widths, repeatRows=1)
    table.setStyle(_grid([("BACKGROUND", (0, 0), (-1, 0), SHADE)]))
    items = [CondPageBreak(30 * mm), title, table]
    if len(cases) > OVERDUE_LIMIT:
        more = len(cases) - OVERDUE_LIMIT
        items.append(_para(f"另有 {more} 件未列出，请导出 .xlsx 查看全部。", styles.small))
    return items


def _decorate(hall: str, period: str, printed: str, total: int | None):
    def on_page(canvas, doc) -> None:
        canvas.saveState()
        canvas.setFont(cjk_font(), 7.5)
        canvas.setFillColor(GREY)
        canvas.drawString(MARGIN_X, MARGIN_BOTTOM - 8 * mm, f"{hall}　{TITLE}　{period}")
        pages = f"第 {doc.page} 页" + (f" / 共 {total} 页" if total else "")
        canvas.drawCentredString(PAGE_WIDTH / 2, MARGIN_BOTTOM - 8 * mm, pages)
        canvas.drawRightString(PAGE_WIDTH - MARGIN_X, MARGIN_BOTTOM - 8 * mm, f"制表：{printed}")
        canvas.restoreState()

    return on_page


def report_pdf(data: Mapping, *, notes: str = "", printed_on: dt.date | None = None) -> bytes:
    """The report as A4 landscape PDF bytes (see the module docstring). Raises PrintoutError
    when ``data`` is not a report dict."""
    if not isinstance(data, Mapping) or not isinstance(data.get("total"), Mapping):
        raise PrintoutError("the report must be a mapping with a 'total' row")
    data = {
        **data,
        "rows": [flat_row(row) for row in data.get("rows") or []],
        "total": flat_row(data["total"]),
    }
    styles = _Styles()
    hall = _hall(data)
    period = f"{_day(data.get('from'))} 至 {_day(data.get('to'))}"
    printed = (printed_on or dt.date.today()).isoformat()

    def story() -> list:
        return [
            *_heading(data, styles),
            *_summary(data, styles),
            *_group_table(data, styles),
            *_charts(data, styles),
            *_formula_section(data, styles, notes),
            *_overdue(data, styles),
        ]

    def build(total: int | None) -> tuple[bytes, int]:
        buffer = io.BytesIO()
        doc = BaseDocTemplate(
            buffer,
            pagesize=(PAGE_WIDTH, PAGE_HEIGHT),
            leftMargin=MARGIN_X,
            rightMargin=MARGIN_X,
            topMargin=MARGIN_TOP,
            bottomMargin=MARGIN_BOTTOM,
            title=f"{hall}{TITLE} {period}",
            author=hall,
            creator="hall printouts",
            lang="zh-CN",
            invariant=1,
            pageCompression=1,
            initialFontName=cjk_font(),
        )
        frame = body_frame(
            MARGIN_X, MARGIN_BOTTOM, CONTENT_WIDTH, PAGE_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
        )
        on_page = _decorate(hall, period, printed, total)
        doc.addPageTemplates([PageTemplate("body", [frame], onPage=on_page)])
        doc.build(story())
        return buffer.getvalue(), doc.page

    # lay out once to count the pages, then print 「共 N 页」 on each
    return build(build(None)[1])[0]
