"""大/洋/怪/重 checks against the gazetteer (domain.md §2), the review flags they raise, and the campaign.

The word lists and rules live in ``namecheck`` (data files officers edit); this module adds what needs the
database: the N7 scope (which existing names a name must not repeat) and the flags' life cycle
(open → renamed / exempted / retired).
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import io
import json
import os
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from functools import lru_cache
from multiprocessing import get_all_start_methods, get_context
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.audit import service as audit
from gis_api.concurrency import Versioned, make_etag
from gis_api.errors import InvalidInput, NotFound
from gis_api.io import safe_cells
from gis_api.places import namecheck
from gis_api.places.models import FlagStatus, NameFlag, Place, PlaceCategory
from gis_api.places.romanize import split_name

SCOPE_PREFIX = {"national": 0, "province": 2, "county": 6, "township": 9}
# (Chinese, English): each message names the scope in its own language.
SCOPE_LABEL = {"national": ("全国", "the country"), "province": ("本省", "the province"),
               "county": ("本县", "the county"), "township": ("本乡镇（建成区）", "the township (built-up area)")}


def _scope(cat: PlaceCategory | None, division_code: str | None) -> tuple[str, tuple[str, str]]:
    """(prefix of division codes in the N7 scope, (Chinese label, English label))."""
    scope = cat.dup_scope if cat else "county"
    n = SCOPE_PREFIX.get(scope, 6)
    if n and not division_code:
        return "", ("全部已登记地名", "all registered names")
    prefix = (division_code or "")[:n]
    zh, en = SCOPE_LABEL.get(scope, (scope, scope))
    return prefix, (f"{zh} {prefix}".strip(), f"{en} {prefix}".strip())


def duplicate_candidates(
    session: Session, name: str, scope_kind: int | None, prefix: str, as_of: dt.date, own_place_id: int | None,
    onward: bool = False,
) -> list[tuple[object, str]]:
    """Names in force in the same N7 scope sharing a duplicate key with ``name`` (index lookups).

    Without a category the kind of entity is unknown, so only names with the same 通名 are compared
    (a 店埠镇 does not clash with the 店埠河). ``onward``: names in force on ``as_of`` or at any time after it
    (for a name that would be standard from ``as_of`` on, open-ended)."""
    key = namecheck.duplicate_key(name)
    if not key.specific:
        return []
    same_generic = None if scope_kind is not None else split_name(name)[1]
    rows = session.execute(
        text("""
            SELECT p.place_id, p.name FROM places p
            WHERE (p.dup_specific = :s OR (:p <> '' AND p.dup_pinyin = :p) OR (:d <> '' AND p.dup_dialect = :d))
              AND (CAST(:sk AS int) IS NULL OR p.scope_kind = :sk)
              AND (CAST(:tm AS text) IS NULL OR p.tongming = :tm)
              AND p.division_code LIKE :prefix || '%'
              AND (:onward OR p.valid_from <= :as_of) AND (p.valid_to IS NULL OR p.valid_to > :as_of)
              AND p.place_id IS DISTINCT FROM CAST(:own AS bigint)
            ORDER BY p.place_id LIMIT 50"""),
        {"s": key.specific, "p": key.pinyin, "d": key.dialect, "sk": scope_kind, "tm": same_generic, "prefix": prefix,
         "as_of": as_of, "own": own_place_id, "onward": onward},
    ).all()
    # One entry per place (a place renamed and back has several versions in force after ``as_of``).
    return list(dict.fromkeys((int(r[0]), str(r[1])) for r in rows))


def _officer_exemptions(session: Session, place_id: int | None, name: str) -> dict[tuple[str, str], str]:
    """Flags of this place's name an officer exempted, by (class, finding), with the justification."""
    if place_id is None:
        return {}
    rows = session.execute(
        select(NameFlag.cls, NameFlag.reason_zh, NameFlag.outcome_note).where(
            NameFlag.place_id == place_id, NameFlag.name == name, NameFlag.status == FlagStatus.exempted.value
        )
    ).all()
    return {(r.cls, r.reason_zh): r.outcome_note or "" for r in rows}


