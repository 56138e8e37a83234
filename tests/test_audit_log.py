"""The audit log (操作日志, /manage/<hall>/audit): sign-ins, calls and edits with who, when and
from where; the filters; keyset pages; admins only; .csv and .xlsx exports that match the page
and are audited themselves; no resident's personal data; exports and devices on the command
line audited.

The keyset pages (ties between the two tables, LIKE escapes) run on both databases; the rest
on SQLite only."""

from __future__ import annotations

import csv
import html
import io
import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask.cli import ScriptInfo

from hall.cli import main
from hall.domain import cases, tickets
from hall.domain.board import service_day
from hall.domain.cases import OutcomeInput
from hall.domain.tickets import Actor
from hall.extensions import db
from hall.manage.audit import HEADERS
from hall.models import AuditEvent, Hall, TicketEvent, User
from tests.conftest import dispose, load_demo, make_app
from tests.test_counter import sign_in

ROW = re.compile(
    r'<tr data-key="([^"]+)" data-action="([^"]+)" data-group="([^"]+)">(.*?)</tr>', re.S
)
CELL = re.compile(r"<td[^>]*>(.*?)</td>", re.S)
TAG = re.compile(r"<[^>]+>")
NEXT = re.compile(r'<a href="([^"]+)" id="next-page"')


def rows_of(response) -> list[dict]:
    """The rows of the log's table: key, action, group and the cells' text."""
    text = response.get_data(as_text=True)
    found = []
    for key, action, group, body in ROW.findall(text):
        cells = [html.unescape(TAG.sub("", c)).strip() for c in CELL.findall(body)]
        found.append(
            {
                "key": key,
                "action": action,
                "group": group,
                "at": cells[0],
                "kind": cells[1],
                "label": cells[2],
                "who": re.sub(r"\s+", " ", cells[3]),
                "window": cells[4],
                "ticket": cells[5],
                "detail": cells[6],
                "ip": cells[7],
            }
        )
    return found


def actor(session, username: str) -> Actor:
    user = session.scalar(sa.select(User).where(User.username == username))
    return Actor(user_id=user.id, hall_id=user.hall_id)


@pytest.fixture
def lite(sqlite_url):
    """The demo hall on SQLite: (app, passwords)."""
    application = make_app(sqlite_url)
    passwords = load_demo(application)
    yield application, passwords
    dispose(application)


def signed_in(application, passwords, username: str):
    client = application.test_client()
    assert sign_in(client, username, passwords[username]).status_code == 302
    return client


def day_of_work(application, passwords) -> tuple:
    """staff1 signs in, opens window 3, a ticket is issued, called and finished there; the
    admin signs in and sets the notice. Returns (admin client, ticket label)."""
    signed_in(application, passwords, "staff1")
    with application.app_context():
        session = db.session
        staff = actor(session, "staff1")
        tickets.set_window_status(session, "demo", 3, "open", staff_id=staff.user_id, actor=staff)
        ticket = tickets.issue(session, "demo", queue_prefix="B")
        tickets.call_next(session, "demo", 3, actor=staff)
        tickets.finish(session, ticket.id, window_number=3, actor=staff)
        tickets.take_events(session)
        label = ticket.label
        session.commit()
    admin = signed_in(application, passwords, "admin")
    token = re.search(
        r'name="csrf_token" value="([^"]+)"', admin.get("/manage/").get_data(as_text=True)
    ).group(1)
    assert (
        admin.post("/manage/demo/notice", data={"csrf_token": token, "notice": "今日正常办公"})
    ).status_code == 302
    return admin, label


def test_the_log_lists_sign_ins_calls_and_edits_with_who_when_and_where(lite):
    application, passwords = lite
    admin, label = day_of_work(application, passwords)
    response = admin.get("/manage/demo/audit")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "操作日志" in page and 'aria-current="page"' in page
    rows = rows_of(response)
    actions = [r["action"] for r in rows]
    # newest first: the notice after the admin's sign-in after the call
    assert actions.index("hall.notice") < actions.index("auth.login")
    assert actions.index("finished") < actions.index("called") < actions.index("issued")
    with application.app_context():
        today = service_day(tickets.get_hall(db.session, "demo"))
    for row in rows:
        assert row["at"].startswith(today.isoformat())
    login = next(r for r in rows if r["action"] == "auth.login" and "admin" in r["who"])
    assert "系统管理员" in login["who"] and "A0001" in login["who"]
    assert login["ip"] == "127.0.0.1" and login["kind"] == "登录" and login["label"] == "登录"
    staff_login = next(r for r in rows if r["action"] == "auth.login" and "staff1" in r["who"])
    assert staff_login["ip"] == "127.0.0.1"
    called = next(r for r in rows if r["action"] == "called")
    assert "staff1" in called["who"] and called["window"] == "3" and called["ticket"] == label
    assert called["ip"] == "—" and called["kind"] == "叫号与票号" and called["label"] == "叫号"
    issued = next(r for r in rows if r["action"] == "issued")
    assert issued["kind"] == "取号" and issued["who"] == "系统"
    notice = next(r for r in rows if r["action"] == "hall.notice")
    assert notice["kind"] == "编辑" and "系统管理员" in notice["who"]
    assert notice["ip"] == "127.0.0.1"
    opened = next(r for r in rows if r["action"] == "window.open")
    assert opened["detail"] == "window=3" and opened["kind"] == "窗口"
    # the English page
    english = admin.get("/manage/demo/audit?lang=en").get_data(as_text=True)
    assert "Audit log" in english


