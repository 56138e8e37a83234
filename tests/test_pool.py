"""PostgreSQL's pool: a healthy connection is handed out without a ping; one the server
closed is pinged, found dead and replaced before a request uses it."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from hall import pool
from hall.extensions import db
from tests.conftest import _token, _truncate_pg, auth, dispose, load_demo, make_app


@pytest.fixture
def pg_app(pg_database):
    _truncate_pg(pg_database)
    application = make_app(pg_database, SQLALCHEMY_ENGINE_OPTIONS={"pool_size": 1})
    load_demo(application)
    yield application
    dispose(application)


@pytest.fixture
def pings(pg_app, monkeypatch):
    """The pings sent at checkout, counted (each still really sent)."""
    sent = []
    with pg_app.app_context():
        dialect = db.engine.dialect
    real = dialect.do_ping

    def counted(dbapi_connection):
        sent.append(dbapi_connection)
        return real(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", counted)
    return sent


def _backend_pid(application) -> int:
    with application.app_context():
        pid = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
        db.session.remove()
        return pid


def _terminate(url: str, pid: int) -> None:
    admin = sa.create_engine(url, poolclass=sa.pool.NullPool)
    with admin.connect() as conn:
        assert conn.scalar(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    admin.dispose()


def _wait_for_news(application, seconds: float = 5.0) -> None:
    """Until the pooled connection's socket shows the server's goodbye."""
    with application.app_context():
        record = db.engine.pool._pool.queue[0]  # the one idle connection (pool_size 1)
        deadline = time.monotonic() + seconds
        while not pool.has_news(record.dbapi_connection):
            assert time.monotonic() < deadline, "the closed connection never became readable"
            time.sleep(0.01)


def test_healthy_connections_are_not_pinged(pg_app, pings):
    client = pg_app.test_client()
    for _ in range(10):
        assert client.get("/api/v1/halls").status_code == 200
    assert pings == []
    with pg_app.app_context():
        assert pool.has_news(db.engine.pool._pool.queue[0].dbapi_connection) is False


def test_a_connection_the_server_closed_is_replaced_before_use(pg_app, pg_database, pings):
    first = _backend_pid(pg_app)
    _terminate(pg_database, first)  # what a restart of PostgreSQL does to every connection
    _wait_for_news(pg_app)
    token = _token(pg_app, username="staff1")  # the first checkout after the cut
    assert len(pings) == 1  # the dead one was pinged, failed, and was replaced
    response = pg_app.test_client().post(
        "/api/v1/tickets", json={"hall": "demo", "queue": "A"}, headers=auth(token)
    )
    assert response.status_code == 201, response.text
    assert _backend_pid(pg_app) != first
    assert len(pings) == 1  # the new connection is healthy: no more pings
