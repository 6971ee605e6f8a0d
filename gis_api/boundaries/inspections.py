"""Joint inspections (联检) and the issues they raise (domain.md §5)."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis_api.audit import service as audit
from gis_api.boundaries import lines
from gis_api.boundaries import markers as markers_mod
from gis_api.boundaries.models import (
    BoundaryIssue,
    BoundaryLine,
    BoundaryMarker,
    InspectionFinding,
    JointInspection,
    MarkerStatus,
)
from gis_api.boundaries.schemas import InspectionCreate, InspectionFiling, InspectionKind, IssueResolve
from gis_api.concurrency import Versioned, make_etag
from gis_api.errors import Conflict, InvalidInput, NotFound
from gis_api.when import not_after_today

RISK_ORDER = {"low": 0, "medium": 1, "high": 2}


def raise_issue(session: Session, line_id: str, kind: str, description: str, on: dt.date, *,
                marker_no: str | None = None, risk: str = "medium", inspection_id: int | None = None,
                patrol_id: int | None = None, distance_m: float | None = None, geom: str | None = None
                ) -> BoundaryIssue:
    """Open an issue, or update the open one of the same marker and problem (``kind``): each inspection or
    patrol that finds a damaged marker again confirms the issue, it does not open another one. The update keeps
    who opened it and when, and records when it was last reported, how often, the higher risk and the latest
    description (and, for a displacement, the latest surveyed position)."""
    if marker_no is not None:
        open_id = session.scalar(select(BoundaryIssue.id).where(
            BoundaryIssue.marker_no == marker_no, BoundaryIssue.kind == kind, BoundaryIssue.status == "open"))
        if open_id is not None:
            issue = ISSUE_GUARD.hold(session, open_id, missing=lambda: _no_issue(open_id))
            issue.reports += 1
            issue.last_reported_on = max(on, issue.last_reported_on or issue.opened_on)
            issue.description = description
            if RISK_ORDER[risk] > RISK_ORDER.get(issue.risk, 1):
                issue.risk = risk
            if distance_m is not None:
                issue.distance_m = distance_m
                issue.geom = geom
                issue.patrol_id = patrol_id or issue.patrol_id
            session.flush()
            return issue
    issue = BoundaryIssue(line_id=line_id, kind=kind, description=description, opened_on=on, marker_no=marker_no,
                          risk=risk, inspection_id=inspection_id, patrol_id=patrol_id, distance_m=distance_m,
                          geom=geom, last_reported_on=on)
    session.add(issue)
    session.flush()
    return issue


def _check_dates(body: InspectionCreate) -> None:
    not_after_today(body.inspected_on, "inspected_on", "an inspection", "联检",
                    plan_field="next_inspection_planned_on")
    for i, s in enumerate(body.signatures):
        not_after_today(s.signed_on, f"signatures.{i}.signed_on", "a signature", "签字")
    not_after_today(body.filed_on, "filed_on", "a filing", "归档")


def create(session: Session, body: InspectionCreate, actor: str) -> JointInspection:
    _check_dates(body)
    if session.get(BoundaryLine, body.line_id) is None:
        raise InvalidInput(f"no boundary line {body.line_id}", f"不存在界线 {body.line_id}", field="line_id")
    # The inspection moves the line's cycle date and the markers' status from what it reads: both are locked
    # (line first, then markers in order) and re-read, as any write of them is.
    line = lines.hold(session, body.line_id)
    on_line = set(session.scalars(select(BoundaryMarker.marker_no).where(BoundaryMarker.line_id == line.line_id)))
    seen: set[str] = set()
    for i, f in enumerate(body.findings):
        if f.marker_no not in on_line:
            raise InvalidInput(
                f"marker {f.marker_no} is not a marker of line {line.line_id}",
                f"界桩 {f.marker_no} 不属于界线 {line.line_id}", field=f"findings.{i}.marker_no", rule="§5",
            )
        if f.marker_no in seen:
            raise InvalidInput(f"marker {f.marker_no} appears twice", f"界桩 {f.marker_no} 重复出现",
                               field=f"findings.{i}.marker_no")
        seen.add(f.marker_no)
    sides = {s.side for s in body.signatures}
    if body.filed_on and sides != {"left", "right"}:
        raise InvalidInput(
            "a filed inspection record needs the signatures of both sides",
            "归档的联检记录须有双方签字", field="signatures", rule="§5",
        )
    markers = {no: markers_mod.hold(session, no) for no in sorted(seen)}
    audit.set_context(session, actor, body.reason)
    row = JointInspection(
        line_id=line.line_id, inspected_on=body.inspected_on, kind=body.kind.value,
        team_left=body.team_left.model_dump(), team_right=body.team_right.model_dump(),
        landmarks=body.landmarks, feature_changes=body.feature_changes, one_sided_markers=body.one_sided_markers,
        structures=body.structures, disputes=[d.model_dump() for d in body.disputes],
        signatures=[s.model_dump(mode="json") for s in body.signatures], filed_on=body.filed_on,
        filing_ref=body.filing_ref, note=body.note, created_by=actor,
    )
    session.add(row)
    session.flush()
    on = body.inspected_on
    for f in body.findings:
        session.add(InspectionFinding(inspection_id=row.id, marker_no=f.marker_no, present=f.present,
                                      damaged=f.damaged, moved=f.moved, legible=f.legible, cleared=f.cleared,
                                      photo=f.photo, note=f.note))
        marker = markers[f.marker_no]
        new_status: MarkerStatus | None = None
        if not f.present:
            new_status = MarkerStatus.missing
            raise_issue(session, line.line_id, "marker_missing", f"界桩 {f.marker_no} 丢失", on,
                        marker_no=f.marker_no, risk="high", inspection_id=row.id)
        else:
            if f.moved:
                new_status = MarkerStatus.moved
                raise_issue(session, line.line_id, "marker_moved", f"界桩 {f.marker_no} 移位", on,
                            marker_no=f.marker_no, risk="high", inspection_id=row.id)
            if f.damaged:
                new_status = new_status or MarkerStatus.damaged
                raise_issue(session, line.line_id, "marker_damaged", f"界桩 {f.marker_no} 损坏", on,
                            marker_no=f.marker_no, inspection_id=row.id)
            if not f.legible:
                raise_issue(session, line.line_id, "marker_illegible", f"界桩 {f.marker_no} 字迹不清", on,
                            marker_no=f.marker_no, risk="low", inspection_id=row.id)
            if not f.cleared:
                raise_issue(session, line.line_id, "marker_overgrown", f"界桩 {f.marker_no} 周边未清理", on,
                            marker_no=f.marker_no, risk="low", inspection_id=row.id)
            if new_status is None and marker.status in (MarkerStatus.damaged, MarkerStatus.missing):
                new_status = MarkerStatus.intact  # found repaired
        if new_status is not None and marker.status != new_status.value:
            marker.status = new_status.value
    for d in body.disputes:
        raise_issue(session, line.line_id, "dispute", d.description, on, risk=d.risk.value, inspection_id=row.id)
    for s in body.structures:
        raise_issue(session, line.line_id, "structure", str(s.get("description") or s), on, inspection_id=row.id)
    for m in body.one_sided_markers:
        raise_issue(session, line.line_id, "one_sided_marker", str(m.get("description") or m), on,
                    inspection_id=row.id)
    for c in body.feature_changes:
        if c.get("risk"):
            raise_issue(session, line.line_id, "feature_change", str(c.get("description") or c), on,
                        risk=str(c["risk"]) if c["risk"] in ("low", "medium", "high") else "medium",
                        inspection_id=row.id)
    if body.kind is InspectionKind.periodic and (line.last_inspection_on is None or on > line.last_inspection_on):
        line.last_inspection_on = on  # the 5-year cycle restarts with a periodic joint inspection
    if body.next_inspection_planned_on is not None:
        line.next_inspection_planned_on = body.next_inspection_planned_on
    session.flush()
    session.refresh(row)
    return row


def etag(row: JointInspection) -> str:
    return make_etag("i", row.id, row.version)


def issue_etag(issue: BoundaryIssue) -> str:
    return make_etag("q", issue.id, issue.version)


def _no_inspection(inspection_id: int) -> NotFound:
    return NotFound(f"no inspection {inspection_id}", f"不存在联检记录 {inspection_id}", field="id")


def _no_issue(issue_id: int) -> NotFound:
    return NotFound(f"no issue {issue_id}", f"不存在问题 {issue_id}", field="id")


def get(session: Session, inspection_id: int) -> JointInspection:
    row = session.get(JointInspection, inspection_id)
    if row is None:
        raise _no_inspection(inspection_id)
    return row


def as_dict(session: Session, row: JointInspection) -> dict[str, Any]:
    findings = session.scalars(
        select(InspectionFinding).where(InspectionFinding.inspection_id == row.id).order_by(InspectionFinding.marker_no)
    ).all()
    issues = session.scalars(select(BoundaryIssue).where(BoundaryIssue.inspection_id == row.id)).all()
    return {
        "id": row.id, "line_id": row.line_id, "inspected_on": row.inspected_on.isoformat(), "kind": row.kind,
        "team_left": row.team_left, "team_right": row.team_right, "landmarks": row.landmarks,
        "feature_changes": row.feature_changes, "one_sided_markers": row.one_sided_markers,
        "structures": row.structures, "disputes": row.disputes, "signatures": row.signatures,
        "filed_on": row.filed_on.isoformat() if row.filed_on else None, "filing_ref": row.filing_ref,
        "note": row.note, "created_by": row.created_by, "version": row.version,
        "findings": [
            {"marker_no": f.marker_no, "present": f.present, "damaged": f.damaged, "moved": f.moved,
             "legible": f.legible, "cleared": f.cleared, "photo": f.photo, "note": f.note} for f in findings
        ],
        "issues": [issue_dict(i) for i in issues],
    }


GUARD = Versioned(
    model=JointInspection, key=JointInspection.id, etag=etag,
    label=lambda r: (f"inspection {r.id}", f"联检记录 {r.id} "),
    body=lambda s, r: json.dumps(as_dict(s, r), ensure_ascii=False),
)


def file(session: Session, inspection_id: int, body: InspectionFiling, if_match: str | None,
         actor: str) -> JointInspection:
    row = GUARD.lock(session, inspection_id, if_match, missing=lambda: _no_inspection(inspection_id))
    if row.filed_on is not None:
        raise Conflict(f"inspection {inspection_id} was filed on {row.filed_on}",
                       f"联检记录 {inspection_id} 已于 {row.filed_on} 归档", field="filed_on")
    not_after_today(body.filed_on, "filed_on", "a filing", "归档")
    for i, s in enumerate(body.signatures or ()):
        not_after_today(s.signed_on, f"signatures.{i}.signed_on", "a signature", "签字")
    # Signatures already recorded (given at the inspection) count: one sent now adds a side or replaces the
    # recorded signature of its side.
    by_side = {s["side"]: s for s in row.signatures}
    by_side.update((s.side, s.model_dump(mode="json")) for s in body.signatures or ())
    signatures = [by_side[side] for side in sorted(by_side)]
    if set(by_side) != {"left", "right"}:
        raise InvalidInput("filing needs the signatures of both sides", "归档须有双方签字", field="signatures",
                           rule="§5")
    audit.set_context(session, actor, body.reason)
    row.signatures = signatures
    row.filed_on = body.filed_on
    row.filing_ref = body.filing_ref
    session.flush()
    session.refresh(row)
    return row


def issue_dict(i: BoundaryIssue) -> dict[str, Any]:
    return {
        "id": i.id, "line_id": i.line_id, "marker_no": i.marker_no, "kind": i.kind, "description": i.description,
        "risk": i.risk, "status": i.status, "opened_on": i.opened_on.isoformat(),
        "resolved_on": i.resolved_on.isoformat() if i.resolved_on else None, "resolution": i.resolution,
        "distance_m": i.distance_m, "inspection_id": i.inspection_id, "patrol_id": i.patrol_id,
        "last_reported_on": i.last_reported_on.isoformat() if i.last_reported_on else None, "reports": i.reports,
        "version": i.version,
    }


ISSUE_GUARD = Versioned(
    model=BoundaryIssue, key=BoundaryIssue.id, etag=issue_etag,
    label=lambda r: (f"issue {r.id}", f"问题 {r.id} "),
    body=lambda _s, r: json.dumps(issue_dict(r), ensure_ascii=False),
)


def list_issues(session: Session, *, line_id: str | None, status: str | None) -> list[dict[str, Any]]:
    stmt = select(BoundaryIssue).order_by(BoundaryIssue.id)
    if line_id:
        stmt = stmt.where(BoundaryIssue.line_id == line_id)
    if status:
        stmt = stmt.where(BoundaryIssue.status == status)
    return [issue_dict(i) for i in session.scalars(stmt)]


def resolve_issue(session: Session, issue_id: int, body: IssueResolve, if_match: str | None,
                  actor: str) -> BoundaryIssue:
    issue = ISSUE_GUARD.lock(session, issue_id, if_match, missing=lambda: _no_issue(issue_id))
    if issue.status == "resolved":
        raise Conflict(f"issue {issue_id} is already resolved", f"问题 {issue_id} 已解决", field="status")
    not_after_today(body.resolved_on, "resolved_on", "a resolution", "问题解决")
    if body.resolved_on < issue.opened_on:
        raise InvalidInput("resolved_on is before the issue was opened", "解决日期早于问题登记日期",
                           field="resolved_on")
    audit.set_context(session, actor, body.reason)
    issue.status = "resolved"
    issue.resolved_on = body.resolved_on
    issue.resolution = body.resolution
    session.flush()
    session.refresh(issue)
    return issue


def list_inspections(session: Session, line_id: str | None) -> list[dict[str, Any]]:
    rows = session.execute(
        text("""SELECT i.id, i.line_id, i.inspected_on, i.kind, i.filed_on, i.filing_ref,
                       (SELECT count(*) FROM boundary_inspection_findings f WHERE f.inspection_id = i.id) AS findings
                FROM boundary_inspections i WHERE CAST(:line AS text) IS NULL OR i.line_id = :line
                ORDER BY i.inspected_on DESC, i.id DESC"""), {"line": line_id},
    ).mappings().all()
    return [{**dict(r), "inspected_on": r["inspected_on"].isoformat(),
             "filed_on": r["filed_on"].isoformat() if r["filed_on"] else None} for r in rows]
