"""Case documents (办件文书) on A4: the acceptance receipt (受理通知书/回执), the one-time
notice of missing materials (一次性告知书), the not-accepted notice (不予受理通知书) and the
completion notice (办结通知书).

Plain data in, PDF bytes out, in the manner of Chinese administrative documents: the issuing
hall at the top, the title, 「编号：<case number>」, the applicant addressed by name, the body,
the case facts (matter, window, staff and 工号), 「特此通知。」, the date under a 「（受理专用章）」
seal area, and the QR code of the public verification page 「扫码核验办件状态」.

A case is a mapping or any object with these fields (missing ones print as blank):

- ``number`` (required), ``issuer`` (the hall: the issuing body), ``department`` (实施部门)
- ``applicant_name`` (printed in full), ``applicant_phone`` (the caller masks it,
  138****0000; a number given in full is masked here all the same)
- ``matter_name`` (required), ``matter_code``, ``kind`` (immediate/promised/joint/referred),
  ``outcome`` (on_the_spot/accepted/correction/rejected)
- ``accepted_on``, ``due_date``, ``completed_on`` (dates, hall-local), ``limit_days``,
  ``limit_unit`` (working/natural), ``timing`` (early/on_time/late)
- ``materials_received``, ``missing_materials``: lists of {"name", "note"} (or texts)
- ``reason`` (不予受理), ``result`` (办理结果), ``result_document`` (证照/批文 of the matter)
- ``window_number``, ``window_name``, ``staff_name``, ``staff_job_number``
- ``phone`` (咨询电话), ``complaint`` (投诉渠道), ``place`` (办理地点)

Texts are user input: cleaned and escaped, never read as markup.
"""

from __future__ import annotations

import datetime as dt
import functools
import io
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER, TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    BaseDocTemplate,
    CondPageBreak,
    Flowable,
    HRFlowable,
    KeepTogether,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
)

from printouts.errors import PrintoutError
from printouts.font import cjk_font
from printouts.guide import clean_text
from printouts.layout import QrCode, body_frame, fit, get, markup, para, paras, pieces, table_style

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN_X = 22 * mm
MARGIN_TOP = 18 * mm
MARGIN_BOTTOM = 18 * mm
CONTENT_WIDTH = PAGE_WIDTH - 2 * MARGIN_X
QR_SIZE = 24 * mm
QR_CAPTION = "扫码核验办件状态"
SEAL_LABEL = "（受理专用章）"
BLANK = "—"
CUT = "……（以下从略）"
NAME_LIMIT = 300  # characters of a material's name on paper
NOTE_LIMIT = 1000  # characters of a material's note: a table row always fits a page
TEXT_LIMIT = 5000  # characters of a reason or a result

INK = colors.HexColor("#111111")
NAVY = colors.HexColor("#0b2e59")
GREY = colors.HexColor("#5f6670")
RULE = colors.HexColor("#8a96a3")
SHADE = colors.HexColor("#eef2f7")
SEAL = colors.HexColor("#c0392b")

KIND_LABELS = {"immediate": "即办件", "promised": "承诺件", "joint": "联办件", "referred": "上报件"}
UNIT_LABELS = {"working": "工作日", "natural": "自然日"}
TIMING_LABELS = {"early": "提前办结", "on_time": "按时办结", "late": "超时办结"}

# the four documents: the ``kind`` of case_document, and the title printed
DOCUMENTS = {
    "receipt": "受理通知书",
    "correction": "一次性告知书",
    "rejection": "不予受理通知书",
    "completion": "办结通知书",
}

LAW_32_4 = (
    "根据《中华人民共和国行政许可法》第三十二条第一款第（四）项的规定，申请材料不齐全或者"
    "不符合法定形式的，应当当场或者在五日内一次告知申请人需要补正的全部内容，逾期不告知的，"
    "自收到申请材料之日起即为受理。"
)
RIGHTS = (
    "你（单位）如对本决定不服，可以自收到本通知书之日起六十日内依法申请行政复议，"
    "或者自收到本通知书之日起六个月内依法向人民法院提起行政诉讼。"
)
NOT_COUNTED = (
    "受理当日不计入办理时限；补正材料的时间，以及依法需要听证、检验、检测、鉴定、专家评审的"
    "时间不计入办理时限，办结日期相应顺延。"
)


