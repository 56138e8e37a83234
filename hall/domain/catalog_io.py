"""The matter list (事项清单) as a spreadsheet: template, export and a validated import.

Halls keep their catalogue in spreadsheets (DOMAIN.md "Service guide"). This module writes the
catalogue to .xlsx (openpyxl) or .csv with Chinese headers, and reads such a file back:
every row is checked, every problem is reported by row number, column and reason (Chinese and
English), and nothing is written unless the whole file is right. Matters are matched by their
code, so importing the same file twice changes nothing and never duplicates a matter.

Cell formats a clerk can edit by hand (explained in the 填写说明 sheet of the template):

- 申请材料: one material a line,
  ``名称｜必要/非必要｜原件/复印件/原件及复印件/电子材料｜份数｜备注｜空白表格｜示例样表``;
  ``|`` works as well as ``｜``, and trailing fields may be left out (必要, 原件, 1 份).
- 常见问题: ``问：…`` then ``答：…`` lines, pairs one after another; a question or an answer
  may go on over several lines.

Functions take a Session and never commit; the caller commits.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
import unicodedata
import warnings
import zipfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from hall.domain.errors import Conflict, Invalid
from hall.domain.tickets import get_hall
from hall.models import (
    LIMIT_UNITS,
    MATERIAL_FORMS,
    MATTER_KINDS,
    AuditEvent,
    Department,
    Hall,
    Material,
    Matter,
    Queue,
    utcnow,
)

FORMATS = ("xlsx", "csv")
DATA_SHEET = "事项清单"
HELP_SHEET = "填写说明"
LOOKUP_SHEET = "部门与排队业务"

MAX_FILE_BYTES = 20 * 1024 * 1024  # an upload or file larger than this is refused
MAX_UNPACKED_BYTES = 200 * 1024 * 1024  # an .xlsx whose parts unpack larger (zip bomb)
MAX_ROWS = 20_000  # matters in one file
MAX_SHEET_ROWS = 100_000  # rows read at all, blank ones included
MAX_COLUMNS = 100
MAX_MATERIALS = 100  # per matter
MAX_FAQ = 100  # question-and-answer pairs per matter
TEXT_MAX = 10_000  # characters of a long text cell (设定依据, 受理条件…)
PROGRESS_EVERY = 100  # rows between two progress reports

Progress = Callable[[str, int, int], None]
"""A progress callback: (phase "read" | "check" | "write", rows done, rows in all)."""


class CatalogFileError(Invalid):
    """The file cannot be read as a matter list at all (not a spreadsheet, empty, too large)."""


# ---------------------------------------------------------------- the columns


@dataclass(frozen=True)
class Column:
    """One column of the matter list: its Chinese header, its type and how to fill it in."""

    key: str
    header: str
    en: str
    type: str  # code, line, text, int, kind, unit, bool, status, department, queue, …
    required: bool = False
    max_len: int = 0
    low: int = 0
    high: int = 0
    help: str = ""
    example: str = ""
    width: int = 14


KIND_VALUES = "、".join(MATTER_KINDS.values())
UNIT_VALUES = "、".join(LIMIT_UNITS.values())

COLUMNS: tuple[Column, ...] = (
    Column(
        "code",
        "事项编码",
        "matter code",
        "code",
        True,
        64,
        help="事项的唯一编码。再次导入时按编码更新已有事项；不能含空格和 / \\ ? # % 符号。",
        example="GA-001",
        width=14,
    ),
    Column("name", "事项名称", "name", "line", True, 200, example="居民身份证申领", width=26),
    Column(
        "department",
        "实施部门",
        "department",
        "department",
        True,
        help="部门名称或部门编码，必须是系统中已有的部门（见「部门与排队业务」表）。",
        example="区公安分局（户籍）",
        width=20,
    ),
    Column(
        "kind",
        "办件类型",
        "kind",
        "kind",
        True,
        help=f"{KIND_VALUES}之一。",
        example="承诺件",
        width=10,
    ),
    Column(
        "promised_days",
        "承诺时限",
        "promised time limit",
        "int",
        low=0,
        high=3650,
        help="承诺办结的天数（整数）；即办件填 0。留空为 0。",
        example="20",
        width=10,
    ),
    Column(
        "promised_unit",
        "承诺时限单位",
        "unit of the promised limit",
        "unit",
        help=f"{UNIT_VALUES}。留空为工作日。",
        example="工作日",
        width=12,
    ),
    Column(
        "statutory_days",
        "法定时限",
        "statutory time limit",
        "int",
        low=0,
        high=3650,
        help="法定办结的天数（整数）；没有法定时限填 0。单位相同时承诺时限不能超过法定时限。",
        example="60",
        width=10,
    ),
    Column(
        "statutory_unit",
        "法定时限单位",
        "unit of the statutory limit",
        "unit",
        help=f"{UNIT_VALUES}。留空为工作日。",
        example="工作日",
        width=12,
    ),
    Column(
        "legal_basis",
        "设定依据",
        "legal basis",
        "text",
        max_len=TEXT_MAX,
        example="《中华人民共和国居民身份证法》第八条",
        width=30,
    ),
    Column(
        "conditions",
        "受理条件",
        "conditions",
        "text",
        max_len=TEXT_MAX,
        example="本区户籍居民",
        width=30,
    ),
    Column(
        "process",
        "办理流程",
        "process",
        "text",
        max_len=TEXT_MAX,
        help="每个步骤写一行（单元格内换行：Excel 中按 Alt+Enter）。",
        example="取号\n窗口受理、采集人像\n审核\n领取证件",
        width=30,
    ),
    Column(
        "fee",
        "收费标准",
        "fee",
        "text",
        max_len=TEXT_MAX,
        help="不收费的填「不收费」或留空。",
        example="不收费",
        width=16,
    ),
    Column("fee_basis", "收费依据", "fee basis", "text", max_len=TEXT_MAX, width=20),
    Column(
        "place",
        "办理地点",
        "place",
        "text",
        max_len=TEXT_MAX,
        example="区政务服务中心一楼 3 号窗口",
        width=24,
    ),
    Column(
        "hours",
        "办理时间",
        "hours",
        "text",
        max_len=TEXT_MAX,
        example="周一至周五 9:00-17:00（法定节假日除外）",
        width=24,
    ),
    Column("phone", "咨询电话", "enquiry phone", "line", max_len=100, example="0571-12345678"),
    Column(
        "complaint",
        "投诉渠道",
        "complaint channel",
        "text",
        max_len=TEXT_MAX,
        example="12345 政务服务便民热线",
        width=20,
    ),
    Column(
        "result_document",
        "办理结果",
        "result document",
        "text",
        max_len=TEXT_MAX,
        example="居民身份证",
        width=16,
    ),
    Column(
        "visits",
        "到现场次数",
        "visits needed",
        "int",
        low=0,
        high=99,
        help="群众需要到现场的次数（整数）；全程网办填 0。留空为 1。",
        example="1",
        width=10,
    ),
    Column(
        "online",
        "网上办理",
        "online",
        "bool",
        help="是 或 否。留空为否。",
        example="否",
        width=10,
    ),
    Column(
        "appointment",
        "预约办理",
        "by appointment",
        "bool",
        help="是 或 否。留空为否。",
        example="是",
        width=10,
    ),
    Column(
        "faq",
        "常见问题",
        "FAQ",
        "faq",
        help="每个问题一行「问：」，接着一行「答：」，可以有多对；见下方说明。",
        example="问：身份证丢了怎么办？\n答：携带户口簿到户籍窗口申请补领。",
        width=36,
    ),
    Column(
        "materials",
        "申请材料",
        "materials",
        "materials",
        help="每种材料写一行；见下方说明。",
        example="居民户口簿｜必要｜原件｜1\n近期免冠照片｜非必要｜原件｜2｜现场采集的可不交",
        width=44,
    ),
    Column(
        "queue",
        "排队业务",
        "queue prefix",
        "queue",
        help="在本大厅取号时用的排队业务字母（如 B），须是本大厅已有的排队业务；"
        "留空表示该事项不能直接取号。",
        example="B",
        width=10,
    ),
    Column(
        "sort_order",
        "排序",
        "sort order",
        "int",
        low=-1_000_000,
        high=1_000_000,
        help="整数，小的排在前面。留空为 0。",
        example="1",
        width=8,
    ),
    Column(
        "active",
        "状态",
        "status",
        "status",
        help="在用 或 停用；停用的事项不再公开，历史记录保留。留空为在用。",
        example="在用",
        width=8,
    ),
)
BY_KEY = {c.key: c for c in COLUMNS}
REQUIRED = tuple(c for c in COLUMNS if c.required)
MULTILINE = {"text", "faq", "materials"}

# other headers halls use for the same columns in their own spreadsheets
HEADER_ALIASES = {
    "事项代码": "code",
    "编码": "code",
    "事项": "name",
    "部门": "department",
    "实施主体": "department",
    "实施机关": "department",
    "事项类型": "kind",
    "承诺办结时限": "promised_days",
    "法定办结时限": "statutory_days",
    "收费": "fee",
    "电话": "phone",
    "办理结果名称": "result_document",
    "是否网上办理": "online",
    "是否网办": "online",
    "是否预约办理": "appointment",
    "是否预约": "appointment",
    "常见问题解答": "faq",
    "材料": "materials",
    "申请材料清单": "materials",
    "排队业务前缀": "queue",
    "取号前缀": "queue",
    "排序号": "sort_order",
    "事项状态": "active",
}
IGNORED_HEADERS = {"序号"}  # a running number many hall spreadsheets start with


def _word(value: str) -> str:
    """A cell compared with a list of words: full-width folded, no spaces."""
    return "".join(unicodedata.normalize("NFKC", value).split()).upper()


def _words(words: dict[str, Any]) -> dict[str, Any]:
    """A table of accepted words keyed the way cells are compared."""
    return {_word(word): value for word, value in words.items()}


# what a cell may say, besides the canonical words the export writes
KIND_WORDS = _words(
    {label: key for key, label in MATTER_KINDS.items()} | {k: k for k in MATTER_KINDS}
)
UNIT_WORDS = _words(
    {label: key for key, label in LIMIT_UNITS.items()} | {k: k for k in LIMIT_UNITS}
)
YES_NO = _words(
    {
        "是": True,
        "否": False,
        "可": True,
        "不可": False,
        "Y": True,
        "N": False,
        "YES": True,
        "NO": False,
        "TRUE": True,
        "FALSE": False,
        "1": True,
        "0": False,
    }
)
STATUS_WORDS = _words({"在用": True, "启用": True, "停用": False})
REQUIRED_WORDS = _words(
    {
        "必要": True,
        "必需": True,
        "必须": True,
        "必交": True,
        "是": True,
        "非必要": False,
        "非必需": False,
        "容缺": False,
        "可选": False,
        "否": False,
    }
)
FORM_WORDS = _words(
    {label: key for key, label in MATERIAL_FORMS.items()}
    | {
        "原件和复印件": "both",
        "原件、复印件": "both",
        "原件+复印件": "both",
        "原件/复印件": "both",
        "电子版": "electronic",
        "电子件": "electronic",
        "电子证照": "electronic",
    }
)
FORM_VALUES = "、".join(MATERIAL_FORMS.values())

MATERIAL_SEPARATOR = re.compile(r"[｜|]")
FAQ_MARK = re.compile(r"^(问题|问|回答|答复|答)\s*[:：]\s*")
CODE_FORBIDDEN = re.compile(r"[\s/\\?#%]")
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
FORMULA_START = ("=", "+", "-", "@")
NUMBER = re.compile(r"[+-]?\d+(\.\d+)?")
INTEGER = re.compile(r"[+-]?\d+")

DEFAULTS: dict[str, Any] = {
    "promised_days": 0,
    "promised_unit": "working",
    "statutory_days": 0,
    "statutory_unit": "working",
    "legal_basis": "",
    "conditions": "",
    "process": "",
    "fee": "",
    "fee_basis": "",
    "place": "",
    "hours": "",
    "phone": "",
    "complaint": "",
    "result_document": "",
    "visits": 1,
    "online": False,
    "appointment": False,
    "faq": (),
    "materials": (),
    "queue": "",
    "sort_order": 0,
    "active": True,
}


# ---------------------------------------------------------------- reports


@dataclass
class Problem:
    """One problem of an import: the row (None: the whole file), the column and the reason."""

    row: int | None
    column: str
    zh: str
    en: str

    def __str__(self) -> str:
        where = f"第 {self.row} 行 / row {self.row}" if self.row else "文件 / file"
        column = f" [{self.column}]" if self.column else ""
        return f"{where}{column}: {self.zh} / {self.en}"


@dataclass
class Change:
    """What the import does with one row: create, update (with the columns) or nothing."""

    row: int
    code: str
    name: str
    action: str  # create, update, unchanged
    columns: list[str] = field(default_factory=list)


@dataclass
class ImportReport:
    """The outcome of an import: counts, the row changes, or the problems (nothing written)."""

    format: str = ""
    filename: str = ""
    dry_run: bool = False
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """True when the file had no problem (and, unless a dry run, was imported)."""
        return not self.problems

    @property
    def applied(self) -> bool:
        """True when the catalogue was written."""
        return self.ok and not self.dry_run

    def summary(self) -> tuple[str, str]:
        """The counts in words, Chinese and English."""
        zh = f"新增 {self.created} 项，更新 {self.updated} 项，未变 {self.unchanged} 项"
        en = f"{self.created} created, {self.updated} updated, {self.unchanged} unchanged"
        return zh, en


@dataclass
class Table:
    """A spreadsheet read into memory: the header cells and the data rows with their numbers."""

    format: str
    headers: list[Any]
    rows: list[tuple[int, list[Any]]]


# ---------------------------------------------------------------- cell values


def _clean(value: str) -> str:
    """Text as the catalogue keeps it: LF line breaks, no control characters, no outer spaces."""
    value = value.replace("\r\n", "\n").replace("\r", "\n")
    value = CONTROL.sub("", value)
    return "\n".join(line.rstrip() for line in value.split("\n")).strip()


def _line(value: str) -> str:
    """Single-line text: every run of spaces and line breaks becomes one space."""
    return " ".join(CONTROL.sub("", value).split())


def _field(value: str) -> str:
    """A field of a material line: single-line, without the field separator."""
    return _line(MATERIAL_SEPARATOR.sub("/", value or ""))


def _as_text(value: Any) -> str:
    """The text of a raw cell (openpyxl gives numbers, dates and booleans as such)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time(0) else value.isoformat(" ")
    if isinstance(value, date | time):
        return value.isoformat()
    return str(value)


