"""Printed case documents (受理回执、一次性告知书、不予受理通知书、办结通知书) and the public
verification page behind their QR codes (/v/<token>)."""

from flask import Blueprint

blueprint = Blueprint("casedocs", __name__, template_folder="templates")

from hall.casedocs import views  # noqa: E402,F401  (routes attach to the blueprint)
