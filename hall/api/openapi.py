"""The OpenAPI 3.1 document of /api/v1, written by hand next to the views it describes."""

from __future__ import annotations


def _error(description: str) -> dict:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


ERRORS = {
    "400": _error("Bad input (malformed JSON, missing or wrong field)"),
    "401": _error("No or invalid credentials"),
    "403": _error(
        "Not allowed for this role or hall (`forbidden`, `other_hall`), or a counter action "
        "by someone not on duty at the window (`not_on_duty`)"
    ),
    "404": _error("Unknown hall, queue, matter, window, ticket or case"),
    "409": _error("Not allowed in the current state (ticket, window or case)"),
}


def _ticket_response(description: str, code: str = "200") -> dict:
    return {
        code: {
            "description": description,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"ticket": {"$ref": "#/components/schemas/Ticket"}},
                    }
                }
            },
        },
        **ERRORS,
    }


WINDOW_ARG = {
    "type": "object",
    "properties": {
        "window": {
            "type": "integer",
            "description": "the acting window; refused if not the ticket's",
        }
    },
}


def _action(summary: str) -> dict:
    return {
        "post": {
            "summary": summary,
            "parameters": [{"$ref": "#/components/parameters/TicketId"}],
            "requestBody": {"content": {"application/json": {"schema": WINDOW_ARG}}},
            "responses": _ticket_response(summary),
        }
    }


LIMIT_SCHEMA = {
    "type": "object",
    "description": "a time limit (办结时限); days 0 means done on the spot (即办)",
    "properties": {
        "days": {"type": "integer"},
        "unit": {"enum": ["working", "natural"]},
        "unit_label": {"type": "string", "examples": ["工作日"]},
        "label": {"type": "string", "examples": ["5 个工作日", "即办"]},
    },
}

MATTER_SUMMARY = {
    "type": "object",
    "properties": {
        "code": {"type": "string", "examples": ["GA-003"]},
        "name": {"type": "string", "examples": ["户口迁入（投靠、入学、就业）"]},
        "department": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
        },
        "kind": {"enum": ["immediate", "promised", "joint", "referred"]},
        "kind_label": {"type": "string", "examples": ["承诺件"]},
        "promised_limit": {"$ref": "#/components/schemas/TimeLimit"},
        "materials": {"type": "integer", "description": "number of materials"},
        "required_materials": {"type": "integer", "description": "of which required"},
        "visits": {"type": "integer", "description": "到现场次数"},
        "online": {"type": "boolean"},
        "appointment": {"type": "boolean"},
        "guide_url": {"type": "string", "description": "the phone guide page"},
        "api_url": {"type": "string"},
    },
}

MATTER_GUIDE = {
    "type": "object",
    "description": "The full service guide (办事指南) of a matter",
    "properties": {
        "code": {"type": "string"},
        "name": {"type": "string"},
        "department": {
            "type": "object",
            "properties": {
                "code": {"type": "string"},
                "name": {"type": "string"},
                "functions": {"type": "string", "description": "职能"},
            },
        },
        "kind": {"enum": ["immediate", "promised", "joint", "referred"]},
        "kind_label": {"type": "string"},
        "legal_basis": {"type": "string", "description": "设定依据"},
        "conditions": {"type": "string", "description": "受理条件"},
        "materials": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "required": {"type": "boolean"},
                    "form": {"enum": ["original", "copy", "both", "electronic"]},
                    "form_label": {"type": "string", "examples": ["原件"]},
                    "copies": {"type": "integer"},
                    "notes": {"type": "string"},
                    "blank_form": {"type": "string", "description": "name or link; may be empty"},
                    "sample": {"type": "string", "description": "name or link; may be empty"},
                },
            },
        },
        "required_materials": {"type": "integer"},
        "process": {"type": "array", "items": {"type": "string"}, "description": "steps"},
        "statutory_limit": {"$ref": "#/components/schemas/TimeLimit"},
        "promised_limit": {"$ref": "#/components/schemas/TimeLimit"},
        "fee": {"type": "string", "description": "empty when free"},
        "free": {"type": "boolean"},
        "fee_label": {"type": "string", "examples": ["不收费"]},
        "fee_basis": {"type": "string"},
        "place": {"type": "string"},
        "hours": {"type": "string"},
        "phone": {"type": "string"},
        "complaint": {"type": "string"},
        "result_document": {"type": "string"},
        "visits": {"type": "integer"},
        "online": {"type": "boolean"},
        "appointment": {"type": "boolean"},
        "faq": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"q": {"type": "string"}, "a": {"type": "string"}},
            },
        },
        "updated_at": {"type": "string", "format": "date-time"},
        "guide_url": {"type": "string"},
        "pdf_url": {"type": ["string", "null"], "description": "printable A4 guide sheet"},
    },
}


