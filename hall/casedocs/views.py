"""Case documents as PDF for the counter, and the verification page for everyone.

``/cases/<number>/<kind>.pdf`` prints one of the four documents of a case (受理通知书、一次性
告知书、不予受理通知书、办结通知书) for the staff of its hall; ``/v/<token>`` is the public page
behind their QR codes: the case's status and dates, the applicant's name masked, nothing else
personal.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Response, current_app, redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from hall import security
from hall.auth import check_hall, current_principal, require
from hall.casedocs import blueprint
from hall.domain import cases as case_rules
from hall.domain.board import service_day
from hall.domain.errors import Conflict
from hall.extensions import db
from hall.models import Case, Hall
from hall.urls import external
from printouts import cases as printed_cases

STAFF_ROLES = ("staff", "manager", "admin")
UNSAFE_IN_FILENAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')
KINDS = "receipt, correction, rejection, completion"


def _now(hall: Hall) -> dt.datetime:
    """The hall's wall-clock time (Asia/Shanghai when its zone is unknown)."""
    try:
        zone = ZoneInfo(hall.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("Asia/Shanghai")
    return dt.datetime.now(zone)


# ---------------------------------------------------------------- printed documents


def _fits(case: Case, kind: str) -> bool:
    """Whether the case has this document: a receipt for accepted cases, a one-time notice
    for corrections, a not-accepted notice for rejections, a completion notice once done."""
    if kind == "receipt":
        return case.outcome == "accepted"
    if kind == "correction":
        return case.outcome == "correction"
    if kind == "rejection":
        return case.outcome == "rejected"
    return case.status == "completed"


WRONG_KIND = {
    "receipt": ("只有已受理的办件才有受理通知书", "Only accepted cases have an acceptance receipt"),
    "correction": (
        "只有需要补正材料的办件才有一次性告知书",
        "Only cases with missing materials have a one-time notice",
    ),
    "rejection": (
        "只有不予受理的办件才有不予受理通知书",
        "Only cases not accepted have a not-accepted notice",
    ),
    "completion": (
        "办件尚未办结，不能打印办结通知书",
        "The case is not completed; it has no completion notice yet",
    ),
}


def _wrong_kind(case: Case, kind: str) -> Conflict:
    zh, en = WRONG_KIND[kind]
    return Conflict(
        "wrong_document",
        f"{zh}（办件 {case.number}：{case.outcome_label}，{case.status_label}）",
        f"{en} (case {case.number}: {case.outcome}, {case.status})",
        kind=kind,
        outcome=case.outcome,
        status=case.status,
    )


def paper_data(case: Case, kind: str) -> dict:
    """The plain data the printouts library prints for one case: the applicant's name in
    full (the paper is handed to them), the phone always masked."""
    matter = case.matter
    staff = case.completed_by if kind == "completion" and case.completed_by else case.staff
    window = case.window
    return {
        "number": case.number,
        "issuer": case.hall.name,
        "department": matter.department.name if matter.department else "",
        "applicant_name": case.applicant_name,
        "applicant_phone": case_rules.mask_phone(case.applicant_phone)
        if case.applicant_phone
        else "",
        "matter_name": matter.name or matter.code,
        "matter_code": matter.code,
        "kind": case.kind,
        "outcome": case.outcome,
        "accepted_on": case.accepted_on,
        "due_date": case.due_date,
        "completed_on": case.completed_on,
        "limit_days": case.limit_days,
        "limit_unit": case.limit_unit,
        "timing": case.timing,
        "materials_received": case.materials_received or [],
        "missing_materials": case.missing_materials or [],
        "reason": case.reason,
        "result": case.result,
        "result_document": matter.result_document,
        "window_number": window.number if window else None,
        "window_name": window.name if window else "",
        "staff_name": staff.display_name if staff else "",
        "staff_job_number": staff.job_number if staff else "",
        "phone": matter.phone,
        "complaint": matter.complaint,
        "place": matter.place,
    }


def _pdf(data: bytes, title: str, fallback: str) -> Response:
    """An inline PDF named 「<title>.pdf」 (RFC 5987 ``filename*``), ``fallback``.pdf in ASCII;
    never cached (it carries the applicant's name)."""
    stem = UNSAFE_IN_FILENAME.sub("_", title).strip(" ._")[:80] or fallback
    ascii_stem = re.sub(r"[^A-Za-z0-9._-]+", "_", fallback)[:80]
    disposition = (
        f"inline; filename=\"{ascii_stem}.pdf\"; filename*=UTF-8''{quote(stem + '.pdf', safe='')}"
    )
    return Response(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": disposition, "Cache-Control": "no-store"},
    )


@require(*STAFF_ROLES)
def _printed(number: str, kind: str) -> Response:
    """The document as PDF for staff of the case's hall (401, 403, 404, 409 otherwise)."""
    case = case_rules.get_case_by_number(db.session, number)
    check_hall(current_principal(), case.hall)
    if not _fits(case, kind):
        raise _wrong_kind(case, kind)
    pdf = printed_cases.case_document(
        kind,
        paper_data(case, kind),
        verify_url=external("casedocs.verify", token=case.verify_token),
        printed_on=service_day(case.hall),
    )
    title = printed_cases.DOCUMENTS[kind]
    # who printed which document of which case (the number only: nothing personal)
    principal, number = current_principal(), case.number
    security.audit(
        db.session,
        "casedoc.print",
        user=principal.user if principal else None,
        hall_id=case.hall_id,
        detail=f"case={number} kind={kind}",
    )
    db.session.commit()
    return _pdf(pdf, f"{title}-{number}", f"{kind}-{number}")


def _browser() -> bool:
    """A person in a browser (not a script with a token or asking for JSON)."""
    if "Authorization" in request.headers:
        return False
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return best == "text/html"


@blueprint.get(f"/cases/<number>/<any({KINDS}):kind>.pdf")
def document(number: str, kind: str):
    """A case document (kind: receipt, correction, rejection, completion), inline for
    printing; a signed-out browser is sent to sign in first."""
    if current_principal() is None and _browser():
        return redirect(url_for("counter.login", next=request.full_path.rstrip("?")))
    return _printed(number, kind)


# ---------------------------------------------------------------- verification page


def _date(value: dt.date | None) -> str:
    """A date in the page's language: 2026 年 10 月 13 日 / 2026-10-13."""
    if value is None:
        return ""
    if str(get_locale()) == "en":
        return value.isoformat()
    return f"{value.year} 年 {value.month} 月 {value.day} 日"


def _status(case: Case, today: dt.date) -> tuple[str, str]:
    """What the resident reads about the case's state, and its tone (ok, warn, late, info)."""
    if case.outcome == "correction":
        return _("需补正材料"), "warn"
    if case.outcome == "rejected":
        return _("不予受理"), "info"
    if case.outcome == "consultation":
        return _("咨询"), "info"
    if case.status == "completed":
        if case.outcome == "on_the_spot":
            return _("当场办结"), "ok"
        return _("已办结"), "ok"
    if case.status == "paused":
        return _("暂停计时"), "warn"
    warn_days = current_app.config.get("HALL_CASE_WARN_DAYS", 2)
    overdue = case_rules.deadline_state(case, today, warn_days) == "overdue"
    return _("正在办理中"), "late" if overdue else "ok"


def verify_view(case: Case, today: dt.date) -> dict:
    """What the public verification page shows: no phone, no materials, the name masked."""
    status, tone = _status(case, today)
    remark = _("已超过预计办结日期，请联系受理窗口了解原因。") if tone == "late" else ""
    pause = next((p for p in case.pauses if p.ended_on is None), None)
    rows = [
        (_("办件编号"), case.number),
        (_("办理事项"), case.matter.name),
        (_("事项编码"), case.matter.code),
        (_("申请人"), case_rules.mask_name(case.applicant_name) if case.applicant_name else "—"),
        (_("办理大厅"), case.hall.name),
    ]
    if case.outcome == "accepted":
        rows.append((_("受理日期"), _date(case.accepted_on)))
        if case.due_date:
            rows.append((_("预计办结日期"), _date(case.due_date)))
        elif case.status == "paused":
            rows.append((_("预计办结日期"), _("恢复计时后重新计算")))
    elif case.outcome in ("correction", "rejected"):
        rows.append((_("申请日期"), _date(case.accepted_on)))
    if case.status == "completed":
        rows.append((_("办结日期"), _date(case.completed_on or case.accepted_on)))
        timing = {"early": _("提前办结"), "on_time": _("按时办结"), "late": _("超时办结")}
        if case.outcome == "accepted" and case.timing in timing:
            rows.append((_("办结情况"), timing[case.timing]))
    if case.status == "paused" and pause is not None:
        reason = _("补正材料") if pause.kind == "correction" else _("特别程序")
        rows.append((_("暂停原因"), reason))
    return {"status": status, "tone": tone, "remark": remark, "rows": rows, "hall": case.hall.name}


def _other_language() -> dict:
    english = str(get_locale()) == "en"
    return {
        "href": url_for(request.endpoint, **request.view_args, lang="zh_CN" if english else "en"),
        "label": "中文" if english else "English",
        "lang": "zh-CN" if english else "en",
    }


@blueprint.get("/v/<token>")
def verify(token: str):
    """The public verification page of a case (扫码核验办件状态), phone-sized, no script."""
    case = case_rules.get_case_by_token(db.session, token)
    now = _now(case.hall)
    response = Response(
        render_template(
            "casedocs/verify.html",
            case=verify_view(case, now.date()),
            checked_at=now.strftime("%Y-%m-%d %H:%M"),
            language=_other_language(),
            colon=": " if str(get_locale()) == "en" else "：",
        )
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token stays out of other logs
    response.headers["X-Robots-Tag"] = "noindex"
    return response
