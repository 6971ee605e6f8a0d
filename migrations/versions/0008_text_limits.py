"""Text limits: every text column of the 0006 schema gets a length bound (issue 10 §5, gis_api/limits.py).

``CHECK (char_length(col) <= n)`` named ``ck_<table>_<column>_len``; a violation is answered 422 naming the column.
Rows that already exceed a bound are kept (a system of record does not truncate): the constraint is then added
``NOT VALID`` — enforced on every new or changed row — and a warning names the column and the count; after the
values are shortened, ``ALTER TABLE … VALIDATE CONSTRAINT …`` makes it whole.

Revision ID: 0008
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import logging

from alembic import op
from sqlalchemy import text

revision = "0008"
down_revision = "0006"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")

# A frozen copy of gis_api.limits.COLUMN_LIMITS as of this revision (later changes need a new revision).
LIMITS: dict[str, dict[str, int]] = {
    'adjustments': {'kind': 64, 'title': 300, 'status': 64, 'approving_authority': 200, 'document_no': 255,
        'proposed_by': 64, 'decided_by': 64, 'decision_note': 4000, 'applied_by': 64},
    'api_tokens': {'token_hash': 200},
    'approval_authorities': {'category_prefix': 64, 'authority': 200, 'rule': 64, 'note': 4000},
    'audit_log': {'actor': 64, 'reason': 8000, 'action': 64, 'table_name': 64, 'entity_key': 200},
    'boundary_inspection_findings': {'marker_no': 64, 'photo': 255, 'note': 4000},
    'boundary_inspections': {'line_id': 64, 'kind': 64, 'filing_ref': 255, 'note': 4000, 'created_by': 64},
    'boundary_issues': {'line_id': 64, 'marker_no': 64, 'kind': 64, 'description': 4000, 'risk': 64, 'status': 64,
        'resolution': 4000},
    'boundary_line_versions': {'line_id': 64, 'source': 200},
    'boundary_lines': {'line_id': 64, 'level': 64, 'left_code': 64, 'right_code': 64, 'line_no': 64, 'name': 100,
        'agreement_ref': 255, 'detail_map_ref': 255, 'responsible_left': 200, 'responsible_right': 200, 'note': 4000,
        'source': 200},
    'boundary_markers': {'marker_no': 64, 'line_id': 64, 'type_letter': 64, 'survey_method': 200, 'coord_source': 64,
        'material': 200, 'status': 64, 'note': 4000, 'source': 200},
    'boundary_patrols': {'line_id': 64, 'patrolled_by': 64, 'file_name': 255},
    'cemeteries': {'cemetery_type': 64, 'approval_authority': 200, 'approval_doc': 255, 'remarks': 4000,
        'source': 200},
    'cemetery_parcels': {'name': 100, 'status': 64, 'approval_doc': 255, 'remarks': 4000, 'source': 200},
    'constraint_features': {'layer_id': 64, 'name': 100, 'source': 200},
    'constraint_layers': {'code': 64, 'name_zh': 100, 'name_en': 100, 'rule': 64, 'note': 4000},
    'demand_layers': {'name': 100, 'weight_label': 100, 'source': 200, 'created_by': 64},
    'demand_points': {'code': 100, 'name': 100},
    'division_codes': {'code': 64, 'level': 64, 'retired_document': 255},
    'division_lineage': {'predecessor_code': 64, 'successor_code': 64, 'relation': 64},
    'division_seats': {'code': 64, 'seat_name': 100, 'document_no': 255, 'source': 200},
    'divisions': {'code': 64, 'name': 100, 'level': 64, 'kind': 64, 'parent_code': 64, 'document_no': 255,
        'source': 200},
    'facilities': {'name': 100, 'kind': 64, 'division_code': 64, 'address': 200, 'status': 64, 'remarks': 4000,
        'source': 200},
    'facility_kinds': {'code': 64, 'name_zh': 100, 'name_en': 100, 'category': 64, 'note': 4000},
    'name_flags': {'name': 100, 'class': 64, 'rule': 64, 'reason': 4000, 'reason_zh': 4000, 'evidence': 4000,
        'status': 64, 'outcome_note': 4000, 'decided_by': 64},
    'place_categories': {'code': 64, 'name_zh': 100, 'name_en': 100, 'census_class': 64, 'dup_scope': 64,
        'parent_code': 64},
    'place_protection': {'category': 200, 'listed_by': 64, 'measures': 4000, 'note': 4000},
    'place_variants': {'kind': 64, 'name': 100, 'language': 64, 'script': 64, 'romanized': 1000, 'note': 4000},
    'places': {'name': 100, 'zhuanming': 100, 'tongming': 100, 'romanized': 1000, 'romanized_by': 64,
        'tongming_romanized': 1000, 'category_code': 64, 'status': 64, 'division_code': 64, 'meaning': 4000,
        'history': 10000, 'description': 4000, 'sources': 4000, 'usage': 64, 'registered_by': 200,
        'registering_unit': 200, 'coord_method': 64, 'coord_system': 64, 'minority_script': 200, 'language': 64,
        'remarks': 4000, 'pinyin': 1000, 'initials': 200, 'dup_specific': 100, 'dup_pinyin': 1000,
        'dup_dialect': 1000, 'source': 200},
    'proposal_documents': {'kind': 64, 'title': 300, 'doc_no': 255, 'opinion_handling': 4000, 'url': 2000,
        'file_name': 255, 'content_type': 200, 'sha256': 64, 'stage': 64, 'uploaded_by': 64},
    'proposal_steps': {'from_stage': 64, 'to_stage': 64, 'doc_no': 255, 'actor': 64, 'reason': 4000},
    'proposals': {'kind': 64, 'stage': 64, 'name': 100, 'romanized': 1000, 'category_code': 64, 'old_name': 100,
        'division_code': 64, 'location_description': 4000, 'entity_scale': 200, 'entity_nature': 200, 'meaning': 4000,
        'reasons': 4000, 'applicant': 200, 'applied_by': 64, 'flags_scope': 64, 'flags_justification': 4000,
        'reviewed_by': 64, 'approval_authority': 200, 'approval_doc_no': 255, 'approved_by': 64, 'filing_doc_no': 255,
        'filed_with': 200, 'filed_by': 64, 'notice_no': 255, 'announced_by': 64, 'closed_by': 64,
        'closed_reason': 4000},
    'road_edges': {'name': 200, 'highway': 64},
    'road_networks': {'name': 100, 'kind': 64, 'network_type': 64, 'source': 200, 'created_by': 64},
    'users': {'username': 64, 'password_hash': 200},
}


def upgrade() -> None:
    conn = op.get_bind()
    for table, cols in LIMITS.items():
        for column, n in cols.items():
            name = f"ck_{table}_{column}_len"
            too_long = conn.execute(text(f'SELECT count(*) FROM "{table}" WHERE char_length("{column}") > {n}')).scalar()
            valid = "" if not too_long else " NOT VALID"
            if too_long:
                log.warning("%s.%s: %d row(s) longer than %d characters are kept; %s is NOT VALID until they are "
                            "shortened", table, column, too_long, n, name)
            op.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" CHECK (char_length("{column}") <= {n}){valid}')


def downgrade() -> None:
    for table, cols in LIMITS.items():
        for column in cols:
            op.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT IF EXISTS "ck_{table}_{column}_len"')
