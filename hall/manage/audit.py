"""The audit log (操作日志) for admins: every staff and admin action, who, when, from where.

GET /manage/<hall>/audit lists, newest first, the hall's AuditEvent rows (sign-in and out,
windows, the notice, cases, catalogue and calendar edits, exports, prints, accounts and
devices added on the command line, retention) together with its TicketEvent rows (issue,
call, recall, no-show, return, start, finish, transfer, expiry) — one list, 100 rows a page,
paged by a keyset cursor (`?after=a123` / `t456`: the last row shown), so a year of events
pages as fast as a day. Rows of no hall (an unknown name's failed sign-in, installation-wide
calendar entries, the retention) are shown in every hall's log.

Filters: the days (hall-local; today by default), the user (username), the kind of action
(登录、取号、叫号…), the window (number: ticket events there and rows naming it) and a text
found in the detail or the ticket number. GET /manage/<hall>/audit/export?format=csv|xlsx
with the same filters answers the whole filtered list (up to EXPORT_MAX rows) as .csv (UTF-8
with BOM) or .xlsx with Chinese headers; each export is itself audited (``audit.export``).

Admins only ("viewable and filterable by the admin"): managers and staff get 403. Ticket
events carry the client address of their request since migration 0009 ("—" for older rows and
for the server's own changes, such as the day rollover). No resident's personal
data appears: the rows' details name case numbers, matter codes and ticket numbers only.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import render_template, request, send_file, url_for
from flask_babel import lazy_gettext
from flask_login import login_required

from hall.auth import Principal
from hall.domain import board
from hall.domain.errors import DomainError, Forbidden, Invalid
from hall.extensions import db
from hall.manage import blueprint
from hall.manage.catalog import _context
from hall.manage.views import page_context
from hall.models import ApiToken, AuditEvent, Hall, Ticket, TicketEvent, User, Window, utcnow

PAGE_SIZE = 100
EXPORT_MAX = 100_000
EXPORT_BATCH = 2_000
MAX_TEXT = 100
MAX_DAYS = 3 * 366  # the longest range of one query (three years)
_A = AuditEvent.__table__
_E = TicketEvent.__table__
_T = Ticket.__table__
_CURSOR = re.compile(r"^([at])([0-9]{1,12})$")

TICKET_ACTIONS = {
    "issued": lazy_gettext("取号"),
    "called": lazy_gettext("叫号"),
    "recalled": lazy_gettext("重复呼叫"),
    "no_show": lazy_gettext("过号"),
    "returned": lazy_gettext("过号回队"),
    "started": lazy_gettext("开始办理"),
    "finished": lazy_gettext("办理结束"),
    "transferred": lazy_gettext("转移"),
    "expired": lazy_gettext("过期关闭"),
}
AUDIT_ACTIONS = {
    "auth.login": lazy_gettext("登录"),
    "auth.logout": lazy_gettext("退出登录"),
    "auth.login_failed": lazy_gettext("登录失败"),
    "auth.locked": lazy_gettext("账号锁定"),
    "window.open": lazy_gettext("开启窗口"),
    "window.paused": lazy_gettext("暂停窗口"),
    "window.closed": lazy_gettext("关闭窗口"),
    "hall.notice": lazy_gettext("修改滚动通知"),
    "case.recorded": lazy_gettext("登记办件"),
    "case.paused": lazy_gettext("暂停办件计时"),
    "case.resumed": lazy_gettext("恢复办件计时"),
    "case.completed": lazy_gettext("办件办结"),
    "catalog.department.create": lazy_gettext("部门新增"),
    "catalog.department.update": lazy_gettext("部门修改"),
    "catalog.department.delete": lazy_gettext("部门删除"),
    "catalog.matter.create": lazy_gettext("事项新增"),
    "catalog.matter.update": lazy_gettext("事项修改"),
    "catalog.matter.retire": lazy_gettext("事项停用"),
    "catalog.matter.reactivate": lazy_gettext("事项重新启用"),
    "catalog.material.create": lazy_gettext("材料新增"),
    "catalog.material.update": lazy_gettext("材料修改"),
    "catalog.material.delete": lazy_gettext("材料删除"),
    "catalog.material.move": lazy_gettext("材料顺序调整"),
    "catalog.queue.create": lazy_gettext("业务队列新增"),
    "catalog.queue.update": lazy_gettext("业务队列修改"),
    "catalog.window.update": lazy_gettext("修改窗口设置"),
    "catalog.import": lazy_gettext("事项清单导入"),
    "catalog.export": lazy_gettext("事项清单导出"),
    "calendar.add": lazy_gettext("添加工作日历条目"),
    "calendar.remove": lazy_gettext("删除工作日历条目"),
    "report.export": lazy_gettext("导出统计报表"),
    "audit.export": lazy_gettext("导出操作日志"),
    "casedoc.print": lazy_gettext("打印办件文书"),
    "user.add": lazy_gettext("新增账号"),
    "user.password": lazy_gettext("设置密码"),
    "token.create": lazy_gettext("创建接口令牌"),
    "device.add": lazy_gettext("登记设备"),
    "device.code": lazy_gettext("生成设备配对码"),
    "device.code_cancel": lazy_gettext("作废设备配对码"),
    "device.pair": lazy_gettext("设备配对"),
    "device.revoke": lazy_gettext("停用设备"),
    "retention.erase": lazy_gettext("清除个人信息"),
}
# the kinds of the filter, in the menu's order
GROUPS = {
    "login": lazy_gettext("登录"),
    "issue": lazy_gettext("取号"),
    "call": lazy_gettext("叫号与票号"),
    "window": lazy_gettext("窗口"),
    "case": lazy_gettext("办件"),
    "edit": lazy_gettext("编辑"),
    "account": lazy_gettext("账号与设备"),
    "export": lazy_gettext("导出与打印"),
    "system": lazy_gettext("系统"),
}
# each kind of AuditEvent by its action's prefix (exports first: catalog.export is no edit)
_EXPORTS = ("casedoc.print",)
_AUDIT_PREFIXES = {
    "login": ("auth.",),
    "window": ("window.",),
    "case": ("case.",),
    "edit": ("catalog.", "calendar.", "hall."),
    "account": ("user.", "device.", "token."),
    "system": ("retention.",),
}
HEADERS = (
    "时间",
    "类别",
    "操作",
    "姓名",
    "工号",
    "用户名",
    "设备",
    "窗口",
    "票号",
    "详情",
    "IP 地址",
)


def group_of(source: str, action: str) -> str:
    """The kind (GROUPS key) of an event: `source` "t" for a TicketEvent, "a" otherwise."""
    if source == "t":
        return "issue" if action == "issued" else "call"
    if action.endswith(".export") or action in _EXPORTS:
        return "export"
    for group, prefixes in _AUDIT_PREFIXES.items():
        if action.startswith(prefixes):
            return group
    return "system"


def _audit_condition(group: str) -> sa.ColumnElement:
    exports = sa.or_(_A.c.action.like("%.export"), _A.c.action.in_(_EXPORTS))
    if group == "export":
        return exports
    if group in ("issue", "call"):
        return sa.false()
    known = [_A.c.action.like(f"{p}%") for ps in _AUDIT_PREFIXES.values() for p in ps]
    if group == "system":  # retention and anything unknown
        return sa.and_(
            sa.not_(exports),
            sa.or_(_A.c.action.like("retention.%"), sa.not_(sa.or_(*known))),
        )
    mine = [_A.c.action.like(f"{p}%") for p in _AUDIT_PREFIXES[group]]
    return sa.and_(sa.or_(*mine), sa.not_(exports))


def _ticket_condition(group: str) -> sa.ColumnElement:
    if group == "issue":
        return _E.c.action == "issued"
    if group == "call":
        return _E.c.action != "issued"
    return sa.false()


@dataclass
class Filters:
    """The chosen filters, parsed."""

    start: date
    end: date
    user: User | None = None
    group: str = ""
    window: Window | None = None
    text: str = ""

    def args(self) -> dict:
        """The filters as query-string arguments (links of the next page and the exports)."""
        values = {
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
            "user": self.user.username if self.user else "",
            "kind": self.group,
            "window": str(self.window.number) if self.window else "",
            "q": self.text,
        }
        return {name: value for name, value in values.items() if value}

    def detail(self) -> str:
        return " ".join(f"{name}={value}" for name, value in self.args().items())


def _arg(name: str, limit: int = 64) -> str:
    """A query-string value, stripped; refuses long values and control characters."""
    value = (request.args.get(name) or "").strip()
    if len(value) > limit or not value.isprintable():
        raise Invalid(
            "bad_parameter",
            f"参数 {name} 无效（过长或含控制字符）",
            f"Parameter {name} is invalid (too long or with control characters)",
        )
    return value


def _day(name: str, label: str, label_en: str) -> date | None:
    value = _arg(name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(
            "bad_date",
            f"{label}日期 {value} 无效，应为 2026-11-01 这样的格式",
            f"The {label_en} date {value} is not a day like 2026-11-01",
        ) from None


def read_filters(hall: Hall, today: date) -> Filters:
    """The filters of the request (today by default), or Invalid."""
    start = _day("from", "开始", "start")
    end = _day("to", "结束", "end")
    end = end or (start if start and start > today else today)
    start = start or end
    if start > end:
        raise Invalid("bad_range", "开始日期晚于结束日期", "The start date is after the end date")
    if (end - start).days > MAX_DAYS:
        raise Invalid(
            "range_too_long", "日期范围最长三年", "The date range is limited to three years"
        )
    chosen = Filters(start=start, end=end)
    username = _arg("user")
    if username:
        chosen.user = db.session.scalar(sa.select(User).where(User.username == username))
        if chosen.user is None or chosen.user.hall_id not in (None, hall.id):
            raise Invalid("unknown_user", f"没有用户 {username}", f"No user {username}")
    group = _arg("kind")
    if group:
        if group not in GROUPS:
            raise Invalid("bad_kind", f"没有操作类别 {group}", f"No kind of action {group}")
        chosen.group = group
    number = _arg("window")
    if number:
        window = None
        if number.isdigit() and int(number) < 2**31:
            window = db.session.scalar(
                sa.select(Window).where(Window.hall_id == hall.id, Window.number == int(number))
            )
        if window is None:
            raise Invalid("unknown_window", f"没有 {number} 号窗口", f"No window {number}")
        chosen.window = window
    chosen.text = _arg("q", MAX_TEXT)
    return chosen


def _zone(hall: Hall) -> ZoneInfo:
    try:
        return ZoneInfo(hall.timezone or "Asia/Shanghai")
    except (ValueError, KeyError, OSError):
        return ZoneInfo("Asia/Shanghai")


def _bounds(hall: Hall, chosen: Filters) -> tuple[datetime, datetime]:
    """The instants of the chosen hall-local days: [first midnight, midnight after the last)."""
    zone = _zone(hall)
    low = datetime.combine(chosen.start, time(), zone)
    high = datetime.combine(chosen.end + timedelta(days=1), time(), zone)
    return low, high


def _like(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _names_window(detail, number: int) -> sa.ColumnElement:
    """A detail that names `window=<number>` as one of its words."""
    word = f"window={number}"
    return sa.or_(
        detail == word,
        detail.like(f"{word} %"),
        detail.like(f"% {word}"),
        detail.like(f"% {word} %"),
    )


def _after(table, source: str, cursor: tuple[str, int, datetime] | None):
    """Rows after the cursor in the order (at, source, id) descending ("t" before "a")."""
    if cursor is None:
        return sa.true()
    kind, ident, at = cursor
    if source == kind:
        return sa.or_(table.c.at < at, sa.and_(table.c.at == at, table.c.id < ident))
    if source < kind:  # "a" rows come after "t" rows of the same instant
        return table.c.at <= at
    return table.c.at < at


def _audit_rows(hall: Hall, chosen: Filters, cursor, limit: int) -> list[dict]:
    low, high = _bounds(hall, chosen)
    query = sa.select(_A.c.id, _A.c.at, _A.c.user_id, _A.c.action, _A.c.detail, _A.c.ip).where(
        sa.or_(_A.c.hall_id == hall.id, _A.c.hall_id.is_(None)),
        _A.c.at >= low,
        _A.c.at < high,
        _after(_A, "a", cursor),
    )
    if chosen.user is not None:
        query = query.where(_A.c.user_id == chosen.user.id)
    if chosen.group:
        query = query.where(_audit_condition(chosen.group))
    if chosen.window is not None:
        query = query.where(_names_window(_A.c.detail, chosen.window.number))
    if chosen.text:
        query = query.where(_A.c.detail.ilike(_like(chosen.text), escape="\\"))
    query = query.order_by(_A.c.at.desc(), _A.c.id.desc()).limit(limit)
    return [
        {
            "src": "a",
            "id": row.id,
            "at": row.at,
            "user_id": row.user_id,
            "device_id": None,
            "window_id": None,
            "action": row.action,
            "detail": row.detail or "",
            "ip": row.ip or "",
            "ticket": "",
        }
        for row in db.session.execute(query)
    ]


def _ticket_rows(hall: Hall, chosen: Filters, cursor, limit: int) -> list[dict]:
    low, high = _bounds(hall, chosen)
    query = (
        sa.select(
            _E.c.id,
            _E.c.at,
            _E.c.user_id,
            _E.c.device_id,
            _E.c.window_id,
            _E.c.action,
            _E.c.detail,
            _E.c.ip,
            _T.c.label,
        )
        .join(_T, _T.c.id == _E.c.ticket_id)
        .where(
            _E.c.hall_id == hall.id,
            _E.c.at >= low,
            _E.c.at < high,
            _after(_E, "t", cursor),
        )
    )
    if chosen.user is not None:
        query = query.where(_E.c.user_id == chosen.user.id)
    if chosen.group:
        query = query.where(_ticket_condition(chosen.group))
    if chosen.window is not None:
        query = query.where(
            sa.or_(
                _E.c.window_id == chosen.window.id, _E.c.detail == f"window={chosen.window.number}"
            )
        )
    if chosen.text:
        pattern = _like(chosen.text)
        query = query.where(
            sa.or_(_E.c.detail.ilike(pattern, escape="\\"), _T.c.label.ilike(pattern, escape="\\"))
        )
    query = query.order_by(_E.c.at.desc(), _E.c.id.desc()).limit(limit)
    return [
        {
            "src": "t",
            "id": row.id,
            "at": row.at,
            "user_id": row.user_id,
            "device_id": row.device_id,
            "window_id": row.window_id,
            "action": row.action,
            "detail": row.detail or "",
            "ip": row.ip or "",
            "ticket": row.label,
        }
        for row in db.session.execute(query)
    ]


def _sort_key(row: dict) -> tuple:
    return (row["at"], row["src"] == "t", row["id"])


def fetch(hall: Hall, chosen: Filters, cursor=None, limit: int = PAGE_SIZE) -> list[dict]:
    """Up to `limit` events after the cursor, newest first, both tables merged."""
    rows = _audit_rows(hall, chosen, cursor, limit) + _ticket_rows(hall, chosen, cursor, limit)
    rows.sort(key=_sort_key, reverse=True)
    return rows[:limit]


def read_cursor(value: str) -> tuple[str, int, datetime] | None:
    """The row after which a page starts (`a123`, `t456`), with its instant, or Invalid."""
    if not value:
        return None
    match = _CURSOR.match(value)
    row = None
    if match and int(match.group(2)) < 2**63:
        model = AuditEvent if match.group(1) == "a" else TicketEvent
        row = db.session.get(model, int(match.group(2)))
    if row is None:
        raise Invalid("bad_cursor", "翻页位置无效，请从第一页开始", "Invalid page; start again")
    return match.group(1), row.id, row.at


def present(hall: Hall, rows: list[dict]) -> list[dict]:
    """The rows as shown and exported: who (name, 工号, username or the device), when in the
    hall's time, the kind and action in words, window, ticket, detail, address."""
    user_ids = {r["user_id"] for r in rows if r["user_id"]}
    device_ids = {r["device_id"] for r in rows if r["device_id"]}
    window_ids = {r["window_id"] for r in rows if r["window_id"]}
    users = {}
    if user_ids:
        users = {
            u.id: u
            for u in db.session.execute(
                sa.select(User.id, User.display_name, User.job_number, User.username).where(
                    User.id.in_(user_ids)
                )
            )
        }
    devices = {}
    if device_ids:
        devices = {
            d.id: d
            for d in db.session.execute(
                sa.select(ApiToken.id, ApiToken.name, ApiToken.device_kind).where(
                    ApiToken.id.in_(device_ids)
                )
            )
        }
    windows = {}
    if window_ids:
        windows = dict(
            db.session.execute(
                sa.select(Window.id, Window.number).where(Window.id.in_(window_ids))
            ).all()
        )
    zone = _zone(hall)
    shown = []
    for row in rows:
        user = users.get(row["user_id"])
        device = devices.get(row["device_id"])
        labels = TICKET_ACTIONS if row["src"] == "t" else AUDIT_ACTIONS
        label = labels.get(row["action"])
        group = group_of(row["src"], row["action"])
        device_text = ""
        if device is not None:
            device_text = device.name or (device.device_kind or "") or f"#{device.id}"
        window = windows.get(row["window_id"])
        shown.append(
            {
                "key": f"{row['src']}{row['id']}",
                "at": row["at"].astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                "group": group,
                "group_label": str(GROUPS[group]),
                "action": row["action"],
                "action_label": str(label) if label else row["action"],
                "name": user.display_name if user else "",
                "job_number": user.job_number if user else "",
                "username": user.username if user else "",
                "device": device_text,
                "system": user is None and device is None,
                "window": window,
                "ticket": row["ticket"],
                "detail": row["detail"],
                "ip": row["ip"],
            }
        )
    return shown


