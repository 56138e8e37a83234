"""Case documents read back as the resident and the clerk would: the four A4 notices by a PDF
reader, their QR code by a phone's decoder, the verification page behind it in a browser;
and who may print them."""

from __future__ import annotations

import datetime as dt
import io
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path
from urllib.parse import parse_qs, quote, urlsplit

import pypdf
import pytest
import sqlalchemy as sa
from PIL import Image

from hall.auth import add_user, create_token
from hall.extensions import db
from hall.models import Case, CasePause, Hall, Matter, User, Window
from printouts import PrintoutError
from printouts.cases import case_document
from tests.conftest import auth, dispose, load_demo, make_app, need
from tests.test_guide_pdf import pages_text, printed
from tests.test_printouts import decode_qr

APPLICANT = "欧阳小明"
MASKED = "欧**明"
PHONE = "13812345678"
MASKED_PHONE = "138****5678"
MATTER = ("GA-003", "户口迁入（投靠、入学、就业）")
HALL_NAME = "示范区政务服务中心"
RECEIVED = [
    {"name": "申请人居民身份证", "note": "原件核验后退还，留存复印件 1 份"},
    {"name": "《居民户口迁移申请表》", "note": ""},
    {"name": "合法稳定住所证明 <租赁> & 备案\x07", "note": "</para><b>不是标记"},
]
MISSING = [
    {"name": "被投靠人居民户口簿、居民身份证", "note": "投靠迁入的提供，原件及复印件各 1 份"},
    {"name": "亲属关系证明（结婚证😀）", "note": "须与户籍信息一致"},
    {"name": "自行填写：租赁登记备案证明 & <原件>", "note": ""},
]
REASON = (
    "申请人户籍不在本区，户口迁入依法应向迁入地公安机关户籍部门申请。\n请携带材料到迁入地办理。"
)
RESULT = "准予迁入，出具《准予迁入证明》。"
NUMBERS = {
    "receipt": "DEMO-20260929-0001",
    "correction": "DEMO-20260929-0002",
    "rejection": "DEMO-20260929-0003",
    "completion": "DEMO-20260929-0004",
    "spot": "DEMO-20260929-0005",
    "paused": "DEMO-20260929-0006",
    "overdue": "DEMO-20250926-0001",
}
KINDS = ("receipt", "correction", "rejection", "completion")
JSON = {"Accept": "application/json"}


def add_case(key: str, outcome: str, status: str, **fields) -> str:
    """A case of the demo hall at window 3 by staff1, directly as a row; its token."""
    hall = db.session.scalar(sa.select(Hall).where(Hall.code == "demo"))
    matter = db.session.scalar(sa.select(Matter).where(Matter.code == MATTER[0]))
    window = db.session.scalar(
        sa.select(Window).where(Window.hall_id == hall.id, Window.number == 3)
    )
    staff = db.session.scalar(sa.select(User).where(User.username == "staff1"))
    token = secrets.token_urlsafe(32)
    values = {
        "number": NUMBERS[key],
        "verify_token": token,
        "hall_id": hall.id,
        "matter_id": matter.id,
        "window_id": window.id,
        "staff_id": staff.id,
        "outcome": outcome,
        "status": status,
        "kind": "promised",
        "limit_days": 5,
        "limit_unit": "working",
        "applicant_name": APPLICANT,
        "applicant_phone": PHONE,
        "accepted_at": dt.datetime(2026, 9, 29, 1, 30, tzinfo=dt.UTC),
        "accepted_on": dt.date(2026, 9, 29),
    }
    values.update(fields)
    db.session.add(Case(**values))
    db.session.flush()
    return token


