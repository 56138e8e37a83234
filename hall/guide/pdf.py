"""The printable guide: an A4 sheet per matter and a department's booklet, as PDF.

``/guide/<code>.pdf`` and ``/guide/departments/<code>.pdf``; ``?hall=CODE`` names the hall
in the header (without it, the only hall when there is one). The static ``.pdf`` suffix
makes these rules win over ``/guide/<code>`` in werkzeug's router, whatever the order.
"""

from __future__ import annotations

import datetime as dt
import re
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from flask import Response, current_app, request
from sqlalchemy.orm import joinedload, selectinload

from hall.domain import tickets
from hall.domain.errors import NotFound
from hall.extensions import db
from hall.guide import blueprint
from hall.models import Department, Hall, Matter
from hall.urls import guide_url
from printouts import guide as printed_guide

UNSAFE_IN_FILENAME = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def _hall() -> Hall | None:
    """The hall named by ?hall=, else the only hall of the installation, else None."""
    code = request.args.get("hall", "").strip()
    if code:
        return tickets.get_hall(db.session, code)
    halls = db.session.scalars(sa.select(Hall).limit(2)).all()
    return halls[0] if len(halls) == 1 else None


def _today(hall: Hall | None) -> dt.date:
    """The print date in the hall's time zone (the installation's when no hall is named)."""
    name = hall.timezone if hall else current_app.config.get("HALL_TIMEZONE", "Asia/Shanghai")
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("Asia/Shanghai")
    return dt.datetime.now(zone).date()


def _pdf(data: bytes, title: str, fallback: str) -> Response:
    """An inline PDF named 「<title>.pdf」 (RFC 5987 ``filename*``), ``fallback``.pdf in ASCII."""
    stem = UNSAFE_IN_FILENAME.sub("_", title).strip(" ._")[:80] or fallback
    ascii_stem = re.sub(r"[^A-Za-z0-9._-]+", "_", fallback)[:80]
    disposition = (
        f"inline; filename=\"{ascii_stem}.pdf\"; filename*=UTF-8''{quote(stem + '.pdf', safe='')}"
    )
    return Response(
        data,
        mimetype="application/pdf",
        headers={"Content-Disposition": disposition, "Cache-Control": "no-cache"},
    )


def _matter_not_found(code: str) -> NotFound:
    return NotFound("matter_not_found", f"没有编码为 {code} 的事项", f"No matter {code}")


def sheet_data(matter: Matter) -> dict:
    """The plain data the printouts library prints for one matter's guide."""
    return {
        "code": matter.code,
        "name": matter.name or matter.code,
        "department": matter.department.name if matter.department else "",
        "kind_label": matter.kind_label,
        "legal_basis": matter.legal_basis,
        "conditions": matter.conditions,
        "materials": [
            {
                "name": material.name,
                "required": material.required,
                "form_label": material.form_label,
                "copies": material.copies,
                "notes": material.notes,
                "blank_form": material.blank_form,
                "sample": material.sample,
            }
            for material in matter.materials
        ],
        "process_steps": matter.process_steps,
        "statutory_label": matter.statutory_label,
        "promised_label": matter.promised_label,
        "fee": matter.fee,
        "fee_basis": matter.fee_basis,
        "place": matter.place,
        "hours": matter.hours,
        "phone": matter.phone,
        "complaint": matter.complaint,
        "result_document": matter.result_document,
        "visits": matter.visits,
        "online": matter.online,
        "appointment": matter.appointment,
        "faq": matter.faq if isinstance(matter.faq, list) else [],
    }


def _guide_options():
    return (joinedload(Matter.department), selectinload(Matter.materials))


@blueprint.get("/<code>.pdf")
def matter_pdf(code: str):
    """The A4 guide sheet (办事指南) of an active matter, inline for printing."""
    matter = db.session.scalar(
        sa.select(Matter)
        .options(*_guide_options())
        .where(Matter.code == code, Matter.active.is_(True))
    )
    if matter is None:
        raise _matter_not_found(code)
    hall = _hall()
    pdf = printed_guide.matter_sheet(
        sheet_data(matter),
        guide_url=guide_url(matter.code),
        hall_name=hall.name if hall else None,
        printed_on=_today(hall),
    )
    return _pdf(pdf, f"{matter.name}办事指南", f"guide-{matter.code}")


@blueprint.get("/departments/<code>.pdf")
def department_pdf(code: str):
    """A department's guide booklet: cover with its functions, contents, every active
    matter's guide from a new page."""
    department = db.session.scalar(sa.select(Department).where(Department.code == code))
    if department is None:
        raise NotFound("department_not_found", f"没有编码为 {code} 的部门", f"No department {code}")
    matters = db.session.scalars(
        sa.select(Matter)
        .options(*_guide_options())
        .where(Matter.department_id == department.id, Matter.active.is_(True))
        .order_by(Matter.sort_order, Matter.code)
    ).all()
    hall = _hall()
    pdf = printed_guide.department_booklet(
        {"name": department.name or department.code, "functions": department.functions},
        [sheet_data(matter) for matter in matters],
        guide_url=guide_url,
        hall_name=hall.name if hall else None,
        printed_on=_today(hall),
    )
    return _pdf(pdf, f"{department.name}办事指南", f"guide-{department.code}")