class CellError(Exception):
    """A cell that cannot be taken, with the reason in Chinese (zh) and English (en)."""

    def __init__(self, zh: str, en: str) -> None:
        super().__init__(en)
        self.zh = zh
        self.en = en


def _shown(text: str, limit: int = 30) -> str:
    """A cell's text quoted in a message, shortened."""
    text = _line(text)
    return text if len(text) <= limit else text[:limit] + "…"


def _check_length(text: str, limit: int) -> str:
    if limit and len(text) > limit:
        raise CellError(
            f"不能超过 {limit} 个字（现有 {len(text)} 个字）",
            f"is limited to {limit} characters (has {len(text)})",
        )
    return text


def _parse_int(raw: Any, column: Column) -> int:
    if isinstance(raw, bool):
        raise CellError("应为整数", "must be a whole number")
    if isinstance(raw, int):
        number = raw
    elif isinstance(raw, float) and raw.is_integer():
        number = int(raw)
    else:
        text = _word(_as_text(raw))
        for suffix in ("天", "日", "次", "个工作日", "个自然日", "工作日", "自然日"):
            if text.endswith(suffix) and INTEGER.fullmatch(text[: -len(suffix)]):
                raise CellError(
                    f"「{_shown(text)}」应只填数字（单位另填）",
                    f'"{_shown(text)}": give the number only (the unit has its own column)',
                )
        if not INTEGER.fullmatch(text):
            raise CellError(
                f"「{_shown(_as_text(raw))}」不是整数",
                f'"{_shown(_as_text(raw))}" is not a whole number',
            )
        number = int(text)
    if not column.low <= number <= column.high:
        raise CellError(
            f"应在 {column.low} 到 {column.high} 之间（现为 {number}）",
            f"must be from {column.low} to {column.high} (is {number})",
        )
    return number


