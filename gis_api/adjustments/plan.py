"""Turn an adjustment proposal into a plan of division writes, computed in PostGIS without writing anything.

The same plan feeds the impact report (before approval) and the apply step (on approval), so the figures a
reviewer sees are the figures that get written. Geometry is carried as hex EWKB between statements. Areas move
with snap-rounding on a 1e-9° grid (≈0.1 mm) so the giver and the receiver share the new edge exactly and the
township partition stays exact.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api.adjustments.models import AdjustmentKind, DivisionLineage
from gis_api.adjustments.schemas import AdjustmentSpec
from gis_api.divisions import service as divisions
from gis_api.divisions.models import KINDS, PARENT_LEVEL, PARENT_PREFIX, DivisionCode, Level
from gis_api.errors import Conflict, InvalidInput
from gis_api.geo.geometry_input import parse_geojson

GRID = 1e-9
MU_PER_M2 = 3 / 2000  # 1 亩 = 666.67 m² (domain.md §6)
# NBS code ranges by kind (domain.md §4), used when a moved division needs a new code under its new parent.
VILLAGE_RANGES = {"居委会": (1, 199), "村委会": (200, 399)}
TOWNSHIP_RANGES = {"街道": (1, 99), "镇": (100, 199), "乡": (200, 399), "民族乡": (200, 399), "苏木": (200, 399),
                   "开发区": (400, 599), "区公所": (400, 599)}


@dataclass
class Snapshot:
    code: str
    name: str
    level: Level
    kind: str
    parent_code: str | None
    population: int | None
    geom: str | None  # hex EWKB
    dim: int | None
    valid_from: dt.date


@dataclass
class NewDivision:
    code: str
    name: str
    level: Level
    kind: str
    parent_code: str | None
    geom: str | None
    population: int | None
    source: str
    predecessor: str | None = None


@dataclass
class Change:
    code: str
    values: dict[str, Any]  # name, kind, population, geom (hex EWKB)
    legal: bool = True


@dataclass
class Transfer:
    from_code: str
    to_code: str
    area: str | None  # hex EWKB of the area that moves
    area_m2: float
    villages: list[str]
    population: int


@dataclass
class Plan:
    kind: AdjustmentKind
    effective_date: dt.date
    legal: bool = True
    creates: list[NewDivision] = field(default_factory=list)
    changes: list[Change] = field(default_factory=list)
    retires: list[str] = field(default_factory=list)
    lineage: list[tuple[str, str, str]] = field(default_factory=list)
    transfers: list[Transfer] = field(default_factory=list)
    recode: dict[str, str] = field(default_factory=dict)
    renames: list[tuple[str, str, str]] = field(default_factory=list)  # code, old name, new name
    seat: dict[str, Any] | None = None
    levels: set[Level] = field(default_factory=set)
    warnings: list[str] = field(default_factory=list)
    snapshots: dict[str, Snapshot] = field(default_factory=dict)
    moved_areas: list[tuple[str, str, str]] = field(default_factory=list)  # from, to, area hex


def _bad(message: str, message_zh: str, field_: str) -> InvalidInput:
    return InvalidInput(message, message_zh, field=f"spec.{field_}", rule="§4")


class Planner:
    def __init__(self, session: Session, kind: AdjustmentKind, spec: AdjustmentSpec, effective: dt.date) -> None:
        self.s = session
        self.spec = spec
        self.before = effective - dt.timedelta(days=1)
        self.plan = Plan(kind=kind, effective_date=effective, legal=kind is not AdjustmentKind.geometry_correction)
        self._used: set[str] = set()

    # -- reading the state just before the effective date ---------------------------------------------------

    def snap(self, code: str | None, field_: str) -> Snapshot:
        if not code:
            raise _bad(f"{field_} is required for this kind of adjustment", f"此类调整须填写 {field_}", field_)
        if code in self.plan.snapshots:
            return self.plan.snapshots[code]
        r = self.s.execute(
            text("""SELECT code, name, level, kind, parent_code, population, encode(ST_AsEWKB(geom), 'hex') AS g,
                           ST_Dimension(geom) AS dim, valid_from
                    FROM divisions WHERE code = :c AND valid_from <= :on AND (valid_to IS NULL OR valid_to > :on)"""),
            {"c": code, "on": self.before},
        ).mappings().first()
        if r is None:
            raise _bad(f"division {code} is not in force on {self.before}", f"区划 {code} 在 {self.before} 时不存在",
                       field_)
        snap = Snapshot(code=r["code"], name=r["name"], level=Level(r["level"]), kind=r["kind"],
                        parent_code=r["parent_code"], population=r["population"], geom=r["g"], dim=r["dim"],
                        valid_from=r["valid_from"])
        if snap.valid_from >= self.plan.effective_date:
            raise InvalidInput(
                f"division {code} has a version from {snap.valid_from}; the effective date must be later",
                f"区划 {code} 的当前版本自 {snap.valid_from} 起生效，生效日期须晚于该日期",
                field="effective_date", rule="§4",
            )
        self.plan.snapshots[code] = snap
        return snap

    def children(self, code: str) -> list[Snapshot]:
        codes = self.s.scalars(
            text("""SELECT code FROM divisions WHERE parent_code = :c AND valid_from <= :on
                    AND (valid_to IS NULL OR valid_to > :on) ORDER BY code"""), {"c": code, "on": self.before},
        ).all()
        return [self.snap(c, "codes") for c in codes]

    def scalar(self, sql: str, **params: Any) -> Any:
        return self.s.execute(text(sql), params).scalar()

    # -- codes ------------------------------------------------------------------------------------------------

    def _registered(self, prefix: str) -> set[str]:
        return set(self.s.scalars(
            text("SELECT code FROM division_codes WHERE code LIKE :p || '%'"), {"p": prefix}
        ).all())

    def check_new_code(self, code: str, level: Level, parent_code: str | None, field_: str) -> None:
        divisions.check_code(code, level)
        registered = self.s.get(DivisionCode, code)
        if registered is not None or code in self._used:
            retired = registered is not None and registered.retired_on is not None
            raise Conflict(
                f"code {code} {'was retired' if retired else 'is in use'}; codes are never reused",
                f"代码 {code} {'已停用' if retired else '已被使用'}，区划代码不得重复使用",
                field=f"spec.{field_}", rule="§4", code="code_retired" if retired else "conflict",
            )
        if parent_code:
            n = PARENT_PREFIX[level]
            if code[:n] != parent_code[:n]:
                raise _bad(f"code {code} does not start with its parent's digits {parent_code[:n]}",
                           f"代码 {code} 的前{n}位应与上级代码 {parent_code[:n]} 一致", field_)
        self._used.add(code)

    def allocate(self, old: Snapshot, new_parent: str) -> str:
        """A never-used code under ``new_parent``: keep the old serial when free, else the first free one."""
        used = self._registered(new_parent) | self._used
        width = len(old.code) - len(new_parent)
        ranges = VILLAGE_RANGES if old.level is Level.village else TOWNSHIP_RANGES
        lo, hi = ranges.get(old.kind, (1, 10**width - 1))
        serial = int(old.code[-width:])
        candidates = ([serial] if lo <= serial <= hi else []) + list(range(lo, hi + 1))
        for n in candidates:
            code = f"{new_parent}{n:0{width}d}"
            if code not in used:
                self._used.add(code)
                return code
        raise Conflict(f"no free {old.kind} code left under {new_parent}", f"{new_parent} 下已无可用的{old.kind}代码",
                       field="spec", rule="§4")

    # -- moving divisions -------------------------------------------------------------------------------------

    def recode(self, old: Snapshot, new_parent: str, *, new_code: str | None = None, name: str | None = None,
               kind: str | None = None, geom: str | None = None, population: int | None = None,
               relation: str = "recoded") -> str:
        """Retire ``old`` and open it again under ``new_parent`` with a new code; children follow recursively."""
        code = new_code or self.allocate(old, new_parent)
        self.plan.creates.append(NewDivision(
            code=code, name=name or old.name, level=old.level, kind=kind or old.kind, parent_code=new_parent,
            geom=geom if geom is not None else old.geom, population=population if population is not None
            else old.population, source=f"adjustment ({old.code})", predecessor=old.code,
        ))
        self.plan.recode[old.code] = code
        self.plan.lineage.append((old.code, code, relation))
        for child in self.children(old.code):
            self.recode(child, code)
        self.plan.retires.append(old.code)
        return code

    def voronoi_area(self, township: Snapshot, villages: list[Snapshot]) -> str:
        """The union of the villages' Voronoi cells within their township (lon scaled by cos(lat))."""
        all_villages = [c for c in self.children(township.code) if c.dim == 0]
        if {v.code for v in villages} >= {v.code for v in all_villages}:
            raise _bad(f"moving every village of {township.code} leaves it empty; merge or abolish it instead",
                       f"迁出 {township.code} 的全部村（居）后该区划将为空，应改为合并或撤销", "villages")
        return str(self.scalar(
            """
            WITH t AS (SELECT ST_GeomFromEWKB(decode(:t, 'hex')) AS g),
            k AS (SELECT cos(radians(ST_Y(ST_Centroid(g)))) AS c FROM t),
            pts AS (SELECT code, ST_GeomFromEWKB(decode(hexg, 'hex')) AS g
                    FROM unnest(CAST(:codes AS text[]), CAST(:geoms AS text[])) AS u(code, hexg)),
            cells AS (
                SELECT (ST_Dump(ST_VoronoiPolygons(ST_Collect(ST_Scale(pts.g, k.c, 1)), 0,
                                                   ST_Expand(ST_Scale(t.g, k.c, 1), 0.01)))).geom AS cell
                FROM pts, k, t GROUP BY k.c, t.g
            ),
            chosen AS (
                SELECT ST_Scale(cells.cell, 1 / k.c, 1) AS cell FROM cells, k
                WHERE EXISTS (SELECT 1 FROM pts WHERE pts.code = ANY(CAST(:moving AS text[]))
                              AND ST_Intersects(cells.cell, ST_Scale(pts.g, k.c, 1)))
            )
            SELECT encode(ST_AsEWKB(ST_Multi(ST_CollectionExtract(ST_MakeValid(
                       ST_Intersection(ST_Union(chosen.cell), t.g, :grid)), 3))), 'hex')
            FROM chosen, t GROUP BY t.g
            """,
            t=township.geom, codes=[v.code for v in all_villages], geoms=[v.geom for v in all_villages],
            moving=[v.code for v in villages], grid=GRID,
        ))

    def transfer(self, giver: Snapshot, receiver: Snapshot | NewDivision, area: str | None,
                 villages: list[Snapshot], *, receiver_is_new: bool = False) -> None:
        """Move ``area`` (clipped to the giver) and ``villages`` from ``giver`` to ``receiver``."""
        moved_pop = sum(v.population or 0 for v in villages)
        area_m2 = 0.0
        moved_area: str | None = None
        if area is not None and giver.geom is not None and giver.dim == 2:
            r = self.s.execute(text(
                """
                WITH a AS (SELECT ST_GeomFromEWKB(decode(:a, 'hex')) AS g),
                m AS (SELECT ST_Multi(ST_CollectionExtract(ST_MakeValid(
                          ST_Intersection(ST_GeomFromEWKB(decode(:m, 'hex')), a.g, :grid)), 3)) AS g FROM a)
                SELECT encode(ST_AsEWKB(m.g), 'hex') AS m, ST_Area(m.g::geography) AS area_m2,
                       encode(ST_AsEWKB(ST_Multi(ST_CollectionExtract(ST_MakeValid(
                           ST_Difference(a.g, m.g, :grid)), 3))), 'hex') AS rest,
                       ST_NumGeometries(ST_CollectionExtract(ST_MakeValid(ST_Difference(a.g, m.g, :grid)), 3))
                           AS rest_parts
                FROM a, m
                """), {"a": giver.geom, "m": area, "grid": GRID}).mappings().one()
            area_m2 = float(r["area_m2"])
            if area_m2 <= 0:
                raise _bad(f"the area does not overlap {giver.code}", f"调整范围与 {giver.code} 不相交", "area")
            moved_area = r["m"]
            if r["rest_parts"] == 0:
                raise _bad(f"the area covers all of {giver.code}; merge or abolish it instead",
                           f"调整范围覆盖 {giver.code} 全部区域，应改为合并或撤销", "area")
            if r["rest_parts"] > 1:
                self.plan.warnings.append(f"{giver.code} is split into {r['rest_parts']} parts")
            giver_values: dict[str, Any] = {"geom": r["rest"]}
            if giver.population is not None and villages:
                giver_values["population"] = max(0, giver.population - moved_pop)
            self._merge_change(giver.code, giver_values)
            receiver_geom = receiver.geom
            if receiver_geom is not None:
                r2 = self.s.execute(text(
                    """
                    WITH b AS (SELECT ST_GeomFromEWKB(decode(:b, 'hex')) AS g),
                    m AS (SELECT ST_GeomFromEWKB(decode(:m, 'hex')) AS g)
                    SELECT encode(ST_AsEWKB(ST_Multi(ST_CollectionExtract(ST_MakeValid(
                               ST_Union(b.g, m.g, :grid)), 3))), 'hex') AS u,
                           ST_Length(ST_Intersection(ST_Boundary(b.g), ST_Boundary(m.g), 1e-8)::geography) AS shared_m,
                           ST_NumGeometries(ST_CollectionExtract(ST_MakeValid(ST_Union(b.g, m.g, :grid)), 3)) AS parts
                    FROM b, m
                    """), {"b": receiver_geom, "m": moved_area, "grid": GRID}).mappings().one()
                if float(r2["shared_m"]) <= 0 or r2["parts"] > 1:
                    msg = (f"the area moving from {giver.code} does not border {receiver.code}: "
                           "it would become an exclave (飞地)")
                    if not self.spec.allow_exclave:
                        raise _bad(msg + "; set allow_exclave to accept it",
                                   f"从 {giver.code} 划出的区域与 {receiver.code} 不相邻，将形成飞地", "area")
                    self.plan.warnings.append(msg)
                receiver_geom = r2["u"]
            else:
                receiver_geom = moved_area
            if receiver_is_new:
                assert isinstance(receiver, NewDivision)
                receiver.geom = receiver_geom
                if villages:
                    receiver.population = (receiver.population or 0) + moved_pop
            else:
                values: dict[str, Any] = {"geom": receiver_geom}
                if isinstance(receiver, Snapshot) and receiver.population is not None and villages:
                    values["population"] = self._current_population(receiver) + moved_pop
                self._merge_change(receiver.code, values)
            self.plan.moved_areas.append((giver.code, receiver.code, moved_area))
        elif villages and not receiver_is_new and isinstance(receiver, Snapshot):
            if receiver.population is not None:
                self._merge_change(receiver.code, {"population": self._current_population(receiver) + moved_pop})
            if giver.population is not None:
                self._merge_change(giver.code, {"population": max(0, giver.population - moved_pop)})
        self.plan.transfers.append(Transfer(
            from_code=giver.code, to_code=receiver.code, area=moved_area, area_m2=area_m2,
            villages=[v.code for v in villages], population=moved_pop,
        ))
        for v in villages:
            self.recode(v, receiver.code)
        self.plan.levels.add(giver.level)

    def _current_population(self, snap: Snapshot) -> int:
        for c in self.plan.changes:
            if c.code == snap.code and "population" in c.values:
                return int(c.values["population"])
        return snap.population or 0

    def _merge_change(self, code: str, values: dict[str, Any]) -> None:
        for c in self.plan.changes:
            if c.code == code:
                c.values.update(values)
                return
        self.plan.changes.append(Change(code=code, values=dict(values), legal=self.plan.legal))

    def area_from_geojson(self, geometry: dict[str, Any], field_: str) -> str:
        wkb = parse_geojson(geometry, field=f"spec.{field_}", allowed=("MultiPolygon",))
        return bytes(wkb.data).hex()

    def union(self, geoms: list[str]) -> str:
        return str(self.scalar(
            """SELECT encode(ST_AsEWKB(ST_Multi(ST_CollectionExtract(ST_MakeValid(ST_UnaryUnion(ST_Collect(
                   ST_GeomFromEWKB(decode(h, 'hex'))), :grid)), 3))), 'hex')
               FROM unnest(CAST(:geoms AS text[])) AS h""", geoms=geoms, grid=GRID,
        ))

    def parent_in_force(self, code: str, field_: str) -> Snapshot:
        return self.snap(code, field_)

    def check_kind(self, level: Level, kind: str, field_: str) -> None:
        if kind not in KINDS[level]:
            raise _bad(f"kind {kind!r} is not a kind of {level.value}", f"类型 {kind!r} 不适用于该级区划", field_)


