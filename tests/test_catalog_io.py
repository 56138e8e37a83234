"""The matter list (事项清单) as .xlsx and .csv: template, validated import, export, round trip."""

from __future__ import annotations

import codecs
import csv
import io
import re
import zipfile

import openpyxl
import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from sqlalchemy.orm import selectinload

from hall.cli import main
from hall.domain import catalog_io
from hall.extensions import db
from hall.models import AuditEvent, Department, Hall, Material, Matter, Queue
from tests.test_counter import form_token, second_hall, sign_in, user_id

HEADERS = [c.header for c in catalog_io.COLUMNS]
FIELDS = [
    "name",
    "kind",
    "promised_days",
    "promised_unit",
    "statutory_days",
    "statutory_unit",
    "legal_basis",
    "conditions",
    "process",
    "fee",
    "fee_basis",
    "place",
    "hours",
    "phone",
    "complaint",
    "result_document",
    "visits",
    "online",
    "appointment",
    "faq",
    "sort_order",
    "active",
]

FULL = {
    "事项编码": "CIO-001",
    "事项名称": "测试证明开具",
    "实施部门": "cio",
    "办件类型": "承诺件",
    "承诺时限": 5,
    "承诺时限单位": "工作日",
    "法定时限": 20,
    "法定时限单位": "自然日",
    "设定依据": "《测试条例》第一条\n《测试办法》第二条",
    "受理条件": "本区户籍居民",
    "办理流程": "取号\n窗口受理\n审核\n办结",
    "收费标准": "不收费",
    "收费依据": "",
    "办理地点": "区政务服务中心一楼 3 号窗口",
    "办理时间": "周一至周五 9:00-17:00",
    "咨询电话": "0571-12345678",
    "投诉渠道": "12345 政务服务便民热线",
    "办理结果": "测试证明",
    "到现场次数": 1,
    "网上办理": "是",
    "预约办理": "否",
    "常见问题": "问：可以代办吗？\n答：可以，\n须带委托书。\n问：要多久？\n答：5 个工作日。",
    "申请材料": (
        "居民身份证｜必要｜原件｜1\n"
        "户口簿|非必要|复印件|2|首页和本人页\n"
        "申请表｜必要｜原件及复印件｜1｜本人签名｜申请表.docx｜申请表样表.pdf\n"
        "照片"
    ),
    "排队业务": "X",
    "排序": 3,
    "状态": "在用",
}
# values a spreadsheet program could mistake for formulas, quotes, commas, no queue…
TRICKY = {
    "事项编码": "CIO-002",
    "事项名称": '测试"事项",含逗号',
    "实施部门": "第二测试局",
    "办件类型": "即办件",
    "法定时限": 3,
    "法定时限单位": "自然日",
    "办理流程": "- 第一步\n- 第二步",
    "收费标准": "=按件收费",
    "受理条件": "+86 手机号实名",
    "咨询电话": "@测试",
    "常见问题": "问：'引号'怎么办？\n答：原样保留。\n\n第二段。",
    "申请材料": "电子照片｜必要｜电子材料｜0｜'回执'\n承诺书  （本人签字） ｜容缺｜复印件｜1",
    "到现场次数": 0,
    "网上办理": "是",
    "预约办理": "是",
    "排序": -5,
    "状态": "停用",
}


# ---------------------------------------------------------------- helpers


