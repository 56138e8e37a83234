"""Management pages: hall settings such as the screens' notice line."""

from flask import Blueprint

blueprint = Blueprint("manage", __name__, url_prefix="/manage", template_folder="templates")

from hall.manage import views  # noqa: E402,F401
