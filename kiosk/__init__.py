"""The touch kiosk (取号机), the phone tracking page and the home page."""

from flask import Blueprint

blueprint = Blueprint(
    "kiosk",
    __name__,
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/kiosk",
)

from kiosk import views  # noqa: E402,F401
