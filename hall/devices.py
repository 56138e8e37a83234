"""Kiosk and display devices: paired with a one-time code, known by a revocable key.

An admin asks for a pairing code on /manage/<hall>/devices (or `hall device pair`): eight
digits, valid HALL_PAIRING_CODE_MINUTES (10), only their HMAC (under the secret key) stored. On the device, /pair
takes the code once and turns it into the device's key: an ApiToken of that kind and hall,
kept by the browser in the HttpOnly cookie `hall_device` (SameSite=Strict, Secure behind TLS,
renewed on every page so it never runs out). The kiosk issues tickets and the screens watch
their hall with it; a device of another hall or kind is refused.

Revoking a key (the admin's page, `hall device revoke`) works on the next request: the cookie
and the bearer token are looked up on every request, never cached. Pages open on the device
at that moment are told through Socket.IO (`device.revoked` to the room `device:<id>`) and
reload into the "device stopped" page: at once from the admin's page (through Redis to every
instance when they share it), and within HALL_REVOCATION_CHECK_SECONDS (5 s) from anywhere
else (the command line, another instance), by each serving process's `RevocationWatch`. A
revoked key's Socket.IO connections are refused.

HALL_REQUIRE_PAIRING (on by default outside the demo and the tests) makes the kiosk and the
screens work only on paired devices, or for signed-in staff of the hall; off, anyone may use
them (the demo), but a revoked or unknown key is still refused.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import threading
import unicodedata
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import (
    Blueprint,
    current_app,
    g,
    make_response,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlalchemy.orm import Session

from hall.auth import Unauthorized, hash_token, new_token
from hall.domain.errors import DomainError, Forbidden, Invalid, NotFound
from hall.extensions import db
from hall.models import ApiToken, DevicePairing, Hall, User, Window, utcnow
from hall.models.org import DEVICE_KINDS
from hall.security import audit, client_ip

COOKIE = "hall_device"
COOKIE_DAYS = 400  # the longest a browser keeps a cookie; renewed on every page
CODE_DIGITS = 8
NAME_MAX = 100
KIND_NAMES = {"kiosk": ("取号机", "kiosk"), "display": ("显示屏", "display screen")}

blueprint = Blueprint("devices", __name__)


# ---------------------------------------------------------------- codes and keys


def _code_hash(code: str) -> str:
    """An HMAC of the code under the secret key: eight digits are too few for a plain hash
    (a reader of the database could try all 10^8 within the code's lifetime)."""
    key = str(current_app.config["SECRET_KEY"]).encode()
    return hmac.new(key, b"hall-pairing:" + code.encode(), hashlib.sha256).hexdigest()


def normalize_code(text: str) -> str:
    """The eight digits of a typed code: spaces, dashes and full-width digits allowed."""
    value = unicodedata.normalize("NFKC", text or "")
    value = "".join(ch for ch in value if ch not in " -\u00a0\t")
    if len(value) != CODE_DIGITS or not value.isascii() or not value.isdigit():
        raise Invalid(
            "bad_pairing_code",
            f"配对码是 {CODE_DIGITS} 位数字",
            f"The pairing code is {CODE_DIGITS} digits",
        )
    return value


def shown_code(code: str) -> str:
    """The code as the admin reads it out: 1234 5678."""
    return f"{code[:4]} {code[4:]}"


def check_name(name: str) -> str:
    """Where the device stands (入口取号机 1): at most 100 characters, no control characters."""
    name = (name or "").strip()
    if len(name) > NAME_MAX:
        raise Invalid(
            "name_too_long",
            f"设备名称最多 {NAME_MAX} 个字",
            f"The device name is at most {NAME_MAX} characters",
        )
    if any(unicodedata.category(ch) in ("Cc", "Cf") for ch in name):
        raise Invalid(
            "name_control_characters",
            "设备名称不能包含控制字符",
            "The device name cannot contain control characters",
        )
    return name


def _check_kind(kind: str) -> str:
    if kind not in DEVICE_KINDS:
        raise Invalid("bad_device", "设备类型只能是取号机或显示屏", "Unknown device kind")
    return kind


def create_pairing(
    session: Session,
    hall: Hall,
    kind: str,
    name: str,
    *,
    by: User | None,
    now: datetime | None = None,
) -> tuple[DevicePairing, str]:
    """A new one-time code for a device of this hall; the plain code is returned once."""
    _check_kind(kind)
    name = check_name(name)
    now = now or utcnow()
    minutes = max(1, int(current_app.config.get("HALL_PAIRING_CODE_MINUTES", 10)))
    while True:  # two live codes never share their digits
        code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
        if _live(session, code, now) is None:
            break
    pairing = DevicePairing(
        hall_id=hall.id,
        device_kind=kind,
        name=name,
        code_hash=_code_hash(code),
        created_by=by.id if by else None,
        created_at=now,
        expires_at=now + timedelta(minutes=minutes),
        cancelled=False,
    )
    session.add(pairing)
    session.flush()
    audit(
        session,
        "device.code",
        user=by,
        hall_id=hall.id,
        detail=f"pairing={pairing.id} kind={kind} name={name}",
    )
    return pairing, code


def _live(session: Session, code: str, now: datetime) -> DevicePairing | None:
    return session.scalar(
        sa.select(DevicePairing).where(
            DevicePairing.code_hash == _code_hash(code),
            DevicePairing.used_at.is_(None),
            DevicePairing.cancelled.is_(False),
            DevicePairing.expires_at > now,
        )
    )


BAD_CODE = (
    "配对码无效、已使用或已过期，请向管理员重新获取",
    "The pairing code is wrong, used or expired; ask the administrator for a new one",
)


def redeem(session: Session, typed: str, *, now: datetime | None = None) -> tuple[ApiToken, str]:
    """Use a pairing code: the new device key (its row and its plain value, given once).

    The code is marked used by a conditional UPDATE, so two devices typing the same code at
    the same moment get one key between them. The caller commits.
    """
    code = normalize_code(typed)
    now = now or utcnow()
    pairing = _live(session, code, now)
    if pairing is None:
        raise Invalid("bad_pairing_code", *BAD_CODE)
    taken = session.execute(
        sa.update(DevicePairing)
        .where(DevicePairing.id == pairing.id, DevicePairing.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    if taken.rowcount != 1:
        raise Invalid("bad_pairing_code", *BAD_CODE)
    hall = session.get(Hall, pairing.hall_id)
    key, value = new_token(session, device_kind=pairing.device_kind, hall=hall, name=pairing.name)
    pairing.token_id = key.id
    pairing.ip = client_ip()
    audit(
        session,
        "device.pair",
        hall_id=hall.id,
        detail=f"device={key.id} kind={key.device_kind} name={key.name} pairing={pairing.id}",
    )
    return key, value


def hall_device(session: Session, hall: Hall, device_id: int) -> ApiToken:
    """A device key of this hall (404 for another hall's or a staff token)."""
    key = session.get(ApiToken, device_id)
    if key is None or key.hall_id != hall.id or key.device_kind is None:
        raise NotFound("no_device", f"没有编号为 {device_id} 的设备", f"No device {device_id}")
    return key


def revoke(session: Session, key: ApiToken, *, by: User | None) -> bool:
    """Stop a device key (at once: every request looks the key up). False: it was already."""
    if key.revoked:
        return False
    key.revoked = True
    key.revoked_at = utcnow()
    audit(
        session,
        "device.revoke",
        user=by,
        hall_id=key.hall_id,
        detail=f"device={key.id} kind={key.device_kind} name={key.name}",
    )
    return True


def cancel_pairing(session: Session, hall: Hall, pairing_id: int, *, by: User | None) -> None:
    """Withdraw a code that has not been used (a code read out to the wrong person)."""
    pairing = session.get(DevicePairing, pairing_id)
    if pairing is None or pairing.hall_id != hall.id:
        raise NotFound("no_pairing", "没有这个配对码", "No such pairing code")
    if pairing.used_at is not None or pairing.cancelled:
        return
    pairing.cancelled = True
    audit(
        session,
        "device.code_cancel",
        user=by,
        hall_id=hall.id,
        detail=f"pairing={pairing.id} kind={pairing.device_kind} name={pairing.name}",
    )


def notify_revoked(key: ApiToken) -> None:
    """Tell the device's open pages (after the commit): they reload into the stopped page."""
    _tell_revoked(key.id, through_queue=True)


def _tell_revoked(key_id: int, *, through_queue: bool) -> None:
    """Emit device.revoked to the key's room: to every process's clients through the message
    queue when there is one, or only to this process's own (`RevocationWatch`)."""
    from hall.extensions import socketio

    socketio.emit(
        "device.revoked", {"device": key_id}, to=f"device:{key_id}", ignore_queue=not through_queue
    )


# How far back a look for revoked keys reaches: revoked_at is the revoking machine's clock,
# so each look overlaps the ones before.
REVOCATION_OVERLAP = timedelta(minutes=2)
WATCH_KEY = "hall_revocation_watch"


class RevocationWatch:
    """Tells this process's open device pages of keys revoked by another process.

    The admin's page tells a revoked device's pages at once (`notify_revoked`), but only
    through the process that served the revocation: `hall device revoke`, or another
    instance without a shared Redis, reaches nobody, and a hall screen may make no request
    for hours. So every serving process looks for newly revoked keys every
    HALL_REVOCATION_CHECK_SECONDS (5 s) and tells its own clients (not through Redis: each
    process looks for itself). A key is told once per process; one the admin's page told
    already gets a second, harmless `device.revoked` that the reloaded page no longer hears
    (a revoked key's connection joins no room).
    """

    def __init__(self, app):
        self.app = app
        self.since = utcnow()  # pages connecting later are refused when they connect
        self.told: dict[int, datetime] = {}
        self.stopping = threading.Event()
        self.task = None

    def run_once(self) -> list[int]:
        """One look: the keys newly told."""
        now = utcnow()
        with self.app.app_context():
            try:
                revoked = db.session.scalars(
                    sa.select(ApiToken.id).where(
                        ApiToken.revoked,
                        ApiToken.device_kind.is_not(None),
                        ApiToken.revoked_at >= self.since - REVOCATION_OVERLAP,
                    )
                ).all()
            finally:
                db.session.remove()
        told = []
        for key_id in revoked:
            if key_id not in self.told:
                self.told[key_id] = now
                told.append(key_id)
                _tell_revoked(key_id, through_queue=False)
        self.since = max(self.since, now)
        horizon = self.since - 2 * REVOCATION_OVERLAP  # no longer in any look's reach
        self.told = {k: at for k, at in self.told.items() if at >= horizon}
        if told:
            logging.getLogger(__name__).info("device keys revoked elsewhere, told: %s", told)
        return told

    def interval(self) -> float:
        """Seconds between looks (HALL_REVOCATION_CHECK_SECONDS; 0: no looks)."""
        return float(self.app.config.get("HALL_REVOCATION_CHECK_SECONDS", 5) or 0)

    def loop(self) -> None:
        """Never ends by an error: the next look tries again. A failure is logged when looks
        start failing (not every few seconds while the database is down) and when they work
        again."""
        log = logging.getLogger(__name__)
        failing = False
        while not self.stopping.wait(self.interval()):
            try:
                self.run_once()
            except Exception:
                if not failing:
                    log.exception("looking for revoked device keys failed; trying again")
                failing = True
            else:
                if failing:
                    log.info("looking for revoked device keys works again")
                failing = False

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to end and wait for it (tests; a server just exits)."""
        self.stopping.set()
        if self.task is not None:
            self.task.join(timeout)


def start_revocation_watch(app) -> RevocationWatch | None:
    """Start this serving process's RevocationWatch once (None when the interval is 0)."""
    running = app.extensions.get(WATCH_KEY)
    if running is not None:
        return running
    watch = RevocationWatch(app)
    if watch.interval() <= 0:
        return None
    from hall.extensions import socketio

    app.extensions[WATCH_KEY] = watch
    watch.task = socketio.start_background_task(watch.loop)
    return watch


def listing(session: Session, hall: Hall, now: datetime | None = None) -> dict:
    """The devices of a hall (newest first) and its codes still waiting to be typed."""
    now = now or utcnow()
    keys = session.scalars(
        sa.select(ApiToken)
        .where(ApiToken.hall_id == hall.id, ApiToken.device_kind.is_not(None))
        .order_by(ApiToken.revoked, ApiToken.id.desc())
    ).all()
    paired = {
        p.token_id: p
        for p in session.scalars(
            sa.select(DevicePairing).where(
                DevicePairing.hall_id == hall.id, DevicePairing.token_id.is_not(None)
            )
        )
    }
    pending = session.scalars(
        sa.select(DevicePairing)
        .where(
            DevicePairing.hall_id == hall.id,
            DevicePairing.used_at.is_(None),
            DevicePairing.cancelled.is_(False),
            DevicePairing.expires_at > now,
        )
        .order_by(DevicePairing.id.desc())
    ).all()
    return {"devices": keys, "paired": paired, "pending": pending}


# ---------------------------------------------------------------- the device of a request


class NeedsPairing(Exception):
    """This page needs a paired device (HALL_REQUIRE_PAIRING) and the browser has none."""


def current_device() -> ApiToken | None:
    """The device key in this request's cookie (looked up every request), or None.

    A key that is unknown or revoked is refused (401 / 403), never taken as "no device":
    a stopped kiosk must not go on as an anonymous one.
    """
    if "hall_device_key" in g:
        return g.hall_device_key
    value = request.cookies.get(COOKIE)
    key = None
    if value:
        key = _key_of(value)
    g.hall_device_key = key
    return key


def _key_of(value: str) -> ApiToken:
    key = db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == hash_token(value)))
    if key is None or key.device_kind is None:
        raise Unauthorized(
            "bad_device_key",
            "本机的设备密钥无效，请向管理员获取配对码重新配对",
            "This device's key is unknown; pair it again with a code from the administrator",
        )
    if key.revoked:
        raise Forbidden(
            "device_revoked",
            "本机已被管理员停用，请联系管理员重新配对",
            "This device was revoked by the administrator; ask for a new pairing code",
        )
    return key


def pairing_required() -> bool:
    return bool(current_app.config.get("HALL_REQUIRE_PAIRING"))


def admit(hall: Hall, kind: str) -> ApiToken | None:
    """Let this request use the kiosk (kind "kiosk") or a screen ("display") of the hall.

    The device in the cookie must be of that kind and hall. Without a device, a signed-in
    account of the hall may; anyone may when pairing is not required (as an anonymous
    resident would). Raises DomainError (a wrong or stopped device; with pairing required,
    an account of another hall) or NeedsPairing.
    """
    key = current_device()
    if key is not None:
        if key.device_kind != kind:
            zh, en = KIND_NAMES[key.device_kind]
            raise Forbidden(
                "wrong_device_kind",
                f"本机登记为{zh}，不能用作{KIND_NAMES[kind][0]}",
                f"This device is paired as a {en}, not a {KIND_NAMES[kind][1]}",
            )
        if key.hall_id != hall.id:
            raise Forbidden(
                "other_hall",
                "本机登记在其他大厅，不能用于本大厅",
                "This device is paired with another hall",
            )
        return key
    if staff_of(hall):
        return None
    if pairing_required():
        if current_user.is_authenticated:
            raise Forbidden("other_hall", "无权操作其他大厅", "Not allowed for another hall")
        raise NeedsPairing
    return None


def staff_of(hall: Hall) -> bool:
    """Whether the request is signed in with an account of this hall (or of every hall)."""
    return bool(current_user.is_authenticated) and current_user.hall_id in (None, hall.id)


def refresh_cookie(response, value: str | None = None):
    """Set (or renew) the device cookie on a response."""
    value = value or request.cookies.get(COOKIE)
    if value:
        response.set_cookie(
            COOKIE,
            value,
            max_age=COOKIE_DAYS * 86400,
            httponly=True,
            samesite="Strict",
            secure=bool(current_app.config.get("SESSION_COOKIE_SECURE")),
            path="/",
        )
    return response


def device_page(render, hall: Hall, kind: str):
    """Serve a kiosk or screen page only to whom `admit` lets in; a stopped device or a
    browser that needs pairing gets the pairing page (with why) instead."""
    try:
        key = admit(hall, kind)
    except NeedsPairing:
        return redirect(url_for("devices.pair", next=request.full_path.rstrip("?")))
    except DomainError as err:
        db.session.rollback()
        return _pair_page(error=(err.zh, err.en), status=err.status, blocked=True)
    response = make_response(render())
    return refresh_cookie(response) if key is not None else response


# ---------------------------------------------------------------- /pair on the device


def _safe_next(value: str | None) -> str | None:
    """A local path to go back to after pairing (never another site)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return None
    parts = urlsplit(value)
    return value if not parts.scheme and not parts.netloc else None


def _pair_page(*, error=None, status=200, blocked=False, done=None):
    response = make_response(
        render_template(
            "devices/pair.html",
            error=error,
            blocked=blocked,
            done=done,
            next=_safe_next(request.values.get("next")),
            digits=CODE_DIGITS,
        ),
        status,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@blueprint.errorhandler(CSRFError)
def _csrf_error(_err: CSRFError):
    """The pairing form was open too long or cookies are off: nothing used, try again."""
    return _pair_page(
        error=(
            "页面已过期，请重新输入配对码（如仍不行，请检查浏览器是否允许 Cookie）",
            "The page expired; type the code again (if it keeps failing, allow cookies)",
        ),
        status=400,
    )


@blueprint.get("/pair")
def pair():
    """The pairing page (设备配对): type the code the admin gave."""
    return _pair_page()


@blueprint.post("/pair")
def pair_submit():
    """Use the code: the device key goes into the HttpOnly cookie; on to the device's page."""
    typed = request.form.get("code", "")
    try:
        key, value = redeem(db.session, typed[:64])
        db.session.commit()
    except DomainError as err:
        db.session.rollback()
        return _pair_page(error=(err.zh, err.en), status=err.status)
    hall = db.session.get(Hall, key.hall_id)
    goal = _safe_next(request.form.get("next"))
    if key.device_kind == "kiosk":
        target = url_for("kiosk.kiosk", hall_code=hall.code)
        if goal and goal.startswith(target):
            target = goal
        return refresh_cookie(redirect(target, code=303), value)
    # a screen: the hall screen or one window's, as the person setting it up chooses
    windows = db.session.scalars(
        sa.select(Window).where(Window.hall_id == hall.id).order_by(Window.number)
    ).all()
    done = {
        "hall": hall,
        "name": key.name,
        "kind": _("显示屏"),
        "screens": [(_("大厅综合屏"), url_for("display.hall_screen", hall_code=hall.code))]
        + [
            (
                _("%(number)s 号窗口屏 %(name)s", number=w.number, name=w.name),
                url_for("display.window_screen", hall_code=hall.code, number=w.number),
            )
            for w in windows
        ],
    }
    return refresh_cookie(_pair_page(done=done), value)
