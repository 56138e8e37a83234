"""Cases (办件): outcomes recorded at finish, case numbers, due dates over the real 2026
calendar, pauses, completion timing, deadline colours and masking.

Numbers, transactions and list queries run on both databases (`app`); the state machine and
the date arithmetic run on SQLite only, and pure logic without a database."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa

from hall.domain import cases, tickets
from hall.domain.cases import OutcomeInput
from hall.domain.errors import Conflict, Forbidden, Invalid, NotFound
from hall.domain.tickets import Actor
from hall.extensions import db
from hall.models import AuditEvent, Case, CaseCounter, Hall, Matter, User, Window
from tests.conftest import dispose, load_demo, make_app, open_windows

# 10:00 in Shanghai on Tuesday 2026-09-29, the day before National Day's eve
SEPT_29 = datetime(2026, 9, 29, 2, 0, tzinfo=UTC)


def at(day: str, hour: int = 3) -> datetime:
    """An instant during the hall's working hours (Shanghai) on that day."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


@pytest.fixture
def sqlite_app(sqlite_url):
    """The demo hall on SQLite only: for the state machine and date arithmetic."""
    application = make_app(sqlite_url)
    load_demo(application)
    yield application
    dispose(application)


@pytest.fixture
def sq(sqlite_app):
    """A session on the SQLite demo hall."""
    with sqlite_app.app_context():
        yield db.session
        db.session.rollback()


def user(session, username: str) -> User:
    return session.scalar(sa.select(User).where(User.username == username))


def actor_of(session, username: str = "staff1") -> Actor:
    person = user(session, username)
    return Actor(user_id=person.id, hall_id=person.hall_id)


# the first queue each window of the demo hall serves
FIRST_QUEUE = {1: "A", 2: "A", 3: "B", 4: "C", 5: "D", 6: "E", 7: "F", 8: "G"}


def finished_ticket(session, window: int = 3, username: str = "staff1"):
    """A ticket issued, called at the window and finished there (not committed)."""
    actor = actor_of(session, username)
    ticket = tickets.issue(session, "demo", queue_prefix=FIRST_QUEUE[window])
    called = tickets.call_next(session, "demo", window, actor=actor)
    assert called.id == ticket.id
    tickets.finish(session, ticket.id, window_number=window, actor=actor)
    tickets.take_events(session)
    return ticket


def record(session, *outcomes: OutcomeInput, now=SEPT_29, username="staff1", window=3):
    """Finish a fresh ticket with these outcomes and commit."""
    ticket = finished_ticket(session, window=window, username=username)
    recorded = cases.record_outcomes(
        session, ticket, list(outcomes), actor=actor_of(session, username), now=now
    )
    session.commit()
    return recorded


def accepted(code: str = "GA-003", **kw) -> OutcomeInput:
    """受理 of a 5-working-day matter (户口迁入) unless told otherwise."""
    return OutcomeInput(matter_code=code, outcome="accepted", **kw)


# ---------------------------------------------------------------- pure logic


@pytest.mark.parametrize(
    ("name", "masked"),
    [
        ("张三", "张*"),
        ("张小三", "张*三"),
        ("欧阳小明", "欧**明"),
        ("买买提·艾力", "买****力"),
        ("李", "*"),
        ("", ""),
        ("  王五  ", "王*"),
    ],
)
def test_names_are_masked_keeping_the_family_name_and_the_last_character(name, masked):
    assert cases.mask_name(name) == masked


@pytest.mark.parametrize(
    ("phone", "masked"),
    [
        ("13800000000", "138****0000"),
        ("0571-88886666", "057******6666"),
        ("12345", "***45"),
        ("", ""),
    ],
)
def test_phone_numbers_are_masked_in_the_middle(phone, masked):
    assert cases.mask_phone(phone) == masked


@pytest.mark.parametrize(
    ("completed", "timing"),
    [("2026-10-09", "early"), ("2026-10-12", "on_time"), ("2026-10-13", "late")],
)
def test_timing_compares_the_completion_day_with_the_due_date(completed, timing):
    assert cases.timing(date.fromisoformat(completed), date(2026, 10, 12)) == timing


def _transient(status="open", due=date(2026, 10, 12)) -> Case:
    return Case(outcome="accepted", status=status, due_date=due)


