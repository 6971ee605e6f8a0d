"""HTTP routes of the field API (docs/field.md): work packages, attachments, sync; and the app's pages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Query, Response, UploadFile
from fastapi.responses import FileResponse, JSONResponse

from gis_api import auth
from gis_api.boundaries.settings import BoundarySettings, load_boundary_settings
from gis_api.deps import CurrentUser, ReadAccess, SessionDep, SettingsDep
from gis_api.errors import NotFound
from gis_api.field import attachments, package, sync
from gis_api.field.schemas import PackageRequest, SyncRequest
from gis_api.openapi_doc import media

PATROL = (auth.Role.admin, auth.Role.patrol)
MAP_UI = Path(__file__).resolve().parent.parent.parent / "map_ui"
FILE_TYPES = ("image/jpeg", "image/png", "image/webp", "application/pdf")
IMMUTABLE = "private, max-age=31536000, immutable"  # content-addressed: a URL never changes its bytes

BoundarySettingsDep = Annotated[BoundarySettings, Depends(load_boundary_settings)]

router = APIRouter(prefix="/api/v1/field", tags=["field"])
pages = APIRouter(prefix="/field", include_in_schema=False)


@router.post("/packages", summary="Build a work package for offline patrols (patrol, admin)")
def build_package(body: PackageRequest, session: SessionDep, user: CurrentUser, settings: SettingsDep,
                  bsettings: BoundarySettingsDep) -> Response:
    auth.require(user, *PATROL)
    raw, tag = package.build(session, body, bsettings, settings.limits, user.username)
    return Response(raw, media_type="application/json", headers={"ETag": tag})


@router.post("/attachments", summary="Upload a photo, scanned form or PDF (patrol, admin)",
             responses={201: {"description": "stored (new bytes)", "content": {"application/json": {"schema": {}}}},
                        200: {"description": "the same bytes were stored before: their record"},
                        415: {"description": "not a JPEG, PNG, WebP or PDF (by content)"}})
def upload_attachment(session: SessionDep, user: CurrentUser, settings: SettingsDep,
                      file: Annotated[UploadFile, File()]) -> JSONResponse:
    auth.require(user, *PATROL)
    # A plain def (worker thread), not async: storing waits on a lock another upload of the same bytes holds until
    # its commit, which must not block the event loop that commit needs. The multipart body is already spooled.
    data = file.file.read(settings.limits.attachment_bytes + 1)  # one byte more tells "too large"
    row, created = attachments.store(session, data, user.username, settings.limits)
    out = {**attachments.as_dict(session, row), "created": created}
    return JSONResponse(out, status_code=201 if created else 200, headers={"ETag": f'"{row.sha256}"'})


@router.get("/attachments", summary="The attachments of one record")
def list_attachments(
    session: SessionDep, _user: ReadAccess,
    kind: Annotated[str, Query(pattern="^(marker|inspection|patrol|issue)$")],
    key: Annotated[str, Query(min_length=1, max_length=64)],
) -> list[dict[str, Any]]:
    return attachments.list_for(session, kind, key)


@router.get("/attachments/{sha256}", summary="One attachment's record (EXIF time and position included)")
def get_attachment(sha256: str, session: SessionDep, user: ReadAccess) -> JSONResponse:
    row = attachments.get(session, sha256, user)
    return JSONResponse(attachments.as_dict(session, row), headers={"ETag": f'"{row.sha256}"'})


@router.get("/attachments/{sha256}/content", summary="The served copy (images without EXIF)",
            response_class=FileResponse, responses=media(*FILE_TYPES))
def attachment_content(sha256: str, session: SessionDep, user: ReadAccess) -> FileResponse:
    row = attachments.get(session, sha256, user)
    path, media = attachments.served_file(row, "content")
    return FileResponse(path, media_type=media, headers={"ETag": f'"{row.sha256}"', "Cache-Control": IMMUTABLE})


@router.get("/attachments/{sha256}/thumbnail", summary="A JPEG thumbnail (images only)",
            response_class=FileResponse, responses=media("image/jpeg"))
def attachment_thumbnail(sha256: str, session: SessionDep, user: ReadAccess) -> FileResponse:
    row = attachments.get(session, sha256, user)
    path, media = attachments.served_file(row, "thumbnail")
    return FileResponse(path, media_type=media, headers={"ETag": f'"{row.sha256}-t"', "Cache-Control": IMMUTABLE})


@router.post("/sync", summary="Apply a phone's offline queue: idempotent, conflicts reported (patrol, admin)")
def sync_changes(body: SyncRequest, session: SessionDep, user: CurrentUser, settings: SettingsDep,
                 bsettings: BoundarySettingsDep) -> dict[str, Any]:
    auth.require(user, *PATROL)
    return sync.apply(session, body, user.username, bsettings, settings.limits)


# -- the phone app's pages (map_ui, built by the field UI) -------------------------------------------------------

def _page(path: Path, media: str, headers: dict[str, str] | None = None) -> FileResponse:
    if not path.is_file():
        raise NotFound("the field app is not installed", "未安装野外巡查应用", field="path")
    return FileResponse(path, media_type=media, headers={"Cache-Control": "no-cache", **(headers or {})})


@pages.get("/")
def field_page() -> FileResponse:
    return _page(MAP_UI / "templates" / "field.html", "text/html; charset=utf-8")


@pages.get("/sw.js")
def service_worker() -> FileResponse:
    return _page(MAP_UI / "static" / "js" / "field" / "sw.js", "text/javascript; charset=utf-8",
                 {"Service-Worker-Allowed": "/"})


@pages.get("/manifest.webmanifest")
def manifest() -> FileResponse:
    return _page(MAP_UI / "static" / "field" / "manifest.webmanifest", "application/manifest+json")
