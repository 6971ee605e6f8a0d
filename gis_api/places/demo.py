"""Feidong demo gazetteer: every division and village committee seat as a place name (real names and
codes), plus synthetic, labelled roads, rivers, hills and landmarks so that every category appears —
including deliberately non-standard names (大、洋、怪、重) for the clean-up campaign.

Geometries of the synthetic features are placed relative to the synthetic townships (offsets in km from
a point inside the township); they illustrate, they do not survey. Idempotent: skipped when present.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api.places import service
from gis_api.places.schemas import PlaceCreate, ProtectionIn

ACTOR = "system:load-demo"
REASON = "载入肥东演示地名录"
VALID_FROM = dt.date(2021, 1, 1)
DIVISION_CATEGORY = {"县": "211", "镇": "212", "乡": "212", "民族乡": "212", "街道": "212", "开发区": "231",
                     "居委会": "221", "村委会": "222"}

Waypoint = tuple[str, float, float]  # township code, east km, north km


@dataclass(frozen=True)
class Feature:
    name: str
    category: str
    shape: str  # point | line | polygon (radius_m around the first waypoint)
    waypoints: tuple[Waypoint, ...]
    radius_m: float = 0.0
    note: str = ""


F = Feature
SYNTHETIC: tuple[Feature, ...] = (
    # 陆地水系
    F("南淝河", "111", "line", (("340122100", -6, 3), ("340122100", 0, 0), ("340122200", 0, -2),
                                ("340122202", 0, 3)), note="真实河流名称"),
    F("店埠河", "111", "line", (("340122204", 0, 4), ("340122204", 0, 0), ("340122100", 3, 2),
                                ("340122100", 1, -3)), note="真实河流名称"),
    F("滁河", "111", "line", (("340122102", 0, 0), ("340122105", 0, 0), ("340122106", 0, 0)),
      note="真实河流名称，发源于肥东"),
    F("荷花塘", "113", "polygon", (("340122110", 1, 1),), radius_m=120),
    F("店埠河干渠", "119", "line", (("340122100", 2, -1), ("340122401", -1, 0))),
    # 陆地地形
    F("浮槎山", "121", "point", (("340122105", -2, 1),), note="真实山名"),
    F("四顶山", "121", "point", (("340122104", 1, -2),), note="真实山名"),
    F("龙泉山", "121", "point", (("340122103", 1, 1),)),
    F("武陵岗", "122", "point", (("340122100", 2, 2),), note="公墓规划扩建地点"),
    F("草庙畈", "123", "polygon", (("340122108", 0, 1),), radius_m=600),
    # 居民点 (natural villages, RZ3)
    F("王村", "242", "point", (("340122109", 1, 0),)),
    F("周郢", "242", "point", (("340122201", -1, 1),)),
    F("李疃", "242", "point", (("340122108", 1, -1),)),
    F("店埠老街", "241", "point", (("340122100", 0, 1),)),
    F("白龙林场", "232", "polygon", (("340122109", -2, 2),), radius_m=500),
    # 交通运输设施
    F("龙泉路", "251", "line", (("340122100", -2, 0), ("340122100", 2, 0))),
    F("经五路", "251", "line", (("340122100", 1, -2), ("340122100", 1, 2))),
    F("沿河路", "251", "line", (("340122100", -1, 1.5), ("340122100", 1, 1.5)), note="同一镇内两条沿河路（重）"),
    F("沿河路", "251", "line", (("340122100", -1, -1.5), ("340122100", 1, -1.5)), note="同一镇内两条沿河路（重）"),
    F("沿河路", "251", "line", (("340122101", -1, 0), ("340122101", 1, 0)), note="同名，位于另一乡镇"),
    F("店埠河大桥", "252", "point", (("340122100", 2, 1),)),
    F("合宁铁路肥东段", "253", "line", (("340122100", -5, -1), ("340122401", 0, 0), ("340122205", 3, 0))),
    F("肥东站", "254", "point", (("340122401", 0, 0.5),), note="真实车站名称"),
    # 水利电力通信设施
    F("众兴水库", "261", "polygon", (("340122200", 0, 1),), radius_m=900, note="真实水库名称"),
    F("众兴水库大坝", "262", "line", (("340122200", -0.8, 0.2), ("340122200", 0.8, 0.2))),
    F("白龙光伏电站", "263", "point", (("340122109", 2, -1),)),
    # 纪念地旅游景点
    F("渡江战役总前委旧址", "271", "point", (("340122101", 1, 1),), note="真实纪念地名称"),
    F("包公园", "272", "polygon", (("340122110", 0, 0),), radius_m=300),
    F("长临河古镇", "273", "polygon", (("340122104", 0, 0),), radius_m=700, note="真实景区名称"),
    F("撮镇古城遗址", "274", "point", (("340122101", -1, -1),)),
    # 建筑物 — deliberately non-standard names for the campaign (大、洋、怪)
    F("维也纳花园", "281", "polygon", (("340122100", -1, -1),), radius_m=150, note="不规范地名示例（洋）"),
    F("宇宙城", "281", "polygon", (("340122401", 1, -1),), radius_m=120, note="不规范地名示例（大）"),
    F("皇庭世家", "281", "polygon", (("340122100", 1.5, 1),), radius_m=100, note="不规范地名示例（怪）"),
    F("99大厦", "282", "point", (("340122100", 0.5, -0.5),), note="不规范地名示例（怪）"),
    F("东方广场", "283", "polygon", (("340122100", -0.5, 0.5),), radius_m=40,
      note="不规范地名示例（大）：“广场”占地远小于 10,000 平方米"),
    F("龙泉花园", "281", "polygon", (("340122101", 1, -1),), radius_m=150),
    # 单位
    F("肥东县第一中学", "291", "point", (("340122100", -0.5, -1),), note="真实学校名称"),
    F("肥东县人民医院", "292", "point", (("340122100", 0.7, 0.3),), note="真实医院名称"),
    F("肥东县民政局", "293", "point", (("340122100", 0.2, 0.2),), note="真实机关名称"),
)

PROTECTED = (
    ("长临河古镇", "百年古镇", "signs in two scripts; archive of the old street names", dt.date(2024, 5, 1)),
    ("渡江战役总前委旧址", "红色地名", "listed with the memorial; no renaming", dt.date(2024, 5, 1)),
    ("撮镇镇", "千年古镇", None, None),
)


def _anchors(session: Session) -> dict[str, tuple[float, float]]:
    rows = session.execute(text(
        "SELECT code, ST_X(p), ST_Y(p) FROM (SELECT code, ST_PointOnSurface(geom) AS p FROM divisions "
        "WHERE level = 'township' AND parent_code = '340122' AND valid_to IS NULL) t"
    )).all()
    return {r[0]: (float(r[1]), float(r[2])) for r in rows}


def _lonlat(anchors: dict[str, tuple[float, float]], wp: Waypoint) -> list[float]:
    lon, lat = anchors[wp[0]]
    return [round(lon + wp[1] / (111.32 * math.cos(math.radians(lat))), 7), round(lat + wp[2] / 110.57, 7)]


def _geometry(session: Session, f: Feature, anchors: dict[str, tuple[float, float]]) -> dict[str, Any]:
    pts = [_lonlat(anchors, wp) for wp in f.waypoints]
    if f.shape == "point":
        return {"type": "Point", "coordinates": pts[0]}
    if f.shape == "line":
        return {"type": "LineString", "coordinates": pts}
    # A disc of radius_m on the ellipsoid, built by PostGIS.
    gj = session.execute(
        text("SELECT ST_AsGeoJSON(ST_Buffer(ST_SetSRID(ST_MakePoint(:x, :y), 4490)::geography, :r, 16)::geometry, 7)"),
        {"x": pts[0][0], "y": pts[0][1], "r": f.radius_m},
    ).scalar_one()
    return dict(json.loads(gj))


def load_demo_places(session: Session) -> dict[str, int]:
    if session.execute(text("SELECT count(*) FROM places")).scalar_one():
        return {"created": 0}
    created = 0
    divisions = session.execute(text("""
        SELECT code, name, kind, level, source, ST_AsGeoJSON(geom, 7)::text FROM divisions
        WHERE (code = '340122' OR code LIKE '340122%') AND valid_to IS NULL ORDER BY code""")).all()
    for code, name, kind, level, source, geom in divisions:
        category = DIVISION_CATEGORY.get(kind)
        if category is None:
            continue
        body = PlaceCreate(
            name=name, category_code=category, geometry=json.loads(geom) if geom else None, division_code=code,
            source="NBS 2023 (name, code)" + ("" if level == "county" else "; synthetic location"),
            valid_from=VALID_FROM, reason=REASON, registering_unit="肥东县民政局",
            remarks=f"所在区划 {code}；几何来源：{'合成示意' if source == 'synthetic' else source}",
        )
        service.create(session, body, ACTOR)
        created += 1
    anchors = _anchors(session)
    for f in SYNTHETIC:
        body = PlaceCreate(
            name=f.name, category_code=f.category, geometry=_geometry(session, f, anchors), source="synthetic",
            valid_from=VALID_FROM, reason=REASON, remarks=f"合成示例要素。{f.note}".strip(),
            coord_method="图解", coord_precision_m=50.0,
        )
        service.create(session, body, ACTOR)
        created += 1
    for name, category, measures, recorded_on in PROTECTED:
        place_id = session.execute(text("SELECT place_id FROM places WHERE name = :n AND valid_to IS NULL LIMIT 1"),
                                   {"n": name}).scalar_one()
        service.set_protection(session, int(place_id), ProtectionIn(
            category=category, listed_on=dt.date(2023, 12, 1), measures=measures, measures_recorded_on=recorded_on,
            note="合成示例名录", reason=REASON,
        ), ACTOR, if_match=None, if_none_match="*")
    return {"created": created}
