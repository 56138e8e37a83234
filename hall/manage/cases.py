"""Open cases for managers: due dates, yellow before and red after, by window and staff.

The page lists the hall's accepted cases that are still running (open or paused), due first,
with filters (state, window, staff); a manager completes, pauses or resumes any of them with a
plain form (no script needed). Below, the hall's rates today per window, each with its
formula (hall.domain.rates.FORMULAS).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import current_app, flash, redirect, render_template, request, url_for
from flask_babel import get_locale, lazy_gettext
from flask_babel import gettext as _
from flask_login import login_required
from werkzeug.routing import BuildError

from hall import realtime
from hall.auth import check_hall
from hall.domain import board, rates, tickets
from hall.domain import cases as casework
from hall.domain.errors import DomainError, NotFound
from hall.domain.workdays import Calendar
from hall.extensions import db
from hall.manage import blueprint
from hall.manage.views import _manager, page_context
from hall.models import Hall, User, Window
from hall.presenters import deadline_text

STATES = {
    "all": lazy_gettext("全部未办结"),
    "overdue": lazy_gettext("已逾期（红）"),
    "soon": lazy_gettext("即将到期（黄）"),
    "paused": lazy_gettext("暂停计时"),
}
PAUSE_KINDS = {"correction": lazy_gettext("补正材料"), "special": lazy_gettext("特别程序")}
# the rate columns of the per-window table, in order (labels and formulas from rates)
RATE_COLUMNS = (
    "on_the_spot_rate",
    "immediate_rate",
    "promised_rate",
    "strict_rate",
    "early_rate",
)


def _hall(hall_code: str):
    """The signed-in manager and the hall (403 for staff or another hall, 404 unknown)."""
    principal = _manager()
    if "\x00" in hall_code:  # PostgreSQL refuses NUL in text: no such hall
        raise NotFound("hall_not_found", "没有这个大厅", "No such hall")
    hall = tickets.get_hall(db.session, hall_code)
    check_hall(principal, hall)
    return principal, hall


def _warn_days() -> int:
    return int(current_app.config.get("HALL_CASE_WARN_DAYS", 2))


def _completion_url(number: str) -> str | None:
    """The completion notice (办结通知书) of a case, when the case documents are installed."""
    if "casedocs.document" not in current_app.view_functions:
        return None
    try:
        return url_for("casedocs.document", number=number, kind="completion")
    except BuildError:
        return None


def _receipt_url(number: str) -> str | None:
    if "casedocs.document" not in current_app.view_functions:
        return None
    try:
        return url_for("casedocs.document", number=number, kind="receipt")
    except BuildError:
        return None


def case_rows(hall: Hall) -> list[dict]:
    """The hall's running cases as the page lists them: masked applicant, window, staff,
    due date and deadline state in words; paused ones with their pause."""
    today = board.service_day(hall)
    calendar = Calendar(db.session, hall.id)
    rows = []
    for case in casework.open_cases(db.session, hall_id=hall.id, today=today):
        view = casework.case_dict(case, today=today, warn_days=_warn_days(), calendar=calendar)
        pause = next((p for p in reversed(view["pauses"]) if p["ended_on"] is None), None)
        rows.append(
            {
                "number": case.number,
                "matter": view["matter"]["name"],
                "limit": view["limit"]["label"],
                "applicant": view["applicant_name"],
                "phone": view["applicant_phone"],
                "window": view["window"],
                "window_id": case.window_id,
                "staff": view["staff"]["name"] if view["staff"] else "",
                "staff_id": case.staff_id,
                "accepted_on": view["accepted_on"],
                "due_date": view["due_date"] or "",
                "state": "paused" if pause else view["deadline_state"],
                "state_text": (
                    _("暂停计时：%(kind)s", kind=PAUSE_KINDS.get(pause["kind"], pause["kind"]))
                    if pause
                    else deadline_text(view["deadline_state"], view["working_days_left"])
                ),
                "paused": pause is not None,
                "pause_since": pause["started_on"] if pause else "",
                "pause_reason": pause["reason"] if pause else "",
                "receipt_url": _receipt_url(case.number),
            }
        )
    return rows


def window_rates(hall: Hall) -> dict:
    """The hall's rates today, one row per window (every window, also those without cases)
    and the total, with the formula of each rate in the page's language."""
    today = board.service_day(hall)
    found, total = rates.report(
        db.session, start=today, end=today, group="window", hall_id=hall.id, today=today
    )
    by_id = {row.id: row for row in found}
    rows = []
    for window in db.session.scalars(
        sa.select(Window).where(Window.hall_id == hall.id).order_by(Window.number)
    ):
        row = by_id.pop(window.id, None) or rates.RateRow(key=window.number, label="")
        rows.append({"label": _("%(n)s 号窗口", n=window.number), "name": window.name, "row": row})
    for row in by_id.values():  # cases recorded without a window
        rows.append({"label": _("未记录窗口"), "name": "", "row": row})
    locale = str(get_locale())
    return {
        "day": today.isoformat(),
        "rows": rows,
        "total": total,
        "percent": rates.percent,
        "columns": [
            {"key": key, "label": str(rates.COLUMNS[key]), "formula": rates.formula(key, locale)}
            for key in RATE_COLUMNS
        ],
        "labels": {key: str(label) for key, label in rates.COLUMNS.items()},
        "notes": rates.NOTES["en" if locale.startswith("en") else "zh"],
    }


