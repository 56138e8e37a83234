"""Retention (hall.domain.retention): the personal fields of old closed cases are blanked,
open and paused cases and recent ones are kept, the rates and reports give the same numbers
before and after; dry runs change nothing; `hall data erase-personal`; the sweeper's daily hook.

The erasure itself (one set-based UPDATE) runs on both databases; the command and the sweeper
on SQLite only."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from hall.cli import main
from hall.domain import cases, rates, retention, rollover
from hall.domain import report_export as files
from hall.domain.cases import OutcomeInput
from hall.domain.rollover import Sweeper
from hall.extensions import db
from hall.models import AuditEvent, Case, Hall
from tests.conftest import dispose, load_demo, make_app, open_windows
from tests.test_cases import accepted, actor_of, record

BEFORE = date(2024, 6, 1)
PHONE = "13800000000"


def at(day: str, hour: int = 3) -> datetime:
    """An instant during the hall's working hours (Shanghai) on that day."""
    return datetime.fromisoformat(day).replace(hour=hour, tzinfo=UTC)


def person(name: str) -> dict:
    return {"applicant_name": name, "applicant_phone": PHONE}


def build(session) -> dict[str, int]:
    """Cases of every kind before and after BEFORE, each with an applicant; {name: case id}."""
    actor = actor_of(session)
    made: dict[str, int] = {}

    def one(item: OutcomeInput, day: str) -> Case:
        (case,) = record(session, item, now=at(day))
        made[item.applicant_name] = case.id
        return case

    one(OutcomeInput("GA-004", "on_the_spot", **person("老甲")), "2024-03-05")
    done = one(accepted(**person("老乙")), "2024-03-05")
    one(accepted(**person("老丙")), "2024-03-06")  # still open
    paused = one(accepted(**person("老丁")), "2024-03-06")
    one(
        OutcomeInput(
            "GA-001", "correction", missing_materials=[{"name": "照片"}], **person("老戊")
        ),
        "2024-03-07",
    )
    one(
        OutcomeInput("GA-002", "rejected", reason="不属于本机关职权范围", **person("老己")),
        "2024-03-07",
    )
    one(OutcomeInput("GA-007", "consultation", **person("老庚")), "2024-03-08")
    late = one(accepted(**person("老辛")), "2024-05-27")  # completed after BEFORE
    one(OutcomeInput("GA-004", "on_the_spot", **person("新甲")), "2024-06-05")
    cases.complete(session, done.id, actor=actor, result="已办结", now=at("2024-03-08"))
    cases.complete(session, late.id, actor=actor, result="已办结", now=at("2024-06-03"))
    cases.pause(session, paused.id, kind="special", reason="鉴定", actor=actor, on=date(2024, 3, 8))
    session.commit()
    return made


ERASED = {"老甲", "老乙", "老戊", "老己", "老庚"}
KEPT = {"老丙", "老丁", "老辛", "新甲"}


def people(session) -> dict[int, tuple[str, str]]:
    return {
        row.id: (row.applicant_name, row.applicant_phone)
        for row in session.execute(sa.select(Case.id, Case.applicant_name, Case.applicant_phone))
    }


def numbers(session) -> tuple:
    """Every figure the statistics show for 2024, by each grouping."""
    hall = session.scalar(sa.select(Hall).where(Hall.code == "demo"))
    today = date(2024, 12, 31)
    figures = []
    for group in (None, "window", "matter", "staff", "month"):
        rows = rates.compute(
            session, start=date(2024, 1, 1), end=today, group=group, hall_id=hall.id, today=today
        )
        figures.append([rates.rate_dict(row) for row in rows])
    for group in ("window", "matter", "staff", "month"):
        data = files.report_for(
            session, hall, start=date(2024, 1, 1), end=today, group=group, today=today
        )
        figures.append({key: value for key, value in data.items() if key != "generated"})
    session.rollback()
    return figures


@pytest.fixture
def built(app, demo):
    open_windows(app, 3)
    with app.app_context():
        made = build(db.session)
    return made


def test_old_closed_cases_lose_their_applicant_and_the_numbers_stay(app, built):
    with app.app_context():
        session = db.session
        before_numbers = numbers(session)
        assert before_numbers[0][0]["handled"] == 6  # 当场办结 and 受理 (2 + 4)
        result = retention.erase_personal_data(session, BEFORE)
        session.commit()
        assert result["cases"] == len(ERASED)
        assert result["dry_run"] is False
        assert result["fields"] == ["cases.applicant_name", "cases.applicant_phone"]
        now = people(session)
        for name, case_id in built.items():
            if name in ERASED:
                assert now[case_id] == ("", ""), name
            else:
                assert now[case_id] == (name, PHONE), name
        # open and paused cases keep their applicant whatever their age
        states = dict(session.execute(sa.select(Case.id, Case.status)).all())
        assert states[built["老丙"]] == "open" and states[built["老丁"]] == "paused"
        assert numbers(session) == before_numbers
        # everything the statistics read is untouched
        row = session.get(Case, built["老乙"])
        assert (row.outcome, row.status, row.timing) == ("accepted", "completed", "early")
        assert row.completed_on == date(2024, 3, 8) and row.number
        # one audit row with the counts
        audit = session.scalars(
            sa.select(AuditEvent).where(AuditEvent.action == "retention.erase")
        ).all()
        assert len(audit) == 1
        assert "before=2024-06-01" in audit[0].detail and "cases=5" in audit[0].detail
        # a second run finds nothing left
        assert retention.erase_personal_data(session, BEFORE)["cases"] == 0
        session.rollback()