def check(
    session: Session,
    name: str,
    *,
    category: str | None = None,
    division_code: str | None = None,
    attrs: dict[str, float] | None = None,
    place_id: int | None = None,
    as_of: dt.date | None = None,
    onward: bool = False,
) -> dict[str, Any]:
    """The officer's check while typing a name: flags with rule and reason, and what was exempted.
    ``onward``: compare with the names in force on ``as_of`` or later (see ``duplicate_candidates``)."""
    name = name.strip()
    if not name:
        raise InvalidInput("name must not be empty", "名称不能为空", field="name", rule="N0")
    cat = session.get(PlaceCategory, category) if category else None
    if category and cat is None:
        raise InvalidInput(f"unknown category {category!r}", f"未知的地名类别 {category!r}", field="category")
    prefix, label = _scope(cat, division_code)
    existing = duplicate_candidates(
        session, name, cat.scope_kind if cat else None, prefix, as_of or clock.today(), place_id, onward
    )
    result = namecheck.check_name_detailed(
        name, category=cat.name_zh if cat else None, attrs=attrs, existing=existing, scope_label=label,
        own_id=place_id,
    )
    recorded = _officer_exemptions(session, place_id, name)
    flags: list[dict[str, Any]] = []
    exempted = [e.to_dict() for e in result.exempted]
    for f in result.flags:
        why = recorded.get((f.cls, f.reason_zh))
        if why is None:
            flags.append(f.to_dict())
        else:
            exempted.append({**f.to_dict(), "exemption": {"term": name, "justification": why, "source": "officer"}})
    return {"name": name, "flags": flags, "exempted": exempted, "scope": label[0], "scope_zh": label[0],
            "scope_en": label[1]}


def _measured_attrs(session: Session, row_id: int) -> dict[str, float] | None:
    """Land area of a mapped site, measured in PostGIS, for the §2.1 size rules (广场, 中心, 城)."""
    area = session.execute(
        text("SELECT ST_Area(geom::geography) FROM places WHERE id = :id AND ST_Dimension(geom) = 2"), {"id": row_id}
    ).scalar()
    return {"land_area_m2": float(area)} if area is not None else None


def record_flags(session: Session, row: Place) -> list[dict[str, Any]]:
    """Run the checks on a stored place and keep each new flag (open) for the campaign; returns the flags."""
    result = check(session, row.name, category=row.category_code, division_code=row.division_code,
                   attrs=_measured_attrs(session, row.id), place_id=row.place_id, as_of=row.valid_from)
    _store(session, row.place_id, row.name, result["flags"])
    return list(result["flags"])


def _store(session: Session, place_id: int, name: str, flags: Iterable[dict[str, Any]]) -> int:
    n = 0
    for f in flags:
        result = session.execute(
            text("""INSERT INTO name_flags (place_id, name, class, rule, reason, reason_zh, evidence)
                    VALUES (:pid, :name, :cls, :rule, :reason, :reason_zh, :evidence)
                    ON CONFLICT (place_id, name, class, reason_zh) DO UPDATE
                        SET evidence = EXCLUDED.evidence, reason = EXCLUDED.reason
                        WHERE name_flags.status = 'open' AND name_flags.evidence <> EXCLUDED.evidence
                    RETURNING (xmax = 0) AS inserted"""),
            {"pid": place_id, "name": name, "cls": f["class"], "rule": f["rule"], "reason": f["reason"],
             "reason_zh": f["reason_zh"], "evidence": f["evidence"]},
        )
        n += sum(1 for (inserted,) in result if inserted)
    return n


def close_flags(session: Session, place_id: int, status: str, actor: str, note: str | None,
                name: str | None = None) -> None:
    stmt = text("""UPDATE name_flags SET status = :status, outcome_note = :note, decided_by = :actor,
                          decided_at = now()
                   WHERE place_id = :pid AND status = 'open' AND (CAST(:name AS text) IS NULL OR name = :name)""")
    session.execute(stmt, {"status": status, "note": note, "actor": actor, "pid": place_id, "name": name})


def close_flags_of_old_name(session: Session, place_id: int, old_name: str | None, actor: str) -> None:
    """Open flags of a name that was renamed away are resolved as 'renamed'."""
    session.execute(
        text("""UPDATE name_flags f SET status = 'renamed', outcome_note = 'renamed to ' || p.name,
                       decided_by = :actor, decided_at = now()
                FROM places p
                WHERE f.place_id = :pid AND f.status = 'open' AND p.place_id = f.place_id
                  AND p.valid_to IS NULL AND f.name <> p.name
                  AND (CAST(:old AS text) IS NULL OR f.name = :old)"""),
        {"pid": place_id, "old": old_name, "actor": actor},
    )


def flag_etag(f: NameFlag) -> str:
    return make_etag("nf", f.id, f.version)


def flag_json(f: NameFlag) -> dict[str, Any]:
    return {"id": f.id, "place_id": f.place_id, "name": f.name, "class": f.cls, "rule": f.rule, "reason": f.reason,
            "reason_zh": f.reason_zh, "evidence": f.evidence, "status": f.status, "outcome_note": f.outcome_note,
            "decided_by": f.decided_by, "decided_at": f.decided_at.isoformat() if f.decided_at else None,
            "version": f.version, "etag": flag_etag(f)}


def _no_flag(flag_id: int) -> NotFound:
    return NotFound(f"no flag {flag_id}", f"不存在编号为 {flag_id} 的整治标记", field="id")


