"""Users, roles, device keys and API tokens (only hashes are stored)."""

from __future__ import annotations

import hashlib
import math
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import wraps

import sqlalchemy as sa
from flask import current_app, g, request
from flask_login import current_user
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from hall.domain.errors import DomainError, Forbidden, Invalid
from hall.domain.rawsql import SQL, raw
from hall.domain.tickets import Actor
from hall.extensions import db, login_manager
from hall.models import ApiToken, Hall, User
from hall.models.base import utcnow
from hall.security import client_ip

TOKEN_PREFIX = "hall_"
MIN_PASSWORD_LENGTH = 8
# The commonest passwords (weak-password lists, Chinese and international) that are at least
# 8 characters long; compared without case.
COMMON_PASSWORDS = frozenset(
    """
    password password1 password12 password123 passw0rd p@ssw0rd p@ssword pa55word
    12345678 123456789 1234567890 0123456789 87654321 987654321 11111111 00000000 88888888
    66666666 12344321 11223344 147258369 123123123 12341234 5201314520 1314520520
    qwerty123 qwertyuiop qwerty12 qwe12345 qweasdzxc 123qweasd qweqweqwe 1qaz2wsx 1q2w3e4r
    1q2w3e4r5t zxcvbnm123 asdfghjkl abcd1234 abc12345 abc123456 a1234567 a12345678 aa123456
    aa123123 admin123 admin888 admin1234 admin@123 administrator root1234 test1234 welcome1
    iloveyou letmein1 changeme sunshine princess football baseball woaini1314 woaini520
    """.split()  # noqa: SIM905 (a list of words reads best as words)
)
# Sign-in lockout of usernames that have no account, kept in memory so that an unknown
# username is refused exactly like an account (it never reveals which names exist)
PHANTOM_LIMIT = 10_000


class Unauthorized(DomainError):
    """No valid credentials were given."""

    status = 401


def hash_token(token: str) -> str:
    """The stored form of a token: its SHA-256."""
    return hashlib.sha256(token.encode()).hexdigest()


