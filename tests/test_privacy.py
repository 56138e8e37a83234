"""Personal data (issue 7): applicants' phone and ID numbers masked on every screen, receipt,
export and log line (138****0000, 110***********1234), never in a URL; tracking and
verification tokens of at least 128 bits from `secrets`, never logged beside a phone.

The suite-wide check lives in tests/pii.py (wired in tests/conftest.py): every response and
log record of the run is scanned, and the run fails on an unmasked number. The tests here
prove that scan catches a number in each kind of output, and walk one case through every
place that shows its applicant.
"""

from __future__ import annotations

import io
import json
import logging
import re
import secrets
import urllib.request
from datetime import timedelta
from pathlib import Path

import openpyxl
import pytest
import sqlalchemy as sa
from reportlab.pdfgen.canvas import Canvas

from hall import privacy
from hall.domain import board
from hall.domain import tickets as ticket_rules
from hall.domain.cases import mask_id_number, mask_name, mask_phone
from hall.extensions import db
from hall.models import Case, Ticket
from printouts.font import cjk_font
from tests import pii
from tests.conftest import PII, _token, auth
from tests.test_cases_api import called_ticket, get, post
from tests.test_counter import sign_in

ROOT = Path(__file__).resolve().parent.parent
# the applicant of these tests; the phone is one of the numbers tests/pii.py looks for
NAME, PHONE, MASKED = "李小明", "13700001234", "137****1234"
ID_NUMBER, MASKED_ID = "110101199001011234", "110***********1234"
ANY_PHONE = re.compile(r"1[3-9][0-9](?:\*{4}|[0-9]{4})[0-9]{4}")  # masked or not


# ---------------------------------------------------------------- masking rules


@pytest.mark.parametrize(
    ("mask", "value", "shown"),
    [
        (mask_phone, "13800000000", "138****0000"),
        (mask_phone, "138****0000", "138****0000"),  # masking twice changes nothing
        (mask_id_number, ID_NUMBER, MASKED_ID),
        (mask_id_number, "11010119900101123X", "110***********123X"),
        (mask_id_number, MASKED_ID, MASKED_ID),
        (mask_id_number, "12345", "***45"),
        (mask_id_number, "", ""),
        (mask_name, NAME, "李*明"),
    ],
)
def test_the_masks(mask, value, shown):
    assert mask(value) == shown


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"applicant {PHONE}, id {ID_NUMBER}.", f"applicant {MASKED}, id {MASKED_ID}."),
        ("+8613700001234", f"+86{MASKED}"),
        ("call 137 0000 1234 or 137-0000-1234", f"call {MASKED} or {MASKED}"),
        ("ID 11010119900101123x", "ID 110***********123x"),
        # not personal numbers: longer or shorter runs, ms timestamps, ticket ids
        ("1713700001234 2147483647 12345 0571-12345678", None),
        ("180020095060814992506880", None),
        ("ratios 0.038901601830663615 0.13800000000", None),  # decimals of fractions
    ],
)
def test_mask_text_masks_mobile_and_id_numbers_only(text, shown):
    assert privacy.mask_text(text) == (shown if shown is not None else text)


# ---------------------------------------------------------------- log lines


def test_every_log_line_is_masked_also_exceptions_and_other_libraries(caplog):
    privacy.install()  # create_app does it; twice is once
    privacy.install()
    caplog.set_level(logging.INFO)
    logging.getLogger("hall.test").info("outcome for %s, phone %s", NAME, PHONE)
    logging.getLogger("some.library").warning(f"row ({ID_NUMBER}, '{PHONE}') refused")
    try:
        raise ValueError(f"duplicate key (applicant_phone)=({PHONE})")
    except ValueError:
        logging.getLogger("hall.test").exception("unhandled error")
    text = caplog.text
    assert PHONE not in text and ID_NUMBER not in text
    assert f"phone {MASKED}" in text and f"row ({MASKED_ID}, '{MASKED}')" in text
    assert f"duplicate key (applicant_phone)=({MASKED})" in text  # the traceback too
    assert all(PHONE not in r.getMessage() for r in caplog.records)


def test_the_filter_masks_a_record_made_elsewhere():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "tel %s", (PHONE,), None)
    assert privacy.PersonalDataFilter().filter(record) is True
    assert record.getMessage() == f"tel {MASKED}"


def test_create_app_installs_the_masking(app):
    assert getattr(logging.getLogRecordFactory(), "hall_privacy", False)
    assert any(isinstance(f, privacy.PersonalDataFilter) for f in app.logger.filters)


# ---------------------------------------------------------------- the suite-wide check


def _pdf_with(text: str) -> bytes:
    """A PDF drawn in the CJK font of the printouts (subset glyph codes, compressed)."""
    buffer = io.BytesIO()
    canvas = Canvas(buffer)
    canvas.setFont(cjk_font(), 12)
    canvas.drawString(72, 720, text)
    canvas.save()
    return buffer.getvalue()


