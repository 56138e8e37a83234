"""Manager editing of the catalogue (管理 · 事项目录): departments, matters and materials, queues
and windows, through the real pages with their CSRF-protected forms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from hall import realtime
from hall.domain import guide, tickets
from hall.extensions import db, socketio
from hall.models import (
    AuditEvent,
    Department,
    Hall,
    Material,
    Matter,
    Queue,
    Ticket,
    Window,
    WindowQueue,
)
from tests.conftest import ARTIFACTS, open_windows
from tests.test_counter import CSRF_FIELD, second_hall, sign_in, user_id

# ---------------------------------------------------------------- helpers


@pytest.fixture
def manager(client, demo):
    """A client signed in as the demo hall's manager."""
    assert sign_in(client, "manager", demo["manager"]).status_code == 302
    return client


def token_of(client, url: str) -> str:
    """The CSRF token of the forms on a page."""
    page = client.get(url)
    assert page.status_code == 200, url
    return CSRF_FIELD.search(page.get_data(as_text=True)).group(1)


def post(client, url: str, data: dict | list, page: str | None = None):
    """Post a form as the browser would: with the CSRF token of the page it is on."""
    token = token_of(client, page or "/manage/demo/departments")
    if isinstance(data, dict):
        data = list(data.items())
    return client.post(url, data=MultiDict([("csrf_token", token), *data]))


def html(response) -> str:
    return response.get_data(as_text=True)


def audits(app, action: str) -> list[AuditEvent]:
    with app.app_context():
        rows = db.session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        ).all()
        db.session.expunge_all()
        return rows


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def one(app, model, *where):
    """A row (detached, its columns loaded)."""
    with app.app_context():
        row = db.session.scalars(sa.select(model).where(*where)).one()
        db.session.expunge(row)
        return row


def first_department_id(app) -> int:
    with app.app_context():
        return db.session.scalar(sa.select(Department.id).order_by(Department.id))


def matter_form(department_id: int, **overrides) -> list[tuple[str, str]]:
    """A complete, valid matter form; overrides replace fields (None drops one)."""
    fields = {
        "code": "TEST-001",
        "name": "测试事项：临时身份证明开具",
        "department": str(department_id),
        "queue": "A",
        "kind": "promised",
        "promised_days": "5",
        "promised_unit": "working",
        "statutory_days": "20",
        "statutory_unit": "natural",
        "legal_basis": "《中华人民共和国居民身份证法》第十条",
        "conditions": "本区户籍居民",
        "process": "  受理\n\n审核  \n办结",
        "fee": "",
        "fee_basis": "",
        "place": "一楼 3 号窗口",
        "hours": "工作日 9:00–17:00",
        "phone": "0571-12345678",
        "complaint": "12345 政务服务便民热线",
        "result_document": "临时身份证明",
        "visits": "1",
        "online": "1",
        "sort_order": "3",
    }
    for key, value in overrides.items():
        if value is None:
            fields.pop(key, None)
        else:
            fields[key] = value
    data = list(fields.items())
    data += [
        ("faq_q", "需要本人到场吗？"),
        ("faq_a", "需要本人到场。"),
        ("faq_q", ""),
        ("faq_a", ""),
    ]
    return data


def create_matter(app, client, **overrides) -> int:
    response = post(
        client,
        "/manage/demo/matters/new",
        matter_form(first_department_id(app), **overrides),
        page="/manage/demo/matters/new",
    )
    assert response.status_code == 302, html(response)
    code = overrides.get("code", "TEST-001")
    return one(app, Matter, Matter.code == code).id


def add_material(client, matter_id: int, name: str, **fields):
    data = {"name": name, "required": "1", "form": "original", "copies": "1", **fields}
    url = f"/manage/demo/matters/{matter_id}/materials/new"
    return post(client, url, data, page=url)


def material_names(app, matter_id: int) -> list[tuple[int, str]]:
    with app.app_context():
        return db.session.execute(
            sa.select(Material.position, Material.name)
            .where(Material.matter_id == matter_id)
            .order_by(Material.position)
        ).all()


def hall_listener(app, client):
    """A Socket.IO client joined to the demo hall, its welcome board consumed."""
    sock = socketio.test_client(app, flask_test_client=client)
    sock.emit("join", {"hall": "demo"})
    sock.get_received()
    return sock


def boards(sock) -> list[dict]:
    return [e["args"][0] for e in sock.get_received() if e["name"] == "board"]


# ---------------------------------------------------------------- pages and roles


def test_the_manage_page_links_to_every_catalogue_page(app, manager):
    page = html(manager.get("/manage/"))
    for url in (
        "/manage/demo/departments",
        "/manage/demo/matters",
        "/manage/demo/queues",
        "/manage/demo/windows",
        "/manage/demo/windows/3",
    ):
        assert f'href="{url}"' in page
        assert manager.get(url).status_code == 200
    assert "部门与职能" in page and "事项与材料" in page and "<script>" not in page
    if "manage.spreadsheet" in app.view_functions:  # the matter list as a spreadsheet
        assert "导入导出事项清单" in page and "hall=demo" in page


def test_catalogue_pages_are_chinese_by_default_and_english_on_request(manager):
    assert "新增部门" in html(manager.get("/manage/demo/departments"))
    english = html(manager.get("/manage/demo/departments?lang=en"))
    assert "New department" in english and "Departments and functions" in english
    assert "Calling order" in html(manager.get("/manage/demo/windows/1"))  # cookie remembers
    assert "Save matter" in html(manager.get("/manage/demo/matters/new"))


