"""GET /healthz for load balancers, the 503 of an unreachable database, engine options and the
reverse-proxy settings (HALL_PROXY_FIX, HALL_SECURE_COOKIES)."""

from __future__ import annotations

import time

import pytest
from flask import request, url_for

from hall import __version__, config
from hall.extensions import db
from hall.health import check_redis, reason
from tests.conftest import REDIS_URL, dispose, free_port, make_app, need

DB_DOWN = {
    "error": "database_unavailable",
    "message": "数据库暂时无法连接，请稍后重试",
    "message_en": "The database is unavailable; try again shortly",
}


@pytest.fixture
def make(sqlite_url):
    """make(**config) → an app on a migrated SQLite file; every app made is disposed."""
    made = []

    def _make(**extra):
        extra.setdefault("SQLALCHEMY_DATABASE_URI", sqlite_url)
        application = make_app(extra.pop("SQLALCHEMY_DATABASE_URI"), **extra)
        made.append(application)
        return application

    yield _make
    for application in made:
        dispose(application)


def dead_postgres(password: str = "s3cret-pw") -> str:
    """A PostgreSQL URL (with a password) of a port nobody listens on."""
    return f"postgresql+psycopg://hall:{password}@127.0.0.1:{free_port()}/hall"


def test_healthz_is_ok_on_sqlite_without_redis(make):
    client = make().test_client()
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "database": "ok",
        "redis": "not configured",
        "version": __version__,
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in response.headers
    assert client.head("/healthz").status_code == 200


def test_healthz_checks_redis_when_configured(make):
    need(bool(REDIS_URL), "Redis tests need HALL_TEST_REDIS_URL")
    response = make(HALL_REDIS_URL=REDIS_URL).test_client().get("/healthz")
    assert response.status_code == 200
    assert response.json["redis"] == "ok" and response.json["database"] == "ok"


def test_healthz_names_a_dead_redis_quickly_without_its_password(make):
    # the Socket.IO Redis manager connects lazily: the app is made without waiting for Redis
    started = time.monotonic()
    app = make(HALL_REDIS_URL=f"redis://:r3dis-pw@127.0.0.1:{free_port()}/0")
    response = app.test_client().get("/healthz")
    assert time.monotonic() - started < 5
    assert response.status_code == 503
    body = response.json
    assert body["status"] == "unavailable"
    assert body["redis"] == "unavailable" and body["database"] == "ok"
    assert body["reasons"]["redis"].startswith("ConnectionError")
    assert "database" not in body["reasons"]
    assert "r3dis-pw" not in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


def test_the_redis_check_gives_up_within_its_timeout():
    started = time.monotonic()
    assert check_redis(f"redis://127.0.0.1:{free_port()}/0", timeout=1.0)
    # a black-holed address (TEST-NET-1) never answers: the connect timeout ends the wait
    assert check_redis("redis://192.0.2.1:6379/0", timeout=0.3)
    assert time.monotonic() - started < 3


def test_healthz_names_an_unreachable_database(make):
    app = make(SQLALCHEMY_DATABASE_URI=dead_postgres())
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    body = response.json
    assert body["database"] == "unavailable" and body["redis"] == "not configured"
    assert body["reasons"]["database"].startswith("OperationalError")
    assert "s3cret-pw" not in response.get_data(as_text=True)


def test_an_unreachable_database_answers_503_json_to_the_api(make):
    client = make(SQLALCHEMY_DATABASE_URI=dead_postgres()).test_client()
    for response in (
        client.post(
            "/api/v1/tickets",
            json={"hall": "demo", "queue": "A"},
            headers={"Authorization": "Bearer nothing"},
        ),
        client.get("/api/v1/halls"),
    ):
        assert response.status_code == 503
        assert response.json == DB_DOWN
        assert response.headers["Retry-After"] == "5"
        assert "s3cret-pw" not in response.get_data(as_text=True)


def test_an_unreachable_database_answers_a_bilingual_503_page(make):
    client = make(SQLALCHEMY_DATABASE_URI=dead_postgres()).test_client()
    response = client.get("/", headers={"Accept": "text/html"})
    assert response.status_code == 503
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert DB_DOWN["message"] in page and DB_DOWN["message_en"] in page
    assert response.headers["Retry-After"] == "5"


