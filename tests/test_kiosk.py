"""The kiosk (取号机), the phone tracking page and the home page, through HTTP and a browser."""

from __future__ import annotations

import io
import re
from html.parser import HTMLParser

import pypdf
import pytest
import sqlalchemy as sa

from hall.extensions import db, socketio
from hall.models import Ticket
from tests.conftest import make_app, open_windows, serving_demo

JSON = {"Accept": "application/json"}


def count_tickets(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Ticket))


def csrf_token(client, hall: str = "demo") -> str:
    page = client.get(f"/kiosk/{hall}")
    assert page.status_code == 200
    match = re.search(r'<meta name="csrf-token" content="([^"]+)"', page.text)
    assert match, "the kiosk page has no CSRF token"
    return match.group(1)


def take(client, body, *, token: str | None = None, hall: str = "demo"):
    """POST a ticket request as the kiosk page does (fetching the CSRF token first)."""
    token = token or csrf_token(client)
    return client.post(f"/kiosk/{hall}/tickets", json=body, headers={"X-CSRFToken": token})


class Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []

    def handle_starttag(self, tag, attrs):
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.hrefs.append(href)


# ---------------------------------------------------------------- pages


def test_the_kiosk_page_shows_departments_matters_and_queues_in_chinese(client, demo):
    page = client.get("/kiosk/demo")
    assert page.status_code == 200
    html = page.text
    assert '<html lang="zh-CN">' in html
    for text in (
        "示范区政务服务中心",
        "自助取号",
        "区公安分局（户籍）",
        "居民身份证申领",
        "绿色通道",
    ):
        assert text in html
    assert 'data-matter="BD-001"' in html and 'data-go="dept-bdc"' in html
    for prefix in "ABCDEFG":
        assert f'data-queue="{prefix}"' in html
    assert 'data-idle-seconds="30"' in html
    assert "vendor/socket.io/socket.io.min.js" in html and "js/live.js" in html


def test_the_kiosk_page_shows_the_waiting_counts_it_starts_with(client, demo):
    token = csrf_token(client)
    take(client, {"queue": "B"}, token=token)
    take(client, {"queue": "B"}, token=token)
    html = client.get("/kiosk/demo").text
    assert re.search(r'data-waiting="B">2<', html)
    assert re.search(r'data-waiting="A">0<', html)


def test_the_idle_timeout_comes_from_the_config(sqlite_url):
    app = make_app(sqlite_url, HALL_KIOSK_IDLE_SECONDS=45)
    with app.app_context():
        from hall import demo

        demo.load(db.session)
        db.session.commit()
    assert 'data-idle-seconds="45"' in app.test_client().get("/kiosk/demo").text
    with app.app_context():
        db.engine.dispose()


def test_an_unknown_hall_has_no_kiosk(client, demo):
    assert client.get("/kiosk/nowhere").status_code == 404


def test_the_kiosk_page_and_its_scripts_are_served(client, demo):
    for path in ("/static/kiosk/kiosk.js", "/static/kiosk/track.js", "/static/kiosk/kiosk.css"):
        response = client.get(path)
        assert response.status_code == 200, path
        response.close()


def test_the_home_page_links_every_screen_and_every_link_answers(client, demo):
    page = client.get("/")
    assert page.status_code == 200
    parser = Links()
    parser.feed(page.text)
    hrefs = set(parser.hrefs)
    expected = {"/kiosk/demo", "/counter/", "/display/demo", "/manage/"}
    expected |= {f"/display/demo/window/{n}" for n in range(1, 9)}
    assert expected <= hrefs
    for href in sorted(hrefs):
        response = client.get(href)
        if href.startswith("/counter") or href.startswith("/manage"):
            assert response.status_code in (200, 302), href  # staff pages may ask to sign in
            if response.status_code == 302:
                assert "login" in response.headers["Location"], href
        else:
            assert response.status_code == 200, href
        response.close()


# ---------------------------------------------------------------- taking tickets


