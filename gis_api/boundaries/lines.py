"""Boundary lines derived in PostGIS from the division polygons of one level, with stable ids and history.

Derivation (one statement): the boundaries of every polygon of the level in force on a date are noded and
dissolved (``ST_UnaryUnion`` on a 1e-8° ≈ 1 mm grid, so edges that coincide up to rounding become one), merged
between topological nodes (``ST_LineMerge``), and each edge is classified by probing a point just left and
just right of its middle against the polygons. Edges are grouped by (left, right) pair into one line per pair of
neighbours, oriented so the lower code lies on the left; an edge with nothing loaded on one side is an outer
edge (``right_code`` NULL). Every piece of every division boundary belongs to exactly one edge, so the lines of
a division add up to its perimeter.

Re-derivation keeps ``line_id`` (made from the level and the pair) and the line record; a changed geometry
opens a new valid-time version when a division version began after the line's (a legal change) and is
corrected in place otherwise (a correction of mapped geometry: record time only, audited).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from gis_api import clock, geojson_sql
from gis_api.audit import service as audit
from gis_api.boundaries.models import BoundaryLine, BoundaryLineVersion
from gis_api.boundaries.schemas import LineUpdate
from gis_api.boundaries.settings import BoundarySettings
from gis_api.concurrency import Versioned, make_etag
from gis_api.divisions.models import Level
from gis_api.errors import InvalidInput, NotFound
from gis_api.when import not_after_today

LEVEL_PREFIX = {Level.province: "P", Level.prefecture: "M", Level.county: "C", Level.township: "T",
                Level.village: "V"}
NODING_GRID = 1e-8  # degrees (~1 mm): coincident edges within rounding are one edge
SAME_GEOMETRY_DEG = 1e-7  # Hausdorff distance under which a re-derived line is unchanged (~1 cm)
TABLE_LINES = "boundary_lines"
TABLE_VERSIONS = "boundary_line_versions"


def line_id_for(level: Level, left: str, right: str | None) -> str:
    return f"{LEVEL_PREFIX[level]}{left}-{right or 'X'}"


DERIVE_SQL = """
CREATE TEMP TABLE _derived_lines ON COMMIT DROP AS
WITH d AS (
    SELECT code, geom FROM divisions
    WHERE level = :level AND ST_Dimension(geom) = 2
      AND valid_from <= :on AND (valid_to IS NULL OR valid_to > :on)
), edges AS (
    SELECT (ST_Dump(ST_LineMerge(ST_UnaryUnion(ST_Collect(ST_Boundary(geom)), :grid)))).geom AS e FROM d
), probe AS (
    SELECT e, ST_LineInterpolatePoint(e, 0.5) AS m,
           ST_LineInterpolatePoint(e, 0.49) AS a, ST_LineInterpolatePoint(e, 0.51) AS b,
           least(1e-6, ST_Length(e) / 100) AS delta
    FROM edges WHERE ST_Length(e) > 0
), dir AS (
    SELECT e, m, delta, ST_X(b) - ST_X(a) AS dx, ST_Y(b) - ST_Y(a) AS dy,
           sqrt(power(ST_X(b) - ST_X(a), 2) + power(ST_Y(b) - ST_Y(a), 2)) AS n
    FROM probe
), pts AS (
    SELECT e,
           ST_SetSRID(ST_MakePoint(ST_X(m) - dy / n * delta, ST_Y(m) + dx / n * delta), 4490) AS pl,
           ST_SetSRID(ST_MakePoint(ST_X(m) + dy / n * delta, ST_Y(m) - dx / n * delta), 4490) AS pr
    FROM dir WHERE n > 0
), sided AS (
    SELECT e,
        (SELECT min(x.code) FROM divisions x WHERE x.level = :level AND ST_Dimension(x.geom) = 2
            AND x.valid_from <= :on AND (x.valid_to IS NULL OR x.valid_to > :on) AND ST_Intersects(x.geom, pl)) AS l,
        (SELECT min(x.code) FROM divisions x WHERE x.level = :level AND ST_Dimension(x.geom) = 2
            AND x.valid_from <= :on AND (x.valid_to IS NULL OR x.valid_to > :on) AND ST_Intersects(x.geom, pr)) AS r
    FROM pts
), norm AS (
    SELECT CASE WHEN l IS NULL OR (r IS NOT NULL AND r < l) THEN ST_Reverse(e) ELSE e END AS e,
           CASE WHEN l IS NULL OR (r IS NOT NULL AND r < l) THEN r ELSE l END AS left_code,
           CASE WHEN l IS NULL OR (r IS NOT NULL AND r < l) THEN l ELSE r END AS right_code
    FROM sided WHERE l IS DISTINCT FROM r
), grouped AS (
    SELECT left_code, right_code, ST_Multi(ST_LineMerge(ST_Collect(e), true)) AS geom
    FROM norm GROUP BY left_code, right_code
)
SELECT g.left_code, g.right_code, g.geom, ST_Length(g.geom::geography) AS length_m,
       greatest(
           (SELECT x.valid_from FROM divisions x WHERE x.code = g.left_code
              AND x.valid_from <= :on AND (x.valid_to IS NULL OR x.valid_to > :on)),
           (SELECT x.valid_from FROM divisions x WHERE x.code = g.right_code
              AND x.valid_from <= :on AND (x.valid_to IS NULL OR x.valid_to > :on))
       ) AS vf