def password_problem(password: str, username: str = "") -> tuple[str, str] | None:
    """Why a password is too weak (Chinese, English), or None when it is acceptable.

    At least 8 characters; not digits only; not one character repeated; not the username;
    not one of the commonest passwords.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        return "密码至少 8 位", "The password needs at least 8 characters"
    folded = password.casefold()
    if password.isdigit():
        return (
            "密码不能全是数字，请加入字母或符号",
            "The password cannot be digits only; add letters or symbols",
        )
    if len(set(folded)) == 1:
        return "密码不能是同一个字符重复", "The password cannot repeat one character"
    if username and folded in (username.casefold(), username.casefold()[::-1]):
        return "密码不能与用户名相同", "The password cannot be the username"
    if folded in COMMON_PASSWORDS:
        return "密码过于常见，容易被猜中，请换一个", "The password is too common; choose another"
    return None


def set_password(user: User, password: str) -> None:
    """Check the password policy (`password_problem`), hash and set the password.

    A new password also lifts a sign-in lock: that is how an administrator unlocks an account.
    """
    problem = password_problem(password, user.username or "")
    if problem:
        raise Invalid("weak_password", *problem)
    method = current_app.config.get("HALL_PASSWORD_METHOD", "scrypt")
    user.password_hash = generate_password_hash(password, method=method)
    user.failed_logins = 0
    user.locked_until = None


def check_password(user: User, password: str) -> bool:
    """True when the password matches the stored hash."""
    return bool(user.password_hash) and check_password_hash(user.password_hash, password)


_DUMMY_HASHES: dict[str, str] = {}


def _dummy_check(password: str) -> None:
    """The hash work of a password check, for usernames without a usable account."""
    method = current_app.config.get("HALL_PASSWORD_METHOD", "scrypt")
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash("not-a-password", method=method)
    check_password_hash(_DUMMY_HASHES[method], password)


# ---------------------------------------------------------------- sign-in with lockout


@dataclass
class SignIn:
    """The outcome of a sign-in attempt (`sign_in`)."""

    user: User | None  # the account of the username; None when there is none
    ok: bool = False
    locked: bool = False  # refused: the account is locked (or this attempt locked it)
    newly_locked: bool = False  # this wrong password locked the account
    retry_after: int = 0  # seconds until the lock ends
    failures: int = 0  # wrong passwords in a row, this one included


@dataclass
class _LockState:
    failed_logins: int = 0
    locked_until: datetime | None = None


class _Phantoms:
    """Lock states of usernames without an account (bounded, least recently used dropped)."""

    def __init__(self) -> None:
        self.states: OrderedDict[str, _LockState] = OrderedDict()
        self.guard = threading.Lock()

    def get(self, username: str) -> _LockState:
        with self.guard:
            state = self.states.pop(username, None) or _LockState()
            self.states[username] = state
            while len(self.states) > PHANTOM_LIMIT:
                self.states.popitem(last=False)
            return state


def lock_seconds(failures: int, config) -> int:
    """How long the account is locked after this many wrong passwords in a row (0: not).

    The first lock comes with HALL_LOGIN_MAX_FAILURES failures and lasts
    HALL_LOGIN_LOCK_SECONDS; each further failure after it doubles the time, up to
    HALL_LOGIN_LOCK_MAX_SECONDS.
    """
    limit = int(config.get("HALL_LOGIN_MAX_FAILURES", 5))
    if failures < limit:
        return 0
    base = int(config.get("HALL_LOGIN_LOCK_SECONDS", 60))
    cap = max(base, int(config.get("HALL_LOGIN_LOCK_MAX_SECONDS", 3600)))
    return min(cap, base * 2 ** min(failures - limit, 32))


def sign_in(session: Session, username: str, password: str) -> SignIn:
    """Check a username and password, counting wrong passwords and locking after too many.

    A locked account is refused even with the right password until the lock ends; the right
    password afterwards resets the count. Usernames without an account (or of a disabled
    account) cost the same hash work and lock the same way, so the answers never tell
    whether an account exists. The caller commits (the count is stored on the user).
    """
    config = current_app.config
    # FOR UPDATE (PostgreSQL): attempts on one account count one after the other
    query = sa.select(User).where(User.username == username).with_for_update()
    user = session.scalar(query) if username else None
    if user is not None:
        state = user
    elif username:
        phantoms = current_app.extensions.setdefault("hall_login_phantoms", _Phantoms())
        state = phantoms.get(username)
    else:
        _dummy_check(password)
        return SignIn(user=None)
    now = utcnow()
    locked_until = state.locked_until
    if locked_until is not None and now < locked_until:
        return SignIn(
            user=user,
            locked=True,
            retry_after=max(1, math.ceil((locked_until - now).total_seconds())),
            failures=state.failed_logins or 0,
        )
    usable = user is not None and user.active
    if usable:
        matches = check_password(user, password)
    else:
        _dummy_check(password)
        matches = False
    if matches:
        user.failed_logins = 0
        user.locked_until = None
        return SignIn(user=user, ok=True)
    state.failed_logins = (state.failed_logins or 0) + 1
    seconds = lock_seconds(state.failed_logins, config)
    if seconds:
        state.locked_until = now + timedelta(seconds=seconds)
    return SignIn(
        user=user,
        locked=bool(seconds),
        newly_locked=bool(seconds),
        retry_after=seconds,
        failures=state.failed_logins,
    )


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
    return new_token(session, user=user, device_kind=device_kind, hall=hall, name=name)[1]


def new_token(
    session: Session,
    *,
    user: User | None = None,
    device_kind: str | None = None,
    hall: Hall | None = None,
    name: str = "",
) -> tuple[ApiToken, str]:
    """`create_token`, also giving the stored row (flushed: its id is known)."""
    if device_kind is not None and device_kind not in ("kiosk", "display"):
        raise Invalid("bad_device", "设备类型只能是 kiosk 或 display", "Unknown device kind")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiToken(
        token_hash=hash_token(token),
        user_id=user.id if user else None,
        device_kind=device_kind,
        hall_id=hall.id if hall else (user.hall_id if user else None),
        name=name,
    )
    session.add(row)
    session.flush()
    return row, token


@dataclass(frozen=True)
class TokenKey:
    """The parts of a bearer token (a user's or a device's key) a request needs."""

    id: int
    device_kind: str | None
    hall_id: int | None


class Principal:
    """Who is making a request: a signed-in user, a token's user, or a device.

    A bearer token's user is known by id, role and hall (all a request usually needs); the
    User object itself is loaded only when asked for (`user`)."""

    __slots__ = ("token", "via_session", "_user", "_user_id", "_user_role", "_user_hall_id")

    def __init__(
        self,
        user: User | None = None,
        token: TokenKey | None = None,
        via_session: bool = False,
        *,
        user_id: int | None = None,
        user_role: str | None = None,
        user_hall_id: int | None = None,
    ):
        self.token = token
        self.via_session = via_session
        self._user = user
        if user is not None:
            user_id, user_role, user_hall_id = user.id, user.role, user.hall_id
        self._user_id = user_id
        self._user_role = user_role
        self._user_hall_id = user_hall_id

    @property
    def user(self) -> User | None:
        """The staff account acting (None for a device)."""
        if self._user is None and self._user_id is not None:
            self._user = db.session.get(User, self._user_id)
        return self._user

    @property
    def user_id(self) -> int | None:
        """The id of the staff account acting, without loading it."""
        return self._user_id

    @property
    def actor(self) -> Actor:
        """The audit identity of this principal."""
        return Actor(
            user_id=self._user_id,
            device_id=self.token.id if self.token else None,
            hall_id=self.hall_id,
            ip=client_ip(),
        )

    @property
    def role(self) -> str | None:
        """The user's role, or the device kind for device tokens."""
        if self._user_id is not None:
            return self._user_role
        return self.token.device_kind if self.token else None

    @property
    def hall_id(self) -> int | None:
        """The hall this principal is bound to (None: every hall)."""
        if self.token and self.token.hall_id:
            return self.token.hall_id
        return self._user_hall_id


# One statement, on the driver (hall.domain.rawsql): a token is looked up on every request
# of the API and never cached, so that a revoked key stops at its next request.
_TOKEN_BY_HASH = SQL(
    """
    SELECT t.id, t.device_kind, t.hall_id, t.revoked, t.user_id, u.role, u.hall_id, u.active
    FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id
    WHERE t.token_hash = :token_hash
    """
)


def token_principal(session: Session, value: str) -> Principal | None:
    """The principal of a bearer token, or None when it is unknown, revoked, or its user
    is disabled."""
    row = raw(session).one(_TOKEN_BY_HASH, {"token_hash": hash_token(value)})
    if row is None:
        return None
    token_id, kind, hall_id, revoked, user_id, role, user_hall_id, active = row
    if revoked or (user_id is not None and not active):
        return None
    return Principal(
        token=TokenKey(token_id, kind, hall_id),
        user_id=user_id,
        user_role=role,
        user_hall_id=user_hall_id,
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
        principal = token_principal(db.session, value.strip())
        if principal is None:
            raise Unauthorized("bad_token", "令牌无效或已吊销", "Invalid or revoked token")
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
