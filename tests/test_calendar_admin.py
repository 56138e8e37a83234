"""The working-day calendar as admins and managers use it: the page 工作日历 with its forms
(CSRF, bilingual errors, all-or-nothing import), the warning banner of every management page,
and `hall calendar` on the command line, with the warning of `hall serve` and `hall demo`.

Most tests run on SQLite only; the two tests of the unique constraints (which PostgreSQL and
SQLite enforce differently for the installation-wide entries) run on both databases.
"""

from __future__ import annotations

import logging
from datetime import date

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from werkzeug.datastructures import MultiDict

import hall.cli
import hall.manage.calendar
from hall.cli import main
from hall.domain import workdays
from hall.extensions import db
from hall.models import AuditEvent, CalendarDay, Hall
from tests.conftest import dispose, load_demo, make_app
from tests.test_counter import CSRF_FIELD, second_hall, sign_in, user_id

NOW = date(2026, 11, 27)  # the holiday library knows 2026, not 2027
SCHEDULE_2027 = """# 国务院办公厅关于2027年部分节假日安排的通知（示例）
2027-01-01 holiday 元旦
2027-02-06 holiday 春节
2027-02-07 holiday 春节
2027-02-08 holiday 春节
2027-02-09 holiday 春节
2027-02-20 workday 春节调休
"""


@pytest.fixture(autouse=True)
def today(monkeypatch):
    """Pages and commands see 2026-11-27 as today."""
    monkeypatch.setattr(hall.manage.calendar, "today_of", lambda _hall: NOW)
    monkeypatch.setattr(hall.cli, "_today", lambda _app: NOW)
    return NOW


@pytest.fixture
def lite(sqlite_url):
    """The demo hall on SQLite only: (app, passwords)."""
    application = make_app(sqlite_url)
    passwords = load_demo(application)
    yield application, passwords
    dispose(application)


def signed_in(application, passwords, username: str):
    client = application.test_client()
    assert sign_in(client, username, passwords[username]).status_code == 302
    return client


@pytest.fixture
def admin(lite):
    return signed_in(*lite, "admin")


@pytest.fixture
def manager(lite):
    return signed_in(*lite, "manager")


def html(response) -> str:
    return response.get_data(as_text=True)


def post(client, url: str, data: dict, page: str = "/manage/demo/calendar"):
    """Post a form with the CSRF token of the page it is on."""
    token = CSRF_FIELD.search(html(client.get(page))).group(1)
    return client.post(url, data=MultiDict([("csrf_token", token), *data.items()]))


def add(client, day: str, kind: str = "holiday", name: str = "", scope: str = "all"):
    data = {"day": day, "kind": kind, "name": name, "scope": scope}
    return post(client, "/manage/demo/calendar/add", data)


def import_lines(client, text: str, scope: str = "all"):
    return post(client, "/manage/demo/calendar/import", {"lines": text, "scope": scope})


def entries(application) -> list[tuple[str, str, str, str | None]]:
    with application.app_context():
        rows = db.session.execute(
            sa.select(CalendarDay.day, CalendarDay.kind, CalendarDay.name, Hall.code)
            .outerjoin(Hall, Hall.id == CalendarDay.hall_id)
            .order_by(CalendarDay.day, CalendarDay.id)
        ).all()
        return [(d.isoformat(), k, n, c) for d, k, n, c in rows]


def audits(application) -> list[tuple[str, int | None, str]]:
    with application.app_context():
        return [
            tuple(r)
            for r in db.session.execute(
                sa.select(AuditEvent.action, AuditEvent.user_id, AuditEvent.detail)
                .where(AuditEvent.action.like("calendar.%"))
                .order_by(AuditEvent.id)
            )
        ]


def due(application, accepted: str, limit: int, hall_code: str | None = None) -> date:
    with application.app_context():
        hall_id = None
        if hall_code:
            hall_id = db.session.scalar(sa.select(Hall.id).where(Hall.code == hall_code))
        return workdays.Calendar(db.session, hall_id).due_date(date.fromisoformat(accepted), limit)


# ---------------------------------------------------------------- the banner