PAGES = [
    "/manage/demo/departments",
    "/manage/demo/departments/new",
    "/manage/demo/matters",
    "/manage/demo/matters/new",
    "/manage/demo/queues",
    "/manage/demo/queues/new",
    "/manage/demo/windows",
    "/manage/demo/windows/1",
]


def test_staff_get_403_on_every_catalogue_page_and_change(app, client, demo):
    with app.app_context():
        matter_id = db.session.scalar(sa.select(sa.func.min(Matter.id))) or 1
    sign_in(client, "staff1", demo["staff1"])
    for url in PAGES + [f"/manage/demo/matters/{matter_id}"]:
        assert client.get(url).status_code == 403, url
    token = token_of(client, "/counter/")
    changes = {
        "/manage/demo/departments/new": {"code": "x", "name": "x"},
        "/manage/demo/queues/new": {"prefix": "X", "name": "x"},
        "/manage/demo/windows/1": {"name": "x", "queues": "A"},
        f"/manage/demo/matters/{matter_id}/active": {"active": "0"},
        f"/manage/demo/matters/{matter_id}/materials/new": {"name": "x", "form": "original"},
    }
    before = (count(app, Department), count(app, Queue), count(app, AuditEvent))
    for url, data in changes.items():
        assert client.post(url, data={"csrf_token": token, **data}).status_code == 403, url
    assert (count(app, Department), count(app, Queue), count(app, AuditEvent)) == before


def test_anonymous_visitors_are_sent_to_sign_in(client, demo):
    for url in PAGES:
        response = client.get(url)
        assert response.status_code == 302 and "/counter/login" in response.headers["Location"]
    response = client.post("/manage/demo/queues/new", data={"prefix": "X", "name": "x"})
    assert response.status_code in (302, 400)  # no session: sign in (or the CSRF refusal)


def test_a_manager_of_one_hall_cannot_edit_another_halls_queues_or_windows(app, manager):
    second_hall(app)
    assert manager.get("/manage/north/queues").status_code == 403
    assert manager.get("/manage/north/windows/1").status_code == 403
    north_queue = one(
        app,
        Queue,
        Queue.hall_id == sa.select(Hall.id).where(Hall.code == "north").scalar_subquery(),
    )
    # and a queue of another hall is not found through one's own hall
    assert manager.get(f"/manage/demo/queues/{north_queue.id}").status_code == 404
    response = post(
        manager, f"/manage/demo/queues/{north_queue.id}", {"prefix": "Z", "name": "越权"}
    )
    assert response.status_code == 404
    assert one(app, Queue, Queue.id == north_queue.id).prefix == "A"


def test_forms_without_a_csrf_token_change_nothing(app, manager):
    before = count(app, Department)
    response = manager.post("/manage/demo/departments/new", data={"code": "nocsrf", "name": "x"})
    assert response.status_code == 400 and "页面已过期" in html(response)
    assert count(app, Department) == before


def test_unknown_ids_are_404_never_500(manager):
    for url in (
        "/manage/demo/departments/999999",
        "/manage/demo/departments/99999999999999999999999",
        "/manage/demo/matters/99999999999999999999999",
        "/manage/demo/matters/1/materials/99999999999",
        "/manage/demo/queues/4294967296",
        "/manage/demo/windows/99999999999999999999",
        "/manage/nowhere/matters",
        "/manage/%00/matters",
    ):
        assert manager.get(url).status_code == 404, url


# ---------------------------------------------------------------- departments


