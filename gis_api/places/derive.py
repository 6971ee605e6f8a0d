"""Columns derived from a name, shared by the API write path and the bulk importer (one rule, one place).

Speed (issue 12 section 3: the bulk importer derives every distinct name): a name of Han characters goes through
``romanize.fast_reading``, which romanises it and gives the syllables of the name and of its 专名 once, composed
from cached parts; the search and duplicate keys are built from those syllables by the same rule code as
``search_keys`` and ``duplicate_key``. Any other name takes the general functions (``_derived_general``).
``tests/unit/test_derive_fast.py`` and ``scripts/bench/derive_speed.py`` check that both give the same fields.
"""

from __future__ import annotations

from typing import Any

from gis_api.places.categories import NATURAL_VILLAGE
from gis_api.places.namecheck import duplicate_key, load_config, normalize_for_duplicate, specific_key_columns
from gis_api.places.romanize import fast_reading, pinyin_syllables, romanize
from gis_api.places.searchkeys import keys_from_syllables, search_keys


def derived_fields(name: str, category_code: str, romanized_override: str | None = None) -> dict[str, Any]:
    """专名/通名, romanisation (an officer's spelling wins, RZ6), search and N7 duplicate keys."""
    kind = "natural_village" if category_code.startswith(NATURAL_VILLAGE) else None
    fast = fast_reading(name, kind)
    if fast is None:
        return _derived_general(name, kind, romanized_override)
    specific = fast.zhuanming
    keys, pinyin, initials, grams = keys_from_syllables(
        name, specific, fast.syllables, fast.specific, fast.everyday, fast.specific_everyday
    )
    cfg = load_config()
    # Without an RZ2 modifier, split_name(name, join_modifier=False) gives the 专名 romanize found.
    dup_specific = normalize_for_duplicate(name, cfg, known=None if fast.modifier else (name, specific))
    dup_pinyin, dup_dialect = specific_key_columns(
        fast.specific if dup_specific == specific else pinyin_syllables(dup_specific), cfg
    )
    return {
        "zhuanming": specific,
        "tongming": fast.tongming,
        "romanized": romanized_override.strip() if romanized_override else fast.romanized,
        "tongming_romanized": fast.tongming_roman or None,
        "search_keys": keys,
        "pinyin": pinyin,
        "initials": initials,
        "grams": grams,
        "dup_specific": dup_specific,
        "dup_pinyin": dup_pinyin,
        "dup_dialect": dup_dialect,
    }


def _derived_general(name: str, kind: str | None, romanized_override: str | None = None) -> dict[str, Any]:
    """The fields from the general functions (any name; the reference the fast path is tested against)."""
    rz = romanize(name, kind=kind)
    keys = search_keys(name)
    dup = duplicate_key(name)
    return {
        "zhuanming": rz.zhuanming,
        "tongming": rz.tongming,
        "romanized": romanized_override.strip() if romanized_override else rz.romanized,
        "tongming_romanized": rz.tongming_roman or None,
        "search_keys": keys.keys,
        "pinyin": keys.pinyin,
        "initials": keys.initials,
        "grams": keys.grams,
        "dup_specific": dup.specific,
        "dup_pinyin": dup.pinyin,
        "dup_dialect": dup.dialect,
    }
