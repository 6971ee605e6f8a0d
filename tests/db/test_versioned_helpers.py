"""The versioned-record pattern declared once (issue 15): a throwaway entity made with the migration helper and the
model mixin, in a scratch schema, gets the columns, constraints and triggers every versioned table has."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.operations import Operations
from sqlalchemy import BigInteger, MetaData, Text, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gis_api.db import Base
from gis_api.versioning import RecordVersion, ValidTime, as_of, as_of_sql, valid_time_constraints
from migrations.helpers.versioned import add_versioning, create_versioned_table

SCHEMA = "d3_scratch_versioned"


class _Scratch(DeclarativeBase):
    metadata = MetaData(schema=SCHEMA, naming_convention=Base.metadata.naming_convention)


class Thing(ValidTime, _Scratch):
    """What a new versioned entity's model is: a key, its own columns, the mixin and one constraint line."""

    __tablename__ = "things"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    thing_no: Mapped[str] = mapped_column(Text, nullable=False)
    __table_args__ = (*valid_time_constraints("thing_no", "things_one_version_per_date"),)


class Note(RecordVersion, _Scratch):
    __tablename__ = "notes"
    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    note_no: Mapped[str] = mapped_column(Text, nullable=False)


@pytest.fixture
def scratch(connection: Connection) -> Connection:
    """A scratch schema inside the test transaction (rolled back with it); ``audit_log`` stays the public one."""
    connection.execute(text(f"CREATE SCHEMA {SCHEMA}"))
    connection.execute(text(f"SET LOCAL search_path TO {SCHEMA}, public"))
    ctx = MigrationContext.configure(connection)
    with Operations.context(ctx):
        create_versioned_table("things", "thing_no",
                               sa.Column("id", sa.BigInteger(), primary_key=True),
                               sa.Column("thing_no", sa.Text(), nullable=False), schema=SCHEMA)
        create_versioned_table("notes", "note_no",
                               sa.Column("id", sa.BigInteger(), primary_key=True),
                               sa.Column("note_no", sa.Text(), nullable=False), valid_time=False, schema=SCHEMA)
    return connection


