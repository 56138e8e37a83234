"""The service guide (办事指南): the search (Chinese, full pinyin, initials, ranking, freshness),
the JSON API (/api/v1/matters) and the public phone pages (/guide), on a real database."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from hall.domain import guide
from hall.extensions import db
from hall.models import Department, Material, Matter, utcnow

ODD_QUERIES = [
    "x" * 10_000,
    "户" * 300,
    "\x00户口\x1f\x7f",
    "%",
    "_",
    "%%__",
    "户口%",
    "'; DROP TABLE matters; --",
    '<script>alert("x")</script>',
    "\\",
    ".*",
    "(((",
    "[a-z]+",
    "🙂🙂",
    "ｈｕｋｏｕ' OR 1=1",
    "'",
    "''''",
]


# what normalizes to nothing is an empty query: every active matter
BLANK_QUERIES = ["\n\t\r", "\u200b\ufeff", "   ", "\x00"]


# ---------------------------------------------------------------- helpers


def add_department(session, code: str, name: str, functions: str = "") -> Department:
    department = Department(code=code, name=name, functions=functions)
    session.add(department)
    session.flush()
    return department


def add_matter(
    session,
    code: str,
    name: str,
    department: Department,
    *,
    materials: tuple[str, ...] = (),
    **fields,
) -> Matter:
    matter = Matter(code=code, name=name, department_id=department.id, **fields)
    matter.materials = [Material(name=m, position=i) for i, m in enumerate(materials)]
    session.add(matter)
    session.flush()
    return matter


def codes(session, query: str, **kwargs) -> list[str]:
    found = [m.code for m in guide.search(session, query, **kwargs)]
    session.rollback()  # one transaction per search, as a request has
    return found


@pytest.fixture
def catalogue(session):
    """A small catalogue of our own: one department named after 户籍, one neutral."""
    office = add_department(session, "tst", "区测试局", "测试职能：证明开具")
    registry = add_department(session, "hjs", "区户籍管理所", "户口登记")
    add_matter(session, "T-01", "户籍证明开具", office, sort_order=2)
    add_matter(session, "T-02", "补办户籍证明", office, sort_order=1)
    add_matter(session, "T-03", "居住登记", registry, sort_order=0)
    add_matter(session, "T-04", "老年优待证办理", office, materials=("户籍证明", "照片"))
    add_matter(session, "T-05", "户籍证明开具（委托）", office, sort_order=2)
    add_matter(session, "T-06", "银行开户证明", office, sort_order=9)
    session.commit()
    return session


FULL_GUIDE = {
    "kind": "promised",
    "promised_days": 5,
    "promised_unit": "working",
    "statutory_days": 20,
    "statutory_unit": "natural",
    "legal_basis": "《中华人民共和国户口登记条例》第十条",
    "conditions": "本区常住人口\n材料齐全",
    "process": "申请\n受理\n审核\n办结",
    "fee": "",
    "fee_basis": "",
    "place": "区政务服务中心一楼 3 号窗口",
    "hours": "周一至周五 9:00–17:00",
    "phone": "0571-87654321、12345",
    "complaint": "12345 政务服务便民热线",
    "result_document": "准予迁入证明",
    "visits": 1,
    "online": True,
    "appointment": False,
    "faq": [{"q": "可以委托他人办理吗？", "a": "可以，需提供授权委托书。"}],
}


@pytest.fixture
def full_matter(session):
    """A matter with every field of its guide filled in."""
    department = add_department(session, "gdt", "区户政服务中心", "户口登记、迁移")
    matter = add_matter(session, "HZ-001", "户口迁入（投靠）", department, **FULL_GUIDE)
    matter.materials = [
        Material(
            name="居民户口簿",
            position=0,
            required=True,
            form="original",
            copies=1,
            notes="全家户口簿",
            blank_form="",
            sample="",
        ),
        Material(
            name="迁入申请表",
            position=1,
            required=True,
            form="both",
            copies=2,
            blank_form="https://example.org/forms/qianru.docx",
            sample="迁入申请表（示例）",
        ),
        Material(name="结婚证", position=2, required=False, form="copy", copies=1),
    ]
    session.commit()
    return matter.code


# ---------------------------------------------------------------- search: what it finds


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("户口", ["GA-003"]),
        ("hukou", ["GA-003"]),
        ("hu kou", ["GA-003"]),
        ("HuKou", ["GA-003"]),
        ("ｈｕｋｏｕ", ["GA-003"]),
        ("hk", ["GA-003"]),
        ("hkqr", ["GA-003"]),
        ("hukouqianru", ["GA-003"]),
        ("huk", ["GA-003"]),
        ("sbk", ["RS-002"]),
        ("shebaoka", ["RS-002"]),
        ("社保卡", ["RS-002"]),
        ("结婚", ["MZ-001"]),
        ("GA-001", ["GA-001"]),
        ("gjj", ["GJ-001", "GJ-002"]),
        ("yidijiuyi", ["YB-001"]),
    ],
)
def test_the_demo_catalogue_is_found_by_chinese_full_pinyin_and_initials(
    session, demo, query, expected
):
    # the demo catalogue grows; its first 21 matters keep their codes and names
    assert set(expected) <= set(codes(session, query))


def test_a_code_is_found_first(session, demo):
    assert codes(session, "GA-001")[0] == "GA-001"
    assert codes(session, "ga-001")[0] == "GA-001"


def test_not_dong_chan_finds_every_real_estate_matter_in_catalogue_order(session, demo):
    for query in ("不动产", "bdc", "budongchan", "bu dong chan", "BDC"):
        found = codes(session, query)
        real_estate = [c for c in found if c in ("BD-001", "BD-002", "BD-003")]
        assert real_estate == ["BD-001", "BD-002", "BD-003"], query


def test_initials_hj_find_the_matters_of_the_household_registration_department(session, demo):
    # 区公安分局（户籍）: 「hj」 matches the department, so its matters come up
    found = codes(session, "hj")
    assert {"GA-001", "GA-002", "GA-003", "GA-004"} <= set(found)


def test_names_rank_first_then_departments_then_materials(session, catalogue):
    # T-01, T-05 start with 户籍 (sort_order 2, then by code); T-02 has it inside its name
    # (though its sort_order is lower); T-03's department is 区户籍管理所; T-04 lists 户籍证明
    expected = ["T-01", "T-05", "T-02", "T-03", "T-04"]
    assert codes(session, "户籍") == expected
    assert codes(session, "hj") == expected
    assert codes(session, "huji") == expected
    # 户籍证明: T-01 and T-05 start with it, T-02 has it inside, T-04 lists it as a material
    assert codes(session, "户籍证明") == ["T-01", "T-05", "T-02", "T-04"]


def test_ties_are_broken_by_sort_order_then_code(session, catalogue):
    # T-01 and T-05 both start with 户籍 and have sort_order 2: by code
    assert codes(session, "户籍证明开具") == ["T-01", "T-05"]
    matter = session.scalar(sa.select(Matter).where(Matter.code == "T-05"))
    matter.sort_order = 1
    session.commit()
    assert codes(session, "户籍证明开具") == ["T-05", "T-01"]


def test_polyphones_are_read_in_context_and_the_other_way_too(session, catalogue):
    office = session.scalar(sa.select(Department).where(Department.code == "tst"))
    add_matter(session, "T-07", "会计从业证明", office, sort_order=9)
    add_matter(session, "T-08", "重庆户口迁入", office, sort_order=9)
    session.commit()
    assert codes(session, "yinhang") == ["T-06"]
    assert codes(session, "yh") == ["T-06"]
    assert codes(session, "yinxing") == ["T-06"]  # 行 read the other way still finds it
    assert codes(session, "kuaiji") == ["T-07"]
    assert codes(session, "kj")[0] == "T-07"  # then 户籍证明开具 (开具: kj)
    assert codes(session, "chongqing") == ["T-08"]
    assert codes(session, "cq") == ["T-08"]
    full, initials = guide.pinyin_forms(guide.normalize("重庆银行会计"))
    assert full[0] == "'chong'qing'yin'hang'kuai'ji" and initials[0] == "cqyhkj"


def test_a_material_name_finds_its_matter_by_chinese_and_pinyin(session, catalogue):
    assert codes(session, "照片") == ["T-04"]
    assert codes(session, "zhaopian") == ["T-04"]
    assert codes(session, "zp") == ["T-04"]


def test_only_active_matters_are_found_and_listed(session, catalogue):
    matter = session.scalar(sa.select(Matter).where(Matter.code == "T-03"))
    matter.active = False
    session.commit()
    assert "T-03" not in codes(session, "户籍")
    assert "T-03" not in codes(session, "")
    matter = session.scalar(sa.select(Matter).where(Matter.code == "T-03"))
    matter.active = True
    session.commit()
    assert "T-03" in codes(session, "户籍")


def test_an_empty_query_lists_every_active_matter_in_order_with_limit_and_department(
    session, catalogue
):
    everything = codes(session, "", limit=None)
    assert everything == ["T-03", "T-04", "T-02", "T-01", "T-05", "T-06"]
    for blank in BLANK_QUERIES:
        assert codes(session, blank, limit=None) == everything
    assert codes(session, "", limit=3) == everything[:3]
    assert codes(session, "", department="hjs") == ["T-03"]
    assert codes(session, "户籍", department="tst") == ["T-01", "T-05", "T-02", "T-04"]
    assert codes(session, "hj", department="hjs") == ["T-03"]
    assert codes(session, "户籍", department="nowhere") == []
    assert codes(session, "户籍", limit=2) == ["T-01", "T-05"]
    assert codes(session, "hj", limit=3) == ["T-01", "T-05", "T-02"]
    assert codes(session, "户籍", limit=0) == []


def test_nothing_matches_nonsense(session, catalogue):
    assert codes(session, "xqzvk") == []
    assert codes(session, "火星移民") == []


@pytest.mark.parametrize("query", ODD_QUERIES)
def test_odd_input_never_fails_and_finds_nothing_odd(session, catalogue, query):
    assert codes(session, query) == [], query
    assert session.scalar(sa.select(sa.func.count(Matter.id))) == 6  # the table is still there


def test_long_pinyin_queries_with_many_splits_stay_fast(session, catalogue):
    import time

    start = time.perf_counter()
    for query in ("xian" * 15 + "v", "a" * 60, "xianxianxianxianxian"):
        codes(session, query)
    assert time.perf_counter() - start < 2.0


# ---------------------------------------------------------------- search: freshness


def test_the_index_follows_edits_of_names_and_materials(session, catalogue):
    assert codes(session, "量子") == []
    matter = session.scalar(sa.select(Matter).where(Matter.code == "T-03"))
    matter.name = "量子居住登记"
    session.commit()
    assert codes(session, "lzj") == ["T-03"]

    # a material added to a matter: its updated_at moves and the index sees it
    other = session.scalar(sa.select(Matter).where(Matter.code == "T-06"))
    before = other.updated_at
    other.materials.append(Material(name="纠缠态证明", position=5))
    session.commit()
    other = session.scalar(sa.select(Matter).where(Matter.code == "T-06"))
    assert other.updated_at > before
    assert codes(session, "纠缠态") == ["T-06"]
    assert codes(session, "jct") == ["T-06"]

    # a material renamed, then deleted
    material = session.scalar(sa.select(Material).where(Material.name == "纠缠态证明"))
    material.name = "叠加态证明"
    session.commit()
    assert codes(session, "纠缠态") == []
    assert codes(session, "叠加态") == ["T-06"]
    material = session.scalar(sa.select(Material).where(Material.name == "叠加态证明"))
    session.delete(material)
    session.commit()
    assert codes(session, "叠加态") == []

    # removed from the list (delete-orphan)
    matter = session.scalar(sa.select(Matter).where(Matter.code == "T-04"))
    matter.materials = [m for m in matter.materials if m.name != "照片"]
    session.commit()
    assert codes(session, "照片") == []

    # a department renamed: no matter changes, the search still knows
    department = session.scalar(sa.select(Department).where(Department.code == "hjs"))
    department.name = "区居住证管理所"
    session.commit()
    assert "T-03" not in codes(session, "户籍")
    assert codes(session, "居住证管理") == ["T-03"]


def test_a_matter_added_or_deleted_is_seen(session, catalogue):
    office = session.scalar(sa.select(Department).where(Department.code == "tst"))
    add_matter(session, "T-09", "渔业捕捞许可", office)
    session.commit()
    assert codes(session, "yybl") == ["T-09"]
    session.delete(session.scalar(sa.select(Matter).where(Matter.code == "T-09")))
    session.commit()
    assert codes(session, "yybl") == []


def test_changes_made_through_another_connection_are_seen(app, session, catalogue):
    """Another process (here: another engine with its own connections) edits the catalogue;
    this process's index notices through the catalogue check, on SQLite and PostgreSQL."""
    assert codes(session, "量子") == []
    url = db.engine.url
    other = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        later = utcnow() + timedelta(seconds=1)
        with other.begin() as conn:
            conn.execute(
                sa.update(Matter)
                .where(Matter.code == "T-03")
                .values(name="量子居住登记", updated_at=later)
            )
        assert codes(session, "量子") == ["T-03"]
        # a material edit through an ORM session of that engine: the listener bumps the matter
        with sa.orm.Session(other) as remote:
            material = remote.scalar(sa.select(Material).where(Material.name == "照片"))
            material.name = "纠缠态照片"
            remote.commit()
        assert codes(session, "纠缠态") == ["T-04"]
    finally:
        other.dispose()


