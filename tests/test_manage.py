"""Management pages (管理): the screens' notice line, read-only windows and accounts."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from hall.extensions import db, socketio
from hall.models import AuditEvent, Hall, User
from tests.test_counter import form_token, second_hall, sign_in, user_id


def hall_notice(app, code: str = "demo") -> str:
    with app.app_context():
        return db.session.scalar(sa.select(Hall.notice).where(Hall.code == code))


def hall_listener(app, client):
    """A Socket.IO test client joined to the demo hall, its welcome board consumed."""
    sock = socketio.test_client(app, flask_test_client=client)
    sock.emit("join", {"hall": "demo"})
    sock.get_received()
    return sock


def post_notice(client, text: str, hall: str = "demo"):
    token = form_token(client, "/manage/")
    return client.post(f"/manage/{hall}/notice", data={"csrf_token": token, "notice": text})


@pytest.mark.parametrize("username", ["admin", "manager"])
def test_admin_and_manager_set_the_notice_and_the_screens_get_it(app, client, demo, username):
    sign_in(client, username, demo[username])
    sock = hall_listener(app, client)
    text = "今天下午 3 点起不动产登记窗口暂停办理，请谅解。"
    response = post_notice(client, f"  {text}\n")
    assert response.status_code == 302 and response.headers["Location"] == "/manage/?hall=demo"
    assert hall_notice(app) == text
    updates = [e["args"][0] for e in sock.get_received() if e["name"] == "hall.updated"]
    assert len(updates) == 1 and updates[0]["notice"] == text and updates[0]["hall"] == "demo"
    page = client.get("/manage/?hall=demo").get_data(as_text=True)
    assert text in page and "已更新" in page
    actor = user_id(app, username)
    with app.app_context():
        audit = db.session.scalar(sa.select(AuditEvent).where(AuditEvent.action == "hall.notice"))
        assert audit.user_id == actor
    sock.disconnect()


def test_staff_get_403_on_manage(app, client, demo):
    sign_in(client, "staff1", demo["staff1"])
    page = client.get("/manage/")
    assert page.status_code == 403 and "只有管理员和负责人" in page.get_data(as_text=True)
    token = form_token(client, "/counter/")
    refused = client.post("/manage/demo/notice", data={"csrf_token": token, "notice": "x"})
    assert refused.status_code == 403
    assert hall_notice(app).startswith("欢迎来到政务服务中心")


def test_too_long_notice_is_refused_clearly_and_nothing_changes(app, client, demo):
    sign_in(client, "manager", demo["manager"])
    before = hall_notice(app)
    sock = hall_listener(app, client)
    text = "通" * 501
    response = post_notice(client, text)
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "通知不能超过 500 字" in html and "limited to 500 characters" in html
    assert f">{text}</textarea>" in html  # what was typed is kept for correcting
    assert hall_notice(app) == before
    assert not [e for e in sock.get_received() if e["name"] == "hall.updated"]
    with app.app_context():
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(AuditEvent)
                .where(AuditEvent.action == "hall.notice")
            )
            == 0
        )
    sock.disconnect()


def test_a_notice_of_exactly_500_characters_and_an_empty_one_are_accepted(app, client, demo):
    sign_in(client, "manager", demo["manager"])
    assert post_notice(client, "知" * 500).status_code == 302
    assert hall_notice(app) == "知" * 500
    assert post_notice(client, "   ").status_code == 302
    assert hall_notice(app) == ""


def test_notice_without_csrf_token_changes_nothing(app, client, demo):
    sign_in(client, "admin", demo["admin"])
    before = hall_notice(app)
    assert client.post("/manage/demo/notice", data={"notice": "伪造"}).status_code == 400
    assert hall_notice(app) == before


def test_manage_lists_windows_with_queues_and_the_halls_accounts(app, client, demo):
    sign_in(client, "manager", demo["manager"])
    html = client.get("/manage/").get_data(as_text=True)
    assert "3 号窗口" in html and "B 户籍业务" in html and "A 综合受理" in html
    for text in ("staff1", "李晓梅", "1001", "王主任", "M0001", "负责人", "窗口工作人员"):
        assert text in html
    assert "pbkdf2" not in html and "scrypt" not in html  # no password hashes


def test_a_manager_of_one_hall_cannot_manage_another(app, client, demo):
    second_hall(app)
    sign_in(client, "manager", demo["manager"])
    assert client.get("/manage/?hall=north").status_code == 403
    assert post_notice(client, "越权", hall="north").status_code == 403
    assert hall_notice(app, "north") == ""


def test_an_admin_without_a_hall_chooses_among_every_hall(app, client, demo):
    from hall.auth import add_user

    second_hall(app)
    with app.app_context():
        add_user(db.session, "root", "a-long-password", role="admin", display_name="总管理员")
        db.session.commit()
    sign_in(client, "root", "a-long-password")
    html = client.get("/manage/?hall=north").get_data(as_text=True)
    assert (
        "选择大厅" in html and "示范区政务服务中心" in html and 'aria-current="page">北街道' in html
    )
    assert post_notice(client, "北街道通知", hall="north").status_code == 302
    assert hall_notice(app, "north") == "北街道通知"
    with app.app_context():
        assert db.session.scalar(sa.select(User).where(User.username == "root")).hall_id is None


def test_unknown_hall_is_404(client, demo):
    sign_in(client, "admin", demo["admin"])
    assert client.get("/manage/?hall=nowhere").status_code == 404
