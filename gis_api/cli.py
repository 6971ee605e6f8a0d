"""The ``diming`` command: database, migrations, demo data, users, server (each with --help)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence

from sqlalchemy import select

from gis_api import auth
from gis_api.db import database_url, make_engine, make_sessionmaker, transaction
from gis_api.embedded_db import Cluster, EmbeddedDbError
from gis_api.errors import DimingError
from gis_api.settings import CHECKOUT, Settings, load_settings
from gis_api.users_cli import credentials_file

ADMIN = "admin"


def _embedded(settings: Settings) -> Cluster | None:
    return None if settings.db.database_url else Cluster.from_settings(settings.db)


# -- db --------------------------------------------------------------------------------------------------

def cmd_db(settings: Settings, args: argparse.Namespace) -> int:
    cluster = _embedded(settings)
    if cluster is None:
        if args.action == "psql":
            url = settings.db.database_url or ""
            os.execvp("psql", ["psql", url.replace("postgresql+psycopg2://", "postgresql://")])
        print(f"using DIMING_DATABASE_URL; the embedded cluster is not used ({args.action} ignored)")
        return 0
    if args.action == "up":
        cluster.up()
        cluster.ensure_database(settings.db.db_name)
        print(f"database up: socket {cluster.socket_dir}, data {cluster.data_dir}")
    elif args.action == "down":
        cluster.down()
        print("database stopped")
    elif args.action == "status":
        status = cluster.status()
        status["database"] = settings.db.db_name
        status["url"] = cluster.url(settings.db.db_name)
        for key, value in status.items():
            print(f"{key:12} {value}")
        return 0 if status["running"] else 3
    elif args.action == "psql":
        psql = cluster.bindir / "psql"
        os.execv(str(psql), [str(psql), *cluster.libpq_args(settings.db.db_name), *args.extra])
    return 0


# -- migrations and bootstrap -------------------------------------------------------------------------------

def run_migrations(url: str, revision: str = "heads") -> None:
    from alembic import command
    from alembic.config import Config

    cfg = Config(str(CHECKOUT / "alembic.ini"))
    cfg.attributes["url"] = url
    command.upgrade(cfg, revision)


def ensure_admin(settings: Settings) -> str | None:
    """Create the first admin with a generated password; return it once (else None)."""
    factory = make_sessionmaker(make_engine(database_url(settings.db), 1))
    with transaction(factory) as session:
        if session.scalar(select(auth.User.id).limit(1)) is not None:
            return None
        password = auth.generate_password()
        auth.create_user(session, ADMIN, password, [auth.Role.admin.value])
    path = credentials_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(f"username={ADMIN}\npassword={password}\n")
    os.chmod(path, 0o600)
    return password


def cmd_migrate(settings: Settings, args: argparse.Namespace) -> int:
    cluster = _embedded(settings)
    if cluster is not None:
        cluster.up()
        cluster.ensure_database(settings.db.db_name)
    run_migrations(database_url(settings.db), args.revision)
    print(f"migrations applied ({args.revision})")
    password = ensure_admin(settings)
    if password:
        print(f"created user '{ADMIN}' with password: {password}")
        print(f"(shown once; kept in {credentials_file(settings)}, readable only by its owner)")
    return 0


def cmd_load_demo(settings: Settings, _args: argparse.Namespace) -> int:
    from gis_api.boundaries.demo import load_demo_boundaries
    from gis_api.divisions.demo import load_demo
    from gis_api.facilities.demo import load_demo_facilities
    from gis_api.places.demo import load_demo_places

    factory = make_sessionmaker(make_engine(database_url(settings.db), 1))
    with transaction(factory) as session:
        report = load_demo(session)
        boundaries = load_demo_boundaries(session)
        places = load_demo_places(session)
        facilities = load_demo_facilities(session)
    created = ", ".join(f"{k} {v}" for k, v in report.created.items()) or "nothing new"
    print(f"demo divisions: created {created}; already present {report.skipped}; renamed {report.renamed}")
    print(f"demo places: created {places['created'] or 'nothing new'}")
    lines = {k: len(v.get("created", [])) for k, v in boundaries.items() if isinstance(v, dict)}
    markers = boundaries.get("markers_created", 0)
    print(f"demo boundaries: lines created {lines or 'nothing new'}; markers created {markers}")
    print(f"demo facilities: {facilities}")
    return 0


# -- server -------------------------------------------------------------------------------------------------

def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    from gis_api.app import create_app

    cluster = _embedded(settings)
    if cluster is not None:
        cluster.up()
    port = args.port or settings.server.port
    app = create_app(settings)
    print(f"Diming serving http://{settings.server.host}:{port}/  (map at /, API docs at /docs)")
    if credentials_file(settings).exists():
        print(f"admin credentials: {credentials_file(settings)}")
    uvicorn.run(app, host=settings.server.host, port=port, log_level=args.log_level, workers=1)
    return 0


def cmd_info(settings: Settings, _args: argparse.Namespace) -> int:
    """What make run prints before serving: where to go and where the first admin's password is (the
    password itself is printed once, by ``diming migrate`` when it creates the admin)."""
    creds = credentials_file(settings)
    print(f"URL:   http://{settings.server.host}:{settings.server.port}/   (API docs: /docs)")
    if creds.exists():
        print(f"admin: user '{ADMIN}', generated password in {creds} (readable only by its owner)")
    return 0


# -- parser -------------------------------------------------------------------------------------------------

Handler = Callable[[Settings, argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="diming", description="Diming 地名: place names, divisions, boundaries")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("db", help="the embedded PostgreSQL/PostGIS cluster of this checkout")
    p.add_argument("action", choices=["up", "down", "status", "psql"])
    p.add_argument("extra", nargs=argparse.REMAINDER, help="extra psql arguments")
    p.set_defaults(handler=cmd_db)

    p = sub.add_parser("migrate", help="apply database migrations and create the first admin")
    p.add_argument("--revision", default="heads")
    p.set_defaults(handler=cmd_migrate)

    p = sub.add_parser("load-demo", help="load the Feidong demo data (idempotent)")
    p.set_defaults(handler=cmd_load_demo)

    p = sub.add_parser("serve", help="serve the API and the map (DIMING_PORT sets the port)")
    p.add_argument("--port", type=int, default=None)
    p.add_argument("--log-level", default="info")
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("info", help="print the URL and where the admin credentials file is")
    p.set_defaults(handler=cmd_info)

    for extra in _extensions():
        extra(sub)
    return parser


def _extensions() -> list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]]:
    """Subcommands of the domain areas (each area registers its own)."""
    from gis_api.backup_cli import register as backup
    from gis_api.boundaries.cli import register as boundaries
    from gis_api.coverage.cli import register as coverage
    from gis_api.io.cli import register as io
    from gis_api.places.cli import register as places
    from gis_api.users_cli import register as users

    return [users, places, coverage, boundaries, io, backup]


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    settings = load_settings()
    handler: Handler = args.handler
    try:
        return handler(settings, args)
    except DimingError as exc:
        print(json.dumps(exc.body(), ensure_ascii=False), file=sys.stderr)
        return 2
    except EmbeddedDbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
