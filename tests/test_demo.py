"""The demo hall and its catalogue (示范事项清单): complete guides, consistent limits, a queue and
a window for every matter, and a loader that is idempotent, fills old demo databases and stays
cheap (many tests load the demo)."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import selectinload

from hall import demo
from hall.demo_catalog import DEPARTMENTS, MATTERS, PLACES
from hall.models import (
    MATERIAL_FORMS,
    MATTER_KINDS,
    Department,
    Hall,
    Material,
    Matter,
    Queue,
    User,
    Window,
    WindowQueue,
)

# the matters of the first demo: other code and tests rely on these codes and names
FIRST_DEMO = {
    "GA-001": "居民身份证申领",
    "GA-002": "居民身份证换领、补领",
    "GA-003": "户口迁入（投靠、入学、就业）",
    "GA-004": "出生登记",
    "RS-001": "城乡居民基本养老保险参保登记",
    "RS-002": "社会保障卡申领",
    "RS-003": "失业保险金申领",
    "YB-001": "异地就医备案",
    "YB-002": "医疗费用手工报销",
    "BD-001": "不动产转移登记（二手房过户）",
    "BD-002": "不动产抵押登记",
    "BD-003": "不动产登记资料查询",
    "SC-001": "个体工商户设立登记",
    "SC-002": "有限责任公司设立登记",
    "SC-003": "食品经营许可",
    "SW-001": "代开增值税发票",
    "SW-002": "个人所得税综合所得汇算",
    "GJ-001": "住房公积金提取（租房）",
    "GJ-002": "住房公积金个人贷款",
    "MZ-001": "结婚登记",
    "MZ-002": "最低生活保障申请",
}
FIRST_DEPARTMENTS = ("gaj", "rsj", "ybj", "bdc", "scj", "swj", "gjj", "mzj")
GUIDE_TEXT = ("legal_basis", "conditions", "process", "place", "hours", "phone", "complaint")
TABLES = (Hall, Department, Queue, Matter, Material, Window, WindowQueue, User)


def _load(session) -> demo.DemoResult:
    result = demo.load(session)
    session.commit()
    return result


def _matters(session) -> list[Matter]:
    return list(
        session.scalars(
            sa.select(Matter)
            .options(selectinload(Matter.materials), selectinload(Matter.department))
            .order_by(Matter.sort_order)
        )
    )


def _strings(value):
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _strings(item)


# ---------------------------------------------------------------- the catalogue


def test_the_demo_has_a_large_catalogue_across_the_departments_of_a_district_hall(session):
    _load(session)
    matters = [m for m in _matters(session) if m.active]
    assert len(matters) >= 40
    departments = {m.department.code for m in matters}
    assert len(departments) >= 10
    names = {m.department.name for m in matters}
    for word in ("公安", "人力资源", "医疗保障", "不动产", "市场监督", "民政", "公积金", "税务"):
        assert any(word in name for name in names), word
    for word in ("残疾人", "政务公开", "政务服务管理"):
        assert any(word in name for name in names), word
    codes = [m.code for m in matters]
    assert len(codes) == len(set(codes))
    assert len({entry["code"] for entry in MATTERS}) == len(MATTERS)


def test_the_first_demo_matters_keep_their_codes_and_names(session):
    _load(session)
    names = {m.code: m.name for m in _matters(session)}
    for code, name in FIRST_DEMO.items():
        assert names[code] == name


def test_every_matter_has_a_full_guide(session):
    _load(session)
    for matter in _matters(session):
        where = matter.code
        for key in GUIDE_TEXT:
            assert getattr(matter, key).strip(), (where, key)
        assert matter.result_document, where
        assert "《" in matter.legal_basis and "》" in matter.legal_basis, where
        assert len(matter.process_steps) >= 2, where
        assert 3 <= len(matter.materials) <= 8, where
        assert any(material.required for material in matter.materials), where
        for position, material in enumerate(matter.materials):
            assert material.position == position, where
            assert material.name and material.form in MATERIAL_FORMS, where
            assert 1 <= material.copies <= 9, where
            assert "｜" not in material.name + material.notes, where  # the spreadsheet separator
        assert 1 <= len(matter.faq) <= 3, where
        for item in matter.faq:
            assert set(item) == {"q", "a"} and item["q"] and item["a"], where
        if matter.fee:
            assert matter.fee_basis and "元" in matter.fee, where
        assert matter.visits in (0, 1, 2), where
        if matter.visits == 0:
            assert matter.online, where


def test_limits_are_consistent_with_the_kind_of_each_matter(session):
    _load(session)
    for matter in _matters(session):
        assert matter.kind in MATTER_KINDS
        if matter.kind == "immediate":
            assert matter.promised_days == 0, matter.code
        else:
            assert matter.promised_days > 0 and matter.statutory_days > 0, matter.code
        if matter.promised_unit == matter.statutory_unit and matter.statutory_days:
            assert matter.statutory_days >= matter.promised_days, matter.code
    kinds = {m.kind for m in _matters(session)}
    assert kinds == set(MATTER_KINDS)


def test_every_matter_is_served_by_a_queue_and_a_window_of_the_demo_hall(session):
    hall = _load(session).hall
    served = {
        prefix
        for prefix in session.scalars(
            sa.select(Queue.prefix)
            .join(WindowQueue, WindowQueue.queue_id == Queue.id)
            .join(Window, Window.id == WindowQueue.window_id)
            .where(Window.hall_id == hall.id)
        )
    }
    for matter in _matters(session):
        assert matter.queue is not None and matter.queue.hall_id == hall.id, matter.code
        assert matter.queue.prefix in served, matter.code


def test_the_demo_hall_keeps_its_queues_and_windows(session):
    hall = _load(session).hall
    prefixes = session.scalars(
        sa.select(Queue.prefix).where(Queue.hall_id == hall.id).order_by(Queue.prefix)
    )
    assert "".join(prefixes) == "ABCDEFG"
    windows = session.scalars(
        sa.select(Window).where(Window.hall_id == hall.id).order_by(Window.number)
    ).all()
    assert [(w.number, [q.prefix for q in w.queues]) for w in windows] == [
        (number, prefixes) for number, _name, prefixes in demo.WINDOWS
    ]


def test_each_place_names_the_windows_that_serve_its_queue():
    for number, _name, prefixes in demo.WINDOWS:
        for prefix in prefixes:
            place = PLACES[prefix]
            mentioned = {
                int(n) for group in re.findall(r"([\d、]+) 号", place) for n in group.split("、")
            }
            assert mentioned, prefix
            # a window named in the place of a queue serves that queue
            for other in mentioned:
                assert prefix in dict((n, p) for n, _w, p in demo.WINDOWS)[other], (prefix, other)
        # a window's own queue (its first) names it
        assert str(number) in PLACES[prefixes[0]]


def test_the_catalogue_text_is_published_chinese_without_placeholders():
    for entry in MATTERS:
        for text in _strings(entry):
            assert text == text.strip(), (entry["code"], text)
            assert not re.search(r"TODO|FIXME|XXX|示例|lorem|\?\?", text, re.I), entry["code"]
            # Chinese text uses full-width punctuation
            assert not re.search(r"[\u4e00-\u9fff][,;:()!?]|[,;:()!?][\u4e00-\u9fff]", text), (
                entry["code"],
                text,
            )
    for code, name, functions in DEPARTMENTS:
        assert re.fullmatch(r"[a-z]{3}", code) and name and functions


# ---------------------------------------------------------------- the loader


def _snapshot(session) -> dict:
    counts = {
        model.__tablename__: session.scalar(sa.select(sa.func.count()).select_from(model))
        for model in TABLES
    }
    matters = session.execute(sa.select(Matter.code, Matter.updated_at).order_by(Matter.code))
    materials = session.scalars(sa.select(Material.id).order_by(Material.id))
    return {"counts": counts, "matters": matters.all(), "materials": materials.all()}


def test_loading_twice_changes_nothing(session):
    first = _load(session)
    assert first.created and set(first.passwords) == {s[0] for s in demo.STAFF}
    before = _snapshot(session)
    assert before["counts"]["matters"] == len(MATTERS)
    assert before["counts"]["departments"] == len(DEPARTMENTS)
    second = _load(session)
    assert not second.created and second.passwords == {}
    assert _snapshot(session) == before


def test_an_old_demo_database_gets_the_new_matters_and_the_missing_guides(session):
    _load(session)
    # make it look like a database loaded by the first demo: 21 matters, 8 departments, no guide
    for matter in _matters(session):
        if matter.code not in FIRST_DEMO:
            session.delete(matter)
            continue
        matter.materials.clear()
        for key in (*GUIDE_TEXT, "fee", "fee_basis", "result_document"):
            setattr(matter, key, "")
        matter.statutory_days, matter.statutory_unit = 0, "working"
        matter.visits, matter.online, matter.appointment, matter.faq = 1, False, False, []
    session.flush()
    session.execute(sa.delete(Department).where(Department.code.not_in(FIRST_DEPARTMENTS)))
    session.commit()
    # a manager's edits are kept: GA-001 has its own place and a legal basis, but no materials
    edited = session.scalar(sa.select(Matter).where(Matter.code == "GA-001"))
    edited.place = "区政务服务中心二楼临时窗口"
    edited.legal_basis = "《中华人民共和国居民身份证法》"
    session.commit()

    result = _load(session)
    assert not result.created and result.passwords == {}
    matters = {m.code: m for m in _matters(session)}
    assert set(matters) == {entry["code"] for entry in MATTERS}
    for entry in MATTERS:
        matter, values = matters[entry["code"]], demo.guide_values(entry)
        assert matter.department.code == entry["department"], entry["code"]
        assert [m.name for m in matter.materials] == [m["name"] for m in entry["materials"]]
        if entry["code"] == "GA-001":
            continue
        for key, value in values.items():
            if key not in ("kind", "promised_days", "promised_unit"):  # kept from the old demo
                assert getattr(matter, key) == value, (entry["code"], key)
    assert matters["GA-001"].place == "区政务服务中心二楼临时窗口"
    assert matters["GA-001"].legal_basis == "《中华人民共和国居民身份证法》"
    assert matters["GA-001"].process == demo.guide_values(MATTERS[0])["process"]
    assert _snapshot(session)["counts"]["departments"] == len(DEPARTMENTS)


@pytest.mark.parametrize("again", [False, True], ids=["fresh", "again"])
def test_loading_runs_a_few_statements_whatever_the_catalogue_size(app, again):
    from hall.extensions import db

    with app.app_context():
        if again:
            _load(db.session)
        statements = []

        def count(conn, cursor, statement, *args):
            statements.append(statement)

        sa.event.listen(db.engine, "before_cursor_execute", count)
        try:
            _load(db.session)
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count)
    # fresh: about 20 statements (bulk inserts); again: only the look-ups
    assert len(statements) <= (12 if again else 30), statements