@pytest.mark.parametrize(
    ("today", "state", "left"),
    [
        ("2026-09-30", "ok", 4),  # 10-8, 10-9, Saturday 10-10 (调休), 10-12
        ("2026-10-08", "ok", 3),
        ("2026-10-09", "soon", 2),  # yellow: 2 working days left (10-10 is a working Saturday)
        ("2026-10-11", "soon", 1),  # Sunday
        ("2026-10-12", "soon", 0),  # the due date itself
        ("2026-10-13", "overdue", -1),  # red: after the due date
    ],
)
def test_deadline_state_turns_yellow_warn_days_before_and_red_after(today, state, left):
    case = _transient()
    assert cases.deadline_state(case, date.fromisoformat(today), 2) == state
    assert cases._deadline(case, date.fromisoformat(today), 2, None)[1] == left


def test_deadline_state_is_none_unless_the_case_is_running_with_a_due_date():
    today = date(2026, 10, 13)
    assert cases.deadline_state(_transient(status="completed"), today, 2) == "none"
    assert cases.deadline_state(_transient(status="paused", due=None), today, 2) == "none"
    assert cases.deadline_state(_transient(due=None), today, 2) == "none"
    assert cases.deadline_state(_transient(), date(2026, 10, 8), 3) == "soon"
    assert cases.deadline_state(_transient(), date(2026, 10, 8), 0) == "ok"


@pytest.mark.parametrize(
    ("value", "code", "index"),
    [
        ("GA-003", "bad_field", None),
        ([{"matter": "GA-003", "outcome": "accepted"}] * 11, "too_many_outcomes", None),
        ([{"matter": "GA-003", "outcome": "accepted"}, "GA-004"], "bad_outcome", 1),
        ([{"matter": 5, "outcome": "accepted"}], "bad_outcome", 0),
        ([{"matter": "GA-001", "outcome": "correction", "missing_materials": "照片"}], None, 0),
    ],
)
def test_the_shape_of_outcomes_is_checked_with_the_index_of_the_bad_one(value, code, index):
    with pytest.raises(Invalid) as refused:
        cases.outcomes_from_json(value)
    assert refused.value.code == (code or "bad_outcome")
    assert refused.value.detail.get("index") == index
    assert refused.value.zh and refused.value.en


def test_outcomes_from_json_maps_the_api_fields():
    (item,) = cases.outcomes_from_json(
        [
            {
                "matter": "GA-001",
                "outcome": "correction",
                "applicant_name": "张三",
                "missing_materials": ["照片", {"name": "户口簿", "note": "原件"}],
            }
        ]
    )
    assert item.matter_code == "GA-001" and item.applicant_name == "张三"
    assert item.missing_materials == ["照片", {"name": "户口簿", "note": "原件"}]
    assert cases.outcomes_from_json(None) == []


# ---------------------------------------------------------------- recording (both databases)


def test_each_outcome_makes_its_case_with_number_status_and_due_date(app, session, demo):
    open_windows(app, 3)
    recorded = record(
        session,
        OutcomeInput(
            "GA-004", "on_the_spot", applicant_name="张小三", applicant_phone="13800000000"
        ),
        accepted(materials_received=[{"name": "户口簿", "note": "原件"}, "照片"]),
        OutcomeInput("GA-001", "correction", missing_materials=[{"name": "照片"}]),
        OutcomeInput("GA-002", "rejected", reason="不属于本机关职权范围"),
        OutcomeInput("GA-007", "consultation"),
    )
    spot, acc, corr, rej, consult = recorded
    assert [c.number for c in recorded] == [
        "DEMO-20260929-0001",
        "DEMO-20260929-0002",
        "DEMO-20260929-0003",
        "DEMO-20260929-0004",
        None,
    ]
    assert [c.status for c in recorded] == ["completed", "open", "closed", "closed", "closed"]
    # 当场办结: completed at acceptance, no due date, no timing
    assert spot.completed_at == spot.accepted_at and spot.completed_on == date(2026, 9, 29)
    assert spot.due_date is None and spot.timing is None
    assert spot.applicant_name == "张小三"  # stored whole, shown masked
    # 受理: 5 working days after Tuesday 9-29 cross National Day and its make-up Saturday
    assert acc.due_date == date(2026, 10, 12)
    assert (acc.kind, acc.limit_days, acc.limit_unit) == ("promised", 5, "working")
    assert acc.materials_received == [
        {"name": "户口簿", "note": "原件"},
        {"name": "照片", "note": ""},
    ]
    assert corr.missing_materials == [{"name": "照片", "note": ""}] and corr.due_date is None
    assert rej.reason == "不属于本机关职权范围"
    assert consult.number is None
    staff1 = user(session, "staff1")
    window3 = session.scalar(sa.select(Window).where(Window.number == 3))
    for case in recorded:
        assert case.accepted_on == date(2026, 9, 29)
        assert case.staff_id == staff1.id and case.window_id == window3.id
        assert len(case.verify_token) >= 32  # ≥ 128 bits of secrets.token_urlsafe
    assert len({c.verify_token for c in recorded}) == 5
    audits = session.scalars(
        sa.select(AuditEvent.detail).where(AuditEvent.action == "case.recorded")
    ).all()
    assert len(audits) == 5 and all("张" not in d for d in audits)


