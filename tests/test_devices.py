"""Device pairing (issue 7): the admin makes a one-time code, the kiosk or screen types it and
keeps a revocable key in an HttpOnly cookie; a revoked device is refused on its next request
and its open pages are told at once."""

from __future__ import annotations

import hashlib
import re
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from hall.extensions import db
from tests.conftest import (
    LiveServer,
    _token,
    auth,
    dispose,
    load_demo,
    make_app,
    open_windows,
)

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
CODE = re.compile(r'id="pairing-code-value">(\d{4}) (\d{4})<')
BROWSER = {"Accept": "text/html"}


@pytest.fixture
def hall_app(database_url):
    """The demo hall with pairing required (as outside the demo)."""
    application = make_app(database_url, HALL_REQUIRE_PAIRING=True)
    application.passwords = load_demo(application)
    yield application
    dispose(application)


def sign_in(app, username: str):
    client = app.test_client()
    page = client.get("/counter/login").get_data(as_text=True)
    response = client.post(
        "/counter/login",
        data={
            "csrf_token": CSRF_FIELD.search(page).group(1),
            "username": username,
            "password": app.passwords[username],
        },
    )
    assert response.status_code == 302, response.get_data(as_text=True)[:300]
    return client


def make_code(admin, kind: str = "kiosk", name: str = "入口取号机 1", hall: str = "demo") -> str:
    page = admin.get(f"/manage/{hall}/devices").get_data(as_text=True)
    response = admin.post(
        f"/manage/{hall}/devices/pair",
        data={"csrf_token": CSRF_FIELD.search(page).group(1), "kind": kind, "name": name},
    )
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.headers["Cache-Control"] == "no-store"
    first, second = CODE.search(response.get_data(as_text=True)).groups()
    return first + second


def pair(app, code: str, client=None, **extra):
    client = client or app.test_client()
    page = client.get("/pair").get_data(as_text=True)
    response = client.post(
        "/pair", data={"csrf_token": CSRF_FIELD.search(page).group(1), "code": code, **extra}
    )
    return client, response


def take(client, hall: str = "demo", queue: str = "A"):
    page = client.get(f"/kiosk/{hall}")
    assert page.status_code == 200, page.status_code
    token = CSRF_META.search(page.get_data(as_text=True)).group(1)
    return client.post(
        f"/kiosk/{hall}/tickets",
        json={"queue": queue},
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )


def device_socket(url: str, key: str | None = None, **handlers):
    """A real python-socketio client, carrying the device cookie when `key` is given;
    `handlers` (event name with "_" for ".") are attached before it connects."""
    import socketio

    client = socketio.Client(reconnection=False)
    for name, handler in handlers.items():
        client.on(name.replace("_", "."), handler)
    headers = {"Cookie": f"hall_device={key}"} if key else {}
    client.connect(url, transports=["websocket"], headers=headers, wait_timeout=10)
    return client


def ticket_count(app) -> int:
    from hall.models import Ticket

    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Ticket))


def device_rows(app):
    from hall.models import ApiToken

    with app.app_context():
        return db.session.scalars(
            sa.select(ApiToken).where(ApiToken.device_kind.is_not(None)).order_by(ApiToken.id)
        ).all()


# ---------------------------------------------------------------- pairing


def test_a_paired_kiosk_keeps_an_httponly_key_and_issues_in_its_own_name(hall_app):
    admin = sign_in(hall_app, "admin")
    code = make_code(admin)
    device, response = pair(hall_app, code)
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/kiosk/demo")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("hall_device=hall_")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # plain HTTP here; HALL_SECURE_COOKIES adds it
    key = device_rows(hall_app)[-1]
    assert (key.device_kind, key.name, key.revoked) == ("kiosk", "入口取号机 1", False)

    issued = take(device)
    assert issued.status_code == 201, issued.get_json()
    from hall.models import AuditEvent, DevicePairing, TicketEvent

    with hall_app.app_context():
        event = db.session.scalar(sa.select(TicketEvent).where(TicketEvent.action == "issued"))
        assert event.device_id == key.id and event.ip == "127.0.0.1"
        pairing = db.session.scalar(sa.select(DevicePairing))
        assert pairing.used_at is not None and pairing.token_id == key.id
        assert pairing.ip == "127.0.0.1"
        actions = db.session.execute(
            sa.select(AuditEvent.action, AuditEvent.user_id, AuditEvent.ip).order_by(AuditEvent.id)
        ).all()
    kinds = [a for a, *_ in actions]
    assert "device.code" in kinds and "device.pair" in kinds
    code_row = next(row for row in actions if row[0] == "device.code")
    assert code_row[1] is not None and code_row[2] == "127.0.0.1"  # who and from where


