"""Organisation: halls, departments, windows, staff users and access tokens."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from hall.models.base import Base, UTCDateTime, utcnow

if TYPE_CHECKING:
    from hall.models.catalog import Queue

ROLES = ("admin", "manager", "staff")
WINDOW_STATUSES = ("open", "paused", "closed")
DEVICE_KINDS = ("kiosk", "display")


class Hall(Base):
    """A service hall (政务服务中心 / 便民服务中心): the central hall or a township one."""

    __tablename__ = "halls"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    timezone: Mapped[str] = mapped_column(sa.String(64), default="Asia/Shanghai")
    notice: Mapped[str] = mapped_column(sa.Text, default="")
    # Monotonic counter of published events; screens use it to detect a gap.
    seq: Mapped[int] = mapped_column(sa.BigInteger, default=0)

    windows: Mapped[list[Window]] = relationship(back_populates="hall", order_by="Window.number")
    queues: Mapped[list[Queue]] = relationship(back_populates="hall", order_by="Queue.prefix")


class Department(Base):
    """A department with a counter in the hall; its functions (职能) are public."""

    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    functions: Mapped[str] = mapped_column(sa.Text, default="")
    sort_order: Mapped[int] = mapped_column(default=0)


class Window(Base):
    """A service window (窗口) of a hall, serving its queues in its own priority order."""

    __tablename__ = "windows"
    __table_args__ = (
        sa.UniqueConstraint("hall_id", "number", name="uq_windows_hall_number"),
        sa.CheckConstraint("status in ('open','paused','closed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    hall_id: Mapped[int] = mapped_column(sa.ForeignKey("halls.id"), index=True)
    number: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(100))
    status: Mapped[str] = mapped_column(sa.String(10), default="closed")
    staff_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    # Bumped by every call so concurrent calls at one window serialise on its row.
    version: Mapped[int] = mapped_column(default=0)

    hall: Mapped[Hall] = relationship(back_populates="windows")
    staff: Mapped[User | None] = relationship()
    queue_links: Mapped[list[WindowQueue]] = relationship(
        order_by="WindowQueue.position", cascade="all, delete-orphan"
    )

    @property
    def queues(self) -> list[Queue]:
        """The queues this window serves, highest priority first."""
        return [link.queue for link in self.queue_links]


class WindowQueue(Base):
    """Which queues a window serves, and in what order (position 0 first)."""

    __tablename__ = "window_queues"

    window_id: Mapped[int] = mapped_column(sa.ForeignKey("windows.id"), primary_key=True)
    queue_id: Mapped[int] = mapped_column(sa.ForeignKey("queues.id"), primary_key=True)
    position: Mapped[int] = mapped_column(default=0)

    queue: Mapped[Queue] = relationship()


class User(UserMixin, Base):
    """A staff account (窗口工作人员, manager or admin); the password is stored hashed."""

    __tablename__ = "users"
    __table_args__ = (sa.CheckConstraint("role in ('admin','manager','staff')", name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    job_number: Mapped[str] = mapped_column(sa.String(32), default="")
    role: Mapped[str] = mapped_column(sa.String(10), default="staff")
    password_hash: Mapped[str] = mapped_column(sa.String(255), default="")
    hall_id: Mapped[int | None] = mapped_column(sa.ForeignKey("halls.id"))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # sign-in lockout (hall.auth.sign_in): wrong passwords in a row, and the end of the lock
    failed_logins: Mapped[int] = mapped_column(default=0, server_default="0")
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)

    hall: Mapped[Hall | None] = relationship()

    @property
    def is_active(self) -> bool:  # Flask-Login
        """Disabled accounts cannot sign in."""
        return self.active


class ApiToken(Base):
    """A bearer token for a staff member or a device (kiosk, display); only its hash is kept."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    device_kind: Mapped[str | None] = mapped_column(sa.String(10))
    hall_id: Mapped[int | None] = mapped_column(sa.ForeignKey("halls.id"))
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked: Mapped[bool] = mapped_column(default=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    user: Mapped[User | None] = relationship()
    hall: Mapped[Hall | None] = relationship()


class DevicePairing(Base):
    """A one-time code an admin issues to pair a kiosk or display (设备配对码).

    Only the code's hash is kept. Typed on the device within its lifetime, it is used up once
    and becomes the device's key (an ApiToken, kept by the device in an HttpOnly cookie).
    """

    __tablename__ = "device_pairings"

    id: Mapped[int] = mapped_column(primary_key=True)
    hall_id: Mapped[int] = mapped_column(sa.ForeignKey("halls.id"))
    device_kind: Mapped[str] = mapped_column(sa.String(10))
    name: Mapped[str] = mapped_column(sa.String(100), default="")
    code_hash: Mapped[str] = mapped_column(sa.String(64), index=True)
    created_by: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    cancelled: Mapped[bool] = mapped_column(default=False)
    # the device key the code became, and the address of the device that typed it
    token_id: Mapped[int | None] = mapped_column(sa.ForeignKey("api_tokens.id"))
    ip: Mapped[str | None] = mapped_column(sa.String(45))

    hall: Mapped[Hall] = relationship()
    token: Mapped[ApiToken | None] = relationship()
