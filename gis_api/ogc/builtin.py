"""The collections of the areas built so far: divisions (one collection per level) and places.

Other areas add theirs with ``register(Collection(...))`` (see ``gis_api.ogc.collections``); collections
whose table does not exist yet are not listed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.divisions import service as divisions_service
from gis_api.errors import InvalidInput, NotFound
from gis_api.ogc.collections import Collection, GeometryType, Property, register
from gis_api.ogc.editors import DivisionEditor, PlaceEditor
from gis_api.places import service as places_service

P = Property

# -- divisions: one collection per level -------------------------------------------------------------------

_DIVISION_PROPS = (
    P("code", "t.code", title="区划代码 code", in_tiles=True),
    P("name", "t.name", title="名称 name", in_tiles=True),
    P("level", "t.level", title="层级 level"),
    P("kind", "t.kind", title="类型 kind", in_tiles=True),
    P("parent_code", "t.parent_code", title="上级代码 parent code"),
    P("area_km2", "CASE WHEN ST_Dimension(t.geom) = 2 THEN round((ST_Area(t.geom::geography) / 1e6)::numeric, 3) END",
      "number", title="面积 km² (geodesic)", queryable=False),
    P("population", "t.population", "integer", title="人口 population"),
    P("source", "t.source", title="来源 source"),
    P("valid_from", "t.valid_from", "date", title="生效日期 valid from"),
    P("valid_to", "t.valid_to", "date", title="失效日期 valid to"),
    P("version", "t.version", "integer", title="记录版本 record version"),
    P("row_id", "t.id", "integer", title="版本行号 row id"),  # with version: the precondition QGIS sends back
    P("document_no", "t.document_no", title="文号 document number"),
)

for _level, _cid, _title, _geom in (
    ("county", "counties", "县级行政区 County-level divisions", "MultiPolygon"),
    ("township", "townships", "乡级行政区 Township-level divisions", "MultiPolygon"),
    ("village", "villages", "村级（村委会、居委会）Village committees", "Point"),
):
    register(Collection(
        id=_cid, title=_title, table="divisions", id_sql="t.code", id_type="string",
        description=f"Administrative divisions of level {_level} in force on the requested date (valid time); "
                    "codes are strings (GB/T 2260 + NBS statistical codes).",
        geometry_type=_geom,  # type: ignore[arg-type]
        where=f"t.level = '{_level}'", properties=_DIVISION_PROPS,
        etag=divisions_service.etag, editor=DivisionEditor(_level),
        tile_id_sql="t.code::bigint", keywords=("行政区划", "division", _level),
        requires_table=False,
    ))

# -- places (the gazetteer) --------------------------------------------------------------------------------

_PLACE_PROPS = (
    P("name", "t.name", title="标准名称 standard name", in_tiles=True),
    P("zhuanming", "t.zhuanming", title="专名 specific part"),
    P("tongming", "t.tongming", title="通名 generic part"),
    P("romanized", "t.romanized", title="罗马字母拼写 romanisation"),
    P("romanized_by", "t.romanized_by", title="拼写来源 romanised by"),
    P("tongming_romanized", "t.tongming_romanized", title="通名罗马字母拼写"),
    P("category_code", "t.category_code", title="类别代码 category code", in_tiles=True),
    P("category_name", "c.name_zh", title="类别 category", joined=True),
    P("census_class", "c.census_class", title="普查大类 census class", joined=True),
    P("scope_kind", "t.scope_kind", "integer", title="地名范围 scope kind (§1.1)"),
    P("status", "t.status", title="状态 status", in_tiles=True,
      enum=("standard", "pending", "non_standard", "historic")),
    P("division_code", "t.division_code", title="所在(跨)行政区 division code"),
    P("meaning", "t.meaning", title="地名含义 meaning"),
    P("history", "t.history", title="历史沿革 history"),
    P("description", "t.description", title="地理实体描述 description"),
    P("sources", "t.sources", title="资料来源 sources"),
    P("usage", "t.usage", title="使用时间 usage"),
    P("registered_on", "t.registered_on", "date", title="登记时间 registered on"),
    P("registered_by", "t.registered_by", title="登记人 registered by"),
    P("registering_unit", "t.registering_unit", title="登记单位 registering unit"),
    P("named_on", "t.named_on", "date", title="命名时间 named on"),
    P("established_year", "t.established_year", "integer", title="设立年份"),
    P("abolished_year", "t.abolished_year", "integer", title="废止年份"),
    P("coord_method", "t.coord_method", title="测量方法 coordinate method"),
    P("coord_precision_m", "t.coord_precision_m", "number", title="坐标精度 m"),
    P("coord_system", "t.coord_system", title="坐标系 coordinate system"),
    P("elevation_m", "t.elevation_m", "number", title="高程 m"),
    P("sign_count", "t.sign_count", "integer", title="标牌个数 sign count"),
    P("minority_script", "t.minority_script", title="民族文字"),
    P("language", "t.language", title="语种 language"),
    P("remarks", "t.remarks", title="备注 remarks"),
    P("source", "t.source", title="来源 source"),
    P("valid_from", "t.valid_from", "date", title="生效日期 valid from"),
    P("valid_to", "t.valid_to", "date", title="失效日期 valid to"),
    P("version", "t.version", "integer", title="记录版本 record version"),
    P("row_id", "t.id", "integer", title="版本行号 row id"),
)

_PLACE_JOIN = "LEFT JOIN place_categories c ON c.code = t.category_code"

register(Collection(
    id="places", title="地名 Place names",
    description="The gazetteer: standard place names with their census-register fields (domain.md §1.5), "
                "in force on the requested date. The feature id is the stable place id that survives renames. "
                "Points, lines and areas mixed (and places without a geometry); GIS clients that need one "
                "geometry type per layer read place-points, place-lines and place-areas.",
    table="places", id_sql="t.place_id", id_type="integer", geometry_type="Geometry",
    properties=_PLACE_PROPS, join=_PLACE_JOIN,
    etag=places_service.etag, editor=PlaceEditor(), keywords=("地名", "gazetteer", "place names"),
    requires_table=False, point_column="geom_pt",
))


@dataclass(frozen=True)
class PlaceFamily:
    collection_id: str
    title: str
    dimension: int  # ST_Dimension: 0 points, 1 lines, 2 areas
    geometry_type: GeometryType
    geojson_types: tuple[str, ...]  # what a write may send (the places table's own geometry types)


class PlaceFamilyEditor(PlaceEditor):
    """The place editor on one geometry family: a feature written here keeps a geometry of the family, and a
    place of another family is not a feature of this collection (404), as on reads."""

    def __init__(self, family: PlaceFamily) -> None:
        self.family = family

    def _check_geometry(self, feature: dict[str, Any], required: bool) -> None:
        geometry = feature.get("geometry") if isinstance(feature, dict) else None
        kind = geometry.get("type") if isinstance(geometry, dict) else None
        if geometry is None and not required:
            return
        if kind not in self.family.geojson_types:
            raise InvalidInput(
                f"geometry must be one of {', '.join(self.family.geojson_types)} in {self.family.collection_id}"
                f" (got {kind or 'none'}); other places belong to place-points, place-lines or place-areas",
                f"数据集 {self.family.collection_id} 的几何类型须为 {'、'.join(self.family.geojson_types)}",
                field="geometry", rule="geometry_family",
            )

    def _check_member(self, session: Session, fid: str) -> None:
        """404 unless the place's latest version has a geometry of this family."""
        try:
            pid = int(fid)
        except ValueError:
            pid = None
        dim = None if pid is None else session.execute(
            text("SELECT ST_Dimension(geom) FROM places WHERE place_id = :pid ORDER BY valid_from DESC LIMIT 1"),
            {"pid": pid}).scalar_one_or_none()
        if dim != self.family.dimension:
            raise NotFound(f"no place {fid} in {self.family.collection_id}",
                           f"数据集 {self.family.collection_id} 中不存在编号为 {fid} 的地名", field="featureId")

    def create(self, session: Session, feature: dict[str, Any], actor: str, reason: str) -> tuple[str, dt.date]:
        self._check_geometry(feature, required=True)
        return super().create(session, feature, actor, reason)

    def _update(self, session: Session, fid: str, feature: dict[str, Any], if_match: str | None, actor: str,
                reason: str, replace: bool) -> tuple[str, dt.date]:
        self._check_member(session, fid)
        self._check_geometry(feature, required=False)
        return super()._update(session, fid, feature, if_match, actor, reason, replace)

    def delete(self, session: Session, fid: str, if_match: str | None, actor: str, reason: str,
               effective_date: dt.date) -> None:
        self._check_member(session, fid)
        super().delete(session, fid, if_match, actor, reason, effective_date)


