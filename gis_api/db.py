"""Engine, per-request session (commit or rollback as one transaction), declarative Base."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sqlalchemy import MetaData, create_engine, event, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

from gis_api.settings import DatabaseSettings

NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# Session settings for every connection, so an external server behaves like the embedded one even when
# we may not ALTER its database: JIT and parallel workers cost far more than they save on small queries.
CONNECTION_OPTIONS = "-c jit=off -c max_parallel_workers_per_gather=0 -c timezone=UTC"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def database_url(settings: DatabaseSettings, dbname: str | None = None) -> str:
    """The SQLAlchemy URL: ``DIMING_DATABASE_URL`` when set, else the embedded cluster's socket."""
    if settings.database_url:
        url = normalise_url(settings.database_url)
        if dbname:
            from sqlalchemy.engine import make_url

            return make_url(url).set(database=dbname).render_as_string(hide_password=False)
        return url
    from gis_api.embedded_db import Cluster

    return Cluster.from_settings(settings).url(dbname or settings.db_name)


def normalise_url(url: str) -> str:
    """``postgresql://…`` (what libpq and the docs write) → the SQLAlchemy driver URL."""
    if url.startswith("postgresql://"):
        return "postgresql+psycopg2://" + url.removeprefix("postgresql://")
    return url


def make_engine(url: str, pool_size: int = 5, connect_timeout: int | None = None) -> Engine:
    """The engine of a server process: at most ``2 × pool_size`` connections, which the connection budget counts
    (``connection_budget``), each opened when first needed and then kept. (It was ``pool_size`` kept and as many
    again as overflow, closed when returned: under the 50-client mixed load, scripts/bench/mixed_load.py, that
    opened ~7 new backends a second, each a fork and a cold catalogue cache — a first search ~40 ms instead of
    ~10 — and, on a shared cluster, "too many clients already" 503s while the others' connections came and went.)"""
    connect_args: dict[str, object] = {"options": CONNECTION_OPTIONS, "application_name": "diming"}
    if connect_timeout is not None:  # a replica on a host that is gone must not hold a read for minutes
        connect_args["connect_timeout"] = connect_timeout
    engine = create_engine(
        url,
        pool_size=2 * pool_size,
        max_overflow=0,
        pool_pre_ping=True,
        connect_args=connect_args,
    )

    @event.listens_for(engine, "connect")
    def _utf8(dbapi_conn, _record):  # type: ignore[no-untyped-def]
        dbapi_conn.set_client_encoding("UTF8")

    return engine


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=False)


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One unit of work: commit on success, roll back on any error (nothing half-written)."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def postgis_version(session: Session) -> str:
    return str(session.execute(text("SELECT postgis_lib_version()")).scalar_one())


def _maintenance(url: str, *statements: str) -> None:
    """Run DROP/CREATE DATABASE through the server's maintenance database (they cannot run in a transaction)."""
    from sqlalchemy.engine import make_url

    admin = create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        for sql in statements:
            conn.execute(text(sql))
    admin.dispose()


def drop_database(url: str) -> None:
    from sqlalchemy.engine import make_url

    _maintenance(url, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')


def recreate_database(url: str) -> None:
    """Drop and create the database named in ``url`` (tests and benchmarks use scratch databases)."""
    from sqlalchemy.engine import make_url

    name = make_url(url).database
    _maintenance(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)', f'CREATE DATABASE "{name}"')


@dataclass(frozen=True)
class Budget:
    """The connections ``diming serve`` may open on one PostgreSQL server (the primary, or each read replica: a
    replica gets the same pools), and whether they fit its ``max_connections``."""

    workers: int
    pool_size: int  # SQLAlchemy, per process: pool_size kept + pool_size overflow
    ogc_pool_size: int  # asyncpg, per process: two pools of this size (per-request plans, generic plans)
    max_connections: int
    superuser_reserved: int
    reserved: int  # DIMING_RESERVED_CONNECTIONS: CLI, backups, psql, monitoring

    @property
    def per_worker(self) -> int:
        return 2 * self.pool_size + 2 * self.ogc_pool_size

    @property
    def needed(self) -> int:
        return self.workers * self.per_worker

    @property
    def available(self) -> int:
        return self.max_connections - self.superuser_reserved - self.reserved

    def fits(self) -> bool:
        return self.needed <= self.available

    def describe(self) -> str:
        return (f"{self.workers} worker(s) × (2 × DIMING_POOL_SIZE {self.pool_size} + 2 × DIMING_OGC_POOL_SIZE "
                f"{self.ogc_pool_size}) = {self.needed} connections; the server allows max_connections "
                f"{self.max_connections} − superuser_reserved_connections {self.superuser_reserved} − "
                f"DIMING_RESERVED_CONNECTIONS {self.reserved} = {self.available}")

    def shrunk(self) -> Budget | None:
        """The largest pools, in the same proportion, that fit; None when even one connection per pool does not."""
        if self.fits():
            return self
        share = max(self.available, 0) // self.workers // 2  # per worker: 2 × (pool + ogc) ≤ 2 × share
        if share < 2:
            return None
        ogc = max(1, min(self.ogc_pool_size, self.ogc_pool_size * share // (self.pool_size + self.ogc_pool_size)))
        pool = max(1, min(self.pool_size, share - ogc))
        out = Budget(self.workers, pool, ogc, self.max_connections, self.superuser_reserved, self.reserved)
        return out if out.fits() else None


def server_limits(url: str) -> tuple[int, int]:
    """(max_connections, superuser_reserved_connections) of the server at ``url``."""
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool, connect_args={"options": CONNECTION_OPTIONS, "connect_timeout": 5})
    try:
        with engine.connect() as conn:
            row = conn.execute(text("SELECT current_setting('max_connections')::int, "
                                    "current_setting('superuser_reserved_connections')::int")).one()
            return int(row[0]), int(row[1])
    finally:
        engine.dispose()


def check_budget(workers: int, pool_size: int, ogc_pool_size: int, reserved: int,
                 limits: tuple[int, int]) -> tuple[Budget, str]:
    """The pools to serve with and what to tell the operator; SystemExit when nothing fits (a server that would
    fail its requests with "too many connections" under load is worse than one that does not start)."""
    asked = Budget(workers, pool_size, ogc_pool_size, limits[0], limits[1], reserved)
    if asked.fits():
        return asked, f"connection budget: {asked.describe()} — fits"
    fit = asked.shrunk()
    if fit is None:
        raise SystemExit(
            f"connection budget: {asked.describe()}; even one connection per pool does not fit. Lower DIMING_WORKERS "
            "(--workers) or DIMING_RESERVED_CONNECTIONS, or raise max_connections in postgresql.conf "
            "(docs/operations.md, 'Connection budget')")
    return fit, (f"connection budget: {asked.describe()} — too many; serving with DIMING_POOL_SIZE {fit.pool_size} "
                 f"and DIMING_OGC_POOL_SIZE {fit.ogc_pool_size} ({fit.needed} connections). Set them, lower "
                 "DIMING_WORKERS or raise max_connections to silence this (docs/operations.md, 'Connection budget')")
