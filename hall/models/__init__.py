"""Typed SQLAlchemy 2 models, one module per aggregate."""

from hall.models.audit import AuditEvent
from hall.models.base import Base, UTCDateTime, utcnow
from hall.models.cases import (
    CALENDAR_KINDS,
    CASE_STATUSES,
    OUTCOMES,
    PAUSE_KINDS,
    TIMINGS,
    CalendarDay,
    Case,
    CaseCounter,
    CasePause,
)
from hall.models.catalog import (
    LIMIT_UNITS,
    MATERIAL_FORMS,
    MATTER_KINDS,
    Material,
    Matter,
    Queue,
)
from hall.models.org import (
    ApiToken,
    Department,
    DevicePairing,
    Hall,
    User,
    Window,
    WindowQueue,
)
from hall.models.reports import ReportPeriod, ReportTicketStat
from hall.models.tickets import NumberCounter, Ticket, TicketEvent

__all__ = [
    "CALENDAR_KINDS",
    "CASE_STATUSES",
    "OUTCOMES",
    "PAUSE_KINDS",
    "TIMINGS",
    "CalendarDay",
    "Case",
    "CaseCounter",
    "CasePause",
    "LIMIT_UNITS",
    "MATERIAL_FORMS",
    "MATTER_KINDS",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Department",
    "DevicePairing",
    "Hall",
    "Material",
    "Matter",
    "NumberCounter",
    "Queue",
    "ReportPeriod",
    "ReportTicketStat",
    "Ticket",
    "TicketEvent",
    "UTCDateTime",
    "User",
    "Window",
    "WindowQueue",
    "utcnow",
]
