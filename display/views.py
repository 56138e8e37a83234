"""Hall screen and window screen pages."""

from flask import render_template

from display import blueprint
from hall.domain import tickets
from hall.extensions import db


@blueprint.get("/<hall_code>")
def hall_screen(hall_code: str):
    """The big screen over the hall (综合屏)."""
    hall = tickets.get_hall(db.session, hall_code)
    return render_template("display/hall.html", hall=hall)


@blueprint.get("/<hall_code>/window/<int:number>")
def window_screen(hall_code: str, number: int):
    """The small screen over one window (窗口屏)."""
    hall = tickets.get_hall(db.session, hall_code)
    window = tickets.get_window(db.session, hall, number)
    return render_template("display/window.html", hall=hall, window=window)
