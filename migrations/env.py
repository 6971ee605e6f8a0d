"""Alembic environment: the URL comes from the caller (tests, CLI) or from Diming's settings."""

from __future__ import annotations

import sys
from pathlib import Path

from alembic import context
from sqlalchemy import create_engine

from gis_api.db import CONNECTION_OPTIONS, database_url
from gis_api.models import Base, include_object
from gis_api.settings import DatabaseSettings

# Revision scripts import ``migrations.helpers`` whatever the working directory (the CLI runs from anywhere).
_CHECKOUT = str(Path(__file__).resolve().parents[1])
if _CHECKOUT not in sys.path:
    sys.path.insert(0, _CHECKOUT)

config = context.config
url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url") or database_url(DatabaseSettings())


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=Base.metadata, include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_engine(url, connect_args={"options": CONNECTION_OPTIONS})
    with engine.connect() as conn:
        context.configure(connection=conn, target_metadata=Base.metadata, include_object=include_object)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    context.configure(url=url, target_metadata=Base.metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
