"""SQLite's write-ahead log: checkpoints from the server's own thread, never inside a
request's COMMIT, and writers of one process that never meet SQLite's lock."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time

import pytest
import sqlalchemy as sa

from hall import wal
from hall.extensions import db
from tests.conftest import dispose, make_app


@pytest.fixture
def sqlite_app(sqlite_url):
    application = make_app(sqlite_url)
    with application.app_context():
        db.session.execute(sa.text("CREATE TABLE written (id INTEGER PRIMARY KEY, at TEXT)"))
        db.session.commit()
    yield application
    application.extensions.pop(wal.CHECKPOINTER_KEY, None)
    dispose(application)


def _path(application) -> str:
    return wal.database_path(application.config["SQLALCHEMY_DATABASE_URI"])


def _write(application, times: int) -> None:
    """`times` committed transactions, each taking the hall's write lock."""
    with application.app_context():
        for _ in range(times):
            db.session.execute(sa.text("UPDATE halls SET seq = seq + 1"))
            db.session.execute(sa.text("INSERT INTO written (at) VALUES (:at)"), {"at": "x" * 500})
            db.session.commit()
        db.session.remove()


def test_connections_leave_checkpoints_to_the_server(sqlite_app):
    with sqlite_app.app_context():
        pragma = db.session.connection().exec_driver_sql
        assert pragma("PRAGMA journal_mode").scalar() == "wal"
        assert pragma("PRAGMA wal_autocheckpoint").scalar() == wal.AUTOCHECKPOINT_PAGES
        assert pragma("PRAGMA journal_size_limit").scalar() == wal.JOURNAL_SIZE_LIMIT
        db.session.rollback()


def test_a_checkpoint_copies_the_log_back_without_blocking(sqlite_app):
    _write(sqlite_app, 30)
    checkpointer = wal.Checkpointer(_path(sqlite_app))
    with sqlite3.connect(_path(sqlite_app), isolation_level=None) as reader:
        # a reader holding an older snapshot keeps its frames: the checkpoint neither waits
        # for it nor fails, it copies what it can
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM halls").fetchone()
        _write(sqlite_app, 5)
        with sqlite3.connect(_path(sqlite_app), isolation_level=None) as own:
            started = time.monotonic()
            busy, logged, copied = checkpointer.run_once(own)
            assert time.monotonic() - started < 1
            assert logged > 0 and 0 <= copied < logged
            reader.execute("COMMIT")
            busy, logged, copied = checkpointer.run_once(own)
            assert (busy, copied) == (0, logged)
    assert checkpointer.runs == 2 and checkpointer.copied >= logged


def test_the_server_thread_checkpoints_every_so_often(sqlite_app):
    checkpointer = wal.start_checkpointer(sqlite_app)
    assert wal.start_checkpointer(sqlite_app) is checkpointer  # once per app
    checkpointer.stop()
    # a quicker one for the test
    checkpointer = wal.Checkpointer(_path(sqlite_app), seconds=0.05).start()
    try:
        _write(sqlite_app, 20)
        deadline = time.monotonic() + 10
        while checkpointer.copied == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert checkpointer.copied > 0
    finally:
        checkpointer.stop()
    assert not checkpointer.thread.is_alive()


def test_the_checkpoints_are_only_for_sqlite_files():
    assert wal.database_path("postgresql+psycopg://postgres@127.0.0.1/test") is None
    assert wal.database_path("sqlite://") is None
    assert wal.database_path("sqlite:///:memory:") is None
    assert wal.database_path("sqlite:////srv/hall/hall.sqlite3") == "/srv/hall/hall.sqlite3"
    application = make_app("sqlite://")
    assert wal.start_checkpointer(application) is None
    dispose(application)


def test_a_failing_checkpoint_is_logged_and_tried_again(tmp_path, caplog):
    checkpointer = wal.Checkpointer(str(tmp_path / "missing" / "hall.sqlite3"), seconds=0.02)
    with caplog.at_level(logging.ERROR, logger="hall.wal"):
        checkpointer.start()
        deadline = time.monotonic() + 10
        while len(caplog.records) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        checkpointer.stop()
    assert len(caplog.records) >= 2  # the loop went on after the first failure
    assert "WAL checkpoint" in caplog.records[0].getMessage()
    assert checkpointer.runs == 0 and not checkpointer.thread.is_alive()


def test_writers_of_one_process_never_meet_sqlites_lock(sqlite_app):
    """The process's writer lock is let go only once the COMMIT has ended in SQLite: with
    SQLite's busy timeout at zero, a writer let in while the previous COMMIT still ran
    would fail at once with "database is locked"."""
    with sqlite_app.app_context():
        engine = db.engine

        @sa.event.listens_for(engine, "connect")
        def _no_waiting(dbapi_connection, _record):
            dbapi_connection.execute("PRAGMA busy_timeout=0")

        engine.dispose()
    errors: list[BaseException] = []

    def writer() -> None:
        try:
            _write(sqlite_app, 60)
        except BaseException as err:  # noqa: BLE001 - reported below
            errors.append(err)

    threads = [threading.Thread(target=writer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    with sqlite_app.app_context():
        assert db.session.scalar(sa.text("SELECT count(*) FROM written")) == 480
        db.session.remove()
