"""Users, roles and bearer tokens; login throttling and the authentication audit trail.

Passwords are hashed with Argon2; tokens are random, shown once, and stored as SHA-256 digests with an
expiry, so a leaked database does not leak usable tokens. Changing a password or disabling a user revokes
every token the user holds. Failed logins are counted per account and per client address in PostgreSQL
(``auth_throttle``), so every server worker process sees the same counts; every login, lock-out and user
change is written to ``auth_events`` (who, from where, when).
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import math
import secrets
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Table,
    Text,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Mapped, Session, mapped_column

from gis_api.db import Base
from gis_api.errors import Conflict, DimingError, Forbidden, InvalidInput, NotFound, Unauthorized
from gis_api.settings import AuthSettings


class Role(StrEnum):
    admin = "admin"
    officer = "officer"  # place names
    reviewer = "reviewer"  # approvals
    patrol = "patrol"  # boundaries, markers, inspections
    planner = "planner"  # facilities, coverage
    viewer = "viewer"


ROLE_ZH = {
    Role.admin: "管理员",
    Role.officer: "地名工作人员",
    Role.reviewer: "审核人",
    Role.patrol: "边界巡查员",
    Role.planner: "规划人员",
    Role.viewer: "查看者",
}

_hasher = PasswordHasher()
MIN_PASSWORD = 8
MAX_PASSWORD = 1024
KEY_CHARS = 128  # throttle keys and audited usernames are cut here: a login form can carry anything


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(Text, nullable=False)
    roles: Mapped[list[str]] = mapped_column(ARRAY(Text), nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    def has_any(self, roles: tuple[Role, ...]) -> bool:
        return Role.admin in self.roles or any(r in self.roles for r in roles)


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True)
    token_hash: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    expires_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class AuthThrottle(Base):
    """Failed logins of one account name or one client address (rows of both scopes live here)."""

    __tablename__ = "auth_throttle"

    scope: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, nullable=False, server_default="0")
    last_failure_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))

    __table_args__ = (
        CheckConstraint("scope IN ('account', 'address')", name="scope_known"),
        CheckConstraint("failures >= 0", name="failures_nonnegative"),
        Index("ix_auth_throttle_last_failure_at", "last_failure_at"),
    )


class AuthEvent(Base):
    """The authentication audit trail: logins (good, bad, throttled), logouts and user changes."""

    __tablename__ = "auth_events"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()
    )
    event: Mapped[str] = mapped_column(Text, nullable=False)
    username: Mapped[str | None] = mapped_column(Text)  # the account concerned (as typed, for logins)
    actor: Mapped[str | None] = mapped_column(Text)  # who acted: the user, an admin, or cli:<os user>
    address: Mapped[str | None] = mapped_column(Text)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)

    __table_args__ = (
        Index("ix_auth_events_username", "username", "id"),
        Index("ix_auth_events_at", "at"),
    )


_THROTTLE = cast(Table, AuthThrottle.__table__)


class TooManyAttempts(DimingError):
    status = 429
    code = "too_many_attempts"


@dataclass(frozen=True)
class Throttle:
    """Lock-out policy (DIMING_AUTH_* settings): ``max_*`` failures lock the account / address for
    ``lockout_s``; each further failure doubles that, up to ``lockout_max_s``. Failures are forgotten after
    ``window_s`` without another failure; a successful login clears its account's count."""

    max_account: int = 5
    max_address: int = 20
    lockout_s: int = 60
    lockout_max_s: int = 900
    window_s: int = 3600

    @classmethod
    def from_settings(cls, s: AuthSettings) -> Throttle:
        return cls(s.auth_max_failures_account, s.auth_max_failures_address, s.auth_lockout_seconds,
                   s.auth_lockout_max_seconds, s.auth_failure_window_seconds)

    def limit(self, scope: str) -> int:
        return self.max_account if scope == "account" else self.max_address

    def delay(self, scope: str, failures: int) -> int:
        """Seconds of lock-out after the last of ``failures`` consecutive failures (0: none)."""
        over = failures - self.limit(scope)
        return 0 if over < 0 else min(self.lockout_s * 2 ** min(over, 30), self.lockout_max_s)

    def remaining(self, scope: str, failures: int, last: dt.datetime | None, now: dt.datetime) -> float:
        """Seconds this key stays locked (<= 0: not locked)."""
        delay = self.delay(scope, failures)
        if not delay or last is None:
            return 0.0
        return (last + dt.timedelta(seconds=delay) - now).total_seconds()


