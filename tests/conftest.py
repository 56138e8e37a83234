"""Fixtures: the app on a real database (SQLite file, and PostgreSQL when configured),
clients, tokens, a live server in a thread, and the demo hall."""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import shutil
import socket
import tempfile
import threading
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

os.environ.setdefault("HALL_DATA_DIR", tempfile.mkdtemp(prefix="hall-test-data-"))
for _var in ("HALL_DATABASE_URL", "HALL_REDIS_URL", "HALL_SECRET_KEY", "HALL_PUBLIC_URL"):
    os.environ.pop(_var, None)
# `hall serve` subprocesses of the tests issue hundreds of tickets from one token: no rate
# limits there (tests/test_limits.py turns them on per app)
os.environ["HALL_RATE_LIMITS"] = "0"
# nor device pairing: their kiosks and screens are opened by anyone (tests/test_devices.py and
# the role matrix turn it on per app)
os.environ["HALL_REQUIRE_PAIRING"] = "0"

from flask import request_finished  # noqa: E402

# The libraries' own objects never become garbage: frozen, the collector stops walking them
# at every full collection (pypinyin's dictionaries alone are 190,000 objects; a full
# collection took 0.13 s with them, and the suite ran hundreds). Loaded first, here.
from pypinyin import lazy_pinyin  # noqa: E402

lazy_pinyin("办事")
import openpyxl  # noqa: E402, F401
import reportlab.pdfgen.canvas  # noqa: E402, F401

from hall import create_app  # noqa: E402
from hall.extensions import db  # noqa: E402
from tests import pii  # noqa: E402

gc.freeze()
gc.set_threshold(20_000, 20, 20)

# The Socket.IO test clients' disconnect waited 3 s each: websocket-client's close() waits
# that long for the server's close frame, which the engine.io client's own reading thread
# takes first. The close frame is still sent; the wait for the answer is cut short.
import websocket  # noqa: E402

_close_websocket = websocket.WebSocket.close


def _close_without_waiting(self, status=websocket.STATUS_NORMAL, reason=b"", timeout=0.2):
    _close_websocket(self, status, reason, timeout)


websocket.WebSocket.close = _close_without_waiting

# ---- personal numbers (issue 7): every response body and log record of the session is
# scanned for unmasked phone and ID numbers (tests/pii.py); the run fails at its end on a hit
PII = pii.Collector()
request_finished.connect(PII.response)  # sent by every app of this process
_PII_LOGS = pii.LogScanner(PII)


def pytest_sessionstart(session):
    if logging.getLogger("hall").level == logging.NOTSET:
        logging.getLogger("hall").setLevel(logging.INFO)  # INFO lines are scanned too


def pytest_runtest_setup(item):
    PII.test = item.nodeid
    root = logging.getLogger()
    if _PII_LOGS not in root.handlers:  # alembic's fileConfig replaces the root's handlers
        root.addHandler(_PII_LOGS)


def pytest_sessionfinish(session, exitstatus):
    logging.getLogger().removeHandler(_PII_LOGS)
    path = PII.write()
    if PII.leaks or PII.errors:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
        PII.report = path


def pytest_terminal_summary(terminalreporter):
    terminalreporter.write_line(PII.summary())
    if PII.leaks or PII.errors:
        terminalreporter.write_line(
            f"FAILED: unmasked personal numbers or unscannable output, see {PII.report}", red=True
        )
        for line in (PII.leaks + PII.errors)[:20]:
            terminalreporter.write_line("  " + line, red=True)


# ---- end of the personal-number collector