def test_tickets_are_numbered_per_queue_with_position_estimate_and_links(client, demo):
    token = csrf_token(client)
    first = take(client, {"queue": "A"}, token=token)
    second = take(client, {"queue": "a"}, token=token)
    by_matter = take(client, {"matter": "GA-001"}, token=token)
    assert first.status_code == 201, first.json
    assert [r.json["number"] for r in (first, second, by_matter)] == ["A001", "A002", "B001"]
    body = second.json
    assert body["status"] == "waiting" and body["queue_name"] == "综合受理"
    assert body["waiting_ahead"] == 1 and body["estimated_wait_minutes"] >= 1
    assert body["track_url"].endswith(f"/t/{body['token']}")
    assert body["slip_url"].endswith(f"/t/{body['token']}/slip.pdf")
    assert body["qr_svg"].startswith("<svg")
    assert (
        by_matter.json["matter"] == "GA-001" and by_matter.json["matter_name"] == "居民身份证申领"
    )
    assert by_matter.json["waiting_ahead"] == 0


def test_a_green_channel_ticket_goes_ahead_of_ordinary_ones(client, demo):
    token = csrf_token(client)
    ordinary = take(client, {"queue": "E"}, token=token).json
    green = take(client, {"queue": "E", "priority": True}, token=token).json
    assert green["priority"] is True and ordinary["priority"] is False
    assert green["number"] == "E002" and green["waiting_ahead"] == 0
    assert client.get(f"/t/{ordinary['token']}.json").json["waiting_ahead"] == 1


def test_a_ticket_taken_at_the_kiosk_is_published_to_the_hall(app, client, demo):
    screen = socketio.test_client(app)
    screen.emit("join", {"hall": "demo"}, callback=True)
    screen.get_received()
    ticket = take(client, {"queue": "C"}).json
    events = [e for e in screen.get_received() if e["name"] == "ticket.issued"]
    assert len(events) == 1
    data = events[0]["args"][0]
    assert data["ticket"]["number"] == ticket["number"] == "C001"
    assert data["waiting"]["C"] == 1 and data["hall"] == "demo"
    screen.disconnect()


BAD = [
    ("unknown hall", "nowhere", {"queue": "A"}, 404, "hall_not_found"),
    ("unknown queue", "demo", {"queue": "Z"}, 404, "queue_not_found"),
    ("unknown matter", "demo", {"matter": "XX-999"}, 404, "matter_not_found"),
    ("neither queue nor matter", "demo", {}, 400, "queue_required"),
    ("both queue and matter", "demo", {"queue": "A", "matter": "BD-001"}, 400, "queue_or_matter"),
    ("priority not a boolean", "demo", {"queue": "A", "priority": "yes"}, 400, "bad_field"),
    ("queue not a string", "demo", {"queue": 1}, 400, "bad_field"),
    ("queue too long", "demo", {"queue": "ABCDEFG"}, 400, "bad_field"),
    ("a JSON array", "demo", ["A"], 400, "bad_json"),
]


@pytest.mark.parametrize(
    ("hall", "body", "status", "code"), [b[1:] for b in BAD], ids=[b[0] for b in BAD]
)
def test_bad_requests_get_a_json_4xx_and_issue_nothing(client, app, demo, hall, body, status, code):
    response = take(client, body, hall=hall)
    assert response.status_code == status
    assert response.is_json, response.text
    assert response.json["error"] == code
    assert response.json["message"] and response.json["message_en"]
    assert count_tickets(app) == 0


def test_malformed_json_gets_a_json_400(client, app, demo):
    token = csrf_token(client)
    response = client.post(
        "/kiosk/demo/tickets",
        data="{queue: A",
        content_type="application/json",
        headers={"X-CSRFToken": token},
    )
    assert response.status_code == 400 and response.json["error"] == "bad_json"
    assert count_tickets(app) == 0


@pytest.mark.parametrize("token", [None, "forged"], ids=["missing", "forged"])
def test_a_request_without_a_valid_csrf_token_is_refused_with_json(client, app, demo, token):
    csrf_token(client)  # a session exists, as on a real kiosk
    headers = {"X-CSRFToken": token} if token else {}
    response = client.post("/kiosk/demo/tickets", json={"queue": "A"}, headers=headers)
    assert response.status_code == 400
    assert response.json["error"] == "csrf" and "刷新" in response.json["message"]
    assert count_tickets(app) == 0


