"""The service guide in the JSON API: GET /api/v1/matters?q=, GET /api/v1/matters/<code>.

Public like the hall board: residents' apps and other sites of the government read the guide
without a token.
"""

from __future__ import annotations

from flask import current_app, jsonify, request, url_for

from hall.api import blueprint
from hall.domain import guide
from hall.domain.errors import Invalid
from hall.extensions import db
from hall.urls import external, guide_url

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
MAX_QUERY = 200


def _bad(name: str, zh: str, en: str) -> Invalid:
    return Invalid("bad_parameter", zh, en, parameter=name)


def _text_arg(name: str, max_len: int) -> str | None:
    """A query-string parameter as text, stripped; None when absent or empty."""
    value = request.args.get(name)
    if value is None or not value.strip():
        return None
    if len(value) > max_len:
        raise _bad(
            name,
            f"参数 {name} 过长（最多 {max_len} 个字符）",
            f"Parameter {name} is too long (at most {max_len} characters)",
        )
    return value.strip()


def _limit_arg() -> int:
    raw = request.args.get("limit")
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isascii() or not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise _bad(
            "limit",
            f"参数 limit 应为 1 到 {MAX_LIMIT} 之间的整数",
            f"Parameter limit must be an integer from 1 to {MAX_LIMIT}",
        )
    return int(raw)


def _pdf_url(code: str) -> str | None:
    """The printable guide sheet, when this installation has it."""
    if "guide.matter_pdf" not in current_app.view_functions:
        return None
    return external("guide.matter_pdf", code=code)


@blueprint.get("/matters")
def list_matters():
    """Search the published matters (Chinese, full pinyin or initials), best first."""
    query = _text_arg("q", MAX_QUERY) or ""
    department = _text_arg("department", 32)
    limit = _limit_arg()
    if department is not None and guide.find_department(db.session, department) is None:
        raise _bad(
            "department",
            f"没有编码为 {department} 的部门",
            f"No department with code {department}",
        )
    matters = guide.search(db.session, query, limit=limit, department=department)
    counts = guide.material_counts(db.session, matters)
    items = []
    for matter in matters:
        item = guide.summary(matter, counts[matter.id])
        item["guide_url"] = guide_url(matter.code)
        item["api_url"] = url_for("api.show_matter", code=matter.code)
        items.append(item)
    return jsonify(
        {
            "query": query,
            "department": department,
            "limit": limit,
            "count": len(items),
            "matters": items,
        }
    )


@blueprint.get("/matters/<code>")
def show_matter(code: str):
    """The full service guide of one published matter (404 when unknown or retired)."""
    matter = guide.get_matter(db.session, code)
    body = guide.full_guide(matter)
    body["guide_url"] = guide_url(matter.code)
    body["pdf_url"] = _pdf_url(matter.code)
    return jsonify(body)