def _admin(principal: Principal) -> None:
    """The audit log is the admins' ("viewable and filterable by the admin")."""
    if principal.role != "admin":
        raise Forbidden(
            "forbidden", "只有管理员可以查看操作日志", "Only admins may see the audit log"
        )


def _choices(hall: Hall) -> tuple[list, list]:
    users = db.session.execute(
        sa.select(User.username, User.display_name, User.job_number)
        .where(sa.or_(User.hall_id == hall.id, User.hall_id.is_(None)))
        .order_by(User.username)
    ).all()
    windows = db.session.execute(
        sa.select(Window.number, Window.name)
        .where(Window.hall_id == hall.id)
        .order_by(Window.number)
    ).all()
    return (
        [
            (
                u.username,
                f"{u.display_name}（{u.job_number}，{u.username}）"
                if u.job_number
                else f"{u.display_name}（{u.username}）",
            )
            for u in users
        ],
        [(str(w.number), f"{w.number} {w.name}") for w in windows],
    )


@blueprint.get("/<hall_code>/audit")
@login_required
def audit_log(hall_code: str):
    """The audit log page: filters, 100 events a page (newest first), export links."""
    principal, hall = _context(hall_code)
    _admin(principal)
    today = board.service_day(hall)
    error = None
    rows: list[dict] = []
    more = None
    typed = {
        name: (request.args.get(name) or "")[:MAX_TEXT]
        for name in ("from", "to", "user", "kind", "window", "q")
    }
    try:
        chosen = read_filters(hall, today)
        cursor = read_cursor(_arg("after", 20))
        found = fetch(hall, chosen, cursor, PAGE_SIZE + 1)
        rows = present(hall, found[:PAGE_SIZE])
        if len(found) > PAGE_SIZE:
            last = found[PAGE_SIZE - 1]
            more = url_for(
                "manage.audit_log",
                hall_code=hall.code,
                **chosen.args(),
                after=f"{last['src']}{last['id']}",
                page=_page_number() + 1,
            )
        args = chosen.args()
        first_page = url_for("manage.audit_log", hall_code=hall.code, **args) if cursor else None
        values = {
            "from": chosen.start.isoformat(),
            "to": chosen.end.isoformat(),
            "user": args.get("user", ""),
            "kind": chosen.group,
            "window": args.get("window", ""),
            "q": chosen.text,
        }
    except DomainError as err:
        error = (err.zh, err.en)
        args, first_page, values = {}, None, typed
    users, windows = _choices(hall)
    return render_template(
        "manage/audit.html",
        **page_context(hall, "audit"),
        rows=rows,
        values=values,
        users=users,
        windows=windows,
        groups=[(key, str(label)) for key, label in GROUPS.items()],
        more=more,
        first_page=first_page,
        page=_page_number() if not error else 1,
        page_size=PAGE_SIZE,
        export_csv=url_for("manage.audit_export", hall_code=hall.code, format="csv", **args),
        export_xlsx=url_for("manage.audit_export", hall_code=hall.code, format="xlsx", **args),
        error=error,
    ), (error and 400) or 200


