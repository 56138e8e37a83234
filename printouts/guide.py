"""The service guide (办事指南) on paper: an A4 sheet per matter and a department's booklet.

Plain data in, PDF bytes out. A matter is a mapping or any object with the same attributes
(the catalogue's ``Matter`` qualifies): code, name, department (text, or something with a
``name``), kind_label (or kind), legal_basis, conditions, materials, process_steps (or
process, one step a line), statutory_label, promised_label, fee (empty: 不收费), fee_basis,
place, hours, phone, complaint, result_document, visits, online, appointment and faq (a list
of {"q", "a"}). A material has name, required, form_label (or form), copies, notes,
blank_form and sample. Texts are user input: they are cleaned and escaped, never markup.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
import unicodedata
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase import pdfmetrics
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    HRFlowable,
    NextPageTemplate,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
)

from printouts.errors import PrintoutError
from printouts.font import cjk_font
from printouts.layout import QrCode, body_frame, fit, get, markup, para, paras, table_style

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN_X = 18 * mm
MARGIN_TOP = 22 * mm
MARGIN_BOTTOM = 20 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN_X
QR_SIZE = 28 * mm
QR_CAPTION = "扫码查看最新办事指南"
MAX_TEXT = 10_000  # characters of one field on paper; the phone guide has the rest
CUT_NOTE = "……（内容过长，以下从略，请扫码查看完整指南）"
EMPTY = "—"
NUMERALS = "一二三四五六七八九十"
HEADING_ROOM = 12 * mm  # a section heading with the space around it
KEEP_WITH_HEADING = 16 * mm  # at least this much of a section stays with its heading

INK = colors.HexColor("#1a1a1a")
NAVY = colors.HexColor("#0b2e59")
GREY = colors.HexColor("#5f6670")
RULE = colors.HexColor("#9aa5b1")
SHADE = colors.HexColor("#e9eff7")
ZEBRA = colors.HexColor("#f6f8fb")


# ---------------------------------------------------------------- text


@functools.cache
def _glyphs() -> frozenset[int]:
    """The code points the embedded font can draw."""
    return frozenset(pdfmetrics.getFont(cjk_font()).face.charToGlyph)


def clean_text(value: object, *, limit: int = MAX_TEXT) -> str:
    """Printable text from user input: control and format characters dropped, line ends
    unified, characters the font lacks (emoji…) shown as □, overlong text cut with a note."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else str(value)
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    glyphs = _glyphs()
    out = []
    for char in text:
        if char == "\n":
            out.append(char)
            continue
        category = unicodedata.category(char)
        if category in ("Zl", "Zp"):
            out.append("\n")
        elif category[0] == "C":  # Cc control, Cf format, Cs surrogate, Co private, Cn unassigned
            continue
        elif ord(char) in glyphs:
            out.append(char)
        else:
            out.append(" " if category == "Zs" else "□")
    text = "".join(out).strip()
    if len(text) > limit:
        text = text[:limit].rstrip() + CUT_NOTE
    return text


# ---------------------------------------------------------------- data


@dataclass(frozen=True)
class _Material:
    name: str
    required: bool
    form: str
    copies: str
    notes: str
    blank_form: str
    sample: str


@dataclass(frozen=True)
class _Guide:
    code: str
    name: str
    department: str
    kind: str
    legal_basis: str
    conditions: str
    materials: tuple[_Material, ...]
    steps: tuple[str, ...]
    statutory: str
    promised: str
    fee: str
    fee_basis: str
    place: str
    hours: str
    phone: str
    complaint: str
    result_document: str
    visits: str
    online: bool
    appointment: bool
    faq: tuple[tuple[str, str], ...]


def _name_of(value: object) -> str:
    """Text, or the name of a thing that has one (a department)."""
    if value is None or isinstance(value, str):
        return clean_text(value)
    return clean_text(get(value, "name", value))