def _matter_paths() -> dict:
    """The public service guide: search and one matter's guide."""
    return {
        "/matters": {
            "get": {
                "summary": "Search the published matters (办事指南 search)",
                "description": (
                    "Chinese words anywhere in the name, the department or the materials, "
                    "full pinyin (`hukou`, `hu kou`) or pinyin initials (`hk`); ranked: "
                    "name matches first (start of the name before inside it), then the "
                    "department, then the materials; ties in catalogue order. An empty `q` "
                    "lists every published matter in catalogue order. Public: no token."
                ),
                "security": [],
                "parameters": [
                    {
                        "name": "q",
                        "in": "query",
                        "schema": {"type": "string", "maxLength": 200},
                        "examples": {"initials": {"value": "sbk"}, "chinese": {"value": "户口"}},
                    },
                    {
                        "name": "department",
                        "in": "query",
                        "description": "a department code: only its matters",
                        "schema": {"type": "string", "maxLength": 32},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 50},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "The matters, best first",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "query": {"type": "string"},
                                        "department": {"type": ["string", "null"]},
                                        "limit": {"type": "integer"},
                                        "count": {"type": "integer"},
                                        "matters": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/MatterSummary"},
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "400": _error(
                        "Bad parameter (limit out of range, q too long, unknown department)"
                    ),
                },
            }
        },
        "/matters/{code}": {
            "get": {
                "summary": "The full service guide (办事指南) of one matter",
                "security": [],
                "parameters": [
                    {"name": "code", "in": "path", "required": True, "schema": {"type": "string"}}
                ],
                "responses": {
                    "200": {
                        "description": "The guide",
                        "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/MatterGuide"}
                            }
                        },
                    },
                    "404": _error(
                        "Unknown matter (`matter_not_found`) or no longer handled (`matter_retired`)"
                    ),
                },
            }
        },
    }


_RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1}
RATE_GROUPS = ["window", "department", "matter", "staff", "day", "week", "month"]

RATE_ROW = {
    "type": "object",
    "description": (
        "The counts and rates of one group or of the total. Rates are 0–1, null when their "
        "denominator is 0 (shown 「—」); `percent` has them as shown (「87.5%」)."
    ),
    "properties": {
        "key": {
            "type": ["integer", "string", "null"],
            "description": (
                "window number, department or matter code, staff username, day "
                "(2026-11-30), ISO week (2026-W49) or month (2026-11); null for the total "
                "and for cases without a window or staff member"
            ),
        },
        "label": {"type": "string", "examples": ["3 号窗口 综合受理", "2026 年第 48 周"]},
        "start": {"type": ["string", "null"], "format": "date"},
        "end": {"type": ["string", "null"], "format": "date"},
        "on_the_spot": {"type": "integer", "description": "当场办结 (recorded in the period)"},
        "accepted": {"type": "integer", "description": "受理 (recorded in the period)"},
        "correction": {"type": "integer", "description": "补正"},
        "rejected": {"type": "integer", "description": "不予受理"},
        "consultation": {"type": "integer", "description": "咨询"},
        "handled": {"type": "integer", "description": "on_the_spot + accepted"},
        "immediate_handled": {"type": "integer", "description": "of matters of kind immediate"},
        "immediate_on_the_spot": {"type": "integer"},
        "promised_completed": {
            "type": "integer",
            "description": "accepted cases completed in the period",
        },
        "promised_on_time": {"type": "integer", "description": "of which early or on time"},
        "early": {"type": "integer", "description": "提前办结"},
        "late": {"type": "integer", "description": "超时办结"},
        "open_overdue": {
            "type": "integer",
            "description": (
                "逾期未办结: accepted cases recorded on or before the end (of the row's period), "
                "still open or paused today, past their due date"
            ),
        },
        "on_the_spot_rate": _RATE,
        "immediate_rate": _RATE,
        "promised_rate": _RATE,
        "strict_rate": _RATE,
        "early_rate": _RATE,
        "percent": {"type": "object", "additionalProperties": {"type": "string"}},
    },
}


