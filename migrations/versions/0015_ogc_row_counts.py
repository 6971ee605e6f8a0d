"""Exact counts of the rows in force on a date, kept with the data: ``numberMatched`` of an unfiltered OGC
collection without reading the table (a count of 500,000 rows was a sequential scan on every request).

``ogc_row_counts`` holds, per table and day, how many row versions start (+1 at ``valid_from``) minus how many
end (−1 at ``valid_to``) on that day; the rows in force on day d are the sum over the days ≤ d (a version is in
force on d when ``valid_from <= d < valid_to``). One row per day that any version starts or ends on: a few
thousand at most, summed through the primary key.

How, with the machinery of the change counters (0014) and without making writers wait for each other:
statement-level triggers with transition tables add each statement's net per-day changes to a
transaction-local setting (``diming.ogc_counts``, rolled back with a savepoint); the deferred flush of 0014
applies them at commit, after bumping the change counters, upserting in (table, day) order — every
transaction locks in the same global order, so concurrent writers cannot deadlock, and the increments are
relative (``delta = delta + x``), so none is lost. A TRUNCATE marks the table for a recount at commit.
Before its commit a transaction reads its own pending changes (``ogc_row_count``), as it reads its own rows.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Valid-time tables served whole by an OGC collection (no fixed slice: gis_api/ogc/builtin.py); frozen for this
# revision. gis_api/ogc/query.py COUNTED_TABLES names the same.
TABLES = ("boundary_line_versions", "boundary_markers", "cemetery_parcels", "facilities", "places")

_DAYS = "SELECT valid_from AS d, 1 AS s FROM {rel} UNION ALL SELECT valid_to, -1 FROM {rel} WHERE valid_to IS NOT NULL"


def upgrade() -> None:
    op.execute(f"""
CREATE TABLE ogc_row_counts (
    tbl text NOT NULL,
    day date NOT NULL,
    delta bigint NOT NULL,
    PRIMARY KEY (tbl, day)
);