def _count(value: object, unit: str) -> str:
    """「2 份」 from a whole number, '' when not given."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or not isinstance(value, int):
        return clean_text(value, limit=20)
    return f"{value} {unit}"


def _list(value: object, what: str) -> list:
    if value is None:
        return []
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        raise PrintoutError(f"guide field {what!r} must be a list")
    return list(value)


def _material(item: object) -> _Material:
    required = get(item, "required", True)
    return _Material(
        name=clean_text(get(item, "name"), limit=1000) or EMPTY,
        required=True if required is None else bool(required),
        form=clean_text(get(item, "form_label") or get(item, "form"), limit=40),
        copies=_count(get(item, "copies"), "份"),
        notes=clean_text(get(item, "notes")),
        blank_form=clean_text(get(item, "blank_form"), limit=1000),
        sample=clean_text(get(item, "sample"), limit=1000),
    )


def _faq(items: list) -> tuple[tuple[str, str], ...]:
    """(question, answer) pairs; a bare string is a question without answer."""
    pairs = []
    for item in items:
        if isinstance(item, Mapping):
            pair = (clean_text(item.get("q")), clean_text(item.get("a")))
        else:
            pair = (clean_text(item), "")
        if any(pair):
            pairs.append(pair)
    return tuple(pairs)


def _read(matter: object) -> _Guide:
    """The guide of one matter as clean text, or PrintoutError when it has no name."""
    name = clean_text(get(matter, "name"), limit=500)
    if not name:
        raise PrintoutError("guide field 'name' must be a non-empty text")
    steps = get(matter, "process_steps")
    if steps is None:
        steps = str(get(matter, "process") or "").splitlines()
    steps = [clean_text(step) for step in _list(steps, "process_steps")]
    return _Guide(
        code=clean_text(get(matter, "code"), limit=200),
        name=name,
        department=_name_of(get(matter, "department")),
        kind=clean_text(get(matter, "kind_label") or get(matter, "kind"), limit=40),
        legal_basis=clean_text(get(matter, "legal_basis")),
        conditions=clean_text(get(matter, "conditions")),
        materials=tuple(_material(m) for m in _list(get(matter, "materials"), "materials")),
        steps=tuple(step for step in steps if step),
        statutory=clean_text(get(matter, "statutory_label"), limit=100),
        promised=clean_text(get(matter, "promised_label"), limit=100),
        fee=clean_text(get(matter, "fee")),
        fee_basis=clean_text(get(matter, "fee_basis")),
        place=clean_text(get(matter, "place")),
        hours=clean_text(get(matter, "hours")),
        phone=clean_text(get(matter, "phone"), limit=500),
        complaint=clean_text(get(matter, "complaint")),
        result_document=clean_text(get(matter, "result_document")),
        visits=_count(get(matter, "visits"), "次"),
        online=bool(get(matter, "online", False)),
        appointment=bool(get(matter, "appointment", False)),
        faq=_faq(_list(get(matter, "faq"), "faq")),
    )


def _dates(printed_on: dt.date | str | None) -> tuple[str, str]:
    """The print date for the footer (2026-03-02) and the cover (2026年3月2日)."""
    if printed_on is None:
        printed_on = dt.date.today()
    if isinstance(printed_on, dt.date):
        return printed_on.isoformat(), f"{printed_on.year}年{printed_on.month}月{printed_on.day}日"
    if isinstance(printed_on, str):
        text = clean_text(printed_on, limit=40)
        return text, text
    raise PrintoutError("printed_on must be a date or a text")


def _url(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise PrintoutError("guide_url must be a non-empty string")
    return value.strip()


# ---------------------------------------------------------------- styles


@dataclass(frozen=True)
class _Styles:
    body: ParagraphStyle
    cell: ParagraphStyle
    cell_centre: ParagraphStyle
    cell_right: ParagraphStyle
    label: ParagraphStyle
    head: ParagraphStyle
    head_right: ParagraphStyle
    overline: ParagraphStyle
    title: ParagraphStyle
    section: ParagraphStyle
    step: ParagraphStyle
    question: ParagraphStyle
    answer: ParagraphStyle
    cover_title: ParagraphStyle
    cover_sub: ParagraphStyle
    cover_hall: ParagraphStyle
    contents_title: ParagraphStyle


@functools.cache
def _styles() -> _Styles:
    """Every paragraph style, all in the embedded CJK font with Chinese line breaking."""
    font = cjk_font()
    base = ParagraphStyle(
        "guide-body",
        fontName=font,
        fontSize=10,
        leading=15,
        textColor=INK,
        wordWrap="CJK",
        spaceAfter=3,
        bulletFontName=font,
    )

    def style(name: str, **changes) -> ParagraphStyle:
        return ParagraphStyle(f"guide-{name}", parent=base, **changes)

    return _Styles(
        body=base,
        cell=style("cell", fontSize=9, leading=13, spaceAfter=0),
        cell_centre=style("cell-centre", fontSize=9, leading=13, spaceAfter=0, alignment=TA_CENTER),
        cell_right=style("cell-right", fontSize=9, leading=13, spaceAfter=0, alignment=TA_RIGHT),
        label=style("label", fontSize=9, leading=13, spaceAfter=0, textColor=NAVY),
        head=style("head", fontSize=9, leading=13, spaceAfter=0, alignment=1, textColor=NAVY),
        head_right=style(
            "head-right", fontSize=9, leading=13, spaceAfter=0, alignment=TA_RIGHT, textColor=NAVY
        ),
        overline=style("overline", fontSize=9, leading=13, textColor=GREY, spaceAfter=2),
        title=style("title", fontSize=18, leading=25, textColor=NAVY, spaceAfter=6),
        section=style(
            "section",
            fontSize=12,
            leading=15,
            textColor=NAVY,
            backColor=SHADE,
            borderPadding=(3, 6, 3, 6),
            leftIndent=6,
            rightIndent=6,
            spaceBefore=9,
            spaceAfter=7,
        ),
        step=style("step", leftIndent=18, bulletIndent=0),
        question=style("question", textColor=NAVY, spaceBefore=4, spaceAfter=1),
        answer=style("answer", leftIndent=20, firstLineIndent=-20, spaceAfter=4),
        cover_title=style(
            "cover-title", fontSize=26, leading=36, alignment=TA_CENTER, textColor=NAVY
        ),
        cover_sub=style("cover-sub", fontSize=20, leading=30, alignment=TA_CENTER, textColor=NAVY),
        cover_hall=style("cover-hall", fontSize=13, leading=20, alignment=TA_CENTER),
        contents_title=style(
            "contents-title",
            fontSize=18,
            leading=26,
            alignment=TA_CENTER,
            textColor=NAVY,
            spaceAfter=10,
        ),
    )


# ---------------------------------------------------------------- flowables


class _Anchor(Flowable):
    """An invisible mark where a matter starts: a PDF bookmark and its page, recorded."""

    def __init__(self, key: str, title: str, pages: dict[str, int]) -> None:
        super().__init__()
        self.key = key
        self.title = title
        self.pages = pages
        self.width = self.height = 0

    def wrap(self, avail_width, avail_height):
        return 0, 0

    def draw(self) -> None:
        self.canv.bookmarkPage(self.key)
        self.canv.addOutlineEntry(self.title, self.key, level=0)
        self.pages[self.key] = self.canv.getPageNumber()


def _body_page(
    left: str, right: str, footer_left: str, total: int | None
) -> Callable[[Canvas, object], None]:
    """The decoration of guide pages: the header line and the footer with the print date
    and 「第 n 页 共 N 页」 (N is known from a first layout pass)."""

    def on_page(canvas: Canvas, doc) -> None:
        font = cjk_font()
        half = CONTENT_WIDTH / 2 - 3 * mm
        top = PAGE_HEIGHT - MARGIN_TOP + 7 * mm
        bottom = MARGIN_BOTTOM - 9 * mm
        canvas.saveState()
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        canvas.line(MARGIN_X, top - 2.5 * mm, PAGE_WIDTH - MARGIN_X, top - 2.5 * mm)
        canvas.line(MARGIN_X, bottom + 4.5 * mm, PAGE_WIDTH - MARGIN_X, bottom + 4.5 * mm)
        canvas.setFillColor(GREY)
        canvas.setFont(font, 8.5)
        canvas.drawString(MARGIN_X, top, fit(left, font, 8.5, half))
        canvas.drawRightString(PAGE_WIDTH - MARGIN_X, top, fit(right, font, 8.5, half))
        canvas.setFont(font, 8)
        canvas.drawString(MARGIN_X, bottom, footer_left)
        canvas.drawCentredString(PAGE_WIDTH / 2, bottom, "本指南以扫码查看的最新版本为准")
        number = f"第 {doc.page} 页" + (f" 共 {total} 页" if total else "")
        canvas.drawRightString(PAGE_WIDTH - MARGIN_X, bottom, number)
        canvas.restoreState()

    return on_page


def _cover_page(hall_name: str, date_text: str) -> Callable[[Canvas, object], None]:
    """The cover's decoration: a band at the top, the hall and the date at the foot."""

    def on_page(canvas: Canvas, doc) -> None:
        font = cjk_font()
        canvas.saveState()
        canvas.setFillColor(NAVY)
        canvas.rect(0, PAGE_HEIGHT - 12 * mm, PAGE_WIDTH, 12 * mm, stroke=0, fill=1)
        canvas.setFillColor(INK)
        if hall_name:
            canvas.setFont(font, 15)
            canvas.drawCentredString(
                PAGE_WIDTH / 2, 42 * mm, fit(hall_name, font, 15, CONTENT_WIDTH)
            )
        canvas.setFont(font, 12)
        canvas.drawCentredString(PAGE_WIDTH / 2, 33 * mm, date_text)
        canvas.restoreState()

    return on_page


