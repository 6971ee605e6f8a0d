"""Gazetteer rules and SQL: as-of reads as GeoJSON built in PostGIS; versioned, audited, checked writes.

Services take a session and never commit: the request (or CLI command) owns the transaction.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from geoalchemy2 import WKBElement
from sqlalchemy import inspect, select, text
from sqlalchemy.orm import Session

from gis_api import clock, geojson_sql, versioning
from gis_api.audit import service as audit
from gis_api.concurrency import Versioned, make_etag, write_version
from gis_api.divisions.schemas import ChangeMode
from gis_api.errors import Conflict, DimingError, InvalidInput, NotFound, PreconditionFailed
from gis_api.geo.echo import echoed_geometry
from gis_api.geo.geometry_input import parse_geojson
from gis_api.places import checks
from gis_api.places.derive import derived_fields
from gis_api.places.models import (
    PLACE_ID_SEQ,
    Place,
    PlaceCategory,
    PlaceStatus,
    PlaceVariant,
    ProtectionListing,
    VariantKind,
)
from gis_api.places.romanize import romanize, split_name
from gis_api.places.schemas import (
    REGISTER_FIELDS,
    GazetteerSettings,
    PlaceCreate,
    PlaceRetire,
    PlaceUpdate,
    ProtectionIn,
    VariantIn,
)
from gis_api.when import not_after_today

TABLE = "places"
GEOMETRY_TYPES = ("Point", "LineString", "MultiLineString", "Polygon", "MultiPolygon")
HIDDEN = ("ARRAY['geom', 'geom_pt', 'search_keys', 'grams', 'pinyin', 'initials', 'dup_specific', 'dup_pinyin', "
          "'dup_dialect']")

FEATURE_SQL = f"""
json_build_object(
    'type', 'Feature',
    'id', p.place_id,
    'geometry', ST_AsGeoJSON(p.geom, 7, 0)::json,
    'properties', (to_jsonb(p) - {HIDDEN}) || jsonb_build_object(
        'id', p.place_id, 'row_id', p.id,
        'category', p.category_code,
        'category_name', (SELECT c.name_zh FROM place_categories c WHERE c.code = p.category_code),
        'census_class', (SELECT c.census_class FROM place_categories c WHERE c.code = p.category_code)
    )
)"""

DETAIL_SQL = """
jsonb_build_object(
    'variants', coalesce((SELECT jsonb_agg((to_jsonb(v) - 'place_id') || jsonb_build_object(
                                     'etag', format('"pv%s.v%s"', v.id, v.version))
                                 ORDER BY v.kind, v.valid_from NULLS FIRST, v.id)
                          FROM place_variants v WHERE v.place_id = p.place_id), '[]'::jsonb),
    'protection', (SELECT (to_jsonb(x) - 'place_id') || jsonb_build_object(
                              'etag', format('"pp%s.v%s"', x.place_id, x.version))
                   FROM place_protection x WHERE x.place_id = p.place_id),
    'flags', coalesce((SELECT jsonb_agg(jsonb_build_object(
                           'id', f.id, 'class', f.class, 'rule', f.rule, 'reason', f.reason,
                           'reason_zh', f.reason_zh, 'evidence', f.evidence, 'status', f.status,
                           'outcome_note', f.outcome_note, 'version', f.version,
                           'etag', format('"nf%s.v%s"', f.id, f.version)) ORDER BY f.id)
                       FROM name_flags f WHERE f.place_id = p.place_id AND f.name = p.name), '[]'::jsonb)
)"""

AS_OF = versioning.as_of_sql("p")


def etag(row_id: int, version: int) -> str:
    return make_etag("p", row_id, version)


# Variants and the protection listing are records of their own, each with its version and ETag (the place's
# ETag is its row's version: adding a variant does not change the place's row).
def variant_etag(v: PlaceVariant) -> str:
    return make_etag("pv", v.id, v.version)


def protection_etag(x: ProtectionListing) -> str:
    return make_etag("pp", x.place_id, x.version)


def _not_found(place_id: int, as_of: dt.date) -> NotFound:
    return NotFound(
        f"no place {place_id} in force on {as_of.isoformat()}",
        f"{as_of.isoformat()} 时不存在编号为 {place_id} 的地名",
        field="id",
    )


# -- reads ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ListQuery:
    as_of: dt.date
    within: str | None = None
    category: str | None = None
    status: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    limit: int = 1000
    offset: int = 0


def list_geojson(session: Session, q: ListQuery, next_url: str | None) -> str:
    conds = [AS_OF]
    params: dict[str, Any] = {"as_of": q.as_of}
    if q.within:
        conds.append("p.division_code LIKE :within || '%'")
        params["within"] = q.within
    if q.category:
        conds.append("p.category_code LIKE :category || '%'")
        params["category"] = q.category
    if q.status:
        conds.append("p.status = :status")
        params["status"] = q.status
    if q.bbox:
        conds.append("p.geom && ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4490)")
        params.update(dict(zip(("x1", "y1", "x2", "y2"), q.bbox, strict=True)))
    return geojson_sql.collection(
        session, table="places", alias="p", where=conds, feature_sql=FEATURE_SQL, order_by="p.place_id",
        params=params, limit=q.limit, offset=q.offset, next_url=next_url,
    )


# One place as served by GET /places/{id}: the feature is built once, then its properties are extended with the
# details. Parameters :pid and :as_of; the route runs it on the read pool (gis_api/fast_reads.py), writers here.
FEATURE_ONE_SQL = f"""SELECT jsonb_set(f, '{{properties}}', (f -> 'properties') || {DETAIL_SQL})::text, p.id, p.version
                 FROM places p CROSS JOIN LATERAL (SELECT ({FEATURE_SQL})::jsonb AS f) built
                 WHERE p.place_id = :pid AND {AS_OF}"""


def feature(session: Session, place_id: int, as_of: dt.date) -> tuple[str, str]:
    """(GeoJSON Feature with variants, protection and flags, ETag) of the version in force on ``as_of``."""
    row = session.execute(text(FEATURE_ONE_SQL), {"pid": place_id, "as_of": as_of}).first()
    return feature_answer(row, place_id, as_of)


def feature_answer(row: Any, place_id: int, as_of: dt.date) -> tuple[str, str]:
    """(feature text, ETag) of a ``FEATURE_ONE_SQL`` row, 404 when there is none."""
    if row is None:
        raise _not_found(place_id, as_of)
    return str(row[0]), etag(int(row[1]), int(row[2]))


def _in_force(as_of: dt.date) -> tuple[Any, ...]:
    return (versioning.as_of(Place, as_of),)


def current_row(session: Session, place_id: int, as_of: dt.date) -> Place | None:
    """The version in force on ``as_of``, for reading; writers get theirs from ``GUARD.lock``."""
    return session.scalars(select(Place).where(Place.place_id == place_id, *_in_force(as_of))).first()


GUARD = Versioned(
    model=Place, key=Place.place_id, latest=(Place.valid_from.desc(),),
    etag=lambda r: etag(r.id, r.version),
    label=lambda r: (f"place {r.place_id}", f"地名 {r.place_id} "),
    body=lambda s, r: feature(s, r.place_id, r.valid_from)[0],
)


def variant_json(v: PlaceVariant) -> dict[str, Any]:
    return {"id": v.id, "place_id": v.place_id, "kind": v.kind, "name": v.name, "language": v.language,
            "script": v.script, "romanized": v.romanized,
            "valid_from": v.valid_from.isoformat() if v.valid_from else None,
            "valid_to": v.valid_to.isoformat() if v.valid_to else None, "note": v.note, "version": v.version,
            "etag": variant_etag(v)}


def protection_json(x: ProtectionListing) -> dict[str, Any]:
    return {"place_id": x.place_id, "category": x.category, "listed_on": x.listed_on.isoformat(),
            "listed_by": x.listed_by, "measures": x.measures,
            "measures_recorded_on": x.measures_recorded_on.isoformat() if x.measures_recorded_on else None,
            "note": x.note, "version": x.version, "etag": protection_etag(x)}


VARIANT_GUARD = Versioned(
    model=PlaceVariant, key=PlaceVariant.id, etag=variant_etag,
    label=lambda v: (f"variant {v.id} of place {v.place_id}", f"地名 {v.place_id} 的别称 {v.id} "),
    body=lambda _s, v: json.dumps(variant_json(v), ensure_ascii=False),
)
PROTECTION_GUARD = Versioned(
    model=ProtectionListing, key=ProtectionListing.place_id, etag=protection_etag,
    label=lambda x: (f"the protection listing of place {x.place_id}", f"地名 {x.place_id} 的保护名录登记"),
    body=lambda _s, x: json.dumps(protection_json(x), ensure_ascii=False),
)


def _no_variant(place_id: int, variant_id: int) -> NotFound:
    return NotFound(f"no variant {variant_id} of place {place_id}",
                    f"地名 {place_id} 没有编号为 {variant_id} 的别称", field="variant_id")


def _not_listed(place_id: int) -> NotFound:
    return NotFound(f"place {place_id} is not on the protection list", f"地名 {place_id} 未列入地名文化保护名录",
                    field="place_id")


def variant(session: Session, place_id: int, variant_id: int) -> PlaceVariant:
    v = session.get(PlaceVariant, variant_id)
    if v is None or v.place_id != place_id:
        raise _no_variant(place_id, variant_id)
    return v


def protection(session: Session, place_id: int) -> ProtectionListing:
    x = session.scalar(select(ProtectionListing).where(ProtectionListing.place_id == place_id))
    if x is None:
        raise _not_listed(place_id)
    return x


def history(session: Session, place_id: int) -> dict[str, Any]:
    rows = session.execute(
        select(Place.id, Place.name, Place.romanized, Place.status, Place.valid_from, Place.valid_to, Place.version)
        .where(Place.place_id == place_id)
        .order_by(Place.valid_from)
    ).all()
    versions = [
        {"row_id": r.id, "name": r.name, "romanized": r.romanized, "status": r.status,
         "valid_from": r.valid_from.isoformat(), "valid_to": r.valid_to.isoformat() if r.valid_to else None,
         "version": r.version}
        for r in rows
    ]
    changes = [
        c for table in ("places", "place_variants", "place_protection", "name_flags", "place_name_corrections")
        for c in ({**x, "table": table} for x in audit.history(session, table, str(place_id)))
    ]
    if not versions and not changes:  # a withdrawn registration has no versions left, only its audit rows
        raise NotFound(f"no place {place_id}", f"不存在编号为 {place_id} 的地名", field="id")
    changes.sort(key=lambda c: str(c["at"]))
    return {"id": place_id, "versions": versions, "changes": changes}


# -- validation helpers ------------------------------------------------------------------------------------

def _check_name(name: str) -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("name must not be empty", "名称不能为空", field="name", rule="N0")
    return name


def _category(session: Session, code: str) -> PlaceCategory:
    cat = session.get(PlaceCategory, code)
    if cat is None:
        raise InvalidInput(
            f"unknown category_code {code!r} (see GET /api/v1/places/categories)",
            f"未知的地名类别代码 {code!r}", field="category_code", rule="§1.5",
        )
    return cat


def _division_name(session: Session, code: str, as_of: dt.date) -> str | None:
    return session.execute(
        text("SELECT name FROM divisions d WHERE d.code = :c AND d.valid_from <= :d "
             "AND (d.valid_to IS NULL OR d.valid_to > :d)"),
        {"c": code, "d": as_of},
    ).scalar()


def derive_division(session: Session, geom: WKBElement, as_of: dt.date, within: str | None = None) -> str | None:
    """所在(跨)行政区: the smallest division that covers the geometry (a road across two townships lies in
    the county); when none covers it, the township (else county) holding most of it. ``within``: only
    divisions whose code starts with it (this county's, G1)."""
    return session.execute(
        text("""
            WITH g AS (SELECT ST_GeomFromEWKB(:g) AS g)
            SELECT d.code FROM divisions d, g
            WHERE d.level IN ('township', 'county') AND ST_Intersects(d.geom, g.g)
              AND d.valid_from <= :as_of AND (d.valid_to IS NULL OR d.valid_to > :as_of)
              AND (CAST(:within AS text) IS NULL OR d.code LIKE :within || '%')
            ORDER BY ST_Covers(d.geom, g.g) DESC, d.level = 'township' DESC,
                     CASE ST_Dimension(g.g) WHEN 0 THEN 0
                          WHEN 1 THEN -ST_Length(ST_Intersection(d.geom, g.g))
                          ELSE -ST_Area(ST_Intersection(d.geom, g.g)) END
            LIMIT 1"""),
        {"g": bytes(geom.data), "as_of": as_of, "within": within},
    ).scalar()


def resolve_division(session: Session, stated: str | None, derived: str | None, as_of: dt.date) -> str | None:
    """Check the division the user states against the one the geometry lies in (所在行政区)."""
    if stated:
        stated_name = _division_name(session, stated, as_of)
        if stated_name is None:
            raise InvalidInput(
                f"division_code {stated} is not a division in force on {as_of}",
                f"所在行政区代码 {stated} 在 {as_of} 时不存在", field="division_code",
            )
        if derived is None or derived.startswith(stated) or stated.startswith(derived):
            return stated if derived is None or len(stated) >= len(derived) else derived
        derived_name = _division_name(session, derived, as_of)
        raise InvalidInput(
            f"division_code {stated} ({stated_name}) does not match the geometry, which lies in "
            f"{derived} ({derived_name})",
            f"所填行政区 {stated}（{stated_name}）与几何位置不符：该地理实体位于 {derived}（{derived_name}）",
            field="division_code",
        )
    return derived


# -- the law of the register (domain.md T1, G1, §1.5, R2) ---------------------------------------------------

@lru_cache(maxsize=1)
def gazetteer_settings() -> GazetteerSettings:
    return GazetteerSettings()


PAST_DATES = {"registered_on": ("registration date", "登记时间"), "named_on": ("naming date", "命名时间")}
PAST_YEARS = {"established_year": ("year established", "设立年份"), "abolished_year": ("year abolished", "废止年份")}


def _past_events(values: dict[str, Any], row: Place | None = None) -> None:
    """T1 for the register fields that record past events; a value sent back unchanged is not re-judged."""
    year = clock.today().year
    for key, (what, what_zh) in PAST_DATES.items():
        value = values.get(key)
        if value is not None and (row is None or getattr(row, key) != value):
            # a planned change is dated by valid_from on a new place, by effective_date on a legal change
            not_after_today(value, key, f"the {what}", what_zh,
                            plan_field="valid_from" if row is None else "effective_date")
    for key, (what, what_zh) in PAST_YEARS.items():
        value = values.get(key)
        if value is not None and value > year and (row is None or getattr(row, key) != value):
            raise InvalidInput(
                f"{key} {value} lies after this year ({year}): the {what} records something that has happened; "
                "a planned abolition is recorded by retiring the place on its effective date",
                f"{what_zh}（{key}）{value} 晚于今年（{year}）：已发生的事项不能登记将来的年份", field=key, rule="T1",
            )


def _outside_county(session: Session, county: str, on: dt.date, field: str, what: str, what_zh: str
                    ) -> InvalidInput:
    name = _division_name(session, county, on) or county
    return InvalidInput(
        f"{what} lies outside county {county} ({name}) as its divisions stand on {on}: this gazetteer holds the "
        "county's own names; a neighbour's names come in only as read-only reference data with their source",
        f"{what_zh}不在{name}（{county}）{on} 时的行政区域内：本地名库只登记本县地名，"
        "邻县地名只作为注明来源的只读参考资料",
        field=field, rule="G1", code="outside_county", extra={"county": county},
    )


def locate(session: Session, geom: WKBElement | None, stated: str | None, on: dt.date, *, standard: bool,
           fallback: str | None = None) -> str | None:
    """所在(跨)行政区 of a name of this county's gazetteer (G1, §1.5): derived from the geometry among the county's
    divisions in force on ``on`` (a geometry entirely outside is refused), checked against the stated code;
    never null for a standard name. ``fallback``: the division kept when there is no geometry (an edit)."""
    county = gazetteer_settings().county
    derived = fallback
    if geom is not None:
        derived = derive_division(session, geom, on, within=county)
        if derived is None:
            raise _outside_county(session, county, on, "geometry", "the geometry", "该地理实体")
    division = resolve_division(session, stated, derived, on)
    in_county(session, division, on, standard=standard)
    return division


def in_county(session: Session, division: str | None, on: dt.date, *, standard: bool) -> None:
    """G1: the division is this county or lies in it; §1.5: a standard name has one."""
    county = gazetteer_settings().county
    if division is None:
        if standard:
            raise InvalidInput(
                "a standard name needs its division (division_code, 所在(跨)行政区, a mandatory field of the "
                "register): give a geometry inside the county or the division code",
                "标准地名须有所在（跨）行政区（普查登记必填项）：请提供县内的几何位置或行政区代码",
                field="division_code", rule="§1.5",
            )
        return
    if not division.startswith(county):
        raise _outside_county(session, county, on, "division_code", f"division {division}", f"行政区 {division} ")


def _edits(a: str, b: str) -> int:
    """Levenshtein distance of two short names (characters inserted, removed or replaced)."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        prev, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (ca != cb))
    return row[-1]


def is_typo(old: str, new: str) -> bool:
    """A slip of the registered form, not a new name: a few characters (the setting, per 3 characters of the
    name) or the same reading (an input-method slip: 清风路 for 青枫路)."""
    if len(old) == len(new) and romanize(old).romanized.lower() == romanize(new).romanized.lower():
        return True
    generics = split_name(old)[1], split_name(new)[1]
    if all(generics) and generics[0] != generics[1]:  # another generic (青枫路 → 青枫街) is another name
        return False
    return _edits(old, new) <= gazetteer_settings().typo_max_edits * max(1, len(old) // 3)


def procedure_of(session: Session, place_id: int, name: str) -> int | None:
    """The approved naming or renaming proposal that made ``name`` the standard name of the place, if any."""
    found = session.execute(
        text("SELECT id FROM proposals WHERE place_id = :pid AND name = :name "
             "AND stage IN ('approved', 'filed', 'announced') ORDER BY id DESC LIMIT 1"),
        {"pid": place_id, "name": name},
    ).scalar()
    return int(found) if found is not None else None


def _guard_procedure_name(session: Session, row: Place, new_name: str, body: PlaceUpdate,
                          via_proposal: int | None, confirmation: str | None) -> str | None:
    """R2: a standard name that came out of the naming procedure changes only through a renaming proposal.

    A correction may fix a typo of the registered form once a reviewer other than the officer has confirmed it
    (``confirmation``: the audit note of the confirmed correction request, see ``places.corrections``); returns
    it then. ``via_proposal``: the approved renaming doing the change."""
    if via_proposal is not None or row.status != PlaceStatus.standard.value:
        return None
    proposal = procedure_of(session, row.place_id, row.name)
    if proposal is None:
        return None
    procedure = (
        f"{row.name} is a standard name approved by naming proposal {proposal}; a new name needs a renaming "
        f"proposal (POST /api/v1/proposals with kind renaming and place_id {row.place_id}: 申报 → 论证 → 批准 → "
        "备案 → 公告)")
    procedure_zh = (f"“{row.name}”是经命名申报 {proposal} 批准的标准地名，更名须提出更名申报（kind=renaming，"
                    f"place_id={row.place_id}），经申报、论证、批准、备案、公告程序办理")
    if body.mode is not ChangeMode.correction:
        raise Conflict(procedure, procedure_zh, field="name", rule="R2", code="needs_renaming_procedure",
                       extra={"proposal_id": proposal})
    if not is_typo(row.name, new_name):
        raise Conflict(f"{row.name} → {new_name} is not a typo of the registered form. {procedure}",
                       f"“{row.name}”改为“{new_name}”不是书写错误的更正。{procedure_zh}", field="name", rule="R2",
                       code="needs_renaming_procedure", extra={"proposal_id": proposal})
    if confirmation is None:
        raise Conflict(
            f"correcting the standard name {row.name} to {new_name} needs a reviewer's confirmation that it fixes "
            f"a typo: PATCH /api/v1/places/{row.place_id} records it as a correction request (202) that another "
            f"user with the reviewer role confirms (POST /api/v1/name-corrections/{{id}}/confirm); otherwise "
            f"{procedure}",
            f"更正标准地名“{row.name}”为“{new_name}”须经另一位审核人确认系书写错误：通过 PATCH /api/v1/places/"
            f"{row.place_id} 提交更正申请（202），由审核人确认后生效；否则{procedure_zh}",
            field="name", rule="R2", code="needs_renaming_procedure", extra={"proposal_id": proposal})
    return confirmation


def _parse_geometry(geometry: dict[str, Any] | None) -> WKBElement | None:
    return parse_geojson(geometry, allowed=GEOMETRY_TYPES) if geometry else None


# -- writes ------------------------------------------------------------------------------------------------

def create(session: Session, body: PlaceCreate, actor: str) -> tuple[Place, list[dict[str, Any]]]:
    """Register a place; returns the row and the review flags its name raised (never a silent rejection)."""
    name = _check_name(body.name)
    cat = _category(session, body.category_code)
    valid_from = body.valid_from or clock.today()
    _past_events({k: getattr(body, k) for k in REGISTER_FIELDS})
    geom = _parse_geometry(body.geometry)
    division = locate(session, geom, body.division_code, valid_from,
                      standard=body.status is PlaceStatus.standard)
    audit.set_context(session, actor, body.reason)
    place_id = int(session.execute(PLACE_ID_SEQ.next_value()).scalar_one())
    fields = derived_fields(name, cat.code, body.romanized)
    row = Place(
        place_id=place_id, name=name, category_code=cat.code, scope_kind=cat.scope_kind, status=body.status.value,
        geom=geom, division_code=division, source=body.source, valid_from=valid_from,
        romanized_by=actor if body.romanized else "auto",
        **fields,
        **{k: getattr(body, k) for k in REGISTER_FIELDS if getattr(body, k) is not None},
    )
    session.add(row)
    session.flush()
    for v in body.variants:
        add_variant(session, place_id, v, actor, body.reason)
    flags = checks.record_flags(session, row)
    session.refresh(row)
    return row, flags


def _guard_protected_rename(session: Session, row: Place, new_name: str) -> None:
    """R1 / §1.4: a listed name is not renamed before protective measures are recorded."""
    listing = session.scalar(select(ProtectionListing).where(ProtectionListing.place_id == row.place_id))
    if listing is not None and not (listing.measures and listing.measures_recorded_on):
        raise Conflict(
            f"{row.name} is on the place-name culture protection list ({listing.category}); record the "
            "protective measures before renaming it",
            f"“{row.name}”已列入地名文化保护名录（{listing.category}），须先登记保护措施方可更名",
            field="name", rule="§1.4", code="protected_name",
        )


def update(session: Session, place_id: int, body: PlaceUpdate, if_match: str | None, actor: str, *,
           echoed: bool = False, via_proposal: int | None = None, confirmation: str | None = None,
           locked: Place | None = None) -> tuple[Place, list[dict[str, Any]]]:
    """Correct the version in force today, or record a legal change from ``effective_date``.

    ``echoed``: the body is a GIS client's copy of the feature it read (OGC PUT/PATCH); a derived spelling or
    division sent back unchanged is then not an officer's override. It is compared with the locked version.
    ``via_proposal``: the approved renaming proposal making this change (the only way a standard name that came
    out of the procedure is renamed, R2). ``confirmation``: the audit note of a reviewer-confirmed typo correction
    of such a name (``places.corrections.confirm``, the only caller that passes it). ``locked``: the row the caller
    got from ``GUARD.lock`` with this ``if_match`` in this transaction today (not locked and checked twice)."""
    today = clock.today()
    row = locked if locked is not None else GUARD.lock(session, place_id, if_match, where=_in_force(today),
                                                       missing=lambda: _not_found(place_id, today))
    if echoed:
        body = _without_echoes(body, row)
    sent = body.model_fields_set
    changes: dict[str, Any] = {k: getattr(body, k) for k in REGISTER_FIELDS if k in sent}
    _past_events(changes, row)
    name = _check_name(body.name) if body.name is not None else row.name
    category = _category(session, body.category_code) if body.category_code else _category(session, row.category_code)
    renamed = name != row.name
    confirmed = None
    if renamed:
        _guard_protected_rename(session, row, name)
        confirmed = _guard_procedure_name(session, row, name, body, via_proposal, confirmation)
    if renamed or body.category_code or "romanized" in sent:
        override = body.romanized if "romanized" in sent else (row.romanized if row.romanized_by != "auto" else None)
        if renamed and "romanized" not in sent:
            override = None  # a new name gets a new spelling unless the officer gives one
        changes.update(derived_fields(name, category.code, override))
        changes["romanized_by"] = actor if override else "auto"
        changes.update(name=name, category_code=category.code, scope_kind=category.scope_kind)
    if body.status is not None:
        changes["status"] = body.status.value
    if body.source is not None:
        changes["source"] = body.source
    geom_changed = body.geometry is not None
    if geom_changed:
        changes["geom"] = _parse_geometry(body.geometry)
    status = changes.get("status", row.status)
    if geom_changed or body.division_code:
        geom = changes.get("geom", row.geom)
        on = body.effective_date or today
        changes["division_code"] = locate(session, geom if isinstance(geom, WKBElement) else None,
                                          body.division_code, on, standard=status == PlaceStatus.standard.value,
                                          fallback=row.division_code)
    elif "status" in changes:
        in_county(session, row.division_code, body.effective_date or today,
                  standard=status == PlaceStatus.standard.value)
    if not changes:
        raise InvalidInput("nothing to change", "没有需要修改的内容", field="body")
    audit.set_context(session, actor, f"{body.reason} [{confirmed}]" if confirmed else body.reason)

    legal = body.mode is ChangeMode.legal
    target = write_version(session, row, changes, legal=legal, effective_date=body.effective_date, refresh=False)
    if legal and renamed:
        # A rename keeps the old name as 曾用名 (domain.md §1.3).
        add_variant(session, place_id, VariantIn(
            kind=VariantKind.former, name=row.name, romanized=row.romanized, valid_from=row.valid_from,
            valid_to=target.valid_from, note="renamed",
        ), actor, body.reason)
    if renamed:
        checks.close_flags_of_old_name(session, place_id, row.name if body.mode is ChangeMode.legal else None, actor)
    flags = checks.record_flags(session, target)
    session.refresh(target)
    return target, flags


def _without_echoes(body: PlaceUpdate, row: Place) -> PlaceUpdate:
    echoes = set()
    if "romanized" in body.model_fields_set and body.romanized == row.romanized and row.romanized_by == "auto":
        echoes.add("romanized")
    if body.geometry is not None and echoed_geometry(body.geometry, row.geom):
        echoes.add("geometry")
    if body.division_code is not None and body.division_code == row.division_code and (
            body.geometry is None or "geometry" in echoes):
        echoes.add("division_code")
    if not echoes:
        return body
    return PlaceUpdate.model_validate(body.model_dump(exclude_unset=True, exclude=echoes))


def withdrawn(row: Place) -> bool:
    """True when ``retire`` withdrew the version instead of closing it (see there)."""
    return inspect(row).was_deleted


def retire(session: Session, place_id: int, body: PlaceRetire, if_match: str | None, actor: str) -> Place:
    """Close the place's version on ``effective_date`` (it is no longer in force from that day on).

    The version closed is the one in force on the effective date (today for a future date). A version that
    began today and is retired today never took effect: it is withdrawn — its row is deleted, the audit log
    keeps the insertion and the deletion with every value — because a version may not end on the day it
    begins. Any other effective date on or before the version's start is refused (422)."""
    today = clock.today()
    on = min(today, body.effective_date)
    row = GUARD.lock(session, place_id, if_match, where=_in_force(on), missing=lambda: _not_found(place_id, on))
    same_day = body.effective_date == row.valid_from == today
    if body.effective_date <= row.valid_from and not same_day:
        raise InvalidInput("effective_date must be after valid_from", "废止日期须晚于生效日期", field="effective_date")
    audit.set_context(session, actor, body.reason)
    if same_day:
        checks.close_flags(session, place_id, "retired", actor, body.reason)
        session.delete(row)
        session.flush()
        return row
    row.valid_to = body.effective_date
    if row.abolished_year is None:
        row.abolished_year = body.effective_date.year
    session.flush()
    checks.close_flags(session, place_id, "retired", actor, body.reason)
    session.refresh(row)
    return row


def add_variant(session: Session, place_id: int, v: VariantIn, actor: str, reason: str) -> PlaceVariant:
    if v.valid_from and v.valid_to and v.valid_to <= v.valid_from:
        raise InvalidInput("valid_to must be after valid_from", "失效日期须晚于生效日期", field="variants.valid_to")
    audit.set_context(session, actor, reason)
    romanized = v.romanized or romanize(v.name.strip()).romanized
    variant = PlaceVariant(
        place_id=place_id, kind=v.kind.value, name=v.name.strip(), language=v.language, script=v.script,
        romanized=romanized, valid_from=v.valid_from, valid_to=v.valid_to, note=v.note,
    )
    session.add(variant)
    session.flush()
    return variant


def add_place_variant(session: Session, place_id: int, v: VariantIn, actor: str, reason: str) -> PlaceVariant:
    """Add a variant to the place in force today.

    Adding overwrites nothing, so it needs no If-Match; the place is held (locked, not compared) so that
    adders queue behind each other and behind a rename, and the same variant twice is refused (409)."""
    today = clock.today()
    GUARD.hold(session, place_id, where=_in_force(today), missing=lambda: _not_found(place_id, today))
    same = session.scalar(select(PlaceVariant.id).where(
        PlaceVariant.place_id == place_id, PlaceVariant.kind == v.kind.value, PlaceVariant.name == v.name.strip(),
        PlaceVariant.valid_from.is_not_distinct_from(v.valid_from)))
    if same is not None:
        raise Conflict(f"place {place_id} already has the {v.kind.value} {v.name.strip()} (variant {same})",
                       f"地名 {place_id} 已有{v.kind.value}“{v.name.strip()}”（别称 {same}）", field="name")
    return add_variant(session, place_id, v, actor, reason)


def delete_variant(session: Session, place_id: int, variant_id: int, if_match: str | None, actor: str,
                   reason: str) -> None:
    """Remove a variant; If-Match carries the variant's ETag (from the place's ``variants`` or its GET).

    A variant someone else removed meanwhile answers 412, not 404 (RFC 9110 §13.1.1: If-Match is false when
    there is no current representation); the audit log tells a removed variant from one that never was."""

    def missing() -> DimingError:
        removed = session.execute(text(
            "SELECT at, actor FROM audit_log WHERE table_name = 'place_variants' AND entity_key = :k "
            "AND row_id = :id AND action = 'DELETE' ORDER BY id DESC LIMIT 1"),
            {"k": str(place_id), "id": variant_id}).first()
        if removed is None or not (if_match and if_match.strip()):
            return _no_variant(place_id, variant_id)
        return PreconditionFailed(
            f"variant {variant_id} of place {place_id} was removed by {removed.actor} at {removed.at:%Y-%m-%d %H:%M}",
            f"地名 {place_id} 的别称 {variant_id} 已被 {removed.actor} 于 {removed.at:%Y-%m-%d %H:%M} 删除",
            field="If-Match", extra={"current": None, "etag": None})

    row = VARIANT_GUARD.lock(session, variant_id, if_match, missing=missing)
    if row.place_id != place_id:
        raise _no_variant(place_id, variant_id)
    audit.set_context(session, actor, reason)
    session.delete(row)
    session.flush()


def respell_variant(session: Session, place_id: int, variant_id: int, romanized: str, if_match: str, actor: str,
                    reason: str) -> PlaceVariant:
    """Replace a variant's romanisation (``diming places rederive --apply-romanized``): the variant's versioned
    write — locked, checked against the ETag the caller read, written; its triggers bump the version and audit it."""
    row = VARIANT_GUARD.lock(session, variant_id, if_match, missing=lambda: _no_variant(place_id, variant_id))
    if row.place_id != place_id:
        raise _no_variant(place_id, variant_id)
    audit.set_context(session, actor, reason)
    row.romanized = romanized
    session.flush()
    return row


def set_protection(session: Session, place_id: int, body: ProtectionIn, actor: str, *, if_match: str | None,
                   if_none_match: str | None = None) -> tuple[ProtectionListing, bool]:
    """List a place (``If-None-Match: *``) or change its listing (If-Match: the listing's ETag).

    Returns the listing and whether it was created."""
    today = clock.today()
    # The listing first (a request without a precondition is 428 before anything is locked), then the place,
    # held like a write of it: a rename checking the listing (R1) and a listing never interleave. A rename
    # locks the place and only reads the listing, so the two orders cannot deadlock.
    listing = PROTECTION_GUARD.lock_for_put(session, place_id, if_match, if_none_match,
                                            missing=lambda: _not_listed(place_id))
    GUARD.hold(session, place_id, where=_in_force(today), missing=lambda: _not_found(place_id, today))
    not_after_today(body.listed_on, "listed_on", "the listing date", "列入名录日期")
    not_after_today(body.measures_recorded_on, "measures_recorded_on", "the date the measures were recorded",
               "登记保护措施日期")
    if body.measures_recorded_on and not body.measures:
        raise InvalidInput("measures_recorded_on needs the measures", "登记保护措施日期时须填写保护措施",
                           field="measures")
    audit.set_context(session, actor, body.reason)
    created = listing is None
    if listing is None:
        listing = ProtectionListing(place_id=place_id, category=body.category, listed_on=body.listed_on)
        session.add(listing)
    listing.category = body.category
    listing.listed_on = body.listed_on
    listing.listed_by = actor
    listing.measures = body.measures
    listing.measures_recorded_on = body.measures_recorded_on
    listing.note = body.note
    session.flush()
    session.refresh(listing)
    return listing, created