FROM grouped g
"""

COMPARE_SQL = """
SELECT n.left_code, n.right_code, n.length_m, n.vf,
       v.id AS version_id, v.valid_from AS old_from, v.valid_to AS old_to,
       CASE WHEN v.id IS NULL THEN NULL
            ELSE ST_Equals(v.geom, n.geom) OR ST_HausdorffDistance(v.geom, n.geom) < :same END AS same,
       l.line_id IS NOT NULL AS has_record,
       CASE WHEN l.line_id IS NULL THEN (SELECT d.name FROM divisions d WHERE d.code = n.left_code
            AND d.valid_from <= :on AND (d.valid_to IS NULL OR d.valid_to > :on) LIMIT 1) END AS left_name,
       CASE WHEN l.line_id IS NULL THEN (SELECT d.name FROM divisions d WHERE d.code = n.right_code
            AND d.valid_from <= :on AND (d.valid_to IS NULL OR d.valid_to > :on) LIMIT 1) END AS right_name
FROM _derived_lines n
LEFT JOIN boundary_lines l ON l.line_id = :prefix || n.left_code || '-' || coalesce(n.right_code, 'X')
LEFT JOIN boundary_line_versions v ON v.line_id = l.line_id
     AND v.valid_from <= :on AND (v.valid_to IS NULL OR v.valid_to > :on)