# ---------------------------------------------------------------- data


def _text(value: object, limit: int) -> str:
    """Printable text (see guide.clean_text), cut at ``limit`` characters with 「以下从略」."""
    text = clean_text(value, limit=10**9)
    if len(text) > limit:
        text = text[:limit].rstrip() + CUT
    return text


def _line(value: object, limit: int = 200) -> str:
    """Printable text on one line (names, numbers, phones)."""
    return " ".join(_text(value, limit).split())


def _masked_phone(value: object) -> str:
    """The applicant's phone as printed: masked (138****0000) unless the caller did already
    (a ``*`` in it); never more than the first 3 and the last 4 characters in clear."""
    phone = _line(value, 30)
    if "*" in phone or sum(c.isdigit() for c in phone) < 5:
        return phone
    if len(phone) >= 7:
        return phone[:3] + "*" * (len(phone) - 7) + phone[-4:]
    return "*" * (len(phone) - 2) + phone[-2:]


def _date(value: object) -> str:
    """「2026 年 10 月 13 日」 of a date (or datetime, or ISO text); other text as given."""
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = dt.date.fromisoformat(value.strip())
        except ValueError:
            return _line(value, 40)
    if isinstance(value, dt.date):
        return f"{value.year} 年 {value.month} 月 {value.day} 日"
    return ""


def _int(value: object) -> int:
    if isinstance(value, bool):
        return 0
    if isinstance(value, int):
        return max(value, 0)
    try:
        return max(int(str(value).strip()), 0)
    except ValueError:
        return 0


@dataclass(frozen=True)
class _Item:
    name: str
    note: str


def _items(value: object) -> tuple[_Item, ...]:
    """Materials from a list of {"name", "note"} (or texts); anything odd read leniently."""
    if value is None:
        return ()
    if isinstance(value, (str, bytes, Mapping)) or not isinstance(value, Iterable):
        value = [value]
    items = []
    for item in value:
        if item is None:
            continue
        if isinstance(item, Mapping):
            name, note = item.get("name"), item.get("note")
        else:
            name, note = item, ""
        name, note = _text(name, NAME_LIMIT), _text(note, NOTE_LIMIT)
        if name or note:
            items.append(_Item(name or BLANK, note))
    return tuple(items)


@dataclass(frozen=True)
class _Case:
    number: str
    issuer: str
    department: str
    applicant: str
    phone_masked: str
    matter: str
    code: str
    kind: str
    outcome: str
    accepted_on: str
    due_date: str
    completed_on: str
    limit: str
    timing: str
    received: tuple[_Item, ...]
    missing: tuple[_Item, ...]
    reason: str
    result: str
    result_document: str
    window: str
    staff: str
    phone: str
    complaint: str
    place: str


def _limit(days: int, unit: object) -> str:
    """「5 个工作日」, or 「即办」 for none."""
    if not days:
        return "即办"
    return f"{days} 个{UNIT_LABELS.get(str(unit or 'working'), '工作日')}"


def _window(number: object, name: object) -> str:
    """「3 号窗口（户籍业务）」."""
    name = _line(name, 60)
    if number in (None, ""):
        return name
    text = f"{_line(number, 10)} 号窗口"
    return f"{text}（{name}）" if name else text


def _staff(name: object, job_number: object) -> str:
    """「李晓梅（工号 1001）」."""
    name, job = _line(name, 60), _line(job_number, 32)
    if job:
        return f"{name or BLANK}（工号 {job}）"
    return name