@pytest.mark.parametrize("username", ["admin", "manager"])
def test_every_manage_page_warns_about_next_year_and_links_to_the_calendar(lite, username):
    client = signed_in(*lite, username)
    for url in (
        "/manage/",
        "/manage/demo/departments",
        "/manage/demo/matters/new",
        "/manage/demo/windows",
        "/manage/demo/calendar",
    ):
        page = html(client.get(url))
        assert 'id="calendar-warning"' in page, url
        assert "2027 年的法定节假日和调休安排尚未录入" in page and "周一至周五" in page
        assert "No official holiday schedule for 2027" in page
        assert 'href="/manage/demo/calendar?year=2027"' in page
        assert 'href="/manage/demo/calendar"' in page and "工作日历" in page  # the menu


def test_no_banner_while_the_library_knows_this_year_and_the_next(lite, monkeypatch):
    application, passwords = lite
    monkeypatch.setattr(hall.manage.calendar, "today_of", lambda _hall: date(2025, 6, 1))
    page = html(signed_in(application, passwords, "admin").get("/manage/demo/departments"))
    assert 'id="calendar-warning"' not in page and "工作日历" in page


def test_entering_next_years_schedule_silences_the_warning_and_moves_due_dates(lite, admin):
    application, _ = lite
    assert due(application, "2027-02-05", 1) == date(2027, 2, 8)  # Monday–Friday meanwhile
    response = import_lines(admin, SCHEDULE_2027)
    assert response.status_code == 302
    assert response.headers["Location"] == "/manage/demo/calendar?year=2027"
    page = html(admin.get(response.headers["Location"]))
    assert "已导入 6 个条目" in page and 'id="calendar-warning"' not in page
    assert "春节调休" in page and "2027-02-20" in page and "系统管理员" in page
    assert due(application, "2027-02-05", 1) == date(2027, 2, 10)
    assert due(application, "2027-02-19", 1) == date(2027, 2, 20)  # the make-up Saturday
    assert len(entries(application)) == 6
    log = audits(application)
    admin_id = user_id(application, "admin")
    assert len(log) == 6 and {(a, u) for a, u, _d in log} == {("calendar.add", admin_id)}
    assert log[0][2] == "day=2027-01-01 kind=holiday scope=all via=import name=元旦"
    # importing the same schedule again changes nothing
    again = import_lines(admin, SCHEDULE_2027)
    assert again.status_code == 302 and len(entries(application)) == 6
    assert "6 个与已有条目相同未修改" in html(admin.get("/manage/demo/calendar?year=2027"))


# ---------------------------------------------------------------- the page


def test_the_calendar_page_shows_the_library_schedule_for_reference(admin):
    page = html(admin.get("/manage/demo/calendar?year=2026"))
    assert "chinesecalendar" in page and "2026 年节假日和调休安排" in page
    for text in ("2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"):
        assert text in page
    assert "春节调休" in page and "国庆节" in page and "星期六" in page
    assert "/calendar/" not in page.split('id="calendar-days"')[1].split("</table>")[0]
    no_data = html(admin.get("/manage/demo/calendar?year=2028"))
    assert (
        "2028 年没有法定节假日和调休安排" in no_data
        and "No official holiday schedule for 2028" in no_data
    )
    assert "这一年没有特殊日期" in no_data


def test_managers_see_the_calendar_but_only_admins_change_it(lite, manager):
    application, passwords = lite
    page = html(manager.get("/manage/demo/calendar"))
    assert "只有管理员可以修改工作日历" in page and 'id="calendar-add"' not in page
    refused = add(manager, "2027-01-01", name="元旦")
    assert refused.status_code == 403 and "只有管理员可以修改工作日历" in html(refused)
    assert import_lines(manager, SCHEDULE_2027).status_code == 403
    staff = signed_in(application, passwords, "staff1")
    assert staff.get("/manage/demo/calendar").status_code == 403
    assert entries(application) == [] and audits(application) == []


def test_forms_without_the_csrf_token_change_nothing(lite, admin):
    application, _ = lite
    response = admin.post(
        "/manage/demo/calendar/add", data={"day": "2027-01-01", "kind": "holiday", "scope": "all"}
    )
    assert response.status_code == 400 and "页面已过期" in html(response)
    assert entries(application) == []


