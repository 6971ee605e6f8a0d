"""Bounded input: no single request can exhaust the server (issue 10 §5).

One settings class (``DIMING_LIMIT_*``) and the mechanisms that enforce it:

* request body size — :class:`BodyLimitMiddleware`, a pure ASGI middleware: refuses by ``Content-Length`` before
  reading anything and counts the bytes of chunked bodies as they stream in;
* archives (zipped Shapefile, XLSX) — :func:`safe_extract` / :func:`check_zip` check declared sizes, ratio, member
  count and member paths before anything is extracted, and count the real bytes while extracting;
* vertices per geometry and closed rings — :func:`check_geojson_geometry`, before shapely builds anything;
* text length — the ``Annotated`` string types below (schemas) and CHECK constraints (migration 0008);
* statement timeout per request class — :func:`set_statement_timeout` (``SET LOCAL`` when the transaction begins).

Limits are errors with the usual body (``code, message, message_zh, field, rule``); ``rule`` names the setting
that bounds the request, so an operator knows which variable to raise.
"""

from __future__ import annotations

import contextlib
import functools
import re
import zipfile
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path, PurePosixPath
from typing import Annotated, Any

from pydantic import Field, StringConstraints
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session, SessionTransaction

from gis_api.errors import DimingError, InvalidInput, error_response

MiB = 1024 * 1024


class LimitSettings(BaseSettings):
    """``DIMING_LIMIT_*``: the bounds of one request. Raise one when a legitimate request hits it."""

    model_config = SettingsConfigDict(env_prefix="DIMING_LIMIT_", extra="ignore")

    json_body_bytes: int = Field(default=2 * MiB, ge=1024, description="largest body of an ordinary request")
    layer_body_bytes: int = Field(
        default=32 * MiB, ge=1024,
        description="largest JSON layer (demand layers, road networks, constraint features) — logged-in only")
    upload_body_bytes: int = Field(
        default=64 * MiB, ge=1024, description="largest multipart upload (imports, GPX, documents) — logged-in only")
    archive_uncompressed_bytes: int = Field(
        default=128 * MiB, ge=1024, description="largest total uncompressed size of an uploaded zip / XLSX")
    archive_max_ratio: float = Field(default=100.0, ge=1, description="largest compression ratio of a zip member")
    archive_max_members: int = Field(default=200, ge=1, description="most members in an uploaded zip / XLSX")
    import_max_features: int = Field(default=200_000, ge=1, description="most features (rows) in one import")
    geometry_max_vertices: int = Field(default=200_000, ge=4, description="most vertices in one geometry")
    anonymous_max_vertices: int = Field(
        default=10_000, ge=4, description="most vertices in a geometry sent to an analysis without login")
    read_timeout_s: float = Field(default=10, gt=0, description="statement timeout of GET/HEAD requests")
    write_timeout_s: float = Field(default=30, gt=0, description="statement timeout of writes")
    analysis_timeout_s: float = Field(default=60, gt=0, description="statement timeout of analyses (planner/admin)")
    anonymous_analysis_timeout_s: float = Field(
        default=10, gt=0, description="statement timeout of analyses without a planner/admin login")
    import_timeout_s: float = Field(default=300, gt=0, description="statement timeout of file imports")
    anonymous_analysis_concurrency: int = Field(
        default=4, ge=1,  # the planner screen sends two at once; more would only queue on a small server
        description="analyses running at once without a planner/admin login (then 429)")
    retry_after_s: int = Field(default=5, ge=1, description="Retry-After of 429 and of 503 after a timeout")
    # In the field (gis_api/field, docs/field.md).
    attachment_bytes: int = Field(
        default=20 * MiB, ge=1024, description="largest attachment (photo, scanned form, PDF)")
    field_package_lines: int = Field(default=200, ge=1, description="most boundary lines in one work package")
    field_package_tiles: int = Field(default=20_000, ge=1, description="most tile URLs listed in one work package")
    field_sync_changes: int = Field(default=200, ge=1, description="most changes in one field sync request")
    field_track_points: int = Field(default=50_000, ge=2, description="most points in one recorded patrol track")


@functools.cache
def defaults() -> LimitSettings:
    """The process's limits from the environment, for code that has no app settings at hand (services, CLI)."""
    return LimitSettings()


class TooLarge(DimingError):
    status = 413
    code = "too_large"


class TooBusy(DimingError):
    status = 429
    code = "too_busy"