def xlsx_file(rows: list[dict], headers: list[str] = HEADERS, sheet: str = "事项清单") -> bytes:
    """An .xlsx matter list, as a clerk's Excel would save it."""
    book = openpyxl.Workbook()
    ws = book.active
    ws.title = sheet
    ws.append(headers)
    for number, row in enumerate(rows, 2):
        for column, header in enumerate(headers, 1):
            cell = ws.cell(row=number, column=column, value=row.get(header))
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # typed as text, as Excel keeps a '= cell
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def csv_file(
    rows: list[dict],
    headers: list[str] = HEADERS,
    encoding: str = "utf-8-sig",
    delimiter: str = ",",
) -> bytes:
    """A .csv matter list in the given encoding."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(headers)
    for row in rows:
        writer.writerow(["" if row.get(h) is None else row.get(h) for h in headers])
    return buffer.getvalue().encode(encoding)


def make_file(fmt: str, rows: list[dict], **kw) -> bytes:
    return xlsx_file(rows, **kw) if fmt == "xlsx" else csv_file(rows, **kw)


def do_import(
    app, data: bytes, filename: str = "清单.xlsx", hall: str | None = "demo", **kw
) -> catalog_io.ImportReport:
    """Import through the domain and commit when it applied."""
    with app.app_context():
        table = catalog_io.read_table(data, filename)
        report = catalog_io.import_catalog(
            db.session,
            table,
            hall=catalog_io.resolve_hall(db.session, hall),
            filename=filename,
            **kw,
        )
        if report.applied:
            db.session.commit()
        else:
            db.session.rollback()
        return report


def dump(app) -> dict[str, dict]:
    """The whole catalogue as plain values (no ids, no times)."""
    with app.app_context():
        matters = db.session.scalars(
            sa.select(Matter).options(selectinload(Matter.materials))
        ).all()
        return {
            m.code: {f: getattr(m, f) for f in FIELDS}
            | {
                "department": m.department.code,
                "queue": m.queue.prefix if m.queue else None,
                "materials": [
                    (x.position, x.name, x.required, x.form, x.copies, x.notes)
                    + (x.blank_form, x.sample)
                    for x in m.materials
                ],
            }
            for m in matters
        }


def matter_count(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(Matter))


def stamps(app) -> dict[str, object]:
    with app.app_context():
        return dict(db.session.execute(sa.select(Matter.code, Matter.updated_at)).all())


def audits(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()
        db.session.expunge_all()
        return rows


@pytest.fixture
def hall_app(app, demo):
    """The demo hall plus two departments and a queue X of the tests' own."""
    with app.app_context():
        db.session.add_all(
            [
                Department(code="cio", name="测试数据管理局", sort_order=90),
                Department(code="cio2", name="第二测试局", sort_order=91),
            ]
        )
        hall = db.session.scalar(sa.select(Hall).where(Hall.code == "demo"))
        db.session.add(Queue(hall_id=hall.id, prefix="X", name="测试业务"))
        db.session.commit()
    return app


# ---------------------------------------------------------------- template


def test_template_has_the_chinese_headers_and_the_instructions_sheet(hall_app):
    with hall_app.app_context():
        hall = catalog_io.resolve_hall(db.session, "demo")
        book_bytes = catalog_io.template(db.session, "xlsx", hall=hall)
        csv_bytes = catalog_io.template(db.session, "csv", hall=hall)
    book = openpyxl.load_workbook(io.BytesIO(book_bytes))
    assert book.sheetnames[0] == "事项清单" and "填写说明" in book.sheetnames
    sheet = book["事项清单"]
    assert [c.value for c in sheet[1]] == HEADERS
    assert sheet.max_row == 1
    for header in (
        "事项编码",
        "办件类型",
        "承诺时限单位",
        "申请材料",
        "常见问题",
        "排队业务",
        "状态",
    ):
        assert header in HEADERS
    kinds = [v for v in sheet.data_validations.dataValidation if "即办件" in (v.formula1 or "")]
    assert kinds and kinds[0].showErrorMessage
    help_text = "\n".join(
        str(v) for row in book["填写说明"].iter_rows(values_only=True) for v in row if v
    )
    assert "申请材料的写法" in help_text and "｜必要/非必要｜" in help_text
    assert "问：" in help_text and "答：" in help_text
    lookup = list(book["部门与排队业务"].iter_rows(values_only=True))
    assert any(r[:2] == ("cio", "测试数据管理局") for r in lookup)
    assert any(r[3] == "X" and r[4] == "测试业务" for r in lookup)
    assert csv_bytes.startswith(codecs.BOM_UTF8)
    assert csv_bytes.decode("utf-8-sig").strip() == ",".join(HEADERS)


# ---------------------------------------------------------------- import


