"""The one way the doc generators put their output into a document: between two HTML-comment markers.

``--write`` replaces what is between the markers; ``--check`` exits 1 when the document differs from what the
code generates now (tests/unit/test_docs.py runs every generator with --check).
"""

from __future__ import annotations

from pathlib import Path


def rewrite(target: Path, begin: str, end: str, text: str, generated: str) -> str:
    head, _, rest = text.partition(begin)
    _, _, tail = rest.partition(end)
    if not rest:
        raise SystemExit(f"{target}: markers {begin} … {end} not found")
    return f"{head}{begin}\n{generated}{end}{tail}"


def sync(target: Path, begin: str, end: str, generated: str, argv: list[str], script: str) -> int | None:
    """Handle --write / --check for ``target``; None when neither was asked (the caller prints instead)."""
    if "--write" not in argv and "--check" not in argv:
        return None
    current = target.read_text(encoding="utf-8")
    wanted = rewrite(target, begin, end, current, generated)
    if "--check" in argv:
        if wanted != current:
            print(f"{target} is stale: run python scripts/docs/{script} --write")
            return 1
        return 0
    target.write_text(wanted, encoding="utf-8")
    return 0
