"""Manager reports (hall.domain.reports, GET /api/v1/reports) against hand-computed tickets.

The tickets are inserted with the model on the demo hall (times hall-local, UTC+8); today is
2026-11-10. staff1 works window 3, staff2 window 4:

| ticket | day   | window | matter | issued | called   | started | finished | status   |
|--------|-------|--------|--------|--------|----------|---------|----------|----------|
| t1     | 11-02 | 3      | GA-001 | 09:00  | 09:02    | 09:03   | 09:13    | finished |
| t2     | 11-02 | 3      | GA-001 | 09:10  | 09:14:30 |         | 09:20:30 | finished |
| t3     | 11-02 | 3      | GA-001 | 10:05  | 10:15    |         |          | no_show  |
| t4     | 11-02 | 4      | RS-002 | 09:30  | 09:31    | 09:31   | 09:39    | finished |
| t5     | 11-02 | 4      | none   | 10:00  | 10:20    | 10:21   | 10:26    | finished |
| t6     | 11-02 | none   | GA-001 | 16:40  |          |         |          | waiting  |
| t7     | 11-03 | 3      | GA-001 | 09:00  | 09:03    | 09:03   | 09:09    | finished |

By hand, 11-02 to 11-03: issued 7, served 5, no-shows 1 → 过号率 1/6. Waits (s) 120 270 600
60 1200 180 → average 2430/6 s = 6.75 min; minutes rounded up 2 5 10 1 20 3 → p90 (rank
⌈0.9·6⌉ = 6) 20. Service (s) 600 360 480 300 360 → 2100/5 s = 7.0 min. Issued per hour: 9 h
4, 10 h 2, 16 h 1. Window 3: 4 issued, 3 served, 1 no-show (25%), waits 120 270 600 180 →
292.5 s = 4.9 min, p90 (rank 4) 10, service 1320/3 s = 7.3 min. Window 4: 2 issued, 2
served, 0%, waits 60 1200 → 10.5 min, p90 20, service 6.5 min.

Cases (for the merged rates): c1 window 3 GA-004 on the spot 11-02; c2 window 4 RS-002
accepted 11-02 due 11-05, still open → overdue on 11-10; c3 window 5 RS-002 on the spot 11-03
(a window with cases and no tickets).
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from hall.auth import create_token
from hall.domain import rates, reports
from hall.domain.errors import Invalid
from hall.extensions import db
from hall.models import Case, Hall, Matter, ReportPeriod, ReportTicketStat, Ticket, User
from tests.conftest import auth

TODAY = date(2026, 11, 10)
D2, D3 = date(2026, 11, 2), date(2026, 11, 3)
RANGE = {"start": D2, "end": D3, "today": TODAY}
_numbers = itertools.count(1)

TICKETS = [
    # day, window, matter, issued, called, started, finished, status
    (D2, 3, "GA-001", "09:00", "09:02", "09:03", "09:13", "finished"),
    (D2, 3, "GA-001", "09:10", "09:14:30", None, "09:20:30", "finished"),
    (D2, 3, "GA-001", "10:05", "10:15", None, None, "no_show"),
    (D2, 4, "RS-002", "09:30", "09:31", "09:31", "09:39", "finished"),
    (D2, 4, None, "10:00", "10:20", "10:21", "10:26", "finished"),
    (D2, None, "GA-001", "16:40", None, None, None, "waiting"),
    (D3, 3, "GA-001", "09:00", "09:03", "09:03", "09:09", "finished"),
]


def at(day: date, clock: str | None) -> datetime | None:
    """A hall-local (UTC+8) time of a day as an aware UTC datetime."""
    if clock is None:
        return None
    parts = [int(p) for p in clock.split(":")] + [0]
    local = datetime(day.year, day.month, day.day, parts[0], parts[1], parts[2], tzinfo=UTC)
    return local - timedelta(hours=8)


def add_ticket(
    session, hall, day, window, staff, matter, issued, called, started, finished, status
) -> Ticket:
    number = next(_numbers)
    queue = hall.queues[0]
    ticket = Ticket(
        token=f"report-{number}",
        hall_id=hall.id,
        queue_id=queue.id,
        issue_queue_id=queue.id,
        service_day=day,
        number=number,
        label=f"{queue.prefix}{number:03d}",
        matter_id=matter.id if matter else None,
        status=status,
        sort_at=at(day, issued),
        window_id=window.id if window else None,
        staff_id=staff.id if staff else None,
        issued_at=at(day, issued),
        called_at=at(day, called),
        started_at=at(day, started),
        finished_at=at(day, finished),
        call_count=1 if called else 0,
    )
    session.add(ticket)
    return ticket


def add_case(session, hall, matter, window, staff, outcome, recorded, **extra) -> None:
    number = next(_numbers)
    fields = {
        "hall_id": hall.id,
        "matter_id": matter.id,
        "window_id": window.id,
        "staff_id": staff.id if staff else None,
        "outcome": outcome,
        "status": "completed" if outcome == "on_the_spot" else "open",
        "kind": matter.kind,
        "number": f"R-{number:05d}",
        "verify_token": f"report-token-{number}",
        "accepted_at": at(recorded, "09:00"),
        "accepted_on": recorded,
        "applicant_name": "张小三",
        "applicant_phone": "13800000000",
    }
    if outcome == "on_the_spot":
        fields.update(completed_on=recorded, completed_at=fields["accepted_at"])
    fields.update(extra)
    session.add(Case(**fields))


@pytest.fixture
def known(app, demo):
    """The tickets and cases of the module docstring; returns the ids tests filter by."""
    with app.app_context():
        session = db.session
        hall = session.scalar(sa.select(Hall).where(Hall.code == "demo"))
        m = {m.code: m for m in session.scalars(sa.select(Matter))}
        w = {w.number: w for w in hall.windows}
        u = {u.username: u for u in session.scalars(sa.select(User))}
        staff_at = {3: u["staff1"], 4: u["staff2"], None: None}
        for day, window, matter, *times, status in TICKETS:
            add_ticket(
                session, hall, day, w.get(window), staff_at[window], m.get(matter), *times, status
            )
        add_case(session, hall, m["GA-004"], w[3], u["staff1"], "on_the_spot", D2)
        add_case(
            session,
            hall,
            m["RS-002"],
            w[4],
            u["staff2"],
            "accepted",
            D2,
            due_date=date(2026, 11, 5),
        )
        add_case(session, hall, m["RS-002"], w[5], None, "on_the_spot", D3)
        session.commit()
        return {
            "hall": hall.id,
            "window3": w[3].id,
            "staff2": u["staff2"].id,
            "GA-001": m["GA-001"].id,
            "gaj": m["GA-001"].department_id,
        }


def tickets_of(row) -> tuple:
    """(issued, served, no-shows, 过号率 shown, average wait, p90, average service) as shown."""
    data = reports.row_dict(row)
    return (
        data["issued"],
        data["served"],
        data["no_shows"],
        data["percent"]["no_show_rate"],
        data["avg_wait_minutes"],
        data["p90_wait_minutes"],
        data["avg_service_minutes"],
    )


# ---------------------------------------------------------------- without a database


def test_p90_rounding_and_formulas():
    assert reports.p90({}) is None
    assert reports.p90({"3": 1}) == 3.0
    # ten waits: the 9th (rank ⌈0.9·10⌉) is in minute 9
    assert reports.p90({str(m): 1 for m in range(1, 11)}) == 9.0
    assert reports.p90({"1": 89, "7": 1, "30": 10}) == 7.0
    assert reports.p90({"1": 1, str(reports.OVERFLOW): 9}) == 241.0
    assert reports.rounded(4.875) == 4.9 and reports.rounded(7.25) == 7.3
    assert reports.rounded(None) is None
    for name in ("no_show_rate", "avg_wait_minutes", "p90_wait_minutes", "avg_service_minutes"):
        text = reports.FORMULAS[name]
        assert text["zh"].startswith(text["name"]) and text["en"] and text["name_en"]
    assert reports.FORMULAS["no_show_rate"]["zh"] == "过号率 = 过号数 ÷（办结数 + 过号数）"
    assert set(rates.FORMULAS) < set(reports.FORMULAS)
    with pytest.raises(Invalid) as refused:
        reports.build(None, hall_id=1, group="year", **RANGE)
    assert refused.value.code == "bad_group"


# ---------------------------------------------------------------- SQL (SQLite, PostgreSQL)


def test_report_by_window(session, known):
    report = reports.build(session, hall_id=known["hall"], group="window", **RANGE)
    assert tickets_of(report.total) == (7, 5, 1, "16.7%", 6.8, 20.0, 7.0)
    assert report.total.avg_wait_minutes == 6.75 and report.total.waits_counted == 6
    rows = {row.key: row for row in report.rows}
    assert [(row.key, row.label) for row in report.rows] == [
        (3, "3 号窗口 户籍业务"),
        (4, "4 号窗口 社保医保"),
        (5, "5 号窗口 不动产登记"),
        (None, "未记录窗口"),
    ]
    assert tickets_of(rows[3]) == (4, 3, 1, "25.0%", 4.9, 10.0, 7.3)
    assert tickets_of(rows[4]) == (2, 2, 0, "0.0%", 10.5, 20.0, 6.5)
    assert tickets_of(rows[5]) == (0, 0, 0, "—", None, None, None)
    assert tickets_of(rows[None]) == (1, 0, 0, "—", None, None, None)
    # the rates of the same key, merged
    assert rows[3].rates.key == 3 and rows[3].rates.on_the_spot == 1
    assert rows[4].rates.accepted == 1 and rows[4].rates.open_overdue == 1
    assert rows[5].rates.on_the_spot == 1 and rows[None].rates.handled == 0
    assert report.total.rates.handled == 3 and report.total.rates.open_overdue == 1
    # busy hours, waits by day, the overdue case (masked)
    assert {h["hour"]: h["issued"] for h in report.hourly if h["issued"]} == {9: 4, 10: 2, 16: 1}
    assert len(report.hourly) == 24
    assert [(p["label"], p["count"], p["avg"], p["p90"]) for p in report.waits] == [
        ("2026-11-02", 5, 7.5, 20.0),
        ("2026-11-03", 1, 3.0, 3.0),
    ]
    assert len(report.overdue) == report.total.rates.open_overdue == 1
    overdue = report.overdue[0]
    assert overdue["matter"]["code"] == "RS-002" and overdue["applicant_name"] == "张*三"
    assert overdue["applicant_phone"] == "138****0000"

    data = reports.report_dict(report)
    assert data["hall"]["code"] == "demo" and (data["from"], data["to"]) == (
        "2026-11-02",
        "2026-11-03",
    )
    assert data["total"]["rates"]["percent"]["on_the_spot_rate"] == "66.7%"
    assert data["total"]["no_show_rate"] == pytest.approx(1 / 6)
    assert data["formulas"]["p90_wait_minutes"]["zh"].startswith("90% 分位等候时间")
    assert data["filters"] == {"window": None, "department": None, "matter": None, "staff": None}


def test_groups_by_matter_department_staff_and_period(session, known):
    def by(group, **extra):
        report = reports.build(session, hall_id=known["hall"], group=group, **{**RANGE, **extra})
        return [(row.key, row.label, row.issued, row.rates.handled) for row in report.rows]

    matters = by("matter")
    assert {k: (i, h) for k, _l, i, h in matters} == {
        "GA-001": (5, 0),
        "GA-004": (0, 1),
        "RS-002": (1, 2),
        None: (1, 0),
    }
    assert matters[-1][:2] == (None, "未选事项")
    departments = by("department")
    assert [(k, i, h) for k, _l, i, h in departments] == [
        ("gaj", 5, 1),
        ("rsj", 1, 2),
        (None, 1, 0),
    ]
    assert [(k, i) for k, _l, i, _h in by("staff")] == [("staff1", 4), ("staff2", 2), (None, 1)]
    days = reports.build(session, hall_id=known["hall"], group="day", **RANGE)
    assert [(r.key, r.issued, r.p90_wait_minutes, r.rates.handled) for r in days.rows] == [
        ("2026-11-02", 6, 20.0, 2),
        ("2026-11-03", 1, 3.0, 1),
    ]
    assert days.waits_by == "day" and len(days.waits) == 2
    weeks = reports.build(
        session,
        hall_id=known["hall"],
        group="week",
        start=date(2026, 10, 1),
        end=date(2026, 11, 30),
        today=TODAY,
    )
    assert [r.issued for r in weeks.rows if r.issued] == [7]
    assert weeks.rows[0].label == "2026 年第 40 周" and weeks.waits_by == "week"
    long = reports.build(
        session,
        hall_id=known["hall"],
        start=date(2026, 1, 1),
        end=date(2026, 12, 31),
        today=TODAY,
    )
    assert long.waits_by == "month" and long.waits[10]["label"] == "2026 年 11 月"
    assert long.waits[10]["count"] == 6 and long.total.issued == 7


def test_filters(session, known):
    def total(**filters):
        return reports.build(session, hall_id=known["hall"], **RANGE, **filters)

    window = total(window_id=known["window3"])
    assert tickets_of(window.total) == (4, 3, 1, "25.0%", 4.9, 10.0, 7.3)
    assert [row.key for row in window.rows] == [3] and window.filters["window"] == 3
    staff = total(staff_id=known["staff2"], group="matter")
    assert [(r.key, r.issued) for r in staff.rows] == [("RS-002", 1), (None, 1)]
    assert len(staff.overdue) == 1 and staff.filters["staff"] == "staff2"
    matter = total(matter_id=known["GA-001"], group="day")
    assert [r.issued for r in matter.rows] == [4, 1] and matter.overdue == []
    department = total(department_id=known["gaj"])
    assert tickets_of(department.total) == tickets_of(total(matter_id=known["GA-001"]).total)
    assert department.filters["department"] == "gaj"
    assert {h["hour"]: h["issued"] for h in department.hourly if h["issued"]} == {
        9: 3,
        10: 1,
        16: 1,
    }


def test_past_days_are_rolled_up_in_the_background_newest_first(session, known, monkeypatch):
    """The sweeper (hall.domain.rollover) rolls up what a hall lacks: yesterday first, a
    budget of days at a time, back to the hall's first ticket or case; then nothing."""
    from hall.domain import rollover

    hall = known["hall"]

    def rolled() -> list[date]:
        return session.scalars(
            sa.select(ReportPeriod.first)
            .where(ReportPeriod.hall_id == hall, ReportPeriod.span == "day")
            .order_by(ReportPeriod.first)
        ).all()

    assert reports.rollup_pending(session, hall, TODAY, budget=2) == 2
    assert rolled() == [date(2026, 11, 8), date(2026, 11, 9)]
    assert reports.rollup_pending(session, hall, TODAY, budget=30) == 6
    assert rolled() == [D2 + timedelta(days=n) for n in range(8)]
    assert reports.rollup_pending(session, hall, TODAY, budget=30) == 0
    # the week of D2 (Mon 2 – Sun 8) is complete: summed once more
    assert (
        session.scalar(
            sa.select(ReportPeriod.issued).where(
                ReportPeriod.span == "week", ReportPeriod.first == D2
            )
        )
        == 7
    )
    session.commit()
    # what the sweeper runs every minute, hall by hall, committed
    monkeypatch.setattr(
        reports.rates, "hall_today", lambda _session, _hall: TODAY + timedelta(days=1)
    )
    assert rollover.rollup_reports(session) == {"demo": 1}
    assert rolled()[-1] == TODAY
    assert rollover.rollup_reports(session) == {}