PLACE_FAMILIES = (
    PlaceFamily("place-points", "地名（点）Place names — points", 0, "Point", ("Point",)),
    PlaceFamily("place-lines", "地名（线）Place names — lines", 1, "MultiLineString",
                ("LineString", "MultiLineString")),
    PlaceFamily("place-areas", "地名（面）Place names — areas", 2, "MultiPolygon", ("Polygon", "MultiPolygon")),
)

for _family in PLACE_FAMILIES:
    register(Collection(
        id=_family.collection_id, title=_family.title,
        description=f"The places of the gazetteer whose geometry is a {_family.geometry_type} "
                    "(lines and areas as Multi- geometries): the same features, ids, properties and editing as "
                    "the places collection, one geometry type per layer for GIS clients.",
        table="places", id_sql="t.place_id", id_type="integer", geometry_type=_family.geometry_type,
        output_multi=_family.dimension > 0, where=f"ST_Dimension(t.geom) = {_family.dimension}",
        properties=_PLACE_PROPS, join=_PLACE_JOIN, etag=places_service.etag, editor=PlaceFamilyEditor(_family),
        keywords=("地名", "gazetteer", "place names", _family.geometry_type), requires_table=False,
    ))


# -- areas being built: listed only when their tables exist; read-only here until they plug in an Editor ------
# (an Editor is ~40 lines wrapping the area's create/update/retire, see gis_api.ogc.editors.PlaceEditor).

