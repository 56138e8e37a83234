"""Hall and window screens: live boards over Socket.IO that speak each call."""

from flask import Blueprint

blueprint = Blueprint(
    "display",
    __name__,
    url_prefix="/display",
    template_folder="templates",
    static_folder="static",
    static_url_path="/static/display",
)

from display import views  # noqa: E402,F401
