"""The report's files (统计报表导出): .xlsx, PDF or .csv of the report page's numbers.

GET /manage/<hall>/reports/export?format=xlsx|pdf|csv&from=&to=&group=&window=&department=
&matter=&staff= takes the report page's filters (window number, department and matter codes,
staff username; this month up to today by default) and answers the file made from
hall.domain.reports.report_dict — the page's and the API's numbers. Managers and admins only;
each export writes an AuditEvent ``report.export`` naming the format, period and filters.
"""

from __future__ import annotations

import io

from flask import request, send_file
from flask_login import login_required

from hall.domain import board
from hall.domain.errors import Invalid
from hall.extensions import db
from hall.manage import blueprint
from hall.manage.cases import _hall
from hall.models import AuditEvent, utcnow

FILTERS = ("window", "department", "matter", "staff")
MAX_TEXT = 64


def _arg(name: str) -> str:
    """A query-string value, stripped; refuses long values and control characters."""
    value = (request.args.get(name) or "").strip()
    if len(value) > MAX_TEXT or not value.isprintable():
        raise Invalid(
            "bad_parameter",
            f"参数 {name} 无效（过长或含控制字符）",
            f"Parameter {name} is invalid (too long or with control characters)",
        )
    return value


@blueprint.get("/<hall_code>/reports/export")
@login_required
def report_export(hall_code: str):
    """The report as a file for the same filters as the page; audited."""
    # imported when asked for: openpyxl takes 0.4 s to import, at every process start
    from hall.domain import report_export as files

    principal, hall = _hall(hall_code)
    fmt = files.check_format(_arg("format") or "xlsx")
    today = board.service_day(hall)
    start, end = files.default_period(
        files.parse_day(_arg("from"), "开始"), files.parse_day(_arg("to"), "结束"), today
    )
    group = _arg("group") or "window"
    chosen = {name: _arg(name) for name in FILTERS}
    data = files.report_for(
        db.session, hall, start=start, end=end, group=group, today=today, **chosen
    )
    content = files.export(data, fmt)
    detail = " ".join(
        [f"format={fmt}", f"from={start}", f"to={end}", f"group={group}"]
        + [f"{name}={value}" for name, value in chosen.items() if value]
    )
    db.session.add(
        AuditEvent(
            hall_id=hall.id,
            user_id=principal.actor.user_id,
            action="report.export",
            detail=detail[:500],
            at=utcnow(),
        )
    )
    db.session.commit()
    return send_file(
        io.BytesIO(content),
        mimetype=files.MIMETYPES[fmt],
        as_attachment=True,
        download_name=files.file_name(data, fmt),
        max_age=0,
    )
