"""Re-derive the stored columns of places under the current rules (``diming places rederive``).

A place stores columns computed from its name when it is written (``derive.derived_fields``): the search keys,
pinyin, initials and grams (``searchkeys``), the N7 duplicate keys (``namecheck.duplicate_key``), and the
published 专名/通名 split and romanisation. When a release changes the rules or reading tables (翟 zhái, 单 shàn,
覃 qín, word division of long 专名 …), rows written before keep the old values: search and duplicate detection then
disagree between old and new rows, and nothing re-derives them. This does, for every row in force today or later:

Internal keys (``INTERNAL``: search and duplicate keys, pinyin, initials, grams) are not part of the record's
content — the API, OGC and exports leave them out (``service.HIDDEN``), they are a pure function of name and
category under the rules of the running code, and the ETag (``version``) names the representation a client
holds. So they are re-written in place **without a new record version**: in each batch transaction the row
triggers that bump ``version`` and write one audit row per place are switched off (``ALTER TABLE … DISABLE
TRIGGER`` is transactional; its SHARE ROW EXCLUSIVE lock lets readers through but keeps other writers of
``places`` waiting until the batch commits, so no other change slips through unversioned or unaudited — the
same pattern as the bulk importer's summary audit). Bumping ``version`` instead would make every officer's open
edit fail with 412 for a change they cannot see, and write ~1.6 kB of audit JSON per place repeating the row.
The run is audited in ``audit_log``, append-only (an audit row is never rewritten): a ``REDERIVE`` entry (entity
``rederive``) when the run starts — who, why, status ``running`` — one ``REDERIVE_BATCH`` entry in the transaction
of each batch it writes, with that batch's counts per column (so the trail is never behind the data, even when a
run is interrupted), and a closing ``REDERIVE`` entry with the totals and status ``done`` or ``incomplete``. The
later entries name the first by its id (``run``).

Published spellings (``PUBLISHED``: ``romanized``, ``zhuanming``, ``tongming``, ``tongming_romanized``) are
never changed silently: the run lists the places whose spelling would change, old → new. With
``apply_romanized`` each is written through ``service.update`` — the one versioned write (lock, If-Match with the
ETag read when listed, write, audit) — as a correction that clears the spelling back to the automatic one, with
the operator's reason: a new record version and an audit row per place. An officer's own spelling
(``romanized_by`` not ``auto``, RZ6) is never replaced; a version that takes effect later is listed, not applied
(the service corrects the version in force today).

Variants (简称, 别名, 曾用名 …, ``place_variants``) are records of their own with a version and ETag; their
``romanized`` is published with the place, so it is treated like a place's spelling: listed, and with
``apply_romanized`` written through ``service.respell_variant`` (lock, If-Match with the ETag read when listed,
write; the table's triggers bump the variant's version and write its audit row). The automatic spelling is the
one the write path gives: ``romanize(name)`` (``service.add_variant``), or for the former name a legal rename kept,
the spelling of the closed place version it came from under that version's category — an officer's spelling
there (``romanized_by`` not ``auto``) is kept. A variant records no ``romanized_by`` of its own, so one whose
stored spelling is not a pinyin reading of its name at all (each character one of its readings) is taken for an
officer's and kept (listed with a note); one that is such a reading is taken for an automatic one.

Safe on a live system: rows (and variants) are read in short read-only transactions, derived with no transaction
open, and written in short batch transactions (``lock_timeout``; a batch that cannot get its locks is retried, then
left for the next run) that write only rows still holding the name and category they were derived from. Idempotent:
a second run finds nothing to change.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import math
import re
import time
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, cast

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from gis_api import clock, progress
from gis_api.errors import Conflict, DimingError, InvalidInput, PreconditionFailed
from gis_api.places.derive import derived_fields
from gis_api.places.romanize import pinyin_syllables, romanize

INTERNAL = ("search_keys", "pinyin", "initials", "grams", "dup_specific", "dup_pinyin", "dup_dialect")
PUBLISHED = ("romanized", "zhuanming", "tongming", "tongming_romanized")
ARRAYS = frozenset({"search_keys", "grams"})
ROW_TRIGGERS = ("places_bump_version", "places_audit")  # audit.sql.enable_tracking('places', 'place_id')
BATCH_ROWS = 1000  # measured: a batch whose every row changes holds writers 1.3 s at load 18 (20k villages)
LOCK_TIMEOUT = "2s"
RETRIES = 3  # attempts per batch (and per spelling) before it is left for the next run
RETRY_PAUSE_S = 0.5
ACTOR_MAX, REASON_MAX = 64, 8000  # audit_log column limits (limits.py)

# In force today or later: a version that takes effect later must carry the current keys when it does.
SCOPE = "(p.valid_to IS NULL OR p.valid_to > :today)"
_READ = f"""
SELECT p.id, p.place_id, p.name, p.category_code, p.romanized_by, p.version, p.valid_from, p.valid_to,
       {", ".join(f"p.{c}" for c in (*PUBLISHED, *INTERNAL))}