def test_the_code_is_shown_once_and_only_its_hash_is_kept(hall_app):
    admin = sign_in(hall_app, "admin")
    code = make_code(admin)
    page = admin.get("/manage/demo/devices").get_data(as_text=True)
    assert code[:4] + " " + code[4:] not in page  # the list shows no code again
    assert "入口取号机 1" in page  # but the pending code, by name
    from hall.models import DevicePairing

    with hall_app.app_context():
        stored = db.session.scalar(sa.select(DevicePairing.code_hash))
    assert code not in stored and len(stored) == 64
    # not a plain hash of the digits: without the secret key nobody can try all 10^8
    plain = {hashlib.sha256(text.encode()).hexdigest() for text in (code, "pair:" + code)}
    assert stored not in plain


def test_the_pairing_page_speaks_english_once_when_asked(hall_app):
    page = hall_app.test_client().get("/pair?lang=en").get_data(as_text=True)
    assert "<h1>Pair this device</h1>" in page and "设备配对" not in page
    assert page.count("Manage → Devices") == 1 and 'class="pair-en"' not in page


def test_a_code_works_once(hall_app):
    code = make_code(sign_in(hall_app, "admin"))
    _, first = pair(hall_app, code)
    assert first.status_code == 303
    _, again = pair(hall_app, code)
    assert again.status_code == 400
    body = again.get_data(as_text=True)
    assert "配对码无效、已使用或已过期" in body and "wrong, used or expired" in body
    assert "Set-Cookie" not in again.headers or "hall_device" not in again.headers["Set-Cookie"]
    assert len(device_rows(hall_app)) == 1


@pytest.mark.parametrize(
    "typed", ["", "1234", "123456789", "abcdefgh", "1234 567x", "<script>alert(1)</script>"]
)
def test_malformed_codes_are_refused_with_a_clear_page(hall_app, typed):
    _, response = pair(hall_app, typed)
    assert response.status_code == 400
    assert "配对码是 8 位数字" in response.get_data(as_text=True)
    assert "<script>alert" not in response.get_data(as_text=True)
    assert device_rows(hall_app) == []


def test_spaces_dashes_and_full_width_digits_are_accepted(hall_app):
    code = make_code(sign_in(hall_app, "admin"))
    typed = "".join(chr(ord(c) + 0xFEE0) for c in code[:4]) + " - " + code[4:]
    _, response = pair(hall_app, typed)
    assert response.status_code == 303


def test_expired_and_cancelled_codes_are_refused(hall_app):
    from hall import devices
    from hall.models import DevicePairing, Hall, utcnow

    admin = sign_in(hall_app, "admin")
    old = make_code(admin, name="过期")
    with hall_app.app_context():
        row = db.session.scalar(sa.select(DevicePairing).where(DevicePairing.name == "过期"))
        row.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
    assert pair(hall_app, old)[1].status_code == 400

    cancelled = make_code(admin, name="作废")
    with hall_app.app_context():
        pairing = db.session.scalar(sa.select(DevicePairing).where(DevicePairing.name == "作废"))
        hall = db.session.scalar(sa.select(Hall).where(Hall.code == "demo"))
        pairing_id = pairing.id
        assert devices.listing(db.session, hall)["pending"][0].id == pairing_id
    page = admin.get("/manage/demo/devices").get_data(as_text=True)
    response = admin.post(
        f"/manage/demo/devices/codes/{pairing_id}/cancel",
        data={"csrf_token": CSRF_FIELD.search(page).group(1)},
    )
    assert response.status_code == 303
    assert pair(hall_app, cancelled)[1].status_code == 400
    assert device_rows(hall_app) == []