def test_only_post_takes_a_ticket(client, demo):
    assert client.get("/kiosk/demo/tickets", headers=JSON).status_code == 405


# ---------------------------------------------------------------- tracking, slip, QR


def test_the_status_json_follows_the_ticket_through_its_call(app, client, demo):
    token = csrf_token(client)
    first = take(client, {"queue": "B"}, token=token).json
    second = take(client, {"queue": "B"}, token=token).json
    status = client.get(f"/t/{second['token']}.json")
    assert status.status_code == 200 and status.headers["Cache-Control"] == "no-store"
    assert status.json["number"] == "B002" and status.json["status"] == "waiting"
    assert status.json["waiting_ahead"] == 1 and "estimated_wait_minutes" in status.json

    open_windows(app, 3)
    from hall import realtime
    from hall.domain import tickets

    with app.app_context():
        called = tickets.call_next(db.session, "demo", 3)
        realtime.commit_and_publish(db.session)
        assert called.token == first["token"]
    assert client.get(f"/t/{second['token']}.json").json["waiting_ahead"] == 0
    mine = client.get(f"/t/{first['token']}.json").json
    assert mine["status"] == "called" and mine["window"] == 3 and mine["waiting_ahead"] == 0


def test_an_unknown_token_is_a_json_404(client, demo):
    for headers in ({}, JSON):
        response = client.get("/t/no-such-token.json", headers=headers)
        assert response.status_code == 404
        assert response.json["error"] == "ticket_not_found" and response.json["message_en"]


def test_the_tracking_page_shows_number_queue_status_and_position(client, demo):
    token = csrf_token(client)
    take(client, {"queue": "D"}, token=token)
    ticket = take(client, {"matter": "BD-001", "priority": True}, token=token).json
    page = client.get(f"/t/{ticket['token']}")
    assert page.status_code == 200
    html = page.text
    for text in ("D002", "不动产登记", "不动产转移登记（二手房过户）", "前面还有", "绿色通道"):
        assert text in html
    assert f'data-token="{ticket["token"]}"' in html
    assert f'data-status-url="/t/{ticket["token"]}.json"' in html
    assert client.get("/t/no-such-token").status_code == 404