def test_import_creates_matters_with_their_full_guide_and_records_it(hall_app):
    before = matter_count(hall_app)
    report = do_import(hall_app, xlsx_file([FULL, TRICKY]), user_id=None)
    assert report.ok and (report.created, report.updated, report.unchanged) == (2, 0, 0)
    assert matter_count(hall_app) == before + 2
    with hall_app.app_context():
        matter = db.session.scalar(sa.select(Matter).where(Matter.code == "CIO-001"))
        assert matter.name == "测试证明开具" and matter.department.code == "cio"
        assert matter.kind == "promised" and matter.promised_days == 5
        assert (matter.statutory_days, matter.statutory_unit) == (20, "natural")
        assert matter.process_steps == ["取号", "窗口受理", "审核", "办结"]
        assert matter.online and not matter.appointment and matter.visits == 1
        assert matter.queue.prefix == "X" and matter.queue.hall.code == "demo"
        assert matter.faq == [
            {"q": "可以代办吗？", "a": "可以，\n须带委托书。"},
            {"q": "要多久？", "a": "5 个工作日。"},
        ]
        assert [
            (m.name, m.required, m.form, m.copies, m.notes, m.blank_form, m.sample)
            for m in matter.materials
        ] == [
            ("居民身份证", True, "original", 1, "", "", ""),
            ("户口簿", False, "copy", 2, "首页和本人页", "", ""),
            ("申请表", True, "both", 1, "本人签名", "申请表.docx", "申请表样表.pdf"),
            ("照片", True, "original", 1, "", "", ""),
        ]
        assert [m.position for m in matter.materials] == [0, 1, 2, 3]
        assert matter.updated_at is not None
        tricky = db.session.scalar(sa.select(Matter).where(Matter.code == "CIO-002"))
        assert tricky.department.code == "cio2" and tricky.queue is None
        assert not tricky.active and tricky.sort_order == -5 and tricky.fee == "=按件收费"
        assert tricky.materials[1].required is False  # 容缺
        assert tricky.materials[1].name == "承诺书 （本人签字）"
        assert tricky.faq == [{"q": "'引号'怎么办？", "a": "原样保留。\n\n第二段。"}]
    (event,) = audits(hall_app, "catalog.import")
    assert "created=2" in event.detail and "updated=0" in event.detail


def test_the_same_file_twice_changes_nothing_and_never_duplicates(hall_app):
    data = xlsx_file([FULL, TRICKY])
    do_import(hall_app, data)
    first, before, count = stamps(hall_app), dump(hall_app), matter_count(hall_app)
    with hall_app.app_context():
        material_ids = db.session.scalars(sa.select(Material.id).order_by(Material.id)).all()
    again = do_import(hall_app, data)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 2)
    assert matter_count(hall_app) == count and dump(hall_app) == before
    assert stamps(hall_app) == first
    with hall_app.app_context():
        assert db.session.scalars(sa.select(Material.id).order_by(Material.id)).all() == (
            material_ids
        )


