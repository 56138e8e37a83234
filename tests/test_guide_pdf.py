"""The printed guide (办事指南) read back as a resident would: the text by a PDF reader, the QR
code by a phone's decoder; fetched over HTTP from a real database."""

from __future__ import annotations

import datetime as dt
import io
import re
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

import pypdf
import pytest
from PIL import Image

from hall.extensions import db
from hall.models import Department, Hall, Material, Matter
from printouts import PrintoutError
from printouts.guide import CUT_NOTE, department_booklet, matter_sheet
from tests.conftest import need
from tests.test_printouts import decode_qr

HALL_NAME = "测试区政务服务中心"
DEPARTMENT = "测试区行政审批局"
FUNCTIONS = (
    "负责本区市场主体登记、行政许可事项的集中受理与审批。\n负责政务服务事项清单的编制与公开。"
)
CODE = "TST-001"
NAME = "食品经营许可（新办）"
LONG_NOTE = "申请人应当如实填写，并对材料的真实性负责。" * 600  # 12,600 characters
MATERIALS = [
    ("食品经营许可申请书", True, "original", 1, "申请人签字或盖章"),
    ("营业执照 (副本) Business licence", True, "copy", 1, ""),
    ("法定代表人身份证 <正反面> & 复印件", True, "both", 2, "核验原件，留存复印件"),
    ("</para>&amp;经营场所<b>平面图", True, "original", 1, "标明操作间、库房\x07与卫生设施"),
    ("健康证明😀（从业人员）", False, "copy", 1, "每名从业人员一份🍜\x1b"),
    ("食品安全管理制度文本", True, "electronic", 1, LONG_NOTE),
    ("授权委托书（委托他人办理的提供）", False, "original", 1, ""),
]
FAQ = [
    {"q": "网上申请后还需要到现场吗？", "a": "材料齐全且核验通过的，无需到现场，许可证邮寄送达。"},
    {"q": "许可证有效期多久？", "a": "食品经营许可证有效期为 5 年。"},
]
OTHER = ("TST-002", "食品经营许可（延续）")
RETIRED = ("TST-009", "已取消的旧事项（不应印出）")


def printed(name: str) -> str:
    """What the PDF shows of a text: emoji (not in the font) as □, control characters
    dropped, no white space (readers break lines anywhere in Chinese)."""
    name = re.sub(r"[\U0001F000-\U0001FFFF]", "□", name)
    name = re.sub(r"[\x00-\x1f]", "", name)
    return "".join(name.split())


def pages_text(pdf: bytes) -> list[str]:
    """The text of each page as pypdf reads it, white space removed."""
    reader = pypdf.PdfReader(io.BytesIO(pdf))
    return ["".join(page.extract_text().split()) for page in reader.pages]


def qr_codes(pdf: bytes, page: int, tmp_path: Path) -> list[str]:
    """The QR codes a phone reads from one page of the PDF, rendered at 200 dpi."""
    pdftoppm = shutil.which("pdftoppm")
    need(pdftoppm is not None, "pdftoppm (poppler-utils) is needed to render the guide")
    path = tmp_path / f"guide-{page}.pdf"
    path.write_bytes(pdf)
    prefix = tmp_path / f"p{page}x"
    subprocess.run(
        [pdftoppm, "-r", "200", "-f", str(page), "-l", str(page), "-png", str(path), str(prefix)],
        check=True,
    )
    (png,) = sorted(tmp_path.glob(f"p{page}x*.png"))
    return decode_qr(Image.open(png))


def add_matter(department: Department, code: str, name: str, **fields) -> Matter:
    matter = Matter(code=code, name=name, department_id=department.id, **fields)
    db.session.add(matter)
    return matter


