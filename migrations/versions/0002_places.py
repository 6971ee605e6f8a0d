"""Gazetteer: place names, categories, variants, protection list, name-check flags.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 05:33:15.748667
"""

from __future__ import annotations

import geoalchemy2
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from gis_api.audit.sql import enable_tracking
from gis_api.places.categories import load_categories

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute('CREATE SEQUENCE place_id_seq')
    op.create_table('name_flags',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('place_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('class', sa.Text(), nullable=False),
    sa.Column('rule', sa.Text(), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('reason_zh', sa.Text(), nullable=False),
    sa.Column('evidence', sa.Text(), nullable=False),
    sa.Column('status', sa.Text(), server_default='open', nullable=False),
    sa.Column('outcome_note', sa.Text(), nullable=True),
    sa.Column('detected_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('decided_by', sa.Text(), nullable=True),
    sa.Column('decided_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("class IN ('大', '洋', '怪', '重')", name=op.f('ck_name_flags_class_known')),
    sa.CheckConstraint("status IN ('open', 'renamed', 'exempted', 'retired')", name=op.f('ck_name_flags_status_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_name_flags'))
    )
    op.create_index('ix_name_flags_status', 'name_flags', ['status'], unique=False)
    op.create_index('uq_name_flags_identity', 'name_flags', ['place_id', 'name', 'class', 'reason_zh'], unique=True)
    op.create_table('place_categories',
    sa.Column('code', sa.String(length=8), nullable=False),
    sa.Column('name_zh', sa.Text(), nullable=False),
    sa.Column('name_en', sa.Text(), nullable=False),
    sa.Column('census_class', sa.Text(), nullable=True),
    sa.Column('scope_kind', sa.SmallInteger(), nullable=False),
    sa.Column('dup_scope', sa.Text(), nullable=False),
    sa.Column('parent_code', sa.String(length=8), nullable=True),
    sa.PrimaryKeyConstraint('code', name=op.f('pk_place_categories'))
    )
    op.create_table('place_protection',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('place_id', sa.BigInteger(), nullable=False),
    sa.Column('category', sa.Text(), nullable=False),
    sa.Column('listed_on', sa.Date(), nullable=False),
    sa.Column('listed_by', sa.Text(), nullable=True),
    sa.Column('measures', sa.Text(), nullable=True),
    sa.Column('measures_recorded_on', sa.Date(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_place_protection')),
    sa.UniqueConstraint('place_id', name=op.f('uq_place_protection_place_id'))
    )
    op.create_table('place_variants',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('place_id', sa.BigInteger(), nullable=False),
    sa.Column('kind', sa.Text(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('language', sa.Text(), server_default='zh', nullable=False),
    sa.Column('script', sa.Text(), server_default='Hans', nullable=False),
    sa.Column('romanized', sa.Text(), nullable=True),
    sa.Column('valid_from', sa.Date(), nullable=True),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.CheckConstraint("kind IN ('简称', '别名', '曾用名', '历史名', '图上名称')", name=op.f('ck_place_variants_kind_known')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_place_variants'))
    )
    op.create_index('ix_place_variants_name_trgm', 'place_variants', ['name'], unique=False, postgresql_using='gin', postgresql_ops={'name': 'gin_trgm_ops'})
    op.create_index(op.f('ix_place_variants_place_id'), 'place_variants', ['place_id'], unique=False)
    op.create_table('places',
    sa.Column('id', sa.BigInteger(), nullable=False),
    sa.Column('place_id', sa.BigInteger(), nullable=False),
    sa.Column('name', sa.Text(), nullable=False),
    sa.Column('zhuanming', sa.Text(), nullable=False),
    sa.Column('tongming', sa.Text(), nullable=False),
    sa.Column('romanized', sa.Text(), nullable=False),
    sa.Column('romanized_by', sa.Text(), server_default='auto', nullable=False),
    sa.Column('tongming_romanized', sa.Text(), nullable=True),
    sa.Column('category_code', sa.String(length=8), nullable=False),
    sa.Column('scope_kind', sa.SmallInteger(), nullable=False),
    sa.Column('status', sa.Text(), server_default='standard', nullable=False),
    sa.Column('geom', geoalchemy2.types.Geometry(srid=4490, dimension=2, spatial_index=False, from_text='ST_GeomFromEWKT', name='geometry'), nullable=True),
    sa.Column('division_code', sa.String(length=12), nullable=True),
    sa.Column('meaning', sa.Text(), nullable=True),
    sa.Column('history', sa.Text(), nullable=True),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('sources', sa.Text(), nullable=True),
    sa.Column('usage', sa.Text(), server_default='现今', nullable=False),
    sa.Column('registered_on', sa.Date(), nullable=True),
    sa.Column('registered_by', sa.Text(), nullable=True),
    sa.Column('registering_unit', sa.Text(), nullable=True),
    sa.Column('named_on', sa.Date(), nullable=True),
    sa.Column('established_year', sa.SmallInteger(), nullable=True),
    sa.Column('abolished_year', sa.SmallInteger(), nullable=True),
    sa.Column('coord_method', sa.Text(), nullable=True),
    sa.Column('coord_precision_m', sa.Float(), nullable=True),
    sa.Column('coord_system', sa.Text(), server_default='CGCS2000', nullable=False),
    sa.Column('elevation_m', sa.Float(), nullable=True),
    sa.Column('sign_count', sa.Integer(), nullable=True),
    sa.Column('minority_script', sa.Text(), nullable=True),
    sa.Column('language', sa.Text(), nullable=True),
    sa.Column('remarks', sa.Text(), nullable=True),
    sa.Column('search_keys', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column('pinyin', sa.Text(), nullable=False),
    sa.Column('initials', sa.Text(), nullable=False),
    sa.Column('grams', postgresql.ARRAY(sa.Text()), nullable=False),
    sa.Column('dup_specific', sa.Text(), nullable=False),
    sa.Column('dup_pinyin', sa.Text(), nullable=False),
    sa.Column('dup_dialect', sa.Text(), nullable=False),
    sa.Column('valid_from', sa.Date(), nullable=False),
    sa.Column('valid_to', sa.Date(), nullable=True),
    sa.Column('version', sa.Integer(), server_default='1', nullable=False),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
    postgresql.ExcludeConstraint((sa.text('place_id'), '='), (sa.text("daterange(valid_from, valid_to, '[)')"), '&&'), using='gist', name='places_one_version_per_date'),
    sa.CheckConstraint("coord_method IS NULL OR coord_method IN ('实测', '图解', '其他')", name=op.f('ck_places_coord_method')),
    sa.CheckConstraint("geom IS NULL OR GeometryType(geom) IN ('POINT', 'LINESTRING', 'MULTILINESTRING', 'POLYGON', 'MULTIPOLYGON')", name=op.f('ck_places_geom_type')),
    sa.CheckConstraint("status IN ('standard', 'pending', 'non_standard', 'historic')", name=op.f('ck_places_status_known')),
    sa.CheckConstraint('scope_kind BETWEEN 1 AND 8', name=op.f('ck_places_scope_kind_range')),
    sa.CheckConstraint('valid_to IS NULL OR valid_to > valid_from', name=op.f('ck_places_valid_interval')),
    sa.ForeignKeyConstraint(['category_code'], ['place_categories.code'], name=op.f('fk_places_category_code_place_categories')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_places'))
    )
    op.create_index('ix_places_category', 'places', ['category_code'], unique=False)
    op.create_index('ix_places_division', 'places', ['division_code'], unique=False)
    op.create_index('ix_places_geom', 'places', ['geom'], unique=False, postgresql_using='gist')
    op.create_index('ix_places_grams', 'places', ['grams'], unique=False, postgresql_using='gin')
    op.create_index('ix_places_initials_prefix', 'places', ['initials'], unique=False, postgresql_ops={'initials': 'text_pattern_ops'})
    op.create_index('ix_places_name_prefix', 'places', ['name'], unique=False, postgresql_ops={'name': 'text_pattern_ops'})
    op.create_index('ix_places_name_trgm', 'places', ['name'], unique=False, postgresql_using='gin', postgresql_ops={'name': 'gin_trgm_ops'})
    op.create_index('ix_places_pinyin_prefix', 'places', ['pinyin'], unique=False, postgresql_ops={'pinyin': 'text_pattern_ops'})
    op.create_index('ix_places_pinyin_trgm', 'places', ['pinyin'], unique=False, postgresql_using='gin', postgresql_ops={'pinyin': 'gin_trgm_ops'})
    op.create_index('ix_places_place_id', 'places', ['place_id', 'valid_from'], unique=False)
    op.create_index('ix_places_search_keys', 'places', ['search_keys'], unique=False, postgresql_using='gin')
    op.create_index('ix_places_dup_specific', 'places', ['dup_specific'])
    op.create_index('ix_places_dup_pinyin', 'places', ['dup_pinyin'])
    op.create_index('ix_places_dup_dialect', 'places', ['dup_dialect'])
    categories = sa.table(
        'place_categories', *(sa.column(c) for c in
                              ('code', 'name_zh', 'name_en', 'census_class', 'scope_kind', 'dup_scope', 'parent_code'))
    )
    op.bulk_insert(categories, load_categories())
    for table, key in (('places', 'place_id'), ('place_variants', 'place_id'), ('place_protection', 'place_id'),
                       ('name_flags', 'place_id')):
        op.execute(enable_tracking(table, key))


def downgrade() -> None:
    op.drop_index('ix_places_search_keys', table_name='places', postgresql_using='gin')
    op.drop_index('ix_places_place_id', table_name='places')
    op.drop_index('ix_places_pinyin_trgm', table_name='places', postgresql_using='gin', postgresql_ops={'pinyin': 'gin_trgm_ops'})
    op.drop_index('ix_places_pinyin_prefix', table_name='places', postgresql_ops={'pinyin': 'text_pattern_ops'})
    op.drop_index('ix_places_name_trgm', table_name='places', postgresql_using='gin', postgresql_ops={'name': 'gin_trgm_ops'})
    op.drop_index('ix_places_name_prefix', table_name='places', postgresql_ops={'name': 'text_pattern_ops'})
    op.drop_index('ix_places_initials_prefix', table_name='places', postgresql_ops={'initials': 'text_pattern_ops'})
    op.drop_index('ix_places_grams', table_name='places', postgresql_using='gin')
    op.drop_index('ix_places_geom', table_name='places', postgresql_using='gist')
    op.drop_index('ix_places_division', table_name='places')
    op.drop_index('ix_places_category', table_name='places')
    op.drop_table('places')
    op.drop_index(op.f('ix_place_variants_place_id'), table_name='place_variants')
    op.drop_index('ix_place_variants_name_trgm', table_name='place_variants', postgresql_using='gin', postgresql_ops={'name': 'gin_trgm_ops'})
    op.drop_table('place_variants')
    op.drop_table('place_protection')
    op.drop_table('place_categories')
    op.drop_index('uq_name_flags_identity', table_name='name_flags')
    op.drop_index('ix_name_flags_status', table_name='name_flags')
    op.drop_table('name_flags')
    op.execute('DROP SEQUENCE place_id_seq')
