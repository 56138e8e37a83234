"""Cases (办件): the outcome a counter records for each matter handled at a visit, and the
life of an accepted case — pauses (补正、特别程序), resumption, completion (DOMAIN.md "Cases",
"Deadlines").

Outcome → case, per the table in `hall.models.cases`:

- 当场办结 `on_the_spot`: completed at once (completed_at = accepted_at), no due date, no
  timing; allowed for every kind of matter.
- 受理 `accepted`: open with a due date = the matter's promised limit counted after the
  acceptance day. Only matters that have a limit: an immediate matter (即办件, promised
  limit 0) is done on the spot, corrected, refused or only advised — never accepted.
- 补正 `correction`: closed, with the one-time notice (一次性告知) listing everything missing:
  at least one missing material.
- 不予受理 `rejected`: closed, with the written reason (required).
- 咨询 `consultation`: closed; no case number.

Every case but a consultation gets a readable number `<HALL>-<YYYYMMDD>-<NNNN>` (hall-local
date) from one atomic upsert of the hall's day counter, and every case a verification token.

Pause days (行政许可法 §45): pausing on day P stops the clock from P on; resuming on day R
counts R again. The days P … R−1 are not counted (stored as `started_on` = P,
`ended_on` = R − 1; resuming on P itself leaves an empty pause, `ended_on` = P − 1). While a
case is paused its due date is unknown (`due_date` null); resuming computes it again.

Who: every change is recorded as an AuditEvent. Staff act on cases of their own hall that
they recorded or that belong to the window they are signed in to; managers and admins on
any case of their hall (every hall when they are bound to none).
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload, object_session, selectinload

from hall.domain.board import iso, service_day
from hall.domain.errors import Conflict, Forbidden, Invalid, NotFound
from hall.domain.tickets import Actor
from hall.domain.workdays import Calendar, Pause
from hall.models import (
    LIMIT_UNITS,
    MATTER_KINDS,
    OUTCOMES,
    PAUSE_KINDS,
    AuditEvent,
    Case,
    CaseCounter,
    CasePause,
    Hall,
    Matter,
    Ticket,
    User,
    Window,
    utcnow,
)

MAX_OUTCOMES = 10  # matters recorded at one finish; a visit handles two or three
MAX_MATERIALS = 50  # entries in a list of materials (received or missing)
MATERIAL_NAME_MAX = 300
MATERIAL_NOTE_MAX = 500
NAME_MAX = 100
PHONE_MAX = 30
TEXT_MAX = 2000  # a reason (不予受理, pause) or a result (办理结果)
DEFAULT_ZONE = "Asia/Shanghai"  # "today" of a query that spans every hall

# the status a case starts in, by outcome (hall.models.cases)
OUTCOME_STATUS = {
    "on_the_spot": "completed",
    "accepted": "open",
    "correction": "closed",
    "rejected": "closed",
    "consultation": "closed",
}
OUTCOMES_EN = {
    "on_the_spot": "completed on the spot",
    "accepted": "accepted",
    "correction": "incomplete materials",
    "rejected": "not accepted",
    "consultation": "consultation",
}
# deadline_state → the colour counters and managers see (DOMAIN.md "Rates": yellow, red)
DEADLINE_COLOURS = {"none": None, "ok": "green", "soon": "yellow", "overdue": "red"}
DEADLINE_LABELS = {"none": "", "ok": "未到期", "soon": "即将到期", "overdue": "逾期"}
ACTIVE_STATUSES = ("open", "paused")
CASE_STATUS_FILTERS = ("open", "paused", "completed", "closed")

_PHONE = re.compile(r"[0-9+\-() ]*")


@dataclass
class OutcomeInput:
    """What the counter records for one matter handled at a visit."""

    matter_code: str
    outcome: str  # on_the_spot | accepted | correction | rejected | consultation
    applicant_name: str = ""
    applicant_phone: str = ""
    materials_received: list[dict] = field(default_factory=list)  # [{"name": …, "note": …}]
    missing_materials: list[dict] = field(default_factory=list)  # 补正: everything missing
    reason: str = ""  # 不予受理: the required written reason


# ---------------------------------------------------------------- masking


def mask_name(name: str) -> str:
    """A name as shown to others: 张三→张*, 张小三→张*三, 欧阳小明→欧**明."""
    name = (name or "").strip()
    if len(name) <= 1:
        return "*" * len(name)
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def _mask_middle(value: str, shortest: int) -> str:
    """The first 3 and the last 4 characters kept when the value has at least `shortest`;
    a shorter one keeps at most its last 2."""
    value = (value or "").strip()
    if len(value) >= shortest:
        return value[:3] + "*" * (len(value) - 7) + value[-4:]
    if len(value) > 2:
        return "*" * (len(value) - 2) + value[-2:]
    return "*" * len(value)


def mask_phone(phone: str) -> str:
    """A phone number as shown to others: 13800000000 → 138****0000."""
    return _mask_middle(phone, 7)


def mask_id_number(number: str) -> str:
    """An ID number (居民身份证号码) as shown to others: the first 3 and the last 4 kept,
    110101199001011234 → 110***********1234; short ones keep at most their last 2."""
    return _mask_middle(number, 8)


# ---------------------------------------------------------------- input


def _bad(index: int, name: str, problem: str, zh: str, en: str) -> Invalid:
    """A refused outcome: its index (0-based) in the list, the field and why."""
    return Invalid(
        "bad_outcome",
        f"第 {index + 1} 项办理结果：{zh}",
        f"Outcome {index + 1}: {en}",
        index=index,
        field=name,
        problem=problem,
    )


def _text_value(index: int, item: dict, name: str) -> str:
    value = item.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise _bad(index, name, "not_text", f"{name} 应为文字", f"{name} must be a string")
    return value


def _list_value(index: int, item: dict, name: str) -> list:
    value = item.get(name)
    if value is None:
        return []
    if not isinstance(value, list):
        raise _bad(index, name, "not_a_list", f"{name} 应为列表", f"{name} must be a list")
    return value


def outcomes_from_json(value) -> list[OutcomeInput]:
    """The "outcomes" of a finish request, checked for shape (a list of objects with a
    `matter` code and an `outcome`); the rules are checked by `record_outcomes`."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise Invalid("bad_field", "outcomes 应为列表", "outcomes must be a list", field="outcomes")
    if len(value) > MAX_OUTCOMES:
        raise _too_many()
    result = []
    for index, item in enumerate(value):
        if not isinstance(item, dict):
            raise _bad(
                index, "", "not_an_object", "应为 JSON 对象", "each outcome must be an object"
            )
        result.append(
            OutcomeInput(
                matter_code=_text_value(index, item, "matter"),
                outcome=_text_value(index, item, "outcome"),
                applicant_name=_text_value(index, item, "applicant_name"),
                applicant_phone=_text_value(index, item, "applicant_phone"),
                materials_received=_list_value(index, item, "materials_received"),
                missing_materials=_list_value(index, item, "missing_materials"),
                reason=_text_value(index, item, "reason"),
            )
        )
    return result