FLAG_GUARD = Versioned(
    model=NameFlag, key=NameFlag.id, etag=flag_etag,
    label=lambda f: (f"flag {f.id}", f"整治标记 {f.id} "),
    body=lambda _s, f: json.dumps(flag_json(f), ensure_ascii=False),
)


def flag(session: Session, flag_id: int) -> NameFlag:
    f = session.get(NameFlag, flag_id)
    if f is None:
        raise _no_flag(flag_id)
    return f


def decide(session: Session, flag_id: int, status: FlagStatus, note: str | None, if_match: str | None,
           actor: str) -> NameFlag:
    """Record a flag's outcome; an exemption needs its justification (domain.md §2). If-Match: the flag's ETag
    (from the campaign list, the place's ``flags`` or GET /names/flags/{id})."""
    row = FLAG_GUARD.lock(session, flag_id, if_match, missing=lambda: _no_flag(flag_id))
    if status is FlagStatus.exempted and not (note and note.strip()):
        raise InvalidInput("an exemption needs a justification in note", "豁免须在说明中写明理由", field="note",
                           rule="§2")
    audit.set_context(session, actor, note)
    row.status = status.value
    row.outcome_note = note
    row.decided_by = actor
    row.decided_at = dt.datetime.now(dt.UTC)
    session.flush()
    session.refresh(row)
    return row


# -- the campaign ------------------------------------------------------------------------------------------

PARALLEL_MIN_NAMES = 20_000  # below this many distinct names, worker start-up costs more than it saves

_Key = tuple[str, str, str]  # a DuplicateKey as a plain tuple (specific, pinyin, dialect)


def run_campaign(session: Session, actor: str, as_of: dt.date | None = None, within: str | None = None,
                 *, workers: int | None = None) -> dict[str, Any]:
    """See :func:`_run_campaign`. Python's cyclic garbage collector is paused meanwhile: the run holds a million
    tuples that make no cycles, and each of its full collections would walk all of them again."""
    paused = gc.isenabled()
    gc.disable()
    try:
        return _run_campaign(session, actor, as_of, within, workers)
    finally:
        if paused:
            gc.enable()