def test_one_code_typed_on_many_devices_at_once_pairs_one(hall_app):
    """Sixteen threads race with the same code: exactly one key comes out of it."""
    code = make_code(sign_in(hall_app, "admin"))
    clients = [hall_app.test_client() for _ in range(16)]
    tokens = [CSRF_FIELD.search(c.get("/pair").get_data(as_text=True)).group(1) for c in clients]
    start = threading.Barrier(len(clients))
    results: list[int] = []

    def run(client, token):
        start.wait()
        response = client.post("/pair", data={"csrf_token": token, "code": code})
        results.append(response.status_code)

    threads = [
        threading.Thread(target=run, args=pair_) for pair_ in zip(clients, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [303] + [400] * 15, results
    assert len(device_rows(hall_app)) == 1


def test_a_display_is_offered_the_hall_and_window_screens(hall_app):
    code = make_code(sign_in(hall_app, "admin"), kind="display", name="大厅主屏")
    screen, response = pair(hall_app, code)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'href="/display/demo"' in body and 'href="/display/demo/window/3"' in body
    assert "hall_device=" in response.headers["Set-Cookie"]
    page = screen.get("/display/demo", headers=BROWSER)
    assert page.status_code == 200
    assert "hall_device=" in page.headers["Set-Cookie"]  # renewed on every page
    assert screen.get("/display/demo/window/3", headers=BROWSER).status_code == 200


def test_next_brings_a_kiosk_back_to_its_page_but_never_off_site(hall_app):
    admin = sign_in(hall_app, "admin")
    anonymous = hall_app.test_client()
    went = anonymous.get("/kiosk/demo/guide/matters/GA-003", headers=BROWSER)
    assert went.status_code == 302
    assert went.headers["Location"].startswith("/pair?next=")
    _, back = pair(hall_app, make_code(admin), next="/kiosk/demo/guide/matters/GA-003")
    assert back.headers["Location"] == "/kiosk/demo/guide/matters/GA-003"
    _, away = pair(hall_app, make_code(admin), next="//evil.example/kiosk/demo")
    assert away.headers["Location"] == "/kiosk/demo"


# ---------------------------------------------------------------- who may use what


def test_without_a_device_the_kiosk_and_screens_ask_for_pairing(hall_app):
    anonymous = hall_app.test_client()
    for url in ("/kiosk/demo", "/display/demo", "/display/demo/window/2"):
        response = anonymous.get(url, headers=BROWSER)
        assert response.status_code == 302, url
        assert response.headers["Location"] == f"/pair?next={url}"
    csrf = CSRF_FIELD.search(anonymous.get("/pair").get_data(as_text=True)).group(1)
    refused = anonymous.post(
        "/kiosk/demo/tickets", json={"queue": "A"}, headers={"X-CSRFToken": csrf}
    )
    assert refused.status_code == 401
    assert refused.get_json()["error"] == "device_required"
    assert ticket_count(hall_app) == 0
    # the phone pages and the guide stay public
    assert anonymous.get("/guide").status_code == 200
    assert anonymous.get("/kiosk/demo/guide/search.json?q=hk").status_code == 200


def test_signed_in_staff_of_the_hall_may_use_the_kiosk_and_watch_screens(hall_app):
    staff = sign_in(hall_app, "staff1")
    assert take(staff).status_code == 201
    assert staff.get("/display/demo", headers=BROWSER).status_code == 200


def test_a_device_is_bound_to_its_kind_and_hall(hall_app):
    from hall.models import Hall, Window

    with hall_app.app_context():
        east = Hall(code="east", name="东区", timezone="Asia/Shanghai")
        db.session.add(east)
        db.session.flush()
        db.session.add(Window(hall_id=east.id, number=1, name="综合", status="closed"))
        db.session.commit()
    admin = sign_in(hall_app, "admin")
    kiosk, _ = pair(hall_app, make_code(admin))
    screen, _ = pair(hall_app, make_code(admin, kind="display"))
    assert kiosk.get("/display/demo", headers=BROWSER).status_code == 403
    assert "本机登记为取号机" in kiosk.get("/display/demo").get_data(as_text=True)
    assert screen.get("/kiosk/demo", headers=BROWSER).status_code == 403
    assert kiosk.get("/kiosk/east", headers=BROWSER).status_code == 403
    assert kiosk.get("/display/east", headers=BROWSER).status_code == 403


def test_only_admins_pair_and_revoke(hall_app):
    code = make_code(sign_in(hall_app, "admin"))
    _, response = pair(hall_app, code)
    key = device_rows(hall_app)[-1]
    for username in ("manager", "staff1"):
        client = sign_in(hall_app, username)
        assert client.get("/manage/demo/devices").status_code == 403
        csrf = CSRF_FIELD.search(client.get("/pair").get_data(as_text=True)).group(1)
        for url in ("/manage/demo/devices/pair", f"/manage/demo/devices/{key.id}/revoke"):
            got = client.post(url, data={"csrf_token": csrf, "kind": "kiosk"})
            assert got.status_code == 403, (username, url)
    assert device_rows(hall_app)[-1].revoked is False


def test_bad_names_and_kinds_are_refused_on_the_admin_page(hall_app):
    admin = sign_in(hall_app, "admin")
    csrf = CSRF_FIELD.search(admin.get("/manage/demo/devices").get_data(as_text=True)).group(1)
    for form, message in (
        ({"kind": "printer", "name": "x"}, "设备类型只能是取号机或显示屏"),
        ({"kind": "kiosk", "name": "x" * 101}, "设备名称最多 100 个字"),
        ({"kind": "kiosk", "name": "a\x00b"}, "控制字符"),
    ):
        response = admin.post("/manage/demo/devices/pair", data={"csrf_token": csrf, **form})
        assert response.status_code == 400
        assert message in response.get_data(as_text=True)
    assert (
        admin.post("/manage/demo/devices/999999/revoke", data={"csrf_token": csrf}).status_code
        == 404
    )
    marked = admin.post(
        "/manage/demo/devices/pair",
        data={"csrf_token": csrf, "kind": "kiosk", "name": "<b>大厅</b>"},
    ).get_data(as_text=True)
    assert "<b>大厅</b>" not in marked and "&lt;b&gt;大厅&lt;/b&gt;" in marked


# ---------------------------------------------------------------- revoking


def test_a_revoked_kiosk_is_refused_on_its_next_request(hall_app):
    admin = sign_in(hall_app, "admin")
    kiosk, _ = pair(hall_app, make_code(admin))
    assert take(kiosk).status_code == 201
    page = kiosk.get("/kiosk/demo")
    csrf = CSRF_META.search(page.get_data(as_text=True)).group(1)
    key = device_rows(hall_app)[-1]

    manage = admin.get("/manage/demo/devices").get_data(as_text=True)
    revoked = admin.post(
        f"/manage/demo/devices/{key.id}/revoke",
        data={"csrf_token": CSRF_FIELD.search(manage).group(1)},
    )
    assert revoked.status_code == 303
    before = ticket_count(hall_app)
    # the page it still shows: the very next tap is refused, and nothing is issued
    refused = kiosk.post(
        "/kiosk/demo/tickets",
        json={"queue": "A"},
        headers={"X-CSRFToken": csrf, "Accept": "application/json"},
    )
    assert refused.status_code == 403
    assert refused.get_json()["error"] == "device_revoked"
    assert ticket_count(hall_app) == before
    stopped = kiosk.get("/kiosk/demo", headers=BROWSER)
    assert stopped.status_code == 403
    text = stopped.get_data(as_text=True)
    assert "本机已被管理员停用" in text and 'action="/pair"' in text
    listed = admin.get("/manage/demo/devices").get_data(as_text=True)
    assert f'data-device="{key.id}" data-revoked="yes"' in listed
    from hall.models import AuditEvent

    with hall_app.app_context():
        row = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "device.revoke"))
        assert row.user_id is not None and f"device={key.id}" in row.detail