def test_a_search_inside_a_transaction_that_rolls_back_leaves_no_trace(session, catalogue):
    matter = session.scalar(sa.select(Matter).where(Matter.code == "T-03"))
    matter.name = "量子居住登记"
    session.flush()
    assert [m.code for m in guide.search(session, "量子")] == ["T-03"]  # what it sees
    session.rollback()
    assert codes(session, "量子") == []
    assert codes(session, "居住登记") == ["T-03"]


def test_material_changes_bump_the_matter_updated_at(session, catalogue):
    matter = session.scalar(sa.select(Matter).where(Matter.code == "T-04"))
    stamps = [matter.updated_at]
    for change in (
        lambda m: m.materials.append(Material(name="新材料", position=9)),
        lambda m: setattr(m.materials[0], "required", False),
        lambda m: session.delete(m.materials[0]),
    ):
        change(matter)
        session.commit()
        matter = session.scalar(sa.select(Matter).where(Matter.code == "T-04"))
        stamps.append(matter.updated_at)
    assert stamps == sorted(stamps) and len(set(stamps)) == 4


# ---------------------------------------------------------------- API


def test_the_matter_list_is_public_json_best_first(client, demo):
    response = client.get("/api/v1/matters?q=hk")
    assert response.status_code == 200
    body = response.json
    assert body["query"] == "hk" and body["count"] == len(body["matters"]) >= 1
    first = next(m for m in body["matters"] if m["code"] == "GA-003")
    assert first["name"] == "户口迁入（投靠、入学、就业）"
    assert first["department"]["code"] == "gaj"
    assert first["kind"] == "promised" and first["kind_label"] == "承诺件"
    assert first["promised_limit"] == {
        "days": 5,
        "unit": "working",
        "unit_label": "工作日",
        "label": "5 个工作日",
    }
    assert isinstance(first["materials"], int) and isinstance(first["required_materials"], int)
    assert first["guide_url"].endswith("/guide/GA-003")
    assert first["api_url"] == "/api/v1/matters/GA-003"