@pytest.fixture
def catalogue(app):
    """One hall, a department with two active matters and a retired one; the first has the
    full guide, odd characters, a very long note and FAQ."""
    with app.app_context():
        db.session.add(Hall(code="tst", name=HALL_NAME, timezone="Asia/Shanghai"))
        department = Department(code="tst", name=DEPARTMENT, functions=FUNCTIONS)
        db.session.add(department)
        db.session.flush()
        add_matter(
            department,
            CODE,
            NAME,
            kind="promised",
            promised_days=10,
            statutory_days=20,
            sort_order=1,
            legal_basis="《中华人民共和国食品安全法》第三十五条\n《食品经营许可和备案管理办法》第二条",
            conditions="1. 具有与经营的食品品种、数量相适应的经营场所；\n2. 有食品安全管理人员和管理制度。",
            process="申请：网上或窗口提交材料\n受理：材料齐全的当场受理\n审查：必要时现场核查\n决定：作出准予许可决定\n送达：窗口领取或邮寄",
            fee="",
            fee_basis="",
            place="测试区政务服务中心一楼 E 区 6 号窗口",
            hours="周一至周五 9:00—12:00，13:30—17:00（法定节假日除外）",
            phone="0000-12345",
            complaint="12345 政务服务便民热线",
            result_document="食品经营许可证",
            visits=0,
            online=True,
            appointment=True,
            faq=FAQ,
            materials=[
                Material(
                    position=position,
                    name=name,
                    required=required,
                    form=form,
                    copies=copies,
                    notes=notes,
                    blank_form="食品经营许可申请书（空白）.docx" if position == 0 else "",
                    sample="申请书填写示例.pdf" if position == 0 else "",
                )
                for position, (name, required, form, copies, notes) in enumerate(MATERIALS)
            ],
        )
        add_matter(department, *OTHER, sort_order=2, fee="每证 0 元")
        add_matter(department, *RETIRED, sort_order=0, active=False)
        db.session.commit()


def guide_link(code: str) -> str:
    """The phone guide page of a matter as the test client's host sees it."""
    return f"http://localhost/guide/{code}"


# ---------------------------------------------------------------- the sheet of one matter


def test_the_guide_pdf_carries_the_matter_and_every_material_as_text(client, catalogue):
    response = client.get(f"/guide/{CODE}.pdf")
    assert response.status_code == 200
    assert response.mimetype == "application/pdf"
    text = "".join(pages_text(response.data))
    assert printed(NAME) in text and CODE in text and DEPARTMENT in text and "承诺件" in text
    for name, *_ in MATERIALS:
        assert printed(name) in text, name
    assert "健康证明□（从业人员）" in text  # the emoji the font lacks is a visible box
    assert "&amp;" in text and "<b>" in text  # user text is never read as markup
    assert "空白表格：食品经营许可申请书（空白）.docx" in text
    assert "示例样表：申请书填写示例.pdf" in text
    assert LONG_NOTE[:200] in text and printed(CUT_NOTE) in text
    for label in (
        "设定依据", "受理条件", "申请材料", "序号", "材料名称", "必要", "形式", "份数", "备注",
        "办理流程", "法定办结时限", "承诺办结时限", "收费标准", "收费依据", "办理地点",
        "办理时间", "咨询电话", "投诉渠道", "办理结果", "到现场次数", "网上办理", "预约办理",
        "常见问题", "扫码查看最新办事指南",
    ):  # fmt: skip
        assert label in text, label
    assert "20个工作日" in text and "10个工作日" in text and "0次" in text
    assert "不收费" in text and "食品经营许可证" in text and "1.申请：网上或窗口提交材料" in text
    for item in FAQ:
        assert printed(item["q"]) in text and printed(item["a"]) in text
    assert HALL_NAME in text  # the only hall is named in the header
    assert "第1页共" in text and "打印日期：" in text


def test_the_guide_pdf_is_inline_with_a_chinese_file_name(client, catalogue):
    response = client.get(f"/guide/{CODE}.pdf")
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("inline;")
    assert f'filename="guide-{CODE}.pdf"' in disposition
    assert "filename*=UTF-8''" + quote(f"{NAME}办事指南.pdf", safe="") in disposition
    department = client.get("/guide/departments/tst.pdf").headers["Content-Disposition"]
    assert "filename*=UTF-8''" + quote(f"{DEPARTMENT}办事指南.pdf", safe="") in department


def test_the_guide_pdf_text_reads_the_same_with_poppler(client, catalogue, tmp_path):
    pdftotext = shutil.which("pdftotext")
    need(pdftotext is not None, "pdftotext (poppler-utils) is needed for the second reader")
    path = tmp_path / "guide.pdf"
    path.write_bytes(client.get(f"/guide/{CODE}.pdf").data)
    out = subprocess.run([pdftotext, "-enc", "UTF-8", str(path), "-"], capture_output=True)
    text = "".join(out.stdout.decode("utf-8").split())
    assert printed(NAME) in text
    for name, *_ in MATERIALS:
        assert printed(name) in text, name


def test_the_printed_qr_code_opens_the_phone_guide(client, catalogue, tmp_path):
    pdf = client.get(f"/guide/{CODE}.pdf").data
    assert qr_codes(pdf, 1, tmp_path) == [guide_link(CODE)]