_VALID = (P("valid_from", "t.valid_from", "date", title="生效日期 valid from"),
          P("valid_to", "t.valid_to", "date", title="失效日期 valid to"),
          P("version", "t.version", "integer", title="记录版本 record version"))

register(Collection(
    id="boundary-lines", title="行政区域界线 Boundary lines", table="boundary_line_versions",
    description="Administrative boundary lines (one version per valid-time interval), left/right divisions.",
    id_sql="t.line_id", id_type="string", geometry_type="MultiLineString",
    join="LEFT JOIN boundary_lines l ON l.line_id = t.line_id",
    properties=(P("line_id", "t.line_id", title="界线编号 line id", in_tiles=True),
                P("length_m", "t.length_m", "number", title="长度 m (geodesic)"),
                P("level", "l.level", title="层级 level", joined=True),
                P("left_code", "l.left_code", title="左侧区划 left division", joined=True),
                P("right_code", "l.right_code", title="右侧区划 right division", joined=True),
                P("line_no", "l.line_no", title="界线号 line number", joined=True),
                P("name", "l.name", title="名称 name", joined=True),
                P("last_inspection_on", "l.last_inspection_on", "date", title="最近联检 last joint inspection",
                  joined=True),
                *_VALID),
    keywords=("界线", "boundary"),
))

