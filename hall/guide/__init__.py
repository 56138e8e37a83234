"""The public service guide (办事指南) for phones and browsers: /guide, /guide/<code>, PDFs."""

from flask import Blueprint

blueprint = Blueprint("guide", __name__, url_prefix="/guide", template_folder="templates")

from hall.guide import pdf, views  # noqa: E402,F401  (routes attach to the blueprint)