def _xlsx_with(text: str) -> bytes:
    book = openpyxl.Workbook()
    book.active["A1"] = "申请人电话"
    book.active["B1"] = text
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "body",
    [
        f"<td>{NAME} <span>{PHONE}</span></td>".encode(),
        json.dumps({"applicant_phone": PHONE}).encode(),
        f"编号,申请人,电话\r\nDEMO-1,{NAME},{PHONE}\r\n".encode("utf-8-sig"),
        f"身份证号 {ID_NUMBER}".encode(),
        b"tel: 137 0000 1234",
        b"+8613912345678",
        b"id=0013800001111",  # a number the tests type in, even inside longer digits
    ],
    ids=["html", "json", "csv", "id-number", "spaced", "plus86", "known"],
)
def test_the_scan_catches_an_unmasked_number_in_any_body(body):
    assert pii.scan(body)
    masked = privacy.mask_text(body.decode("utf-8-sig")).encode()
    if b"0013800001111" not in body:
        assert pii.scan(masked) == []


def test_the_scan_passes_masked_numbers_and_fractions():
    page = f'<td>{MASKED}</td><td>{MASKED_ID}</td><i data-v="0.038901601830663615">'.encode()
    assert pii.scan(page) == [] and pii.scan(b'{"rate": 0.13800001111}') != []  # known one


def test_the_scan_reads_pdfs_and_spreadsheets():
    leaking = _pdf_with(f"申请人：{NAME} 联系电话：{PHONE}")
    assert PHONE.encode() not in leaking  # the raw bytes do not show it: the text does
    assert pii.scan(leaking) == [PHONE]
    assert pii.scan(_pdf_with(f"申请人：{NAME} 联系电话：{MASKED}")) == []
    assert pii.scan(_xlsx_with(PHONE)) == [PHONE]
    assert pii.scan(_xlsx_with(MASKED)) == []


def test_the_collector_records_a_leaking_response_and_log_line(app):
    """A fresh collector (not the session's: no real leak is left in the run)."""
    collector = pii.Collector(test="fake")
    with app.test_request_context("/counter/demo/3"):
        collector.response(app, app.response_class(f"<td>{PHONE}</td>"))
        collector.response(app, app.response_class(f"<td>{MASKED}</td>"))
    assert len(collector.leaks) == 1 and "GET /counter/demo/3" in collector.leaks[0]
    scanner = pii.LogScanner(collector)  # a record not made by the (masking) factory
    scanner.emit(logging.LogRecord("x", logging.INFO, __file__, 1, "tel %s", (PHONE,), None))
    assert len(collector.leaks) == 2 and "log line" in collector.leaks[1]
    assert collector.counts["body"] == 2 and collector.counts["log"] == 1
    assert "2 unmasked" in collector.summary()


def test_the_numbers_the_tests_type_in_are_looked_for():
    assert {PHONE, "13800000000", "13800001111", "13812345678"} <= pii.known_numbers()


# ---------------------------------------------------------------- one case, everywhere


def test_the_applicant_is_masked_on_every_screen_receipt_and_export(
    app, client, demo, staff_token, kiosk_token
):
    before = dict(PII.counts)
    ticket = called_ticket(client, staff_token, kiosk_token)
    outcome = {
        "matter": "GA-003",
        "outcome": "accepted",
        "applicant_name": NAME,
        "applicant_phone": PHONE,
    }
    finished = post(
        client, f"/api/v1/tickets/{ticket['id']}/finish", staff_token, {"outcomes": [outcome]}
    )
    assert finished.status_code == 200, finished.json
    (case,) = finished.json["cases"]
    number = case["number"]
    with app.app_context():  # overdue, so the report's overdue list has it too
        row = db.session.scalar(sa.select(Case).where(Case.number == number))
        today = board.service_day(row.hall)
        row.due_date = today - timedelta(days=10)
        db.session.commit()

    def shows_masked(body: bytes, where: str, *, full_name=False, listed=True) -> None:
        text = pii.readable(body)[1].decode("utf-8", "replace")
        assert PHONE not in text and (MASKED in text) == listed, where
        assert (NAME in text) == (full_name and listed), where
        assert pii.scan(body) == [], where

    staff = client.application.test_client()
    assert sign_in(staff, "staff1", demo["staff1"]).status_code == 302
    manager = client.application.test_client()
    assert sign_in(manager, "manager", demo["manager"]).status_code == 302
    period = {"from": today.isoformat(), "to": today.isoformat()}
    shows_masked(finished.data, "finish answer")
    shows_masked(get(client, f"/api/v1/cases/{number}", staff_token).data, "API case")
    shows_masked(get(client, "/api/v1/cases?hall=demo", staff_token).data, "API list")
    overdue = get(client, "/api/v1/cases?hall=demo&overdue=1", staff_token)
    assert overdue.json["count"] == 1
    shows_masked(overdue.data, "API overdue")
    shows_masked(staff.get("/counter/demo/3").data, "counter page")
    shows_masked(manager.get("/manage/demo/cases").data, "manager's case list")
    receipt = get(client, f"/cases/{number}/receipt.pdf", staff_token)
    assert receipt.status_code == 200
    shows_masked(receipt.data, "receipt.pdf", full_name=True)  # the paper is theirs
    for kind in ("csv", "xlsx", "pdf"):
        export = manager.get("/manage/demo/reports/export", query_string={**period, "format": kind})
        assert export.status_code == 200, kind
        # the CSV is the table of rates only; the xlsx and the PDF list the overdue cases
        shows_masked(export.data, f"report.{kind}", listed=kind != "csv")
    reports = client.get(
        "/api/v1/reports", query_string=period, headers=auth(_token(app, username="manager"))
    )
    shows_masked(reports.data, "API report")
    # the public verification page: the name masked, no phone at all
    page = client.get(case["verify_url"].removeprefix("http://localhost"))
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "李*明" in html and NAME not in html and not ANY_PHONE.search(html)
    # and the session's collector saw all of it
    assert PII.counts["body"] > before["body"] and PII.counts["pdf"] >= before["pdf"] + 2
    assert PII.counts["zip"] > before["zip"]


