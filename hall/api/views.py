"""JSON API views: parse, call the domain, commit, publish; errors are JSON with a 4xx."""

from __future__ import annotations

from flask import current_app, jsonify, request
from flask_wtf.csrf import CSRFError

from hall import realtime
from hall.api import blueprint
from hall.api.openapi import document
from hall.auth import check_hall, current_principal, require
from hall.domain import board, tickets
from hall.domain.errors import Invalid
from hall.extensions import csrf, db
from hall.presenters import ticket_view

STAFF = ("staff", "manager", "admin")


@blueprint.before_request
def _csrf_for_cookie_sessions():
    """Browsers signed in with a cookie must send the CSRF token; bearer tokens need none."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    principal = current_principal()
    if principal is not None and principal.via_session:
        try:
            csrf.protect()
        except CSRFError as err:
            raise Invalid(
                "csrf", "页面已过期，请刷新后重试", "The page has expired; reload and try again"
            ) from err


def body() -> dict:
    """The JSON object of the request; {} for an empty body, 400 for anything else."""
    if not request.get_data(cache=True):
        return {}
    data = request.get_json(silent=True)
    if not isinstance(data, dict):
        raise Invalid("bad_json", "请求体必须是 JSON 对象", "The body must be a JSON object")
    return data


def text_field(data: dict, name: str, *, required: bool = False, max_len: int = 64) -> str | None:
    """A short string field, validated."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise Invalid("missing_field", f"缺少字段 {name}", f"Missing field {name}", field=name)
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise Invalid(
            "bad_field",
            f"字段 {name} 应为字符串",
            f"Field {name} must be a short string",
            field=name,
        )
    return value.strip()