def _too_many() -> Invalid:
    return Invalid(
        "too_many_outcomes",
        f"一次最多登记 {MAX_OUTCOMES} 项办理结果",
        f"At most {MAX_OUTCOMES} outcomes can be recorded at once",
        limit=MAX_OUTCOMES,
    )


def _materials(index: int, name: str, entries) -> list[dict]:
    """A list of materials as stored: [{"name": …, "note": …}]; a plain string is a name."""
    if not isinstance(entries, list):
        raise _bad(index, name, "not_a_list", f"{name} 应为列表", f"{name} must be a list")
    if len(entries) > MAX_MATERIALS:
        raise _bad(
            index,
            name,
            "too_many_materials",
            f"材料最多 {MAX_MATERIALS} 项",
            f"at most {MAX_MATERIALS} materials",
        )
    result = []
    for entry in entries:
        if isinstance(entry, str):
            entry = {"name": entry}
        label, note = (entry.get("name"), entry.get("note")) if isinstance(entry, dict) else (0, 0)
        note = "" if note is None else note
        if not isinstance(label, str) or not isinstance(note, str) or not label.strip():
            raise _bad(
                index,
                name,
                "bad_material",
                "每项材料应有名称（name）和可选的备注（note）",
                'each material needs a "name" and may have a "note"',
            )
        if len(label.strip()) > MATERIAL_NAME_MAX or len(note.strip()) > MATERIAL_NOTE_MAX:
            raise _bad(
                index,
                name,
                "material_too_long",
                f"材料名称最多 {MATERIAL_NAME_MAX} 字，备注最多 {MATERIAL_NOTE_MAX} 字",
                f"a material name is limited to {MATERIAL_NAME_MAX} characters, "
                f"a note to {MATERIAL_NOTE_MAX}",
            )
        result.append({"name": label.strip(), "note": note.strip()})
    return result


