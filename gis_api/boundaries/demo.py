"""Demo boundaries: derive the county and township lines, then place SYNTHETIC, labelled markers along
Feidong's county lines (``source = "synthetic"``). Idempotent: re-running derives nothing new and skips
markers that exist.

Markers sit every ~6 km along each of Feidong's 9 county lines and at both ends, numbered 001… west→east
(or north→south for a line that runs more north-south), type Q; every fourth one is an A/B pair on either
side of the line (2 m off). Two markers are deliberately displaced (8 m and 12 m) so the on-line check has
something to find; their ``note`` says so. Line records get synthetic agreement references, responsible
sides and last joint inspections (some overdue).

The texts people read (references, notes, captions) are in Chinese and say 合成示例 (synthetic example); the map
UI shows that suffix in the interface language (``source_terms``). The machine-readable label stays in ``source``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis_api.boundaries import lines
from gis_api.boundaries.models import BoundaryLine, BoundaryMarker
from gis_api.divisions.models import Level

ACTOR = "system:load-demo"
FEIDONG = "340122"
SPACING_M = 6000.0
VALID_FROM = dt.date(2021, 1, 1)
# Deliberate outliers for the on-line check: (line order index, marker index, offset in metres)
DISPLACED = {(0, 1): 8.0, (5, 5): 12.0}
LAST_INSPECTIONS = ["2019-05-20", "2023-04-12", "2018-10-09", "2022-06-30", "2024-03-15", "2020-11-02",
                    "2023-09-21", "2017-07-07", "2021-12-01"]


def _place(session: Session, line_id: str, fractions: list[float], offsets: list[float]) -> list[dict[str, Any]]:
    """Points at ``fractions`` of the line, pushed ``offsets`` metres to the left (negative: right)."""
    rows = session.execute(text("""
        WITH v AS (SELECT ST_LineMerge(geom) AS g FROM boundary_line_versions
                   WHERE line_id = :id AND valid_to IS NULL),
        line AS (SELECT CASE WHEN ST_GeometryType(g) = 'ST_LineString' THEN g
                             ELSE ST_GeometryN(g, 1) END AS g FROM v),
        f AS (SELECT ord, frac, off FROM unnest(CAST(:fr AS float8[]), CAST(:off AS float8[]))
              WITH ORDINALITY AS u(frac, off, ord)),
        p AS (SELECT f.ord, f.off, ST_LineInterpolatePoint(line.g, f.frac) AS m,
                     ST_LineInterpolatePoint(line.g, greatest(f.frac - 0.0005, 0)) AS a,
                     ST_LineInterpolatePoint(line.g, least(f.frac + 0.0005, 1)) AS b
              FROM f, line)
        SELECT ord, ST_X(m) AS x, ST_Y(m) AS y, ST_X(b) - ST_X(a) AS dx, ST_Y(b) - ST_Y(a) AS dy, off FROM p
        ORDER BY ord"""), {"id": line_id, "fr": fractions, "off": offsets}).mappings().all()
    out = []
    for r in rows:
        x, y, dx, dy, off = r["x"], r["y"], r["dx"], r["dy"], r["off"]
        if off and (dx or dy):
            k = math.cos(math.radians(y))
            ex, ey = dx * 111_320 * k, dy * 110_574  # metres east/north along the line
            n = math.hypot(ex, ey)
            nx, ny = -ey / n, ex / n  # left normal in metres
            x += nx * off / (111_320 * k)
            y += ny * off / 110_574
        out.append({"lon": x, "lat": y})
    return out


def load_demo_boundaries(session: Session) -> dict[str, Any]:
    """Derive county and township lines and place the synthetic markers; returns what was created."""
    county = lines.derive(session, Level.county, VALID_FROM, ACTOR, "demo: derive county lines")
    township = lines.derive(session, Level.township, VALID_FROM, ACTOR, "demo: derive township lines")
    feidong_lines = session.scalars(
        select(BoundaryLine).where(BoundaryLine.level == Level.county.value,
                                   (BoundaryLine.left_code == FEIDONG) | (BoundaryLine.right_code == FEIDONG))
        .order_by(BoundaryLine.line_no)
    ).all()
    created = 0
    for i, line in enumerate(feidong_lines):
        if line.agreement_ref is None:
            other = line.right_code if line.left_code == FEIDONG else line.left_code
            line.agreement_ref = f"示例协议书 {line.line_no}（合成示例）"
            line.detail_map_ref = f"示例界线详图 {line.line_no}-1:50000（合成示例）"
            line.responsible_left = f"{line.left_code} 民政部门"
            line.responsible_right = f"{line.right_code} 民政部门" if line.right_code else None
            line.last_inspection_on = dt.date.fromisoformat(LAST_INSPECTIONS[i % len(LAST_INSPECTIONS)])
            line.note = f"合成示例记录（与 {other} 相邻）"
        if session.scalar(select(BoundaryMarker.id).where(BoundaryMarker.line_id == line.line_id).limit(1)):
            continue
        length = float(session.execute(text(
            "SELECT length_m FROM boundary_line_versions WHERE line_id = :id AND valid_to IS NULL"),
            {"id": line.line_id}).scalar_one())
        n = max(2, int(length // SPACING_M) + 2)
        fractions = [min(max(j / (n - 1), 0.002), 0.998) for j in range(n)]
        extent = session.execute(text(
            "SELECT ST_XMax(geom) - ST_XMin(geom), ST_YMax(geom) - ST_YMin(geom) FROM boundary_line_versions "
            "WHERE line_id = :id AND valid_to IS NULL"), {"id": line.line_id}).one()
        specs: list[tuple[float, float, str]] = []  # fraction, offset, kind
        for j, f in enumerate(fractions):
            if j % 4 == 2:
                specs += [(f, 2.0, "pair"), (f, -2.0, "pair")]
            else:
                specs.append((f, DISPLACED.get((i, j), 0.0), "single"))
        points = _place(session, line.line_id, [s[0] for s in specs], [s[1] for s in specs])
        # Number west→east, or north→south when the line runs more north-south (domain.md §5).
        east_west = float(extent[0]) * math.cos(math.radians(31.9)) >= float(extent[1])
        order = sorted(range(0, len(specs)), key=lambda k: (points[k]["lon"] if east_west else -points[k]["lat"]))
        seq = 0
        done: set[int] = set()
        for k in order:
            if k in done:
                continue
            seq += 1
            group = [k]
            if specs[k][2] == "pair":
                partner = next(m for m in range(len(specs)) if m != k and specs[m][0] == specs[k][0])
                group = [k, partner] if specs[k][1] > 0 else [partner, k]
            for letter, m in zip("AB" if len(group) == 2 else "Q", group, strict=False):
                done.add(m)
                off = specs[m][1]
                displaced = specs[m][2] == "single" and off
                session.add(BoundaryMarker(
                    marker_no=f"{line.line_no}{seq:03d}{letter}", line_id=line.line_id, type_letter=letter,
                    geom=f"SRID=4490;POINT({points[m]['lon']!r} {points[m]['lat']!r})",
                    survey_method="图解", precision_m=0.5, surveyed_on=dt.date(2020, 10, 1),
                    material="花岗岩", status="damaged" if seq % 7 == 3 else "intact",
                    photos=[{"ref": f"demo/{line.line_no}{seq:03d}{letter}.jpg", "caption": "合成示例占位照片"}],
                    valid_from=VALID_FROM, source="synthetic",
                    note=(f"合成示例界桩，有意偏离界线 {off:g} 米，供界桩在线检查发现"
                          if displaced else "合成示例界桩，位于推导界线上"),
                ))
                created += 1
    session.flush()
    return {"county_lines": county.as_dict(), "township_lines": township.as_dict(), "markers_created": created,
            "feidong_county_lines": len(feidong_lines)}