def test_the_matter_list_filters_by_department_and_limits(client, demo):
    body = client.get("/api/v1/matters?department=bdc").json
    assert {"BD-001", "BD-002", "BD-003"} <= {m["code"] for m in body["matters"]}
    assert {m["department"]["code"] for m in body["matters"]} == {"bdc"}
    assert client.get("/api/v1/matters?limit=2").json["count"] == 2
    everything = client.get("/api/v1/matters?limit=500").json
    assert everything["count"] >= 21 and everything["query"] == ""


def test_a_matter_guide_is_the_whole_guide_as_json(client, full_matter):
    response = client.get(f"/api/v1/matters/{full_matter}")
    assert response.status_code == 200
    body = response.json
    assert (
        body["name"] == "户口迁入（投靠）" and body["department"]["functions"] == "户口登记、迁移"
    )
    assert body["legal_basis"] == FULL_GUIDE["legal_basis"]
    assert body["process"] == ["申请", "受理", "审核", "办结"]
    assert body["statutory_limit"]["label"] == "20 个自然日"
    assert body["promised_limit"]["label"] == "5 个工作日"
    assert body["free"] is True and body["fee_label"] == "不收费"
    assert body["faq"] == FULL_GUIDE["faq"]
    assert [m["name"] for m in body["materials"]] == ["居民户口簿", "迁入申请表", "结婚证"]
    second = body["materials"][1]
    assert second["form"] == "both" and second["form_label"] == "原件及复印件"
    assert second["copies"] == 2 and second["blank_form"].startswith("https://")
    assert body["materials"][2]["required"] is False and body["required_materials"] == 2
    assert body["online"] is True and body["appointment"] is False and body["visits"] == 1
    assert body["guide_url"].endswith(f"/guide/{full_matter}")