def test_a_revoked_key_is_refused_as_a_bearer_token_too(hall_app):
    admin = sign_in(hall_app, "admin")
    kiosk, response = pair(hall_app, make_code(admin))
    value = response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    api = hall_app.test_client()
    body = {"hall": "demo", "queue": "A"}
    assert api.post("/api/v1/tickets", json=body, headers=auth(value)).status_code == 201
    key = device_rows(hall_app)[-1]
    csrf = CSRF_FIELD.search(admin.get("/manage/demo/devices").get_data(as_text=True)).group(1)
    admin.post(f"/manage/demo/devices/{key.id}/revoke", data={"csrf_token": csrf})
    refused = api.post("/api/v1/tickets", json=body, headers=auth(value))
    assert refused.status_code == 401 and refused.get_json()["error"] == "bad_token"


def test_revocation_holds_in_the_demo_too(app, demo):
    """Without required pairing anyone may use the kiosk, but a stopped kiosk may not go on
    as an anonymous one."""
    assert app.config["HALL_REQUIRE_PAIRING"] is False
    value = _token(app, device_kind="kiosk", hall_code="demo")
    client = app.test_client()
    client.set_cookie("hall_device", value)
    assert take(client).status_code == 201
    from hall.models import ApiToken

    with app.app_context():
        db.session.execute(sa.update(ApiToken).values(revoked=True))
        db.session.commit()
    assert client.get("/kiosk/demo", headers=BROWSER).status_code == 403
    stranger = app.test_client()
    stranger.set_cookie("hall_device", "hall_not-a-key")
    assert stranger.get("/kiosk/demo", headers=BROWSER).status_code == 401
    assert app.test_client().get("/kiosk/demo").status_code == 200