# ---------------------------------------------------------------- the sheet of a matter


MAX_ROW_HEIGHT = 60 * mm  # a table row taller than this continues in rows below it
CELL_PADDING = 4


def _chunks(cell: Flowable | list, width: float) -> list[list[Flowable]]:
    """The flowables of a table cell cut into pieces no taller than MAX_ROW_HEIGHT."""
    queue = list(cell) if isinstance(cell, list) else [cell]
    chunks: list[list[Flowable]] = []
    current: list[Flowable] = []
    used = 0.0
    while queue:
        item = queue.pop(0)
        height = item.wrap(width, MAX_ROW_HEIGHT)[1] + item.getSpaceAfter()
        if used + height <= MAX_ROW_HEIGHT:
            current.append(item)
            used += height
            continue
        parts = item.split(width, MAX_ROW_HEIGHT - used) if used < MAX_ROW_HEIGHT else []
        if len(parts) > 1:
            current.append(parts[0])
            queue[:0] = parts[1:]
        elif current:
            queue.insert(0, item)
        else:
            current.append(item)  # cannot be cut (it is short enough for a page anyway)
        chunks.append(current)
        current, used = [], 0.0
    if current or not chunks:
        chunks.append(current)
    return chunks


def _split_row(cells: list, widths: list[float]) -> list[list]:
    """One logical row as one or more table rows, so that no row outgrows a page: tables
    then break between rows only, and a long note continues in the rows below."""
    columns = [
        _chunks(cell, width - 2 * CELL_PADDING) for cell, width in zip(cells, widths, strict=True)
    ]
    count = max(len(c) for c in columns)
    return [[c[i] if i < len(c) else [] for c in columns] for i in range(count)]


