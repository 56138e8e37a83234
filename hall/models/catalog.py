"""Catalogue: queues (业务类型), matters (事项) with their service guide, and materials."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hall.models.base import Base, UTCDateTime, utcnow
from hall.models.org import Department, Hall

MATTER_KINDS = {
    "immediate": "即办件",
    "promised": "承诺件",
    "joint": "联办件",
    "referred": "上报件",
}
# the unit of a time limit (办理时限): working days (工作日) or natural days (自然日)
LIMIT_UNITS = {"working": "工作日", "natural": "自然日"}
# the form a material is handed in (材料形式)
MATERIAL_FORMS = {
    "original": "原件",
    "copy": "复印件",
    "both": "原件及复印件",
    "electronic": "电子材料",
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
    """A matter (事项) residents come for, with its full service guide (办事指南).

    Matters belong to the district's catalogue, not to one hall; `queue` is the queue whose
    prefix a hall issues tickets of this matter under (DOMAIN.md "Service guide").
    """

    __tablename__ = "matters"
    __table_args__ = (
        sa.CheckConstraint("kind in ('immediate','promised','joint','referred')", name="kind"),
        sa.CheckConstraint("promised_unit in ('working','natural')", name="promised_unit"),
        sa.CheckConstraint("statutory_unit in ('working','natural')", name="statutory_unit"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    department_id: Mapped[int] = mapped_column(sa.ForeignKey("departments.id"), index=True)
    queue_id: Mapped[int | None] = mapped_column(sa.ForeignKey("queues.id"))
    kind: Mapped[str] = mapped_column(sa.String(10), default="immediate")
    # 承诺办结时限 (0 for 即办件) and 法定办结时限, each with its unit
    promised_days: Mapped[int] = mapped_column(default=0)
    promised_unit: Mapped[str] = mapped_column(sa.String(10), default="working")
    statutory_days: Mapped[int] = mapped_column(default=0)
    statutory_unit: Mapped[str] = mapped_column(sa.String(10), default="working")
    sort_order: Mapped[int] = mapped_column(default=0)
    # published on the kiosk, the phone guide and the API; retired matters keep their history
    active: Mapped[bool] = mapped_column(default=True)

    legal_basis: Mapped[str] = mapped_column(sa.Text, default="")  # 设定依据
    conditions: Mapped[str] = mapped_column(sa.Text, default="")  # 受理条件
    process: Mapped[str] = mapped_column(sa.Text, default="")  # 办理流程, one step a line
    fee: Mapped[str] = mapped_column(sa.Text, default="")  # 收费标准; empty = 不收费
    fee_basis: Mapped[str] = mapped_column(sa.Text, default="")  # 收费依据
    place: Mapped[str] = mapped_column(sa.Text, default="")  # 办理地点
    hours: Mapped[str] = mapped_column(sa.Text, default="")  # 办理时间
    phone: Mapped[str] = mapped_column(sa.String(100), default="")  # 咨询电话
    complaint: Mapped[str] = mapped_column(sa.Text, default="")  # 投诉渠道
    result_document: Mapped[str] = mapped_column(sa.Text, default="")  # 办理结果（证照/批文）
    visits: Mapped[int] = mapped_column(default=1)  # 到现场次数
    online: Mapped[bool] = mapped_column(default=False)  # 可网上办理
    appointment: Mapped[bool] = mapped_column(default=False)  # 可预约办理
    # 常见问题: a list of {"q": question, "a": answer}
    faq: Mapped[list] = mapped_column(sa.JSON, default=list)
    # indexed: every search checks max(updated_at) to notice catalogue changes (guide.py)
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=utcnow, onupdate=utcnow, index=True
    )

    department: Mapped[Department] = relationship()
    queue: Mapped[Queue | None] = relationship()
    materials: Mapped[list[Material]] = relationship(
        back_populates="matter",
        order_by="Material.position",
        cascade="all, delete-orphan",
    )

    @property
    def kind_label(self) -> str:
        """The Chinese name of the kind (即办件…)."""
        return MATTER_KINDS.get(self.kind, self.kind)

    @property
    def promised_label(self) -> str:
        """承诺办结时限 in words: 「5 个工作日」, or 「即办」 for none."""
        return _limit_label(self.promised_days, self.promised_unit)

    @property
    def statutory_label(self) -> str:
        """法定办结时限 in words."""
        return _limit_label(self.statutory_days, self.statutory_unit)

    @property
    def process_steps(self) -> list[str]:
        """The process (办理流程) as a list of steps."""
        return [line.strip() for line in (self.process or "").splitlines() if line.strip()]


def _limit_label(days: int, unit: str) -> str:
    if not days:
        return "即办"
    return f"{days} 个{LIMIT_UNITS.get(unit, unit)}"


class Material(Base):
    """One material (申请材料) of a matter's guide, in the order the guide lists them."""

    __tablename__ = "matter_materials"
    __table_args__ = (
        sa.CheckConstraint("form in ('original','copy','both','electronic')", name="form"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    matter_id: Mapped[int] = mapped_column(
        sa.ForeignKey("matters.id", ondelete="CASCADE"), index=True
    )
    position: Mapped[int] = mapped_column(default=0)
    name: Mapped[str] = mapped_column(sa.String(300))
    required: Mapped[bool] = mapped_column(default=True)  # 必要 / 非必要（容缺）
    form: Mapped[str] = mapped_column(sa.String(12), default="original")
    copies: Mapped[int] = mapped_column(default=1)
    notes: Mapped[str] = mapped_column(sa.Text, default="")  # 备注 / 填报要求
    blank_form: Mapped[str] = mapped_column(sa.String(300), default="")  # 空白表格（名称或链接）
    sample: Mapped[str] = mapped_column(sa.String(300), default="")  # 示例样表（名称或链接）

    matter: Mapped[Matter] = relationship(back_populates="materials")

    @property
    def form_label(self) -> str:
        """原件 / 复印件 / …"""
        return MATERIAL_FORMS.get(self.form, self.form)