def build(session: Session, kind: AdjustmentKind, spec: AdjustmentSpec, effective: dt.date) -> Plan:
    p = Planner(session, kind, spec, effective)
    handler = {
        AdjustmentKind.rename: _rename, AdjustmentKind.merge: _merge, AdjustmentKind.abolish: _abolish,
        AdjustmentKind.establish: _establish, AdjustmentKind.reparent: _reparent,
        AdjustmentKind.boundary_change: _boundary_change, AdjustmentKind.seat_move: _seat_move,
        AdjustmentKind.geometry_correction: _correction,
    }[kind]
    handler(p)
    _stitch(p)
    return p.plan


STITCH_TOLERANCE = 1e-8  # degrees: new vertices lie within ~1e-9 of the edges they were cut from


def _stitch(p: Planner) -> None:
    """Insert the vertices that the re-cut created into every neighbour and parent edge they lie on.

    Cutting an area out of a township adds vertices on edges it shares with untouched neighbours (and with the
    county outline). In lon/lat the shapes still fit exactly, but an edge split on one side only is measured
    along different geodesics on the two sides, so geodesic areas would show phantom slivers. Adding the same
    vertices to the neighbours (``ST_Snap``; the planar shape does not change) keeps shared edges vertex-identical.
    Recorded as corrections (record time), since no territory changes.
    """
    changed: dict[str, str] = {c.code: c.values["geom"] for c in p.plan.changes if "geom" in c.values}
    changed.update({n.code: n.geom for n in p.plan.creates if n.geom and n.level is not Level.village})
    if not changed or not p.plan.legal:
        return
    levels = {p.plan.snapshots[c].level.value if c in p.plan.snapshots else
              next(n.level.value for n in p.plan.creates if n.code == c) for c in changed}
    parents = {p.plan.snapshots[c].parent_code if c in p.plan.snapshots else
               next(n.parent_code for n in p.plan.creates if n.code == c) for c in changed}
    skip = set(changed) | set(p.plan.retires)
    rows = p.s.execute(text(
        """
        WITH pts AS (
            SELECT ST_Collect(dp.geom) AS g
            FROM unnest(CAST(:geoms AS text[])) AS h,
                 LATERAL ST_DumpPoints(ST_GeomFromEWKB(decode(h, 'hex'))) AS dp
        )
        SELECT d.code, encode(ST_AsEWKB(ST_Multi(ST_Snap(d.geom, pts.g, :tol))), 'hex') AS snapped
        FROM divisions d, pts
        WHERE ST_Dimension(d.geom) = 2 AND d.valid_from <= :on AND (d.valid_to IS NULL OR d.valid_to > :on)
          AND (d.level = ANY(CAST(:levels AS text[])) OR d.code = ANY(CAST(:parents AS text[])))
          AND NOT d.code = ANY(CAST(:skip AS text[]))
          AND d.geom && ST_Expand(pts.g, :tol) AND ST_DWithin(ST_Boundary(d.geom), pts.g, :tol)
          AND ST_NPoints(ST_Snap(d.geom, pts.g, :tol)) > ST_NPoints(d.geom)
        ORDER BY d.code
        """), {"geoms": list(changed.values()), "tol": STITCH_TOLERANCE, "on": p.before,
               "levels": sorted(levels), "parents": sorted(x for x in parents if x), "skip": sorted(skip)},
    ).all()
    for code, snapped in rows:
        p.snap(code, "stitch")
        p.plan.changes.append(Change(code=code, values={"geom": snapped}, legal=False))


