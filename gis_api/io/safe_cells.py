"""Spreadsheet cells that cannot attack the person who opens an export (CSV / formula injection).

Every CSV and XLSX the system writes goes through this module (places, any OGC collection, the census
register, the rectification list, coverage results, the 平安边界 report), so stored text — a name an officer
typed, a facility a planner named — is shown as text and never run as a formula by Excel, WPS or LibreOffice.

The rule (OWASP "CSV Injection"): a *text* value whose first character is ``=``, ``+``, ``-``, ``@``, tab or
carriage return is dangerous.

* CSV: such a value is written with a single quote in front (``'=HYPERLINK(…)``); every text field is
  enclosed in double quotes, so a ``;`` or ``,`` inside a value cannot start a new cell in a spreadsheet that
  splits on another separator. Numbers (int, float, Decimal) are written bare and never changed; a text value
  that is a plain decimal number such as ``-3.5`` is left alone too — a spreadsheet reads it as that number,
  not as a formula. To recover a value, drop one leading ``'`` from a field that starts with ``'`` followed
  by one of the six characters.
* XLSX: such a value is a string cell (never a formula: openpyxl would otherwise store ``=…`` as one) with
  Excel's "quote prefix" set, so editing the cell does not turn it into a formula either. The visible value is
  the stored value, unchanged. Characters XML 1.0 cannot carry (control characters other than tab, LF, CR)
  are replaced by U+FFFD instead of failing the export.

defusedcsv was considered: it misses tab and CR and rewrites ``|`` as ``\\|``, and does nothing for XLSX.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)")


def is_dangerous(value: object) -> bool:
    """True for a text value a spreadsheet would read as a formula (or the start of one)."""
    return (isinstance(value, str) and value.startswith(FORMULA_PREFIXES)
            and _PLAIN_NUMBER.fullmatch(value) is None)


def _escaped_form(value: object) -> bool:
    """Dangerous text behind zero or more ``'`` (``=1``, ``'=1``, ``''=1`` …): what ``csv_value`` prefixes."""
    return isinstance(value, str) and is_dangerous(value.lstrip("'"))


def csv_value(value: Any) -> Any:
    """The value as a CSV field: dangerous text gets a leading ``'``; numbers and other text are unchanged.

    Text that already starts with ``'`` before dangerous text gets one more, so ``csv_unescape`` can undo the
    escaping exactly (``'=1`` is written ``''=1`` and read back as ``'=1``)."""
    return "'" + value if _escaped_form(value) else value


def csv_unescape(value: str) -> str:
    """The inverse of ``csv_value`` for text read from a CSV: drop the one ``'`` it added."""
    return value[1:] if value.startswith("'") and _escaped_form(value[1:]) else value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]], *, lineterminator: str = "\r\n") -> str:
    """A whole CSV document: UTF-8 BOM (Excel reads the Chinese right only with it), the header, then the rows
    with every value through ``csv_value``. ``None`` is an empty field."""
    buf = io.StringIO()
    buf.write("\ufeff")
    # Our own column names: minimal quoting keeps the header line plain (``code,name,…``).
    csv.writer(buf, lineterminator=lineterminator).writerow([csv_value(h) for h in header])
    # QUOTE_NONNUMERIC encloses every text field in quotes and leaves numbers bare.
    body = csv.writer(buf, lineterminator=lineterminator, quoting=csv.QUOTE_NONNUMERIC)
    for row in rows:
        body.writerow(["" if v is None else csv_value(v) for v in row])
    return buf.getvalue()


def xlsx_row(ws: Any, values: Iterable[Any]) -> list[Any]:
    """A row for ``ws.append`` (normal or write-only worksheet): dangerous text becomes a string cell with the
    quote prefix; other values go as they are (numbers stay numbers, dates dates)."""
    # openpyxl is loaded only when a workbook is written. ILLEGAL_CHARACTERS_RE: what XML 1.0 cannot carry
    # (openpyxl raises IllegalCharacterError on it).
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE, Cell

    out: list[Any] = []
    for v in values:
        if isinstance(v, str):
            v = ILLEGAL_CHARACTERS_RE.sub("\ufffd", v)
            if is_dangerous(v):
                cell = Cell(ws, row=1, column=1, value=v)  # ws.append sets the real position
                cell.data_type = "s"  # openpyxl makes "=…" a formula; a string cell is inert text
                cell.quotePrefix = True
                v = cell
        out.append(v)
    return out
