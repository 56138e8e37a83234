"""The report pages (统计报表, /manage/<hall>/reports and the staff view): the numbers shown
equal hall.domain.reports.report_dict's for the same filters, every rate carries its formula,
bad filters get a clear 400, staff get 403; one browser test draws the charts."""

from __future__ import annotations

import re
from datetime import date
from html import unescape

import pytest
import sqlalchemy as sa

from hall.domain import board
from hall.domain import reports as domain
from hall.domain.rates import FORMULAS
from hall.extensions import db
from hall.history import generate
from hall.models import Hall, Window
from tests.conftest import ARTIFACTS, LiveServer, load_demo, make_app
from tests.test_counter import sign_in

DAYS = 10


def hall_and_today(app) -> tuple[int, date]:
    with app.app_context():
        hall = db.session.scalar(sa.select(Hall).where(Hall.code == "demo"))
        return hall.id, board.service_day(hall)


def make_history(app) -> tuple[date, date]:
    """Ten days of the demo hall's past at three windows (tickets and cases); the range."""
    with app.app_context():
        hall = db.session.scalar(sa.select(Hall).where(Hall.code == "demo"))
        made = generate(db.session, hall, days=DAYS, windows=3, seed=7)
        db.session.commit()
        return made["start"], made["end"]


def expected(app, start: date, end: date, group: str, **ids) -> dict:
    """report_dict for the filters, as the page computes it."""
    hall_id, today = hall_and_today(app)
    with app.app_context():
        report = domain.build(
            db.session, hall_id=hall_id, start=start, end=end, group=group, today=today, **ids
        )
        return domain.report_dict(report)


def table_cells(html: str, table_id: str) -> dict[str, dict[str, str]]:
    """{row key: {column key: text}} of a report table (the total row under key 'total')."""
    table = re.search(rf'<table[^>]*id="{table_id}".*?</table>', html, re.S)
    assert table, f"no table {table_id}"
    rows = {}
    for key, body in re.findall(r'<tr data-key="([^"]*)"[^>]*>(.*?)</tr>', table.group(0), re.S):
        rows[key] = {
            col: unescape(text).strip()
            for col, text in re.findall(r'<td[^>]*data-col="([^"]+)"[^>]*>(.*?)</td>', body, re.S)
        }
    return rows


def minutes(value) -> str:
    return "—" if value is None else f"{value:.1f}"


@pytest.fixture
def history(app, demo):
    return make_history(app)


def test_report_page_shows_report_dict_numbers_and_formulas(app, client, demo, history):
    start, end = history
    sign_in(client, "manager", demo["manager"])
    query = {"from": start.isoformat(), "to": end.isoformat(), "group": "window"}
    response = client.get("/manage/demo/reports", query_string=query)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    report = expected(app, start, end, "window")
    assert report["rows"], "the history has windows with tickets"

    tickets, cases = table_cells(html, "ticket-table"), table_cells(html, "case-table")
    for row in [*report["rows"], report["total"]]:
        key = "total" if row is report["total"] else str(row["key"])
        assert tickets[key]["issued"] == str(row["issued"])
        assert tickets[key]["served"] == str(row["served"])
        assert tickets[key]["no_shows"] == str(row["no_shows"])
        assert tickets[key]["avg_wait_minutes"] == minutes(row["avg_wait_minutes"])
        assert tickets[key]["p90_wait_minutes"] == minutes(row["p90_wait_minutes"])
        assert tickets[key]["avg_service_minutes"] == minutes(row["avg_service_minutes"])
        for rate in ("on_the_spot_rate", "promised_rate", "strict_rate", "early_rate"):
            assert cases[key][rate] == row["rates"]["percent"][rate]
        assert tickets[key]["no_show_rate"] == row["percent"]["no_show_rate"]
        assert cases[key]["open_overdue"] == str(row["rates"]["open_overdue"])
        assert cases[key]["on_the_spot"] == str(row["rates"]["on_the_spot"])
    assert report["total"]["issued"] > 0 and "%" in cases["total"]["on_the_spot_rate"]

    # every rate with its formula, as visible text
    text = unescape(html)
    for rate in ("on_the_spot_rate", "promised_rate", "strict_rate", "early_rate"):
        assert FORMULAS[rate]["zh"] in text
    # the overdue cases, the chart data and the vendored Chart.js
    for case in report["overdue"]:
        assert case["number"] in html
    assert 'data-report="' in html and "vendor/chart.js/chart.umd.js" in html
    assert "<script>" not in html  # no inline script
    exports = "manage.report_export" in app.view_functions
    assert ("format=xlsx" in html) == exports and ("format=pdf" in html) == exports

    # grouped by day with a window filter: the same numbers as report_dict's
    with app.app_context():
        window = db.session.scalar(sa.select(Window).where(Window.number == 1))
    query = {"from": start.isoformat(), "to": end.isoformat(), "group": "day", "window": "1"}
    html = client.get("/manage/demo/reports", query_string=query).get_data(as_text=True)
    report = expected(app, start, end, "day", window_id=window.id)
    tickets = table_cells(html, "ticket-table")
    assert len(report["rows"]) == DAYS
    for row in report["rows"]:
        assert tickets[str(row["key"])]["issued"] == str(row["issued"])
    assert tickets["total"]["issued"] == str(report["total"]["issued"])