def _page_number() -> int:
    value = request.args.get("page", "")
    return int(value) if value.isdigit() and 0 < int(value) < 10**7 else 1


def _cells(row: dict) -> list[str]:
    return [
        row["at"],
        row["group_label"],
        row["action_label"],
        row["name"] or ("" if row["device"] else "系统"),
        row["job_number"],
        row["username"],
        row["device"],
        str(row["window"]) if row["window"] is not None else "",
        row["ticket"],
        row["detail"],
        row["ip"] or "—",
    ]


def _safe(value: str) -> str:
    """A cell a spreadsheet will not read as a formula."""
    return f"'{value}" if value[:1] in ("=", "+", "-", "@") else value


def _csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADERS)
    for cells in rows:
        writer.writerow([_safe(c) for c in cells])
    return out.getvalue().encode("utf-8-sig")


def _xlsx(rows: list[list[str]], title: str) -> bytes:
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    book = Workbook(write_only=True)
    sheet = book.create_sheet("操作日志")
    for letter, width in zip(
        "ABCDEFGHIJK", (20, 10, 16, 12, 10, 14, 14, 6, 8, 50, 16), strict=True
    ):
        sheet.column_dimensions[letter].width = width
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    header = []
    for text in HEADERS:
        cell = WriteOnlyCell(sheet, value=text)
        cell.font = bold
        header.append(cell)
    sheet.append(header)
    for cells in rows:
        sheet.append([_safe(c) for c in cells])
    book.properties.title = title
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


