"""The versioned-record pattern, declared once for the models (issue 15).

Every versioned, audited entity — divisions, seats, places, facilities, cemeteries, parcels, boundary line versions,
markers, proposals, adjustments, inspections … — is made of the same pieces:

* ``RecordVersion``: the record version (the ETag; bumped by the ``diming_bump_version`` trigger) and record time;
* ``ValidTime``: a valid-time interval ``[valid_from, valid_to)`` plus ``RecordVersion`` and ``source``;
* ``valid_time_constraints(key, name)``: the ``valid_interval`` check and the exclusion constraint "one version of
  an entity at any date", for ``__table_args__``;
* ``as_of(model, on)`` / ``as_of_sql(alias, param)``: the as-of filter, for ORM queries and for SQL text;
* ``etag(prefix, key, version)`` (= ``make_etag``): the ETag.

The write step (lock → check → audit context → write) lives in ``gis_api.concurrency`` (``Versioned.lock``,
``write_version``, ``close_version``) and ``gis_api.audit.service`` (``set_context``, ``history``);
the migration side in ``migrations/helpers/versioned.py``. A new entity is therefore::

    class Thing(ValidTime, Base):
        __tablename__ = "things"
        id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
        thing_no: Mapped[str] = mapped_column(Text, nullable=False)
        __table_args__ = (*valid_time_constraints("thing_no", "things_one_version_per_date"),)

The column lists below are spelled out (not inherited from one another) so that each table keeps the column
order its migration created.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from sqlalchemy import CheckConstraint, ColumnElement, Date, DateTime, Integer, Text, and_, func, or_, text
from sqlalchemy.dialects.postgresql import ExcludeConstraint
from sqlalchemy.orm import Mapped, mapped_column

__all__ = ["RecordVersion", "ValidTime", "as_of", "as_of_sql", "make_etag", "valid_time_constraints"]


def make_etag(prefix: str, row_id: int | str, version: int) -> str:
    """The strong ETag of one record version: ``"<prefix><key>.v<version>"``."""
    return f'"{prefix}{row_id}.v{version}"'


_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


class RecordVersion:
    """Record version (the ETag) and record time, for tables that are not valid-time versioned."""

    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class ValidTime:
    """Valid-time interval ``[valid_from, valid_to)`` plus a record version for optimistic locking."""

    valid_from: Mapped[dt.date] = mapped_column(Date, nullable=False)
    valid_to: Mapped[dt.date | None] = mapped_column(Date, nullable=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False, server_default="1")
    source: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )
    updated_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


def valid_time_constraints(key: str | None = None, name: str | None = None) -> tuple[Any, ...]:
    """``valid_to`` after ``valid_from`` and, given the entity's ``key`` column and a constraint ``name``, one row
    of an entity at any date (a GiST exclusion on ``key`` and the interval)."""
    interval = CheckConstraint("valid_to IS NULL OR valid_to > valid_from", name="valid_interval")
    if key is None:
        return (interval,)
    if not _IDENT.match(key) or not name:
        raise ValueError("key must be a lower-case SQL name, and the exclusion constraint needs a name")
    return (
        interval,
        ExcludeConstraint(
            (text(key), "="),
            (text("daterange(valid_from, valid_to, '[)')"), "&&"),
            name=name,
            using="gist",
        ),
    )


def as_of(model: Any, on: dt.date) -> ColumnElement[bool]:
    """The rows of ``model`` in force on ``on``: ``valid_from <= on < valid_to`` (open end: still in force)."""
    return and_(model.valid_from <= on, or_(model.valid_to.is_(None), model.valid_to > on))


def as_of_sql(alias: str = "", param: str = "as_of") -> str:
    """The same filter for SQL text: ``as_of_sql("p")`` → ``p.valid_from <= :as_of AND (…)``."""
    if (alias and not _IDENT.match(alias)) or not _IDENT.match(param):
        raise ValueError("alias and param must be lower-case SQL names")
    c = f"{alias}." if alias else ""
    return f"{c}valid_from <= :{param} AND ({c}valid_to IS NULL OR {c}valid_to > :{param})"