class QueryTimeout(DimingError):
    status = 503
    code = "query_timeout"


def too_large(what_en: str, what_zh: str, limit: int | float, setting: str, *, field: str,
              unit: str = "") -> TooLarge:
    env = f"DIMING_LIMIT_{setting.upper()}"
    return TooLarge(
        f"{what_en} exceeds the limit of {limit:,}{unit} ({env})",
        f"{what_zh}超过上限 {limit:,}{unit}（{env}）",
        field=field, rule=env, extra={"limit": limit},
    )


# -- text length ------------------------------------------------------------------------------------------
# Schema types; the database holds the same bounds as CHECK constraints (migration 0008, COLUMN_LIMITS).

NAME_LEN = 100
CODE_LEN = 64
SHORT_LEN = 200
REF_LEN = 255
TITLE_LEN = 300
ROMANIZED_LEN = 1000
URL_LEN = 2000
TEXT_LEN = 4000
LONG_LEN = 10000
LIST_LEN = 1000  # items in a list of codes or names

Name = Annotated[str, StringConstraints(max_length=NAME_LEN)]  # names of places, divisions, facilities …
Code = Annotated[str, StringConstraints(max_length=CODE_LEN)]  # codes, kinds, ids, statuses
Short = Annotated[str, StringConstraints(max_length=SHORT_LEN)]  # people, units, authorities, sources, methods
Ref = Annotated[str, StringConstraints(max_length=REF_LEN)]  # document numbers, archive references, file names
Title = Annotated[str, StringConstraints(max_length=TITLE_LEN)]
Romanized = Annotated[str, StringConstraints(max_length=ROMANIZED_LEN)]
Url = Annotated[str, StringConstraints(max_length=URL_LEN)]
Text = Annotated[str, StringConstraints(max_length=TEXT_LEN)]  # remarks, notes, reasons, descriptions
LongText = Annotated[str, StringConstraints(max_length=LONG_LEN)]  # 历史沿革 and the like

