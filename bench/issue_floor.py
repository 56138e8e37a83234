"""An experiment, not part of the hall: the floor of the issue endpoint under Flask.

Serves the hall (`hall.create_app()`, the configured database, which must be SQLite) with one
difference: `POST /api/v1/tickets` with a queue is answered by a bare WSGI function that runs
the hall's own statements (the bearer token's lookup, the queue, the number, the ticket, its
log row, the event's seq with the position counts) on a pooled `sqlite3` connection behind
a writer lock, and writes the answer with `json.dumps`. Everything else goes to the hall.

It measures what the issue would cost without Flask's request cycle and SQLAlchemy's
session, for `issue_and_call.py`'s hall/bare ratio:

    python bench/issue_and_call.py --serve-command "{python} bench/issue_floor.py --port {port}"

What it leaves out, and a real second path would have to do as the hall does: roles, the
token's hall, revoked devices and disabled users beyond a plain refusal; matters and their
checks; rate limits; the errors' Chinese and English messages and the page's language; the
events published to screens; HALL_PUBLIC_URL and proxies; security headers; a database
outage answered 503. It runs only against a throw-away database.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import secrets
import sqlite3
import sys
import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from hall import create_app
from hall.auth import _TOKEN_BY_HASH
from hall.cli import _serve
from hall.domain import tickets as t
from hall.wal import database_path

DEFAULT_SERVICE_MINUTES = 5


def floor(hall_app):
    """The hall's WSGI application with the issue answered bare (set as its wsgi_app)."""
    inner = hall_app.wsgi_app
    path = database_path(hall_app.config["SQLALCHEMY_DATABASE_URI"])
    if path is None:
        sys.exit("issue_floor: SQLite only")
    pool: list[sqlite3.Connection] = []  # kept connections, last returned first
    writer = threading.Lock()

    def connection() -> sqlite3.Connection:
        try:
            return pool.pop()
        except IndexError:
            made = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "busy_timeout=5000"):
                made.execute(f"PRAGMA {pragma}")
            return made

    def answer(start, status: str, body: dict) -> list[bytes]:
        data = json.dumps(body, ensure_ascii=False).encode()
        start(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def issue(environ, start, cursor: sqlite3.Cursor, code: str, prefix: str):
        bearer = environ.get("HTTP_AUTHORIZATION", "").removeprefix("Bearer ")
        digest = hashlib.sha256(bearer.encode()).hexdigest()
        found = cursor.execute(_TOKEN_BY_HASH.sqlite, {"token_hash": digest}).fetchone()
        if found is None or found[3]:
            return None, ("401 UNAUTHORIZED", {"error": "unauthorized"})
        queue = cursor.execute(t._QUEUE_AND_HALL.sqlite, {"code": code, "prefix": prefix})
        queue = queue.fetchone()
        if queue is None:
            return None, ("404 NOT FOUND", {"error": "queue_not_found"})
        queue_id, prefix, queue_name, hall_id, _code, timezone = queue
        now = datetime.now(UTC)
        day = now.astimezone(ZoneInfo(timezone)).date().isoformat()
        stamp = now.replace(tzinfo=None).isoformat(" ", "microseconds")
        number = cursor.execute(t._TAKE_NUMBER.sqlite, {"queue_id": queue_id, "day": day})
        number = number.fetchone()[0]
        token = secrets.token_urlsafe(t.TOKEN_BYTES)
        label = f"{prefix}{number:03d}"
        values = {"token": token, "hall_id": hall_id, "queue_id": queue_id, "day": day}
        values |= {"number": number, "label": label, "matter_id": None, "priority": False}
        values |= {"now": stamp, "returned": False}
        ticket_id = cursor.execute(t._NEW_TICKET.sqlite, values).fetchone()[0]
        log = {"ticket_id": ticket_id, "hall_id": hall_id, "action": "issued"}
        log |= {"window_id": None, "user_id": found[4], "device_id": None, "at": stamp}
        log |= {"detail": "", "ip": environ.get("REMOTE_ADDR")}
        cursor.execute(t._LOG.sqlite, log)
        counts = {"hall_id": hall_id, "day": day, "queue_id": queue_id, "priority": False}
        counts |= {"sort_at": stamp, "id": ticket_id}
        _seq, waiting, not_ahead, open_windows = cursor.execute(
            t._SEQ_OF_ORDINARY.together.sqlite, counts
        ).fetchone()
        ahead = waiting - 1 - not_ahead
        host = f"{environ['wsgi.url_scheme']}://{environ.get('HTTP_HOST')}"
        body = {"id": ticket_id, "token": token, "number": label, "queue": prefix}
        body |= {"queue_name": queue_name, "status": "waiting", "status_text": "等候中"}
        body |= {"priority": False, "service_day": day, "issued_at": now.isoformat()}
        body |= {"waiting_ahead": ahead}
        body["estimated_wait_minutes"] = math.ceil(
            ahead * DEFAULT_SERVICE_MINUTES / (open_windows or 1)
        )
        body |= {"track_url": f"{host}/t/{token}", "slip_url": f"{host}/t/{token}/slip.pdf"}
        return body, None

    def app(environ, start):
        if environ["PATH_INFO"] != "/api/v1/tickets" or environ["REQUEST_METHOD"] != "POST":
            return inner(environ, start)
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
            data = json.loads(environ["wsgi.input"].read(length))
            code, prefix = data["hall"], data["queue"].upper()
        except (ValueError, KeyError, TypeError, AttributeError):
            return inner(environ, start)  # not the common case: the hall answers
        db = connection()
        cursor = db.cursor()
        try:
            with writer:
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    body, refusal = issue(environ, start, cursor, code, prefix)
                    cursor.execute("COMMIT" if refusal is None else "ROLLBACK")
                except BaseException:
                    cursor.execute("ROLLBACK")
                    raise
        finally:
            pool.append(db)
        if refusal is not None:
            return answer(start, *refusal)
        return answer(start, "201 CREATED", body)

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=5002)
    args = parser.parse_args()
    hall_app = create_app()
    hall_app.wsgi_app = floor(hall_app)
    print(" * issue floor (experiment): the issue answered bare", flush=True)
    _serve(hall_app, args.host, args.port)  # as `hall serve` serves


if __name__ == "__main__":
    main()
