"""The collection registry: what the OGC API serves, declared once per area in a few lines.

A collection is a table (or a fixed slice of one) with a feature id, a geometry column, a valid-time
interval (optional) and a list of properties, each an SQL expression over the table alias ``t``. The
expressions are fixed text written here, never client input: they are the whitelist that filters, sortby
and ``properties`` choose from. Reads are built from them in SQL (``gis_api.ogc.query``); writes go through
the area's service via an ``Editor`` (``gis_api.ogc.editors``) so validation, audit, roles and optimistic
concurrency are those of the JSON API.

Plugging in a new area (e.g. boundary markers, once ``boundary_markers`` exists)::

    from gis_api.ogc.collections import Collection, Property, register

    register(Collection(
        id="markers", title="界桩 Boundary markers", table="boundary_markers", id_sql="t.marker_no",
        id_type="string", geometry_type="Point",
        properties=(Property("marker_no", "t.marker_no"), Property("line_id", "t.line_id"),
                    Property("status", "t.status"), Property("precision_m", "t.precision_m", "number")),
    ))

``register`` checks the identifiers; ``valid_from``/``valid_to`` default to the Versioned columns (set them
to ``None`` for a table without valid time).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from gis_api.ogc.editors import Editor

PropType = Literal["string", "integer", "number", "boolean", "date", "date-time"]
GeometryType = Literal["Point", "LineString", "Polygon", "MultiPoint", "MultiLineString", "MultiPolygon", "Geometry"]

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")
_COLUMN_REF = re.compile(r"\bt\.([a-z_][a-z0-9_]*)\b")
_JOINED_TABLE = re.compile(r"\bJOIN\s+([a-z_][a-z0-9_]*)")


@dataclass(frozen=True)
class Property:
    """One feature property: its public name, its SQL over alias ``t`` and its JSON Schema type."""

    name: str
    sql: str
    type: PropType = "string"
    title: str = ""
    queryable: bool = True  # may appear in filters, property=value and sortby
    joined: bool = False  # refers to the output join (``Collection.join``): output only
    in_tiles: bool = False  # an attribute of the vector tiles
    enum: tuple[str, ...] | None = None


@dataclass(frozen=True)
class Collection:
    id: str
    title: str
    table: str
    id_sql: str  # the stable feature id, e.g. ``t.place_id`` or ``t.code``
    properties: tuple[Property, ...]
    description: str = ""
    id_type: Literal["integer", "string"] = "integer"
    geom_column: str = "geom"
    geometry_type: GeometryType = "Geometry"
    # Output every geometry as its Multi- type (ST_Multi), so a layer declared MultiLineString never mixes in a
    # LineString: clients type a layer from its first features.
    output_multi: bool = False
    where: str = ""  # a fixed slice of the table, e.g. ``t.level = 'township'``
    valid_from: str | None = "valid_from"
    valid_to: str | None = "valid_to"
    join: str = ""  # an output-only join, e.g. ``LEFT JOIN place_categories c ON c.code = t.category_code``
    row_id_sql: str = "t.id"  # with ``version``: the ETag
    version_sql: str | None = "t.version"
    etag: Callable[[int, int], str] | None = None
    editor: Editor | None = None
    keywords: tuple[str, ...] = ()
    # Vector tiles: a point layer that would put more than this in one tile is thinned (a stratified sample).
    tile_max_features: int = 2048
    tile_id_sql: str | None = None  # integer MVT feature id; default ``id_sql`` when the id is an integer
    min_zoom: int = 0
    max_zoom: int = 22
    requires_table: bool = True  # only listed when the table exists (areas still being built)
    # A stored core ``point`` column (the geometry's x/y for points, NULL otherwise) whose GiST index INCLUDEs
    # ``id_sql``'s column, ``row_id_sql``'s and the valid-time columns, beside a partial GiST index on the
    # geometry WHERE it IS NULL: a bbox is then counted and paged from indexes alone (places: migration 0016).
    point_column: str | None = None
    _props: dict[str, Property] = field(default_factory=dict, init=False, repr=False, compare=False)
    # columns() by (property names, extra SQL): computed once per shape, not per request (regex over the SQL)
    _columns: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = field(
        default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in (self.table, self.geom_column,
                     *(c for c in (self.valid_from, self.valid_to, self.point_column) if c)):
            if not _IDENT.match(name):
                raise ValueError(f"collection {self.id}: {name!r} is not a plain lower-case SQL identifier")
        if not re.match(r"^[A-Za-z0-9_.-]+$", self.id):
            raise ValueError(f"collection id {self.id!r} must be URL-safe")
        names = [p.name for p in self.properties]
        bad = [n for n in names if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*$", n)]
        if bad:
            raise ValueError(f"collection {self.id}: property names {bad} must be plain identifiers")
        if len(set(names)) != len(names):
            raise ValueError(f"collection {self.id}: duplicate property names")
        self._props.update({p.name: p for p in self.properties})

    @property
    def geom_sql(self) -> str:
        return f"t.{self.geom_column}"

    @property
    def output_geom_sql(self) -> str:
        """The geometry as features carry it (filters and indexes use ``geom_sql``)."""
        return f"ST_Multi({self.geom_sql})" if self.output_multi else self.geom_sql

    def prop(self, name: str) -> Property | None:
        return self._props.get(name)

    def queryables(self) -> list[Property]:
        return [p for p in self.properties if p.queryable and not p.joined]

    @property
    def tables(self) -> tuple[str, ...]:
        """The tables what the collection serves comes from: its own and those of its output join (their change
        counters make its ETag, see ``gis_api.ogc.query.change_tag_sql``)."""
        return (self.table, *sorted(set(_JOINED_TABLE.findall(self.join)) - {self.table}))

    def columns(self, props: list[Property], extra: tuple[str, ...] = ()) -> list[str]:
        """Table columns the output needs (so a page carries no unused wide columns through a sort)."""
        key = (tuple(p.name for p in props), extra)
        hit = self._columns.get(key)
        if hit is not None:
            return hit
        sqls = [self.id_sql, self.row_id_sql, self.version_sql or "", self.tile_id_sql or "", *extra,
                *(p.sql for p in props), self.join]
        cols = {self.geom_column}
        for s in sqls:
            cols.update(_COLUMN_REF.findall(s))
        out = sorted(cols)
        if len(self._columns) < 1024:  # a bounded cache: ``properties`` lists are client-chosen
            self._columns[key] = out
        return out


REGISTRY: dict[str, Collection] = {}


def register(collection: Collection) -> Collection:
    if collection.id in REGISTRY:
        raise ValueError(f"collection {collection.id} is registered twice")
    REGISTRY[collection.id] = collection
    return collection


def _load_builtin() -> None:
    from gis_api.ogc import builtin  # noqa: F401  (registers divisions, places and the other areas)


def all_collections() -> list[Collection]:
    if not REGISTRY:
        _load_builtin()
    return list(REGISTRY.values())


def get(collection_id: str) -> Collection | None:
    if not REGISTRY:
        _load_builtin()
    return REGISTRY.get(collection_id)
