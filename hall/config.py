"""Settings: defaults in code, overridden by HALL_* environment variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path


def data_dir() -> Path:
    """Folder of the embedded SQLite file: HALL_DATA_DIR, else ./instance."""
    return Path(os.environ.get("HALL_DATA_DIR") or Path.cwd() / "instance").resolve()


def _bool(value: str | None, default: bool = False) -> bool:
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def from_environment() -> dict:
    """Read the HALL_* variables into a Flask config mapping."""
    env = os.environ
    url = env.get("HALL_DATABASE_URL") or f"sqlite:///{data_dir() / 'hall.sqlite3'}"
    return {
        "SQLALCHEMY_DATABASE_URI": url,
        "SECRET_KEY": env.get("HALL_SECRET_KEY"),
        "HALL_REDIS_URL": env.get("HALL_REDIS_URL") or None,
        "HALL_TIMEZONE": env.get("HALL_TIMEZONE", "Asia/Shanghai"),
        "HALL_DEMO": _bool(env.get("HALL_DEMO")),
        # 过号: how many others are served before a returning no-show; 0 = at the head.
        "HALL_NO_SHOW_RETURN_AFTER": int(env.get("HALL_NO_SHOW_RETURN_AFTER", "0")),
        "HALL_DEFAULT_SERVICE_MINUTES": float(env.get("HALL_DEFAULT_SERVICE_MINUTES", "5")),
        "HALL_KIOSK_IDLE_SECONDS": int(env.get("HALL_KIOSK_IDLE_SECONDS", "30")),
        "HALL_PUBLIC_URL": env.get("HALL_PUBLIC_URL") or None,
        # an open accepted case turns yellow this many working days before its due date
        "HALL_CASE_WARN_DAYS": max(0, int(env.get("HALL_CASE_WARN_DAYS", "2"))),
        # retention: residents' personal fields (applicant name, phone) of cases completed or
        # closed more than this many days ago are erased once a day by the server's sweeper
        # (hall.domain.retention); the statistics are kept. 0 = keep forever
        "HALL_RETENTION_DAYS": max(0, int(env.get("HALL_RETENTION_DAYS", "0"))),
        # werkzeug hash method of new passwords (scrypt; tests use a cheaper one)
        "HALL_PASSWORD_METHOD": env.get("HALL_PASSWORD_METHOD", "scrypt"),
        # how many reverse proxies (nginx, a load balancer) stand in front of the app and
        # set X-Forwarded-For / X-Forwarded-Proto; 0 = trust none of those headers
        "HALL_PROXY_FIX": max(0, int(env.get("HALL_PROXY_FIX", "0"))),
        # cookies only over HTTPS (session, remember-me): set when TLS ends at the proxy
        "SESSION_COOKIE_SECURE": _bool(env.get("HALL_SECURE_COOKIES")),
        "REMEMBER_COOKIE_SECURE": _bool(env.get("HALL_SECURE_COOKIES")),
        # staff sign-in lockout: after this many wrong passwords in a row the account is
        # locked for HALL_LOGIN_LOCK_SECONDS, doubled by each further wrong password after a
        # lock, up to HALL_LOGIN_LOCK_MAX_SECONDS; the right password resets the count
        "HALL_LOGIN_MAX_FAILURES": max(1, int(env.get("HALL_LOGIN_MAX_FAILURES", "5"))),
        "HALL_LOGIN_LOCK_SECONDS": max(1, int(env.get("HALL_LOGIN_LOCK_SECONDS", "60"))),
        "HALL_LOGIN_LOCK_MAX_SECONDS": max(1, int(env.get("HALL_LOGIN_LOCK_MAX_SECONDS", "3600"))),
        # seconds a new PostgreSQL connection may take before the request fails with 503
        "HALL_DATABASE_CONNECT_TIMEOUT": int(env.get("HALL_DATABASE_CONNECT_TIMEOUT", "5")),
        # connections each instance keeps to PostgreSQL, and how many more it may open under
        # load (SQLAlchemy's defaults); instances × (both) must stay below max_connections
        "HALL_DATABASE_POOL_SIZE": int(env.get("HALL_DATABASE_POOL_SIZE", "5")),
        "HALL_DATABASE_MAX_OVERFLOW": int(env.get("HALL_DATABASE_MAX_OVERFLOW", "10")),
        # ping every PostgreSQL connection at checkout (a round trip each request), where
        # the server may vanish without closing connections; off: only when told (hall.pool)
        "HALL_DATABASE_PRE_PING": _bool(env.get("HALL_DATABASE_PRE_PING")),
        # rate limits (hall.limits; Flask-Limiter notation, several joined by ";"): on unless
        # HALL_RATE_LIMITS=0, never in tests (TESTING) unless RATELIMIT_ENABLED is set
        "HALL_RATE_LIMITS": _bool(env.get("HALL_RATE_LIMITS"), True),
        # tickets per kiosk, device token, staff account or client address (kiosk and API)
        "HALL_LIMIT_ISSUE": env.get("HALL_LIMIT_ISSUE", "30/minute;600/hour"),
        # tickets per queue of a hall, from everyone together: a flood guard
        "HALL_LIMIT_ISSUE_QUEUE": env.get("HALL_LIMIT_ISSUE_QUEUE", "60/minute"),
        # failed sign-ins per client address, and per username
        "HALL_LIMIT_LOGIN": env.get("HALL_LIMIT_LOGIN", "10/minute;100/hour"),
        # public ticket/case pages (/t/<token>…, /v/<token>, guide PDFs) per address and token
        "HALL_LIMIT_PUBLIC": env.get("HALL_LIMIT_PUBLIC", "60/minute"),
        # unknown tokens (404) on those pages per address: stops anyone trying tokens
        "HALL_LIMIT_PUBLIC_MISS": env.get("HALL_LIMIT_PUBLIC_MISS", "30/minute"),
        # guide searches (kiosk, /guide, /api/v1/matters) per device, account or address
        "HALL_LIMIT_SEARCH": env.get("HALL_LIMIT_SEARCH", "120/minute"),
        # wrong device pairing codes per client address (/pair)
        "HALL_LIMIT_PAIR": env.get("HALL_LIMIT_PAIR", "10/minute;50/hour"),
        # kiosk and hall screens only on paired devices (or for signed-in staff of the hall):
        # on unless set to 0; off by default in the demo and the tests
        "HALL_REQUIRE_PAIRING": _bool(env.get("HALL_REQUIRE_PAIRING"), None),
        # minutes a device pairing code stays valid
        "HALL_PAIRING_CODE_MINUTES": max(1, int(env.get("HALL_PAIRING_CODE_MINUTES", "10"))),
        # seconds between a serving process's looks for device keys revoked elsewhere (the
        # command line, another instance), whose open pages it then tells; 0 = never look
        "HALL_REVOCATION_CHECK_SECONDS": max(
            0.0, float(env.get("HALL_REVOCATION_CHECK_SECONDS", "5"))
        ),
    }


SQLITE_POOL_SIZE = 32


def engine_options(config: Mapping) -> dict:
    """SQLAlchemy engine options for the configured database, on top of
    SQLALCHEMY_ENGINE_OPTIONS (whose entries win).

    PostgreSQL (or any server database): a pooled connection is pinged when checked out (on
    PostgreSQL only when its socket has news, hall.pool), so connections killed by a restart
    or an outage of the server are replaced instead of failing a request; the pool holds
    HALL_DATABASE_POOL_SIZE connections plus up to HALL_DATABASE_MAX_OVERFLOW more under load;
    a connection attempt to an unreachable PostgreSQL gives up after
    HALL_DATABASE_CONNECT_TIMEOUT seconds (unless the URL sets connect_timeout itself).
    """
    url = str(config["SQLALCHEMY_DATABASE_URI"])
    options = dict(config.get("SQLALCHEMY_ENGINE_OPTIONS") or {})
    if url.startswith("sqlite"):
        # one connection per request thread kept open: opening one costs a file open and
        # the PRAGMAs of hall._tune_engine, which a pool of 5 would pay on every request
        # beyond the fifth at a time (werkzeug serves each connection in its own thread)
        if "poolclass" not in options and ":memory:" not in url and url != "sqlite://":
            options.setdefault("pool_size", SQLITE_POOL_SIZE)
            # the connection returned last goes out first: SQLite empties a connection's page
            # cache when another connection wrote since its last transaction, so the one used
            # last (often the last writer's) is the one with its pages still cached
            options.setdefault("pool_use_lifo", True)
        return options
    if url.startswith("postgresql"):
        # pinged at checkout only when the socket tells of a closed connection (hall.pool)
        options.setdefault("pool_pre_ping", bool(config.get("HALL_DATABASE_PRE_PING")))
    options.setdefault("pool_pre_ping", True)
    if "poolclass" not in options:  # the sizes are those of the default QueuePool
        options.setdefault("pool_size", int(config.get("HALL_DATABASE_POOL_SIZE", 5)))
        options.setdefault("max_overflow", int(config.get("HALL_DATABASE_MAX_OVERFLOW", 10)))
    if url.startswith("postgresql") and "connect_timeout=" not in url:
        connect_args = dict(options.get("connect_args") or {})
        connect_args.setdefault(
            "connect_timeout", int(config.get("HALL_DATABASE_CONNECT_TIMEOUT", 5))
        )
        options["connect_args"] = connect_args
    return options


DEFAULTS = {
    "SQLALCHEMY_ENGINE_OPTIONS": {},
    "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    "BABEL_DEFAULT_LOCALE": "zh_CN",
    "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
    "WTF_CSRF_TIME_LIMIT": None,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "REMEMBER_COOKIE_HTTPONLY": True,
    "REMEMBER_COOKIE_SAMESITE": "Lax",
    "JSON_SORT_KEYS": False,
    # the largest request body: a matter-list spreadsheet is at most 20 MB (catalog_io), plus
    # the form around it; anything bigger is refused with 413 before it is read
    "MAX_CONTENT_LENGTH": 25 * 1024 * 1024,
}
