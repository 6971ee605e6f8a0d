"""Naming and renaming procedure: proposals, documents (with file bytes), steps, approving authorities.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from gis_api.audit.sql import enable_tracking
from gis_api.naming.models import AUTHORITY_SEED

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('approval_authorities',
    sa.Column('category_prefix', sa.String(length=8), nullable=False),
    sa.Column('authority', sa.Text(), nullable=False),
    sa.Column('aliases', postgresql.ARRAY(sa.Text()), server_default='{}', nullable=False),
    sa.Column('needs_civil_affairs_opinion', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('needs_risk_assessment', sa.Boolean(), server_default='false', nullable=False),
    sa.Column('rule', sa.Text(), server_default='§1.3', nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('category_prefix', name=op.f('pk_approval_authorities'))
    )
    op.create_table('proposals',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('stage', sa.Text(), server_default='applied', nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('romanized', sa.Text(), nullable=True),
    sa.Column('category_code', sa.String(length=8), nullable=False),
    sa.Column('place_id', sa.BigInteger(), nullable=True),
    sa.Column('old_name', sa.Text(), nullable=True),
    sa.Column('geom', geoalchemy2.types.Geometry(srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('division_code', sa.String(length=12), nullable=True),
    sa.Column('location_description', sa.Text(), nullable=True),
    sa.Column('entity_scale', sa.Text(), nullable=True),
    sa.Column('entity_nature', sa.Text(), nullable=True),
    sa.Column('attrs', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
    sa.Column('meaning', sa.Text(), nullable=True),
    sa.Column('reasons', sa.Text(), nullable=False),
    sa.Column('applicant', sa.Text(), nullable=True),
    sa.Column('applied_on', sa.Date(), nullable=False),
    sa.Column('applied_by', sa.Text(), nullable=False),
    sa.Column('comment_start', sa.Date(), nullable=True),
    sa.Column('comment_days', sa.SmallInteger(), nullable=False),
    sa.Column('flags', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('exempted', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('flags_scope', sa.Text(), nullable=True),
    sa.Column('flags_checked_on', sa.Date(), nullable=True),
    sa.Column('flags_justification', sa.Text(), nullable=True),
    sa.Column('warnings', postgresql.JSONB(astext_type=sa.Text()), server_default='[]', nullable=False),
    sa.Column('reviewed_on', sa.Date(), nullable=True),
    sa.Column('reviewed_by', sa.Text(), nullable=True),
    sa.Column('approved_on', sa.Date(), nullable=True),
    sa.Column('approval_authority', sa.Text(), nullable=True),
    sa.Column('approval_doc_no', sa.Text(), nullable=True),
    sa.Column('approved_by', sa.Text(), nullable=True),
    sa.Column('filed_on', sa.Date(), nullable=True),
    sa.Column('filing_doc_no', sa.Text(), nullable=True),
    sa.Column('filed_with', sa.Text(), nullable=True),
    sa.Column('filed_by', sa.Text(), nullable=True),
    sa.Column('announced_on', sa.Date(), nullable=True),
    sa.Column('notice_no', sa.Text(), nullable=True),
    sa.Column('announced_by', sa.Text(), nullable=True),
    sa.Column('closed_on', sa.Date(), nullable=True),
    sa.Column('closed_by', sa.Text(), nullable=True),
    sa.Column('closed_reason', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('naming', 'renaming')", name=op.f('ck_proposals_kind_known')),
    sa.CheckConstraint("stage IN ('applied', 'reviewed', 'approved', 'filed', 'announced', 'rejected', 'withdrawn')", name=op.f('ck_proposals_stage_known')),
    sa.CheckConstraint("kind = 'naming' OR (place_id IS NOT NULL AND old_name IS NOT NULL)", name=op.f('ck_proposals_renaming_place')),
    sa.CheckConstraint('comment_days >= 0', name=op.f('ck_proposals_comment_days_range')),
    sa.CheckConstraint("stage NOT IN ('approved', 'filed', 'announced') OR (approved_on IS NOT NULL AND approval_authority IS NOT NULL AND approval_doc_no IS NOT NULL AND place_id IS NOT NULL)", name=op.f('ck_proposals_approval_recorded')),
    sa.CheckConstraint('filed_on IS NULL OR filed_on >= approved_on', name=op.f('ck_proposals_filed_after_approval')),
    sa.CheckConstraint('announced_on IS NULL OR announced_on >= approved_on', name=op.f('ck_proposals_announced_after_approval')),
    sa.CheckConstraint("geom IS NULL OR GeometryType(geom) IN ('POINT', 'LINESTRING', 'MULTILINESTRING', 'POLYGON', 'MULTIPOLYGON')", name=op.f('ck_proposals_geom_type')),
    sa.ForeignKeyConstraint(['category_code'], ['place_categories.code'], name=op.f('fk_proposals_category_code_place_categories')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proposals'))
    )
    op.create_index('ix_proposals_stage', 'proposals', ['stage'], unique=False)
    op.create_index('ix_proposals_place_id', 'proposals', ['place_id'], unique=False)
    op.create_index('ix_proposals_approved_on', 'proposals', ['approved_on'], unique=False)
    op.create_table('proposal_documents',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('proposal_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('title', sa.Text(), nullable=False),
    sa.Column('doc_no', sa.Text(), nullable=True),
    sa.Column('doc_date', sa.Date(), nullable=True),
    sa.Column('opinion_handling', sa.Text(), nullable=True),
    sa.Column('url', sa.Text(), nullable=True),
    sa.Column('file_name', sa.Text(), nullable=True),
    sa.Column('content_type', sa.Text(), nullable=True),
    sa.Column('size_bytes', sa.BigInteger(), nullable=True),
    sa.Column('sha256', sa.Text(), nullable=True),
    sa.Column('stage', sa.Text(), nullable=False),
    sa.Column('uploaded_by', sa.Text(), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('申请书', '综合评估', '专家论证', '征求意见', '风险评估', '民政部门意见', '批复', '备案', '公告', '其他')", name=op.f('ck_proposal_documents_kind_known')),
    sa.CheckConstraint("kind <> '征求意见' OR opinion_handling IS NOT NULL", name=op.f('ck_proposal_documents_consultation_handling')),
    sa.CheckConstraint('(file_name IS NULL) = (sha256 IS NULL)', name=op.f('ck_proposal_documents_file_hashed')),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id'], name=op.f('fk_proposal_documents_proposal_id_proposals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proposal_documents'))
    )
    op.create_index('ix_proposal_documents_proposal', 'proposal_documents', ['proposal_id', 'kind'], unique=False)
    op.create_table('proposal_files',
    sa.Column('document_id', sa.BigInteger(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['document_id'], ['proposal_documents.id'], name=op.f('fk_proposal_files_document_id_proposal_documents'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('document_id', name=op.f('pk_proposal_files'))
    )
    op.create_table('proposal_steps',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('proposal_id', sa.BigInteger(), nullable=False),
    sa.Column('from_stage', sa.Text(), nullable=True),
    sa.Column('to_stage', sa.Text(), nullable=False),
    sa.Column('on_date', sa.Date(), nullable=False),
    sa.Column('doc_no', sa.Text(), nullable=True),
    sa.Column('actor', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('details', postgresql.JSONB(astext_type=sa.Text()), server_default='{}', nullable=False),
    sa.Column('at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.ForeignKeyConstraint(['proposal_id'], ['proposals.id'], name=op.f('fk_proposal_steps_proposal_id_proposals'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_proposal_steps'))
    )
    op.create_index('ix_proposal_steps_proposal', 'proposal_steps', ['proposal_id', 'id'], unique=False)
    authorities = sa.table(
        'approval_authorities', sa.column('category_prefix'), sa.column('authority'),
        sa.column('aliases', postgresql.ARRAY(sa.Text())), sa.column('needs_civil_affairs_opinion'),
        sa.column('needs_risk_assessment'), sa.column('rule'), sa.column('note'),
    )
    op.bulk_insert(authorities, [dict(row) for row in AUTHORITY_SEED])
    for table, key in (('proposals', 'id'), ('proposal_documents', 'proposal_id'),
                       ('proposal_steps', 'proposal_id'), ('approval_authorities', 'category_prefix')):
        op.execute(enable_tracking(table, key))


def downgrade() -> None:
    op.drop_index('ix_proposal_steps_proposal', table_name='proposal_steps')
    op.drop_table('proposal_steps')
    op.drop_table('proposal_files')
    op.drop_index('ix_proposal_documents_proposal', table_name='proposal_documents')
    op.drop_table('proposal_documents')
    op.drop_index('ix_proposals_approved_on', table_name='proposals')
    op.drop_index('ix_proposals_place_id', table_name='proposals')
    op.drop_index('ix_proposals_stage', table_name='proposals')
    op.drop_table('proposals')
    op.drop_table('approval_authorities')
