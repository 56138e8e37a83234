"""Manager editing of the catalogue (事项目录): departments, matters and materials, and the
queues and windows of a hall.

Every change is one transaction that writes an AuditEvent (``catalog.<thing>.<verb>``, the
code in its detail). Forms are checked here field by field: a refused form is shown again with
what was typed and each problem, in Chinese and English, next to its field, and nothing is
written. A change of a matter or its materials sets the matter's ``updated_at`` (the search
index relies on it). A change of a queue or a window publishes the hall's fresh board, which
screens and counters apply like the snapshot of a resync, so nobody sees a stale name.
"""

from __future__ import annotations

import itertools
import re
import unicodedata
from collections.abc import Iterable
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import login_required
from sqlalchemy.orm import selectinload
from werkzeug.datastructures import MultiDict

from hall import realtime
from hall.auth import Principal, check_hall
from hall.domain import board, guide, tickets
from hall.domain.errors import NotFound
from hall.extensions import db
from hall.manage import blueprint
from hall.manage.views import STATUS_NAMES, _manager, page_context
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
    Window,
    WindowQueue,
    utcnow,
)

MAX_ID = 2**31 - 1  # ids beyond a 32-bit integer name nothing; refuse before asking PostgreSQL
LIMIT_DAYS_MAX = 3650  # 办结时限: up to ten years
SORT_MAX = 99999
VISITS_MAX = 9
COPIES_MAX = 99
LONG_TEXT = 10000  # 设定依据, 受理条件, 办理流程, 职能 (Text columns)
MEDIUM_TEXT = 2000  # fee, place, hours, complaint channel, result, notes (Text columns)
FAQ_MAX = 30
FAQ_QUESTION_MAX = 300
FAQ_ANSWER_MAX = 2000
FAQ_BLANK_ROWS = 2  # empty question/answer pairs offered below the existing ones
WINDOW_ORDER_MAX = 99
LIST_PAGE = 100
SEARCH_LIMIT = 200

CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
PREFIX = re.compile(r"[A-Z]{1,2}")
INTEGER = re.compile(r"[+-]?[0-9]+")
# control characters (tab and newline are kept) and lone surrogates: never stored
INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")

KIND_NAMES = {
    "immediate": lazy_gettext("即办件"),
    "promised": lazy_gettext("承诺件"),
    "joint": lazy_gettext("联办件"),
    "referred": lazy_gettext("上报件"),
}
UNIT_NAMES = {"working": lazy_gettext("工作日"), "natural": lazy_gettext("自然日")}
FORM_NAMES = {
    "original": lazy_gettext("原件"),
    "copy": lazy_gettext("复印件"),
    "both": lazy_gettext("原件及复印件"),
    "electronic": lazy_gettext("电子材料"),
}
assert KIND_NAMES.keys() == MATTER_KINDS.keys()
assert UNIT_NAMES.keys() == LIMIT_UNITS.keys()
assert FORM_NAMES.keys() == MATERIAL_FORMS.keys()

# (Chinese, English) names of the fields, for the messages about them
LABELS = {
    "code": ("编码", "Code"),
    "name": ("名称", "Name"),
    "functions": ("职能", "Functions"),
    "sort_order": ("排列顺序", "Order"),
    "department": ("所属部门", "Department"),
    "kind": ("办件类型", "Kind"),
    "promised_days": ("承诺办结时限", "Promised limit"),
    "promised_unit": ("承诺时限单位", "Unit of the promised limit"),
    "statutory_days": ("法定办结时限", "Statutory limit"),
    "statutory_unit": ("法定时限单位", "Unit of the statutory limit"),
    "legal_basis": ("设定依据", "Legal basis"),
    "conditions": ("受理条件", "Conditions"),
    "process": ("办理流程", "Process"),
    "fee": ("收费标准", "Fee"),
    "fee_basis": ("收费依据", "Basis of the fee"),
    "place": ("办理地点", "Place"),
    "hours": ("办理时间", "Hours"),
    "phone": ("咨询电话", "Enquiry phone"),
    "complaint": ("投诉渠道", "Complaint channel"),
    "result_document": ("办理结果", "Result document"),
    "visits": ("到现场次数", "Visits needed"),
    "queue": ("取号队列", "Queue"),
    "faq": ("常见问题", "FAQ"),
    "required": ("是否必要", "Required"),
    "form": ("材料形式", "Form"),
    "copies": ("份数", "Copies"),
    "notes": ("备注", "Notes"),
    "blank_form": ("空白表格", "Blank form"),
    "sample": ("示例样表", "Sample"),
    "prefix": ("号码字母", "Prefix"),
    "queues": ("办理队列", "Queues"),
}
MATTER_TEXTS = [  # the guide's free texts: (field, limit, several lines)
    ("legal_basis", LONG_TEXT, True),
    ("conditions", LONG_TEXT, True),
    ("process", LONG_TEXT, True),
    ("fee", MEDIUM_TEXT, True),
    ("fee_basis", MEDIUM_TEXT, True),
    ("place", MEDIUM_TEXT, True),
    ("hours", MEDIUM_TEXT, True),
    ("complaint", MEDIUM_TEXT, True),
    ("result_document", MEDIUM_TEXT, True),
]


# ---------------------------------------------------------------- reading forms


def clean(value, *, multiline: bool = False) -> str:
    """Posted text as stored: no control characters, \\n line ends, trimmed; one line unless
    `multiline` (runs of white space, line breaks included, become one space)."""
    if not isinstance(value, str):
        return ""
    value = INVISIBLE.sub("", value.replace("\r\n", "\n").replace("\r", "\n"))
    if multiline:
        return "\n".join(line.rstrip() for line in value.split("\n")).strip()
    return " ".join(value.split())