-- add per-day changes (jsonb {{"YYYY-MM-DD": n}}) of table t to this transaction's pending counts
CREATE FUNCTION ogc_count_note(t text, days jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    pending jsonb := coalesce(nullif(current_setting('diming.ogc_counts', true), ''), '{{}}')::jsonb;
    k text;
    v text;
BEGIN
    IF days IS NULL OR days = '{{}}'::jsonb THEN
        RETURN;
    END IF;
    FOR k, v IN SELECT key, value FROM jsonb_each_text(days) LOOP
        pending := jsonb_set(pending, ARRAY[t || ' ' || k],
                             to_jsonb(coalesce((pending ->> (t || ' ' || k))::bigint, 0) + v::bigint));
    END LOOP;
    PERFORM set_config('diming.ogc_counts', pending::text, true);
END $$;

-- a day as a key that reads back the same whatever DateStyle is in force
CREATE FUNCTION ogc_day_key(d date) RETURNS text LANGUAGE sql IMMUTABLE AS $$
    SELECT CASE WHEN isfinite(d) THEN to_char(d, 'YYYY-MM-DD') ELSE d::text END
$$;

CREATE FUNCTION ogc_count_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ogc_count_note(TG_TABLE_NAME, (SELECT jsonb_object_agg(ogc_day_key(d), s) FROM (
        SELECT d, sum(s) AS s FROM ({_DAYS.format(rel="n")}) x GROUP BY d HAVING sum(s) <> 0) y));
    RETURN NULL;
END $$;

CREATE FUNCTION ogc_count_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ogc_count_note(TG_TABLE_NAME, (SELECT jsonb_object_agg(ogc_day_key(d), -s) FROM (
        SELECT d, sum(s) AS s FROM ({_DAYS.format(rel="o")}) x GROUP BY d HAVING sum(s) <> 0) y));
    RETURN NULL;
END $$;

CREATE FUNCTION ogc_count_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM ogc_count_note(TG_TABLE_NAME, (SELECT jsonb_object_agg(ogc_day_key(d), s) FROM (
        SELECT d, sum(s) AS s FROM ({_DAYS.format(rel="n")} UNION ALL
                                    SELECT d, -s FROM ({_DAYS.format(rel="o")}) od) x
        GROUP BY d HAVING sum(s) <> 0) y));
    RETURN NULL;
END $$;

CREATE FUNCTION ogc_count_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- recounted from the table at commit (its pending changes are then moot)
    PERFORM ogc_count_note(TG_TABLE_NAME, '{{"*": 1}}'::jsonb);
    RETURN NULL;
END $$;

-- every day's count of a table, from its rows (a TRUNCATE's recount; the initial counts)
CREATE FUNCTION ogc_count_recount(t text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM ogc_row_counts WHERE tbl = t;
    EXECUTE format('INSERT INTO ogc_row_counts (tbl, day, delta) SELECT %L, d, sum(s) FROM ('
                   'SELECT valid_from AS d, 1 AS s FROM %I UNION ALL '
                   'SELECT valid_to, -1 FROM %I WHERE valid_to IS NOT NULL) x GROUP BY d HAVING sum(s) <> 0',
                   t, t, t);
END $$;

-- the rows of table t in force on day d (valid_from <= d < valid_to), including this transaction's own writes
CREATE FUNCTION ogc_row_count(t text, d date) RETURNS bigint LANGUAGE plpgsql STABLE AS $$
DECLARE
    pending jsonb := nullif(current_setting('diming.ogc_counts', true), '')::jsonb;
    n bigint;
BEGIN
    IF pending IS NOT NULL AND pending ? (t || ' *') THEN
        EXECUTE format('SELECT count(*) FROM %I WHERE valid_from <= $1 AND (valid_to IS NULL OR valid_to > $1)', t)
            INTO n USING d;
        RETURN n;
    END IF;
    SELECT coalesce(sum(delta), 0) INTO n FROM ogc_row_counts WHERE tbl = t AND day <= d;
    IF pending IS NOT NULL THEN
        n := n + coalesce((SELECT sum(value::bigint) FROM jsonb_each_text(pending)
                           WHERE split_part(key, ' ', 1) = t AND split_part(key, ' ', 2)::date <= d), 0);
    END IF;
    RETURN n;
END $$;

-- 0014's flush at commit, now also applying the pending counts (after the counters: one global lock order)
CREATE OR REPLACE FUNCTION ogc_flush_changes() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    touched text[] := string_to_array(trim(BOTH ',' FROM coalesce(current_setting('diming.ogc_touched', true), '')),
                                      ',');
    pending jsonb := nullif(current_setting('diming.ogc_counts', true), '')::jsonb;
    t text;
BEGIN
    UPDATE ogc_change_counters c SET n = c.n + 1
    FROM (SELECT tbl FROM ogc_change_counters WHERE tbl = ANY (touched) ORDER BY tbl FOR UPDATE) s
    WHERE c.tbl = s.tbl;
    IF pending IS NOT NULL THEN
        FOR t IN SELECT DISTINCT split_part(key, ' ', 1) FROM jsonb_object_keys(pending) key
                 WHERE split_part(key, ' ', 2) = '*' ORDER BY 1 LOOP
            PERFORM ogc_count_recount(t);
        END LOOP;
        INSERT INTO ogc_row_counts AS r (tbl, day, delta)
        SELECT split_part(key, ' ', 1), split_part(key, ' ', 2)::date, value::bigint
        FROM jsonb_each_text(pending)
        WHERE split_part(key, ' ', 2) <> '*' AND value::bigint <> 0
          AND NOT pending ? (split_part(key, ' ', 1) || ' *')
        ORDER BY 1, 2
        ON CONFLICT (tbl, day) DO UPDATE SET delta = r.delta + EXCLUDED.delta;
        PERFORM set_config('diming.ogc_counts', '', true);
    END IF;
    DELETE FROM ogc_change_flush WHERE txid = NEW.txid;
    PERFORM set_config('diming.ogc_touched', '', true);
    RETURN NULL;
END $$;
""")
    for table in TABLES:
        op.execute(f"SELECT ogc_count_recount('{table}')")
        op.execute(f"CREATE TRIGGER ogc_count_insert AFTER INSERT ON {table} REFERENCING NEW TABLE AS n "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ogc_count_insert()")
        op.execute(f"CREATE TRIGGER ogc_count_update AFTER UPDATE ON {table} REFERENCING OLD TABLE AS o "
                   "NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION ogc_count_update()")
        op.execute(f"CREATE TRIGGER ogc_count_delete AFTER DELETE ON {table} REFERENCING OLD TABLE AS o "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ogc_count_delete()")
        op.execute(f"CREATE TRIGGER ogc_count_truncate AFTER TRUNCATE ON {table} "
                   "FOR EACH STATEMENT EXECUTE FUNCTION ogc_count_truncate()")


def downgrade() -> None:
    for table in TABLES:
        for trigger in ("insert", "update", "delete", "truncate"):
            op.execute(f"DROP TRIGGER IF EXISTS ogc_count_{trigger} ON {table}")
    op.execute("""
CREATE OR REPLACE FUNCTION ogc_flush_changes() RETURNS trigger LANGUAGE plpgsql AS $$
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
DROP FUNCTION ogc_row_count(text, date);
DROP FUNCTION ogc_count_recount(text);
DROP FUNCTION ogc_count_truncate();
DROP FUNCTION ogc_count_update();
DROP FUNCTION ogc_count_delete();
DROP FUNCTION ogc_count_insert();
DROP FUNCTION ogc_count_note(text, jsonb);
DROP FUNCTION ogc_day_key(date);
DROP TABLE ogc_row_counts;
""")