def test_reimport_updates_by_code_and_replaces_the_materials(hall_app):
    do_import(hall_app, xlsx_file([FULL, TRICKY]))
    first = stamps(hall_app)
    changed = dict(FULL, 申请材料="居民身份证｜必要｜原件｜1\n新材料｜必要｜复印件｜3")
    renamed = dict(TRICKY, 事项名称="改名后的事项", 排队业务="x")
    report = do_import(hall_app, csv_file([changed, renamed]), "清单.csv")
    assert (report.created, report.updated, report.unchanged) == (0, 2, 0)
    columns = {c.code: c.columns for c in report.changes}
    assert columns == {"CIO-001": ["申请材料"], "CIO-002": ["事项名称", "排队业务"]}
    after = dump(hall_app)
    assert [m[1] for m in after["CIO-001"]["materials"]] == ["居民身份证", "新材料"]
    assert after["CIO-002"]["name"] == "改名后的事项" and after["CIO-002"]["queue"] == "X"
    with hall_app.app_context():
        ours = sa.select(sa.func.count(Material.id)).join(Matter).where(Matter.code.like("CIO-%"))
        assert db.session.scalar(ours) == 2 + 2  # old materials are gone, not kept beside
    now = stamps(hall_app)
    # a change of the materials alone moves updated_at too (the search index watches it)
    assert now["CIO-001"] > first["CIO-001"] and now["CIO-002"] > first["CIO-002"]
    assert all(now[code] == first[code] for code in first if not code.startswith("CIO-"))


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_export_then_import_gives_the_same_catalogue(hall_app, fmt):
    do_import(hall_app, xlsx_file([FULL, TRICKY]))
    with hall_app.app_context():
        # a matter edited in the browser may carry CRLF line breaks and a loose material note
        matter = db.session.scalar(sa.select(Matter).where(Matter.code == "CIO-001"))
        matter.conditions = "第一行\r\n第二行"
        db.session.commit()
    catalogue, count = dump(hall_app), matter_count(hall_app)
    with hall_app.app_context():
        hall = catalog_io.resolve_hall(db.session, "demo")
        data = catalog_io.export_catalog(db.session, fmt, hall=hall, user_id=None)
        db.session.commit()
    if fmt == "csv":
        assert data.startswith(codecs.BOM_UTF8)
        assert "'=按件收费" in data.decode("utf-8-sig")  # Excel does not run it as a formula
    again = do_import(hall_app, data, f"导出.{fmt}")
    assert again.ok, [str(p) for p in again.problems]
    assert (again.created, again.updated, again.unchanged) == (0, 0, count)
    # into an empty catalogue: the same matters come back
    with hall_app.app_context():
        db.session.execute(sa.delete(Material))
        db.session.execute(sa.delete(Matter))
        db.session.commit()
    fresh = do_import(hall_app, data, f"导出.{fmt}")
    assert fresh.created == count
    restored = dump(hall_app)
    catalogue["CIO-001"]["conditions"] = "第一行\n第二行"
    assert restored == catalogue
    assert len(audits(hall_app, "catalog.export")) == 1


@pytest.mark.parametrize("fmt", ["xlsx", "csv"])
def test_every_bad_row_is_reported_by_row_and_column_and_nothing_is_imported(hall_app, fmt):
    good = dict(FULL, 事项编码="CIO-101")
    rows = [
        good,  # 2
        dict(FULL, 事项编码="", 事项名称=" "),  # 3
        dict(FULL, 事项编码="CIO-104", 实施部门="不存在局"),  # 4
        dict(FULL, 事项编码="CIO-105", 办件类型="普通件"),  # 5
        dict(FULL, 事项编码="CIO-106", 承诺时限="五", 法定时限="-1"),  # 6
        dict(FULL, 事项编码="CIO-107", 承诺时限单位="月"),  # 7
        dict(FULL, 事项编码="CIO-108", 事项名称="长" * 201),  # 8
        dict(FULL, 事项编码="CIO-109", 排队业务="Z"),  # 9
        dict(FULL),  # 10: its code repeats row 2? no: CIO-001 is new and fine
        dict(FULL, 事项编码="CIO-101"),  # 11: repeats row 2
        dict(FULL, 事项编码="CIO-112", 申请材料="身份证｜必须要｜原件"),  # 12
        dict(FULL, 事项编码="CIO-113", 常见问题="答：没有问题"),  # 13
        dict(FULL, 事项编码="CIO-114", 网上办理="也许"),  # 14
        dict(FULL, 事项编码="CIO-115", 状态="删除"),  # 15
        dict(FULL, 事项编码="CIO-116", 承诺时限=30, 法定时限=20, 法定时限单位="工作日"),  # 16
        {},  # 17: blank, skipped
        dict(FULL, 事项编码="CIO 118", 咨询电话="1" * 101),  # 18
        dict(FULL, 事项编码="CIO-119", 到现场次数="2次"),  # 19
    ]
    before = dump(hall_app)
    report = do_import(hall_app, make_file(fmt, rows), f"坏文件.{fmt}")
    assert not report.ok and not report.applied
    found = {(p.row, p.column) for p in report.problems}
    assert found == {
        (3, "事项编码"),
        (3, "事项名称"),
        (4, "实施部门"),
        (5, "办件类型"),
        (6, "承诺时限"),
        (6, "法定时限"),
        (7, "承诺时限单位"),
        (8, "事项名称"),
        (9, "排队业务"),
        (11, "事项编码"),
        (12, "申请材料"),
        (13, "常见问题"),
        (14, "网上办理"),
        (15, "状态"),
        (16, "承诺时限"),
        (18, "事项编码"),
        (18, "咨询电话"),
        (19, "到现场次数"),
    }
    by_cell = {(p.row, p.column): p for p in report.problems}
    assert "必填" in by_cell[3, "事项编码"].zh and "required" in by_cell[3, "事项编码"].en
    department = by_cell[4, "实施部门"]
    assert "不存在局" in department.zh and "测试数据管理局（cio）" in department.zh
    assert "known departments" in department.en
    assert "即办件" in by_cell[5, "办件类型"].zh
    assert "不是整数" in by_cell[6, "承诺时限"].zh and "0 到 3650" in by_cell[6, "法定时限"].zh
    assert "200" in by_cell[8, "事项名称"].zh and "201" in by_cell[8, "事项名称"].zh
    assert "X 测试业务" in by_cell[9, "排队业务"].zh
    assert "第 2 行重复" in by_cell[11, "事项编码"].zh
    assert "第 1 行材料" in by_cell[12, "申请材料"].zh and "必要" in by_cell[12, "申请材料"].zh
    assert "问：" in by_cell[13, "常见问题"].zh
    assert "超过法定时限" in by_cell[16, "承诺时限"].zh
    assert "单位另填" in by_cell[19, "到现场次数"].zh
    assert all(p.zh and p.en for p in report.problems)
    assert dump(hall_app) == before
    assert audits(hall_app, "catalog.import") == []


