"""Kiosk (取号机), phone tracking and home pages: parse, call the domain, commit, publish."""

from __future__ import annotations

import functools
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Response, current_app, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import joinedload

import printouts
from hall import realtime
from hall.domain import board, tickets
from hall.domain.errors import DomainError
from hall.extensions import csrf, db
from hall.jsonbody import body, check_csrf, ticket_request
from hall.models import Department, Hall, Matter, Queue
from hall.presenters import ticket_status, ticket_view
from hall.urls import track_url
from kiosk import blueprint

TIME_FORMAT = "%Y-%m-%d %H:%M"


# ---------------------------------------------------------------- helpers


def json_errors(view):
    """Answer a domain error with its JSON body whatever the client's Accept header says:
    the kiosk and phone scripts always read JSON from these endpoints."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        try:
            return view(*args, **kwargs)
        except DomainError as err:
            db.session.rollback()
            realtime.discard(db.session)
            body = {"error": err.code, "message": err.zh, "message_en": err.en}
            if err.detail:
                body["detail"] = err.detail
            return jsonify(body), err.status

    return wrapper


def local_time(hall: Hall, value) -> str:
    """An instant as the hall's wall-clock time (2026-03-02 09:15), '' for None."""
    return value.astimezone(ZoneInfo(hall.timezone)).strftime(TIME_FORMAT) if value else ""


def _catalogue(hall: Hall) -> tuple[list[dict], list[dict]]:
    """The departments with the matters this hall takes tickets for, and the hall's queues."""
    queues = db.session.scalars(
        sa.select(Queue).where(Queue.hall_id == hall.id).order_by(Queue.prefix)
    ).all()
    waiting = board.waiting_counts(db.session, hall)
    by_prefix = {q.prefix: q for q in queues}
    queue_list = [
        {"prefix": q.prefix, "name": q.name, "waiting": waiting.get(q.prefix, 0)} for q in queues
    ]
    matters = db.session.scalars(
        sa.select(Matter)
        .options(joinedload(Matter.queue))
        .where(Matter.queue_id.is_not(None))
        .order_by(Matter.sort_order, Matter.code)
    ).all()
    per_department: dict[int, list[dict]] = {}
    for matter in matters:
        queue = by_prefix.get(matter.queue.prefix)  # this hall's queue with that prefix
        if queue is None:
            continue
        per_department.setdefault(matter.department_id, []).append(
            {
                "code": matter.code,
                "name": matter.name,
                "kind": matter.kind,
                "queue": queue.prefix,
                "queue_name": queue.name,
                "waiting": waiting.get(queue.prefix, 0),
            }
        )
    departments = db.session.scalars(
        sa.select(Department).order_by(Department.sort_order, Department.code)
    ).all()
    department_list = [
        {
            "code": d.code,
            "name": d.name,
            "functions": d.functions,
            "matters": per_department[d.id],
        }
        for d in departments
        if d.id in per_department
    ]
    return department_list, queue_list


# ---------------------------------------------------------------- pages


@blueprint.get("/")
def home():
    """The entrance: every hall with the links to its kiosk, counter and screens."""
    root = request.script_root
    halls = db.session.scalars(
        sa.select(Hall).options(joinedload(Hall.windows)).order_by(Hall.code)
    ).unique()
    hall_links = [
        {
            "code": h.code,
            "name": h.name,
            "kiosk_url": url_for("kiosk.kiosk", hall_code=h.code),
            "display_url": f"{root}/display/{h.code}",
            "windows": [
                {
                    "number": w.number,
                    "name": w.name,
                    "url": f"{root}/display/{h.code}/window/{w.number}",
                }
                for w in h.windows
            ],
        }
        for h in halls
    ]
    return render_template(
        "kiosk/home.html",
        halls=hall_links,
        counter_url=f"{root}/counter/",
        manage_url=f"{root}/manage/",
    )


@blueprint.get("/kiosk/<hall_code>")
def kiosk(hall_code: str):
    """The touch kiosk of a hall (取号机): department → matter → ticket, or a queue directly."""
    hall = tickets.get_hall(db.session, hall_code)
    departments, queues = _catalogue(hall)
    return render_template(
        "kiosk/kiosk.html",
        hall={"code": hall.code, "name": hall.name, "timezone": hall.timezone},
        departments=departments,
        queues=queues,
        idle_seconds=current_app.config.get("HALL_KIOSK_IDLE_SECONDS", 30),
        issue_url=url_for("kiosk.issue", hall_code=hall.code),
    )


@blueprint.post("/kiosk/<hall_code>/tickets")
@csrf.exempt  # checked inside, so a stale page gets a JSON answer it can show
@json_errors
def issue(hall_code: str):
    """Take a ticket (取号): {"queue": "A"} or {"matter": "BD-001"}, optional "priority"."""
    check_csrf()
    queue, matter, priority = ticket_request(body(empty_ok=False, force=True))
    ticket = tickets.issue(
        db.session,
        hall_code,
        queue_prefix=queue,
        matter_code=matter,
        priority=priority,
        actor=tickets.Actor(),
    )
    # the answer is built before the commit: a ticket the resident never saw is never issued
    view = ticket_view(ticket)
    view["qr_svg"] = printouts.qr_svg(view["track_url"], css_class="qr", title=_("排队进度二维码"))
    realtime.commit_and_publish(db.session)
    return jsonify(view), 201


@blueprint.get("/t/<token>")
def track(token: str):
    """The resident's phone tracking page: position, wait, and the window when called."""
    ticket = tickets.get_ticket_by_token(db.session, token)
    hall = ticket.queue.hall
    return render_template(
        "kiosk/track.html",
        hall={"code": hall.code, "name": hall.name, "timezone": hall.timezone},
        ticket=ticket_status(ticket),
        issued_at=local_time(hall, ticket.issued_at),
        status_url=url_for("kiosk.track_json", token=token),
    )


@blueprint.get("/t/<token>.json")
@json_errors
def track_json(token: str):
    """The ticket's status as JSON (the tracking page refetches it on every hall event)."""
    ticket = tickets.get_ticket_by_token(db.session, token)
    response = jsonify(ticket_status(ticket))
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/t/<token>/slip.pdf")
def slip(token: str):
    """The 80 mm ticket slip (排队凭条) as a PDF, shown inline for printing."""
    ticket = tickets.get_ticket_by_token(db.session, token)
    hall = ticket.queue.hall
    status = ticket_status(ticket)
    pdf = printouts.ticket_slip(
        {
            "hall_name": hall.name,
            "number": ticket.label,
            "queue_name": ticket.queue.name,
            "matter_name": ticket.matter.name if ticket.matter else None,
            "priority": ticket.priority,
            "waiting_ahead": status["waiting_ahead"] if ticket.status == "waiting" else None,
            "estimated_wait_minutes": (
                status["estimated_wait_minutes"] if ticket.status == "waiting" else None
            ),
            "issued_at": local_time(hall, ticket.issued_at),
            "track_url": track_url(token),
        }
    )
    return Response(
        pdf,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="{ticket.label}.pdf"',
            "Cache-Control": "no-store",
        },
    )


@blueprint.get("/t/<token>/qr.svg")
def qr(token: str):
    """The QR code of the tracking page as an SVG image."""
    tickets.get_ticket_by_token(db.session, token)
    svg = printouts.qr_svg(track_url(token), size="240", title=_("排队进度二维码"))
    return Response(svg, mimetype="image/svg+xml")
