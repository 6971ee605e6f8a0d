"""The migration side of the versioned-record pattern (issue 15), declared once.

A new versioned entity's migration is a few lines::

    from migrations.helpers.versioned import create_versioned_table, drop_versioned_table

    def upgrade() -> None:
        create_versioned_table("things", "thing_no",
                               sa.Column("id", sa.BigInteger(), primary_key=True),
                               sa.Column("thing_no", sa.Text(), nullable=False))

    def downgrade() -> None:
        drop_versioned_table("things")

which creates the columns of ``gis_api.versioning.ValidTime`` (or ``RecordVersion`` with ``valid_time=False``),
the ``valid_interval`` check, the "one version per date" exclusion constraint and the version + audit triggers
(``gis_api.audit.sql``). The model declares the same with ``ValidTime`` and ``valid_time_constraints``, so the
drift test holds. ``add_versioning`` does the same for a table that already exists.

Old migrations are not rewritten (databases are upgraded in place; their effect must stay byte-for-byte the same).
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from gis_api.audit.sql import enable_tracking

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def _check(*names: str) -> None:
    for name in names:
        if not _IDENT.match(name):
            raise ValueError(f"{name!r}: identifiers must be lower-case SQL names")


def record_version_columns() -> list[sa.Column[Any]]:
    """``version``, ``created_at``, ``updated_at`` — ``gis_api.versioning.RecordVersion``."""
    return [
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    ]


def valid_time_columns(source_default: str | None = None) -> list[sa.Column[Any]]:
    """``valid_from``, ``valid_to``, ``version``, ``source``, ``created_at``, ``updated_at`` — ``ValidTime``.

    ``source_default`` is only for adding the columns to a table that has rows (``add_versioning``)."""
    version, created_at, updated_at = record_version_columns()
    return [
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        version,
        sa.Column("source", sa.Text(), nullable=False,
                  server_default=None if source_default is None else sa.text(f"'{source_default}'")),
        created_at,
        updated_at,
    ]


def valid_time_constraints(table: str, key: str, exclusion: str | None = None) -> list[Any]:
    """``ck_<table>_valid_interval`` and the exclusion ``<table>_one_version_per_date`` (or ``exclusion``)."""
    _check(table, key, *([exclusion] if exclusion else []))
    return [
        sa.CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name=op.f(f"ck_{table}_valid_interval")),
        postgresql.ExcludeConstraint(
            (sa.text(key), "="), (sa.text("daterange(valid_from, valid_to, '[)')"), "&&"),
            using="gist", name=exclusion or f"{table}_one_version_per_date",
        ),
    ]


def track(table: str, key: str, schema: str | None = None) -> None:
    """The version-bump and audit triggers (every change recorded in ``audit_log`` under ``key``)."""
    sql = enable_tracking(table, key)
    if schema is not None:
        _check(schema)
        sql = sql.replace(f" ON {table}\n", f" ON {schema}.{table}\n")  # the triggers are named after the table
    op.execute(sql)


def create_versioned_table(table: str, key: str, *columns: Any, valid_time: bool = True,
                           exclusion: str | None = None, schema: str | None = None) -> None:
    """``op.create_table`` with the versioned columns, constraints and triggers added to ``columns``."""
    _check(table, key)
    if valid_time:
        shared: list[Any] = [*valid_time_columns(), *valid_time_constraints(table, key, exclusion)]
    else:
        shared = record_version_columns()
    op.create_table(table, *columns, *shared, schema=schema)
    track(table, key, schema)


def add_versioning(table: str, key: str, *, source_default: str, valid_from_default: str,
                   exclusion: str | None = None) -> None:
    """Make an existing table a valid-time versioned one: add the columns (existing rows get ``valid_from`` =
    ``valid_from_default``, an ISO date, and ``source`` = ``source_default``), the constraints and the triggers."""
    _check(table, key, *([exclusion] if exclusion else []))
    if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", valid_from_default) or not re.fullmatch(r"[\w:. -]+",
                                                                                        source_default):
        raise ValueError("valid_from_default must be an ISO date and source_default plain text")
    for column in valid_time_columns(source_default):
        if column.name == "valid_from":
            column.server_default = sa.DefaultClause(sa.text(f"DATE '{valid_from_default}'"))
        op.add_column(table, column)
    # The defaults only filled the existing rows; new rows must say when and from where.
    op.alter_column(table, "valid_from", server_default=None)
    op.alter_column(table, "source", server_default=None)
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT ck_{table}_valid_interval "
               "CHECK (valid_to IS NULL OR valid_to > valid_from)")
    op.execute(f"ALTER TABLE {table} ADD CONSTRAINT {exclusion or table + '_one_version_per_date'} EXCLUDE USING "
               f"gist ({key} WITH =, daterange(valid_from, valid_to, '[)') WITH &&)")
    track(table, key)


def drop_versioned_table(table: str, schema: str | None = None) -> None:
    """Downgrade of ``create_versioned_table`` (the triggers go with the table)."""
    op.drop_table(table, schema=schema)
