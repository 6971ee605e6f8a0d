"""``diming user add|list|disable|enable|passwd``: user management from the server's shell.

Passwords are read from the terminal (twice) or, when stdin is not a terminal, from its first line, so they
never appear in the process list or the shell history. Every change is written to ``auth_events`` with the
actor ``cli:<os user>``; changing a password or disabling a user revokes all of that user's tokens.
"""

from __future__ import annotations

import argparse
import getpass
import sys
from pathlib import Path

from sqlalchemy import func, select

from gis_api import auth
from gis_api.db import database_url, make_engine, make_sessionmaker, transaction
from gis_api.errors import DimingError
from gis_api.settings import Settings


def credentials_file(settings: Settings) -> Path:
    """Where ``diming migrate`` keeps the first admin's generated password (mode 0600)."""
    return settings.db.home / "admin-credentials"


def _actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no passwd entry (containers)
        return "cli"


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("password: ")
        if getpass.getpass("again: ") != first:
            raise DimingError("passwords differ", "两次输入的密码不一致", field="password")
        return first
    return sys.stdin.readline().rstrip("\n")


def cmd_user(settings: Settings, args: argparse.Namespace) -> int:
    factory = make_sessionmaker(make_engine(database_url(settings.db), 1))
    actor = _actor()
    with transaction(factory) as session:
        if args.action == "add":
            user = auth.create_user(session, args.name, _read_password(), args.role, actor=actor)
            print(f"user {user.username} created with roles {', '.join(user.roles)}")
        elif args.action == "passwd":
            user = auth.set_password(session, args.name, _read_password(), actor=actor)
            print(f"password of {user.username} changed; all of its tokens are revoked")
        elif args.action in ("disable", "enable"):
            user = auth.set_active(session, args.name, args.action == "enable", actor=actor)
            print(f"user {user.username} {args.action}d" + ("; all of its tokens are revoked"
                                                           if args.action == "disable" else ""))
        else:
            live = dict(
                session.execute(
                    select(auth.ApiToken.user_id, func.count())
                    .where(auth.ApiToken.revoked_at.is_(None), auth.ApiToken.expires_at > func.now())
                    .group_by(auth.ApiToken.user_id)
                ).all()
            )
            print("username\troles\tstatus\tlive tokens")
            for u in session.scalars(select(auth.User).order_by(auth.User.username)):
                print(f"{u.username}\t{','.join(u.roles)}\t{'active' if u.active else 'disabled'}\t"
                      f"{live.get(u.id, 0)}")
    if args.action == "passwd":
        _forget_initial_password(settings, args.name)
    return 0


def _forget_initial_password(settings: Settings, username: str) -> None:
    """The generated first password is void once changed: do not leave it lying in the credentials file."""
    path = credentials_file(settings)
    if not path.exists():
        return
    fields = dict(line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    if fields.get("username") == username:
        path.unlink()
        print(f"removed {path} (it held the old, generated password)")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("user", help="manage users; passwords are read from the terminal or stdin")
    usub = p.add_subparsers(dest="action", required=True)
    ua = usub.add_parser("add", help="add a user: diming user add NAME --role ROLE (password on stdin)")
    ua.add_argument("name", help="user name (login)")
    ua.add_argument("--role", action="append", required=True, choices=[r.value for r in auth.Role],
                    help="a role; repeat for several")
    for action, text in (
        ("passwd", "set a user's password (from stdin) and revoke its tokens"),
        ("disable", "disable a user and revoke its tokens"),
        ("enable", "enable a disabled user again (old tokens stay revoked)"),
    ):
        usub.add_parser(action, help=text).add_argument("name", help="user name")
    usub.add_parser("list", help="list users, roles, status and live tokens")
    p.set_defaults(handler=cmd_user)