def test_case_numbers_count_per_hall_day_without_gaps_after_a_rollback(app, session, demo):
    open_windows(app, 3)
    first = record(session, accepted(), accepted())
    # a transaction that took numbers and then failed gives them back
    ticket = finished_ticket(session)
    session.commit()
    cases.record_outcomes(session, ticket, [accepted()], actor=actor_of(session), now=SEPT_29)
    session.rollback()
    again = cases.record_outcomes(
        session, ticket, [accepted()], actor=actor_of(session), now=SEPT_29
    )
    session.commit()
    next_day = record(session, accepted(), now=at("2026-09-30"))
    assert [c.number[-4:] for c in first + again] == ["0001", "0002", "0003"]
    assert next_day[0].number == "DEMO-20260930-0001"
    hall = session.scalar(sa.select(Hall).where(Hall.code == "demo"))
    counters = session.execute(
        sa.select(CaseCounter.day, CaseCounter.last).where(CaseCounter.hall_id == hall.id)
    ).all()
    assert sorted(counters) == [(date(2026, 9, 29), 3), (date(2026, 9, 30), 1)]


def test_a_bad_outcome_among_good_ones_names_its_index_and_records_nothing(app, session, demo):
    open_windows(app, 3)
    ticket = finished_ticket(session)
    with pytest.raises(Invalid) as refused:
        cases.record_outcomes(
            session,
            ticket,
            [accepted(), OutcomeInput("GA-001", "correction")],
            actor=actor_of(session),
            now=SEPT_29,
        )
    err = refused.value
    assert err.code == "bad_outcome" and err.detail["index"] == 1
    assert err.detail["problem"] == "missing_materials_required"
    assert "第 2 项" in err.zh and "缺少的材料" in err.zh and "Outcome 2" in err.en
    session.rollback()
    assert session.scalar(sa.select(sa.func.count()).select_from(Case)) == 0
    assert session.scalar(sa.select(sa.func.count()).select_from(CaseCounter)) == 0


def test_open_cases_come_due_first_and_overdue_lists_only_open_ones_past_due(app, session, demo):
    open_windows(app, 3)
    open_windows(app, 4, username="staff2")
    late = record(session, accepted("GA-003"), now=at("2026-09-01"))[0]  # due 2026-09-08
    later = record(session, accepted("GA-007"), now=at("2026-09-01"))[0]  # 10 days: 09-15
    paused = record(session, accepted("GA-001"), now=at("2026-09-01"))[0]
    done = record(session, accepted("BD-002"), now=at("2026-09-01"))[0]
    other = record(session, accepted("RS-003"), now=at("2026-09-02"), username="staff2", window=4)[
        0
    ]
    record(session, OutcomeInput("GA-004", "on_the_spot"), now=at("2026-09-01"))
    actor = actor_of(session)
    cases.pause(session, paused.id, kind="special", reason="鉴定", actor=actor, on=date(2026, 9, 2))
    cases.complete(session, done.id, actor=actor, now=at("2026-09-03"))
    session.commit()
    hall = session.scalar(sa.select(Hall).where(Hall.code == "demo"))
    running = cases.open_cases(session, hall_id=hall.id)
    # due first: 09-08 (late), 09-09 (other: 5 days from 09-02), 09-15, then the paused one
    assert [c.id for c in running] == [late.id, other.id, later.id, paused.id]
    overdue = cases.open_cases(session, hall_id=hall.id, overdue=True, today=date(2026, 9, 10))
    assert [c.id for c in overdue] == [late.id, other.id]
    staff1 = user(session, "staff1")
    mine = cases.open_cases(session, staff_id=staff1.id, overdue=True, today=date(2026, 9, 9))
    assert [c.id for c in mine] == [late.id]
    window4 = session.scalar(sa.select(Window.id).where(Window.number == 4))
    assert [c.id for c in cases.open_cases(session, window_id=window4)] == [other.id]
    everything = cases.list_cases(session, hall_id=hall.id, statuses=None)
    assert len(everything) == 6 and everything[0].id == other.id  # newest first
    assert [c.id for c in cases.list_cases(session, statuses=("completed",))][-1] == done.id