def _run_campaign(session: Session, actor: str, as_of: dt.date | None, within: str | None, workers: int | None
                  ) -> dict[str, Any]:
    """Check every name in force (optionally under one division) and keep new flags; idempotent.

    The same findings as :func:`check` on each place in turn (the interactive path), computed in bulk:

    * one query reads the names to check (and, for a whole-gazetteer run, every N7 candidate with them);
    * the 大洋怪 flags (minus ``exemptions.csv``) and the duplicate key are computed once per distinct name, in
      worker processes for many names (``workers``: default both cores), while this process counts the stored
      duplicate keys per (key, scope prefix);
    * a place whose key (computed now, as ``duplicate_candidates`` does) meets no stored key in its scope but its
      own has no N7 candidate; for the others in-memory indexes answer ``duplicate_candidates``' query (same
      filters, order and limit of 50);
    * the flags are copied into a temporary table and written by one upsert with the semantics of ``_store``
      (each new or refreshed flag gets its version bump and audit row from the table's triggers)."""
    on = as_of or clock.today()
    audit.set_context(session, actor, "non-standard name campaign run")
    cfg = namecheck.load_config()
    categories = {c.code: c for c in session.scalars(select(PlaceCategory))}
    cur = session.connection().connection.cursor()  # plain tuples: ~600k rows, the ORM's Row costs seconds
    in_force = "p.valid_from <= %(on)s AND (p.valid_to IS NULL OR p.valid_to > %(on)s)"
    cat_info = {code: (c.name_zh, c.scope_kind, SCOPE_PREFIX.get(c.dup_scope, 6)) for code, c in categories.items()}
    checked: _NameResults | None = None
    if within is None:  # the distinct names first (a hash aggregate), so the workers start while the rest is read
        cur.execute(f"""SELECT p.name, p.category_code FROM places p WHERE {in_force}
                        GROUP BY p.name, p.category_code""", {"on": on})
        pairs = cur.fetchall()
        checked = _NameResults(_distinct(pairs, cat_info), cfg, workers)
        checked.asked = set(pairs)
    try:
        # Candidate rows: (place_id, name, division_code, scope_kind, tongming, dup_specific, dup_pinyin,
        # dup_dialect)
        everything: list[tuple[Any, ...]] = []
        if within is None:  # every name is checked and every name is a candidate: read them once
            cur.execute(f"""SELECT p.place_id, p.name, p.division_code, p.scope_kind, p.tongming,
                                   p.dup_specific, p.dup_pinyin, p.dup_dialect, p.category_code FROM places p
                            WHERE {in_force} ORDER BY p.place_id""", {"on": on})
            everything = list(cur.fetchall())
            targets: list[tuple[Any, ...]] = [(r[0], r[1], r[8], r[2]) for r in everything]
        else:
            cur.execute(f"""SELECT p.place_id, p.name, p.category_code, p.division_code FROM places p
                            WHERE {in_force} AND p.division_code LIKE %(within)s || '%%'
                            ORDER BY p.place_id""", {"on": on, "within": within})
            targets = list(cur.fetchall())
        bad = next((t for t in targets if not t[1].strip() or (t[2] and t[2] not in categories)), None)
        if bad is not None:  # the first offending place, in place_id order
            if not bad[1].strip():
                raise InvalidInput("name must not be empty", "名称不能为空", field="name", rule="N0")
            raise InvalidInput(f"unknown category {bad[2]!r}", f"未知的地名类别 {bad[2]!r}", field="category")
        if checked is None:
            checked = _NameResults(_distinct(((t[1], t[2]) for t in targets), cat_info), cfg, workers)
        else:  # a name committed between the two reads (READ COMMITTED) is checked here
            checked.complete(_distinct({(t[1], t[2]) for t in targets} - checked.asked, cat_info))
        lengths = _prefix_lengths(targets, cat_info)
        if within is None:
            gazetteer = _Gazetteer(everything)
            gazetteer.count(lengths)  # while the workers check the names
            keys = checked.keys()
        else:
            keys = checked.keys()
            mine = [keys[r[1].strip()] for r in targets]
            cur.execute(f"""SELECT p.place_id, p.name, p.division_code, p.scope_kind, p.tongming,
                                   p.dup_specific, p.dup_pinyin, p.dup_dialect FROM places p
                            WHERE {in_force} AND (p.dup_specific = ANY(%(s)s) OR p.dup_pinyin = ANY(%(p)s)
                                                  OR p.dup_dialect = ANY(%(d)s))
                            ORDER BY p.place_id""",
                        {"on": on, "s": sorted({k[0] for k in mine if k[0]}),
                         "p": sorted({k[1] for k in mine if k[0] and k[1]}),
                         "d": sorted({k[2] for k in mine if k[0] and k[2]})})
            gazetteer = _Gazetteer(list(cur.fetchall()))
            gazetteer.count(lengths)
        base = checked.flags()
    finally:
        if checked is not None:
            checked.close()
    cur.close()

    def key_of(n: str) -> namecheck.DuplicateKey:  # the names checked now; a candidate outside them computed here
        k = keys.get(n)
        if k is None:
            k = keys[n] = _key_tuple(namecheck.duplicate_key(n, cfg))
        return namecheck.DuplicateKey(*k)

    key_cache = lru_cache(maxsize=None)(key_of)
    splits = lru_cache(maxsize=None)(lambda n: split_name(n)[1])
    labels: dict[tuple[str | None, str], tuple[str, tuple[str, str]]] = {}
    digits_of = {code: info[2] for code, info in cat_info.items()}
    fresh = [keys[t[1].strip()] for t in targets]
    # Places that may have N7 candidates: (row position in targets, row position in the gazetteer or -1).
    suspects: list[tuple[int, int]] = []
    members: list[int] | None = None  # the gazetteer rows that can be anyone's candidate (None: all)
    if within is None and len(lengths) == 1:
        # Every place is a gazetteer row and every scope prefix has one length: a place whose key is the one stored
        # in its row has a candidate only if its own bucket holds another row; the rows that can be candidates are
        # those in a bucket of two or more. A place whose stored key is out of date takes the general test.
        (n,) = lengths
        ms, mp, md = gazetteer.shared(n)
        members = []
        stale: list[int] = []
        for i, (k, r) in enumerate(zip(fresh, everything, strict=True)):
            code = r[2]
            if code is None:
                if k[0]:
                    stale.append(i)
                continue
            c = code[:n]
            if (r[5], c) in ms or (r[6], c) in mp or (r[7], c) in md:
                members.append(i)
                if k[0] and k[0] == r[5] and k[1] == r[6] and k[2] == r[7] and (
                        (k[0], c) in ms or (k[1] and (k[1], c) in mp) or (k[2] and (k[2], c) in md)):
                    suspects.append((i, i))
                    continue
            if k[0] and not (k[0] == r[5] and k[1] == r[6] and k[2] == r[7]):
                stale.append(i)
        for i in stale:
            t = targets[i]
            if gazetteer.may_match(fresh[i], t[3][:digits_of[t[2]] if t[2] else 6] if t[3] else "", i):
                suspects.append((i, i))
                members = None  # its bucket may hold rows that share no bucket with any other row
        suspects.sort()
    else:
        own_rows = gazetteer.positions(t[0] for t in targets) if within is not None else None
        for i, t in enumerate(targets):
            if not fresh[i][0]:
                continue
            prefix = t[3][:digits_of[t[2]] if t[2] else 6] if t[3] else ""  # as _scope
            own = i if own_rows is None else own_rows.get(t[0], -1)
            if gazetteer.may_match(fresh[i], prefix, own):
                suspects.append((i, own))
    if members is not None:
        gazetteer.index_rows(members, next(iter(lengths)))
    else:
        gazetteer.index(((len(t[3][:digits_of[t[2]] if t[2] else 6]) if t[3] else 0), fresh[i])
                        for i, _own in suspects for t in (targets[i],))
    dup: dict[int, list[namecheck.Flag]] = {}
    for i, _own in suspects:
        pid, raw, category, division = targets[i]
        name = raw.strip()
        _zh, scope_kind, digits = cat_info[category] if category else (None, None, 6)
        prefix = division[:digits] if division else ""  # as _scope
        scope_at = (category, prefix)
        scoped = labels.get(scope_at)
        if scoped is None:
            scoped = labels[scope_at] = _scope(categories.get(category) if category else None, division)
        _prefix, label = scoped
        existing = gazetteer.candidates(pid, name, key_cache(name), scope_kind, prefix, splits)
        found = [f for f in namecheck.duplicate_flags(name, existing, label, pid, cfg, key_cache)
                 if not _exempt(name, f, cfg)]
        if found:
            dup[pid] = found
    exemptions = _all_officer_exemptions(session)
    by_class: dict[str, int] = {}
    pending: dict[tuple[int, str, str, str], list[str]] = {}
    for pid, raw, category, _division in targets:
        name = raw.strip()
        raised = base.get((name, cat_info[category][0] if category else None), [])
        more = dup.get(pid)
        if more:
            raised = [*raised, *more]
        if not raised:
            continue
        recorded = exemptions.get((pid, name), ())
        for f in raised:
            if (f.cls, f.reason_zh) in recorded:
                continue
            by_class[f.cls] = by_class.get(f.cls, 0) + 1
            ident = (pid, raw, f.cls, f.reason_zh)  # stored under the name as it is in places, as _store did
            kept = pending.get(ident)
            if kept is None:
                pending[ident] = [f.rule, f.reason, f.evidence]
            elif kept[2] != f.evidence:  # as the second of two upserts of one flag would: newer evidence
                kept[1], kept[2] = f.reason, f.evidence
    new = _store_all(session, pending)
    open_total = session.execute(text("SELECT count(*) FROM name_flags WHERE status = 'open'")).scalar_one()
    return {"checked": len(targets), "flags": by_class, "new_flags": new, "open_flags": int(open_total)}


