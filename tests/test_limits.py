"""Rate limits (hall.limits): issuing per kiosk and per queue, failed sign-ins, the public
ticket and case pages, the guide search; the 429 answer; counts shared through Redis."""

from __future__ import annotations

import re
import uuid

import pytest
import sqlalchemy as sa

from hall import limits
from hall.extensions import db
from hall.models import Ticket
from tests.conftest import REDIS_URL, _token, auth, dispose, load_demo, make_app, need

MESSAGE = "请求过于频繁，请稍后再试"
MESSAGE_EN = "Too many requests; try again later"
CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')

# generous unless a test narrows one: each test trips exactly the limit it is about
ROOMY = {
    "HALL_LIMIT_ISSUE": "1000/minute",
    "HALL_LIMIT_ISSUE_QUEUE": "1000/minute",
    "HALL_LIMIT_LOGIN": "1000/minute",
    "HALL_LIMIT_PUBLIC": "1000/minute",
    "HALL_LIMIT_PUBLIC_MISS": "1000/minute",
    "HALL_LIMIT_SEARCH": "1000/minute",
}


@pytest.fixture
def limited(sqlite_url):
    """make(**limits): the demo hall with rate limits on (the given ones narrowed)."""
    made = []

    def make(**config):
        application = make_app(sqlite_url, RATELIMIT_ENABLED=True, **{**ROOMY, **config})
        made.append(application)
        return application

    yield make
    for application in made:
        dispose(application)


def client_at(application, address: str):
    client = application.test_client()
    client.environ_base["REMOTE_ADDR"] = address
    return client


def count_tickets(application) -> int:
    with application.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Ticket))


def assert_rate_limited_json(response) -> None:
    assert response.status_code == 429
    body = response.get_json()
    assert body["error"] == "rate_limited"
    assert body["message"] == MESSAGE
    assert body["message_en"] == MESSAGE_EN
    seconds = int(response.headers["Retry-After"])
    assert 1 <= seconds <= 60
    assert body["retry_after"] == seconds
    assert response.headers["Cache-Control"] == "no-store"


def assert_rate_limited_page(response) -> None:
    assert response.status_code == 429
    assert response.mimetype == "text/html"
    assert MESSAGE in response.text and MESSAGE_EN in response.text
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def issue_api(client, token: str, **body):
    return client.post("/api/v1/tickets", json={"hall": "demo", **body}, headers=auth(token))


def issue_kiosk(client, **body):
    page = client.get("/kiosk/demo")
    token = CSRF_META.search(page.text).group(1)
    return client.post(
        "/kiosk/demo/tickets",
        json=body,
        headers={"X-CSRFToken": token, "Accept": "application/json"},
    )


# ---------------------------------------------------------------- issuing


def test_a_kiosk_token_beyond_its_limit_gets_429_and_no_ticket_another_kiosk_goes_on(limited):
    app = limited(HALL_LIMIT_ISSUE="3/minute")
    load_demo(app)
    first = _token(app, device_kind="kiosk", hall_code="demo")
    second = _token(app, device_kind="kiosk", hall_code="demo")
    client = client_at(app, "10.0.0.1")  # both kiosks behind one address: tokens tell apart
    for _ in range(3):
        assert issue_api(client, first, queue="A").status_code == 201
    refused = issue_api(client, first, queue="A")
    assert_rate_limited_json(refused)
    assert count_tickets(app) == 3  # the refused request made no ticket
    assert issue_api(client, second, queue="A").status_code == 201
    assert count_tickets(app) == 4


def test_the_kiosk_page_is_limited_per_address_with_a_json_answer_its_script_shows(limited):
    app = limited(HALL_LIMIT_ISSUE="2/minute")
    load_demo(app)
    kiosk = client_at(app, "10.0.0.5")
    assert issue_kiosk(kiosk, queue="A").status_code == 201
    assert issue_kiosk(kiosk, matter="GA-001").status_code == 201
    assert_rate_limited_json(issue_kiosk(kiosk, queue="B"))
    assert count_tickets(app) == 2
    assert issue_kiosk(client_at(app, "10.0.0.6"), queue="A").status_code == 201


def test_the_per_queue_flood_guard_counts_every_client_and_matters_as_their_queue(limited):
    app = limited(HALL_LIMIT_ISSUE_QUEUE="3/minute")
    load_demo(app)
    kiosk = _token(app, device_kind="kiosk", hall_code="demo")
    made = [
        issue_api(client_at(app, "10.0.1.1"), kiosk, queue="B"),
        issue_kiosk(client_at(app, "10.0.1.2"), queue="B"),
        issue_kiosk(client_at(app, "10.0.1.3"), matter="GA-001"),  # a matter of queue B
    ]
    assert [r.status_code for r in made] == [201, 201, 201]
    assert_rate_limited_json(issue_kiosk(client_at(app, "10.0.1.4"), matter="GA-002"))
    assert_rate_limited_json(issue_api(client_at(app, "10.0.1.5"), kiosk, queue="B"))
    assert count_tickets(app) == 3
    assert issue_kiosk(client_at(app, "10.0.1.6"), queue="A").status_code == 201  # other queue


