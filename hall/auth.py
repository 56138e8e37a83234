"""Users, roles, device keys and API tokens (only hashes are stored)."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from functools import wraps

import sqlalchemy as sa
from flask import current_app, g, request
from flask_login import current_user
from sqlalchemy.orm import Session, joinedload
from werkzeug.security import check_password_hash, generate_password_hash

from hall.domain.errors import DomainError, Forbidden, Invalid
from hall.domain.tickets import Actor
from hall.extensions import db, login_manager
from hall.models import ApiToken, Hall, User

TOKEN_PREFIX = "hall_"


class Unauthorized(DomainError):
    """No valid credentials were given."""

    status = 401


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def set_password(user: User, password: str) -> None:
    """Hash and set a password; refuses passwords shorter than 8 characters."""
    if len(password) < 8:
        raise Invalid("weak_password", "密码至少 8 位", "The password needs at least 8 characters")
    method = current_app.config.get("HALL_PASSWORD_METHOD", "scrypt")
    user.password_hash = generate_password_hash(password, method=method)


def check_password(user: User, password: str) -> bool:
    """True when the password matches the stored hash."""
    return bool(user.password_hash) and check_password_hash(user.password_hash, password)


def add_user(
    session: Session,
    username: str,
    password: str,
    *,
    role: str = "staff",
    display_name: str | None = None,
    job_number: str = "",
    hall: Hall | None = None,
) -> User:
    """Create a staff account with a hashed password."""
    if role not in ("admin", "manager", "staff"):
        raise Invalid("bad_role", "角色只能是 admin、manager 或 staff", "Unknown role")
    if session.scalar(sa.select(User).where(User.username == username)):
        raise Invalid("user_exists", f"用户 {username} 已存在", f"User {username} exists")
    user = User(
        username=username,
        display_name=display_name or username,
        job_number=job_number,
        role=role,
        hall_id=hall.id if hall else None,
    )
    set_password(user, password)
    session.add(user)
    session.flush()
    return user


def create_token(
    session: Session,
    *,
    user: User | None = None,
    device_kind: str | None = None,
    hall: Hall | None = None,
    name: str = "",
) -> str:
    """Create a bearer token for a user or a device; the plain token is returned once."""
    if device_kind is not None and device_kind not in ("kiosk", "display"):
        raise Invalid("bad_device", "设备类型只能是 kiosk 或 display", "Unknown device kind")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    session.add(
        ApiToken(
            token_hash=hash_token(token),
            user_id=user.id if user else None,
            device_kind=device_kind,
            hall_id=hall.id if hall else (user.hall_id if user else None),
            name=name,
        )
    )
    session.flush()
    return token


@dataclass
class Principal:
    """Who is making a request: a signed-in user, a token's user, or a device."""

    user: User | None = None
    token: ApiToken | None = None
    via_session: bool = False

    @property
    def actor(self) -> Actor:
        """The audit identity of this principal."""
        return Actor(
            user_id=self.user.id if self.user else None,
            device_id=self.token.id if self.token else None,
            hall_id=self.hall_id,
        )

    @property
    def role(self) -> str | None:
        """The user's role, or the device kind for device tokens."""
        if self.user:
            return self.user.role
        return self.token.device_kind if self.token else None

    @property
    def hall_id(self) -> int | None:
        """The hall this principal is bound to (None: every hall)."""
        if self.token and self.token.hall_id:
            return self.token.hall_id
        return self.user.hall_id if self.user else None


_TOKEN_BY_HASH = (
    sa.select(ApiToken)
    .options(joinedload(ApiToken.user))
    .where(ApiToken.token_hash == sa.bindparam("token_hash"))
)


def current_principal() -> Principal | None:
    """Resolve the bearer token or the session cookie of the current request (cached)."""
    if "principal" in g:
        return g.principal
    principal = None
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise Unauthorized(
                "bad_auth_header",
                "认证头格式应为 Bearer <token>",
                "Use Authorization: Bearer <token>",
            )
        row = db.session.scalar(_TOKEN_BY_HASH, {"token_hash": hash_token(value.strip())})
        if row is None or row.revoked or (row.user is not None and not row.user.active):
            raise Unauthorized("bad_token", "令牌无效或已吊销", "Invalid or revoked token")
        principal = Principal(user=row.user, token=row)
    elif current_user.is_authenticated:
        principal = Principal(user=current_user._get_current_object(), via_session=True)
    g.principal = principal
    return principal


def require(*roles: str):
    """Decorator: the request needs a principal with one of these roles (or device kinds)."""

    def decorate(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            principal = current_principal()
            if principal is None:
                raise Unauthorized(
                    "login_required", "请先登录或提供令牌", "Sign in or give a token"
                )
            if roles and principal.role not in roles:
                raise Forbidden("forbidden", "没有权限执行此操作", "Not allowed for your role")
            return view(*args, **kwargs)

        return wrapped

    return decorate


def check_hall(principal: Principal, hall: Hall) -> None:
    """Refuse a principal bound to another hall."""
    if principal.hall_id is not None and principal.hall_id != hall.id:
        raise Forbidden("other_hall", "无权操作其他大厅", "Not allowed for another hall")


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    try:
        user = db.session.get(User, int(user_id))
    except ValueError:
        return None
    return user if user and user.active else None