def test_staff_view_sorts_and_shows_satisfaction_dash(app, client, demo, history):
    start, end = history
    sign_in(client, "admin", demo["admin"])
    query = {"from": start.isoformat(), "to": end.isoformat(), "sort": "served", "dir": "asc"}
    response = client.get("/manage/demo/reports/staff", query_string=query)
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    report = expected(app, start, end, "staff")
    cells = table_cells(html, "staff-table")
    for row in report["rows"]:
        shown = cells[str(row["key"])]
        assert shown["served"] == str(row["served"])
        assert shown["avg_service_minutes"] == minutes(row["avg_service_minutes"])
        assert shown["promised_rate"] == row["rates"]["percent"]["promised_rate"]
        assert shown["satisfaction"] == "—"
    # sorted on the server by served, ascending (rows without a value last)
    body = re.search(r'<table[^>]*id="staff-table".*?<tbody>(.*?)</tbody>', html, re.S).group(1)
    order = re.findall(r'<tr data-key="([^"]*)">', body)
    served = {str(row["key"]): row["served"] for row in report["rows"]}
    values = [served[key] for key in order if served[key] is not None]
    assert values == sorted(values) and len(order) == len(report["rows"])
    assert 'aria-sort="ascending"' in html
    assert "暂无评价数据" in html  # says why satisfaction is 「—」


def test_staff_get_403_and_english_and_empty_range(app, client, demo):
    sign_in(client, "staff1", demo["staff1"])
    assert client.get("/manage/demo/reports").status_code == 403
    assert client.get("/manage/demo/reports/staff").status_code == 403
    client = app.test_client()
    sign_in(client, "manager", demo["manager"])
    # no history: an empty month shows 「—」, not errors
    html = client.get("/manage/demo/reports?group=month").get_data(as_text=True)
    cells = table_cells(html, "ticket-table")
    assert cells["total"]["avg_wait_minutes"] == "—"
    assert table_cells(html, "case-table")["total"]["promised_rate"] == "—"
    assert "没有逾期未办结的办件" in html
    english = client.get("/manage/demo/reports?lang=en")
    assert english.status_code == 200
    text = unescape(english.get_data(as_text=True))
    assert "Reports" in text and FORMULAS["promised_rate"]["en"] in text
    assert "统计报表" not in text


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "2026-13-01"}, "日期「2026-13-01」无效"),
        ({"from": "2026-05-02", "to": "2026-05-01"}, "晚于结束日期"),
        ({"from": "2020-01-01", "to": "2026-01-01"}, "不能超过"),
        ({"group": "year"}, "分组方式「year」无效"),
        ({"window": "99"}, "没有 99 号窗口"),
        ({"matter": "nope\x00"}, "参数 matter 无效"),
        ({"staff": "nobody"}, "没有用户名为 nobody"),
    ],
)
def test_bad_filters_get_a_clear_400(app, client, demo, query, message):
    sign_in(client, "manager", demo["manager"])
    paths = ["/manage/demo/reports"]
    if "group" not in query:  # the staff view is always grouped by staff member
        paths.append("/manage/demo/reports/staff")
    for path in paths:
        response = client.get(path, query_string=query)
        assert response.status_code == 400, (path, query)
        html = response.get_data(as_text=True)
        assert 'id="report-error"' in html and message in unescape(html)
        assert 'id="report-filters"' in html  # the form stays, to fix the value


def test_report_page_draws_the_charts_in_a_browser(sqlite_url, browser_context):
    application = make_app(sqlite_url)
    passwords = load_demo(application)
    start, end = make_history(application)
    server = LiveServer(application).start()
    try:
        page = browser_context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda err: errors.append(str(err)))
        page.set_viewport_size({"width": 1366, "height": 1000})
        page.goto(f"{server.url}/counter/")
        page.fill("#username", "manager")
        page.fill("#password", passwords["manager"])
        page.press("#password", "Enter")
        page.wait_for_load_state()
        page.goto(
            f"{server.url}/manage/demo/reports?from={start.isoformat()}&to={end.isoformat()}"
            "&group=day"
        )
        page.wait_for_function("window.hallReportCharts && window.hallReportCharts.length === 3")
        # each canvas has drawn something (not blank)
        painted = page.evaluate(
            """() => ['chart-windows', 'chart-hours', 'chart-waits'].map((id) => {
                const canvas = document.getElementById(id);
                const data = canvas.getContext('2d')
                    .getImageData(0, 0, canvas.width, canvas.height).data;
                let inked = 0;
                for (let i = 3; i < data.length; i += 4) if (data[i] > 0) inked++;
                return inked;
            })"""
        )
        assert all(count > 500 for count in painted), painted
        hourly = page.evaluate("window.hallReportCharts[1].data.datasets[0].data")
        assert sum(hourly) == expected(application, start, end, "day")["total"]["issued"]
        assert page.is_hidden("#charts-nojs")
        # the client-side sort of a table: by issued, descending, then ascending
        page.click("#ticket-table thead th[data-key=issued] button")
        values = page.eval_on_selector_all(
            "#ticket-table tbody td[data-col=issued]", "cells => cells.map(c => +c.dataset.sort)"
        )
        assert values == sorted(values, reverse=True)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "reports-page.png"), full_page=True)
        assert not errors, errors
    finally:
        server.stop()
        with application.app_context():
            db.session.remove()
            db.engine.dispose()