@pytest.mark.parametrize(
    ("url", "status", "error"),
    [
        ("/api/v1/matters?limit=0", 400, "bad_parameter"),
        ("/api/v1/matters?limit=501", 400, "bad_parameter"),
        ("/api/v1/matters?limit=abc", 400, "bad_parameter"),
        ("/api/v1/matters?limit=-1", 400, "bad_parameter"),
        ("/api/v1/matters?limit=１０", 400, "bad_parameter"),
        ("/api/v1/matters?department=nowhere", 400, "bad_parameter"),
        ("/api/v1/matters?q=" + "x" * 201, 400, "bad_parameter"),
        ("/api/v1/matters/NOPE", 404, "matter_not_found"),
        ("/api/v1/matters/" + "X" * 500, 404, "matter_not_found"),
    ],
)
def test_bad_parameters_are_a_json_400_and_unknown_matters_a_json_404(
    client, demo, url, status, error
):
    response = client.get(url)
    assert response.status_code == status
    assert response.is_json and response.json["error"] == error
    assert response.json["message"] and response.json["message_en"]


def test_a_retired_matter_is_a_json_404(session, client, catalogue):
    matter = session.scalar(sa.select(Matter).where(Matter.code == "T-03"))
    matter.active = False
    session.commit()
    response = client.get("/api/v1/matters/T-03")
    assert response.status_code == 404 and response.json["error"] == "matter_retired"
    assert "居住登记" in response.json["message"]