def _only_scratch(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    return type_ != "table" or name in {"things", "notes"}


def test_helper_table_matches_the_mixin_model(scratch: Connection) -> None:
    ctx = MigrationContext.configure(scratch, opts={
        "include_schemas": True, "include_object": _only_scratch, "compare_type": True,
        "include_name": lambda name, type_, parent: type_ != "schema" or name == SCHEMA,
    })
    diff = compare_metadata(ctx, _Scratch.metadata)
    assert diff == []
    cols = scratch.execute(text(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = :s "
        "ORDER BY table_name, ordinal_position"), {"s": SCHEMA}).all()
    assert [c for t, c in cols if t == "things"] == [
        "id", "thing_no", "valid_from", "valid_to", "version", "source", "created_at", "updated_at"]
    assert [c for t, c in cols if t == "notes"] == ["id", "note_no", "version", "created_at", "updated_at"]
    constraints = set(scratch.scalars(text(
        "SELECT conname FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace WHERE n.nspname = :s"),
        {"s": SCHEMA}))
    assert {"ck_things_valid_interval", "things_one_version_per_date"} <= constraints
    triggers = {tuple(r) for r in scratch.execute(text(
        "SELECT c.relname, t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
        "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = :s AND NOT t.tgisinternal"),
        {"s": SCHEMA}).all()}
    assert triggers == {("things", "things_bump_version"), ("things", "things_audit"),
                        ("notes", "notes_bump_version"), ("notes", "notes_audit")}


def _insert(conn: Connection, **row: Any) -> None:
    conn.execute(sa.insert(Thing.__table__).values(**row))  # type: ignore[arg-type]


def test_helper_table_versions_audits_and_excludes_overlaps(scratch: Connection) -> None:
    _insert(scratch, id=1, thing_no="T1", valid_from=dt.date(2020, 1, 1), valid_to=dt.date(2024, 1, 1),
            source="test")
    _insert(scratch, id=2, thing_no="T1", valid_from=dt.date(2024, 1, 1), source="test")
    scratch.execute(text("UPDATE things SET source = 'test: corrected' WHERE id = 2"))
    assert scratch.execute(text("SELECT version FROM things WHERE id = 2")).scalar_one() == 2
    scratch.execute(text("UPDATE things SET source = 'test: corrected' WHERE id = 2"))  # no change: no version
    assert scratch.execute(text("SELECT version FROM things WHERE id = 2")).scalar_one() == 2
    trail = scratch.execute(text(
        "SELECT action, row_id, version, changed FROM audit_log WHERE table_name = 'things' AND entity_key = 'T1' "
        "ORDER BY id")).all()
    assert [tuple(r) for r in trail] == [("INSERT", 1, 1, None), ("INSERT", 2, 1, None),
                                         ("UPDATE", 2, 2, ["source"])]
    # One version of an entity at any date; another entity may share the dates.
    with pytest.raises(IntegrityError, match="things_one_version_per_date"), scratch.begin_nested():
        _insert(scratch, id=3, thing_no="T1", valid_from=dt.date(2023, 6, 1), valid_to=dt.date(2024, 6, 1),
                source="test")
    with pytest.raises(IntegrityError, match="ck_things_valid_interval"), scratch.begin_nested():
        _insert(scratch, id=4, thing_no="T2", valid_from=dt.date(2023, 6, 1), valid_to=dt.date(2023, 6, 1),
                source="test")
    _insert(scratch, id=5, thing_no="T2", valid_from=dt.date(2023, 6, 1), source="test")
    # The as-of filter, ORM and SQL text, picks the version in force.
    on = dt.date(2023, 12, 31)
    orm = scratch.scalars(sa.select(Thing.__table__.c.id).where(as_of(Thing, on)).order_by("id")).all()
    sql = scratch.scalars(text(f"SELECT t.id FROM things t WHERE {as_of_sql('t', 'on')} ORDER BY t.id"),
                          {"on": on}).all()
    assert orm == sql == [1, 5]
    assert scratch.scalars(sa.select(Thing.__table__.c.id).where(as_of(Thing, dt.date(2024, 1, 1)))
                           .order_by("id")).all() == [2, 5]


def test_add_versioning_to_an_existing_table(scratch: Connection) -> None:
    scratch.execute(text("CREATE TABLE olds (id bigint PRIMARY KEY, old_no text NOT NULL)"))
    scratch.execute(text("INSERT INTO olds VALUES (1, 'O1')"))
    with Operations.context(MigrationContext.configure(scratch)):
        add_versioning("olds", "old_no", source_default="legacy", valid_from_default="2000-01-01")
    row = scratch.execute(text("SELECT valid_from, valid_to, version, source FROM olds")).one()
    assert tuple(row) == (dt.date(2000, 1, 1), None, 1, "legacy")
    defaults = {r[0]: r[1] for r in scratch.execute(text(
        "SELECT column_name, column_default FROM information_schema.columns WHERE table_name = 'olds' "
        "AND table_schema = :s"), {"s": SCHEMA}).all()}
    assert defaults["valid_from"] is None and defaults["source"] is None  # new rows must say both
    scratch.execute(text("UPDATE olds SET old_no = 'O1' , valid_to = DATE '2001-01-01' WHERE id = 1"))
    assert scratch.execute(text("SELECT version FROM olds")).scalar_one() == 2
    with pytest.raises(IntegrityError, match="olds_one_version_per_date"), scratch.begin_nested():
        scratch.execute(text("INSERT INTO olds (id, old_no, valid_from, source) VALUES (2, 'O1', '2000-06-01', 'x')"))
    with pytest.raises(ValueError):
        add_versioning("olds; drop table x", "old_no", source_default="x", valid_from_default="2000-01-01")