def _ruled_table(
    groups: list[list],
    widths: list[float],
    *,
    header: list | None = None,
    shaded: tuple[int, ...] = (),
    zebra: bool = False,
) -> Table:
    """A ruled table of logical rows (a long row continues below, inside one box), with an
    optional header row repeated on every page and shaded label columns."""
    rows: list[list] = [header] if header else []
    commands: list[tuple] = [
        ("BOX", (0, 0), (-1, -1), 0.5, RULE),
        ("LINEAFTER", (0, 0), (-2, -1), 0.5, RULE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 3.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 3.5),
        ("LEFTPADDING", (0, 0), (-1, -1), CELL_PADDING),
        ("RIGHTPADDING", (0, 0), (-1, -1), CELL_PADDING),
    ]
    if header:
        commands += [
            ("BACKGROUND", (0, 0), (-1, 0), SHADE),
            ("LINEBELOW", (0, 0), (-1, 0), 0.5, RULE),
        ]
    for index, cells in enumerate(groups):
        first = len(rows)
        rows += _split_row(cells, widths)
        last = len(rows) - 1
        commands.append(("LINEBELOW", (0, last), (-1, last), 0.5, RULE))
        if last > first:
            commands.append(("TOPPADDING", (0, first + 1), (-1, last), 0))
        if zebra and index % 2:
            commands.append(("BACKGROUND", (0, first), (-1, last), ZEBRA))
    body = 1 if header else 0
    commands += [("BACKGROUND", (column, body), (column, -1), SHADE) for column in shaded]
    return Table(
        rows,
        colWidths=widths,
        style=table_style(commands),
        repeatRows=1 if header else 0,
    )


