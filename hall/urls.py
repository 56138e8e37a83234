"""Absolute links printed on slips and QR codes (HALL_PUBLIC_URL when phones see another host)."""

from __future__ import annotations

from flask import current_app, url_for


def external(endpoint: str, **values) -> str:
    """An absolute URL for an endpoint, based on HALL_PUBLIC_URL when it is set."""
    base = current_app.config.get("HALL_PUBLIC_URL")
    if base:
        return base.rstrip("/") + url_for(endpoint, **values)
    return url_for(endpoint, _external=True, **values)


def track_url(token: str) -> str:
    """The resident's phone tracking page of a ticket."""
    return external("kiosk.track", token=token)


def slip_url(token: str) -> str:
    """The 80 mm ticket slip PDF."""
    return external("kiosk.slip", token=token)


def guide_url(code: str) -> str:
    """The phone guide page of a matter (/guide/<code>), what guide QR codes open."""
    return external("guide.matter", code=code)