def test_csv_in_utf8_with_or_without_bom_gbk_gb18030_and_excel_unicode_text(hall_app):
    row = dict(FULL, 申请材料="居民身份证｜必要｜原件｜1\n户口簿|非必要|复印件|2")
    first = do_import(hall_app, csv_file([row], encoding="utf-8-sig"), "a.csv")
    assert first.created == 1
    for encoding, delimiter in [
        ("utf-8", ","),
        ("gbk", ","),
        ("gb18030", ","),
        ("utf-16", "\t"),  # Excel's 「Unicode 文本」
        ("utf-8", ";"),
    ]:
        report = do_import(
            hall_app, csv_file([row], encoding=encoding, delimiter=delimiter), "b.csv"
        )
        assert report.ok, (encoding, [str(p) for p in report.problems])
        assert (report.created, report.updated, report.unchanged) == (0, 0, 1), encoding
    # a multi-line cell does not shift the row numbers of later rows
    bad = csv_file([row, dict(FULL, 事项编码="CIO-9", 办件类型="?")], encoding="gbk")
    report = do_import(hall_app, bad, "c.csv")
    assert [(p.row, p.column) for p in report.problems] == [(3, "办件类型")]


def test_bad_files_give_a_clear_error_never_a_crash(monkeypatch):
    def refused(data: bytes, name: str) -> catalog_io.CatalogFileError:
        with pytest.raises(catalog_io.CatalogFileError) as caught:
            catalog_io.read_table(data, name)
        assert caught.value.zh and caught.value.en and caught.value.status == 400
        return caught.value

    assert refused(b"", "a.xlsx").code == "empty_file"
    assert refused(b"this is not a workbook", "a.xlsx").code == "not_xlsx"
    assert refused(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 100, "a.xls").code == "old_excel"
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("readme.txt", "hello")
    assert refused(archive.getvalue(), "a.xlsx").code == "not_xlsx"
    damaged = xlsx_file([FULL])[:-200]
    assert refused(damaged, "a.xlsx").code == "not_xlsx"
    assert refused(b"%PDF-1.4 ...", "a.pdf").code == "unsupported_file"
    assert refused(b"\x00\x01\x02binary", "a.csv").code == "not_csv"
    assert refused("事项编码".encode() + b"\x80\x80", "a.csv").code == "bad_encoding"
    assert refused(b"\r\n\r\n", "a.csv").code == "no_header"
    assert refused(xlsx_file([], headers=[]), "a.xlsx").code == "no_header"
    monkeypatch.setattr(catalog_io, "MAX_ROWS", 5)
    assert refused(csv_file([FULL] * 6), "a.csv").code == "too_many_rows"
    assert refused(xlsx_file([FULL] * 6), "a.xlsx").code == "too_many_rows"
    monkeypatch.setattr(catalog_io, "MAX_UNPACKED_BYTES", 10_000)  # a zip bomb
    assert refused(xlsx_file([FULL] * 2), "a.xlsx").code == "file_too_large"
    monkeypatch.setattr(catalog_io, "MAX_FILE_BYTES", 1000)
    assert refused(b"x" * 1001, "a.csv").code == "file_too_large"


