"""Sync of a phone's offline queue: each change in its own transaction, idempotent by its client-made id.

A change that applied is stored with its result (``field_changes``); sent again it returns that result and writes
nothing. A marker changed meanwhile by someone else (the change's ``base_etag`` is not the marker's version) is a
conflict: nothing is written, and the user gets both versions to decide. Every write goes through the boundary
services (markers.update → concurrency.Versioned, patrols.upload, inspections.raise_issue).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from typing import Any

import gpxpy.gpx
from geoalchemy2.shape import to_shape
from pydantic import BaseModel, ValidationError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.audit import service as audit
from gis_api.boundaries import inspections, lines, markers, patrols
from gis_api.boundaries.schemas import CoordSystem, MarkerUpdate
from gis_api.boundaries.settings import BoundarySettings
from gis_api.errors import (
    DimingError,
    InvalidInput,
    PreconditionFailed,
    PreconditionRequired,
    database_error,
    validation_message_zh,
)
from gis_api.field import attachments
from gis_api.field.models import FieldChange
from gis_api.field.schemas import Attach, Change, IssueReport, MarkerVisit, PatrolTrack, SyncRequest
from gis_api.limits import LimitSettings, too_large
from gis_api.when import not_after_today

STATUS_ISSUE = {"damaged": ("marker_damaged", "medium"), "missing": ("marker_missing", "high")}


class _Conflict(Exception):
    def __init__(self, entry: dict[str, Any]) -> None:
        super().__init__("conflict")
        self.entry = entry


def digest(raw: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(raw, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                                     default=str).encode()).hexdigest()


def _invalid(exc: ValidationError, prefix: str) -> InvalidInput:
    first = exc.errors()[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    field = f"{prefix}.{where}" if where else prefix
    return InvalidInput(f"{field}: {first.get('msg', 'invalid')}", validation_message_zh(first), field=field,
                        rule=str(first.get("type", "")) or None)


def _parse(model: type[BaseModel], data: dict[str, Any], prefix: str) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise _invalid(exc, prefix) from None


def _day(recorded_at: dt.datetime | None, given: dt.date | None) -> dt.date:
    if given is not None:
        return given
    if recorded_at is not None and recorded_at.tzinfo is not None:
        return recorded_at.astimezone(clock.zone()).date()
    return clock.today()


def _link_all(session: Session, refs: list[Any], kind: str, key: str, user: str) -> list[str]:
    for i, ref in enumerate(refs):
        try:
            attachments.link(session, ref.sha256, kind, key, ref.caption, user)
        except DimingError as exc:
            exc.field = f"data.attachments.{i}.sha256"
            raise
    return [r.sha256 for r in refs]


# -- the kinds of change ----------------------------------------------------------------------------------------

def _marker_visit(session: Session, change: Change, user: str, bsettings: BoundarySettings) -> dict[str, Any]:
    visit: MarkerVisit = _parse(MarkerVisit, change.data, "data")
    on = _day(change.recorded_at, visit.visited_on)
    not_after_today(on, "data.visited_on", "a visit", "巡查")
    result: dict[str, Any] = {"marker_no": visit.marker_no}
    if visit.status is not None or visit.note is not None:
        if not change.base_etag:
            raise PreconditionRequired(
                "a marker's state is changed on the version it was based on: give base_etag",
                "修改界桩状态须给出所依据的版本标签", field="base_etag")
        body = MarkerUpdate(reason=f"巡查记录（离线同步 {change.change_id}）",
                            status=visit.status.value if visit.status else None, note=visit.note)
        try:
            row = markers.update(session, visit.marker_no, body, change.base_etag, user)
        except PreconditionFailed as exc:
            raise _Conflict({
                "marker_no": visit.marker_no, "base_etag": change.base_etag, "etag": exc.extra.get("etag"),
                "current": exc.extra.get("current"), "mine": change.data,
                "message": exc.message, "message_zh": exc.message_zh,
            }) from None
    else:
        row = markers.hold(session, visit.marker_no)  # nothing of the marker changes; its children are added
    audit.set_context(session, user, f"巡查记录（离线同步 {change.change_id}）")
    if visit.status is not None and visit.status.value in STATUS_ISSUE:
        kind, risk = STATUS_ISSUE[visit.status.value]
        issue = inspections.raise_issue(session, row.line_id, kind,
                                        f"巡查发现界桩 {row.marker_no} {'损坏' if kind == 'marker_damaged' else '丢失'}"
                                        + (f"：{visit.note}" if visit.note else ""),
                                        on, marker_no=row.marker_no, risk=risk)
        result["issue_id"] = issue.id
    if visit.measured is not None:
        m = visit.measured
        point = _ewkt(markers.to_point(m.lon, m.lat, m.coord_system, field="data.measured.lon"))
        distance = _distance(session, row.id, point)
        lonlat = _lonlat(point)
        result.update({"measured": list(lonlat), "distance_m": round(distance, 3),
                       "tolerance_m": bsettings.marker_tolerance_m,
                       "displaced": distance > bsettings.marker_tolerance_m})
        if distance > bsettings.marker_tolerance_m:
            # The register keeps its position (a marker moves only by agreement, domain.md §5): the finding is an
            # issue with the measured position, as a GPX waypoint's would be.
            issue = inspections.raise_issue(
                session, row.line_id, "displacement",
                (f"界桩 {row.marker_no} 实测位置距登记位置 {distance:.2f} 米，超过容差 "
                 f"{bsettings.marker_tolerance_m:g} 米"),
                on, marker_no=row.marker_no, risk="high", distance_m=distance, geom=point)
            result["displacement_issue_id"] = issue.id
    result["attachments"] = _link_all(session, visit.attachments, "marker", row.marker_no, user)
    session.flush()
    session.refresh(row)
    result.update({"etag": markers.etag(row), "version": row.version, "status": row.status})
    return result


def _ewkt(point: Any) -> str:
    """EWKT of a point made by ``markers.to_point`` (which checks the range and converts GCJ-02)."""
    geom = to_shape(point)
    return f"SRID=4490;POINT({geom.x!r} {geom.y!r})"


def _lonlat(ewkt: str) -> tuple[float, float]:
    x, y = ewkt.split("(", 1)[1].rstrip(")").split()
    return float(x), float(y)


def _distance(session: Session, marker_id: int, ewkt: str) -> float:
    return float(session.execute(
        text("SELECT ST_Distance(m.geom::geography, ST_GeomFromEWKT(:p)::geography) FROM boundary_markers m "
             "WHERE m.id = :id"), {"p": ewkt, "id": marker_id}).scalar_one())


def _gpx(track: PatrolTrack) -> tuple[bytes, int]:
    """The track as GPX (the patrol service's input, so coverage follows the one rule), and how many points
    were dropped for a poor accuracy."""
    doc = gpxpy.gpx.GPX()
    trk = gpxpy.gpx.GPXTrack()
    seg = gpxpy.gpx.GPXTrackSegment()
    dropped = 0
    for lon, lat, when, accuracy in track.track:
        if accuracy is not None and accuracy > track.max_accuracy_m:
            dropped += 1
            continue
        seg.points.append(gpxpy.gpx.GPXTrackPoint(latitude=lat, longitude=lon, time=when))
    trk.segments.append(seg)
    doc.tracks.append(trk)
    return doc.to_xml().encode(), dropped


def _patrol(session: Session, change: Change, user: str, bsettings: BoundarySettings,
            limits: LimitSettings) -> dict[str, Any]:
    track: PatrolTrack = _parse(PatrolTrack, change.data, "data")
    if len(track.track) > limits.field_track_points:
        raise too_large("the track", "轨迹点数", limits.field_track_points, "field_track_points",
                        field="data.track")
    data, dropped = _gpx(track)
    if len(track.track) - dropped < 2:
        raise InvalidInput(f"fewer than two points are within the accuracy of {track.max_accuracy_m:g} m",
                           f"精度在 {track.max_accuracy_m:g} 米以内的轨迹点不足两个", field="data.track")
    out = patrols.upload(session, track.line_id, data, file_name=f"field-{change.change_id}.gpx",
                         patrolled_by=user, patrolled_on=track.patrolled_on, buffer_m=None, gcj02=track.gcj02,
                         settings=bsettings, actor=user)
    out.pop("track_points", None)
    out.pop("unknown_markers", None)
    out.pop("confirmed_positions", None)
    out["attachments"] = _link_all(session, track.attachments, "patrol", str(out["id"]), user)
    return {**out, "points": len(track.track) - dropped, "points_dropped": dropped}


def _issue(session: Session, change: Change, user: str) -> dict[str, Any]:
    body: IssueReport = _parse(IssueReport, change.data, "data")
    on = _day(change.recorded_at, body.opened_on)
    not_after_today(on, "data.opened_on", "an issue", "问题")
    lines.get_line(session, body.line_id)
    if body.marker_no is not None:
        marker = markers.hold(session, body.marker_no)
        if marker.line_id != body.line_id:
            raise InvalidInput(f"marker {body.marker_no} is not on line {body.line_id}",
                               f"界桩 {body.marker_no} 不在界线 {body.line_id} 上", field="data.marker_no")
    geom = None
    if (body.lon is None) != (body.lat is None):
        raise InvalidInput("give both lon and lat", "须同时填写经度和纬度", field="data.lon")
    if body.lon is not None and body.lat is not None:
        geom = _ewkt(markers.to_point(body.lon, body.lat, CoordSystem.wgs84, field="data.lon"))
    audit.set_context(session, user, f"巡查发现问题（离线同步 {change.change_id}）")
    issue = inspections.raise_issue(session, body.line_id, body.kind.value, body.description, on,
                                    marker_no=body.marker_no, risk=body.risk.value, geom=geom)
    linked = _link_all(session, body.attachments, "issue", str(issue.id), user)
    return {**inspections.issue_dict(issue), "etag": inspections.issue_etag(issue), "attachments": linked}


def _attach(session: Session, change: Change, user: str) -> dict[str, Any]:
    body: Attach = _parse(Attach, change.data, "data")
    audit.set_context(session, user, f"附件（离线同步 {change.change_id}）")
    created = attachments.link(session, body.sha256, body.kind, body.key, body.caption, user)
    return {"kind": body.kind, "key": body.key, "sha256": body.sha256, "linked": created}


# -- the queue --------------------------------------------------------------------------------------------------

def _one(session: Session, index: int, raw: Any, device: str | None, user: str, bsettings: BoundarySettings,
         limits: LimitSettings) -> dict[str, Any]:
    change_id = raw.get("change_id") if isinstance(raw, dict) else None
    kind = raw.get("kind") if isinstance(raw, dict) else None
    head: dict[str, Any] = {"change_id": change_id, "kind": kind, "replayed": False}
    if not isinstance(raw, dict):
        return {**head, "status": "rejected", "error": InvalidInput(
            "a change must be an object", "每项修改须为对象", field=f"changes.{index}").body()}
    try:
        change: Change = _parse(Change, raw, f"changes.{index}")
    except InvalidInput as exc:
        return {**head, "status": "rejected", "error": exc.body()}
    fingerprint = digest(raw)
    # Senders of the same change queue here; the second sees the first's stored result.
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext('field_changes'), hashtext(:c))"),
                    {"c": change.change_id})
    done = session.get(FieldChange, change.change_id, populate_existing=True)
    if done is not None:
        if done.digest != fingerprint or done.username != user:
            return {**head, "status": "rejected", "error": InvalidInput(
                f"change {change.change_id} was already applied with other content; give a new change_id",
                f"修改 {change.change_id} 已以不同内容提交过，请使用新的修改编号",
                field=f"changes.{index}.change_id", code="idempotency_mismatch", rule="idempotency").body()}
        return {**head, "status": "applied", "replayed": True, "result": done.result}
    appliers: dict[str, Callable[[], dict[str, Any]]] = {
        "marker_visit": lambda: _marker_visit(session, change, user, bsettings),
        "patrol": lambda: _patrol(session, change, user, bsettings, limits),
        "issue": lambda: _issue(session, change, user),
        "attach": lambda: _attach(session, change, user),
    }
    result = appliers[change.kind]()
    result = json.loads(json.dumps(result, default=str))  # what is stored is exactly what a replay returns
    session.add(FieldChange(change_id=change.change_id, username=user, kind=change.kind, digest=fingerprint,
                            device=device, result=result))
    session.flush()
    return {**head, "status": "applied", "result": result}


def apply(session: Session, body: SyncRequest, user: str, bsettings: BoundarySettings,
          limits: LimitSettings) -> dict[str, Any]:
    """Apply the queue in order, one transaction per change; a change that fails writes nothing."""
    if len(body.changes) > limits.field_sync_changes:
        raise too_large("the sync request (changes)", "一次同步的修改条数", limits.field_sync_changes,
                        "field_sync_changes", field="changes")
    session.commit()  # what the request did so far (the login's last-seen time) is not undone by a change
    results = []
    for i, raw in enumerate(body.changes):
        try:
            out = _one(session, i, raw, body.device, user, bsettings, limits)
            if out["status"] == "applied" and not out["replayed"]:
                session.commit()
            else:
                session.rollback()
        except _Conflict as exc:
            session.rollback()
            out = {"change_id": raw.get("change_id"), "kind": raw.get("kind"), "replayed": False,
                   "status": "conflict", "conflict": exc.entry}
        except DimingError as exc:
            session.rollback()
            out = {"change_id": raw.get("change_id"), "kind": raw.get("kind"), "replayed": False,
                   "status": "rejected", "error": exc.body()}
        except DBAPIError as exc:
            session.rollback()
            mapped = database_error(exc)
            if mapped is None:
                raise
            out = {"change_id": raw.get("change_id"), "kind": raw.get("kind"), "replayed": False,
                   "status": "rejected", "error": mapped.body()}
        results.append(out)
    counts = {s: sum(1 for r in results if r["status"] == s) for s in ("applied", "conflict", "rejected")}
    return {
        "results": results,
        "applied": sum(1 for r in results if r["status"] == "applied" and not r["replayed"]),
        "replayed": sum(1 for r in results if r["replayed"]),
        "conflicts": counts["conflict"], "rejected": counts["rejected"],
    }