def test_server_databases_get_pre_ping_a_pool_and_a_connect_timeout():
    pg = "postgresql+psycopg://hall@db/hall"

    def options(url=pg, mine=None, **settings):
        return config.engine_options(
            {"SQLALCHEMY_DATABASE_URI": url, "SQLALCHEMY_ENGINE_OPTIONS": mine, **settings}
        )

    assert options() == {
        "pool_pre_ping": False,  # pinged when the socket has news instead (hall.pool)
        "pool_size": 5,
        "max_overflow": 10,
        "connect_args": {"connect_timeout": 5},
    }
    mine = {"pool_size": 20, "connect_args": {"application_name": "hall"}}
    made = options(
        mine=mine,
        HALL_DATABASE_CONNECT_TIMEOUT=2,
        HALL_DATABASE_POOL_SIZE=3,
        HALL_DATABASE_MAX_OVERFLOW=0,
    )
    assert made["connect_args"] == {"application_name": "hall", "connect_timeout": 2}
    assert made["pool_size"] == 20 and made["max_overflow"] == 0
    assert mine == {"pool_size": 20, "connect_args": {"application_name": "hall"}}
    assert "connect_args" not in options(pg + "?connect_timeout=9")
    assert options(mine={"pool_pre_ping": True})["pool_pre_ping"] is True  # asked for: kept
    assert options(HALL_DATABASE_PRE_PING=True)["pool_pre_ping"] is True
    # SQLite: a connection kept per request thread, no ping, no overflow to size
    assert options("sqlite:///x.sqlite3") == {
        "pool_size": config.SQLITE_POOL_SIZE,
        "pool_use_lifo": True,
    }
    assert options("sqlite://") == {} == options("sqlite:///:memory:")


def test_pool_settings_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("HALL_DATABASE_POOL_SIZE", "8")
    monkeypatch.setenv("HALL_DATABASE_MAX_OVERFLOW", "4")
    monkeypatch.setenv("HALL_DATABASE_CONNECT_TIMEOUT", "3")
    monkeypatch.setenv("HALL_DATABASE_PRE_PING", "1")
    settings = config.from_environment()
    assert settings["HALL_DATABASE_PRE_PING"] is True
    assert settings["HALL_DATABASE_POOL_SIZE"] == 8
    assert settings["HALL_DATABASE_MAX_OVERFLOW"] == 4
    assert settings["HALL_DATABASE_CONNECT_TIMEOUT"] == 3


def test_the_app_engine_uses_the_options(make):
    app = make(SQLALCHEMY_DATABASE_URI=dead_postgres())
    with app.app_context():
        assert db.engine.pool._pre_ping is False
        assert len(db.engine.pool.dispatch.checkout) == 1  # hall.pool.ping_when_told
        assert db.engine.pool.size() == 5


def test_reasons_mask_passwords():
    err = RuntimeError("could not reach postgresql://hall:hunter2@db/hall password=hunter2 x")
    text = reason(err)
    assert "hunter2" not in text
    assert text.startswith("RuntimeError: could not reach postgresql://hall:***@db/hall")


def _probe(app):
    @app.get("/_probe")
    def probe():
        return {
            "addr": request.remote_addr,
            "scheme": request.scheme,
            "url": url_for("health.healthz", _external=True),
        }


FORWARDED = {"X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https"}


def test_forwarded_headers_are_ignored_by_default(make):
    app = make()
    _probe(app)
    seen = app.test_client().get("/_probe", headers=FORWARDED).json
    assert seen["addr"] == "127.0.0.1" and seen["scheme"] == "http"


def test_hall_proxy_fix_trusts_one_proxy(make, monkeypatch):
    monkeypatch.setenv("HALL_PROXY_FIX", "1")
    app = make()
    _probe(app)
    client = app.test_client()
    seen = client.get("/_probe", headers=FORWARDED).json
    assert seen == {"addr": "203.0.113.7", "scheme": "https", "url": "https://localhost/healthz"}
    # a client-forged address before the proxy's own entry is not trusted
    seen = client.get("/_probe", headers={"X-Forwarded-For": "10.9.9.9, 203.0.113.7"}).json
    assert seen["addr"] == "203.0.113.7"


def test_hall_secure_cookies(monkeypatch):
    assert config.from_environment()["SESSION_COOKIE_SECURE"] is False
    monkeypatch.setenv("HALL_SECURE_COOKIES", "1")
    settings = config.from_environment()
    assert settings["SESSION_COOKIE_SECURE"] is True
    assert settings["REMEMBER_COOKIE_SECURE"] is True
