"""The kiosk's service guide (办事指南): search with the letter keyboard, browse by department,
a matter's guide with its checklist and 取号办理 — over HTTP and in a real browser."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa
from PIL import Image

from hall.extensions import db
from hall.models import Department, Material, Matter, Queue, Ticket
from tests.conftest import ARTIFACTS, need, serving_demo

JSON = {"Accept": "application/json"}
# GA-003 as a real guide would publish it (the demo's own texts may change; these do not)
MATERIALS = [
    ("居民户口簿", True, "original", 1, "迁入地户主的户口簿"),
    ("居民身份证", True, "both", 1, ""),
    ("亲属关系证明", False, "copy", 2, "投靠亲属的提交，如结婚证、出生医学证明"),
]


def publish_guide(app) -> None:
    """Give GA-003 a full guide, and add a retired matter and one without a queue here."""
    with app.app_context():
        matter = db.session.scalar(sa.select(Matter).where(Matter.code == "GA-003"))
        matter.materials = [
            Material(position=i, name=name, required=required, form=form, copies=copies, notes=n)
            for i, (name, required, form, copies, n) in enumerate(MATERIALS)
        ]
        matter.kind = "promised"
        matter.promised_days, matter.promised_unit = 5, "working"
        matter.statutory_days, matter.statutory_unit = 20, "natural"
        matter.fee = ""
        matter.place = "一楼 B 区户籍窗口"
        matter.hours = "周一至周五 9:00-17:00"
        matter.phone = "0571-12345678"
        matter.visits = 1
        matter.online = True
        gaj = db.session.scalar(sa.select(Department).where(Department.code == "gaj"))
        queue_b = db.session.scalar(sa.select(Queue).where(Queue.prefix == "B"))
        db.session.add_all(
            [
                Matter(
                    code="ZZ-OLD",
                    name="户口簿换领（旧版停办）",
                    department_id=gaj.id,
                    queue_id=queue_b.id,
                    active=False,
                ),
                Matter(
                    code="ZZ-ARC",
                    name="户籍档案查询",
                    department_id=gaj.id,
                    queue_id=None,
                    fee="每页 0.5 元",
                    place="区档案馆二楼查阅室",
                ),
            ]
        )
        db.session.commit()


@pytest.fixture
def guide(app, demo):
    """The demo hall with GA-003's full guide, a retired matter and a matter with no queue."""
    publish_guide(app)


def codes(response) -> list[str]:
    assert response.status_code == 200, response.text
    assert response.is_json and response.headers["Cache-Control"] == "no-store"
    return [m["code"] for m in response.json["matters"]]


# ---------------------------------------------------------------- the kiosk page


def test_the_start_screen_opens_the_guide_with_big_letter_keys_and_departments(client, guide):
    html = client.get("/kiosk/demo").text
    assert 'data-go="guide"' in html and "办事指南" in html
    keys = re.findall(r'data-key="([a-z]+)"', html)
    assert sorted(keys) == sorted([*"abcdefghijklmnopqrstuvwxyz", "backspace", "clear"])
    assert "删除</button>" in html and "清空</button>" in html and "按部门查找" in html
    assert 'data-guide-dept="gaj"' in html and 'data-guide-dept="bdc"' in html
    assert 'data-guide-url="/kiosk/demo/guide/search.json"' in html
    # no inline script: every script is a file, or JSON data
    for tag in re.findall(r"<script\b[^>]*>", html):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert "/static/kiosk/kiosk.js" in html
    for path in ("/static/kiosk/guide.js", "/static/kiosk/keyboard.js"):
        response = client.get(path)
        assert response.status_code == 200, path
        response.close()


def test_the_keyboard_is_in_alphabet_order_in_rows_like_the_pinyin_alphabet_song(client, guide):
    html = client.get("/kiosk/demo").text
    rows = re.findall(r'<div class="k-keyrow">(.*?)</div>', html, flags=re.S)
    letters = ["".join(re.findall(r'data-key="([a-z])"', row)).upper() for row in rows]
    assert letters == ["ABCDEFG", "HIJKLMN", "OPQRST", "UVWXYZ"]
    assert 'data-key="backspace"' in rows[2] and 'data-key="clear"' in rows[3]


