"""The JSON API v1: happy paths, and bad input that must get a 4xx JSON answer, never a 500."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hall.extensions import db
from hall.models import Ticket
from tests.conftest import auth, open_windows


def count_tickets(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Ticket))


def post(client, url, token, json=None, **kw):
    return client.post(url, json=json, headers=auth(token), **kw)


def test_kiosk_token_issues_a_ticket_with_position_estimate_and_links(client, kiosk_token):
    first = post(client, "/api/v1/tickets", kiosk_token, {"hall": "demo", "queue": "A"})
    second = post(client, "/api/v1/tickets", kiosk_token, {"hall": "demo", "queue": "a"})
    assert first.status_code == 201, first.json
    body = second.json
    assert body["number"] == "A002" and body["queue"] == "A" and body["status"] == "waiting"
    assert body["waiting_ahead"] == 1 and body["estimated_wait_minutes"] >= 1
    assert body["track_url"].endswith(f"/t/{body['token']}")
    assert body["slip_url"].endswith(f"/t/{body['token']}/slip.pdf")


def test_issue_by_matter_and_priority(client, kiosk_token):
    plain = post(client, "/api/v1/tickets", kiosk_token, {"hall": "demo", "matter": "BD-001"})
    green = post(
        client,
        "/api/v1/tickets",
        kiosk_token,
        {"hall": "demo", "matter": "BD-001", "priority": True},
    )
    assert plain.json["number"] == "D001" and plain.json["matter"] == "BD-001"
    assert green.json["priority"] is True and green.json["waiting_ahead"] == 0


def test_the_whole_call_cycle_through_the_api(app, client, staff_token, kiosk_token):
    post(client, "/api/v1/halls/demo/windows/3/status", staff_token, {"status": "open"})
    ticket = post(client, "/api/v1/tickets", kiosk_token, {"hall": "demo", "queue": "B"}).json
    called = post(client, "/api/v1/halls/demo/windows/3/call-next", staff_token)
    assert called.status_code == 200
    assert called.json["ticket"]["id"] == ticket["id"] and called.json["ticket"]["window"] == 3
    base = f"/api/v1/tickets/{ticket['id']}"
    assert (
        post(client, f"{base}/recall", staff_token, {"window": 3}).json["ticket"]["call_count"] == 2
    )
    assert (
        post(client, f"{base}/start", staff_token, {"window": 3}).json["ticket"]["status"]
        == "serving"
    )
    assert (
        post(client, f"{base}/finish", staff_token, {"window": 3}).json["ticket"]["status"]
        == "finished"
    )
    empty = post(client, "/api/v1/halls/demo/windows/3/call-next", staff_token)
    assert empty.status_code == 200 and empty.json == {"ticket": None}


def test_transfer_and_no_show_return_through_the_api(app, client, staff_token, kiosk_token):
    open_windows(app, 1, 7)
    t = post(client, "/api/v1/tickets", kiosk_token, {"hall": "demo", "queue": "A"}).json
    post(client, "/api/v1/halls/demo/windows/1/call-next", staff_token)
    moved = post(client, f"/api/v1/tickets/{t['id']}/transfer", staff_token, {"to_window": 7})
    assert moved.status_code == 200 and moved.json["ticket"]["target_window"] == 7
    again = post(client, "/api/v1/halls/demo/windows/7/call-next", staff_token).json["ticket"]
    assert again["number"] == "A001" and again["window"] == 7
    post(client, f"/api/v1/tickets/{t['id']}/no-show", staff_token, {"window": 7})
    back = post(client, f"/api/v1/tickets/{t['id']}/return", staff_token)
    assert back.json["ticket"]["status"] == "waiting"


def test_board_is_the_screens_snapshot(client, kiosk_token):
    post(client, "/api/v1/tickets", kiosk_token, {"hall": "demo", "queue": "C"})
    board = client.get("/api/v1/halls/demo/board").json
    assert board["hall"]["code"] == "demo" and board["seq"] >= 1
    assert {"prefix": "C", "name": "社保医保", "waiting": 1} in board["queues"]
    assert len(board["windows"]) == 8


def test_openapi_document_lists_every_route(client):
    doc = client.get("/api/v1/openapi.json").json
    assert doc["openapi"].startswith("3.")
    for path in ("/tickets", "/halls/{hall}/windows/{number}/call-next", "/tickets/{id}/transfer"):
        assert path in doc["paths"]


BAD_ISSUES = [
    ({"hall": "nowhere", "queue": "A"}, 404, "hall_not_found"),
    ({"hall": "demo", "queue": "Z"}, 404, "queue_not_found"),
    ({"hall": "demo", "matter": "NOPE"}, 404, "matter_not_found"),
    ({"hall": "demo"}, 400, "queue_required"),
    ({"queue": "A"}, 400, "missing_field"),
    ({"hall": 5, "queue": "A"}, 400, "bad_field"),
    ({"hall": "demo", "queue": "A", "priority": "yes"}, 400, "bad_field"),
    ({"hall": "demo", "queue": "A", "matter": "BD-001"}, 400, "queue_or_matter"),
    ({"hall": "demo", "queue": "A" * 500}, 400, "bad_field"),
]


@pytest.mark.parametrize(("payload", "status", "code"), BAD_ISSUES)
def test_bad_issue_requests_are_refused_and_issue_nothing(
    app, client, kiosk_token, payload, status, code
):
    response = post(client, "/api/v1/tickets", kiosk_token, payload)
    assert response.status_code == status
    assert (
        response.json["error"] == code and response.json["message"] and response.json["message_en"]
    )
    assert count_tickets(app) == 0


@pytest.mark.parametrize(
    "raw",
    [b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe\x00"],
)
def test_malformed_bodies_get_400_json(app, client, kiosk_token, raw):
    response = client.post(
        "/api/v1/tickets",
        data=raw,
        headers={**auth(kiosk_token), "Content-Type": "application/json"},
    )
    assert response.status_code == 400 and response.json["error"] == "bad_json"
    assert count_tickets(app) == 0


def test_missing_or_wrong_credentials_are_401_and_roles_403(client, kiosk_token):
    assert client.post("/api/v1/tickets", json={"hall": "demo", "queue": "A"}).status_code == 401
    wrong = client.post("/api/v1/tickets", json={}, headers=auth("hall_nonsense"))
    assert wrong.status_code == 401 and wrong.json["error"] == "bad_token"
    basic = client.post("/api/v1/tickets", json={}, headers={"Authorization": "Basic abc"})
    assert basic.status_code == 401
    kiosk_calls = post(client, "/api/v1/halls/demo/windows/1/call-next", kiosk_token)
    assert kiosk_calls.status_code == 403 and kiosk_calls.json["error"] == "forbidden"


def test_wrong_state_is_409_with_a_clear_message(app, client, staff_token, kiosk_token):
    t = post(client, "/api/v1/tickets", kiosk_token, {"hall": "demo", "queue": "A"}).json
    recall = post(client, f"/api/v1/tickets/{t['id']}/recall", staff_token)
    assert recall.status_code == 409 and recall.json["error"] == "wrong_state"
    assert "等候中" in recall.json["message"] and "waiting" in recall.json["message_en"]
    closed = post(client, "/api/v1/halls/demo/windows/2/call-next", staff_token)
    assert closed.status_code == 409 and closed.json["error"] == "window_closed"
    open_windows(app, 1, 2)
    post(client, "/api/v1/halls/demo/windows/1/call-next", staff_token)
    other = post(client, f"/api/v1/tickets/{t['id']}/finish", staff_token, {"window": 2})
    assert other.status_code == 409 and other.json["error"] == "other_window"


@pytest.mark.parametrize(
    ("method", "url", "payload", "status"),
    [
        ("post", "/api/v1/halls/demo/windows/99/call-next", None, 404),
        ("post", "/api/v1/halls/nowhere/windows/1/call-next", None, 404),
        ("post", "/api/v1/tickets/999999/finish", {}, 404),
        ("post", "/api/v1/tickets/1/explode", {}, 404),
        ("post", "/api/v1/halls/demo/windows/1/status", {"status": "dancing"}, 400),
        ("post", "/api/v1/halls/demo/windows/1/status", {}, 400),
        ("post", "/api/v1/tickets/1/transfer", {"to_window": "x"}, 400),
        ("post", "/api/v1/tickets/1/finish", {"window": True}, 400),
        ("get", "/api/v1/halls/nowhere/board", None, 404),
        ("get", "/api/v1/nothing-here", None, 404),
        ("delete", "/api/v1/tickets", None, 405),
    ],
)
def test_bad_requests_never_answer_500(client, staff_token, method, url, payload, status):
    response = getattr(client, method)(url, json=payload, headers=auth(staff_token))
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json and response.json["error"]


def test_staff_of_one_hall_cannot_act_on_another_halls_tickets(app, client, staff_token):
    from hall import realtime
    from hall.domain import tickets
    from hall.models import Hall, Queue, Window, WindowQueue

    with app.app_context():
        east = Hall(code="east", name="东街道便民服务中心", timezone="Asia/Shanghai", seq=0)
        db.session.add(east)
        db.session.flush()
        queue = Queue(hall_id=east.id, prefix="A", name="综合")
        db.session.add(queue)
        db.session.flush()
        db.session.add(
            Window(
                hall_id=east.id,
                number=1,
                name="综合",
                status="open",
                queue_links=[WindowQueue(queue_id=queue.id, position=0)],
            )
        )
        db.session.flush()
        ticket = tickets.issue(db.session, "east", queue_prefix="A")
        tickets.call_next(db.session, "east", 1)
        realtime.commit_and_publish(db.session)
        ticket_id = ticket.id
    for action in ("recall", "finish", "no-show"):
        refused = post(client, f"/api/v1/tickets/{ticket_id}/{action}", staff_token)
        assert refused.status_code == 403 and refused.json["error"] == "other_hall"
    moved = post(client, f"/api/v1/tickets/{ticket_id}/transfer", staff_token, {"to_queue": "A"})
    assert moved.status_code == 403
    calls = post(client, "/api/v1/halls/east/windows/1/call-next", staff_token)
    assert calls.status_code == 403
    with app.app_context():
        assert db.session.get(Ticket, ticket_id).status == "called"
    # nor issue there: refused before anything about the other hall's queues is told
    for queue in ("A", "Z"):
        issued = post(client, "/api/v1/tickets", staff_token, {"hall": "east", "queue": queue})
        assert issued.status_code == 403 and issued.json["error"] == "other_hall", queue
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1