def _read(case: object) -> _Case:
    """The case as clean text, or PrintoutError when it has no number or matter."""
    number = _line(get(case, "number"), 60)
    if not number:
        raise PrintoutError("case field 'number' must be a non-empty text")
    matter = _line(get(case, "matter_name"), 300)
    if not matter:
        raise PrintoutError("case field 'matter_name' must be a non-empty text")
    kind = str(get(case, "kind") or "")
    timing = str(get(case, "timing") or "")
    return _Case(
        number=number,
        issuer=_line(get(case, "issuer"), 100) or "政务服务中心",
        department=_line(get(case, "department"), 100),
        applicant=_line(get(case, "applicant_name"), 100),
        phone_masked=_masked_phone(get(case, "applicant_phone")),
        matter=matter,
        code=_line(get(case, "matter_code"), 64),
        kind=KIND_LABELS.get(kind, _line(kind, 20)),
        outcome=str(get(case, "outcome") or ""),
        accepted_on=_date(get(case, "accepted_on")),
        due_date=_date(get(case, "due_date")),
        completed_on=_date(get(case, "completed_on")),
        limit=_limit(_int(get(case, "limit_days")), get(case, "limit_unit")),
        timing=TIMING_LABELS.get(timing, _line(timing, 20)),
        received=_items(get(case, "materials_received")),
        missing=_items(get(case, "missing_materials")),
        reason=_text(get(case, "reason"), TEXT_LIMIT),
        result=_text(get(case, "result"), TEXT_LIMIT),
        result_document=_line(get(case, "result_document"), 200),
        window=_window(get(case, "window_number"), get(case, "window_name")),
        staff=_staff(get(case, "staff_name"), get(case, "staff_job_number")),
        phone=_text(get(case, "phone"), 300),
        complaint=_text(get(case, "complaint"), 1000),
        place=_text(get(case, "place"), 500),
    )


# ---------------------------------------------------------------- styles


@dataclass(frozen=True)
class _Styles:
    issuer: ParagraphStyle
    title: ParagraphStyle
    subtitle: ParagraphStyle
    number: ParagraphStyle
    salutation: ParagraphStyle
    body: ParagraphStyle
    section: ParagraphStyle
    cell: ParagraphStyle
    cell_centre: ParagraphStyle
    label: ParagraphStyle
    head: ParagraphStyle
    sign: ParagraphStyle
    point: ParagraphStyle
    point_note: ParagraphStyle
    count: ParagraphStyle


@functools.cache
def _styles() -> _Styles:
    """Every paragraph style, in the embedded CJK font with Chinese line breaking."""
    font = cjk_font()
    base = ParagraphStyle(
        "case-body",
        fontName=font,
        fontSize=10.5,
        leading=17,
        textColor=INK,
        wordWrap="CJK",
        firstLineIndent=21,  # two characters, as Chinese documents indent
        spaceAfter=2,
        bulletFontName=font,
    )

    def style(name: str, **changes) -> ParagraphStyle:
        return ParagraphStyle(f"case-{name}", parent=base, **changes)

    return _Styles(
        issuer=style("issuer", fontSize=16, leading=22, alignment=TA_CENTER, firstLineIndent=0),
        title=style(
            "title", fontSize=22, leading=28, alignment=TA_CENTER, firstLineIndent=0, spaceAfter=0
        ),
        subtitle=style("subtitle", fontSize=12, leading=17, alignment=TA_CENTER, firstLineIndent=0),
        number=style("number", fontSize=10.5, leading=15, alignment=TA_RIGHT, firstLineIndent=0),
        salutation=style("salutation", firstLineIndent=0, spaceBefore=4),
        body=base,
        section=style("section", textColor=NAVY, spaceBefore=4, spaceAfter=2),
        cell=style("cell", fontSize=9.5, leading=14, firstLineIndent=0, spaceAfter=0),
        cell_centre=style(
            "cell-centre",
            fontSize=9.5,
            leading=14,
            firstLineIndent=0,
            spaceAfter=0,
            alignment=TA_CENTER,
        ),
        label=style(
            "label", fontSize=9.5, leading=14, firstLineIndent=0, spaceAfter=0, textColor=NAVY
        ),
        head=style(
            "head",
            fontSize=9.5,
            leading=14,
            firstLineIndent=0,
            spaceAfter=0,
            alignment=TA_CENTER,
            textColor=NAVY,
        ),
        sign=style("sign", fontSize=10.5, leading=16, firstLineIndent=0, spaceBefore=10),
        point=style("point", firstLineIndent=0, leftIndent=32, bulletIndent=18, spaceAfter=1),
        point_note=style(
            "point-note", fontSize=9, leading=13.5, textColor=GREY, firstLineIndent=0, leftIndent=32
        ),
        count=style("count", fontSize=9, leading=14, textColor=GREY, spaceBefore=2),
    )