def test_wrong_headers_and_an_empty_list_are_reported(hall_app):
    wrong = ["事项编码", "事项明称", "实施部门", "事项编码"]
    report = do_import(hall_app, csv_file([], headers=wrong), "a.csv")
    found = {(p.row, p.column): p for p in report.problems}
    assert set(found) == {(1, "事项明称"), (1, "事项编码"), (1, "事项名称"), (1, "办件类型")}
    assert "不认识的列名" in found[1, "事项明称"].zh
    assert "两次" in found[1, "事项编码"].zh and "缺少必填的列" in found[1, "办件类型"].zh
    empty = do_import(hall_app, csv_file([]), "a.csv")
    assert [p.zh for p in empty.problems] == ["文件中没有事项（表头下面没有数据行）"]
    # a clerk's own sheet: 序号 column, hints after the headers, other column order
    assert set(catalog_io.HEADER_ALIASES.values()) <= set(catalog_io.BY_KEY)
    own = [
        "序号",
        "事项名称",
        "事项编码*",
        "办件类型（即办件/承诺件）",
        "部门",
        "排队业务",
        "事项状态",
    ]
    rows = [
        {
            "序号": 1,
            "事项名称": "简表事项",
            "事项编码*": "CIO-S1",
            "部门": "cio",
            "事项状态": "停用",
        }
    ]
    rows[0]["办件类型（即办件/承诺件）"] = "即办件"
    rows[0]["排队业务"] = "X"
    report = do_import(hall_app, xlsx_file(rows, headers=own, sheet="Sheet1"), "own.xlsx")
    assert report.ok and report.created == 1, [str(p) for p in report.problems]
    assert dump(hall_app)["CIO-S1"]["active"] is False


def test_a_missing_column_leaves_that_field_alone(hall_app):
    do_import(hall_app, xlsx_file([FULL]))
    short = ["事项编码", "事项名称", "实施部门", "办件类型"]
    row = {"事项编码": "CIO-001", "事项名称": "新名称", "实施部门": "cio", "办件类型": "承诺件"}
    report = do_import(hall_app, xlsx_file([row], headers=short))
    assert report.updated == 1 and report.changes[0].columns == ["事项名称"]
    after = dump(hall_app)["CIO-001"]
    assert after["name"] == "新名称" and len(after["materials"]) == 4 and after["queue"] == "X"


def test_queue_letters_belong_to_the_chosen_hall(hall_app):
    second_hall(hall_app)  # 北街道 with queue A only
    do_import(hall_app, xlsx_file([FULL]))  # CIO-001 in demo's queue X
    keep = do_import(hall_app, xlsx_file([FULL]), hall="north")
    assert keep.unchanged == 1  # its queue already has the letter X: kept
    new = dict(FULL, 事项编码="CIO-N1")
    refused = do_import(hall_app, xlsx_file([new]), hall="north")
    assert [(p.row, p.column) for p in refused.problems] == [(2, "排队业务")]
    assert "北街道便民服务中心" in refused.problems[0].zh and "A 综合受理" in refused.problems[0].zh
    created = do_import(hall_app, xlsx_file([dict(new, 排队业务="a")]), hall="north")
    assert created.created == 1
    with hall_app.app_context():
        matter = db.session.scalar(sa.select(Matter).where(Matter.code == "CIO-N1"))
        assert (matter.queue.hall.code, matter.queue.prefix) == ("north", "A")
    # two halls and none chosen: a new letter cannot be placed
    unknown = do_import(hall_app, xlsx_file([dict(new, 事项编码="CIO-N2")]), hall=None)
    assert "有多个大厅" in unknown.problems[0].zh


