"""The live dashboard (实时看板) of a hall for its managers: windows, queues and today's rates.

The page paints from the hall's board snapshot (the same one the screens get) and from the
slower figures below; dashboard.js then follows the hall's Socket.IO room through HallLive
(board, ticket and window events) and fetches the figures again from dashboard.json after
relevant events (debounced) and every minute.

The figures: tickets served (and no-shows) today per window, the oldest waiting ticket per
queue and over the hall (the longest current wait), and today's rates per window and for the
hall from hall.domain.rates, with their formulas.
"""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from flask import jsonify, make_response, render_template, request, url_for
from flask_babel import get_locale
from flask_login import login_required

from hall.auth import check_hall
from hall.domain import board, rates, tickets
from hall.extensions import db
from hall.manage import blueprint
from hall.manage.views import _manager, page_context
from hall.models import Hall, Queue, Ticket, Window, utcnow

# The rates the dashboard shows, in order (即办件当场办结率 stays in the reports).
SHOWN_RATES = ("on_the_spot_rate", "promised_rate", "strict_rate", "early_rate")
REFRESH_SECONDS = 60  # the figures are fetched again at least this often
DEBOUNCE_SECONDS = 2.5  # …and at most this often after events


def _one(condition) -> sa.ColumnElement:
    one, zero = sa.literal_column("1"), sa.literal_column("0")
    return sa.func.coalesce(sa.func.sum(sa.case((condition, one), else_=zero)), zero)


def served_today(session, hall: Hall, day: date) -> dict[int, dict[str, int]]:
    """Tickets finished and no-shows of the service day, per window number."""
    rows = session.execute(
        sa.select(
            Window.number,
            _one(Ticket.status == "finished").label("served"),
            _one(Ticket.status == "no_show").label("no_show"),
        )
        .select_from(Ticket)
        .join(Window, Window.id == Ticket.window_id)
        .where(
            Ticket.hall_id == hall.id,
            Ticket.service_day == day,
            Ticket.status.in_(("finished", "no_show")),
        )
        .group_by(Window.number)
    )
    return {number: {"served": int(s), "no_show": int(n)} for number, s, n in rows}


def oldest_waiting(session, hall: Hall, day: date) -> tuple[dict[str, str | None], dict | None]:
    """The issue time of the oldest waiting ticket per queue prefix (None for an empty queue)
    and the oldest waiting ticket of the hall (number, queue, issued_at) or None."""
    per_queue = dict(
        session.execute(
            sa.select(Queue.prefix, sa.func.min(Ticket.issued_at))
            .select_from(Ticket)
            .join(Queue, Queue.id == Ticket.queue_id)
            .where(
                Ticket.hall_id == hall.id,
                Ticket.service_day == day,
                Ticket.status == "waiting",
            )
            .group_by(Queue.prefix)
        ).all()
    )
    prefixes = session.scalars(sa.select(Queue.prefix).where(Queue.hall_id == hall.id))
    queues = {prefix: board.iso(per_queue.get(prefix)) for prefix in prefixes}
    oldest = session.execute(
        sa.select(Ticket.label, Queue.prefix, Ticket.issued_at)
        .join(Queue, Queue.id == Ticket.queue_id)
        .where(
            Ticket.hall_id == hall.id,
            Ticket.service_day == day,
            Ticket.status == "waiting",
        )
        .order_by(Ticket.issued_at, Ticket.id)
        .limit(1)
    ).first()
    longest = None
    if oldest is not None:
        label, prefix, issued_at = oldest
        longest = {"number": label, "queue": prefix, "issued_at": board.iso(issued_at)}
    return queues, longest


def formulas() -> dict[str, dict[str, str]]:
    """The name and formula of each rate shown, in the page's language."""
    english = str(get_locale() or "zh").startswith("en")
    return {
        rate: {
            "name": rates.FORMULAS[rate]["name_en" if english else "name"],
            "formula": rates.formula(rate, "en" if english else "zh"),
        }
        for rate in SHOWN_RATES
    }


def figures(session, hall: Hall) -> dict:
    """The slower figures of the dashboard as JSON-ready data (see the module docstring)."""
    day = board.service_day(hall)
    rows, total = rates.report(
        session, start=day, end=day, group="window", hall_id=hall.id, today=day
    )
    served = served_today(session, hall, day)
    queues, longest = oldest_waiting(session, hall, day)
    windows = {
        number: {"served": 0, "no_show": 0, "rates": None}
        for number in session.scalars(
            sa.select(Window.number).where(Window.hall_id == hall.id).order_by(Window.number)
        )
    }
    for number, counts in served.items():
        windows.setdefault(number, {"served": 0, "no_show": 0, "rates": None}).update(counts)
    unassigned = None
    for row in rows:
        if row.key is None:
            unassigned = rates.rate_dict(row)
        else:
            windows.setdefault(row.key, {"served": 0, "no_show": 0, "rates": None})
            windows[row.key]["rates"] = rates.rate_dict(row)
    return {
        "hall": hall.code,
        "service_day": day.isoformat(),
        "now": board.iso(utcnow()),
        "served": sum(w["served"] for w in windows.values()),
        "no_show": sum(w["no_show"] for w in windows.values()),
        "windows": {str(number): value for number, value in sorted(windows.items())},
        "oldest_waiting": queues,
        "longest_wait": longest,
        "rates": rates.rate_dict(total),
        "rates_without_window": unassigned,
        "formulas": formulas(),
    }


def _hall(hall_code: str) -> Hall:
    principal = _manager()
    hall = tickets.get_hall(db.session, hall_code)
    check_hall(principal, hall)
    return hall


@blueprint.get("/<hall_code>/dashboard")
@login_required
def dashboard(hall_code: str):
    """The live dashboard (实时看板); ?screen=1 shows it alone, for a big screen (大屏)."""
    hall = _hall(hall_code)
    config = {
        "hall": hall.code,
        "timezone": hall.timezone,
        "figures_url": url_for("manage.dashboard_json", hall_code=hall.code),
        "refresh_seconds": REFRESH_SECONDS,
        "debounce_seconds": DEBOUNCE_SECONDS,
        "board": board.snapshot(db.session, hall),
        "figures": figures(db.session, hall),
    }
    big = request.args.get("screen", "").strip().lower() in {"1", "true", "yes", "on"}
    template = "manage/dashboard_screen.html" if big else "manage/dashboard.html"
    response = make_response(
        render_template(
            template, **page_context(hall, "dashboard"), dashboard=config, shown=SHOWN_RATES
        )
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/<hall_code>/dashboard.json")
@login_required
def dashboard_json(hall_code: str):
    """The dashboard's slower figures: served today, longest waits, today's rates."""
    hall = _hall(hall_code)
    response = jsonify(figures(db.session, hall))
    response.headers["Cache-Control"] = "no-store"
    return response