def test_the_filters_narrow_the_list(lite):
    application, passwords = lite
    admin, label = day_of_work(application, passwords)
    with application.app_context():
        hall = tickets.get_hall(db.session, "demo")
        db.session.add(
            AuditEvent(
                hall_id=hall.id,
                action="calendar.add",
                detail="day=2026-01-01 kind=holiday scope=all via=web name=元旦",
                at=datetime(2026, 1, 2, 3, 0, tzinfo=UTC),
            )
        )
        db.session.commit()
    url = "/manage/demo/audit"

    def only(query: str) -> list[dict]:
        response = admin.get(f"{url}?{query}")
        assert response.status_code == 200, query
        return rows_of(response)

    logins = only("kind=login")
    assert logins and {r["action"] for r in logins} == {"auth.login"}
    assert {r["action"] for r in only("kind=call")} == {"called", "finished"}
    assert {r["action"] for r in only("kind=issue")} == {"issued"}
    mine = only("user=staff1")
    assert mine and all("staff1" in r["who"] for r in mine)
    assert {"auth.login", "called", "finished", "window.open"} <= {r["action"] for r in mine}
    at_three = only("window=3")
    assert {r["action"] for r in at_three} == {"window.open", "called", "finished"}
    assert {r["action"] for r in only(f"q={label}")} == {"issued", "called", "finished"}
    assert [r["action"] for r in only("q=window%3D3")] == ["window.open"]
    assert only("q=100%25") == []  # a literal percent sign matches literally
    # days: today by default; an old day by its range
    assert "calendar.add" not in {r["action"] for r in only("")}
    old = only("from=2026-01-02&to=2026-01-02")
    assert [r["action"] for r in old] == ["calendar.add"]
    assert old[0]["at"] == "2026-01-02 11:00:00"  # Shanghai time
    assert only("from=2026-01-01&to=2026-01-01") == []
    assert [r["action"] for r in only("from=2026-01-01&to=2026-01-05&kind=edit")] == [
        "calendar.add"
    ]
    # the form keeps the choices
    page = admin.get(f"{url}?kind=login&user=staff1").get_data(as_text=True)
    assert '<option value="login" selected>' in page
    assert '<option value="staff1" selected>' in page
    # bad filters: said on the page, 400
    for query in ("from=2026-02-30", "kind=nope", "user=nobody", "window=99", "after=x1"):
        response = admin.get(f"{url}?{query}")
        assert response.status_code == 400, query
        assert 'id="audit-error"' in response.get_data(as_text=True)
    assert admin.get(f"{url}?from=2026-01-05&to=2026-01-01").status_code == 400