def test_a_dry_run_reports_the_changes_and_writes_nothing(hall_app):
    report = do_import(hall_app, xlsx_file([FULL]), dry_run=True)
    assert report.ok and not report.applied and report.created == 1
    assert "CIO-001" not in dump(hall_app) and audits(hall_app, "catalog.import") == []


# ---------------------------------------------------------------- manager pages


def upload(client, data: bytes, filename: str, action: str = "import"):
    token = form_token(client, "/manage/catalog/spreadsheet")
    return client.post(
        "/manage/catalog/spreadsheet/import",
        data={
            "csrf_token": token,
            "hall": "demo",
            "action": action,
            "file": (io.BytesIO(data), filename),
        },
        content_type="multipart/form-data",
    )


def test_manager_downloads_the_template_and_exports_with_an_audit(hall_app, client, demo):
    sign_in(client, "manager", demo["manager"])
    page = client.get("/manage/catalog/spreadsheet")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "事项清单导入导出" in html and 'type="file"' in html
    template = client.get("/manage/catalog/spreadsheet/template.xlsx?hall=demo")
    assert template.status_code == 200
    assert "attachment" in template.headers["Content-Disposition"]
    assert openpyxl.load_workbook(io.BytesIO(template.data)).sheetnames[0] == "事项清单"
    assert client.get("/manage/catalog/spreadsheet/template.csv").data.startswith(codecs.BOM_UTF8)
    assert client.get("/manage/catalog/spreadsheet/template.pdf").status_code == 400
    token = form_token(client, "/manage/catalog/spreadsheet")
    for fmt in ("xlsx", "csv"):
        response = client.post(
            "/manage/catalog/spreadsheet/export",
            data={"csrf_token": token, "format": fmt, "hall": "demo"},
        )
        assert response.status_code == 200
        assert re.search(r"filename\*=UTF-8''.+\." + fmt, response.headers["Content-Disposition"])
        table = catalog_io.read_table(response.data, f"e.{fmt}")
        assert len(table.rows) == matter_count(hall_app)
    events = audits(hall_app, "catalog.export")
    assert [e.detail.split()[0] for e in events] == ["xlsx", "csv"]
    assert {e.user_id for e in events} == {user_id(hall_app, "manager")}


def test_upload_with_bad_rows_shows_the_table_and_imports_nothing(hall_app, client, demo):
    sign_in(client, "admin", demo["admin"])
    before = dump(hall_app)
    rows = [FULL, dict(FULL, 事项编码="CIO-2", 实施部门="不存在局", 办件类型="普通件")]
    response = upload(client, xlsx_file(rows), "清单.xlsx")
    html = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "没有导入任何事项" in html and "实施部门" in html and "办件类型" in html
    assert "不存在局" in html and "known departments" in html
    assert re.search(r'<th scope="row">3</th>', html)
    assert dump(hall_app) == before
    damaged = upload(client, b"not a spreadsheet", "清单.xlsx")
    assert damaged.status_code == 400 and "不是有效的 Excel" in damaged.get_data(as_text=True)
    nothing = upload(client, b"", "")
    assert nothing.status_code == 400 and "请先选择" in nothing.get_data(as_text=True)
    assert dump(hall_app) == before


def test_upload_checks_first_then_imports_and_counts(hall_app, client, demo):
    sign_in(client, "manager", demo["manager"])
    data = xlsx_file([FULL, TRICKY])
    check = upload(client, data, "清单.xlsx", action="check")
    html = check.get_data(as_text=True)
    assert check.status_code == 200 and "检查通过" in html and "新增 2 项" in html
    assert "CIO-001" not in dump(hall_app)
    done = upload(client, data, "清单.xlsx")
    html = done.get_data(as_text=True)
    assert done.status_code == 200 and "导入成功" in html and "新增 2 项" in html
    assert {"CIO-001", "CIO-002"} <= set(dump(hall_app))
    again = upload(client, data, "清单.xlsx").get_data(as_text=True)
    assert "新增 0 项，更新 0 项，未变 2 项" in again
    (first, second) = audits(hall_app, "catalog.import")
    assert first.user_id == user_id(hall_app, "manager") and "created=2" in first.detail
    assert "unchanged=2" in second.detail