def _rates_paths() -> dict:
    """The completion rates (当场办结率, 承诺办结率…) of a hall."""

    def query(name: str, description: str, schema: dict | None = None) -> dict:
        return {
            "name": name,
            "in": "query",
            "description": description,
            "schema": schema or {"type": "string"},
        }

    return {
        "/rates": {
            "get": {
                "summary": "Completion rates: 当场办结率, 承诺办结率 with strict rate, 提前办结率",
                "description": (
                    "Staff, managers and admins of the hall. 当场办结率 and the outcome counts "
                    "count cases by the day they were recorded; 承诺办结率, the strict rate and "
                    "提前办结率 count accepted cases by the day they were completed. A case counts "
                    "for the window, staff member and matter that recorded it. Open overdue "
                    "cases are those recorded on or before `to`, still open today and past "
                    "due. Without `group`, `rows` holds the total alone; period groups list "
                    "every day, ISO week or month of the range. Every answer carries the "
                    "formulas (`formulas`, zh and en) to show with the rates."
                ),
                "parameters": [
                    query(
                        "group",
                        "one row per group; none: the total",
                        {"enum": RATE_GROUPS},
                    ),
                    query(
                        "from",
                        "first day (YYYY-MM-DD); default `to`",
                        {"type": "string", "format": "date"},
                    ),
                    query(
                        "to",
                        "last day; default today in the hall (at most 3 years after `from`)",
                        {"type": "string", "format": "date"},
                    ),
                    query("hall", "hall code; default the account's hall (required if several)"),
                    query("window", "window number", {"type": "integer", "minimum": 1}),
                    query("department", "department code"),
                    query("matter", "matter code"),
                    query("staff", "staff username"),
                ],
                "responses": {
                    "200": {
                        "description": "The rows, the total and the formulas",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "hall": {"type": "string"},
                                        "from": {"type": "string", "format": "date"},
                                        "to": {"type": "string", "format": "date"},
                                        "today": {"type": "string", "format": "date"},
                                        "group": {"type": ["string", "null"]},
                                        "filters": {"type": "object"},
                                        "rows": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/RateRow"},
                                        },
                                        "total": {"$ref": "#/components/schemas/RateRow"},
                                        "formulas": {
                                            "type": "object",
                                            "description": "rate → {name, name_en, zh, en}",
                                        },
                                        "notes": {
                                            "type": "object",
                                            "description": "how periods are counted, zh and en",
                                        },
                                    },
                                }
                            }
                        },
                    },
                    "400": _error(
                        "Bad date (`bad_date`), from after to (`bad_range`), over 3 years "
                        "(`range_too_long`), unknown group (`bad_group`), bad window number "
                        "(`bad_parameter`), no hall given among several (`hall_required`)"
                    ),
                    "401": ERRORS["401"],
                    "403": ERRORS["403"],
                    "404": _error(
                        "Unknown hall, window, department, matter or staff member "
                        "(`hall_not_found`, `window_not_found`, `department_not_found`, "
                        "`matter_not_found`, `staff_not_found`)"
                    ),
                },
            }
        }
    }