# ---------------------------------------------------------------- rules (SQLite)


# (outcome, the problem named in the refusal, the field named, or None)
BROKEN_RULES = [
    (OutcomeInput("GA-004", "accepted"), "immediate_matter", "outcome"),
    (OutcomeInput("GA-001", "correction"), "missing_materials_required", "missing_materials"),
    (OutcomeInput("GA-001", "rejected", reason="   "), "reason_required", "reason"),
    (OutcomeInput("NOPE-1", "accepted"), "matter_not_found", "matter"),
    (OutcomeInput("", "accepted"), "missing", "matter"),
    (OutcomeInput("GA-001", "approved"), "unknown_outcome", "outcome"),
    (OutcomeInput("GA-001", ["accepted"]), "unknown_outcome", "outcome"),
    (OutcomeInput("GA-001", "accepted", applicant_phone="call me"), "bad_phone", None),
    (OutcomeInput("GA-001", "accepted", applicant_name="名" * 101), "too_long", None),
    (OutcomeInput("GA-001", "accepted", materials_received="照片"), "not_a_list", None),
    (
        OutcomeInput("GA-001", "accepted", materials_received=[{"note": "x"}]),
        "bad_material",
        None,
    ),
    (
        OutcomeInput("GA-001", "accepted", materials_received=["照"] * 51),
        "too_many_materials",
        None,
    ),
]


def test_outcomes_that_break_the_rules_are_refused(sqlite_app, sq):
    open_windows(sqlite_app, 3)
    ticket = finished_ticket(sq)
    sq.commit()
    for outcome, problem, field in BROKEN_RULES:
        with pytest.raises(Invalid) as refused:
            cases.record_outcomes(
                sq, ticket, [accepted(), outcome], actor=actor_of(sq), now=SEPT_29
            )
        detail = refused.value.detail
        assert (refused.value.code, detail["problem"], detail["index"]) == (
            "bad_outcome",
            problem,
            1,
        ), outcome
        assert field is None or detail["field"] == field
        sq.rollback()
    assert sq.scalar(sa.select(sa.func.count()).select_from(Case)) == 0


def test_a_retired_matter_and_more_than_ten_outcomes_are_refused(sqlite_app, sq):
    open_windows(sqlite_app, 3)
    ticket = finished_ticket(sq)
    with pytest.raises(Invalid) as many:
        cases.record_outcomes(sq, ticket, [accepted()] * 11, actor=actor_of(sq))
    assert many.value.code == "too_many_outcomes"
    sq.scalar(sa.select(Matter).where(Matter.code == "GA-003")).active = False
    with pytest.raises(Invalid) as retired:
        cases.record_outcomes(sq, ticket, [accepted()], actor=actor_of(sq))
    assert retired.value.detail["problem"] == "matter_retired"