# ---------------------------------------------------------------- flowables


class _Seal(Flowable):
    """The signature block: the issuing hall and the date, with the dashed circle where the
    acceptance seal (受理专用章) is stamped over them, as on a signed paper."""

    RADIUS = 17 * mm
    NAME_SIZE = 11.5
    DATE_SIZE = 11.5

    def __init__(self, issuer: str, date_text: str) -> None:
        super().__init__()
        font = cjk_font()
        self.issuer = fit(issuer, font, self.NAME_SIZE, 80 * mm)
        self.date_text = date_text
        text_width = max(
            stringWidth(self.issuer, font, self.NAME_SIZE),
            stringWidth(date_text, font, self.DATE_SIZE),
        )
        self.width = max(2 * self.RADIUS, text_width) + 4 * mm
        self.height = 2 * self.RADIUS + 2 * mm

    def wrap(self, avail_width, avail_height):
        return self.width, self.height

    def draw(self) -> None:
        canvas, font = self.canv, cjk_font()
        centre_x, centre_y = self.width / 2, self.height / 2
        canvas.saveState()
        canvas.setStrokeColor(SEAL)
        canvas.setLineWidth(0.8)
        canvas.setDash(3, 2)
        canvas.circle(centre_x, centre_y, self.RADIUS, stroke=1, fill=0)
        canvas.setFillColor(SEAL)
        canvas.setFont(font, 8.5)
        canvas.drawCentredString(centre_x, centre_y + self.RADIUS * 0.55, SEAL_LABEL)
        canvas.setFillColor(INK)
        canvas.setFont(font, self.NAME_SIZE)
        canvas.drawCentredString(centre_x, centre_y + 1 * mm, self.issuer)
        canvas.setFont(font, self.DATE_SIZE)
        canvas.drawCentredString(centre_x, centre_y - 6.5 * mm, self.date_text)
        canvas.restoreState()


# ---------------------------------------------------------------- parts


def _heading(case: _Case, title: str, subtitle: str = "") -> list[Flowable]:
    """Issuing body, double rule, title and 「编号：…」 — the head of every document."""
    s = _styles()
    flowables: list[Flowable] = [
        para(case.issuer, s.issuer),
        Spacer(1, 1.5 * mm),
        HRFlowable(width="100%", thickness=1.6, color=NAVY, spaceAfter=1),
        HRFlowable(width="100%", thickness=0.5, color=NAVY, spaceAfter=4 * mm),
        Paragraph(escape(title), s.title),
    ]
    if subtitle:
        flowables.append(Paragraph(escape(subtitle), s.subtitle))
    flowables += [Spacer(1, 1 * mm), para(f"编号：{case.number}", s.number)]
    return flowables


def _salutation(case: _Case) -> Paragraph:
    """「张三：」 — the applicant in full, as on every paper handed to them."""
    return para(f"{case.applicant or '申请人'}：", _styles().salutation)


def _applied(case: _Case) -> str:
    """「你（单位）于 2026 年 9 月 29 日提出的“食品经营许可”申请」."""
    when = f"于 {case.accepted_on} " if case.accepted_on else ""
    return f"你（单位）{when}提出的“{case.matter}”申请"


