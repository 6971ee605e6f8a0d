"""大/洋/怪/重 checks against the gazetteer (domain.md §2), the review flags they raise, and the campaign.

The word lists and rules live in ``namecheck`` (data files officers edit); this module adds what needs the
database: the N7 scope (which existing names a name must not repeat) and the flags' life cycle
(open → renamed / exempted / retired).
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Callable, Iterable
from functools import lru_cache
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

def run_campaign(session: Session, actor: str, as_of: dt.date | None = None, within: str | None = None
                 ) -> dict[str, Any]:
    """Check every name in force (optionally under one division) and keep new flags; idempotent.

    The same findings as :func:`check` on each place in turn (the interactive path), computed in bulk: one query
    reads the names to check, the 大洋怪 flags and duplicate keys are computed once per distinct name, one query
    reads the N7 candidates those keys can match (every name in force, for a whole-gazetteer run), in-memory
    indexes answer :func:`duplicate_candidates`' query for each place (same filters, order and limit of 50),
    and the flags are written with one statement per batch, with the per-row semantics of ``_store``."""
    on = as_of or clock.today()
    audit.set_context(session, actor, "non-standard name campaign run")
    cfg = namecheck.load_config()
    categories = {c.code: c for c in session.scalars(select(PlaceCategory))}
    cur = session.connection().connection.cursor()  # plain tuples: ~600k rows, the ORM's Row costs seconds
    in_force = "p.valid_from <= %(on)s AND (p.valid_to IS NULL OR p.valid_to > %(on)s)"
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
    keys = lru_cache(maxsize=None)(lambda n: namecheck.duplicate_key(n, cfg))
    splits = lru_cache(maxsize=None)(lambda n: split_name(n)[1])
    todo = []
    for pid, raw, category, division in targets:
        name = raw.strip()
        if not name:
            raise InvalidInput("name must not be empty", "名称不能为空", field="name", rule="N0")
        cat = categories.get(category) if category else None
        if category and cat is None:
            raise InvalidInput(f"unknown category {category!r}", f"未知的地名类别 {category!r}", field="category")
        todo.append((pid, raw, name, cat, division, keys(name)))
    if within is not None:  # only the names the keys can match (index scans)
        cur.execute(f"""SELECT p.place_id, p.name, p.division_code, p.scope_kind, p.tongming,
                               p.dup_specific, p.dup_pinyin, p.dup_dialect FROM places p
                        WHERE {in_force} AND (p.dup_specific = ANY(%(s)s) OR p.dup_pinyin = ANY(%(p)s)
                                              OR p.dup_dialect = ANY(%(d)s))
                        ORDER BY p.place_id""",
                    {"on": on, "s": sorted({k.specific for *_x, k in todo if k.specific}),
                     "p": sorted({k.pinyin for *_x, k in todo if k.specific and k.pinyin}),
                     "d": sorted({k.dialect for *_x, k in todo if k.specific and k.dialect})})
        everything = list(cur.fetchall())
    cur.close()
    gazetteer = _Gazetteer(everything)
    exemptions = _all_officer_exemptions(session)
    base: dict[tuple[str, str | None], tuple[list[namecheck.Flag], list[bool]]] = {}
    by_class: dict[str, int] = {}
    pending: dict[tuple[int, str, str, str], list[str]] = {}
    # Per category: its Chinese name, N7 scope kind and how many code digits make the scope (plain values: the
    # ORM attributes cost a descriptor call per place); scope labels per (category, prefix).
    cat_info = {code: (c.name_zh, c.scope_kind, SCOPE_PREFIX.get(c.dup_scope, 6)) for code, c in categories.items()}
    labels: dict[tuple[str | None, str], tuple[str, tuple[str, str]]] = {}
    for pid, raw, name, cat, division, key in todo:
        cat_zh, scope_kind, digits = cat_info[cat.code] if cat else (None, None, 6)
        cached = base.get((name, cat_zh))
        if cached is None:  # 大洋怪 and their exemptions (exemptions.csv) depend on the name and category only
            flags = namecheck.name_flags(name, cat_zh, None, cfg)
            cached = base[(name, cat_zh)] = (flags, [_exempt(name, f, cfg) for f in flags])
        scope_at = (cat.code if cat else None, (division or "")[:digits] if division else "")
        scoped = labels.get(scope_at)
        if scoped is None:
            scoped = labels[scope_at] = _scope(cat, division)
        prefix, label = scoped
        existing = gazetteer.candidates(pid, name, key, scope_kind, prefix, splits)
        dup = namecheck.duplicate_flags(name, existing, label, pid, cfg, keys)
        raised = [f for f, ex in zip(*cached, strict=True) if not ex]
        raised += [f for f in dup if not _exempt(name, f, cfg)]
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
    return {"checked": len(todo), "flags": by_class, "new_flags": new, "open_flags": int(open_total)}


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
    """N7 candidates in force, ordered by place_id, with indexes answering :func:`duplicate_candidates`' query.

    Rows: (place_id, name, division_code, scope_kind, tongming, dup_specific, dup_pinyin, dup_dialect). An index
    per prefix length maps (column, key value, division-code prefix) to row positions (ascending, so in place_id
    order); SQL's NULL rules hold: a NULL key, division code, scope kind or 通名 never matches."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        self.rows = rows
        self._by_len: dict[int, tuple[dict[tuple[str, str], list[int]], ...]] = {}

    def _index(self, n: int) -> tuple[dict[tuple[str, str], list[int]], ...]:
        idx = self._by_len.get(n)
        if idx is None:
            idx = self._by_len[n] = ({}, {}, {})
            for col, by in enumerate(idx, start=5):
                for i, r in enumerate(self.rows):
                    code, value = r[2], r[col]
                    if code is not None and value is not None and len(code) >= n:
                        by.setdefault((value, code[:n]), []).append(i)
        return idx

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


def _store_all(session: Session, flags: dict[tuple[int, str, str, str], list[str]], batch: int = 20_000) -> int:
    """``_store`` for many flags, one statement per batch; returns how many were new. Each (place, name, class,
    finding) comes once, so the upsert touches a row at most once per statement, as the row-at-a-time one did.
    The flags' row trigger bumps the version of a refreshed flag and writes the audit trail, as for ``_store``."""
    items = list(flags.items())
    n = 0
    for start in range(0, len(items), batch):
        chunk = items[start:start + batch]
        result = session.execute(
            text("""INSERT INTO name_flags (place_id, name, class, rule, reason, reason_zh, evidence)
                    SELECT * FROM unnest(CAST(:pid AS bigint[]), CAST(:name AS text[]), CAST(:cls AS text[]),
                                         CAST(:rule AS text[]), CAST(:reason AS text[]), CAST(:reason_zh AS text[]),
                                         CAST(:evidence AS text[]))
                    ORDER BY 1, 2, 3, 6
                    ON CONFLICT (place_id, name, class, reason_zh) DO UPDATE
                        SET evidence = EXCLUDED.evidence, reason = EXCLUDED.reason
                        WHERE name_flags.status = 'open' AND name_flags.evidence <> EXCLUDED.evidence
                    RETURNING (xmax = 0) AS inserted"""),
            {"pid": [k[0] for k, _v in chunk], "name": [k[1] for k, _v in chunk], "cls": [k[2] for k, _v in chunk],
             "rule": [v[0] for _k, v in chunk], "reason": [v[1] for _k, v in chunk],
             "reason_zh": [k[3] for k, _v in chunk], "evidence": [v[2] for _k, v in chunk]},
        )
        n += sum(1 for (inserted,) in result if inserted)
    return n


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
