"""HTTP routes: facilities, facility kinds, cemeteries with parcels, constraint layers and the exclusion check."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from gis_api import auth, limits
from gis_api.deps import AnalysisAccess, AsOf, CurrentUser, ReadAccess, SessionDep, SettingsDep
from gis_api.divisions.routes import _bbox, _next_url
from gis_api.facilities import cemeteries, service
from gis_api.facilities.models import FacilityStatus
from gis_api.facilities.schemas import (
    CemeteryCreate,
    CemeteryUpdate,
    ConstraintFeaturesIn,
    ConstraintLayerCreate,
    ConstraintLayerUpdate,
    ExclusionCheckIn,
    FacilityCreate,
    FacilityUpdate,
    KindCreate,
    ParcelCreate,
    ParcelUpdate,
    Retire,
)
from gis_api.openapi_doc import media

router = APIRouter(prefix="/api/v1", tags=["facilities"])
GEOJSON = "application/geo+json"
PLANNERS = (auth.Role.planner,)


def _geo(text_: str, tag: str, status: int = 200) -> JSONResponse:
    return JSONResponse(json.loads(text_), status_code=status, headers={"ETag": tag}, media_type=GEOJSON)


# -- facilities ------------------------------------------------------------------------------------------------

@router.get("/facilities/kinds", summary="Facility kinds (a data table)")
def list_kinds(session: SessionDep, _user: ReadAccess) -> list[dict[str, Any]]:
    return service.kinds(session)


@router.post("/facilities/kinds", status_code=201, summary="Add a facility kind (planner)")
def add_kind(body: KindCreate, session: SessionDep, user: CurrentUser) -> dict[str, Any]:
    auth.require(user, *PLANNERS)
    k = service.add_kind(session, body, user.username)
    return {"id": k.id, "name_zh": k.name_zh, "name_en": k.name_en, "category": k.category,
            "default_radius_m": k.default_radius_m}


@router.get("/facilities", summary="Facilities in force on a date (GeoJSON)", responses=media(GEOJSON))
def list_facilities(
    request: Request, session: SessionDep, settings: SettingsDep, _user: ReadAccess, as_of: AsOf,
    kind: Annotated[str | None, Query(description="kind id; several separated by commas")] = None,
    within: Annotated[str | None, Query(description="division code (prefix: a county includes its townships)")] = None,
    status: FacilityStatus | None = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
    limit: Annotated[int, Query(ge=1)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    limit = min(limit, settings.server.max_limit)
    kinds = tuple(k.strip() for k in kind.split(",") if k.strip()) if kind else ()
    q = service.ListQuery(as_of=as_of, kinds=kinds, within=within, status=status.value if status else None,
                          bbox=_bbox(bbox), limit=limit, offset=offset)
    return Response(service.list_geojson(session, q, _next_url(request, offset, limit)), media_type=GEOJSON)


@router.get("/facilities/{facility_id}", summary="One facility (the version in force on as_of), with ETag",
            responses=media(GEOJSON))
def get_facility(facility_id: int, session: SessionDep, _user: ReadAccess, as_of: AsOf) -> Response:
    text_, tag = service.feature(session, facility_id, as_of)
    return Response(text_, media_type=GEOJSON, headers={"ETag": tag})


@router.get("/facilities/{facility_id}/history", summary="Versions and every recorded change of a facility")
def facility_history(facility_id: int, session: SessionDep, _user: ReadAccess) -> dict[str, Any]:
    return service.history(session, facility_id)


@router.post("/facilities", status_code=201, summary="Register a facility (planner)",
             responses=media(GEOJSON, status=201))
def create_facility(body: FacilityCreate, session: SessionDep, user: CurrentUser) -> JSONResponse:
    auth.require(user, *PLANNERS)
    row = service.create(session, body, user.username)
    return _geo(*service.feature(session, row.facility_id, row.valid_from), status=201)


@router.patch("/facilities/{facility_id}", summary="Correct a facility or record a change (If-Match required)",
              responses=media(GEOJSON))
def update_facility(
    facility_id: int, body: FacilityUpdate, session: SessionDep, user: CurrentUser,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    auth.require(user, *PLANNERS)
    row = service.update(session, facility_id, body, if_match, user.username)
    return _geo(*service.feature(session, row.facility_id, row.valid_from))


@router.post("/facilities/{facility_id}/retire", summary="Close a facility on a date (If-Match required)",
             responses=media(GEOJSON))
def retire_facility(
    facility_id: int, body: Retire, session: SessionDep, user: CurrentUser,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    auth.require(user, *PLANNERS)
    row = service.retire(session, facility_id, body, if_match, user.username)
    return _geo(*service.feature(session, row.facility_id, row.valid_from))


# -- cemeteries ------------------------------------------------------------------------------------------------

@router.get("/cemeteries", tags=["cemeteries"], summary="Cemeteries with parcels, areas (m², 亩) and burials",
            responses=media(GEOJSON))
def list_cemeteries(
    session: SessionDep, _user: ReadAccess, as_of: AsOf,
    within: Annotated[str | None, Query(description="division code")] = None,
) -> Response:
    return Response(cemeteries.list_geojson(session, as_of, within), media_type=GEOJSON)


@router.post("/cemeteries/exclusion-check", tags=["cemeteries"],
             summary="Conflicting area of a planned parcel with the constraint layers (§6)")
def exclusion_check(body: ExclusionCheckIn, session: SessionDep, user: AnalysisAccess, settings: SettingsDep
                    ) -> dict[str, Any]:
    # Open to readers, but without a planner/admin login a geometry may hold far fewer vertices (and the analysis
    # gets the anonymous timeout and concurrency, see deps.analysis_access).
    planner = user is not None and user.has_any(PLANNERS)
    limits.check_geojson_geometry(
        body.geometry, field="geometry",
        max_vertices=settings.limits.geometry_max_vertices if planner else settings.limits.anonymous_max_vertices,
        setting="geometry_max_vertices" if planner else "anonymous_max_vertices")
    return cemeteries.check_geometry(session, body.geometry, body.layers)


@router.get("/cemeteries/parcels/{parcel_id}", tags=["cemeteries"], summary="One parcel (ETag)",
            responses=media(GEOJSON))
def get_parcel(parcel_id: int, session: SessionDep, _user: ReadAccess, as_of: AsOf) -> Response:
    text_, tag = cemeteries.parcel_feature(session, parcel_id, as_of)
    return Response(text_, media_type=GEOJSON, headers={"ETag": tag})


@router.get("/cemeteries/parcels/{parcel_id}/exclusion", tags=["cemeteries"],
            summary="Exclusion check of a stored parcel (§6)")
def get_parcel_exclusion(
    parcel_id: int, session: SessionDep, _user: ReadAccess,
    layers: Annotated[str | None, Query(description="layer ids separated by commas; default all active")] = None,
) -> dict[str, Any]:
    wanted = [x.strip() for x in layers.split(",") if x.strip()] if layers else None
    return cemeteries.parcel_exclusion(session, parcel_id, wanted)


@router.get("/cemeteries/parcels/{parcel_id}/history", tags=["cemeteries"], summary="Changes of a parcel")
def get_parcel_history(parcel_id: int, session: SessionDep, _user: ReadAccess) -> dict[str, Any]:
    return cemeteries.parcel_history(session, parcel_id)


@router.patch("/cemeteries/parcels/{parcel_id}", tags=["cemeteries"],
              summary="Correct a parcel or change its status (approval = legal change; If-Match required)",
              responses=media(GEOJSON))
def update_parcel(
    parcel_id: int, body: ParcelUpdate, session: SessionDep, user: CurrentUser,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    auth.require(user, *PLANNERS)
    row = cemeteries.update_parcel(session, parcel_id, body, if_match, user.username)
    return _geo(*cemeteries.parcel_feature(session, row.parcel_id, row.valid_from))


@router.get("/cemeteries/{cemetery_id}", tags=["cemeteries"], summary="One cemetery with parcels (ETag)",
            responses=media(GEOJSON))
def get_cemetery(cemetery_id: int, session: SessionDep, _user: ReadAccess, as_of: AsOf) -> Response:
    text_, tag = cemeteries.feature(session, cemetery_id, as_of)
    return Response(text_, media_type=GEOJSON, headers={"ETag": tag})


@router.post("/cemeteries", status_code=201, tags=["cemeteries"],
             summary="Register a cemetery or ash hall with its parcels (planner)", responses=media(GEOJSON, status=201))
def create_cemetery(body: CemeteryCreate, session: SessionDep, user: CurrentUser) -> JSONResponse:
    auth.require(user, *PLANNERS)
    row = cemeteries.create(session, body, user.username)
    return _geo(*cemeteries.feature(session, row.facility_id, row.valid_from), status=201)


@router.patch("/cemeteries/{cemetery_id}", tags=["cemeteries"],
              summary="Correct burial facts or record a change (If-Match required)", responses=media(GEOJSON))
def update_cemetery(
    cemetery_id: int, body: CemeteryUpdate, session: SessionDep, user: CurrentUser,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    auth.require(user, *PLANNERS)
    row = cemeteries.update(session, cemetery_id, body, if_match, user.username)
    return _geo(*cemeteries.feature(session, row.facility_id, row.valid_from))


@router.post("/cemeteries/{cemetery_id}/parcels", status_code=201, tags=["cemeteries"],
             summary="Add a parcel; the answer carries its exclusion check", responses=media(GEOJSON, status=201))
def add_parcel(cemetery_id: int, body: ParcelCreate, session: SessionDep, user: CurrentUser) -> JSONResponse:
    auth.require(user, *PLANNERS)
    row = cemeteries.add_parcel(session, cemetery_id, body, user.username)
    text_, tag = cemeteries.parcel_feature(session, row.parcel_id, row.valid_from)
    feat = json.loads(text_)
    feat["properties"]["exclusion"] = cemeteries.parcel_exclusion(session, row.parcel_id, None)
    return JSONResponse(feat, status_code=201, headers={"ETag": tag}, media_type=GEOJSON)


# -- constraint layers -------------------------------------------------------------------------------------------

@router.get("/constraint-layers", tags=["cemeteries"], summary="Exclusion layers and their settings (§6)")
def list_constraint_layers(session: SessionDep, _user: ReadAccess) -> list[dict[str, Any]]:
    return cemeteries.constraint_layers(session)


@router.post("/constraint-layers", status_code=201, tags=["cemeteries"], summary="Add an exclusion layer (planner)")
def add_constraint_layer(body: ConstraintLayerCreate, session: SessionDep, user: CurrentUser) -> JSONResponse:
    auth.require(user, *PLANNERS)
    cemeteries.add_constraint_layer(session, body, user.username)
    layer = cemeteries.constraint_layer(session, body.id)
    return JSONResponse(layer, status_code=201, headers={"ETag": layer["etag"]})


@router.get("/constraint-layers/{layer_id}", tags=["cemeteries"], summary="One exclusion layer's settings (ETag)")
def get_constraint_layer(layer_id: str, session: SessionDep, _user: ReadAccess) -> JSONResponse:
    layer = cemeteries.constraint_layer(session, layer_id)
    return JSONResponse(layer, headers={"ETag": layer["etag"]})


@router.patch("/constraint-layers/{layer_id}", tags=["cemeteries"],
              summary="Change buffer width or switch a layer (planner; If-Match)")
def update_constraint_layer(
    layer_id: str, body: ConstraintLayerUpdate, session: SessionDep, user: CurrentUser,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    auth.require(user, *PLANNERS)
    cemeteries.update_constraint_layer(session, layer_id, body, if_match, user.username)
    layer = cemeteries.constraint_layer(session, layer_id)
    return JSONResponse(layer, headers={"ETag": layer["etag"]})


@router.get("/constraint-layers/{layer_id}/features", tags=["cemeteries"], summary="Features of a layer (GeoJSON)",
            responses=media(GEOJSON))
def get_constraint_features(layer_id: str, session: SessionDep, _user: ReadAccess) -> Response:
    return Response(cemeteries.constraint_features_geojson(session, layer_id), media_type=GEOJSON)


@router.post("/constraint-layers/{layer_id}/features", status_code=201, tags=["cemeteries"],
             summary="Import features into a layer (GeoJSON FeatureCollection; planner; If-Match: the layer's ETag)")
def import_constraint_features(
    layer_id: str, body: ConstraintFeaturesIn, session: SessionDep, user: CurrentUser,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    auth.require(user, *PLANNERS)
    n = cemeteries.import_constraint_features(session, layer_id, body, if_match, user.username)
    etag = cemeteries.constraint_layer(session, layer_id)["etag"]
    return JSONResponse({"layer": layer_id, "imported": n, "etag": etag}, status_code=201, headers={"ETag": etag})