def test_a_dry_run_counts_and_changes_nothing(app, built):
    with app.app_context():
        session = db.session
        before = people(session)
        result = retention.erase_personal_data(session, BEFORE, dry_run=True)
        session.commit()
        assert result["cases"] == len(ERASED) and result["dry_run"] is True
        assert people(session) == before
        assert not session.scalar(
            sa.select(sa.func.count()).where(AuditEvent.action == "retention.erase")
        )
        assert retention.count_personal_data(session, BEFORE) == len(ERASED)


# ---------------------------------------------------------------- SQLite only: CLI, sweeper


@pytest.fixture
def lite(sqlite_url):
    application = make_app(sqlite_url)
    load_demo(application)
    open_windows(application, 3)
    with application.app_context():
        made = build(db.session)
    yield application, made
    dispose(application)


def run(application, *args):
    return CliRunner().invoke(main, list(args), obj=_script_info(application))


def _script_info(application):
    from flask.cli import ScriptInfo

    return ScriptInfo(create_app=lambda: application)


def test_the_command_erases_with_before_or_days_and_dry_run(lite):
    application, made = lite
    result = run(application, "data", "erase-personal", "--before", "2024-06-01", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "5" in result.output and "dry run" in result.output
    with application.app_context():
        assert people(db.session)[made["老甲"]] == ("老甲", PHONE)
    result = run(application, "data", "erase-personal", "--before", "2024-03-07")
    assert result.exit_code == 0, result.output
    with application.app_context():
        now = people(db.session)
        # closed before 2024-03-07: 老甲 (03-05) and 老乙 is completed 03-08: kept
        assert now[made["老甲"]] == ("", "")
        assert now[made["老乙"]] == ("老乙", PHONE)
        detail = db.session.scalar(
            sa.select(AuditEvent.detail).where(AuditEvent.action == "retention.erase")
        )
        assert "cases=1" in detail and "via=cli" in detail
    # old enough for everything but the open, paused and recent ones
    result = run(application, "data", "erase-personal", "--older-than-days", "30")
    assert result.exit_code == 0, result.output
    with application.app_context():
        now = people(db.session)
        assert {name for name, i in made.items() if now[i] == ("", "")} == ERASED | {
            "老辛",
            "新甲",
        }
    bad = run(application, "data", "erase-personal")
    assert bad.exit_code == 2 and "HALL_RETENTION_DAYS" in bad.output
    assert run(application, "data", "erase-personal", "--before", "2024-13-01").exit_code == 2
    both = run(
        application, "data", "erase-personal", "--before", "2024-01-01", "--older-than-days", "3"
    )
    assert both.exit_code == 2
    assert run(application, "data", "erase-personal", "--older-than-days", "0").exit_code == 2


def test_the_command_uses_the_setting_by_default(lite):
    application, made = lite
    application.config["HALL_RETENTION_DAYS"] = 100_000  # older than anything here
    result = run(application, "data", "erase-personal")
    assert result.exit_code == 0, result.output
    assert "0" in result.output
    with application.app_context():
        assert people(db.session)[made["老甲"]] == ("老甲", PHONE)


def test_the_sweeper_erases_once_a_day_and_only_when_set(lite, monkeypatch):
    application, made = lite
    sweeper = Sweeper(application)
    noon = datetime(2024, 6, 10, 4, 0, tzinfo=UTC)  # 12:00 in Shanghai
    with application.app_context():
        session = db.session
        application.config["HALL_RETENTION_DAYS"] = 0
        assert sweeper.run_retention(session, noon) is None  # keep forever
        application.config["HALL_RETENTION_DAYS"] = 9  # 2024-06-01
        first = sweeper.run_retention(session, noon)
        assert first["cases"] == len(ERASED) and first["before"] == "2024-06-01"
        assert sweeper.run_retention(session, noon.replace(hour=9)) is None  # same day
        assert people(session)[made["老辛"]] == ("老辛", PHONE)
        # the next day it runs again (a count only: nothing new to erase, no audit row)
        again = sweeper.run_retention(session, datetime(2024, 6, 11, 4, tzinfo=UTC))
        assert again["cases"] == 0
        assert (
            session.scalar(sa.select(sa.func.count()).where(AuditEvent.action == "retention.erase"))
            == 1
        )
        session.rollback()
    # run_once calls it (the rollover and rollups stubbed: they log nothing)
    calls = []
    monkeypatch.setattr(Sweeper, "run_retention", lambda self, session: calls.append(1))
    monkeypatch.setattr(rollover, "sweep", lambda session: {})
    monkeypatch.setattr(rollover, "rollup_reports", lambda session: {})
    sweeper.run_once()
    assert calls == [1]


def test_the_setting_is_read_from_the_environment(monkeypatch):
    from hall.config import from_environment

    monkeypatch.delenv("HALL_RETENTION_DAYS", raising=False)
    assert from_environment()["HALL_RETENTION_DAYS"] == 0
    monkeypatch.setenv("HALL_RETENTION_DAYS", "1095")
    assert from_environment()["HALL_RETENTION_DAYS"] == 1095