register(Collection(
    id="markers", title="界桩 Boundary markers", table="boundary_markers",
    description="Boundary markers (GB/T 17796 numbers) with surveyed coordinates, method and stated precision.",
    id_sql="t.marker_no", id_type="string", geometry_type="Point",
    properties=(P("marker_no", "t.marker_no", title="界桩号 marker number", in_tiles=True),
                P("line_id", "t.line_id", title="界线编号 line id"),
                P("type_letter", "t.type_letter", title="类型 type letter"),
                P("survey_method", "t.survey_method", title="测量方法 survey method"),
                P("precision_m", "t.precision_m", "number", title="精度 m"),
                P("surveyed_on", "t.surveyed_on", "date", title="测量日期 surveyed on"),
                P("coord_source", "t.coord_source", title="坐标来源 coordinate source"),
                P("material", "t.material", title="材质 material"),
                P("status", "t.status", title="状态 status", in_tiles=True),
                P("note", "t.note", title="备注 note"),
                *_VALID),
    keywords=("界桩", "boundary marker"),
))

_FACILITY_PROPS = (
    P("name", "t.name", title="名称 name", in_tiles=True),
    P("kind", "t.kind", title="类型代码 kind", in_tiles=True),
    P("kind_name", "k.name_zh", title="类型 kind name", joined=True),
    P("division_code", "t.division_code", title="所在行政区 division code"),
    P("address", "t.address", title="地址 address"),
    P("capacity", "t.capacity", "integer", title="容量 capacity"),
    P("staff", "t.staff", "integer", title="人员 staff"),
    P("opened_on", "t.opened_on", "date", title="启用日期 opened on"),
    P("status", "t.status", title="状态 status", in_tiles=True),
    P("remarks", "t.remarks", title="备注 remarks"),
    *_VALID,
)

register(Collection(
    id="facilities", title="服务设施 Facilities",
    description="Civil-affairs service facilities (social-work stations, elderly care, cemeteries …).",
    table="facilities", id_sql="t.facility_id", geometry_type="Point", properties=_FACILITY_PROPS,
    join="LEFT JOIN facility_kinds k ON k.code = t.kind", keywords=("设施", "facility"),
))

# The bureau's date, as every write takes "today" — not CURRENT_DATE (see clock.today_sql).
_TODAY = clock.today_sql()

register(Collection(
    id="cemeteries", title="公墓 Cemeteries and ash halls",
    description="Public cemeteries and ash halls: the facilities of the funeral kinds, with their cemetery record "
                "(the one in force today).",
    table="facilities", id_sql="t.facility_id", geometry_type="Point",
    where="t.kind IN ('public_cemetery', 'ash_hall')",
    join=("LEFT JOIN facility_kinds k ON k.code = t.kind LEFT JOIN cemeteries cm ON cm.facility_id = t.facility_id "
          f"AND cm.valid_from <= {_TODAY} AND (cm.valid_to IS NULL OR cm.valid_to > {_TODAY})"),
    properties=(*_FACILITY_PROPS,
                P("cemetery_type", "cm.cemetery_type", title="公墓类型 cemetery type", joined=True),
                P("capacity_plots", "cm.capacity_plots", "integer", title="墓穴容量 plots", joined=True),
                P("occupied_plots", "cm.occupied_plots", "integer", title="已用墓穴 occupied plots", joined=True),
                P("approval_doc", "cm.approval_doc", title="批准文号 approval document", joined=True)),
    keywords=("公墓", "cemetery"),
))

register(Collection(
    id="parcels", title="公墓地块 Cemetery parcels", table="cemetery_parcels",
    description="Land parcels of cemeteries (existing and planned extensions).",
    id_sql="t.parcel_id", geometry_type="MultiPolygon",
    properties=(P("name", "t.name", title="名称 name", in_tiles=True),
                P("facility_id", "t.facility_id", "integer", title="所属设施 facility"),
                P("status", "t.status", title="状态 status", in_tiles=True),
                P("plots_capacity", "t.plots_capacity", "integer", title="墓穴容量 plots"),
                P("approval_doc", "t.approval_doc", title="批准文号 approval document"),
                P("remarks", "t.remarks", title="备注 remarks"),
                *_VALID),
    keywords=("公墓", "parcel"),
))
