"""Per-table change counters for conditional GET on the OGC API (ETag / If-None-Match → 304).

Every write to a table the OGC collections read — by any route: the JSON API, OGC Part 4, imports, migrations,
psql — bumps that table's counter in ``ogc_change_counters`` in the same transaction, so a reader that sees the
counter also sees the data it counts (one snapshot) and a client's ETag changes with every committed edit.

How, without making writers wait for each other: a statement-level trigger on each table notes the table in a
transaction-local setting and, the first time in a transaction, inserts one row into ``ogc_change_flush``; that
row's deferred constraint trigger runs at commit and bumps the noted tables' counters in one statement, locking
them in name order (two transactions that write the same tables in different orders cannot deadlock on the
counters, and the row locks are held only while committing). A rolled-back savepoint takes its note with it.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# The tables of the OGC collections and of their output joins (gis_api/ogc/builtin.py); frozen for this revision.
TABLES = ("boundary_line_versions", "boundary_lines", "boundary_markers", "cemeteries", "cemetery_parcels",
          "divisions", "facilities", "facility_kinds", "place_categories", "places")


def upgrade() -> None:
    op.execute("""
CREATE TABLE ogc_change_counters (
    tbl text PRIMARY KEY,
    n bigint NOT NULL DEFAULT 0
);
CREATE TABLE ogc_change_flush (
    txid xid8 PRIMARY KEY
);

CREATE FUNCTION ogc_note_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    touched text := coalesce(current_setting('diming.ogc_touched', true), '');
BEGIN
    -- every write statement of this transaction, for its own reads before it commits (ogc_change_tag)
    PERFORM set_config('diming.ogc_writes',
                       (coalesce(nullif(current_setting('diming.ogc_writes', true), ''), '0')::bigint + 1)::text, true);
    IF position(',' || TG_TABLE_NAME || ',' IN touched) = 0 THEN
        IF touched = '' THEN
            INSERT INTO ogc_change_flush VALUES (pg_current_xact_id()) ON CONFLICT DO NOTHING;
            touched := ',';
        END IF;
        PERFORM set_config('diming.ogc_touched', touched || TG_TABLE_NAME || ',', true);
    END IF;
    RETURN NULL;
END $$;

CREATE FUNCTION ogc_flush_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    touched text[] := string_to_array(trim(BOTH ',' FROM coalesce(current_setting('diming.ogc_touched', true), '')),
                                      ',');
BEGIN
    UPDATE ogc_change_counters c SET n = c.n + 1
    FROM (SELECT tbl FROM ogc_change_counters WHERE tbl = ANY (touched) ORDER BY tbl FOR UPDATE) s
    WHERE c.tbl = s.tbl;
    DELETE FROM ogc_change_flush WHERE txid = NEW.txid;
    PERFORM set_config('diming.ogc_touched', '', true);
    RETURN NULL;
END $$;

-- The ETag source of a collection: its tables' counters; a transaction that has written (and not yet
-- committed) reads its own changes, so its reads add its id and its count of write statements.
CREATE FUNCTION ogc_change_tag(tables text[]) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(string_agg(n::text, '.' ORDER BY tbl), '')
           || CASE WHEN coalesce(current_setting('diming.ogc_writes', true), '') <> ''
                   THEN '~' || coalesce(pg_current_xact_id_if_assigned()::text, '') || '.'
                        || current_setting('diming.ogc_writes', true)
                   ELSE '' END
    FROM ogc_change_counters WHERE tbl = ANY (tables)
$$;

CREATE CONSTRAINT TRIGGER ogc_flush AFTER INSERT ON ogc_change_flush
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION ogc_flush_changes();
""")
    for table in TABLES:
        op.execute(f"INSERT INTO ogc_change_counters (tbl) VALUES ('{table}')")
        op.execute(f"CREATE TRIGGER ogc_change AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ogc_note_change()")


def downgrade() -> None:
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS ogc_change ON {table}")
    op.execute("DROP TABLE ogc_change_flush")
    op.execute("DROP TABLE ogc_change_counters")
    op.execute("DROP FUNCTION ogc_change_tag(text[])")
    op.execute("DROP FUNCTION ogc_flush_changes()")
    op.execute("DROP FUNCTION ogc_note_change()")