_MINUTES = {"type": ["number", "null"], "description": "minutes, one decimal; null when none"}
REPORT_ROW = {
    "type": "object",
    "description": (
        "The tickets of one group or of the total (issued, served, no-shows, waits, service "
        "times) and, under `rates`, the completion rates of the same key."
    ),
    "properties": {
        "key": {"type": ["integer", "string", "null"], "description": "as in RateRow"},
        "label": {"type": "string", "examples": ["3 号窗口 户籍业务", "未选事项"]},
        "start": {"type": ["string", "null"], "format": "date"},
        "end": {"type": ["string", "null"], "format": "date"},
        "issued": {"type": "integer", "description": "取号数 (by service day)"},
        "served": {"type": "integer", "description": "办结数 (finished)"},
        "no_shows": {"type": "integer", "description": "过号数"},
        "no_show_rate": {**_RATE, "description": "no_shows ÷ (served + no_shows)"},
        "avg_wait_minutes": _MINUTES,
        "p90_wait_minutes": {
            "type": ["number", "null"],
            "description": "90th percentile of the waits, whole minutes rounded up",
        },
        "avg_service_minutes": _MINUTES,
        "waits_counted": {"type": "integer", "description": "tickets called"},
        "services_counted": {"type": "integer", "description": "tickets served"},
        "percent": {"type": "object", "description": "no_show_rate as shown (「12.5%」)"},
        "rates": {"$ref": "#/components/schemas/RateRow"},
    },
}


def _reports_paths() -> dict:
    """The manager report: tickets, waits, busy hours, rates and overdue cases."""

    def query(name: str, description: str, schema: dict | None = None) -> dict:
        return {
            "name": name,
            "in": "query",
            "description": description,
            "schema": schema or {"type": "string"},
        }

    return {
        "/reports": {
            "get": {
                "summary": "Manager report: tickets, no-show rate, waits (avg, p90), service "
                "times, busy hours, completion rates, open overdue cases",
                "description": (
                    "Managers and admins of the hall (staff: 403). Tickets count on their "
                    "service day, for the window and staff member that called them and "
                    "for their matter and its department; rates as in /rates, merged by "
                    "key. The same numbers as the reports page and its .xlsx and PDF "
                    "exports. Every answer carries the formulas (`formulas`, zh and en)."
                ),
                "parameters": [
                    query("group", "one row per group (default window)", {"enum": RATE_GROUPS}),
                    query(
                        "from",
                        "first day (YYYY-MM-DD); default `to`",
                        {"type": "string", "format": "date"},
                    ),
                    query(
                        "to",
                        "last day; default today in the hall (at most 3 years after `from`)",
                        {"type": "string", "format": "date"},
                    ),
                    query("hall", "hall code; default the account's hall (required if several)"),
                    query("window", "window number", {"type": "integer", "minimum": 1}),
                    query("department", "department code"),
                    query("matter", "matter code"),
                    query("staff", "staff username"),
                ],
                "responses": {
                    "200": {
                        "description": "The report (hall.domain.reports.report_dict)",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "hall": {"type": "object"},
                                        "from": {"type": "string", "format": "date"},
                                        "to": {"type": "string", "format": "date"},
                                        "today": {"type": "string", "format": "date"},
                                        "group": {"type": "string"},
                                        "filters": {"type": "object"},
                                        "rows": {"type": "array", "items": REPORT_ROW},
                                        "total": REPORT_ROW,
                                        "hourly": {
                                            "type": "array",
                                            "description": "[{hour: 0–23, issued}] hall-local",
                                        },
                                        "waits_by": {"enum": ["day", "week", "month"]},
                                        "waits": {
                                            "type": "array",
                                            "description": (
                                                "waits over time: [{key, label, start, end, "
                                                "count, avg, p90}]"
                                            ),
                                        },
                                        "overdue": {
                                            "type": "array",
                                            "description": "open overdue cases, due first",
                                        },
                                        "formulas": {"type": "object"},
                                        "notes": {"type": "object"},
                                    },
                                }
                            }
                        },
                    },
                    "400": _error(
                        "Bad date (`bad_date`), from after to (`bad_range`), over 3 years "
                        "(`range_too_long`), unknown group (`bad_group`), bad window number "
                        "(`bad_parameter`), no hall given among several (`hall_required`)"
                    ),
                    "401": ERRORS["401"],
                    "403": ERRORS["403"],
                    "404": _error(
                        "Unknown hall, window, department, matter or staff member "
                        "(`hall_not_found`, `window_not_found`, `department_not_found`, "
                        "`matter_not_found`, `staff_not_found`)"
                    ),
                },
            }
        }
    }


