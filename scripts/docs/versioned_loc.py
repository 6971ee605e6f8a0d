"""Count the lines of versioned-record code (issue 15): valid time, version, audit, ETag, as-of, lock-check-write.

Definition (reproducible, AST-based, no judgement per line):

* a *marker* is a Python node that names a piece of the pattern: an identifier or attribute ``valid_from``,
  ``valid_to``, ``version``, ``updated_at``; a call of ``ExcludeConstraint``, ``make_etag``, ``set_context``,
  ``history``, ``enable_tracking``, ``apply_change``, ``as_of``/``as_of_sql``, ``.lock``/``.hold``/``.lock_for_put``,
  ``Versioned``/``ValidTime*``/``RecordVersion`` and the helpers of ``migrations/helpers``; or a string constant
  that spells the valid-time rule in SQL (``valid_to IS NULL``, ``daterange(valid_from``, ``version``/``valid_from``
  column DDL);
* each marker counts the lines of the innermost statement holding it; for a compound statement (``if``, ``for``,
  ``with``, ``def``) only its header lines, never its body; a line is counted once;
* the shared mechanism modules (``gis_api/concurrency.py``, ``gis_api/audit/``, ``gis_api/versioning.py``,
  ``gis_api/facilities/versioning.py``, ``migrations/helpers/``) are counted whole (non-blank, non-comment lines),
  in their own row: that is the code declared once.

Rows: per area (``gis_api/<area>/``), split into models / services+other / routes, plus migrations/versions.

    .venv/bin/python scripts/docs/versioned_loc.py [--json | --files] [--root <checkout>]

``--root`` measures another checkout (e.g. ``git worktree``/``git archive`` of an older commit), for before/after.
"""

from __future__ import annotations

import ast
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NAMES = {"valid_from", "valid_to", "version", "updated_at"}
CALLS = {
    "ExcludeConstraint", "make_etag", "set_context", "history", "enable_tracking", "apply_change", "as_of",
    "as_of_sql", "lock", "hold", "lock_for_put", "Versioned", "ValidTime", "ValidTimeRecord", "RecordVersion",
    "valid_time_constraints", "versioned_write", "entity_history", "add_record_columns", "add_valid_time",
    "track", "create_versioned_table",
}
SQL_BITS = ("valid_to IS NULL", "daterange(valid_from", "valid_from date", "version integer", "valid_to date")
SHARED = ("gis_api/concurrency.py", "gis_api/audit/", "gis_api/versioning.py", "gis_api/facilities/versioning.py",
          "migrations/helpers/")


def _is_marker(node: ast.AST) -> bool:
    if isinstance(node, ast.Name) and node.id in NAMES:
        return True
    if isinstance(node, ast.Attribute) and node.attr in NAMES:
        return True
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id in NAMES:
        return True
    if isinstance(node, ast.Call):
        f = node.func
        name = f.id if isinstance(f, ast.Name) else f.attr if isinstance(f, ast.Attribute) else ""
        return name in CALLS
    if isinstance(node, ast.ClassDef):
        return any(isinstance(b, ast.Name) and b.id in CALLS for b in node.bases)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return any(bit in node.value for bit in SQL_BITS)
    return False


def _header(stmt: ast.stmt) -> range:
    body = getattr(stmt, "body", None)
    end = stmt.end_lineno or stmt.lineno
    if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
        first = body[0].lineno
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and stmt.decorator_list:
            return range(stmt.decorator_list[0].lineno, first)
        return range(stmt.lineno, max(first, stmt.lineno + 1))
    return range(stmt.lineno, end + 1)


def pattern_lines(source: str) -> set[int]:
    tree = ast.parse(source)
    lines: set[int] = set()

    def walk(node: ast.AST, stmt: ast.stmt | None) -> None:
        here = node if isinstance(node, ast.stmt) else stmt
        if here is not None and _is_marker(node):
            # Inside a compound statement, an expression belongs to its header (body statements are their own).
            lines.update(_header(here))
        for child in ast.iter_child_nodes(node):
            walk(child, here)

    walk(tree, None)
    return lines


def code_lines(source: str) -> int:
    return sum(1 for ln in source.splitlines() if ln.strip() and not ln.strip().startswith("#"))


def _kind(rel: str) -> str:
    name = rel.rsplit("/", 1)[-1]
    if name == "models.py":
        return "models"
    if name == "routes.py":
        return "routes"
    return "services"


def per_file(root: Path = ROOT) -> dict[str, int]:
    """Counted lines per file (shared mechanism modules: all their code lines)."""
    out: dict[str, int] = {}
    for path in sorted(root.glob("gis_api/**/*.py")) + sorted(root.glob("migrations/**/*.py")):
        rel = path.relative_to(root).as_posix()
        src = path.read_text(encoding="utf-8")
        n = code_lines(src) if rel.startswith(SHARED) else len(pattern_lines(src))
        if n:
            out[rel] = n
    return out


def measure(root: Path = ROOT) -> dict[str, dict[str, int]]:
    rows: dict[str, dict[str, int]] = {}
    for rel, n in per_file(root).items():
        if rel.startswith(SHARED):
            row, kind = "shared", "mechanism"
        elif rel.startswith("migrations/"):
            row, kind = "migrations", "versions"
        else:
            parts = rel.split("/")
            row = parts[1] if len(parts) > 2 else "gis_api"
            kind = _kind(rel)
        rows.setdefault(row, {})
        rows[row][kind] = rows[row].get(kind, 0) + n
    for counts in rows.values():
        counts["total"] = sum(counts.values())
    return dict(sorted(rows.items()))


def main(argv: list[str]) -> int:
    root = Path(argv[argv.index("--root") + 1]).resolve() if "--root" in argv else ROOT
    if "--files" in argv:
        for rel, n in per_file(root).items():
            print(f"{n:>6}  {rel}")
        return 0
    rows = measure(root)
    if "--json" in argv:
        print(json.dumps(rows, indent=1, ensure_ascii=False))
        return 0
    print(f"{'area':<14}{'models':>8}{'services':>10}{'routes':>8}{'other':>8}{'total':>8}")
    grand = 0
    for area, c in rows.items():
        other = c.get("mechanism", 0) + c.get("versions", 0)
        print(f"{area:<14}{c.get('models', 0):>8}{c.get('services', 0):>10}{c.get('routes', 0):>8}{other:>8}"
              f"{c['total']:>8}")
        grand += c["total"]
    print(f"{'all':<14}{'':>42}{grand:>8}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
