"""Feidong demo facilities, cemeteries and constraint layers — all synthetic and labelled ``source = "synthetic"``.

- One township social-work station per township, except 陈集镇, 马湖乡 (a *planned* one only) and
  合肥循环经济示范园: the deliberate gaps the plan's rule must flag.
- A public cemetery or ash hall in every township except 响导乡 and the two development zones (served by the
  Huagang cemetery park instead — reported, not counted).
- The Huagang 花岗 cemetery park in 店埠镇 with its existing parcel and the planned extension east of it at
  Wulinggang 武陵岗 (the gazetteer's point); a synthetic arable-land polygon overlaps the extension by exactly
  100 m × 300 m = 30,000 m² = 45 亩, so the exclusion check has something to report.
- Elderly-care, children's and community facilities at some villages; county-level facilities in 店埠镇.
- Constraint layers from the demo gazetteer where it has the feature (railway, reservoir, forest farm) and a
  synthetic highway; a synthetic road network (Delaunay links between villages) for network coverage.

Positions are generated inside the synthetic township polygons (``ST_GeneratePoints`` with fixed seeds) or
offset from the synthetic village points; rectangles are laid out in metres in EPSG:4548 (Gauss-Krüger CM
117°E). They illustrate; they do not survey. Idempotent: nothing is created when the demo is present.
"""

from __future__ import annotations

import datetime as dt
import json
import zlib
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api.coverage import network
from gis_api.facilities import cemeteries, service
from gis_api.facilities.models import CemeteryType, FacilityStatus, ParcelStatus
from gis_api.facilities.schemas import CemeteryCreate, ConstraintFeaturesIn, FacilityCreate, ParcelIn

ACTOR = "system:load-demo"
REASON = "载入肥东演示设施（合成数据）"
SOURCE = "synthetic"
COUNTY = "340122"
SEAT = "340122100"  # 店埠镇
SOCIAL_WORK_GAPS = ("340122111", "340122202", "340122402")  # 陈集镇, 马湖乡 (planned only), 循环经济示范园
ELDERLY_CENTER_GAPS = ("340122204", "340122402")
CEMETERY_GAPS = ("340122204", "340122401", "340122402")  # 响导乡 and the two development zones
ASH_HALL_ONLY = ("340122101",)  # 撮镇镇
DEMO_NETWORK = "feidong-synthetic"
VALID_FROM = dt.date(2021, 1, 1)  # the demo divisions' nominal start (NBS 2021 vintage)


def _h(*parts: object) -> int:
    """A stable small hash for deterministic variety."""
    return zlib.crc32("|".join(map(str, parts)).encode())


def _townships(session: Session) -> list[tuple[str, str]]:
    return [(r[0], r[1]) for r in session.execute(text(
        "SELECT code, name FROM divisions WHERE level = 'township' AND parent_code = :c AND valid_to IS NULL "
        "ORDER BY code"), {"c": COUNTY})]


def _inside(session: Session, code: str, n: int) -> list[dict[str, Any]]:
    """``n`` points inside a township polygon, fixed by a seed (so every load places them alike)."""
    rows = session.execute(text("""
        SELECT ST_AsGeoJSON((ST_Dump(ST_GeneratePoints(geom, :n, :seed))).geom, 7)
        FROM divisions WHERE code = :c AND valid_to IS NULL"""), {"c": code, "n": n, "seed": _h(code) % 100000 + 1})
    return [dict(json.loads(r[0])) for r in rows]


def _shift(session: Session, point: dict[str, Any], dx: float, dy: float) -> dict[str, Any]:
    """A point ``dx`` m east and ``dy`` m north of ``point`` (in EPSG:4548 metres)."""
    return dict(json.loads(session.execute(text("""
        SELECT ST_AsGeoJSON(ST_Transform(ST_Translate(ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON(:p), 4490), 4548),
                                                      :dx, :dy), 4490), 8)"""),
        {"p": json.dumps(point), "dx": dx, "dy": dy}).scalar_one()))


def _rect(session: Session, point: dict[str, Any], x0: float, y0: float, x1: float, y1: float) -> dict[str, Any]:
    """The rectangle [x0, x1] × [y0, y1] metres around ``point`` (EPSG:4548), as lon/lat GeoJSON."""
    return dict(json.loads(session.execute(text("""
        WITH p AS (SELECT ST_Transform(ST_SetSRID(ST_GeomFromGeoJSON(:p), 4490), 4548) AS g)
        SELECT ST_AsGeoJSON(ST_Transform(ST_Segmentize(ST_MakeEnvelope(ST_X(g) + :x0, ST_Y(g) + :y0,
                                                                      ST_X(g) + :x1, ST_Y(g) + :y1, 4548), 50),
                                         4490), 8) FROM p"""),
        {"p": json.dumps(point), "x0": x0, "y0": y0, "x1": x1, "y1": y1}).scalar_one()))


