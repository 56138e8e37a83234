"""JSON API v1 (/api/v1), documented by /api/v1/openapi.json."""

from flask import Blueprint

blueprint = Blueprint("api", __name__, url_prefix="/api/v1")

from hall.api import cases, matters, rates, reports, views  # noqa: E402,F401  (routes attach)
