"""The matter list (事项清单) as a spreadsheet: template, import and export pages."""

from __future__ import annotations

import io
from datetime import datetime
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import render_template, request, send_file
from flask_babel import gettext as _
from flask_login import login_required

from hall.auth import check_hall
from hall.domain import catalog_io
from hall.domain.errors import DomainError
from hall.domain.tickets import get_hall
from hall.extensions import db
from hall.manage import blueprint
from hall.manage.views import _manager
from hall.models import Hall, Matter

MIMETYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv",
}
SHOWN_PROBLEMS = 500  # rows of the problem table on the page; the count names the rest
SHOWN_CHANGES = 500
# a request body this much larger than the file limit is refused before it is read
UPLOAD_SLACK = 64 * 1024


def _halls(principal) -> tuple[Hall | None, list[Hall]]:
    """The hall whose queues the file's 排队业务 letters name (?hall=), and the choices."""
    if principal.hall_id is not None:
        halls = [db.session.get(Hall, principal.hall_id)]
    else:
        halls = list(db.session.scalars(sa.select(Hall).order_by(Hall.code)))
    code = request.values.get("hall")
    hall = get_hall(db.session, code) if code else (halls[0] if halls else None)
    if hall is not None:
        check_hall(principal, hall)
    return hall, halls


def _download(data: bytes, stem: str, fmt: str, hall: Hall | None):
    zone = ZoneInfo(hall.timezone if hall else "Asia/Shanghai")
    day = datetime.now(zone).strftime("%Y%m%d")
    return send_file(
        io.BytesIO(data),
        mimetype=MIMETYPES[fmt],
        as_attachment=True,
        download_name=f"{stem}-{day}.{fmt}",
        max_age=0,
    )


def _report_view(report: catalog_io.ImportReport) -> dict:
    """What the page shows of an import: counts, the problems, the rows that change."""
    summary_zh, summary_en = report.summary()
    changes = [c for c in report.changes if c.action != "unchanged"]
    return {
        "ok": report.ok,
        "applied": report.applied,
        "dry_run": report.dry_run,
        "filename": report.filename,
        "rows": report.rows,
        "created": report.created,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "summary": (summary_zh, summary_en),
        "problems": [
            {"row": p.row or "—", "column": p.column or "—", "zh": p.zh, "en": p.en}
            for p in report.problems[:SHOWN_PROBLEMS]
        ],
        "more_problems": max(0, len(report.problems) - SHOWN_PROBLEMS),
        "problem_count": len(report.problems),
        "changes": [
            {
                "row": c.row,
                "code": c.code,
                "name": c.name,
                "action": _("新增") if c.action == "create" else _("更新"),
                "columns": "、".join(c.columns),
            }
            for c in changes[:SHOWN_CHANGES]
        ],
        "more_changes": max(0, len(changes) - SHOWN_CHANGES),
    }


def _page(
    hall: Hall | None,
    halls: list[Hall],
    *,
    report: catalog_io.ImportReport | None = None,
    error: tuple[str, str] | None = None,
    status: int = 200,
):
    count = db.session.scalar(sa.select(sa.func.count()).select_from(Matter))
    return render_template(
        "manage/spreadsheet.html",
        hall=({"code": hall.code, "name": hall.name} if hall else None),
        halls=[{"code": h.code, "name": h.name} for h in halls],
        matter_count=count,
        columns=[
            {"header": c.header, "required": c.required, "help": c.help, "example": c.example}
            for c in catalog_io.COLUMNS
        ],
        max_mb=catalog_io.MAX_FILE_BYTES // 1024 // 1024,
        max_rows=catalog_io.MAX_ROWS,
        report=_report_view(report) if report else None,
        error=error,
    ), status


@blueprint.get("/catalog/spreadsheet")
@login_required
def spreadsheet():
    """The matter list page: download the template, export, import (事项清单导入导出)."""
    principal = _manager()
    hall, halls = _halls(principal)
    return _page(hall, halls)


@blueprint.get("/catalog/spreadsheet/template.<fmt>")
@login_required
def spreadsheet_template(fmt: str):
    """An empty matter list with Chinese headers (and in .xlsx the 填写说明 sheet)."""
    principal = _manager()
    hall, _halls_ = _halls(principal)
    data = catalog_io.template(db.session, fmt, hall=hall)
    return _download(data, "事项清单模板", catalog_io.format_of(f"x.{fmt}"), hall)


@blueprint.post("/catalog/spreadsheet/export")
@login_required
def spreadsheet_export():
    """The whole catalogue as .xlsx or .csv (UTF-8 with BOM); the export is audited."""
    principal = _manager()
    hall, _halls_ = _halls(principal)
    fmt = catalog_io.format_of(f"x.{request.form.get('format', 'xlsx')}")
    data = catalog_io.export_catalog(db.session, fmt, hall=hall, user_id=principal.actor.user_id)
    db.session.commit()
    return _download(data, "事项清单", fmt, hall)


@blueprint.post("/catalog/spreadsheet/import")
@login_required
def spreadsheet_import():
    """Check an uploaded matter list and import it when every row is right (or only check)."""
    principal = _manager()
    hall, halls = _halls(principal)
    dry_run = request.form.get("action") == "check"
    limit = catalog_io.MAX_FILE_BYTES
    if (request.content_length or 0) > limit + UPLOAD_SLACK:
        return _page(hall, halls, error=_too_large(limit), status=413)
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return _page(
            hall,
            halls,
            error=("请先选择要导入的 .xlsx 或 .csv 文件。", "Choose an .xlsx or .csv file first."),
            status=400,
        )
    data = upload.stream.read(limit + 1)
    if len(data) > limit:
        return _page(hall, halls, error=_too_large(limit), status=413)
    # Parse the file outside any transaction: on SQLite a POST's transaction holds the write
    # lock, and ticket issuing must not wait while openpyxl reads a large workbook.
    hall_code, user_id = (hall.code if hall else None), principal.actor.user_id
    db.session.rollback()
    try:
        table = catalog_io.read_table(data, upload.filename)
        hall = get_hall(db.session, hall_code) if hall_code else None
        report = catalog_io.import_catalog(
            db.session,
            table,
            hall=hall,
            user_id=user_id,
            filename=upload.filename,
            dry_run=dry_run,
        )
    except DomainError as err:
        db.session.rollback()
        return _page(hall, halls, error=(err.zh, err.en), status=err.status)
    if report.applied:
        db.session.commit()
    else:
        db.session.rollback()
    return _page(hall, halls, report=report, status=200 if report.ok else 400)


def _too_large(limit: int) -> tuple[str, str]:
    mb = limit // 1024 // 1024
    return (f"文件太大，最大 {mb} MB。", f"The file is too large; the limit is {mb} MB.")
