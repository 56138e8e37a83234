"""The managers' live dashboard (实时看板): its figures (dashboard.json) agree with the tickets
and with hall.domain.rates for today, only managers and admins see it, and in a browser it
follows calls live over Socket.IO without a reload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import requests
import sqlalchemy as sa

from hall import realtime
from hall.domain import board, rates
from hall.domain import tickets as ticket_flow
from hall.extensions import db
from hall.models import Hall, Matter, Ticket, User, Window
from tests.conftest import ARTIFACTS, _token, auth, open_windows
from tests.test_counter import sign_in
from tests.test_rates import add_case

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def _scenario(app) -> dict:
    """Window 3 open (staff1): B001 served, B002 a no-show, B003 and A001 waiting; cases of
    today at window 3: one on the spot, one accepted and completed early, one overdue."""
    with app.app_context():
        session = db.session
        open_windows(app, 3)
        for prefix in ("B", "B", "B", "A"):
            ticket_flow.issue(session, "demo", queue_prefix=prefix)
            realtime.commit_and_publish(session)
        served = ticket_flow.call_next(session, "demo", 3)
        ticket_flow.finish(session, served.id, window_number=3)
        missed = ticket_flow.call_next(session, "demo", 3)
        ticket_flow.no_show(session, missed.id, window_number=3)
        realtime.commit_and_publish(session)

        hall = session.scalar(sa.select(Hall).where(Hall.code == "demo"))
        today = board.service_day(hall)
        window = session.scalar(
            sa.select(Window).where(Window.hall_id == hall.id, Window.number == 3)
        )
        staff = session.scalar(sa.select(User).where(User.username == "staff1"))
        matter = session.scalar(sa.select(Matter).order_by(Matter.id).limit(1))
        noon = datetime.combine(today, datetime.min.time(), tzinfo=UTC)
        add_case(session, hall, matter, window, staff, "on_the_spot", today)
        add_case(
            session,
            hall,
            matter,
            window,
            staff,
            "accepted",
            today - timedelta(days=2),
            status="completed",
            completed_on=today,
            completed_at=noon,
            due_date=today + timedelta(days=3),
            timing="early",
        )
        add_case(
            session,
            hall,
            matter,
            window,
            staff,
            "accepted",
            today - timedelta(days=9),
            due_date=today - timedelta(days=1),
        )
        session.commit()
        oldest = session.scalar(
            sa.select(Ticket)
            .where(Ticket.status == "waiting", Ticket.hall_id == hall.id)
            .order_by(Ticket.issued_at, Ticket.id)
            .limit(1)
        )
        expected_rates = rates.compute(session, start=today, end=today, hall_id=hall.id)[0]
        by_window = {
            row.key: row
            for row in rates.compute(
                session, start=today, end=today, hall_id=hall.id, group="window"
            )
        }
        return {
            "today": today.isoformat(),
            "oldest": (oldest.label, board.iso(oldest.issued_at)),
            "total": rates.rate_dict(expected_rates),
            "window3": rates.rate_dict(by_window[3]),
        }


def test_figures_agree_with_the_tickets_and_the_rates_of_today(app, client, demo):
    expected = _scenario(app)
    sign_in(client, "manager", demo["manager"])
    response = client.get("/manage/demo/dashboard.json")
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    data = response.get_json()
    assert data["service_day"] == expected["today"]
    assert data["served"] == 1 and data["no_show"] == 1
    assert data["windows"]["3"]["served"] == 1 and data["windows"]["3"]["no_show"] == 1
    assert data["windows"]["1"] == {"served": 0, "no_show": 0, "rates": None}
    number, issued_at = expected["oldest"]
    assert data["longest_wait"] == {"number": number, "queue": number[0], "issued_at": issued_at}
    assert number == "B003"
    assert data["oldest_waiting"]["B"] == issued_at and data["oldest_waiting"]["C"] is None
    # the same numbers as rates.compute for today, for the hall and for window 3
    assert data["rates"] == expected["total"]
    assert data["windows"]["3"]["rates"] == expected["window3"]
    assert data["rates"]["on_the_spot"] == 1 and data["rates"]["open_overdue"] == 1
    assert data["rates"]["percent"]["early_rate"] == "100.0%"
    assert data["rates"]["percent"]["strict_rate"] == "50.0%"
    assert data["formulas"]["strict_rate"]["formula"] == rates.formula("strict_rate")
    assert set(data["formulas"]) == {
        "on_the_spot_rate",
        "promised_rate",
        "strict_rate",
        "early_rate",
    }


@SQLITE
def test_page_shows_the_panel_formulas_and_the_live_client(client, demo):
    sign_in(client, "admin", demo["admin"])
    response = client.get("/manage/demo/dashboard")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "实时看板" in page and 'id="window-rows"' in page and 'id="queue-list"' in page
    assert "连接中断，正在重连…" in page
    assert "js/live.js" in page and "manage/dashboard.js" in page
    assert "<script>" not in page  # no inline script: JSON data blocks only
    assert rates.formula("promised_rate") in page  # in the page's JSON, shown by the script
    big = client.get("/manage/demo/dashboard?screen=1").get_data(as_text=True)
    assert "db-big" in big and "mg-nav" not in big
    menu = client.get("/manage/?hall=demo").get_data(as_text=True)
    assert "/manage/demo/dashboard" in menu


@SQLITE
@pytest.mark.parametrize("path", ["/manage/demo/dashboard", "/manage/demo/dashboard.json"])
def test_staff_are_refused_and_strangers_sent_to_sign_in(app, client, demo, path):
    anonymous = client.get(path)
    assert anonymous.status_code == 302 and "/counter/login" in anonymous.headers["Location"]
    sign_in(client, "staff1", demo["staff1"])
    assert client.get(path).status_code == 403


@pytest.mark.browser
@SQLITE
def test_browser_dashboard_follows_a_call_live(app, live_server, demo, browser_context):
    open_windows(app, 3)
    kiosk = _token(app, device_kind="kiosk", hall_code="demo")
    staff = _token(app, username="staff1")
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1920, "height": 1080})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{live_server.url}/counter/login?next=/manage/demo/dashboard?screen=1")
    page.fill("#username", "manager")
    page.fill("#password", demo["manager"])
    page.click("button[type=submit]")
    page.wait_for_url("**/manage/demo/dashboard*")
    page.wait_for_function(
        "document.getElementById('dashboard').dataset.status === 'live'"
        " && window.hallDashboard.live.state.seq >= 0"
    )
    waiting = "document.querySelector('.db-queue[data-prefix=B] .db-queue-count').textContent"
    assert page.evaluate(waiting) == "0"
    assert "李晓梅" in page.inner_text("tr[data-window='3']")

    http = requests.Session()
    for _ in range(2):
        issued = http.post(
            f"{live_server.url}/api/v1/tickets",
            json={"hall": "demo", "queue": "B"},
            headers=auth(kiosk),
            timeout=10,
        )
        assert issued.status_code == 201
    page.wait_for_function(f"{waiting} === '2'")
    called = http.post(
        f"{live_server.url}/api/v1/halls/demo/windows/3/call-next", headers=auth(staff), timeout=10
    )
    assert called.json()["ticket"]["number"] == "B001"
    page.wait_for_function(
        "document.querySelector(\"tr[data-window='3'] .db-ticket\")?.textContent === 'B001'"
    )
    page.wait_for_function(f"{waiting} === '1'")
    # the slower figures follow (debounced fetch): B002 is now the longest wait, ticking
    page.wait_for_function(
        "document.getElementById('kpi-longest-ticket').textContent.includes('B002')"
    )
    assert page.evaluate("document.querySelectorAll('[data-since]').length") >= 2
    assert page.is_hidden("#db-offline")
    assert page.evaluate("location.pathname") == "/manage/demo/dashboard"  # never reloaded
    page.wait_for_timeout(1100)  # let the timers tick once
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "dashboard.png"))
    assert errors == []