# Database bounds per column (characters). Migration 0008 creates ``ck_<table>_<column>_len`` from a frozen copy
# of this table; tests/api/test_limits.py checks that the database and this table agree and that every text
# column of the schema has a bound. Internal columns (hashes, derived search keys) are bounded too, generously.
COLUMN_LIMITS: dict[str, dict[str, int]] = {
    "adjustments": {"kind": 64, "title": 300, "status": 64, "approving_authority": 200, "document_no": 255,
                    "proposed_by": 64, "decided_by": 64, "decision_note": 4000, "applied_by": 64},
    "api_tokens": {"token_hash": 200},
    "auth_events": {"event": 64, "username": 200, "actor": 200, "address": 200},
    "auth_throttle": {"scope": 64, "key": 200},
    "approval_authorities": {"category_prefix": 64, "authority": 200, "rule": 64, "note": 4000},
    "audit_log": {"actor": 64, "reason": 8000, "action": 64, "table_name": 64, "entity_key": 200},
    "boundary_inspection_findings": {"marker_no": 64, "photo": 255, "note": 4000},
    "boundary_inspections": {"line_id": 64, "kind": 64, "filing_ref": 255, "note": 4000, "created_by": 64},
    "boundary_issues": {"line_id": 64, "marker_no": 64, "kind": 64, "description": 4000, "risk": 64,
                        "status": 64, "resolution": 4000},
    "boundary_line_versions": {"line_id": 64, "source": 200},
    "boundary_lines": {"line_id": 64, "level": 64, "left_code": 64, "right_code": 64, "line_no": 64, "name": 100,
                       "agreement_ref": 255, "detail_map_ref": 255, "responsible_left": 200,
                       "responsible_right": 200, "note": 4000, "source": 200},
    "boundary_markers": {"marker_no": 64, "line_id": 64, "type_letter": 64, "survey_method": 200,
                         "coord_source": 64, "material": 200, "status": 64, "note": 4000, "source": 200},
    "boundary_patrols": {"line_id": 64, "patrolled_by": 64, "file_name": 255},
    "field_attachment_links": {"sha256": 64, "target_kind": 64, "target_key": 64, "caption": 4000,
                               "linked_by": 64},
    "field_attachments": {"sha256": 64, "content_type": 200, "uploaded_by": 64},
    "field_changes": {"change_id": 64, "username": 64, "kind": 64, "digest": 64, "device": 64},
    "cemeteries": {"cemetery_type": 64, "approval_authority": 200, "approval_doc": 255, "remarks": 4000,
                   "source": 200},
    "cemetery_parcels": {"name": 100, "status": 64, "approval_doc": 255, "remarks": 4000, "source": 200},
    "constraint_features": {"layer_id": 64, "name": 100, "source": 200},
    "constraint_layers": {"code": 64, "name_zh": 100, "name_en": 100, "rule": 64, "note": 4000},
    "demand_layers": {"name": 100, "weight_label": 100, "source": 200, "created_by": 64},
    "demand_points": {"code": 100, "name": 100},
    "division_codes": {"code": 64, "level": 64, "retired_document": 255},
    "division_lineage": {"predecessor_code": 64, "successor_code": 64, "relation": 64},
    "division_seats": {"code": 64, "seat_name": 100, "document_no": 255, "source": 200},
    "divisions": {"code": 64, "name": 100, "level": 64, "kind": 64, "parent_code": 64, "document_no": 255,
                  "source": 200},
    "facilities": {"name": 100, "kind": 64, "division_code": 64, "address": 200, "status": 64, "remarks": 4000,
                   "source": 200},
    "facility_kinds": {"code": 64, "name_zh": 100, "name_en": 100, "category": 64, "note": 4000},
    "name_flags": {"name": 100, "class": 64, "rule": 64, "reason": 4000, "reason_zh": 4000, "evidence": 4000,
                   "status": 64, "outcome_note": 4000, "decided_by": 64},
    "place_categories": {"code": 64, "name_zh": 100, "name_en": 100, "census_class": 64, "dup_scope": 64,
                         "parent_code": 64},
    "place_name_corrections": {"base_etag": 64, "old_name": 100, "new_name": 100, "reason": 4000, "status": 64,
                               "requested_by": 64, "decided_by": 64, "decision_note": 4000},
    "place_protection": {"category": 200, "listed_by": 64, "measures": 4000, "note": 4000},
    "place_variants": {"kind": 64, "name": 100, "language": 64, "script": 64, "romanized": 1000, "note": 4000},
    "places": {"name": 100, "zhuanming": 100, "tongming": 100, "romanized": 1000, "romanized_by": 64,
               "tongming_romanized": 1000, "category_code": 64, "status": 64, "division_code": 64,
               "meaning": 4000, "history": 10000, "description": 4000, "sources": 4000, "usage": 64,
               "registered_by": 200, "registering_unit": 200, "coord_method": 64, "coord_system": 64,
               "minority_script": 200, "language": 64, "remarks": 4000, "pinyin": 1000, "initials": 200,
               "dup_specific": 100, "dup_pinyin": 1000, "dup_dialect": 1000, "source": 200},
    "proposal_documents": {"kind": 64, "title": 300, "doc_no": 255, "opinion_handling": 4000, "url": 2000,
                           "file_name": 255, "content_type": 200, "sha256": 64, "stage": 64, "uploaded_by": 64},
    "proposal_steps": {"from_stage": 64, "to_stage": 64, "doc_no": 255, "actor": 64, "reason": 4000},
    "proposals": {"kind": 64, "stage": 64, "name": 100, "romanized": 1000, "category_code": 64, "old_name": 100,
                  "division_code": 64, "location_description": 4000, "entity_scale": 200, "entity_nature": 200,
                  "meaning": 4000, "reasons": 4000, "applicant": 200, "applied_by": 64, "flags_scope": 64,
                  "flags_justification": 4000, "reviewed_by": 64, "approval_authority": 200,
                  "approval_doc_no": 255, "approved_by": 64, "filing_doc_no": 255, "filed_with": 200,
                  "filed_by": 64, "notice_no": 255, "announced_by": 64, "closed_by": 64, "closed_reason": 4000},
    "road_edges": {"name": 200, "highway": 64},
    "road_networks": {"name": 100, "kind": 64, "network_type": 64, "source": 200, "created_by": 64},
    "users": {"username": 64, "password_hash": 200},
}


def constraint_name(table: str, column: str) -> str:
    return f"ck_{table}_{column}_len"


