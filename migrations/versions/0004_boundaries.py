"""Boundaries: division adjustments (proposals, lineage, seats), boundary lines and their geometry versions,
markers, joint inspections, GPX patrols and boundary issues.

Revision ID: 0004
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from gis_api.audit.sql import enable_tracking

revision = "0004"
down_revision = "0002"
branch_labels = None
depends_on = None

# Versioned and audited (audit.sql triggers): table -> entity key column.
TRACKED = {
    "adjustments": "id",
    "boundary_lines": "line_id",
    "boundary_line_versions": "line_id",
    "boundary_markers": "marker_no",
    "boundary_inspections": "id",
    "boundary_issues": "id",
    "division_seats": "code",
}


def upgrade() -> None:
    op.create_table('adjustments',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default='draft', nullable=False),
    sa.Column('spec', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('documents', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('approving_authority', sa.Text(), nullable=True),
    sa.Column('document_no', sa.Text(), nullable=True),
    sa.Column('approved_on', sa.Date(), nullable=True),
    sa.Column('effective_date', sa.Date(), nullable=True),
    sa.Column('impact', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('impact_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('proposed_by', sa.Text(), nullable=False),
    sa.Column('decided_by', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('decision_note', sa.Text(), nullable=True),
    sa.Column('applied_by', sa.Text(), nullable=True),
    sa.Column('applied_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('establish', 'abolish', 'merge', 'rename', 'reparent', 'boundary_change', 'seat_move', 'geometry_correction')", name=op.f('ck_adjustments_kind_known')),
    sa.CheckConstraint("status IN ('draft', 'submitted', 'approved', 'rejected', 'applied', 'withdrawn')", name=op.f('ck_adjustments_status_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_adjustments'))
    )
    op.create_index('ix_adjustments_status', 'adjustments', ['status'], unique=False)
    op.create_table('boundary_lines',
    sa.Column('line_id', sa.String(length=40), nullable=False),
    sa.Column('level', sa.Text(), nullable=False),
    sa.Column('left_code', sa.String(length=12), nullable=False),
    sa.Column('right_code', sa.String(length=12), nullable=True),
    sa.Column('line_no', sa.String(length=4), nullable=False),
    sa.Column('name', sa.Text(), nullable=True),
    sa.Column('agreement_ref', sa.Text(), nullable=True),
    sa.Column('agreement_signed_on', sa.Date(), nullable=True),
    sa.Column('detail_map_ref', sa.Text(), nullable=True),
    sa.Column('responsible_left', sa.Text(), nullable=True),
    sa.Column('responsible_right', sa.Text(), nullable=True),
    sa.Column('last_inspection_on', sa.Date(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('source', sa.Text(), server_default='derived', nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("line_no ~ '^[0-9]{4}$'", name=op.f('ck_boundary_lines_line_no_format')),
    sa.CheckConstraint('right_code IS NULL OR left_code < right_code', name=op.f('ck_boundary_lines_pair_ordered')),
    sa.PrimaryKeyConstraint('line_id', name=op.f('pk_boundary_lines')),
    sa.UniqueConstraint('line_no', name='uq_boundary_lines_line_no')
    )
    op.create_index('ix_boundary_lines_left', 'boundary_lines', ['left_code'], unique=False)
    op.create_index('ix_boundary_lines_level', 'boundary_lines', ['level'], unique=False)
    op.create_index('ix_boundary_lines_right', 'boundary_lines', ['right_code'], unique=False)
    op.create_table('division_seats',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('code', sa.String(length=12), nullable=False),
    sa.Column('seat_name', sa.Text(), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('document_no', sa.Text(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    postgresql.ExcludeConstraint((sa.text('code'), '='), (sa.text("daterange(valid_from, valid_to, '[)')"), '&&'), using='gist', name='division_seats_one_per_date'),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name=op.f('ck_division_seats_valid_interval')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_division_seats'))
    )
    op.create_table('boundary_inspections',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('line_id', sa.String(length=40), nullable=False),
    sa.Column('inspected_on', sa.Date(), nullable=False),
    sa.Column('kind', sa.Text(), server_default='periodic', nullable=False),
    sa.Column('team_left', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('team_right', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
    sa.Column('landmarks', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('feature_changes', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('one_sided_markers', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('structures', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('disputes', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('signatures', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('filed_on', sa.Date(), nullable=True),
    sa.Column('filing_ref', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_by', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('periodic', 'flood', 'works', 'other')", name=op.f('ck_boundary_inspections_kind_known')),
    sa.ForeignKeyConstraint(['line_id'], ['boundary_lines.line_id'], name=op.f('fk_boundary_inspections_line_id_boundary_lines')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_boundary_inspections'))
    )
    op.create_index('ix_boundary_inspections_line', 'boundary_inspections', ['line_id', 'inspected_on'], unique=False)
    op.create_table('boundary_line_versions',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('line_id', sa.String(length=40), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='MULTILINESTRING', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('length_m', sa.Float(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    postgresql.ExcludeConstraint((sa.text('line_id'), '='), (sa.text("daterange(valid_from, valid_to, '[)')"), '&&'), using='gist', name='boundary_line_versions_one_per_date'),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name=op.f('ck_boundary_line_versions_valid_interval')),
    sa.ForeignKeyConstraint(['line_id'], ['boundary_lines.line_id'], name=op.f('fk_boundary_line_versions_line_id_boundary_lines')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_boundary_line_versions'))
    )
    op.create_index('ix_boundary_line_versions_geom', 'boundary_line_versions', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_boundary_line_versions_line', 'boundary_line_versions', ['line_id', 'valid_from'], unique=False)
    op.create_table('boundary_markers',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('marker_no', sa.String(length=8), nullable=False),
    sa.Column('line_id', sa.String(length=40), nullable=False),
    sa.Column('type_letter', sa.String(length=1), nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('survey_method', sa.Text(), nullable=False),
    sa.Column('precision_m', sa.Float(), nullable=False),
    sa.Column('surveyed_on', sa.Date(), nullable=True),
    sa.Column('coord_source', sa.Text(), server_default='CGCS2000', nullable=False),
    sa.Column('material', sa.Text(), nullable=True),
    sa.Column('status', sa.Text(), server_default='intact', nullable=False),
    sa.Column('photos', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("marker_no ~ '^[0-9]{4}[0-9]{3}[QABCDE]$'", name=op.f('ck_boundary_markers_marker_no_format')),
    sa.CheckConstraint("status IN ('intact', 'damaged', 'moved', 'missing', 'removed')", name=op.f('ck_boundary_markers_status_known')),
    sa.CheckConstraint('precision_m >= 0', name=op.f('ck_boundary_markers_precision_nonnegative')),
    sa.CheckConstraint('type_letter = right(marker_no, 1)', name=op.f('ck_boundary_markers_type_letter_matches')),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name=op.f('ck_boundary_markers_valid_interval')),
    sa.ForeignKeyConstraint(['line_id'], ['boundary_lines.line_id'], name=op.f('fk_boundary_markers_line_id_boundary_lines')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_boundary_markers')),
    sa.UniqueConstraint('marker_no', name=op.f('uq_boundary_markers_marker_no'))
    )
    op.create_index('ix_boundary_markers_geom', 'boundary_markers', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_boundary_markers_line', 'boundary_markers', ['line_id'], unique=False)
    op.create_table('boundary_patrols',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('line_id', sa.String(length=40), nullable=False),
    sa.Column('patrolled_on', sa.Date(), nullable=False),
    sa.Column('patrolled_by', sa.Text(), nullable=False),
    sa.Column('file_name', sa.Text(), nullable=True),
    sa.Column('track', geoalchemy2.types.Geometry(geometry_type='MULTILINESTRING', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry', nullable=False), nullable=False),
    sa.Column('track_length_m', sa.Float(), nullable=False),
    sa.Column('buffer_m', sa.Float(), nullable=False),
    sa.Column('line_length_m', sa.Float(), nullable=False),
    sa.Column('covered_m', sa.Float(), nullable=False),
    sa.Column('coverage', sa.Float(), nullable=False),
    sa.Column('markers_visited', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint('coverage >= 0 AND coverage <= 1', name=op.f('ck_boundary_patrols_coverage_share')),
    sa.ForeignKeyConstraint(['line_id'], ['boundary_lines.line_id'], name=op.f('fk_boundary_patrols_line_id_boundary_lines')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_boundary_patrols'))
    )
    op.create_index('ix_boundary_patrols_line', 'boundary_patrols', ['line_id', 'patrolled_on'], unique=False)
    op.create_table('division_lineage',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('adjustment_id', sa.BigInteger(), nullable=False),
    sa.Column('effective_date', sa.Date(), nullable=False),
    sa.Column('predecessor_code', sa.String(length=12), nullable=False),
    sa.Column('successor_code', sa.String(length=12), nullable=False),
    sa.Column('relation', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['adjustment_id'], ['adjustments.id'], name=op.f('fk_division_lineage_adjustment_id_adjustments')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_division_lineage'))
    )
    op.create_index('ix_division_lineage_predecessor', 'division_lineage', ['predecessor_code'], unique=False)
    op.create_index('ix_division_lineage_successor', 'division_lineage', ['successor_code'], unique=False)
    op.create_table('boundary_inspection_findings',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('inspection_id', sa.BigInteger(), nullable=False),
    sa.Column('marker_no', sa.String(length=8), nullable=False),
    sa.Column('present', sa.Boolean(), nullable=False),
    sa.Column('damaged', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('moved', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('legible', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('cleared', sa.Boolean(), server_default='true', nullable=False),
    sa.Column('photo', sa.Text(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['inspection_id'], ['boundary_inspections.id'], name=op.f('fk_boundary_inspection_findings_inspection_id_boundary_inspections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_boundary_inspection_findings')),
    sa.UniqueConstraint('inspection_id', 'marker_no', name='uq_boundary_inspection_findings_marker')
    )
    op.create_table('boundary_issues',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('line_id', sa.String(length=40), nullable=False),
    sa.Column('marker_no', sa.String(length=8), nullable=True),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('risk', sa.Text(), server_default='medium', nullable=False),
    sa.Column('status', sa.Text(), server_default='open', nullable=False),
    sa.Column('opened_on', sa.Date(), nullable=False),
    sa.Column('resolved_on', sa.Date(), nullable=True),
    sa.Column('resolution', sa.Text(), nullable=True),
    sa.Column('distance_m', sa.Float(), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(geometry_type='POINT', srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('inspection_id', sa.BigInteger(), nullable=True),
    sa.Column('patrol_id', sa.BigInteger(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('dispute', 'risk', 'marker_damaged', 'marker_missing', 'marker_moved', 'marker_illegible', 'marker_overgrown', 'displacement', 'structure', 'one_sided_marker', 'feature_change', 'other')", name=op.f('ck_boundary_issues_kind_known')),
    sa.CheckConstraint("risk IN ('low', 'medium', 'high')", name=op.f('ck_boundary_issues_risk_known')),
    sa.CheckConstraint("status IN ('open', 'resolved')", name=op.f('ck_boundary_issues_status_known')),
    sa.ForeignKeyConstraint(['inspection_id'], ['boundary_inspections.id'], name=op.f('fk_boundary_issues_inspection_id_boundary_inspections'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['line_id'], ['boundary_lines.line_id'], name=op.f('fk_boundary_issues_line_id_boundary_lines')),
    sa.ForeignKeyConstraint(['patrol_id'], ['boundary_patrols.id'], name=op.f('fk_boundary_issues_patrol_id_boundary_patrols'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_boundary_issues'))
    )
    op.create_index('ix_boundary_issues_line', 'boundary_issues', ['line_id', 'status'], unique=False)

    for table, key in TRACKED.items():
        op.execute(enable_tracking(table, key))


def downgrade() -> None:
    op.drop_index('ix_boundary_issues_line', table_name='boundary_issues')
    op.drop_table('boundary_issues')
    op.drop_table('boundary_inspection_findings')
    op.drop_index('ix_division_lineage_successor', table_name='division_lineage')
    op.drop_index('ix_division_lineage_predecessor', table_name='division_lineage')
    op.drop_table('division_lineage')
    op.drop_index('ix_boundary_patrols_line', table_name='boundary_patrols')
    op.drop_table('boundary_patrols')
    op.drop_index('ix_boundary_markers_line', table_name='boundary_markers')
    op.drop_index('ix_boundary_markers_geom', table_name='boundary_markers', postgresql_using='gist')
    op.drop_table('boundary_markers')
    op.drop_index('ix_boundary_line_versions_line', table_name='boundary_line_versions')
    op.drop_index('ix_boundary_line_versions_geom', table_name='boundary_line_versions', postgresql_using='gist')
    op.drop_table('boundary_line_versions')
    op.drop_index('ix_boundary_inspections_line', table_name='boundary_inspections')
    op.drop_table('boundary_inspections')
    op.drop_table('division_seats')
    op.drop_index('ix_boundary_lines_right', table_name='boundary_lines')
    op.drop_index('ix_boundary_lines_level', table_name='boundary_lines')
    op.drop_index('ix_boundary_lines_left', table_name='boundary_lines')
    op.drop_table('boundary_lines')
    op.drop_index('ix_adjustments_status', table_name='adjustments')
    op.drop_table('adjustments')
