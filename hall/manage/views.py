"""Management views (管理): choose a hall, set the screens' notice line, see windows and accounts.

The catalogue editing pages (departments, matters, queues, windows) live in catalog.py and
share this module's role check, hall list and page frame (`page_context`).
"""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext
from flask_login import login_required
from flask_wtf.csrf import CSRFError
from werkzeug.routing import BuildError

from hall import realtime
from hall.auth import Forbidden, check_hall, current_principal
from hall.domain import tickets
from hall.domain.errors import DomainError, Invalid
from hall.extensions import db
from hall.manage import blueprint
from hall.models import Hall, User, Window

MANAGERS = ("admin", "manager")
NOTICE_MAX = 500  # the limit hall.domain.tickets.set_notice enforces
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # tabs and line breaks pass


def _manager():
    """The signed-in principal when it is an admin or a manager; 403 otherwise."""
    principal = current_principal()
    if principal is None or principal.role not in MANAGERS:
        raise Forbidden(
            "forbidden", "只有管理员和负责人可以进入管理页面", "Only admins and managers may manage"
        )
    return principal


def _halls_for(principal) -> list[Hall]:
    """Halls this principal manages: its own, or every hall for accounts without one."""
    if principal.hall_id is not None:
        return [db.session.get(Hall, principal.hall_id)]
    return list(db.session.scalars(sa.select(Hall).order_by(Hall.code)))


def spreadsheet_url(hall: Hall) -> str | None:
    """The link of the matter-list spreadsheet page (导入导出事项清单), when it is installed."""
    if "manage.spreadsheet" not in current_app.view_functions:
        return None
    for arguments in ({"hall": hall.code}, {"hall_code": hall.code}, {}):
        try:
            return url_for("manage.spreadsheet", **arguments)
        except BuildError:
            continue
    return None


def page_context(hall: Hall, nav: str) -> dict:
    """What the frame of every management page needs: the hall and the active menu entry."""
    return {"hall": hall, "nav": nav, "spreadsheet_url": spreadsheet_url(hall)}


@blueprint.errorhandler(CSRFError)
def _csrf_error(err: CSRFError):
    """A missing or stale form token: nothing was changed; say so in both languages."""
    return render_template(
        "error.html",
        status=400,
        zh=_("页面已过期，请刷新后重试。"),
        en="The page has expired (missing or stale form token); reload it and try again.",
    ), 400


ROLE_NAMES = {
    "admin": lazy_gettext("管理员"),
    "manager": lazy_gettext("负责人"),
    "staff": lazy_gettext("窗口工作人员"),
}
STATUS_NAMES = {
    "open": lazy_gettext("服务中"),
    "paused": lazy_gettext("暂停服务"),
    "closed": lazy_gettext("未上岗"),
}


def hall_overview(hall: Hall) -> dict:
    """The read-only lists of a hall: windows with their queues and staff, and accounts."""
    windows = db.session.scalars(
        sa.select(Window).where(Window.hall_id == hall.id).order_by(Window.number)
    )
    users = db.session.scalars(
        sa.select(User).where(User.hall_id == hall.id).order_by(User.role, User.username)
    )
    return {
        "windows": [
            {
                "number": w.number,
                "name": w.name,
                "status": w.status,
                "status_name": str(STATUS_NAMES[w.status]),
                "staff": w.staff.display_name if w.staff else "",
                "queues": [f"{q.prefix} {q.name}" for q in w.queues],
            }
            for w in windows
        ],
        "accounts": [
            {
                "username": u.username,
                "display_name": u.display_name,
                "job_number": u.job_number,
                "role": str(ROLE_NAMES.get(u.role, u.role)),
                "active": u.active,
            }
            for u in users
        ],
    }


def _render(hall: Hall, halls: list[Hall], *, notice: str | None = None, error=None, status=200):
    return render_template(
        "manage/index.html",
        **page_context(hall, "index"),
        halls=[{"code": h.code, "name": h.name} for h in halls],
        notice=hall.notice if notice is None else notice,
        saved_notice=hall.notice,
        notice_max=NOTICE_MAX,
        error=error,
        overview=hall_overview(hall),
    ), status


@blueprint.get("/")
@login_required
def index():
    """Choose a hall (?hall=code) and manage it."""
    principal = _manager()
    halls = _halls_for(principal)
    if not halls:
        return render_template(
            "error.html", status=404, zh=_("还没有大厅"), en="There is no hall yet"
        ), 404
    code = request.args.get("hall")
    hall = tickets.get_hall(db.session, code) if code else halls[0]
    check_hall(principal, hall)
    return _render(hall, halls)


@blueprint.post("/<hall_code>/notice")
@login_required
def set_notice(hall_code: str):
    """Set the scrolling notice line of the hall screens (滚动通知); screens show it live."""
    principal = _manager()
    hall = tickets.get_hall(db.session, hall_code)
    check_hall(principal, hall)
    text = request.form.get("notice", "")
    try:
        if CONTROL.search(text):  # NUL and the like: no screen shows them, PostgreSQL refuses NUL
            raise Invalid(
                "notice_control_characters",
                "通知不能包含控制字符",
                "The notice cannot contain control characters",
            )
        tickets.set_notice(db.session, hall.code, text, actor=principal.actor)
        realtime.commit_and_publish(db.session)
    except DomainError as err:
        db.session.rollback()
        realtime.discard(db.session)
        hall = tickets.get_hall(db.session, hall_code)
        return _render(
            hall, _halls_for(principal), notice=text, error=(err.zh, err.en), status=err.status
        )
    flash(_("大厅屏幕的滚动通知已更新。"), "info")
    return redirect(url_for("manage.index", hall=hall.code))