def length_error(constraint: str) -> InvalidInput | None:
    """The 422 for a violated ``ck_<table>_<column>_len`` (a write that bypassed the schema's bound)."""
    for table, cols in COLUMN_LIMITS.items():
        for column, n in cols.items():
            if constraint_name(table, column) == constraint:
                return InvalidInput(f"{column} is longer than {n:,} characters",
                                    f"{_label_zh(column)}超过 {n:,} 个字符",
                                    field=column, rule=constraint, code="too_long", extra={"limit": n})
    return None


# -- request body size ------------------------------------------------------------------------------------

# Routes that take a multipart file, and routes that take a whole JSON layer: they get the larger limits, and only
# when the request carries a bearer token (a cheap filter before authentication runs; the route still checks it).
UPLOAD_PATHS = re.compile(r"^/api/v1/(imports/|boundary-patrols|proposals/[^/]+/documents|field/(attachments|sync)$)")
LAYER_PATHS = re.compile(r"^/api/v1/(coverage/(networks|demand-layers)|constraint-layers/[^/]+/features)$")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class _BodyTooLarge(Exception):
    pass


def body_limit(limits: LimitSettings, path: str, headers: dict[bytes, bytes]) -> tuple[int, str, str]:
    """(bytes, setting name, what in Chinese) for a request."""
    authorised = headers.get(b"authorization", b"").lower().startswith(b"bearer ")
    if authorised and UPLOAD_PATHS.match(path):
        return limits.upload_body_bytes, "upload_body_bytes", "上传文件"
    if authorised and LAYER_PATHS.match(path):
        return limits.layer_body_bytes, "layer_body_bytes", "图层数据"
    return limits.json_body_bytes, "json_body_bytes", "请求体"


class BodyLimitMiddleware:
    """Refuse bodies over the limit with 413 — by Content-Length before reading, else while streaming."""

    def __init__(self, app: ASGIApp, limits: LimitSettings) -> None:
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        limit, setting, what_zh = body_limit(self.limits, scope.get("path", ""), headers)

        def error() -> TooLarge:  # built only for a refused request, not for every one
            return too_large(f"the request body ({setting.removesuffix('_bytes').replace('_', ' ')})", what_zh,
                             limit, setting, field="body", unit=" bytes")

        declared = headers.get(b"content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                await _send_error(scope, receive, send, InvalidInput(
                    "Content-Length is not a number", "Content-Length 不是数字", field="Content-Length"))
                return
            if int(declared) > limit:
                await _send_error(scope, receive, send, error())
                return
        received = 0
        tripped = False
        started = False

        async def counted() -> Message:
            nonlocal received, tripped
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    tripped = True
                    raise _BodyTooLarge
            return message

        async def guarded(message: Message) -> None:
            nonlocal started
            if tripped and not started:
                return  # whatever the app answers to a cut-off body is replaced by the 413 below
            started = started or message["type"] == "http.response.start"
            await send(message)

        with contextlib.suppress(_BodyTooLarge):  # raised by counted(): the app's reading stops there
            await self.app(scope, counted, guarded)
        if tripped and not started:
            await _send_error(scope, receive, send, error())


async def _send_error(scope: Scope, receive: Receive, send: Send, exc: DimingError) -> None:
    response = error_response(exc)
    response.headers["Connection"] = "close"  # the body was not (fully) read: the connection cannot be reused
    await response(scope, receive, send)


# -- archives ---------------------------------------------------------------------------------------------

def _unsafe_member(name: str) -> bool:
    p = PurePosixPath(name.replace("\\", "/"))
    return p.is_absolute() or ".." in p.parts or bool(re.match(r"^[A-Za-z]:", name)) or "\x00" in name


def check_zip(path: Path, limits: LimitSettings, *, field: str = "file") -> list[zipfile.ZipInfo]:
    """The members of a zip (or XLSX) whose central directory is within every limit, else a 413/422.

    Reads only the central directory: nothing is decompressed here.
    """
    try:
        with zipfile.ZipFile(path) as z:
            infos = z.infolist()
    except zipfile.BadZipFile as exc:
        raise InvalidInput(f"{field} is not a valid zip archive: {exc}", f"{_label_zh(field)}不是有效的 zip 压缩包",
                           field=field) from None
    if len(infos) > limits.archive_max_members:
        raise too_large(f"the archive's member count ({len(infos):,})", f"压缩包文件数（{len(infos):,}）",
                        limits.archive_max_members, "archive_max_members", field=field)
    total = 0
    for info in infos:
        if _unsafe_member(info.filename):
            raise InvalidInput(f"archive member {info.filename!r} points outside the archive",
                               f"压缩包中的文件 {info.filename!r} 路径越出压缩包", field=field, rule="path traversal")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size > 1 * MiB and ratio > limits.archive_max_ratio:
            raise too_large(f"the compression ratio of {info.filename!r} ({ratio:,.0f}:1)",
                            f"压缩包中 {info.filename!r} 的压缩比（{ratio:,.0f}:1）", limits.archive_max_ratio,
                            "archive_max_ratio", field=field, unit=":1")
    if total > limits.archive_uncompressed_bytes:
        raise too_large(f"the archive's uncompressed size ({total:,} bytes)", f"压缩包解压后大小（{total:,} 字节）",
                        limits.archive_uncompressed_bytes, "archive_uncompressed_bytes", field=field,
                        unit=" bytes")
    return infos