FROM places p
WHERE p.id > :after AND {SCOPE}
ORDER BY p.id
LIMIT :n"""
# Variants of places in force today or later, with (for a former name a legal rename kept) the closed place
# version it came from: service.update adds it with that version's name, romanized, valid_from and valid_to.
_READ_VARIANTS = f"""
SELECT v.id, v.place_id, v.kind, v.name, v.romanized, v.version, v.valid_from,
       f.category_code AS from_category, f.romanized_by AS from_romanized_by
FROM place_variants v
LEFT JOIN LATERAL (
    SELECT p.category_code, p.romanized_by FROM places p
    WHERE p.place_id = v.place_id AND p.name = v.name AND p.valid_from = v.valid_from AND p.valid_to = v.valid_to
    LIMIT 1) f ON v.kind = '曾用名'
WHERE v.id > :after AND EXISTS (SELECT 1 FROM places p WHERE p.place_id = v.place_id AND {SCOPE})
ORDER BY v.id
LIMIT :n"""
_STAGE = """
CREATE TEMP TABLE _rederive (
    id bigint PRIMARY KEY, name text NOT NULL, category_code text NOT NULL,
    search_keys text[] NOT NULL, pinyin text NOT NULL, initials text NOT NULL, grams text[] NOT NULL,
    dup_specific text NOT NULL, dup_pinyin text NOT NULL, dup_dialect text NOT NULL
) ON COMMIT DROP"""
_STAGE_COLUMNS = ("id", "name", "category_code", *INTERNAL)
# The rows to write, locked, with which of their columns differ (after waiting for a concurrent writer the row
# is re-read and re-checked: a place renamed meanwhile already has its new keys and is left alone).
_LOCK = f"""
SELECT p.id, {", ".join(f"p.{c} IS DISTINCT FROM t.{c} AS {c}" for c in INTERNAL)}
FROM places p JOIN _rederive t ON t.id = p.id AND t.name = p.name AND t.category_code = p.category_code
WHERE {SCOPE} AND ({", ".join(f"p.{c}" for c in INTERNAL)}) IS DISTINCT FROM ({", ".join(f"t.{c}" for c in INTERNAL)})
ORDER BY p.id
FOR UPDATE OF p"""
_UPDATE = f"""
UPDATE places p SET {", ".join(f"{c} = t.{c}" for c in INTERNAL)}
FROM _rederive t
WHERE t.id = p.id AND p.id = ANY(CAST(:ids AS bigint[]))"""


@dataclass
class SpellingChange:
    """A place whose published spelling differs under the current rules: listed, and applied on request."""

    place_id: int
    row_id: int
    name: str
    category_code: str
    etag: str
    valid_from: str
    romanized_by: str
    changes: dict[str, dict[str, str | None]]  # column → {"old": …, "new": …}
    action: str = "listed"  # listed | applied | skipped
    note: str | None = None
    record: str = "place"  # place | variant (row_id is then the variant's id, etag its ETag)
    kind: str | None = None  # a variant's kind (简称, 别名, 曾用名 …)

    @property
    def applicable(self) -> bool:
        return self.romanized_by == "auto" and self.note is None


@dataclass
class Report:
    dry_run: bool
    apply_romanized: bool
    rows_checked: int = 0
    rows_changed: int = 0  # rows whose internal keys were (dry run: would be) re-written
    changed: dict[str, int] = field(default_factory=lambda: dict.fromkeys(INTERNAL, 0))
    batches: int = 0
    batches_written: int = 0
    rows_left: int = 0  # rows of batches that could not get their locks: the next run takes them
    variants_checked: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)  # names the rules could not derive
    spellings: list[SpellingChange] = field(default_factory=list)
    applied: int = 0
    spellings_left: int = 0
    audit_id: int | None = None  # the run's first audit entry (REDERIVE, status running)
    seconds: float = 0.0
    actor: str | None = None
    reason: str | None = None

    @property
    def complete(self) -> bool:
        return not self.rows_left and not self.spellings_left and not self.errors

    def counts(self) -> dict[str, Any]:
        places = [s for s in self.spellings if s.record == "place"]
        variants = [s for s in self.spellings if s.record == "variant"]
        return {
            "rows_checked": self.rows_checked, "rows_changed": self.rows_changed, "changed": dict(self.changed),
            "batches": self.batches, "batches_written": self.batches_written, "rows_left": self.rows_left,
            "errors": len(self.errors),
            "spellings": {"listed": len(places), "applied": sum(s.action == "applied" for s in places),
                          "left": sum(s.action == "skipped" for s in places),
                          "by_column": {c: sum(c in s.changes for s in places) for c in PUBLISHED},
                          "officer_spellings_kept": sum(s.romanized_by != "auto" for s in places)},
            "variants_checked": self.variants_checked,
            "variant_spellings": {"listed": len(variants), "applied": sum(s.action == "applied" for s in variants),
                                  "left": sum(s.action == "skipped" for s in variants),
                                  "officer_spellings_kept": sum(s.romanized_by != "auto" for s in variants)},
        }

    def summary(self) -> dict[str, Any]:
        return {"dry_run": self.dry_run, "apply_romanized": self.apply_romanized, **self.counts(),
                "complete": self.complete, "audit_id": self.audit_id, "seconds": round(self.seconds, 3),
                "error_names": self.errors[:20]}


# -- COPY ------------------------------------------------------------------------------------------------------

def _array_literal(values: Sequence[str]) -> str:
    return "{" + ",".join('"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values) + "}"


def _copy_value(value: Any) -> str:
    s = _array_literal(value) if isinstance(value, list) else str(value)
    return s.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def _copy(session: Session, table: str, columns: Sequence[str], lines: Iterable[str]) -> None:
    buf = io.StringIO("".join(lines))
    cursor = cast(Any, session.connection().connection).cursor()
    try:
        cursor.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN", buf)
    finally:
        cursor.close()


# -- the run ---------------------------------------------------------------------------------------------------

def check_args(actor: str, reason: str) -> tuple[str, str]:
    actor, reason = (actor or "").strip(), (reason or "").strip()
    if not actor or len(actor) > ACTOR_MAX:
        raise InvalidInput(f"--actor must be 1–{ACTOR_MAX} characters: who is recorded in the audit log",
                           f"--actor（审计记录中的操作人）须为 1–{ACTOR_MAX} 个字符", field="actor")
    if not reason or len(reason) > REASON_MAX:
        raise InvalidInput(f"--reason must be 1–{REASON_MAX} characters: why, recorded in the audit log",
                           f"--reason（审计记录中的原因）须为 1–{REASON_MAX} 个字符", field="reason")
    return actor, reason


def _may_switch_triggers(session: Session) -> bool:
    return bool(session.execute(text(
        "SELECT pg_has_role(current_user, c.relowner, 'USAGE') FROM pg_class c WHERE c.oid = 'places'::regclass"
    )).scalar())


def _busy(exc: DBAPIError) -> bool:
    """The statement waited too long for a lock (lock_timeout) or lost a deadlock: try again later."""
    return getattr(exc.orig, "pgcode", None) in ("55P03", "40P01")


def _set_lock_timeout(session: Session, value: str) -> str:
    """Set lock_timeout for this transaction; returns the value it had (to restore)."""
    return str(session.execute(text("SELECT current_setting('lock_timeout'), set_config('lock_timeout', :v, true)"),
                               {"v": value}).one()[0])


def _read(session: Session, after: int, today: dt.date, n: int) -> list[Any]:
    """One batch of rows, in a read-only transaction of its own (ended before the names are derived)."""
    try:
        return list(session.execute(text(_READ), {"after": after, "today": today, "n": n}).all())
    finally:
        session.rollback()


def _spelling(row: Any, new: dict[str, Any], today: dt.date) -> SpellingChange | None:
    from gis_api.places.service import etag

    columns = PUBLISHED if row.romanized_by == "auto" else tuple(c for c in PUBLISHED if c != "romanized")
    diff = {c: {"old": getattr(row, c), "new": new[c]} for c in columns if getattr(row, c) != new[c]}
    if not diff:
        return None
    change = SpellingChange(place_id=row.place_id, row_id=row.id, name=row.name, category_code=row.category_code,
                            etag=etag(row.id, row.version), valid_from=row.valid_from.isoformat(),
                            romanized_by=row.romanized_by, changes=diff)
    if row.romanized_by != "auto":
        change.note = f"officer's spelling (romanized_by {row.romanized_by}) kept: an officer decides"
    elif row.valid_from > today:
        change.note = f"version takes effect on {row.valid_from.isoformat()}: correct it when it is in force"
    return change


def _write_batch(session: Session, rows: list[tuple[int, str, str, dict[str, Any]]], report: Report,
                 lock_timeout: str, today: dt.date) -> bool:
    """Re-write the internal keys of ``rows`` (id, name, category, new values) in one transaction; False when
    the locks were not granted within ``lock_timeout`` (nothing written)."""
    try:
        old_timeout = _set_lock_timeout(session, lock_timeout)
        # First the table lock (writers wait for this batch; readers do not), then the rows.
        session.execute(text(f"ALTER TABLE places {', '.join(f'DISABLE TRIGGER {t}' for t in ROW_TRIGGERS)}"))
        session.execute(text("DROP TABLE IF EXISTS pg_temp._rederive"))
        session.execute(text(_STAGE))
        _copy(session, "_rederive", _STAGE_COLUMNS,
              ("\t".join(_copy_value(v) for v in (rid, name, cat, *(new[c] for c in INTERNAL))) + "\n"
               for rid, name, cat, new in rows))
        locked = session.execute(text(_LOCK), {"today": today}).all()
        if locked:
            session.execute(text(_UPDATE), {"ids": [r.id for r in locked]})
        session.execute(text(f"ALTER TABLE places {', '.join(f'ENABLE TRIGGER {t}' for t in ROW_TRIGGERS)}"))
        session.execute(text("DROP TABLE pg_temp._rederive"))
        _set_lock_timeout(session, old_timeout)
        changed = {c: sum(bool(getattr(r, c)) for r in locked) for c in INTERNAL}
        if locked:  # the batch's own entry, in its transaction: the trail is never behind the data
            _audit(session, report, "REDERIVE_BATCH", {
                "status": "batch", "batch": report.batches, "ids": [rows[0][0], rows[-1][0]],
                "rows_changed": len(locked), "changed": changed})
        session.commit()
        report.rows_changed += len(locked)
        for c in INTERNAL:
            report.changed[c] += changed[c]
        return True
    except DBAPIError as exc:
        session.rollback()
        if _busy(exc):
            return False
        raise


def _audit(session: Session, report: Report, action: str, entry: dict[str, Any]) -> None:
    """Append one entry of the run to ``audit_log`` in the caller's transaction (entries are never rewritten)."""
    assert report.audit_id is not None and report.actor is not None
    session.execute(
        text("INSERT INTO audit_log (actor, reason, action, table_name, entity_key, new) "
             "VALUES (:actor, :reason, :action, 'places', 'rederive', CAST(:new AS jsonb))"),
        {"actor": report.actor, "reason": report.reason, "action": action,
         "new": json.dumps({"rederive": {"run": report.audit_id, **entry}}, ensure_ascii=False)})