def _facts(rows: list[tuple[str, str, str, str]]) -> Table:
    """The case facts as a ruled label/value table of four columns; a row without a second
    label spans its value over the last three columns."""
    s = _styles()
    label = 25 * mm
    value = CONTENT_WIDTH / 2 - label
    data: list[list] = []
    commands: list[tuple] = [
        ("BOX", (0, 0), (-1, -1), 0.6, RULE),
        ("INNERGRID", (0, 0), (-1, -1), 0.4, RULE),
        ("BACKGROUND", (0, 0), (0, -1), SHADE),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2.5),
    ]
    for index, (name1, value1, name2, value2) in enumerate(rows):
        if name2:
            data.append(
                [para(name1, s.label), para(value1, s.cell), para(name2, s.label)]
                + [para(value2, s.cell)]
            )
            commands.append(("BACKGROUND", (2, index), (2, index), SHADE))
        else:
            data.append([para(name1, s.label), para(value1, s.cell), "", ""])
            commands.append(("SPAN", (1, index), (3, index)))
    return Table(data, colWidths=[label, value, label, value], style=table_style(commands))


def _case_rows(
    case: _Case, date_label: str, date_value: str, extra: tuple[str, str] = ("", "")
) -> list[tuple[str, str, str, str]]:
    """The rows every document shows: applicant, matter, department, window and staff, and
    the document's dates."""
    return [
        ("申请人", case.applicant, "联系电话", case.phone_masked),
        ("申请事项", case.matter, "事项编码", case.code),
        ("实施部门", case.department, "办件类型", case.kind),
        ("受理窗口", case.window, "经办人", case.staff),
        (date_label, date_value, *extra),
    ]


def _material_table(items: tuple[_Item, ...], name_head: str, note_head: str) -> Table:
    """Materials as a ruled table whose header row repeats on every page it spans."""
    s = _styles()
    widths = [12 * mm, 62 * mm, CONTENT_WIDTH - 74 * mm]
    rows: list[list] = [[para(h, s.head) for h in ("序号", name_head, note_head)]]
    for number, item in enumerate(items, 1):
        rows.append(
            [
                para(str(number), s.cell_centre),
                para(item.name, s.cell),
                para(item.note, s.cell, empty=""),
            ]
        )
    return Table(
        rows,
        colWidths=widths,
        repeatRows=1,
        style=table_style(
            [
                ("BOX", (0, 0), (-1, -1), 0.6, RULE),
                ("INNERGRID", (0, 0), (-1, -1), 0.4, RULE),
                ("BACKGROUND", (0, 0), (-1, 0), SHADE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("TOPPADDING", (0, 0), (-1, -1), 3),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 3.5),
            ]
        ),
    )


def _section(title: str) -> list[Flowable]:
    """A numbered section heading that never ends a page alone."""
    return [CondPageBreak(25 * mm), para(title, _styles().section)]


def _contacts(case: _Case) -> str:
    """「咨询电话：…；投诉渠道：…。」 of the matter."""
    complaint = case.complaint or "12345 政务服务便民热线"
    return f"咨询电话：{case.phone or BLANK}；投诉渠道：{complaint.rstrip('。；;')}。"


def _points(items: list[str | tuple[str, str]]) -> list[Flowable]:
    """Numbered points (1. 2. 3.) with a hanging indent; a (text, note) pair adds the note
    in small print under its point."""
    s = _styles()
    flowables: list[Flowable] = []
    for number, item in enumerate(items, 1):
        text, note = item if isinstance(item, tuple) else (item, "")
        lines = [piece for line in text.split("\n") if line.strip() for piece in pieces(line)]
        for index, line in enumerate(lines or [BLANK]):
            bullet = f"{number}." if index == 0 else None
            flowables.append(Paragraph(markup(line), s.point, bulletText=bullet))
        if note:
            flowables.append(para(note, s.point_note))
    return flowables


