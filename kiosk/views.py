"""Kiosk (取号机), phone tracking and home pages: parse, call the domain, commit, publish."""

from __future__ import annotations

import functools
import unicodedata
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from flask import Response, current_app, jsonify, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.orm import joinedload, selectinload

import printouts
from hall import devices, realtime
from hall.auth import Unauthorized
from hall.domain import board, guide, tickets
from hall.domain.errors import DomainError, Invalid, NotFound
from hall.extensions import csrf, db
from hall.jsonbody import body, check_csrf, ticket_request
from hall.models import Department, Hall, Matter, Queue, Window, WindowQueue
from hall.presenters import ticket_status, ticket_view
from hall.security import client_ip
from hall.urls import guide_url, track_url
from kiosk import blueprint

TIME_FORMAT = "%Y-%m-%d %H:%M"
GUIDE_QUERY_MAX = 32  # characters a kiosk search may have (the keyboard stops at 20)
GUIDE_RESULTS = 30  # matters a search shows: a resident reads a short list, not a catalogue


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
        .where(Matter.queue_id.is_not(None), Matter.active.is_(True))
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
    return devices.device_page(lambda: _kiosk_page(hall), hall, "kiosk")


def _kiosk_page(hall: Hall, *, matter: dict | None = None, missing: bool = False) -> str:
    """The kiosk page; with `matter` (or `missing`) it opens on that matter's guide screen."""
    departments, queues = _catalogue(hall)
    return render_template(
        "kiosk/kiosk.html",
        hall={"code": hall.code, "name": hall.name, "timezone": hall.timezone},
        departments=departments,
        queues=queues,
        guide_departments=_guide_departments(),
        matter=matter,
        open_matter=matter is not None or missing,
        idle_seconds=current_app.config.get("HALL_KIOSK_IDLE_SECONDS", 30),
        issue_url=url_for("kiosk.issue", hall_code=hall.code),
    )