def _start_audit(session: Session, report: Report, actor: str, reason: str, batch_rows: int) -> None:
    """The run's first entry (its id names the run in the later ones), committed before anything is written."""
    new = {"rederive": {"status": "running", "batch_rows": batch_rows, **report.counts()}}
    report.audit_id = int(session.execute(
        text("INSERT INTO audit_log (actor, reason, action, table_name, entity_key, new) "
             "VALUES (:actor, :reason, 'REDERIVE', 'places', 'rederive', CAST(:new AS jsonb)) RETURNING id"),
        {"actor": actor, "reason": reason, "new": json.dumps(new, ensure_ascii=False)}).scalar_one())
    report.actor, report.reason = actor, reason
    session.commit()


def _apply(session: Session, change: SpellingChange, report: Report, actor: str, reason: str,
           lock_timeout: str) -> None:
    """One spelling through the versioned service write of its record, in a transaction of its own."""
    from gis_api.places import service
    from gis_api.places.schemas import PlaceUpdate

    for attempt in range(RETRIES):
        try:
            old_timeout = _set_lock_timeout(session, lock_timeout)
            if change.record == "variant":
                new = change.changes["romanized"]["new"]
                assert new is not None
                service.respell_variant(session, change.place_id, change.row_id, new, change.etag, actor, reason)
            else:
                body = PlaceUpdate.model_validate({"romanized": None, "mode": "correction", "reason": reason})
                service.update(session, change.place_id, body, change.etag, actor)
            _set_lock_timeout(session, old_timeout)
            change.action, change.note = "applied", None
            report.applied += 1
            session.commit()
            return
        except PreconditionFailed:
            session.rollback()
            change.action, change.note = "skipped", "changed since it was listed: run again"
            break
        except DimingError as exc:
            session.rollback()
            change.action, change.note = "skipped", exc.message
            break
        except DBAPIError as exc:
            session.rollback()
            if not _busy(exc):
                raise
            change.action, change.note = "skipped", "busy (locked by another writer): run again"
            time.sleep(RETRY_PAUSE_S * (attempt + 1))
    report.spellings_left += 1


