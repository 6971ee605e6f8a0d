"""The anchor of a rule ID in docs/rules.md, shared by the /help renderer and the error bodies (``rule_url``).

No FastAPI or database imports: gis_api/errors.py imports this.
"""

from __future__ import annotations

import re

RULES_PATH = "/help/rules"

# ck_<table>_<column>_len: one entry in rules.md for every text-length CHECK constraint (migration 0008).
_LENGTH_CONSTRAINT = re.compile(r"^ck_\w+_len$")


def slug(text: str) -> str:
    """``§1.3`` → ``s1-3``, ``RFC 6585 §3`` → ``rfc-6585-s3``, ``T1`` → ``t1``, ``string_too_long`` →
    ``string-too-long``: lower case, § as s, every other run of non-alphanumerics one hyphen."""
    return re.sub(r"[^a-z0-9]+", "-", text.strip().lower().replace("§", "s")).strip("-")


def rule_anchor(rule: str) -> str:
    """The fragment of ``rule``'s entry in docs/rules.md (without ``#``)."""
    first = rule.split(",")[0].strip()  # "N1, N3": the open flags of a proposal; the first one's entry
    if _LENGTH_CONSTRAINT.match(first):
        return "ck-table-column-len"
    return slug(first)


def rule_url(rule: str) -> str:
    return f"{RULES_PATH}#{rule_anchor(rule)}"
