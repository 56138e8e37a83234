"""Kiosk, tracking and home pages."""

from flask import render_template

from hall.extensions import db
from hall.models import Hall
from kiosk import blueprint


@blueprint.get("/")
def home():
    """The entrance: every hall with the links to its kiosk, counter and screens."""
    halls = db.session.scalars(db.select(Hall).order_by(Hall.code)).all()
    return render_template("kiosk/home.html", halls=halls)


@blueprint.get("/t/<token>")
def track(token: str):
    """The resident's phone tracking page (placeholder until the kiosk is built)."""
    return token


@blueprint.get("/t/<token>/slip.pdf")
def slip(token: str):
    """The ticket slip (placeholder until printouts are built)."""
    return token