def add_cases(application) -> dict[str, str]:
    """One case for each document and state; their verification tokens by key."""
    with application.app_context():
        manager = db.session.scalar(sa.select(User).where(User.username == "manager"))
        tokens = {
            "receipt": add_case(
                "receipt",
                "accepted",
                "open",
                due_date=dt.date(2026, 10, 13),
                materials_received=RECEIVED,
            ),
            "correction": add_case("correction", "correction", "closed", missing_materials=MISSING),
            "rejection": add_case("rejection", "rejected", "closed", reason=REASON),
            "completion": add_case(
                "completion",
                "accepted",
                "completed",
                due_date=dt.date(2026, 10, 13),
                completed_at=dt.datetime(2026, 10, 12, 7, 0, tzinfo=dt.UTC),
                completed_on=dt.date(2026, 10, 12),
                completed_by_id=manager.id,
                timing="early",
                result=RESULT,
                materials_received=RECEIVED,
            ),
            "spot": add_case(
                "spot",
                "on_the_spot",
                "completed",
                kind="immediate",
                limit_days=0,
                completed_at=dt.datetime(2026, 9, 29, 1, 40, tzinfo=dt.UTC),
                completed_on=dt.date(2026, 9, 29),
                result="当场出具户籍证明。",
            ),
            "overdue": add_case(
                "overdue",
                "accepted",
                "open",
                accepted_at=dt.datetime(2025, 9, 26, 2, 0, tzinfo=dt.UTC),
                accepted_on=dt.date(2025, 9, 26),
                due_date=dt.date(2025, 10, 10),
                applicant_phone="",
            ),
        }
        paused = add_case("paused", "accepted", "paused", due_date=None)
        case = db.session.scalar(sa.select(Case).where(Case.verify_token == paused))
        db.session.add(
            CasePause(
                case_id=case.id,
                kind="special",
                reason="委托鉴定机构现场勘验：张三家属另有说明",
                started_on=dt.date(2026, 10, 9),
            )
        )
        tokens["paused"] = paused
        db.session.commit()
    return tokens


CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def sign_in(client, username: str, password: str):
    """Post the counter's login form with its CSRF token (a browser session)."""
    token = CSRF_FIELD.search(client.get("/counter/login").get_data(as_text=True)).group(1)
    data = {"csrf_token": token, "username": username, "password": password}
    return client.post("/counter/login", data=data)


def verify_link(token: str) -> str:
    return f"http://localhost/v/{token}"


def pdf_path(kind: str, key: str | None = None) -> str:
    return f"/cases/{NUMBERS[key or kind]}/{kind}.pdf"


@pytest.fixture(scope="module")
def hall(tmp_path_factory, sqlite_template):
    """The demo hall on SQLite with a case of each kind, made once for the module's tests
    that only read (the demo and the PDFs cost more than the checks)."""
    path = tmp_path_factory.mktemp("casedocs") / "hall.sqlite3"
    shutil.copy(sqlite_template, path)
    application = make_app(f"sqlite:///{path}")
    passwords = load_demo(application)
    application.tokens = add_cases(application)
    with application.app_context():
        application.bearer = {
            name: create_token(
                db.session, user=db.session.scalar(sa.select(User).where(User.username == name))
            )
            for name in ("staff1", "manager", "admin")
        }
        other = Hall(code="other", name="另一个乡镇便民服务中心", timezone="Asia/Shanghai")
        db.session.add(other)
        db.session.flush()
        outsider = add_user(db.session, "outsider", "outsider-pw", role="staff", hall=other)
        application.bearer["outsider"] = create_token(db.session, user=outsider)
        demo = db.session.scalar(sa.select(Hall).where(Hall.code == "demo"))
        application.bearer["kiosk"] = create_token(db.session, device_kind="kiosk", hall=demo)
        db.session.commit()
    application.passwords = {**passwords, "outsider": "outsider-pw"}
    yield application
    dispose(application)


@pytest.fixture
def staff(hall):
    """A test client with staff1's bearer token."""
    client = hall.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {hall.bearer['staff1']}"
    return client


@pytest.fixture(scope="module")
def documents(hall) -> dict[str, bytes]:
    """The four documents as staff1 prints them (made once for the module)."""
    client = hall.test_client()
    made = {}
    for kind in KINDS:
        response = client.get(pdf_path(kind), headers=auth(hall.bearer["staff1"]))
        assert response.status_code == 200, response.get_data(as_text=True)
        assert response.mimetype == "application/pdf"
        made[kind] = response.data
    return made


def qr_codes(pdf: bytes, tmp_path: Path) -> list[str]:
    """The QR codes a phone reads from the first page, rendered at 150 dpi."""
    pdftoppm = shutil.which("pdftoppm")
    need(pdftoppm is not None, "pdftoppm (poppler-utils) is needed to render the documents")
    path = tmp_path / "document.pdf"
    path.write_bytes(pdf)
    subprocess.run(
        [pdftoppm, "-r", "150", "-f", "1", "-l", "1", "-png", str(path), str(tmp_path / "page")],
        check=True,
    )
    (png,) = sorted(tmp_path.glob("page*.png"))
    return decode_qr(Image.open(png))


