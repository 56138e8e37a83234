"""The report's files (.xlsx, PDF, .csv) read back: the same numbers as the report's dict and
the API, Chinese sheet names, percentage formats, a native chart, the PDF's rates as text; the
.xlsx opened by LibreOffice; the export page's roles and audit; the `hall report` command.

The data: the hand-made cases of test_rates (overdue ones included) and a generated service
day of tickets and cases (hall.history).
"""

from __future__ import annotations

import csv
import io
import os
import shutil
import subprocess
from datetime import date, timedelta

import openpyxl
import pypdf
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from hall import history
from hall.cli import main
from hall.domain import report_export
from hall.domain.errors import DomainError
from hall.extensions import db
from hall.models import AuditEvent, Hall
from tests.conftest import _token, auth, dispose, load_demo, make_app, need
from tests.test_casedocs import sign_in
from tests.test_rates import _insert_cases

START, END = date(2026, 11, 1), date(2026, 11, 30)
PERIOD = {"from": START.isoformat(), "to": END.isoformat()}
HISTORY_DAY = date(2026, 11, 16)  # a Monday
RATE_KEYS = report_export.RATE_KEYS


def fill(application) -> dict:
    """The demo hall with test_rates' cases and one generated day of tickets and cases;
    returns the accounts' passwords."""
    passwords = load_demo(application)
    with application.app_context():
        _insert_cases(db.session)
        hall = db.session.scalar(sa.select(Hall).where(Hall.code == "demo"))
        history.generate(db.session, hall, days=1, end=HISTORY_DAY, windows=3, seed=7)
        db.session.commit()
    return passwords


@pytest.fixture
def filled(app) -> dict:
    """fill() on SQLite and on PostgreSQL (the `app` fixture's two databases)."""
    return fill(app)


@pytest.fixture
def lite(sqlite_url):
    """A filled app on SQLite only (the tests of the files themselves)."""
    application = make_app(sqlite_url)
    fill(application)
    yield application
    dispose(application)


def report_of(app, group: str = "window", **filters) -> dict:
    with app.app_context():
        hall = db.session.scalar(sa.select(Hall).where(Hall.code == "demo"))
        data = report_export.report_for(
            db.session, hall, start=START, end=END, group=group, **filters
        )
        db.session.rollback()
        return report_export.flat(data)


def pdf_text(content: bytes) -> str:
    """The PDF's text as pypdf reads it, white space removed."""
    reader = pypdf.PdfReader(io.BytesIO(content))
    return "".join("".join((page.extract_text() or "").split()) for page in reader.pages)


def check_xlsx(content: bytes, data: dict) -> None:
    """Sheets, headers, every cell of the grouped table and its formats, the chart."""
    book = openpyxl.load_workbook(io.BytesIO(content))
    grouped = report_export.group_sheet(data["group"])
    assert book.sheetnames == ["汇总", grouped, "逾期办件", "分时段取号", "等候时长"]
    sheet = book[grouped]
    headings = [cell.value for cell in sheet[1]]
    assert headings[0] == report_export.group_heading(data["group"])
    assert sheet.freeze_panes == "B2"
    rows = [*data["rows"], data["total"]]
    assert sheet.max_row >= len(rows) + 1
    for offset, row in enumerate(rows, 2):
        assert sheet.cell(row=offset, column=1).value == row["label"]
        for index, column in enumerate(report_export.COLUMNS, 2):
            cell = sheet.cell(row=offset, column=index)
            expected = row.get(column.key)
            if column.kind == "count":
                assert cell.value == expected, (row["label"], column.key)
            else:
                assert cell.value == (None if expected is None else pytest.approx(expected))
            if column.kind == "rate":
                assert cell.number_format == "0.0%", column.key
            elif column.kind == "minutes":
                assert cell.number_format == "0.0"
    assert len(sheet._charts) == 1
    chart = sheet._charts[0]
    assert chart.tagname == "barChart"
    reference = chart.series[0].val.numRef.f
    rate_column = 2 + [c.key for c in report_export.COLUMNS].index("on_the_spot_rate")
    letter = openpyxl.utils.get_column_letter(rate_column)
    assert reference == f"'{grouped}'!${letter}$2:${letter}${len(data['rows']) + 1}"
    # the summary: the totals, each rate with its formula
    summary = {row[0]: row[1:] for row in book["汇总"].iter_rows(values_only=True) if row[0]}
    assert summary["统计期间"][0] == f"{START} 至 {END}"
    for key in RATE_KEYS:
        name = report_export.COLUMN_BY_KEY[key].heading
        number, formula = summary[name][0], summary[name][1]
        expected = data["total"][key]
        assert number == ("—" if expected is None else pytest.approx(expected))
        assert formula.startswith(name), formula
    assert summary["取号数"][0] == data["total"]["issued"]
    # the overdue cases and the tickets per hour
    overdue = list(book["逾期办件"].iter_rows(values_only=True))
    assert len(overdue) == len(data["overdue"]) + 1 and overdue[0][0] == "办件编号"
    numbers = {case["number"] for case in data["overdue"]}
    assert {line[0] for line in overdue[1:]} == numbers
    hourly = list(book["分时段取号"].iter_rows(min_row=2, max_col=2, values_only=True))
    assert [count for _hour, count in hourly] == [h["issued"] for h in data["hourly"]]
    assert len(book["分时段取号"]._charts) == 1


