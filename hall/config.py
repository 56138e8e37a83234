"""Settings: defaults in code, overridden by HALL_* environment variables."""

from __future__ import annotations

import os
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
        # werkzeug hash method of new passwords (scrypt; tests use a cheaper one)
        "HALL_PASSWORD_METHOD": env.get("HALL_PASSWORD_METHOD", "scrypt"),
    }


DEFAULTS = {
    "SQLALCHEMY_ENGINE_OPTIONS": {},
    "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    "BABEL_DEFAULT_LOCALE": "zh_CN",
    "BABEL_DEFAULT_TIMEZONE": "Asia/Shanghai",
    "WTF_CSRF_TIME_LIMIT": None,
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "JSON_SORT_KEYS": False,
    # the largest request body: a matter-list spreadsheet is at most 20 MB (catalog_io), plus
    # the form around it; anything bigger is refused with 413 before it is read
    "MAX_CONTENT_LENGTH": 25 * 1024 * 1024,
}