def text_of(pdf: bytes) -> str:
    return "".join(pages_text(pdf))


def poppler_text(pdf: bytes, tmp_path: Path) -> str:
    """The text as pdftotext (poppler) reads it, white space removed."""
    pdftotext = shutil.which("pdftotext")
    need(pdftotext is not None, "pdftotext (poppler-utils) is needed for the second reader")
    path = tmp_path / "document.pdf"
    path.write_bytes(pdf)
    out = subprocess.run([pdftotext, "-enc", "UTF-8", str(path), "-"], capture_output=True)
    return "".join(out.stdout.decode("utf-8").split())


# ---------------------------------------------------------------- what each document says


def test_every_document_is_an_official_a4_notice_of_the_hall(documents):
    titles = {
        "receipt": "受理通知书",
        "correction": "一次性告知书",
        "rejection": "不予受理通知书",
        "completion": "办结通知书",
    }
    for kind, pdf in documents.items():
        reader = pypdf.PdfReader(io.BytesIO(pdf))
        box = reader.pages[0].mediabox
        assert (round(float(box.width) / 72 * 25.4), round(float(box.height) / 72 * 25.4)) == (
            210,
            297,
        )
        text = text_of(pdf)
        assert titles[kind] in text and f"编号：{NUMBERS[kind]}" in text, kind
        head = text.index(titles[kind])
        assert HALL_NAME in text[:head], kind  # the issuing body heads the paper
        assert f"{APPLICANT}：" in text, kind  # addressed to the applicant, name in full
        assert printed(MATTER[1]) in text and MATTER[0] in text, kind
        assert "区公安分局（户籍）" in text, kind  # 实施部门
        assert "3号窗口（户籍业务）" in text, kind
        assert "（受理专用章）" in text and "扫码核验办件状态" in text, kind
        assert MASKED_PHONE in text and PHONE not in text, kind  # the phone never in full
        assert "0000-66100101" in text and "12345" in text, kind  # enquiry and complaint
        assert "第1页共1页" in text, kind


def test_the_receipt_has_the_materials_received_the_limit_and_the_due_date(documents):
    text = text_of(documents["receipt"])
    assert "（回执）" in text and "决定予以受理" in text
    assert "承诺办结时限：5个工作日，预计办结日期：2026年10月13日" in text
    assert "受理日期2026年9月29日" in text
    for item in RECEIVED:
        assert printed(item["name"]) in text and printed(item["note"]) in text
    assert "</para><b>不是标记" in text  # user text is never read as markup
    assert "李晓梅（工号1001）" in text
    assert "《准予迁入证明》" in text  # where the result is collected
    assert "2026年9月29日" in text.split("特此通知。")[1]  # dated the day of acceptance


def test_the_one_time_notice_lists_every_missing_material_with_its_note(documents):
    text = text_of(documents["correction"])
    assert "需要补正的全部材料" in text and "以上共3项" in text
    for number, item in enumerate(MISSING, 1):
        assert f"{number}{printed(item['name'])}{printed(item['note'])}" in text
    assert "亲属关系证明（结婚证□）" in text  # the emoji the font lacks is a visible box
    assert "本告知书为一次性告知" in text
    assert "《中华人民共和国行政许可法》第三十二条第一款第（四）项" in text
    assert "逾期不告知的，自收到申请材料之日起即为受理" in text
    assert "重新提交申请" in text and "特此告知。" in text


def test_the_not_accepted_notice_gives_the_reason_and_the_applicants_rights(documents):
    text = text_of(documents["rejection"])
    assert "决定不予受理" in text
    assert printed(REASON) in text
    assert "六十日内依法申请行政复议" in text and "六个月内依法向人民法院提起行政诉讼" in text


def test_the_completion_notice_gives_the_result_the_date_and_the_timing(documents, tmp_path):
    text = text_of(documents["completion"])
    assert "已于2026年10月12日办结" in text and "办结日期2026年10月12日" in text
    assert printed(RESULT) in text
    assert "承诺办结日期：2026年10月13日" in text and "提前办结" in text
    assert "王主任（工号M0001）" in text  # who completed it
    assert "2026年10月12日" in text.split("特此通知。")[1]  # dated the day of completion
    assert poppler_text(documents["completion"], tmp_path).count("2026年10月12日") >= 3


