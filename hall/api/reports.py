"""Manager reports in the JSON API: GET /api/v1/reports?group=window&from=&to=.

Managers and admins (bearer token or cookie session) of the hall; staff are refused (403).
The numbers and their rules are those of hall.domain.reports (tickets, waits, service
times, no-shows, busy hours) and hall.domain.rates (completion rates); the answer is
report_dict, the same the page and the exports show, with the formulas.
"""

from __future__ import annotations

from flask import jsonify

from hall.api import blueprint
from hall.api.rates import _bad, _date_arg, _filters, _hall, _text_arg
from hall.auth import current_principal, require
from hall.domain import rates
from hall.domain import reports as domain
from hall.extensions import db

MANAGERS = ("manager", "admin")


@blueprint.get("/reports")
@require(*MANAGERS)
def reports():
    """Tickets issued/served/no-shows, waits (average, p90), service times, busy hours,
    the completion rates and the open overdue cases, by group."""
    principal = current_principal()
    hall = _hall(principal)
    group = _text_arg("group") or "window"
    if group not in domain.GROUPS:
        raise _bad(
            "group",
            f"参数 group 应为 {'、'.join(domain.GROUPS)} 之一",
            f"Parameter group must be one of {', '.join(domain.GROUPS)}",
            "bad_group",
        )
    today = rates.hall_today(db.session, hall.id)
    end = _date_arg("to") or today
    start = _date_arg("from") or end
    ids, _shown = _filters(hall)
    report = domain.build(
        db.session, hall_id=hall.id, start=start, end=end, group=group, today=today, **ids
    )
    data = domain.report_dict(report)
    # keep the rollup of the past days build() had to compute (lost harmlessly if refused)
    try:
        db.session.commit()
    except Exception:  # noqa: BLE001 — a cache write must never fail the report
        db.session.rollback()
    return jsonify(data)