def _short(index: int, name: str, value, limit: int) -> str:
    if not isinstance(value, str):
        raise _bad(index, name, "not_text", f"{name} 应为文字", f"{name} must be a string")
    value = value.strip()
    if len(value) > limit:
        raise _bad(
            index,
            name,
            "too_long",
            f"{name} 最多 {limit} 个字符",
            f"{name} is limited to {limit} characters",
        )
    return value


def _checked(index: int, item, matters: dict[str, Matter]) -> tuple[OutcomeInput, Matter]:
    """One outcome checked against the rules (DOMAIN.md "Cases"), with its matter."""
    if not isinstance(item, OutcomeInput):
        raise _bad(index, "", "not_an_object", "格式不正确", "not an outcome")
    code = _short(index, "matter", item.matter_code, 64)
    if not code:
        raise _bad(index, "matter", "missing", "缺少事项编码", "the matter code is missing")
    matter = matters.get(code)
    if matter is None:
        raise _bad(
            index, "matter", "matter_not_found", f"没有编码为 {code} 的事项", f"no matter {code}"
        )
    if not matter.active:
        raise _bad(
            index,
            "matter",
            "matter_retired",
            f"事项 {code} 已停止办理",
            f"matter {code} is no longer handled",
        )
    outcome = item.outcome
    if not isinstance(outcome, str) or outcome not in OUTCOMES:
        raise _bad(
            index,
            "outcome",
            "unknown_outcome",
            "办理结果应为 on_the_spot、accepted、correction、rejected 或 consultation",
            "outcome must be on_the_spot, accepted, correction, rejected or consultation",
        )
    if outcome == "accepted" and (matter.kind == "immediate" or matter.promised_days < 1):
        raise _bad(
            index,
            "outcome",
            "immediate_matter",
            f"「{matter.name}」是即办件，没有承诺时限，应当场办结，不能受理后再办",
            f"“{matter.name}” is an immediate matter without a promised limit; "
            "it is completed on the spot, not accepted",
        )
    name = _short(index, "applicant_name", item.applicant_name, NAME_MAX)
    phone = _short(index, "applicant_phone", item.applicant_phone, PHONE_MAX)
    if not _PHONE.fullmatch(phone):
        raise _bad(
            index,
            "applicant_phone",
            "bad_phone",
            "电话号码只能包含数字、空格和 + - ( )",
            "a phone number may hold digits, spaces and + - ( )",
        )
    received = _materials(index, "materials_received", item.materials_received)
    missing = _materials(index, "missing_materials", item.missing_materials)
    reason = _short(index, "reason", item.reason, TEXT_MAX)
    if outcome == "correction" and not missing:
        raise _bad(
            index,
            "missing_materials",
            "missing_materials_required",
            "补正须一次性列出全部缺少的材料",
            "an incomplete-materials notice must list every missing material",
        )
    if outcome == "rejected" and not reason:
        raise _bad(
            index,
            "reason",
            "reason_required",
            "不予受理须写明理由",
            "a refusal needs a written reason",
        )
    clean = replace(
        item,
        matter_code=code,
        applicant_name=name,
        applicant_phone=phone,
        materials_received=received,
        missing_materials=missing,
        reason=reason,
    )
    return clean, matter


# ---------------------------------------------------------------- numbers

_CC = CaseCounter.__table__
_TAKE_NUMBER: dict[str, sa.Executable] = {}
NUMBER_PREFIX_MAX = 26  # Case.number is 40 characters: <prefix>-<YYYYMMDD>-<NNNN>


