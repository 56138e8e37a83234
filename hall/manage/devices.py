"""Devices (设备管理), admins only: pair a kiosk or screen with a one-time code, revoke one.

GET  /manage/<hall>/devices                       the hall's devices and its live codes
POST /manage/<hall>/devices/pair                  a new code (shown once on the answer)
POST /manage/<hall>/devices/<id>/revoke           stop a device at once
POST /manage/<hall>/devices/codes/<id>/cancel     withdraw a code not yet used

Each action is audited (device.code, device.revoke, device.code_cancel; the device's own
pairing is device.pair). The domain is hall.devices.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required

from hall import devices
from hall.domain.errors import DomainError, Forbidden
from hall.extensions import db
from hall.manage import blueprint
from hall.manage.catalog import _context
from hall.manage.views import page_context
from hall.models import Hall


def _admin(hall_code: str) -> Hall:
    principal, hall = _context(hall_code)
    if principal.role != "admin":
        raise Forbidden(
            "forbidden", "只有管理员可以配对和停用设备", "Only admins may pair and revoke devices"
        )
    return hall


def _when(hall: Hall, value) -> str:
    return value.astimezone(ZoneInfo(hall.timezone)).strftime("%Y-%m-%d %H:%M") if value else ""


def _render(hall: Hall, *, code=None, error=None, form=None, status=200):
    found = devices.listing(db.session, hall)
    rows = []
    for key in found["devices"]:
        pairing = found["paired"].get(key.id)
        rows.append(
            {
                "id": key.id,
                "kind": _("取号机") if key.device_kind == "kiosk" else _("显示屏"),
                "name": key.name,
                "since": _when(hall, key.created_at),
                "how": _("配对码") if pairing else _("命令行令牌"),
                "ip": pairing.ip if pairing else "",
                "revoked": key.revoked,
                "revoked_at": _when(hall, key.revoked_at),
            }
        )
    pending = [
        {
            "id": p.id,
            "kind": _("取号机") if p.device_kind == "kiosk" else _("显示屏"),
            "name": p.name,
            "expires": _when(hall, p.expires_at),
        }
        for p in found["pending"]
    ]
    return render_template(
        "manage/devices.html",
        **page_context(hall, "devices"),
        rows=rows,
        pending=pending,
        code=code,
        error=error,
        form=form or {},
        pair_url=url_for("devices.pair", _external=True),
    ), status


@blueprint.get("/<hall_code>/devices")
@login_required
def devices_page(hall_code: str):
    """The hall's kiosks and screens: pair a new one, revoke one."""
    return _render(_admin(hall_code))


@blueprint.post("/<hall_code>/devices/pair")
@login_required
def device_pair(hall_code: str):
    """A one-time pairing code for a new kiosk or screen, shown on this answer only."""
    hall = _admin(hall_code)
    kind = request.form.get("kind", "")
    name = request.form.get("name", "")[:1000]
    try:
        pairing, code = devices.create_pairing(
            db.session, hall, kind, name, by=current_user._get_current_object()
        )
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        return _render(
            hall, error=(err.zh, err.en), form={"kind": kind, "name": name}, status=err.status
        )
    shown = {
        "code": devices.shown_code(code),
        "kind": _("取号机") if pairing.device_kind == "kiosk" else _("显示屏"),
        "name": pairing.name,
        "expires": _when(hall, pairing.expires_at),
    }
    response, status = _render(hall, code=shown)
    return response, status, {"Cache-Control": "no-store"}


@blueprint.post("/<hall_code>/devices/<int(max=2147483647):device_id>/revoke")
@login_required
def device_revoke(hall_code: str, device_id: int):
    """Stop a device: its next request is refused and its open pages reload at once."""
    hall = _admin(hall_code)
    key = devices.hall_device(db.session, hall, device_id)
    changed = devices.revoke(db.session, key, by=current_user._get_current_object())
    db.session.commit()
    if changed:
        devices.notify_revoked(key)
        flash(_("设备“%(name)s”已停用。", name=key.name or key.id), "info")
    return redirect(url_for("manage.devices_page", hall_code=hall.code), code=303)


@blueprint.post("/<hall_code>/devices/codes/<int(max=2147483647):pairing_id>/cancel")
@login_required
def device_code_cancel(hall_code: str, pairing_id: int):
    """Withdraw a pairing code that has not been used."""
    hall = _admin(hall_code)
    devices.cancel_pairing(db.session, hall, pairing_id, by=current_user._get_current_object())
    db.session.commit()
    flash(_("配对码已作废。"), "info")
    return redirect(url_for("manage.devices_page", hall_code=hall.code), code=303)