def test_retired_matters_are_not_offered_on_the_kiosk(client, guide):
    html = client.get("/kiosk/demo").text
    assert 'data-matter="ZZ-OLD"' not in html and "旧版停办" not in html


# ---------------------------------------------------------------- search (JSON)


def test_pinyin_initials_find_the_matter_with_its_queue_here(client, guide):
    response = client.get("/kiosk/demo/guide/search.json?q=hk")
    assert "GA-003" in codes(response)
    assert response.json["query"] == "hk" and response.json["count"] == len(codes(response))
    found = next(m for m in response.json["matters"] if m["code"] == "GA-003")
    assert found == {
        "code": "GA-003",
        "name": "户口迁入（投靠、入学、就业）",
        "department": "区公安分局（户籍）",
        "kind": "承诺件",
        "here": True,
        "queue": "B",
        "queue_name": "户籍业务",
        "waiting": 0,
    }


@pytest.mark.parametrize("query", ["户口", "HK", "hukou"])
def test_chinese_capitals_and_full_pinyin_find_it_too(client, guide, query):
    assert "GA-003" in codes(client.get("/kiosk/demo/guide/search.json", query_string={"q": query}))


def test_the_waiting_count_of_a_result_is_the_queue_of_this_hall(client, guide):
    from tests.test_kiosk import take

    take(client, {"matter": "GA-001"})
    found = client.get("/kiosk/demo/guide/search.json?q=hk").json["matters"]
    assert next(m for m in found if m["code"] == "GA-003")["waiting"] == 1


def test_a_matter_without_a_queue_here_is_found_but_marked(client, guide):
    found = client.get("/kiosk/demo/guide/search.json?q=户籍档案").json["matters"]
    assert [m["code"] for m in found] == ["ZZ-ARC"]
    assert found[0]["here"] is False and found[0]["queue"] is None and found[0]["waiting"] is None


def test_retired_matters_are_never_found(client, guide):
    assert codes(client.get("/kiosk/demo/guide/search.json?q=旧版停办")) == []
    assert "ZZ-OLD" not in codes(client.get("/kiosk/demo/guide/search.json?q=hkb"))


def test_a_long_result_list_is_cut_and_says_more_letters_narrow_it(app, client, guide):
    with app.app_context():
        gaj = db.session.scalar(sa.select(Department).where(Department.code == "gaj"))
        for n in range(35):
            db.session.add(
                Matter(code=f"ZZ-{n:03d}", name=f"户籍测试事项{n}", department_id=gaj.id)
            )
        db.session.commit()
    response = client.get("/kiosk/demo/guide/search.json?q=户籍测试")
    assert len(codes(response)) == response.json["count"] == 30 and response.json["more"] is True
    narrow = client.get("/kiosk/demo/guide/search.json?q=户籍测试事项7")
    assert "ZZ-007" in codes(narrow) and narrow.json["more"] is False


@pytest.mark.parametrize("query", ["", "   ", None])
def test_an_empty_search_finds_nothing(client, guide, query):
    params = {} if query is None else {"q": query}
    response = client.get("/kiosk/demo/guide/search.json", query_string=params)
    assert codes(response) == [] and response.json["count"] == 0


@pytest.mark.parametrize(
    "query",
    ["%", "_", "'", '"', "\\", "[(", ".*", "a|b", "zzzzzz", "qqqq", "h" * 32, "户口%", "😀"],
)
def test_odd_searches_answer_json_and_never_fail(client, guide, query):
    response = client.get("/kiosk/demo/guide/search.json", query_string={"q": query})
    assert response.status_code == 200, response.text
    assert isinstance(response.json["matters"], list)


@pytest.mark.parametrize(
    ("query", "code"),
    [("h" * 33, "query_too_long"), ("hk\x00", "bad_query"), ("h\nk", "bad_query")],
    ids=["too long", "NUL", "newline"],
)
def test_bad_searches_get_a_json_400(client, guide, query, code):
    response = client.get("/kiosk/demo/guide/search.json", query_string={"q": query})
    assert response.status_code == 400 and response.is_json
    assert response.json["error"] == code
    assert response.json["message"] and response.json["message_en"]


