"""Case work on the counter page and the managers' case list: 我的办件 (own open cases, yellow
before the due date and red after it, in words too), 本窗口今日 (the window's rates today with
their formulas), the finish panel's data, and who may see and change what."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from hall import realtime
from hall.domain import board, tickets
from hall.domain import cases as casework
from hall.domain.cases import OutcomeInput
from hall.domain.tickets import Actor
from hall.extensions import db
from hall.models import Case, Hall, User
from tests.conftest import dispose, load_demo, make_app, open_windows
from tests.test_counter import form_token, second_hall, sign_in

FINISH_DATA = re.compile(r'<script type="application/json" id="finish-data">(.*?)</script>', re.S)
SCRIPT = re.compile(r"<script\b([^>]*)>", re.S)


def visit(app, *outcomes: OutcomeInput, username: str = "staff1", window: int = 3) -> list[str]:
    """A ticket called and finished at a window, with the outcome of each matter recorded."""
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        actor = Actor(user_id=user.id, hall_id=user.hall_id)
        ticket = tickets.issue(db.session, "demo", queue_prefix="A")  # windows 3 and 4 serve A
        tickets.call_next(db.session, "demo", window, actor=actor)
        tickets.finish(db.session, ticket.id, actor=actor)
        cases = casework.record_outcomes(db.session, ticket, list(outcomes), actor=actor)
        numbers = [case.number for case in cases]
        realtime.commit_and_publish(db.session)
        return numbers


def accepted(code: str = "GA-001", name: str = "张小三", phone: str = "13800001111"):
    return OutcomeInput(code, "accepted", applicant_name=name, applicant_phone=phone)


def move_due(app, number: str, days: int) -> None:
    """Set a case's due date `days` from the hall's today (negative: in the past)."""
    with app.app_context():
        case = db.session.scalar(sa.select(Case).where(Case.number == number))
        case.due_date = board.service_day(case.hall) + timedelta(days=days)
        db.session.commit()


def row_of(html: str, number: str) -> str:
    match = re.search(rf'<tr class="ct-case[^"]*" data-number="{number}".*?</tr>', html, re.S)
    assert match, f"no row for {number}"
    return match.group(0)


@pytest.fixture
def app(sqlite_url):
    """The pages are tested on SQLite only (CI time); the role test at the end runs on both."""
    application = make_app(sqlite_url)
    yield application
    dispose(application)


@pytest.fixture
def staff1(app, client, demo):
    """staff1 signed in, on duty at window 3."""
    open_windows(app, 3)
    assert sign_in(client, "staff1", demo["staff1"]).status_code == 302
    return client


@pytest.fixture
def manager(app, client, demo):
    """The demo hall's manager signed in; staff1 on duty at window 3, staff2 at window 4."""
    open_windows(app, 3)
    open_windows(app, 4, username="staff2")
    assert sign_in(client, "manager", demo["manager"]).status_code == 302
    return client


# ---------------------------------------------------------------- the counter page


def test_my_cases_show_due_dates_yellow_soon_and_red_overdue_in_words(app, staff1):
    ok, soon, overdue, paused = visit(app, accepted(), accepted(), accepted(), accepted())
    open_windows(app, 4, username="staff2")
    (someone_elses,) = visit(app, accepted(), username="staff2", window=4)
    move_due(app, soon, 0)
    move_due(app, overdue, -10)
    with app.app_context():
        user_id = db.session.scalar(sa.select(User.id).where(User.username == "staff1"))
        case = db.session.scalar(sa.select(Case).where(Case.number == paused))
        casework.pause(
            db.session, case.id, kind="special", reason="等待鉴定结论", actor=Actor(user_id)
        )
        db.session.commit()
    html = staff1.get("/counter/demo/3").get_data(as_text=True)
    assert "我的办件" in html and someone_elses not in html
    row = row_of(html, ok)
    assert 'class="ct-case ct-case-ok"' in row and "还剩" in row and "个工作日" in row
    assert "张*三" in row and "138****1111" in row and "张小三" not in row
    assert 'data-case-action="complete"' in row and 'data-case-action="pause"' in row
    assert f"/cases/{ok}/receipt.pdf" in row
    row = row_of(html, soon)
    assert 'class="ct-case ct-case-soon"' in row and "今天到期" in row
    row = row_of(html, overdue)
    assert 'class="ct-case ct-case-overdue"' in row and re.search(r"已逾期 \d+ 个工作日", row)
    assert 'data-case-action="pause"' not in row  # past its due date: cannot be paused
    row = row_of(html, paused)
    assert "暂停计时：特别程序" in row and "等待鉴定结论" in row
    assert 'data-case-action="resume"' in row and 'data-case-action="complete"' not in row
    # due first: the overdue case leads the list
    assert html.index(f'data-number="{overdue}"') < html.index(f'data-number="{ok}"')


