"""Phone-friendly guide pages: departments and search (/guide), one matter (/guide/<code>),
one department (/guide/departments/<code>). Public, Chinese by default, ?lang=en for English;
they work without JavaScript (guide.js only makes the search live)."""

from __future__ import annotations

import re
from zoneinfo import ZoneInfo

from flask import current_app, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _

from hall.domain import guide
from hall.domain.errors import NotFound
from hall.extensions import db
from hall.guide import blueprint
from hall.models import Matter

RESULTS_LIMIT = 100
MAX_QUERY = 200
# a telephone number inside free text: 0571-12345678, 12345, +86 571 1234 5678
PHONE = re.compile(r"\+?\d[\d\- ]{3,}\d")
LINK = re.compile(r"^(https?://|/)\S+$")


# ---------------------------------------------------------------- labels (translated here)


def kind_label(kind: str) -> str:
    """即办件 / 承诺件 / 联办件 / 上报件 in the page's language."""
    return {
        "immediate": _("即办件"),
        "promised": _("承诺件"),
        "joint": _("联办件"),
        "referred": _("上报件"),
    }.get(kind, kind)


def limit_label(days: int, unit: str) -> str:
    """A time limit (办结时限) with its unit, or 即办 for none."""
    if not days:
        return _("即办")
    if unit == "natural":
        return _("%(n)s 个自然日", n=days)
    return _("%(n)s 个工作日", n=days)


def form_label(form: str) -> str:
    """How a material is handed in (原件 / 复印件 …)."""
    return {
        "original": _("原件"),
        "copy": _("复印件"),
        "both": _("原件及复印件"),
        "electronic": _("电子材料"),
    }.get(form, form)


def yes_no(value: bool) -> str:
    return _("是") if value else _("否")


def phone_parts(text: str) -> list[dict]:
    """Free text split into plain parts and telephone numbers (for tel: links)."""
    parts: list[dict] = []
    last = 0
    for match in PHONE.finditer(text or ""):
        if match.start() > last:
            parts.append({"text": text[last : match.start()]})
        number = match.group()
        parts.append({"text": number, "tel": re.sub(r"[^\d+]", "", number)})
        last = match.end()
    if last < len(text or ""):
        parts.append({"text": text[last:]})
    return parts


def attachment(value: str) -> dict | None:
    """A blank form or sample (名称或链接): a link when it is one, else its name."""
    value = (value or "").strip()
    if not value:
        return None
    if LINK.match(value):
        return {"text": value.rsplit("/", 1)[-1] or value, "href": value}
    return {"text": value}


# ---------------------------------------------------------------- prepared values


def _pdf(endpoint: str, code: str) -> str | None:
    """The link to a printable PDF when this installation serves it."""
    if endpoint not in current_app.view_functions:
        return None
    return url_for(endpoint, code=code)


def _switch_language() -> dict:
    """The link to this page in the other language."""
    english = str(get_locale()) == "en"
    values = {k: v for k, v in request.args.items() if k in ("q", "department") and v}
    values.update(request.view_args or {})
    values["lang"] = "zh_CN" if english else "en"
    return {
        "href": url_for(request.endpoint, **values),
        "label": "中文" if english else "English",
        "lang": "zh-CN" if english else "en",
    }


def _items(matters: list[Matter]) -> list[dict]:
    """Matters in a list, with their material counts (one query)."""
    counts = guide.material_counts(db.session, matters)
    return [_item(m, counts[m.id][0]) for m in matters]


def _item(matter: Matter, materials: int) -> dict:
    """A matter in a list."""
    return {
        "code": matter.code,
        "name": matter.name,
        "url": url_for("guide.matter", code=matter.code),
        "department": matter.department.name if matter.department else "",
        "kind": kind_label(matter.kind),
        "promised": limit_label(matter.promised_days, matter.promised_unit),
        "materials": materials,
        "online": matter.online,
        "appointment": matter.appointment,
    }


def _local_date(value) -> str:
    if value is None:
        return ""
    zone = ZoneInfo(current_app.config.get("HALL_TIMEZONE") or "Asia/Shanghai")
    return value.astimezone(zone).strftime("%Y-%m-%d")