class Form:
    """A posted form read field by field: the values to store, the text to show again and the
    problems found, each in Chinese and English, by field."""

    def __init__(self, data: MultiDict) -> None:
        self.data = data
        self.shown: dict[str, object] = {}
        self.errors: dict[str, tuple[str, str]] = {}

    def error(self, name: str, zh: str, en: str) -> None:
        """Record a problem of a field (the first one of each field is kept)."""
        self.errors.setdefault(name, (zh, en))

    def text(
        self, name: str, limit: int, *, required: bool = False, multiline: bool = False
    ) -> str:
        """A text of at most `limit` characters."""
        zh, en = LABELS[name]
        value = clean(self.data.get(name, ""), multiline=multiline)
        self.shown[name] = value
        if required and not value:
            self.error(name, f"请填写{zh}", f"{en} is required")
        elif len(value) > limit:
            self.error(
                name,
                f"{zh}最多 {limit} 个字，现在有 {len(value)} 个",
                f"{en} is limited to {limit} characters; it has {len(value)}",
            )
        return value

    def code(self, name: str, limit: int, current: str | None = None) -> str:
        """A code: letters, digits, - _ . (a code kept unchanged is accepted as it is)."""
        value = self.text(name, limit, required=True)
        zh, en = LABELS[name]
        if value and name not in self.errors and value != current and not CODE.fullmatch(value):
            self.error(
                name,
                f"{zh}只能由英文字母、数字和 - _ . 组成，并以字母或数字开头",
                f"{en} may only contain letters, digits and - _ . and must start with a letter "
                "or digit",
            )
        return value

    def integer(
        self,
        name: str,
        low: int,
        high: int,
        *,
        default: int | None = None,
        label: tuple[str, str] | None = None,
    ) -> int:
        """A whole number from low to high; full-width digits are accepted (５ = 5)."""
        zh, en = label or LABELS[name]
        value = clean(self.data.get(name, ""))
        self.shown[name] = value
        digits = unicodedata.normalize("NFKC", value).replace(" ", "")
        if not digits and default is not None:
            return default
        if not digits:
            self.error(name, f"请填写{zh}", f"{en} is required")
            return low
        if INTEGER.fullmatch(digits) and len(digits) <= 12 and low <= int(digits) <= high:
            return int(digits)
        self.error(
            name,
            f"{zh}应为 {low} 到 {high} 之间的整数",
            f"{en} must be a whole number from {low} to {high}",
        )
        return low

    def choice(self, name: str, options: Iterable[str]) -> str:
        """One of the offered options."""
        zh, en = LABELS[name]
        value = clean(self.data.get(name, ""))
        self.shown[name] = value
        if value not in set(options):
            self.error(name, f"请从列表中选择{zh}", f"Choose the {en.lower()} from the list")
        return value

    def flag(self, name: str) -> bool:
        """A checkbox: ticked when sent with any value but an empty or a false one."""
        value = clean(self.data.get(name, "")).lower()
        ticked = name in self.data and value not in ("", "0", "false", "off", "no")
        self.shown[name] = ticked
        return ticked

    def record_id(self, name: str) -> int | None:
        """The id of a chosen row (None when nothing was chosen)."""
        value = clean(self.data.get(name, ""))
        self.shown[name] = value
        if not value:
            return None
        if value.isascii() and value.isdigit() and len(value) <= 10 and 0 < int(value) <= MAX_ID:
            return int(value)
        zh, en = LABELS[name]
        self.error(name, f"请从列表中选择{zh}", f"Choose the {en.lower()} from the list")
        return None


# ---------------------------------------------------------------- shared helpers


def _context(hall_code: str) -> tuple[Principal, Hall]:
    """The signed-in manager and the hall being managed (403 for staff or another hall)."""
    principal = _manager()
    if "\x00" in hall_code:  # PostgreSQL refuses NUL in text: no such hall
        raise NotFound("hall_not_found", "没有这个大厅", "No such hall")
    hall = tickets.get_hall(db.session, hall_code)
    check_hall(principal, hall)
    return principal, hall


def _get(model, ident: int, zh: str, en: str, *, lock: bool = False):
    """A row by id, or NotFound (404); `lock` takes its row lock for the change."""
    row = None
    if 0 < ident <= MAX_ID:
        row = db.session.get(model, ident, with_for_update=lock or None, populate_existing=lock)
    if row is None:
        raise NotFound("not_found", f"没有这个{zh}", f"No such {en}")
    return row


def _audit(hall: Hall, principal: Principal, action: str, detail: str) -> None:
    """Record who changed what, in the same transaction as the change."""
    db.session.add(
        AuditEvent(
            hall_id=hall.id,
            user_id=principal.user.id if principal.user else None,
            action=action,
            detail=detail[:500],
            at=utcnow(),
        )
    )


def _commit(form: Form, name: str, zh: str, en: str, *, board_of: Hall | None = None) -> bool:
    """Commit and publish (with the board of `board_of` when given); a unique key taken
    meanwhile by someone else becomes a form error instead of a failure."""
    try:
        if board_of is not None:
            tickets.publish_board(db.session, board_of)
        realtime.commit_and_publish(db.session)
    except sa.exc.IntegrityError:
        db.session.rollback()
        realtime.discard(db.session)
        form.error(name, zh, en)
        return False
    return True


def _local_time(hall: Hall, value) -> str:
    return value.astimezone(ZoneInfo(hall.timezone)).strftime("%Y-%m-%d %H:%M") if value else ""


def _limit_text(days: int, unit: str) -> str:
    if not days:
        return _("即办")
    return _("%(days)s 个%(unit)s", days=days, unit=UNIT_NAMES.get(unit, unit))


def _department_options(empty: str | None = None) -> list[tuple[str, str]]:
    rows = db.session.execute(
        sa.select(Department.id, Department.code, Department.name).order_by(
            Department.sort_order, Department.code
        )
    ).all()
    options = [("", empty)] if empty is not None else []
    return options + [(str(i), f"{name}（{code}）") for i, code, name in rows]