def test_window_rates_today_show_each_rate_with_its_formula(app, staff1):
    html = staff1.get("/counter/demo/3").get_data(as_text=True)
    rates = re.search(r'<div id="window-rates">(.*?)</dl>', html, re.S).group(1)
    assert re.search(r'data-rate="on_the_spot_rate">.*?ct-rate-value">—<', rates, re.S)

    visit(
        app,
        accepted(),
        OutcomeInput("GA-004", "on_the_spot"),
        OutcomeInput("GA-005", "consultation"),
    )
    body = staff1.get("/counter/demo/3/panels").json
    rates = body["rates"]
    assert re.search(r'data-rate="on_the_spot_rate">.*?ct-rate-value">50.0%<', rates, re.S)
    assert "当场办结 1 件 / 受理总数 2 件" in rates
    for formula in (
        "当场办结率 = 当场办结件数 ÷",
        "承诺办结率 = 按时办结的承诺件数 ÷ 已办结的承诺件数",
        "严格承诺办结率 = 按时办结的承诺件数 ÷（已办结的承诺件数 + 逾期未办结件数）",
        "提前办结率 = 提前办结件数 ÷ 已办结的承诺件数",
    ):
        assert formula in rates
    assert "逾期未办结 0 件" in rates
    assert "居民身份证申领" in body["cases"]  # the accepted one is in 我的办件

    english = staff1.get("/counter/demo/3/panels?lang=en").json["rates"]
    assert "On-the-spot completion rate = cases completed on the spot" in english


def test_window_rates_show_an_open_overdue_case_in_red(app, staff1):
    (late,) = visit(app, accepted())
    move_due(app, late, -3)
    rates = staff1.get("/counter/demo/3/panels").json["rates"]
    assert re.search(r'class="ct-rate ct-rate-alert" data-rate="strict_rate"', rates)
    assert "逾期未办结 1 件" in rates


def test_finish_panel_gets_the_windows_usual_matters_and_print_links(app, staff1):
    html = staff1.get("/counter/demo/3").get_data(as_text=True)
    data = json.loads(FINISH_DATA.search(html).group(1))
    codes = [m["code"] for m in data["usual"]]
    assert codes[0].startswith("GA-") and "GA-001" in codes  # queue B (户籍) first
    first = next(m for m in data["usual"] if m["code"] == "GA-001")
    assert first["promised_limit"]["days"] == 20 and first["materials"][0]["name"] == "居民户口簿"
    assert data["documents"]["receipt"] == f"/cases/{data['number_slot']}/receipt.pdf"
    assert set(data["documents"]) == {"receipt", "correction", "rejection", "completion"}
    assert 'id="finish-dialog"' in html and 'id="outcome-row-template"' in html
    for key, label in zip("12345", ("当场办结", "受理", "补正", "不予受理", "咨询"), strict=True):
        assert f'data-key="{key}"><kbd>{key}</kbd> {label}' in html
    assert "/static/counter/outcomes.js" in html
    for attributes in SCRIPT.findall(html):  # no inline script: files or JSON data only
        assert "src=" in attributes or 'type="application/json"' in attributes


def test_counter_page_is_english_with_lang_en(app, staff1):
    html = staff1.get("/counter/demo/3?lang=en").get_data(as_text=True)
    for text in ("My cases", "This window today", "Save and finish"):
        assert text in html


def test_panels_of_another_halls_window_are_refused(app, staff1):
    second_hall(app)
    assert staff1.get("/counter/north/1/panels").status_code == 403


# ---------------------------------------------------------------- the managers' case list