IN_CI = bool(os.environ.get("CI"))
PG_URL = os.environ.get("HALL_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("HALL_TEST_REDIS_URL")


def need(condition: bool, reason: str) -> None:
    """Skip with a visible reason when a service is missing, but fail when CI is set."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}")
    pytest.skip(reason)


def _upgrade(url: str) -> None:
    from flask_migrate import upgrade

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(directory=app.extensions["migrate"].directory)
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite file migrated once to head; each test gets a copy."""
    path = tmp_path_factory.mktemp("template") / "hall.sqlite3"
    _upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_database():
    """A fresh PostgreSQL database for this test run, migrated to head, dropped at the end."""
    need(bool(PG_URL), "PostgreSQL tests need HALL_TEST_DATABASE_URL")
    url = sa.engine.make_url(PG_URL)
    name = f"hall_test_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    test_url = url.set(database=name).render_as_string(hide_password=False)
    try:
        _upgrade(test_url)
        yield test_url
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def _truncate_pg(url: str) -> None:
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        tables = [
            r[0]
            for r in conn.exec_driver_sql(
                "SELECT tablename FROM pg_tables WHERE schemaname='public' "
                "AND tablename <> 'alembic_version'"
            )
        ]
        conn.exec_driver_sql(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    engine.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path, sqlite_template) -> str:
    """The URL of an empty, migrated database: a SQLite file, then PostgreSQL."""
    if request.param == "sqlite":
        path = tmp_path / "hall.sqlite3"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("pg_database")
    _truncate_pg(url)
    return url


@pytest.fixture
def sqlite_url(tmp_path, sqlite_template) -> str:
    """A migrated SQLite file only (for tests that are about SQLite or a browser)."""
    path = tmp_path / "hall.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


def make_app(url: str, **extra):
    """An app for tests on the given database."""
    config = {
        "TESTING": True,
        "SQLALCHEMY_DATABASE_URI": url,
        # a cheap hash keeps fixtures fast; production keeps scrypt
        "HALL_PASSWORD_METHOD": "pbkdf2:sha256:1000",
    }
    config.update(extra)
    return create_app(config)


def dispose(application) -> None:
    """Close the app's session and every pooled connection (files and sockets released)."""
    with application.app_context():
        db.session.remove()
        db.engine.dispose()


def load_demo(application) -> dict[str, str]:
    """Load the demo hall into the app's database; returns the new accounts' passwords."""
    from hall import demo as demo_data

    with application.app_context():
        passwords = demo_data.load(db.session).passwords
        db.session.commit()
    return passwords


@pytest.fixture
def app(database_url):
    """The application on an empty migrated database (SQLite, then PostgreSQL)."""
    application = make_app(database_url)
    yield application
    dispose(application)


@pytest.fixture
def pg_app(pg_database):
    """The application on PostgreSQL only (tests of several processes sharing one database)."""
    _truncate_pg(pg_database)
    application = make_app(pg_database)
    yield application
    dispose(application)


@pytest.fixture
def pg_demo(pg_app):
    """The demo hall loaded on PostgreSQL."""
    load_demo(pg_app)


@pytest.fixture
def demo(app):
    """The demo hall loaded; returns the passwords of its accounts."""
    return load_demo(app)


@pytest.fixture
def client(app):
    """A Flask test client."""
    return app.test_client()


@pytest.fixture
def session(app):
    """A database session inside an app context (the caller commits)."""
    with app.app_context():
        yield db.session
        db.session.rollback()


def _token(app, **kwargs) -> str:
    from hall.auth import create_token
    from hall.models import Hall, User

    with app.app_context():
        if "username" in kwargs:
            user = db.session.scalar(sa.select(User).where(User.username == kwargs.pop("username")))
            kwargs["user"] = user
        if "hall_code" in kwargs:
            kwargs["hall"] = db.session.scalar(
                sa.select(Hall).where(Hall.code == kwargs.pop("hall_code"))
            )
        value = create_token(db.session, **kwargs)
        db.session.commit()
        return value


@pytest.fixture
def staff_token(app, demo) -> str:
    """A bearer token of demo staff member staff1."""
    return _token(app, username="staff1")


@pytest.fixture
def kiosk_token(app, demo) -> str:
    """A bearer token of a kiosk of the demo hall."""
    return _token(app, device_kind="kiosk", hall_code="demo")


def auth(token: str) -> dict:
    """The Authorization header for a bearer token."""
    return {"Authorization": f"Bearer {token}"}


def open_windows(app, *numbers: int, hall: str = "demo", username: str = "staff1") -> None:
    """Sign staff in to windows so they can call."""
    from hall import realtime
    from hall.domain import tickets
    from hall.models import User

    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        for number in numbers:
            tickets.set_window_status(db.session, hall, number, "open", staff_id=user.id)
        realtime.commit_and_publish(db.session)


def free_port() -> int:
    """An unused TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """The app served by a real threaded HTTP + WebSocket server in this process."""

    def __init__(self, application):
        from werkzeug.serving import make_server

        self.app = application
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = make_server("127.0.0.1", self.port, application, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> LiveServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.thread.join(5)


@contextlib.contextmanager
def serving_demo(url: str, **config):
    """The demo hall on a fresh app and a real port; the server knows the staff passwords."""
    application = make_app(url, **config)
    passwords = load_demo(application)
    server = LiveServer(application).start()
    server.passwords = passwords
    try:
        yield server
    finally:
        server.stop()
        dispose(application)


@pytest.fixture
def live_server(app, demo):
    """The demo hall served on a real port (threaded werkzeug, WebSocket included)."""
    server = LiveServer(app).start()
    yield server
    server.stop()


CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    need(Path(CHROMIUM).exists(), f"browser tests need Debian's chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--no-first-run",
                "--autoplay-policy=no-user-gesture-required",
            ],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def browser_context(browser):
    """A fresh browser profile (cookies, storage) for one test, Chinese locale."""
    # wait_for_function evaluates its expression in the page, which the Content-Security-
    # Policy (no 'unsafe-eval') forbids; tests/test_security.py checks the policy itself in a
    # context that keeps it
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", bypass_csp=True)
    context.set_default_timeout(10_000)
    yield context
    context.close()
