"""The ``diming`` command: database, migrations, demo data, users, server (each with --help).

Start-up is lazy: ``diming --help`` imports no framework (FastAPI, SQLAlchemy, pypinyin, GDAL) — only the
area module of the command being run is imported, and it imports what it needs when it runs.
"""

from __future__ import annotations

import argparse
import functools
import importlib
import json
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fastapi import FastAPI

    from gis_api.embedded_db import Cluster
    from gis_api.settings import Settings

    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    SubParsers = argparse._SubParsersAction

ADMIN = "admin"


def _embedded(settings: Settings) -> Cluster | None:
    from gis_api.embedded_db import Cluster

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
        for name in cluster.replica_names():  # local replicas follow their primary
            cluster.replica(name).up()
            print(f"replica {name} up: {cluster.replica(name).url(settings.db.db_name)}")
    elif args.action == "down":
        for name in cluster.replica_names():
            cluster.replica(name).down()
        cluster.down()
        print("database stopped")
    elif args.action == "replica":
        return _replica(cluster, settings, args)
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


def _replica(cluster: Cluster, settings: Settings, args: argparse.Namespace) -> int:
    db = settings.db.db_name
    if args.replica_action == "add":
        replica = cluster.add_replica(args.name)
        name = replica.home.name
        print(f"replica {name} streaming from {cluster.socket_dir} (slot diming_{name}), data {replica.data_dir}")
        print(f"read from it with: DIMING_READ_REPLICA_URLS={replica.url(db)}")
    elif args.replica_action == "list":
        for name in cluster.replica_names():
            for key, value in cluster.replica_status(name, db).items():
                print(f"{key:12} {value}")
            print()
    elif args.replica_action == "remove":
        if args.name not in cluster.replica_names():
            print(f"error: no replica {args.name!r} (diming db replica list)", file=sys.stderr)
            return 1
        cluster.remove_replica(args.name)
        print(f"replica {args.name} removed (its replication slot dropped)")
    return 0


# -- migrations and bootstrap -------------------------------------------------------------------------------

def run_migrations(url: str, revision: str = "heads") -> None:
    from alembic import command
    from alembic.config import Config

    from gis_api.settings import CHECKOUT

    cfg = Config(str(CHECKOUT / "alembic.ini"))
    cfg.attributes["url"] = url
    command.upgrade(cfg, revision)


def ensure_admin(settings: Settings) -> str | None:
    """Create the first admin with a generated password; return it once (else None)."""
    from sqlalchemy import select

    from gis_api import auth
    from gis_api.db import database_url, make_engine, make_sessionmaker, transaction
    from gis_api.users_cli import credentials_file

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
    from gis_api.db import database_url
    from gis_api.users_cli import credentials_file

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
    from gis_api.db import database_url, make_engine, make_sessionmaker, transaction
    from gis_api.divisions.demo import load_demo
    from gis_api.facilities.demo import load_demo_facilities
    from gis_api.places.demo import load_demo_places
    from gis_api.progress import phases

    factory = make_sessionmaker(make_engine(database_url(settings.db), 1))
    with phases("load demo", 4) as p, transaction(factory) as session:
        p.step("divisions")
        report = load_demo(session)
        p.step("boundaries")
        boundaries = load_demo_boundaries(session)
        p.step("places")
        places = load_demo_places(session)
        p.step("facilities")
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

    from gis_api.users_cli import credentials_file

    cluster = _embedded(settings)
    if cluster is not None:
        cluster.up()
    port = args.port or settings.server.port
    workers = args.workers or settings.server.workers or os.cpu_count() or 1
    settings = _connection_budget(settings, workers)
    print(f"Diming serving http://{settings.server.host}:{port}/  (map at /, API docs at /docs; "
          f"{workers} worker process{'es' if workers > 1 else ''})")
    if credentials_file(settings).exists():
        print(f"admin credentials: {credentials_file(settings)}")
    if workers == 1:
        from gis_api.app import create_app

        uvicorn.run(create_app(settings), host=settings.server.host, port=port, log_level=args.log_level,
                    workers=1)
        return 0
    # Several processes: uvicorn starts each from an import string, and each builds its own app (settings from the
    # same environment; its own engine, read pool and caches — nothing is shared between processes).
    uvicorn.run("gis_api.cli:serve_app", factory=True, host=settings.server.host, port=port,
                log_level=args.log_level, workers=workers)
    return 0