# -- variants --------------------------------------------------------------------------------------------------

def _plain(text_: str) -> str:
    """Lower-case ASCII letters and digits only (tone marks, ü's dots, spaces, apostrophes and hyphens dropped)."""
    folded = unicodedata.normalize("NFKD", text_.lower())
    return "".join(c for c in folded if c.isascii() and c.isalnum()).replace("v", "u")


def _readings(ch: str) -> set[str]:
    from pypinyin import Style, pinyin

    out = {_plain(r) for r in pinyin(ch, style=Style.NORMAL, heteronym=True, errors="default")[0]}
    out.update(_plain(r) for r in pinyin_syllables(ch))  # the place-name readings (RZ6) too
    return out


def reads_as(spelling: str, name: str) -> bool:
    """Whether ``spelling`` is a pinyin reading of ``name``: each character one of its readings, in order (case,
    tones, spaces and apostrophes aside) — what any version of the automatic rules can have written."""
    target = _plain(spelling)
    ends = {0}
    for ch in name:
        options = _readings(ch) if not ch.isspace() else {""}
        ends = {j + len(o) for j in ends for o in options if target.startswith(o, j)}
        if not ends:
            return False
    return len(target) in ends


def _variant_spelling(row: Any) -> SpellingChange | None:
    """A variant whose published spelling differs from the automatic one under the current rules."""
    from gis_api.places.service import variant_etag

    if row.from_category is not None:  # a former name kept by a rename: the closed version's spelling rule
        new = derived_fields(row.name, row.from_category)["romanized"]
        by = str(row.from_romanized_by)
    else:
        new = romanize(row.name).romanized
        by = "auto" if not row.romanized or reads_as(row.romanized, row.name) else "officer"
    if row.romanized == new:
        return None
    change = SpellingChange(place_id=row.place_id, row_id=row.id, name=row.name, category_code=row.from_category or "",
                            etag=variant_etag(row), valid_from=row.valid_from.isoformat() if row.valid_from else "",
                            romanized_by=by, changes={"romanized": {"old": row.romanized, "new": new}},
                            record="variant", kind=row.kind)
    if row.from_category is not None and by != "auto":
        change.note = f"officer's spelling (romanized_by {by} on the renamed version) kept: an officer decides"
    elif by != "auto":
        change.note = ("not a pinyin reading of the name, so taken for an officer's spelling (variants record no "
                       "romanized_by) and kept: an officer decides")
    return change