def _key(text_: str) -> str:
    # PostgreSQL text cannot hold NUL; anything longer than a username cannot be one.
    return text_.replace("\x00", "\ufffd")[:KEY_CHARS]


def record_event(
    session: Session, event: str, username: str | None, *, actor: str | None = None,
    address: str | None = None, **detail: Any,
) -> None:
    session.add(AuthEvent(
        event=event, username=_key(username) if username is not None else None,
        actor=_key(actor) if actor is not None else None,
        address=_key(address) if address is not None else None, detail=detail or None,
    ))
    session.flush()


def events(session: Session, username: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """The newest authentication events first."""
    q = select(AuthEvent).order_by(AuthEvent.id.desc()).limit(limit)
    if username is not None:
        q = q.where(AuthEvent.username == username)
    return [
        {"at": e.at.isoformat(), "event": e.event, "username": e.username, "actor": e.actor,
         "address": e.address, "detail": e.detail}
        for e in session.scalars(q)
    ]


def _throttle_keys(username: str, address: str | None) -> list[tuple[str, str]]:
    # Sorted by scope: every transaction locks rows in the same order, so two logins cannot deadlock.
    return [("account", _key(username))] + ([("address", _key(address))] if address else [])


def reserve_attempt(
    session: Session, policy: Throttle, username: str, address: str | None
) -> dict[str, int]:
    """Count this login attempt as a failure *before* the password is checked, or raise 429 if the account
    or the address is locked out. Counting first means parallel guesses (in any worker process) cannot all
    slip in before the first failure is recorded; a success gives the count back (``release_attempt``).
    Returns the failure count per scope including this attempt."""
    t = _THROTTLE
    keys = _throttle_keys(username, address)
    session.execute(pg_insert(t).values([{"scope": s, "key": k} for s, k in keys]).on_conflict_do_nothing())
    now = session.scalar(select(func.clock_timestamp()))
    assert now is not None
    rows = session.execute(
        select(t.c.scope, t.c.key, t.c.failures, t.c.last_failure_at)
        .where(tuple_(t.c.scope, t.c.key).in_(keys)).order_by(t.c.scope).with_for_update()
    ).all()
    current: dict[tuple[str, str], int] = {}
    waits: dict[str, float] = {}
    for scope, key, failures, last in rows:
        if last is None or (now - last).total_seconds() > policy.window_s:
            failures = 0  # forgotten
        current[(scope, key)] = failures
        left = policy.remaining(scope, failures, last, now)
        if left > 0:
            waits[scope] = left
    if waits:
        seconds = math.ceil(max(waits.values()))
        locked = sorted(waits)
        record_event(session, "login_throttled", username, address=address, locked=locked, retry_after=seconds)
        raise TooManyAttempts(
            f"too many failed logins; try again in {seconds} s",
            f"登录失败次数过多，请 {seconds} 秒后再试",
            field="username" if "account" in locked else None, rule="login_throttle",
            extra={"retry_after": seconds}, headers={"Retry-After": str(seconds)},
        )
    for (scope, key), failures in current.items():
        session.execute(
            update(t).where(t.c.scope == scope, t.c.key == key).values(failures=failures + 1, last_failure_at=now)
        )
    return {scope: failures + 1 for (scope, _key), failures in current.items()}


def release_attempt(session: Session, policy: Throttle, username: str, address: str | None) -> None:
    """After a successful login: clear the account's count, give the address its attempt back, and drop
    rows nobody has failed on for a whole window."""
    t = _THROTTLE
    session.execute(t.delete().where(t.c.scope == "account", t.c.key == _key(username)))
    if address:
        session.execute(
            update(t).where(t.c.scope == "address", t.c.key == _key(address))
            .values(failures=func.greatest(t.c.failures - 1, 0))
        )
    session.execute(t.delete().where(
        t.c.last_failure_at < func.now() - dt.timedelta(seconds=policy.window_s)
    ))
    session.flush()


@functools.cache
def _dummy_hash() -> str:
    """A hash of nothing anyone knows, made with the same parameters as real ones: unknown users cost the
    same Argon2 work as known ones, so response times do not tell which usernames exist."""
    return _hasher.hash(secrets.token_urlsafe(24))


def revoke_all(session: Session, user_id: int) -> int:
    """Revoke every live token of a user (password change, disable); returns how many."""
    done = session.execute(
        update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    session.flush()
    return int(getattr(done, "rowcount", 0) or 0)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def validate_username(name: str) -> str:
    name = name.strip()
    if not (1 <= len(name) <= 64) or any(c.isspace() for c in name):
        raise InvalidInput(
            "username must be 1-64 characters without spaces", "用户名须为1-64个字符且不含空格", field="username"
        )
    return name


def parse_roles(roles: list[str]) -> list[str]:
    if not roles:
        raise InvalidInput("at least one role is required", "至少需要一个角色", field="roles")
    out = []
    for r in roles:
        try:
            out.append(Role(r).value)
        except ValueError:
            raise InvalidInput(
                f"unknown role {r!r}; roles are {', '.join(x.value for x in Role)}",
                f"未知角色 {r!r}；可用角色：{', '.join(x.value for x in Role)}",
                field="roles",
            ) from None
    return sorted(set(out))


def _check_password(password: str, field: str = "password") -> None:
    if not (MIN_PASSWORD <= len(password) <= MAX_PASSWORD):
        raise InvalidInput(
            f"password must have {MIN_PASSWORD} to {MAX_PASSWORD} characters",
            f"密码须为{MIN_PASSWORD}至{MAX_PASSWORD}个字符",
            field=field, rule="password_length",
        )


def create_user(
    session: Session, username: str, password: str, roles: list[str], *, actor: str = "system"
) -> User:
    username = validate_username(username)
    _check_password(password)
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists", f"用户 {username!r} 已存在", field="username")
    user = User(username=username, password_hash=_hasher.hash(password), roles=parse_roles(roles))
    session.add(user)
    session.flush()
    record_event(session, "user_created", username, actor=actor, roles=user.roles)
    return user


def find_user(session: Session, username: str) -> User | None:
    # A NUL cannot be in a stored name, and psycopg2 would refuse to send it.
    return None if "\x00" in username else session.scalar(select(User).where(User.username == username))


def get_user(session: Session, username: str) -> User:
    user = find_user(session, username)
    if user is None:
        raise NotFound(f"no user {username!r}", f"没有用户 {username!r}", field="username")
    return user


def set_password(
    session: Session, username: str, password: str, *, actor: str = "system", address: str | None = None
) -> User:
    """Set a new password, revoke every token issued before it and lift a lock-out of the account (the usual
    way out for a user who locked themselves out is an admin setting a new password)."""
    _check_password(password)
    user = get_user(session, username)
    user.password_hash = _hasher.hash(password)
    session.flush()
    revoked = revoke_all(session, user.id)
    session.execute(_THROTTLE.delete().where(_THROTTLE.c.scope == "account", _THROTTLE.c.key == _key(username)))
    record_event(session, "password_changed", user.username, actor=actor, address=address,
                 tokens_revoked=revoked)
    return user


def set_active(
    session: Session, username: str, active: bool, *, actor: str = "system", actor_user: User | None = None,
    address: str | None = None,
) -> User:
    """Enable or disable a user; disabling revokes its tokens. Nobody disables themselves or the last
    active admin (that would leave no one able to manage users through the API)."""
    user = get_user(session, username)
    if not active:
        if actor_user is not None and actor_user.id == user.id:
            raise Conflict("you cannot disable yourself", "不能停用自己的账号", field="username", rule="not_self")
        if Role.admin in user.roles and user.active:
            others = session.scalar(
                select(func.count()).select_from(User)
                .where(User.active.is_(True), User.roles.contains([Role.admin.value]), User.id != user.id)
            )
            if not others:
                raise Conflict("the last active admin cannot be disabled", "不能停用最后一个有效的管理员",
                               field="username", rule="last_admin")
    changed = user.active != active
    user.active = active
    session.flush()
    revoked = 0 if active else revoke_all(session, user.id)
    if changed or revoked:
        record_event(session, "user_enabled" if active else "user_disabled", user.username, actor=actor,
                     address=address, tokens_revoked=revoked)
    return user


def _verify(user: User | None, password: str) -> bool:
    """Argon2 verification; for no user the same work against a dummy hash (then False)."""
    try:
        _hasher.verify(user.password_hash if user is not None else _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return user is not None


def change_own_password(
    session: Session, user: User, old_password: str, new_password: str, *, policy: Throttle,
    address: str | None = None,
) -> None:
    """A user changes their own password, proving the old one (throttled like a login: a stolen token must
    not become a way to guess the password). Commits like ``throttled_login``."""
    _check_password(new_password)
    try:
        reserve_attempt(session, policy, user.username, address)
    except TooManyAttempts:
        session.commit()
        raise
    session.commit()
    if not _verify(user, old_password):
        record_event(session, "password_change_failed", user.username, actor=user.username, address=address)
        session.commit()
        raise InvalidInput("the old password is wrong", "原密码错误", field="old_password", rule="matches_current")
    release_attempt(session, policy, user.username, address)
    set_password(session, user.username, new_password, actor=user.username, address=address)


def login(
    session: Session, username: str, password: str, ttl_hours: int, *, address: str | None = None
) -> tuple[str, ApiToken, User]:
    """Check the password and issue a token; the same message, and the same Argon2 work, for an unknown
    user, a disabled user and a wrong password."""
    user = find_user(session, username)
    bad = Unauthorized("wrong username or password", "用户名或密码错误", field="password")
    ok = _verify(user, password)
    if user is None or not ok or not user.active:
        reason = "unknown_user" if user is None else "wrong_password" if not ok else "disabled"
        record_event(session, "login_failed", username, actor=username, address=address, reason=reason)
        raise bad
    token = secrets.token_urlsafe(32)
    record = ApiToken(
        user_id=user.id,
        token_hash=_digest(token),
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=ttl_hours),
    )
    session.add(record)
    session.flush()
    record_event(session, "login", user.username, actor=user.username, address=address)
    return token, record, user


def throttled_login(
    session: Session, policy: Throttle, username: str, password: str, ttl_hours: int, address: str | None
) -> tuple[str, ApiToken, User]:
    """``login`` behind the per-account and per-address throttle.

    Unlike other services this commits: the attempt is counted in a short transaction of its own before the
    slow hash (so the row locks are not held while Argon2 runs and other workers see the count at once), and
    a failure's count and audit row must survive the 401/429 that rolls the request's transaction back.
    """
    try:
        counts = reserve_attempt(session, policy, username, address)
    except TooManyAttempts:
        session.commit()  # keep the audit row of the refused attempt
        raise
    session.commit()
    try:
        result = login(session, username, password, ttl_hours, address=address)
    except DimingError:
        for scope, failures in counts.items():
            if failures >= policy.limit(scope):  # this failure starts (or doubles) a lock-out
                record_event(session, "lockout", username, address=address, scope=scope, failures=failures,
                             seconds=policy.delay(scope, failures))
        session.commit()
        raise
    release_attempt(session, policy, result[2].username, address)
    return result


def authenticate(session: Session, token: str) -> User:
    if "\x00" in token:
        raise Unauthorized("invalid token", "令牌无效")
    row = session.execute(
        select(User, ApiToken)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == _digest(token), User.active.is_(True))
    ).first()
    if row is None:
        raise Unauthorized("invalid token", "令牌无效")
    user, record = row
    if record.revoked_at is not None or record.expires_at <= dt.datetime.now(dt.UTC):
        raise Unauthorized("token expired or revoked; log in again", "令牌已过期或已撤销，请重新登录")
    return user


def revoke(session: Session, token: str) -> None:
    record = session.scalar(select(ApiToken).where(ApiToken.token_hash == _digest(token)))
    if record is not None and record.revoked_at is None:
        record.revoked_at = dt.datetime.now(dt.UTC)
        session.flush()


def require(user: User | None, *roles: Role) -> User:
    """The user when they hold one of ``roles`` (admin always does); no roles given = admin only."""
    roles = roles or (Role.admin,)
    if user is None:
        raise Unauthorized()
    if not user.has_any(roles):
        wanted = " or ".join(r.value for r in roles)
        wanted_zh = "或".join(ROLE_ZH[r] for r in roles)
        raise Forbidden(
            f"this needs the role {wanted}; {user.username} has {', '.join(user.roles)}",
            f"此操作需要{wanted_zh}角色",
            code="role_required", rule="role_required",
        )
    return user


def generate_password() -> str:
    return secrets.token_urlsafe(15)