def test_outcomes_are_recorded_once_for_a_finished_ticket_of_the_actors_window(sqlite_app, sq):
    open_windows(sqlite_app, 3)
    staff1 = actor_of(sq)
    waiting = tickets.issue(sq, "demo", queue_prefix="B")
    tickets.call_next(sq, "demo", 3, actor=staff1)
    with pytest.raises(Conflict) as unfinished:
        cases.record_outcomes(sq, waiting, [accepted()], actor=staff1)
    assert unfinished.value.code == "ticket_not_finished"
    tickets.finish(sq, waiting.id, window_number=3, actor=staff1)
    assert cases.record_outcomes(sq, waiting, [], actor=actor_of(sq, "staff2")) == []
    with pytest.raises(Forbidden) as elsewhere:
        cases.record_outcomes(sq, waiting, [accepted()], actor=actor_of(sq, "staff2"))
    assert elsewhere.value.code == "not_your_window"
    with pytest.raises(Forbidden):
        cases.record_outcomes(sq, waiting, [accepted()], actor=Actor(user_id=None, hall_id=999))
    # a manager of the hall may record for any window
    cases.record_outcomes(sq, waiting, [accepted()], actor=actor_of(sq, "manager"))
    with pytest.raises(Conflict) as twice:
        cases.record_outcomes(sq, waiting, [accepted()], actor=staff1)
    assert twice.value.code == "outcomes_recorded"


def test_due_dates_follow_the_2026_calendar_and_natural_day_limits(sqlite_app, sq):
    open_windows(sqlite_app, 3)
    # 2026-02-13 + 1 working day → Saturday 2026-02-14, a make-up working day (调休)
    (company,) = record(sq, accepted("SC-002"), now=at("2026-02-13"))
    assert company.due_date == date(2026, 2, 14)
    # 20 working days from 2026-02-13 over the Spring Festival → 2026-03-19 (DOMAIN.md)
    (card,) = record(sq, accepted("GA-001"), now=at("2026-02-13"))
    assert card.due_date == date(2026, 3, 19)
    # a natural-day limit ending inside National Day moves to the next working day
    sq.scalar(sa.select(Matter).where(Matter.code == "GA-003")).promised_unit = "natural"
    (natural,) = record(sq, accepted("GA-003"))
    assert natural.limit_unit == "natural" and natural.due_date == date(2026, 10, 8)
    # the hall's day: 16:30 UTC on 9-29 is already 9-30 in Shanghai
    (evening,) = record(sq, accepted("GA-003"), now=datetime(2026, 9, 29, 16, 30, tzinfo=UTC))
    assert evening.accepted_on == date(2026, 9, 30) and evening.number.startswith("DEMO-20260930")


# ---------------------------------------------------------------- life of a case (SQLite)


@pytest.mark.parametrize(
    ("completed", "timing"),
    [("2026-10-09", "early"), ("2026-10-12", "on_time"), ("2026-10-13", "late")],
)
def test_completion_is_early_on_time_or_late_against_the_due_date(
    sqlite_app, sq, completed, timing
):
    open_windows(sqlite_app, 3)
    (case,) = record(sq, accepted())
    assert case.due_date == date(2026, 10, 12)
    done = cases.complete(
        sq, case.id, actor=actor_of(sq), result="准予迁入，户口簿已更新", now=at(completed)
    )
    sq.commit()
    assert (done.status, done.timing, done.completed_on) == (
        "completed",
        timing,
        date.fromisoformat(completed),
    )
    assert done.completed_by_id == user(sq, "staff1").id and done.result.startswith("准予")
    assert sq.scalar(sa.select(AuditEvent.detail).where(AuditEvent.action == "case.completed"))


def test_pauses_extend_the_due_date_and_resuming_counts_from_the_resume_day(sqlite_app, sq):
    open_windows(sqlite_app, 3)
    actor = actor_of(sq)
    (case,) = record(sq, accepted())  # accepted 9-29, due 10-12
    today = date(2026, 11, 27)
    paused = cases.pause(
        sq,
        case.id,
        kind="correction",
        reason="补正户口簿",
        actor=actor,
        on=date(2026, 9, 30),
        today=today,
    )
    assert paused.status == "paused" and paused.due_date is None
    assert cases.deadline_state(paused, date(2026, 9, 30), 2) == "none"
    # resumed on 10-09: 9-30 … 10-08 are not counted; 10-09, 10-10 (Sat, 调休), 10-12,
    # 10-13, 10-14 are the five working days
    resumed = cases.resume(sq, case.id, actor=actor, on=date(2026, 10, 9), today=today)
    assert resumed.status == "open" and resumed.due_date == date(2026, 10, 14)
    (first,) = resumed.pauses
    assert (first.started_on, first.ended_on) == (date(2026, 9, 30), date(2026, 10, 8))
    # paused and resumed on the same day: no day is taken out
    cases.pause(
        sq,
        case.id,
        kind="special",
        reason="专家评审",
        actor=actor,
        on=date(2026, 10, 12),
        today=today,
    )
    same_day = cases.resume(sq, case.id, actor=actor, on=date(2026, 10, 12), today=today)
    assert same_day.due_date == date(2026, 10, 14)
    assert same_day.pauses[-1].ended_on == date(2026, 10, 11)
    # 10-13 and 10-14 paused: 10-15 and 10-16 finish the count
    cases.pause(
        sq, case.id, kind="special", reason="检测", actor=actor, on=date(2026, 10, 13), today=today
    )
    last = cases.resume(sq, case.id, actor=actor, on=date(2026, 10, 15), today=today)
    sq.commit()
    assert last.due_date == date(2026, 10, 16) and len(last.pauses) == 3
    view = cases.case_dict(last, today=date(2026, 10, 15))
    assert [p["days"] for p in view["pauses"]] == [9, 0, 2]
    actions = sq.scalars(sa.select(AuditEvent.action).where(AuditEvent.action.like("case.%")))
    assert sorted(actions) == ["case.paused"] * 3 + ["case.recorded"] + ["case.resumed"] * 3


