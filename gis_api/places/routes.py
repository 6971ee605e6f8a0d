"""HTTP routes of the gazetteer: places, search, romanisation, name checks and the clean-up campaign."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from gis_api import auth, fast_reads
from gis_api.deps import AsOf, CurrentUser, ReadAccess, SessionDep, SettingsDep
from gis_api.divisions.routes import _bbox, _next_url
from gis_api.errors import InvalidInput
from gis_api.limits import Short, Text
from gis_api.openapi_doc import CSV, XLSX, media
from gis_api.places import checks, corrections, search, service
from gis_api.places.models import FlagStatus, NameCorrection, PlaceCategory, PlaceStatus
from gis_api.places.romanize import romanize
from gis_api.places.schemas import NameCheckIn, PlaceCreate, PlaceRetire, PlaceUpdate, ProtectionIn, VariantIn

router = APIRouter(prefix="/api/v1", tags=["places"])
GEOJSON = "application/geo+json"
EDITORS = (auth.Role.officer,)


def _written(session: SessionDep, place_id: int, as_of: Any, status: int, flags: list[dict[str, Any]] | None = None
             ) -> JSONResponse:
    text_, tag = service.feature(session, place_id, as_of)
    body = json.loads(text_)
    if flags is not None:
        body["properties"]["check"] = flags  # what the checks raised on this write
    return JSONResponse(body, status_code=status, headers={"ETag": tag}, media_type=GEOJSON)


@router.get("/places", summary="Places in force on a date (GeoJSON)", responses=media(GEOJSON))
def list_places(
    request: Request, session: SessionDep, settings: SettingsDep, _user: ReadAccess, as_of: AsOf,
    within: Annotated[str | None, Query(description="division code; its sub-divisions included")] = None,
    category: Annotated[str | None, Query(description="category code prefix")] = None,
    status: PlaceStatus | None = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
    limit: Annotated[int, Query(ge=1)] = 1000,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    limit = min(limit, settings.server.max_limit)
    q = service.ListQuery(as_of=as_of, within=within, category=category, status=status.value if status else None,
                          bbox=_bbox(bbox), limit=limit, offset=offset)
    return Response(service.list_geojson(session, q, _next_url(request, offset, limit)), media_type=GEOJSON)


@router.get("/places/search", summary="Search names in Chinese, pinyin or initials (GeoJSON in rank order)",
            responses=media(GEOJSON))
async def search_places(
    request: Request, _user: fast_reads.ReadUser, as_of: fast_reads.AsOf,
    q: Annotated[str, Query(description="Chinese, full pinyin (dianbu) or initials (dbz)")] = "",
    near: Annotated[str | None, Query(description="lon,lat: nearer first")] = None,
    radius_m: Annotated[float | None, Query(gt=0, description="only within this distance of near")] = None,
    within: Annotated[str | None, Query(description="division code")] = None,
    category: Annotated[str | None, Query(description="category code prefix")] = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
) -> Response:
    if radius_m is not None and near is None:
        raise InvalidInput("radius_m needs near=lon,lat", "按半径搜索时须同时提供中心点（经度,纬度）", field="near")
    query = search.SearchQuery(
        q=q, near=search.parse_near(near) if near else None, radius_m=radius_m, within=within, category=category,
        as_of=as_of, limit=limit,
    )
    # one trip through the thread pool for the whole read (gis_api/fast_reads.py), not one per dependency
    return Response(await fast_reads.in_session(request, lambda s: search.search_geojson(s, query)),
                    media_type=GEOJSON)


@router.get("/places/categories", summary="Category table (GB/T 18521-style codes)")
def categories(session: SessionDep, _user: ReadAccess) -> list[dict[str, Any]]:
    rows = session.scalars(select(PlaceCategory).order_by(PlaceCategory.code)).all()
    return [
        {"code": c.code, "name_zh": c.name_zh, "name_en": c.name_en, "census_class": c.census_class,
         "scope_kind": c.scope_kind, "dup_scope": c.dup_scope, "parent_code": c.parent_code}
        for c in rows
    ]


@router.get("/places/{place_id}", summary="One place with variants, protection and flags (ETag)",
            responses=media(GEOJSON))
async def get_place(place_id: int, request: Request, _user: fast_reads.ReadUser, as_of: fast_reads.AsOf) -> Response:
    # On the event loop and the read pool (gis_api/fast_reads.py): the same statement as service.feature.
    row = None
    if fast_reads.INT64[0] <= place_id <= fast_reads.INT64[1]:
        row = await fast_reads.fetchrow(request, service.FEATURE_ONE_SQL, {"pid": place_id, "as_of": as_of})
    text_, tag = service.feature_answer(row, place_id, as_of)
    return Response(text_, media_type=GEOJSON, headers={"ETag": tag})


@router.get("/places/{place_id}/history", summary="Versions and every recorded change of a place")
def place_history(place_id: int, session: SessionDep, _user: ReadAccess) -> dict[str, Any]:
    return service.history(session, place_id)


@router.post("/places", status_code=201, summary="Register a place (officer)", responses=media(GEOJSON, status=201))
def create_place(body: PlaceCreate, session: SessionDep, user: CurrentUser) -> JSONResponse:
    auth.require(user, *EDITORS)
    row, flags = service.create(session, body, user.username)
    return _written(session, row.place_id, row.valid_from, 201, flags)


@router.patch("/places/{place_id}", summary="Correct a place or record a legal change (If-Match required)",
              description="A typo correction of a standard name that came out of the naming procedure (R2) is not "
                          "written: it is answered **202** with the pending correction request (Location: "
                          "/api/v1/name-corrections/{id}), which another user with the reviewer role confirms or "
                          "rejects.",
              responses={**media(GEOJSON), 202: {"description": "Correction request waiting for a reviewer (R2)"}})
async def update_place(
    place_id: int, body: PlaceUpdate, request: Request, user: fast_reads.WriteUser,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    auth.require(user, *EDITORS)

    def write(session: Session) -> JSONResponse:
        done = corrections.patch_place(session, place_id, body, if_match, user.username)
        if isinstance(done, NameCorrection):
            return _correction(done, 202)
        row, flags = done
        return _written(session, row.place_id, row.valid_from, 200, flags)

    # the write and its answer in the transaction the token was checked in, one trip through the thread pool
    # (gis_api/fast_reads.py)
    return await fast_reads.in_session(request, write)


# -- R2: typo corrections of procedure names, confirmed by a second person --------------------------------------

def _correction(c: NameCorrection, status: int = 200, extra: dict[str, Any] | None = None) -> JSONResponse:
    headers = {"ETag": corrections.etag(c)}
    if status == 202:
        headers["Location"] = f"/api/v1/name-corrections/{c.id}"
    return JSONResponse({**corrections.as_json(c), **(extra or {})}, status_code=status, headers=headers)


class CorrectionDecision(BaseModel):
    note: Text | None = Field(default=None, description="the reviewer's remark, for the audit trail")
    place_etag: Short | None = Field(default=None, description=(
        "after a 412: the place's current ETag, to confirm the correction against the version the reviewer has "
        "now seen (default: the version the officer's request was based on)"))


class CorrectionRejection(BaseModel):
    reason: Text = Field(min_length=1)


@router.get("/name-corrections", tags=["names"], summary="Typo corrections of procedure names (R2), newest first")
def list_corrections(
    session: SessionDep, _user: ReadAccess,
    status: Annotated[str | None, Query(pattern="^(pending|confirmed|rejected)$")] = None,
    place_id: int | None = None,
) -> dict[str, Any]:
    return corrections.listing(session, status, place_id)


@router.get("/name-corrections/{correction_id}", tags=["names"], summary="One correction request (ETag)")
def get_correction(correction_id: int, session: SessionDep, _user: ReadAccess) -> JSONResponse:
    return _correction(corrections.get(session, correction_id))


@router.post("/name-corrections/{correction_id}/confirm", tags=["names"],
             summary="Confirm a typo correction (reviewer other than the requester; If-Match: the request's ETag)")
def confirm_correction(
    correction_id: int, session: SessionDep, user: CurrentUser, body: CorrectionDecision | None = None,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    auth.require(user, auth.Role.reviewer)
    decision = body or CorrectionDecision()
    c, place = corrections.confirm(session, correction_id, if_match, user, decision.note, decision.place_etag)
    return _correction(c, extra={"place_etag": service.etag(place.id, place.version)})


@router.post("/name-corrections/{correction_id}/reject", tags=["names"],
             summary="Reject a typo correction with the reason (reviewer; If-Match: the request's ETag)")
def reject_correction(
    correction_id: int, body: CorrectionRejection, session: SessionDep, user: CurrentUser,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    auth.require(user, auth.Role.reviewer)
    return _correction(corrections.reject(session, correction_id, if_match, user, body.reason))


@router.post("/places/{place_id}/retire", summary="Retire a place name on a date (If-Match required)",
             responses=media(GEOJSON))
def retire_place(
    place_id: int, body: PlaceRetire, session: SessionDep, user: CurrentUser,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    auth.require(user, *EDITORS)
    row = service.retire(session, place_id, body, if_match, user.username)
    if service.withdrawn(row):  # registered today, retired today: nothing is left in force (see service.retire)
        return JSONResponse({"id": place_id, "withdrawn": True, "history": f"/api/v1/places/{place_id}/history"})
    return _written(session, row.place_id, row.valid_from, 200)


class VariantCreate(VariantIn):
    reason: str = Field(min_length=1)


@router.post("/places/{place_id}/variants", status_code=201,
             summary="Add a 简称/别名/曾用名/historic name (no If-Match: adding overwrites nothing; 409 if present)")
def add_variant(place_id: int, body: VariantCreate, session: SessionDep, user: CurrentUser) -> JSONResponse:
    auth.require(user, *EDITORS)
    v = service.add_place_variant(session, place_id, body, user.username, body.reason)
    return JSONResponse(service.variant_json(v), status_code=201, headers={"ETag": service.variant_etag(v)})


@router.get("/places/{place_id}/variants/{variant_id}", summary="One variant of a place (ETag)")
def get_variant(place_id: int, variant_id: int, session: SessionDep, _user: ReadAccess) -> JSONResponse:
    v = service.variant(session, place_id, variant_id)
    return JSONResponse(service.variant_json(v), headers={"ETag": service.variant_etag(v)})


@router.delete("/places/{place_id}/variants/{variant_id}", status_code=204,
               summary="Remove a variant (If-Match: the variant's ETag)")
def delete_variant(
    place_id: int, variant_id: int, session: SessionDep, user: CurrentUser,
    reason: Annotated[str, Query(min_length=1)],
    if_match: Annotated[str | None, Header()] = None,
) -> None:
    auth.require(user, *EDITORS)
    service.delete_variant(session, place_id, variant_id, if_match, user.username, reason)


@router.get("/places/{place_id}/protection", summary="The place's protection listing (ETag; 404 if not listed)")
def get_protection(place_id: int, session: SessionDep, _user: ReadAccess) -> JSONResponse:
    x = service.protection(session, place_id)
    return JSONResponse(service.protection_json(x), headers={"ETag": service.protection_etag(x)})


@router.put("/places/{place_id}/protection",
            summary="List on the place-name culture protection list (§1.4): If-None-Match: * to list, "
                    "If-Match (the listing's ETag) to change",
            responses={201: {"description": "Listed", "content": {"application/json": {"schema": {}}}}})
def put_protection(
    place_id: int, body: ProtectionIn, session: SessionDep, user: CurrentUser,
    if_match: Annotated[str | None, Header(description="the listing's ETag, to change it")] = None,
    if_none_match: Annotated[str | None, Header(description="*, to list a place not yet listed")] = None,
) -> JSONResponse:
    auth.require(user, *EDITORS)
    x, created = service.set_protection(session, place_id, body, user.username, if_match=if_match,
                                        if_none_match=if_none_match)
    return JSONResponse(service.protection_json(x), status_code=201 if created else 200,
                        headers={"ETag": service.protection_etag(x)})


# -- romanisation and checks --------------------------------------------------------------------------------

@router.get("/romanize", tags=["names"], summary="GB/T 16159 romanisation of a place name (RZ1–RZ9)")
def romanize_name(
    _user: ReadAccess,
    name: Annotated[str, Query(min_length=1, max_length=100)],
    tones: bool = False,
    kind: Annotated[str | None, Query(description="natural_village joins the name (RZ3)")] = None,
) -> dict[str, str]:
    r = romanize(name.strip(), tones=tones, kind=kind)
    return {"name": name.strip(), "romanized": r.romanized, "zhuanming": r.zhuanming, "tongming": r.tongming,
            "zhuanming_romanized": r.zhuanming_roman, "tongming_romanized": r.tongming_roman}


@router.post("/names/check", tags=["names"], summary="大/洋/怪/重 checks of a name (review flags, §2)")
def check_name(body: NameCheckIn, session: SessionDep, _user: ReadAccess, as_of: AsOf) -> dict[str, Any]:
    return checks.check(session, body.name, category=body.category, division_code=body.division_code,
                        attrs=body.attrs, place_id=body.place_id, as_of=as_of)


class CampaignRun(BaseModel):
    within: str | None = Field(default=None, description="division code")


@router.post("/names/campaign/run", tags=["names"], summary="Check every name in force; keep new flags (officer)")
def campaign_run(session: SessionDep, user: CurrentUser, as_of: AsOf, body: CampaignRun | None = None
                 ) -> dict[str, Any]:
    auth.require(user, *EDITORS)
    # No body means all defaults (the whole gazetteer), as the README shows the call.
    return checks.run_campaign(session, user.username, as_of, body.within if body else None)


@router.get("/names/campaign", tags=["names"], summary="The rectification list (JSON, CSV or XLSX)",
            responses=media(CSV, XLSX))
def campaign_list(
    session: SessionDep, _user: ReadAccess,
    status: FlagStatus | None = None,
    cls: Annotated[str | None, Query(alias="class", pattern="^[大洋怪重]$")] = None,
    format: Annotated[str, Query(pattern="^(json|csv|xlsx)$")] = "json",
) -> Response:
    rows = checks.rectification_rows(session, status.value if status else None, cls)
    if format == "csv":
        return Response(checks.to_csv(rows), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": "attachment; filename=rectification.csv"})
    if format == "xlsx":
        return Response(checks.to_xlsx(rows),
                        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                        headers={"Content-Disposition": "attachment; filename=rectification.xlsx"})
    return JSONResponse({"numberMatched": len(rows), "items": rows})


class FlagDecision(BaseModel):
    status: FlagStatus
    note: str | None = None


@router.get("/names/flags/{flag_id}", tags=["names"], summary="One review flag (ETag)")
def get_flag(flag_id: int, session: SessionDep, _user: ReadAccess) -> JSONResponse:
    f = checks.flag(session, flag_id)
    return JSONResponse(checks.flag_json(f), headers={"ETag": checks.flag_etag(f)})


@router.patch("/names/flags/{flag_id}", tags=["names"], summary="Record a flag's outcome (officer; If-Match)")
def decide_flag(
    flag_id: int, body: FlagDecision, session: SessionDep, user: CurrentUser,
    if_match: Annotated[str | None, Header()] = None,
) -> JSONResponse:
    auth.require(user, *EDITORS)
    f = checks.decide(session, flag_id, body.status, body.note, if_match, user.username)
    return JSONResponse(checks.flag_json(f), headers={"ETag": checks.flag_etag(f)})