def _grid(rows: list[list], widths: list[float]) -> Table:
    """A ruled label/value table, label cells shaded."""
    return _ruled_table(rows, widths, shaded=tuple(range(0, len(widths), 2)))


def _title_block(guide: _Guide, url: str, hall_name: str) -> list[Flowable]:
    """Matter name, code, department and kind beside the QR code of the phone guide."""
    s = _styles()
    qr = QrCode(url, QR_SIZE, QR_CAPTION, caption_size=8, caption_leading=1.5, ink=INK)
    label_width = 20 * mm
    left_width = CONTENT_WIDTH - qr.width - 6 * mm
    facts = Table(
        [
            [para("事项编码", s.label), para(guide.code, s.cell)],
            [para("实施部门", s.label), para(guide.department, s.cell)],
            [para("事项类型", s.label), para(guide.kind, s.cell)],
        ],
        colWidths=[label_width, left_width - label_width],
        style=table_style(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 4),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
            ]
        ),
    )
    overline = f"{hall_name} · 办事指南" if hall_name else "办事指南"
    left = [para(overline, s.overline), para(guide.name, s.title), facts]
    block = Table(
        [[left, qr]],
        colWidths=[CONTENT_WIDTH - qr.width, qr.width],
        style=table_style(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
            ]
        ),
    )
    return [block, Spacer(1, 3 * mm), HRFlowable(width="100%", thickness=1.6, color=NAVY)]


def _basics(guide: _Guide) -> Table:
    """Limits, visits, online and appointment, the result document."""
    s = _styles()
    label = 25 * mm
    value = CONTENT_WIDTH / 2 - label
    rows = [
        [
            para("法定办结时限", s.label),
            para(guide.statutory, s.cell),
            para("承诺办结时限", s.label),
            para(guide.promised, s.cell),
        ],
        [
            para("到现场次数", s.label),
            para(guide.visits, s.cell),
            para("办理结果", s.label),
            para(guide.result_document, s.cell),
        ],
        [
            para("网上办理", s.label),
            para("支持" if guide.online else "不支持", s.cell),
            para("预约办理", s.label),
            para("支持" if guide.appointment else "不支持", s.cell),
        ],
    ]
    return _grid(rows, [label, value, label, value])


def _fields(pairs: list[tuple[str, str]]) -> Table:
    """A two-column table of labelled texts (收费标准, 办理地点…)."""
    s = _styles()
    label = 25 * mm
    rows = [[para(name, s.label), paras(text, s.cell)] for name, text in pairs]
    return _grid(rows, [label, CONTENT_WIDTH - label])


MATERIAL_COLUMNS = (
    ("序号", 10 * mm),
    ("材料名称", 50 * mm),
    ("必要", 11 * mm),
    ("形式", 22 * mm),
    ("份数", 12 * mm),
    ("备注", CONTENT_WIDTH - 105 * mm),
)


def _materials(guide: _Guide) -> list[Flowable]:
    """申请材料 as a table whose header row repeats on every page it spans."""
    s = _styles()
    if not guide.materials:
        return [para("本事项无需提交申请材料。", s.body)]
    groups: list[list] = []
    for number, material in enumerate(guide.materials, 1):
        remarks = paras(material.notes, s.cell) if material.notes else []
        if material.blank_form:
            remarks.append(para(f"空白表格：{material.blank_form}", s.cell))
        if material.sample:
            remarks.append(para(f"示例样表：{material.sample}", s.cell))
        groups.append(
            [
                para(str(number), s.cell_centre),
                para(material.name, s.cell),
                para("是" if material.required else "否", s.cell_centre),
                para(material.form, s.cell_centre),
                para(material.copies, s.cell_centre),
                remarks or para("", s.cell, empty=""),
            ]
        )
    table = _ruled_table(
        groups,
        [width for _, width in MATERIAL_COLUMNS],
        header=[para(name, s.head) for name, _ in MATERIAL_COLUMNS],
        zebra=True,
    )
    required = sum(1 for m in guide.materials if m.required)
    summary = f"共 {len(guide.materials)} 项，其中必要材料 {required} 项。"
    return [table, Spacer(1, 2 * mm), para(summary, s.cell)]