def _parse_choice(raw: Any, words: dict[str, Any], allowed: str, allowed_en: str) -> Any:
    text = _as_text(raw)
    key = _word(text)
    if key in words:
        return words[key]
    raise CellError(
        f"「{_shown(text)}」无效，应为：{allowed}",
        f'"{_shown(text)}" is not valid; use one of: {allowed_en}',
    )


def parse_materials(text: str) -> tuple[tuple, ...]:
    """Read the 申请材料 cell: one material a line, fields separated by ｜ (or |).

    Returns (name, required, form, copies, notes, blank_form, sample) tuples; raises
    CellError naming the line. The manager pages may reuse it for a materials text box.
    """
    items = []
    lines = [line.strip() for line in text.split("\n")]
    for number, line in enumerate(lines, 1):
        if not line:
            continue
        parts = [_line(part) for part in MATERIAL_SEPARATOR.split(line)]
        where_zh, where_en = (
            f"第 {number} 行材料「{_shown(parts[0], 20)}」",
            f"material line {number}",
        )
        if len(parts) > 7:
            raise CellError(
                f"{where_zh}有 {len(parts)} 项，最多 7 项：名称｜必要/非必要｜形式｜份数｜备注｜"
                "空白表格｜示例样表",
                f"{where_en} has {len(parts)} fields, at most 7: name|required|form|copies|"
                "notes|blank form|sample",
            )
        parts += [""] * (7 - len(parts))
        name, required, form, copies, notes, blank_form, sample = parts
        if not name:
            raise CellError(f"第 {number} 行材料没有名称", f"material line {number} has no name")
        try:
            required_value = (
                _parse_choice(required, REQUIRED_WORDS, "必要、非必要", "必要 (required), 非必要")
                if required
                else True
            )
            form_value = (
                _parse_choice(form, FORM_WORDS, FORM_VALUES, "原件, 复印件, 原件及复印件, 电子材料")
                if form
                else "original"
            )
            copies_text = _word(copies).removesuffix("份")
            if not copies_text:
                copies_value = 1
            elif INTEGER.fullmatch(copies_text) and 0 <= int(copies_text) <= 99:
                copies_value = int(copies_text)
            else:
                raise CellError(
                    f"份数「{_shown(copies)}」应为 0 到 99 的整数",
                    f'copies "{_shown(copies)}" must be a whole number from 0 to 99',
                )
            for value, limit, zh, en in (
                (name, 300, "名称", "the name"),
                (notes, 1000, "备注", "the notes"),
                (blank_form, 300, "空白表格", "the blank form"),
                (sample, 300, "示例样表", "the sample"),
            ):
                if len(value) > limit:
                    raise CellError(
                        f"{zh}不能超过 {limit} 个字", f"{en} is limited to {limit} characters"
                    )
        except CellError as bad:
            raise CellError(f"{where_zh}：{bad.zh}", f"{where_en}: {bad.en}") from None
        items.append((name, required_value, form_value, copies_value, notes, blank_form, sample))
    if len(items) > MAX_MATERIALS:
        raise CellError(
            f"材料不能超过 {MAX_MATERIALS} 种（现有 {len(items)} 种）",
            f"at most {MAX_MATERIALS} materials (has {len(items)})",
        )
    return tuple(items)


def material_line(item: Sequence) -> str:
    """One material as its line of the 申请材料 cell (trailing empty fields left out)."""
    name, required, form, copies, notes, blank_form, sample = item
    parts = [
        name,
        "必要" if required else "非必要",
        MATERIAL_FORMS.get(form, form),
        str(copies),
        notes,
        blank_form,
        sample,
    ]
    while len(parts) > 4 and not parts[-1]:
        parts.pop()
    return "｜".join(parts)


def parse_faq(text: str) -> tuple[tuple[str, str], ...]:
    """Read the 常见问题 cell: 「问：」 lines each followed by 「答：」 lines."""
    pairs: list[list[str]] = []
    part = ""  # which part the current line continues: "问", "答" or "" before the first
    buffer: list[str] = []

    def close() -> None:
        if part:
            pairs[-1][0 if part == "问" else 1] = "\n".join(buffer).strip()

    for number, line in enumerate(text.split("\n"), 1):
        mark = FAQ_MARK.match(line.strip())
        if mark is None:
            if not part:
                if line.strip():
                    raise CellError(
                        f"第 {number} 行应以「问：」开始",
                        f'line {number} must start with "问：" (question)',
                    )
                continue
            buffer.append(line.rstrip())
            continue
        word = "问" if mark.group(1).startswith("问") else "答"
        if word == "答" and part != "问":
            raise CellError(
                f"第 {number} 行的「答：」前面没有「问：」",
                f'line {number}: "答：" (answer) without a question before it',
            )
        if word == "问" and part == "问":
            raise CellError(
                f"第 {number} 行前的问题没有「答：」",
                f'the question before line {number} has no "答：" (answer)',
            )
        close()
        if word == "问":
            pairs.append(["", ""])
        part, buffer = word, [line.strip()[mark.end() :]]
    if part == "问":
        raise CellError("最后一个问题没有「答：」", 'the last question has no "答：" (answer)')
    close()
    for index, (question, answer) in enumerate(pairs, 1):
        if not question or not answer:
            raise CellError(
                f"第 {index} 个问题的{'问题' if not question else '回答'}是空的",
                f"question {index} has an empty {'question' if not question else 'answer'}",
            )
        if len(question) > 500 or len(answer) > 5000:
            raise CellError(
                f"第 {index} 个问题过长（问题最多 500 字，回答最多 5000 字）",
                f"question {index} is too long (500 characters, answers 5000)",
            )
    if len(pairs) > MAX_FAQ:
        raise CellError(f"常见问题不能超过 {MAX_FAQ} 个", f"at most {MAX_FAQ} questions")
    return tuple((q, a) for q, a in pairs)


