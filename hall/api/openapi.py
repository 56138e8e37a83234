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
    "403": _error("Not allowed for this role or hall"),
    "404": _error("Unknown hall, queue, matter, window or ticket"),
    "409": _error("Not allowed in the current state (ticket or window)"),
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


def document() -> dict:
    """The OpenAPI document as a dict."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "hall API",
            "version": "1",
            "description": (
                "Queue tickets, calls and boards of a government service hall, and its "
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
                    "responses": {"200": {"description": "The halls"}},
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
                    "responses": {"200": {"description": "The ticket"}, **ERRORS},
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
                    "responses": {"200": {"description": "The window"}, **ERRORS},
                }
            },
            "/tickets/{id}/recall": _action("Call the ticket again (重呼)"),
            "/tickets/{id}/no-show": _action("Mark the ticket a no-show (过号)"),
            "/tickets/{id}/start": _action("Start serving the ticket"),
            "/tickets/{id}/finish": _action("Finish the ticket (办结)"),
            "/tickets/{id}/return": _action("Put a no-show back in its queue once"),
            **_matter_paths(),
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
                    "schema": {"type": "integer"},
                },
                "TicketId": {
                    "name": "id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "integer"},
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
                        "status": {"enum": ["waiting", "called", "serving", "finished", "no_show"]},
                        "priority": {"type": "boolean"},
                        "window": {"type": ["integer", "null"]},
                        "waiting_ahead": {"type": "integer"},
                        "estimated_wait_minutes": {"type": "integer"},
                        "track_url": {"type": "string"},
                        "slip_url": {"type": "string"},
                    },
                },
                "TimeLimit": LIMIT_SCHEMA,
                "MatterSummary": MATTER_SUMMARY,
                "MatterGuide": MATTER_GUIDE,
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