ORDER BY n.left_code, n.right_code NULLS LAST
"""


@dataclass
class DeriveReport:
    level: str
    on: dt.date
    lines: int = 0
    created: list[str] = field(default_factory=list)
    new_versions: list[str] = field(default_factory=list)
    corrected: list[str] = field(default_factory=list)
    closed: list[str] = field(default_factory=list)
    unchanged: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "level": self.level, "on": self.on.isoformat(), "lines": self.lines, "created": self.created,
            "new_versions": self.new_versions, "corrected": self.corrected, "closed": self.closed,
            "unchanged": self.unchanged,
        }


def _line_numbers(session: Session) -> Iterator[str]:
    """Free 4-digit line numbers after the highest one in use (one query per derivation, not per line)."""
    top = session.scalar(select(func.max(BoundaryLine.line_no)))
    n = int(top) + 1 if top else 1
    while True:
        if n > 9999:
            raise InvalidInput("no free 4-digit line number left", "界线编号（4位）已用尽", field="line_no",
                               rule="§5")
        yield f"{n:04d}"
        n += 1


def _insert_version(session: Session, line_id: str, left: str, right: str | None, valid_from: dt.date,
                    valid_to: dt.date | None) -> None:
    session.execute(
        text("""INSERT INTO boundary_line_versions (line_id, geom, length_m, valid_from, valid_to, source)
                SELECT :line_id, n.geom, n.length_m, :vf, :vt, 'derived' FROM _derived_lines n
                WHERE n.left_code = :left AND n.right_code IS NOT DISTINCT FROM :right"""),
        {"line_id": line_id, "vf": valid_from, "vt": valid_to, "left": left, "right": right},
    )


def derive(session: Session, level: Level, on: dt.date, actor: str, reason: str) -> DeriveReport:
    """Derive the lines of ``level`` from the divisions in force on ``on`` and reconcile them with the stored ones."""
    audit.set_context(session, actor, reason)
    session.execute(text("DROP TABLE IF EXISTS _derived_lines"))
    session.execute(text(DERIVE_SQL), {"level": level.value, "on": on, "grid": NODING_GRID})
    prefix = LEVEL_PREFIX[level]
    rows = session.execute(
        text(COMPARE_SQL), {"prefix": prefix, "on": on, "same": SAME_GEOMETRY_DEG}
    ).mappings().all()
    report = DeriveReport(level=level.value, on=on, lines=len(rows))
    seen: set[str] = set()
    line_numbers = _line_numbers(session)
    for r in rows:
        left, right = str(r["left_code"]), r["right_code"]
        line_id = line_id_for(level, left, right)
        seen.add(line_id)
        vf: dt.date = r["vf"]
        if not r["has_record"]:
            left_name, right_name = r["left_name"], r["right_name"]
            name = f"{left_name}—{right_name}" if right else f"{left_name}（外缘）"
            session.add(BoundaryLine(line_id=line_id, level=level.value, left_code=left, right_code=right,
                                     line_no=next(line_numbers), name=name))
            session.flush()
            _insert_version(session, line_id, left, right, vf, None)
            report.created.append(line_id)
        elif r["version_id"] is None:
            # The pair existed before and comes back: open a version after the last one.
            last_to = session.scalar(
                select(func.max(BoundaryLineVersion.valid_to)).where(BoundaryLineVersion.line_id == line_id)
            )
            _insert_version(session, line_id, left, right, max(vf, last_to or vf), None)
            report.new_versions.append(line_id)
        elif r["same"]:
            report.unchanged += 1
        elif vf > r["old_from"]:
            old = session.get(BoundaryLineVersion, r["version_id"])
            assert old is not None
            old_to = old.valid_to
            old.valid_to = vf
            session.flush()
            _insert_version(session, line_id, left, right, vf, old_to)
            report.new_versions.append(line_id)
        else:
            session.execute(
                text("""UPDATE boundary_line_versions v SET geom = n.geom, length_m = n.length_m
                        FROM _derived_lines n WHERE v.id = :id AND n.left_code = :left
                          AND n.right_code IS NOT DISTINCT FROM :right"""),
                {"id": r["version_id"], "left": left, "right": right},
            )
            report.corrected.append(line_id)
    # Lines of this level in force on ``on`` that the polygons no longer produce.
    gone = session.execute(
        text("""SELECT v.id, v.line_id, v.valid_from FROM boundary_line_versions v
                JOIN boundary_lines l ON l.line_id = v.line_id
                WHERE l.level = :level AND v.valid_from <= :on AND (v.valid_to IS NULL OR v.valid_to > :on)"""),
        {"level": level.value, "on": on},
    ).all()
    for version_id, line_id, valid_from in gone:
        if line_id in seen:
            continue
        row = session.get(BoundaryLineVersion, version_id)
        assert row is not None
        if valid_from < on:
            row.valid_to = on
        else:
            session.delete(row)
        report.closed.append(line_id)
    session.execute(text("DROP TABLE IF EXISTS _derived_lines"))
    session.flush()
    return report


# -- reads ----------------------------------------------------------------------------------------------------

LINES_SOURCE = """(
    SELECT v.id AS version_id, v.line_id, v.geom, v.length_m, v.valid_from, v.valid_to, v.version AS geom_version,
           l.level, l.left_code, l.right_code, l.line_no, l.name, l.agreement_ref, l.agreement_signed_on,
           l.detail_map_ref, l.responsible_left, l.responsible_right, l.last_inspection_on,
           l.next_inspection_planned_on, l.note,
           l.version AS record_version,
           (SELECT min(v0.valid_from) FROM boundary_line_versions v0 WHERE v0.line_id = v.line_id) AS first_valid_from
    FROM boundary_line_versions v JOIN boundary_lines l ON l.line_id = v.line_id)"""

AS_OF_B = "b.valid_from <= :as_of AND (b.valid_to IS NULL OR b.valid_to > :as_of)"

# The last joint inspection as of :as_of — one recorded for a later date had not happened yet then (T1).
LAST_SQL = ("CASE WHEN b.last_inspection_on <= CAST(:as_of AS date) THEN b.last_inspection_on "
            "ELSE (SELECT max(i.inspected_on) FROM boundary_inspections i WHERE i.line_id = b.line_id "
            "AND i.kind = 'periodic' AND i.inspected_on <= CAST(:as_of AS date)) END")
DUE_SQL = (f"(coalesce({LAST_SQL}, b.agreement_signed_on, b.first_valid_from) "
           "+ make_interval(years => CAST(:interval AS int)))::date")

FEATURE_SQL = f"""
json_build_object(
    'type', 'Feature',
    'id', b.line_id,
    'geometry', ST_AsGeoJSON(b.geom, 7, 0)::json,
    'properties', json_build_object(
        'line_id', b.line_id, 'line_no', b.line_no, 'name', b.name, 'level', b.level,
        'left_code', b.left_code,
        'left_name', (SELECT d.name FROM divisions d WHERE d.code = b.left_code AND d.valid_from <= :as_of
                      AND (d.valid_to IS NULL OR d.valid_to > :as_of)),
        'right_code', b.right_code,
        'right_name', (SELECT d.name FROM divisions d WHERE d.code = b.right_code AND d.valid_from <= :as_of
                       AND (d.valid_to IS NULL OR d.valid_to > :as_of)),
        'outer', b.right_code IS NULL,
        'length_m', round(b.length_m::numeric, 2),
        'valid_from', b.valid_from, 'valid_to', b.valid_to, 'geometry_version', b.geom_version,
        'version', b.record_version,
        'agreement_ref', b.agreement_ref, 'agreement_signed_on', b.agreement_signed_on,
        'detail_map_ref', b.detail_map_ref,
        'responsible_left', b.responsible_left, 'responsible_right', b.responsible_right,
        'last_inspection_on', {LAST_SQL},
        'next_inspection_planned_on', b.next_inspection_planned_on,
        'next_inspection_due', {DUE_SQL},
        'inspection_overdue', {DUE_SQL} < CAST(:as_of AS date),
        'markers', (SELECT count(*) FROM boundary_markers m WHERE m.line_id = b.line_id
                    AND m.valid_from <= :as_of AND (m.valid_to IS NULL OR m.valid_to > :as_of)),
        'note', b.note
    )
)"""


@dataclass(frozen=True)
class LineQuery:
    as_of: dt.date
    level: Level | None = None
    code: str | None = None
    parent: str | None = None
    outer: bool | None = None
    limit: int = 1000
    offset: int = 0


def list_geojson(session: Session, q: LineQuery, settings: BoundarySettings, next_url: str | None) -> str:
    conds = [AS_OF_B]
    params: dict[str, Any] = {"as_of": q.as_of, "interval": settings.inspection_interval_years}
    if q.level:
        conds.append("b.level = :level")
        params["level"] = q.level.value
    if q.code:
        conds.append("(b.left_code = :code OR b.right_code = :code)")
        params["code"] = q.code
    if q.parent:
        conds.append("""EXISTS (SELECT 1 FROM divisions c WHERE c.parent_code = :parent
                        AND c.code IN (b.left_code, b.right_code)
                        AND c.valid_from <= :as_of AND (c.valid_to IS NULL OR c.valid_to > :as_of))""")
        params["parent"] = q.parent
    if q.outer is not None:
        conds.append("b.right_code IS NULL" if q.outer else "b.right_code IS NOT NULL")
    return geojson_sql.collection(
        session, table=LINES_SOURCE, alias="b", where=conds, feature_sql=FEATURE_SQL,
        order_by="b.line_id", params=params, limit=q.limit, offset=q.offset, next_url=next_url,
    )


def etag(line: BoundaryLine) -> str:
    return make_etag("l", line.line_id, line.version)


def _no_line(line_id: str) -> NotFound:
    return NotFound(f"no boundary line {line_id}", f"不存在界线 {line_id}", field="line_id")


def get_line(session: Session, line_id: str) -> BoundaryLine:
    """The line's record, for reading; writers get it from ``guard(settings).lock``."""
    line = session.get(BoundaryLine, line_id)
    if line is None:
        raise _no_line(line_id)
    return line


