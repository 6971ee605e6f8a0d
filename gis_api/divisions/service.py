"""Division rules and SQL: as-of reads as GeoJSON built in PostGIS, and versioned, audited writes.

Services take a session and never commit: the caller (request or CLI command) owns the transaction.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, inspect, select, text
from sqlalchemy.orm import Session

from gis_api import clock, geojson_sql, versioning
from gis_api.audit import service as audit
from gis_api.concurrency import Versioned, make_etag, write_version
from gis_api.divisions.models import (
    CODE_LENGTH,
    KINDS,
    LEVEL_ZH,
    PARENT_LEVEL,
    PARENT_PREFIX,
    Division,
    DivisionCode,
    Level,
)
from gis_api.divisions.schemas import ChangeMode, DivisionCreate, DivisionRetire, DivisionUpdate
from gis_api.errors import Conflict, InvalidInput, NotFound
from gis_api.geo.echo import echoed_geometry
from gis_api.geo.geometry_input import parse_geojson

TABLE = "divisions"

# Properties of a division feature, computed in SQL; areas are geodesic on the CGCS2000 ellipsoid.
_FEATURE_SQL = """
json_build_object(
    'type', 'Feature',
    'id', d.code,
    'geometry', ST_AsGeoJSON(d.geom, 7, 0)::json,
    'properties', json_build_object(
        'code', d.code, 'name', d.name, 'level', d.level, 'kind', d.kind, 'parent_code', d.parent_code,
        'area_km2', CASE WHEN ST_Dimension(d.geom) = 2
                         THEN round((ST_Area(d.geom::geography) / 1e6)::numeric, 3) END,
        'population', d.population, 'source', d.source,
        'valid_from', d.valid_from, 'valid_to', d.valid_to,
        'version', d.version, 'document_no', d.document_no
    )
)"""

AS_OF = "d.valid_from <= :as_of AND (d.valid_to IS NULL OR d.valid_to > :as_of)"


def etag(row_id: int, version: int) -> str:
    return make_etag("d", row_id, version)


@dataclass(frozen=True)
class ListQuery:
    as_of: dt.date
    level: Level | None = None
    parent: str | None = None
    bbox: tuple[float, float, float, float] | None = None
    limit: int = 1000
    offset: int = 0


def _not_found(code: str, as_of: dt.date) -> NotFound:
    return NotFound(
        f"no division {code} in force on {as_of.isoformat()}",
        f"{as_of.isoformat()} 时不存在代码为 {code} 的行政区划",
        field="code",
    )


def list_geojson(session: Session, q: ListQuery, next_url: str | None) -> str:
    """A FeatureCollection as JSON text, assembled by PostgreSQL in one statement."""
    conds = [AS_OF]
    params: dict[str, Any] = {"as_of": q.as_of}
    if q.level:
        conds.append("d.level = :level")
        params["level"] = q.level.value
    if q.parent:
        conds.append("d.parent_code = :parent")
        params["parent"] = q.parent
    if q.bbox:
        conds.append("d.geom && ST_MakeEnvelope(:x1, :y1, :x2, :y2, 4490)")
        params.update(dict(zip(("x1", "y1", "x2", "y2"), q.bbox, strict=True)))
    return geojson_sql.collection(
        session, table="divisions", alias="d", where=conds, feature_sql=_FEATURE_SQL, order_by="d.code",
        params=params, limit=q.limit, offset=q.offset, next_url=next_url,
    )


def _in_force(as_of: dt.date) -> tuple[Any, ...]:
    return (versioning.as_of(Division, as_of),)


def current_row(session: Session, code: str, as_of: dt.date) -> Division | None:
    """The version in force on ``as_of``, for reading; writers get theirs from ``GUARD.lock``."""
    return session.scalars(select(Division).where(Division.code == code, *_in_force(as_of))).first()


# One division as served by GET /divisions/{code} (parameters :code, :as_of; the route runs it on the read pool,
# gis_api/fast_reads.py).
FEATURE_ONE_SQL = f"SELECT {_FEATURE_SQL}::text, d.id, d.version FROM divisions d WHERE d.code = :code AND {AS_OF}"


def feature(session: Session, code: str, as_of: dt.date) -> tuple[str, str]:
    """(GeoJSON Feature text, ETag) of the version in force on ``as_of``."""
    return feature_answer(session.execute(text(FEATURE_ONE_SQL), {"code": code, "as_of": as_of}).first(), code, as_of)


def feature_answer(row: Any, code: str, as_of: dt.date) -> tuple[str, str]:
    """(feature text, ETag) of a ``FEATURE_ONE_SQL`` row, 404 when there is none."""
    if row is None:
        raise _not_found(code, as_of)
    return str(row[0]), etag(int(row[1]), int(row[2]))


def feature_by_id(session: Session, row_id: int) -> tuple[str, str]:
    row = session.execute(
        text(f"SELECT {_FEATURE_SQL}::text, d.id, d.version FROM divisions d WHERE d.id = :id"), {"id": row_id}
    ).one()
    return str(row[0]), etag(int(row[1]), int(row[2]))


def versions(session: Session, code: str) -> list[dict[str, Any]]:
    """All valid-time versions of a code, oldest first (without geometry)."""
    rows = session.execute(
        select(
            Division.id, Division.name, Division.kind, Division.parent_code, Division.valid_from,
            Division.valid_to, Division.version, Division.document_no, Division.source,
        )
        .where(Division.code == code)
        .order_by(Division.valid_from)
    ).all()
    return [
        {
            "row_id": r.id, "name": r.name, "kind": r.kind, "parent_code": r.parent_code,
            "valid_from": r.valid_from.isoformat(), "valid_to": r.valid_to.isoformat() if r.valid_to else None,
            "version": r.version, "document_no": r.document_no, "source": r.source,
        }
        for r in rows
    ]


def history(session: Session, code: str) -> dict[str, Any]:
    if session.get(DivisionCode, code) is None:  # the registry, not the rows: a withdrawn code has none left
        raise NotFound(f"no division with code {code}", f"不存在代码为 {code} 的行政区划", field="code")
    return {"code": code, "versions": versions(session, code), "changes": audit.history(session, TABLE, code)}


# -- validation ---------------------------------------------------------------------------------------

def _check_name(name: str, field: str = "name") -> str:
    name = name.strip()
    if not name:
        raise InvalidInput("name must not be empty", "名称不能为空", field=field, rule="N0")
    if len(name) > 100:
        raise InvalidInput("name is longer than 100 characters", "名称超过100个字符", field=field)
    return name


def _check_kind(level: Level, kind: str) -> str:
    if kind not in KINDS[level]:
        raise InvalidInput(
            f"kind {kind!r} is not a kind of {level.value}-level division; expected one of {', '.join(KINDS[level])}",
            f"类型 {kind!r} 不是{LEVEL_ZH[level]}行政区划的类型；可选：{'、'.join(KINDS[level])}",
            field="kind",
        )
    return kind


def check_code(code: str, level: Level) -> None:
    """Length and digits by level (domain.md §4: validate length and parentage, not ranges)."""
    want = CODE_LENGTH[level]
    if not (code.isascii() and code.isdigit() and len(code) == want):
        raise InvalidInput(
            f"code {code!r} of a {level.value}-level division must be {want} digits",
            f"{LEVEL_ZH[level]}行政区划代码 {code!r} 须为{want}位数字",
            field="code",
            rule="§4",
        )


def _check_parent(session: Session, level: Level, code: str, parent_code: str | None, on: dt.date) -> None:
    parent_level = PARENT_LEVEL.get(level)
    if parent_level is None:
        if parent_code:
            raise InvalidInput(
                f"a {level.value} has no parent", f"{LEVEL_ZH[level]}行政区划没有上级", field="parent_code"
            )
        return
    if not parent_code:
        raise InvalidInput(
            f"parent_code is required for a {level.value}-level division",
            f"{LEVEL_ZH[level]}行政区划须填写上级代码", field="parent_code", rule="§4",
        )
    parent = current_row(session, parent_code, on)
    if parent is None:
        raise InvalidInput(
            f"parent {parent_code} is not in force on {on.isoformat()}",
            f"上级区划 {parent_code} 在 {on.isoformat()} 时不存在", field="parent_code", rule="§4",
        )
    if parent.level != parent_level.value:
        raise InvalidInput(
            f"parent {parent_code} is a {parent.level}, a {level.value} needs a {parent_level.value}",
            f"上级区划 {parent_code} 是{LEVEL_ZH[Level(parent.level)]}，应为{LEVEL_ZH[parent_level]}",
            field="parent_code", rule="§4",
        )
    n = PARENT_PREFIX[level]
    if code[:n] != parent_code[:n]:
        raise InvalidInput(
            f"code {code} does not start with its parent's digits {parent_code[:n]}",
            f"代码 {code} 的前{n}位应与上级代码 {parent_code[:n]} 一致", field="code", rule="§4",
        )


# -- writes ---------------------------------------------------------------------------------------------

def create(session: Session, body: DivisionCreate, actor: str) -> Division:
    check_code(body.code, body.level)
    name = _check_name(body.name)
    kind = _check_kind(body.level, body.kind)
    registered = session.get(DivisionCode, body.code)
    if registered is not None:
        if registered.retired_on is not None:
            raise Conflict(
                f"code {body.code} was retired on {registered.retired_on.isoformat()}; codes are never reused",
                f"代码 {body.code} 已于 {registered.retired_on.isoformat()} 停用，区划代码不得重复使用",
                field="code", rule="§4", code="code_retired",
            )
        raise Conflict(f"division {body.code} already exists", f"区划代码 {body.code} 已存在", field="code")
    _check_parent(session, body.level, body.code, body.parent_code, body.valid_from)
    geom = parse_geojson(body.geometry) if body.geometry else None
    audit.set_context(session, actor, body.reason)
    session.add(DivisionCode(code=body.code, level=body.level.value, first_valid_from=body.valid_from))
    row = Division(
        code=body.code, name=name, level=body.level.value, kind=kind, parent_code=body.parent_code,
        geom=geom, population=body.population, source=body.source.strip() or "unknown",
        valid_from=body.valid_from, document_no=body.document_no,
    )
    session.add(row)
    session.flush()
    return row


GUARD = Versioned(
    model=Division, key=Division.code, latest=(Division.valid_from.desc(),),
    etag=lambda r: etag(r.id, r.version),
    label=lambda r: (f"division {r.code}", f"区划 {r.code} "),
    body=lambda s, r: feature_by_id(s, r.id)[0],
)


def update(session: Session, code: str, body: DivisionUpdate, if_match: str | None, actor: str, *,
           echoed: bool = False) -> Division:
    """Correct the version in force today, or record a legal change from ``effective_date``.

    ``echoed``: the body is a GIS client's copy of the feature it read (OGC PUT/PATCH); a geometry sent back as
    the client rounds it is then not a boundary change (it would break the partition by centimetres). It is
    compared with the locked version."""
    today = clock.today()
    row = GUARD.lock(session, code, if_match, where=_in_force(today), missing=lambda: _not_found(code, today))
    if echoed and body.geometry is not None and echoed_geometry(body.geometry, row.geom):
        body = body.model_copy(update={"geometry": None})
    level = Level(row.level)
    changes: dict[str, Any] = {}
    if body.name is not None:
        changes["name"] = _check_name(body.name)
    if body.kind is not None:
        changes["kind"] = _check_kind(level, body.kind)
    if body.geometry is not None:
        changes["geom"] = parse_geojson(body.geometry)
    if body.population is not None:
        changes["population"] = body.population
    if body.source is not None:
        changes["source"] = body.source.strip()
    if not changes:
        raise InvalidInput("nothing to change", "没有需要修改的内容", field="body")
    audit.set_context(session, actor, body.reason)
    if body.mode is ChangeMode.legal:
        changes["document_no"] = body.document_no  # the act that opens the new version
    return write_version(session, row, changes, legal=body.mode is ChangeMode.legal,
                         effective_date=body.effective_date, rule="§4")


def retire(session: Session, code: str, body: DivisionRetire, if_match: str | None, actor: str) -> Division:
    """Close the division on ``effective_date`` and retire its code for good (domain.md §4).

    The version closed is the one in force on the effective date (today for a future date). A version that
    began today and is retired today never took effect: it is withdrawn (its row deleted; the audit log keeps
    the insertion and the deletion), since a version may not end on the day it begins; the code stays retired."""
    today = clock.today()
    on = min(today, body.effective_date)
    row = GUARD.lock(session, code, if_match, where=_in_force(on), missing=lambda: _not_found(code, on))
    same_day = body.effective_date == row.valid_from == today
    if body.effective_date <= row.valid_from and not same_day:
        raise InvalidInput(
            "effective_date must be after the version's valid_from", "停用日期须晚于当前版本生效日期",
            field="effective_date",
        )
    children = session.scalar(
        select(func.count()).select_from(Division).where(
            Division.parent_code == code,
            (Division.valid_to.is_(None)) | (Division.valid_to > body.effective_date),
        )
    )
    if children:
        raise Conflict(
            f"division {code} still has {children} subordinate divisions after {body.effective_date}; "
            "move or retire them first",
            f"区划 {code} 在 {body.effective_date} 后仍有 {children} 个下级区划，须先调整或撤销",
            field="code", rule="§4",
        )
    audit.set_context(session, actor, body.reason)
    registry = session.get(DivisionCode, code)
    if registry is not None:
        registry.retired_on = body.effective_date
        registry.retired_document = body.document_no
    if same_day:
        session.delete(row)
        session.flush()
        return row
    row.valid_to = body.effective_date
    session.flush()
    session.refresh(row)
    return row


def withdrawn(row: Division) -> bool:
    """True when ``retire`` withdrew the version instead of closing it (see there)."""
    return inspect(row).was_deleted
