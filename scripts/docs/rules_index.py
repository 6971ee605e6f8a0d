"""Every ``rule`` value an API error can carry, found in gis_api's source, and where it is raised.

Static (AST): string constants passed as ``rule=``; module-level constants passed as ``rule=NAME``; constants
in a ``"rule": …`` dict entry; constants passed to a function or dataclass of the same module at the position
of its ``rule`` parameter or field (``_required(…, "§1.5")``, ``Flag("怪", "N3", …)``). Dynamic, from the
code's own tables: the ``DIMING_LIMIT_*`` names (gis_api.limits.LimitSettings, also ``…_TIMEOUT_S``), the
pydantic error types mapped in gis_api/errors.py (VALIDATION_ZH), the text-length constraints
(``ck_<table>_<column>_len``) and the approving authorities' rules (gis_api.naming.models.AUTHORITY_SEED).

    python scripts/docs/rules_index.py          # print rule → file:function
    python scripts/docs/rules_index.py --write  # rewrite the index in docs/rules.md between its markers
    python scripts/docs/rules_index.py --check  # exit 1 when that index is stale
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _markers import sync  # beside this script (the scripts are run, and loaded by tests, by path)

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "gis_api"
RULES_MD = ROOT / "docs" / "rules.md"
BEGIN, END = "<!-- rules-index:begin -->", "<!-- rules-index:end -->"


def _str(node: ast.AST | None) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


class _Finder(ast.NodeVisitor):
    def __init__(self, where: str, tree: ast.Module) -> None:
        self.where = where
        self.found: dict[str, set[str]] = defaultdict(set)
        self.attributes: dict[str, set[str]] = defaultdict(set)  # attribute name → where it is read
        self.scope: list[str] = []
        self.constants = {t.id: v for n in tree.body if isinstance(n, ast.Assign) and (v := _str(n.value))
                          for t in n.targets if isinstance(t, ast.Name)}
        self.constants |= {n.target.id: v for n in tree.body if isinstance(n, ast.AnnAssign)
                           and isinstance(n.target, ast.Name) and (v := _str(n.value))}
        # callables of this module with a parameter (function) or field (class) named rule: its position
        self.positions: dict[str, int] = {}
        for n in ast.walk(tree):
            if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef):
                names = [a.arg for a in n.args.posonlyargs + n.args.args]
                if "rule" in names:
                    self.positions[n.name] = names.index("rule")
            elif isinstance(n, ast.ClassDef):
                fields = [s.target.id for s in n.body
                          if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
                if "rule" in fields:
                    self.positions[n.name] = fields.index("rule")

    def _add(self, value: str | None) -> None:
        if value:
            self.found[value].add(f"{self.where}:{'.'.join(self.scope) or '<module>'}")

    def _visit_scope(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.scope.append(node.name)
        self.generic_visit(node)
        self.scope.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _visit_scope

    def visit_Call(self, node: ast.Call) -> None:
        for kw in node.keywords:
            if kw.arg == "rule":
                if isinstance(kw.value, ast.Name):
                    self._add(self.constants.get(kw.value.id))
                else:
                    self._add(_str(kw.value))
        if isinstance(node.func, ast.Attribute) and node.func.attr == "setdefault" and len(node.args) == 2 \
                and _str(node.args[0]) == "rule":  # kw.setdefault("rule", "database_unavailable")
            self._add(_str(node.args[1]))
        name = node.func.id if isinstance(node.func, ast.Name) else None
        if name in self.positions and len(node.args) > self.positions[name]:
            self._add(_str(node.args[self.positions[name]]))
        self.generic_visit(node)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        self.attributes[node.attr].add(f"{self.where}:{'.'.join(self.scope) or '<module>'}")
        self.generic_visit(node)

    def visit_Dict(self, node: ast.Dict) -> None:
        for key, value in zip(node.keys, node.values, strict=True):
            if _str(key) == "rule":
                self._add(_str(value))
        self.generic_visit(node)


def collect() -> dict[str, set[str]]:
    """rule value → {"gis_api/x.py:function", …}."""
    found: dict[str, set[str]] = defaultdict(set)
    attributes: dict[str, set[str]] = defaultdict(set)
    for path in sorted(PACKAGE.rglob("*.py")):
        where = str(path.relative_to(ROOT))
        tree = ast.parse(path.read_text(encoding="utf-8"))
        finder = _Finder(where, tree)
        finder.visit(tree)
        for rule, places in finder.found.items():
            found[rule] |= places
        for attr, places in finder.attributes.items():
            attributes[attr] |= places
    sys.path.insert(0, str(ROOT))
    from gis_api.errors import VALIDATION_ZH
    from gis_api.limits import COLUMN_LIMITS, LimitSettings, constraint_name

    for field in LimitSettings.model_fields:  # the limit is enforced where the setting is read
        found[f"DIMING_LIMIT_{field.upper()}"] |= {
            p for p in attributes.get(field, set()) if not p.startswith("gis_api/settings.py")}
    for kind in VALIDATION_ZH:
        found[kind].add("gis_api/errors.py:install_handlers._validation")
    for table, cols in COLUMN_LIMITS.items():
        for column in cols:
            found[constraint_name(table, column)].add("gis_api/errors.py:install_handlers._integrity")
    return dict(found)


def index_markdown(found: dict[str, set[str]]) -> str:
    """The generated table: every rule value and where the code raises it (length constraints folded)."""
    from gis_api.help.anchors import rule_anchor

    rows: dict[str, set[str]] = defaultdict(set)
    for rule, places in found.items():
        key = "ck_<table>_<column>_len" if rule_anchor(rule) == "ck-table-column-len" else rule
        rows[key] |= places
    lines = ["| rule | raised in |", "|---|---|"]
    for rule in sorted(rows, key=lambda r: (r[0].isascii() and r[0].islower(), r.lower())):
        text = rule.replace("|", "\\|").replace("<", "&lt;")
        lines.append(f"| [{text}](#{rule_anchor(rule)}) | {', '.join(f'`{p}`' for p in sorted(rows[rule]))} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    found = collect()
    done = sync(RULES_MD, BEGIN, END, index_markdown(found), argv, "rules_index.py")
    if done is not None:
        return done
    for rule in sorted(found):
        print(f"{rule}\t{', '.join(sorted(found[rule]))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