@pytest.mark.parametrize("query", ODD_QUERIES[1:])
def test_odd_queries_through_the_api_are_never_a_500(client, catalogue, query):
    response = client.get("/api/v1/matters", query_string={"q": query})
    assert response.status_code in (200, 400), response.text
    assert response.is_json


def test_the_openapi_document_describes_the_guide_endpoints(client):
    doc = client.get("/api/v1/openapi.json").json
    listing = doc["paths"]["/matters"]["get"]
    assert listing["security"] == [] and {p["name"] for p in listing["parameters"]} == {
        "q",
        "department",
        "limit",
    }
    assert "404" in doc["paths"]["/matters/{code}"]["get"]["responses"]
    assert "MatterGuide" in doc["components"]["schemas"]


# ---------------------------------------------------------------- pages


def test_the_guide_index_lists_departments_functions_and_matters(client, demo):
    page = client.get("/guide")
    assert page.status_code == 200
    html = page.text
    assert '<meta name="viewport"' in html and '<html lang="zh-CN">' in html
    for text in ("办事指南", "区不动产登记中心", "不动产首次、转移、变更、抵押登记与查询"):
        assert text in html
    assert 'href="/guide/BD-001"' in html and 'href="/guide/departments/bdc"' in html
    assert 'name="q"' in html and "<form" in html
    assert "<script>" not in html.replace('<script src="', "")  # no inline script
    assert client.get("/guide/").status_code == 200