def _rename(p: Planner) -> None:
    s = p.spec
    div = p.snap(s.code, "code")
    new_name = (s.name or "").strip()
    if not new_name:
        raise _bad("a rename needs the new name", "更名须填写新名称", "name")
    new_kind = s.kind or div.kind
    p.check_kind(div.level, new_kind, "kind")
    if new_name == div.name and new_kind == div.kind and not s.new_code:
        raise _bad("the new name equals the current one", "新名称与现名称相同", "name")
    p.plan.renames.append((div.code, div.name, new_name))
    if s.new_code:
        p.check_new_code(s.new_code, div.level, div.parent_code, "new_code")
        p.recode(div, div.parent_code or "", new_code=s.new_code, name=new_name, kind=new_kind, relation="renamed")
    else:
        p.plan.changes.append(Change(code=div.code, values={"name": new_name, "kind": new_kind}))
    p.plan.levels.add(div.level)


def _absorb(p: Planner, absorbed: list[Snapshot], target: Snapshot | NewDivision, target_is_new: bool) -> None:
    geoms = [a.geom for a in absorbed if a.geom is not None and a.dim == 2]
    if target_is_new:
        assert isinstance(target, NewDivision)
        target.geom = p.union(geoms) if geoms else None
        target.population = sum(a.population or 0 for a in absorbed) if all(
            a.population is not None for a in absorbed) else None
    else:
        assert isinstance(target, Snapshot)
        values: dict[str, Any] = {}
        if geoms and target.geom is not None:
            values["geom"] = p.union([target.geom, *geoms])
        if target.population is not None:
            values["population"] = target.population + sum(a.population or 0 for a in absorbed)
        if values:
            p.plan.changes.append(Change(code=target.code, values=values))
    for a in absorbed:
        p.plan.transfers.append(Transfer(
            from_code=a.code, to_code=target.code, area=a.geom if a.dim == 2 else None,
            area_m2=float(p.scalar("SELECT ST_Area(ST_GeomFromEWKB(decode(:g, 'hex'))::geography)", g=a.geom))
            if a.geom and a.dim == 2 else 0.0,
            villages=[c.code for c in p.children(a.code)], population=a.population or 0,
        ))
        for child in p.children(a.code):
            p.recode(child, target.code)
        p.plan.retires.append(a.code)
        p.plan.lineage.append((a.code, target.code, "merged_into"))
        p.plan.levels.add(a.level)