def _take_number_statement(dialect: str) -> sa.Executable:
    """INSERT … ON CONFLICT DO UPDATE SET last = last + 1 RETURNING last: one atomic
    statement that starts a hall's day at 1 or takes its next case number."""
    if dialect not in _TAKE_NUMBER:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert
        stmt = insert(_CC).values(hall_id=sa.bindparam("hall_id"), day=sa.bindparam("day"), last=1)
        _TAKE_NUMBER[dialect] = stmt.on_conflict_do_update(
            index_elements=[_CC.c.hall_id, _CC.c.day], set_={"last": _CC.c.last + 1}
        ).returning(_CC.c.last)
    return _TAKE_NUMBER[dialect]


def case_number(hall: Hall, day: date, serial: int) -> str:
    """The readable case number: DEMO-20260929-0001."""
    return f"{hall.code.upper()[:NUMBER_PREFIX_MAX]}-{day:%Y%m%d}-{serial:04d}"


def _next_number(session: Session, hall: Hall, day: date) -> str:
    """Atomically take the hall's next case number of a (hall-local) day."""
    stmt = _take_number_statement(session.get_bind().dialect.name)
    serial = session.execute(stmt, {"hall_id": hall.id, "day": day}).scalar_one()
    return case_number(hall, day, serial)


# ---------------------------------------------------------------- lookups


def get_case(session: Session, case_id: int, *, lock: bool = False) -> Case:
    """The case with this id (fresh, row-locked when asked), or NotFound."""
    case = session.get(
        Case, case_id, populate_existing=True, with_for_update={"of": Case} if lock else None
    )
    if case is None:
        raise NotFound("case_not_found", "没有这个办件", f"No case {case_id}")
    return case


def get_case_by_number(session: Session, number: str) -> Case:
    """The case with this number (DEMO-20260929-0001, any letter case), or NotFound."""
    number = (number or "").strip().upper()
    case = session.scalar(sa.select(Case).where(Case.number == number)) if number else None
    if case is None:
        raise NotFound("case_not_found", f"没有编号为 {number} 的办件", f"No case {number}")
    return case


def get_case_by_token(session: Session, token: str) -> Case:
    """The case behind a verification token (the QR code of its documents), or NotFound."""
    case = session.scalar(sa.select(Case).where(Case.verify_token == token)) if token else None
    if case is None:
        raise NotFound("case_not_found", "没有这个办件", "No such case")
    return case


# ---------------------------------------------------------------- who


def _check_hall(actor: Actor, hall_id: int) -> None:
    if actor.hall_id is not None and actor.hall_id != hall_id:
        raise Forbidden("other_hall", "无权操作其他大厅", "Not allowed for another hall")


def _staff_user(session: Session, actor: Actor) -> User | None:
    """The acting user when it is plain staff (managers, admins and devices: None)."""
    if actor.user_id is None:
        return None
    user = session.get(User, actor.user_id)
    return user if user is not None and user.role == "staff" else None


def _window_staff(session: Session, window_id: int | None) -> int | None:
    if window_id is None:
        return None
    return session.scalar(sa.select(Window.staff_id).where(Window.id == window_id))


def _authorise(session: Session, case: Case, actor: Actor) -> None:
    """Refuse an actor of another hall, and staff acting on someone else's case."""
    _check_hall(actor, case.hall_id)
    user = _staff_user(session, actor)
    if user is None or case.staff_id == user.id:
        return
    if _window_staff(session, case.window_id) == user.id:
        return
    raise Forbidden(
        "not_your_case",
        "只能办理本人登记或本人所在窗口的办件",
        "Staff may only act on their own cases or on those of the window they serve",
    )


# ---------------------------------------------------------------- recording


def _audit(session: Session, case: Case, action: str, actor: Actor, detail: str = "") -> None:
    label = case.number or f"#{case.id}"
    session.add(
        AuditEvent(
            hall_id=case.hall_id,
            user_id=actor.user_id,
            action=action,
            detail=f"case={label} {detail}".strip()[:500],
            at=utcnow(),
        )
    )