def test_the_qr_code_follows_the_public_url_setting(app, client, catalogue):
    app.config["HALL_PUBLIC_URL"] = "https://zwfw.example.gov.cn/"
    pdf = client.get(f"/guide/{CODE}.pdf").data
    subject = pypdf.PdfReader(io.BytesIO(pdf)).metadata.subject
    assert subject == f"https://zwfw.example.gov.cn/guide/{CODE}"


def test_every_font_of_the_guide_is_the_embedded_cjk_font(client, catalogue):
    reader = pypdf.PdfReader(io.BytesIO(client.get(f"/guide/{CODE}.pdf").data))
    assert len(reader.pages) >= 2
    for page in reader.pages:
        fonts = page["/Resources"]["/Font"]
        assert fonts, "a page without a font"
        for font in fonts.values():
            font = font.get_object()
            if "/DescendantFonts" in font:
                font = font["/DescendantFonts"][0].get_object()
            descriptor = font["/FontDescriptor"].get_object()
            assert "/FontFile2" in descriptor, f"{font.get('/BaseFont')} is not embedded"
            assert "WenQuanYi" in str(font["/BaseFont"])


def test_a_matter_with_60_materials_spans_pages_with_the_table_header_on_each(
    client, catalogue, app
):
    names = [f"第{n}项材料：{'证明文件' * (n % 4 + 1)}" for n in range(1, 61)]
    with app.app_context():
        department = db.session.query(Department).filter_by(code="tst").one()
        add_matter(
            department,
            "TST-060",
            "六十项材料的事项",
            materials=[
                Material(position=i, name=name, notes="原件核验后退还。" * (i % 5))
                for i, name in enumerate(names)
            ],
        )
        db.session.commit()
    response = client.get("/guide/TST-060.pdf")
    assert response.status_code == 200
    pages = pages_text(response.data)
    assert len(pages) >= 3
    text = "".join(pages)
    for name in names:
        assert printed(name) in text, name
    with_table = [page for page in pages if "第30项材料" in page or "第60项材料" in page]
    assert with_table and all("序号材料名称必要形式份数备注" in page for page in with_table)
    assert "共60项，其中必要材料60项。" in text


def test_the_pdf_rules_are_not_taken_by_the_html_guide_page(app, client, catalogue):
    urls = app.url_map.bind("localhost")
    assert urls.match(f"/guide/{CODE}.pdf") == ("guide.matter_pdf", {"code": CODE})
    assert urls.match("/guide/departments/tst.pdf") == ("guide.department_pdf", {"code": "tst"})
    assert urls.match(f"/guide/{CODE}")[0] == "guide.matter"
    assert client.get(f"/guide/{CODE}.pdf").mimetype == "application/pdf"


# ---------------------------------------------------------------- the department's booklet


def test_the_booklet_has_every_active_matter_of_the_department_and_not_the_retired(
    client, catalogue, tmp_path
):
    response = client.get("/guide/departments/tst.pdf")
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    reader = pypdf.PdfReader(io.BytesIO(response.data))
    pages = pages_text(response.data)
    cover, contents = pages[0], pages[1]
    assert DEPARTMENT in cover and printed(FUNCTIONS) in cover and "办事指南" in cover
    assert HALL_NAME in cover and "本指南收录办理事项2项" in cover
    assert "目录" in contents
    text = "".join(pages)
    assert printed(RETIRED[1]) not in text and RETIRED[0] not in text
    # each matter has a bookmark, starts its own page there, and the contents say which
    starts = {item.title: reader.get_destination_page_number(item) for item in reader.outline}
    assert list(starts) == [NAME, OTHER[1]]
    for (code, name), start in zip([(CODE, NAME), OTHER], starts.values(), strict=True):
        assert start >= 2
        assert printed(name) in pages[start] and code in pages[start]
        assert f"{printed(name)}{code}{start + 1}" in contents
        assert qr_codes(response.data, start + 1, tmp_path) == [guide_link(code)]
    for name, *_ in MATERIALS:
        assert printed(name) in text