def test_staff_issuing_counts_per_account(limited):
    app = limited(HALL_LIMIT_ISSUE="2/minute")
    passwords = load_demo(app)
    assert passwords
    staff1 = _token(app, username="staff1")
    staff2 = _token(app, username="staff2")
    client = client_at(app, "10.0.2.1")
    assert issue_api(client, staff1, queue="A").status_code == 201
    assert issue_api(client, staff1, queue="A").status_code == 201
    assert issue_api(client, staff1, queue="A").status_code == 429
    assert issue_api(client, staff2, queue="A").status_code == 201


# ---------------------------------------------------------------- sign-in


def sign_in(client, username: str, password: str):
    token = CSRF_FIELD.search(client.get("/counter/login").text).group(1)
    return client.post(
        "/counter/login",
        data={"csrf_token": token, "username": username, "password": password},
    )


def test_failed_sign_ins_are_limited_per_address_with_a_429_page(limited):
    app = limited(HALL_LIMIT_LOGIN="3/minute")
    passwords = load_demo(app)
    guesser = client_at(app, "10.0.3.1")
    for name in ("staff1", "staff2", "manager"):
        assert sign_in(guesser, name, "wrong-password").status_code == 401
    refused = sign_in(guesser, "staff3", passwords["staff3"])  # even the right password waits
    assert_rate_limited_page(refused)
    assert "<h1>429</h1>" in refused.text
    assert guesser.get("/counter/login").status_code == 200  # the form itself is not limited
    assert sign_in(client_at(app, "10.0.3.2"), "staff1", passwords["staff1"]).status_code == 302


def test_failed_sign_ins_are_limited_per_username_whatever_the_address(limited):
    app = limited(HALL_LIMIT_LOGIN="3/minute")
    passwords = load_demo(app)
    for n in range(3):
        assert sign_in(client_at(app, f"10.0.4.{n}"), "staff1", "wrong").status_code == 401
    assert sign_in(client_at(app, "10.0.4.9"), "staff1", passwords["staff1"]).status_code == 429
    assert sign_in(client_at(app, "10.0.4.9"), "staff2", passwords["staff2"]).status_code == 302


def test_successful_sign_ins_never_count(limited):
    app = limited(HALL_LIMIT_LOGIN="2/minute")
    passwords = load_demo(app)
    for _ in range(4):  # a shift's staff signing in through one address at 8:30
        client = client_at(app, "10.0.5.1")
        assert sign_in(client, "staff1", passwords["staff1"]).status_code == 302


# ---------------------------------------------------------------- public pages and search


def test_the_tracking_page_its_json_and_the_slip_are_limited_per_address_and_ticket(limited):
    app = limited(HALL_LIMIT_PUBLIC="2/minute")
    load_demo(app)
    kiosk = _token(app, device_kind="kiosk", hall_code="demo")
    made = issue_api(app.test_client(), kiosk, queue="A").get_json()
    other = issue_api(app.test_client(), kiosk, queue="A").get_json()
    token = made["track_url"].rstrip("/").rsplit("/", 1)[1]
    phone = client_at(app, "10.0.6.1")
    for path in (f"/t/{token}", f"/t/{token}/slip.pdf"):
        assert phone.get(path).status_code == 200
        assert phone.get(path).status_code == 200
        assert_rate_limited_page(phone.get(path))
    assert phone.get(f"/t/{token}.json").status_code == 200
    assert phone.get(f"/t/{token}.json").status_code == 200
    assert_rate_limited_json(phone.get(f"/t/{token}.json"))  # the page's script reads JSON
    # another ticket behind the same address (one NAT), and another phone: unaffected
    other_token = other["track_url"].rstrip("/").rsplit("/", 1)[1]
    assert phone.get(f"/t/{other_token}").status_code == 200
    assert client_at(app, "10.0.6.2").get(f"/t/{token}").status_code == 200


def test_the_case_verification_page_is_limited(limited):
    app = limited(HALL_LIMIT_PUBLIC="2/minute")
    load_demo(app)
    phone = client_at(app, "10.0.7.1")
    token = "x" * 43
    assert phone.get(f"/v/{token}").status_code == 404
    assert phone.get(f"/v/{token}").status_code == 404
    assert_rate_limited_page(phone.get(f"/v/{token}"))


def test_trying_unknown_tokens_is_stopped_per_address(limited):
    app = limited(HALL_LIMIT_PUBLIC_MISS="3/minute")
    load_demo(app)
    prober = client_at(app, "10.0.8.1")
    paths = ["/t/aaaa", "/v/bbbb", "/t/cccc.json"]
    assert [prober.get(p).status_code for p in paths] == [404, 404, 404]
    assert_rate_limited_page(prober.get("/t/dddd"))
    assert_rate_limited_json(prober.get("/t/eeee.json"))
    assert client_at(app, "10.0.8.2").get("/t/aaaa").status_code == 404