def _merge(p: Planner) -> None:
    s = p.spec
    codes = s.codes or []
    if len(codes) < (1 if s.into else 2) or len(set(codes)) != len(codes):
        raise _bad("a merge needs two or more distinct divisions (or one and `into`)",
                   "合并须有两个以上不同的区划（或一个区划并指定并入的区划）", "codes")
    absorbed = [p.snap(c, "codes") for c in codes]
    levels = {a.level for a in absorbed}
    parents = {a.parent_code for a in absorbed}
    if len(levels) != 1 or len(parents) != 1:
        raise _bad("merged divisions must have the same level and parent", "合并的区划须同级且同属一个上级", "codes")
    level = absorbed[0].level
    if s.into:
        if s.into in codes:
            raise _bad("`into` must not be one of the merged codes", "并入的区划不能是被合并的区划之一", "into")
        target = p.snap(s.into, "into")
        if target.level != level or target.parent_code != absorbed[0].parent_code:
            raise _bad(f"{s.into} is not a sibling of the merged divisions", f"{s.into} 与被合并区划不同级或不同上级",
                       "into")
        _absorb(p, absorbed, target, False)
        return
    if s.new is None:
        raise _bad("a merge needs `new` (the new division) or `into` (an existing one)",
                   "合并须填写新设区划或并入的现有区划", "new")
    parent = s.new.parent_code or absorbed[0].parent_code
    p.check_new_code(s.new.code, level, parent, "new.code")
    p.check_kind(level, s.new.kind, "new.kind")
    new = NewDivision(code=s.new.code, name=s.new.name.strip(), level=level, kind=s.new.kind, parent_code=parent,
                      geom=None, population=None, source="adjustment (merge)")
    p.plan.creates.append(new)
    _absorb(p, absorbed, new, True)