def test_create_edit_and_delete_a_department_with_audit(app, manager):
    functions = "负责全区退役军人服务保障工作\n承办优抚对象抚恤补助"
    response = post(
        manager,
        "/manage/demo/departments/new",
        {"code": "tyjr", "name": "区退役军人事务局", "functions": functions, "sort_order": "9"},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == "/manage/demo/departments"
    department = one(app, Department, Department.code == "tyjr")
    assert (department.name, department.functions, department.sort_order) == (
        "区退役军人事务局",
        functions,
        9,
    )
    assert "区退役军人事务局" in html(manager.get("/manage/demo/departments"))

    url = f"/manage/demo/departments/{department.id}"
    response = post(
        manager, url, {"code": "tyjr2", "name": "区退役军人事务局（服务站）", "sort_order": "２"}
    )
    assert response.status_code == 302
    department = one(app, Department, Department.id == department.id)
    assert (department.code, department.functions, department.sort_order) == ("tyjr2", "", 2)

    response = post(manager, f"{url}/delete", {})
    assert response.status_code == 302
    assert count(app, Department, Department.id == department.id) == 0
    manager_id = user_id(app, "manager")
    created, updated, deleted = (
        audits(app, f"catalog.department.{verb}") for verb in ("create", "update", "delete")
    )
    assert [a.detail for a in created] == ["code=tyjr"]
    assert [a.detail for a in updated] == ["code=tyjr2"]
    assert [a.detail for a in deleted] == ["code=tyjr2"]
    assert {a.user_id for a in created + updated + deleted} == {manager_id}


def test_a_department_with_matters_cannot_be_deleted(app, manager):
    matter_id = create_matter(app, manager)
    department_id = one(app, Matter, Matter.id == matter_id).department_id
    response = post(manager, f"/manage/demo/departments/{department_id}/delete", {})
    page = html(response)
    assert response.status_code == 409
    assert "不能删除" in page and "move them to another department" in page
    assert count(app, Department, Department.id == department_id) == 1
    assert audits(app, "catalog.department.delete") == []


def test_a_department_that_is_a_queues_department_cannot_be_deleted(app, manager):
    post(manager, "/manage/demo/departments/new", {"code": "empty", "name": "空部门"})
    department = one(app, Department, Department.code == "empty")
    post(
        manager,
        "/manage/demo/queues/new",
        {"prefix": "Q", "name": "队列", "department": str(department.id)},
    )
    response = post(manager, f"/manage/demo/departments/{department.id}/delete", {})
    assert response.status_code == 409 and "业务队列" in html(response)
    assert count(app, Department, Department.id == department.id) == 1


@pytest.mark.parametrize(
    ("fields", "field", "zh", "en"),
    [
        ({"code": "", "name": "x"}, "code", "请填写编码", "Code is required"),
        ({"code": "gaj", "name": "重复"}, "code", "已被其他部门使用", "already used"),
        ({"code": "有 空格", "name": "x"}, "code", "只能由英文字母", "only contain"),
        ({"code": "c" * 33, "name": "x"}, "code", "最多 32 个字", "limited to 32"),
        ({"code": "ok", "name": ""}, "name", "请填写名称", "Name is required"),
        ({"code": "ok", "name": "名" * 101}, "name", "最多 100 个字", "limited to 100"),
        ({"code": "ok", "name": "x", "sort_order": "9" * 40}, "sort_order", "0 到 99999", "from 0"),
        ({"code": "ok", "name": "x", "sort_order": "1.5"}, "sort_order", "整数", "whole number"),
        ({"code": "ok", "name": "x", "sort_order": "-1"}, "sort_order", "整数", "whole number"),
        ({"code": "ok", "name": "x", "functions": "职" * 10001}, "functions", "10000", "10000"),
    ],
)
def test_department_form_errors_are_shown_with_the_input_kept(app, manager, fields, field, zh, en):
    if fields["code"] == "gaj" and count(app, Department, Department.code == "gaj") == 0:
        post(manager, "/manage/demo/departments/new", {"code": "gaj", "name": "已有"})
    before = (count(app, Department), count(app, AuditEvent))
    response = post(manager, "/manage/demo/departments/new", fields)
    page = html(response)
    assert response.status_code == 400
    assert zh in page and en in page
    assert f'id="f-{field}-error"' in page and 'aria-invalid="true"' in page
    shown = fields[field] if field != "functions" else "职" * 100
    assert shown in page
    assert (count(app, Department), count(app, AuditEvent)) == before


# ---------------------------------------------------------------- matters


def test_create_a_matter_with_its_whole_guide(app, manager):
    before = datetime.now(UTC) - timedelta(seconds=1)
    matter_id = create_matter(app, manager)
    m = one(app, Matter, Matter.id == matter_id)
    assert (m.code, m.name, m.department_id, m.kind) == (
        "TEST-001",
        "测试事项：临时身份证明开具",
        first_department_id(app),
        "promised",
    )
    assert (m.promised_days, m.promised_unit, m.statutory_days, m.statutory_unit) == (
        5,
        "working",
        20,
        "natural",
    )
    assert m.process == "受理\n审核\n办结"  # one step a line, blank lines dropped
    assert (m.place, m.hours, m.phone, m.complaint, m.result_document) == (
        "一楼 3 号窗口",
        "工作日 9:00–17:00",
        "0571-12345678",
        "12345 政务服务便民热线",
        "临时身份证明",
    )
    assert (m.visits, m.online, m.appointment, m.sort_order, m.active) == (1, True, False, 3, True)
    assert m.faq == [{"q": "需要本人到场吗？", "a": "需要本人到场。"}]
    with app.app_context():
        queue = db.session.get(Queue, m.queue_id)
        assert (queue.prefix, queue.hall.code) == ("A", "demo")
    assert m.updated_at >= before
    [audit] = audits(app, "catalog.matter.create")
    assert audit.detail == "code=TEST-001" and audit.user_id == user_id(app, "manager")
    assert audit.hall_id == one(app, Hall, Hall.code == "demo").id


def test_edit_every_field_of_a_matter_sets_updated_at(app, manager):
    matter_id = create_matter(app, manager)
    with app.app_context():
        departments = db.session.scalars(sa.select(Department.id).order_by(Department.id)).all()
        db.session.execute(
            sa.update(Matter)
            .where(Matter.id == matter_id)
            .values(updated_at=datetime(2020, 1, 1, tzinfo=UTC))
        )
        db.session.commit()
    data = matter_form(
        departments[-1],
        code="TEST-001B",
        name="临时身份证明开具（修改）",
        queue="B",
        kind="immediate",
        promised_days="0",
        promised_unit="natural",
        statutory_days="0",
        legal_basis="新依据",
        conditions="新条件",
        process="一步办结",
        fee="每份 10 元",
        fee_basis="某收费文件",
        place="二楼",
        hours="周一至周五",
        phone="12345",
        complaint="投诉箱",
        result_document="证明",
        visits="0",
        online=None,
        appointment="1",
        sort_order="0",
    )
    data = [(k, v) for k, v in data if not k.startswith("faq_")]
    data += [("faq_q", "问一"), ("faq_a", "答一"), ("faq_q", "问二"), ("faq_a", "答二\n第二行")]
    url = f"/manage/demo/matters/{matter_id}"
    response = post(manager, url, data, page=url)
    assert response.status_code == 302 and response.headers["Location"] == url
    m = one(app, Matter, Matter.id == matter_id)
    assert (m.code, m.name, m.department_id, m.kind, m.promised_days, m.promised_unit) == (
        "TEST-001B",
        "临时身份证明开具（修改）",
        departments[-1],
        "immediate",
        0,
        "natural",
    )
    assert (m.legal_basis, m.conditions, m.process, m.fee, m.fee_basis) == (
        "新依据",
        "新条件",
        "一步办结",
        "每份 10 元",
        "某收费文件",
    )
    assert (m.place, m.hours, m.phone, m.complaint, m.result_document, m.visits) == (
        "二楼",
        "周一至周五",
        "12345",
        "投诉箱",
        "证明",
        0,
    )
    assert (m.online, m.appointment, m.sort_order) == (False, True, 0)
    assert m.faq == [{"q": "问一", "a": "答一"}, {"q": "问二", "a": "答二\n第二行"}]
    with app.app_context():
        assert db.session.get(Queue, m.queue_id).prefix == "B"
    assert m.updated_at > datetime(2020, 1, 2, tzinfo=UTC)
    assert [a.detail for a in audits(app, "catalog.matter.update")] == ["code=TEST-001B"]
    page = html(manager.get(url))
    assert "临时身份证明开具（修改）" in page and "答二\n第二行</textarea>" in page


def test_matter_list_filters_by_department_and_searches_with_the_guide_search(
    app, manager, monkeypatch
):
    departments = []
    for code in ("alpha", "beta"):
        post(manager, "/manage/demo/departments/new", {"code": code, "name": f"部门{code}"})
        departments.append(one(app, Department, Department.code == code).id)
    for code, name, department in (
        ("ZZ-1", "婚姻登记证明", departments[0]),
        ("ZZ-2", "婚姻状况查询", departments[1]),
        ("ZZ-3", "独生子女证明", departments[1]),
    ):
        data = matter_form(department, code=code, name=name, kind="immediate", promised_days="0")
        response = post(manager, "/manage/demo/matters/new", data, page="/manage/demo/matters/new")
        assert response.status_code == 302
    listing = html(manager.get(f"/manage/demo/matters?department={departments[1]}"))
    assert "婚姻状况查询" in listing and "独生子女证明" in listing and "婚姻登记证明" not in listing

    calls = []
    real_search = guide.search

    def spy(session, query, **kw):
        calls.append(query)
        return real_search(session, query, **kw)

    monkeypatch.setattr(guide, "search", spy)
    found = html(manager.get("/manage/demo/matters?q=婚姻"))
    assert calls == ["婚姻"]
    assert "婚姻登记证明" in found and "婚姻状况查询" in found and "独生子女证明" not in found
    found = html(manager.get(f"/manage/demo/matters?q=婚姻&department={departments[0]}"))
    assert "婚姻登记证明" in found and "婚姻状况查询" not in found
    assert "独生子女证明" in html(manager.get("/manage/demo/matters?q=ZZ-3"))  # by code
    # odd filter values are ignored, never an error
    for query in ("department=abc", "department=99999999999999", "status=<b>", "page=-1", "q=%00"):
        assert manager.get(f"/manage/demo/matters?{query}").status_code == 200, query


def test_retire_and_reactivate_a_matter(app, manager):
    matter_id = create_matter(app, manager, code="RET-1", name="待停用事项")
    url = f"/manage/demo/matters/{matter_id}"
    response = post(manager, f"{url}/active", {"active": "0"}, page=url)
    assert response.status_code == 302
    assert one(app, Matter, Matter.id == matter_id).active is False
    with app.app_context():
        assert matter_id not in [m.id for m in guide.search(db.session, "待停用")]
    retired = html(manager.get("/manage/demo/matters?status=retired"))
    assert "待停用事项" in retired
    assert "待停用事项" in html(manager.get("/manage/demo/matters?q=待停用&status=retired"))
    assert "待停用事项" not in html(manager.get("/manage/demo/matters?status=active"))
    assert 'id="reactivate"' in html(manager.get(url))

    assert post(manager, f"{url}/active", {"active": "1"}, page=url).status_code == 302
    assert one(app, Matter, Matter.id == matter_id).active is True
    assert [a.detail for a in audits(app, "catalog.matter.retire")] == ["code=RET-1"]
    assert [a.detail for a in audits(app, "catalog.matter.reactivate")] == ["code=RET-1"]


def test_a_retired_matter_with_tickets_keeps_them(app, manager):
    matter_id = create_matter(app, manager, code="TIX-1")
    with app.app_context():
        ticket = tickets.issue(db.session, "demo", matter_code="TIX-1")
        realtime.commit_and_publish(db.session)
        ticket_id = ticket.id
    url = f"/manage/demo/matters/{matter_id}"
    assert post(manager, f"{url}/active", {"active": "0"}, page=url).status_code == 302
    assert one(app, Ticket, Ticket.id == ticket_id).matter_id == matter_id
    assert count(app, Matter, Matter.id == matter_id) == 1


@pytest.mark.parametrize(
    ("overrides", "field", "zh", "en"),
    [
        ({"kind": "immediate", "promised_days": "3"}, "promised_days", "应为 0", "must be 0"),
        ({"kind": "promised", "promised_days": "0"}, "promised_days", "至少为 1 天", "at least 1"),
        ({"kind": "joint", "promised_days": ""}, "promised_days", "至少为 1 天", "at least 1"),
        ({"promised_days": "3651"}, "promised_days", "0 到 3650", "from 0 to 3650"),
        ({"statutory_days": "-5"}, "statutory_days", "0 到 3650", "from 0 to 3650"),
        ({"statutory_days": "1e3"}, "statutory_days", "整数", "whole number"),
        ({"visits": "10"}, "visits", "0 到 9", "from 0 to 9"),
        ({"visits": "٣"}, "visits", "0 到 9", "from 0 to 9"),
        ({"kind": "urgent"}, "kind", "请从列表中选择办件类型", "Choose the kind"),
        ({"promised_unit": "hours"}, "promised_unit", "请从列表中选择", "from the list"),
        ({"department": "abc"}, "department", "请从列表中选择所属部门", "Choose the department"),
        ({"department": "999999"}, "department", "没有这个部门", "No such department"),
        ({"department": None}, "department", "请选择所属部门", "Choose the department"),
        ({"queue": "ZZ"}, "queue", "本大厅的业务队列", "Choose one of this hall"),
        ({"code": "a/b"}, "code", "只能由英文字母", "only contain"),
        ({"code": "x" * 65}, "code", "最多 64 个字", "limited to 64"),
        ({"name": "  "}, "name", "请填写名称", "Name is required"),
        ({"name": "事" * 201}, "name", "最多 200 个字", "limited to 200"),
        ({"phone": "1" * 101}, "phone", "最多 100 个字", "limited to 100"),
        ({"legal_basis": "法" * 10001}, "legal_basis", "最多 10000 个字", "limited to 10000"),
        ({"place": "地" * 2001}, "place", "最多 2000 个字", "limited to 2000"),
        ({"sort_order": "99999999999999999999999999"}, "sort_order", "0 到 99999", "from 0"),
    ],
)
def test_matter_form_errors_change_nothing(app, manager, overrides, field, zh, en):
    matter_id = create_matter(app, manager, code="KEEP-1", name="原来的事项")
    before = one(app, Matter, Matter.id == matter_id)
    audit_count = count(app, AuditEvent)
    data = matter_form(first_department_id(app), code="KEEP-1", name="改过的名字")
    data = [(k, v) for k, v in data if k not in overrides]
    data += [(k, v) for k, v in overrides.items() if v is not None]
    url = f"/manage/demo/matters/{matter_id}"
    response = post(manager, url, data, page=url)
    page = html(response)
    assert response.status_code == 400
    assert zh in page and en in page and f'id="f-{field}-error"' in page
    if "name" not in overrides:
        assert 'value="改过的名字"' in page  # what was typed is kept
    after = one(app, Matter, Matter.id == matter_id)
    assert (after.name, after.updated_at, after.kind, after.promised_days) == (
        before.name,
        before.updated_at,
        before.kind,
        before.promised_days,
    )
    assert count(app, AuditEvent) == audit_count


def test_a_duplicate_matter_code_is_refused(app, manager):
    create_matter(app, manager, code="DUP-1")
    data = matter_form(first_department_id(app), code="DUP-1", name="另一个")
    response = post(manager, "/manage/demo/matters/new", data, page="/manage/demo/matters/new")
    assert response.status_code == 400 and "事项编码 DUP-1 已被其他事项使用" in html(response)
    assert count(app, Matter, Matter.code == "DUP-1") == 1


def test_half_faq_pairs_are_refused(app, manager):
    data = [(k, v) for k, v in matter_form(first_department_id(app)) if not k.startswith("faq")]
    data += [("faq_q", "只有问题"), ("faq_a", "")]
    response = post(manager, "/manage/demo/matters/new", data, page="/manage/demo/matters/new")
    page = html(response)
    assert response.status_code == 400 and "第 1 条常见问题缺少解答" in page
    assert 'value="只有问题"' in page
    assert count(app, Matter, Matter.code == "TEST-001") == 0


def test_script_tags_and_odd_unicode_are_stored_as_plain_text(app, manager):
    name = "<script>alert('x')</script> 𠀀办\u202e理\u200b 🙂"
    legal = "第一行\r\n<b>第二行</b>\x00\x07\ud800"
    data = matter_form(first_department_id(app), code="ODD-1", name=name, legal_basis=legal)
    data = [(k, v.encode("utf-8", "surrogatepass").decode("utf-8", "replace")) for k, v in data]
    response = post(manager, "/manage/demo/matters/new", data, page="/manage/demo/matters/new")
    assert response.status_code == 302
    m = one(app, Matter, Matter.code == "ODD-1")
    assert m.name == name
    assert m.legal_basis.startswith("第一行\n<b>第二行</b>") and "\x00" not in m.legal_basis
    page = html(manager.get(f"/manage/demo/matters/{m.id}"))
    assert "<script>alert" not in page and "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in page
    assert "&lt;b&gt;第二行&lt;/b&gt;" in page
    listing = html(manager.get("/manage/demo/matters?q=ODD-1"))
    assert "&lt;script&gt;" in listing and "<script>alert" not in listing


def test_wrong_types_and_raw_bytes_never_give_500(app, manager):
    url = "/manage/demo/matters/new"
    token = token_of(manager, url)
    bodies = [
        b"csrf_token=" + token.encode() + b"&code=%FF%FE&name=%ED%A0%80&visits[]=1&faq_q=1",
        b"csrf_token=" + token.encode() + b"&" + b"&".join(b"faq_q=q&faq_a=a" for _ in range(40)),
        b"csrf_token=" + token.encode() + b"&department=1&department=2&kind=&kind=promised",
    ]
    for body in bodies:
        response = manager.post(url, data=body, content_type="application/x-www-form-urlencoded")
        assert response.status_code == 400, html(response)[:500]
    assert count(app, Matter, Matter.code == "TEST-001") == 0


# ---------------------------------------------------------------- materials


def test_add_edit_reorder_and_delete_materials(app, manager):
    matter_id = create_matter(app, manager)
    url = f"/manage/demo/matters/{matter_id}"
    for name in ("居民户口簿", "居民身份证", "近期免冠照片"):
        assert add_material(manager, matter_id, name).status_code == 302
    assert material_names(app, matter_id) == [
        (0, "居民户口簿"),
        (1, "居民身份证"),
        (2, "近期免冠照片"),
    ]
    photo = one(app, Material, Material.matter_id == matter_id, Material.name == "近期免冠照片")
    edit = f"{url}/materials/{photo.id}"
    response = post(
        manager,
        edit,
        {
            "name": "近期二寸免冠照片",
            "form": "electronic",
            "copies": "２",
            "notes": "白底\n彩色",
            "blank_form": "无",
            "sample": "照片样例.jpg",
        },
        page=edit,
    )
    assert response.status_code == 302
    photo = one(app, Material, Material.id == photo.id)
    assert (photo.name, photo.required, photo.form, photo.copies, photo.notes) == (
        "近期二寸免冠照片",
        False,  # the box was not ticked: 非必要
        "electronic",
        2,
        "白底\n彩色",
    )
    assert (photo.blank_form, photo.sample) == ("无", "照片样例.jpg")

    move = f"{url}/materials/{photo.id}/move"
    assert post(manager, move, {"direction": "up"}, page=url).status_code == 302
    assert [n for _p, n in material_names(app, matter_id)] == [
        "居民户口簿",
        "近期二寸免冠照片",
        "居民身份证",
    ]
    assert post(manager, move, {"direction": "up"}, page=url).status_code == 302
    assert post(manager, move, {"direction": "up"}, page=url).status_code == 302  # already first
    assert [n for _p, n in material_names(app, matter_id)] == [
        "近期二寸免冠照片",
        "居民户口簿",
        "居民身份证",
    ]
    first = one(app, Material, Material.matter_id == matter_id, Material.name == "居民户口簿")
    down = f"{url}/materials/{first.id}/move"
    assert post(manager, down, {"direction": "down"}, page=url).status_code == 302
    assert post(manager, down, {"direction": "sideways"}, page=url).status_code == 302
    assert [n for _p, n in material_names(app, matter_id)] == [
        "近期二寸免冠照片",
        "居民身份证",
        "居民户口簿",
    ]
    page = html(manager.get(url))
    page = page[page.index('id="material-list"') :]
    assert page.index("近期二寸免冠照片") < page.index("居民身份证") < page.index("居民户口簿")

    with app.app_context():
        db.session.execute(
            sa.update(Matter)
            .where(Matter.id == matter_id)
            .values(updated_at=datetime(2020, 1, 1, tzinfo=UTC))
        )
        db.session.commit()
    card = one(app, Material, Material.matter_id == matter_id, Material.name == "居民身份证")
    response = post(manager, f"{url}/materials/{card.id}/delete", {}, page=url)
    assert response.status_code == 302
    assert material_names(app, matter_id) == [(0, "近期二寸免冠照片"), (1, "居民户口簿")]
    assert one(app, Matter, Matter.id == matter_id).updated_at > datetime(2020, 1, 2, tzinfo=UTC)

    assert len(audits(app, "catalog.material.create")) == 3
    assert len(audits(app, "catalog.material.update")) == 1
    assert len(audits(app, "catalog.material.move")) == 3  # the no-op moves are not recorded
    [deleted] = audits(app, "catalog.material.delete")
    assert deleted.detail == "code=TEST-001 material=居民身份证"


def test_every_material_change_sets_the_matters_updated_at(app, manager):
    matter_id = create_matter(app, manager)
    url = f"/manage/demo/matters/{matter_id}"

    def stale() -> None:
        with app.app_context():
            db.session.execute(
                sa.update(Matter)
                .where(Matter.id == matter_id)
                .values(updated_at=datetime(2020, 1, 1, tzinfo=UTC))
            )
            db.session.commit()

    def fresh() -> bool:
        return one(app, Matter, Matter.id == matter_id).updated_at > datetime(
            2020, 1, 2, tzinfo=UTC
        )

    stale()
    add_material(manager, matter_id, "甲")
    assert fresh()
    add_material(manager, matter_id, "乙")
    a = one(app, Material, Material.matter_id == matter_id, Material.name == "甲")
    stale()
    post(manager, f"{url}/materials/{a.id}", {"name": "甲2", "form": "copy"}, page=url)
    assert fresh()
    stale()
    post(manager, f"{url}/materials/{a.id}/move", {"direction": "down"}, page=url)
    assert fresh()
    stale()
    post(manager, f"{url}/active", {"active": "0"}, page=url)
    assert fresh()


@pytest.mark.parametrize(
    ("fields", "field", "zh"),
    [
        ({"name": ""}, "name", "请填写名称"),
        ({"name": "材" * 301}, "name", "最多 300 个字"),
        ({"copies": "0"}, "copies", "1 到 99"),
        ({"copies": "100"}, "copies", "1 到 99"),
        ({"copies": "many"}, "copies", "1 到 99"),
        ({"form": "scan"}, "form", "请从列表中选择材料形式"),
        ({"blank_form": "b" * 301}, "blank_form", "最多 300 个字"),
        ({"notes": "n" * 2001}, "notes", "最多 2000 个字"),
    ],
)
def test_material_form_errors_change_nothing(app, manager, fields, field, zh):
    matter_id = create_matter(app, manager)
    data = {"name": "户口簿", "form": "original", "copies": "1", **fields}
    url = f"/manage/demo/matters/{matter_id}/materials/new"
    before = one(app, Matter, Matter.id == matter_id).updated_at
    response = post(manager, url, data, page=url)
    assert response.status_code == 400 and zh in html(response)
    assert f'id="f-{field}-error"' in html(response)
    assert material_names(app, matter_id) == []
    assert one(app, Matter, Matter.id == matter_id).updated_at == before


def test_a_material_of_another_matter_is_404(app, manager):
    first = create_matter(app, manager, code="M-1")
    second = create_matter(app, manager, code="M-2")
    add_material(manager, first, "身份证")
    material = one(app, Material, Material.matter_id == first, Material.name == "身份证")
    url = f"/manage/demo/matters/{second}/materials/{material.id}"
    assert manager.get(url).status_code == 404
    assert post(manager, f"{url}/delete", {}).status_code == 404
    assert material_names(app, first) == [(0, "身份证")]


# ---------------------------------------------------------------- queues


def test_create_and_edit_a_queue_and_screens_get_the_new_board(app, client, manager):
    sock = hall_listener(app, client)
    seq = one(app, Hall, Hall.code == "demo").seq
    department_id = first_department_id(app)
    response = post(
        manager,
        "/manage/demo/queues/new",
        {"prefix": " h ", "name": "退役军人服务", "department": str(department_id)},
    )
    assert response.status_code == 302
    queue = one(app, Queue, Queue.prefix == "H")
    assert (queue.name, queue.department_id) == ("退役军人服务", department_id)
    [board] = boards(sock)
    assert board["seq"] == seq + 1 and board["hall"]["code"] == "demo"
    assert {"prefix": "H", "name": "退役军人服务", "waiting": 0} in board["queues"]

    response = post(
        manager, f"/manage/demo/queues/{queue.id}", {"prefix": "HJ", "name": "退役军人事务"}
    )
    assert response.status_code == 302
    queue = one(app, Queue, Queue.id == queue.id)
    assert (queue.prefix, queue.name, queue.department_id) == ("HJ", "退役军人事务", None)
    [board] = boards(sock)
    assert board["seq"] == seq + 2
    assert {"prefix": "HJ", "name": "退役军人事务", "waiting": 0} in board["queues"]
    assert [a.detail for a in audits(app, "catalog.queue.create")] == ["queue=H"]
    assert [a.detail for a in audits(app, "catalog.queue.update")] == ["queue=HJ was=H"]
    sock.disconnect()


@pytest.mark.parametrize(
    ("fields", "zh"),
    [
        ({"prefix": "A", "name": "重复"}, "本大厅已有 A 队列"),
        ({"prefix": "ABC", "name": "x"}, "一到两个英文大写字母"),
        ({"prefix": "1", "name": "x"}, "一到两个英文大写字母"),
        ({"prefix": "Я", "name": "x"}, "一到两个英文大写字母"),
        ({"prefix": "Ｂ", "name": "重复"}, "本大厅已有 B 队列"),  # full width: the same B
        ({"prefix": "", "name": "x"}, "一到两个英文大写字母"),
        ({"prefix": "Y", "name": ""}, "请填写名称"),
        ({"prefix": "Y", "name": "n" * 101}, "最多 100 个字"),
        ({"prefix": "Y", "name": "x", "department": "-1"}, "请从列表中选择所属部门"),
    ],
)
def test_queue_form_errors_change_nothing(app, client, manager, fields, zh):
    sock = hall_listener(app, client)
    before = (count(app, Queue), one(app, Hall, Hall.code == "demo").seq)
    response = post(manager, "/manage/demo/queues/new", fields)
    assert response.status_code == 400 and zh in html(response)
    assert (count(app, Queue), one(app, Hall, Hall.code == "demo").seq) == before
    assert boards(sock) == []
    sock.disconnect()


# ---------------------------------------------------------------- windows


def window_queues(app, number: int) -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                sa.select(Queue.prefix)
                .join(WindowQueue, WindowQueue.queue_id == Queue.id)
                .join(Window, Window.id == WindowQueue.window_id)
                .join(Hall, Hall.id == Window.hall_id)
                .where(Hall.code == "demo", Window.number == number)
                .order_by(WindowQueue.position)
            )
        )