def record_outcomes(
    session: Session,
    ticket: Ticket,
    outcomes: list[OutcomeInput],
    *,
    actor: Actor,
    now: datetime | None = None,
) -> list[Case]:
    """Record one case per matter handled on a just-finished ticket (当场办结、受理、补正、
    不予受理、咨询). All are checked before any is written; a refused outcome raises Invalid
    naming its index, and the caller rolls back the whole finish."""
    outcomes = list(outcomes or [])
    if not outcomes:
        return []  # a finish without outcomes records nothing and checks nothing more
    if len(outcomes) > MAX_OUTCOMES:
        raise _too_many()
    _check_hall(actor, ticket.hall_id)
    if ticket.status != "finished":
        raise Conflict(
            "ticket_not_finished",
            f"{ticket.label} 尚未办结，不能登记办理结果",
            f"{ticket.label} is not finished; outcomes are recorded at finish",
        )
    staff = _staff_user(session, actor)
    if staff is not None and staff.id not in (
        ticket.staff_id,
        _window_staff(session, ticket.window_id),
    ):
        raise Forbidden(
            "not_your_window",
            f"{ticket.label} 不是本人窗口办理的号，不能登记办理结果",
            f"{ticket.label} was not served at your window",
        )
    recorded = session.scalar(sa.select(Case.id).where(Case.ticket_id == ticket.id).limit(1))
    if recorded is not None:
        raise Conflict(
            "outcomes_recorded",
            f"{ticket.label} 的办理结果已经登记过",
            f"The outcomes of {ticket.label} are already recorded",
        )
    codes = {
        o.matter_code.strip()
        for o in outcomes
        if isinstance(o, OutcomeInput) and isinstance(o.matter_code, str)
    } - {""}
    matters = {m.code: m for m in session.scalars(sa.select(Matter).where(Matter.code.in_(codes)))}
    checked = [_checked(index, item, matters) for index, item in enumerate(outcomes)]

    hall = session.get(Hall, ticket.hall_id)
    now = now or utcnow()
    day = service_day(hall, now)
    calendar = Calendar(session, hall.id)
    cases = []
    for item, matter in checked:
        case = Case(
            number=None if item.outcome == "consultation" else _next_number(session, hall, day),
            verify_token=secrets.token_urlsafe(32),
            hall_id=hall.id,
            ticket_id=ticket.id,
            matter_id=matter.id,
            window_id=ticket.window_id,
            staff_id=actor.user_id if actor.user_id is not None else ticket.staff_id,
            outcome=item.outcome,
            status=OUTCOME_STATUS[item.outcome],
            kind=matter.kind,
            limit_days=matter.promised_days,
            limit_unit=matter.promised_unit,
            applicant_name=item.applicant_name,
            applicant_phone=item.applicant_phone,
            materials_received=item.materials_received,
            missing_materials=item.missing_materials,
            reason=item.reason,
            result="",
            accepted_at=now,
            accepted_on=day,
            pauses=[],
        )
        case.matter = matter
        case.hall = hall
        if item.outcome == "accepted":
            case.due_date = calendar.due_date(day, matter.promised_days, matter.promised_unit)
        if item.outcome == "on_the_spot":
            case.completed_at = now
            case.completed_on = day
            case.completed_by_id = actor.user_id
        session.add(case)
        cases.append(case)
    session.flush()
    for case in cases:
        _audit(
            session,
            case,
            "case.recorded",
            actor,
            f"outcome={case.outcome} matter={case.matter.code} ticket={ticket.label}",
        )
    return cases


# ---------------------------------------------------------------- an accepted case's life

ACTION_ZH = {"complete": "办结", "pause": "暂停计时", "resume": "恢复计时"}


def _refuse(case: Case, action: str) -> Conflict:
    """The state refusal of an action on a case, with its reason in zh and en."""
    label = case.number or f"#{case.id}"
    doing = ACTION_ZH[action]
    if case.status == "completed":
        return Conflict(
            "case_completed",
            f"该办件已办结（{label}），不能{doing}",
            f"Case {label} is already completed; cannot {action} it",
            status=case.status,
        )
    if case.outcome != "accepted":
        return Conflict(
            "not_accepted",
            f"该办件（{label}）的办理结果为「{case.outcome_label}」，未予受理，不能{doing}",
            f"Case {label} was {OUTCOMES_EN[case.outcome]}, not accepted; cannot {action} it",
            status=case.status,
        )
    if case.status == "paused":
        return Conflict(
            "case_paused",
            f"该办件（{label}）正在暂停计时" + ("" if action == "pause" else "，请先恢复计时"),
            f"Case {label} is paused" + ("" if action == "pause" else "; resume it first"),
            status=case.status,
        )
    return Conflict(
        "case_not_paused",
        f"该办件（{label}）没有暂停计时，不需要恢复",
        f"Case {label} is not paused",
        status=case.status,
    )


