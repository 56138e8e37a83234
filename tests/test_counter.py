"""The counter (窗口工作台): sign-in, choosing a window, the working page and its API calls."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from hall import realtime
from hall.auth import add_user
from hall.counter.views import safe_next
from hall.domain import tickets
from hall.extensions import db, socketio
from hall.models import AuditEvent, Hall, Queue, Ticket, User, Window, WindowQueue
from tests.conftest import open_windows

CSRF_FIELD = re.compile(r'name="csrf_token" value="([^"]+)"')
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
STATE = re.compile(r'<script type="application/json" id="counter-state">(.*?)</script>', re.S)


def form_token(client, url: str = "/counter/login") -> str:
    """The CSRF token of the form on a page."""
    return CSRF_FIELD.search(client.get(url).get_data(as_text=True)).group(1)


def sign_in(client, username: str, password: str, **extra):
    """Post the login form with its CSRF token."""
    data = {"csrf_token": form_token(client), "username": username, "password": password}
    data.update(extra)
    return client.post("/counter/login", data=data)


@pytest.fixture
def staff1(client, demo):
    """A client signed in as staff1 (hall demo)."""
    response = sign_in(client, "staff1", demo["staff1"])
    assert response.status_code == 302
    return client


def user_id(app, username: str) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(User.id).where(User.username == username))


def window_row(app, number: int, hall: str = "demo") -> tuple[str, int | None]:
    with app.app_context():
        row = db.session.execute(
            sa.select(Window.status, Window.staff_id)
            .join(Hall, Hall.id == Window.hall_id)
            .where(Hall.code == hall, Window.number == number)
        ).one()
        return row.status, row.staff_id


def issue(app, *prefixes: str, **kw) -> list[int]:
    with app.app_context():
        ids = [tickets.issue(db.session, "demo", queue_prefix=p, **kw).id for p in prefixes]
        realtime.commit_and_publish(db.session)
        return ids


def ticket_status(app, ticket_id: int) -> str:
    with app.app_context():
        return db.session.get(Ticket, ticket_id).status


def second_hall(app) -> None:
    """A township hall with one window, to test hall boundaries."""
    with app.app_context():
        hall = Hall(
            code="north", name="北街道便民服务中心", timezone="Asia/Shanghai", notice="", seq=0
        )
        db.session.add(hall)
        db.session.flush()
        queue = Queue(hall_id=hall.id, prefix="A", name="综合受理")
        db.session.add(queue)
        db.session.flush()
        window = Window(hall_id=hall.id, number=1, name="综合受理", status="closed")
        window.queue_links = [WindowQueue(queue_id=queue.id, position=0)]
        db.session.add(window)
        db.session.commit()


# ---------------------------------------------------------------- sign in


def test_login_page_is_a_form_with_a_csrf_token(client, demo):
    page = client.get("/counter/login")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert 'name="username"' in html and 'type="password"' in html
    assert CSRF_FIELD.search(html)


def test_staff_signs_in_and_lands_on_the_window_list(client, demo):
    response = sign_in(client, "staff1", demo["staff1"])
    assert response.status_code == 302 and response.headers["Location"] == "/counter/"
    page = client.get("/counter/")
    assert page.status_code == 200 and "李晓梅" in page.get_data(as_text=True)


def test_sign_in_goes_back_to_the_page_that_asked_for_it(client, demo):
    asked = client.get("/counter/demo/3")
    assert asked.status_code == 302
    assert asked.headers["Location"] == "/counter/login?next=%2Fcounter%2Fdemo%2F3"
    response = sign_in(client, "staff1", demo["staff1"], next="/counter/demo/3")
    assert response.headers["Location"] == "/counter/demo/3"


@pytest.mark.parametrize(
    "target",
    ["https://evil.example/", "//evil.example/x", "/\\evil.example", "javascript:alert(1)"],
)
def test_next_never_leaves_the_site(client, demo, target):
    response = sign_in(client, "staff1", demo["staff1"], next=target)
    assert response.status_code == 302 and response.headers["Location"] == "/counter/"


def test_safe_next_keeps_only_local_paths():
    assert safe_next("/counter/demo/3?x=1") == "/counter/demo/3?x=1"
    for bad in (None, "", "counter/", "//x.example", "/\\x.example", "http://x.example/", "/a\nb"):
        assert safe_next(bad) is None


def test_wrong_password_and_unknown_user_get_the_same_answer(client, demo):
    wrong = sign_in(client, "staff1", "not-the-password")
    unknown = sign_in(client, "nobody", "not-the-password")
    for response in (wrong, unknown):
        html = response.get_data(as_text=True)
        assert response.status_code == 401
        assert "用户名或密码不正确" in html and "Wrong username or password" in html
        assert 'role="alert"' in html
    error = re.compile(r'<div class="ct-error".*?</div>', re.S)
    assert error.search(wrong.get_data(as_text=True)).group(0) == error.search(
        unknown.get_data(as_text=True)
    ).group(0)
    assert client.get("/counter/").status_code == 302  # still signed out


def test_disabled_account_cannot_sign_in(app, client, demo):
    with app.app_context():
        db.session.scalar(sa.select(User).where(User.username == "staff2")).active = False
        db.session.commit()
    assert sign_in(client, "staff2", demo["staff2"]).status_code == 401


def test_login_without_the_csrf_token_is_refused(client, demo):
    response = client.post(
        "/counter/login", data={"username": "staff1", "password": demo["staff1"]}
    )
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "页面已过期" in html and 'name="csrf_token"' in html  # the form again, with a token
    assert client.get("/counter/").status_code == 302


def test_logout_is_a_post_and_signs_out(staff1):
    assert staff1.get("/counter/logout").status_code == 405
    token = form_token(staff1, "/counter/")
    assert staff1.post("/counter/logout", data={"csrf_token": token}).status_code == 302
    assert staff1.get("/counter/").status_code == 302


@pytest.mark.parametrize("url", ["/counter/", "/counter/demo/3", "/manage/"])
def test_pages_need_a_signed_in_user(client, demo, url):
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/counter/login?next=")


# ---------------------------------------------------------------- choose a window


def test_window_list_shows_status_and_staff_on_duty(app, staff1):
    open_windows(app, 4, username="staff2")
    html = staff1.get("/counter/").get_data(as_text=True)
    assert "示范区政务服务中心" in html
    for number in range(1, 9):
        assert f"{number} 号窗口" in html
    assert "张伟" in html and "服务中" in html and "接替上岗" in html


def test_choosing_a_window_opens_it_with_the_user_on_duty(app, staff1):
    sock = socketio.test_client(app, flask_test_client=staff1)
    sock.emit("join", {"hall": "demo"})
    sock.get_received()
    token = form_token(staff1, "/counter/")
    response = staff1.post("/counter/demo/3/open", data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"] == "/counter/demo/3"
    assert window_row(app, 3) == ("open", user_id(app, "staff1"))
    events = [e for e in sock.get_received() if e["name"] == "window.updated"]
    assert events and events[0]["args"][0]["window"]["staff"]["display_name"] == "李晓梅"
    me = user_id(app, "staff1")
    with app.app_context():
        audit = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "window.open"))
        assert audit.user_id == me and audit.detail == "window=3"
    sock.disconnect()


def test_choosing_a_window_without_the_csrf_token_changes_nothing(app, staff1):
    assert staff1.post("/counter/demo/3/open").status_code == 400
    assert window_row(app, 3) == ("closed", None)


def test_another_halls_window_is_forbidden(app, staff1):
    second_hall(app)
    token = form_token(staff1, "/counter/")
    assert staff1.post("/counter/north/1/open", data={"csrf_token": token}).status_code == 403
    assert staff1.get("/counter/north/1").status_code == 403
    assert window_row(app, 1, hall="north") == ("closed", None)
    assert "北街道" not in staff1.get("/counter/").get_data(as_text=True)


def test_an_admin_without_a_hall_sees_every_hall(app, client, demo):
    second_hall(app)
    with app.app_context():
        add_user(db.session, "root", "a-long-password", role="admin", display_name="总管理员")
        db.session.commit()
    sign_in(client, "root", "a-long-password")
    html = client.get("/counter/").get_data(as_text=True)
    assert "示范区政务服务中心" in html and "北街道便民服务中心" in html


def test_unknown_window_is_404(staff1):
    assert staff1.get("/counter/demo/99").status_code == 404


# ---------------------------------------------------------------- the working page


def page_state(client, url: str = "/counter/demo/3") -> tuple[str, dict]:
    html = client.get(url).get_data(as_text=True)
    return html, json.loads(STATE.search(html).group(1))


def test_counter_page_shows_the_windows_queues_and_waiting_counts(app, staff1):
    open_windows(app, 3)
    issue(app, "B", "B", "A", "C")
    html, state = page_state(staff1)
    assert re.search(r'data-queue="B">.*?data-count>2<', html, re.S)
    assert re.search(r'data-queue="A">.*?data-count>1<', html, re.S)
    assert 'data-queue="C"' not in html  # window 3 serves B then A only
    assert state["window"]["number"] == 3 and state["window"]["status"] == "open"
    assert state["window"]["staff"]["display_name"] == "李晓梅"
    assert {q["prefix"]: q["waiting"] for q in state["queues"]}["C"] == 1
    assert state["current"] is None
    for asset in ("vendor/socket.io/socket.io.min.js", "js/live.js", "counter/counter.js"):
        assert f"/static/{asset}" in html
    assert CSRF_META.search(html)
    for key in ("N", "R", "X", "S", "F", "T", "P", "Q"):
        assert f"<kbd>{key}</kbd>" in html


def test_counter_page_shows_the_current_ticket_with_matter_and_priority(app, staff1):
    open_windows(app, 3)
    with app.app_context():
        tickets.issue(db.session, "demo", matter_code="GA-001", priority=True)
        realtime.commit_and_publish(db.session)
        tickets.call_next(db.session, "demo", 3)
        realtime.commit_and_publish(db.session)
    html, state = page_state(staff1)
    assert state["current"]["number"] == "B001" and state["current"]["status"] == "called"
    assert state["current"]["priority"] is True and state["current"]["last_called_at"]
    assert "居民身份证申领" in html and "绿色通道" in html
    assert state["recent"][0]["number"] == "B001"


def test_someone_elses_window_says_who_is_on_duty(app, staff1):
    open_windows(app, 5, username="staff3")
    html, state = page_state(staff1, "/counter/demo/5")
    assert "陈静" in html and 'id="duty-warning" class="ct-warning" role="status">' in html


def test_static_script_is_served(client):
    response = client.get("/static/counter/counter.js")
    assert response.status_code == 200 and b"HallLive.connect" in response.data
    response.close()


# ---------------------------------------------------------------- the page's API calls


def api_post(client, url: str, token: str | None, json_body=None):
    headers = {"X-CSRFToken": token} if token else {}
    return client.post(url, json=json_body if json_body is not None else {}, headers=headers)


def test_calling_with_the_session_cookie_and_csrf_header_works(app, staff1):
    open_windows(app, 3)
    (b1,) = issue(app, "B")
    html, _ = page_state(staff1)
    token = CSRF_META.search(html).group(1)
    called = api_post(staff1, "/api/v1/halls/demo/windows/3/call-next", token, {"window": 3})
    assert called.status_code == 200, called.json
    assert called.json["ticket"]["id"] == b1 and called.json["ticket"]["window"] == 3
    base = f"/api/v1/tickets/{b1}"
    assert (
        api_post(staff1, f"{base}/start", token, {"window": 3}).json["ticket"]["status"]
        == "serving"
    )
    assert (
        api_post(staff1, f"{base}/finish", token, {"window": 3}).json["ticket"]["status"]
        == "finished"
    )
    _, state = page_state(staff1)
    assert state["current"] is None and state["recent"][0]["status"] == "finished"


def test_calling_without_the_csrf_header_is_refused(app, staff1):
    open_windows(app, 3)
    (b1,) = issue(app, "B")
    refused = api_post(staff1, "/api/v1/halls/demo/windows/3/call-next", None, {"window": 3})
    assert 400 <= refused.status_code < 500
    assert refused.json["error"] == "csrf" and refused.json["message"]
    wrong = api_post(staff1, "/api/v1/halls/demo/windows/3/call-next", "forged", {"window": 3})
    assert 400 <= wrong.status_code < 500
    assert ticket_status(app, b1) == "waiting"


def test_api_errors_carry_both_languages_for_the_message_area(app, staff1):
    open_windows(app, 3)
    issue(app, "B")
    token = CSRF_META.search(staff1.get("/counter/demo/3").get_data(as_text=True)).group(1)
    api_post(staff1, "/api/v1/halls/demo/windows/3/call-next", token)
    busy = api_post(staff1, "/api/v1/halls/demo/windows/3/call-next", token)
    assert busy.status_code == 409
    assert (
        busy.json["message"].startswith("3 号窗口还在办理")
        and "finish it" in busy.json["message_en"]
    )


def test_pause_resume_and_sign_off_through_the_status_api(app, staff1):
    open_windows(app, 3)
    token = CSRF_META.search(staff1.get("/counter/demo/3").get_data(as_text=True)).group(1)
    url = "/api/v1/halls/demo/windows/3/status"
    assert api_post(staff1, url, token, {"status": "paused"}).json["window"]["status"] == "paused"
    html, state = page_state(staff1)
    assert state["window"]["status"] == "paused" and "恢复服务" in html
    assert api_post(staff1, url, token, {"status": "open"}).json["window"]["status"] == "open"
    assert api_post(staff1, url, token, {"status": "closed"}).json["window"]["status"] == "closed"
    assert window_row(app, 3) == ("closed", None)


# ---------------------------------------------------------------- in a browser


def wait_text(page, selector: str, text: str) -> None:
    page.wait_for_function(
        "([s, t]) => document.querySelector(s)?.textContent.trim() === t",
        arg=[selector, text],
        timeout=15000,
    )


@pytest.mark.browser
def test_browser_counter_works_from_the_keyboard_and_stays_live(
    app, demo, live_server, browser_context
):
    open_windows(app, 4, username="staff2")
    issue(app, "B", "A")
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1366, "height": 768})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{live_server.url}/counter/demo/3")
    page.fill("#username", "staff1")
    page.fill("#password", demo["staff1"])
    page.press("#password", "Enter")
    page.wait_for_url("**/counter/demo/3")
    page.wait_for_selector("#counter[data-seq]", timeout=15000)
    page.click("#open-label")  # the window is closed: sign in to it (O)
    wait_text(page, "#window-status", "服务中")
    assert page.is_disabled("[data-action=recall]") and page.is_enabled("[data-action=call]")

    page.keyboard.press("n")
    wait_text(page, "#current-number", "B001")
    assert page.is_enabled("[data-action=recall]") and page.is_disabled("[data-action=call]")
    issue(app, "A")  # the kiosk issues: the count follows
    wait_text(page, "li[data-queue=A] [data-count]", "2")
    with app.app_context():  # another window calls: the count follows
        tickets.call_next(db.session, "demo", 4)
        realtime.commit_and_publish(db.session)
    wait_text(page, "li[data-queue=A] [data-count]", "1")

    page.keyboard.press("t")
    page.wait_for_selector("#transfer-dialog[open]")
    page.keyboard.press("c")
    page.keyboard.press("Enter")
    wait_text(page, "#current-number", "—")
    with app.app_context():
        moved = db.session.scalar(sa.select(Ticket).where(Ticket.label == "B001"))
        assert (moved.status, moved.queue.prefix) == ("waiting", "C")

    page.keyboard.press("n")
    wait_text(page, "#current-number", "A002")
    page.keyboard.press("s")
    wait_text(page, "#current-status", "办理中")
    page.keyboard.press("f")  # the finish panel: a queue ticket has no matter yet
    page.wait_for_selector("#finish-dialog[open]")
    page.keyboard.press("Enter")  # nothing recorded: refused, the panel stays
    page.wait_for_selector("#finish-error:not([hidden])")
    assert "请至少记录一个事项的办理结果" in page.inner_text("#finish-error")
    page.keyboard.type("GA-004")  # the search box has the focus; Enter adds the match
    page.wait_for_selector("#matter-results li[data-code=GA-004]")
    page.keyboard.press("Enter")
    page.keyboard.press("5")  # 咨询
    page.keyboard.press("Enter")
    wait_text(page, "#messages p", "A002 已办结。")
    page.keyboard.press("n")
    wait_text(page, "#messages p", "暂无等候的号。")

    page.keyboard.press("p")
    wait_text(page, "#window-status", "暂停服务")
    assert page.is_disabled("[data-action=call]")
    page.keyboard.press("p")
    wait_text(page, "#window-status", "服务中")
    page.on("dialog", lambda dialog: dialog.accept())
    page.keyboard.press("q")
    page.wait_for_url("**/counter/")
    assert window_row(app, 3) == ("closed", None)
    assert errors == []


@pytest.mark.browser
def test_browser_counter_shows_api_errors_in_both_languages(
    app, demo, live_server, browser_context
):
    open_windows(app, 3)
    (b1,) = issue(app, "B")
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1366, "height": 768})
    page.goto(f"{live_server.url}/counter/login?next=/counter/demo/3")
    page.fill("#username", "staff1")
    page.fill("#password", demo["staff1"])
    page.press("#password", "Enter")
    page.wait_for_url("**/counter/demo/3")
    page.wait_for_selector("#counter[data-seq]", timeout=15000)
    page.keyboard.press("n")
    wait_text(page, "#current-number", "B001")
    with app.app_context():  # someone finishes it elsewhere, then the page acts on it
        tickets.finish(db.session, b1)
        db.session.commit()
        tickets.take_events(db.session)  # unpublished: the page still believes it is called
    page.keyboard.press("r")
    page.wait_for_selector(".ct-messages-error", timeout=15000)
    text = page.inner_text("#messages")
    assert "B001 当前状态为「已办结」，不能重呼" in text and "cannot recall" in text