def test_pages_of_a_hundred_follow_each_other_without_gaps_or_repeats(app, demo):
    """250 audit rows and 40 ticket events on one past day, many at the same instant in both
    tables: the keyset pages list each exactly once, newest first."""
    base = datetime(2025, 3, 3, 2, 0, tzinfo=UTC)
    with app.app_context():
        session = db.session
        hall = tickets.get_hall(session, "demo")
        ticket = tickets.issue(session, "demo", queue_prefix="A")
        tickets.take_events(session)
        session.flush()
        session.execute(
            sa.insert(AuditEvent.__table__),
            [
                {
                    "hall_id": hall.id,
                    "user_id": None,
                    "action": "catalog.matter.update",
                    "detail": f"code=M{n:03d}",
                    "at": base + timedelta(seconds=n // 3),
                }
                for n in range(250)
            ],
        )
        session.execute(
            sa.insert(TicketEvent.__table__),
            [
                {
                    "ticket_id": ticket.id,
                    "hall_id": hall.id,
                    "action": "recalled",
                    "detail": "",
                    "at": base + timedelta(seconds=n * 2),
                }
                for n in range(40)
            ],
        )
        session.commit()
    client = app.test_client()
    assert sign_in(client, "admin", demo["admin"]).status_code == 302
    url = "/manage/demo/audit?from=2025-03-03&to=2025-03-03"
    seen: list[dict] = []
    sizes = []
    while url:
        response = client.get(url)
        assert response.status_code == 200
        rows = rows_of(response)
        sizes.append(len(rows))
        seen.extend(rows)
        found = NEXT.search(response.get_data(as_text=True))
        url = html.unescape(found.group(1)) if found else None
    assert sizes == [100, 100, 90]
    keys = [r["key"] for r in seen]
    assert len(set(keys)) == 290
    times = [r["at"] for r in seen]
    assert times == sorted(times, reverse=True)
    # within an instant: ticket events first, then audit rows, each newest id first
    with app.app_context():
        expected = sorted(
            [("a", i, at) for i, at in db.session.execute(sa.select(AuditEvent.id, AuditEvent.at))]
            + [
                ("t", i, at)
                for i, at in db.session.execute(
                    sa.select(TicketEvent.id, TicketEvent.at).where(
                        TicketEvent.action == "recalled"
                    )
                )
            ],
            key=lambda x: (x[2], x[0] == "t", x[1]),
            reverse=True,
        )
    expected_keys = [f"{s}{i}" for s, i, at in expected if at.date().isoformat() == "2025-03-03"]
    assert keys == expected_keys
    # the second page links back to the first
    second = client.get(
        "/manage/demo/audit?from=2025-03-03&to=2025-03-03&after=" + keys[99]
    ).get_data(as_text=True)
    assert 'id="first-page"' in second


def test_only_admins_see_the_log(lite):
    application, passwords = lite
    admin = signed_in(application, passwords, "admin")
    assert 'href="/manage/demo/audit"' in admin.get("/manage/").get_data(as_text=True)
    manager = signed_in(application, passwords, "manager")
    assert manager.get("/manage/demo/audit").status_code == 403
    assert manager.get("/manage/demo/audit/export?format=csv").status_code == 403
    assert "/manage/demo/audit" not in manager.get("/manage/").get_data(as_text=True)
    staff = signed_in(application, passwords, "staff1")
    assert staff.get("/manage/demo/audit").status_code == 403
    anonymous = application.test_client().get("/manage/demo/audit")
    assert anonymous.status_code == 302 and "/counter/login" in anonymous.headers["Location"]


def test_the_exports_match_the_page_and_are_audited(lite):
    application, passwords = lite
    admin, _label = day_of_work(application, passwords)
    page = rows_of(admin.get("/manage/demo/audit?kind=call"))
    response = admin.get("/manage/demo/audit/export?format=csv&kind=call")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert ".csv" in response.headers["Content-Disposition"]
    assert response.data.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(response.data.decode("utf-8-sig"))))
    assert tuple(table[0]) == HEADERS
    body = table[1:]
    assert len(body) == len(page) == 2
    for row, shown in zip(body, page, strict=True):
        assert row[0] == shown["at"] and row[1] == shown["kind"] and row[2] == shown["label"]
        assert row[5] == "staff1" and row[5] in shown["who"] and row[3] in shown["who"]
        assert row[7] == shown["window"] and row[8] == shown["ticket"] and row[10] == "—"
    xlsx = admin.get("/manage/demo/audit/export?format=xlsx&kind=call")
    assert xlsx.status_code == 200
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(xlsx.data)).active
    values = [
        ["" if v is None else str(v) for v in row] for row in sheet.iter_rows(values_only=True)
    ]
    assert tuple(values[0]) == HEADERS
    assert values[1:] == body
    # both exports are in the log, newest first, with their filters and row counts
    rows = rows_of(admin.get("/manage/demo/audit?kind=export"))
    assert [r["action"] for r in rows] == ["audit.export", "audit.export"]
    assert "format=xlsx" in rows[0]["detail"] and "rows=2" in rows[0]["detail"]
    assert "kind=call" in rows[0]["detail"] and rows[0]["ip"] == "127.0.0.1"
    assert rows[0]["label"] == "导出操作日志"
    # the whole day, unfiltered, matches the page too
    every = rows_of(admin.get("/manage/demo/audit"))
    full = list(
        csv.reader(
            io.StringIO(admin.get("/manage/demo/audit/export?format=csv").data.decode("utf-8-sig"))
        )
    )
    assert [r[2] for r in full[1:]] == [r["label"] for r in every]
    assert admin.get("/manage/demo/audit/export?format=pdf").status_code == 400


