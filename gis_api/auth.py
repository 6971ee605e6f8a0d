"""Users, roles and bearer tokens.

Passwords are hashed with Argon2; tokens are random, shown once, and stored as SHA-256 digests with an
expiry, so a leaked database does not leak usable tokens.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets
from enum import StrEnum

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import Boolean, DateTime, ForeignKey, Integer, Text, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import Mapped, Session, mapped_column

from gis_api.db import Base
from gis_api.errors import Conflict, Forbidden, InvalidInput, Unauthorized


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


def create_user(session: Session, username: str, password: str, roles: list[str]) -> User:
    username = validate_username(username)
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"password must have at least {MIN_PASSWORD} characters",
            f"密码至少需要{MIN_PASSWORD}个字符",
            field="password",
        )
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise Conflict(f"user {username!r} already exists", f"用户 {username!r} 已存在", field="username")
    user = User(username=username, password_hash=_hasher.hash(password), roles=parse_roles(roles))
    session.add(user)
    session.flush()
    return user


def set_password(session: Session, username: str, password: str) -> None:
    user = session.scalar(select(User).where(User.username == username))
    if user is None:
        raise InvalidInput(f"no user {username!r}", f"没有用户 {username!r}", field="username")
    if len(password) < MIN_PASSWORD:
        raise InvalidInput(
            f"password must have at least {MIN_PASSWORD} characters", f"密码至少需要{MIN_PASSWORD}个字符",
            field="password",
        )
    user.password_hash = _hasher.hash(password)
    session.flush()


def login(session: Session, username: str, password: str, ttl_hours: int) -> tuple[str, ApiToken, User]:
    """Check the password and issue a token; the same message for unknown user and wrong password."""
    user = session.scalar(select(User).where(User.username == username, User.active.is_(True)))
    bad = Unauthorized("wrong username or password", "用户名或密码错误", field="password")
    if user is None:
        raise bad
    try:
        _hasher.verify(user.password_hash, password)
    except (VerificationError, InvalidHashError):
        raise bad from None
    token = secrets.token_urlsafe(32)
    record = ApiToken(
        user_id=user.id,
        token_hash=_digest(token),
        expires_at=dt.datetime.now(dt.UTC) + dt.timedelta(hours=ttl_hours),
    )
    session.add(record)
    session.flush()
    return token, record, user


def authenticate(session: Session, token: str) -> User:
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
            code="role_required",
        )
    return user


def generate_password() -> str:
    return secrets.token_urlsafe(15)
