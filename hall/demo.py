"""The demo hall: sample departments, queues, matters, windows and staff (idempotent).

The catalogue itself (departments and the full guide of every matter) is in
`hall.demo_catalog`. Loading is idempotent: what exists is reused, and an existing demo
database only gets the guide fields and materials its matters are missing. It runs a handful
of queries whatever the size of the catalogue, since many tests load the demo per test.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from hall.auth import set_password
from hall.demo_catalog import COMPLAINT, DEPARTMENTS, HOURS, MATTERS, PHONES, PLACES
from hall.models import Department, Hall, Material, Matter, Queue, User, Window, WindowQueue

HALL_CODE = "demo"

# (prefix, name, department code or None for the combined queue)
QUEUES = [
    ("A", "综合受理", None),
    ("B", "户籍业务", "gaj"),
    ("C", "社保医保", "rsj"),
    ("D", "不动产登记", "bdc"),
    ("E", "市场主体登记", "scj"),
    ("F", "税务业务", "swj"),
    ("G", "公积金与民政", "gjj"),
]

# (number, name, queues in priority order); windows 1–2 are combined windows (综合窗口)
WINDOWS = [
    (1, "综合受理", ["A", "B", "C", "D", "E", "F", "G"]),
    (2, "综合受理", ["A", "C", "B", "D", "E", "F", "G"]),
    (3, "户籍业务", ["B", "A"]),
    (4, "社保医保", ["C", "A"]),
    (5, "不动产登记", ["D"]),
    (6, "市场主体登记", ["E", "A"]),
    (7, "税务业务", ["F"]),
    (8, "公积金与民政", ["G"]),
]

# (username, display name, job number, role)
STAFF = [
    ("admin", "系统管理员", "A0001", "admin"),
    ("manager", "王主任", "M0001", "manager"),
    ("staff1", "李晓梅", "1001", "staff"),
    ("staff2", "张伟", "1002", "staff"),
    ("staff3", "陈静", "1003", "staff"),
    ("staff4", "刘洋", "1004", "staff"),
    ("staff5", "赵敏", "1005", "staff"),
    ("staff6", "周杰", "1006", "staff"),
]

# guide fields filled on an existing matter when they are empty
_TEXT_FIELDS = (
    "legal_basis",
    "conditions",
    "process",
    "place",
    "hours",
    "phone",
    "complaint",
    "result_document",
)
# guide fields whose empty value is meaningful (不收费, 0 visits…): set only on a blank guide
_BLANK_ONLY_FIELDS = ("fee", "fee_basis", "visits", "online", "appointment")


@dataclass
class DemoResult:
    """What loading the demo created: the hall and the new accounts with their passwords."""

    hall: Hall
    created: bool
    passwords: dict[str, str] = field(default_factory=dict)


def load(
    session: Session, hall_code: str = HALL_CODE, name: str = "示范区政务服务中心"
) -> DemoResult:
    """Create the demo hall, or reuse it when it exists; new accounts get random passwords."""
    hall = session.scalar(sa.select(Hall).where(Hall.code == hall_code))
    result = DemoResult(hall=hall, created=hall is None)
    if hall is None:
        hall = Hall(
            code=hall_code,
            name=name,
            timezone="Asia/Shanghai",
            notice="欢迎来到政务服务中心。办事请先取号，60 岁以上老人、残疾人、孕妇、军人请走绿色通道。",
            seq=0,
        )
        session.add(hall)
        session.flush()
        result.hall = hall
    departments = _departments(session)
    queues = _queues(session, hall, departments)
    _matters(session, departments, queues)
    _windows(session, hall, queues)
    result.passwords = _staff(session, hall)
    session.flush()
    return result


def _ensure(session: Session, model: type, key: str, where, rows: list[dict]) -> dict:
    """The rows of `model` matching `where` by their `key`, inserting the missing `rows` first
    in one bulk statement."""
    query = sa.select(model).where(where)
    found = {getattr(obj, key): obj for obj in session.scalars(query)}
    missing = [row for row in rows if row[key] not in found]
    if missing:
        session.execute(sa.insert(model), missing)
        found = {getattr(obj, key): obj for obj in session.scalars(query)}
    return found


def _departments(session: Session) -> dict[str, Department]:
    rows = [
        {"code": code, "name": dname, "functions": functions, "sort_order": order}
        for order, (code, dname, functions) in enumerate(DEPARTMENTS)
    ]
    where = Department.code.in_([row["code"] for row in rows])
    return _ensure(session, Department, "code", where, rows)


def _queues(session: Session, hall: Hall, departments: dict[str, Department]) -> dict[str, Queue]:
    rows = [
        {
            "hall_id": hall.id,
            "prefix": prefix,
            "name": qname,
            "department_id": departments[dept].id if dept else None,
        }
        for prefix, qname, dept in QUEUES
    ]
    return _ensure(session, Queue, "prefix", Queue.hall_id == hall.id, rows)


def guide_values(entry: dict) -> dict:
    """The guide columns of a catalogue entry, with the hall-wide defaults filled in."""
    return {
        "kind": entry["kind"],
        "promised_days": entry.get("promised_days", 0),
        "promised_unit": entry.get("promised_unit", "working"),
        "statutory_days": entry.get("statutory_days", 0),
        "statutory_unit": entry.get("statutory_unit", "working"),
        "legal_basis": entry.get("legal_basis", ""),
        "conditions": entry.get("conditions", ""),
        "process": "\n".join(entry.get("process", [])),
        "fee": entry.get("fee", ""),
        "fee_basis": entry.get("fee_basis", ""),
        "place": entry.get("place", PLACES[entry["queue"]]),
        "hours": entry.get("hours", HOURS),
        "phone": entry.get("phone", PHONES[entry["department"]]),
        "complaint": entry.get("complaint", COMPLAINT),
        "result_document": entry.get("result_document", ""),
        "visits": entry.get("visits", 1),
        "online": entry.get("online", False),
        "appointment": entry.get("appointment", False),
        "faq": [dict(item) for item in entry.get("faq", [])],
    }


def material_values(entry: dict) -> list[dict]:
    """The material columns of a catalogue entry, in the guide's order."""
    return [
        {
            "position": position,
            "name": item["name"],
            "required": item.get("required", True),
            "form": item.get("form", "original"),
            "copies": item.get("copies", 1),
            "notes": item.get("notes", ""),
            "blank_form": item.get("blank_form", ""),
            "sample": item.get("sample", ""),
        }
        for position, item in enumerate(entry.get("materials", []))
    ]