def faq_text(pairs: Iterable[tuple[str, str]]) -> str:
    """The FAQ as the text of its cell."""
    return "\n".join(f"问：{q}\n答：{a}" for q, a in pairs)


# ---------------------------------------------------------------- the catalogue as cells


def _faq_view(faq: Any) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in faq if isinstance(faq, list) else []:
        if isinstance(item, dict):
            q, a = _clean(str(item.get("q") or "")), _clean(str(item.get("a") or ""))
            if q or a:
                pairs.append((q, a))
    return tuple(pairs)


MATERIAL_COLUMNS = ("name", "required", "form", "copies", "notes", "blank_form", "sample")


def _material_views(session: Session) -> dict[int, tuple[tuple, ...]]:
    """Every matter's materials as the file shows them, by matter id (one query).

    Plain rows, not ORM objects: a large catalogue's materials stay out of the session.
    """
    rows = session.execute(
        sa.select(Material.matter_id, *(getattr(Material, c) for c in MATERIAL_COLUMNS)).order_by(
            Material.matter_id, Material.position, Material.id
        )
    )
    found: dict[int, list[tuple]] = {}
    for matter_id, name, required, form, copies, notes, blank_form, sample in rows:
        found.setdefault(matter_id, []).append(
            (
                _field(name),
                bool(required),
                form,
                copies,
                _field(notes),
                _field(blank_form),
                _field(sample),
            )
        )
    return {matter_id: tuple(items) for matter_id, items in found.items()}


def _view(matter: Matter, materials: tuple[tuple, ...]) -> dict[str, Any]:
    """A matter as the file shows it: the values an import compares with the cells."""
    values: dict[str, Any] = {
        "code": matter.code,
        "name": _line(matter.name),
        "department": matter.department_id,
        "kind": matter.kind,
        "queue": matter.queue.prefix.upper() if matter.queue else "",
        "faq": _faq_view(matter.faq),
        "materials": materials,
    }
    for column in COLUMNS:
        if column.key in values:
            continue
        value = getattr(matter, column.key)
        if column.type == "text":
            value = _clean(value or "")
        elif column.type == "line":
            value = _line(value or "")
        values[column.key] = value
    return values


class _Departments:
    """Every department, found by code or by name (preloaded with one query)."""

    def __init__(self, session: Session) -> None:
        self.all = list(
            session.scalars(sa.select(Department).order_by(Department.sort_order, Department.code))
        )
        self.by_id = {d.id: d for d in self.all}
        self.by_code = {_word(d.code): d for d in self.all}
        self.by_name: dict[str, list[Department]] = {}
        for department in self.all:
            self.by_name.setdefault(_word(department.name), []).append(department)

    def label(self, department_id: int) -> str:
        """What the export writes: the name, or the code where the name is not unique."""
        department = self.by_id[department_id]
        key = _word(department.name)
        if len(self.by_name[key]) == 1 and self.by_code.get(key, department) is department:
            return _line(department.name)
        return department.code

    def find(self, text: str) -> Department:
        key = _word(text)
        if key in self.by_code:
            return self.by_code[key]
        found = self.by_name.get(key, [])
        if len(found) == 1:
            return found[0]
        if found:
            codes = "、".join(d.code for d in found)
            raise CellError(
                f"有 {len(found)} 个部门名为「{_shown(text)}」，请改填部门编码：{codes}",
                f'{len(found)} departments are named "{_shown(text)}"; give the code: {codes}',
            )
        known = [f"{d.name}（{d.code}）" for d in self.all[:30]]
        more = f"等 {len(self.all)} 个" if len(self.all) > 30 else ""
        known_en = ", ".join(f"{d.name} ({d.code})" for d in self.all[:30])
        if not self.all:
            raise CellError(
                f"没有部门「{_shown(text)}」；系统中还没有部门，请先添加部门",
                f'no department "{_shown(text)}"; there is no department yet, add them first',
            )
        raise CellError(
            f"没有部门「{_shown(text)}」；已有部门：{'、'.join(known)}{more}",
            f'no department "{_shown(text)}"; known departments: {known_en}',
        )


class _Queues:
    """The queues of the hall the file is imported for, by prefix (one query)."""

    def __init__(self, session: Session, hall: Hall | None) -> None:
        self.hall = hall
        self.by_prefix: dict[str, Queue] = {}
        if hall is not None:
            for queue in session.scalars(
                sa.select(Queue).where(Queue.hall_id == hall.id).order_by(Queue.prefix)
            ):
                self.by_prefix[queue.prefix.upper()] = queue

    def find(self, prefix: str) -> Queue:
        if self.hall is None:
            raise CellError(
                f"有多个大厅，无法确定排队业务「{prefix}」属于哪个大厅；请先选择大厅"
                "（命令行用 --hall）",
                f'several halls exist; choose the hall of queue "{prefix}" (--hall on the '
                "command line)",
            )
        if prefix in self.by_prefix:
            return self.by_prefix[prefix]
        known = "、".join(f"{q.prefix} {q.name}" for q in self.by_prefix.values()) or "（无）"
        known_en = ", ".join(f"{q.prefix} {q.name}" for q in self.by_prefix.values()) or "none"
        raise CellError(
            f"{self.hall.name}没有排队业务「{_shown(prefix)}」；已有：{known}",
            f'{self.hall.code} has no queue "{_shown(prefix)}"; its queues: {known_en}',
        )


def resolve_hall(session: Session, code: str | None) -> Hall | None:
    """The hall named by code; without a code, the only hall (None when there are several)."""
    if code:
        return get_hall(session, code)
    halls = list(session.scalars(sa.select(Hall).order_by(Hall.id).limit(2)))
    return halls[0] if len(halls) == 1 else None


# ---------------------------------------------------------------- reading files