def safe_extract(path: Path, target: Path, limits: LimitSettings, *, field: str = "file") -> list[Path]:
    """Extract a zip after :func:`check_zip`, counting the real bytes (a member may lie about its size)."""
    infos = check_zip(path, limits, field=field)
    budget = limits.archive_uncompressed_bytes
    out: list[Path] = []
    with zipfile.ZipFile(path) as z:
        for info in infos:
            if info.is_dir():
                continue
            dest = target / PurePosixPath(info.filename.replace("\\", "/"))
            dest.parent.mkdir(parents=True, exist_ok=True)
            with z.open(info) as src, dest.open("wb") as fh:
                while chunk := src.read(MiB):
                    budget -= len(chunk)
                    if budget < 0:
                        raise too_large("the archive's uncompressed size", "压缩包解压后大小",
                                        limits.archive_uncompressed_bytes, "archive_uncompressed_bytes",
                                        field=field, unit=" bytes")
                    fh.write(chunk)
            out.append(dest)
    return out


def copy_bounded(src: Any, dest: Path, limit: int, setting: str, *, field: str = "file") -> int:
    """Copy a file object to ``dest`` in chunks, refusing more than ``limit`` bytes (never all in memory)."""
    n = 0
    with dest.open("wb") as fh:
        while chunk := src.read(MiB):
            n += len(chunk)
            if n > limit:
                raise too_large("the uploaded file", "上传文件", limit, setting, field=field, unit=" bytes")
            fh.write(chunk)
    return n


# -- geometry ---------------------------------------------------------------------------------------------

_DEPTH = {"Point": 0, "MultiPoint": 1, "LineString": 1, "MultiLineString": 2, "Polygon": 2, "MultiPolygon": 3}


def _bad(field: str, why: str, why_zh: str) -> InvalidInput:
    return InvalidInput(f"{field} is not valid GeoJSON: {why}", f"{_label_zh(field)}不是有效的 GeoJSON：{why_zh}",
                        field=field)


def _count_positions(coords: Any, depth: int, field: str, budget: int) -> int:
    """Positions in a GeoJSON coordinates array of the given nesting depth, stopping once over ``budget``."""
    if depth == 0:
        if not isinstance(coords, list | tuple) or not 2 <= len(coords) <= 3:
            raise _bad(field, "a position must be [lon, lat]", "坐标须为 [经度, 纬度]")
        return 1
    if not isinstance(coords, list | tuple):
        raise _bad(field, "coordinates must be nested arrays", "坐标须为嵌套数组")
    if depth == 1:
        return len(coords)  # the positions themselves are checked by shapely; counting is what must be cheap
    n = 0
    for part in coords:
        n += _count_positions(part, depth - 1, field, budget - n)
        if n > budget:
            return n
    return n


def _label_zh(field: str) -> str:
    from gis_api.labels import field_label

    return field_label(field.split(".")[-1])


def _ring_no(where: str) -> str:
    """"[0][2]" (polygon 0, ring 2) as people count: "1-3"."""
    return "-".join(str(int(n) + 1) for n in re.findall(r"\d+", where)) or "1"


def _check_rings(coords: Any, depth: int, field: str, path: str) -> None:
    if depth == 2:  # a polygon: its rings
        for r, ring in enumerate(coords):
            if (isinstance(ring, list | tuple) and ring and isinstance(ring[0], list | tuple)
                    and isinstance(ring[-1], list | tuple) and list(ring[0]) != list(ring[-1])):
                where = f"{path}[{r}]"
                raise InvalidInput(
                    f"{field}: ring coordinates{where} is not closed (first point {list(ring[0])} ≠ last point "
                    f"{list(ring[-1])}); repeat the first point at the end",
                    f"{_label_zh(field)}：第 {_ring_no(where)} 个环未闭合"
                    f"（首点 {list(ring[0])} ≠ 末点 {list(ring[-1])}），"
                    "请在末尾重复首点", field=f"{field}.coordinates{where}", rule="closed ring")
        return
    for p, poly in enumerate(coords):
        _check_rings(poly, depth - 1, field, f"{path}[{p}]")


