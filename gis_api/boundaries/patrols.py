"""GPX patrols: coverage of a line by a track and markers visited, computed in PostGIS on geography."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.audit import service as audit
from gis_api.boundaries import gpx, inspections
from gis_api.boundaries.models import BoundaryLine, BoundaryMarker, Patrol
from gis_api.boundaries.settings import BoundarySettings
from gis_api.errors import InvalidInput, NotFound
from gis_api.when import not_after_today

COVERAGE_SQL = """
WITH t AS (SELECT ST_GeomFromEWKT(:track) AS g),
l AS (SELECT geom FROM boundary_line_versions WHERE line_id = :line_id AND valid_from <= :on
      AND (valid_to IS NULL OR valid_to > :on)),
zone AS (SELECT ST_SetSRID(ST_Buffer(t.g::geography, :buffer)::geometry, 4490) AS z FROM t)
SELECT ST_Length(l.geom::geography) AS line_length_m,
       ST_Length(t.g::geography) AS track_length_m,
       coalesce(ST_Length(ST_Intersection(l.geom, zone.z)::geography), 0) AS covered_m
FROM l, t, zone
"""

VISITED_SQL = """
WITH t AS (SELECT ST_GeomFromEWKT(:track) AS g)
SELECT m.marker_no FROM boundary_markers m, t
WHERE m.line_id = :line_id AND m.valid_from <= :on AND (m.valid_to IS NULL OR m.valid_to > :on)
  AND ST_DWithin(m.geom::geography, t.g::geography, :visit)
ORDER BY m.marker_no
"""


def upload(session: Session, line_id: str, data: bytes, *, file_name: str | None, patrolled_by: str,
           patrolled_on: dt.date | None, buffer_m: float | None, gcj02: bool, settings: BoundarySettings,
           actor: str) -> dict[str, Any]:
    line = session.get(BoundaryLine, line_id)
    if line is None:
        raise NotFound(f"no boundary line {line_id}", f"不存在界线 {line_id}", field="line_id")
    parsed = gpx.parse(data, gcj02=gcj02)
    if not parsed.parts:
        raise InvalidInput("the GPX file has no track of two or more points", "GPX 文件中没有至少两个点的轨迹",
                           field="file")
    # A track's time stamps are UTC: its day is the bureau's day (DIMING_TIMEZONE) of the first point.
    on = patrolled_on or (parsed.start.astimezone(clock.zone()).date() if parsed.start else clock.today())
    not_after_today(on, "patrolled_on", "a patrol", "巡查")
    buffer = buffer_m if buffer_m is not None else settings.patrol_buffer_m
    if buffer <= 0:
        raise InvalidInput("buffer_m must be positive", "缓冲距离须为正数", field="buffer_m")
    track = parsed.ewkt()
    figures = session.execute(
        text(COVERAGE_SQL), {"track": track, "line_id": line_id, "on": on, "buffer": buffer}
    ).mappings().first()
    if figures is None:
        raise InvalidInput(f"line {line_id} is not in force on {on}", f"界线 {line_id} 在 {on} 时不存在",
                           field="patrolled_on")
    visited = list(session.scalars(
        text(VISITED_SQL), {"track": track, "line_id": line_id, "on": on, "visit": settings.patrol_visit_m}
    ))
    line_len = float(figures["line_length_m"])
    covered = min(float(figures["covered_m"]), line_len)
    audit.set_context(session, actor, f"GPX patrol upload {file_name or ''}".strip())
    patrol = Patrol(
        line_id=line_id, patrolled_on=on, patrolled_by=patrolled_by, file_name=file_name,
        track=f"SRID=4490;{track.split(';', 1)[1]}", track_length_m=float(figures["track_length_m"]),
        buffer_m=buffer, line_length_m=line_len, covered_m=covered, coverage=covered / line_len if line_len else 0.0,
        markers_visited=visited,
    )
    session.add(patrol)
    session.flush()

    # Named waypoints are newly surveyed marker positions: compare with the register.
    alerts: list[dict[str, Any]] = []
    confirmed: list[dict[str, Any]] = []
    unknown: list[str] = []
    for w in parsed.waypoints:
        if w.marker_no is None:
            continue
        marker = session.scalars(select(BoundaryMarker).where(BoundaryMarker.marker_no == w.marker_no)).first()
        if marker is None:
            unknown.append(w.marker_no)
            continue
        distance = float(session.execute(
            text("SELECT ST_Distance(m.geom::geography, ST_SetSRID(ST_MakePoint(:x, :y), 4490)::geography) "
                 "FROM boundary_markers m WHERE m.id = :id"), {"x": w.lon, "y": w.lat, "id": marker.id},
        ).scalar_one())
        item = {"marker_no": marker.marker_no, "distance_m": round(distance, 3), "surveyed": [w.lon, w.lat]}
        if distance > settings.marker_tolerance_m:
            # The same marker found displaced again updates its open issue (the latest position and distance).
            issue = inspections.raise_issue(
                session, marker.line_id, "displacement",
                (f"界桩 {marker.marker_no} 新测位置距登记位置 {distance:.2f} 米，超过容差 "
                 f"{settings.marker_tolerance_m:g} 米"),
                on, marker_no=marker.marker_no, risk="high", distance_m=distance, patrol_id=patrol.id,
                geom=f"SRID=4490;POINT({w.lon!r} {w.lat!r})",
            )
            alerts.append({**item, "issue_id": issue.id, "tolerance_m": settings.marker_tolerance_m})
        else:
            confirmed.append(item)
        if marker.marker_no not in visited:
            visited.append(marker.marker_no)
    patrol.markers_visited = sorted(visited)
    session.flush()
    return {
        "id": patrol.id, "line_id": line_id, "patrolled_on": on.isoformat(), "patrolled_by": patrolled_by,
        "buffer_m": buffer, "line_length_m": round(line_len, 2), "track_length_m": round(patrol.track_length_m, 2),
        "covered_m": round(covered, 2), "coverage": round(patrol.coverage, 6),
        "markers_visited": patrol.markers_visited, "displacement_alerts": alerts, "confirmed_positions": confirmed,
        "unknown_markers": unknown, "track_points": parsed.points,
    }


def get(session: Session, patrol_id: int) -> dict[str, Any]:
    row = session.execute(
        text("""SELECT id, line_id, patrolled_on, patrolled_by, file_name, buffer_m, line_length_m, track_length_m,
                       covered_m, coverage, markers_visited, ST_AsGeoJSON(track, 7, 0)::json AS track
                FROM boundary_patrols WHERE id = :id"""), {"id": patrol_id},
    ).mappings().first()
    if row is None:
        raise NotFound(f"no patrol {patrol_id}", f"不存在巡查记录 {patrol_id}", field="id")
    return {**dict(row), "patrolled_on": row["patrolled_on"].isoformat()}