def _connection_budget(settings: Settings, workers: int) -> Settings:
    """Check that every worker's pools fit max_connections of the primary and of each reachable read replica
    (gis_api.db.check_budget); shrink the pools to fit, with a message, or refuse to start."""
    from gis_api.db import check_budget, database_url, normalise_url, server_limits
    from gis_api.ogc.settings import OgcSettings

    pool, ogc = settings.db.pool_size, OgcSettings().pool_size
    for name, url in [("primary", database_url(settings.db)),
                      *((f"replica {i + 1}", normalise_url(u)) for i, u in enumerate(settings.db.replica_urls()))]:
        try:
            limits = server_limits(url)
        except Exception as exc:  # a server that is down now may be up later: say so, do not refuse
            print(f"connection budget of the {name} not checked (cannot connect: {str(exc).splitlines()[0]})")
            continue
        budget, note = check_budget(workers, pool, ogc, settings.db.reserved_connections, limits)
        print(f"{name}: {note}")
        pool, ogc = budget.pool_size, budget.ogc_pool_size
    if (pool, ogc) != (settings.db.pool_size, OgcSettings().pool_size):
        # the worker processes read their settings from the environment
        os.environ["DIMING_POOL_SIZE"], os.environ["DIMING_OGC_POOL_SIZE"] = str(pool), str(ogc)
        settings = replace(settings, db=settings.db.model_copy(update={"pool_size": pool}))
    return settings


def serve_app() -> FastAPI:
    """The app of one server worker process (``uvicorn --factory``): settings from the environment."""
    from gis_api.app import create_app
    from gis_api.settings import load_settings

    return create_app(load_settings())


def cmd_info(settings: Settings, _args: argparse.Namespace) -> int:
    """What make run prints before serving: where to go and where the first admin's password is (the
    password itself is printed once, by ``diming migrate`` when it creates the admin)."""
    from gis_api.users_cli import credentials_file

    creds = credentials_file(settings)
    print(f"URL:   http://{settings.server.host}:{settings.server.port}/   (API docs: /docs)")
    if creds.exists():
        print(f"admin: user '{ADMIN}', generated password in {creds} (readable only by its owner)")
    return 0


# -- parser -------------------------------------------------------------------------------------------------

Handler = Callable[["Settings", argparse.Namespace], int]


def _register_core(sub: SubParsers) -> None:
    p = sub.add_parser("db", help="the embedded PostgreSQL/PostGIS cluster of this checkout",
                       description="The cluster lives under DIMING_HOME (default /var/lib/diming/<checkout>) and "
                                   "runs as the postgres user. Not used when DIMING_DATABASE_URL is set.")
    dsub = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    dsub.add_parser("up", help="initialise (first time) and start the cluster; create the database")
    dsub.add_parser("down", help="stop the cluster (fast shutdown)")
    dsub.add_parser("status", help="is it running, where are its data, socket and URL (exit 3 when stopped)")
    q = dsub.add_parser("psql", help="open psql on the application database")
    q.add_argument("extra", nargs=argparse.REMAINDER, help="further psql arguments, e.g. -c 'select 1'")
    r = dsub.add_parser("replica", help="local streaming replicas (hot standbys) of the cluster, for reads",
                        description="Each replica is a pg_basebackup of the cluster under DIMING_HOME/replicas/NAME "
                                    "with a socket of its own, streaming through a replication slot. Put its URL "
                                    "in DIMING_READ_REPLICA_URLS. 'db up'/'db down' start and stop them too.")
    rsub = r.add_subparsers(dest="replica_action", required=True, metavar="ACTION")
    a = rsub.add_parser("add", help="make a replica with pg_basebackup, start it and print its URL")
    a.add_argument("--name", default=None, help="its name (default r1, r2, …)")
    rsub.add_parser("list", help="the replicas: running, streaming, replay position, URL")
    d = rsub.add_parser("remove", help="stop a replica, drop its replication slot, delete its data")
    d.add_argument("name", help="the replica's name (see list)")
    p.set_defaults(handler=cmd_db)

    p = sub.add_parser("migrate", help="apply database migrations and create the first admin")
    p.add_argument("--revision", default="heads",
                   help="alembic revision to upgrade to (default: heads, the newest); e.g. 0009")
    p.set_defaults(handler=cmd_migrate)

    p = sub.add_parser("load-demo", help="load the Feidong demo data (idempotent)")
    p.set_defaults(handler=cmd_load_demo)

    p = sub.add_parser("serve", help="serve the API and the map (DIMING_PORT sets the port)")
    p.add_argument("--port", type=int, default=None, help="TCP port (default DIMING_PORT, else 8000)")
    p.add_argument("--log-level", default="info", choices=["critical", "error", "warning", "info", "debug"],
                   help="uvicorn log level (default info)")
    p.add_argument("--workers", type=int, default=None,
                   help="server worker processes (default DIMING_WORKERS, else the number of cores)")
    p.set_defaults(handler=cmd_serve)

    p = sub.add_parser("info", help="print the URL and where the admin credentials file is")
    p.set_defaults(handler=cmd_info)


@functools.cache
def _area(spec: str) -> Callable[[SubParsers], None]:
    """``"gis_api.places.cli:register"`` → the function, imported only when that command is used (one object
    per spec, so an area that registers several commands is registered once)."""
    module, _, name = spec.partition(":")

    def register(sub: SubParsers) -> None:
        getattr(importlib.import_module(module), name)(sub)

    return register


