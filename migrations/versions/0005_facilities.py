"""Facilities, cemeteries with parcels, constraint layers; demand layers and road networks for coverage.

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from gis_api.audit.sql import enable_tracking
from gis_api.facilities.kinds import constraint_layer_rows, kind_rows

revision = '0005'
down_revision = '0002'
branch_labels = None
depends_on = None

TRACKED = (
    ('facility_kinds', 'code'), ('facilities', 'facility_id'), ('cemeteries', 'facility_id'),
    ('cemetery_parcels', 'parcel_id'), ('constraint_layers', 'code'), ('constraint_features', 'layer_id'),
)


def upgrade() -> None:
    op.execute('CREATE SEQUENCE facility_id_seq')
    op.execute('CREATE SEQUENCE parcel_id_seq')
    op.create_table('cemeteries',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('facility_id', sa.BigInteger(), nullable=False),
    sa.Column('cemetery_type', sa.Text(), nullable=False),
    sa.Column('capacity_plots', sa.Integer(), nullable=True),
    sa.Column('occupied_plots', sa.Integer(), server_default='0', nullable=False),
    sa.Column('eco_burials', sa.Integer(), server_default='0', nullable=False),
    sa.Column('served_townships', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('approval_authority', sa.Text(), nullable=True),
    sa.Column('approval_doc', sa.Text(), nullable=True),
    sa.Column('remarks', sa.Text(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    postgresql.ExcludeConstraint((sa.text('facility_id'), '='), (sa.text("daterange(valid_from, valid_to, '[)')"), '&&'), using='gist', name='cemeteries_one_version_per_date'),
    sa.CheckConstraint("cemetery_type IN ('public', 'rural_public', 'commercial', 'ash_hall')", name=op.f('ck_cemeteries_type_known')),
    sa.CheckConstraint('capacity_plots IS NULL OR capacity_plots >= 0', name=op.f('ck_cemeteries_capacity_nonnegative')),
    sa.CheckConstraint('eco_burials <= occupied_plots', name=op.f('ck_cemeteries_eco_within_occupied')),
    sa.CheckConstraint('occupied_plots >= 0 AND eco_burials >= 0', name=op.f('ck_cemeteries_counts_nonnegative')),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name=op.f('ck_cemeteries_valid_interval')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cemeteries'))
    )
    op.create_index('ix_cemeteries_facility_id', 'cemeteries', ['facility_id', 'valid_from'], unique=False)
    op.create_table('cemetery_parcels',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('parcel_id', sa.BigInteger(), nullable=False),
    sa.Column('facility_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='MULTIPOLYGON', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('plots_capacity', sa.Integer(), nullable=True),
    sa.Column('approval_doc', sa.Text(), nullable=True),
    sa.Column('remarks', sa.Text(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    postgresql.ExcludeConstraint((sa.text('parcel_id'), '='), (sa.text("daterange(valid_from, valid_to, '[)')"), '&&'), using='gist', name='cemetery_parcels_one_version_per_date'),
    sa.CheckConstraint("status IN ('existing', 'planned_extension', 'approved', 'rejected')", name=op.f('ck_cemetery_parcels_status_known')),
    sa.CheckConstraint('plots_capacity IS NULL OR plots_capacity >= 0', name=op.f('ck_cemetery_parcels_plots_nonnegative')),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name=op.f('ck_cemetery_parcels_valid_interval')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cemetery_parcels'))
    )
    op.create_index('ix_cemetery_parcels_facility_id', 'cemetery_parcels', ['facility_id'], unique=False)
    op.create_index('ix_cemetery_parcels_geom', 'cemetery_parcels', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_cemetery_parcels_parcel_id', 'cemetery_parcels', ['parcel_id', 'valid_from'], unique=False)
    op.create_table('constraint_layers',
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name_zh', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('buffer_m', sa.Float(), server_default='0', nullable=False),
    sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('rule', sa.Text(), server_default='§6', nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("code ~ '^[a-z][a-z0-9_]{1,63}$'", name=op.f('ck_constraint_layers_code_format')),
    sa.CheckConstraint('buffer_m >= 0', name=op.f('ck_constraint_layers_buffer_nonnegative')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_constraint_layers'))
    )
    op.create_table('demand_layers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('weight_label', sa.Text(), server_default='population', nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_demand_layers')),
    sa.UniqueConstraint('name', name=op.f('uq_demand_layers_name'))
    )
    op.create_table('facility_kinds',
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name_zh', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('category', sa.Text(), nullable=False),
    sa.Column('default_radius_m', sa.Float(), nullable=True),
    sa.Column('sort_order', sa.SmallInteger(), server_default='100', nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("code ~ '^[a-z][a-z0-9_]{1,63}$'", name=op.f('ck_facility_kinds_code_format')),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_facility_kinds'))
    )
    op.create_table('road_networks',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('network_type', sa.Text(), nullable=True),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('osm_pbf', 'line_layer', 'synthetic')", name=op.f('ck_road_networks_kind_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_road_networks')),
    sa.UniqueConstraint('name', name=op.f('uq_road_networks_name'))
    )
    op.create_table('constraint_features',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('layer_id', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['layer_id'], ['constraint_layers.code'], name=op.f('fk_constraint_features_layer_id_constraint_layers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_constraint_features'))
    )
    op.create_index('ix_constraint_features_geom', 'constraint_features', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_constraint_features_layer_id', 'constraint_features', ['layer_id'], unique=False)
    op.create_table('demand_points',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('layer_id', sa.Integer(), nullable=False),
    sa.Column('code', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('weight', sa.Float(), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.CheckConstraint('weight >= 0', name=op.f('ck_demand_points_weight_nonnegative')),
    sa.ForeignKeyConstraint(['layer_id'], ['demand_layers.id'], name=op.f('fk_demand_points_layer_id_demand_layers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_demand_points'))
    )
    op.create_index('ix_demand_points_geom', 'demand_points', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_demand_points_layer_id', 'demand_points', ['layer_id', 'code'], unique=False)
    op.create_table('facilities',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('facility_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('site_geom', geoalchemy2.types.Geometry(geometry_type='MULTIPOLYGON', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('division_code', sa.String(length=12), nullable=True),
    sa.Column('address', sa.Text(), nullable=True),
    sa.Column('capacity', sa.Integer(), nullable=True),
    sa.Column('staff', sa.Integer(), nullable=True),
    sa.Column('opened_on', sa.Date(), nullable=True),
    sa.Column('status', sa.Text(), server_default='open', nullable=False),
    sa.Column('remarks', sa.Text(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    postgresql.ExcludeConstraint((sa.text('facility_id'), '='), (sa.text("daterange(valid_from, valid_to, '[)')"), '&&'), using='gist', name='facilities_one_version_per_date'),
    sa.CheckConstraint("status IN ('planned', 'under_construction', 'open', 'suspended', 'closed')", name=op.f('ck_facilities_status_known')),
    sa.CheckConstraint('capacity IS NULL OR capacity >= 0', name=op.f('ck_facilities_capacity_nonnegative')),
    sa.CheckConstraint('staff IS NULL OR staff >= 0', name=op.f('ck_facilities_staff_nonnegative')),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name=op.f('ck_facilities_valid_interval')),
    sa.ForeignKeyConstraint(['kind'], ['facility_kinds.code'], name=op.f('fk_facilities_kind_facility_kinds')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_facilities'))
    )
    op.create_index('ix_facilities_division', 'facilities', ['division_code'], unique=False)
    op.create_index('ix_facilities_facility_id', 'facilities', ['facility_id', 'valid_from'], unique=False)
    op.create_index('ix_facilities_geom', 'facilities', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_facilities_kind', 'facilities', ['kind', 'valid_from'], unique=False)
    op.create_table('road_edges',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('network_id', sa.Integer(), nullable=False),
    sa.Column('source', sa.BigInteger(), nullable=False),
    sa.Column('target', sa.BigInteger(), nullable=False),
    sa.Column('cost', sa.Float(), nullable=False),
    sa.Column('reverse_cost', sa.Float(), nullable=False),
    sa.Column('length_m', sa.Float(), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('highway', sa.Text(), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='LINESTRING', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['network_id'], ['road_networks.id'], name=op.f('fk_road_edges_network_id_road_networks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_road_edges'))
    )
    op.create_index('ix_road_edges_geom', 'road_edges', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_road_edges_network_id', 'road_edges', ['network_id'], unique=False)
    op.create_table('road_vertices',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('network_id', sa.Integer(), nullable=False),
    sa.Column('osm_id', sa.BigInteger(), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.ForeignKeyConstraint(['network_id'], ['road_networks.id'], name=op.f('fk_road_vertices_network_id_road_networks'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_road_vertices'))
    )
    op.create_index('ix_road_vertices_geom', 'road_vertices', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_road_vertices_network_id', 'road_vertices', ['network_id'], unique=False)
    kinds = sa.table('facility_kinds', *(sa.column(c) for c in
                                          ('code', 'name_zh', 'name_en', 'category', 'default_radius_m', 'sort_order')))
    op.bulk_insert(kinds, kind_rows())
    layers = sa.table('constraint_layers', *(sa.column(c) for c in
                                             ('code', 'name_zh', 'name_en', 'buffer_m', 'active', 'rule', 'note')))
    op.bulk_insert(layers, constraint_layer_rows())
    for table, key in TRACKED:
        op.execute(enable_tracking(table, key))


def downgrade() -> None:
    op.drop_index('ix_road_vertices_network_id', table_name='road_vertices')
    op.drop_index('ix_road_vertices_geom', table_name='road_vertices', postgresql_using='gist')
    op.drop_table('road_vertices')
    op.drop_index('ix_road_edges_network_id', table_name='road_edges')
    op.drop_index('ix_road_edges_geom', table_name='road_edges', postgresql_using='gist')
    op.drop_table('road_edges')
    op.drop_index('ix_facilities_kind', table_name='facilities')
    op.drop_index('ix_facilities_geom', table_name='facilities', postgresql_using='gist')
    op.drop_index('ix_facilities_facility_id', table_name='facilities')
    op.drop_index('ix_facilities_division', table_name='facilities')
    op.drop_table('facilities')
    op.drop_index('ix_demand_points_layer_id', table_name='demand_points')
    op.drop_index('ix_demand_points_geom', table_name='demand_points', postgresql_using='gist')
    op.drop_table('demand_points')
    op.drop_index('ix_constraint_features_layer_id', table_name='constraint_features')
    op.drop_index('ix_constraint_features_geom', table_name='constraint_features', postgresql_using='gist')
    op.drop_table('constraint_features')
    op.drop_table('road_networks')
    op.drop_table('facility_kinds')
    op.drop_table('demand_layers')
    op.drop_table('constraint_layers')
    op.drop_index('ix_cemetery_parcels_parcel_id', table_name='cemetery_parcels')
    op.drop_index('ix_cemetery_parcels_geom', table_name='cemetery_parcels', postgresql_using='gist')
    op.drop_index('ix_cemetery_parcels_facility_id', table_name='cemetery_parcels')
    op.drop_table('cemetery_parcels')
    op.drop_index('ix_cemeteries_facility_id', table_name='cemeteries')
    op.drop_table('cemeteries')
    op.execute('DROP SEQUENCE parcel_id_seq')
    op.execute('DROP SEQUENCE facility_id_seq')
