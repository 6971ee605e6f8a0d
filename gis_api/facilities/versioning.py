"""Opening a new valid-time version of a facility, cemetery or parcel: the shared write step
(``gis_api.concurrency.write_version`` / ``close_version``) with this area's ``ChangeMode``. The row passed in comes
from the entity's ``gis_api.concurrency.Versioned.lock`` (locked, If-Match compared)."""

from __future__ import annotations

import datetime as dt
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from gis_api.concurrency import close_version, write_version
from gis_api.divisions.schemas import ChangeMode

T = TypeVar("T")


def apply_change(session: Session, row: T, changes: dict[str, Any], mode: ChangeMode,
                 effective_date: dt.date | None) -> T:
    """Apply ``changes`` as a correction (in place) or a legal change (new version from ``effective_date``)."""
    return write_version(session, row, changes, legal=mode is ChangeMode.legal, effective_date=effective_date)


close = close_version