def test_staff_may_not_use_the_spreadsheet_pages(hall_app, client, demo):
    sign_in(client, "staff1", demo["staff1"])
    assert client.get("/manage/catalog/spreadsheet").status_code == 403
    assert client.get("/manage/catalog/spreadsheet/template.xlsx").status_code == 403
    token = form_token(client, "/counter/")
    refused = client.post(
        "/manage/catalog/spreadsheet/import",
        data={"csrf_token": token, "file": (io.BytesIO(xlsx_file([FULL])), "a.xlsx")},
        content_type="multipart/form-data",
    )
    assert refused.status_code == 403
    assert "CIO-001" not in dump(hall_app)


def test_import_needs_the_csrf_token(hall_app, client, demo):
    sign_in(client, "manager", demo["manager"])
    response = client.post(
        "/manage/catalog/spreadsheet/import",
        data={"file": (io.BytesIO(xlsx_file([FULL])), "a.xlsx")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400 and "CIO-001" not in dump(hall_app)


# ---------------------------------------------------------------- command line


@pytest.fixture
def run(hall_app, monkeypatch):
    """Invoke `hall …` against the test database."""
    monkeypatch.setenv("HALL_DATABASE_URL", hall_app.config["SQLALCHEMY_DATABASE_URI"])

    def invoke(*args):
        return CliRunner().invoke(main, list(args), catch_exceptions=False)

    return invoke


def test_catalog_commands_template_export_import_and_dry_run(hall_app, run, tmp_path):
    template = tmp_path / "模板.xlsx"
    assert run("catalog", "template", str(template)).exit_code == 0
    assert openpyxl.load_workbook(template).sheetnames[:2] == ["事项清单", "填写说明"]
    assert run("catalog", "template", str(tmp_path / "x.txt")).exit_code == 2

    source = tmp_path / "清单.csv"
    source.write_bytes(csv_file([FULL, TRICKY], encoding="gbk"))
    check = run("catalog", "import", str(source), "--dry-run")
    assert check.exit_code == 0 and "新增 2 项" in check.output and "CIO-001" in check.output
    assert "CIO-001" not in dump(hall_app)
    done = run("catalog", "import", str(source), "--hall", "demo")
    assert done.exit_code == 0 and "已导入" in done.output and "新增 2 项" in done.output

    exported = tmp_path / "导出.xlsx"
    result = run("catalog", "export", str(exported))
    assert result.exit_code == 0 and str(matter_count(hall_app)) in result.output
    again = run("catalog", "import", str(exported))
    assert again.exit_code == 0 and f"未变 {matter_count(hall_app)} 项" in again.output

    bad = tmp_path / "坏.xlsx"
    bad.write_bytes(xlsx_file([dict(FULL, 实施部门="不存在局")]))
    refused = run("catalog", "import", str(bad))
    assert refused.exit_code == 1
    assert "第 2 行 / row 2 [实施部门]" in refused.output and "没有导入任何事项" in refused.output
    broken = tmp_path / "坏.csv"
    broken.write_bytes(b"\x00\x01")
    assert run("catalog", "import", str(broken)).exit_code == 2
    assert run("catalog", "import", str(source), "--hall", "nowhere").exit_code == 2


def test_catalog_import_shows_a_progress_bar_for_a_large_file(hall_app, run, tmp_path):
    rows = [dict(FULL, 事项编码=f"CIO-{n:04d}", 事项名称=f"批量事项 {n}") for n in range(250)]
    source = tmp_path / "大.xlsx"
    source.write_bytes(xlsx_file(rows))
    result = run("catalog", "import", str(source))
    assert result.exit_code == 0, result.output
    assert "检查 / checking" in result.output and "写入 / writing" in result.output
    assert "新增 250 项" in result.output and matter_count(hall_app) >= 250
