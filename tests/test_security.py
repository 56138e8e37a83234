"""Security of sessions and pages: headers (CSP without inline script), cookie flags, sign-in
lockout with back-off, the sign-in audit trail with the client address, the password policy."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from hall import auth, realtime
from hall.auth import add_user, password_problem, set_password
from hall.domain import tickets
from hall.domain.errors import Invalid
from hall.extensions import db
from hall.models import AuditEvent, User
from tests.conftest import ARTIFACTS, dispose, load_demo, make_app, serving_demo

ROOT = Path(__file__).resolve().parent.parent
CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
LOCKED_ZH = "账号已锁定"
WRONG_ZH = "用户名或密码不正确"
SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
T0 = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)


def form_token(client, url: str = "/counter/login") -> str:
    return CSRF_FIELD.search(client.get(url).get_data(as_text=True)).group(1)


def sign_in(client, username: str, password: str, **kw):
    data = {"csrf_token": form_token(client), "username": username, "password": password}
    return client.post("/counter/login", data=data, **kw)


def policy(response) -> dict[str, str]:
    """The CSP header as {directive: sources}."""
    header = response.headers["Content-Security-Policy"]
    parts = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return {p[0]: (p[1] if len(p) > 1 else "") for p in parts}


class Clock:
    """The clock of hall.auth, moved by hand (no sleeping)."""

    def __init__(self, monkeypatch, start: datetime = T0):
        self.now = start
        monkeypatch.setattr(auth, "utcnow", lambda: self.now)

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return Clock(monkeypatch)


def audit_rows(app, *actions: str) -> list[AuditEvent]:
    with app.app_context():
        query = sa.select(AuditEvent).order_by(AuditEvent.id)
        if actions:
            query = query.where(AuditEvent.action.in_(actions))
        rows = list(db.session.scalars(query))
        db.session.expunge_all()
        return rows


# ---------------------------------------------------------------- headers


@SQLITE
def test_every_kind_of_response_carries_the_security_headers(app, client, demo):
    with app.app_context():
        ticket = tickets.issue(db.session, "demo", queue_prefix="A")
        token = ticket.token
        realtime.commit_and_publish(db.session)
    responses = {
        "page": client.get("/counter/login"),
        "json": client.get("/api/v1/halls"),
        "pdf": client.get(f"/t/{token}/slip.pdf"),
        "static": client.get("/static/css/hall.css"),
        "error": client.get("/no/such/page"),
    }
    assert responses["json"].is_json and responses["pdf"].mimetype == "application/pdf"
    assert responses["pdf"].data.startswith(b"%PDF")
    for kind, response in responses.items():
        headers = response.headers
        assert headers["X-Content-Type-Options"] == "nosniff", kind
        assert headers["Referrer-Policy"] == "same-origin", kind
        assert "camera=()" in headers["Permissions-Policy"], kind
        assert "geolocation=()" in headers["Permissions-Policy"], kind
        assert "microphone=()" in headers["Permissions-Policy"], kind
        assert "Content-Security-Policy" in headers, kind
        assert "Strict-Transport-Security" not in headers, kind  # plain HTTP
    for kind in ("page", "json", "static", "error"):
        assert responses[kind].headers["X-Frame-Options"] == "DENY", kind
        assert policy(responses[kind])["frame-ancestors"] == "'none'", kind
    # the kiosk shows its slip in a frame of its own page: PDFs may be framed by this site only
    assert responses["pdf"].headers["X-Frame-Options"] == "SAMEORIGIN"
    assert policy(responses["pdf"]) == {"frame-ancestors": "'self'"}
    # JSON is data: it may load nothing
    assert policy(responses["json"]) == {"default-src": "'none'", "frame-ancestors": "'none'"}


@SQLITE
def test_the_policy_allows_no_inline_script_style_or_eval(client):
    csp = policy(client.get("/counter/login"))
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"
    assert csp["style-src"] == "'self'"
    assert csp["img-src"] == "'self' data:"
    assert csp["font-src"] == "'self'"
    assert csp["object-src"] == "'none'"
    assert csp["base-uri"] == "'self'" and csp["form-action"] == "'self'"
    assert csp["connect-src"] == "'self' ws://localhost"  # Socket.IO on this host
    for directive, sources in csp.items():
        assert "unsafe" not in sources and "*" not in sources, directive


@SQLITE
def test_https_requests_get_hsts_and_a_wss_connect_source(client):
    secure = client.get("/counter/login", base_url="https://hall.example.gov.cn")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
    assert policy(secure)["connect-src"] == "'self' wss://hall.example.gov.cn"
    # a forged Host header is never copied into the policy
    odd = client.get("/counter/login", headers={"Host": "evil.example;script-src *"})
    assert "evil" not in odd.headers["Content-Security-Policy"]


INLINE_SCRIPT = re.compile(r"<script\b(?![^>]*\bsrc=)([^>]*)>(.*?)</script>", re.S | re.I)
HANDLER = re.compile(r"<[^>]*\son[a-z]+\s*=", re.I)
STYLE_ATTR = re.compile(r"<[^>]*\sstyle\s*=", re.I)


def templates() -> list[Path]:
    found = []
    for package in ("hall", "kiosk", "display"):
        found += [p for p in (ROOT / package).rglob("*.html") if "vendor" not in p.parts]
    assert len(found) > 20
    return found


def test_templates_have_no_inline_script_handlers_styles_or_javascript_urls():
    problems = []
    for path in templates():
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT)
        for match in INLINE_SCRIPT.finditer(text):
            attrs, body = match.groups()
            # data blocks are never run: the only inline <script> allowed
            if body.strip() and 'type="application/json"' not in attrs:
                problems.append(f"{name}: inline script")
        if HANDLER.search(text):
            problems.append(f"{name}: on…= handler")
        if "javascript:" in text.lower():
            problems.append(f"{name}: javascript: URL")
        if STYLE_ATTR.search(text) or re.search(r"<style\b", text, re.I):
            problems.append(f"{name}: inline style (style-src has no 'unsafe-inline')")
    assert problems == []


# ---------------------------------------------------------------- cookies


@SQLITE
def test_session_cookie_is_httponly_and_samesite_lax(app, client, demo):
    response = sign_in(client, "staff1", demo["staff1"])
    assert response.status_code == 302
    cookie = next(v for v in response.headers.getlist("Set-Cookie") if v.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Secure" not in cookie
    assert app.config["REMEMBER_COOKIE_HTTPONLY"] is True
    assert app.config["REMEMBER_COOKIE_SAMESITE"] == "Lax"


def test_cookies_are_secure_with_hall_secure_cookies(sqlite_url, monkeypatch):
    monkeypatch.setenv("HALL_SECURE_COOKIES", "1")
    application = make_app(sqlite_url)
    try:
        passwords = load_demo(application)
        assert application.config["REMEMBER_COOKIE_SECURE"] is True
        client = application.test_client()
        base = "https://localhost"
        token = CSRF_FIELD.search(
            client.get("/counter/login", base_url=base).get_data(as_text=True)
        ).group(1)
        response = client.post(
            "/counter/login",
            data={"csrf_token": token, "username": "staff1", "password": passwords["staff1"]},
            base_url=base,
            # Flask-WTF checks the Referer over HTTPS (Referrer-Policy same-origin keeps it)
            headers={"Referer": f"{base}/counter/login"},
        )
        assert response.status_code == 302
        cookie = next(v for v in response.headers.getlist("Set-Cookie") if "session=" in v)
        assert "Secure" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    finally:
        dispose(application)


# ---------------------------------------------------------------- lockout


@SQLITE
def test_five_wrong_passwords_lock_the_account_for_a_minute(app, client, demo, clock):
    for attempt in range(4):
        response = sign_in(client, "staff1", "wrong-password")
        assert response.status_code == 401, attempt
        assert WRONG_ZH in response.get_data(as_text=True)
    locking = sign_in(client, "staff1", "wrong-password")
    assert locking.status_code == 429
    assert "账号已锁定，请 1 分钟后再试" in locking.get_data(as_text=True)
    assert "Account locked; try again in 1 minute" in locking.get_data(as_text=True)
    assert locking.headers["Retry-After"] == "60"

    # the right password is refused while locked, to the last second
    clock.advance(30)
    refused = sign_in(client, "staff1", demo["staff1"])
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "30"
    assert LOCKED_ZH in refused.get_data(as_text=True)
    clock.advance(29.5)
    assert sign_in(client, "staff1", demo["staff1"]).status_code == 429
    clock.advance(1)
    assert sign_in(client, "staff1", demo["staff1"]).status_code == 302  # open again
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == "staff1"))
        assert (user.failed_logins, user.locked_until) == (0, None)  # reset by success


@SQLITE
def test_each_wrong_password_after_a_lock_doubles_it_up_to_an_hour(app, client, demo, clock):
    for _ in range(5):
        sign_in(client, "staff2", "wrong-password")
    expected = [120, 240, 480, 960, 1920, 3600, 3600]
    for seconds in expected:
        clock.advance(3600)  # past any lock
        response = sign_in(client, "staff2", "wrong-password")
        assert response.status_code == 429
        assert response.headers["Retry-After"] == str(seconds)
        minutes = -(-seconds // 60)
        assert f"请 {minutes} 分钟后再试" in response.get_data(as_text=True)
    # still locked just before the end of the last lock, open just after
    clock.advance(3599)
    assert sign_in(client, "staff2", demo["staff2"]).status_code == 429
    clock.advance(2)
    assert sign_in(client, "staff2", demo["staff2"]).status_code == 302


def test_the_lock_numbers_are_settings(sqlite_url, monkeypatch, clock):
    monkeypatch.setenv("HALL_LOGIN_MAX_FAILURES", "2")
    monkeypatch.setenv("HALL_LOGIN_LOCK_SECONDS", "300")
    application = make_app(sqlite_url)
    try:
        passwords = load_demo(application)
        client = application.test_client()
        assert sign_in(client, "staff1", "nope-nope").status_code == 401
        locked = sign_in(client, "staff1", "nope-nope")
        assert locked.status_code == 429 and locked.headers["Retry-After"] == "300"
        assert "请 5 分钟后再试" in locked.get_data(as_text=True)
        clock.advance(301)
        assert sign_in(client, "staff1", passwords["staff1"]).status_code == 302
    finally:
        dispose(application)


@SQLITE
def test_fewer_failures_than_the_limit_are_forgotten_by_a_success(app, client, demo, clock):
    for _ in range(4):
        sign_in(client, "staff1", "wrong-password")
    assert sign_in(client, "staff1", demo["staff1"]).status_code == 302
    client.post("/counter/logout", data={"csrf_token": form_token(client, "/counter/")})
    for _ in range(4):
        assert sign_in(client, "staff1", "wrong-password").status_code == 401


def _answers(client, username: str) -> list[tuple[int, str]]:
    out = []
    for _ in range(6):
        response = sign_in(client, username, "wrong-password")
        html = response.get_data(as_text=True)
        text = re.search(r'<div class="ct-error"[^>]*>(.*?)</div>', html, re.S).group(1)
        out.append((response.status_code, response.headers.get("Retry-After"), text.strip()))
    return out


@SQLITE
def test_unknown_usernames_are_answered_exactly_like_accounts(app, demo, clock):
    known = _answers(app.test_client(), "staff1")
    unknown = _answers(app.test_client(), "nobody-here")
    assert [(s, r) for s, r, _t in known] == [(401, None)] * 4 + [(429, "60")] * 2
    assert unknown == known
    # a disabled account too
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == "staff3"))
        user.active = False
        db.session.commit()
    assert _answers(app.test_client(), "staff3") == known


@SQLITE
def test_set_password_lifts_a_lock(app, client, demo, clock):
    for _ in range(5):
        sign_in(client, "staff1", "wrong-password")
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == "staff1"))
        assert user.failed_logins == 5 and user.locked_until is not None
        set_password(user, "a-new-password-7")
        db.session.commit()
    assert sign_in(client, "staff1", "a-new-password-7").status_code == 302


# ---------------------------------------------------------------- audit


def test_sign_in_out_failures_and_locks_are_audited_with_the_address(app, demo, clock):
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    sign_in(client, "staff1", demo["staff1"])
    client.post("/counter/logout", data={"csrf_token": form_token(client, "/counter/")})
    for _ in range(6):
        sign_in(client, "staff1", "secret-guess-1")
    sign_in(client, "ghost", "secret-guess-2")
    rows = audit_rows(app, "auth.login", "auth.logout", "auth.login_failed", "auth.locked")
    with app.app_context():
        staff1 = db.session.scalar(sa.select(User).where(User.username == "staff1"))
        staff1_id, hall_id = staff1.id, staff1.hall_id
    assert [r.action for r in rows] == (
        ["auth.login", "auth.logout"]
        + ["auth.login_failed"] * 4
        + ["auth.locked", "auth.login_failed", "auth.login_failed"]
    )
    assert all(r.ip == "203.0.113.7" for r in rows)
    assert all(r.user_id == staff1_id and r.hall_id == hall_id for r in rows[:-1])
    assert rows[-1].user_id is None and "username=ghost" in rows[-1].detail
    assert "failures=5 seconds=60" in rows[6].detail
    assert "locked" in rows[7].detail
    for row in rows:
        assert "secret-guess" not in row.detail and demo["staff1"] not in row.detail
        assert row.at is not None


def test_the_address_comes_through_the_proxy_when_configured(sqlite_url):
    application = make_app(sqlite_url, HALL_PROXY_FIX=1)
    try:
        passwords = load_demo(application)
        client = application.test_client()
        headers = {"X-Forwarded-For": "198.51.100.20"}
        token = CSRF_FIELD.search(
            client.get("/counter/login", headers=headers).get_data(as_text=True)
        ).group(1)
        data = {"csrf_token": token, "username": "staff1", "password": passwords["staff1"]}
        assert client.post("/counter/login", data=data, headers=headers).status_code == 302
        (row,) = audit_rows(application, "auth.login")
        assert row.ip == "198.51.100.20"
    finally:
        dispose(application)


@SQLITE
def test_every_audit_row_written_in_a_request_gets_the_address(app):
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "2001:db8::1"}):
        db.session.add(AuditEvent(action="hall.notice", detail="x"))
        db.session.commit()
    with app.app_context():  # outside a request (a command, the sweeper): no address
        db.session.add(AuditEvent(action="hall.notice", detail="y"))
        db.session.commit()
    assert [r.ip for r in audit_rows(app)] == ["2001:db8::1", None]


# ---------------------------------------------------------------- password policy


@pytest.mark.parametrize(
    ("password", "username", "fragment"),
    [
        ("short7!", "", "至少 8 位"),
        ("12345678", "", "全是数字"),
        ("20261201357", "", "全是数字"),
        ("aaaaaaaaaa", "", "同一个字符"),
        ("zhangsan01", "zhangsan01", "用户名"),
        ("ZhangSan01", "zhangsan01", "用户名"),
        ("password", "", "常见"),
        ("Password123", "", "常见"),
        ("qwerty123", "", "常见"),
        ("admin123", "", "常见"),
        ("1qaz2wsx", "", "常见"),
    ],
)
def test_weak_passwords_are_refused_in_both_languages(password, username, fragment):
    problem = password_problem(password, username)
    assert problem is not None and fragment in problem[0]
    assert problem[1] and problem[1].isascii()


@pytest.mark.parametrize("password", ["s3cret-pass", "窗口工作人员2026", "tH9_xq-2mLpA"])
def test_reasonable_passwords_pass(password):
    assert password_problem(password, "staff1") is None


@SQLITE
def test_set_password_and_the_cli_apply_the_policy(app, demo, monkeypatch):
    with app.app_context():
        for username, password in (("clerk9", "12345678"), ("clerk-nine", "clerk-nine")):
            with pytest.raises(Invalid) as refused:
                add_user(db.session, username, password, role="staff")
            assert refused.value.code == "weak_password"
            db.session.rollback()
    from hall.cli import main

    monkeypatch.setenv("HALL_DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])
    monkeypatch.setenv("HALL_PASSWORD_METHOD", "pbkdf2:sha256:1000")
    runner = CliRunner()
    weak = runner.invoke(main, ["user", "add", "clerk", "--hall", "demo"], input="12345678\n")
    assert weak.exit_code == 2 and "数字" in weak.output, weak.output
    common = runner.invoke(main, ["user", "password", "staff1"], input="admin123\n")
    assert common.exit_code == 2 and "常见" in common.output, common.output
    fine = runner.invoke(main, ["user", "add", "clerk", "--hall", "demo"], input="s3cret-pass\n")
    assert fine.exit_code == 0, fine.output


# ---------------------------------------------------------------- the migration


def test_migration_0007_goes_down_and_up_again(sqlite_url):
    from flask_migrate import downgrade, upgrade

    application = make_app(sqlite_url)
    try:
        load_demo(application)  # rows in users and a table that references it
        with application.app_context():
            directory = application.extensions["migrate"].directory
            downgrade(directory=directory, revision="0006")
            columns = {c["name"] for c in sa.inspect(db.engine).get_columns("users")}
            assert "failed_logins" not in columns and "locked_until" not in columns
            upgrade(directory=directory)
            columns = {c["name"] for c in sa.inspect(db.engine).get_columns("users")}
            assert {"failed_logins", "locked_until"} <= columns
            assert db.session.scalar(sa.select(sa.func.min(User.failed_logins))) == 0
    finally:
        dispose(application)


# ---------------------------------------------------------------- in a browser


def wait_until(page, expression: str, timeout: float = 15) -> None:
    """Poll an expression with page.evaluate (DevTools, not subject to the page's CSP).

    Playwright's wait_for_function evals its predicate inside the page, which a policy
    without 'unsafe-eval' forbids: this test's context keeps the policy on.
    """
    deadline = time.monotonic() + timeout
    while not page.evaluate(f"() => Boolean({expression})"):
        assert time.monotonic() < deadline, f"timed out waiting for {expression}"
        page.wait_for_timeout(100)


@pytest.mark.browser
def test_browser_pages_with_socketio_and_charts_run_under_the_policy(sqlite_url, browser):
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai", bypass_csp=False)
    context.set_default_timeout(10_000)
    try:
        with serving_demo(sqlite_url) as server:
            _pages_under_the_policy(context.new_page(), server)
    finally:
        context.close()


def _pages_under_the_policy(page, server) -> None:
    violations: list[str] = []
    errors: list[str] = []
    sockets: list[str] = []

    def console(message) -> None:
        text = message.text
        if "Content Security Policy" in text or "Refused to" in text or "X-Frame" in text:
            violations.append(text)

    page.on("console", console)
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.on("websocket", lambda ws: sockets.append(ws.url))
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{server.url}/counter/login?next=/manage/demo/dashboard")
    page.fill("#username", "manager")
    page.fill("#password", server.passwords["manager"])
    page.click("button[type=submit]")
    page.wait_for_url("**/manage/demo/dashboard*")
    # Socket.IO: the dashboard goes live over a WebSocket to this host
    wait_until(page, "document.getElementById('dashboard').dataset.status === 'live'")
    assert any(url.startswith(server.url.replace("http", "ws")) for url in sockets), sockets
    # Chart.js: the reports page draws its three charts (no eval needed)
    page.goto(f"{server.url}/manage/demo/reports")
    wait_until(page, "window.hallReportCharts && window.hallReportCharts.length === 3")
    # the hall screen: Socket.IO, its data in <script type="application/json"> blocks
    sockets.clear()
    page.goto(f"{server.url}/display/demo")
    wait_until(
        page, "document.body.dataset.status === 'live' && window.hallScreen.live.state.seq >= 0"
    )
    assert sockets, "the hall screen connects over a WebSocket"
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "security-csp-display.png"))
    assert violations == [] and errors == [], (violations, errors)

    # the kiosk: Socket.IO, the QR code (inline SVG), the slip PDF in a frame of the page
    page.set_viewport_size({"width": 1080, "height": 1920})
    page.goto(f"{server.url}/kiosk/demo")
    page.wait_for_selector("#k-live[data-state=live]")
    page.click("#k-green")
    page.click("[data-go=dept-gaj]")
    page.click("[data-matter=GA-002]")
    page.wait_for_selector("[data-screen=result]:not([hidden])")
    assert page.locator("#r-qr svg").count() == 1
    page.click("#r-print")
    # The PDF loads in the frame, Chromium's viewer inside it; a refused frame shows
    # chrome-error and logs a violation. Headless Chromium here may crash a while later while
    # the viewer renders (without any of these headers too): look, then stop.
    deadline = time.monotonic() + 10
    while not any(frame.url.startswith("chrome-extension://") for frame in page.frames):
        assert not any(f.url.startswith("chrome-error:") for f in page.frames), violations
        assert time.monotonic() < deadline, [frame.url for frame in page.frames]
        page.wait_for_timeout(50)
    assert any(frame.url.endswith("/slip.pdf") for frame in page.frames)
    assert violations == [] and errors == [], (violations, errors)
