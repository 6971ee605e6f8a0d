"""HTTP routes for boundary lines, topology, markers, inspections, patrols, issues and the 平安边界 report."""

from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Header, Query, Request, Response, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse

from gis_api import auth, fast_reads
from gis_api.boundaries import inspections, lines, markers, patrols, report, topology
from gis_api.boundaries.schemas import (
    InspectionCreate,
    InspectionFiling,
    IssueResolve,
    LineUpdate,
    MarkerCreate,
    MarkerUpdate,
)
from gis_api.boundaries.settings import BoundarySettings, load_boundary_settings
from gis_api.deps import AsOf, CurrentUser, ReadAccess, SessionDep, SettingsDep
from gis_api.divisions.models import Level
from gis_api.divisions.routes import _next_url
from gis_api.errors import InvalidInput
from gis_api.openapi_doc import CSV, HTML, media

GEOJSON = "application/geo+json"
PATROL = (auth.Role.admin, auth.Role.patrol)
LINE_EDITORS = (auth.Role.admin, auth.Role.officer, auth.Role.patrol)
DERIVERS = (auth.Role.admin, auth.Role.officer)

BoundarySettingsDep = Annotated[BoundarySettings, Depends(load_boundary_settings)]

router = APIRouter(prefix="/api/v1/boundaries", tags=["boundaries"])
markers_router = APIRouter(prefix="/api/v1/boundary-markers", tags=["boundary markers"])
inspections_router = APIRouter(prefix="/api/v1/boundary-inspections", tags=["joint inspections"])
patrols_router = APIRouter(prefix="/api/v1/boundary-patrols", tags=["patrols"])
issues_router = APIRouter(prefix="/api/v1/boundary-issues", tags=["boundary issues"])
ROUTERS = (router, markers_router, inspections_router, patrols_router, issues_router)