def _filters() -> dict:
    """The list's filters from the query string or the form: state, window number, staff."""
    values = request.values
    state = values.get("state", "all")
    window = values.get("window", "")
    return {
        "state": state if state in STATES else "all",
        "window": window if window.isascii() and window.isdigit() and len(window) < 6 else "",
        "staff": (values.get("staff") or "")[:64],
    }


def _render(hall: Hall, *, error=None, error_number=None, typed=None, status=200):
    filters = _filters()
    every = case_rows(hall)
    windows = list(
        db.session.execute(
            sa.select(Window.id, Window.number, Window.name)
            .where(Window.hall_id == hall.id)
            .order_by(Window.number)
        )
    )
    staff_ids = {row["staff_id"] for row in every if row["staff_id"] is not None}
    people = list(
        db.session.execute(
            sa.select(User.id, User.username, User.display_name, User.job_number)
            .where(sa.or_(User.hall_id == hall.id, User.id.in_(staff_ids)))
            .order_by(User.job_number, User.username)
        )
    )
    window_id = next((w.id for w in windows if str(w.number) == filters["window"]), None)
    staff_id = next((p.id for p in people if p.username == filters["staff"]), None)
    shown = [
        row
        for row in every
        if (filters["state"] == "all" or row["state"] == filters["state"])
        and (not filters["window"] or row["window_id"] == window_id)
        and (not filters["staff"] or row["staff_id"] == staff_id)
    ]
    counts = {state: sum(1 for row in every if row["state"] == state) for state in STATES}
    counts["all"] = len(every)
    done = request.args.get("done", "")[:40]
    return render_template(
        "manage/cases.html",
        **page_context(hall, "cases"),
        cases=shown,
        counts=counts,
        filters=filters,
        states=[(key, str(label)) for key, label in STATES.items()],
        windows=[(str(w.number), _("%(n)s 号窗口", n=w.number) + " " + w.name) for w in windows],
        people=[
            (p.username, p.display_name + (f"（{p.job_number}）" if p.job_number else ""))
            for p in people
        ],
        pause_kinds=[(key, str(label)) for key, label in PAUSE_KINDS.items()],
        rates=window_rates(hall),
        warn_days=_warn_days(),
        done=done,
        done_url=_completion_url(done) if done else None,
        error=error,
        error_number=error_number,
        typed=typed or {},
    ), status


@blueprint.get("/<hall_code>/cases")
@login_required
def cases(hall_code: str):
    """The hall's open cases (办件) with filters, and its rates today per window."""
    _principal, hall = _hall(hall_code)
    return _render(hall)


@blueprint.post("/<hall_code>/cases/<number>/<any(complete, pause, resume):action>")
@login_required
def case_action(hall_code: str, number: str, action: str):
    """Complete (办结, with a result), pause (暂停计时, with kind and reason) or resume a case."""
    principal, hall = _hall(hall_code)
    form = request.form
    typed = {
        "action": action,
        "result": form.get("result", ""),
        "kind": form.get("kind", "correction"),
        "reason": form.get("reason", ""),
    }
    try:
        case = casework.get_case_by_number(db.session, number[:40])
        if case.hall_id != hall.id:
            raise NotFound("case_not_found", f"本大厅没有编号为 {number} 的办件", "No such case")
        number = case.number
        if action == "complete":
            casework.complete(db.session, case.id, actor=principal.actor, result=typed["result"])
        elif action == "pause":
            casework.pause(
                db.session,
                case.id,
                kind=typed["kind"],
                reason=typed["reason"],
                actor=principal.actor,
            )
        else:
            casework.resume(db.session, case.id, actor=principal.actor)
        realtime.commit_and_publish(db.session)
    except DomainError as err:
        db.session.rollback()
        realtime.discard(db.session)
        hall = tickets.get_hall(db.session, hall_code)
        return _render(
            hall, error=(err.zh, err.en), error_number=number, typed=typed, status=err.status
        )
    filters = {key: value for key, value in _filters().items() if value and value != "all"}
    if action == "complete":
        filters["done"] = number  # the page says so, with the completion notice to print
    elif action == "pause":
        flash(_("办件 %(number)s 已暂停计时。", number=number), "info")
    else:
        flash(_("办件 %(number)s 已恢复计时。", number=number), "info")
    return redirect(url_for("manage.cases", hall_code=hall.code, **filters))