def _local_today(case: Case, today: date | None) -> date:
    return today if today is not None else service_day(case.hall)


def _day_arg(value, name: str) -> date:
    if isinstance(value, datetime) or not isinstance(value, date):
        raise Invalid("bad_field", f"{name} 应为日期", f"{name} must be a date", field=name)
    return value


def _pauses(case: Case) -> list[Pause]:
    return [Pause(p.started_on, p.ended_on) for p in case.pauses]


def _due_date(session: Session, case: Case, calendar: Calendar | None = None) -> date | None:
    calendar = calendar or Calendar(session, case.hall_id)
    return calendar.due_date(case.accepted_on, case.limit_days, case.limit_unit, _pauses(case))


def _reason(value: str, name: str = "reason", *, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise Invalid("bad_field", f"{name} 应为文字", f"{name} must be a string", field=name)
    value = value.strip()
    if required and not value:
        raise Invalid(
            "missing_field",
            "请写明暂停计时的原因",
            "Give the reason of the pause",
            field=name,
        )
    if len(value) > TEXT_MAX:
        raise Invalid(
            "bad_field",
            f"{name} 最多 {TEXT_MAX} 个字符",
            f"{name} is limited to {TEXT_MAX} characters",
            field=name,
        )
    return value


def pause(
    session: Session,
    case_id: int,
    *,
    kind: str,
    reason: str,
    actor: Actor,
    on: date | None = None,
    today: date | None = None,
) -> Case:
    """Stop the clock of an open accepted case (补正 waits, 听证/检验/检测/鉴定/专家评审): from
    `on` (default today, hall-local) the days are not counted until it is resumed."""
    case = get_case(session, case_id, lock=True)
    _authorise(session, case, actor)
    if case.outcome != "accepted" or case.status != "open":
        raise _refuse(case, "pause")
    if kind not in PAUSE_KINDS:
        raise Invalid(
            "bad_field",
            "暂停类型只能是 correction（补正材料）或 special（特别程序）",
            "kind must be correction or special",
            field="kind",
        )
    reason = _reason(reason)
    today = _local_today(case, today)
    on = today if on is None else _day_arg(on, "on")
    if on > today:
        raise Invalid(
            "bad_date", "暂停日期不能晚于今天", "A pause cannot start in the future", field="on"
        )
    earliest = case.accepted_on
    for earlier in case.pauses:
        if earlier.ended_on is not None:
            earliest = max(earliest, earlier.ended_on + timedelta(days=1))
    if on < earliest:
        raise Invalid(
            "bad_date",
            f"暂停日期不能早于 {earliest.isoformat()}（受理日或上次恢复计时的日期）",
            f"A pause cannot start before {earliest.isoformat()} "
            "(the acceptance day or the last resumption)",
            field="on",
        )
    if case.due_date is not None and on > case.due_date:
        raise Conflict(
            "case_overdue",
            f"该办件已超过办结期限（{case.due_date.isoformat()}），不能再暂停计时",
            f"The case is past its due date ({case.due_date.isoformat()}); it cannot be paused",
            due_date=case.due_date.isoformat(),
        )
    case.pauses.append(
        CasePause(kind=kind, reason=reason, started_on=on, started_by_id=actor.user_id)
    )
    case.status = "paused"
    case.due_date = None  # unknown while the clock is stopped
    session.flush()
    _audit(session, case, "case.paused", actor, f"kind={kind} from={on.isoformat()}")
    return case


def resume(
    session: Session,
    case_id: int,
    *,
    actor: Actor,
    on: date | None = None,
    today: date | None = None,
) -> Case:
    """Restart the clock of a paused case on day `on` (default today, hall-local), which is
    counted again, and compute its due date anew."""
    case = get_case(session, case_id, lock=True)
    _authorise(session, case, actor)
    open_pauses = [p for p in case.pauses if p.ended_on is None]
    if case.status != "paused" or not open_pauses:
        raise _refuse(case, "resume")
    current = open_pauses[-1]
    today = _local_today(case, today)
    on = today if on is None else _day_arg(on, "on")
    if on > today:
        raise Invalid(
            "bad_date", "恢复日期不能晚于今天", "A pause cannot end in the future", field="on"
        )
    if on < current.started_on:
        raise Invalid(
            "bad_date",
            f"恢复日期不能早于暂停开始的日期 {current.started_on.isoformat()}",
            f"A pause cannot end before it started ({current.started_on.isoformat()})",
            field="on",
        )
    current.ended_on = on - timedelta(days=1)
    current.ended_by_id = actor.user_id
    case.status = "open"
    case.due_date = _due_date(session, case)
    session.flush()
    _audit(
        session,
        case,
        "case.resumed",
        actor,
        f"on={on.isoformat()} due={case.due_date.isoformat() if case.due_date else ''}",
    )
    return case


def complete(
    session: Session,
    case_id: int,
    *,
    actor: Actor,
    result: str = "",
    now: datetime | None = None,
) -> Case:
    """Complete an open accepted case (办结) and record whether it was early, on time or late
    against its due date (the hall's local dates)."""
    case = get_case(session, case_id, lock=True)
    _authorise(session, case, actor)
    if case.outcome != "accepted" or case.status != "open":
        raise _refuse(case, "complete")
    result = _reason(result, "result", required=False)
    if case.due_date is None:
        raise Conflict(
            "no_due_date",
            "该办件没有办结期限，不能办结",
            "This case has no due date; it cannot be completed",
        )
    now = now or utcnow()
    if now < case.accepted_at:
        raise Invalid(
            "bad_time",
            "办结时间不能早于受理时间",
            "A case cannot be completed before it was accepted",
        )
    day = service_day(case.hall, now)
    case.status = "completed"
    case.completed_at = now
    case.completed_on = day
    case.completed_by_id = actor.user_id
    case.result = result
    case.timing = timing(day, case.due_date)
    session.flush()
    _audit(session, case, "case.completed", actor, f"timing={case.timing}")
    return case


def timing(completed_on: date, due: date) -> str:
    """早、按时、晚: early before the due date, on_time on it, late after it."""
    if completed_on < due:
        return "early"
    return "on_time" if completed_on == due else "late"


# ---------------------------------------------------------------- deadlines and lists


class _LibraryCalendar(Calendar):
    """The holiday library alone: for a case that is not in a session (no admin entries)."""

    def _load(self, start: date, end: date) -> None:
        return None


def _calendar_for(case: Case, calendar: Calendar | None) -> Calendar:
    if calendar is not None:
        return calendar
    session = object_session(case)
    return Calendar(session, case.hall_id) if session else _LibraryCalendar(None, case.hall_id)


def _deadline(
    case: Case, today: date, warn_days: int, calendar: Calendar | None
) -> tuple[str, int | None]:
    if case.status != "open" or case.due_date is None:
        return "none", None
    if today > case.due_date:
        left = -_calendar_for(case, calendar).working_days_between(case.due_date, today)
        return "overdue", left
    left = _calendar_for(case, calendar).working_days_between(today, case.due_date)
    return ("soon" if left <= warn_days else "ok"), left


def deadline_state(
    case: Case, today: date, warn_days: int, calendar: Calendar | None = None
) -> str:
    """ "none" (not open, or no due date), "ok", "soon" (yellow: at most `warn_days` working
    days left) or "overdue" (red: today is after the due date)."""
    return _deadline(case, today, warn_days, calendar)[0]


def _hall_today(session: Session, hall_id: int | None) -> date:
    hall = session.get(Hall, hall_id) if hall_id is not None else None
    if hall is not None:
        return service_day(hall)
    return utcnow().astimezone(ZoneInfo(DEFAULT_ZONE)).date()


CASE_LOADS = (
    joinedload(Case.hall),
    joinedload(Case.matter),
    joinedload(Case.window),
    joinedload(Case.staff),
    selectinload(Case.pauses),
)


def list_cases(
    session: Session,
    *,
    hall_id: int | None = None,
    window_id: int | None = None,
    staff_id: int | None = None,
    statuses: tuple[str, ...] | None = ACTIVE_STATUSES,
    overdue: bool = False,
    today: date | None = None,
    limit: int | None = None,
) -> list[Case]:
    """Cases by hall, window, staff and status (None: every status); `overdue`: open cases
    past their due date. Open and paused cases come due first; others newest first."""
    stmt = sa.select(Case).options(*CASE_LOADS)
    if hall_id is not None:
        stmt = stmt.where(Case.hall_id == hall_id)
    if window_id is not None:
        stmt = stmt.where(Case.window_id == window_id)
    if staff_id is not None:
        stmt = stmt.where(Case.staff_id == staff_id)
    if statuses is not None:
        stmt = stmt.where(Case.status.in_(statuses))
    if overdue:
        today = today or _hall_today(session, hall_id)
        stmt = stmt.where(Case.status == "open", Case.due_date < today)
    if statuses is not None and set(statuses) <= set(ACTIVE_STATUSES):
        stmt = stmt.order_by(Case.due_date.is_(None), Case.due_date, Case.accepted_at, Case.id)
    else:
        stmt = stmt.order_by(Case.accepted_at.desc(), Case.id.desc())
    if limit is not None:
        stmt = stmt.limit(limit)
    return list(session.scalars(stmt).unique())


def open_cases(
    session: Session,
    *,
    hall_id: int | None = None,
    window_id: int | None = None,
    staff_id: int | None = None,
    overdue: bool = False,
    today: date | None = None,
) -> list[Case]:
    """Accepted cases still running (open or paused), due first; `overdue`: only open ones
    past their due date (逾期未办结) as of `today` (default: the hall's local date)."""
    return list_cases(
        session,
        hall_id=hall_id,
        window_id=window_id,
        staff_id=staff_id,
        statuses=ACTIVE_STATUSES,
        overdue=overdue,
        today=today,
    )


# ---------------------------------------------------------------- JSON


def _limit_label(days: int, unit: str) -> str:
    if not days:
        return "即办"
    return f"{days} 个{LIMIT_UNITS.get(unit, unit)}"


def case_dict(
    case: Case,
    *,
    today: date | None = None,
    warn_days: int = 2,
    masked: bool = True,
    calendar: Calendar | None = None,
) -> dict:
    """The JSON face of a case; the applicant's name and phone masked unless asked."""
    today = today if today is not None else service_day(case.hall)
    state, left = _deadline(case, today, warn_days, calendar)
    name, phone = case.applicant_name or "", case.applicant_phone or ""
    if masked:
        name, phone = mask_name(name), mask_phone(phone)
    staff = case.staff
    window = case.window
    return {
        "id": case.id,
        "number": case.number,
        "hall": case.hall.code,
        "ticket_id": case.ticket_id,
        "matter": {"code": case.matter.code, "name": case.matter.name},
        "window": window.number if window else None,
        "window_name": window.name if window else None,
        "staff": {"name": staff.display_name, "job_number": staff.job_number} if staff else None,
        "outcome": case.outcome,
        "outcome_label": case.outcome_label,
        "status": case.status,
        "status_label": case.status_label,
        "kind": case.kind,
        "kind_label": MATTER_KINDS.get(case.kind, case.kind),
        "limit": {
            "days": case.limit_days,
            "unit": case.limit_unit,
            "label": _limit_label(case.limit_days, case.limit_unit),
        },
        "applicant_name": name,
        "applicant_phone": phone,
        "materials_received": list(case.materials_received or []),
        "missing_materials": list(case.missing_materials or []),
        "reason": case.reason,
        "result": case.result,
        "accepted_at": iso(case.accepted_at),
        "accepted_on": case.accepted_on.isoformat(),
        "due_date": case.due_date.isoformat() if case.due_date else None,
        "completed_at": iso(case.completed_at),
        "completed_on": case.completed_on.isoformat() if case.completed_on else None,
        "timing": case.timing,
        "timing_label": case.timing_label,
        "pauses": [
            {
                "kind": p.kind,
                "kind_label": PAUSE_KINDS.get(p.kind, p.kind),
                "reason": p.reason,
                "started_on": p.started_on.isoformat(),
                "ended_on": p.ended_on.isoformat() if p.ended_on else None,
                "days": max(0, (p.ended_on - p.started_on).days + 1) if p.ended_on else None,
            }
            for p in case.pauses
        ],
        "deadline_state": state,
        "deadline_label": DEADLINE_LABELS[state],
        "colour": DEADLINE_COLOURS[state],
        "working_days_left": left,
    }