def check_geojson_geometry(geometry: Any, *, field: str = "geometry", max_vertices: int | None = None,
                           setting: str = "geometry_max_vertices", _nesting: int = 0) -> int:
    """Count the vertices of a GeoJSON geometry before anything is built from it; refuse too many (422) and
    unclosed polygon rings (422 naming the ring). Returns the vertex count."""
    limit = max_vertices if max_vertices is not None else defaults().geometry_max_vertices
    if not isinstance(geometry, dict):
        raise _bad(field, "a geometry must be an object", "几何须为对象")
    kind = geometry.get("type")
    if kind == "GeometryCollection":
        if _nesting > 2:
            raise _bad(field, "geometry collections nested too deep", "几何集合嵌套过深")
        parts = geometry.get("geometries")
        if not isinstance(parts, list):
            raise _bad(field, "geometries must be an array", "几何集合须为数组")
        n = 0
        for i, part in enumerate(parts):
            n += check_geojson_geometry(part, field=f"{field}.geometries[{i}]", max_vertices=limit - n,
                                        setting=setting, _nesting=_nesting + 1)
        return n
    if kind not in _DEPTH:
        raise _bad(field, f"unknown geometry type {kind!r}", f"未知的几何类型 {kind!r}")
    coords = geometry.get("coordinates")
    n = _count_positions(coords, _DEPTH[str(kind)], field, limit)
    if n > limit:
        env = f"DIMING_LIMIT_{setting.upper()}"
        raise InvalidInput(
            f"{field} has more than {limit:,} vertices ({env})",
            f"{_label_zh(field)}的顶点数超过上限 {limit:,}（{env}）",
            field=field, rule=env, code="too_many_vertices", extra={"limit": limit})
    if kind in ("Polygon", "MultiPolygon"):
        _check_rings(coords, _DEPTH[str(kind)], field, "")
    return n


# -- statement timeout ------------------------------------------------------------------------------------

TIMEOUT_KEY = "diming_statement_timeout"


def set_statement_timeout(session: Session, seconds: float, request_class: str) -> None:
    """Bound every statement of this session's transaction; applied now when a transaction is open, else when
    it begins (``SET LOCAL`` lasts exactly one transaction)."""
    session.info[TIMEOUT_KEY] = (int(seconds * 1000), request_class)
    if session.in_transaction():
        session.connection().exec_driver_sql(f"SET LOCAL statement_timeout = {int(seconds * 1000)}")


@event.listens_for(Session, "after_begin")
def _apply_timeout(session: Session, _transaction: SessionTransaction, connection: Connection) -> None:
    setting = session.info.get(TIMEOUT_KEY)
    if setting:
        connection.exec_driver_sql(f"SET LOCAL statement_timeout = {int(setting[0])}")


def timeout_for_method(limits: LimitSettings, method: str) -> tuple[float, str]:
    if method in ("GET", "HEAD", "OPTIONS"):
        return limits.read_timeout_s, "read"
    return limits.write_timeout_s, "write"


def timeout_error(request_class: str, seconds: float, retry_after: int) -> QueryTimeout:
    setting = f"DIMING_LIMIT_{'ANONYMOUS_ANALYSIS' if request_class == 'anonymous analysis' else request_class.upper()}"
    zh = {"read": "查询", "write": "写入", "analysis": "分析", "anonymous analysis": "未登录分析", "import": "导入"}
    return QueryTimeout(
        f"the database query was cancelled after the {seconds:g} s limit of {request_class} requests "
        f"({setting}_TIMEOUT_S); narrow the request or try again later",
        f"数据库查询超过{zh.get(request_class, '')}请求的时限 {seconds:g} 秒（{setting}_TIMEOUT_S）已取消；"
        "请缩小范围或稍后重试",
        field=None, rule=f"{setting}_TIMEOUT_S", headers={"Retry-After": str(retry_after)},
        extra={"limit": seconds})

