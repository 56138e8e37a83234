"""Catalogue: queues (业务类型) and matters (事项)."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hall.models.base import Base
from hall.models.org import Department, Hall

MATTER_KINDS = {
    "immediate": "即办件",
    "promised": "承诺件",
    "joint": "联办件",
    "referred": "上报件",
}


class Queue(Base):
    """A queue of a hall with its letter prefix (A, B…); numbers restart each service day."""

    __tablename__ = "queues"
    __table_args__ = (sa.UniqueConstraint("hall_id", "prefix", name="uq_queues_hall_prefix"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    hall_id: Mapped[int] = mapped_column(sa.ForeignKey("halls.id"), index=True)
    prefix: Mapped[str] = mapped_column(sa.String(4))
    name: Mapped[str] = mapped_column(sa.String(100))
    department_id: Mapped[int | None] = mapped_column(sa.ForeignKey("departments.id"))

    hall: Mapped[Hall] = relationship(back_populates="queues")
    department: Mapped[Department | None] = relationship()


class Matter(Base):
    """A matter (事项) residents come for; the full service guide comes later."""

    __tablename__ = "matters"
    __table_args__ = (
        sa.CheckConstraint("kind in ('immediate','promised','joint','referred')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"), index=True)
    queue_id: Mapped[int | None] = mapped_column(sa.ForeignKey("queues.id"))
    kind: Mapped[str] = mapped_column(sa.String(10), default="immediate")
    promised_days: Mapped[int] = mapped_column(default=0)
    sort_order: Mapped[int] = mapped_column(default=0)

    department: Mapped[Department] = relationship()
    queue: Mapped[Queue | None] = relationship()

    @property
    def kind_label(self) -> str:
        """The Chinese name of the kind (即办件…)."""
        return MATTER_KINDS.get(self.kind, self.kind)