def _check_variants(session: Session, report: Report, today: dt.date, batch_rows: int) -> None:
    after = 0
    while True:
        try:
            rows = list(session.execute(text(_READ_VARIANTS), {"after": after, "today": today, "n": batch_rows}).all())
        finally:
            session.rollback()
        if not rows:
            return
        after = rows[-1].id
        report.variants_checked += len(rows)
        for row in rows:
            try:
                change = _variant_spelling(row)
            except Exception as exc:  # an odd name is reported, not a reason to stop the whole run
                report.errors.append({"place_id": row.place_id, "variant_id": row.id, "name": row.name,
                                      "error": f"{type(exc).__name__}: {exc}"})
                continue
            if change is not None:
                report.spellings.append(change)


def rederive(session: Session, *, actor: str, reason: str, dry_run: bool = False, apply_romanized: bool = False,
             batch_rows: int = BATCH_ROWS, lock_timeout: str = LOCK_TIMEOUT) -> Report:
    """Re-derive every row in force (today or later) under the current rules; see the module doc.

    The session's transactions are this function's: it commits each batch (and each applied spelling) and
    rolls back its reads; ``dry_run`` writes nothing at all."""
    t0 = time.perf_counter()
    actor, reason = check_args(actor, reason)
    if batch_rows < 1:
        raise InvalidInput("--batch-size must be at least 1", "--batch-size 至少为 1", field="batch_size")
    if not re.fullmatch(r"[0-9]{1,7}(ms|s|min)?", lock_timeout.strip()) or lock_timeout.strip().startswith("0"):
        raise InvalidInput(f"--lock-timeout {lock_timeout!r} is not a duration such as 500ms, 2s or 1min",
                           f"--lock-timeout {lock_timeout!r} 不是有效的时长（如 500ms、2s、1min）",
                           field="lock_timeout")
    report = Report(dry_run=dry_run, apply_romanized=apply_romanized)
    today = clock.today()
    total = int(session.execute(text(f"SELECT count(*) FROM places p WHERE {SCOPE}"), {"today": today}).scalar_one())
    if not dry_run:
        if not _may_switch_triggers(session):
            session.rollback()
            raise Conflict(
                "the database role may not switch the row triggers of places (it does not own the table): "
                "run this command as the role that ran the migrations, so the internal keys are re-written "
                "without a new record version",
                "当前数据库角色不是地名表的属主，不能临时关闭行级触发器：请以执行迁移的角色运行本命令，"
                "以便在不产生新记录版本的情况下重写内部检索键", field="database_role")
        _start_audit(session, report, actor, reason, batch_rows)
    session.rollback()
    after = 0
    steps = math.ceil(total / batch_rows) + 1 + (1 if apply_romanized else 0)
    with progress.phases("rederive places", max(steps, 1)) as bar:
        while True:
            rows = _read(session, after, today, batch_rows)
            if not rows:
                break
            report.batches += 1
            bar.step(f"batch {report.batches} (ids {rows[0].id}–{rows[-1].id})")
            after = rows[-1].id
            report.rows_checked += len(rows)
            derived: dict[tuple[str, str], dict[str, Any] | None] = {}
            todo: list[tuple[int, str, str, dict[str, Any]]] = []
            for row in rows:
                key = (row.name, row.category_code)
                if key not in derived:
                    try:
                        derived[key] = derived_fields(row.name, row.category_code)
                    except Exception as exc:  # an odd name is reported, not a reason to stop the whole run
                        derived[key] = None
                        report.errors.append({"place_id": row.place_id, "row_id": row.id, "name": row.name,
                                              "error": f"{type(exc).__name__}: {exc}"})
                new = derived[key]
                if new is None:
                    continue
                if any(getattr(row, c) != new[c] for c in INTERNAL):
                    todo.append((row.id, row.name, row.category_code, new))
                change = _spelling(row, new, today)
                if change is not None:
                    report.spellings.append(change)
            if not todo:
                continue
            if dry_run:  # what the batch would write, by the rows as read
                report.rows_changed += len(todo)
                by_id = {r.id: r for r in rows}
                for rid, _n, _c, new in todo:
                    for c in INTERNAL:
                        report.changed[c] += getattr(by_id[rid], c) != new[c]
                continue
            for attempt in range(RETRIES):
                if _write_batch(session, todo, report, lock_timeout, today):
                    report.batches_written += 1
                    break
                time.sleep(RETRY_PAUSE_S * (attempt + 1))
            else:
                report.rows_left += len(todo)
        bar.step("variants")
        _check_variants(session, report, today, batch_rows)
        if apply_romanized and not dry_run:
            bar.step(f"spellings ({sum(s.applicable for s in report.spellings)})")
            for change in report.spellings:
                if change.applicable:
                    _apply(session, change, report, actor, reason, lock_timeout)
    if not dry_run:
        _audit(session, report, "REDERIVE", {"status": "done" if report.complete else "incomplete",
                                             **report.counts()})
        session.commit()
    report.seconds = time.perf_counter() - t0
    return report


# -- the list of spellings -------------------------------------------------------------------------------------

CSV_COLUMNS = ("record", "place_id", "row_id", "kind", "name", "category_code", "valid_from", "romanized_by", "column",
               "old", "new", "action", "note", "etag")


def spellings_csv(changes: Sequence[SpellingChange]) -> str:
    """One line per changed column of each place or variant (old → new)."""
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(CSV_COLUMNS)
    for s in changes:
        for column, diff in s.changes.items():
            w.writerow((s.record, s.place_id, s.row_id, s.kind or "", s.name, s.category_code, s.valid_from,
                        s.romanized_by, column, diff["old"] or "", diff["new"] or "", s.action, s.note or "", s.etag))
    return out.getvalue()


def spellings_json(changes: Sequence[SpellingChange]) -> str:
    return json.dumps([asdict(s) for s in changes], ensure_ascii=False, indent=1) + "\n"