BAD_ENTRIES = [
    ({"day": "2027-02-30"}, "日期 2027-02-30 不存在", "is not a day"),
    ({"day": "0000-01-01"}, "年份 0 超出范围", "out of range"),
    ({"day": "0"}, "格式不正确", "is not a date"),
    ({"day": ""}, "格式不正确", "is not a date"),
    ({"day": "9" * 5000}, "格式不正确", "is not a date"),
    ({"kind": "vacation"}, "类型「vacation」不正确", "Kind “vacation” is unknown"),
    ({"scope": "north"}, "请选择适用范围", "Choose where the entry applies"),
    ({"name": "节" * 101}, "名称最多 100 个字", "limited to 100 characters"),
]


def test_bad_entries_are_refused_in_both_languages_and_nothing_is_saved(lite, admin):
    application, _ = lite
    for fields, zh, en in BAD_ENTRIES:
        data = {"day": "2027-01-01", "kind": "holiday", "name": "元旦", "scope": "all", **fields}
        response = post(admin, "/manage/demo/calendar/add", data)
        page = html(response)
        assert response.status_code == 400 and zh in page and en in page, fields
        assert "未保存任何修改" in page and 'id="add-errors"' in page
    assert entries(application) == [] and audits(application) == []


def test_add_and_remove_entries_for_every_hall_and_for_this_hall(lite, admin):
    application, _ = lite
    second_hall(application)
    response = add(admin, "2026-12-30", "closure", "台风停止办公", scope="hall")
    assert response.status_code == 302
    assert response.headers["Location"] == "/manage/demo/calendar?year=2026"
    assert "已添加 2026-12-30" in html(admin.get(response.headers["Location"]))
    assert due(application, "2026-12-29", 1, "demo") == date(2026, 12, 31)
    assert due(application, "2026-12-29", 1, "north") == date(2026, 12, 30)
    # a different entry on the same day for the same scope: a clear refusal
    clash = add(admin, "2026-12-30", "workday", "加班", scope="hall")
    assert (
        clash.status_code == 400 and "已有条目" in html(clash) and "remove it first" in html(clash)
    )
    # the installation may have its own entry that day; the hall's wins for the hall
    assert add(admin, "2026-12-30", "holiday", "全区放假").status_code == 302
    assert entries(application) == [
        ("2026-12-30", "closure", "台风停止办公", "demo"),
        ("2026-12-30", "holiday", "全区放假", None),
    ]
    page = html(admin.get("/manage/demo/calendar?year=2026"))
    assert "示范区政务服务中心" in page and "全区所有大厅" in page
    with application.app_context():
        ids = dict(db.session.execute(sa.select(CalendarDay.kind, CalendarDay.id)).all())
    removed = post(admin, f"/manage/demo/calendar/{ids['closure']}/delete", {})
    assert removed.status_code == 302 and "已删除 2026-12-30" in html(
        admin.get("/manage/demo/calendar")
    )
    assert [e[3] for e in entries(application)] == [None]
    actions = [(a, d.split(" via=")[0]) for a, _u, d in audits(application)]
    assert actions == [
        ("calendar.add", "day=2026-12-30 kind=closure scope=demo"),
        ("calendar.add", "day=2026-12-30 kind=holiday scope=all"),
        ("calendar.remove", "day=2026-12-30 kind=closure scope=demo"),
    ]
    # gone already, never there, or another hall's: 404 with a message, never a 500
    for entry_id in (ids["closure"], 999999, 2**40):
        missing = post(admin, f"/manage/demo/calendar/{entry_id}/delete", {})
        assert missing.status_code == 404 and "没有这个工作日历条目" in html(missing)
    with application.app_context():
        north = db.session.scalar(sa.select(Hall.id).where(Hall.code == "north"))
        row = CalendarDay(hall_id=north, day=date(2027, 3, 1), kind="closure", name="")
        db.session.add(row)
        db.session.commit()
        north_entry = row.id
    other = post(admin, f"/manage/demo/calendar/{north_entry}/delete", {})
    assert other.status_code == 404 and len(entries(application)) == 2