def _matters(
    session: Session, departments: dict[str, Department], queues: dict[str, Queue]
) -> None:
    codes = [entry["code"] for entry in MATTERS]
    existing = {
        matter.code: matter
        for matter in session.scalars(
            sa.select(Matter).where(Matter.code.in_(codes)).options(selectinload(Matter.materials))
        )
    }
    new = []
    for order, entry in enumerate(MATTERS):
        matter = existing.get(entry["code"])
        if matter is None:
            new.append((order, entry))
        else:
            _fill_guide(matter, entry)
    if not new:
        return
    # bulk statements (executemany) rather than one INSERT … RETURNING per row
    session.execute(
        sa.insert(Matter),
        [
            {
                "code": entry["code"],
                "name": entry["name"],
                "department_id": departments[entry["department"]].id,
                "queue_id": queues[entry["queue"]].id,
                "sort_order": order,
                "active": True,
                **guide_values(entry),
            }
            for order, entry in new
        ],
    )
    ids = dict(
        session.execute(
            sa.select(Matter.code, Matter.id).where(Matter.code.in_([e["code"] for _o, e in new]))
        ).all()
    )
    rows = [
        {"matter_id": ids[entry["code"]], **values}
        for _order, entry in new
        for values in material_values(entry)
    ]
    if rows:
        session.execute(sa.insert(Material), rows)


def _fill_guide(matter: Matter, entry: dict) -> None:
    """Give an existing matter the guide fields and materials it lacks; keep what it has."""
    values = guide_values(entry)
    blank = not matter.legal_basis and not matter.materials
    for key in _TEXT_FIELDS:
        if not getattr(matter, key) and values[key]:
            setattr(matter, key, values[key])
    if blank:
        for key in _BLANK_ONLY_FIELDS:
            if getattr(matter, key) != values[key]:
                setattr(matter, key, values[key])
    if not matter.statutory_days and values["statutory_days"]:
        matter.statutory_days = values["statutory_days"]
        matter.statutory_unit = values["statutory_unit"]
    if not matter.faq and values["faq"]:
        matter.faq = values["faq"]
    if not matter.materials:
        matter.materials = [Material(**row) for row in material_values(entry)]


def _windows(session: Session, hall: Hall, queues: dict[str, Queue]) -> None:
    numbers = set(session.scalars(sa.select(Window.number).where(Window.hall_id == hall.id)))
    new = [
        (number, wname, prefixes) for number, wname, prefixes in WINDOWS if number not in numbers
    ]
    if not new:
        return
    session.execute(
        sa.insert(Window),
        [
            {"hall_id": hall.id, "number": number, "name": wname, "status": "closed"}
            for number, wname, _prefixes in new
        ],
    )
    ids = dict(
        session.execute(
            sa.select(Window.number, Window.id).where(
                Window.hall_id == hall.id, Window.number.in_([number for number, *_ in new])
            )
        ).all()
    )
    session.execute(
        sa.insert(WindowQueue),
        [
            {"window_id": ids[number], "queue_id": queues[prefix].id, "position": position}
            for number, _wname, prefixes in new
            for position, prefix in enumerate(prefixes)
        ],
    )


def _staff(session: Session, hall: Hall) -> dict[str, str]:
    usernames = [username for username, *_rest in STAFF]
    taken = set(session.scalars(sa.select(User.username).where(User.username.in_(usernames))))
    passwords, rows = {}, []
    for username, display, job, role in STAFF:
        if username in taken:
            continue
        passwords[username] = secrets.token_urlsafe(9)
        user = User(username=username, display_name=display, job_number=job, role=role)
        set_password(user, passwords[username])
        rows.append(
            {
                "username": username,
                "display_name": display,
                "job_number": job,
                "role": role,
                "password_hash": user.password_hash,
                "hall_id": hall.id,
                "active": True,
            }
        )
    if rows:
        session.execute(sa.insert(User), rows)
    return passwords