MATERIALS = {
    "type": "array",
    "maxItems": 50,
    "items": {
        "oneOf": [
            {"type": "string", "description": "the material's name"},
            {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "maxLength": 300},
                    "note": {"type": "string", "maxLength": 500},
                },
            },
        ]
    },
}

OUTCOME_SCHEMA = {
    "type": "object",
    "description": (
        "What the counter records for one matter handled at the visit. `on_the_spot` "
        "当场办结 (completed now, any matter); `accepted` 受理 (open with a due date: only "
        "matters with a promised limit, never an immediate matter 即办件); `correction` 补正 "
        "(`missing_materials` must list everything missing: 一次性告知); `rejected` 不予受理 "
        "(`reason` required); `consultation` 咨询 (no case number)."
    ),
    "required": ["matter", "outcome"],
    "properties": {
        "matter": {"type": "string", "description": "matter code", "examples": ["GA-003"]},
        "outcome": {"enum": ["on_the_spot", "accepted", "correction", "rejected", "consultation"]},
        "applicant_name": {"type": "string", "maxLength": 100},
        "applicant_phone": {"type": "string", "maxLength": 30, "pattern": "^[0-9+\\-() ]*$"},
        "materials_received": MATERIALS,
        "missing_materials": MATERIALS,
        "reason": {"type": "string", "maxLength": 2000},
    },
}

DATE = {"type": ["string", "null"], "format": "date"}

CASE_SCHEMA = {
    "type": "object",
    "description": (
        "A case (办件). The applicant's name and phone are always masked (张*三, 138****0000). "
        "`deadline_state`: `none` (not open, or paused), `ok` (green), `soon` (yellow: at "
        "most HALL_CASE_WARN_DAYS working days left), `overdue` (red: past the due date)."
    ),
    "properties": {
        "id": {"type": "integer"},
        "number": {
            "type": ["string", "null"],
            "description": "<HALL>-<YYYYMMDD>-<NNNN>; null for a consultation",
            "examples": ["DEMO-20260929-0001"],
        },
        "hall": {"type": "string"},
        "ticket_id": {"type": ["integer", "null"]},
        "matter": {
            "type": "object",
            "properties": {"code": {"type": "string"}, "name": {"type": "string"}},
        },
        "window": {"type": ["integer", "null"]},
        "window_name": {"type": ["string", "null"]},
        "staff": {
            "type": ["object", "null"],
            "properties": {"name": {"type": "string"}, "job_number": {"type": "string"}},
        },
        "outcome": {"enum": ["on_the_spot", "accepted", "correction", "rejected", "consultation"]},
        "outcome_label": {"type": "string", "examples": ["受理"]},
        "status": {"enum": ["open", "paused", "completed", "closed"]},
        "status_label": {"type": "string", "examples": ["办理中"]},
        "kind": {"enum": ["immediate", "promised", "joint", "referred"]},
        "kind_label": {"type": "string"},
        "limit": {"$ref": "#/components/schemas/TimeLimit"},
        "applicant_name": {"type": "string", "examples": ["张*三"]},
        "applicant_phone": {"type": "string", "examples": ["138****0000"]},
        "materials_received": {"type": "array", "items": {"type": "object"}},
        "missing_materials": {"type": "array", "items": {"type": "object"}},
        "reason": {"type": "string"},
        "result": {"type": "string"},
        "accepted_at": {"type": "string", "format": "date-time"},
        "accepted_on": {"type": "string", "format": "date", "description": "hall-local"},
        "due_date": {**DATE, "description": "null unless accepted and running"},
        "completed_at": {"type": ["string", "null"], "format": "date-time"},
        "completed_on": DATE,
        "timing": {"enum": ["early", "on_time", "late", None]},
        "timing_label": {"type": "string"},
        "pauses": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"enum": ["correction", "special"]},
                    "kind_label": {"type": "string"},
                    "reason": {"type": "string"},
                    "started_on": {"type": "string", "format": "date"},
                    "ended_on": {**DATE, "description": "last day not counted; null: paused"},
                    "days": {"type": ["integer", "null"]},
                },
            },
        },
        "deadline_state": {"enum": ["none", "ok", "soon", "overdue"]},
        "deadline_label": {"type": "string", "examples": ["即将到期"]},
        "colour": {"enum": ["green", "yellow", "red", None]},
        "working_days_left": {
            "type": ["integer", "null"],
            "description": "working days until the due date; negative when overdue",
        },
        "documents": {
            "type": "array",
            "description": "printable documents, when this installation prints them",
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"enum": ["receipt", "correction", "rejection", "completion"]},
                    "url": {"type": "string"},
                },
            },
        },
        "verify_url": {"type": "string", "description": "the public verification page"},
    },
}


