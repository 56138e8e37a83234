"""Counter views (窗口工作台): sign in, choose a window, the working page.

The working page is rendered with the window's state prepared here; its script then keeps it
right from the board snapshots and events, and acts through the JSON API (/api/v1). The
staff member's open cases (我的办件) and the window's rates today (本窗口今日) are rendered
here too, and fetched again as HTML after each finish or case action (`panels`).
"""

from __future__ import annotations

import math
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import get_locale, lazy_gettext
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm import selectinload
from werkzeug.routing import BuildError

from hall import realtime, security
from hall.auth import Forbidden, check_hall, current_principal, sign_in
from hall.counter import blueprint
from hall.domain import board, rates, tickets
from hall.domain import cases as casework
from hall.domain.workdays import Calendar
from hall.extensions import db
from hall.models import Hall, Matter, Ticket, TicketEvent, User, Window
from hall.presenters import deadline_text

RECENT_AT_WINDOW = 12
USUAL_MATTERS = 20  # the window's usual matters offered in the finish panel; search finds all
# the printed documents of a case (hall.casedocs), by the kind in their URL
DOCUMENT_KINDS = ("receipt", "correction", "rejection", "completion")
NUMBER_SLOT = "__NUMBER__"  # replaced by a case number in the page's script
PAUSE_TEXTS = {"correction": lazy_gettext("补正材料"), "special": lazy_gettext("特别程序")}
STAFF_ROLES = ("staff", "manager", "admin")


# ---------------------------------------------------------------- sign in / out


def safe_next(target: str | None) -> str | None:
    """The `next` target when it is a path on this site; None for anything else."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ord(c) < 32 or c == "\\" for c in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return None
    return target


@blueprint.route("/login", methods=["GET", "POST"])
def login():
    """Staff sign-in (工作人员登录)."""
    target = safe_next(request.values.get("next"))
    if request.method == "GET" and current_user.is_authenticated:
        return redirect(target or url_for("counter.index"))
    error = None
    username = ""
    status = 200
    headers = {}
    if request.method == "POST":
        username = (request.form.get("username") or "").strip()[:64]
        password = request.form.get("password") or ""
        attempt = sign_in(db.session, username, password)
        who = f"username={username}"
        if attempt.ok:
            login_user(attempt.user)
            security.audit(db.session, "auth.login", user=attempt.user)
            db.session.commit()
            return redirect(target or url_for("counter.index"))
        if attempt.locked:
            # never the password in the audit trail: the username and the count only
            if attempt.newly_locked:
                detail = f"{who} failures={attempt.failures} seconds={attempt.retry_after}"
                security.audit(db.session, "auth.locked", user=attempt.user, detail=detail)
            else:
                detail = f"{who} refused: locked for {attempt.retry_after} s more"
                security.audit(db.session, "auth.login_failed", user=attempt.user, detail=detail)
            minutes = max(1, math.ceil(attempt.retry_after / 60))
            error = (
                _("账号已锁定，请 %(n)s 分钟后再试。", n=minutes),
                f"Account locked; try again in {minutes} minute{'s' if minutes > 1 else ''}.",
            )
            status = 429
            headers["Retry-After"] = str(attempt.retry_after)
        else:
            detail = f"{who} failures={attempt.failures}"
            security.audit(db.session, "auth.login_failed", user=attempt.user, detail=detail)
            error = (
                _("用户名或密码不正确，请重新输入。"),
                "Wrong username or password; please try again.",
            )
            status = 401
        db.session.commit()
    return (
        render_template("counter/login.html", error=error, username=username, next=target),
        status,
        headers,
    )


@blueprint.errorhandler(CSRFError)
def _csrf_error(err: CSRFError):
    """An expired or missing form token: show the form again (login) or say so."""
    zh = _("页面已过期，请刷新后重试。")
    en = "The page has expired (missing or stale form token); reload it and try again."
    if request.endpoint == "counter.login":
        return render_template(
            "counter/login.html",
            error=(zh, en),
            username=(request.form.get("username") or "")[:64],
            next=safe_next(request.values.get("next")),
        ), 400
    return render_template("error.html", status=400, zh=zh, en=en), 400


@blueprint.post("/logout")
def logout():
    """Sign out of the browser session (the window stays as it is; sign off first)."""
    if current_user.is_authenticated:
        security.audit(db.session, "auth.logout", user=current_user._get_current_object())
        db.session.commit()
    logout_user()
    flash(_("已退出登录。"), "info")
    return redirect(url_for("counter.login"))


# ---------------------------------------------------------------- choose a window


def _halls_of(user: User) -> list[Hall]:
    """The halls a user may work in: their own, or every hall for accounts without one."""
    if user.hall_id is not None:
        return [db.session.get(Hall, user.hall_id)]
    return list(db.session.scalars(sa.select(Hall).order_by(Hall.code)))


def _staff_principal():
    principal = current_principal()
    if principal is None or principal.role not in STAFF_ROLES:
        raise Forbidden("forbidden", "没有权限执行此操作", "Not allowed for your role")
    return principal


def _staff_hall(hall_code: str):
    """The signed-in staff member and the hall they act in (403 for another hall)."""
    principal = _staff_principal()
    hall = tickets.get_hall(db.session, hall_code)
    check_hall(principal, hall)
    return principal, hall


@blueprint.get("/")
@login_required
def index():
    """Choose a window of the user's hall (选择窗口)."""
    _staff_principal()
    halls = []
    for hall in _halls_of(current_user):
        snap = board.snapshot(db.session, hall)
        names = {q["prefix"]: q["name"] for q in snap["queues"]}
        waiting = {q["prefix"]: q["waiting"] for q in snap["queues"]}
        staff_ids = {w.number: w.staff_id for w in hall.windows}
        windows = []
        for w in snap["windows"]:
            staff_id = staff_ids.get(w["number"])
            windows.append(
                {
                    **w,
                    "mine": staff_id == current_user.id and w["status"] != "closed",
                    "queue_names": [(p, names.get(p, p)) for p in w["queues"]],
                    "waiting": sum(waiting.get(p, 0) for p in w["queues"]),
                }
            )
        halls.append({"code": hall.code, "name": hall.name, "windows": windows})
    return render_template("counter/index.html", halls=halls)