def _key_tuple(k: namecheck.DuplicateKey) -> _Key:
    return (k.specific, k.pinyin, k.dialect)


def _distinct(rows: Iterable[tuple[str, str | None]], cat_info: dict[str, tuple[Any, Any, int]]
              ) -> dict[str, set[str | None]]:
    """Distinct stripped name -> the Chinese names of its categories (empty names, unknown categories left out:
    the caller refuses them)."""
    names: dict[str, set[str | None]] = {}
    for raw, category in rows:
        name = raw.strip()
        if not name or (category and category not in cat_info):
            continue
        cats = names.get(name)
        if cats is None:
            cats = names[name] = set()
        cats.add(cat_info[category][0] if category else None)
    return names


def _prefix_lengths(targets: list[tuple[Any, ...]], cat_info: dict[str, tuple[Any, Any, int]]) -> set[int]:
    """The lengths of the N7 scope prefixes the targets use (``_scope``: a code cut to the scope's digits)."""
    out: set[int] = set()
    seen: set[tuple[str | None, int]] = set()
    for _pid, _raw, category, division in targets:
        digits = cat_info[category][2] if category else 6
        at = (category, len(division) if division else -1)
        if at in seen:
            continue
        seen.add(at)
        out.add(len(division[:digits]) if division and digits else 0)
    return out


def _check_names(items: list[tuple[str, tuple[str | None, ...]]]
                 ) -> list[tuple[_Key, tuple[tuple[str | None, list[namecheck.Flag]], ...]]]:
    """Per distinct name: its duplicate key and, per category, its 大洋怪 flags that ``exemptions.csv`` leaves
    raised (only the categories with any). Runs in a worker process (or in the caller for few names)."""
    cfg = namecheck.load_config()
    specifics: dict[str, _Key] = {}
    out: list[tuple[_Key, tuple[tuple[str | None, list[namecheck.Flag]], ...]]] = []
    for name, cats in items:
        specific = namecheck.normalize_for_duplicate(name, cfg)
        key = specifics.get(specific)
        if key is None:
            key = specifics[specific] = _key_tuple(namecheck.specific_key(specific, cfg))
        flagged = []
        for cat in cats:
            raised = [f for f in namecheck.name_flags(name, cat, None, cfg) if not _exempt(name, f, cfg)]
            if raised:
                flagged.append((cat, raised))
        out.append((key, tuple(flagged)))
    return out