def test_the_search_of_an_unknown_hall_is_a_json_404(client, guide):
    response = client.get("/kiosk/nowhere/guide/search.json?q=hk")
    assert response.status_code == 404 and response.json["error"] == "hall_not_found"


# ---------------------------------------------------------------- browsing (JSON)


def test_a_department_lists_its_active_matters_in_catalogue_order(client, guide):
    response = client.get("/kiosk/demo/guide/departments/gaj.json")
    listed = codes(response)
    assert response.json["department"]["name"] == "区公安分局（户籍）"
    assert [c for c in listed if c.startswith("GA-")][:4] == [
        "GA-001",
        "GA-002",
        "GA-003",
        "GA-004",
    ]
    assert "ZZ-ARC" in listed and "ZZ-OLD" not in listed


def test_an_unknown_department_is_a_json_404(client, guide):
    response = client.get("/kiosk/demo/guide/departments/nope.json")
    assert response.status_code == 404 and response.json["error"] == "department_not_found"
    assert response.json["message_en"]


# ---------------------------------------------------------------- a matter's guide


def matter_part(client, code: str, **params):
    return client.get(
        f"/kiosk/demo/guide/matters/{code}", query_string={"part": "matter", **params}
    )


def test_the_matter_screen_has_the_checklist_limits_fees_windows_and_visits(app, client, guide):
    response = matter_part(client, "GA-003")
    assert response.status_code == 200 and response.mimetype == "text/html"
    html = response.text
    assert html.lstrip().startswith('<article class="k-gm" data-part="guide-matter"')
    assert "<html" not in html  # the screen alone
    for text in ("户口迁入（投靠、入学、就业）", "区公安分局（户籍）", "承诺件", "可网上办理"):
        assert text in html, text
    with app.app_context():
        matter = db.session.scalar(sa.select(Matter).where(Matter.code == "GA-003"))
        promised, statutory = matter.promised_label, matter.statutory_label
    assert (promised, statutory) == ("5 个工作日", "20 个自然日")
    assert f'id="gm-promised">{promised}<' in html
    assert f'id="gm-statutory">{statutory}<' in html
    assert 'id="gm-fee">不收费<' in html
    assert 'id="gm-visits">1 次<' in html
    items = re.findall(r'<li class="k-material(.*?)</li>', html, flags=re.S)
    assert len(items) == 3 and "共 3 项" in html
    assert "居民户口簿" in items[0] and "必须提交" in items[0] and "原件 · 1 份" in items[0]
    assert "迁入地户主的户口簿" in items[0]
    assert "居民身份证" in items[1] and "原件及复印件 · 1 份" in items[1]
    assert "亲属关系证明" in items[2] and "视情况提交" in items[2] and "复印件 · 2 份" in items[2]
    assert "is-optional" in items[2] and "is-optional" not in items[0]
    # where: the windows of this hall that serve queue B, and the place text
    windows = re.findall(r"<b>(\d+) 号窗口</b>", html)
    assert windows == ["1", "2", "3"]
    assert (
        "一楼 B 区户籍窗口" in html and "周一至周五 9:00-17:00" in html and "0571-12345678" in html
    )


def test_the_matter_screen_takes_a_ticket_and_offers_the_phone_guide(client, guide):
    html = matter_part(client, "GA-003").text
    button = re.search(r'<button[^>]*id="gm-take"[^>]*>([^<]*)</button>', html)
    assert button and button.group(1) == "取号办理"
    assert 'data-matter="GA-003"' in button.group(0)
    assert 'data-waiting="B">0<' in html
    qr = re.search(r'<div class="k-qr" id="gm-qr" data-url="([^"]+)">(<svg.*?</svg>)</div>', html)
    assert qr, "no QR code"
    assert qr.group(1) == "http://localhost/guide/GA-003"
    assert "扫码在手机上查看" in html