def _closing(case: _Case, url: str, date_text: str, words: str = "特此通知。") -> list[Flowable]:
    """「特此通知。」, then in one row the QR code, the applicant's receipt lines and the seal
    over the issuer and the date; kept together on one page."""
    s = _styles()
    qr = QrCode(url, QR_SIZE, QR_CAPTION, caption_size=8.5, caption_leading=1.6, ink=INK)
    seal = _Seal(case.issuer, date_text)
    signature = [
        para("申请人（签收）：＿＿＿＿＿＿＿＿", s.sign),
        para("签收日期：＿＿＿＿年＿＿月＿＿日", s.sign),
    ]
    block = Table(
        [[qr, signature, seal]],
        colWidths=[qr.width, CONTENT_WIDTH - qr.width - seal.width, seal.width],
        style=table_style(
            [
                ("VALIGN", (0, 0), (-1, -1), "BOTTOM"),
                ("LEFTPADDING", (0, 0), (-1, -1), 0),
                ("RIGHTPADDING", (0, 0), (-1, -1), 0),
                ("TOPPADDING", (0, 0), (-1, -1), 0),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 0),
                ("LEFTPADDING", (1, 0), (1, 0), 6 * mm),
            ]
        ),
    )
    return [Spacer(1, 1 * mm), KeepTogether([para(words, s.body), Spacer(1, 1 * mm), block])]


# ---------------------------------------------------------------- the four documents


def _receipt(case: _Case, url: str) -> list[Flowable]:
    s = _styles()
    flowables = _heading(case, DOCUMENTS["receipt"], "（回执）")
    flowables += [
        _salutation(case),
        para(
            f"{_applied(case)}，经审查，申请材料齐全、符合法定形式，决定予以受理。"
            "现将有关事项告知如下：",
            s.body,
        ),
        Spacer(1, 1.5 * mm),
        _facts(_case_rows(case, "受理日期", case.accepted_on, ("预计办结日期", case.due_date))),
    ]
    flowables += _section("一、已收取的申请材料")
    if case.received:
        flowables += [
            _material_table(case.received, "材料名称", "备注"),
            para(f"共 {len(case.received)} 项。", s.count),
        ]
    else:
        flowables.append(para("本次未收取申请材料。", s.body))
    collect = "办结后请凭本通知书和有效身份证件到受理窗口领取办理结果"
    collect += f"（{case.result_document}）。" if case.result_document else "。"
    due = case.due_date or "以受理窗口通知为准"
    flowables += _section("二、告知事项")
    flowables += _points(
        [
            (f"承诺办结时限：{case.limit}，预计办结日期：{due}。", NOT_COUNTED),
            "请妥善保管本通知书。扫描下方二维码可随时核验办件状态和预计办结日期，也可凭办件编号"
            f"向受理窗口查询；{collect}",
            _contacts(case),
        ]
    )
    return flowables + _closing(case, url, case.accepted_on)


def _correction(case: _Case, url: str) -> list[Flowable]:
    s = _styles()
    flowables = _heading(case, DOCUMENTS["correction"], "（申请材料补正）")
    flowables += [
        _salutation(case),
        para(
            f"{_applied(case)}，经审查，申请材料不齐全或者不符合法定形式，现一次性告知你（单位）"
            "需要补正的全部材料如下：",
            s.body,
        ),
        Spacer(1, 1.5 * mm),
        _facts(_case_rows(case, "申请日期", case.accepted_on)),
    ]
    flowables += _section("一、需要补正的全部材料")
    if case.missing:
        flowables += [
            _material_table(case.missing, "需补正的材料", "补正要求"),
            para(f"以上共 {len(case.missing)} 项，为需要补正的全部内容。", s.count),
        ]
    else:
        flowables.append(para("（未列明需补正的材料，请向受理窗口咨询。）", s.body))
    where = f"（办理地点：{case.place.rstrip('。')}）" if case.place else ""
    flowables += _section("二、告知事项")
    flowables += _points(
        [
            ("本告知书为一次性告知，所列内容为需要补正的全部材料和要求。", LAW_32_4),
            "请你（单位）按照本告知书的要求补齐全部材料后，携带本告知书和已提交的申请材料"
            f"重新提交申请{where}。补正的材料齐全、符合法定形式的，将予以受理。",
            _contacts(case),
        ]
    )
    return flowables + _closing(case, url, case.accepted_on, "特此告知。")


