"""Retention (个人信息保存期限): erase residents' personal fields of old closed records.

The statistics never read who a resident was: the rates and reports count cases by outcome,
status, timing, dates, window, staff member and matter, and tickets by their times and
events. So personal fields can be blanked once a record is over, and every figure stays
the same (tests/test_retention.py computes them before and after).

What is personal, per table (the models were read for names, phones, ID numbers):

- ``cases``: ``applicant_name`` and ``applicant_phone`` — blanked ('').
- ``tickets``: nothing — a ticket holds a random tracking token, its queue, times and the
  staff who served it, never who the resident was.

Which records: cases whose life is over before the day given — ``completed`` (当场办结 and
办结 of accepted cases; by the day completed) and ``closed`` (补正、不予受理、咨询; closed when
recorded, by that day). Open and paused cases are never touched: their applicant must stay
reachable until the case is completed.

`erase_personal_data` is the domain function (one set-based UPDATE; never commits). The
`hall data erase-personal` command and the server's sweeper (hall.domain.rollover, once a day
when HALL_RETENTION_DAYS > 0) are its callers.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from sqlalchemy.orm import Session

from hall.models import AuditEvent, Case, utcnow

PERSONAL_FIELDS = ("applicant_name", "applicant_phone")
CLOSED_STATUSES = ("completed", "closed")
ACTION = "retention.erase"

_C = Case.__table__


def _eligible(before: date, hall_id: int | None) -> list[sa.ColumnElement]:
    """The cases over before `before` that still hold a personal field."""
    conditions = [
        _C.c.status.in_(CLOSED_STATUSES),
        sa.func.coalesce(_C.c.completed_on, _C.c.accepted_on) < before,
        sa.or_(*(_C.c[name] != "" for name in PERSONAL_FIELDS)),
    ]
    if hall_id is not None:
        conditions.append(_C.c.hall_id == hall_id)
    return conditions


def count_personal_data(session: Session, before: date, *, hall_id: int | None = None) -> int:
    """How many closed cases over before `before` still hold personal data (cheap check)."""
    query = sa.select(sa.func.count()).select_from(_C).where(*_eligible(before, hall_id))
    return int(session.scalar(query) or 0)


def erase_personal_data(
    session: Session,
    before: date,
    *,
    dry_run: bool = False,
    hall_id: int | None = None,
    user_id: int | None = None,
    via: str = "",
) -> dict:
    """Blank the personal fields of tickets and cases finished, completed or closed before
    the (hall-local) day `before`; open and paused cases are kept. One UPDATE; the caller
    commits. Unless `dry_run`, writes one AuditEvent ``retention.erase`` with the counts.

    Returns ``{"before": "2023-01-01", "cases": n, "tickets": 0, "fields": [...],
    "dry_run": bool}`` — `cases` the number of cases blanked (or that would be)."""
    conditions = _eligible(before, hall_id)
    if dry_run:
        erased = count_personal_data(session, before, hall_id=hall_id)
    else:
        result = session.execute(
            sa.update(_C)
            .where(*conditions)
            .values(**dict.fromkeys(PERSONAL_FIELDS, ""))
            .execution_options(synchronize_session=False)
        )
        erased = int(result.rowcount or 0)
        detail = f"before={before.isoformat()} cases={erased} tickets=0"
        if via:
            detail += f" via={via}"
        session.add(
            AuditEvent(
                hall_id=hall_id,
                user_id=user_id,
                action=ACTION,
                detail=detail[:500],
                at=utcnow(),
            )
        )
        # Case objects this session holds are read again when next used.
        for obj in list(session.identity_map.values()):
            if isinstance(obj, Case):
                session.expire(obj, list(PERSONAL_FIELDS))
        session.flush()
    return {
        "before": before.isoformat(),
        "cases": erased,
        "tickets": 0,
        "fields": [f"cases.{name}" for name in PERSONAL_FIELDS],
        "dry_run": dry_run,
    }


def cutoff(days: int, now: datetime | None = None, timezone: str = "Asia/Shanghai") -> date:
    """The first day kept when records older than `days` days are erased: today (in the
    installation's time zone) minus `days`."""
    try:
        zone = ZoneInfo(timezone or "Asia/Shanghai")
    except (ValueError, KeyError, OSError):
        zone = ZoneInfo("Asia/Shanghai")
    now = now or utcnow()
    return now.astimezone(zone).date() - timedelta(days=days)