def check_pdf(content: bytes, data: dict) -> None:
    """A4 landscape, the CJK font embedded, every rate and label as the page shows them."""
    reader = pypdf.PdfReader(io.BytesIO(content))
    box = reader.pages[0].mediabox
    assert (round(float(box.width)), round(float(box.height))) == (842, 595)
    for page in reader.pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            if "/DescendantFonts" in font:
                font = font["/DescendantFonts"][0].get_object()
            assert "WenQuanYi" in str(font["/BaseFont"]), font.get("/BaseFont")
            assert "/FontFile2" in font["/FontDescriptor"].get_object()
    text = pdf_text(content)
    assert "办件与排队统计报表" in text and f"{START}至{END}" in text
    for row in [*data["rows"], data["total"]]:
        assert "".join(row["label"].split()) in text
        for key in RATE_KEYS:
            assert report_export.shown(row, key) in text, (row["label"], key)
    for case in data["overdue"]:
        assert case["number"] in text
    for formula in report_export.formulas(data):
        assert "".join(formula.split())[:20] in text


def test_files_carry_the_numbers_of_the_report(lite, tmp_path):
    app = lite
    data = report_of(app)
    assert data["rows"] and data["overdue"] and sum(h["issued"] for h in data["hourly"]) > 0
    assert any(row[key] is not None for row in data["rows"] for key in RATE_KEYS)
    check_xlsx(report_export.to_xlsx(data), data)
    pdf = report_export.export(data, "pdf")
    check_pdf(pdf, data)
    (tmp_path / "report.pdf").write_bytes(pdf)
    # the .csv: BOM, the grouped table with the percent strings
    raw = report_export.to_csv(data)
    assert raw.startswith(b"\xef\xbb\xbf")
    lines = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert lines[0][:2] == ["窗口", "取号数"] and lines[-1][0] == "合计"
    headings = lines[0]
    for line, row in zip(lines[1:], [*data["rows"], data["total"]], strict=True):
        for key in RATE_KEYS:
            column = headings.index(report_export.COLUMN_BY_KEY[key].heading)
            assert line[column] == report_export.shown(row, key)
        assert int(line[headings.index("取号数")]) == row["issued"]


def test_period_grouping_and_filters_reach_the_files(lite):
    app = lite
    data = report_of(app, group="day", window="3")
    assert len(data["rows"]) == 30 and data["group"] == "day"
    check_xlsx(report_export.to_xlsx(data), data)
    check_pdf(report_export.export(data, "pdf"), data)
    book = openpyxl.load_workbook(io.BytesIO(report_export.to_xlsx(data)))
    assert "按日" in book.sheetnames
    filters = dict(row[:2] for row in book["汇总"].iter_rows(values_only=True) if row[0])
    assert "3" in filters["筛选条件"] and "窗口" in filters["筛选条件"]
    # a filter that names nothing is refused, in words
    with pytest.raises(DomainError, match="No such window: 99") as err:
        report_of(app, window="99")
    assert "99" in err.value.zh


def test_export_page_matches_the_api_is_for_managers_and_audited(app, filled):
    client = app.test_client()
    url = "/manage/demo/reports/export"
    query = {**PERIOD, "group": "window"}
    # staff may not export; signed-out users are sent to sign in
    assert client.get(url, query_string={**query, "format": "xlsx"}).status_code in (302, 401)
    assert sign_in(client, "staff1", filled["staff1"]).status_code in (200, 302)
    assert client.get(url, query_string={**query, "format": "xlsx"}).status_code == 403
    manager = app.test_client()
    sign_in(manager, "manager", filled["manager"])
    answer = manager.get(url, query_string={**query, "format": "xlsx"})
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    assert answer.mimetype == report_export.MIMETYPES["xlsx"]
    assert "attachment" in answer.headers["Content-Disposition"]
    data = report_of(app)
    check_xlsx(answer.data, data)
    # the API answers the same numbers (GET /api/v1/reports, a manager's token)
    token = _token(app, username="manager")
    found = app.test_client().get("/api/v1/reports", query_string=query, headers=auth(token))
    assert found.status_code == 200, found.get_data(as_text=True)[:300]
    body = report_export.flat(found.get_json())
    mine_rows, their_rows = [*data["rows"], data["total"]], [*body["rows"], body["total"]]
    for mine, theirs in zip(mine_rows, their_rows, strict=True):
        assert mine["label"] == theirs["label"]
        for column in report_export.COLUMNS:
            assert mine[column.key] == theirs[column.key], column.key
        assert mine["percent"] == theirs["percent"]
    assert [case["number"] for case in body["overdue"]] == [c["number"] for c in data["overdue"]]
    pdf = manager.get(url, query_string={**query, "format": "pdf"})
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    check_pdf(pdf.data, data)
    csv_file = manager.get(url, query_string={**query, "format": "csv"})
    assert csv_file.status_code == 200 and csv_file.data.startswith(b"\xef\xbb\xbf")
    bad = manager.get(url, query_string={**query, "format": "doc"})
    assert bad.status_code == 400
    with app.app_context():
        events = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "report.export")
        ).all()
        assert len(events) == 3
        assert "format=xlsx" in events[0].detail and "from=2026-11-01" in events[0].detail


