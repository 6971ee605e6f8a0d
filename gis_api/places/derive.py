"""Columns derived from a name, shared by the API write path and the bulk importer (one rule, one place)."""

from __future__ import annotations

from typing import Any

from gis_api.places.categories import NATURAL_VILLAGE
from gis_api.places.namecheck import duplicate_key
from gis_api.places.romanize import romanize
from gis_api.places.searchkeys import search_keys


def derived_fields(name: str, category_code: str, romanized_override: str | None = None) -> dict[str, Any]:
    """专名/通名, romanisation (an officer's spelling wins, RZ6), search and N7 duplicate keys."""
    kind = "natural_village" if category_code.startswith(NATURAL_VILLAGE) else None
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