def _case_response(description: str) -> dict:
    return {
        "200": {
            "description": description,
            "content": {
                "application/json": {
                    "schema": {
                        "type": "object",
                        "properties": {"case": {"$ref": "#/components/schemas/Case"}},
                    }
                }
            },
        },
        **ERRORS,
    }


def _finish_path() -> dict:
    """Finish a ticket, recording the outcome of each matter handled."""
    return {
        "post": {
            "summary": "Finish the ticket (办结) and record the outcome of each matter handled",
            "description": (
                "One case (办件) per outcome, at most 10, in one transaction with the finish: "
                "when any outcome is refused nothing is saved (the ticket stays called or "
                "serving) and the 400 answer `bad_outcome` gives `detail.index` (0-based), "
                "`detail.field` and `detail.problem`."
            ),
            "parameters": [{"$ref": "#/components/parameters/TicketId"}],
            "requestBody": {
                "content": {
                    "application/json": {
                        "schema": {
                            "type": "object",
                            "properties": {
                                **WINDOW_ARG["properties"],
                                "outcomes": {
                                    "type": "array",
                                    "maxItems": 10,
                                    "items": {"$ref": "#/components/schemas/Outcome"},
                                },
                            },
                        }
                    }
                }
            },
            "responses": {
                "200": {
                    "description": "The finished ticket and the cases recorded",
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "properties": {
                                    "ticket": {"$ref": "#/components/schemas/Ticket"},
                                    "cases": {
                                        "type": "array",
                                        "items": {"$ref": "#/components/schemas/Case"},
                                    },
                                },
                            }
                        }
                    },
                },
                **ERRORS,
            },
        }
    }


def _case_paths() -> dict:
    """Cases (办件): the list with deadline colours, one case, pause, resume, complete."""
    number = {
        "name": "number",
        "in": "path",
        "required": True,
        "description": "the case number (DEMO-20260929-0001), or the case id",
        "schema": {"type": "string"},
    }

    def query(name: str, description: str, schema: dict) -> dict:
        return {"name": name, "in": "query", "description": description, "schema": schema}

    def body(properties: dict, required: list[str] | None = None) -> dict:
        schema = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return {"content": {"application/json": {"schema": schema}}}

    on = {
        "type": "string",
        "format": "date",
        "description": "the day (hall-local; default today, never in the future)",
    }
    return {
        "/cases": {
            "get": {
                "summary": "Cases of the hall, running ones due first, with deadline colours",
                "description": (
                    "Staff see the cases of their own hall. Without `status`: accepted cases "
                    "still running (open or paused), due first."
                ),
                "parameters": [
                    query("hall", "hall code (for accounts bound to no hall)", {"type": "string"}),
                    query(
                        "overdue",
                        "1: only open cases past their due date (逾期)",
                        {"enum": ["0", "1", "true", "false"]},
                    ),
                    query("window", "window number", {"type": "integer"}),
                    query("staff", "`me` or a username", {"type": "string"}),
                    query(
                        "status",
                        "one status, or `all`",
                        {"enum": ["open", "paused", "completed", "closed", "all"]},
                    ),
                    query(
                        "limit",
                        "at most this many",
                        {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200},
                    ),
                ],
                "responses": {
                    "200": {
                        "description": "The cases",
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "hall": {"type": ["string", "null"]},
                                        "today": DATE,
                                        "warn_days": {"type": "integer"},
                                        "count": {"type": "integer"},
                                        "limit": {"type": "integer"},
                                        "cases": {
                                            "type": "array",
                                            "items": {"$ref": "#/components/schemas/Case"},
                                        },
                                    },
                                }
                            }
                        },
                    },
                    **ERRORS,
                },
            }
        },
        "/cases/{number}": {
            "get": {
                "summary": "One case",
                "parameters": [number],
                "responses": _case_response("The case"),
            }
        },
        "/cases/{number}/pause": {
            "post": {
                "summary": "Stop the clock of an open accepted case (补正, special procedure)",
                "description": (
                    "Days from `on` until the day before resuming are not counted (行政许可法 "
                    "§45). Refused (409 `case_overdue`) after the due date. Staff pause their "
                    "own cases or those of their window; managers any case of their hall."
                ),
                "parameters": [number],
                "requestBody": body(
                    {
                        "kind": {"enum": ["correction", "special"]},
                        "reason": {"type": "string", "maxLength": 2000},
                        "on": on,
                    },
                    ["kind", "reason"],
                ),
                "responses": _case_response("The paused case (due_date null while paused)"),
            }
        },
        "/cases/{number}/resume": {
            "post": {
                "summary": "Restart the clock; the due date is computed again",
                "description": "The resume day `on` is counted again.",
                "parameters": [number],
                "requestBody": body({"on": on}),
                "responses": _case_response("The running case with its new due date"),
            }
        },
        "/cases/{number}/complete": {
            "post": {
                "summary": "Complete an open accepted case (办结): early, on time or late",
                "parameters": [number],
                "requestBody": body({"result": {"type": "string", "maxLength": 2000}}),
                "responses": _case_response("The completed case with its timing"),
            }
        },
    }