def test_rollup_matches_live_and_is_idempotent(session, known):
    hall = known["hall"]

    def stored() -> list:
        return sorted(
            session.execute(
                sa.select(
                    ReportTicketStat.day,
                    ReportTicketStat.window_id,
                    ReportTicketStat.matter_id,
                    ReportTicketStat.issued,
                    ReportTicketStat.wait_sum,
                    ReportTicketStat.waits,
                ).where(ReportTicketStat.hall_id == hall, ReportTicketStat.by_matter.is_(True))
            ).all(),
            key=repr,
        )

    def days_rolled() -> list:
        return session.scalars(
            sa.select(ReportPeriod.first).where(ReportPeriod.span == "day").order_by("first")
        ).all()

    # every day today or later: computed live, nothing stored
    live = reports.build(session, hall_id=hall, group="window", start=D2, end=D3, today=D2)
    assert session.scalar(sa.select(sa.func.count()).select_from(ReportPeriod)) == 0
    # past days: rolled up by build() (store), then read back from the rollup
    first = reports.build(session, hall_id=hall, group="window", **RANGE)
    session.commit()
    assert days_rolled() == [D2, D3]
    rows = stored()
    assert len([row for row in rows if row.issued]) == 5 and sum(row.issued for row in rows) == 7
    again = reports.build(session, hall_id=hall, group="window", **RANGE)
    for report in (first, again):
        assert [tickets_of(r) for r in report.rows] == [tickets_of(r) for r in live.rows]
        assert report.hourly == live.hourly and report.waits == live.waits
        assert tickets_of(report.total) == tickets_of(live.total)
    # rolled up twice: the same rows
    assert reports.rollup(session, hall, D2) is True
    session.commit()
    assert stored() == rows
    # a change after the rollup shows once the day is rolled up again
    ticket = session.scalar(sa.select(Ticket).where(Ticket.status == "no_show"))
    ticket.status = "finished"
    ticket.finished_at = ticket.called_at + timedelta(minutes=4)
    session.commit()
    assert reports.build(session, hall_id=hall, **RANGE).total.no_shows == 1
    assert reports.rollup_range(session, hall, D2, D3) == 2
    session.commit()
    assert reports.build(session, hall_id=hall, **RANGE).total.no_shows == 0
    # complete weeks and months are summed from their days and read in their place
    assert reports.rollup_range(session, hall, date(2026, 11, 1), date(2026, 11, 30)) == 30
    session.commit()
    summed = session.execute(
        sa.select(ReportPeriod.span, ReportPeriod.first, ReportPeriod.issued)
        .where(ReportPeriod.span != "day")
        .order_by(ReportPeriod.span, ReportPeriod.first)
    ).all()
    assert [(span, first.isoformat(), issued) for span, first, issued in summed] == [
        ("month", "2026-11-01", 7),
        ("week", "2026-11-02", 7),
        ("week", "2026-11-09", 0),
        ("week", "2026-11-16", 0),
        ("week", "2026-11-23", 0),
    ]
    year = {"start": date(2026, 1, 1), "end": date(2026, 12, 31), "store": False}
    from_rollup = reports.build(session, hall_id=hall, today=date(2026, 12, 10), **year)
    from_tickets = reports.build(session, hall_id=hall, today=date(2026, 1, 1), **year)
    assert tickets_of(from_rollup.total) == tickets_of(from_tickets.total)
    assert from_rollup.waits == from_tickets.waits and from_rollup.hourly == from_tickets.hourly
    assert [tickets_of(r) for r in from_rollup.rows] == [tickets_of(r) for r in from_tickets.rows]
    # a week crossing the month's end is read by days
    derived = {("month", date(2026, 11, 1)), ("week", date(2026, 10, 12))}
    assert reports._cover("month", date(2026, 10, 12), date(2026, 12, 2), derived) == (
        [("week", date(2026, 10, 12)), ("month", date(2026, 11, 1))],
        [(date(2026, 10, 19), date(2026, 10, 31)), (date(2026, 12, 1), date(2026, 12, 2))],
    )

    # a day still serving someone is not rolled up (by rollup or build): counted live
    session.execute(sa.delete(ReportTicketStat))
    session.execute(sa.delete(ReportPeriod).where(ReportPeriod.first != D3))
    ticket.status, ticket.finished_at = "serving", None
    session.commit()
    assert reports.rollup(session, hall, D2) is False
    assert reports.build(session, hall_id=hall, start=D2, end=D2, today=TODAY).total.served == 4
    session.commit()
    assert days_rolled() == [D3]  # and no week or month around D2 either
    assert session.scalars(sa.select(ReportPeriod.span)).all() == ["day"]