def test_xlsx_opens_in_libreoffice(lite, tmp_path):
    app = lite
    soffice = shutil.which("soffice") or shutil.which("libreoffice")
    need(
        soffice is not None,
        "LibreOffice (soffice) is not installed: apt-get install libreoffice-calc-nogui",
    )
    data = report_of(app)
    source = tmp_path / "report.xlsx"
    source.write_bytes(report_export.to_xlsx(data))
    out = tmp_path / "out"
    profile = (tmp_path / "lo-profile").as_uri()
    result = subprocess.run(
        [
            soffice,
            f"-env:UserInstallation={profile}",
            "--headless",
            "--norestore",
            "--convert-to",
            "xlsx:Calc MS Excel 2007 XML",
            "--outdir",
            str(out),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=180,
        env={**os.environ, "HOME": str(tmp_path)},
    )
    saved = out / "report.xlsx"
    assert saved.exists(), result.stdout + result.stderr
    # what LibreOffice read and wrote back: the Chinese sheets, the numbers, the chart
    book = openpyxl.load_workbook(saved)
    grouped = report_export.group_sheet("window")
    assert book.sheetnames[:4] == ["汇总", grouped, "逾期办件", "分时段取号"]
    sheet = book[grouped]
    rate_column = 2 + [c.key for c in report_export.COLUMNS].index("on_the_spot_rate")
    for offset, row in enumerate(data["rows"], 2):
        assert sheet.cell(row=offset, column=1).value == row["label"]
        cell = sheet.cell(row=offset, column=rate_column)
        expected = row["on_the_spot_rate"]
        assert cell.value == (None if expected is None else pytest.approx(expected))
        assert "%" in cell.number_format
    assert len(sheet._charts) == 1


def test_report_command_writes_files_and_refuses_bad_arguments(lite, tmp_path, monkeypatch):
    app = lite
    monkeypatch.setenv("HALL_DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])

    def run(*args):
        return CliRunner().invoke(main, ["report", *args], catch_exceptions=False)

    data = report_of(app, group="staff")
    for fmt in ("xlsx", "pdf", "csv"):
        output = tmp_path / f"r.{fmt}"
        result = run(
            "--from", "2026-11-01", "--to", "2026-11-30", "--hall", "demo",
            "--group", "staff", "--format", fmt, "--output", str(output),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        assert output.exists() and str(output) in result.output
    check_xlsx((tmp_path / "r.xlsx").read_bytes(), data)
    check_pdf((tmp_path / "r.pdf").read_bytes(), data)
    assert "按人员" in openpyxl.load_workbook(tmp_path / "r.xlsx").sheetnames
    # the format follows the extension when not given
    plain = run(
        "--from", "2026-11-01", "--to", "2026-11-30", "--hall", "demo",
        "--output", str(tmp_path / "a.csv"),
    )  # fmt: skip
    assert plain.exit_code == 0 and (tmp_path / "a.csv").read_bytes().startswith(b"\xef\xbb\xbf")
    refused = {
        ("--group", "year"): "year",
        ("--format", "doc"): "doc",
        ("--window", "99"): "99",
        ("--from", "2026-13-01"): "2026-13-01",
        ("--to", "2026-10-01"): "2026-10-01",
        ("--hall", ""): "--hall",  # two halls: which one?
    }
    for extra, shown in refused.items():
        args = {
            "--from": "2026-11-01",
            "--to": "2026-11-30",
            "--hall": "demo",
            "--output": str(tmp_path / "x.pdf"),
        }
        args.update(dict([extra]))
        flat = [part for pair in args.items() for part in pair]
        result = CliRunner().invoke(main, ["report", *flat])
        assert result.exit_code != 0, extra
        message = result.output
        assert shown in message and ("错误" in message or "Invalid value" in message), message
    assert not (tmp_path / "x.pdf").exists()
    missing = CliRunner().invoke(main, ["report", "--from", "2026-11-01"])
    assert missing.exit_code == 2 and "--to" in missing.output


def test_pdf_of_an_empty_period_says_so(sqlite_url):
    app = make_app(sqlite_url)
    load_demo(app)
    with app.app_context():
        hall = db.session.scalar(sa.select(Hall).where(Hall.code == "demo"))
        day = date(2025, 1, 6)
        data = report_export.report_for(
            db.session, hall, start=day, end=day + timedelta(days=6), group="week"
        )
        db.session.rollback()
    dispose(app)
    text = pdf_text(report_export.export(data, "pdf"))
    assert "无逾期未办结的办件" in text and "—" in text
    book = openpyxl.load_workbook(io.BytesIO(report_export.to_xlsx(data)))
    assert "按周" in book.sheetnames
    assert [row["label"] for row in data["rows"]] == ["2025 年第 2 周"]