@router.get("", summary="Boundary lines in force on a date, as GeoJSON", responses=media(GEOJSON))
def list_lines(
    request: Request, session: SessionDep, settings: SettingsDep, bsettings: BoundarySettingsDep,
    _user: ReadAccess, as_of: AsOf,
    level: Level | None = None,
    code: Annotated[str | None, Query(description="lines touching this division")] = None,
    parent: Annotated[str | None, Query(description="all lines of this division's children, outer edges too")] = None,
    outer: Annotated[bool | None, Query(description="only outer edges (true) or only shared lines (false)")] = None,
    limit: Annotated[int, Query(ge=1)] = 1000, offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    limit = min(limit, settings.server.max_limit)
    q = lines.LineQuery(as_of=as_of, level=level, code=code, parent=parent, outer=outer, limit=limit, offset=offset)
    return Response(lines.list_geojson(session, q, bsettings, _next_url(request, offset, limit)), media_type=GEOJSON)


@router.post("/derive", summary="Derive the lines of a level from its division polygons (admin, officer)")
def derive_lines(
    session: SessionDep, user: CurrentUser, level: Level, as_of: AsOf,
) -> dict[str, Any]:
    auth.require(user, *DERIVERS)
    return lines.derive(session, level, as_of, user.username, f"derive {level.value} lines").as_dict()


@router.get("/topology", summary="Topology validation: gaps, overlaps, children outside parent, slivers",
            responses=media(GEOJSON))
def topology_report(
    session: SessionDep, bsettings: BoundarySettingsDep, _user: ReadAccess, as_of: AsOf, level: Level,
    parent: str | None = None,
    format: Annotated[str, Query(pattern="^(json|geojson)$")] = "json",
) -> Response:
    rep = topology.report(session, level, as_of, bsettings, parent)
    if format == "geojson":
        return Response(json.dumps(topology.as_geojson(rep), ensure_ascii=False), media_type=GEOJSON)
    return JSONResponse(rep)


@router.get("/report", summary="平安边界 report per line and for the county (html, csv or json)",
            responses=media(CSV, HTML))
def safe_boundary_report(
    session: SessionDep, bsettings: BoundarySettingsDep, _user: ReadAccess, as_of: AsOf,
    level: Level | None = Level.county,
    code: str | None = "340122",
    parent: str | None = None,
    line_id: str | None = None,
    format: Annotated[str, Query(pattern="^(html|csv|json)$")] = "html",
    lang: Annotated[str, Query(pattern="^(zh|en)$", description="language of the HTML and CSV report")] = "zh",
) -> Response:
    rep = report.build(session, bsettings, as_of, level=level, code=code or None, parent=parent, line_id=line_id)
    words: report.Lang = "en" if lang == "en" else "zh"
    if format == "csv":
        return Response(report.to_csv(rep, words), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="safe-boundary-{as_of}.csv"'})
    if format == "json":
        return JSONResponse(rep)
    return HTMLResponse(report.to_html(rep, words, bsettings.due_soon_days))


def _settings(request: Request) -> BoundarySettings:
    """The app's boundary settings, read from the environment once per app (like ``app.state.settings``): a
    ``BoundarySettings()`` per request parsed the environment each time, half the Python time of a line GET under
    the mixed load (scripts/bench/mixed_load.py, py-spy)."""
    state = request.app.state
    found: BoundarySettings | None = getattr(state, "boundary_settings", None)
    if found is None:
        found = state.boundary_settings = load_boundary_settings()
    return found


@router.get("/{line_id}", summary="One boundary line (the geometry in force on as_of) with its record",
            responses=media(GEOJSON))
async def get_line(line_id: str, request: Request, _user: fast_reads.ReadUser, as_of: fast_reads.AsOf) -> Response:
    # On the event loop and the read pool (gis_api/fast_reads.py), record and feature in one statement.
    row = await fast_reads.fetchrow(request, lines.FEATURE_ONE_SQL, {
        "id": line_id, "as_of": as_of, "interval": _settings(request).inspection_interval_years})
    text_, tag = lines.feature_answer(row, line_id, as_of)
    return Response(text_, media_type=GEOJSON, headers={"ETag": tag})


@router.get("/{line_id}/history", summary="Geometry versions and the audit trail of a line")
def line_history(line_id: str, session: SessionDep, _user: ReadAccess) -> dict[str, Any]:
    return lines.history(session, line_id)


@router.patch("/{line_id}", summary="Edit a line's record: agreement, detail map, responsible sides (If-Match)",
              responses=media(GEOJSON))
def update_line(
    line_id: str, body: LineUpdate, session: SessionDep, bsettings: BoundarySettingsDep, user: CurrentUser,
    as_of: AsOf, if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    auth.require(user, *LINE_EDITORS)
    lines.update(session, line_id, body, if_match, user.username, bsettings)
    text_, tag = lines.feature(session, line_id, as_of, bsettings)
    return JSONResponse(json.loads(text_), headers={"ETag": tag}, media_type=GEOJSON)


# -- markers ----------------------------------------------------------------------------------------------------

@markers_router.get("", summary="Boundary markers in force on a date, as GeoJSON", responses=media(GEOJSON))
def list_markers(
    request: Request, session: SessionDep, settings: SettingsDep, _user: ReadAccess, as_of: AsOf,
    line_id: str | None = None, status: str | None = None,
    limit: Annotated[int, Query(ge=1)] = 1000, offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    limit = min(limit, settings.server.max_limit)
    return Response(markers.list_geojson(session, as_of, line_id, status, limit, offset,
                                         _next_url(request, offset, limit)), media_type=GEOJSON)


@markers_router.get("/check", summary="Markers farther than the tolerance from their line; incomplete groups")
def check_markers(
    session: SessionDep, bsettings: BoundarySettingsDep, _user: ReadAccess, as_of: AsOf,
    line_id: str | None = None, tolerance_m: Annotated[float | None, Query(gt=0)] = None,
) -> dict[str, Any]:
    return markers.check(session, bsettings, as_of, line_id=line_id, tolerance_m=tolerance_m)


@markers_router.post("", status_code=201, summary="Register a marker (patrol, admin)",
                     responses=media(GEOJSON, status=201))
def create_marker(body: MarkerCreate, session: SessionDep, user: CurrentUser, as_of: AsOf,
                  bsettings: BoundarySettingsDep) -> JSONResponse:
    auth.require(user, *PATROL)
    row = markers.create(session, body, user.username)
    text_, tag = markers.feature(session, row.marker_no, body.valid_from)
    data = json.loads(text_)
    distance = data["properties"]["distance_to_line_m"]
    data["properties"]["on_line"] = distance is not None and float(distance) <= bsettings.marker_tolerance_m
    return JSONResponse(data, status_code=201, headers={"ETag": tag}, media_type=GEOJSON)


@markers_router.get("/{marker_no}", summary="One marker", responses=media(GEOJSON))
def get_marker(marker_no: str, session: SessionDep, _user: ReadAccess, as_of: AsOf) -> Response:
    text_, tag = markers.feature(session, marker_no, as_of)
    return Response(text_, media_type=GEOJSON, headers={"ETag": tag})


@markers_router.get("/{marker_no}/history", summary="Every recorded change of a marker")
def marker_history(marker_no: str, session: SessionDep, _user: ReadAccess) -> dict[str, Any]:
    return markers.history(session, marker_no)


@markers_router.patch("/{marker_no}", summary="Correct or relocate a marker, record its status (If-Match)",
                      responses=media(GEOJSON))
def update_marker(marker_no: str, body: MarkerUpdate, session: SessionDep, user: CurrentUser, as_of: AsOf,
                  if_match: Annotated[str | None, Header()] = None) -> JSONResponse:
    auth.require(user, *PATROL)
    markers.update(session, marker_no, body, if_match, user.username)
    text_, tag = markers.feature(session, marker_no, as_of)
    return JSONResponse(json.loads(text_), headers={"ETag": tag}, media_type=GEOJSON)


# -- inspections, patrols, issues ----------------------------------------------------------------------------------

@inspections_router.post("", status_code=201, summary="Record a joint inspection (patrol, admin)")
def create_inspection(body: InspectionCreate, session: SessionDep, user: CurrentUser) -> JSONResponse:
    auth.require(user, *PATROL)
    row = inspections.create(session, body, user.username)
    return JSONResponse(inspections.as_dict(session, row), status_code=201,
                        headers={"ETag": inspections.etag(row)})


@inspections_router.get("", summary="Joint inspections, newest first")
def list_inspections(session: SessionDep, _user: ReadAccess, line_id: str | None = None) -> list[dict[str, Any]]:
    return inspections.list_inspections(session, line_id)


@inspections_router.get("/{inspection_id}", summary="One joint inspection with its findings and issues")
def get_inspection(inspection_id: int, session: SessionDep, _user: ReadAccess) -> JSONResponse:
    row = inspections.get(session, inspection_id)
    return JSONResponse(inspections.as_dict(session, row), headers={"ETag": inspections.etag(row)})


@inspections_router.post("/{inspection_id}/file", summary="File a signed inspection record (If-Match)")
def file_inspection(inspection_id: int, body: InspectionFiling, session: SessionDep, user: CurrentUser,
                    if_match: Annotated[str | None, Header()] = None) -> JSONResponse:
    auth.require(user, *PATROL)
    row = inspections.file(session, inspection_id, body, if_match, user.username)
    return JSONResponse(inspections.as_dict(session, row), headers={"ETag": inspections.etag(row)})


@patrols_router.post("", status_code=201, summary="Upload a GPX patrol track of a line (patrol, admin)")
async def upload_patrol(
    session: SessionDep, user: CurrentUser, bsettings: BoundarySettingsDep,
    line_id: Annotated[str, Form()], file: Annotated[UploadFile, File()],
    patrolled_on: Annotated[str | None, Form()] = None,
    buffer_m: Annotated[float | None, Form()] = None,
    gcj02: Annotated[bool, Form()] = False,
) -> JSONResponse:
    auth.require(user, *PATROL)
    try:
        on = dt.date.fromisoformat(patrolled_on) if patrolled_on else None
    except ValueError:
        raise InvalidInput("patrolled_on must be YYYY-MM-DD", "巡查日期格式须为 年-月-日（如 2026-05-01）",
                           field="patrolled_on") from None
    data = await file.read()
    if len(data) > 20 * 1024 * 1024:
        raise InvalidInput("the GPX file is larger than 20 MB", "GPX 文件超过 20 MB", field="file")
    result = patrols.upload(session, line_id, data, file_name=file.filename, patrolled_by=user.username,
                            patrolled_on=on, buffer_m=buffer_m, gcj02=gcj02, settings=bsettings,
                            actor=user.username)
    return JSONResponse(result, status_code=201)


@patrols_router.get("/{patrol_id}", summary="One patrol with its track")
def get_patrol(patrol_id: int, session: SessionDep, _user: ReadAccess) -> dict[str, Any]:
    return patrols.get(session, patrol_id)


@issues_router.get("", summary="Boundary issues (open or resolved)")
def list_issues(session: SessionDep, _user: ReadAccess, line_id: str | None = None,
                status: Annotated[str | None, Query(pattern="^(open|resolved)$")] = None) -> list[dict[str, Any]]:
    return inspections.list_issues(session, line_id=line_id, status=status)


@issues_router.post("/{issue_id}/resolve", summary="Resolve an issue (patrol, admin; If-Match)")
def resolve_issue(issue_id: int, body: IssueResolve, session: SessionDep, user: CurrentUser,
                  if_match: Annotated[str | None, Header()] = None) -> JSONResponse:
    auth.require(user, *PATROL)
    issue = inspections.resolve_issue(session, issue_id, body, if_match, user.username)
    return JSONResponse(inspections.issue_dict(issue), headers={"ETag": inspections.issue_etag(issue)})
