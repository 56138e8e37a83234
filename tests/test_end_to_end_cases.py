"""A visit with two matters, in a real browser: a kiosk issues a ticket through the API, the
clerk calls it (N), finishes it (F) recording one matter completed on the spot and one
accepted with the applicant's name and phone, prints the acceptance receipt with one click,
and sees the window's rates of today change on the same page."""

from __future__ import annotations

import io
import json
import re
import urllib.request

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from hall.auth import create_token
from hall.extensions import db
from hall.models import Case, Hall
from tests.conftest import ARTIFACTS, serving_demo


@pytest.fixture
def hall_server(sqlite_url):
    """The demo hall on a real port with its staff passwords (SQLite: a browser test)."""
    with serving_demo(sqlite_url) as server:
        yield server


def kiosk_issues(server, matter: str) -> dict:
    """The kiosk of the demo hall takes a ticket for a matter through the JSON API."""
    with server.app.app_context():
        hall = db.session.scalar(sa.select(Hall).where(Hall.code == "demo"))
        token = create_token(db.session, device_kind="kiosk", hall=hall, name="取号机 1")
        db.session.commit()
    request = urllib.request.Request(
        f"{server.url}/api/v1/tickets",
        data=json.dumps({"hall": "demo", "matter": matter}).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201
        return json.loads(response.read())


def text_of(page, selector: str) -> str:
    return re.sub(r"\s+", " ", page.inner_text(selector)).strip()


@pytest.mark.browser
def test_counter_records_two_matters_prints_the_receipt_and_sees_the_rates_change(
    browser_context, hall_server
):
    url = hall_server.url
    errors: list[str] = []
    page = browser_context.new_page()
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.set_viewport_size({"width": 1366, "height": 900})
    page.goto(f"{url}/counter/")
    page.fill("#username", "staff1")
    page.fill("#password", hall_server.passwords["staff1"])
    page.press("#password", "Enter")
    page.wait_for_url(f"{url}/counter/")
    page.click("form[action$='/demo/3/open'] button[type=submit]")
    page.wait_for_url(f"{url}/counter/demo/3")
    page.wait_for_selector("#live-status.ct-live-live")
    rate = "#window-rates [data-rate=on_the_spot_rate]"
    assert text_of(page, f"{rate} .ct-rate-value") == "—"  # nothing handled yet today
    assert "您没有未办结的受理件" in text_of(page, "#my-cases")

    ticket = kiosk_issues(hall_server, "GA-001")  # 居民身份证申领: a promised matter, 20 days
    page.wait_for_function(
        "document.querySelector('li[data-queue=B] [data-count]').textContent.trim() === '1'"
    )
    page.keyboard.press("n")
    page.wait_for_function(
        f"document.querySelector('#current-number').textContent.trim() === '{ticket['number']}'"
    )

    page.keyboard.press("f")  # the finish panel, the ticket's own matter first
    page.wait_for_selector("#finish-dialog[open]")
    rows = page.locator("#finish-rows .ct-oc-row")
    assert rows.count() == 1 and rows.nth(0).get_attribute("data-code") == "GA-001"
    page.wait_for_selector(
        "#finish-rows .ct-oc-row [data-list=received] input[type=checkbox]", state="attached"
    )
    page.keyboard.press("2")  # 受理: the name field has the focus
    page.keyboard.type("张小三")
    page.keyboard.press("Tab")
    page.keyboard.type("138-0000-111x")  # a slip of the finger: the server will refuse it
    received = rows.nth(0).locator("[data-list=received] input[type=checkbox]")
    assert received.count() >= 2 and all(
        received.nth(i).is_checked() for i in range(received.count())
    )

    page.click("#matter-search")  # a second matter, found by its pinyin initials
    page.keyboard.type("csdj")
    page.wait_for_selector("#matter-results li[data-code=GA-004]")
    page.keyboard.press("Enter")
    page.wait_for_function("document.querySelectorAll('#finish-rows .ct-oc-row').length === 2")
    assert rows.nth(1).get_attribute("data-code") == "GA-004"  # 出生登记, an immediate matter
    page.keyboard.press("1")  # 当场办结
    page.keyboard.press("Enter")  # save: refused, shown in the panel, nothing typed is lost
    page.wait_for_selector("#finish-error:not([hidden])")
    problem = text_of(page, "#finish-error")
    assert problem.startswith("居民身份证申领：第 1 项办理结果：电话号码只能包含数字")
    assert "phone number" in problem
    assert page.is_visible("#finish-dialog") and rows.count() == 2
    phone = rows.nth(0).locator("[data-field=applicant_phone]")
    assert phone.get_attribute("aria-invalid") == "true"  # marked, and it has the focus
    assert page.evaluate("document.activeElement.dataset.field") == "applicant_phone"
    assert rows.nth(0).locator("[data-field=applicant_name]").input_value() == "张小三"
    assert phone.input_value() == "138-0000-111x"
    assert rows.nth(1).locator("input[value=on_the_spot]").is_checked()
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "counter-finish-panel-error.png"))
    phone.fill("13800001111")
    phone.press("Enter")  # save again

    page.wait_for_selector("#finish-result:not([hidden]) a[data-document=receipt]")
    assert not page.is_visible("#finish-dialog")
    assert text_of(page, "#messages p") == f"{ticket['number']} 已办结。"
    with hall_server.app.app_context():
        cases = {
            c.outcome: c
            for c in db.session.scalars(sa.select(Case).where(Case.ticket_id == ticket["id"]))
        }
        accepted, spot = cases["accepted"], cases["on_the_spot"]
        assert accepted.matter.code == "GA-001" and spot.matter.code == "GA-004"
        assert (accepted.applicant_name, accepted.applicant_phone) == ("张小三", "13800001111")
        number, due = accepted.number, accepted.due_date
    result = text_of(page, "#finish-result")
    assert number in result and f"到期日 {due.isoformat()}" in result and "当场办结" in result
    assert page.is_visible("#finish-result a[data-document=completion]")

    # the window's rates of today changed: one of two handled cases was done on the spot
    page.wait_for_function(
        f"document.querySelector('{rate} .ct-rate-value').textContent.trim() === '50.0%'"
    )
    formula = text_of(page, f"{rate} .ct-rate-formula")
    assert formula.startswith("当场办结率 = 当场办结件数 ÷") and page.is_visible(
        f"{rate} .ct-rate-formula"
    )
    my_case = page.locator(f"#my-cases tr[data-number='{number}']")
    assert due.isoformat() in my_case.inner_text() and "张*三" in my_case.inner_text()
    page.screenshot(path=str(ARTIFACTS / "counter-after-finish.png"), full_page=True)

    # one click on 受理回执 opens the PDF in a new tab
    link = page.locator("#finish-result a[data-document=receipt]")
    assert link.get_attribute("target") == "_blank"
    with browser_context.expect_page() as opened:
        link.click()
    tab = opened.value
    href = link.get_attribute("href")
    assert tab.url.endswith(href) or tab.url == "about:blank"
    response = browser_context.request.get(f"{url}{href}")  # what the tab was given
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    text = "".join(p.extract_text() for p in PdfReader(io.BytesIO(response.body())).pages)
    text = re.sub(r"\s+", "", text)
    assert number in text
    assert f"{due.year}年{due.month}月{due.day}日" in text
    assert errors == []