def test_an_on_the_spot_completion_has_its_notice_without_a_promised_date(staff):
    response = staff.get(pdf_path("completion", "spot"))
    assert response.status_code == 200
    text = text_of(response.data)
    assert "已当场办结" in text and "办结日期：2026年9月29日" in text
    assert "当场出具户籍证明。" in text and "承诺办结日期" not in text


def test_poppler_reads_the_receipt_the_same(documents, tmp_path):
    text = poppler_text(documents["receipt"], tmp_path)
    assert NUMBERS["receipt"] in text and printed(MATTER[1]) in text
    assert "预计办结日期：2026年10月13日" in text


def test_every_font_of_the_documents_is_the_embedded_cjk_font(documents):
    for pdf in documents.values():
        for page in pypdf.PdfReader(io.BytesIO(pdf)).pages:
            for font in page["/Resources"]["/Font"].values():
                font = font.get_object()
                if "/DescendantFonts" in font:
                    font = font["/DescendantFonts"][0].get_object()
                assert "/FontFile2" in font["/FontDescriptor"].get_object()
                assert "WenQuanYi" in str(font["/BaseFont"])


def test_the_pdf_is_inline_with_a_chinese_file_name_and_not_cached(staff):
    response = staff.get(pdf_path("correction"))
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("inline;")
    assert f'filename="correction-{NUMBERS["correction"]}.pdf"' in disposition
    name = quote(f"一次性告知书-{NUMBERS['correction']}.pdf", safe="")
    assert f"filename*=UTF-8''{name}" in disposition
    assert response.headers["Cache-Control"] == "no-store"


def test_a_case_number_in_lower_case_finds_the_case(staff):
    assert staff.get(f"/cases/{NUMBERS['receipt'].lower()}/receipt.pdf").status_code == 200


# ---------------------------------------------------------------- the QR code and the page


def test_the_printed_qr_code_of_a_notice_opens_its_verification_page(hall, documents, tmp_path):
    assert qr_codes(documents["correction"], tmp_path) == [verify_link(hall.tokens["correction"])]


def test_the_verification_page_shows_the_status_and_due_date_with_the_name_masked(hall):
    client = hall.test_client()
    page = client.get(f"/v/{hall.tokens['receipt']}")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    for expected in (
        NUMBERS["receipt"],
        MATTER[1],
        MATTER[0],
        HALL_NAME,
        MASKED,
        "正在办理中",
        "2026 年 9 月 29 日",
        "2026 年 10 月 13 日",
    ):
        assert expected in html, expected
    assert APPLICANT not in html and PHONE not in html and MASKED_PHONE not in html
    for item in RECEIVED:  # nothing of the materials either
        assert item["name"] not in html
    assert "<script" not in html  # works without JavaScript
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"


def test_the_verification_page_of_each_state(hall):
    client = hall.test_client()

    def page(key: str) -> str:
        response = client.get(f"/v/{hall.tokens[key]}")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert MASKED in html and APPLICANT not in html and PHONE not in html
        return html

    completed = page("completion")
    assert "已办结" in completed and "2026 年 10 月 12 日" in completed and "提前办结" in completed
    assert RESULT not in completed
    assert "当场办结" in page("spot")
    correction = page("correction")
    assert "需补正材料" in correction
    assert all(item["name"] not in correction for item in MISSING)
    rejection = page("rejection")
    assert "不予受理" in rejection and "户籍不在本区" not in rejection
    paused = page("paused")
    assert "暂停计时" in paused and "特别程序" in paused and "恢复计时后重新计算" in paused
    assert "张三" not in paused  # the pause's free-text reason stays private
    overdue = page("overdue")  # open, and due 2025-10-10
    assert "已超过预计办结日期" in overdue and "2025 年 10 月 10 日" in overdue
    assert "已超过预计办结日期" not in page("receipt") or dt.date.today() > dt.date(2026, 10, 13)


def test_the_verification_page_in_english(hall):
    html = hall.test_client().get(f"/v/{hall.tokens['completion']}?lang=en").get_data(as_text=True)
    assert "Case status check" in html and "Completed early" in html and "2026-10-12" in html
    assert MASKED in html and 'href="/v/' in html and "lang=zh_CN" in html


@pytest.mark.parametrize("token", ["no-such-token", "x" * 43])
def test_an_unknown_token_is_a_404_page(hall, token):
    page = hall.test_client().get(f"/v/{token}")
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert "没有这个办件" in page.get_data(as_text=True)


# ---------------------------------------------------------------- who may print


