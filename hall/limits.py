"""Rate limits (Flask-Limiter): ticket issuing, sign-in, the public pages and the guide search.

The limits are put on registered views by endpoint name here, so the view modules stay free
of them; a name that no longer exists stops the start (a renamed view never silently loses
its limit). Counts live in Redis when HALL_REDIS_URL is set (every process of the
installation shares them), else in this process's memory.

Who is counted:
- issuing: the device or staff account of a valid bearer token (or a signed-in session, or
  a paired device's cookie), else the client address; and, as a flood guard, each queue of each hall;
- sign-in: failed attempts, per client address and per username (successes never count);
- device pairing: wrong codes per client address;
- public ticket and case pages (/t/<token>…, /v/<token>, the guide PDFs): per address and
  token, so phones behind one NAT address each have their own allowance; plus unknown tokens
  (404) per address, which stops anyone trying tokens;
- the guide search (kiosk, /guide, /api/v1/matters): per device, account or address.

Off when HALL_RATE_LIMITS=0, and in tests (TESTING) unless RATELIMIT_ENABLED is set.
"""

from __future__ import annotations

import json
import logging
import math
import time

import sqlalchemy as sa
from flask import Flask, current_app, jsonify, make_response, render_template, request
from flask_limiter import Limiter, RateLimitExceeded
from limits import parse_many

from hall.domain.errors import DomainError
from hall.extensions import db

EXTENSION_KEY = "hall_limiter"
STORAGE_PREFIX = "hall_limits"  # Redis keys: hall_limits:… (Socket.IO uses its own channel)
log = logging.getLogger(__name__)
KEY_MAX = 64  # characters of a client-supplied value kept in a counter's key

RATE_LIMITED = ("请求过于频繁，请稍后再试", "Too many requests; try again later")

# endpoint groups: which views each limit is put on
ISSUE_ENDPOINTS = ("kiosk.issue", "api.issue_ticket")
LOGIN_ENDPOINTS = ("counter.login",)
PAIR_ENDPOINTS = ("devices.pair_submit",)
PUBLIC_ENDPOINTS = (
    "kiosk.track",
    "kiosk.track_json",
    "kiosk.slip",
    "kiosk.qr",
    "casedocs.verify",
    "guide.matter_pdf",
    "guide.department_pdf",
)
SEARCH_ENDPOINTS = ("guide.index", "kiosk.guide_search", "api.list_matters")


# ---------------------------------------------------------------- keys


def _clip(value) -> str:
    return str(value)[:KEY_MAX] if value is not None else ""


def address_key() -> str:
    """The client address (the real one behind nginx when HALL_PROXY_FIX is set)."""
    return f"addr:{request.remote_addr or '-'}"


def client_key() -> str:
    """The device or staff token of a valid bearer token, the signed-in account, else the
    address. Resolved once per request: the views reuse it (current_principal caches it)."""
    from hall.auth import current_principal

    try:
        principal = current_principal()
    except DomainError:  # a bad or revoked token: the view refuses it; count the address
        principal = None
    if principal is not None and principal.token is not None:
        return f"token:{principal.token.id}"
    if principal is not None and principal.user_id is not None:
        return f"user:{principal.user_id}"
    from hall.devices import current_device

    try:
        device = current_device()  # a paired kiosk's cookie: the same key as its token
    except DomainError:
        device = None
    if device is not None:
        return f"token:{device.id}"
    return address_key()


def username_key() -> str:
    """The username typed into the sign-in form."""
    return f"username:{_clip((request.form.get('username') or '').strip()) or '-'}"


def public_key() -> str:
    """The address together with the token (or code) of the page asked for."""
    args = request.view_args or {}
    item = args.get("token") or args.get("code") or "-"
    return f"{address_key()}|{_clip(item)}"


def _request_json() -> dict:
    """The JSON body, read without touching Flask's parsed-JSON cache (the view parses it
    with its own rules)."""
    try:
        data = json.loads(request.get_data(cache=True) or b"null")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def queue_key() -> str:
    """The hall and queue a ticket is asked for (a matter counts as its queue)."""
    data = _request_json()
    hall = (request.view_args or {}).get("hall_code") or data.get("hall")
    queue, matter = data.get("queue"), data.get("matter")
    if not queue and matter:
        from hall.models import Matter, Queue

        queue = db.session.scalar(
            sa.select(Queue.prefix)
            .join(Matter, Matter.queue_id == Queue.id)
            .where(Matter.code == _clip(matter))
        )
        if queue is None:  # unknown: the view answers 404; count it under its own name
            return f"queue:{_clip(hall)}|matter:{_clip(matter)}"
    return f"queue:{_clip(hall)}|{_clip(queue)}"


# ---------------------------------------------------------------- set-up


def enabled(app: Flask) -> bool:
    """RATELIMIT_ENABLED when set; else HALL_RATE_LIMITS, and never in tests (TESTING)."""
    explicit = app.config.get("RATELIMIT_ENABLED")
    if explicit is not None:
        return bool(explicit)
    return bool(app.config.get("HALL_RATE_LIMITS", True)) and not app.config.get("TESTING")