def _steps(guide: _Guide) -> list[Flowable]:
    s = _styles()
    if not guide.steps:
        return [para("", s.body)]
    return [
        Paragraph(markup(step), s.step, bulletText=f"{number}.")
        for number, step in enumerate(guide.steps, 1)
    ]


def _questions(guide: _Guide) -> list[Flowable]:
    s = _styles()
    if not guide.faq:
        return [para("暂无。", s.body)]
    flowables: list[Flowable] = []
    for number, (question, answer) in enumerate(guide.faq, 1):
        flowables.append(para(f"{number}. {question or EMPTY}", s.question))
        flowables.append(para(f"答：{answer or EMPTY}", s.answer))
    return flowables


def _sections(guide: _Guide) -> list[tuple[str, list[Flowable]]]:
    """The parts of a guide in the order Chinese guides print them."""
    s = _styles()
    return [
        ("基本信息", [_basics(guide)]),
        ("设定依据", paras(guide.legal_basis, s.body)),
        ("受理条件", paras(guide.conditions, s.body)),
        ("申请材料", _materials(guide)),
        ("办理流程", _steps(guide)),
        (
            "收费标准",
            [_fields([("收费标准", guide.fee or "不收费"), ("收费依据", guide.fee_basis)])],
        ),
        ("办理地点和时间", [_fields([("办理地点", guide.place), ("办理时间", guide.hours)])]),
        ("咨询和投诉", [_fields([("咨询电话", guide.phone), ("投诉渠道", guide.complaint)])]),
        ("常见问题", _questions(guide)),
    ]


def _sheet_flowables(guide: _Guide, url: str, hall_name: str) -> list[Flowable]:
    """Everything printed for one matter, from its title block to its FAQ."""
    s = _styles()
    flowables = _title_block(guide, url, hall_name)
    for number, (title, content) in enumerate(_sections(guide)):
        heading = Paragraph(f"{NUMERALS[number]}、{title}", s.section)
        # a heading never ends a page: it keeps room for the start of what it heads
        start = min(content[0].wrap(CONTENT_WIDTH, PAGE_HEIGHT)[1], KEEP_WITH_HEADING)
        flowables += [CondPageBreak(HEADING_ROOM + start), heading, *content]
    return flowables


# ---------------------------------------------------------------- documents


def _document(buffer: io.BytesIO, *, title: str, author: str, subject: str) -> BaseDocTemplate:
    frame = body_frame(
        MARGIN_X, MARGIN_BOTTOM, CONTENT_WIDTH, PAGE_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
    )
    doc = BaseDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=MARGIN_X,
        rightMargin=MARGIN_X,
        topMargin=MARGIN_TOP,
        bottomMargin=MARGIN_BOTTOM,
        title=title,
        author=author,
        subject=subject,
        creator="hall printouts",
        lang="zh-CN",
        invariant=1,
        pageCompression=1,
        initialFontName=cjk_font(),
    )
    doc.body_frame = frame
    return doc


def matter_sheet(
    matter: object,
    *,
    guide_url: str,
    hall_name: str | None = None,
    printed_on: dt.date | str | None = None,
) -> bytes:
    """The A4 guide sheet (办事指南) of one matter as PDF bytes.

    ``guide_url`` is printed as the QR code of the phone guide; ``printed_on`` (default
    today) goes in the footer. Raises PrintoutError for data that cannot be printed.
    """
    guide = _read(matter)
    url = _url(guide_url)
    hall = clean_text(hall_name, limit=200)
    footer_date, _ = _dates(printed_on)
    right = f"事项编码 {guide.code}" if guide.code else guide.name

    def build(total: int | None) -> tuple[bytes, int]:
        buffer = io.BytesIO()
        doc = _document(
            buffer, title=f"{guide.name} 办事指南", author=hall or guide.department, subject=url
        )
        on_page = _body_page(hall or "办事指南", right, f"打印日期：{footer_date}", total)
        doc.addPageTemplates([PageTemplate("body", [doc.body_frame], onPage=on_page)])
        doc.build(_sheet_flowables(guide, url, hall))
        return buffer.getvalue(), doc.page

    # lay out once to count the pages, then print 「共 N 页」 on each
    return build(build(None)[1])[0]


