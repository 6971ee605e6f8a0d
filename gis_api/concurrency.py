"""Optimistic concurrency for every versioned entity, and the one way a write to such an entity starts.

Every write service function of a versioned entity begins with ``Versioned.lock``, which does, in this order:

1. 428 when the request carries no If-Match (nothing is read or locked for a request that cannot proceed);
   412 at once, without waiting for any lock, when the offered version is already replaced (read unlocked);
2. a transaction-level advisory lock on the entity (table + key), so writers of one entity queue up even when
   the row they will change does not exist yet or stops matching (a legal change closes one valid-time row and
   inserts the next; a retirement closes the row the next writer looks for);
3. ``SELECT … FOR UPDATE`` of the entity's row, with ``populate_existing`` so the session's identity map cannot
   hand back an object read earlier in the transaction (the stale object was how OGC edits lost updates);
   the row lock also keeps out writers that do not come through here (SQL in scripts);
4. the If-Match comparison against the version just locked: 412 with the current representation and ETag.

The caller then validates, sets the audit context (``gis_api.audit.service.set_context``) and writes — for a
valid-time entity with ``write_version`` (a correction in place, or a legal change closing the row and opening the
next) or ``close_version``; the request (or CLI command) commits; ``audit.service.history`` reads the trail back.
(This module imports no area package, ``audit`` included: it stays in the architecture graph's ``core``.) No other
module compares ETags or takes row locks for writes: routes, OGC editors, importers and the CLI call the entity's
service function, which calls ``lock``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from gis_api.errors import DimingError, InvalidInput, PreconditionFailed, PreconditionRequired
from gis_api.versioning import make_etag

__all__ = ["Versioned", "close_version", "make_etag", "require_present", "write_version"]

T = TypeVar("T")


def _offered(if_match: str) -> list[str]:
    return [t.strip().removeprefix("W/") for t in if_match.split(",")]


def require_present(if_match: str | None) -> str:
    """428 without If-Match (RFC 6585): a write must name the version it was based on."""
    if not if_match or not if_match.strip():
        raise PreconditionRequired(
            "If-Match with the ETag of the version you edited is required",
            "修改须携带 If-Match 请求头（所编辑版本的 ETag）", field="If-Match",
        )
    return if_match


@dataclass(frozen=True)
class Versioned(Generic[T]):
    """How one versioned entity is locked and compared; each area defines one per entity.

    ``key`` is the column naming the entity across its rows (``place_id``, ``code``, ``marker_no`` …);
    ``latest`` orders its rows newest first (valid-time entities: ``valid_from DESC``); ``label`` gives the
    English and Chinese name used in messages; ``body`` the current representation sent with a 412."""

    model: type[T]
    key: Any
    etag: Callable[[T], str]
    label: Callable[[T], tuple[str, str]]
    body: Callable[[Session, T], str]
    latest: tuple[Any, ...] = ()

    def hold(self, session: Session, key: Any, *, missing: Callable[[], DimingError], where: Iterable[Any] = ()
             ) -> T:
        """The entity's row, locked but not compared: for writes that add a child record (a document to a
        proposal) without changing the entity, which must still not interleave with a change of its state."""
        row = self._locked(session, key, where)
        if row is None:
            raise missing()
        return row

    def lock(self, session: Session, key: Any, if_match: str | None, *, missing: Callable[[], DimingError],
             where: Iterable[Any] = ()) -> T:
        """The entity's row to write (``where`` picks it among the entity's rows), locked and checked.

        When no row matches ``where`` but the entity has rows (it was retired or closed meanwhile), a stale
        If-Match gets 412 with the newest row; otherwise ``missing()`` is raised (404)."""
        offered = _offered(require_present(if_match))
        if "*" not in offered:
            # A version already replaced is refused before queueing behind the entity's locks: versions only move
            # forward, so whatever a writer holding them commits, the offered one cannot become current again —
            # the answer after the wait would be the same 412, only later (and the wait holds a connection).
            self._refuse_stale(session, self._current(session, key, where), offered)
        row = self._locked(session, key, where)
        found = row if row is not None else self._current(session, key, ())
        if found is None:
            raise missing()
        self._refuse_stale(session, found, offered)
        if row is None:
            raise missing()  # the version offered (or "*") is current, but no row matches ``where``
        return row

    def _current(self, session: Session, key: Any, where: Iterable[Any]) -> T | None:
        """The row matching ``where``, else — nothing to write — the newest row (to tell a client holding an old
        version that the entity moved on); None if the entity has no rows. Not locked."""
        where = tuple(where)
        for cond in (where, ()) if where else ((),):
            row: T | None = session.scalars(
                self._rows(key).where(*cond).execution_options(populate_existing=True)).first()
            if row is not None:
                return row
        return None

    def _refuse_stale(self, session: Session, found: T | None, offered: list[str]) -> None:
        if found is None:
            return
        current = self.etag(found)
        if current not in offered and "*" not in offered:
            what, what_zh = self.label(found)
            raise PreconditionFailed(
                f"{what} was changed by someone else (now {current}); reload and merge",
                f"{what_zh}已被他人修改（当前版本 {current}），请重新加载并合并",
                field="If-Match", extra={"current": json.loads(self.body(session, found)), "etag": current},
                headers={"ETag": current},
            )

    def lock_for_put(self, session: Session, key: Any, if_match: str | None, if_none_match: str | None, *,
                     missing: Callable[[], DimingError]) -> T | None:
        """PUT of an entity that may not exist yet (RFC 9110 §13.1): ``If-None-Match: *`` creates it — None is
        returned with the entity's advisory lock held, so parallel creators queue and the later ones get 412 —
        and ``If-Match`` changes it through ``lock``. Neither: 428 (a blind PUT could overwrite an edit)."""
        if if_none_match is None or if_none_match.strip() != "*":
            if not (if_match and if_match.strip()):
                raise PreconditionRequired(
                    "If-Match with the ETag of the version you edited is required (If-None-Match: * to create)",
                    "修改须携带 If-Match 请求头（所编辑版本的 ETag）；新建须携带 If-None-Match: *", field="If-Match",
                )
            return self.lock(session, key, if_match, missing=missing)
        row = self._locked(session, key, ())
        if row is None:
            return None
        found = row
        what, what_zh = self.label(found)
        current = self.etag(found)
        raise PreconditionFailed(
            f"{what} already exists (now {current}); send If-Match to change it",
            f"{what_zh}已存在（当前版本 {current}），修改须携带 If-Match",
            field="If-None-Match", extra={"current": json.loads(self.body(session, found)), "etag": current},
            headers={"ETag": current},
        )

    @property
    def table(self) -> str:
        name: str = self.model.__tablename__  # type: ignore[attr-defined]
        return name

    def _rows(self, key: Any) -> Select[Any]:
        return select(self.model).where(self.key == key).order_by(*self.latest).limit(1)

    def _locked(self, session: Session, key: Any, where: Iterable[Any]) -> T | None:
        # The advisory lock comes first and in its own statement: in READ COMMITTED the next statement then
        # sees whatever the previous writer of this entity committed, including rows it inserted.
        session.execute(select(func.pg_advisory_xact_lock(func.hashtext(self.table), func.hashtext(str(key)))))
        stmt = self._rows(key).where(*where).with_for_update().execution_options(populate_existing=True)
        row: T | None = session.scalars(stmt).first()
        return row


# -- the write step of a valid-time entity (after ``lock``) -------------------------------------------------------

KEEP_OUT = ("id", "version", "created_at", "updated_at", "valid_from", "valid_to")


def write_version(session: Session, row: T, changes: dict[str, Any], *, legal: bool,
                  effective_date: dt.date | None, rule: str | None = None, refresh: bool = True) -> T:
    """Apply ``changes`` to the locked ``row``: a correction changes it in place (record time only; the audit
    trigger keeps the old values); a legal change closes it on ``effective_date`` and opens a copy with the changes
    (domain.md §4, design.md "Time"). Returns the row now in force. ``rule`` is cited when the date is missing."""
    if not changes:
        raise InvalidInput("nothing to change", "没有需要修改的内容", field="body")
    if not legal:
        for key, value in changes.items():
            setattr(row, key, value)
        session.flush()
        if refresh:
            session.refresh(row)
        return row
    valid_from: dt.date = getattr(row, "valid_from")  # noqa: B009 - every valid-time row has it
    valid_to: dt.date | None = getattr(row, "valid_to")  # noqa: B009
    if effective_date is None:
        raise InvalidInput("a legal change needs effective_date", "法定变更须填写生效日期", field="effective_date",
                           rule=rule)
    if effective_date <= valid_from or (valid_to is not None and effective_date >= valid_to):
        raise InvalidInput(
            f"effective_date must fall inside the current version ({valid_from} – {valid_to or 'open'})",
            f"生效日期须在当前版本有效期内（{valid_from} 至 {valid_to or '今'}）", field="effective_date",
        )
    cls = type(row)
    mapper: Any = getattr(cls, "__mapper__")  # noqa: B009
    keep = {c.key: getattr(row, c.key) for c in mapper.column_attrs  # generated columns: PostgreSQL computes them
            if c.key not in KEEP_OUT and all(col.computed is None for col in c.columns)}
    new = cls(**{**keep, **changes, "valid_from": effective_date, "valid_to": valid_to})
    setattr(row, "valid_to", effective_date)  # noqa: B010
    session.flush()  # close first: the exclusion constraint forbids two versions on one date
    session.add(new)
    session.flush()
    if refresh:
        session.refresh(new)
    return new


def close_version(session: Session, row: Any, effective_date: dt.date) -> None:
    """End the locked ``row``'s validity on ``effective_date`` (after its start)."""
    if effective_date <= row.valid_from:
        raise InvalidInput("effective_date must be after valid_from", "终止日期须晚于生效日期", field="effective_date")
    row.valid_to = effective_date
    session.flush()
    session.refresh(row)