def test_edit_a_windows_name_and_queues_in_order(app, client, manager):
    sock = hall_listener(app, client)
    url = "/manage/demo/windows/3"
    data = [
        ("name", "户籍与综合"),
        ("queues", "A"),
        ("order_A", "1"),
        ("queues", "B"),
        ("order_B", "2"),
        ("queues", "C"),
        ("order_C", ""),
        ("order_D", "1"),  # not ticked: ignored
    ]
    response = post(manager, url, data, page=url)
    assert response.status_code == 302
    assert one(app, Window, Window.number == 3).name == "户籍与综合"
    assert window_queues(app, 3) == ["A", "B", "C"]
    [board] = boards(sock)
    [window] = [w for w in board["windows"] if w["number"] == 3]
    assert (window["name"], window["queues"]) == ("户籍与综合", ["A", "B", "C"])

    data = [("name", "户籍与综合"), ("queues", "C"), ("order_C", "1"), ("queues", "A")]
    assert post(manager, url, data, page=url).status_code == 302
    assert window_queues(app, 3) == ["C", "A"]
    assert len(boards(sock)) == 1
    [first, second] = audits(app, "catalog.window.update")
    assert (first.detail, second.detail) == ("window=3 queues=A,B,C", "window=3 queues=C,A")
    page = html(manager.get(url))
    assert page.index('value="C" id="serve-C" checked') < page.index('value="A" id="serve-A"')
    sock.disconnect()