def test_pause_and_resume_dates_must_make_sense(sqlite_app, sq):
    open_windows(sqlite_app, 3)
    actor = actor_of(sq)
    (case,) = record(sq, accepted())  # accepted 9-29, due 10-12
    today = date(2026, 10, 9)

    def refused(call, code="bad_date"):
        with pytest.raises((Invalid, Conflict)) as err:
            call()
        assert err.value.code == code, err.value.en
        sq.rollback()

    pause = cases.pause
    refused(lambda: pause(sq, case.id, kind="x", reason="r", actor=actor, today=today), "bad_field")
    refused(
        lambda: pause(sq, case.id, kind="special", reason=" ", actor=actor, today=today),
        "missing_field",
    )
    refused(
        lambda: pause(
            sq, case.id, kind="special", reason="r", actor=actor, on=date(2026, 9, 28), today=today
        )
    )
    refused(
        lambda: pause(
            sq, case.id, kind="special", reason="r", actor=actor, on=date(2026, 10, 10), today=today
        )
    )
    # past the due date the clock cannot be stopped any more (an overdue case stays visible)
    refused(
        lambda: pause(
            sq,
            case.id,
            kind="special",
            reason="r",
            actor=actor,
            on=date(2026, 10, 13),
            today=date(2026, 10, 20),
        ),
        "case_overdue",
    )
    pause(
        sq, case.id, kind="special", reason="听证", actor=actor, on=date(2026, 10, 8), today=today
    )
    sq.commit()
    refused(lambda: cases.resume(sq, case.id, actor=actor, on=date(2026, 10, 7), today=today))
    refused(lambda: cases.resume(sq, case.id, actor=actor, on=date(2026, 10, 10), today=today))
    cases.resume(sq, case.id, actor=actor, on=date(2026, 10, 9), today=today)
    sq.commit()
    # a new pause cannot start inside the last one
    refused(
        lambda: pause(
            sq, case.id, kind="special", reason="r", actor=actor, on=date(2026, 10, 8), today=today
        )
    )


def test_the_state_machine_refuses_actions_out_of_order(sqlite_app, sq):
    open_windows(sqlite_app, 3)
    actor = actor_of(sq)
    spot, acc, corr = record(
        sq,
        OutcomeInput("GA-004", "on_the_spot"),
        accepted(),
        OutcomeInput("GA-001", "correction", missing_materials=["照片"]),
    )

    def conflict(call, code):
        with pytest.raises(Conflict) as err:
            call()
        assert err.value.code == code and err.value.zh and err.value.en
        sq.rollback()
        return err.value

    completed = conflict(lambda: cases.complete(sq, spot.id, actor=actor), "case_completed")
    assert "该办件已办结" in completed.zh
    conflict(
        lambda: cases.pause(sq, corr.id, kind="special", reason="r", actor=actor), "not_accepted"
    )
    conflict(lambda: cases.complete(sq, corr.id, actor=actor), "not_accepted")
    conflict(lambda: cases.resume(sq, acc.id, actor=actor), "case_not_paused")
    cases.pause(sq, acc.id, kind="correction", reason="补正", actor=actor, on=date(2026, 9, 30))
    sq.commit()
    conflict(
        lambda: cases.pause(sq, acc.id, kind="special", reason="r", actor=actor), "case_paused"
    )
    paused = conflict(lambda: cases.complete(sq, acc.id, actor=actor), "case_paused")
    assert "请先恢复计时" in paused.zh
    cases.resume(sq, acc.id, actor=actor, on=date(2026, 10, 9))
    sq.commit()
    with pytest.raises(Invalid):
        cases.complete(sq, acc.id, actor=actor, result=5)
    sq.rollback()
    cases.complete(sq, acc.id, actor=actor, now=at("2026-10-13"))
    sq.commit()
    conflict(lambda: cases.complete(sq, acc.id, actor=actor), "case_completed")
    conflict(
        lambda: cases.pause(sq, acc.id, kind="special", reason="r", actor=actor), "case_completed"
    )