def _rejection(case: _Case, url: str) -> list[Flowable]:
    s = _styles()
    flowables = _heading(case, DOCUMENTS["rejection"])
    flowables += [
        _salutation(case),
        para(f"{_applied(case)}，经审查，决定不予受理。", s.body),
        Spacer(1, 1.5 * mm),
        _facts(_case_rows(case, "申请日期", case.accepted_on)),
    ]
    flowables += _section("一、不予受理的理由")
    flowables += paras(case.reason, s.body, empty="（未填写）")
    flowables += _section("二、告知事项")
    flowables += _points([RIGHTS, _contacts(case)])
    return flowables + _closing(case, url, case.accepted_on)


def _completion(case: _Case, url: str) -> list[Flowable]:
    s = _styles()
    on_the_spot = case.outcome == "on_the_spot"
    flowables = _heading(case, DOCUMENTS["completion"])
    if on_the_spot:
        opening = f"{_applied(case)}，已当场办结。"
    else:
        done = f"已于 {case.completed_on} 办结" if case.completed_on else "已办结"
        opening = f"{_applied(case)}，{done}。"
    flowables += [
        _salutation(case),
        para(opening + "现将办理结果告知如下：", s.body),
        Spacer(1, 1.5 * mm),
        _facts(_case_rows(case, "受理日期", case.accepted_on, ("办结日期", case.completed_on))),
    ]
    flowables += _section("一、办理结果")
    flowables += paras(case.result, s.body, empty=case.result_document or "已办结。")
    if on_the_spot:
        timing = (f"办结方式：当场办结。办结日期：{case.completed_on or case.accepted_on}。", "")
    else:
        late = f"，{case.timing}" if case.timing else ""
        timing = (
            f"承诺办结时限：{case.limit}，承诺办结日期：{case.due_date or BLANK}；"
            f"实际办结日期：{case.completed_on or BLANK}{late}。",
            NOT_COUNTED,
        )
    collect = "如尚未领取办理结果，请凭本通知书和有效身份证件到受理窗口领取"
    collect += f"（{case.result_document}）。" if case.result_document else "。"
    flowables += _section("二、告知事项")
    flowables += _points(
        [
            timing,
            f"{collect}欢迎对本次服务作出评价（好差评）；扫描下方二维码可核验办件状态。",
            _contacts(case),
        ]
    )
    return flowables + _closing(case, url, case.completed_on or case.accepted_on)


BUILDERS: dict[str, Callable[[_Case, str], list[Flowable]]] = {
    "receipt": _receipt,
    "correction": _correction,
    "rejection": _rejection,
    "completion": _completion,
}


# ---------------------------------------------------------------- the document


