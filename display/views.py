"""Hall screen and window screen pages: the first paint from the board, then live updates."""

from __future__ import annotations

from flask import make_response, render_template, request

from display import blueprint
from hall import devices
from hall.domain import board, tickets
from hall.extensions import db


def _voice(default: bool) -> bool:
    """Whether this screen speaks the calls: ?voice=1 or ?voice=0, else the page's default."""
    value = request.args.get("voice")
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def _page(template: str, **values):
    """Render a screen that must never be served from a cache (its reload has to be fresh)."""
    response = make_response(render_template(template, **values))
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.get("/<hall_code>")
def hall_screen(hall_code: str):
    """The big screen over the hall (综合屏): latest call, recent calls, waiting counts."""
    hall = tickets.get_hall(db.session, hall_code)
    return devices.device_page(lambda: _hall_screen(hall), hall, "display")


def _hall_screen(hall):
    snapshot = board.snapshot(db.session, hall)
    calls = snapshot["recent_calls"]
    screen = {
        "hall": hall.code,
        "timezone": hall.timezone,
        "voice": _voice(default=True),
        "board": snapshot,
    }
    return _page(
        "display/hall.html",
        hall=snapshot["hall"],
        latest=calls[0] if calls else None,
        earlier=calls[1:],
        queues=snapshot["queues"],
        screen=screen,
    )


@blueprint.get("/<hall_code>/window/<int(max=2147483647):number>")
def window_screen(hall_code: str, number: int):
    """The small screen over one window (窗口屏): its staff on duty and its current number."""
    hall = tickets.get_hall(db.session, hall_code)
    tickets.get_window(db.session, hall, number)  # 404 for an unknown window
    return devices.device_page(lambda: _window_screen(hall, number), hall, "display")


def _window_screen(hall, number: int):
    snapshot = board.snapshot(db.session, hall)
    window = next(w for w in snapshot["windows"] if w["number"] == number)
    names = {q["prefix"]: q["name"] for q in snapshot["queues"]}
    waiting = {q["prefix"]: q["waiting"] for q in snapshot["queues"]}
    screen = {
        "hall": hall.code,
        "window": number,
        "timezone": hall.timezone,
        "voice": _voice(default=False),
        "board": snapshot,
    }
    return _page(
        "display/window.html",
        hall=snapshot["hall"],
        window=window,
        queue_names=[names.get(p, p) for p in window["queues"]],
        waiting=sum(waiting.get(p, 0) for p in window["queues"]),
        screen=screen,
    )