def test_the_matter_screen_qr_code_reads_back_as_the_phone_guide_address(client, guide):
    zxingcpp = pytest.importorskip("zxingcpp")
    html = matter_part(client, "GA-003").text
    svg = re.search(r"(<svg.*?</svg>)", html).group(1)
    image = rasterise_qr(svg)
    assert [c.text for c in zxingcpp.read_barcodes(image)] == ["http://localhost/guide/GA-003"]


def rasterise_qr(svg: str, scale: int = 8) -> Image.Image:
    """Draw the SVG's module rectangles (printouts.qr_svg: runs `M{x} {y}h{n}v1h-{n}z`)."""
    size = int(re.search(r'viewBox="0 0 (\d+) \d+"', svg).group(1))
    image = Image.new("L", (size * scale, size * scale), 255)
    path = re.search(r'<path d="([^"]+)"', svg).group(1)
    for x, y, n in re.findall(r"M(\d+) (\d+)h(\d+)v1h-\d+z", path):
        x, y, n = int(x), int(y), int(n)
        image.paste(0, (x * scale, y * scale, (x + n) * scale, (y + 1) * scale))
    return image


def test_a_fee_is_shown_and_a_matter_not_handled_here_has_no_ticket_button(client, guide):
    html = matter_part(client, "ZZ-ARC").text
    assert 'id="gm-fee">每页 0.5 元<' in html
    assert "data-matter=" not in html and "取号办理" not in html  # no dead button
    assert "本大厅不能为该事项取号" in html and "区档案馆二楼查阅室" in html
    assert 'id="gm-qr"' in html  # the phone guide still helps


@pytest.mark.parametrize(
    "code", ["XX-999", "ZZ-OLD", "%3Cscript%3E"], ids=["unknown", "retired", "markup"]
)
def test_an_unknown_or_retired_matter_is_a_clear_404_screen(client, guide, code):
    part = matter_part(client, code)
    assert part.status_code == 404 and 'data-part="guide-matter"' in part.text
    assert "没有找到这个事项" in part.text and "返回" in part.text
    assert "<script>" not in part.text
    page = client.get(f"/kiosk/demo/guide/matters/{code}")
    assert page.status_code == 404
    assert 'data-initial-screen="guide-matter"' in page.text and "没有找到这个事项" in page.text
    assert 'id="k-back"' in page.text


def test_a_matter_has_its_own_kiosk_address_that_opens_on_its_guide(client, guide):
    page = client.get("/kiosk/demo/guide/matters/GA-003")
    assert page.status_code == 200
    html = page.text
    assert 'data-initial-screen="guide-matter"' in html
    assert 'data-part="guide-matter" data-code="GA-003"' in html
    assert re.search(r'<section class="k-screen k-start" data-screen="start" hidden>', html)
    assert 'data-screen="result"' in html and 'id="k-green"' in html  # the ticket flow is there
    assert client.get("/kiosk/nowhere/guide/matters/GA-003").status_code == 404


def test_the_guide_speaks_english_on_request(client, guide):
    html = matter_part(client, "GA-003", lang="en").text
    for text in ("Take a ticket", "What to bring", "Required", "If applicable", "Free of charge"):
        assert text in html, text
    assert "5 working day(s)" in html and "20 calendar day(s)" in html and "Window 3" in html
    assert "Scan to read it on your phone" in html
    found = client.get("/kiosk/demo/guide/search.json?q=hk").json["matters"]  # cookie kept
    assert next(m for m in found if m["code"] == "GA-003")["kind"] == "Done within a promised time"


def test_the_ticket_button_issues_through_the_kiosk_endpoint(app, client, guide):
    from tests.test_kiosk import take

    ticket = take(client, {"matter": "GA-003", "priority": True})
    assert ticket.status_code == 201
    assert ticket.json["number"] == "B001" and ticket.json["matter_name"].startswith("户口迁入")
    assert ticket.json["priority"] is True
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Ticket)) == 1


# ---------------------------------------------------------------- in a real browser