def test_the_guide_search_works_without_javascript(client, demo):
    html = client.get("/guide?q=hk").text
    assert 'href="/guide/GA-003"' in html and "户口迁入" in html
    assert 'value="hk"' in html
    none = client.get("/guide", query_string={"q": "火星移民"}).text
    assert "没有找到与「火星移民」相关的事项" in none


def test_the_guide_page_escapes_what_was_typed(client, demo):
    html = client.get("/guide", query_string={"q": '<script>alert("x")</script>'}).text
    assert '<script>alert("x")</script>' not in html
    assert "&lt;script&gt;" in html


@pytest.mark.parametrize("query", ODD_QUERIES)
def test_odd_queries_on_the_guide_page_are_never_a_500(client, catalogue, query):
    response = client.get("/guide", query_string={"q": query})
    assert response.status_code == 200


def test_a_matter_page_shows_the_whole_guide(client, full_matter):
    page = client.get(f"/guide/{full_matter}")
    assert page.status_code == 200
    html = page.text
    for text in (
        "户口迁入（投靠）",
        "区户政服务中心",
        "承诺件",
        "《中华人民共和国户口登记条例》第十条",
        "本区常住人口",
        "居民户口簿",
        "全家户口簿",
        "迁入申请表",
        "原件及复印件",
        "非必要（容缺）",
        "迁入申请表（示例）",
        "5 个工作日",
        "20 个自然日",
        "不收费",
        "区政务服务中心一楼 3 号窗口",
        "周一至周五 9:00–17:00",
        "政务服务便民热线",
        "准予迁入证明",
        "到现场次数",
        "可网上办理",
        "可以委托他人办理吗？",
        "可以，需提供授权委托书。",
    ):
        assert text in html, text
    assert re.search(r"<li>申请</li>\s*<li>受理</li>\s*<li>审核</li>\s*<li>办结</li>", html)
    assert 'href="tel:057187654321"' in html and 'href="tel:12345"' in html
    assert 'href="https://example.org/forms/qianru.docx"' in html
    assert "<table" in html and "<details" in html
    assert 'href="/guide/departments/gdt"' in html


def test_the_matter_page_links_the_printable_pdf_when_there_is_one(app, client, full_matter):
    html = client.get(f"/guide/{full_matter}").text
    if "guide.matter_pdf" not in app.view_functions:
        assert ".pdf" not in html
        return
    with app.test_request_context():
        from flask import url_for

        assert f'href="{url_for("guide.matter_pdf", code=full_matter)}"' in html


def test_a_fee_is_shown_with_its_basis(session, client, full_matter):
    matter = session.scalar(sa.select(Matter).where(Matter.code == full_matter))
    matter.fee = "工本费 20 元"
    matter.fee_basis = "《居民身份证法》第二十条"
    session.commit()
    html = client.get(f"/guide/{full_matter}").text
    assert "工本费 20 元" in html and "《居民身份证法》第二十条" in html and "不收费" not in html