def test_changing_a_windows_queues_does_not_break_the_ticket_served_there(app, manager):
    open_windows(app, 3)
    with app.app_context():
        issued = tickets.issue(db.session, "demo", queue_prefix="B")
        realtime.commit_and_publish(db.session)
        called = tickets.call_next(db.session, "demo", 3)
        realtime.commit_and_publish(db.session)
        assert called.id == issued.id
        ticket_id = called.id
    url = "/manage/demo/windows/3"
    page = html(manager.get(url))
    assert "正在办理 B001" in page
    response = post(manager, url, [("name", "只办综合"), ("queues", "A")], page=url)
    assert response.status_code == 302
    assert window_queues(app, 3) == ["A"]
    ticket = one(app, Ticket, Ticket.id == ticket_id)
    assert ticket.status == "called" and ticket.window_id == one(app, Window, Window.number == 3).id
    with app.app_context():
        tickets.start(db.session, ticket_id, window_number=3)
        tickets.finish(db.session, ticket_id, window_number=3)
        realtime.commit_and_publish(db.session)
    assert one(app, Ticket, Ticket.id == ticket_id).status == "finished"


def test_a_window_may_serve_no_queue_and_errors_change_nothing(app, manager):
    url = "/manage/demo/windows/5"
    before = window_queues(app, 5)
    for data, zh in (
        ([("name", ""), ("queues", "A")], "请填写名称"),
        ([("name", "x"), ("queues", "QQ")], "本大厅没有队列 QQ"),
        ([("name", "x"), ("queues", "A"), ("order_A", "0")], "A 队列的叫号顺序应为 1 到 99"),
        ([("name", "x"), ("queues", "A"), ("order_A", "x" * 5000)], "叫号顺序"),
    ):
        response = post(manager, url, data, page=url)
        assert response.status_code == 400 and zh in html(response)
        assert window_queues(app, 5) == before
    assert post(manager, url, [("name", "投诉窗口")], page=url).status_code == 302
    assert window_queues(app, 5) == []
    assert "只接收转来的号" in html(manager.get("/manage/demo/windows"))