def _guide_view(matter: Matter) -> dict:
    """Everything the matter page shows, prepared."""
    data = guide.full_guide(matter)
    materials = []
    for number, m in enumerate(data["materials"], 1):
        materials.append(
            {
                **m,
                "number": number,
                "required_label": _("必要") if m["required"] else _("非必要（容缺）"),
                "form_label": form_label(m["form"]),
                "blank_form": attachment(m["blank_form"]),
                "sample": attachment(m["sample"]),
            }
        )
    return {
        **data,
        "department_url": url_for("guide.department", code=matter.department.code),
        "kind_label": kind_label(matter.kind),
        "statutory_label": limit_label(matter.statutory_days, matter.statutory_unit),
        "promised_label": limit_label(matter.promised_days, matter.promised_unit),
        "fee_label": data["fee"].strip() or _("不收费"),
        "materials": materials,
        "required_count": sum(1 for m in materials if m["required"]),
        "phone_parts": phone_parts(data["phone"]),
        "complaint_parts": phone_parts(data["complaint"]),
        "visits_label": (
            _("%(n)s 次", n=matter.visits) if matter.visits else _("0 次（全程网上办理）")
        ),
        "online_label": yes_no(matter.online),
        "appointment_label": yes_no(matter.appointment),
        "updated": _local_date(matter.updated_at),
        "pdf_url": _pdf("guide.matter_pdf", matter.code),
    }


def _page(template: str, **values):
    """Render a guide page with what every guide page shows (language switch, colon)."""
    english = str(get_locale()) == "en"
    values.setdefault("language", _switch_language())
    return render_template(template, colon=": " if english else "：", **values)


def _not_found(*, code: str = "", retired_name: str = "", department: bool = False):
    """The guide's own 404 page: what happened, and a search box to go on."""
    return (
        _page(
            "guide/not_found.html",
            code=code,
            retired_name=retired_name,
            department=department,
            index_url=url_for("guide.index"),
        ),
        404,
    )


# ---------------------------------------------------------------- pages


@blueprint.get("", strict_slashes=False)
def index():
    """Departments with their functions (职能) and matters, and the search (?q=)."""
    query = request.args.get("q", "").strip()[:MAX_QUERY]
    department_code = request.args.get("department", "").strip()[:32] or None
    departments = guide.departments_with_matters(db.session)
    results = None
    if query or department_code:
        found = guide.search(db.session, query, limit=RESULTS_LIMIT, department=department_code)
        results = _items(found)
    listed = _items([m for _, matters in departments for m in matters])
    by_code = {item["code"]: item for item in listed}
    browse = [
        {
            "code": d.code,
            "name": d.name,
            "functions": d.functions,
            "url": url_for("guide.department", code=d.code),
            "matters": [by_code[m.code] for m in matters],
        }
        for d, matters in departments
    ]
    return _page(
        "guide/index.html",
        query=query,
        department=department_code,
        departments=browse,
        results=results,
        results_limit=RESULTS_LIMIT,
        search_url=url_for("guide.index"),
    )


@blueprint.get("/departments/<code>")
def department(code: str):
    """One department: its functions (职能), its matters and its guide booklet."""
    found = guide.find_department(db.session, code)
    if found is None:
        return _not_found(code=code, department=True)
    matters = guide.search(db.session, "", limit=None, department=found.code)
    return _page(
        "guide/department.html",
        department={"code": found.code, "name": found.name, "functions": found.functions},
        matters=_items(matters),
        booklet_url=_pdf("guide.department_pdf", found.code),
        index_url=url_for("guide.index"),
        search_url=url_for("guide.index"),
    )


@blueprint.get("/<code>")
def matter(code: str):
    """The full service guide (办事指南) of a matter, for reading on a phone."""
    try:
        found = guide.get_matter(db.session, code)
    except guide.Retired as err:
        return _not_found(code=code, retired_name=err.detail.get("name", ""))
    except NotFound:
        return _not_found(code=code)
    return _page(
        "guide/matter.html",
        matter=_guide_view(found),
        index_url=url_for("guide.index"),
    )