def shot(page, name: str) -> None:
    """Save a screenshot to test-artifacts/ for a person to look at."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / name))


def read_qr(png: bytes) -> list[str]:
    try:
        import zxingcpp
    except ImportError:
        zxingcpp = None
    need(zxingcpp is not None, "zxing-cpp (the [test] extra) is needed to read QR codes back")
    return [c.text for c in zxingcpp.read_barcodes(Image.open(io.BytesIO(png)))]


@pytest.fixture
def guide_server(sqlite_url):
    """The demo hall with GA-003's full guide on a real port (SQLite: a browser test)."""
    with serving_demo(sqlite_url, HALL_KIOSK_IDLE_SECONDS=120) as server:
        publish_guide(server.app)
        yield server


@pytest.mark.browser
def test_a_resident_types_pinyin_initials_opens_the_matter_and_takes_a_ticket(
    browser_context, guide_server
):
    errors: list[str] = []
    kiosk = browser_context.new_page()
    kiosk.set_viewport_size({"width": 1080, "height": 1920})
    kiosk.on("pageerror", lambda e: errors.append(str(e)))
    kiosk.goto(f"{guide_server.url}/kiosk/demo")
    kiosk.wait_for_selector("#k-live[data-state=live]")
    shot(kiosk, "kiosk-guide-start-portrait.png")
    kiosk.click("#k-guide-entry")
    kiosk.wait_for_selector("[data-screen=guide]:not([hidden])")
    assert kiosk.is_visible("#g-departments") and kiosk.is_visible("#k-back")

    # H, K, a wrong X, 删除: the letters show big and the results follow
    for key in ("h", "k", "x"):
        kiosk.click(f"[data-key={key}]")
    assert kiosk.inner_text("#g-letters") == "HKX"
    kiosk.click("[data-key=backspace]")
    assert kiosk.inner_text("#g-letters") == "HK"
    kiosk.wait_for_selector("#g-results [data-guide=GA-003]")
    assert kiosk.is_hidden("#g-departments")
    assert "户口迁入" in kiosk.inner_text("#g-results")
    shot(kiosk, "kiosk-guide-search-portrait.png")

    kiosk.click("#g-results [data-guide=GA-003]")
    kiosk.wait_for_selector("[data-part=guide-matter][data-code=GA-003]")
    assert kiosk.is_visible("[data-screen=guide-matter]")
    assert kiosk.locator(".k-material").count() == 3
    assert kiosk.inner_text("#gm-fee") == "不收费"
    assert kiosk.is_visible("#gm-take") and kiosk.is_visible("#gm-qr svg")
    assert read_qr(kiosk.locator("#gm-qr").screenshot()) == [f"{guide_server.url}/guide/GA-003"]
    shot(kiosk, "kiosk-guide-matter-portrait.png")

    # back to the results, and forward again: the way back always works
    kiosk.click("#k-back")
    assert kiosk.is_visible("[data-screen=guide]") and kiosk.inner_text("#g-letters") == "HK"
    kiosk.click("#g-results [data-guide=GA-003]")
    kiosk.wait_for_selector("[data-part=guide-matter][data-code=GA-003]")

    kiosk.click("#gm-take")
    kiosk.wait_for_selector("[data-screen=result]:not([hidden])")
    assert kiosk.inner_text("#r-number") == "B001"
    assert kiosk.inner_text("#r-matter") == "户口迁入（投靠、入学、就业）"
    assert kiosk.is_hidden("#r-priority")
    shot(kiosk, "kiosk-guide-ticket-portrait.png")
    kiosk.click("#r-done")
    kiosk.wait_for_selector("[data-screen=start]:not([hidden])")
    # a new resident finds an empty keyboard
    kiosk.click("#k-guide-entry")
    assert kiosk.inner_text("#g-letters") == "" and kiosk.is_visible("#g-departments")
    assert errors == []