class _NameResults:
    """The per-name work of a campaign, started at once: in ``workers`` processes (default both cores; fork when
    this process has one thread, as ``bulk.derive_all``) for many names, else here when first asked for."""

    def __init__(self, names: dict[str, set[str | None]], cfg: namecheck.NameCheckConfig, workers: int | None
                 ) -> None:
        self.items = [(n, tuple(sorted(c, key=lambda x: x or ""))) for n, c in names.items()]
        self.asked: set[tuple[str, str | None]] = set()  # the (name, category code) pairs read for ``names``
        self._keys: dict[str, _Key] | None = None
        self._flags: dict[tuple[str, str | None], list[namecheck.Flag]] = {}
        self._parts: Any = None
        self._pool: ProcessPoolExecutor | None = None
        n_workers = workers if workers is not None else min(2, os.cpu_count() or 1)
        if n_workers > 1 and len(self.items) >= PARALLEL_MIN_NAMES:
            method = "fork" if threading.active_count() == 1 and "fork" in get_all_start_methods() else "spawn"
            if method == "fork":  # dictionaries loaded once here, shared by the forked workers (copy on write)
                _check_names(self.items[:1])
            size = max(1000, len(self.items) // (n_workers * 8))
            chunks = [self.items[i:i + size] for i in range(0, len(self.items), size)]
            self._pool = ProcessPoolExecutor(max_workers=n_workers, mp_context=get_context(method))
            self._parts = self._pool.map(_check_names, chunks)

    def _collect(self) -> None:
        if self._keys is not None:
            return
        results = (r for part in self._parts for r in part) if self._parts is not None else _check_names(self.items)
        keys: dict[str, _Key] = {}
        for (name, _cats), (key, flagged) in zip(self.items, results, strict=True):
            keys[name] = key
            for cat, raised in flagged:
                self._flags[(name, cat)] = raised
        self._keys = keys
        self.close()

    def complete(self, names: dict[str, set[str | None]]) -> None:
        """Also check ``names`` (names or categories that were not in the first list), here."""
        missing = [(n, tuple(sorted(c, key=lambda x: x or ""))) for n, c in names.items()]
        if missing:
            self._collect()
            assert self._keys is not None
            for (name, _cats), (key, flagged) in zip(missing, _check_names(missing), strict=True):
                self._keys[name] = key
                for cat, raised in flagged:
                    self._flags[(name, cat)] = raised

    def keys(self) -> dict[str, _Key]:
        self._collect()
        assert self._keys is not None
        return self._keys

    def flags(self) -> dict[tuple[str, str | None], list[namecheck.Flag]]:
        self._collect()
        return self._flags

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _exempt(name: str, flag: namecheck.Flag, cfg: namecheck.NameCheckConfig) -> bool:
    return any(ex.covers(name, flag) for ex in cfg.exemptions)


def _all_officer_exemptions(session: Session) -> dict[tuple[int, str], set[tuple[str, str]]]:
    """Every exempted flag, by (place, name): the campaign's form of :func:`_officer_exemptions`."""
    out: dict[tuple[int, str], set[tuple[str, str]]] = {}
    for pid, name, cls, reason_zh in session.execute(
        select(NameFlag.place_id, NameFlag.name, NameFlag.cls, NameFlag.reason_zh).where(
            NameFlag.status == FlagStatus.exempted.value)
    ):
        out.setdefault((int(pid), name), set()).add((cls, reason_zh))
    return out


class _Gazetteer:
    """N7 candidates in force, ordered by place_id, answering :func:`duplicate_candidates`' query.

    Rows: (place_id, name, division_code, scope_kind, tongming, dup_specific, dup_pinyin, dup_dialect). ``count``
    counts the rows per (stored key column, key value, division-code prefix) for each prefix length; a place whose
    key meets no row but its own in any of the three has no candidate (``may_match`` says so without an index).
    For the others, indexes map (column, key value, division-code prefix) to row positions (ascending, so in
    place_id order); SQL's NULL rules hold: a NULL key, division code, scope kind or 通名 never matches."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        self._counts: dict[int, tuple[Counter[tuple[Any, Any]], ...]] = {}
        self._by_len: dict[int, tuple[dict[tuple[str, str], list[int]], ...]] = {}

    def _cut(self, n: int) -> list[str | None]:
        return [None if r[2] is None else r[2][:n] for r in self.rows]

    def count(self, lengths: Iterable[int]) -> None:
        for n in lengths:
            if n not in self._counts:
                cut = self._cut(n)
                self._counts[n] = tuple(Counter(zip([r[col] for r in self.rows], cut, strict=True))
                                        for col in (5, 6, 7))

    def shared(self, n: int) -> tuple[set[tuple[Any, Any]], ...]:
        """Per stored key column, the (value, prefix of length ``n``) buckets holding two rows or more."""
        self.count([n])
        return tuple({k for k, c in counts.items() if c > 1} for counts in self._counts[n])

    def index_rows(self, positions: list[int], n: int) -> None:
        """Index only the rows at ``positions`` (ascending) for prefixes of length ``n``."""
        idx = self._by_len[n] = ({}, {}, {})
        for i in positions:
            r = self.rows[i]
            code = r[2][:n]
            for col, by in zip((5, 6, 7), idx, strict=True):
                by.setdefault((r[col], code), []).append(i)

    def positions(self, place_ids: Iterable[int]) -> dict[int, int]:
        """Row position per place id (one row per place in force on a date)."""
        wanted = set(place_ids)
        return {r[0]: i for i, r in enumerate(self.rows) if r[0] in wanted}

    def may_match(self, key: _Key, prefix: str, own: int) -> bool:
        """False when no row but ``own`` (a row position, -1 for none) shares a stored key value with ``key``
        within ``prefix``: then :meth:`candidates` finds nothing."""
        counts = self._counts.get(len(prefix))
        if counts is None:
            self.count([len(prefix)])
            counts = self._counts[len(prefix)]
        r = self.rows[own] if own >= 0 else None
        mine = r is not None and r[2] is not None and r[2][:len(prefix)] == prefix
        for col, value, c in ((5, key[0], counts[0]), (6, key[1], counts[1]), (7, key[2], counts[2])):
            if not value:
                continue
            n = c.get((value, prefix), 0)
            if mine and r is not None and r[col] == value:
                n -= 1
            if n > 0:
                return True
        return False

    def index(self, wanted: Iterable[tuple[int, _Key]]) -> None:
        """Index the rows of the buckets the places in ``wanted`` (prefix length, key) will look up."""
        need: dict[int, tuple[set[str], set[str], set[str]]] = {}
        for n, key in wanted:
            sets = need.get(n)
            if sets is None:
                sets = need[n] = (set(), set(), set())
            for col, value in enumerate(key):
                if value:
                    sets[col].add(value)
        for n, sets in need.items():
            idx = self._by_len[n] = ({}, {}, {})
            cut = self._cut(n)
            for col, values, by in zip((5, 6, 7), sets, idx, strict=True):
                column = [r[col] for r in self.rows]
                for i in [i for i, v in enumerate(column) if v in values]:
                    code = cut[i]
                    if code is not None:
                        by.setdefault((column[i], code), []).append(i)

    def _index(self, n: int) -> tuple[dict[tuple[str, str], list[int]], ...]:
        return self._by_len.get(n) or ({}, {}, {})

    def candidates(self, own: int, name: str, key: namecheck.DuplicateKey, scope_kind: int | None, prefix: str,
                   tongming: Callable[[str], str]) -> list[tuple[object, str]]:
        if not key.specific:
            return []
        by_specific, by_pinyin, by_dialect = self._index(len(prefix))
        found = set(by_specific.get((key.specific, prefix), ()))
        if key.pinyin:
            found.update(by_pinyin.get((key.pinyin, prefix), ()))
        if key.dialect:
            found.update(by_dialect.get((key.dialect, prefix), ()))
        same_generic = None if scope_kind is not None else tongming(name)
        out: list[tuple[object, str]] = []
        for i in sorted(found):
            r = self.rows[i]
            if r[0] == own or (scope_kind is not None and r[3] != scope_kind):
                continue
            if same_generic is not None and r[4] != same_generic:
                continue
            out.append((int(r[0]), str(r[1])))
            if len(out) == 50:
                break
        return out


_FLAG_COLUMNS = ("place_id", "name", "class", "rule", "reason", "reason_zh", "evidence")


def _store_all(session: Session, flags: dict[tuple[int, str, str, str], list[str]]) -> int:
    """``_store`` for many flags: COPY into a temporary table, then one upsert; returns how many were new. Each
    (place, name, class, finding) comes once, so the upsert touches a row at most once, as the row-at-a-time one
    did. The flags' row triggers bump the version of a refreshed flag and write the audit trail, as for ``_store``.

    Not through ``FLAG_GUARD.lock``: a flag's version guards the officer's decision on it (``decide``, If-Match),
    and the campaign makes no decision. It adds findings and refreshes the evidence of flags still open; the
    upsert takes each row lock itself (a concurrent ``decide`` holds it until commit, and the ``status = 'open'``
    condition is re-checked on the row it then sees, so a decision is never overwritten), and the version bump
    makes an officer's ETag of a refreshed flag stale, so a decision taken on the old evidence gets 412."""
    if not flags:
        return 0
    buf = io.StringIO()
    out = csv.writer(buf, quoting=csv.QUOTE_ALL, lineterminator="\n")  # quoted: an empty text is not NULL
    for (pid, name, cls, reason_zh), (rule, reason, evidence) in flags.items():
        out.writerow((pid, name, cls, rule, reason, reason_zh, evidence))
    buf.seek(0)
    cur = session.connection().connection.cursor()
    try:
        cur.execute("DROP TABLE IF EXISTS pg_temp._campaign_flags")
        cur.execute("""CREATE TEMP TABLE _campaign_flags (place_id bigint, name text, class text, rule text,
                                                          reason text, reason_zh text, evidence text)
                       ON COMMIT DROP""")
        cur.copy_expert(f"COPY _campaign_flags ({', '.join(_FLAG_COLUMNS)}) FROM STDIN WITH (FORMAT csv)", buf)
        cur.execute("""
            WITH written AS (
                INSERT INTO name_flags (place_id, name, class, rule, reason, reason_zh, evidence)
                SELECT place_id, name, class, rule, reason, reason_zh, evidence FROM _campaign_flags
                ORDER BY place_id, name, class, reason_zh
                ON CONFLICT (place_id, name, class, reason_zh) DO UPDATE
                    SET evidence = EXCLUDED.evidence, reason = EXCLUDED.reason
                    WHERE name_flags.status = 'open' AND name_flags.evidence <> EXCLUDED.evidence
                RETURNING (xmax = 0) AS inserted)
            SELECT count(*) FILTER (WHERE inserted) FROM written""")
        row = cur.fetchone()
        cur.execute("DROP TABLE pg_temp._campaign_flags")
    finally:
        cur.close()
    return int(row[0]) if row else 0


EXPORT_COLUMNS = [
    ("flag_id", "标记编号"), ("place_id", "地名编号"), ("name", "地名"), ("romanized", "罗马字母拼写"),
    ("category", "类别"), ("division_code", "所在行政区代码"), ("division", "所在行政区"), ("class", "问题类型"),
    ("rule", "依据"), ("reason_zh", "问题说明"), ("evidence", "证据"), ("status", "整改状态"),
    ("outcome_note", "处理说明"), ("decided_by", "处理人"), ("decided_at", "处理时间"),
]


def rectification_rows(session: Session, status: str | None = None, cls: str | None = None
                       ) -> list[dict[str, Any]]:
    rows = session.execute(
        text("""
            SELECT f.id AS flag_id, f.place_id, f.name, p.romanized, c.name_zh AS category, p.division_code,
                   (SELECT d.name FROM divisions d WHERE d.code = p.division_code AND d.valid_to IS NULL) AS division,
                   f.class, f.rule, f.reason_zh, f.evidence, f.status, f.outcome_note, f.decided_by,
                   to_char(f.decided_at, 'YYYY-MM-DD HH24:MI') AS decided_at,
                   format('"nf%s.v%s"', f.id, f.version) AS etag
            FROM name_flags f
            LEFT JOIN LATERAL (SELECT * FROM places q WHERE q.place_id = f.place_id
                               ORDER BY q.valid_from DESC LIMIT 1) p ON true
            LEFT JOIN place_categories c ON c.code = p.category_code
            WHERE (CAST(:status AS text) IS NULL OR f.status = :status)
              AND (CAST(:cls AS text) IS NULL OR f.class = :cls)
            ORDER BY f.status = 'open' DESC, p.division_code, f.place_id, f.id"""),
        {"status": status, "cls": cls},
    ).mappings().all()
    return [dict(r) for r in rows]


def to_csv(rows: list[dict[str, Any]]) -> str:
    """UTF-8 with a BOM; formula-like text (names are typed by people) escaped by ``safe_cells``."""
    return safe_cells.csv_text([zh for _k, zh in EXPORT_COLUMNS],
                               ([r.get(k) for k, _zh in EXPORT_COLUMNS] for r in rows))


def to_xlsx(rows: list[dict[str, Any]]) -> bytes:
    from openpyxl import Workbook
    from openpyxl.styles import Font

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "不规范地名整治清单"
    ws.append([zh for _k, zh in EXPORT_COLUMNS])
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for r in rows:  # a name like "=HYPERLINK(…)" must be a text cell, never a formula
        ws.append(safe_cells.xlsx_row(ws, ["" if r.get(k) is None else r.get(k) for k, _zh in EXPORT_COLUMNS]))
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
