"""What the views return for a ticket: its state, position, wait estimate and links.

One place, so the kiosk, the phone page and the JSON API always agree.
"""

from __future__ import annotations

from flask import current_app
from flask_babel import gettext as _

from hall.domain import board, tickets
from hall.extensions import db
from hall.models import Ticket
from hall.urls import slip_url, track_url

# each text translated only when asked for: one gettext per ticket shown, not six
_STATUS_TEXTS = {
    "waiting": lambda: _("等候中"),
    "called": lambda: _("已叫号"),
    "serving": lambda: _("办理中"),
    "finished": lambda: _("已办结"),
    "no_show": lambda: _("过号"),
    # still open when its service day ended: closed by the day rollover
    "expired": lambda: _("已过期"),
}


def status_text(status: str) -> str:
    """A ticket status in words, in the page's language (expired: 已过期)."""
    text = _STATUS_TEXTS.get(status)
    return text() if text else status


def ticket_status(ticket: Ticket) -> dict:
    """A ticket with how many are ahead and the estimated wait (what phones show)."""
    default = current_app.config["HALL_DEFAULT_SERVICE_MINUTES"]
    ahead, minutes = tickets.position(db.session, ticket, default)
    return {
        **board.ticket_dict(ticket),
        "status_text": status_text(ticket.status),
        "waiting_ahead": ahead,
        "estimated_wait_minutes": minutes,
    }


def ticket_view(ticket: Ticket) -> dict:
    """A ticket as the API and the kiosk return it: status plus tracking and slip links."""
    return {
        **ticket_status(ticket),
        "track_url": track_url(ticket.token),
        "slip_url": slip_url(ticket.token),
    }


def deadline_text(state: str, left: int | None) -> str:
    """A case's deadline state in words, so that it never depends on colour alone."""
    if state == "overdue":
        return _("已逾期 %(n)s 个工作日", n=-(left or 0)) if left else _("已逾期")
    if state == "soon":
        return _("今天到期") if left == 0 else _("即将到期：还剩 %(n)s 个工作日", n=left)
    if state == "ok":
        return _("还剩 %(n)s 个工作日", n=left) if left is not None else _("未到期")
    return ""
