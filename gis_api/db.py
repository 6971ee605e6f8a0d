"""Engine, per-request session (commit or rollback as one transaction), declarative Base."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
    connect_args: dict[str, object] = {"options": CONNECTION_OPTIONS, "application_name": "diming"}
    if connect_timeout is not None:  # a replica on a host that is gone must not hold a read for minutes
        connect_args["connect_timeout"] = connect_timeout
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=10,
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