def test_an_import_with_bad_lines_saves_nothing_and_names_each_line(lite, admin):
    application, _ = lite
    text = (
        "2027-01-01 holiday 元旦\n"
        "2027-02-30 holiday 春节\n"
        "2027-02-20 rest 调休\n"
        "2027-01-01 workday\n"
        "hello\n"
    )
    response = import_lines(admin, text)
    page = html(response)
    assert response.status_code == 400 and 'id="import-errors"' in page
    assert "第 2 行" in page and "(line 2)" in page and "不存在" in page
    assert "第 3 行" in page and "holiday, workday or closure" in page
    assert "第 4 行" in page and "与第 1 行重复" in page
    assert "第 5 行" in page and "应写日期和类型" in page
    assert "2027-02-20 rest 调休" in page  # the text is kept for correction
    assert entries(application) == [] and audits(application) == []
    # a line clashing with an entered day: also nothing saved
    assert add(admin, "2027-02-20", "workday", "春节调休").status_code == 302
    clash = import_lines(admin, "2027-01-01 holiday 元旦\n2027-02-20 holiday 春节\n")
    assert clash.status_code == 400 and "第 2 行" in html(clash) and "已有条目" in html(clash)
    assert len(entries(application)) == 1


def test_empty_huge_and_oversized_imports_are_refused_without_a_500(lite, admin):
    application, _ = lite
    empty = import_lines(admin, "  \n# nothing\n")
    assert empty.status_code == 400 and "没有可导入的条目" in html(empty)
    huge = import_lines(admin, "2027-01-01 holiday 元旦\n" * 6000)
    assert huge.status_code == 400 and "内容太长" in html(huge) and "too long" in html(huge)
    oversized = import_lines(admin, "x" * 600_000)
    assert oversized.status_code == 400 and "内容太长" in html(oversized)
    bad_scope = import_lines(admin, "2027-01-01 holiday", scope="")
    assert bad_scope.status_code == 400 and "请选择适用范围" in html(bad_scope)
    assert entries(application) == []


def test_a_bad_year_in_the_address_is_said_not_fatal(admin):
    for year in ("0", "abc", "99999", "1999", "２０２６x", "-1", "20261"):
        response = admin.get(f"/manage/demo/calendar?year={year}")
        page = html(response)
        assert response.status_code == 400 and 'id="year-error"' in page, year
        assert "年份应为 2000 到 2099 之间的四位数" in page and "four-digit year" in page
        assert "工作日历 · 2026" in page  # this year is shown instead


def test_the_calendar_page_in_english(admin):
    page = html(admin.get("/manage/demo/calendar?year=2027&lang=en"))
    assert "Working-day calendar" in page and "Bulk entry" in page and "Add an entry" in page
    assert "No official holiday schedule for 2027" in page


# ---------------------------------------------------------------- both databases


def test_entries_and_their_unique_keys_on_both_databases(app, demo, client):
    assert sign_in(client, "admin", demo["admin"]).status_code == 302
    assert add(client, "2027-01-01", "holiday", "元旦").status_code == 302
    assert add(client, "2027-01-01", "closure", "检修", scope="hall").status_code == 302
    again = add(client, "2027-01-01", "workday", "调休")
    assert again.status_code == 400 and "已有条目" in html(again)
    assert import_lines(client, SCHEDULE_2027).status_code == 302  # 元旦 identical: kept
    assert len(entries(app)) == 7
    with app.app_context():  # the database itself refuses a second entry of a scope
        for hall_id in (None, db.session.scalar(sa.select(Hall.id).where(Hall.code == "demo"))):
            db.session.add(CalendarDay(hall_id=hall_id, day=date(2027, 1, 1), kind="workday"))
            with pytest.raises(sa.exc.IntegrityError):
                db.session.commit()
            db.session.rollback()
    page = html(client.get("/manage/demo/calendar?year=2027"))
    assert 'id="calendar-warning"' not in page and page.count('/delete"') == 7