def _abolish(p: Planner) -> None:
    s = p.spec
    div = p.snap(s.code, "code")
    has_content = (div.geom is not None and div.dim == 2) or bool(p.children(div.code))
    if s.into:
        p.spec = s.model_copy(update={"codes": [div.code]})
        _merge(p)
        return
    if has_content:
        raise _bad(f"{div.code} has an area or subordinate divisions; name the division that takes them (`into`)",
                   f"{div.code} 有行政区域或下级区划，须指定承接的区划", "into")
    p.plan.retires.append(div.code)
    p.plan.levels.add(div.level)


def _establish(p: Planner) -> None:
    s = p.spec
    if s.new is None:
        raise _bad("establishing needs `new`", "设立须填写新设区划", "new")
    level_guess = {6: Level.county, 9: Level.township, 12: Level.village}.get(len(s.new.code))
    if level_guess is None or not s.new.parent_code:
        raise _bad("new.code must be 6, 9 or 12 digits and new.parent_code is required",
                   "新设区划的代码须为6、9或12位，且须填写其上级代码", "new.code")
    level = level_guess
    parent = p.parent_in_force(s.new.parent_code, "new.parent_code")
    if PARENT_LEVEL.get(level) is not parent.level:
        raise _bad(f"{parent.code} cannot be the parent of a {level.value}", f"{parent.code} 不能作为该级区划的上级",
                   "new.parent_code")
    p.check_new_code(s.new.code, level, parent.code, "new.code")
    p.check_kind(level, s.new.kind, "new.kind")
    new = NewDivision(code=s.new.code, name=s.new.name.strip(), level=level, kind=s.new.kind,
                      parent_code=parent.code, geom=None, population=None, source="adjustment (establish)")
    p.plan.creates.append(new)
    if level is Level.village:
        if s.seat:
            new.geom = str(p.scalar("SELECT encode(ST_AsEWKB(ST_SetSRID(ST_MakePoint(:x, :y), 4490)), 'hex')",
                                    x=s.seat.lon, y=s.seat.lat))
        p.plan.levels.add(level)
        return
    if s.area is None:
        p.plan.levels.add(level)
        return
    area = p.area_from_geojson(s.area, "area")
    donors = p.s.scalars(text(
        """SELECT code FROM divisions WHERE parent_code = :parent AND level = :level AND ST_Dimension(geom) = 2
             AND valid_from <= :on AND (valid_to IS NULL OR valid_to > :on)
             AND ST_Area(ST_Intersection(geom, ST_GeomFromEWKB(decode(:a, 'hex')))::geography) > 1
           ORDER BY code"""), {"parent": parent.code, "level": level.value, "on": p.before, "a": area}).all()
    if not donors:
        raise _bad("the area of the new division overlaps no sibling", "新设区划的范围未覆盖任何同级区划", "area")
    for code in donors:
        giver = p.snap(code, "area")
        villages = [c for c in p.children(code) if c.dim == 0 and p.scalar(
            "SELECT ST_Intersects(ST_GeomFromEWKB(decode(:a, 'hex')), ST_GeomFromEWKB(decode(:v, 'hex')))",
            a=area, v=c.geom)]
        p.transfer(giver, new, area, villages, receiver_is_new=True)
    if s.seat:
        p.plan.seat = {"code": new.code, "lon": s.seat.lon, "lat": s.seat.lat, "name": s.seat.name}