def test_a_signed_out_browser_is_sent_to_sign_in_and_a_script_gets_401(hall):
    client = hall.test_client()
    page = client.get(pdf_path("receipt"), headers={"Accept": "text/html"})
    assert page.status_code == 302
    target = urlsplit(page.headers["Location"])
    assert target.path == "/counter/login"
    assert parse_qs(target.query) == {"next": [pdf_path("receipt")]}
    script = client.get(pdf_path("receipt"), headers=JSON)
    assert script.status_code == 401 and script.get_json()["error"] == "login_required"
    bad = client.get(pdf_path("receipt"), headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 401


def test_staff_of_the_hall_print_with_the_browser_session(hall):
    client = hall.test_client()
    assert sign_in(client, "staff1", hall.passwords["staff1"]).status_code == 302
    response = client.get(pdf_path("receipt"), headers={"Accept": "text/html"})
    assert response.status_code == 200 and response.mimetype == "application/pdf"


@pytest.mark.parametrize("who", ["manager", "admin"])
def test_managers_and_admins_of_the_hall_print_too(hall, who):
    response = hall.test_client().get(pdf_path("rejection"), headers=auth(hall.bearer[who]))
    assert response.status_code == 200


def test_staff_of_another_hall_and_devices_are_refused(hall):
    client = hall.test_client()
    outsider = client.get(pdf_path("receipt"), headers=JSON | auth(hall.bearer["outsider"]))
    assert outsider.status_code == 403 and outsider.get_json()["error"] == "other_hall"
    assert sign_in(client, "outsider", hall.passwords["outsider"]).status_code == 302
    page = client.get(pdf_path("receipt"), headers={"Accept": "text/html"})
    assert page.status_code == 403 and page.mimetype == "text/html"
    kiosk = hall.test_client().get(pdf_path("receipt"), headers=auth(hall.bearer["kiosk"]))
    assert kiosk.status_code == 403


@pytest.mark.parametrize(
    ("kind", "key"),
    [
        ("receipt", "correction"),
        ("receipt", "spot"),
        ("correction", "receipt"),
        ("rejection", "completion"),
        ("completion", "receipt"),
        ("completion", "paused"),
    ],
)
def test_a_document_that_does_not_fit_the_case_is_a_409(staff, kind, key):
    answer = staff.get(pdf_path(kind, key), headers=JSON)
    assert answer.status_code == 409
    body = answer.get_json()
    assert body["error"] == "wrong_document" and NUMBERS[key] in body["message"]
    assert body["message_en"] and body["detail"]["kind"] == kind


def test_a_wrong_document_in_the_browser_is_a_409_page_in_chinese_and_english(hall):
    client = hall.test_client()
    sign_in(client, "staff1", hall.passwords["staff1"])
    page = client.get(pdf_path("completion", "receipt"), headers={"Accept": "text/html"})
    assert page.status_code == 409 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert "办件尚未办结，不能打印办结通知书" in html and "not completed" in html


def test_an_unknown_case_or_document_is_a_404(staff):
    missing = staff.get("/cases/DEMO-20990101-0001/receipt.pdf", headers=JSON)
    assert missing.status_code == 404 and missing.get_json()["error"] == "case_not_found"
    assert staff.get(f"/cases/{NUMBERS['receipt']}/licence.pdf").status_code == 404


# ---------------------------------------------------------------- both databases


def test_print_a_receipt_scan_it_and_see_the_masked_name_on_each_database(app, client, tmp_path):
    """The whole way on SQLite and PostgreSQL: print, decode the QR code, open the page."""
    passwords = load_demo(app)
    tokens = add_cases(app)
    sign_in(client, "staff1", passwords["staff1"])
    pdf = client.get(pdf_path("receipt")).data
    text = text_of(pdf)
    assert NUMBERS["receipt"] in text and "预计办结日期：2026年10月13日" in text
    (url,) = qr_codes(pdf, tmp_path)
    assert url == verify_link(tokens["receipt"])
    html = app.test_client().get(url.removeprefix("http://localhost")).get_data(as_text=True)
    assert MASKED in html and APPLICANT not in html and PHONE not in html


def test_the_qr_code_follows_the_public_url_setting(hall, staff):
    hall.config["HALL_PUBLIC_URL"] = "https://zwfw.example.gov.cn/"
    try:
        pdf = staff.get(pdf_path("rejection")).data
    finally:
        hall.config.pop("HALL_PUBLIC_URL")
    subject = pypdf.PdfReader(io.BytesIO(pdf)).metadata.subject
    assert subject == f"https://zwfw.example.gov.cn/v/{hall.tokens['rejection']}"


# ---------------------------------------------------------------- the library alone

PLAIN = {"number": "X-20260101-0001", "matter_name": "结婚登记", "issuer": "测试中心"}


def test_a_long_list_of_missing_materials_spans_pages_with_the_header_on_each():
    missing = [
        {"name": f"第{n}项材料：{'证明文件' * (n % 5 + 1)}", "note": "须加盖公章。" * (n % 7)}
        for n in range(1, 81)
    ]
    pdf = case_document(
        "correction", {**PLAIN, "missing_materials": missing}, verify_url="http://h/v/t"
    )
    pages = pages_text(pdf)
    assert len(pages) >= 3
    text = "".join(pages)
    for number, item in enumerate(missing, 1):
        assert f"{number}{printed(item['name'])}" in text, item["name"]
    assert "以上共80项" in text
    for page in pages:
        assert "第" in page and f"共{len(pages)}页" in page
    for page in pages[1:]:  # a loose sheet still says what it is
        assert "测试中心·一次性告知书" in page and "编号：X-20260101-0001" in page
    with_table = [page for page in pages if "第40项材料" in page or "第80项材料" in page]
    assert with_table and all("序号需补正的材料补正要求" in page for page in with_table)
    assert "（受理专用章）" in pages[-1]


def test_odd_text_prints_literally_and_never_breaks_a_document():
    odd = {
        "number": "X-1 <b>",
        "matter_name": "结婚登记 <b>&nbsp; \x00\ud800\u202e 😀",
        "issuer": None,
        "applicant_name": "</para>",
        "materials_received": [None, "只有名称", {"note": "只有备注"}, {"name": "名" * 5000}, 7],
        "missing_materials": {"name": "不是列表的一项"},
        "reason": "理由" * 20_000 + "<br/>",
        "result": "<font>结果</font>",
        "limit_days": "abc",
        "accepted_on": "not a date",
        "due_date": dt.datetime(2026, 10, 13, 9, 0),
        "window_number": 3,
        "staff_job_number": "1001",
    }
    for kind in KINDS:
        text = text_of(case_document(kind, odd, verify_url="http://h/v/t"))
        assert "结婚登记<b>&nbsp;□" in text and "编号：X-1<b>" in text, kind
    receipt = text_of(case_document("receipt", odd, verify_url="http://h/v/t"))
    assert "</para>：" in receipt and "只有名称" in receipt and "只有备注" in receipt
    assert "即办" in receipt and "2026年10月13日" in receipt and "以下从略" in receipt
    assert "不是列表的一项" in text_of(case_document("correction", odd, verify_url="http://h"))
    assert "<font>结果</font>" in text_of(case_document("completion", odd, verify_url="http://h"))


@pytest.mark.parametrize(
    ("kind", "data", "url"),
    [
        ("licence", PLAIN, "http://h/v/t"),
        ("receipt", {**PLAIN, "number": " "}, "http://h/v/t"),
        ("receipt", {**PLAIN, "matter_name": None}, "http://h/v/t"),
        ("receipt", PLAIN, ""),
    ],
)
def test_unprintable_case_data_raises_printout_error(kind, data, url):
    with pytest.raises(PrintoutError):
        case_document(kind, data, verify_url=url)


def test_the_case_printouts_import_neither_flask_nor_hall():
    code = (
        "import sys\n"
        "from printouts.cases import case_document\n"
        "case_document('receipt', {'number': 'X', 'matter_name': 'n'}, verify_url='http://h')\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('flask', 'hall', 'sqlalchemy')]\n"
        "assert not bad, bad\n"
    )
    root = Path(__file__).resolve().parents[1]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=root)


def test_no_document_carries_the_unmasked_phone_of_the_row(hall):
    """Whatever the view hands the printer: the paper data has the phone masked."""
    from hall.casedocs.views import paper_data

    with hall.app_context():
        case = db.session.scalar(sa.select(Case).where(Case.number == NUMBERS["receipt"]))
        data = paper_data(case, "receipt")
    assert data["applicant_phone"] == MASKED_PHONE and data["applicant_name"] == APPLICANT
    assert not re.search(r"\d{7}", repr(data["applicant_phone"]))
