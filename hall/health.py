"""Health check for load balancers: GET /healthz answers 200 when the database (and Redis,
when configured) answer, 503 naming the failing part otherwise. No sign-in, no cookie."""

from __future__ import annotations

import importlib.metadata
import logging
import re

from flask import Blueprint, current_app, jsonify
from sqlalchemy import text

from hall.extensions import db

blueprint = Blueprint("health", __name__)
log = logging.getLogger(__name__)

DATABASE_TIMEOUT_MS = 2000
REDIS_TIMEOUT_SECONDS = 1.0
_SECRET = re.compile(r"(://[^/@\s]*:)[^@\s]*@|(password\s*=\s*)\S+", re.IGNORECASE)


def _version() -> str:
    try:
        return importlib.metadata.version("hall")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover  (not installed)
        return "unknown"


def _mask(match: re.Match) -> str:
    if match.group(1):
        return f"{match.group(1)}***@"
    return f"{match.group(2)}***"


def reason(err: BaseException) -> str:
    """A short, secret-free description of a failure: its type and the first line of the
    driver's message, with passwords in URLs or keyword strings masked."""
    cause = getattr(err, "orig", None) or err
    lines = str(cause).strip().splitlines()
    first = lines[0] if lines else ""
    first = _SECRET.sub(_mask, first)
    return f"{type(cause).__name__}: {first}"[:200]


def check_database() -> str | None:
    """None when a `SELECT 1` answers within the timeout, else the reason it did not."""
    try:
        with db.engine.connect() as conn:
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"SET LOCAL statement_timeout = {DATABASE_TIMEOUT_MS}")
            conn.execute(text("SELECT 1")).scalar_one()
            conn.rollback()
    except Exception as err:  # any failure makes the instance unhealthy
        log.warning("health check: database unavailable: %s", reason(err))
        return reason(err)
    return None


def check_redis(url: str, timeout: float = REDIS_TIMEOUT_SECONDS) -> str | None:
    """None when Redis at `url` answers PING within `timeout` seconds, else the reason."""
    try:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=timeout,
            socket_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # one try: the load balancer asks again anyway
        )
        try:
            client.ping()
        finally:
            client.close()
    except Exception as err:  # any failure makes the instance unhealthy
        log.warning("health check: redis unavailable: %s", reason(err))
        return reason(err)
    return None


@blueprint.get("/healthz")
def healthz():
    """{"status": "ok", "database": "ok", "redis": "ok" | "not configured", "version": …};
    503 with {"status": "unavailable", "<part>": "unavailable", "reasons": {part: why}}."""
    report: dict = {"status": "ok", "database": "ok", "redis": "not configured"}
    reasons: dict[str, str] = {}
    failure = check_database()
    if failure:
        reasons["database"] = failure
    redis_url = current_app.config.get("HALL_REDIS_URL")
    if redis_url:
        report["redis"] = "ok"
        failure = check_redis(redis_url)
        if failure:
            reasons["redis"] = failure
    for part in reasons:
        report[part] = "unavailable"
    if reasons:
        report["status"] = "unavailable"
        report["reasons"] = reasons
    report["version"] = _version()
    response = jsonify(report)
    response.status_code = 503 if reasons else 200
    response.headers["Cache-Control"] = "no-store"
    return response