def _villages(p: Planner, codes: list[str], field_: str) -> tuple[Snapshot, list[Snapshot]]:
    villages = [p.snap(c, field_) for c in codes]
    if any(v.level is not Level.village for v in villages):
        raise _bad("only villages/communities can be listed here", "此处只能列出村（居）委会", field_)
    parents = {v.parent_code for v in villages}
    if len(parents) != 1:
        raise _bad("the villages must belong to one township", "所列村（居）须属于同一乡镇", field_)
    return p.snap(parents.pop(), field_), villages


def _reparent(p: Planner) -> None:
    s = p.spec
    codes = s.codes or ([s.code] if s.code else [])
    if not codes or len(set(codes)) != len(codes):
        raise _bad("reparent needs the divisions (codes)", "隶属关系变更须列出区划代码", "codes")
    new_parent = p.snap(s.new_parent, "new_parent")
    first = p.snap(codes[0], "codes")
    if first.level is Level.village:
        giver, villages = _villages(p, codes, "codes")
        if new_parent.level is not Level.township or new_parent.code == giver.code:
            raise _bad("the new parent must be another township", "新的上级须为另一个乡级区划", "new_parent")
        area = None
        if s.area is not None:
            area = p.area_from_geojson(s.area, "area")
        elif s.area_mode == "voronoi" and giver.geom is not None and giver.dim == 2:
            area = p.voronoi_area(giver, villages)
        p.transfer(giver, new_parent, area, villages)
        return
    # Higher levels: each division moves with its whole area to the new parent.
    for code in codes:
        div = p.snap(code, "codes")
        if PARENT_LEVEL.get(div.level) is not new_parent.level or div.parent_code == new_parent.code:
            raise _bad(f"{code} cannot move under {new_parent.code}", f"{code} 不能改隶 {new_parent.code}",
                       "new_parent")
        old_parent = p.snap(div.parent_code, "codes")
        if div.geom is not None and div.dim == 2 and old_parent.geom is not None and new_parent.geom is not None:
            p.transfer(old_parent, new_parent, div.geom, [])
        p.recode(div, new_parent.code)
        p.plan.levels.add(div.level)


