"""JSON API views: parse, call the domain, commit, publish; errors are JSON with a 4xx."""

from __future__ import annotations

from flask import current_app, jsonify, request

from hall import realtime
from hall.api import blueprint
from hall.api.cases import CaseViews
from hall.api.openapi import document
from hall.auth import check_hall, current_principal, require
from hall.domain import board, tickets
from hall.domain import cases as case_domain
from hall.domain.errors import Forbidden
from hall.extensions import db
from hall.jsonbody import body, check_csrf, int_field, text_field, ticket_request
from hall.presenters import ticket_view

STAFF = ("staff", "manager", "admin")
MANAGERS = ("manager", "admin")


@blueprint.before_request
def _csrf_for_cookie_sessions():
    """Browsers signed in with a cookie must send the CSRF token; bearer tokens need none."""
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    principal = current_principal()
    if principal is not None and principal.via_session:
        check_csrf()


def _staff_for_hall(hall_code: str):
    principal = current_principal()
    hall = tickets.hall_ref(db.session, hall_code)
    check_hall(principal, hall)
    return principal, hall


def _check_on_duty(
    principal, number: int, staff_id: int | None, *, managers_too: bool = False
) -> None:
    """Counter actions belong to the person on duty at the window (上岗) numbered `number`,
    whose account is `staff_id`: anyone else, a manager included, is refused (403
    not_on_duty) rather than acting in their name. With `managers_too`, managers and admins
    may also act (pause or close a window, put a no-show back in the queue)."""
    if managers_too and principal.role in MANAGERS:
        return
    if staff_id is None:  # nobody on duty: closed; the domain says so (409)
        return
    if principal.user_id is not None and staff_id == principal.user_id:
        return
    raise Forbidden(
        "not_on_duty",
        f"您不在 {number} 号窗口上岗，不能操作该窗口或其号码",
        f"You are not on duty at window {number}; you cannot act for it",
    )


def _ticket_for(principal, ticket_id: int, *, managers_too: bool = False):
    """Load a ticket for a counter action: of the principal's hall (403 other_hall), and,
    when it is at a window, only for the person on duty there (403 not_on_duty)."""
    # locked now: the domain locks it anyway and then reuses this read
    ticket = tickets.ticket_row(db.session, ticket_id, lock=True)
    check_hall(principal, ticket.hall)
    if ticket.window_id is not None:
        _check_on_duty(
            principal, ticket.window_number, ticket.window_staff_id, managers_too=managers_too
        )
    return ticket


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
    queue, matter, priority = ticket_request(data)
    principal = current_principal()
    ticket = tickets.issue_row(  # refuses another hall's principal (403 other_hall)
        db.session,
        hall_code,
        queue_prefix=queue,
        matter_code=matter,
        priority=priority,
        actor=principal.actor,
    )
    view = ticket_view(ticket)
    realtime.commit_and_publish(db.session)
    return jsonify(view), 201


@blueprint.get("/tickets/<int(max=2147483647):ticket_id>")
@require(*STAFF)
def show_ticket(ticket_id: int):
    """One ticket with its position and estimate."""
    ticket = tickets.ticket_row(db.session, ticket_id)
    check_hall(current_principal(), ticket.hall)
    return jsonify(ticket_view(ticket))


@blueprint.post("/halls/<hall_code>/windows/<int(max=2147483647):number>/call-next")
@require(*STAFF)
def call_next(hall_code: str, number: int):
    """Call the next ticket at a window (叫号); {"ticket": null} when nobody waits."""
    principal, hall = _staff_for_hall(hall_code)
    ticket = tickets.call_next_row(
        db.session,
        hall,
        number,
        actor=principal.actor,
        # once the window is locked
        check=lambda window: _check_on_duty(principal, window.number, window.staff_id),
    )
    view = {"ticket": ticket_view(ticket) if ticket else None}
    realtime.commit_and_publish(db.session)
    return jsonify(view)


