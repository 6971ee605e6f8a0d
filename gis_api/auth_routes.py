"""Login, logout, who-am-I and user management."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, OAuth2PasswordRequestForm
from pydantic import BaseModel, Field
from sqlalchemy import select

from gis_api import auth
from gis_api.deps import CurrentUser, SessionDep, SettingsDep

router = APIRouter(prefix="/api/v1", tags=["auth"])


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    expires_at: str
    username: str
    roles: list[str]


class UserCreate(BaseModel):
    username: str
    password: str = Field(min_length=auth.MIN_PASSWORD)
    roles: list[str]


def _public(user: auth.User) -> dict[str, Any]:
    return {"username": user.username, "roles": user.roles, "active": user.active}


@router.post("/auth/token", response_model=TokenOut, summary="Password login (OAuth2 form) → bearer token")
def token(
    form: Annotated[OAuth2PasswordRequestForm, Depends()], session: SessionDep, settings: SettingsDep
) -> TokenOut:
    raw, record, user = auth.login(session, form.username, form.password, settings.auth.token_ttl_hours)
    return TokenOut(
        access_token=raw, expires_at=record.expires_at.isoformat(), username=user.username, roles=user.roles
    )


@router.post("/auth/logout", status_code=204, summary="Revoke the token used for this request")
def logout(
    _user: CurrentUser, session: SessionDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(HTTPBearer(auto_error=False))],
) -> None:
    if creds is not None:
        auth.revoke(session, creds.credentials)


@router.get("/auth/me", summary="The logged-in user and roles")
def me(user: CurrentUser) -> dict[str, Any]:
    return _public(user)


@router.get("/users", summary="All users (admin)")
def list_users(user: CurrentUser, session: SessionDep) -> list[dict[str, Any]]:
    auth.require(user)  # admin only: no other role given
    return [_public(u) for u in session.scalars(select(auth.User).order_by(auth.User.username))]


@router.post("/users", status_code=201, summary="Create a user (admin)")
def create_user(body: UserCreate, user: CurrentUser, session: SessionDep) -> dict[str, Any]:
    auth.require(user)
    return _public(auth.create_user(session, body.username, body.password, body.roles))