def _boundary_change(p: Planner) -> None:
    s = p.spec
    giver = p.snap(s.from_code, "from_code")
    receiver = p.snap(s.to_code, "to_code")
    if giver.level != receiver.level or giver.code == receiver.code:
        raise _bad("from_code and to_code must be two divisions of one level",
                   "原区划与目标区划须为同级的两个区划",
                   "to_code")
    if giver.geom is None or giver.dim != 2:
        raise _bad(f"{giver.code} has no polygon", f"{giver.code} 没有面状范围", "from_code")
    villages: list[Snapshot] = []
    if s.villages:
        township, villages = _villages(p, s.villages, "villages")
        if township.code != giver.code:
            raise _bad(f"the villages must belong to {giver.code}", f"所列村（居）须属于 {giver.code}", "villages")
    if s.area is not None:
        area = p.area_from_geojson(s.area, "area")
        inside = [c for c in p.children(giver.code) if c.dim == 0 and c.code not in {v.code for v in villages}
                  and p.scalar("SELECT ST_Intersects(ST_GeomFromEWKB(decode(:a, 'hex')), "
                               "ST_GeomFromEWKB(decode(:v, 'hex')))", a=area, v=c.geom)]
        villages = villages + inside
    elif villages:
        area = p.voronoi_area(giver, villages)
    else:
        raise _bad("give the area that moves or the villages that move with their area",
                   "须给出调整的区域范围或随区域调整的村（居）", "area")
    p.transfer(giver, receiver, area, villages)


