"""Security headers of every response, and the client address of audit rows.

The Content-Security-Policy allows scripts, styles, fonts and frames only from this site:
no inline script, no inline style, no eval (the pages keep their data in
`<script type="application/json">` blocks, which are not run). Images may also be `data:`
URIs (the screens' blank favicon). Socket.IO connects to this host, over ws:/wss: named
explicitly for browsers whose 'self' does not cover WebSockets. No page may be framed by
another site; only PDFs may be framed by our own pages (the kiosk shows its slip in a frame).
"""

from __future__ import annotations

import re

from flask import Flask, Response, has_request_context, request
from sqlalchemy import event
from sqlalchemy.orm import Session

from hall.models import AuditEvent, User
from hall.models.base import utcnow

# the policy of every page; {connect} is filled in per request (the host's WebSocket URL)
PAGE_POLICY = (
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    "connect-src 'self'{connect}",
    "media-src 'self'",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-src 'self'",
    "frame-ancestors 'none'",
)
# PDFs (slips, receipts, reports): shown in a frame of our own pages, nothing else to allow
FRAMED_POLICY = "frame-ancestors 'self'"
FRAMED_TYPES = ("application/pdf",)
# JSON (the API, errors): data, never a document; nothing to load, never framed
DATA_POLICY = "default-src 'none'; frame-ancestors 'none'"
HSTS = "max-age=31536000"
PERMISSIONS = "camera=(), microphone=(), geolocation=(), payment=(), usb=()"
_HOST = re.compile(r"^(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?$")


def init_app(app: Flask) -> None:
    """Add the security headers to every response; fill the client address of audit rows."""
    app.after_request(security_headers)
    if not event.contains(AuditEvent, "before_insert", _fill_ip):
        event.listen(AuditEvent, "before_insert", _fill_ip)


def content_security_policy() -> str:
    """The Content-Security-Policy of a page of the current request."""
    connect = ""
    host = request.host
    if _HOST.match(host):
        connect = f" {'wss' if request.is_secure else 'ws'}://{host}"
    return "; ".join(PAGE_POLICY).format(connect=connect)


def security_headers(response: Response) -> Response:
    """after_request: CSP, framing, sniffing, referrer, permissions and HSTS headers."""
    headers = response.headers
    mimetype = response.mimetype
    if mimetype in FRAMED_TYPES:
        headers.setdefault("Content-Security-Policy", FRAMED_POLICY)
        headers.setdefault("X-Frame-Options", "SAMEORIGIN")
    elif mimetype == "application/json":
        headers.setdefault("Content-Security-Policy", DATA_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
    else:
        headers.setdefault("Content-Security-Policy", content_security_policy())
        headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # tracking links (/t/<token>) must not leak to other sites through the Referer
    headers.setdefault("Referrer-Policy", "same-origin")
    headers.setdefault("Permissions-Policy", PERMISSIONS)
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def client_ip() -> str | None:
    """The client's address in a request (after ProxyFix when HALL_PROXY_FIX is set)."""
    if not has_request_context():
        return None
    address = request.remote_addr
    return address[:45] if address else None


def _fill_ip(_mapper, _connection, target: AuditEvent) -> None:
    """before_insert of AuditEvent: every row written during a request says from where."""
    if target.ip is None:
        target.ip = client_ip()


def audit(
    session: Session,
    action: str,
    *,
    user: User | None = None,
    hall_id: int | None = None,
    detail: str = "",
) -> AuditEvent:
    """Add an audit row of the current request (who, what, when, from where); caller commits."""
    row = AuditEvent(
        hall_id=hall_id if hall_id is not None else (user.hall_id if user else None),
        user_id=user.id if user else None,
        action=action,
        detail=detail[:500],
        at=utcnow(),
        ip=client_ip(),
    )
    session.add(row)
    return row
