"""The audit trail (record time) and the columns every versioned table shares (valid time).

Designed once: a table gets history by inheriting ``gis_api.versioning.ValidTime`` (or ``RecordVersion``) and
by one call to ``audit.sql.enable_tracking(table, key_column)`` in its migration. Triggers then bump ``version`` and
write every INSERT/UPDATE/DELETE to ``audit_log`` with who and why, taken from the transaction-local
settings ``diming.actor`` / ``diming.reason`` that ``audit.service.set_context`` sets.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, Integer, Text, func
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.orm import Mapped, mapped_column

from gis_api.db import Base
from gis_api.versioning import ValidTime

# The shared columns moved to gis_api.versioning (issue 15); the old name stays importable.
Versioned = ValidTime


class AuditLog(Base):
    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.clock_timestamp()
    )
    txid: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default=func.txid_current())
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    reason: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str] = mapped_column(Text, nullable=False)
    table_name: Mapped[str] = mapped_column(Text, nullable=False)
    entity_key: Mapped[str | None] = mapped_column(Text)
    row_id: Mapped[int | None] = mapped_column(BigInteger)
    version: Mapped[int | None] = mapped_column(Integer)
    old: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    new: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    changed: Mapped[list[str] | None] = mapped_column(ARRAY(Text))

    __table_args__ = (Index("ix_audit_log_entity", "table_name", "entity_key", "id"),)