def test_the_guide_search_is_limited_on_the_page_the_kiosk_and_the_api_together(limited):
    app = limited(HALL_LIMIT_SEARCH="3/minute")
    load_demo(app)
    phone = client_at(app, "10.0.9.1")
    assert phone.get("/guide?q=hk").status_code == 200
    assert phone.get("/kiosk/demo/guide/search.json?q=hk").status_code == 200
    assert phone.get("/api/v1/matters?q=hk").status_code == 200
    assert_rate_limited_page(phone.get("/guide?q=sfz"))
    assert_rate_limited_json(phone.get("/api/v1/matters?q=sfz"))
    assert_rate_limited_json(phone.get("/kiosk/demo/guide/search.json?q=sfz"))
    assert client_at(app, "10.0.9.2").get("/guide?q=hk").status_code == 200
    assert phone.get("/guide/GA-001").status_code == 200  # a matter's guide is not a search


def test_screens_and_counter_actions_are_not_limited(limited):
    app = limited(**{name: "1/minute" for name in ROOMY})
    load_demo(app)
    staff = _token(app, username="staff1")
    client = client_at(app, "10.0.10.1")
    for _ in range(3):
        assert client.get("/display/demo").status_code == 200
        assert client.get("/api/v1/halls/demo/board").status_code == 200
        opened = client.post(
            "/api/v1/halls/demo/windows/1/status", json={"status": "open"}, headers=auth(staff)
        )
        assert opened.status_code == 200


# ---------------------------------------------------------------- set-up


def test_limits_are_off_in_tests_unless_asked_for_and_with_hall_rate_limits_0(sqlite_url):
    quiet = make_app(sqlite_url)
    assert quiet.config["RATELIMIT_ENABLED"] is False
    assert limits.limiter_of(quiet) is None
    off = make_app(sqlite_url, TESTING=False, SECRET_KEY="k", HALL_RATE_LIMITS=False)
    assert off.config["RATELIMIT_ENABLED"] is False
    # (the test session sets HALL_RATE_LIMITS=0 for its `hall serve` subprocesses: say on)
    on = make_app(sqlite_url, TESTING=False, SECRET_KEY="k", HALL_RATE_LIMITS=True)
    assert on.config["RATELIMIT_ENABLED"] is True
    assert limits.limiter_of(on) is not None
    for application in (quiet, off, on):
        dispose(application)


def test_limits_are_on_by_default_outside_tests(monkeypatch):
    from hall import config as settings

    monkeypatch.delenv("HALL_RATE_LIMITS", raising=False)
    assert settings.from_environment()["HALL_RATE_LIMITS"] is True
    monkeypatch.setenv("HALL_RATE_LIMITS", "0")
    assert settings.from_environment()["HALL_RATE_LIMITS"] is False


def test_an_unknown_endpoint_name_stops_the_start(sqlite_url, monkeypatch):
    monkeypatch.setattr(limits, "PUBLIC_ENDPOINTS", (*limits.PUBLIC_ENDPOINTS, "kiosk.gone"))
    with pytest.raises(RuntimeError, match="kiosk.gone"):
        make_app(sqlite_url)  # even with the limits off: a renamed view is found at once


def test_a_limit_setting_that_does_not_parse_stops_the_start(sqlite_url):
    with pytest.raises(RuntimeError, match="HALL_LIMIT_ISSUE"):
        make_app(sqlite_url, RATELIMIT_ENABLED=True, HALL_LIMIT_ISSUE="thirty a minute")


def test_without_redis_the_counts_live_in_memory(limited):
    app = limited()
    assert type(limits.limiter_of(app).storage).__name__ == "MemoryStorage"


def test_two_app_instances_share_the_counts_through_redis(limited):
    need(bool(REDIS_URL), "Redis tests need HALL_TEST_REDIS_URL")
    shared = {
        "HALL_REDIS_URL": REDIS_URL,
        "HALL_LIMIT_ISSUE": "3/minute",
        # this test's own keys: reset() clears them and nothing else in the Redis
        "RATELIMIT_STORAGE_OPTIONS": {"key_prefix": f"hall_limits_test_{uuid.uuid4().hex}"},
    }
    first = limited(**shared)
    second = limited(**shared)
    load_demo(first)
    kiosk = _token(first, device_kind="kiosk", hall_code="demo")
    limiter = limits.limiter_of(first)
    assert type(limiter.storage).__name__ == "RedisStorage"
    try:
        one, two = client_at(first, "10.0.11.1"), client_at(second, "10.0.11.1")
        assert issue_api(one, kiosk, queue="A").status_code == 201
        assert issue_api(two, kiosk, queue="A").status_code == 201
        assert issue_api(one, kiosk, queue="A").status_code == 201
        assert_rate_limited_json(issue_api(two, kiosk, queue="A"))  # the other process knew
        assert count_tickets(first) == 3
        limiter.reset()  # an operator's reset reaches every process
        assert issue_api(two, kiosk, queue="A").status_code == 201
    finally:
        limiter.reset()
