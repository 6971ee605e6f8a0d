"""OGC API – Features Part 4 (create, replace, update, delete) through the area services.

An editor turns a GeoJSON Feature into the area's request body and calls the same service function as the
JSON API, so validation, audit, roles and optimistic concurrency (If-Match → 428/412) are one rule in one
place. The ``if_match`` an editor gets is the request's If-Match or, for a PUT/PATCH without one, the ETag made
of the ``row_id`` and ``version`` properties the client read and sent back (``routes._precondition``).
Properties that are derived or read-only (``version``, ``valid_to``, ``zhuanming`` …) are accepted and ignored
when unchanged, because GIS clients send back every attribute they read; control keys ``reason``,
``mode`` (correction | legal) and ``effective_date`` choose the kind of change as in the JSON API.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Protocol, TypeVar

from pydantic import BaseModel, ValidationError
from sqlalchemy.orm import Session

from gis_api import auth, clock
from gis_api.divisions import service as divisions_service
from gis_api.divisions.models import DivisionCode, Level
from gis_api.divisions.routes import WRITERS as DIVISION_WRITERS
from gis_api.divisions.schemas import DivisionCreate, DivisionRetire, DivisionUpdate
from gis_api.errors import InvalidInput, NotFound
from gis_api.places import service as places_service
from gis_api.places.routes import EDITORS as PLACE_EDITORS
from gis_api.places.schemas import REGISTER_FIELDS, PlaceCreate, PlaceRetire, PlaceUpdate

M = TypeVar("M", bound=BaseModel)
CONTROL = frozenset({"reason", "mode", "effective_date", "document_no"})


class Editor(Protocol):
    roles: tuple[auth.Role, ...]

    def create(self, session: Session, feature: dict[str, Any], actor: str, reason: str) -> tuple[str, dt.date]:
        """Register the feature; (feature id, date to read it back on)."""
        ...

    def replace(self, session: Session, fid: str, feature: dict[str, Any], if_match: str | None, actor: str,
                reason: str) -> tuple[str, dt.date]: ...

    def update(self, session: Session, fid: str, feature: dict[str, Any], if_match: str | None, actor: str,
               reason: str) -> tuple[str, dt.date]: ...

    def delete(self, session: Session, fid: str, if_match: str | None, actor: str, reason: str,
               effective_date: dt.date) -> None: ...


def feature_parts(body: Any, *, partial: bool = False) -> tuple[dict[str, Any] | None, dict[str, Any], Any]:
    """(geometry or None, properties, id) of a GeoJSON Feature body; a 422 naming what is wrong otherwise."""
    if not isinstance(body, dict) or (body.get("type") != "Feature" and not partial):
        raise InvalidInput("the body must be a GeoJSON Feature", "请求体须为 GeoJSON Feature", field="type")
    props = body.get("properties") or {}
    if not isinstance(props, dict):
        raise InvalidInput("properties must be an object", "properties 须为对象", field="properties")
    geometry = body.get("geometry")
    if geometry is not None and not isinstance(geometry, dict):
        raise InvalidInput("geometry must be a GeoJSON geometry", "geometry 须为 GeoJSON 几何", field="geometry")
    return geometry, props, body.get("id")


def _model(model: type[M], data: dict[str, Any]) -> M:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first.get("loc", ())) or "properties"
        raise InvalidInput(f"properties.{field}: {first.get('msg', 'invalid')}",
                           f"属性 {field} 无效：{first.get('msg', '')}", field=field) from None


def _check_keys(props: dict[str, Any], writable: set[str], read_only: set[str]) -> None:
    unknown = sorted(k for k in props if k not in writable and k not in read_only and k not in CONTROL)
    if unknown:
        raise InvalidInput(
            f"unknown properties: {', '.join(unknown)}; writable are {', '.join(sorted(writable))}",
            f"未知属性：{'、'.join(unknown)}", field=f"properties.{unknown[0]}",
        )


class _ReplaceOrUpdate:
    """PUT and PATCH share one ``_update``: a replacement (PUT) also clears or requires what it does not carry."""

    def _update(self, session: Session, fid: str, feature: dict[str, Any], if_match: str | None, actor: str,
                reason: str, replace: bool) -> tuple[str, dt.date]:
        raise NotImplementedError

    def replace(self, session: Session, fid: str, feature: dict[str, Any], if_match: str | None, actor: str,
                reason: str) -> tuple[str, dt.date]:
        return self._update(session, fid, feature, if_match, actor, reason, replace=True)

    def update(self, session: Session, fid: str, feature: dict[str, Any], if_match: str | None, actor: str,
               reason: str) -> tuple[str, dt.date]:
        return self._update(session, fid, feature, if_match, actor, reason, replace=False)


# -- places ------------------------------------------------------------------------------------------------

_PLACE_WRITABLE = {"name", "category_code", "division_code", "status", "romanized", "source", *REGISTER_FIELDS}
_PLACE_READ_ONLY = {"zhuanming", "tongming", "romanized_by", "tongming_romanized", "category_name", "census_class",
                    "scope_kind", "coord_system", "valid_to", "version", "row_id", "id", "place_id", "valid_from"}


def _place_id(fid: str) -> int:
    try:
        return int(fid)
    except ValueError:
        raise NotFound(f"no place {fid}", f"不存在编号为 {fid} 的地名", field="featureId") from None


class PlaceEditor(_ReplaceOrUpdate):
    roles: tuple[auth.Role, ...] = PLACE_EDITORS

    def create(self, session: Session, feature: dict[str, Any], actor: str, reason: str) -> tuple[str, dt.date]:
        geometry, props, _fid = feature_parts(feature)
        _check_keys(props, _PLACE_WRITABLE | {"valid_from", "variants"}, _PLACE_READ_ONLY - {"valid_from"})
        data = {k: v for k, v in props.items() if k in _PLACE_WRITABLE | {"valid_from", "variants"} and v is not None}
        body = _model(PlaceCreate, {**data, "geometry": geometry, "reason": reason})
        row, _flags = places_service.create(session, body, actor)
        return str(row.place_id), row.valid_from

    def _update(self, session: Session, fid: str, feature: dict[str, Any], if_match: str | None, actor: str,
                reason: str, replace: bool) -> tuple[str, dt.date]:
        pid = _place_id(fid)
        geometry, props, _ = feature_parts(feature, partial=not replace)
        _check_keys(props, _PLACE_WRITABLE, _PLACE_READ_ONLY)
        data: dict[str, Any] = {k: v for k, v in props.items() if k in _PLACE_WRITABLE}
        if replace:
            for k in REGISTER_FIELDS:
                data.setdefault(k, None)  # a replacement clears what it does not carry
            for k in ("name", "category_code"):
                if data.get(k) is None:
                    raise InvalidInput(f"a replacement needs properties.{k}", f"整体替换须提供属性 {k}", field=k)
        for k in ("name", "category_code", "status", "source"):
            if k in data and data[k] is None:
                raise InvalidInput(f"properties.{k} cannot be removed", f"属性 {k} 不能删除", field=k)
        for k in ("mode", "effective_date"):
            if k in props:
                data[k] = props[k]
        if geometry is not None:
            data["geometry"] = geometry
        body = _model(PlaceUpdate, {**data, "reason": reason})
        # Clients send back derived values they read (spelling, division): the service compares them with the
        # version it locked, so nothing here reads the row before the lock.
        row, _flags = places_service.update(session, pid, body, if_match, actor, echoed=True)
        return str(row.place_id), max(row.valid_from, clock.today())

    def delete(self, session: Session, fid: str, if_match: str | None, actor: str, reason: str,
               effective_date: dt.date) -> None:
        places_service.retire(session, _place_id(fid), PlaceRetire(effective_date=effective_date, reason=reason),
                              if_match, actor)


# -- divisions ---------------------------------------------------------------------------------------------

_DIVISION_WRITABLE = {"name", "kind", "population", "source"}
_DIVISION_READ_ONLY = {"code", "level", "parent_code", "area_km2", "valid_from", "valid_to", "version", "row_id",
                       "id"}


class DivisionEditor(_ReplaceOrUpdate):
    roles: tuple[auth.Role, ...] = DIVISION_WRITERS

    def __init__(self, level: str) -> None:
        self.level = Level(level)

    def _of_level(self, session: Session, code: str) -> None:
        """404 unless ``code`` is a division of this collection's level. The code registry is read, not the
        division's rows: a code never changes level, and the service locks and checks the row it writes."""
        registered = session.get(DivisionCode, code)
        if registered is None or registered.level != self.level.value:
            raise NotFound(f"no {self.level.value}-level division {code}",
                           f"不存在代码为 {code} 的该级行政区划", field="featureId")

    def create(self, session: Session, feature: dict[str, Any], actor: str, reason: str) -> tuple[str, dt.date]:
        geometry, props, fid = feature_parts(feature)
        _check_keys(props, _DIVISION_WRITABLE | {"code", "parent_code", "valid_from"}, _DIVISION_READ_ONLY)
        data = {k: v for k, v in props.items()
                if k in _DIVISION_WRITABLE | {"code", "parent_code", "valid_from", "document_no"} and v is not None}
        data.setdefault("code", str(fid) if fid is not None else None)
        data.setdefault("source", "ogc")
        data.setdefault("valid_from", clock.today().isoformat())
        body = _model(DivisionCreate, {**data, "level": self.level.value, "geometry": geometry, "reason": reason})
        row = divisions_service.create(session, body, actor)
        return row.code, row.valid_from

    def _update(self, session: Session, fid: str, feature: dict[str, Any], if_match: str | None, actor: str,
                reason: str, replace: bool) -> tuple[str, dt.date]:
        geometry, props, _ = feature_parts(feature, partial=not replace)
        _check_keys(props, _DIVISION_WRITABLE, _DIVISION_READ_ONLY)
        self._of_level(session, fid)
        data: dict[str, Any] = {k: v for k, v in props.items() if k in _DIVISION_WRITABLE | CONTROL - {"reason"}}
        if replace and not data.get("name"):
            raise InvalidInput("a replacement needs properties.name", "整体替换须提供属性 name", field="name")
        if geometry is not None:
            data["geometry"] = geometry
        body = _model(DivisionUpdate, {**data, "reason": reason})
        # The geometry a client sends back as it read it is compared with the locked version by the service.
        row = divisions_service.update(session, fid, body, if_match, actor, echoed=True)
        return row.code, max(row.valid_from, clock.today())

    def delete(self, session: Session, fid: str, if_match: str | None, actor: str, reason: str,
               effective_date: dt.date) -> None:
        self._of_level(session, fid)
        divisions_service.retire(session, fid, DivisionRetire(effective_date=effective_date, reason=reason),
                                 if_match, actor)
