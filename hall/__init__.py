"""hall: the counter system of a one-stop government service hall (政务服务中心)."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import sqlite3
import threading
from pathlib import Path

from babel import Locale
from flask import Flask, has_request_context, jsonify, render_template, request
from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from hall import config as settings
from hall import pool, wal
from hall.domain.errors import DomainError
from hall.extensions import babel, csrf, db, login_manager, migrate, socketio

__version__ = "0.1.0"

PACKAGE_DIR = Path(__file__).resolve().parent
LOCALES = ("zh_CN", "en")
_PARSED_LOCALES = {code: Locale.parse(code) for code in LOCALES}
SQLITE_BUSY_SECONDS = 30
log = logging.getLogger(__name__)


def create_app(config: dict | None = None) -> Flask:
    """Build the application: the only wiring point of extensions and blueprints."""
    app = Flask(__name__, instance_path=str(settings.data_dir()))
    app.json.ensure_ascii = False  # Chinese stays readable in JSON
    app.config.update(settings.DEFAULTS)
    app.config.update(settings.from_environment())
    if config:
        app.config.update(config)
    if app.config.get("HALL_REQUIRE_PAIRING") is None:  # the demo and the tests need none
        app.config["HALL_REQUIRE_PAIRING"] = not (
            app.config.get("HALL_DEMO") or app.config.get("TESTING")
        )
    _secret_key(app)
    _sqlite_folder(app)
    engine_options = app.config["SQLALCHEMY_ENGINE_OPTIONS"] = settings.engine_options(app.config)

    db.init_app(app)
    with app.app_context():
        _tune_engine(db.engine)
        if db.engine.dialect.name == "postgresql" and not engine_options.get("pool_pre_ping"):
            pool.ping_when_told(db.engine)  # instead of a ping at every checkout
    migrate.init_app(app, db, directory=str(PACKAGE_DIR / "migrations"))
    from hall import realtime

    # several processes: events go through Redis (hall.realtime.RedisQueue: a listener
    # that resubscribes within seconds, and clients told while their feed is incomplete)
    queue = realtime.client_manager(app.config.get("HALL_REDIS_URL"))
    socketio.init_app(
        app,
        async_mode="threading",
        client_manager=queue,  # always given: Flask-SocketIO keeps the last one otherwise
        cors_allowed_origins=app.config.get("HALL_CORS_ORIGINS", []),
        ping_interval=10,
        ping_timeout=10,
    )
    login_manager.init_app(app)
    login_manager.login_view = "counter.login"
    login_manager.login_message = "请先登录 / Please sign in"
    login_manager.login_message_category = "info"
    babel.init_app(
        app,
        locale_selector=_locale,
        default_translation_directories=str(PACKAGE_DIR / "translations"),
    )
    app.after_request(_remember_locale)
    csrf.init_app(app)
    from hall import privacy, security

    security.init_app(app)  # headers of every response; client address of audit rows
    privacy.init_app(app)  # phone and ID numbers masked in every log line

    from display import blueprint as display_bp
    from display import events as display_events
    from hall import devices, limits
    from hall.api import blueprint as api_bp
    from hall.casedocs import blueprint as casedocs_bp
    from hall.counter import blueprint as counter_bp
    from hall.guide import blueprint as guide_bp
    from hall.health import blueprint as health_bp
    from hall.manage import blueprint as manage_bp
    from kiosk import blueprint as kiosk_bp

    app.register_blueprint(kiosk_bp)
    app.register_blueprint(display_bp)
    app.register_blueprint(counter_bp)
    app.register_blueprint(manage_bp)
    app.register_blueprint(api_bp)
    app.register_blueprint(guide_bp)
    app.register_blueprint(casedocs_bp)
    app.register_blueprint(health_bp)
    app.register_blueprint(devices.blueprint)
    csrf.exempt(health_bp)  # the load balancer's probe carries no token
    csrf.exempt(api_bp)  # the API checks CSRF itself for cookie sessions; tokens need none
    display_events.register(socketio)
    limits.init_app(app)  # after every blueprint: limits go on views by endpoint name

    _error_handlers(app)
    _template_globals(app)
    app.add_url_rule(
        "/favicon.ico",
        "favicon",
        lambda: app.send_static_file("favicon.svg"),
    )
    proxies = int(app.config.get("HALL_PROXY_FIX") or 0)
    if proxies:  # outermost, so Socket.IO requests see the client's address and scheme too
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    return app


def _secret_key(app: Flask) -> None:
    """HALL_SECRET_KEY, else (demo, tests) one kept in the data folder, else a throw-away key.

    `hall serve` and the WSGI entry refuse to run without HALL_SECRET_KEY outside the demo;
    other commands take the demo's key file when there is one (device pairing codes are
    keyed with it), else a throw-away key.
    """
    if app.config.get("SECRET_KEY"):
        return
    folder = Path(app.instance_path)
    key_file = folder / "secret_key"
    if not (app.config.get("HALL_DEMO") or app.config.get("TESTING") or app.debug):
        # a command next to a running demo (hall device pair) signs with the demo's key
        if key_file.is_file():
            app.config["SECRET_KEY"] = key_file.read_text().strip()
        else:
            app.config["SECRET_KEY"] = secrets.token_hex(32)
        return
    folder.mkdir(parents=True, exist_ok=True)
    if not key_file.exists():
        key_file.write_text(secrets.token_hex(32))
        os.chmod(key_file, 0o600)
    app.config["SECRET_KEY"] = key_file.read_text().strip()


def _sqlite_folder(app: Flask) -> None:
    url = app.config["SQLALCHEMY_DATABASE_URI"]
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)


def _tune_engine(engine) -> None:
    """SQLite: WAL, a busy timeout, and transactions that may write begun IMMEDIATE."""
    if engine.dialect.name != "sqlite":
        return

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_SECONDS * 1000}")
        cursor.execute("PRAGMA foreign_keys=ON")
        # checkpoints come from the server's own thread (hall.wal); this is the backstop
        cursor.execute(f"PRAGMA wal_autocheckpoint={wal.AUTOCHECKPOINT_PAGES}")
        cursor.execute(f"PRAGMA journal_size_limit={wal.JOURNAL_SIZE_LIMIT}")
        cursor.close()

    # Writers of this process queue on a lock instead of in SQLite's busy handler, which
    # sleeps up to 100 ms between tries: the lock wakes the next writer as soon as one ends,
    # so waits are short and fair. SQLite's own locking still guards other processes.
    writer = threading.Lock()
    held = "hall_write_lock"

    def _release(info) -> None:
        if info.pop(held, False):
            writer.release()

    @event.listens_for(engine, "begin")
    def _on_begin(connection):
        # Reads of GET requests (pages, boards) begin deferred: under WAL they never wait for
        # nor block a writer. Everything else may write and takes the write lock up front, so
        # a read-then-write transaction can never fail on a lock upgrade.
        # (on the driver's connection: SQLAlchemy's execution machinery would cost more
        # than the statement, once per request; hall.domain.rawsql)
        driver = connection.connection.driver_connection
        if has_request_context() and request.method in ("GET", "HEAD", "OPTIONS"):
            _on_driver(connection, driver, "BEGIN")
            return
        if writer.acquire(timeout=SQLITE_BUSY_SECONDS):
            connection.info[held] = True
        try:
            _on_driver(connection, driver, "BEGIN IMMEDIATE")
        except Exception:
            _release(connection.info)
            raise

    # The lock is let go once the transaction has ended in SQLite, not before: SQLAlchemy
    # tells of a commit before it asks the driver for one, and a writer let in while the
    # COMMIT still runs would find SQLite locked and sleep in its busy handler (1 ms, then
    # 2, 5…). So the COMMIT (ROLLBACK) runs here on the driver; SQLAlchemy's own call then
    # finds no transaction open and does nothing.
    @event.listens_for(engine, "commit")
    def _on_commit(connection):
        _end(connection, "COMMIT")

    @event.listens_for(engine, "rollback")
    def _on_rollback(connection):
        _end(connection, "ROLLBACK")

    def _end(connection, statement: str) -> None:
        try:
            if connection.invalidated:
                return
            driver = connection.connection.driver_connection
            if driver is None or not driver.in_transaction:
                return
            if statement == "COMMIT":
                _on_driver(connection, driver, statement)  # a failure is the commit's
            else:
                # on failure SQLAlchemy's own rollback tries again, and reports
                with contextlib.suppress(sqlite3.Error):
                    driver.execute(statement)
        finally:
            _release(connection.info)

    @event.listens_for(engine, "reset")
    def _on_reset(_dbapi_connection, record, _state):
        _release(record.info)

    @event.listens_for(engine, "close")
    @event.listens_for(engine, "invalidate")
    def _on_close(_dbapi_connection, record, *_args):
        _release(record.info)


def _on_driver(connection, driver, statement: str) -> None:
    """Run BEGIN (COMMIT, ROLLBACK) on the driver, its failure raised as SQLAlchemy's (a
    locked database: 503)."""
    try:
        driver.execute(statement)
    except sqlite3.Error as err:
        raise sa_exc.DBAPIError.instance(
            statement, None, err, sqlite3.Error, dialect=connection.dialect
        ) from err


def _locale() -> Locale:
    """Chinese first; English when asked for with ?lang=en (remembered in a cookie).

    Given as a parsed Locale, made once per language: Flask-Babel takes it as it is, where
    it would parse a name again on every request."""
    wanted = request.args.get("lang") or request.cookies.get("lang")
    return _PARSED_LOCALES[wanted if wanted in LOCALES else "zh_CN"]


def _remember_locale(response):
    """Keep the language chosen with ?lang= for the next pages (cookie, one year)."""
    wanted = request.args.get("lang")
    if wanted in LOCALES and request.cookies.get("lang") != wanted:
        response.set_cookie("lang", wanted, max_age=365 * 86400, samesite="Lax")
    return response


def wants_json() -> bool:
    """True for API paths and clients that ask for JSON."""
    if request.path.startswith("/api/") or request.is_json:
        return True
    best = request.accept_mimetypes.best_match(["application/json", "text/html"])
    return (
        best == "application/json"
        and request.accept_mimetypes[best] > request.accept_mimetypes["text/html"]
    )


def error_body(code: str, zh: str, en: str, **detail) -> dict:
    """The JSON shape of every error: code, message (zh) and message_en."""
    body = {"error": code, "message": zh, "message_en": en}
    if detail:
        body["detail"] = detail
    return body


def _error_handlers(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def _domain_error(err: DomainError):
        db.session.rollback()
        from hall import realtime

        realtime.discard(db.session)
        if wants_json():
            return jsonify(error_body(err.code, err.zh, err.en, **err.detail)), err.status
        return render_template("error.html", status=err.status, zh=err.zh, en=err.en), err.status

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException):
        zh = HTTP_ZH.get(err.code, "请求出错")
        en = err.description or err.name
        if wants_json():
            code = (err.name or "error").lower().replace(" ", "_")
            return jsonify(error_body(code, zh, en)), err.code
        return render_template("error.html", status=err.code, zh=zh, en=en), err.code

    @app.errorhandler(sa_exc.OperationalError)
    @app.errorhandler(sa_exc.InterfaceError)
    @app.errorhandler(sa_exc.DisconnectionError)
    @app.errorhandler(sa_exc.TimeoutError)
    def _database_unavailable(err: Exception):
        """The database is down, refuses connections or timed out: 503, retry shortly."""
        log.error("database unavailable: %s", str(err).splitlines()[0] if str(err) else err)
        from hall import realtime

        realtime.discard(db.session)
        try:
            # drop the connection instead of returning it to the pool: it may be dead
            db.session.invalidate()
        except Exception:  # the connection is gone already; the session is closed anyway
            log.debug("session invalidate failed", exc_info=True)
        zh, en = DATABASE_UNAVAILABLE
        if wants_json():
            response = jsonify(error_body("database_unavailable", zh, en))
        else:
            response = app.make_response(render_template("error.html", status=503, zh=zh, en=en))
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(Exception)
    def _unexpected(err: Exception):
        log.exception("unhandled error")
        db.session.rollback()
        zh, en = "服务器内部错误，请联系管理员", "Internal error; please tell the administrator"
        if wants_json():
            return jsonify(error_body("internal_error", zh, en)), 500
        return render_template("error.html", status=500, zh=zh, en=en), 500


DATABASE_UNAVAILABLE = (
    "数据库暂时无法连接，请稍后重试",
    "The database is unavailable; try again shortly",
)

HTTP_ZH = {
    400: "请求格式不正确",
    401: "请先登录",
    403: "没有权限",
    404: "页面或资源不存在",
    405: "不支持该请求方法",
    413: "请求内容过大",
    415: "请求内容类型不支持",
    429: "请求过于频繁，请稍后再试",
}


def _template_globals(app: Flask) -> None:
    from flask_babel import get_locale

    @app.context_processor
    def _globals():
        return {"current_locale": str(get_locale()), "hall_version": __version__}
