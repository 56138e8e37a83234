"""Reading JSON request bodies in views: one set of checks and error texts for every endpoint."""

from __future__ import annotations

from flask import request
from flask_wtf.csrf import CSRFError

from hall.domain.errors import Invalid
from hall.extensions import csrf


def check_csrf() -> None:
    """Refuse a browser request without a valid CSRF token (X-CSRFToken) with a JSON 400."""
    try:
        csrf.protect()
    except CSRFError as err:
        raise Invalid(
            "csrf", "页面已过期，请刷新后重试", "The page has expired; reload and try again"
        ) from err


def body(*, empty_ok: bool = True, force: bool = False) -> dict:
    """The JSON object of the request ({} for an empty body when allowed), else a 400."""
    if empty_ok and not request.get_data(cache=True):
        return {}
    data = request.get_json(force=force, silent=True)
    if not isinstance(data, dict):
        raise Invalid("bad_json", "请求体必须是 JSON 对象", "The body must be a JSON object")
    return data


def text_field(data: dict, name: str, *, required: bool = False, max_len: int = 64) -> str | None:
    """A short string field, stripped; None when absent."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise Invalid("missing_field", f"缺少字段 {name}", f"Missing field {name}", field=name)
        return None
    if not isinstance(value, str) or len(value.strip()) > max_len:
        raise Invalid(
            "bad_field",
            f"字段 {name} 应为字符串",
            f"Field {name} must be a short string",
            field=name,
        )
    return value.strip()


def int_field(data: dict, name: str, *, required: bool = False) -> int | None:
    """A positive integer field (numbers in strings accepted); None when absent."""
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise Invalid("missing_field", f"缺少字段 {name}", f"Missing field {name}", field=name)
        return None
    number = None
    if not isinstance(value, bool):
        try:
            number = int(value)
        except (TypeError, ValueError):
            number = None
    if number is None or not 0 < number < 100000:
        raise Invalid(
            "bad_field",
            f"字段 {name} 应为正整数",
            f"Field {name} must be a positive integer",
            field=name,
        )
    return number


def ticket_request(data: dict) -> tuple[str | None, str | None, bool]:
    """What a ticket is taken for: (queue prefix, matter code, priority 绿色通道)."""
    queue = text_field(data, "queue", max_len=4)
    matter = text_field(data, "matter")
    priority = data.get("priority", False)
    if not isinstance(priority, bool):
        raise Invalid(
            "bad_field",
            "priority 应为 true 或 false",
            "priority must be true or false",
            field="priority",
        )
    if queue and matter:
        raise Invalid(
            "queue_or_matter",
            "业务类型（queue）与事项（matter）只能给一个",
            "Give queue or matter, not both",
        )
    return queue, matter, priority