def document() -> dict:
    """The OpenAPI document as a dict."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hall API",
            "version": "1",
            "description": (
                "Queue tickets, calls and boards of a government service hall, the cases "
                "(办件) recorded at finish (`/cases`), and its "
                "public service guide (`/matters`). Authenticate "
                "with `Authorization: Bearer <token>` (`hall token create USER` for staff, "
                "`hall device add --kind kiosk --hall CODE` for kiosks). Errors are JSON "
                "`{error, message, message_en}` with a 4xx status. Real-time events: connect "
                "Socket.IO to the default namespace and emit `join` with `{hall, window?, "
                "ticket?}`; you receive `board`, then `ticket.issued`, `ticket.called`, "
                "`ticket.updated`, `window.updated`, `hall.updated`, each with `seq` and `hall`."
            ),
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearer": []}],
        "paths": {
            "/halls": {
                "get": {
                    "summary": "List halls",
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "The halls",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "required": ["halls"],
                                        "properties": {
                                            "halls": {
                                                "type": "array",
                                                "items": {
                                                    "type": "object",
                                                    "properties": {
                                                        "code": {"type": "string"},
                                                        "name": {"type": "string"},
                                                        "timezone": {"type": "string"},
                                                    },
                                                },
                                            }
                                        },
                                    }
                                }
                            },
                        }
                    },
                }
            },
            "/halls/{hall}/board": {
                "get": {
                    "summary": "The board snapshot the screens get",
                    "security": [],
                    "parameters": [{"$ref": "#/components/parameters/Hall"}],
                    "responses": {
                        "200": {
                            "description": "The snapshot",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Board"}
                                }
                            },
                        },
                        "404": ERRORS["404"],
                    },
                }
            },
            "/tickets": {
                "post": {
                    "summary": "Issue a ticket (取号) for a queue or a matter",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["hall"],
                                    "properties": {
                                        "hall": {"type": "string"},
                                        "queue": {
                                            "type": "string",
                                            "description": "prefix, e.g. A",
                                        },
                                        "matter": {"type": "string", "description": "matter code"},
                                        "priority": {"type": "boolean", "description": "绿色通道"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "201": {
                            "description": "The ticket",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Ticket"}
                                }
                            },
                        },
                        **ERRORS,
                    },
                }
            },
            "/tickets/{id}": {
                "get": {
                    "summary": "One ticket",
                    "parameters": [{"$ref": "#/components/parameters/TicketId"}],
                    "responses": {
                        "200": {
                            "description": "The ticket",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Ticket"}
                                }
                            },
                        },
                        **ERRORS,
                    },
                }
            },
            "/halls/{hall}/windows/{number}/call-next": {
                "post": {
                    "summary": "Call the next ticket at a window (叫号)",
                    "parameters": [
                        {"$ref": "#/components/parameters/Hall"},
                        {"$ref": "#/components/parameters/WindowNumber"},
                    ],
                    "responses": _ticket_response("The called ticket, or null when none waits"),
                }
            },
            "/halls/{hall}/windows/{number}/status": {
                "post": {
                    "summary": "Open (sign in), pause, resume (open) or close a window",
                    "parameters": [
                        {"$ref": "#/components/parameters/Hall"},
                        {"$ref": "#/components/parameters/WindowNumber"},
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "required": ["status"],
                                    "properties": {
                                        "status": {"enum": ["open", "paused", "closed"]}
                                    },
                                }
                            }
                        },
                    },
                    "responses": {
                        "200": {
                            "description": "The window",
                            "content": {
                                "application/json": {
                                    "schema": {
                                        "type": "object",
                                        "properties": {"window": {"type": "object"}},
                                    }
                                }
                            },
                        },
                        **ERRORS,
                    },
                }
            },
            "/tickets/{id}/recall": _action("Call the ticket again (重呼)"),
            "/tickets/{id}/no-show": _action("Mark the ticket a no-show (过号)"),
            "/tickets/{id}/start": _action("Start serving the ticket"),
            "/tickets/{id}/finish": _finish_path(),
            "/tickets/{id}/return": _action("Put a no-show back in its queue once"),
            **_matter_paths(),
            **_case_paths(),
            **_rates_paths(),
            **_reports_paths(),
            "/tickets/{id}/transfer": {
                "post": {
                    "summary": "Transfer to a queue or a window (转移), keeping the number",
                    "parameters": [{"$ref": "#/components/parameters/TicketId"}],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {
                                "schema": {
                                    "type": "object",
                                    "properties": {
                                        "to_queue": {"type": "string"},
                                        "to_window": {"type": "integer"},
                                        "window": {"type": "integer"},
                                    },
                                }
                            }
                        },
                    },
                    "responses": _ticket_response("The transferred ticket"),
                }
            },
        },
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
            "parameters": {
                "Hall": {
                    "name": "hall",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string"},
                },
                "WindowNumber": {
                    "name": "number",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
                },
                "TicketId": {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer", "minimum": 1, "maximum": 2147483647},
                },
            },
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error", "message"],
                    "properties": {
                        "error": {"type": "string"},
                        "message": {"type": "string", "description": "Chinese"},
                        "message_en": {"type": "string"},
                        "detail": {"type": "object"},
                    },
                },
                "Ticket": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "token": {"type": "string"},
                        "number": {"type": "string", "examples": ["A001"]},
                        "queue": {"type": "string"},
                        "queue_name": {"type": "string"},
                        "status": {
                            "enum": [
                                "waiting",
                                "called",
                                "serving",
                                "finished",
                                "no_show",
                                "expired",
                            ],
                            "description": "expired: still open when its service day ended "
                            "(closed by the day rollover, 已过期)",
                        },
                        "status_text": {
                            "type": "string",
                            "description": "the status in words, in the request's language",
                        },
                        "priority": {"type": "boolean"},
                        "window": {"type": ["integer", "null"]},
                        "waiting_ahead": {"type": "integer"},
                        "estimated_wait_minutes": {"type": "integer"},
                        "track_url": {"type": "string"},
                        "slip_url": {"type": "string"},
                    },
                },
                "TimeLimit": LIMIT_SCHEMA,
                "Outcome": OUTCOME_SCHEMA,
                "Case": CASE_SCHEMA,
                "MatterSummary": MATTER_SUMMARY,
                "MatterGuide": MATTER_GUIDE,
                "RateRow": RATE_ROW,
                "Board": {
                    "type": "object",
                    "properties": {
                        "seq": {"type": "integer"},
                        "hall": {"type": "object"},
                        "queues": {"type": "array"},
                        "windows": {"type": "array"},
                        "recent_calls": {"type": "array"},
                    },
                },
            },
        },
    }
