"""Completion rates in the JSON API: GET /api/v1/rates?group=window&from=&to=.

Staff, managers and admins (bearer token or cookie session), within their hall. The numbers
and their rules are those of hall.domain.rates; every answer carries the formulas.
"""

from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa
from flask import jsonify, request

from hall.api import blueprint
from hall.auth import check_hall, current_principal, require
from hall.domain import guide, tickets
from hall.domain import rates as domain
from hall.domain.errors import Invalid, NotFound
from hall.extensions import db
from hall.models import Hall, Matter, User

STAFF = ("staff", "manager", "admin")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
MAX_TEXT = 64


def _bad(name: str, zh: str, en: str, code: str = "bad_parameter") -> Invalid:
    return Invalid(code, zh, en, parameter=name)


def _text_arg(name: str) -> str | None:
    """A query-string parameter, stripped; None when absent or empty."""
    value = request.args.get(name)
    if value is None or not value.strip():
        return None
    if len(value) > MAX_TEXT:
        raise _bad(
            name,
            f"参数 {name} 过长（最多 {MAX_TEXT} 个字符）",
            f"Parameter {name} is too long (at most {MAX_TEXT} characters)",
        )
    return value.strip()


def _date_arg(name: str) -> date | None:
    value = _text_arg(name)
    if value is None:
        return None
    try:
        if not ISO_DATE.fullmatch(value):
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise _bad(
            name,
            f"参数 {name} 应为日期，格式 YYYY-MM-DD",
            f"Parameter {name} must be a date, YYYY-MM-DD",
            "bad_date",
        ) from None


def _hall(principal) -> Hall:
    """The hall asked for; else the principal's hall; else the only hall there is."""
    code = _text_arg("hall")
    if code is not None:
        hall = tickets.get_hall(db.session, code)
    elif principal.hall_id is not None:
        hall = db.session.get(Hall, principal.hall_id)
    else:
        halls = db.session.scalars(sa.select(Hall).limit(2)).all()
        if len(halls) != 1:
            raise _bad(
                "hall",
                "有多个大厅，请用参数 hall 指定大厅编码",
                "There are several halls: give the hall code with the parameter hall",
                "hall_required",
            )
        hall = halls[0]
    check_hall(principal, hall)
    return hall


def _filters(hall: Hall) -> tuple[dict, dict]:
    """The window/department/matter/staff filters: (ids for the domain, keys as given)."""
    ids, shown = {}, {}
    number = _text_arg("window")
    if number is not None:
        if not number.isascii() or not number.isdigit() or not 0 < int(number) < 100000:
            raise _bad(
                "window",
                "参数 window 应为窗口号（正整数）",
                "Parameter window must be a window number (a positive integer)",
            )
        ids["window_id"] = tickets.get_window(db.session, hall, int(number)).id
        shown["window"] = int(number)
    code = _text_arg("department")
    if code is not None:
        ids["department_id"] = guide.get_department(db.session, code).id
        shown["department"] = code
    code = _text_arg("matter")
    if code is not None:
        matter = db.session.scalar(sa.select(Matter).where(Matter.code == code))
        if matter is None:
            raise NotFound(
                "matter_not_found", f"没有编码为 {code} 的事项", f"No matter with code {code}"
            )
        ids["matter_id"] = matter.id
        shown["matter"] = code
    username = _text_arg("staff")
    if username is not None:
        user = db.session.scalar(sa.select(User).where(User.username == username))
        if user is None or (user.hall_id is not None and user.hall_id != hall.id):
            raise NotFound(
                "staff_not_found",
                f"本大厅没有用户名为 {username} 的工作人员",
                f"No staff member {username} in this hall",
            )
        ids["staff_id"] = user.id
        shown["staff"] = username
    return ids, shown


@blueprint.get("/rates")
@require(*STAFF)
def rates():
    """当场办结率, 承诺办结率 (with open overdue and strict rate), 提前办结率, by group."""
    principal = current_principal()
    hall = _hall(principal)
    group = _text_arg("group")
    if group is not None and group not in domain.GROUPS:
        raise _bad(
            "group",
            f"参数 group 应为 {'、'.join(domain.GROUPS)} 之一",
            f"Parameter group must be one of {', '.join(domain.GROUPS)}",
            "bad_group",
        )
    today = domain.hall_today(db.session, hall.id)
    end = _date_arg("to")
    start = _date_arg("from")
    end = end or today  # from alone: up to today; neither: today
    start = start or end
    ids, shown = _filters(hall)
    rows, total = domain.report(
        db.session, start=start, end=end, group=group, hall_id=hall.id, today=today, **ids
    )
    return jsonify(
        {
            "hall": hall.code,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "today": today.isoformat(),
            "group": group,
            "filters": shown,
            "rows": [domain.rate_dict(row) for row in rows],
            "total": domain.rate_dict(total),
            "formulas": domain.FORMULAS,
            "notes": domain.NOTES,
        }
    )
