"""Cases in the JSON API: outcomes at finish (all or nothing), the case list with its
deadline colours, one case, pause, resume, complete — names and phones always masked, bad
input a 4xx JSON answer, never a 500."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from hall.auth import add_user
from hall.domain import cases, tickets
from hall.domain.tickets import Actor
from hall.extensions import db
from hall.models import Case, Hall, Ticket, User
from tests.conftest import _token, auth, dispose, load_demo, make_app, open_windows

NUMBER = re.compile(r"DEMO-\d{8}-\d{4}")


def post(client, url, token, json=None):
    return client.post(url, json=json, headers=auth(token))


def get(client, url, token):
    return client.get(url, headers=auth(token))


def called_ticket(client, staff_token, kiosk_token, window=3, queue="B") -> dict:
    """A ticket issued at the kiosk and called at the window through the API."""
    post(client, f"/api/v1/halls/demo/windows/{window}/status", staff_token, {"status": "open"})
    ticket = post(client, "/api/v1/tickets", kiosk_token, {"hall": "demo", "queue": queue}).json
    called = post(client, f"/api/v1/halls/demo/windows/{window}/call-next", staff_token)
    assert called.json["ticket"]["id"] == ticket["id"]
    return ticket


TWO_MATTERS = [
    {
        "matter": "GA-004",
        "outcome": "on_the_spot",
        "applicant_name": "张小三",
        "applicant_phone": "13800000000",
    },
    {
        "matter": "GA-003",
        "outcome": "accepted",
        "applicant_name": "张小三",
        "applicant_phone": "13800000000",
        "materials_received": [{"name": "户口簿", "note": "原件"}, "照片"],
    },
]


def test_finish_records_each_matter_and_answers_with_masked_cases(
    app, client, staff_token, kiosk_token
):
    ticket = called_ticket(client, staff_token, kiosk_token)
    finished = post(
        client,
        f"/api/v1/tickets/{ticket['id']}/finish",
        staff_token,
        {"window": 3, "outcomes": TWO_MATTERS},
    )
    assert finished.status_code == 200, finished.json
    assert finished.json["ticket"]["status"] == "finished"
    spot, accepted = finished.json["cases"]
    assert NUMBER.fullmatch(spot["number"]) and NUMBER.fullmatch(accepted["number"])
    assert int(accepted["number"][-4:]) == int(spot["number"][-4:]) + 1
    assert (spot["status"], spot["outcome"], spot["deadline_state"]) == (
        "completed",
        "on_the_spot",
        "none",
    )
    assert accepted["status"] == "open" and accepted["due_date"] > accepted["accepted_on"]
    assert accepted["deadline_state"] == "ok" and accepted["colour"] == "green"
    assert accepted["applicant_name"] == "张*三" and accepted["applicant_phone"] == "138****0000"
    assert accepted["materials_received"][1] == {"name": "照片", "note": ""}
    text = finished.get_data(as_text=True)
    assert "张小三" not in text and "13800000000" not in text
    shown = get(client, f"/api/v1/cases/{accepted['number']}", staff_token)
    assert shown.status_code == 200 and shown.json["case"]["applicant_name"] == "张*三"
    assert "张小三" not in shown.get_data(as_text=True)


def test_a_bad_outcome_leaves_the_ticket_unfinished_and_takes_no_number(
    app, client, staff_token, kiosk_token
):
    ticket = called_ticket(client, staff_token, kiosk_token)
    url = f"/api/v1/tickets/{ticket['id']}/finish"
    bad = [TWO_MATTERS[1], {"matter": "GA-001", "outcome": "correction"}]
    refused = post(client, url, staff_token, {"window": 3, "outcomes": bad})
    assert refused.status_code == 400
    assert refused.json["error"] == "bad_outcome" and refused.json["detail"]["index"] == 1
    assert "补正" in refused.json["message"] and refused.json["message_en"].startswith("Outcome 2")
    with app.app_context():
        assert db.session.get(Ticket, ticket["id"]).status == "called"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0
    good = [
        TWO_MATTERS[1],
        {"matter": "GA-001", "outcome": "correction", "missing_materials": ["照片"]},
    ]
    done = post(client, url, staff_token, {"window": 3, "outcomes": good})
    assert done.status_code == 200
    assert [c["number"][-4:] for c in done.json["cases"]] == ["0001", "0002"]


def test_finish_without_outcomes_still_works(client, staff_token, kiosk_token):
    ticket = called_ticket(client, staff_token, kiosk_token)
    done = post(client, f"/api/v1/tickets/{ticket['id']}/finish", staff_token, {"window": 3})
    assert done.status_code == 200 and done.json["cases"] == []


def test_overdue_cases_are_listed_red_and_filtered_by_window_and_staff(app, client, staff_token):
    open_windows(app, 3)
    with app.app_context():
        staff1 = db.session.scalar(sa.select(User).where(User.username == "staff1"))
        actor = Actor(user_id=staff1.id, hall_id=staff1.hall_id)
        for when, code in ((datetime(2026, 9, 1, 3, tzinfo=UTC), "GA-003"), (None, "GA-001")):
            ticket = tickets.issue(db.session, "demo", queue_prefix="B")
            tickets.call_next(db.session, "demo", 3, actor=actor)
            tickets.finish(db.session, ticket.id, window_number=3, actor=actor)
            outcome = cases.OutcomeInput(code, "accepted", applicant_name="李四")
            cases.record_outcomes(db.session, ticket, [outcome], actor=actor, now=when)
        db.session.commit()
    running = get(client, "/api/v1/cases", staff_token)
    assert running.status_code == 200 and running.json["count"] == 2
    assert running.json["warn_days"] == 2 and running.json["hall"] == "demo"
    late, fresh = running.json["cases"]  # due first
    assert (late["deadline_state"], late["colour"]) == ("overdue", "red")
    assert late["working_days_left"] < 0 and late["applicant_name"] == "李*"
    assert fresh["colour"] == "green"
    overdue = get(client, "/api/v1/cases?overdue=1", staff_token).json
    assert [c["number"] for c in overdue["cases"]] == [late["number"]]
    assert get(client, "/api/v1/cases?window=3&staff=me", staff_token).json["count"] == 2
    assert get(client, "/api/v1/cases?window=4", staff_token).json["count"] == 0
    assert get(client, "/api/v1/cases?staff=staff2", staff_token).json["count"] == 0
    assert get(client, "/api/v1/cases?status=completed", staff_token).json["count"] == 0
    assert get(client, "/api/v1/cases?status=all&limit=1", staff_token).json["count"] == 1


# ---------------------------------------------------------------- SQLite only


@pytest.fixture
def sqlite_demo(sqlite_url):
    application = make_app(sqlite_url)
    load_demo(application)
    yield application
    dispose(application)


@pytest.fixture
def sq_client(sqlite_demo):
    return sqlite_demo.test_client()


@pytest.fixture
def tokens(sqlite_demo) -> dict[str, str]:
    return {
        "staff1": _token(sqlite_demo, username="staff1"),
        "staff2": _token(sqlite_demo, username="staff2"),
        "manager": _token(sqlite_demo, username="manager"),
        "kiosk": _token(sqlite_demo, device_kind="kiosk", hall_code="demo"),
    }


def accepted_case(client, tokens) -> str:
    """The number of a case accepted today at window 3 by staff1."""
    ticket = called_ticket(client, tokens["staff1"], tokens["kiosk"])
    done = post(
        client,
        f"/api/v1/tickets/{ticket['id']}/finish",
        tokens["staff1"],
        {"window": 3, "outcomes": [{"matter": "GA-003", "outcome": "accepted"}]},
    )
    return done.json["cases"][0]["number"]


def test_pause_resume_and_complete_through_the_api(sq_client, tokens):
    number = accepted_case(sq_client, tokens)
    base = f"/api/v1/cases/{number}"
    staff = tokens["staff1"]
    paused = post(sq_client, f"{base}/pause", staff, {"kind": "correction", "reason": "补交照片"})
    assert paused.status_code == 200, paused.json
    case = paused.json["case"]
    assert case["status"] == "paused" and case["due_date"] is None
    assert case["pauses"][0]["kind_label"] == "补正材料" and case["deadline_state"] == "none"
    again = post(sq_client, f"{base}/pause", staff, {"kind": "special", "reason": "鉴定"})
    assert again.status_code == 409 and again.json["error"] == "case_paused"
    early = post(sq_client, f"{base}/complete", staff, {"result": "办结"})
    assert early.status_code == 409 and "恢复计时" in early.json["message"]
    resumed = post(sq_client, f"{base}/resume", staff)
    assert resumed.status_code == 200 and resumed.json["case"]["due_date"]
    done = post(sq_client, f"{base}/complete", staff, {"result": "准予迁入"})
    assert done.status_code == 200
    assert done.json["case"]["status"] == "completed" and done.json["case"]["timing"] == "early"
    twice = post(sq_client, f"{base}/complete", staff, {})
    assert twice.status_code == 409 and "已办结" in twice.json["message"]
    listed = get(sq_client, "/api/v1/cases?status=completed", staff).json
    assert [c["number"] for c in listed["cases"]] == [number]
    by_id = get(sq_client, f"/api/v1/cases/{done.json['case']['id']}", staff)
    assert by_id.json["case"]["number"] == number


def test_consultations_have_no_number_but_can_be_read_by_id(sq_client, tokens):
    ticket = called_ticket(sq_client, tokens["staff1"], tokens["kiosk"])
    done = post(
        sq_client,
        f"/api/v1/tickets/{ticket['id']}/finish",
        tokens["staff1"],
        {"window": 3, "outcomes": [{"matter": "GA-003", "outcome": "consultation"}]},
    )
    (case,) = done.json["cases"]
    assert case["number"] is None and case["status"] == "closed"
    assert "documents" not in case
    shown = get(sq_client, f"/api/v1/cases/{case['id']}", tokens["staff1"])
    assert shown.json["case"]["outcome_label"] == "咨询"


def test_case_rights_follow_role_and_hall(sqlite_demo, sq_client, tokens):
    number = accepted_case(sq_client, tokens)
    base = f"/api/v1/cases/{number}"
    stranger = post(
        sq_client, f"{base}/pause", tokens["staff2"], {"kind": "special", "reason": "x"}
    )
    assert stranger.status_code == 403 and stranger.json["error"] == "not_your_case"
    kiosk = get(sq_client, base, tokens["kiosk"])
    assert kiosk.status_code == 403
    assert sq_client.get(base).status_code == 401
    managed = post(
        sq_client, f"{base}/pause", tokens["manager"], {"kind": "special", "reason": "x"}
    )
    assert managed.status_code == 200
    with sqlite_demo.app_context():
        east = Hall(code="east", name="东街道便民服务中心", timezone="Asia/Shanghai", seq=0)
        db.session.add(east)
        db.session.flush()
        add_user(db.session, "east1", "password-east", role="staff", hall=east)
        db.session.commit()
    east_token = _token(sqlite_demo, username="east1")
    elsewhere = get(sq_client, base, east_token)
    assert elsewhere.status_code == 403 and elsewhere.json["error"] == "other_hall"
    assert post(sq_client, f"{base}/resume", east_token).status_code == 403
    assert get(sq_client, "/api/v1/cases", east_token).json["count"] == 0
    other = get(sq_client, "/api/v1/cases?hall=east", tokens["staff1"])
    assert other.status_code == 403 and other.json["error"] == "other_hall"


# (finish body, status, error code): each refused, the ticket left as it was
BAD_FINISHES = [
    ({"window": 3, "outcomes": "GA-003"}, 400, "bad_field"),
    ({"window": 3, "outcomes": [1]}, 400, "bad_outcome"),
    ({"window": 3, "outcomes": [{"matter": "GA-003"}]}, 400, "bad_outcome"),
    ({"window": 3, "outcomes": [{"matter": ["x"], "outcome": "accepted"}]}, 400, "bad_outcome"),
    (
        {"window": 3, "outcomes": [{"matter": "NOPE", "outcome": "accepted"}]},
        400,
        "bad_outcome",
    ),
    (
        {"window": 3, "outcomes": [{"matter": "GA-004", "outcome": "accepted"}]},
        400,
        "bad_outcome",
    ),
    (
        {"window": 3, "outcomes": [{"matter": "GA-001", "outcome": "rejected"}]},
        400,
        "bad_outcome",
    ),
    (
        {"window": 3, "outcomes": [{"matter": "GA-003", "outcome": "accepted"}] * 11},
        400,
        "too_many_outcomes",
    ),
    (
        {
            "window": 3,
            "outcomes": [
                {"matter": "GA-003", "outcome": "accepted", "materials_received": [{"x": 1}]}
            ],
        },
        400,
        "bad_outcome",
    ),
    ({"window": 4, "outcomes": []}, 409, "other_window"),
]


def test_bad_finish_bodies_are_refused_and_finish_nothing(sqlite_demo, sq_client, tokens):
    ticket = called_ticket(sq_client, tokens["staff1"], tokens["kiosk"])
    url = f"/api/v1/tickets/{ticket['id']}/finish"
    for payload, status, code in BAD_FINISHES:
        refused = post(sq_client, url, tokens["staff1"], payload)
        assert (refused.status_code, refused.json["error"]) == (status, code), payload
        assert refused.json["message"] and refused.json["message_en"]
    with sqlite_demo.app_context():
        assert db.session.get(Ticket, ticket["id"]).status == "called"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


# (method, url — {n} a running case's number —, body, status)
BAD_CASE_REQUESTS = [
    ("get", "/api/v1/cases/DEMO-20260101-0001", None, 404),
    ("get", "/api/v1/cases/999999", None, 404),
    ("get", "/api/v1/cases/99999999999999999999", None, 404),
    ("get", "/api/v1/cases?overdue=maybe", None, 400),
    ("get", "/api/v1/cases?window=x", None, 400),
    ("get", "/api/v1/cases?window=99", None, 404),
    ("get", "/api/v1/cases?status=lost", None, 400),
    ("get", "/api/v1/cases?limit=0", None, 400),
    ("get", "/api/v1/cases?staff=nobody", None, 400),
    ("get", "/api/v1/cases?hall=nowhere", None, 404),
    ("post", "/api/v1/cases/NOPE/complete", {}, 404),
    ("post", "/api/v1/cases/NOPE/resume", {}, 404),
    ("post", "/api/v1/cases/{n}/pause", {"kind": "holiday", "reason": "x"}, 400),
    ("post", "/api/v1/cases/{n}/pause", {"kind": "special"}, 400),
    ("post", "/api/v1/cases/{n}/pause", {"kind": "special", "reason": 5}, 400),
    ("post", "/api/v1/cases/{n}/pause", {"kind": "special", "reason": "x", "on": "9/30"}, 400),
    ("post", "/api/v1/cases/{n}/pause", {"kind": "special", "reason": "x", "on": 7}, 400),
    (
        "post",
        "/api/v1/cases/{n}/pause",
        {"kind": "special", "reason": "x", "on": "2999-01-01"},
        400,
    ),
    ("post", "/api/v1/cases/{n}/resume", {"on": "2026-02-30"}, 400),
    ("post", "/api/v1/cases/{n}/resume", {}, 409),
    ("post", "/api/v1/cases/{n}/complete", {"result": ["x"]}, 400),
    ("post", "/api/v1/cases/{n}/complete", {"result": "x" * 3000}, 400),
    ("post", "/api/v1/cases/{n}/complete", [1], 400),
    ("delete", "/api/v1/cases/{n}", None, 405),
]


def test_bad_case_requests_never_answer_500(sq_client, tokens):
    number = accepted_case(sq_client, tokens)
    for method, url, payload, status in BAD_CASE_REQUESTS:
        url = url.replace("{n}", number)
        response = getattr(sq_client, method)(url, json=payload, headers=auth(tokens["staff1"]))
        assert response.status_code == status, (url, payload, response.get_data(as_text=True))
        assert response.is_json and response.json["error"]
    shown = get(sq_client, f"/api/v1/cases/{number}", tokens["staff1"]).json["case"]
    assert shown["status"] == "open" and shown["pauses"] == []


def test_openapi_documents_the_cases_and_the_outcomes_at_finish(sq_client):
    doc = sq_client.get("/api/v1/openapi.json").json
    for path in (
        "/cases",
        "/cases/{number}",
        "/cases/{number}/pause",
        "/cases/{number}/resume",
        "/cases/{number}/complete",
    ):
        assert path in doc["paths"]
    finish = doc["paths"]["/tickets/{id}/finish"]["post"]
    body = finish["requestBody"]["content"]["application/json"]["schema"]
    assert "outcomes" in body["properties"]
    assert "Case" in doc["components"]["schemas"]


def test_cases_link_their_printable_documents_when_casedocs_prints_them(sqlite_url):
    application = make_app(sqlite_url)
    for endpoint, rule in (
        ("casedocs.document", "/test-casedocs/<number>/<kind>.pdf"),
        ("casedocs.verify", "/test-casedocs/v/<token>"),
    ):
        if endpoint not in application.view_functions:  # the printing helper is not there yet
            application.add_url_rule(rule, endpoint=endpoint, view_func=lambda **_: "")
    load_demo(application)
    client = application.test_client()
    tokens = {
        "staff1": _token(application, username="staff1"),
        "kiosk": _token(application, device_kind="kiosk", hall_code="demo"),
    }
    try:
        ticket = called_ticket(client, tokens["staff1"], tokens["kiosk"])
        outcomes = [
            {"matter": "GA-003", "outcome": "accepted"},
            {"matter": "GA-001", "outcome": "correction", "missing_materials": ["照片"]},
            {"matter": "GA-002", "outcome": "rejected", "reason": "不符合受理条件"},
            {"matter": "GA-004", "outcome": "on_the_spot"},
        ]
        done = post(
            client,
            f"/api/v1/tickets/{ticket['id']}/finish",
            tokens["staff1"],
            {"window": 3, "outcomes": outcomes},
        ).json["cases"]
        kinds = [[d["kind"] for d in case["documents"]] for case in done]
        assert kinds == [["receipt"], ["correction"], ["rejection"], ["completion"]]
        for case in done:
            assert all(case["number"] in d["url"] for d in case["documents"])
            assert case["verify_url"].startswith("http")
        completed = post(
            client, f"/api/v1/cases/{done[0]['number']}/complete", tokens["staff1"], {}
        ).json["case"]
        assert [d["kind"] for d in completed["documents"]] == ["receipt", "completion"]
    finally:
        dispose(application)