def _decorate(case: _Case, title: str, printed: str, total: int | None):
    """Running header from the second page on (issuer, title and number, so a loose sheet
    is still known), and the footer with the print date and 「第 n 页 共 N 页」."""

    def on_page(canvas: Canvas, doc) -> None:
        font = cjk_font()
        half = CONTENT_WIDTH / 2 - 3 * mm
        canvas.saveState()
        canvas.setFillColor(GREY)
        canvas.setStrokeColor(RULE)
        canvas.setLineWidth(0.5)
        if doc.page > 1:
            top = PAGE_HEIGHT - MARGIN_TOP + 8 * mm
            canvas.setFont(font, 8.5)
            canvas.drawString(MARGIN_X, top, fit(f"{case.issuer} · {title}", font, 8.5, half))
            canvas.drawRightString(
                PAGE_WIDTH - MARGIN_X, top, fit(f"编号：{case.number}", font, 8.5, half)
            )
            canvas.line(MARGIN_X, top - 2.5 * mm, PAGE_WIDTH - MARGIN_X, top - 2.5 * mm)
        bottom = MARGIN_BOTTOM - 10 * mm
        canvas.line(MARGIN_X, bottom + 4.5 * mm, PAGE_WIDTH - MARGIN_X, bottom + 4.5 * mm)
        canvas.setFont(font, 8)
        canvas.drawString(MARGIN_X, bottom, f"打印日期：{printed}")
        canvas.drawCentredString(PAGE_WIDTH / 2, bottom, "本文书以扫码核验的办件状态为准")
        number = f"第 {doc.page} 页" + (f" 共 {total} 页" if total else "")
        canvas.drawRightString(PAGE_WIDTH - MARGIN_X, bottom, number)
        canvas.restoreState()

    return on_page


def case_document(
    kind: str,
    case: object,
    *,
    verify_url: str,
    printed_on: dt.date | str | None = None,
) -> bytes:
    """One of the four case documents (``kind``: receipt, correction, rejection, completion)
    as A4 PDF bytes, its QR code opening ``verify_url``. Raises PrintoutError for a kind or
    data that cannot be printed."""
    if kind not in BUILDERS:
        raise PrintoutError(f"unknown case document {kind!r}")
    if not isinstance(verify_url, str) or not verify_url.strip():
        raise PrintoutError("verify_url must be a non-empty string")
    url = verify_url.strip()
    data = _read(case)
    title = DOCUMENTS[kind]
    if printed_on is None:
        printed_on = dt.date.today()
    printed = printed_on.isoformat() if isinstance(printed_on, dt.date) else _line(printed_on, 40)

    def build(total: int | None) -> tuple[bytes, int]:
        buffer = io.BytesIO()
        doc = BaseDocTemplate(
            buffer,
            pagesize=A4,
            leftMargin=MARGIN_X,
            rightMargin=MARGIN_X,
            topMargin=MARGIN_TOP,
            bottomMargin=MARGIN_BOTTOM,
            title=f"{title} {data.number}",
            author=data.issuer,
            subject=url,
            creator="hall printouts",
            lang="zh-CN",
            invariant=1,
            pageCompression=1,
            initialFontName=cjk_font(),
        )
        frame = body_frame(
            MARGIN_X, MARGIN_BOTTOM, CONTENT_WIDTH, PAGE_HEIGHT - MARGIN_TOP - MARGIN_BOTTOM
        )
        on_page = _decorate(data, title, printed, total)
        doc.addPageTemplates([PageTemplate("body", [frame], onPage=on_page)])
        doc.build(BUILDERS[kind](data, url))
        return buffer.getvalue(), doc.page

    # lay out once to count the pages, then print 「共 N 页」 on each
    return build(build(None)[1])[0]


def acceptance_receipt(case: object, *, verify_url: str, printed_on=None) -> bytes:
    """受理通知书（回执）: materials received, promised limit and due date, how to follow."""
    return case_document("receipt", case, verify_url=verify_url, printed_on=printed_on)


def correction_notice(case: object, *, verify_url: str, printed_on=None) -> bytes:
    """一次性告知书: every missing material with its note (行政许可法 §32)."""
    return case_document("correction", case, verify_url=verify_url, printed_on=printed_on)


def rejection_notice(case: object, *, verify_url: str, printed_on=None) -> bytes:
    """不予受理通知书: the written reason and the applicant's rights of review and suit."""
    return case_document("rejection", case, verify_url=verify_url, printed_on=printed_on)


def completion_notice(case: object, *, verify_url: str, printed_on=None) -> bytes:
    """办结通知书: the result, the completion date and, for promised cases, the timing."""
    return case_document("completion", case, verify_url=verify_url, printed_on=printed_on)