def _setting(app: Flask, name: str) -> str:
    """A limit setting, checked: a typo stops the start instead of switching a limit off."""
    value = str(app.config.get(name) or "").strip()
    try:
        if not parse_many(value):
            raise ValueError(value)
    except ValueError as err:
        raise RuntimeError(
            f"{name}={value!r} is not a rate limit (e.g. '30/minute;600/hour')"
        ) from err
    return value


def _failed(status: int):
    return lambda response: response.status_code == status


def init_app(app: Flask) -> Limiter | None:
    """Put the limits on their views (call after every blueprint is registered) and answer
    429 with a JSON body or a page. Returns the limiter (None when limits are off)."""
    groups = (
        ISSUE_ENDPOINTS + LOGIN_ENDPOINTS + PAIR_ENDPOINTS + PUBLIC_ENDPOINTS + SEARCH_ENDPOINTS
    )
    missing = sorted(name for name in groups if name not in app.view_functions)
    if missing:
        raise RuntimeError(f"rate limits name unknown endpoints: {', '.join(missing)}")
    app.register_error_handler(429, _too_many_requests)
    is_on = enabled(app)
    app.config["RATELIMIT_ENABLED"] = is_on
    if not is_on:
        return None

    app.config.setdefault("RATELIMIT_KEY_PREFIX", "hall")
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"key_prefix": STORAGE_PREFIX})
    # a Redis outage lets requests through (logged) rather than stopping the hall
    app.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    storage = (
        app.config.get("RATELIMIT_STORAGE_URI") or app.config.get("HALL_REDIS_URL") or "memory://"
    )
    limiter = Limiter(key_func=address_key, storage_uri=storage)
    limiter.init_app(app)
    app.extensions[EXTENSION_KEY] = limiter

    issue = _setting(app, "HALL_LIMIT_ISSUE")
    issue_queue = _setting(app, "HALL_LIMIT_ISSUE_QUEUE")
    login = _setting(app, "HALL_LIMIT_LOGIN")
    public = _setting(app, "HALL_LIMIT_PUBLIC")
    public_miss = _setting(app, "HALL_LIMIT_PUBLIC_MISS")
    search = _setting(app, "HALL_LIMIT_SEARCH")
    pair = _setting(app, "HALL_LIMIT_PAIR")

    # shared scopes: the kiosk page and the API count together
    rules = {
        ISSUE_ENDPOINTS: [
            limiter.shared_limit(issue, "issue", key_func=client_key),
            limiter.shared_limit(issue_queue, "issue-queue", key_func=queue_key),
        ],
        LOGIN_ENDPOINTS: [
            limiter.limit(login, key_func=address_key, methods=["POST"], deduct_when=_failed(401)),
            limiter.limit(login, key_func=username_key, methods=["POST"], deduct_when=_failed(401)),
        ],
        # wrong pairing codes (400) per address: eight digits cannot be tried through
        PAIR_ENDPOINTS: [limiter.limit(pair, key_func=address_key, deduct_when=_failed(400))],
        PUBLIC_ENDPOINTS: [
            limiter.limit(public, key_func=public_key),
            limiter.shared_limit(
                public_miss, "public-miss", key_func=address_key, deduct_when=_failed(404)
            ),
        ],
        SEARCH_ENDPOINTS: [limiter.shared_limit(search, "search", key_func=client_key)],
    }
    for endpoints, limits in rules.items():
        for endpoint in endpoints:
            view = app.view_functions[endpoint]
            for limit in limits:
                view = limit(view)
            app.view_functions[endpoint] = view

    # Flask-Limiter looks for limits before every request, then again in the limited views;
    # the other requests (calls, boards, pages: most of them) have none, so they skip its
    # look (about 60 µs a request: bench/README.md)
    limited = frozenset(groups)
    limiter.request_filter(lambda: request.endpoint not in limited)
    return limiter


def limiter_of(app: Flask) -> Limiter | None:
    """The app's limiter (None when limits are off); tests reset it with .reset()."""
    return app.extensions.get(EXTENSION_KEY)


# ---------------------------------------------------------------- the answer


def _retry_after(err: Exception) -> int:
    """Seconds until the refused request may be made again: 1 to the window's length."""
    limiter = limiter_of(current_app)
    current = limiter.current_limit if limiter is not None else None
    item = (
        current.limit
        if current is not None
        else getattr(getattr(err, "limit", None), "limit", None)
    )
    window = int(item.get_expiry()) if item is not None else 60
    if current is not None:
        try:
            return max(1, min(window, math.ceil(current.reset_at - time.time())))
        except Exception:  # storage gone since the check: say the window's length
            log.debug("reset time unavailable", exc_info=True)
    return max(1, window)


def _too_many_requests(err: Exception):
    """429 as JSON (API paths, scripts, the kiosk) or a bilingual page, with Retry-After."""
    from hall import error_body, wants_json

    zh, en = RATE_LIMITED
    seconds = _retry_after(err)
    if wants_json() or request.path.endswith(".json"):
        response = jsonify({**error_body("rate_limited", zh, en), "retry_after": seconds})
    else:
        response = render_template("error.html", status=429, zh=zh, en=en)
    response = make_response(response, 429)
    response.headers["Retry-After"] = str(seconds)
    response.headers["Cache-Control"] = "no-store"
    return response


__all__ = ["RateLimitExceeded", "init_app", "limiter_of"]