def test_manager_lists_the_halls_open_cases_with_filters_and_colours(app, manager):
    ok, overdue = visit(app, accepted(), accepted(name="李四"))
    (soon,) = visit(app, accepted(name="王小五"), username="staff2", window=4)
    move_due(app, overdue, -5)
    move_due(app, soon, 1)
    html = manager.get("/manage/demo/cases").get_data(as_text=True)
    assert 'aria-current="page">办件</a>' in html
    for number in (ok, overdue, soon):
        assert number in html
    assert 'class="ct-case ct-case-overdue"' in row_of(html, overdue)
    assert "已逾期" in row_of(html, overdue) and "李*" in row_of(html, overdue)
    assert "王*五" in row_of(html, soon) and "4 号窗口" in row_of(html, soon)
    assert re.search(r'class="ct-case ct-case-(soon|ok)"', row_of(html, soon))

    only_overdue = manager.get("/manage/demo/cases?state=overdue").get_data(as_text=True)
    assert overdue in only_overdue and ok not in only_overdue and soon not in only_overdue
    by_window = manager.get("/manage/demo/cases?window=4").get_data(as_text=True)
    assert soon in by_window and ok not in by_window
    by_staff = manager.get("/manage/demo/cases?staff=staff1").get_data(as_text=True)
    assert ok in by_staff and overdue in by_staff and soon not in by_staff

    rates = html[html.index('id="rates-table"') :]
    window3 = re.search(r"<tr>\s*<th scope=\"row\">3 号窗口.*?</tr>", rates, re.S).group(0)
    assert "0.0%" in window3  # two accepted, none on the spot
    assert re.search(r"ct-due ct-due-overdue\">1<", window3)  # one open overdue case
    for formula in ("当场办结率 = ", "即办件当场办结率 = ", "严格承诺办结率 = ", "提前办结率 = "):
        assert formula in rates


def test_manager_completes_pauses_and_resumes_with_plain_forms(app, manager):
    (number,) = visit(app, accepted())
    url = f"/manage/demo/cases/{number}"
    token = form_token(manager, "/manage/demo/cases")

    refused = manager.post(
        f"{url}/pause", data={"csrf_token": token, "kind": "special", "reason": " "}
    )
    html = refused.get_data(as_text=True)
    assert refused.status_code == 400 and "请写明暂停计时的原因" in html
    assert re.search(r'<option value="special" selected>', html)  # what was chosen stays

    paused = manager.post(
        f"{url}/pause",
        data={"csrf_token": token, "kind": "correction", "reason": "缺少户口簿", "window": "3"},
    )
    assert paused.status_code == 302 and paused.headers["Location"].endswith("?window=3")
    assert "暂停计时：补正材料" in manager.get(paused.headers["Location"]).get_data(as_text=True)
    not_now = manager.post(f"{url}/complete", data={"csrf_token": token, "result": "已发证"})
    assert not_now.status_code == 409 and "请先恢复计时" in not_now.get_data(as_text=True)
    assert "已发证" in not_now.get_data(as_text=True)  # the typed result is kept

    assert manager.post(f"{url}/resume", data={"csrf_token": token}).status_code == 302
    done = manager.post(f"{url}/complete", data={"csrf_token": token, "result": "已发证"})
    assert done.status_code == 302 and done.headers["Location"].endswith(f"?done={number}")
    page = manager.get(done.headers["Location"]).get_data(as_text=True)
    assert f"/cases/{number}/completion.pdf" in page and "打印办结通知书" in page
    with app.app_context():
        case = db.session.scalar(sa.select(Case).where(Case.number == number))
        assert (case.status, case.result, case.timing) == ("completed", "已发证", "early")


def test_manage_cases_page_is_english_with_lang_en(app, manager):
    visit(app, accepted())
    html = manager.get("/manage/demo/cases?lang=en").get_data(as_text=True)
    assert "Cases" in html and "Strict on-time completion rate = " in html


# ---------------------------------------------------------------- who may


@pytest.fixture
def both_app(database_url):
    """The application on SQLite, then on PostgreSQL."""
    application = make_app(database_url)
    yield application
    dispose(application)


def test_staff_and_strangers_cannot_use_the_managers_case_list(both_app):
    """On both databases: staff get 403 on the page and its forms, and nothing changes."""
    app, client, demo = both_app, both_app.test_client(), load_demo(both_app)
    open_windows(app, 3)
    (number,) = visit(app, accepted())
    assert client.get("/manage/demo/cases").status_code == 302  # signed out: sign in first
    sign_in(client, "staff1", demo["staff1"])
    page = client.get("/manage/demo/cases")
    assert page.status_code == 403 and "只有管理员和负责人" in page.get_data(as_text=True)
    token = form_token(client, "/counter/")
    refused = client.post(
        f"/manage/demo/cases/{number}/complete", data={"csrf_token": token, "result": "x"}
    )
    assert refused.status_code == 403
    with app.app_context():
        assert db.session.scalar(sa.select(Case.status).where(Case.number == number)) == "open"
        assert db.session.scalar(sa.select(Hall.code)) == "demo"