def test_open_pages_of_a_revoked_device_are_told_at_once(hall_app):
    """A Socket.IO client carrying the device cookie gets device.revoked the moment the
    admin revokes; one connecting with a revoked key is told on connecting."""
    admin = sign_in(hall_app, "admin")
    _, response = pair(hall_app, make_code(admin))
    value = response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    server = LiveServer(hall_app).start()
    told: list[tuple[str, float]] = []
    clients = []
    try:
        clients.append(
            device_socket(
                server.url,
                value,
                device_revoked=lambda data: told.append(("device", time.perf_counter())),
            )
        )
        clients.append(
            device_socket(
                server.url,
                device_revoked=lambda data: told.append(("other", time.perf_counter())),
            )
        )
        assert clients[0].call("join", {"hall": "demo"}, timeout=10)["ok"] is True
        key = device_rows(hall_app)[-1]
        csrf = CSRF_FIELD.search(admin.get("/manage/demo/devices").get_data(as_text=True))
        sent = time.perf_counter()
        admin.post(f"/manage/demo/devices/{key.id}/revoke", data={"csrf_token": csrf.group(1)})
        deadline = time.monotonic() + 5
        while not told and time.monotonic() < deadline:
            time.sleep(0.01)
        assert [who for who, _ in told] == ["device"]
        assert told[0][1] - sent < 1.0

        late_told: list[dict] = []
        clients.append(device_socket(server.url, value, device_revoked=late_told.append))
        deadline = time.monotonic() + 5
        while not late_told and time.monotonic() < deadline:
            time.sleep(0.01)
        assert late_told == [{"error": "device_revoked"}]
    finally:
        for client in clients:
            if client.connected:
                client.disconnect()
        server.stop()