def test_a_day_entered_meanwhile_is_a_clear_refusal_on_both_databases(
    app, demo, client, monkeypatch
):
    assert sign_in(client, "admin", demo["admin"]).status_code == 302
    assert add(client, "2027-01-01", "holiday", "元旦").status_code == 302
    assert add(client, "2027-01-02", "closure", "检修", scope="hall").status_code == 302

    def blind(session, entries_, *, hall, user_id, via):  # as if the check ran before the other
        for entry in entries_:
            session.add(
                CalendarDay(
                    hall_id=hall.id if hall else None, day=entry.day, kind=entry.kind, name=""
                )
            )
        return workdays.Saved(added=list(entries_), unchanged=[])

    monkeypatch.setattr(workdays, "save_entries", blind)
    for scope, day in (("all", "2027-01-01"), ("hall", "2027-01-02")):
        response = add(client, day, "workday", "调休", scope=scope)
        assert response.status_code == 400, scope
        assert "刚刚被其他人录入" in html(response) and "Someone else" in html(response)
    assert len(entries(app)) == 2


# ---------------------------------------------------------------- hall calendar


@pytest.fixture
def cli(lite, monkeypatch):
    """Invoke `hall …` against the SQLite demo database: (exit code, stdout, stderr)."""
    application, _ = lite
    monkeypatch.setenv("HALL_DATABASE_URL", application.config["SQLALCHEMY_DATABASE_URI"])

    def invoke(*args, input=None):
        result = CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)
        return result.exit_code, result.stdout, result.stderr

    return invoke


def test_calendar_status_lists_the_years_and_warns_on_stderr(cli, lite):
    code, out, err = cli("calendar", "status")
    assert code == 0
    assert "chinesecalendar" in out and "2004–2026" in out and "today: 2026-11-27" in out
    lines = {line.split()[0]: line for line in out.splitlines() if line[:2] == "20"}
    assert "library" in lines["2025"] and "library" in lines["2026"] and "NONE" in lines["2027"]
    assert "WARNING" in err and "2027 年的法定节假日" in err and "No official holiday" in err
    assert "WARNING" not in out
    assert cli("calendar", "import", "-", input=SCHEDULE_2027)[0] == 0
    code, out, err = cli("calendar", "status")
    assert code == 0 and "entered" in out and "WARNING" not in err and "schedules complete" in out
    code, out, err = cli("calendar", "status", "--today", "2025-03-01")
    assert code == 0 and err == ""
    assert cli("calendar", "status", "--today", "2025-02-30")[0] == 2


def test_calendar_add_list_remove_from_the_command_line(cli, lite):
    application, _ = lite
    code, out, _err = cli("calendar", "add", "2027-02-20", "workday", "--name", "春节调休")
    assert code == 0 and "added: 2027-02-20 workday 春节调休" in out
    code, out, _err = cli(
        "calendar", "add", "2027/2/22", "放假", "--name", "春节", "--hall", "demo"
    )
    assert code == 0 and "hall demo" in out
    assert cli("calendar", "add", "2027-02-20", "workday", "--name", "春节调休")[1].startswith(
        "已有相同条目 / unchanged"
    )
    code, out, err = cli("calendar", "list", "--year", "2027")
    assert code == 0 and "2027-02-20  星期六 Sat  workday" in out and "hall demo" in out
    assert "no official schedule for 2027" in err  # a make-up day alone is not the schedule
    code, out, _err = cli("calendar", "list", "--year", "2026", "--hall", "demo")
    assert code == 0 and "2026-02-14  星期六 Sat  workday  春节调休" in out
    assert "→ 上班 / working" in out and "library" in out
    code, out, _err = cli("calendar", "remove", "2027-02-22", "--hall", "demo")
    assert code == 0 and "removed: 2027-02-22 holiday 春节" in out
    assert entries(application) == [("2027-02-20", "workday", "春节调休", None)]
    actions = [(a, u, d.split(" via=")[1].split(":")[0]) for a, u, d in audits(application)]
    assert actions == [("calendar.add", None, "cli")] * 2 + [("calendar.remove", None, "cli")]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("add", "2027-02-30", "holiday"), 2, "不存在"),
        (("add", "0-1-1", "holiday"), 2, "格式不正确"),
        (("add", "2027-01-01", "vacation"), 2, "holiday, workday or closure"),
        (("add", "2027-01-01", "holiday", "--hall", "nowhere"), 2, "没有编码为 nowhere 的大厅"),
        (("add", "2027-01-01", "holiday", "--name", "节" * 101), 2, "最多 100 个字"),
        (("remove", "2027-01-01"), 2, "没有工作日历条目"),
        (("list", "--year", "0"), 2, "四位数"),
        (("due", "2026-02-13", "-1"), 2, "-1"),
        (("due", "2026-02-13", "3651"), 2, "3651"),
        (("due", "2026-02-13", "5", "--unit", "weeks"), 2, "weeks"),
    ],
)
def test_bad_calendar_commands_fail_clearly(cli, lite, args, code, message):
    result = cli("calendar", *args)
    assert result[0] == code and message in result[2]
    assert entries(lite[0]) == []


