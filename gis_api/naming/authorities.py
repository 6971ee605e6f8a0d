"""Approving authorities (审批机关) per category-code prefix, kept as data (domain.md §1.3): reads, the longest-prefix
lookup the procedure uses, and the versioned PUT (``If-None-Match: *`` creates, ``If-Match`` changes)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from gis_api.audit import service as audit
from gis_api.concurrency import Versioned, make_etag
from gis_api.errors import InvalidInput, NotFound
from gis_api.naming.models import ApprovalAuthority
from gis_api.naming.schemas import AuthorityIn


def authorities(session: Session) -> list[ApprovalAuthority]:
    return list(session.scalars(select(ApprovalAuthority).order_by(ApprovalAuthority.category_prefix)).all())


def authority_etag(a: ApprovalAuthority) -> str:
    return make_etag("au", a.category_prefix, a.version)


def authority_json(a: ApprovalAuthority) -> dict[str, Any]:
    return {"category_prefix": a.category_prefix, "authority": a.authority, "aliases": a.aliases,
            "needs_civil_affairs_opinion": a.needs_civil_affairs_opinion,
            "needs_risk_assessment": a.needs_risk_assessment, "rule": a.rule, "note": a.note, "version": a.version,
            "etag": authority_etag(a)}


def _no_authority(prefix: str) -> NotFound:
    return NotFound(f"no approving authority for the prefix {prefix}", f"类别代码前缀 {prefix} 未设审批机关",
                    field="category_prefix")


AUTHORITY_GUARD = Versioned(
    model=ApprovalAuthority, key=ApprovalAuthority.category_prefix, etag=authority_etag,
    label=lambda a: (f"the approving authority of {a.category_prefix}", f"类别代码前缀 {a.category_prefix} 的审批机关"),
    body=lambda _s, a: json.dumps(authority_json(a), ensure_ascii=False),
)


def authority(session: Session, prefix: str) -> ApprovalAuthority:
    row = session.get(ApprovalAuthority, prefix)
    if row is None:
        raise _no_authority(prefix)
    return row


def authority_for(session: Session, category_code: str) -> ApprovalAuthority | None:
    """The row with the longest category prefix matching ``category_code``."""
    matches = [a for a in authorities(session) if category_code.startswith(a.category_prefix)]
    return max(matches, key=lambda a: len(a.category_prefix)) if matches else None


def set_authority(session: Session, prefix: str, body: AuthorityIn, actor: str, *, if_match: str | None,
                  if_none_match: str | None = None) -> tuple[ApprovalAuthority, bool]:
    """Set a prefix's authority: ``If-None-Match: *`` for a new prefix, If-Match (its ETag) to change one.

    Returns the row and whether it was created."""
    if not prefix.isdigit() or len(prefix) > 8:
        raise InvalidInput("category_prefix must be 1-8 digits", "类别代码前缀须为1至8位数字",
                           field="category_prefix", rule="§1.5")
    row = AUTHORITY_GUARD.lock_for_put(session, prefix, if_match, if_none_match,
                                       missing=lambda: _no_authority(prefix))
    audit.set_context(session, actor, body.reason)
    created = row is None
    if row is None:
        row = ApprovalAuthority(category_prefix=prefix, authority=body.authority)
        session.add(row)
    row.authority = body.authority.strip()
    row.aliases = [a.strip() for a in body.aliases if a.strip()]
    row.needs_civil_affairs_opinion = body.needs_civil_affairs_opinion
    row.needs_risk_assessment = body.needs_risk_assessment
    row.rule = body.rule
    row.note = body.note
    session.flush()
    session.refresh(row)
    return row, created