@blueprint.get("/<hall_code>/audit/export")
@login_required
def audit_export(hall_code: str):
    """The filtered log as .csv (UTF-8 with BOM) or .xlsx, newest first; audited."""
    principal, hall = _context(hall_code)
    _admin(principal)
    fmt = _arg("format") or "xlsx"
    if fmt not in ("csv", "xlsx"):
        raise Invalid("bad_format", "格式只能是 csv 或 xlsx", "The format is csv or xlsx")
    chosen = read_filters(hall, board.service_day(hall))
    cells: list[list[str]] = []
    cursor = None
    while len(cells) < EXPORT_MAX:
        batch = fetch(hall, chosen, cursor, min(EXPORT_BATCH, EXPORT_MAX - len(cells)))
        if not batch:
            break
        cells.extend(_cells(row) for row in present(hall, batch))
        last = batch[-1]
        cursor = (last["src"], last["id"], last["at"])
        if len(batch) < EXPORT_BATCH:
            break
    title = f"操作日志-{hall.code}-{chosen.start.isoformat()}-{chosen.end.isoformat()}"
    content = _csv(cells) if fmt == "csv" else _xlsx(cells, title)
    db.session.add(
        AuditEvent(
            hall_id=hall.id,
            user_id=principal.actor.user_id,
            action="audit.export",
            detail=f"format={fmt} rows={len(cells)} {chosen.detail()}"[:500],
            at=utcnow(),
        )
    )
    db.session.commit()
    return send_file(
        io.BytesIO(content),
        mimetype=(
            "text/csv"
            if fmt == "csv"
            else "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
        ),
        as_attachment=True,
        download_name=f"{title}.{fmt}",
        max_age=0,
    )
