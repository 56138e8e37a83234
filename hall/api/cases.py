"""Cases in the JSON API: list (overdue filter), one case, pause, resume, complete.

Names and phones of applicants are masked in every answer (张*三, 138****0000).
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import current_app, jsonify, request
from werkzeug.routing import BuildError

from hall import realtime
from hall.api import blueprint
from hall.auth import check_hall, current_principal, require
from hall.domain import cases, tickets
from hall.domain.board import service_day
from hall.domain.errors import Forbidden, Invalid
from hall.domain.workdays import Calendar
from hall.extensions import db
from hall.jsonbody import body, text_field
from hall.models import Case, Hall, User
from hall.urls import external

STAFF = ("staff", "manager", "admin")
DEFAULT_LIMIT = 200
MAX_LIMIT = 1000
# the printed documents of a case by outcome (blueprint casedocs, when installed)
DOCUMENTS = {
    "on_the_spot": ("completion",),
    "accepted": ("receipt",),
    "correction": ("correction",),
    "rejected": ("rejection",),
    "consultation": (),
}


class CaseViews:
    """Turns cases into JSON for one request: one working-day calendar per hall, today as
    each hall's local date, the configured warning days, and the document links."""

    def __init__(self) -> None:
        self.warn_days = current_app.config.get("HALL_CASE_WARN_DAYS", 2)
        self._calendars: dict[int, Calendar] = {}
        self._today: dict[int, date] = {}

    def __call__(self, case: Case) -> dict:
        """The masked JSON of a case, with its documents when casedocs is installed."""
        if case.hall_id not in self._calendars:
            self._calendars[case.hall_id] = Calendar(db.session, case.hall_id)
            self._today[case.hall_id] = service_day(case.hall)
        view = cases.case_dict(
            case,
            today=self._today[case.hall_id],
            warn_days=self.warn_days,
            masked=True,
            calendar=self._calendars[case.hall_id],
        )
        view.update(_links(case))
        return view


def _links(case: Case) -> dict:
    """The print and verification links of a case, when the casedocs blueprint is there."""
    links: dict = {}
    if not case.number:
        return links
    functions = current_app.view_functions
    try:
        if "casedocs.document" in functions:
            kinds = list(DOCUMENTS[case.outcome])
            if case.outcome == "accepted" and case.status == "completed":
                kinds.append("completion")
            links["documents"] = [
                {"kind": kind, "url": external("casedocs.document", number=case.number, kind=kind)}
                for kind in kinds
            ]
        if "casedocs.verify" in functions:
            links["verify_url"] = external("casedocs.verify", token=case.verify_token)
    except BuildError:  # the other blueprint's routes changed: answer without the links
        current_app.logger.warning("casedocs links could not be built for %s", case.number)
    return links


def _bad(name: str, zh: str, en: str) -> Invalid:
    return Invalid("bad_parameter", zh, en, parameter=name)


def _arg(name: str, max_len: int = 64) -> str | None:
    value = request.args.get(name)
    if value is None or not value.strip():
        return None
    if len(value) > max_len:
        raise _bad(name, f"参数 {name} 过长", f"Parameter {name} is too long")
    return value.strip()


def _int_arg(name: str, low: int = 1, high: int = 99999) -> int | None:
    raw = _arg(name, 12)
    if raw is None:
        return None
    if not raw.isascii() or not raw.isdigit() or not low <= int(raw) <= high:
        raise _bad(
            name,
            f"参数 {name} 应为 {low} 到 {high} 之间的整数",
            f"Parameter {name} must be an integer from {low} to {high}",
        )
    return int(raw)


def _flag(name: str) -> bool:
    raw = (_arg(name, 8) or "0").lower()
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise _bad(name, f"参数 {name} 应为 1 或 0", f"Parameter {name} must be 1 or 0")


def _hall_arg(principal) -> Hall | None:
    """The hall asked about: the principal's own, or `hall=` for those bound to none."""
    code = _arg("hall", 32)
    if code is not None:
        hall = tickets.get_hall(db.session, code)
        check_hall(principal, hall)
        return hall
    if principal.hall_id is not None:
        return db.session.get(Hall, principal.hall_id)
    return None


def _staff_arg(principal) -> int | None:
    """`staff=me` or a username: whose cases."""
    name = _arg("staff")
    if name is None:
        return None
    if name == "me":
        if principal.user is None:
            raise _bad("staff", "没有登录的工作人员", "No signed-in staff member")
        return principal.user.id
    user_id = db.session.scalar(sa.select(User.id).where(User.username == name))
    if user_id is None:
        raise _bad("staff", f"没有用户名为 {name} 的工作人员", f"No staff member {name}")
    return user_id


