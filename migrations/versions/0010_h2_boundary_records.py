"""Boundary records that can be true (issue 14): a planned next joint inspection has its own column on the line
(``inspected_on`` is only ever a past date), and an open issue found again is updated — when it was last
reported and how often — instead of being opened a second time.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("boundary_lines", sa.Column("next_inspection_planned_on", sa.Date(), nullable=True))
    op.add_column("boundary_issues", sa.Column("last_reported_on", sa.Date(), nullable=True))
    op.add_column("boundary_issues", sa.Column("reports", sa.Integer(), server_default="1", nullable=False))
    op.execute("ALTER TABLE boundary_issues ADD CONSTRAINT ck_boundary_issues_reports_positive CHECK (reports >= 1)")
    # Duplicates recorded before this revision (one per inspection): the oldest open issue of a marker and problem
    # keeps the count and the latest date; the others are closed as merged into it.
    op.execute("""
        WITH g AS (SELECT id, first_value(id) OVER w AS keep, count(*) OVER (PARTITION BY marker_no, kind) AS n,
                          max(opened_on) OVER (PARTITION BY marker_no, kind) AS latest
                   FROM boundary_issues WHERE status = 'open' AND marker_no IS NOT NULL
                   WINDOW w AS (PARTITION BY marker_no, kind ORDER BY opened_on, id)),
        kept AS (UPDATE boundary_issues i SET reports = g.n, last_reported_on = g.latest
                 FROM g WHERE i.id = g.id AND g.id = g.keep AND g.n > 1 RETURNING i.id)
        UPDATE boundary_issues i SET status = 'resolved', resolved_on = greatest(i.opened_on, CURRENT_DATE),
               resolution = 'duplicate of issue ' || g.keep || ' (merged by migration 0010)'
        FROM g WHERE i.id = g.id AND g.id <> g.keep""")
    # At most one open issue per marker and problem: the service updates it; this keeps a race from doubling it.
    op.create_index("uq_boundary_issues_open_marker_kind", "boundary_issues", ["marker_no", "kind"], unique=True,
                    postgresql_where=sa.text("status = 'open' AND marker_no IS NOT NULL"))


def downgrade() -> None:
    op.drop_index("uq_boundary_issues_open_marker_kind", table_name="boundary_issues")
    op.execute("ALTER TABLE boundary_issues DROP CONSTRAINT ck_boundary_issues_reports_positive")
    op.drop_column("boundary_issues", "reports")
    op.drop_column("boundary_issues", "last_reported_on")
    op.drop_column("boundary_lines", "next_inspection_planned_on")