def hold(session: Session, line_id: str) -> BoundaryLine:
    """The line's record locked without a version check (a joint inspection moves its cycle date)."""
    return guard(BoundarySettings()).hold(session, line_id, missing=lambda: _no_line(line_id))


def guard(settings: BoundarySettings) -> Versioned[BoundaryLine]:
    return Versioned(
        model=BoundaryLine, key=BoundaryLine.line_id, etag=etag,
        label=lambda r: (f"boundary line {r.line_id}", f"界线 {r.line_id} "),
        body=lambda s, r: feature(s, r.line_id, clock.today(), settings)[0],
    )


def feature(session: Session, line_id: str, as_of: dt.date, settings: BoundarySettings) -> tuple[str, str]:
    line = get_line(session, line_id)
    row = session.execute(
        text(f"SELECT {FEATURE_SQL}::text FROM {LINES_SOURCE} b WHERE b.line_id = :id AND {AS_OF_B}"),
        {"id": line_id, "as_of": as_of, "interval": settings.inspection_interval_years},
    ).scalar()
    if row is None:
        raise _not_in_force(line_id, as_of)
    return str(row), etag(line)


# One line as served by GET /boundaries/{line_id}, in one statement: the record's version (the ETag) and the feature
# of the geometry in force on :as_of (NULL when none is). Parameters :id, :as_of, :interval; the route runs it on
# the read pool (gis_api/fast_reads.py).
FEATURE_ONE_SQL = f"""SELECT l.version, (SELECT {FEATURE_SQL}::text FROM {LINES_SOURCE} b
                                         WHERE b.line_id = :id AND {AS_OF_B} LIMIT 1)
                      FROM boundary_lines l WHERE l.line_id = :id"""