def test_no_url_carries_personal_data(app):
    """No route or query parameter takes a phone, a name or an ID number: searches by them
    would put them in access logs and browser histories."""
    words = re.compile(r"phone|applicant|name|id_number|idcard|身份证|电话", re.I)
    for rule in app.url_map.iter_rules():
        assert not (set(rule.arguments) & {"phone", "applicant", "name", "id_number"}), rule
    wanted = re.compile(r"""args\.get(?:list)?\(\s*["']([^"']+)["']""")
    for folder in ("hall", "kiosk", "display"):
        for path in (ROOT / folder).rglob("*.py"):
            for key in wanted.findall(path.read_text(encoding="utf-8")):
                assert not words.search(key), f"{path}: ?{key}="
    script = (ROOT / "hall/static/counter/outcomes.js").read_text(encoding="utf-8")
    assert not re.search(r"[?&](?:applicant|phone)", script)  # posted as JSON, never a URL


# ---------------------------------------------------------------- tokens


def test_tracking_and_verification_tokens_have_128_bits_from_secrets(
    app, client, monkeypatch, staff_token, kiosk_token
):
    asked: list[int] = []
    real = secrets.token_urlsafe

    def spy(nbytes=None):
        asked.append(nbytes)
        return real(nbytes)

    monkeypatch.setattr(secrets, "token_urlsafe", spy)
    assert ticket_rules.TOKEN_BYTES >= 16
    ticket = called_ticket(client, staff_token, kiosk_token)
    outcome = {"matter": "GA-003", "outcome": "accepted", "applicant_phone": PHONE}
    finished = post(
        client, f"/api/v1/tickets/{ticket['id']}/finish", staff_token, {"outcomes": [outcome]}
    )
    assert finished.status_code == 200
    with app.app_context():
        track = db.session.get(Ticket, ticket["id"]).token
        verify = db.session.scalar(sa.select(Case.verify_token))
    assert len(asked) >= 2 and all(n >= 16 for n in asked)  # 16 bytes: 128 bits
    for token in (track, verify):
        assert len(token) >= 22 and re.fullmatch(r"[A-Za-z0-9_-]+", token)
    assert ticket["token"] == track and len(track) == 22


def _call(url: str, token: str | None = None, data: dict | None = None) -> dict:
    request = urllib.request.Request(
        url,
        data=json.dumps(data).encode() if data is not None else None,
        headers={"Content-Type": "application/json", **(auth(token) if token else {})},
        method="POST" if data is not None else "GET",
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        body = answer.read()
    return json.loads(body) if body.startswith(b"{") else {"html": body.decode()}


def test_tokens_are_never_logged_beside_a_phone(live_server, caplog):
    """Served for real (werkzeug's access log on): a ticket issued, finished with a phone,
    its tracking page and its case's verification page read; no INFO line has a token and
    a phone, masked or not."""
    caplog.set_level(logging.INFO)
    url, app = live_server.url, live_server.app
    staff = _token(app, username="staff1")
    kiosk = _token(app, device_kind="kiosk", hall_code="demo")
    _call(f"{url}/api/v1/halls/demo/windows/3/status", staff, {"status": "open"})
    ticket = _call(f"{url}/api/v1/tickets", kiosk, {"hall": "demo", "queue": "B"})
    _call(f"{url}/api/v1/halls/demo/windows/3/call-next", staff, {})
    outcome = {"matter": "GA-003", "outcome": "accepted", "applicant_phone": PHONE}
    case = _call(f"{url}/api/v1/tickets/{ticket['id']}/finish", staff, {"outcomes": [outcome]})
    (case,) = case["cases"]
    _call(f"{url}/t/{ticket['token']}")
    verify = re.sub(r"^https?://[^/]+", url, case["verify_url"])
    assert NAME not in _call(verify)["html"]
    lines = [record.getMessage() for record in caplog.records]
    assert any(f"/t/{ticket['token']}" in line for line in lines)  # the access log is on
    for line in lines:
        assert PHONE not in line, line
        if ticket["token"] in line or verify.rsplit("/", 1)[1] in line:
            assert not ANY_PHONE.search(line), line
