"""The staff counter page: sign in, choose a window, call and serve."""

from flask import Blueprint

blueprint = Blueprint("counter", __name__, url_prefix="/counter", template_folder="templates")

from hall.counter import views  # noqa: E402,F401
