"""Imported demand layers: any point or polygon layer with a weight (population, pupils, elderly residents…)."""

from __future__ import annotations

from typing import Any

import shapely
from geoalchemy2 import WKBElement
from shapely.geometry import shape
from shapely.validation import explain_validity
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from gis_api.coverage.models import DemandLayer
from gis_api.errors import Conflict, InvalidInput, NotFound
from gis_api.limits import check_geojson_geometry

DEMAND_TYPES = ("Point", "Polygon", "MultiPolygon")


def parse_global(geometry: dict[str, Any], *, field: str, allowed: tuple[str, ...]) -> WKBElement:
    """EWKB (SRID 4490) of a valid GeoJSON geometry in lon/lat anywhere on Earth, or a 422 naming the problem.

    Like ``geo.geometry_input.parse_geojson`` (whose China extent does not apply to imported demand layers and
    networks), the vertices are counted and the rings checked for closure before shapely builds anything:
    shapely would close an open ring silently and build a million-vertex polygon before any check."""
    check_geojson_geometry(geometry, field=field)
    try:
        geom = shape(geometry)
    except Exception as exc:  # shapely raises several types for malformed GeoJSON
        raise InvalidInput(f"{field} is not valid GeoJSON: {exc}", f"{field} 不是有效的 GeoJSON：{exc}",
                           field=field) from None
    if geom.is_empty or geom.geom_type not in allowed:
        raise InvalidInput(f"{field} must be a non-empty {' or '.join(allowed)}",
                           f"{field} 须为非空的 {' 或 '.join(allowed)}", field=field)
    minx, miny, maxx, maxy = geom.bounds
    if not (minx >= -180 and maxx <= 180 and miny >= -90 and maxy <= 90):
        raise InvalidInput(f"{field} is not in longitude/latitude (bounds {geom.bounds})",
                           f"{field} 坐标不是经纬度（{geom.bounds}）", field=field, rule="§7")
    if not geom.is_valid:
        reason = explain_validity(geom)
        raise InvalidInput(f"{field} is not a valid geometry: {reason}", f"{field} 几何无效：{reason}", field=field)
    return WKBElement(shapely.to_wkb(shapely.set_srid(geom, 4490), include_srid=True), srid=4490, extended=True)


def import_layer(session: Session, name: str, fc: dict[str, Any], weight_property: str, actor: str, source: str,
                 code_property: str | None = None, name_property: str | None = None,
                 weight_label: str | None = None, replace: bool = False) -> dict[str, Any]:
    name = name.strip()
    if not name or name == "villages":
        raise InvalidInput("a demand layer needs a name other than 'villages'",
                           "需求图层名称不能为空，也不能与内置的村（居）图层同名",
                           field="name")
    if fc.get("type") != "FeatureCollection" or not isinstance(fc.get("features"), list):
        raise InvalidInput("features must be a GeoJSON FeatureCollection", "须为 GeoJSON FeatureCollection",
                           field="features")
    rows = []
    for i, feat in enumerate(fc["features"]):
        feat = feat or {}
        geom = feat.get("geometry")
        if not isinstance(geom, dict):
            raise InvalidInput(f"feature {i} has no geometry", f"第 {i} 个要素没有几何", field=f"features.{i}.geometry")
        wkb = parse_global(geom, field=f"features.{i}.geometry", allowed=DEMAND_TYPES)
        props = feat.get("properties") or {}
        w = props.get(weight_property)
        if isinstance(w, bool) or not isinstance(w, int | float) or w < 0:
            raise InvalidInput(
                f"feature {i}: property {weight_property!r} must be a number ≥ 0 (got {w!r})",
                f"第 {i} 个要素：权重字段 {weight_property!r} 须为非负数（实际为 {w!r}）",
                field=f"features.{i}.properties.{weight_property}",
            )
        code = props.get(code_property) if code_property else feat.get("id")
        rows.append({"code": str(code if code is not None else i + 1), "name": props.get(name_property or "name"),
                     "w": float(w), "wkb": bytes(wkb.data)})
    old = session.scalars(select(DemandLayer).where(DemandLayer.name == name)).first()
    if old is not None:
        if not replace:
            raise Conflict(f"demand layer {name!r} exists; pass replace to load it again", f"需求图层 {name!r} 已存在",
                           field="name")
        session.delete(old)
        session.flush()
    layer = DemandLayer(name=name, weight_label=weight_label or weight_property, source=source, created_by=actor)
    session.add(layer)
    session.flush()
    if rows:
        session.execute(text("INSERT INTO demand_points (layer_id, code, name, weight, geom) "
                             "VALUES (:layer, :code, :name, :w, ST_GeomFromEWKB(:wkb))"),
                        [{**r, "layer": layer.id} for r in rows])
    return {"id": layer.id, "name": layer.name, "weight": layer.weight_label, "source": layer.source,
            "features": len(rows), "weight_total": sum(r["w"] for r in rows)}


def layers(session: Session) -> list[dict[str, Any]]:
    rows = session.execute(text("""
        SELECT l.id, l.name, l.weight_label, l.source, l.created_by, l.created_at,
               count(p.id) AS n, coalesce(sum(p.weight), 0) AS total
        FROM demand_layers l LEFT JOIN demand_points p ON p.layer_id = l.id
        GROUP BY l.id ORDER BY l.name""")).all()
    return [{"id": r.id, "name": r.name, "weight": r.weight_label, "source": r.source, "created_by": r.created_by,
             "created_at": r.created_at.isoformat(), "features": r.n, "weight_total": r.total} for r in rows]


def delete_layer(session: Session, name: str) -> None:
    layer = session.scalars(select(DemandLayer).where(DemandLayer.name == name)).first()
    if layer is None:
        raise NotFound(f"no demand layer {name!r}", f"没有需求图层 {name!r}", field="name")
    session.delete(layer)
    session.flush()