def int_field(data: dict, name: str, *, required: bool = False) -> int | None:
    """A positive integer field (numbers in strings accepted), validated."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise Invalid("missing_field", f"缺少字段 {name}", f"Missing field {name}", field=name)
        return None
    if isinstance(value, bool):
        value = None
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or not 0 < number < 100000:
        raise Invalid(
            "bad_field",
            f"字段 {name} 应为正整数",
            f"Field {name} must be a positive integer",
            field=name,
        )
    return number


def _staff_for_hall(hall_code: str):
    principal = current_principal()
    hall = tickets.get_hall(db.session, hall_code)
    check_hall(principal, hall)
    return principal, hall


@blueprint.get("/openapi.json")
def openapi():
    """The OpenAPI 3.1 description of this API."""
    return jsonify(document())


@blueprint.get("/halls")
def halls():
    """The halls of this installation."""
    from hall.models import Hall

    rows = db.session.scalars(db.select(Hall).order_by(Hall.code))
    return jsonify(
        {"halls": [{"code": h.code, "name": h.name, "timezone": h.timezone} for h in rows]}
    )


@blueprint.get("/halls/<hall_code>/board")
def hall_board(hall_code: str):
    """The same snapshot the hall screens get."""
    hall = tickets.get_hall(db.session, hall_code)
    return jsonify(board.snapshot(db.session, hall))


@blueprint.post("/tickets")
@require("kiosk", *STAFF)
def issue_ticket():
    """Issue a ticket for a queue or a matter (取号)."""
    data = body()
    hall_code = text_field(data, "hall", required=True)
    queue = text_field(data, "queue", max_len=4)
    matter = text_field(data, "matter")
    priority = data.get("priority", False)
    if not isinstance(priority, bool):
        raise Invalid(
            "bad_field",
            "priority 应为 true 或 false",
            "priority must be true or false",
            field="priority",
        )
    if queue and matter:
        raise Invalid(
            "queue_or_matter", "queue 与 matter 只能给一个", "Give queue or matter, not both"
        )
    principal = current_principal()
    hall = tickets.get_hall(db.session, hall_code)
    check_hall(principal, hall)
    ticket = tickets.issue(
        db.session,
        hall.code,
        queue_prefix=queue,
        matter_code=matter,
        priority=priority,
        actor=principal.actor,
    )
    view = ticket_view(ticket)
    realtime.commit_and_publish(db.session)
    return jsonify(view), 201


@blueprint.get("/tickets/<int:ticket_id>")
@require(*STAFF)
def show_ticket(ticket_id: int):
    """One ticket with its position and estimate."""
    ticket = tickets.get_ticket(db.session, ticket_id)
    check_hall(current_principal(), ticket.queue.hall)
    return jsonify(ticket_view(ticket))


@blueprint.post("/halls/<hall_code>/windows/<int:number>/call-next")
@require(*STAFF)
def call_next(hall_code: str, number: int):
    """Call the next ticket at a window (叫号); {"ticket": null} when nobody waits."""
    principal, hall = _staff_for_hall(hall_code)
    ticket = tickets.call_next(db.session, hall.code, number, actor=principal.actor)
    view = {"ticket": ticket_view(ticket) if ticket else None}
    realtime.commit_and_publish(db.session)
    return jsonify(view)


@blueprint.post("/halls/<hall_code>/windows/<int:number>/status")
@require(*STAFF)
def window_status(hall_code: str, number: int):
    """Open (sign in), pause (暂停服务), resume or close a window: {"status": …}."""
    principal, hall = _staff_for_hall(hall_code)
    status = text_field(body(), "status", required=True, max_len=10)
    staff_id = principal.user.id if principal.user and status == "open" else None
    window = tickets.set_window_status(
        db.session, hall.code, number, status, staff_id=staff_id, actor=principal.actor
    )
    current = board.current_tickets(db.session, hall).get(window.id)
    view = {"window": board.window_dict(window, current)}
    realtime.commit_and_publish(db.session)
    return jsonify(view)


ACTIONS = {
    "recall": tickets.recall,
    "no-show": tickets.no_show,
    "start": tickets.start,
    "finish": tickets.finish,
}


@blueprint.post("/tickets/<int:ticket_id>/<any(recall, 'no-show', start, finish):action>")
@require(*STAFF)
def ticket_action(ticket_id: int, action: str):
    """Recall (重呼), no-show (过号), start or finish a called ticket; {"window": n} checks it."""
    data = body()
    window = int_field(data, "window")
    principal = current_principal()
    # the domain refuses a ticket of another hall (actor.hall_id)
    ticket = ACTIONS[action](db.session, ticket_id, window_number=window, actor=principal.actor)
    view = {"ticket": ticket_view(ticket)}
    realtime.commit_and_publish(db.session)
    return jsonify(view)


@blueprint.post("/tickets/<int:ticket_id>/transfer")
@require(*STAFF)
def transfer(ticket_id: int):
    """Transfer a ticket to a queue {"to_queue": "B"} or a window {"to_window": 3} (转移)."""
    data = body()
    to_queue = text_field(data, "to_queue", max_len=4)
    to_window = int_field(data, "to_window")
    window = int_field(data, "window")
    principal = current_principal()
    # the domain refuses a ticket of another hall (actor.hall_id)
    ticket = tickets.transfer(
        db.session,
        ticket_id,
        to_queue=to_queue,
        to_window=to_window,
        window_number=window,
        actor=principal.actor,
    )
    view = {"ticket": ticket_view(ticket)}
    realtime.commit_and_publish(db.session)
    return jsonify(view)


@blueprint.post("/tickets/<int:ticket_id>/return")
@require(*STAFF)
def return_ticket(ticket_id: int):
    """Put a no-show back in the queue once (过号重排), as configured."""
    principal = current_principal()
    # the domain refuses a ticket of another hall (actor.hall_id)
    ticket = tickets.return_ticket(
        db.session,
        ticket_id,
        after=current_app.config["HALL_NO_SHOW_RETURN_AFTER"],
        actor=principal.actor,
    )
    view = {"ticket": ticket_view(ticket)}
    realtime.commit_and_publish(db.session)
    return jsonify(view)