def feature_answer(row: Any, line_id: str, as_of: dt.date) -> tuple[str, str]:
    """(feature text, ETag) of a ``FEATURE_ONE_SQL`` row; the same 404s as ``feature``."""
    if row is None:
        raise _no_line(line_id)
    if row[1] is None:
        raise _not_in_force(line_id, as_of)
    return str(row[1]), make_etag("l", line_id, int(row[0]))


def _not_in_force(line_id: str, as_of: dt.date) -> NotFound:
    return NotFound(f"boundary line {line_id} is not in force on {as_of}", f"界线 {line_id} 在 {as_of} 时不存在",
                    field="as_of")


def history(session: Session, line_id: str) -> dict[str, Any]:
    get_line(session, line_id)
    versions = session.execute(
        text("""SELECT id, valid_from, valid_to, version, round(length_m::numeric, 2) AS length_m, source
                FROM boundary_line_versions WHERE line_id = :id ORDER BY valid_from"""), {"id": line_id},
    ).mappings().all()
    return {
        "line_id": line_id,
        "versions": [
            {"row_id": v["id"], "valid_from": v["valid_from"].isoformat(),
             "valid_to": v["valid_to"].isoformat() if v["valid_to"] else None, "version": v["version"],
             "length_m": float(v["length_m"]), "source": v["source"]}
            for v in versions
        ],
        "record_changes": audit.history(session, TABLE_LINES, line_id),
        "geometry_changes": audit.history(session, TABLE_VERSIONS, line_id),
    }


def update(session: Session, line_id: str, body: LineUpdate, if_match: str | None, actor: str,
           settings: BoundarySettings) -> BoundaryLine:
    not_after_today(body.last_inspection_on, "last_inspection_on", "an inspection", "联检",
                    plan_field="next_inspection_planned_on")
    not_after_today(body.agreement_signed_on, "agreement_signed_on", "the signing of an agreement", "协议书签订")
    line = guard(settings).lock(session, line_id, if_match, missing=lambda: _no_line(line_id))
    changes = body.model_dump(exclude_unset=True, exclude={"reason"})
    if not changes:
        raise InvalidInput("nothing to change", "没有需要修改的内容", field="body")
    audit.set_context(session, actor, body.reason)
    for key, value in changes.items():
        setattr(line, key, value)
    session.flush()
    session.refresh(line)
    return line