def test_the_slip_is_an_inline_pdf_with_the_number_and_local_time(client, demo):
    ticket = take(client, {"matter": "GA-004"}).json
    response = client.get(f"/t/{ticket['token']}/slip.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    assert response.headers["Content-Disposition"].startswith("inline")
    text = pypdf.PdfReader(io.BytesIO(response.data)).pages[0].extract_text()
    assert "B001" in text and "出生登记" in text and "示范区政务服务中心" in text
    from datetime import datetime
    from zoneinfo import ZoneInfo

    issued = datetime.fromisoformat(ticket["issued_at"]).astimezone(ZoneInfo("Asia/Shanghai"))
    assert issued.strftime("%Y-%m-%d %H:%M") in text
    assert client.get("/t/no-such-token/slip.pdf").status_code == 404


def test_the_qr_svg_is_served(client, demo):
    ticket = take(client, {"queue": "A"}).json
    response = client.get(f"/t/{ticket['token']}/qr.svg")
    assert response.status_code == 200 and response.mimetype == "image/svg+xml"
    assert response.text.startswith("<svg")


# ---------------------------------------------------------------- in a real browser


def new_page(context, viewport: dict):
    """A page of the given size in the test's browser profile."""
    page = context.new_page()
    page.set_viewport_size(viewport)
    return page


@pytest.fixture
def kiosk_server(sqlite_url):
    """The demo hall on a real port, with a short idle timeout (SQLite: a browser test)."""
    with serving_demo(sqlite_url, HALL_KIOSK_IDLE_SECONDS=5) as server:
        yield server


@pytest.mark.browser
def test_three_taps_take_a_green_ticket_and_the_phone_sees_its_call(browser_context, kiosk_server):
    errors: list[str] = []
    kiosk = new_page(browser_context, {"width": 1080, "height": 1920})
    kiosk.on("pageerror", lambda e: errors.append(str(e)))
    kiosk.goto(f"{kiosk_server.url}/kiosk/demo")
    kiosk.wait_for_selector("#k-live[data-state=live]")
    kiosk.click("#k-green")
    kiosk.click("[data-go=dept-gaj]")
    kiosk.click("[data-matter=GA-002]")
    kiosk.wait_for_selector("[data-screen=result]:not([hidden])")
    assert kiosk.inner_text("#r-number") == "B001"
    assert kiosk.is_visible("#r-priority")
    assert kiosk.inner_text("#r-ahead") == "0"
    assert kiosk.locator("#r-qr svg").count() == 1
    slip = kiosk.get_attribute("#r-print", "href")
    token = slip.split("/t/")[1].split("/")[0]
    # the slip opens over the kiosk page, never in a tab without a way back
    kiosk.click("#r-print")
    kiosk.wait_for_selector("#k-slip:not([hidden])")
    assert kiosk.get_attribute("#k-slip-frame", "src").endswith(f"/t/{token}/slip.pdf")
    kiosk.click("#k-slip-close")
    assert kiosk.is_hidden("#k-slip")
    # the waiting count went up live on the start screen
    kiosk.click("#r-done")
    kiosk.wait_for_selector("[data-screen=start]:not([hidden])")
    kiosk.wait_for_function("document.querySelector('[data-waiting=B]').textContent === '1'")
    assert kiosk.get_attribute("#k-green", "aria-pressed") == "false"

    phone = new_page(browser_context, {"width": 390, "height": 844})
    phone.on("pageerror", lambda e: errors.append(str(e)))
    phone.goto(f"{kiosk_server.url}/t/{token}")
    phone.wait_for_selector("#t-live[data-state=live]")
    assert phone.inner_text("#t-number") == "B001"
    assert phone.is_hidden("#t-call")

    app = kiosk_server.app
    open_windows(app, 3)
    from hall import realtime
    from hall.domain import tickets

    with app.app_context():
        tickets.call_next(db.session, "demo", 3)
        realtime.commit_and_publish(db.session)
    phone.wait_for_selector("#t-call:not([hidden])", timeout=5000)
    assert "3" in phone.inner_text("#t-call-text")
    assert errors == []


@pytest.mark.browser
def test_the_kiosk_shows_errors_in_two_languages_and_returns_to_chinese_start_when_idle(
    browser_context, kiosk_server
):
    kiosk = new_page(browser_context, {"width": 1920, "height": 1080})
    kiosk.goto(f"{kiosk_server.url}/kiosk/demo?lang=en")  # a visitor chose English
    assert kiosk.get_attribute("html", "lang") == "en"
    # a queue removed since the page was loaded: the server refuses, the page says why
    kiosk.evaluate(
        """() => { const b = document.createElement('button');
        b.dataset.queue = 'Z'; b.id = 'gone'; b.textContent = 'Z';
        document.querySelector('[data-screen=start]').append(b); }"""
    )
    kiosk.click("#gone")
    kiosk.wait_for_selector("#k-error:not([hidden])")
    assert "Z" in kiosk.inner_text("#k-error-zh") and "No queue" in kiosk.inner_text("#k-error-en")
    kiosk.click("#k-error-ok")
    kiosk.click("[data-go=dept-bdc]")
    kiosk.click("#k-green")
    assert kiosk.is_visible("[data-screen=dept-bdc]")
    # no touch for HALL_KIOSK_IDLE_SECONDS (5 here): back to the start in Chinese, green off
    kiosk.wait_for_function("document.documentElement.lang === 'zh-CN'", timeout=9000)
    kiosk.wait_for_selector("[data-screen=start]:not([hidden])")
    assert kiosk.get_attribute("#k-green", "aria-pressed") == "false"
    assert kiosk.is_hidden("#k-error")
