"""Login, logout, who-am-I, user management (admins) and password changes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import select

from gis_api import auth
from gis_api.deps import CurrentUser, SessionDep, SettingsDep
from gis_api.errors import Forbidden, InvalidInput

router = APIRouter(prefix="/api/v1", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: str
    username: str
    roles: list[str]


class UserCreate(BaseModel):
    username: str = Field(max_length=64)
    password: str = Field(min_length=auth.MIN_PASSWORD, max_length=auth.MAX_PASSWORD)
    roles: list[str]


class PasswordChange(BaseModel):
    password: str = Field(min_length=auth.MIN_PASSWORD, max_length=auth.MAX_PASSWORD,
                          description="the new password")
    old_password: str | None = Field(default=None, max_length=auth.MAX_PASSWORD,
                                     description="the current password; required to change your own")


class UserOut(BaseModel):
    username: str
    roles: list[str]
    active: bool


class AuthEventOut(BaseModel):
    at: str
    event: str
    username: str | None
    actor: str | None
    address: str | None
    detail: dict[str, Any] | None


def _public(user: auth.User) -> dict[str, Any]:
    return {"username": user.username, "roles": user.roles, "active": user.active}


def client_address(request: Request) -> str | None:
    """The peer address (uvicorn puts a trusted proxy's X-Forwarded-For here: --forwarded-allow-ips)."""
    return request.client.host if request.client else None


TOO_MANY: dict[int | str, dict[str, Any]] = {
    429: {"description": "Too many failed attempts: locked out for `Retry-After` seconds"}
}


@router.post("/auth/token", response_model=TokenOut,
             responses={401: {"description": "Wrong credentials"}, **TOO_MANY},
             summary="Password login (OAuth2 form) → bearer token")
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], request: Request, session: SessionDep,
    settings: SettingsDep,
) -> TokenOut:
    raw, record, user = auth.throttled_login(
        session, auth.Throttle.from_settings(settings.auth), form.username, form.password,
        settings.auth.token_ttl_hours, client_address(request),
    )
    return TokenOut(
        access_token=raw, expires_at=record.expires_at.isoformat(), username=user.username, roles=user.roles
    )


@router.post("/auth/logout", status_code=204, summary="Revoke the token used for this request")
def logout(
    user: CurrentUser, session: SessionDep, request: Request,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))],
) -> None:
    if creds is not None:
        auth.revoke(session, creds.credentials)
        auth.record_event(session, "logout", user.username, actor=user.username, address=client_address(request))


@router.get("/auth/me", response_model=UserOut, summary="The logged-in user and roles")
def me(user: CurrentUser) -> dict[str, Any]:
    return _public(user)


@router.get("/auth/events", response_model=list[AuthEventOut],
            summary="Authentication trail, newest first: logins, lock-outs, user changes (admin)")
def auth_events(
    user: CurrentUser, session: SessionDep,
    username: Annotated[str | None, Query(max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    auth.require(user)
    return auth.events(session, username, limit)


@router.get("/users", response_model=list[UserOut], summary="All users (admin)")
def list_users(user: CurrentUser, session: SessionDep) -> list[dict[str, Any]]:
    auth.require(user)  # admin only: no other role given
    return [_public(u) for u in session.scalars(select(auth.User).order_by(auth.User.username))]


@router.post("/users", status_code=201, response_model=UserOut, summary="Create a user (admin)")
def create_user(body: UserCreate, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    auth.require(user)
    return _public(auth.create_user(session, body.username, body.password, body.roles, actor=user.username))


@router.post("/users/{username}/disable", response_model=UserOut,
             summary="Disable a user and revoke all its tokens (admin)")
def disable_user(username: str, user: CurrentUser, session: SessionDep, request: Request) -> dict[str, Any]:
    auth.require(user)
    return _public(auth.set_active(session, username, False, actor=user.username, actor_user=user,
                                   address=client_address(request)))


@router.post("/users/{username}/enable", response_model=UserOut,
             summary="Enable a disabled user (admin); its old tokens stay revoked")
def enable_user(username: str, user: CurrentUser, session: SessionDep, request: Request) -> dict[str, Any]:
    auth.require(user)
    return _public(auth.set_active(session, username, True, actor=user.username, actor_user=user,
                                   address=client_address(request)))


@router.put("/users/{username}/password", status_code=204, responses=TOO_MANY,
            summary="Change a password; revokes all the user's tokens (admins: anyone's; others: their own, "
                    "with the old password)")
def change_password(
    username: str, body: PasswordChange, user: CurrentUser, session: SessionDep, settings: SettingsDep,
    request: Request,
) -> None:
    address = client_address(request)
    if username == user.username:
        # Even an admin proves the old password for their own: a stolen token must not take the account.
        if body.old_password is None:
            raise InvalidInput("old_password is required to change your own password", "修改自己的密码须提供原密码",
                           field="old_password", rule="required")
        auth.change_own_password(session, user, body.old_password, body.password,
                                 policy=auth.Throttle.from_settings(settings.auth), address=address)
        return
    if auth.Role.admin not in user.roles:
        raise Forbidden("only an admin can change another user's password", "只有管理员可以修改他人的密码",
                        code="role_required")
    auth.set_password(session, username, body.password, actor=user.username, address=address)