def _wait_for(told: list, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not told and time.monotonic() < deadline:
        time.sleep(0.01)


def test_keys_revoked_by_another_process_reach_the_open_pages(hall_app):
    """Without Redis, `hall device revoke` (another process) cannot emit to this server's
    clients: the serving process's RevocationWatch finds the key and tells its pages, once."""
    import os
    import subprocess
    import sys

    from hall import devices

    admin = sign_in(hall_app, "admin")
    values = []
    for name in ("一楼屏", "二楼屏"):
        _, response = pair(hall_app, make_code(admin, kind="display", name=name))
        values.append(response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1])
    first, second = device_rows(hall_app)[-2:]
    server = LiveServer(hall_app).start()
    hall_app.config["HALL_REVOCATION_CHECK_SECONDS"] = 0.2
    told = {"first": [], "second": [], "other": []}
    clients = []
    watch = None
    try:
        for who, value in (("first", values[0]), ("second", values[1]), ("other", None)):
            client = device_socket(server.url, value, device_revoked=told[who].append)
            assert client.call("join", {"hall": "demo"}, timeout=10)["ok"] is True
            clients.append(client)
        # revoked by another process, which told nobody: the next look finds it
        watch = devices.RevocationWatch(hall_app)
        with hall_app.app_context():
            key = db.session.get(type(first), first.id)
            assert devices.revoke(db.session, key, by=None)
            db.session.commit()
        assert watch.run_once() == [first.id]
        _wait_for(told["first"], 5)
        assert told["first"] == [{"device": first.id}]
        assert watch.run_once() == []  # told once
        time.sleep(0.3)
        assert told == {"first": [{"device": first.id}], "second": [], "other": []}

        # the command line, in a process of its own, while the watch runs every 0.2 s
        assert devices.start_revocation_watch(hall_app) is devices.start_revocation_watch(hall_app)
        watch = hall_app.extensions[devices.WATCH_KEY]
        env = dict(os.environ, HALL_DATABASE_URL=hall_app.config["SQLALCHEMY_DATABASE_URI"])
        env.pop("HALL_REDIS_URL", None)
        done = subprocess.run(
            [sys.executable, "-m", "hall.cli", "device", "revoke", "--hall", "demo"]
            + [str(second.id)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        revoked = time.monotonic()
        _wait_for(told["second"], 5)
        assert told["second"] == [{"device": second.id}]
        assert time.monotonic() - revoked < 2
        assert told["other"] == []  # (the first key again: a new watch looks back too)
    finally:
        if watch is not None:
            watch.stop()
        for client in clients:
            if client.connected:
                client.disconnect()
        server.stop()


def test_no_revocation_watch_when_its_interval_is_zero(hall_app):
    from hall import devices

    hall_app.config["HALL_REVOCATION_CHECK_SECONDS"] = 0
    assert devices.start_revocation_watch(hall_app) is None
    assert devices.WATCH_KEY not in hall_app.extensions


def test_failing_looks_for_revoked_keys_are_logged_once_and_tried_again(hall_app, caplog):
    from hall import devices

    hall_app.config["HALL_REVOCATION_CHECK_SECONDS"] = 0.05
    watch = devices.RevocationWatch(hall_app)
    looks = []

    def look():
        looks.append(time.monotonic())
        if len(looks) <= 3:  # the database down for three looks
            raise sa.exc.OperationalError("SELECT", {}, Exception("database is locked"))
        return []

    watch.run_once = look
    thread = threading.Thread(target=watch.loop)
    thread.start()
    try:
        deadline = time.monotonic() + 5
        while len(looks) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        watch.stop(0)
        thread.join(5)
    assert len(looks) >= 5
    assert caplog.text.count("looking for revoked device keys failed") == 1  # not each time
    assert "looking for revoked device keys works again" in caplog.text


def test_a_revoked_kiosk_in_a_browser_shows_why_at_once(hall_app, browser):
    """Chromium on a paired kiosk page: the admin revokes, and without a touch the kiosk
    turns into the "device stopped" page with the code entry."""
    open_windows(hall_app, 1)
    server = LiveServer(hall_app).start()
    context = browser.new_context(locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        admin = sign_in(hall_app, "admin")
        code = make_code(admin)
        page = context.new_page()
        page.goto(f"{server.url}/kiosk/demo")
        assert "/pair" in page.url
        for digit in code:
            page.click(f'#pair-keys button[data-key="{digit}"]')
        assert page.input_value("#pair-code") == f"{code[:4]} {code[4:]}"
        page.click("#pair-submit")
        page.wait_for_url(f"{server.url}/kiosk/demo")
        cookies = {c["name"]: c for c in context.cookies()}
        assert cookies["hall_device"]["httpOnly"] is True
        assert page.evaluate("document.cookie").find("hall_device") == -1
        page.locator('#k-live[data-state="live"]').wait_for()
        key = device_rows(hall_app)[-1]
        csrf = CSRF_FIELD.search(admin.get("/manage/demo/devices").get_data(as_text=True))
        admin.post(f"/manage/demo/devices/{key.id}/revoke", data={"csrf_token": csrf.group(1)})
        page.locator("#pair-error").wait_for(timeout=5000)
        assert "本机已被管理员停用" in page.inner_text("#pair-error")
    finally:
        context.close()
        server.stop()


def test_wrong_codes_are_rate_limited_per_address(database_url):
    application = make_app(
        database_url,
        HALL_REQUIRE_PAIRING=True,
        RATELIMIT_ENABLED=True,
        HALL_RATE_LIMITS=True,
        HALL_LIMIT_PAIR="3/minute",
    )
    application.passwords = load_demo(application)
    try:
        client = application.test_client()
        statuses = [pair(application, "00000000", client=client)[1].status_code for _ in range(5)]
        assert statuses == [400, 400, 400, 429, 429]
        # another address is not held up, and a right code still needs no wrong one first
        code = make_code(sign_in(application, "admin"))
        fresh = application.test_client()
        fresh.environ_base["REMOTE_ADDR"] = "10.1.2.3"
        assert pair(application, code, client=fresh)[1].status_code == 303
    finally:
        dispose(application)


def test_the_command_line_pairs_lists_and_revokes(hall_app, monkeypatch, tmp_path):
    from click.testing import CliRunner

    from hall.cli import main

    monkeypatch.setenv("HALL_DATABASE_URL", hall_app.config["SQLALCHEMY_DATABASE_URI"])

    def hall(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    made = hall("device", "pair", "--kind", "display", "--hall", "demo", "--name", "二楼屏")
    assert made.exit_code == 0, made.output
    code = made.stdout.strip()
    assert re.fullmatch(r"\d{8}", code)
    screen, response = pair(hall_app, code)
    assert response.status_code == 200
    listed = hall("device", "list", "--hall", "demo")
    key_id, kind, state, name = listed.stdout.strip().splitlines()[0].split("\t")
    assert (kind, state, name) == ("display", "active", "二楼屏")
    assert hall("device", "revoke", "--hall", "demo", key_id).exit_code == 0
    assert screen.get("/display/demo", headers=BROWSER).status_code == 403
    assert "revoked" in hall("device", "list", "--hall", "demo").stdout
    wrong = hall("device", "revoke", "--hall", "demo", "999999")
    assert wrong.exit_code == 2 and "No device 999999" in wrong.stderr
    bad = hall("device", "pair", "--kind", "kiosk", "--hall", "nowhere")
    assert bad.exit_code == 2
    # no HALL_SECRET_KEY and no key file of a demo: a code nobody could use is not made
    monkeypatch.setenv("HALL_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("HALL_DEMO", raising=False)  # not a demo
    keyless = hall("device", "pair", "--kind", "kiosk", "--hall", "demo")
    assert keyless.exit_code == 1 and "HALL_SECRET_KEY" in keyless.output
    from hall.models import AuditEvent

    with hall_app.app_context():
        details = db.session.scalars(
            sa.select(AuditEvent.detail).where(
                AuditEvent.action.in_(("device.code", "device.revoke"))
            )
        ).all()
    assert len(details) == 2 and all("via=cli:" in d for d in details)


def test_a_paired_screen_watches_its_own_hall_only(hall_app):
    from hall.models import Hall

    with hall_app.app_context():
        db.session.add(Hall(code="east", name="东区", timezone="Asia/Shanghai"))
        db.session.commit()
    _, response = pair(hall_app, make_code(sign_in(hall_app, "admin"), kind="display"))
    value = response.headers["Set-Cookie"].split(";")[0].split("=", 1)[1]
    server = LiveServer(hall_app).start()
    try:
        client = device_socket(server.url, value)
        assert client.call("join", {"hall": "demo"}, timeout=10)["ok"] is True
        refused = client.call("join", {"hall": "east"}, timeout=10)
        assert refused["ok"] is False and refused["error"] == "other_hall"
        client.disconnect()
    finally:
        server.stop()