@blueprint.post("/<hall_code>/<int(max=2147483647):number>/open")
@login_required
def open_window(hall_code: str, number: int):
    """Sign in to a window (上岗): open it with the current user on duty, then work there."""
    principal, hall = _staff_hall(hall_code)
    window = tickets.get_window(db.session, hall, number)
    if window.staff_id != current_user.id or window.status == "closed":
        tickets.set_window_status(
            db.session, hall.code, number, "open", staff_id=current_user.id, actor=principal.actor
        )
        realtime.commit_and_publish(db.session)
    return redirect(url_for("counter.window", hall_code=hall.code, number=number))


# ---------------------------------------------------------------- the working page


def _local_time(hall: Hall, value) -> str:
    return value.astimezone(ZoneInfo(hall.timezone)).strftime("%H:%M") if value else ""


def recent_at_window(hall: Hall, window: Window, limit: int = RECENT_AT_WINDOW) -> list[dict]:
    """Today's tickets called at this window, newest call first, with their state now."""
    day = board.service_day(hall)
    last_call = (
        sa.select(TicketEvent.ticket_id, sa.func.max(TicketEvent.id).label("event_id"))
        .join(Ticket, Ticket.id == TicketEvent.ticket_id)
        .where(
            TicketEvent.hall_id == hall.id,
            TicketEvent.window_id == window.id,
            TicketEvent.action.in_(("called", "recalled")),
            Ticket.service_day == day,
        )
        .group_by(TicketEvent.ticket_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(Ticket, TicketEvent.at)
        .join(last_call, last_call.c.ticket_id == Ticket.id)
        .join(TicketEvent, TicketEvent.id == last_call.c.event_id)
        .order_by(last_call.c.event_id.desc())
        .limit(limit)
    ).all()
    return [
        {
            "id": t.id,
            "number": t.label,
            "queue": t.queue.prefix,
            "status": t.status,
            "window": t.window.number if t.window and t.status in ("called", "serving") else None,
            "returned": t.returned,
            "at": board.iso(at),
            "time": _local_time(hall, at),
        }
        for t, at in rows
    ]


def _current_dict(ticket: Ticket | None) -> dict | None:
    """The window's ticket as the page shows it: its public face and when it was last called."""
    if ticket is None:
        return None
    return {**board.ticket_dict(ticket), "last_called_at": board.iso(ticket.last_called_at)}


def window_state(hall: Hall, window: Window) -> dict:
    """Everything the working page starts from: the window, its ticket, queues, counts."""
    snap = board.snapshot(db.session, hall)
    current = board.current_tickets(db.session, hall).get(window.id)
    return {
        "hall": {"code": hall.code, "name": hall.name},
        "timezone": hall.timezone,
        "seq": snap["seq"],
        "now": snap["now"],
        "window": board.window_dict(window, current),
        "me": {"display_name": current_user.display_name, "job_number": current_user.job_number},
        "current": _current_dict(current),
        "queues": snap["queues"],
        "windows": [
            {"number": w["number"], "name": w["name"], "status": w["status"]}
            for w in snap["windows"]
        ],
        "recent": recent_at_window(hall, window),
    }


@blueprint.get("/<hall_code>/<int(max=2147483647):number>")
@login_required
def window(hall_code: str, number: int):
    """The working page of one window (窗口工作台)."""
    _principal, hall = _staff_hall(hall_code)
    win = tickets.get_window(db.session, hall, number)
    state = window_state(hall, win)
    waiting = {q["prefix"]: q["waiting"] for q in state["queues"]}
    served = [
        {"prefix": q.prefix, "name": q.name, "waiting": waiting.get(q.prefix, 0)}
        for q in win.queues
    ]
    other = (
        win.staff
        if win.staff and win.status != "closed" and win.staff_id != current_user.id
        else None
    )
    return render_template(
        "counter/window.html",
        hall=hall,
        win=win,
        state=state,
        served=served,
        duty_warning=other.display_name if other else None,
        finish_data={
            "usual": usual_matters(win),
            "documents": document_urls(),
            "number_slot": NUMBER_SLOT,
        },
        **panel_context(hall, win),
    )


@blueprint.get("/<hall_code>/<int(max=2147483647):number>/panels")
@login_required
def panels(hall_code: str, number: int):
    """我的办件 and 本窗口今日 as HTML, for the page to put in after a finish or a case action."""
    _principal, hall = _staff_hall(hall_code)
    win = tickets.get_window(db.session, hall, number)
    context = panel_context(hall, win)
    return jsonify(
        {
            "cases": render_template("counter/_my_cases.html", **context),
            "rates": render_template("counter/_window_rates.html", **context),
        }
    )


# ---------------------------------------------------------------- outcomes, cases and rates


def warn_days() -> int:
    """How many working days before its due date an open case turns yellow."""
    return int(current_app.config.get("HALL_CASE_WARN_DAYS", 2))


def document_urls() -> dict[str, str]:
    """The URL of each printed document with NUMBER_SLOT for the case number ({} when the
    case documents are not installed: no print button is shown then)."""
    if "casedocs.document" not in current_app.view_functions:
        return {}
    urls = {}
    for kind in DOCUMENT_KINDS:
        try:
            urls[kind] = url_for("casedocs.document", number=NUMBER_SLOT, kind=kind)
        except BuildError:
            continue
    return urls


def matter_choice(matter: Matter) -> dict:
    """A matter as the finish panel offers it: the same fields as GET /api/v1/matters/<code>."""
    return {
        "code": matter.code,
        "name": matter.name,
        "kind": matter.kind,
        "kind_label": matter.kind_label,
        "promised_limit": {"days": matter.promised_days, "label": matter.promised_label},
        "materials": [
            {
                "name": m.name,
                "required": m.required,
                "form_label": m.form_label,
                "copies": m.copies,
                "notes": m.notes,
            }
            for m in matter.materials
        ],
    }


def usual_matters(win: Window) -> list[dict]:
    """The window's usual matters (those of its queues, in its calling order), with materials."""
    order = {link.queue_id: position for position, link in enumerate(win.queue_links)}
    if not order:
        return []
    found = list(
        db.session.scalars(
            sa.select(Matter)
            .where(Matter.active.is_(True), Matter.queue_id.in_(order))
            .options(selectinload(Matter.materials))
            .order_by(Matter.sort_order, Matter.code)
        )
    )
    found.sort(key=lambda m: order[m.queue_id])  # stable: catalogue order within a queue
    return [matter_choice(m) for m in found[:USUAL_MATTERS]]


def case_rows(hall: Hall, cases: list) -> list[dict]:
    """Open cases as the counter and its lists show them: masked applicant, due date,
    deadline state (yellow "soon", red "overdue") in words, and the pause when paused."""
    today = board.service_day(hall)
    calendar = Calendar(db.session, hall.id)
    receipt = document_urls().get("receipt")
    rows = []
    for case in cases:
        view = casework.case_dict(case, today=today, warn_days=warn_days(), calendar=calendar)
        pause = next((p for p in reversed(view["pauses"]) if p["ended_on"] is None), None)
        rows.append(
            {
                "number": case.number,
                "matter": view["matter"]["name"],
                "applicant": view["applicant_name"],
                "phone": view["applicant_phone"],
                "window": view["window"],
                "staff": view["staff"]["name"] if view["staff"] else "",
                "accepted_on": view["accepted_on"],
                "due_date": view["due_date"] or "",
                "limit": view["limit"]["label"],
                "state": "paused" if pause else view["deadline_state"],
                "state_text": (
                    _("暂停计时：%(kind)s", kind=PAUSE_TEXTS.get(pause["kind"], pause["kind"]))
                    if pause
                    else deadline_text(view["deadline_state"], view["working_days_left"])
                ),
                "paused": pause is not None,
                "pause_reason": pause["reason"] if pause else "",
                "pause_since": pause["started_on"] if pause else "",
                "receipt_url": receipt.replace(NUMBER_SLOT, case.number) if receipt else None,
            }
        )
    return rows


def my_cases(hall: Hall, user: User) -> list[dict]:
    """The signed-in staff member's open accepted cases in this hall (我的办件), due first."""
    found = casework.open_cases(
        db.session, hall_id=hall.id, staff_id=user.id, today=board.service_day(hall)
    )
    return case_rows(hall, found)


def window_rates(hall: Hall, win: Window) -> dict:
    """This window's rates today (本窗口今日), each with its formula (rates.FORMULAS)."""
    today = board.service_day(hall)
    (row,) = rates.compute(
        db.session, start=today, end=today, hall_id=hall.id, window_id=win.id, today=today
    )
    locale = str(get_locale())

    def card(key: str, detail: str, alert: bool = False) -> dict:
        return {
            "key": key,
            "label": str(rates.COLUMNS[key]),
            "value": rates.percent(getattr(row, key)),
            "detail": detail,
            "formula": rates.formula(key, locale),
            "alert": alert,
        }

    return {
        "day": today.isoformat(),
        "cards": [
            card(
                "on_the_spot_rate",
                _(
                    "当场办结 %(done)s 件 / 受理总数 %(all)s 件",
                    done=row.on_the_spot,
                    all=row.handled,
                ),
            ),
            card(
                "promised_rate",
                _(
                    "按时办结 %(done)s 件 / 已办结承诺件 %(all)s 件",
                    done=row.promised_on_time,
                    all=row.promised_completed,
                ),
            ),
            card(
                "strict_rate",
                _("逾期未办结 %(n)s 件", n=row.open_overdue),
                alert=row.open_overdue > 0,
            ),
            card(
                "early_rate",
                _(
                    "提前办结 %(done)s 件 / 已办结承诺件 %(all)s 件",
                    done=row.early,
                    all=row.promised_completed,
                ),
            ),
        ],
    }


def panel_context(hall: Hall, win: Window) -> dict:
    """What 我的办件 and 本窗口今日 need."""
    return {
        "my_cases": my_cases(hall, current_user),
        "rates": window_rates(hall, win),
    }