def _status_arg() -> tuple[str, ...] | None:
    """`status=`: open, paused, completed, closed, or all; absent: open and paused."""
    raw = _arg("status", 16)
    if raw is None:
        return cases.ACTIVE_STATUSES
    if raw == "all":
        return None
    if raw not in cases.CASE_STATUS_FILTERS:
        raise _bad(
            "status",
            "参数 status 只能是 open、paused、completed、closed 或 all",
            "Parameter status must be open, paused, completed, closed or all",
        )
    return (raw,)


@blueprint.get("/cases")
@require(*STAFF)
def list_cases():
    """Cases of the hall: running ones due first (open and paused), with their deadline
    colour; ?overdue=1 only those past their due date (逾期), ?window=, ?staff=, ?status=."""
    principal = current_principal()
    hall = _hall_arg(principal)
    window_number = _int_arg("window")
    window_id = None
    if window_number is not None:
        if hall is None:
            raise _bad("window", "按窗口查询时请同时给出 hall", "Give hall with window")
        window_id = tickets.get_window(db.session, hall, window_number).id
    staff_id = _staff_arg(principal)
    statuses = _status_arg()
    overdue = _flag("overdue")
    limit = _int_arg("limit", 1, MAX_LIMIT) or DEFAULT_LIMIT
    rows = cases.list_cases(
        db.session,
        hall_id=hall.id if hall else None,
        window_id=window_id,
        staff_id=staff_id,
        statuses=statuses,
        overdue=overdue,
        limit=limit,
    )
    views = CaseViews()
    items = [views(case) for case in rows]
    return jsonify(
        {
            "hall": hall.code if hall else None,
            "today": service_day(hall).isoformat() if hall else None,
            "warn_days": views.warn_days,
            "count": len(items),
            "limit": limit,
            "cases": items,
        }
    )


def _case(number: str) -> Case:
    """The case named in the URL (its number, or its id for a consultation), of a hall the
    principal may see."""
    if number.isascii() and number.isdigit() and len(number) < 10:
        case = cases.get_case(db.session, int(number))
    else:
        case = cases.get_case_by_number(db.session, number)
    principal = current_principal()
    if principal.hall_id is not None and principal.hall_id != case.hall_id:
        raise Forbidden("other_hall", "无权查看其他大厅的办件", "Not allowed for another hall")
    return case


def _date_field(data: dict, name: str) -> date | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    try:
        if not isinstance(value, str) or len(value) != 10:
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid(
            "bad_field",
            f"字段 {name} 应为日期（YYYY-MM-DD）",
            f"Field {name} must be a date (YYYY-MM-DD)",
            field=name,
        ) from None


def _long_text(data: dict, name: str) -> str:
    value = data.get(name)
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > cases.TEXT_MAX:
        raise Invalid(
            "bad_field",
            f"字段 {name} 应为不超过 {cases.TEXT_MAX} 字的文字",
            f"Field {name} must be a string of at most {cases.TEXT_MAX} characters",
            field=name,
        )
    return value


def _answer(case: Case):
    view = {"case": CaseViews()(case)}
    realtime.commit_and_publish(db.session)
    return jsonify(view)


@blueprint.get("/cases/<number>")
@require(*STAFF)
def show_case(number: str):
    """One case with its pauses, due date and deadline colour."""
    return jsonify({"case": CaseViews()(_case(number))})


@blueprint.post("/cases/<number>/pause")
@require(*STAFF)
def pause_case(number: str):
    """Stop the clock (补正 wait or special procedure): {"kind", "reason", "on"?}."""
    data = body()
    kind = text_field(data, "kind", required=True, max_len=16)
    reason = _long_text(data, "reason")
    on = _date_field(data, "on")
    case = _case(number)
    case = cases.pause(
        db.session, case.id, kind=kind, reason=reason, on=on, actor=current_principal().actor
    )
    return _answer(case)


@blueprint.post("/cases/<number>/resume")
@require(*STAFF)
def resume_case(number: str):
    """Restart the clock: {"on"?} (default today); the due date is computed anew."""
    on = _date_field(body(), "on")
    case = _case(number)
    case = cases.resume(db.session, case.id, on=on, actor=current_principal().actor)
    return _answer(case)


@blueprint.post("/cases/<number>/complete")
@require(*STAFF)
def complete_case(number: str):
    """Complete an open accepted case (办结): {"result"?}; timing early/on_time/late."""
    result = _long_text(body(), "result")
    case = _case(number)
    case = cases.complete(db.session, case.id, result=result, actor=current_principal().actor)
    return _answer(case)