def _hall_queues(hall: Hall) -> list[Queue]:
    return list(
        db.session.scalars(sa.select(Queue).where(Queue.hall_id == hall.id).order_by(Queue.prefix))
    )


def _back(endpoint: str, **values):
    return redirect(url_for(endpoint, **values))


# ---------------------------------------------------------------- departments (部门)


@blueprint.get("/<hall_code>/departments")
@login_required
def departments(hall_code: str):
    """Departments (部门) with their public functions (职能) and how many matters each has."""
    _principal, hall = _context(hall_code)
    matters = dict(
        db.session.execute(
            sa.select(Matter.department_id, sa.func.count()).group_by(Matter.department_id)
        ).all()
    )
    rows = db.session.scalars(
        sa.select(Department).order_by(Department.sort_order, Department.code)
    )
    items = [
        {
            "id": d.id,
            "code": d.code,
            "name": d.name,
            "functions": d.functions,
            "sort_order": d.sort_order,
            "matters": matters.get(d.id, 0),
        }
        for d in rows
    ]
    return render_template(
        "manage/departments.html", **page_context(hall, "departments"), departments=items
    )


def _department_values(department: Department | None) -> dict:
    if department is None:
        return {"code": "", "name": "", "functions": "", "sort_order": "0"}
    return {
        "code": department.code,
        "name": department.name,
        "functions": department.functions,
        "sort_order": str(department.sort_order),
    }


def _read_department(form: Form, department: Department | None) -> dict:
    values = {
        "code": form.code("code", 32, current=department.code if department else None),
        "name": form.text("name", 100, required=True),
        "functions": form.text("functions", LONG_TEXT, multiline=True),
        "sort_order": form.integer("sort_order", 0, SORT_MAX, default=0),
    }
    if "code" not in form.errors:
        clash = sa.select(Department.id).where(Department.code == values["code"])
        if department is not None:
            clash = clash.where(Department.id != department.id)
        if db.session.scalar(clash) is not None:
            form.error(
                "code",
                f"部门编码 {values['code']} 已被其他部门使用",
                f"Department code {values['code']} is already used by another department",
            )
    return values


def _department_page(hall, department, values, errors, status=200, refusal=None):
    return render_template(
        "manage/department_form.html",
        **page_context(hall, "departments"),
        department=department,
        values=values,
        errors=errors,
        refusal=refusal,
        limits={"code": 32, "name": 100},
    ), status


def _save_department(hall_code: str, department_id: int | None):
    principal, hall = _context(hall_code)
    department = None
    if department_id is not None:
        lock = request.method == "POST"
        department = _get(Department, department_id, "部门", "department", lock=lock)
    if request.method == "GET":
        return _department_page(hall, department, _department_values(department), {})
    form = Form(request.form)
    values = _read_department(form, department)
    if not form.errors:
        action = "catalog.department.update"
        if department is None:
            department = Department()
            db.session.add(department)
            action = "catalog.department.create"
        for key, value in values.items():
            setattr(department, key, value)
        _audit(hall, principal, action, f"code={values['code']}")
        taken = (f"部门编码 {values['code']} 已被使用", f"Code {values['code']} is in use")
        if _commit(form, "code", *taken):
            flash(_("部门「%(name)s」已保存。", name=values["name"]), "info")
            return _back("manage.departments", hall_code=hall.code)
        department = db.session.get(Department, department_id) if department_id else None
    return _department_page(hall, department, form.shown, form.errors, 400)


@blueprint.route("/<hall_code>/departments/new", methods=["GET", "POST"])
@login_required
def department_new(hall_code: str):
    """Create a department."""
    return _save_department(hall_code, None)


@blueprint.route("/<hall_code>/departments/<int:department_id>", methods=["GET", "POST"])
@login_required
def department_edit(hall_code: str, department_id: int):
    """Edit a department: code, name, functions (职能), order."""
    return _save_department(hall_code, department_id)


@blueprint.post("/<hall_code>/departments/<int:department_id>/delete")
@login_required
def department_delete(hall_code: str, department_id: int):
    """Delete a department that no matter and no queue refers to."""
    principal, hall = _context(hall_code)
    department = _get(Department, department_id, "部门", "department", lock=True)
    matters = db.session.scalar(
        sa.select(sa.func.count()).select_from(Matter).where(Matter.department_id == department.id)
    )
    queues = db.session.execute(
        sa.select(Hall.name, Queue.prefix)
        .join(Hall, Hall.id == Queue.hall_id)
        .where(Queue.department_id == department.id)
        .order_by(Hall.code, Queue.prefix)
    ).all()
    refusal = None
    if matters:
        refusal = (
            f"部门「{department.name}」下还有 {matters} 个事项（含已停用的），不能删除。"
            "请先把这些事项改到其他部门。",
            f"The department still has {matters} matter(s), retired ones included; move them "
            "to another department before deleting it.",
        )
    elif queues:
        names = "、".join(f"{name} {prefix}" for name, prefix in queues)
        refusal = (
            f"部门「{department.name}」还是业务队列 {names} 的所属部门，不能删除。"
            "请先修改这些队列。",
            f"The department is still the department of queue(s) {names}; change them first.",
        )
    if refusal is None:
        code, name = department.code, department.name
        db.session.delete(department)
        _audit(hall, principal, "catalog.department.delete", f"code={code}")
        try:
            realtime.commit_and_publish(db.session)
        except sa.exc.IntegrityError:  # a matter was added to it meanwhile
            db.session.rollback()
            department = _get(Department, department_id, "部门", "department")
            refusal = (
                f"部门「{name}」刚刚被其他事项或队列引用，不能删除。",
                "The department was just given a matter or a queue; it cannot be deleted.",
            )
        else:
            flash(_("部门「%(name)s」已删除。", name=name), "info")
            return _back("manage.departments", hall_code=hall.code)
    db.session.rollback()
    return _department_page(
        hall, department, _department_values(department), {}, 409, refusal=refusal
    )


