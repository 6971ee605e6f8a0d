"""SQL for the generic history triggers, used by migrations (the model layer cannot express triggers)."""

from __future__ import annotations

import re

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION diming_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- Every stored change is a new record version (the ETag), unless nothing changed at all.
    IF to_jsonb(NEW) - 'version' - 'updated_at' IS DISTINCT FROM to_jsonb(OLD) - 'version' - 'updated_at' THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    RETURN NEW;
END $$;

CREATE OR REPLACE FUNCTION diming_audit_row() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    key_col text := TG_ARGV[0];
    o jsonb;
    n jsonb;
    r jsonb;
    diff text[];
    who text := nullif(current_setting('diming.actor', true), '');
BEGIN
    IF TG_OP <> 'INSERT' THEN o := to_jsonb(OLD); END IF;
    IF TG_OP <> 'DELETE' THEN n := to_jsonb(NEW); END IF;
    r := coalesce(n, o);
    IF TG_OP = 'UPDATE' THEN
        SELECT array_agg(e.key ORDER BY e.key) INTO diff
        FROM jsonb_each(n) e
        WHERE e.value IS DISTINCT FROM o -> e.key AND e.key NOT IN ('version', 'updated_at');
        IF diff IS NULL THEN
            RETURN NEW;
        END IF;
    END IF;
    INSERT INTO audit_log (actor, reason, action, table_name, entity_key, row_id, version, old, new, changed)
    VALUES (coalesce(who, 'db:' || session_user), nullif(current_setting('diming.reason', true), ''),
            TG_OP, TG_TABLE_NAME, r ->> key_col, CASE WHEN r ->> 'id' ~ '^[0-9]+$' THEN (r ->> 'id')::bigint END,
            (r ->> 'version')::int, o, n, diff);
    RETURN coalesce(NEW, OLD);
END $$;
"""

DROP_FUNCTIONS = """
DROP FUNCTION IF EXISTS diming_audit_row() CASCADE;
DROP FUNCTION IF EXISTS diming_bump_version() CASCADE;
"""

_IDENT = re.compile(r"^[a-z_][a-z0-9_]*$")


def enable_tracking(table: str, key_column: str) -> str:
    """Triggers that version and audit every change of ``table``; ``key_column`` names the entity."""
    if not (_IDENT.match(table) and _IDENT.match(key_column)):
        raise ValueError("identifiers must be lower-case SQL names")
    return f"""
CREATE TRIGGER {table}_bump_version BEFORE UPDATE ON {table}
    FOR EACH ROW EXECUTE FUNCTION diming_bump_version();
CREATE TRIGGER {table}_audit AFTER INSERT OR UPDATE OR DELETE ON {table}
    FOR EACH ROW EXECUTE FUNCTION diming_audit_row('{key_column}');
"""
