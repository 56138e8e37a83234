"""Audit trail of staff actions that are not ticket changes."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from hall.models.base import Base, UTCDateTime, utcnow


class AuditEvent(Base):
    """A staff action that is not a ticket change (sign-in, pause a window, set the notice…)."""

    __tablename__ = "audit_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    hall_id: Mapped[int | None] = mapped_column(sa.ForeignKey("halls.id"))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(sa.String(32))
    detail: Mapped[str] = mapped_column(sa.String(500), default="")
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    # the client's address (IPv4 or IPv6) when written during a request; filled in by
    # hall.security for every row that does not set it
    ip: Mapped[str | None] = mapped_column(sa.String(45))