def test_calendar_import_is_all_or_nothing(cli, lite, tmp_path):
    application, _ = lite
    bad = tmp_path / "bad.txt"
    bad.write_text("2027-01-01 holiday 元旦\n2027-13-01 holiday\n", encoding="utf-8")
    code, _out, err = cli("calendar", "import", str(bad))
    assert code == 1 and "第 2 行 / line 2" in err and "nothing was saved" in err
    assert entries(application) == []
    good = tmp_path / "2027.txt"
    good.write_bytes(SCHEDULE_2027.encode("gb18030"))  # as Windows Notepad saves it
    code, out, _err = cli("calendar", "import", str(good), "--dry-run")
    assert code == 0 and "nothing written: 6 new" in out and entries(application) == []
    code, out, _err = cli("calendar", "import", str(good), "--hall", "demo")
    assert code == 0 and "6 新增 / new" in out and "hall demo" in out
    assert {e[3] for e in entries(application)} == {"demo"} and len(entries(application)) == 6
    assert cli("calendar", "import", str(tmp_path / "missing.txt"))[0] == 2


def test_calendar_due_prints_the_due_date_and_warns_about_years_without_data(cli, lite):
    assert cli("calendar", "due", "2026-02-13", "20") == (0, "2026-03-19 星期四 Thu\n", "")
    assert cli("calendar", "due", "2025-09-26", "5")[1] == "2025-10-10 星期五 Fri\n"
    assert cli("calendar", "due", "2026-02-13", "1")[1] == "2026-02-14 星期六 Sat\n"
    assert cli("calendar", "due", "2026-09-21", "10", "--unit", "natural")[1].startswith(
        "2026-10-08"
    )
    code, out, err = cli("calendar", "due", "2026-12-30", "3")
    assert code == 0 and out.startswith("2027-01-04") and "Monday–Friday were counted" in err
    assert cli("calendar", "add", "2026-12-31", "closure", "--hall", "demo")[0] == 0
    assert cli("calendar", "due", "2026-12-30", "1", "--hall", "demo")[1].startswith("2027-01-01")
    assert cli("calendar", "due", "2026-12-30", "1")[1].startswith("2026-12-31")


def test_demo_and_serve_print_the_calendar_warning_once_at_start(cli, lite, monkeypatch):
    code, out, err = cli("demo", "--no-serve")
    assert code == 0 and "演示大厅" in out
    assert err.count("No official holiday schedule for 2027") == 1 and "WARNING" in err
    assert "hall calendar status" in err
    served = []
    monkeypatch.setattr(hall.cli, "_serve", lambda app, host, port: served.append(port))
    monkeypatch.setenv("HALL_SECRET_KEY", "x" * 32)
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.WARNING)
    handler.emit = records.append  # a log that is not the console (a file, syslog)
    log = logging.getLogger("hall.calendar")
    log.addHandler(handler)
    monkeypatch.setattr(log, "disabled", False)
    try:
        code, _out, err = cli("serve", "--port", "5099")
    finally:
        log.removeHandler(handler)
    assert code == 0 and served == [5099]
    assert err.count("2027 年的法定节假日和调休安排尚未录入") == 1
    assert [(r.levelname, r.getMessage()[:37]) for r in records] == [
        ("WARNING", "No official holiday schedule for 2027")
    ]