def read_table(data: bytes, filename: str = "", *, progress: Progress | None = None) -> Table:
    """Read an uploaded .xlsx or .csv into rows; CatalogFileError when it is not one.

    The content decides the format where it can (an .xlsx is a zip archive); otherwise the
    name's extension does.
    """
    name = (filename or "").lower()
    if not data:
        raise CatalogFileError("empty_file", "文件是空的", "The file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise file_too_large(len(data))
    if data.startswith(b"\xd0\xcf\x11\xe0") or name.endswith(".xls"):
        raise CatalogFileError(
            "old_excel",
            "不支持旧版 Excel（.xls）文件，请在 Excel 中「另存为」.xlsx 格式后再导入",
            "Old Excel (.xls) files are not supported; save the file as .xlsx and try again",
        )
    if data.startswith(b"PK\x03\x04"):
        table = _read_xlsx(data, progress)
    elif name.endswith((".xlsx", ".xlsm")):
        raise _not_xlsx()
    elif name.endswith((".csv", ".txt")) or not name or "." not in name:
        table = _read_csv(data)
    else:
        raise CatalogFileError(
            "unsupported_file",
            "只能导入 .xlsx 或 .csv 文件",
            "Only .xlsx and .csv files can be imported",
        )
    if not any(_as_text(cell).strip() for cell in table.headers):
        raise CatalogFileError(
            "no_header",
            "文件是空的：第 1 行应为表头（事项编码、事项名称……）",
            "The file is empty: row 1 must hold the headers (事项编码, 事项名称…)",
        )
    return table


def file_too_large(size: int) -> CatalogFileError:
    """The error for a file over MAX_FILE_BYTES."""
    mb, limit = -(-size // 1024 // 1024), MAX_FILE_BYTES // 1024 // 1024
    return CatalogFileError(
        "file_too_large",
        f"文件太大（约 {mb} MB），最大 {limit} MB",
        f"The file is too large (about {mb} MB); the limit is {limit} MB",
    )


def _not_xlsx() -> CatalogFileError:
    return CatalogFileError(
        "not_xlsx",
        "文件不是有效的 Excel（.xlsx）文件，可能已损坏",
        "The file is not a valid Excel (.xlsx) workbook; it may be damaged",
    )


def _too_many_rows() -> CatalogFileError:
    return CatalogFileError(
        "too_many_rows",
        f"文件行数过多：一次最多导入 {MAX_ROWS} 个事项",
        f"Too many rows: at most {MAX_ROWS} matters can be imported at once",
    )


def _read_xlsx(data: bytes, progress: Progress | None) -> Table:
    import openpyxl

    buffer = io.BytesIO(data)
    try:
        with zipfile.ZipFile(buffer) as archive:
            parts = archive.infolist()
            names = {part.filename for part in parts}
    except (zipfile.BadZipFile, OSError, ValueError) as err:
        raise _not_xlsx() from err
    if "[Content_Types].xml" not in names:
        raise _not_xlsx()
    if sum(part.file_size for part in parts) > MAX_UNPACKED_BYTES:
        raise CatalogFileError(
            "file_too_large",
            "表格内容过大，无法导入",
            "The workbook unpacks too large to import",
        )
    with warnings.catch_warnings():
        # openpyxl warns about features it drops (data validation extensions, styles)
        warnings.simplefilter("ignore")
        try:
            book = openpyxl.load_workbook(buffer, read_only=True, data_only=True)
        except Exception as err:  # a damaged workbook fails in many ways inside openpyxl
            raise _not_xlsx() from err
        try:
            return _read_sheet(book, progress)
        except CatalogFileError:
            raise
        except Exception as err:  # rows are parsed lazily, so damage can show up here too
            raise _not_xlsx() from err
        finally:
            book.close()


def _read_sheet(book, progress: Progress | None) -> Table:
    sheets = [s for s in book.worksheets if hasattr(s, "iter_rows")]
    sheet = next((s for s in sheets if s.title.strip() == DATA_SHEET), None)
    if sheet is None:
        sheet = next((s for s in sheets if s.title not in (HELP_SHEET, LOOKUP_SHEET)), None)
    if sheet is None:
        raise CatalogFileError(
            "no_sheet", f"找不到「{DATA_SHEET}」工作表", f'No "{DATA_SHEET}" worksheet found'
        )
    first = next(sheet.iter_rows(min_row=1, max_row=1, max_col=MAX_COLUMNS, values_only=True), ())
    headers = list(first)
    while headers and _as_text(headers[-1]).strip() == "":
        headers.pop()
    if not headers:
        return Table("xlsx", [], [])
    total = sheet.max_row or 0
    rows: list[tuple[int, list[Any]]] = []
    for number, values in enumerate(
        sheet.iter_rows(min_row=2, max_col=len(headers), values_only=True), 2
    ):
        if number > MAX_SHEET_ROWS:
            raise _too_many_rows()
        cells = list(values)
        if any(cell is not None and _as_text(cell).strip() for cell in cells):
            rows.append((number, cells))
            if len(rows) > MAX_ROWS:
                raise _too_many_rows()
        if progress and number % PROGRESS_EVERY == 0 and total:
            progress("read", min(number, total), total)
    if progress and total:
        progress("read", total, total)
    return Table("xlsx", headers, rows)


def decode_csv(data: bytes) -> str:
    """CSV bytes as text: UTF-8 with or without BOM, UTF-16 with BOM, else GBK/GB18030."""
    if data.startswith(codecs.BOM_UTF8):
        encodings = ["utf-8-sig"]
    elif data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        encodings = ["utf-16"]
    else:
        encodings = ["utf-8", "gb18030"]  # Excel on Chinese Windows saves CSV as GBK
    for encoding in encodings:
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise CatalogFileError(
        "bad_encoding",
        "无法识别 CSV 文件的编码，请另存为「CSV UTF-8」或 GBK 编码",
        "Unknown text encoding; save the CSV as UTF-8 or GBK",
    )


def _read_csv(data: bytes) -> Table:
    text = decode_csv(data)
    if "\x00" in text:
        raise CatalogFileError(
            "not_csv",
            "文件不是 CSV 文本文件，请上传 .xlsx 或 .csv",
            "The file is not a CSV text file; upload .xlsx or .csv",
        )
    first_line = text.split("\n", 1)[0]
    delimiter = max((",", "\t", ";"), key=first_line.count)
    if not first_line.count(delimiter):
        delimiter = ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    headers: list[Any] = []
    rows: list[tuple[int, list[Any]]] = []
    try:
        for number, record in enumerate(reader, 1):
            if number > MAX_SHEET_ROWS:
                raise _too_many_rows()
            cells = [_csv_unescape(cell) for cell in record]
            if number == 1:
                headers = cells
                while headers and not headers[-1].strip():
                    headers.pop()
                headers = headers[:MAX_COLUMNS]
            elif any(cell.strip() for cell in cells):
                rows.append((number, cells))
                if len(rows) > MAX_ROWS:
                    raise _too_many_rows()
    except csv.Error as err:
        raise CatalogFileError(
            "bad_csv",
            f"CSV 文件第 {reader.line_num} 行格式有误（{err}）",
            f"The CSV file is malformed at line {reader.line_num} ({err})",
        ) from err
    return Table("csv", headers, rows)


def _csv_escape(value: str) -> str:
    """Keep Excel from running a cell as a formula: prefix a quote (not for plain numbers)."""
    if value.startswith(FORMULA_START + ("'",)) and not NUMBER.fullmatch(value):
        return "'" + value
    return value


def _csv_unescape(value: str) -> str:
    if value.startswith("'") and value[1:2] and value[1] in "=+-@'":
        return value[1:]
    return value


# ---------------------------------------------------------------- import


@dataclass
class _Row:
    number: int
    values: dict[str, Any]
    matter: Matter | None = None
    view: dict[str, Any] | None = None  # the matter as the file would show it


def _header_key(text: str) -> str:
    word = "".join(unicodedata.normalize("NFKC", text).split())
    word = word.replace("(必填)", "").rstrip("*")
    word = re.sub(r"\([^()]*\)$", "", word)  # a hint after the name: 办件类型(即办件/…)
    return word


HEADER_KEYS = {_header_key(c.header): c.key for c in COLUMNS} | {
    _header_key(alias): key for alias, key in HEADER_ALIASES.items()
}


def _map_headers(headers: list[Any], problems: list[Problem]) -> dict[int, Column]:
    """Which column each header cell is; problems for unknown, repeated or missing headers."""
    mapping: dict[int, Column] = {}
    seen: dict[str, int] = {}
    for index, cell in enumerate(headers):
        text = _line(_as_text(cell))
        key = HEADER_KEYS.get(_header_key(text))
        if not text or _header_key(text) in IGNORED_HEADERS:
            continue
        if key is None:
            problems.append(
                Problem(
                    1,
                    text,
                    f"不认识的列名「{_shown(text)}」；可用的列名：{'、'.join(c.header for c in COLUMNS)}",
                    f'unknown column "{_shown(text)}"; the columns are: '
                    + ", ".join(f"{c.header} ({c.en})" for c in COLUMNS),
                )
            )
            continue
        column = BY_KEY[key]
        if key in seen:
            problems.append(
                Problem(
                    1,
                    column.header,
                    f"「{column.header}」列出现了两次（第 {seen[key] + 1} 列和第 {index + 1} 列）",
                    f"the column {column.header} ({column.en}) appears twice "
                    f"(columns {seen[key] + 1} and {index + 1})",
                )
            )
            continue
        seen[key] = index
        mapping[index] = column
    for column in REQUIRED:
        if column.key not in seen:
            problems.append(
                Problem(
                    1,
                    column.header,
                    f"缺少必填的列「{column.header}」",
                    f"the required column {column.header} ({column.en}) is missing",
                )
            )
    return mapping


def _parse_cell(raw: Any, column: Column, departments: _Departments) -> Any:
    """One cell's value as the catalogue keeps it; raises CellError with the reason."""
    kind = column.type
    if kind in ("int", "bool", "status") and not isinstance(raw, bool | int | float):
        raw = _as_text(raw)
        if not raw.strip():
            return DEFAULTS[column.key]
    if kind == "int":
        return _parse_int(raw, column)
    if kind == "bool":
        if isinstance(raw, bool):
            return raw
        return _parse_choice(raw, YES_NO, "是、否", "是 (yes), 否 (no)")
    if kind == "status":
        return _parse_choice(raw, STATUS_WORDS, "在用、停用", "在用 (in use), 停用 (retired)")
    text = _as_text(raw)
    if kind == "text":
        return _check_length(_clean(text), column.max_len)
    if kind == "faq":
        return parse_faq(_clean(text))
    if kind == "materials":
        return parse_materials(_clean(text))
    text = _line(text)
    if not text:
        if column.required:
            raise CellError("必填，不能为空", "is required and must not be empty")
        return DEFAULTS[column.key]
    if kind == "code":
        if CODE_FORBIDDEN.search(text):
            raise CellError(
                f"「{_shown(text)}」含有空格或 / \\ ? # % 等符号",
                f'"{_shown(text)}" contains a space or one of / \\ ? # %',
            )
        return _check_length(text, column.max_len)
    if kind == "line":
        return _check_length(text, column.max_len)
    if kind == "kind":
        return _parse_choice(text, KIND_WORDS, KIND_VALUES, "即办件, 承诺件, 联办件, 上报件")
    if kind == "unit":
        return _parse_choice(
            text, UNIT_WORDS, UNIT_VALUES, "工作日 (working days), 自然日 (natural days)"
        )
    if kind == "department":
        return departments.find(text).id
    if kind == "queue":
        prefix = _word(text)
        if len(prefix) > 4:
            raise CellError(
                f"「{_shown(text)}」不是排队业务的字母前缀（如 A、B）",
                f'"{_shown(text)}" is not a queue prefix (A, B…)',
            )
        return prefix
    raise AssertionError(kind)


def _check_row(
    number: int,
    cells: list[Any],
    mapping: dict[int, Column],
    departments: _Departments,
    problems: list[Problem],
) -> dict[str, Any] | None:
    """The values of one row, or None after adding its problems."""
    values: dict[str, Any] = {}
    bad = False
    for index, column in mapping.items():
        raw = cells[index] if index < len(cells) else None
        try:
            values[column.key] = _parse_cell(raw, column, departments)
        except CellError as err:
            problems.append(Problem(number, column.header, err.zh, err.en))
            bad = True
    promised, statutory = values.get("promised_days"), values.get("statutory_days")
    if (
        promised
        and statutory
        and values.get("promised_unit", "working") == values.get("statutory_unit", "working")
        and promised > statutory
    ):
        problems.append(
            Problem(
                number,
                BY_KEY["promised_days"].header,
                f"承诺时限（{promised}）不能超过法定时限（{statutory}）",
                f"the promised limit ({promised}) may not exceed the statutory one ({statutory})",
            )
        )
        bad = True
    return None if bad else values


def import_catalog(
    session: Session,
    table: Table,
    *,
    hall: Hall | None = None,
    user_id: int | None = None,
    filename: str = "",
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportReport:
    """Check every row of the matter list and, when all are right, create or update matters.

    Matters are matched by code (事项编码): a matter of the file that exists is updated to
    match the row (its materials replaced), one that does not is created; matters missing from
    the file are left as they are (retire them with 状态 停用). A column missing from the file
    leaves that field of existing matters alone. The queue prefix (排队业务) is looked up among
    `hall`'s queues; a matter whose queue already has that prefix keeps it. With problems,
    or with `dry_run`, nothing is written. Every change sets the matter's `updated_at`.
    """
    report = ImportReport(format=table.format, filename=filename, dry_run=dry_run)
    problems = report.problems
    mapping = _map_headers(table.headers, problems)
    if problems:
        return report
    report.rows = len(table.rows)
    if not table.rows:
        problems.append(
            Problem(
                None, "", "文件中没有事项（表头下面没有数据行）", "The file holds no matter rows"
            )
        )
        return report

    departments = _Departments(session)
    queues = _Queues(session, hall)
    existing = {
        m.code: m for m in session.scalars(sa.select(Matter).options(joinedload(Matter.queue)))
    }
    materials = _material_views(session)

    rows: list[_Row] = []
    first_row: dict[str, int] = {}
    total = len(table.rows)
    for done, (number, cells) in enumerate(table.rows, 1):
        values = _check_row(number, cells, mapping, departments, problems)
        if progress and (done % PROGRESS_EVERY == 0 or done == total):
            progress("check", done, total)
        if values is None:
            continue
        code = values["code"]
        if code in first_row:
            problems.append(
                Problem(
                    number,
                    BY_KEY["code"].header,
                    f"事项编码「{code}」与第 {first_row[code]} 行重复",
                    f'the code "{code}" repeats row {first_row[code]}',
                )
            )
            continue
        first_row[code] = number
        matter = existing.get(code)
        view = _view(matter, materials.get(matter.id, ())) if matter else None
        row = _Row(number, values, matter, view)
        prefix = values.get("queue")
        if prefix and prefix != (row.view or {}).get("queue"):
            try:
                queues.find(prefix)
            except CellError as err:
                problems.append(Problem(number, BY_KEY["queue"].header, err.zh, err.en))
                continue
        rows.append(row)
    if problems:
        report.changes = []
        return report

    plans = []
    for row in rows:
        if row.matter is None:
            report.created += 1
            report.changes.append(
                Change(row.number, row.values["code"], row.values["name"], "create")
            )
            plans.append((row, list(row.values)))
            continue
        changed = [key for key, value in row.values.items() if row.view[key] != value]
        if changed:
            report.updated += 1
            report.changes.append(
                Change(
                    row.number,
                    row.values["code"],
                    row.values["name"],
                    "update",
                    [BY_KEY[key].header for key in changed],
                )
            )
            plans.append((row, changed))
        else:
            report.unchanged += 1
            report.changes.append(
                Change(row.number, row.values["code"], row.values["name"], "unchanged")
            )
    if dry_run:
        return report

    now = utcnow()
    replaced: list[tuple[Matter, tuple[tuple, ...]]] = []  # materials to write
    for done, (row, keys) in enumerate(plans, 1):
        matter = row.matter
        if matter is None:
            matter = Matter(code=row.values["code"])
            for key, value in DEFAULTS.items():
                if key not in row.values and key != "materials":
                    _assign(matter, key, value, departments, queues)
            session.add(matter)
        for key in keys:
            if key == "materials":
                replaced.append((matter, row.values[key]))
            elif key != "code":
                _assign(matter, key, row.values[key], departments, queues)
        matter.updated_at = now
        if progress and (done % PROGRESS_EVERY == 0 or done == len(plans)):
            progress("write", done, len(plans))
    _flush(session)  # new matters get their ids
    _replace_materials(session, replaced)
    session.add(
        AuditEvent(
            hall_id=hall.id if hall else None,
            user_id=user_id,
            action="catalog.import",
            detail=(
                f"{table.format} {_line(filename)[:120]} rows={report.rows} "
                f"created={report.created} updated={report.updated} "
                f"unchanged={report.unchanged}"
            )[:500],
            at=now,
        )
    )
    _flush(session)
    return report


def _assign(
    matter: Matter, key: str, value: Any, departments: _Departments, queues: _Queues
) -> None:
    """Set one field of a matter from its imported value."""
    if key == "department":
        matter.department = departments.by_id[value]
    elif key == "queue":
        matter.queue = queues.find(value) if value else None
    elif key == "faq":
        matter.faq = [{"q": q, "a": a} for q, a in value]
    elif key == "materials":
        raise AssertionError("materials are written by _replace_materials")
    else:
        setattr(matter, key, value)


def _replace_materials(session: Session, replaced: list[tuple[Matter, tuple[tuple, ...]]]) -> None:
    """Replace the materials of these (flushed) matters with two bulk statements.

    Set-based DELETE and INSERT instead of ORM objects keep a 2,000-row import fast; the
    matters' updated_at is set by the caller, and their loaded `materials` are expired.
    """
    old = [matter.id for matter, _items in replaced if matter.id is not None]
    new = [
        {"matter_id": matter.id, "position": position}
        | dict(zip(MATERIAL_COLUMNS, item, strict=True))
        for matter, items in replaced
        for position, item in enumerate(items)
    ]
    try:
        for start in range(0, len(old), 500):
            session.execute(
                sa.delete(Material)
                .where(Material.matter_id.in_(old[start : start + 500]))
                .execution_options(synchronize_session=False)
            )
        if new:
            session.execute(sa.insert(Material), new)
    except sa.exc.IntegrityError as err:
        raise _changed() from err
    for matter, _items in replaced:
        session.expire(matter, ["materials"])


def _changed() -> Conflict:
    return Conflict(
        "catalog_changed",
        "导入时事项目录被同时修改（例如另一次导入），请重新导入",
        "The catalogue changed during the import (another import?); import again",
    )


def _flush(session: Session) -> None:
    try:
        session.flush()
    except sa.exc.IntegrityError as err:
        raise _changed() from err


# ---------------------------------------------------------------- export and template


def _cells(view: dict[str, Any], departments: _Departments) -> list[Any]:
    """A matter's row: text, and whole numbers as numbers."""
    cells: list[Any] = []
    for column in COLUMNS:
        value = view[column.key]
        if column.type == "department":
            value = departments.label(value)
        elif column.type == "kind":
            value = MATTER_KINDS.get(value, value)
        elif column.type == "unit":
            value = LIMIT_UNITS.get(value, value)
        elif column.type == "bool":
            value = "是" if value else "否"
        elif column.type == "status":
            value = "在用" if value else "停用"
        elif column.type == "faq":
            value = faq_text(value)
        elif column.type == "materials":
            value = "\n".join(material_line(item) for item in value)
        cells.append(value)
    return cells


def catalogue_rows(session: Session) -> tuple[list[list[Any]], _Departments]:
    """Every matter as its row of the matter list, by department and sort order."""
    departments = _Departments(session)
    matters = session.scalars(
        sa.select(Matter)
        .join(Department, Department.id == Matter.department_id)
        .options(joinedload(Matter.queue))
        .order_by(Department.sort_order, Department.code, Matter.sort_order, Matter.code)
    )
    materials = _material_views(session)
    rows = [_cells(_view(m, materials.get(m.id, ())), departments) for m in matters]
    return rows, departments


def export_catalog(
    session: Session,
    fmt: str,
    *,
    hall: Hall | None = None,
    user_id: int | None = None,
    progress: Progress | None = None,
) -> bytes:
    """The whole catalogue as an .xlsx or .csv file (bytes); records the export (audit)."""
    fmt = _format(fmt)
    rows, departments = catalogue_rows(session)
    data = _write(session, fmt, rows, departments, hall, progress)
    session.add(
        AuditEvent(
            hall_id=hall.id if hall else None,
            user_id=user_id,
            action="catalog.export",
            detail=f"{fmt} matters={len(rows)}",
            at=utcnow(),
        )
    )
    session.flush()
    return data


def template(session: Session, fmt: str, *, hall: Hall | None = None) -> bytes:
    """An empty matter list to fill in: the headers, and in .xlsx the 填写说明 sheet."""
    fmt = _format(fmt)
    return _write(session, fmt, [], _Departments(session), hall, None)


def _format(fmt: str) -> str:
    fmt = (fmt or "").lower().lstrip(".")
    if fmt not in FORMATS:
        raise Invalid(
            "bad_format",
            "文件格式只能是 .xlsx 或 .csv",
            "The file format must be .xlsx or .csv",
        )
    return fmt


def format_of(filename: str) -> str:
    """The format named by a file's extension (.xlsx or .csv)."""
    suffix = filename.rsplit(".", 1)[-1] if "." in filename else ""
    return _format(suffix)


def _write(
    session: Session,
    fmt: str,
    rows: list[list[Any]],
    departments: _Departments,
    hall: Hall | None,
    progress: Progress | None,
) -> bytes:
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\r\n")
        writer.writerow([c.header for c in COLUMNS])
        for done, row in enumerate(rows, 1):
            writer.writerow([_csv_escape(_as_text(value)) for value in row])
            if progress and (done % PROGRESS_EVERY == 0 or done == len(rows)):
                progress("write", done, len(rows))
        # with a BOM, Excel opens UTF-8 CSV files correctly
        return buffer.getvalue().encode("utf-8-sig")
    return _write_xlsx(session, rows, departments, hall, progress)


def _write_xlsx(
    session: Session,
    rows: list[list[Any]],
    departments: _Departments,
    hall: Hall | None,
    progress: Progress | None,
) -> bytes:
    from openpyxl import Workbook
    from openpyxl.comments import Comment
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter, quote_sheetname
    from openpyxl.worksheet.datavalidation import DataValidation

    book = Workbook()
    sheet = book.active
    sheet.title = DATA_SHEET
    bold = Font(bold=True)
    required_font = Font(bold=True, color="B91C1C")
    fill = PatternFill("solid", fgColor="E5EDF7")
    wrap = Alignment(wrap_text=True, vertical="top")
    top = Alignment(vertical="top")
    letters = {c.key: get_column_letter(i) for i, c in enumerate(COLUMNS, 1)}

    for index, column in enumerate(COLUMNS, 1):
        cell = sheet.cell(row=1, column=index, value=column.header)
        cell.font = required_font if column.required else bold
        cell.fill = fill
        hint = ("必填。" if column.required else "") + column.help
        if hint:
            cell.comment = Comment(hint, "hall")
        dimension = sheet.column_dimensions[letters[column.key]]
        dimension.width = column.width
        if column.type in ("code", "line", "queue"):
            dimension.number_format = "@"  # Excel keeps 001 as typed, not as 1
    sheet.freeze_panes = "C2"

    wrapped = {i for i, c in enumerate(COLUMNS) if c.type in MULTILINE}
    for number, row in enumerate(rows, 2):
        for index, value in enumerate(row):
            cell = sheet.cell(row=number, column=index + 1, value=value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # text, never a formula
            cell.alignment = wrap if index in wrapped else top
        if progress and (number - 1) % PROGRESS_EVERY == 0:
            progress("write", number - 1, len(rows))
    if progress and rows:
        progress("write", len(rows), len(rows))

    def choose(key: str, formula: str, strict: bool = True) -> None:
        rule = DataValidation(type="list", formula1=formula, allow_blank=True)
        rule.errorStyle = "stop" if strict else "warning"
        rule.error = f"请从下拉列表中选择：{BY_KEY[key].help}"
        rule.errorTitle = BY_KEY[key].header
        rule.showErrorMessage = True
        rule.add(f"{letters[key]}2:{letters[key]}{max(len(rows) + 1000, 2000)}")
        sheet.add_data_validation(rule)

    choose("kind", '"' + ",".join(MATTER_KINDS.values()) + '"')
    choose("promised_unit", '"' + ",".join(LIMIT_UNITS.values()) + '"')
    choose("statutory_unit", '"' + ",".join(LIMIT_UNITS.values()) + '"')
    choose("online", '"是,否"')
    choose("appointment", '"是,否"')
    choose("active", '"在用,停用"')

    _write_help(book.create_sheet(HELP_SHEET), hall)
    queue_rows = _queue_rows(session, hall)
    lookup = book.create_sheet(LOOKUP_SHEET)
    lookup.append(["部门编码", "部门名称", "", "排队业务", "名称", "大厅"])
    for cell in lookup[1]:
        cell.font = bold
    for index, department in enumerate(departments.all, 2):
        lookup.cell(row=index, column=1, value=department.code)
        lookup.cell(row=index, column=2, value=_line(department.name))
    for index, (prefix, name, hall_name) in enumerate(queue_rows, 2):
        lookup.cell(row=index, column=4, value=prefix)
        lookup.cell(row=index, column=5, value=name)
        lookup.cell(row=index, column=6, value=hall_name)
    for letter, width in zip("ABCDEF", (14, 28, 4, 10, 16, 24), strict=True):
        lookup.column_dimensions[letter].width = width
    name = quote_sheetname(LOOKUP_SHEET)
    if departments.all:
        choose("department", f"{name}!$B$2:$B${len(departments.all) + 1}", strict=False)
    if queue_rows and hall is not None:
        choose("queue", f"{name}!$D$2:$D${len(queue_rows) + 1}", strict=False)

    book.active = 0
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def _queue_rows(session: Session, hall: Hall | None) -> list[tuple[str, str, str]]:
    statement = sa.select(Queue.prefix, Queue.name, Hall.name).join(Hall, Hall.id == Queue.hall_id)
    if hall is not None:
        statement = statement.where(Queue.hall_id == hall.id)
    return [tuple(row) for row in session.execute(statement.order_by(Hall.code, Queue.prefix))]


def help_rows(hall: Hall | None = None) -> list[list[str]]:
    """The text of the 填写说明 sheet: how to fill in each column, materials and FAQ."""
    hall_words = f"本文件的排队业务是「{hall.name}」的。" if hall else ""
    rows = [
        ["事项清单填写说明"],
        [],
        ["1. 在「事项清单」工作表中每个事项填一行；第 1 行是表头，请不要修改列名。"],
        ["2. 红色列名为必填项；其余列可以留空，留空时按下表的默认值处理。"],
        [
            "3. 导入时按「事项编码」匹配：编码已存在的事项按本表更新（申请材料整体替换为本表内容），"
            "编码不存在的事项新增；表中没有的事项保持不变，停用事项请把「状态」改为「停用」。"
        ],
        [
            "4. 导入前系统检查每一行；只要有一处错误，整个文件都不导入，并列出出错的行号、列名和原因。"
            "同一个文件重复导入不会产生重复事项。"
        ],
        [
            f"5. 「实施部门」填部门名称或部门编码，「排队业务」填取号字母，均须是系统中已有的"
            f"（见「部门与排队业务」工作表）。{hall_words}"
        ],
        ["6. 单元格内换行：Excel 中按 Alt+Enter，WPS 中按 Alt+Enter 或 Ctrl+Enter。"],
        ["7. 也可以另存为 CSV（UTF-8 或 GBK 编码）导入，列名和填写方法相同。"],
        [],
        ["列名", "必填", "填写要求", "示例", "English"],
    ]
    for column in COLUMNS:
        rows.append(
            [
                column.header,
                "必填" if column.required else "",
                column.help or (f"文字，最多 {column.max_len} 字。" if column.max_len else ""),
                column.example,
                column.en,
            ]
        )
    rows += [
        [],
        ["申请材料的写法"],
        ["每种材料写一行，各项用竖线「｜」（或半角「|」）隔开："],
        ["名称｜必要/非必要｜原件/复印件/原件及复印件/电子材料｜份数｜备注｜空白表格｜示例样表"],
        [
            "只有名称是必须的；后面的项可以省略，省略时为「必要」「原件」「1 份」。"
            "「非必要」也可写「容缺」。备注、空白表格、示例样表不需要时可以不写。"
        ],
        ["例：", "", "居民户口簿｜必要｜原件｜1"],
        ["", "", "近期免冠彩色照片｜必要｜原件｜2｜2 寸白底"],
        [
            "",
            "",
            "居住证明｜非必要｜复印件｜1｜租房的提供租赁合同｜居住证明（空白表）.pdf｜居住证明（样表）.pdf",
        ],
        [],
        ["常见问题的写法"],
        [
            "每个问题以「问：」开头写一行，下一行以「答：」开头写回答；回答较长时可以接着写多行。"
            "多个问题依次往下写。"
        ],
        [
            "例：",
            "",
            "问：身份证丢了怎么办？\n答：携带户口簿到户籍窗口申请补领。\n问：可以代办吗？\n答：不可以，须本人到场。",
        ],
    ]
    return rows


def _write_help(sheet, hall: Hall | None) -> None:
    from openpyxl.styles import Alignment, Font

    for number, row in enumerate(help_rows(hall), 1):
        sheet.append(row)
        if len(row) == 1:  # a paragraph: across the whole width
            sheet.merge_cells(start_row=number, start_column=1, end_row=number, end_column=5)
            lines = max(1, len(row[0]) // 70 + 1)
            sheet.row_dimensions[number].height = 16 * lines
    sheet["A1"].font = Font(bold=True, size=14)
    sheet.row_dimensions[1].height = 22
    for row in sheet.iter_rows():
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            if cell.value in (
                "列名",
                "必填",
                "填写要求",
                "示例",
                "English",
                "申请材料的写法",
                "常见问题的写法",
            ):
                cell.font = Font(bold=True)
    for letter, width in zip("ABCDE", (16, 8, 60, 44, 22), strict=True):
        sheet.column_dimensions[letter].width = width
