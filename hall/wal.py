"""SQLite's WAL checkpoints, taken off the requests' path.

In WAL mode every commit appends its pages to the write-ahead log, and SQLite copies them
back into the database file (a checkpoint, with two fsyncs) once the log has grown by
``wal_autocheckpoint`` pages, by default 1,000. That checkpoint runs inside the COMMIT of
whichever request crossed the mark: about one commit in eighty took 11–21 ms longer, and
the 99th percentile of a single client's ticket issue halved once they left (bench/README.md).

A server process therefore checkpoints from a background thread of its own, every second,
with ``PRAGMA wal_checkpoint(PASSIVE)``: it copies what no reader still needs and never
waits for, nor blocks, a reader or a writer. A page written many times within the second
is copied once. Connections keep SQLite's automatic checkpoint as a backstop, at
``AUTOCHECKPOINT_PAGES`` (about 40 MB of log), for the processes without the thread (the
command line) and in case the thread falls behind.
"""

from __future__ import annotations

import logging
import sqlite3
import threading

import sqlalchemy as sa

AUTOCHECKPOINT_PAGES = 10_000
# the log file is cut back to this size when it is restarted (it would keep its largest size)
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
CHECKPOINT_SECONDS = 1.0
CHECKPOINTER_KEY = "hall_wal_checkpointer"

_log = logging.getLogger("hall.wal")


def database_path(url: str | sa.engine.URL) -> str | None:
    """The file of an SQLite URL (None for PostgreSQL or an in-memory database)."""
    url = sa.engine.make_url(url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return url.database


class Checkpointer:
    """Checkpoints one SQLite file every `seconds` on a connection of its own."""

    def __init__(self, path: str, seconds: float = CHECKPOINT_SECONDS):
        self.path = path
        self.seconds = seconds
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None
        self.runs = 0
        self.copied = 0  # pages copied back into the database file, in all

    def run_once(self, connection: sqlite3.Connection) -> tuple[int, int, int]:
        """One passive checkpoint: (1 if it could not finish, pages in the log, copied)."""
        busy, logged, copied = connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        self.runs += 1
        self.copied += max(copied, 0)
        return busy, logged, copied

    def loop(self) -> None:
        """Until stopped; an error is logged and the next second tries again."""
        connection = None
        while not self.stopping.wait(self.seconds):
            try:
                if connection is None:
                    connection = sqlite3.connect(self.path, isolation_level=None)
                self.run_once(connection)
            except sqlite3.Error:
                _log.exception("WAL checkpoint of %s failed; trying again", self.path)
                if connection is not None:
                    connection.close()
                connection = None
        if connection is not None:
            connection.close()

    def start(self) -> Checkpointer:
        self.thread = threading.Thread(target=self.loop, name="hall-wal-checkpoint", daemon=True)
        self.thread.start()
        return self

    def stop(self, timeout: float = 10.0) -> None:
        """Ask the loop to end and wait for it (tests; a server just exits)."""
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout)


def start_checkpointer(app) -> Checkpointer | None:
    """Start the checkpoints of this server process once, when it serves an SQLite file
    (None otherwise: PostgreSQL checkpoints by itself)."""
    path = database_path(app.config["SQLALCHEMY_DATABASE_URI"])
    if path is None:
        return None
    running = app.extensions.get(CHECKPOINTER_KEY)
    if running is None:
        running = app.extensions[CHECKPOINTER_KEY] = Checkpointer(path).start()
    return running