@blueprint.post("/halls/<hall_code>/windows/<int(max=2147483647):number>/status")
@require(*STAFF)
def window_status(hall_code: str, number: int):
    """Open (sign in), pause (暂停服务), resume or close a window: {"status": …}."""
    principal, hall = _staff_for_hall(hall_code)
    status = text_field(body(), "status", required=True, max_len=10)
    window = tickets.get_window(db.session, hall, number)
    if status != "open":  # open: sign in (take the window over, as the counter page does)
        _check_on_duty(principal, window.number, window.staff_id, managers_too=True)
    staff_id = principal.user_id if status == "open" else None
    window = tickets.set_window_status(
        db.session, hall.code, number, status, staff_id=staff_id, actor=principal.actor
    )
    current = board.current_tickets(db.session, hall).get(window.id)
    view = {"window": board.window_dict(window, current)}
    realtime.commit_and_publish(db.session)
    return jsonify(view)


ACTIONS = {
    "recall": tickets.recall_row,
    "no-show": tickets.no_show_row,
    "start": tickets.start_row,
}


@blueprint.post(
    "/tickets/<int(max=2147483647):ticket_id>/<any(recall, 'no-show', start, finish):action>"
)
@require(*STAFF)
def ticket_action(ticket_id: int, action: str):
    """Recall (重呼), no-show (过号), start or finish a called ticket; {"window": n} checks it."""
    data = body()
    window = int_field(data, "window")
    principal = current_principal()
    _ticket_for(principal, ticket_id)
    if action == "finish":
        return _finish(ticket_id, data, window, principal)
    # the domain refuses a ticket of another hall (actor.hall_id)
    ticket = ACTIONS[action](db.session, ticket_id, window_number=window, actor=principal.actor)
    view = {"ticket": ticket_view(ticket)}
    realtime.commit_and_publish(db.session)
    return jsonify(view)


def _finish(ticket_id: int, data: dict, window: int | None, principal):
    """Finish a ticket (办结) and record the outcome of each matter handled (办件), in one
    transaction: a refused outcome (400 naming its index) leaves the ticket unfinished."""
    outcomes = case_domain.outcomes_from_json(data.get("outcomes"))
    actor = principal.actor
    ticket = tickets.finish_row(db.session, ticket_id, window_number=window, actor=actor)
    recorded = case_domain.record_outcomes(db.session, ticket, outcomes, actor=actor)
    views = CaseViews()
    view = {"ticket": ticket_view(ticket), "cases": [views(case) for case in recorded]}
    realtime.commit_and_publish(db.session)
    return jsonify(view)


@blueprint.post("/tickets/<int(max=2147483647):ticket_id>/transfer")
@require(*STAFF)
def transfer(ticket_id: int):
    """Transfer a ticket to a queue {"to_queue": "B"} or a window {"to_window": 3} (转移)."""
    data = body()
    to_queue = text_field(data, "to_queue", max_len=4)
    to_window = int_field(data, "to_window")
    window = int_field(data, "window")
    principal = current_principal()
    _ticket_for(principal, ticket_id)
    # the domain refuses a ticket of another hall (actor.hall_id)
    ticket = tickets.transfer_row(
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


@blueprint.post("/tickets/<int(max=2147483647):ticket_id>/return")
@require(*STAFF)
def return_ticket(ticket_id: int):
    """Put a no-show back in the queue once (过号重排), as configured."""
    principal = current_principal()
    _ticket_for(principal, ticket_id, managers_too=True)
    # the domain refuses a ticket of another hall (actor.hall_id)
    ticket = tickets.return_row(
        db.session,
        ticket_id,
        after=current_app.config["HALL_NO_SHOW_RETURN_AFTER"],
        actor=principal.actor,
    )
    view = {"ticket": ticket_view(ticket)}
    realtime.commit_and_publish(db.session)
    return jsonify(view)