# ---------------------------------------------------------------- matters (事项)


def _matter_rows(hall: Hall, matters: list[Matter]) -> list[dict]:
    ids = [m.id for m in matters]
    counts = {}
    if ids:
        counts = dict(
            db.session.execute(
                sa.select(Material.matter_id, sa.func.count())
                .where(Material.matter_id.in_(ids))
                .group_by(Material.matter_id)
            ).all()
        )
    return [
        {
            "id": m.id,
            "code": m.code,
            "name": m.name,
            "department": m.department.name,
            "kind": KIND_NAMES.get(m.kind, m.kind),
            "promised": _limit_text(m.promised_days, m.promised_unit),
            "queue": m.queue.prefix if m.queue else "",
            "materials": counts.get(m.id, 0),
            "active": m.active,
            "updated_at": _local_time(hall, m.updated_at),
        }
        for m in matters
    ]


def _find_matters(query: str, department_id: int | None, status: str) -> list[Matter]:
    """Matters for the search box: the guide's search (active matters, best first), the matter
    whose code it is, and retired matters whose name or code contains it."""
    found: list[Matter] = []
    exact = db.session.scalar(sa.select(Matter).where(Matter.code == query))
    if exact is not None:
        found.append(exact)
    if status != "retired":
        department = None
        if department_id is not None:
            department = db.session.scalar(
                sa.select(Department.code).where(Department.id == department_id)
            )
        if department_id is None or department is not None:
            found.extend(guide.search(db.session, query, limit=SEARCH_LIMIT, department=department))
    if status != "active":
        found.extend(
            db.session.scalars(
                sa.select(Matter)
                .where(
                    Matter.active.is_(False),
                    sa.or_(
                        Matter.name.contains(query, autoescape=True),
                        Matter.code.contains(query, autoescape=True),
                    ),
                )
                .order_by(Matter.sort_order, Matter.code)
                .limit(SEARCH_LIMIT)
            )
        )
    seen: set[int] = set()
    result = []
    for matter in found:
        if matter.id in seen:
            continue
        if department_id is not None and matter.department_id != department_id:
            continue
        if (status == "active" and not matter.active) or (status == "retired" and matter.active):
            continue
        seen.add(matter.id)
        result.append(matter)
    return result[:SEARCH_LIMIT]


def _positive_arg(name: str, high: int) -> int | None:
    value = request.args.get(name, "").strip()
    if value.isascii() and value.isdigit() and len(value) <= 10 and 0 < int(value) <= high:
        return int(value)
    return None


