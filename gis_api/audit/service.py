"""Who and why for the current transaction, and reading the trail back."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis_api.audit.models import AuditLog

# Large values are kept in the trail but left out of history listings.
BULKY_FIELDS = ("geom",)


def set_context(session: Session, actor: str, reason: str | None) -> None:
    """Attach actor and reason to every audit row this transaction writes (transaction-local)."""
    session.execute(
        text("SELECT set_config('diming.actor', :actor, true), set_config('diming.reason', :reason, true)"),
        {"actor": actor, "reason": reason or ""},
    )


def _slim(row: dict[str, Any] | None) -> dict[str, Any] | None:
    if row is None:
        return None
    return {k: v for k, v in row.items() if k not in BULKY_FIELDS}


def history(session: Session, table: str, key: str, limit: int = 200) -> list[dict[str, Any]]:
    """Every recorded change of one entity, oldest first."""
    rows = session.scalars(
        select(AuditLog)
        .where(AuditLog.table_name == table, AuditLog.entity_key == key)
        .order_by(AuditLog.id)
        .limit(limit)
    ).all()
    return [
        {
            "at": r.at.isoformat(),
            "actor": r.actor,
            "reason": r.reason,
            "action": r.action,
            "row_id": r.row_id,
            "version": r.version,
            "changed": r.changed,
            "old": _slim(r.old),
            "new": _slim(r.new),
        }
        for r in rows
    ]