def department_booklet(
    department: object,
    matters: Iterable[object],
    *,
    guide_url: Callable[[str], str],
    hall_name: str | None = None,
    printed_on: dt.date | str | None = None,
) -> bytes:
    """A department's guide booklet as PDF bytes: a cover with its functions (职能), the
    contents, then each matter's guide from a new page with its own QR code.

    ``department`` has name and functions; ``matters`` are the matters to print, in order
    (the caller leaves out the inactive ones); ``guide_url(code)`` is each matter's phone
    guide. Raises PrintoutError for data that cannot be printed.
    """
    name = _name_of(department)
    if not name:
        raise PrintoutError("the department must have a name")
    if not callable(guide_url):
        raise PrintoutError("guide_url must be a function of the matter code")
    functions = clean_text(get(department, "functions"))
    guides = [_read(matter) for matter in matters]
    urls = [_url(guide_url(guide.code)) for guide in guides]
    hall = clean_text(hall_name, limit=200)
    footer_date, cover_date = _dates(printed_on)

    def build(pages: dict[str, int], known: dict[str, int], total: int | None) -> tuple[bytes, int]:
        buffer = io.BytesIO()
        doc = _document(buffer, title=f"{name} 办事指南", author=hall or name, subject=name)
        doc.addPageTemplates(
            [
                PageTemplate("cover", [doc.body_frame], onPage=_cover_page(hall, cover_date)),
                PageTemplate(
                    "body",
                    [doc.body_frame],
                    onPage=_body_page(
                        hall or name, f"{name} · 办事指南", f"打印日期：{footer_date}", total
                    ),
                ),
            ]
        )
        flowables = [NextPageTemplate("body"), *_cover(name, functions, len(guides))]
        flowables += [PageBreak(), *_contents(guides, known)]
        for index, (guide, url) in enumerate(zip(guides, urls, strict=True)):
            key = f"matter-{index}"
            flowables += [PageBreak(), _Anchor(key, guide.name, pages)]
            flowables += _sheet_flowables(guide, url, hall)
        doc.build(flowables)
        return buffer.getvalue(), doc.page

    # The contents need the page each matter starts on and the footer the page count: lay
    # out once to learn them (the contents take the same room either way), then print.
    pages: dict[str, int] = {}
    _, total = build(pages, {}, None)
    return build({}, pages, total)[0]


def _cover(name: str, functions: str, count: int) -> list[Flowable]:
    s = _styles()
    flowables: list[Flowable] = [
        Spacer(1, 45 * mm),
        para(name, s.cover_title),
        Spacer(1, 4 * mm),
        Paragraph("办 事 指 南", s.cover_sub),
        Spacer(1, 14 * mm),
        HRFlowable(width="100%", thickness=1.2, color=NAVY),
        Spacer(1, 6 * mm),
        Paragraph("部门职能", s.section),
        *paras(functions, s.body),
        Spacer(1, 4 * mm),
        Paragraph(f"本指南收录办理事项 {count} 项。", s.body),
    ]
    return flowables


def _contents(guides: list[_Guide], known: dict[str, int]) -> list[Flowable]:
    """目录: number, matter (linked to its page), code and page."""
    s = _styles()
    flowables: list[Flowable] = [Paragraph("目　录", s.contents_title)]
    if not guides:
        return [*flowables, para("本部门暂无公开的办理事项。", s.body)]
    rows: list[list] = [
        [
            para("序号", s.head),
            para("事项名称", s.label),
            para("事项编码", s.label),
            para("页码", s.head_right),
        ]
    ]
    for index, guide in enumerate(guides):
        key = f"matter-{index}"
        link = f'<a href="#{key}" color="#0b2e59">{markup(guide.name)}</a>'
        page = known.get(key)
        rows.append(
            [
                para(str(index + 1), s.cell_centre),
                Paragraph(link, s.cell),
                para(guide.code, s.cell),
                para(str(page) if page else "", s.cell_right, empty=""),
            ]
        )
    table = Table(
        rows,
        colWidths=[12 * mm, CONTENT_WIDTH - 62 * mm, 36 * mm, 14 * mm],
        repeatRows=1,
        style=table_style(
            [
                ("LINEBELOW", (0, 0), (-1, -1), 0.5, RULE),
                ("LINEABOVE", (0, 0), (-1, 0), 1, NAVY),
                ("BACKGROUND", (0, 0), (-1, 0), SHADE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 4),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 4),
            ]
        ),
    )
    return [*flowables, table]