def test_pages_are_english_on_request(client, full_matter):
    html = client.get(f"/guide/{full_matter}?lang=en").text
    assert '<html lang="en">' in html
    for text in (
        "Materials",
        "Process",
        "Statutory time limit",
        "5 working days",
        "Free of charge",
    ):
        assert text in html, text
    assert "户口迁入（投靠）" in html  # the guide's own text stays as written
    index = client.get("/guide?lang=en").text
    assert "Search matters" in index


def test_the_department_page_lists_its_matters(client, demo):
    page = client.get("/guide/departments/bdc")
    assert page.status_code == 200
    html = page.text
    assert "区不动产登记中心" in html and "不动产首次、转移、变更、抵押登记与查询" in html
    for code in ("BD-001", "BD-002", "BD-003"):
        assert f'href="/guide/{code}"' in html
    assert client.get("/guide/departments/nowhere").status_code == 404


def test_an_unknown_matter_is_a_404_page_with_a_way_on(client, demo):
    page = client.get("/guide/NOPE-404")
    assert page.status_code == 404
    assert "没有找到该事项" in page.text and 'name="q"' in page.text
    assert client.get("/guide/" + "X" * 500).status_code == 404


def test_a_retired_matter_says_so_clearly(session, client, catalogue):
    matter = session.scalar(sa.select(Matter).where(Matter.code == "T-03"))
    matter.active = False
    session.commit()
    page = client.get("/guide/T-03")
    assert page.status_code == 404
    assert "该事项已停止办理" in page.text and "居住登记" in page.text
    assert 'href="/guide/T-03"' not in client.get("/guide").text


def test_pages_use_no_external_assets(client, demo):
    for url in ("/guide", "/guide/GA-003", "/guide/departments/gaj", "/guide/NOPE"):
        html = client.get(url).text
        assert not re.search(r'src="(https?:)?//', html), url
        assert not re.search(r'<link[^>]+href="(https?:)?//', html), url
        for asset in re.findall(r'(?:src|href)="(/static/[^"]+)"', html):
            assert client.get(asset).status_code == 200, asset


def test_the_search_box_script_is_a_static_file(client, demo):
    html = client.get("/guide").text
    assert '<script src="/static/guide/guide.js"' in html
    script = client.get("/static/guide/guide.js")
    assert script.status_code == 200 and b"DOMParser" in script.data


# ---------------------------------------------------------------- in a browser


@pytest.fixture
def guide_server(sqlite_url):
    """The demo hall on a real port (SQLite: a browser test)."""
    from tests.conftest import serving_demo

    with serving_demo(sqlite_url) as server:
        yield server


@pytest.mark.browser
def test_on_a_phone_typing_initials_shows_results_live_and_opens_the_guide(
    browser_context, guide_server
):
    errors: list[str] = []
    phone = browser_context.new_page()
    phone.set_viewport_size({"width": 390, "height": 844})
    phone.on("pageerror", lambda e: errors.append(str(e)))
    phone.goto(f"{guide_server.url}/guide")
    assert phone.is_visible("#g-browse") and phone.is_hidden("#g-results")
    phone.fill("#g-q", "hk")  # no submit: the list follows the typing
    phone.wait_for_selector("#g-results:not([hidden]) a[href='/guide/GA-003']")
    assert phone.is_hidden("#g-browse")
    assert phone.url.endswith("/guide?q=hk")
    phone.fill("#g-q", "")
    phone.wait_for_selector("#g-browse:not([hidden])")
    phone.fill("#g-q", "hukou")
    phone.click("#g-results a[href='/guide/GA-003']")
    phone.wait_for_url("**/guide/GA-003")
    assert "户口迁入" in phone.inner_text("h1")
    # the page fits the phone's width: nothing scrolls sideways
    assert phone.evaluate("document.documentElement.scrollWidth") <= 390
    assert errors == []