def test_a_department_without_active_matters_still_has_its_booklet(client, app):
    with app.app_context():
        db.session.add(Department(code="empty", name="测试区空部门", functions=""))
        db.session.commit()
    response = client.get("/guide/departments/empty.pdf")
    assert response.status_code == 200
    assert "本部门暂无公开的办理事项" in "".join(pages_text(response.data))


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/guide/NO-SUCH.pdf", "matter_not_found"),
        (f"/guide/{RETIRED[0]}.pdf", "matter_not_found"),
        ("/guide/departments/nope.pdf", "department_not_found"),
        (f"/guide/{CODE}.pdf?hall=nope", "hall_not_found"),
    ],
)
def test_unknown_or_retired_things_are_a_404(client, catalogue, path, code):
    answer = client.get(path, headers={"Accept": "application/json"})
    assert answer.status_code == 404
    assert answer.get_json()["error"] == code and answer.get_json()["message"]
    page = client.get(path)
    assert page.status_code == 404 and page.mimetype == "text/html"


# ---------------------------------------------------------------- the library alone

PLAIN = {
    "code": "X-1",
    "name": "结婚登记",
    "department": "区民政局",
    "kind_label": "即办件",
    "materials": [{"name": "户口簿", "required": True, "form_label": "原件", "copies": 1}],
}


def test_odd_text_prints_literally_and_never_breaks_the_printout():
    odd = {
        **PLAIN,
        "name": "结婚登记 <b>&nbsp; \x00\ud800\u202e 😀",
        "department": None,
        "legal_basis": "条" * 50_000,
        "conditions": "<para>\r\n</font>&lt;",
        "faq": ["只有问题", {"a": "只有回答"}, {"q": None, "a": None}, 7],
        "materials": [
            {"name": None, "copies": None, "required": None},
            {"name": "印章\u3000样本\t", "copies": "两", "notes": "<br/>" * 500},
        ],
        "process_steps": ["", "  ", "只有一步"],
        "visits": None,
    }
    text = "".join(pages_text(matter_sheet(odd, guide_url="http://h/guide/X-1")))
    assert "结婚登记<b>&nbsp;□" in text
    assert "<para>" in text and "</font>&lt;" in text and printed(CUT_NOTE) in text
    assert "只有问题" in text and "只有回答" in text and "1.只有一步" in text
    assert "印章" in text and "<br/><br/>" in text
    booklet = department_booklet(
        {"name": "<民政>&局\x00", "functions": None},
        [odd, {**PLAIN, "name": "婚姻登记 & <离婚>"}],
        guide_url=lambda code: f"http://h/guide/{code}",
    )
    reader = pypdf.PdfReader(io.BytesIO(booklet))
    assert [item.title for item in reader.outline] == [
        "结婚登记 <b>&nbsp;  □",
        "婚姻登记 & <离婚>",
    ]
    assert "<民政>&局" in pages_text(booklet)[0]


def test_a_plain_matter_prints_no_fee_and_its_print_date():
    text = "".join(
        pages_text(
            matter_sheet(PLAIN, guide_url="http://h/guide/X-1", printed_on=dt.date(2026, 3, 2))
        )
    )
    assert "不收费" in text and "打印日期：2026-03-02" in text and "第1页共1页" in text
    assert "暂无。" in text  # no FAQ


def test_a_matter_without_materials_says_so():
    text = "".join(
        pages_text(matter_sheet({**PLAIN, "materials": []}, guide_url="http://h/guide/X-1"))
    )
    assert "本事项无需提交申请材料" in text and "材料名称" not in text


@pytest.mark.parametrize(
    "bad",
    [
        {"name": ""},
        {"name": None},
        {"materials": "户口簿"},
        {"faq": {"q": "x"}},
    ],
)
def test_unprintable_guide_data_raises_printout_error(bad):
    with pytest.raises(PrintoutError):
        matter_sheet({**PLAIN, **bad}, guide_url="http://h/guide/X-1")


def test_a_guide_needs_the_url_of_its_qr_code():
    with pytest.raises(PrintoutError):
        matter_sheet(PLAIN, guide_url="")
    with pytest.raises(PrintoutError):
        department_booklet({"name": "区民政局"}, [PLAIN], guide_url="http://h")  # type: ignore[arg-type]


def test_the_guide_printouts_import_neither_flask_nor_hall():
    code = (
        "import sys\n"
        "from printouts.guide import matter_sheet, department_booklet\n"
        "m = {'code': 'X', 'name': 'n'}\n"
        "matter_sheet(m, guide_url='http://h/guide/X')\n"
        "department_booklet({'name': 'd'}, [m], guide_url=lambda c: 'http://h/guide/' + c)\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('flask', 'hall', 'sqlalchemy')]\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)