def _villages(session: Session) -> list[tuple[str, str, dict[str, Any]]]:
    return [(r[0], r[1], dict(json.loads(r[2]))) for r in session.execute(text(
        "SELECT code, name, ST_AsGeoJSON(geom, 7) FROM divisions WHERE level = 'village' AND code LIKE :c || '%' "
        "AND valid_to IS NULL AND ST_Dimension(geom) = 0 ORDER BY code"), {"c": COUNTY})]


def _short(name: str) -> str:
    for suffix in ("社区村民委员会", "社区居民委员会", "村民委员会", "居民委员会", "管理委员会"):
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return name


def _add(session: Session, name: str, kind: str, point: dict[str, Any], division: str | None, *,
         opened: dt.date, capacity: int | None = None, staff: int | None = None,
         status: FacilityStatus = FacilityStatus.open) -> None:
    service.create(session, FacilityCreate(
        name=name, kind=kind, geometry=point, division_code=division, capacity=capacity, staff=staff,
        opened_on=opened, status=status, source=SOURCE, valid_from=opened, reason=REASON,
        remarks="合成示例设施（非真实记录）",
    ), ACTOR)


def _opened(*key: object) -> dt.date:
    h = _h(*key)
    return dt.date(2021 + h % 4, 1 + (h // 7) % 12, 1 + (h // 97) % 28)  # the divisions start in 2021


def load_demo_facilities(session: Session) -> dict[str, int]:
    """Load the demo (see the module docstring); returns what was created."""
    present = session.execute(text("SELECT count(*) FROM facilities WHERE source = :s"), {"s": SOURCE}).scalar_one()
    if present:
        return {"created": 0}
    townships = _townships(session)
    if not townships:
        return {"created": 0}
    created: dict[str, int] = {}

    def count(kind: str) -> None:
        created[kind] = created.get(kind, 0) + 1

    for code, name in townships:
        short = _short(name)
        p_social, p_elderly, p_cem = _inside(session, code, 3)
        if code not in SOCIAL_WORK_GAPS:
            _add(session, f"{short}社工站", "township_social_work_station", p_social, code,
                 opened=_opened(code, "sw"), staff=3 + _h(code, "staff") % 4)
            count("township_social_work_station")
        elif code == "340122202":
            _add(session, f"{short}社工站（规划）", "township_social_work_station", p_social, code,
                 opened=dt.date(2025, 6, 1), staff=3, status=FacilityStatus.planned)
            count("township_social_work_station")
        if code not in ELDERLY_CENTER_GAPS:
            _add(session, f"{short}养老服务中心", "elderly_care_center", p_elderly, code,
                 opened=_opened(code, "ec"), capacity=60 + 20 * (_h(code, "beds") % 8), staff=8)
            count("elderly_care_center")
        if code in CEMETERY_GAPS or code == SEAT:
            continue
        is_hall = code in ASH_HALL_ONLY or _h(code, "hall") % 5 == 0
        occupied = 1500 + _h(code, "occ") % 4000
        eco = int(occupied * (0.35 + (_h(code, "eco") % 40) / 100))
        cemeteries.create(session, CemeteryCreate(
            name=f"{short}{'骨灰堂' if is_hall else '公益性公墓'}",
            cemetery_type=CemeteryType.ash_hall if is_hall else CemeteryType.public,
            geometry=p_cem, division_code=code, opened_on=_opened(code, "cem"), source=SOURCE,
            capacity_plots=occupied + 2000 + _h(code, "cap") % 3000, occupied_plots=occupied, eco_burials=eco,
            served_townships=[code], approval_authority="安徽省民政厅" if not is_hall else "肥东县民政局",
            remarks="合成示例公墓（非真实记录）", reason=REASON,
            parcels=[] if is_hall else [ParcelIn(name=f"{short}公墓现状地块", status=ParcelStatus.existing,
                                                 geometry=_rect(session, p_cem, -100, -75, 100, 75),
                                                 plots_capacity=occupied + 2000)],
        ), ACTOR)
        count("ash_hall" if is_hall else "public_cemetery")

    seat_points = _inside(session, SEAT, 5)
    for (kind, label), point in zip(
        (("child_welfare_center", "肥东县儿童福利指导中心"), ("minors_protection_center", "肥东县未成年人救助保护中心"),
         ("marriage_registry", "肥东县婚姻登记处"), ("funeral_home", "肥东县殡仪馆"),
         ("community_service_center", "店埠镇综合服务中心")), seat_points, strict=True):
        _add(session, label, kind, point, SEAT, opened=_opened(kind), capacity=None, staff=6)
        count(kind)

    for i, (code, name, point) in enumerate(_villages(session)):
        short = _short(name)
        if i % 3 == 0:
            _add(session, f"{short}养老服务站", "elderly_care_station", _shift(session, point, 80, 0), None,
                 opened=_opened(code, "es"), capacity=20 + _h(code, "es") % 4 * 5, staff=2)
            count("elderly_care_station")
        if i % 4 == 1:
            _add(session, f"{short}儿童之家", "childrens_home", _shift(session, point, 0, 60), None,
                 opened=_opened(code, "ch"), capacity=30, staff=1)
            count("childrens_home")
        if i % 5 == 2:
            _add(session, f"{short}综合服务中心", "community_service_center", _shift(session, point, -50, 0), None,
                 opened=_opened(code, "cs"), staff=4)
            count("community_service_center")
        if code.startswith(SEAT) and int(code[9:]) < 200 and i % 2 == 0:
            _add(session, f"{short}社区社工站", "community_social_work_station", _shift(session, point, 0, -60), None,
                 opened=_opened(code, "cw"), staff=2)
            count("community_social_work_station")

    _huagang(session)
    count("public_cemetery")
    created["constraint_features"] = _constraints(session)
    has_network = session.execute(text("SELECT count(*) FROM road_networks WHERE name = :n"),
                                  {"n": DEMO_NETWORK}).scalar_one()
    if not has_network:
        created["network_edges"] = network.build_synthetic(session, DEMO_NETWORK, ACTOR, COUNTY)["edges"]
    return {"created": sum(v for k, v in created.items() if k not in ("constraint_features", "network_edges")),
            **created}


def wulinggang(session: Session) -> dict[str, Any]:
    """武陵岗 from the demo gazetteer, else the same synthetic spot (2 km E, 2 km N of 店埠镇's anchor)."""
    row = session.execute(text(
        "SELECT ST_AsGeoJSON(geom, 8) FROM places WHERE name = '武陵岗' AND valid_to IS NULL LIMIT 1")).scalar()
    if row:
        return dict(json.loads(row))
    anchor = session.execute(text(
        "SELECT ST_AsGeoJSON(ST_PointOnSurface(geom), 8) FROM divisions WHERE code = :c AND valid_to IS NULL"),
        {"c": SEAT}).scalar_one()
    return _shift(session, json.loads(anchor), 2000, 2000)


def _huagang(session: Session) -> None:
    w = wulinggang(session)
    cemeteries.create(session, CemeteryCreate(
        name="花岗公墓园", cemetery_type=CemeteryType.public, geometry=_shift(session, w, -600, 0),
        division_code=SEAT, opened_on=dt.date(2008, 4, 1), valid_from=VALID_FROM, source=SOURCE,
        capacity_plots=30000, occupied_plots=21500, eco_burials=11800,
        served_townships=[SEAT, "340122401", "340122402", "340122200"],
        approval_authority="安徽省民政厅", reason=REASON,
        remarks="花岗公墓园的合成示例记录（非真实记录）；规划向东扩建至武陵岗",
        parcels=[
            ParcelIn(name="花岗公墓园现状地块", status=ParcelStatus.existing,
                     geometry=_rect(session, w, -850, -180, -350, 180), plots_capacity=30000),
            ParcelIn(name="武陵岗扩建地块", status=ParcelStatus.planned_extension,
                     geometry=_rect(session, w, -350, -150, 100, 150), plots_capacity=12000,
                     remarks="规划：花岗公墓园向东扩建至武陵岗（合成示意范围）"),
        ],
    ), ACTOR)


def _constraints(session: Session) -> int:
    if session.execute(text("SELECT count(*) FROM constraint_features")).scalar_one():
        return 0
    w = wulinggang(session)
    n = 0

    def load(layer: str, features: list[dict[str, Any]], source: str) -> None:
        nonlocal n
        if features:
            cemeteries.import_constraint_features(session, layer, ConstraintFeaturesIn(
                features={"type": "FeatureCollection", "features": features}, source=source, reason=REASON),
                "*", ACTOR)  # demo seeding: whatever version the layer is at
            n += len(features)

    load("arable_land", [{"type": "Feature", "properties": {"name": "武陵岗东侧耕地（示意）"},
                          "geometry": _rect(session, w, 0, -400, 400, 400)}], SOURCE)
    # Features of the demo gazetteer (synthetic geometry with real names), when it is loaded.
    for layer, names in (("railway", ("合宁铁路肥东段",)), ("water_source", ("众兴水库",)),
                         ("forest_land", ("白龙林场",)), ("park_scenic", ("包公园",))):
        feats = [{"type": "Feature", "properties": {"name": r[0]}, "geometry": json.loads(r[1])}
                 for r in session.execute(text(
                     "SELECT name, ST_AsGeoJSON(geom, 8) FROM places WHERE name = ANY(:n) AND valid_to IS NULL"),
                     {"n": list(names)})]
        load(layer, feats, "synthetic (demo gazetteer geometry)")
    highway = {"type": "LineString", "coordinates": [
        _shift(session, w, 2500, -6000)["coordinates"], _shift(session, w, 2500, 6000)["coordinates"]]}
    load("highway", [{"type": "Feature", "properties": {"name": "示意高速公路"}, "geometry": highway}], SOURCE)
    return n