@pytest.mark.browser
def test_browsing_by_department_in_landscape_takes_a_green_channel_ticket(
    browser_context, guide_server
):
    errors: list[str] = []
    kiosk = browser_context.new_page()
    kiosk.set_viewport_size({"width": 1920, "height": 1080})
    kiosk.on("pageerror", lambda e: errors.append(str(e)))
    kiosk.goto(f"{guide_server.url}/kiosk/demo")
    kiosk.wait_for_selector("#k-live[data-state=live]")
    shot(kiosk, "kiosk-guide-start-landscape.png")
    kiosk.click("#k-guide-entry")
    shot(kiosk, "kiosk-guide-browse-landscape.png")
    kiosk.click("[data-guide-dept=gaj]")
    kiosk.wait_for_selector("#g-dept-list [data-guide=GA-003]")
    assert kiosk.inner_text("#g-dept-title") == "区公安分局（户籍）"
    kiosk.click("#g-dept-list [data-guide=GA-003]")
    kiosk.wait_for_selector("[data-part=guide-matter][data-code=GA-003]")
    shot(kiosk, "kiosk-guide-matter-landscape.png")
    kiosk.click("#k-green")
    kiosk.click("#gm-take")
    kiosk.wait_for_selector("[data-screen=result]:not([hidden])")
    assert kiosk.inner_text("#r-number") == "B001" and kiosk.is_visible("#r-priority")
    shot(kiosk, "kiosk-guide-ticket-landscape.png")

    # a matter this hall issues no tickets for: no ticket button, the phone guide instead
    kiosk.click("#r-done")
    kiosk.click("#k-guide-entry")
    for key in "hjda":
        kiosk.click(f"[data-key={key}]")
    kiosk.click("[data-key=clear]")
    assert kiosk.inner_text("#g-letters") == "" and kiosk.is_visible("#g-departments")
    kiosk.click("[data-guide-dept=gaj]")
    kiosk.click("#g-dept-list [data-guide=ZZ-ARC]")
    kiosk.wait_for_selector("[data-part=guide-matter][data-code=ZZ-ARC]")
    assert kiosk.locator("#gm-take").count() == 0 and kiosk.is_visible("#gm-elsewhere")
    assert errors == []


@pytest.mark.browser
def test_an_idle_guide_screen_returns_to_the_chinese_start_screen(browser_context, sqlite_url):
    with serving_demo(sqlite_url, HALL_KIOSK_IDLE_SECONDS=5) as server:
        publish_guide(server.app)
        kiosk = browser_context.new_page()
        kiosk.set_viewport_size({"width": 1080, "height": 1920})
        # opened on a matter's own address, in English
        kiosk.goto(f"{server.url}/kiosk/demo/guide/matters/GA-003?lang=en")
        assert kiosk.is_visible("[data-screen=guide-matter]") and kiosk.is_visible("#k-back")
        assert kiosk.inner_text("#gm-take") == "Take a ticket"
        kiosk.wait_for_selector("#k-idle-note:not([hidden])", timeout=9000)
        kiosk.wait_for_function("document.documentElement.lang === 'zh-CN'", timeout=9000)
        kiosk.wait_for_selector("[data-screen=start]:not([hidden])")
        assert kiosk.url == f"{server.url}/kiosk/demo?lang=zh_CN"

        # in Chinese: a search left half typed is cleared by the reset
        kiosk.click("#k-guide-entry")
        kiosk.click("[data-key=h]")
        kiosk.click("[data-guide-dept=gaj]")
        kiosk.wait_for_selector("#g-dept-list [data-guide=GA-001]")
        kiosk.wait_for_selector("[data-screen=start]:not([hidden])", timeout=9000)
        assert kiosk.is_hidden("[data-screen=guide-dept]") and kiosk.is_hidden("#k-idle-note")
        kiosk.click("#k-guide-entry")
        assert kiosk.inner_text("#g-letters") == ""

        # a matter's own address in Chinese: the reset leaves the start screen's address
        kiosk.goto(f"{server.url}/kiosk/demo/guide/matters/GA-003")
        assert kiosk.is_visible("#gm-take")
        kiosk.wait_for_selector("[data-screen=start]:not([hidden])", timeout=9000)
        assert kiosk.url == f"{server.url}/kiosk/demo"