def _seat_move(p: Planner) -> None:
    s = p.spec
    div = p.snap(s.code, "code")
    if s.seat is None:
        raise _bad("a seat move needs the new seat (lon, lat)", "驻地迁移须填写新驻地坐标", "seat")
    inside = p.scalar("SELECT ST_Intersects(ST_GeomFromEWKB(decode(:g, 'hex')), "
                      "ST_SetSRID(ST_MakePoint(:x, :y), 4490))",
                      g=div.geom, x=s.seat.lon, y=s.seat.lat) if div.geom and div.dim == 2 else True
    if not inside:
        raise _bad(f"the new seat lies outside {div.code}", f"新驻地不在 {div.code} 境内", "seat")
    p.plan.seat = {"code": div.code, "lon": s.seat.lon, "lat": s.seat.lat, "name": s.seat.name}


def _correction(p: Planner) -> None:
    s = p.spec
    if not s.corrections:
        raise _bad("a geometry correction needs corrections [{code, geometry}]", "测绘更正须列出更正内容",
                   "corrections")
    for i, c in enumerate(s.corrections):
        div = p.snap(c.code, f"corrections.{i}.code")
        geom = p.area_from_geojson(c.geometry, f"corrections.{i}.geometry")
        p.plan.changes.append(Change(code=div.code, values={"geom": geom}, legal=False))
        p.plan.levels.add(div.level)


__all__ = ["MU_PER_M2", "DivisionLineage", "Plan", "build"]