@blueprint.post("/kiosk/<hall_code>/tickets")
@csrf.exempt  # checked inside, so a stale page gets a JSON answer it can show
@json_errors
def issue(hall_code: str):
    """Take a ticket (取号): {"queue": "A"} or {"matter": "BD-001"}, optional "priority"."""
    check_csrf()
    hall = tickets.get_hall(db.session, hall_code)
    try:
        device = devices.admit(hall, "kiosk")
    except devices.NeedsPairing:
        raise Unauthorized(
            "device_required",
            "本机尚未配对，不能取号，请联系管理员",
            "This kiosk is not paired; ask the administrator",
        ) from None
    queue, matter, priority = ticket_request(body(empty_ok=False, force=True))
    ip = client_ip()
    if device is not None:
        actor = tickets.Actor(device_id=device.id, hall_id=device.hall_id, ip=ip)
    elif devices.staff_of(hall):
        actor = tickets.Actor(user_id=current_user.id, hall_id=current_user.hall_id, ip=ip)
    else:
        actor = tickets.Actor(ip=ip)
    ticket = tickets.issue_row(
        db.session,
        hall_code,
        queue_prefix=queue,
        matter_code=matter,
        priority=priority,
        actor=actor,
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
    """The ticket's status as JSON (the tracking page refetches it on every hall event: read
    on the driver, as a row)."""
    ticket = tickets.ticket_row_by_token(db.session, token)
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


# ---------------------------------------------------------------- service guide (办事指南)


def _kind_text(kind: str) -> str:
    """The kind of a matter (即办件…) in the page's language."""
    names = {
        "immediate": _("即办件"),
        "promised": _("承诺件"),
        "joint": _("联办件"),
        "referred": _("上报件"),
    }
    return names.get(kind, kind)


def _form_text(form: str) -> str:
    """How a material is handed in (原件, 复印件…) in the page's language."""
    names = {
        "original": _("原件"),
        "copy": _("复印件"),
        "both": _("原件及复印件"),
        "electronic": _("电子材料"),
    }
    return names.get(form, form)


def _limit_text(days: int, unit: str) -> str:
    """A time limit with its unit, the words of Matter.promised_label: 「5 个工作日」, 「即办」."""
    if not days:
        return _("即办")
    if unit == "natural":
        return _("%(days)s 个自然日", days=days)
    return _("%(days)s 个工作日", days=days)


def _guide_departments() -> list[dict]:
    """The departments that publish active matters, for browsing the guide (按部门查找)."""
    rows = db.session.execute(
        sa.select(Department, sa.func.count(Matter.id))
        .join(Matter, Matter.department_id == Department.id)
        .where(Matter.active.is_(True))
        .group_by(Department.id)
        .order_by(Department.sort_order, Department.code)
    ).all()
    return [
        {"code": d.code, "name": d.name, "functions": d.functions, "count": count}
        for d, count in rows
    ]


def _hall_queues(hall: Hall) -> dict[str, Queue]:
    """The hall's queues by prefix (a district matter is issued under its prefix here)."""
    queues = db.session.scalars(sa.select(Queue).where(Queue.hall_id == hall.id))
    return {q.prefix: q for q in queues}


def _guide_items(hall: Hall, matters: list[Matter]) -> list[dict]:
    """Matters as the kiosk lists them: name, department, and the queue of this hall if any."""
    queues = _hall_queues(hall)
    waiting = board.waiting_counts(db.session, hall) if matters else {}
    items = []
    for matter in matters:
        queue = queues.get(matter.queue.prefix) if matter.queue else None
        items.append(
            {
                "code": matter.code,
                "name": matter.name,
                "department": matter.department.name,
                "kind": _kind_text(matter.kind),
                "here": queue is not None,
                "queue": queue.prefix if queue else None,
                "queue_name": queue.name if queue else None,
                "waiting": waiting.get(queue.prefix, 0) if queue else None,
            }
        )
    return items


def _guide_query(raw: str) -> str:
    """What was typed on the kiosk keyboard, stripped; a 400 for text no keyboard types."""
    query = raw.strip()
    if len(query) > GUIDE_QUERY_MAX:
        raise Invalid(
            "query_too_long",
            f"搜索内容不能超过 {GUIDE_QUERY_MAX} 个字",
            f"The search may have at most {GUIDE_QUERY_MAX} characters",
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co", "Cn") for ch in query):
        raise Invalid(
            "bad_query", "搜索内容含有无效字符", "The search contains characters it may not have"
        )
    return query


def _no_store(response):
    response.headers["Cache-Control"] = "no-store"  # waiting counts change by the minute
    return response


@blueprint.get("/kiosk/<hall_code>/guide/search.json")
@json_errors
def guide_search(hall_code: str):
    """Matters matching what a resident typed (pinyin initials 「hk」, pinyin, Chinese), best
    first: {"query", "count", "more", "matters": [...]}; an empty query finds nothing."""
    hall = tickets.get_hall(db.session, hall_code)
    query = _guide_query(request.args.get("q", ""))
    found = guide.search(db.session, query, limit=GUIDE_RESULTS + 1) if query else []
    items = _guide_items(hall, found[:GUIDE_RESULTS])
    more = len(found) > GUIDE_RESULTS  # more letters narrow the search
    return _no_store(jsonify({"query": query, "count": len(items), "more": more, "matters": items}))


@blueprint.get("/kiosk/<hall_code>/guide/departments/<department_code>.json")
@json_errors
def guide_department(hall_code: str, department_code: str):
    """A department's active matters for the kiosk guide: {"department", "matters": [...]}."""
    hall = tickets.get_hall(db.session, hall_code)
    department = db.session.scalar(sa.select(Department).where(Department.code == department_code))
    if department is None:
        raise NotFound(
            "department_not_found",
            f"没有编码为 {department_code} 的部门",
            f"No department {department_code}",
        )
    matters = db.session.scalars(
        sa.select(Matter)
        .where(Matter.department_id == department.id, Matter.active.is_(True))
        .order_by(Matter.sort_order, Matter.code)
    ).all()
    return _no_store(
        jsonify(
            {
                "department": {
                    "code": department.code,
                    "name": department.name,
                    "functions": department.functions,
                },
                "matters": _guide_items(hall, list(matters)),
            }
        )
    )


@blueprint.get("/kiosk/<hall_code>/guide/matters/<code>")
def guide_matter(hall_code: str, code: str):
    """A matter's guide on the kiosk: what to bring, limits, fees, windows, 取号办理 and a QR
    code of the phone guide. ?part=matter answers the screen alone (the kiosk script loads it);
    an unknown or retired matter answers 404 with a message, never an error page."""
    hall = tickets.get_hall(db.session, hall_code)
    matter = db.session.scalar(
        sa.select(Matter)
        .options(
            joinedload(Matter.department),
            joinedload(Matter.queue),
            selectinload(Matter.materials),
        )
        .where(Matter.code == code, Matter.active.is_(True))
    )
    view = _guide_matter_view(hall, matter) if matter else None
    status = 200 if view else 404
    if request.args.get("part") == "matter":
        html = render_template("kiosk/_guide_matter.html", matter=view)
        return _no_store(Response(html, status=status, mimetype="text/html"))

    def page():
        html = _kiosk_page(hall, matter=view, missing=view is None)
        return _no_store(Response(html, status=status, mimetype="text/html"))

    return devices.device_page(page, hall, "kiosk")


def _guide_matter_view(hall: Hall, matter: Matter) -> dict:
    """A matter's guide prepared for the kiosk template (texts in the page's language)."""
    queue = _hall_queues(hall).get(matter.queue.prefix) if matter.queue else None
    windows = []
    waiting = 0
    if queue is not None:
        waiting = board.waiting_counts(db.session, hall).get(queue.prefix, 0)
        windows = db.session.scalars(
            sa.select(Window)
            .join(WindowQueue, WindowQueue.window_id == Window.id)
            .where(Window.hall_id == hall.id, WindowQueue.queue_id == queue.id)
            .order_by(Window.number)
        ).all()
    phone_url = guide_url(matter.code)
    return {
        "code": matter.code,
        "name": matter.name,
        "department": matter.department.name,
        "kind": _kind_text(matter.kind),
        "promised": _limit_text(matter.promised_days, matter.promised_unit),
        "statutory": _limit_text(matter.statutory_days, matter.statutory_unit),
        "fee": (matter.fee or "").strip(),
        "fee_basis": (matter.fee_basis or "").strip(),
        "conditions": (matter.conditions or "").strip(),
        "place": (matter.place or "").strip(),
        "hours": (matter.hours or "").strip(),
        "phone": (matter.phone or "").strip(),
        "visits": matter.visits,
        "online": matter.online,
        "appointment": matter.appointment,
        "materials": [
            {
                "name": m.name,
                "required": m.required,
                "form": _form_text(m.form),
                "copies": m.copies if m.form != "electronic" else 0,
                "notes": (m.notes or "").strip(),
                "blank_form": bool((m.blank_form or "").strip()),
                "sample": bool((m.sample or "").strip()),
            }
            for m in matter.materials
        ],
        "queue": (
            {"prefix": queue.prefix, "name": queue.name, "waiting": waiting} if queue else None
        ),
        "windows": [{"number": w.number, "name": w.name} for w in windows],
        "guide_url": phone_url,
        "qr_svg": Markup(
            printouts.qr_svg(phone_url, css_class="qr", title=_("在手机上查看办事指南的二维码"))
        ),
    }