# ---------------------------------------------------------------- the browser


@pytest.mark.browser
def test_browser_manager_edits_a_matter_and_adds_a_material(
    app, demo, live_server, browser_context
):
    page = browser_context.new_page()
    page.set_viewport_size({"width": 1366, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(f"{live_server.url}/manage/")
    page.fill("#username", "manager")
    page.fill("#password", demo["manager"])
    page.press("#password", "Enter")
    page.wait_for_url("**/manage/")
    page.click("text=事项与材料 >> nth=0")
    page.wait_for_url("**/manage/demo/matters")
    page.click("#matter-new")
    page.fill("#f-code", "WEB-001")
    page.fill("#f-name", "网页新建的事项")
    page.select_option("#f-department", index=1)
    page.select_option("#f-kind", "promised")
    page.fill("#f-promised_days", "0")  # wrong on purpose: a promised matter needs ≥ 1 day
    page.click("#save")
    page.wait_for_selector("#f-promised_days-error")
    assert "至少为 1 天" in page.inner_text("#form-errors")
    assert page.input_value("#f-name") == "网页新建的事项"  # what was typed is kept
    page.fill("#f-promised_days", "7")
    page.fill("#f-process", "受理\n审核\n发证")
    page.click("#faq-add")  # the script adds a third empty pair
    page.fill("#faq-q-2", "可以代办吗？")
    page.fill("#faq-a-2", "可以，需要委托书。")
    page.click("#save")
    page.wait_for_selector("text=已保存")
    page.click("#material-new")
    page.fill("#f-name", "申请表（原件）")
    page.select_option("#f-form", "both")
    page.fill("#f-copies", "2")
    page.click("#save")
    page.wait_for_selector("#material-list >> text=申请表（原件）")
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / "manage-matter-with-material.png"), full_page=True)

    with app.app_context():
        matter = db.session.scalar(sa.select(Matter).where(Matter.code == "WEB-001"))
        assert (matter.name, matter.kind, matter.promised_days) == ("网页新建的事项", "promised", 7)
        assert matter.process_steps == ["受理", "审核", "发证"]
        assert matter.faq == [{"q": "可以代办吗？", "a": "可以，需要委托书。"}]
        [material] = matter.materials
        assert (material.name, material.form, material.copies, material.required) == (
            "申请表（原件）",
            "both",
            2,
            True,
        )
    assert errors == []
