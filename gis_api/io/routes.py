"""HTTP face of imports and exports: ``POST /api/v1/imports/places`` and ``GET /api/v1/exports/{collection}``."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Form, Header, Query, UploadFile
from fastapi.responses import JSONResponse, Response

from gis_api import auth, labels, limits
from gis_api.deps import ImportUser, ReadAccess, SessionDep, SettingsDep
from gis_api.divisions.routes import _bbox
from gis_api.errors import NotFound
from gis_api.io import formats, service
from gis_api.ogc.collections import get
from gis_api.openapi_doc import media
from gis_api.places.routes import EDITORS

router = APIRouter(prefix="/api/v1", tags=["imports and exports"])


@router.post("/imports/places", summary="Import place names from a file (officer); all or nothing")
def import_places(
    session: SessionDep, user: ImportUser, settings: SettingsDep,
    file: Annotated[UploadFile, File(description="GeoJSON, GeoPackage, zipped Shapefile, CSV, XLSX register or GPX")],
    reason: Annotated[str, Form(min_length=1, max_length=limits.TEXT_LEN, description="why, for the audit trail")],
    format: Annotated[str | None, Form(max_length=limits.CODE_LEN,
                                       description="geojson|gpkg|shp|csv|xlsx|gpx; default from the file name")] = None,
    encoding: Annotated[str | None, Form(max_length=limits.CODE_LEN,
                                         description="e.g. GBK for an old Shapefile or CSV")] = None,
    category_code: Annotated[str | None, Form(max_length=limits.CODE_LEN, description="for rows without a category")
                             ] = None,
    crs: Annotated[str | None, Form(max_length=limits.SHORT_LEN, description="EPSG:n when the file does not say")
                   ] = None,
    layer: Annotated[str | None, Form(max_length=limits.NAME_LEN)] = None,
    lon_field: Annotated[str | None, Form(max_length=limits.NAME_LEN)] = None,
    lat_field: Annotated[str | None, Form(max_length=limits.NAME_LEN)] = None,
    wkt_field: Annotated[str | None, Form(max_length=limits.NAME_LEN)] = None,
    valid_from: Annotated[dt.date | None, Form()] = None,
    source: Annotated[str, Form(max_length=limits.SHORT_LEN)] = "import",
    engine: Annotated[str, Form(pattern="^(auto|service|bulk)$")] = "auto",
    key: Annotated[str, Form(pattern="^(id|name\\+division_code|none)$",
                             description="how rows match existing places: id (default; rows without one are new), "
                                         "name+division_code, or none (every row is new)")] = "id",
    dry_run: Annotated[bool, Form(description="report inserted/updated/unchanged/conflicts, write nothing")
                       ] = False,
) -> JSONResponse:
    auth.require(user, *EDITORS)
    opts = service.ImportOptions(
        actor=user.username, reason=reason, fmt=format, encoding=encoding, layer=layer, crs=crs,
        category_code=category_code, lon_field=lon_field, lat_field=lat_field, wkt_field=wkt_field, source=source,
        valid_from=valid_from, engine=engine, key=key, dry_run=dry_run, limits=settings.limits, own_session=True,
    )
    name = Path(file.filename or "upload").name
    formats.guess_format(name, format)
    # The request's transaction so far (the login) ends here: the import works in its own, and the bulk engine
    # opens it only after the rows are checked and their names derived (no transaction idle meanwhile).
    session.commit()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        # Streamed to disk in chunks (the body limit already bounds it; this bounds a direct caller too).
        limits.copy_bounded(file.file, path, settings.limits.upload_body_bytes, "upload_body_bytes")
        try:
            report = service.import_places(session, path, opts)
        except BaseException:
            session.rollback()
            raise
        if not report.ok or dry_run:
            session.rollback()  # all or nothing: a bad row, or a dry run, keeps nothing
    if not report.ok:
        body = report.as_dict()
        body.update(code="import_rejected", message=f"{len(report.errors)} row(s) rejected; nothing was imported",
                    message_zh=f"{len(report.errors)} 行有误，未导入任何数据", field="file", rule=None)
        return JSONResponse(body, status_code=422)
    return JSONResponse(report.as_dict(), status_code=200 if dry_run else 201)


@router.get("/exports/{collection_id}",
            summary="Export a collection (GeoJSON, GeoPackage, Shapefile, CSV, XLSX, GPX)",
            responses=media(*formats.MEDIA.values()))
def export_collection(
    collection_id: str, session: SessionDep, _user: ReadAccess,
    format: Annotated[str, Query(pattern="^(geojson|gpkg|shp|csv|xlsx|gpx)$")] = "geojson",
    f: Annotated[str | None, Query(pattern="^(geojson|gpkg|shp|csv|xlsx|gpx)$",
                                   description="the same as format (OGC style)")] = None,
    as_of: Annotated[dt.date | None, Query(description="valid-time date; default today")] = None,
    bbox: Annotated[str | None, Query(description="minlon,minlat,maxlon,maxlat")] = None,
    accept_language: Annotated[str | None, Header(
        description="CSV and XLSX: with this header, headings, enumerations and booleans are labelled in its "
                    "language (Chinese unless English is preferred); without it, field names and stored values")
                               ] = None,
) -> Response:
    c = get(collection_id)
    if c is None:
        raise NotFound(f"no collection {collection_id!r}", f"不存在数据集 {collection_id!r}", field="collection_id")
    format = f or format
    lang = labels.language(accept_language) if accept_language and accept_language.strip() else None
    data = service.export(session, c, format, as_of=as_of, bbox=_bbox(bbox), lang=lang)
    filename = f"{c.id}.{formats.EXTENSION[format]}"
    return Response(data, media_type=formats.MEDIA[format],
                    headers={"Content-Disposition": f'attachment; filename="{filename}"'})
