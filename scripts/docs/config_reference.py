"""The configuration reference in docs/operations.md, generated from every pydantic BaseSettings class in gis_api.

Each class's environment prefix and each field's variable, type, default and description (the field's
``description``, else the first line of the class docstring).

    python scripts/docs/config_reference.py          # print the table
    python scripts/docs/config_reference.py --write  # rewrite it in docs/operations.md between its markers
    python scripts/docs/config_reference.py --check  # exit 1 when that table is stale
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _markers import sync  # beside this script (the scripts are run, and loaded by tests, by path)

ROOT = Path(__file__).resolve().parents[2]
TARGET = ROOT / "docs" / "operations.md"
BEGIN, END = "<!-- config-reference:begin -->", "<!-- config-reference:end -->"


def settings_classes() -> list[type[Any]]:
    """Every BaseSettings subclass defined in gis_api, by module and line."""
    sys.path.insert(0, str(ROOT))
    from pydantic_settings import BaseSettings

    import gis_api

    for info in pkgutil.walk_packages(gis_api.__path__, "gis_api."):
        importlib.import_module(info.name)
    found: dict[str, type[Any]] = {}
    stack: list[type[Any]] = [BaseSettings]
    while stack:
        for sub in stack.pop().__subclasses__():
            stack.append(sub)
            if sub.__module__.startswith("gis_api."):
                found[f"{sub.__module__}.{sub.__qualname__}"] = sub
    return [found[k] for k in sorted(found)]


def _type(annotation: Any) -> str:
    text = getattr(annotation, "__name__", None) if isinstance(annotation, type) else None
    text = text or str(annotation)
    text = re.sub(r"\b(typing|pathlib|datetime|decimal)\.", "", text)
    return text.replace("NoneType", "None")


def _default(field: Any) -> str:
    if field.default_factory is not None:
        value = field.default_factory()
        if isinstance(value, Path):  # depends on the machine and the checkout (e.g. DIMING_HOME)
            return "computed"
    elif field.is_required():
        return "required"
    else:
        value = field.default
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, dict | list | tuple | set) and not value:
        return "empty"
    text = str(value)
    if str(ROOT) in text:
        text = text.replace(str(ROOT), "<checkout>")
    return f"`{text}`" if len(text) <= 60 else f"`{text[:57]}…`"


def _comments(cls: type[Any]) -> dict[str, str]:
    """field → its trailing ``# comment``, or the comment lines right above it, in the class's source."""
    try:
        lines = inspect.getsource(cls).splitlines()
    except (OSError, TypeError):
        return {}
    out: dict[str, str] = {}
    above: list[str] = []
    for line in lines:
        stripped = line.strip()
        if stripped.startswith("#"):
            above.append(stripped.lstrip("# "))
            continue
        m = re.match(r"^\s+([a-z_][a-z0-9_]*)\s*:[^#]*(?:#\s*(.*))?$", line)
        if m:
            trailing = m.group(2) or ""
            out[m.group(1)] = trailing if trailing and not trailing.startswith("DIMING_") else " ".join(above)
        if stripped:
            above = [] if not stripped.startswith("#") else above
    return out


def _range(field: Any) -> str:
    bounds = []
    for meta in field.metadata:
        for attr, sign in (("ge", "≥"), ("gt", ">"), ("le", "≤"), ("lt", "<")):
            if getattr(meta, attr, None) is not None:
                bounds.append(f"{sign} {getattr(meta, attr):,}")
    return ", ".join(bounds)


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def table() -> str:
    lines: list[str] = []
    for cls in settings_classes():
        prefix = cls.model_config.get("env_prefix", "")
        doc = (cls.__doc__ or "").strip().splitlines()
        where = f"{cls.__module__.replace('.', '/')}.py"
        lines += [f"**{cls.__name__}** (`{where}`, prefix `{prefix or '—'}`)"
                  + (f": {_cell(doc[0])}" if doc else ""), "",
                  "| variable | type | default | range | meaning |", "|---|---|---|---|---|"]
        comments = _comments(cls)
        for name, field in cls.model_fields.items():
            env = f"{prefix}{name}".upper()
            meaning = field.description or comments.get(name, "")
            lines.append(f"| `{env}` | {_cell(_type(field.annotation))} | {_cell(_default(field))} | "
                         f"{_range(field)} | {_cell(meaning)} |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    generated = table()
    done = sync(TARGET, BEGIN, END, generated, argv, "config_reference.py")
    if done is not None:
        return done
    print(generated)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