@blueprint.get("/<hall_code>/matters")
@login_required
def matters(hall_code: str):
    """The matter list: filter by department and state, search by name (the guide's search)."""
    _principal, hall = _context(hall_code)
    query = clean(request.args.get("q", ""))[:100]
    department_id = _positive_arg("department", MAX_ID)
    status = request.args.get("status", "all")
    status = status if status in ("all", "active", "retired") else "all"
    page = _positive_arg("page", 100000) or 1
    total = None
    if query:
        found = _find_matters(query, department_id, status)
    else:
        statement = sa.select(Matter)
        if department_id is not None:
            statement = statement.where(Matter.department_id == department_id)
        if status != "all":
            statement = statement.where(Matter.active.is_(status == "active"))
        total = db.session.scalar(sa.select(sa.func.count()).select_from(statement.subquery()))
        found = list(
            db.session.scalars(
                statement.join(Department, Department.id == Matter.department_id)
                .options(selectinload(Matter.department), selectinload(Matter.queue))
                .order_by(Department.sort_order, Department.code, Matter.sort_order, Matter.code)
                .offset((page - 1) * LIST_PAGE)
                .limit(LIST_PAGE)
            )
        )
    pages = max(1, -(-total // LIST_PAGE)) if total is not None else 1
    return render_template(
        "manage/matters.html",
        **page_context(hall, "matters"),
        matters=_matter_rows(hall, found),
        query=query,
        department=str(department_id or ""),
        status=status,
        departments=_department_options(_("全部部门")),
        statuses=[("all", _("全部")), ("active", _("在用")), ("retired", _("已停用"))],
        total=total,
        page=page,
        pages=pages,
        search_limit=SEARCH_LIMIT,
    )


def _matter_values(matter: Matter | None, department_id: int | None = None) -> dict:
    if matter is None:
        values = {key: "" for key, _limit, _lines in MATTER_TEXTS}
        values.update(
            code="",
            name="",
            department=str(department_id or ""),
            kind="immediate",
            promised_days="0",
            promised_unit="working",
            statutory_days="0",
            statutory_unit="working",
            phone="",
            visits="1",
            online=False,
            appointment=False,
            queue="",
            sort_order="0",
            faq=[],
        )
        return values
    values = {key: getattr(matter, key) or "" for key, _limit, _lines in MATTER_TEXTS}
    values.update(
        code=matter.code,
        name=matter.name,
        department=str(matter.department_id),
        kind=matter.kind,
        promised_days=str(matter.promised_days),
        promised_unit=matter.promised_unit,
        statutory_days=str(matter.statutory_days),
        statutory_unit=matter.statutory_unit,
        phone=matter.phone,
        visits=str(matter.visits),
        online=matter.online,
        appointment=matter.appointment,
        queue=matter.queue.prefix if matter.queue else "",
        sort_order=str(matter.sort_order),
        faq=[
            {"q": str(item.get("q", "")), "a": str(item.get("a", ""))}
            for item in (matter.faq or [])
            if isinstance(item, dict)
        ],
    )
    return values


def _read_faq(form: Form) -> list[dict]:
    """Question/answer pairs (常见问题); empty pairs are dropped, half pairs refused."""
    questions = form.data.getlist("faq_q")
    answers = form.data.getlist("faq_a")
    shown, pairs = [], []
    for question, answer in itertools.zip_longest(questions, answers, fillvalue=""):
        question, answer = clean(question), clean(answer, multiline=True)
        if not question and not answer:
            continue
        shown.append({"q": question, "a": answer})
        n = len(shown)
        if not question:
            form.error(
                "faq", f"第 {n} 条常见问题缺少问题", f"FAQ {n} has an answer but no question"
            )
        elif not answer:
            form.error("faq", f"第 {n} 条常见问题缺少解答", f"FAQ {n} has a question but no answer")
        elif len(question) > FAQ_QUESTION_MAX or len(answer) > FAQ_ANSWER_MAX:
            form.error(
                "faq",
                f"第 {n} 条常见问题过长：问题最多 {FAQ_QUESTION_MAX} 字，"
                f"解答最多 {FAQ_ANSWER_MAX} 字",
                f"FAQ {n} is too long: at most {FAQ_QUESTION_MAX} characters for the question "
                f"and {FAQ_ANSWER_MAX} for the answer",
            )
        pairs.append({"q": question, "a": answer})
    if len(shown) > FAQ_MAX:
        form.error(
            "faq", f"常见问题最多 {FAQ_MAX} 条", f"At most {FAQ_MAX} FAQ entries are allowed"
        )
    form.shown["faq"] = shown
    return pairs


def _read_matter(form: Form, hall: Hall, matter: Matter | None) -> dict:
    """Check every guide field of a matter; the values to store."""
    values: dict = {
        "code": form.code("code", 64, current=matter.code if matter else None),
        "name": form.text("name", 200, required=True),
    }
    department_id = form.record_id("department")
    if department_id is None and "department" not in form.errors:
        form.error("department", "请选择所属部门", "Choose the department")
    elif department_id is not None and db.session.get(Department, department_id) is None:
        form.error("department", "没有这个部门，请从列表中选择", "No such department; choose one")
    values["department_id"] = department_id
    values["kind"] = form.choice("kind", MATTER_KINDS)
    values["promised_days"] = form.integer("promised_days", 0, LIMIT_DAYS_MAX, default=0)
    values["promised_unit"] = form.choice("promised_unit", LIMIT_UNITS)
    values["statutory_days"] = form.integer("statutory_days", 0, LIMIT_DAYS_MAX, default=0)
    values["statutory_unit"] = form.choice("statutory_unit", LIMIT_UNITS)
    for key, limit, lines in MATTER_TEXTS:
        values[key] = form.text(key, limit, multiline=lines)
    values["process"] = "\n".join(s.strip() for s in values["process"].splitlines() if s.strip())
    values["phone"] = form.text("phone", 100)
    values["visits"] = form.integer("visits", 0, VISITS_MAX, default=1)
    values["online"] = form.flag("online")
    values["appointment"] = form.flag("appointment")
    values["faq"] = _read_faq(form)
    values["sort_order"] = form.integer("sort_order", 0, SORT_MAX, default=0)

    prefix = clean(form.data.get("queue", "")).upper()
    form.shown["queue"] = prefix
    queues = {q.prefix: q for q in _hall_queues(hall)}
    if not prefix:
        values["queue_id"] = None
    elif prefix in queues:
        values["queue_id"] = queues[prefix].id
    elif matter is not None and matter.queue is not None and matter.queue.prefix == prefix:
        values["queue_id"] = matter.queue_id  # a queue of another hall, left as it was
    else:
        form.error("queue", "请从本大厅的业务队列中选择", "Choose one of this hall's queues")

    kind_ok = "kind" not in form.errors and "promised_days" not in form.errors
    if kind_ok and values["kind"] == "immediate" and values["promised_days"] != 0:
        form.error(
            "promised_days",
            "即办件当场或当天办结，承诺办结时限应为 0",
            "An immediate matter (即办件) is decided at once: its promised limit must be 0",
        )
    elif kind_ok and values["kind"] != "immediate" and values["promised_days"] < 1:
        form.error(
            "promised_days",
            f"{MATTER_KINDS[values['kind']]}的承诺办结时限至少为 1 天",
            "A promised, joint or referred matter needs a promised limit of at least 1 day",
        )
    if "code" not in form.errors:
        clash = sa.select(Matter.id).where(Matter.code == values["code"])
        if matter is not None:
            clash = clash.where(Matter.id != matter.id)
        if db.session.scalar(clash) is not None:
            form.error(
                "code",
                f"事项编码 {values['code']} 已被其他事项使用",
                f"Matter code {values['code']} is already used by another matter",
            )
    return values


def _matter_page(hall, matter, values, errors, status=200):
    faq = list(values.get("faq") or [])
    faq += [{"q": "", "a": ""}] * FAQ_BLANK_ROWS
    queue_options = [("", _("（不取号）"))] + [
        (q.prefix, f"{q.prefix} {q.name}") for q in _hall_queues(hall)
    ]
    current = str(values.get("queue") or "")
    if current and current not in {value for value, _text in queue_options}:
        queue_options.append((current, _("%(prefix)s（其他大厅的队列）", prefix=current)))
    materials = []
    if matter is not None:
        materials = [
            {
                "id": m.id,
                "name": m.name,
                "required": m.required,
                "form": FORM_NAMES.get(m.form, m.form),
                "copies": m.copies,
                "notes": m.notes,
                "blank_form": m.blank_form,
                "sample": m.sample,
            }
            for m in matter.materials
        ]
    return render_template(
        "manage/matter_form.html",
        **page_context(hall, "matters"),
        matter=matter,
        matter_info=(
            {
                "id": matter.id,
                "code": matter.code,
                "name": matter.name,
                "active": matter.active,
                "updated_at": _local_time(hall, matter.updated_at),
            }
            if matter is not None
            else None
        ),
        materials=materials,
        values=values,
        faq=faq,
        errors=errors,
        departments=_department_options(_("请选择部门")),
        kinds=list(KIND_NAMES.items()),
        units=list(UNIT_NAMES.items()),
        queues=queue_options,
        limits={
            "days": LIMIT_DAYS_MAX,
            "visits": VISITS_MAX,
            "sort": SORT_MAX,
            "faq_q": FAQ_QUESTION_MAX,
            "faq_a": FAQ_ANSWER_MAX,
        },
    ), status


def _save_matter(hall_code: str, matter_id: int | None):
    principal, hall = _context(hall_code)
    matter = None
    if matter_id is not None:
        lock = request.method == "POST"
        matter = _get(Matter, matter_id, "事项", "matter", lock=lock)
    if request.method == "GET":
        department_id = _positive_arg("department", MAX_ID)
        return _matter_page(hall, matter, _matter_values(matter, department_id), {})
    form = Form(request.form)
    values = _read_matter(form, hall, matter)
    if not form.errors:
        action = "catalog.matter.update"
        if matter is None:
            matter = Matter(active=True)
            db.session.add(matter)
            action = "catalog.matter.create"
        for key, value in values.items():
            setattr(matter, key, value)
        matter.updated_at = utcnow()
        _audit(hall, principal, action, f"code={values['code']}")
        taken = (f"事项编码 {values['code']} 已被使用", f"Code {values['code']} is in use")
        if _commit(form, "code", *taken):
            flash(_("事项「%(name)s」已保存。", name=values["name"]), "info")
            return _back("manage.matter_edit", hall_code=hall.code, matter_id=matter.id)
        matter = db.session.get(Matter, matter_id) if matter_id else None
    return _matter_page(hall, matter, form.shown, form.errors, 400)


@blueprint.route("/<hall_code>/matters/new", methods=["GET", "POST"])
@login_required
def matter_new(hall_code: str):
    """Create a matter with its service guide (办事指南)."""
    return _save_matter(hall_code, None)


@blueprint.route("/<hall_code>/matters/<int:matter_id>", methods=["GET", "POST"])
@login_required
def matter_edit(hall_code: str, matter_id: int):
    """Edit every guide field of a matter; its materials are listed below the form."""
    return _save_matter(hall_code, matter_id)


@blueprint.post("/<hall_code>/matters/<int:matter_id>/active")
@login_required
def matter_active(hall_code: str, matter_id: int):
    """Retire (停用) or reactivate a matter; matters are never deleted (tickets refer to them)."""
    principal, hall = _context(hall_code)
    matter = _get(Matter, matter_id, "事项", "matter", lock=True)
    wanted = Form(request.form).flag("active")
    if matter.active != wanted:
        matter.active = wanted
        matter.updated_at = utcnow()
        action = "catalog.matter.reactivate" if wanted else "catalog.matter.retire"
        _audit(hall, principal, action, f"code={matter.code}")
        realtime.commit_and_publish(db.session)
    if wanted:
        flash(_("事项「%(name)s」已恢复使用。", name=matter.name), "info")
    else:
        flash(_("事项「%(name)s」已停用，取号机和办事指南不再显示。", name=matter.name), "info")
    return _back("manage.matter_edit", hall_code=hall.code, matter_id=matter.id)


# ---------------------------------------------------------------- materials (申请材料)


def _material_values(material: Material | None) -> dict:
    if material is None:
        return {
            "name": "",
            "required": True,
            "form": "original",
            "copies": "1",
            "notes": "",
            "blank_form": "",
            "sample": "",
        }
    return {
        "name": material.name,
        "required": material.required,
        "form": material.form,
        "copies": str(material.copies),
        "notes": material.notes,
        "blank_form": material.blank_form,
        "sample": material.sample,
    }


def _read_material(form: Form) -> dict:
    return {
        "name": form.text("name", 300, required=True),
        "required": form.flag("required"),
        "form": form.choice("form", MATERIAL_FORMS),
        "copies": form.integer("copies", 1, COPIES_MAX, default=1),
        "notes": form.text("notes", MEDIUM_TEXT, multiline=True),
        "blank_form": form.text("blank_form", 300),
        "sample": form.text("sample", 300),
    }


def _material_page(hall, matter, material, values, errors, status=200):
    return render_template(
        "manage/material_form.html",
        **page_context(hall, "matters"),
        matter={"id": matter.id, "code": matter.code, "name": matter.name},
        material=material,
        values=values,
        errors=errors,
        forms=list(FORM_NAMES.items()),
        copies_max=COPIES_MAX,
    ), status


def _matter_material(matter_id: int, material_id: int | None, *, lock: bool):
    matter = _get(Matter, matter_id, "事项", "matter", lock=lock)
    material = None
    if material_id is not None:
        material = _get(Material, material_id, "材料", "material")
        if material.matter_id != matter.id:
            raise NotFound("not_found", "该事项没有这份材料", "No such material in this matter")
    return matter, material


def _save_material(hall_code: str, matter_id: int, material_id: int | None):
    principal, hall = _context(hall_code)
    posting = request.method == "POST"
    matter, material = _matter_material(matter_id, material_id, lock=posting)
    if not posting:
        return _material_page(hall, matter, material, _material_values(material), {})
    form = Form(request.form)
    values = _read_material(form)
    if form.errors:
        return _material_page(hall, matter, material, form.shown, form.errors, 400)
    action = "catalog.material.update"
    if material is None:
        material = Material(position=len(matter.materials))
        matter.materials.append(material)
        action = "catalog.material.create"
    for key, value in values.items():
        setattr(material, key, value)
    matter.updated_at = utcnow()
    _audit(hall, principal, action, f"code={matter.code} material={values['name']}")
    realtime.commit_and_publish(db.session)
    flash(_("材料「%(name)s」已保存。", name=values["name"]), "info")
    return redirect(
        url_for("manage.matter_edit", hall_code=hall.code, matter_id=matter.id) + "#materials"
    )


@blueprint.route("/<hall_code>/matters/<int:matter_id>/materials/new", methods=["GET", "POST"])
@login_required
def material_new(hall_code: str, matter_id: int):
    """Add a material (申请材料) at the end of a matter's list."""
    return _save_material(hall_code, matter_id, None)


@blueprint.route(
    "/<hall_code>/matters/<int:matter_id>/materials/<int:material_id>", methods=["GET", "POST"]
)
@login_required
def material_edit(hall_code: str, matter_id: int, material_id: int):
    """Edit a material of a matter."""
    return _save_material(hall_code, matter_id, material_id)


@blueprint.post("/<hall_code>/matters/<int:matter_id>/materials/<int:material_id>/delete")
@login_required
def material_delete(hall_code: str, matter_id: int, material_id: int):
    """Remove a material from a matter's list; the others close up."""
    principal, hall = _context(hall_code)
    matter, material = _matter_material(matter_id, material_id, lock=True)
    name = material.name
    matter.materials.remove(material)
    for position, other in enumerate(matter.materials):
        other.position = position
    matter.updated_at = utcnow()
    _audit(hall, principal, "catalog.material.delete", f"code={matter.code} material={name}")
    realtime.commit_and_publish(db.session)
    flash(_("材料「%(name)s」已删除。", name=name), "info")
    return redirect(
        url_for("manage.matter_edit", hall_code=hall.code, matter_id=matter.id) + "#materials"
    )


@blueprint.post("/<hall_code>/matters/<int:matter_id>/materials/<int:material_id>/move")
@login_required
def material_move(hall_code: str, matter_id: int, material_id: int):
    """Move a material one place up or down in the guide's list."""
    principal, hall = _context(hall_code)
    matter, material = _matter_material(matter_id, material_id, lock=True)
    direction = request.form.get("direction")
    target = url_for("manage.matter_edit", hall_code=hall.code, matter_id=matter.id)
    if direction not in ("up", "down"):
        flash(_("无法移动：方向只能是上移或下移。"), "error")
        return redirect(target + "#materials")
    materials = list(matter.materials)
    index = materials.index(material)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(materials):
        materials[index], materials[other] = materials[other], materials[index]
        for position, item in enumerate(materials):
            item.position = position
        matter.updated_at = utcnow()
        _audit(
            hall,
            principal,
            "catalog.material.move",
            f"code={matter.code} material={material.name} {direction}",
        )
        realtime.commit_and_publish(db.session)
        flash(_("材料「%(name)s」已移动。", name=material.name), "info")
    return redirect(target + "#materials")


# ---------------------------------------------------------------- queues (业务队列)


@blueprint.get("/<hall_code>/queues")
@login_required
def queues(hall_code: str):
    """The queues of a hall: prefix, name, department, the windows that serve each."""
    _principal, hall = _context(hall_code)
    served: dict[int, list[int]] = {}
    for queue_id, number in db.session.execute(
        sa.select(WindowQueue.queue_id, Window.number)
        .join(Window, Window.id == WindowQueue.window_id)
        .where(Window.hall_id == hall.id)
        .order_by(Window.number)
    ):
        served.setdefault(queue_id, []).append(number)
    matters = dict(
        db.session.execute(
            sa.select(Matter.queue_id, sa.func.count())
            .where(Matter.queue_id.is_not(None))
            .group_by(Matter.queue_id)
        ).all()
    )
    items = [
        {
            "id": q.id,
            "prefix": q.prefix,
            "name": q.name,
            "department": q.department.name if q.department else "",
            "windows": served.get(q.id, []),
            "matters": matters.get(q.id, 0),
        }
        for q in _hall_queues(hall)
    ]
    return render_template("manage/queues.html", **page_context(hall, "queues"), queues=items)


def _read_queue(form: Form, hall: Hall, queue: Queue | None) -> dict:
    # full-width letters typed with a Chinese input method count as letters (Ａ = A)
    prefix = unicodedata.normalize("NFKC", clean(form.data.get("prefix", ""))).upper()
    form.shown["prefix"] = prefix
    if not PREFIX.fullmatch(prefix):
        form.error(
            "prefix",
            "号码字母应为一到两个英文大写字母，如 A 或 AB",
            "The prefix is one or two capital letters, such as A or AB",
        )
    else:
        clash = sa.select(Queue.id).where(Queue.hall_id == hall.id, Queue.prefix == prefix)
        if queue is not None:
            clash = clash.where(Queue.id != queue.id)
        if db.session.scalar(clash) is not None:
            form.error(
                "prefix",
                f"本大厅已有 {prefix} 队列",
                f"This hall already has a queue {prefix}",
            )
    department_id = form.record_id("department")
    if department_id is not None and db.session.get(Department, department_id) is None:
        form.error("department", "没有这个部门，请从列表中选择", "No such department; choose one")
    return {
        "prefix": prefix,
        "name": form.text("name", 100, required=True),
        "department_id": department_id,
    }


def _queue_page(hall, queue, values, errors, status=200):
    return render_template(
        "manage/queue_form.html",
        **page_context(hall, "queues"),
        queue=queue,
        values=values,
        errors=errors,
        departments=_department_options(_("（不属于某个部门）")),
    ), status


def _save_queue(hall_code: str, queue_id: int | None):
    principal, hall = _context(hall_code)
    queue = None
    if queue_id is not None:
        queue = _get(Queue, queue_id, "队列", "queue", lock=request.method == "POST")
        if queue.hall_id != hall.id:
            raise NotFound("not_found", "本大厅没有这个队列", "No such queue in this hall")
    if request.method == "GET":
        values = {"prefix": "", "name": "", "department": ""}
        if queue is not None:
            values = {
                "prefix": queue.prefix,
                "name": queue.name,
                "department": str(queue.department_id or ""),
            }
        return _queue_page(hall, queue, values, {})
    form = Form(request.form)
    values = _read_queue(form, hall, queue)
    if not form.errors:
        detail = f"queue={values['prefix']}"
        action = "catalog.queue.update"
        if queue is None:
            queue = Queue(hall_id=hall.id)
            db.session.add(queue)
            action = "catalog.queue.create"
        elif queue.prefix != values["prefix"]:
            detail += f" was={queue.prefix}"
        for key, value in values.items():
            setattr(queue, key, value)
        _audit(hall, principal, action, detail)
        taken = (f"本大厅已有 {values['prefix']} 队列", f"Queue {values['prefix']} exists")
        if _commit(form, "prefix", *taken, board_of=hall):
            flash(_("业务队列 %(prefix)s 已保存。", prefix=values["prefix"]), "info")
            return _back("manage.queues", hall_code=hall.code)
        queue = db.session.get(Queue, queue_id) if queue_id else None
    return _queue_page(hall, queue, form.shown, form.errors, 400)


@blueprint.route("/<hall_code>/queues/new", methods=["GET", "POST"])
@login_required
def queue_new(hall_code: str):
    """Create a queue (业务类型) of the hall."""
    return _save_queue(hall_code, None)


@blueprint.route("/<hall_code>/queues/<int:queue_id>", methods=["GET", "POST"])
@login_required
def queue_edit(hall_code: str, queue_id: int):
    """Edit a queue: prefix, name, department; screens show the change at once."""
    return _save_queue(hall_code, queue_id)


# ---------------------------------------------------------------- windows (窗口)


@blueprint.get("/<hall_code>/windows")
@login_required
def windows(hall_code: str):
    """The windows of a hall with the queues each serves, in calling order."""
    _principal, hall = _context(hall_code)
    rows = db.session.scalars(
        sa.select(Window).where(Window.hall_id == hall.id).order_by(Window.number)
    )
    items = [
        {
            "number": w.number,
            "name": w.name,
            "status": w.status,
            "status_name": str(STATUS_NAMES[w.status]),
            "queues": [f"{q.prefix} {q.name}" for q in w.queues],
        }
        for w in rows
    ]
    return render_template("manage/windows.html", **page_context(hall, "windows"), windows=items)


def _window_rows(window: Window, queues: list[Queue]) -> list[Queue]:
    """The hall's queues as the form lists them: the window's own in its order, then the rest."""
    own = [link.queue_id for link in window.queue_links]
    rank = {queue_id: i for i, queue_id in enumerate(own)}
    return sorted(queues, key=lambda q: (rank.get(q.id, len(own)), q.prefix))


def _read_window(form: Form, window: Window, queues: list[Queue]) -> tuple[str, list[Queue]]:
    name = form.text("name", 100, required=True)
    known = {q.prefix: q for q in queues}
    chosen = [clean(p).upper() for p in form.data.getlist("queues")]
    unknown = sorted({p for p in chosen if p not in known})
    if unknown:
        form.error(
            "queues",
            f"本大厅没有队列 {'、'.join(unknown)[:100]}",
            f"This hall has no queue {', '.join(unknown)[:100]}",
        )
    served = []
    for index, queue in enumerate(_window_rows(window, queues)):
        order = form.integer(
            f"order_{queue.prefix}",
            1,
            WINDOW_ORDER_MAX,
            default=WINDOW_ORDER_MAX + 1,
            label=(f"{queue.prefix} 队列的叫号顺序", f"Calling order of queue {queue.prefix}"),
        )
        if queue.prefix in chosen:
            served.append((order, index, queue))
    form.shown["queues"] = [q.prefix for _order, _index, q in served]
    return name, [q for _order, _index, q in sorted(served, key=lambda item: item[:2])]


def _window_page(hall, window, values, errors, status=200):
    queues = _window_rows(window, _hall_queues(hall))
    current = board.current_tickets(db.session, hall).get(window.id)
    rows = [
        {
            "prefix": q.prefix,
            "name": q.name,
            "department": q.department.name if q.department else "",
            "served": q.prefix in values["queues"],
            "order": values.get(f"order_{q.prefix}", ""),
        }
        for q in queues
    ]
    return render_template(
        "manage/window_form.html",
        **page_context(hall, "windows"),
        window={"number": window.number, "status": window.status},
        current=current.label if current else None,
        values=values,
        errors=errors,
        rows=rows,
        order_max=WINDOW_ORDER_MAX,
    ), status


@blueprint.route("/<hall_code>/windows/<int:number>", methods=["GET", "POST"])
@login_required
def window_edit(hall_code: str, number: int):
    """Edit a window's name and the queues it serves, in priority order (叫号顺序).

    The ticket being served there keeps its window: only later calls follow the new order.
    """
    principal, hall = _context(hall_code)
    if not 0 < number <= MAX_ID:
        raise NotFound("window_not_found", f"没有 {number} 号窗口", f"No window {number}")
    window = tickets.get_window(db.session, hall, number)
    if request.method == "GET":
        values = {"name": window.name, "queues": [q.prefix for q in window.queues]}
        for position, queue in enumerate(window.queues, 1):
            values[f"order_{queue.prefix}"] = str(position)
        return _window_page(hall, window, values, {})
    # the window's row lock: a call at this window waits for the new order, or ends first
    window = db.session.get(Window, window.id, with_for_update=True, populate_existing=True)
    form = Form(request.form)
    name, served = _read_window(form, window, _hall_queues(hall))
    if form.errors:
        return _window_page(hall, window, form.shown, form.errors, 400)
    links = {link.queue_id: link for link in window.queue_links}
    ordered = []
    for position, queue in enumerate(served):
        link = links.get(queue.id) or WindowQueue(queue=queue)
        link.position = position
        ordered.append(link)
    window.queue_links = ordered
    window.name = name
    prefixes = ",".join(q.prefix for q in served)
    _audit(hall, principal, "catalog.window.update", f"window={number} queues={prefixes}")
    tickets.publish_board(db.session, hall)
    realtime.commit_and_publish(db.session)
    flash(_("%(n)s 号窗口已保存，屏幕和工作台已更新。", n=number), "info")
    return _back("manage.windows", hall_code=hall.code)
