"""What every versioned entity of this area shares: opening a new valid-time version. The row passed in comes
from the entity's ``gis_api.concurrency.Versioned.lock`` (locked, If-Match compared).

A correction changes the current row in place (record time only; the audit trigger keeps the old values);
a legal change closes the current row on ``effective_date`` and opens a copy with the changes (domain.md §4,
design.md "Time").
"""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from gis_api.divisions.schemas import ChangeMode
from gis_api.errors import InvalidInput

T = TypeVar("T")
KEEP_OUT = ("id", "version", "created_at", "updated_at", "valid_from", "valid_to")


def apply_change(session: Session, row: T, changes: dict[str, Any], mode: ChangeMode,
                 effective_date: dt.date | None) -> T:
    """Apply ``changes`` as a correction (in place) or a legal change (new version from ``effective_date``)."""
    if not changes:
        raise InvalidInput("nothing to change", "没有需要修改的内容", field="body")
    if mode is ChangeMode.correction:
        for key, value in changes.items():
            setattr(row, key, value)
        session.flush()
        session.refresh(row)
        return row
    valid_from: dt.date = getattr(row, "valid_from")  # noqa: B009 - every versioned row has it
    valid_to: dt.date | None = getattr(row, "valid_to")  # noqa: B009
    if effective_date is None:
        raise InvalidInput("a legal change needs effective_date", "法定变更须填写生效日期", field="effective_date")
    if effective_date <= valid_from or (valid_to is not None and effective_date >= valid_to):
        raise InvalidInput(
            f"effective_date must fall inside the current version ({valid_from} – {valid_to or 'open'})",
            f"生效日期须在当前版本有效期内（{valid_from} 至 {valid_to or '今'}）", field="effective_date",
        )
    cls = type(row)
    mapper: Any = getattr(cls, "__mapper__")  # noqa: B009
    keep = {c.key: getattr(row, c.key) for c in mapper.column_attrs if c.key not in KEEP_OUT}
    new = cls(**{**keep, **changes, "valid_from": effective_date, "valid_to": valid_to})
    setattr(row, "valid_to", effective_date)  # noqa: B010
    session.flush()  # close first: the exclusion constraint forbids two versions on one date
    session.add(new)
    session.flush()
    session.refresh(new)
    return new


def close(session: Session, row: Any, effective_date: dt.date) -> None:
    if effective_date <= row.valid_from:
        raise InvalidInput("effective_date must be after valid_from", "终止日期须晚于生效日期", field="effective_date")
    row.valid_to = effective_date
    session.flush()
    session.refresh(row)