def test_report_catalogue_and_document_exports_are_audited_without_personal_data(lite):
    application, passwords = lite
    staff = signed_in(application, passwords, "staff1")
    with application.app_context():
        session = db.session
        who = actor(session, "staff1")
        tickets.set_window_status(session, "demo", 3, "open", staff_id=who.user_id, actor=who)
        ticket = tickets.issue(session, "demo", queue_prefix="B")
        tickets.call_next(session, "demo", 3, actor=who)
        tickets.finish(session, ticket.id, window_number=3, actor=who)
        tickets.take_events(session)
        (case,) = cases.record_outcomes(
            session,
            ticket,
            [
                OutcomeInput(
                    "GA-004", "on_the_spot", applicant_name="张小三", applicant_phone="13912345678"
                )
            ],
            actor=who,
        )
        number = case.number
        session.commit()
    assert staff.get(f"/cases/{number}/completion.pdf").status_code == 200
    manager = signed_in(application, passwords, "manager")
    assert manager.get("/manage/demo/reports/export?format=csv").status_code == 200
    token = re.search(
        r'name="csrf_token" value="([^"]+)"',
        manager.get("/manage/catalog/spreadsheet").get_data(as_text=True),
    ).group(1)
    exported = manager.post(
        "/manage/catalog/spreadsheet/export", data={"csrf_token": token, "format": "csv"}
    )
    assert exported.status_code == 200
    admin = signed_in(application, passwords, "admin")
    response = admin.get("/manage/demo/audit")
    rows = rows_of(response)
    by_action = {r["action"]: r for r in rows}
    assert by_action["casedoc.print"]["detail"] == f"case={number} kind=completion"
    assert "staff1" in by_action["casedoc.print"]["who"]
    assert by_action["casedoc.print"]["kind"] == "导出与打印"
    assert "format=csv" in by_action["report.export"]["detail"]
    assert by_action["report.export"]["kind"] == "导出与打印"
    assert by_action["catalog.export"]["kind"] == "导出与打印"
    assert by_action["case.recorded"]["kind"] == "办件"
    text = response.get_data(as_text=True)
    exported_csv = admin.get("/manage/demo/audit/export?format=csv").data.decode("utf-8-sig")
    for personal in ("张小三", "13912345678", "张*三"):
        assert personal not in text and personal not in exported_csv
    # no detail of any audit row names the applicant
    with application.app_context():
        details = db.session.scalars(sa.select(AuditEvent.detail)).all()
        assert not [d for d in details if "张小三" in d or "13912345678" in d]


def test_exports_and_devices_on_the_command_line_are_audited(lite, tmp_path):
    application, _passwords = lite
    info = ScriptInfo(create_app=lambda: application)

    def run(*args, input=None):
        result = CliRunner().invoke(main, list(args), obj=info, input=input)
        assert result.exit_code == 0, result.output
        return result

    today = datetime.now(UTC).date().isoformat()
    run("report", "--from", today, "--to", today, "--output", str(tmp_path / "r.csv"))
    run("catalog", "export", str(tmp_path / "c.xlsx"))
    run("device", "add", "--kind", "kiosk", "--hall", "demo", "--name", "入口取号机")
    run("user", "add", "clerk9", "--hall", "demo", input="a-good-password-9\n")
    run("user", "password", "clerk9", input="another-password-9\n")
    run("token", "create", "clerk9", "--name", "script")
    with application.app_context():
        hall_id = db.session.scalar(sa.select(Hall.id).where(Hall.code == "demo"))
        rows = {
            row.action: row
            for row in db.session.scalars(
                sa.select(AuditEvent).where(
                    AuditEvent.action.in_(
                        [
                            "report.export",
                            "catalog.export",
                            "device.add",
                            "user.add",
                            "user.password",
                            "token.create",
                        ]
                    )
                )
            )
        }
    assert set(rows) == {
        "report.export",
        "catalog.export",
        "device.add",
        "user.add",
        "user.password",
        "token.create",
    }
    for row in rows.values():
        assert "via=cli" in row.detail, row.action
    assert rows["report.export"].hall_id == hall_id and "format=csv" in rows["report.export"].detail
    assert rows["device.add"].hall_id == hall_id and "kind=kiosk" in rows["device.add"].detail
    assert "username=clerk9" in rows["user.add"].detail
    assert "another-password" not in rows["user.password"].detail