# name → (one-line help, the registrars that build it). The help is repeated here so that `diming --help`
# needs no area module; tests/unit/test_cli.py checks it matches what the area registers.
COMMANDS: dict[str, tuple[str, tuple[Callable[[SubParsers], None], ...]]] = {
    "db": ("the embedded PostgreSQL/PostGIS cluster of this checkout", (_register_core,)),
    "migrate": ("apply database migrations and create the first admin", (_register_core,)),
    "load-demo": ("load the Feidong demo data (idempotent)", (_register_core,)),
    "serve": ("serve the API and the map (DIMING_PORT sets the port)", (_register_core,)),
    "info": ("print the URL and where the admin credentials file is", (_register_core,)),
    "user": ("manage users; passwords are read from the terminal or stdin", (_area("gis_api.users_cli:register"),)),
    "romanize": ("romanise names read one per line on stdin (GB/T 16159, RZ1–RZ9)",
                 (_area("gis_api.places.cli:register"),)),
    "check-name": ('大/洋/怪/重 checks: JSON objects {"name","category","division_code"} or bare names on stdin, one '
                   "JSON result per line on stdout",
                   (_area("gis_api.places.cli:register"),)),
    "campaign": ("the non-standard name campaign: run the checks, export the list",
                 (_area("gis_api.places.cli:register"),)),
    "places": ("the gazetteer's stored data: re-derive keys and spellings under the current rules",
               (_area("gis_api.places.cli:register"),)),
    "coverage": ("facility coverage, 2SFCA, site suggestion, the plan's rules, imports",
                 (_area("gis_api.coverage.cli:register"),)),
    "boundaries": ("boundary lines, topology, markers, 平安边界 report", (_area("gis_api.boundaries.cli:register"),)),
    "import": ("import data files",
               (_area("gis_api.io.cli:register"), _area("gis_api.boundaries.cli:register"))),
    "export": ("export a collection to GeoJSON, GeoPackage, zipped Shapefile, CSV, XLSX or GPX",
               (_area("gis_api.io.cli:register"),)),
    "backup": ("verified logical backup (FILE), or a base backup for point-in-time recovery",
               (_area("gis_api.backup_cli:register"),)),
    "restore": ("restore a backup FILE into a new database and verify it, or recover the embedded cluster to a "
                "point in time", (_area("gis_api.backup_cli:register"),)),
}


def build_parser(command: str | None = "*") -> argparse.ArgumentParser:
    """The parser with ``command`` fully built (``"*"``: every command; None: none, one-line stubs only)."""
    parser = argparse.ArgumentParser(
        prog="diming", description="Diming 地名: place names, divisions, boundaries",
        epilog="Run 'diming COMMAND --help' for a command's options. Long work shows a progress bar on a "
               "terminal (DIMING_PROGRESS=off|on overrides).")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    done: list[Callable[[SubParsers], None]] = []
    wanted = list(COMMANDS) if command == "*" else [command] if command in COMMANDS else []
    for name in wanted:
        for registrar in COMMANDS[name][1]:
            if registrar not in done:
                registrar(sub)
                done.append(registrar)
    for name, (text, _) in COMMANDS.items():
        if name not in sub.choices:
            sub.add_parser(name, help=text)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    return next((a for a in argv if not a.startswith("-")), None)


# Long work without a bar of its own (import places, export and load-demo draw their own): a ticking line on a terminal.
LONG_WORK = {
    ("campaign", "run"): "checking every name in force",
    ("boundaries", "derive"): "deriving boundary lines", ("boundaries", "load-demo"): "loading demo boundaries",
    ("boundaries", "validate"): "checking topology", ("coverage", "run"): "computing coverage",
    ("coverage", "access"): "computing 2SFCA accessibility", ("coverage", "suggest"): "solving for new sites",
    ("coverage", "rules"): "checking the plan's rules", ("coverage", "load-demo"): "loading demo facilities",
    ("import", "divisions"): "importing divisions", ("backup",): "backing up", ("restore",): "restoring",
}


def long_work(argv: Sequence[str]) -> str | None:
    """The label of a long-running command line, e.g. ``["campaign", "run"]`` → "checking every name in force"."""
    words = [a for a in argv if not a.startswith("-")]
    return LONG_WORK.get(tuple(words[:2])) or LONG_WORK.get(tuple(words[:1]))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_command_of(argv)).parse_args(argv)
    from gis_api.embedded_db import EmbeddedDbError
    from gis_api.errors import DimingError
    from gis_api.progress import activity
    from gis_api.settings import load_settings

    settings = load_settings()
    handler: Handler = args.handler
    label = long_work(argv)
    try:
        if label is None:
            return handler(settings, args)
        with activity(label):
            return handler(settings, args)
    except DimingError as exc:
        print(json.dumps(exc.body(), ensure_ascii=False), file=sys.stderr)
        return 2
    except EmbeddedDbError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
