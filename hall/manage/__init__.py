"""Management pages: the notice line, windows and accounts, the catalogue and its spreadsheet."""

from flask import Blueprint

blueprint = Blueprint("manage", __name__, url_prefix="/manage", template_folder="templates")

from hall.manage import (  # noqa: E402,F401
    audit,
    calendar,
    cases,
    catalog,
    dashboard,
    devices,
    report_export,
    reports,
    spreadsheet,
    views,
)