# ---------------------------------------------------------------- the API


@pytest.fixture
def today_is(monkeypatch):
    """The hall's today is 2026-11-10 (10:00 in Shanghai)."""
    monkeypatch.setattr(rates, "utcnow", lambda: datetime(2026, 11, 10, 2, tzinfo=UTC))


def token_of(app, username: str) -> str:
    with app.app_context():
        user = db.session.scalar(sa.select(User).where(User.username == username))
        value = create_token(db.session, user=user)
        db.session.commit()
        return value


def test_api_reports(app, client, known, today_is):
    manager = token_of(app, "manager")

    def get(token, **params):
        return client.get("/api/v1/reports", query_string=params, headers=auth(token))

    answer = get(manager, **{"from": "2026-11-02", "to": "2026-11-03"})
    assert answer.status_code == 200, answer.json
    body = answer.json
    assert body["group"] == "window" and body["today"] == "2026-11-10"
    assert [r["key"] for r in body["rows"]] == [3, 4, 5, None]
    assert body["total"]["issued"] == 7 and body["total"]["p90_wait_minutes"] == 20.0
    assert body["total"]["percent"]["no_show_rate"] == "16.7%"
    with app.app_context():
        # the API computed the past days and kept their rollup; the same report from it
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ReportPeriod)) == 2
        direct = reports.build(db.session, hall_id=known["hall"], **RANGE)
        assert reports.report_dict(direct) == body
    filtered = get(
        manager, group="staff", window="3", department="gaj", **{"from": "2026-11-02"}
    ).json
    assert filtered["filters"] == {"window": 3, "department": "gaj", "matter": None, "staff": None}
    assert [(r["key"], r["issued"]) for r in filtered["rows"]] == [("staff1", 4)]

    refused = {
        ("forbidden", 403): (token_of(app, "staff1"), {}),
        ("bad_group", 400): (manager, {"group": "year"}),
        ("bad_date", 400): (manager, {"from": "2026-11-31"}),
        ("bad_range", 400): (manager, {"from": "2026-11-03", "to": "2026-11-02"}),
        ("window_not_found", 404): (manager, {"window": "99"}),
        ("hall_not_found", 404): (manager, {"hall": "nowhere"}),
    }
    for (code, status), (token, params) in refused.items():
        answer = get(token, **params)
        assert (answer.status_code, answer.json["error"]) == (status, code), params
    assert client.get("/api/v1/reports").status_code == 401
