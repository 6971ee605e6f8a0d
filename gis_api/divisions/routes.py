"""HTTP routes for divisions: parse input, call the service, shape the response."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from gis_api import auth, fast_reads
from gis_api.deps import AsOf, CurrentUser, ReadAccess, SessionDep, SettingsDep
from gis_api.divisions import service
from gis_api.divisions.models import Level
from gis_api.divisions.schemas import DivisionCreate, DivisionRetire, DivisionUpdate
from gis_api.errors import InvalidInput
from gis_api.openapi_doc import media

router = APIRouter(prefix="/api/v1/divisions", tags=["divisions"])
GEOJSON = "application/geo+json"
WRITERS = (auth.Role.admin, auth.Role.officer)



def _bbox(raw: str | None) -> tuple[float, float, float, float] | None:
    if raw is None:
        return None
    try:
        parts = tuple(float(x) for x in raw.split(","))
    except ValueError:
        parts = ()
    if len(parts) != 4 or parts[0] > parts[2] or parts[1] > parts[3]:
        raise InvalidInput(
            "bbox must be minlon,minlat,maxlon,maxlat", "范围框须为 最小经度,最小纬度,最大经度,最大纬度", field="bbox"
        )
    return (parts[0], parts[1], parts[2], parts[3])


def _next_url(request: Request, offset: int, limit: int) -> str:
    return str(request.url.include_query_params(offset=offset + limit, limit=limit))


@router.get("", summary="Divisions in force on a date, as GeoJSON", responses=media(GEOJSON))
def list_divisions(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    _user: ReadAccess,
    as_of: AsOf,
    level: Level | None = None,
    parent: Annotated[str | None, Query(description="parent division code")] = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
    limit: Annotated[int, Query(ge=1)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    limit = min(limit, settings.server.max_limit)
    q = service.ListQuery(as_of=as_of, level=level, parent=parent, bbox=_bbox(bbox), limit=limit, offset=offset)
    return Response(service.list_geojson(session, q, _next_url(request, offset, limit)), media_type=GEOJSON)


@router.get("/{code}", summary="One division (the version in force on as_of)", responses=media(GEOJSON))
async def get_division(code: str, request: Request, _user: fast_reads.ReadUser, as_of: fast_reads.AsOf) -> Response:
    # On the event loop and the read pool (gis_api/fast_reads.py): the same statement as service.feature.
    row = await fast_reads.fetchrow(request, service.FEATURE_ONE_SQL, {"code": code, "as_of": as_of})
    text_, tag = service.feature_answer(row, code, as_of)
    return Response(text_, media_type=GEOJSON, headers={"ETag": tag})


@router.get("/{code}/children", summary="Subordinate divisions in force on as_of", responses=media(GEOJSON))
def get_children(
    request: Request, code: str, session: SessionDep, settings: SettingsDep, _user: ReadAccess, as_of: AsOf,
    limit: Annotated[int, Query(ge=1)] = 1000, offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    service.feature(session, code, as_of)  # 404 when the parent is not in force
    limit = min(limit, settings.server.max_limit)
    q = service.ListQuery(as_of=as_of, parent=code, limit=limit, offset=offset)
    return Response(service.list_geojson(session, q, _next_url(request, offset, limit)), media_type=GEOJSON)


@router.get("/{code}/history", summary="Valid-time versions and the audit trail of a code")
def get_history(code: str, session: SessionDep, _user: ReadAccess) -> dict[str, Any]:
    return service.history(session, code)


def _written(session: SessionDep, row_id: int, status: int) -> JSONResponse:
    text_, tag = service.feature_by_id(session, row_id)
    return JSONResponse(json.loads(text_), status_code=status, headers={"ETag": tag}, media_type=GEOJSON)


@router.post("", status_code=201, summary="Register a division (admin, officer)", responses=media(GEOJSON, status=201))
def create_division(body: DivisionCreate, session: SessionDep, user: CurrentUser) -> JSONResponse:
    auth.require(user, *WRITERS)
    row = service.create(session, body, user.username)
    return _written(session, row.id, 201)


@router.patch("/{code}", summary="Correct a division or record a legal change (If-Match required)",
              responses=media(GEOJSON))
def update_division(
    code: str, body: DivisionUpdate, session: SessionDep, user: CurrentUser,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    auth.require(user, *WRITERS)
    row = service.update(session, code, body, if_match, user.username)
    return _written(session, row.id, 200)


@router.post("/{code}/retire", summary="Abolish a division on a date; its code is never reused",
             responses=media(GEOJSON))
def retire_division(
    code: str, body: DivisionRetire, session: SessionDep, user: CurrentUser,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    auth.require(user, *WRITERS)
    row = service.retire(session, code, body, if_match, user.username)
    if service.withdrawn(row):  # registered today, retired today: nothing is left in force (see service.retire)
        return JSONResponse({"code": code, "withdrawn": True, "history": f"/api/v1/divisions/{code}/history"})
    return _written(session, row.id, 200)