def test_staff_act_on_their_own_or_their_windows_cases_managers_on_any_of_the_hall(sqlite_app, sq):
    open_windows(sqlite_app, 3)
    (case,) = record(sq, accepted())
    with pytest.raises(Forbidden) as stranger:
        cases.pause(sq, case.id, kind="special", reason="r", actor=actor_of(sq, "staff2"))
    assert stranger.value.code == "not_your_case"
    sq.rollback()
    with pytest.raises(Forbidden) as other_hall:
        cases.complete(sq, case.id, actor=Actor(user_id=None, hall_id=case.hall_id + 1))
    assert other_hall.value.code == "other_hall"
    sq.rollback()
    # staff2 takes over window 3: the window's cases are theirs to finish
    open_windows(sqlite_app, 3, username="staff2")
    staff2, manager = actor_of(sq, "staff2"), actor_of(sq, "manager")
    cases.pause(sq, case.id, kind="special", reason="鉴定", actor=staff2, on=date(2026, 10, 9))
    cases.resume(sq, case.id, actor=manager, on=date(2026, 10, 12))  # due 10-12 → 10-14
    done = cases.complete(sq, case.id, actor=actor_of(sq, "admin"), now=at("2026-10-12"))
    assert (done.due_date, done.timing) == (date(2026, 10, 14), "early")


def test_cases_are_found_by_id_number_and_token_and_shown_masked(sqlite_app, sq):
    open_windows(sqlite_app, 3)
    (case,) = record(sq, accepted(applicant_name="欧阳小明", applicant_phone="13912345678"))
    assert cases.get_case(sq, case.id) is case
    assert cases.get_case_by_number(sq, case.number.lower()) is case
    assert cases.get_case_by_token(sq, case.verify_token) is case
    for lookup, key in (
        (cases.get_case, 999),
        (cases.get_case_by_number, "DEMO-20260929-9999"),
        (cases.get_case_by_token, "nope"),
        (cases.get_case_by_token, ""),
    ):
        with pytest.raises(NotFound):
            lookup(sq, key)
    view = cases.case_dict(case, today=date(2026, 10, 9), warn_days=2)
    assert view["applicant_name"] == "欧**明" and view["applicant_phone"] == "139****5678"
    assert "13912345678" not in str(view) and "欧阳小明" not in str(view)
    assert (view["deadline_state"], view["colour"], view["working_days_left"]) == (
        "soon",
        "yellow",
        2,
    )
    assert view["matter"]["code"] == "GA-003" and view["window"] == 3
    assert view["limit"] == {"days": 5, "unit": "working", "label": "5 个工作日"}
    assert re.fullmatch(r"DEMO-\d{8}-\d{4}", view["number"])
    assert "verify_token" not in view
    raw = cases.case_dict(case, today=date(2026, 10, 13), masked=False)
    assert raw["applicant_name"] == "欧阳小明" and raw["colour"] == "red"


def test_case_numbers_use_the_hall_code_in_capitals_and_fit_the_column():
    east = Hall(code="east-2", name="东街道便民服务中心", timezone="Asia/Shanghai")
    assert cases.case_number(east, date(2026, 9, 29), 7) == "EAST-2-20260929-0007"
    long = Hall(code="x" * 32, name="长编码", timezone="Asia/Shanghai")
    assert len(cases.case_number(long, date(2026, 9, 29), 9999)) <= 40
