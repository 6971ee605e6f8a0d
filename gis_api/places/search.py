"""Place-name search: Chinese, full pinyin, initials, names without their generic, typos — answered by indexes.

Officers type fast and loosely: ``店埠`` (the 专名 of 店埠镇 and 店埠社区居民委员会), ``dianbu`` (full pinyin),
``dbz`` (initials), ``埠镇`` (a substring), ``dianbo``/``diambu`` (typos) or ``店部`` (a wrong character that
sounds right). Each way of matching is one *branch*: a fixed SQL fragment answered by one index —

=========  ==========================================================================================
exact      ``search_keys @> [q]`` (GIN): the name, its 专名, their pinyin and initials
prefix     ``name LIKE q%`` / ``pinyin LIKE q%`` / ``initials LIKE q%`` (btree ``text_pattern_ops``)
substring  ``grams @> bigrams(q)`` (GIN; LIKE checks contiguity) / ``pinyin LIKE %q%`` (trigram GIN)
fuzzy      ``pinyin LIKE pinyin(专名)%`` (a wrong character that sounds right), ``search_keys && variants``
           (the keys one edit away that could be pinyin or initials: GIN), then, only if nothing else matched,
           trigram word similarity — optionally under a time budget (``FALLBACK_BUDGET_MS``; over it the
           answer says ``"partial": true``)
=========  ==========================================================================================

— each with the as-of, ``within``, ``category`` and radius filters inside it and its own ``LIMIT``, as a
materialised CTE. A branch of a lower tier is not run at all when the higher tiers already hold ``limit``
places (a one-time filter in the plan: results are ordered by tier first, so nothing it found would show).
The union of the candidates is ranked — tier, geodesic distance (with ``near``), similarity, shorter name —
and turned into GeoJSON by PostgreSQL.

Which rows a branch takes, and how, is decided here rather than left to the planner where its estimates are
known to mislead (all measured on 620k real village names, scripts/bench/search_bench.py):

* with ``near``, the nearest (KNN ``<->`` on the GiST index, planar degrees; the rank uses metres);
  without, the first in the order of the branch's own btree (a prefix is a range read in order);
* exact keys and fuzzy branches take any ``limit`` hits, planned for full retrieval so that a loose
  estimate (hundreds of typo variants) cannot tempt the planner into walking a whole index;
* a Chinese substring walks an order only when the planner's statistics say the pair is common, and then
  at most ``WALK_ROWS_PER_RESULT × limit`` rows (matches cluster: 华村 is mostly 新华村), else looks it up;
* a *local* search (a county or smaller ``within``, a radius up to 50 km) reads the area through its own
  index and checks each row cheaply, however common the term is nationally;
* sequential scans are priced out for the statement (``enable_seqscan``, restored afterwards).
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import math
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from gis_api.errors import InvalidInput
from gis_api.places.romanize import is_han, split_name
from gis_api.places.searchkeys import look_alikes, pinyin_trigrams, query_form, search_keys
from gis_api.settings import SearchSettings

MAX_LIMIT = 100
MAX_QUERY_CHARS = 50
MAX_RADIUS_M = 2_000_000.0
EDIT_VARIANT_MAX_CHARS = 40  # one-edit variants of typed letters up to this length are looked up as exact keys
INITIALS_VARIANT_MAX_CHARS = 14  # … and up to this length those shaped like initials too (see typo_variants)
LOCAL_RADIUS_M = 50_000.0  # a radius up to this, or a county or smaller `within`, makes a search "local"
WALK_ROWS_PER_RESULT = 250  # a walk (name or distance order) reads at most this many rows per wanted result
LOOKUP_ROWS = 1000  # with near, a term with fewer matches is sorted by distance in full, more is walked
WALK_MIN_SHARE = 0.01  # walk for a Chinese substring held by at least this share of places, else look it up
GRAM_STATS_TTL_S = 600.0
PINYIN_SUBSTRING_MAX_CHARS = 8  # longer pinyin is typed from the start (prefix), not found inside a name
TIERS = ("exact", "prefix", "substring", "fuzzy")
EXACT, PREFIX, SUBSTRING, FUZZY = range(4)
_ALPHABET = "abcdefghijklmnopqrstuvwxyz"
_CODE = re.compile(r"^[0-9]+$")
# What %> compares with. The setting is known only once pg_trgm's library is loaded in the backend (its first
# trigram function call): in a fresh connection plain current_setting() may raise "unrecognized configuration
# parameter" (a 500 under load), so read it leniently; 0.6 is pg_trgm's default, the value %> uses then.
_WORD_THRESHOLD = "coalesce(current_setting('pg_trgm.word_similarity_threshold', true)::real, 0.6)"


@dataclass(frozen=True)
class SearchQuery:
    q: str
    near: tuple[float, float] | None = None  # (lon, lat) in CGCS2000 / WGS84 degrees
    radius_m: float | None = None
    within: str | None = None  # division code; hierarchical prefix
    category: str | None = None  # category code prefix
    as_of: dt.date = field(default_factory=dt.date.today)
    limit: int = 20


def _invalid(field_: str, en: str, zh: str) -> InvalidInput:
    return InvalidInput(en, zh, field=field_)


def parse_near(value: str) -> tuple[float, float]:
    """``"lon,lat"`` → (lon, lat), checked to be finite degrees in range."""
    parts = [p.strip() for p in value.split(",")]
    if len(parts) != 2:
        raise _invalid("near", f"near must be 'lon,lat', got {value!r}",
                       f"中心点须为“经度,纬度”格式，收到 {value!r}")
    try:
        lon, lat = float(parts[0]), float(parts[1])
    except ValueError:
        raise _invalid("near", f"near must be two numbers 'lon,lat', got {value!r}",
                       f"中心点须为两个数字“经度,纬度”，收到 {value!r}") from None
    _check_point(lon, lat)
    return lon, lat


def _check_point(lon: float, lat: float) -> None:
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise _invalid("near", f"near is out of range: longitude {lon} must be in [-180, 180] and latitude "
                       f"{lat} in [-90, 90] (lon,lat order)",
                       f"中心点超出范围：经度 {lon} 须在 [-180, 180]、纬度 {lat} 须在 [-90, 90]（顺序为经度,纬度）")


def within_prefix(code: str) -> str:
    """The code prefix a division covers: 340000 → 34, 340100 → 3401, 340122 and 9/12-digit codes as given."""
    code = code.strip()
    if not _CODE.match(code) or len(code) not in (2, 4, 6, 9, 12):
        raise _invalid("within", f"within must be a division code of 2, 4, 6, 9 or 12 digits, got {code!r}",
                       f"行政区范围须为 2、4、6、9 或 12 位行政区划代码，收到 {code!r}")
    if len(code) == 6:
        if code.endswith("0000"):
            return code[:2]
        if code.endswith("00"):
            return code[:4]
    return code


def _successor(prefix: str) -> str | None:
    """The smallest digit string of the same length above ``prefix``: [prefix, successor) = 'prefix%'."""
    if set(prefix) == {"9"}:
        return None
    return str(int(prefix) + 1).zfill(len(prefix))


def _like_escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def edit_variants(word: str) -> list[str]:
    """Every string one edit (delete, transpose, replace, insert a–z) away from ``word``."""
    splits = [(word[:i], word[i:]) for i in range(len(word) + 1)]
    out = {a + b[1:] for a, b in splits if b}
    out.update(a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1)
    out.update(a + c + b[1:] for a, b in splits if b for c in _ALPHABET)
    out.update(a + c + b for a, b in splits for c in _ALPHABET)
    out.discard(word)
    return sorted(v for v in out if len(v) >= 3)  # two letters are someone's initials, not a typo


def pinyin_edit_variants(word: str) -> list[str]:
    """The strings one edit away from ``word`` that could be stored pinyin: every run of three letters in
    ``^variant$`` is one a string of syllables holds (``pinyin_trigrams``). The edit is checked where it is —
    the trigrams it destroys must include every impossible one of ``word``, the ones it makes must be possible —
    so a typo in a long name gives tens of candidates, not a thousand (dianbushequjuminweiyuanhiu: 12 of 1,377)."""
    trigrams = pinyin_trigrams()
    s = f"^{word}$"
    bad = [k for k in range(len(s) - 2) if s[k:k + 3] not in trigrams]
    out: set[str] = set()

    def consider(a: int, b: int, mid: str) -> None:
        # s[a:b] (1 ≤ a ≤ b ≤ len(s) - 1) replaced by mid: trigrams starting in [a-2, b-1] are gone (a-2, a-1
        # for an insertion), and those starting in [a-2, a+len(mid)-1] of the new string are new.
        if bad and (bad[0] < a - 2 or bad[-1] > max(b - 1, a - 1)):
            return
        v = s[:a] + mid + s[b:]
        if all(v[k:k + 3] in trigrams for k in range(max(0, a - 2), min(len(v) - 2, a + len(mid)))):
            out.add(v[1:-1])

    n = len(word)
    for i in range(n + 1):
        a = i + 1  # word[i] is s[i + 1]
        if i < n:
            consider(a, a + 1, "")
            if i < n - 1:
                consider(a, a + 2, word[i + 1] + word[i])
            for c in _ALPHABET:
                if c != word[i]:
                    consider(a, a + 1, c)
        for c in _ALPHABET:
            consider(a, a, c)
    out.discard(word)
    return sorted(v for v in out if len(v) >= 3)


def typo_variants(qf: str) -> list[str]:
    """One-edit variants of typed letters looked up among the exact keys: those that could be stored pinyin,
    and — for up to ``INITIALS_VARIANT_MAX_CHARS`` letters — those shaped like initials (dbz, dbsqjmwyh:
    no i, u or v, at most a quarter vowels), which pinyin's trigrams would refuse."""
    out = set(pinyin_edit_variants(qf))
    # one edit removes at most one i/u/v and one vowel, and changes the length by at most one
    if (len(qf) <= INITIALS_VARIANT_MAX_CHARS and sum(c in "iuv" for c in qf) <= 1
            and 4 * (sum(c in "aeo" for c in qf) - 1) <= len(qf) + 1):
        out.update(v for v in edit_variants(qf) if _initials_shaped(v))
    return sorted(out)


def _initials_shaped(v: str) -> bool:
    return not any(c in "iuv" for c in v) and 4 * sum(c in "aeo" for c in v) <= len(v)


@dataclass(frozen=True)
class _Branch:
    tier: int
    condition: str  # fixed SQL fragment; values are bound parameters
    near: bool = True  # with near, take the nearest :cap (KNN); fuzzy branches take any :cap index hits
    walk: str | None = None  # without near, a text_pattern_ops column whose order the branch may walk
    fallback: bool = False  # run only if every branch before it found nothing ("did you mean")
    check: str | None = None  # the same test in a form no index answers, cheap per row (local searches)
    common: bool | None = None  # substring: held by many places (walk first) or few (look up); None: planner


_gram_stats: dict[str, tuple[float, dict[str, float]]] = {}  # database → (read at, gram → share of places)


def gram_frequencies(session: Session) -> dict[str, float]:
    """The share of places holding each common gram, from the planner's own statistics (pg_stats), cached
    for GRAM_STATS_TTL_S per database. Grams missing here are rarer than every one listed."""
    key = str(session.connection().engine.url)
    now = time.monotonic()
    cached = _gram_stats.get(key)
    if cached and now - cached[0] < GRAM_STATS_TTL_S:
        return cached[1]
    row = _execute(session,
                   "SELECT most_common_elems::text::text[], most_common_elem_freqs FROM pg_stats "
                   "WHERE schemaname = current_schema() AND tablename = 'places' AND attname = 'grams'").first()
    freqs = dict(zip(row[0], row[1], strict=False)) if row and row[0] else {}  # freqs ends with min/max/nulls
    _gram_stats[key] = (now, freqs)
    return freqs


def _bigrams(q: str) -> list[str]:
    chars = [c for c in q if is_han(c) or c.isalnum()]
    pairs = sorted({a + b for a, b in itertools.pairwise(chars)})
    return pairs or sorted(set(chars))


def build_sql(session: Session, query: SearchQuery, *, fallback: bool = True) -> tuple[str, dict[str, Any]]:
    """Validate ``query`` and return the statement and its parameters (also used by the benchmark's EXPLAIN).

    ``fallback=False`` leaves the trigram "did you mean" branches out (see ``search_geojson``'s time budget).
    """
    raw = (query.q or "").strip()
    if not raw:
        raise _invalid("q", "q must not be empty: type a name, its pinyin or initials",
                       "查询词 q 不能为空：请输入地名、拼音或拼音首字母")
    if len(raw) > MAX_QUERY_CHARS:
        raise _invalid("q", f"q is longer than {MAX_QUERY_CHARS} characters",
                       f"查询词 q 不能超过 {MAX_QUERY_CHARS} 个字符")
    if any(ord(c) < 32 for c in raw):
        raise _invalid("q", "q contains control characters", "查询词 q 含有控制字符")
    q = "".join(raw.split())
    qf = query_form(raw)
    if not qf:
        raise _invalid("q", f"q {raw!r} has nothing to search for", f"查询词 {raw!r} 没有可检索的内容")
    if not 1 <= query.limit <= MAX_LIMIT:
        raise _invalid("limit", f"limit must be between 1 and {MAX_LIMIT}", f"条数上限须在 1 到 {MAX_LIMIT} 之间")
    if query.radius_m is not None:
        if query.near is None:
            raise _invalid("near", "radius_m needs near=lon,lat", "按半径搜索时须同时提供中心点（经度,纬度）")
        if not (math.isfinite(query.radius_m) and 0 < query.radius_m <= MAX_RADIUS_M):
            raise _invalid("radius_m", f"radius_m must be > 0 and at most {MAX_RADIUS_M:.0f} m",
                           f"半径须大于 0 且不超过 {MAX_RADIUS_M:.0f} 米")
    if query.near is not None:
        _check_point(*query.near)

    han = any(is_han(c) for c in q)
    params: dict[str, Any] = {
        "q": q, "qf": qf, "q_len": len(q), "qf_len": len(qf), "q_pinyin": search_keys(q).pinyin if han else qf,
        "as_of": query.as_of, "limit": query.limit,
        # Candidates per branch: the first `limit` in the branch's order (with near: the nearest) — the
        # cost of walking an index for a common term grows with it.
        "cap": query.limit,
        "walk_rows": WALK_ROWS_PER_RESULT * query.limit,
        "lookup_rows": LOOKUP_ROWS,
    }
    # Filters in two forms: `filters` may be answered by their own index (division, category, GiST), `residual`
    # (for fuzzy branches) only checks rows its branch's own index found — a fuzzy condition is too costly to
    # evaluate row by row over a whole township or radius (hundreds of typo variants per row).
    # `IS TRUE` keeps the as-of test a check of the rows found (valid_from is NOT NULL: the same answer). Written
    # plainly, a branch whose key list is computed at run time (typo variants: no estimate) was planned as a
    # BitmapAnd with a scan of ix_places_place_id's second column over every version in force on the date —
    # 440 ms for 620,573 such rows at 13M names, to intersect with the one row the name's key found.
    filters = ["(p.valid_from <= :as_of) IS TRUE", "(p.valid_to IS NULL OR p.valid_to > :as_of)"]
    residual = list(filters)
    if query.within:
        prefix = within_prefix(query.within)
        params["w_lo"], params["w_len"] = prefix, len(prefix)
        filters.append("p.division_code >= :w_lo")
        hi = _successor(prefix)
        if hi is not None:
            params["w_hi"] = hi
            filters.append("p.division_code < :w_hi")
        residual.append("left(p.division_code, :w_len) = :w_lo")
    if query.category:
        cat = query.category.strip()
        known = _CODE.match(cat) and _execute(
            session, "SELECT 1 FROM place_categories WHERE code = :c", {"c": cat}).first()
        if not known:
            raise _invalid("category", f"unknown category code {cat!r} (see GET /api/v1/places/categories)",
                           f"未知的地名类别代码 {cat!r}")
        params["c_lo"], params["c_len"] = cat, len(cat)
        filters.append("p.category_code >= :c_lo")
        hi = _successor(cat)
        if hi is not None:
            params["c_hi"] = hi
            filters.append("p.category_code < :c_hi")
        residual.append("left(p.category_code, :c_len) = :c_lo")
    point = "ST_SetSRID(ST_MakePoint(:lon, :lat), 4490)"
    knn = ""
    if query.near is not None:
        params["lon"], params["lat"] = query.near
        knn = f"ORDER BY p.geom <-> {point}"
        if query.radius_m is not None:
            params["radius"] = query.radius_m
            params.update(_envelope(query.near, query.radius_m))
            within_radius = f"ST_DWithin(p.geom::geography, {point}::geography, :radius)"
            filters += ["p.geom && ST_MakeEnvelope(:bx1, :by1, :bx2, :by2, 4490)", within_radius]
            residual.append(within_radius)  # on the geography cast: no index, a check of found rows only

    local = bool(query.within and len(within_prefix(query.within)) >= 6) or (
        query.radius_m is not None and query.radius_m <= LOCAL_RADIUS_M)
    branches = [_Branch(EXACT, "p.search_keys @> ARRAY[CAST(:qf AS text)]", check=":qf = ANY(p.search_keys)")]
    alike_keys = False
    if han:
        params["q_prefix"] = _like_escape(q) + "%"
        # Typos are sought in the 专名: the generic (村民委员会 …) is shared by half the table.
        specific = split_name(q)[0] or q
        # One character typed for a look-alike or same-sounding one (店阜 for 店埠): such variants of the query
        # and of its 专名. Which of them, and which former names, exist is asked first (one indexed look-up):
        # most queries meet neither, and their statement then carries no branch for them to plan.
        alikes = look_alikes(q, specific) if sum(1 for c in q if is_han(c)) >= 2 else []
        params["look_alikes"] = alikes
        found = _probe_variants(session, params)
        # Former names and other variants (曾用名, 别名 …) are names officers still type: exact and prefix.
        for key in ("var_exact", "var_prefix", "var_alike"):
            params[key] = found[key]
        alike_keys = bool(found["alike_keys"])
        if found["var_exact"]:
            branches.append(_Branch(EXACT, _place_in("var_exact"), check=_place_in("var_exact")))
        params["q_grams"] = _bigrams(q)
        substring = "p.grams @> CAST(:q_grams AS text[])"
        if len(q) > 2 or not all(is_han(c) or c.isalnum() for c in q):
            # Longer queries: the grams only say every pair occurs somewhere; LIKE checks they are contiguous.
            # (For one or two characters the grams are the answer.)
            params["q_infix"] = "%" + _like_escape(q) + "%"
            substring += " AND p.name LIKE :q_infix"
        share = min((gram_frequencies(session).get(g, 0.0) for g in params["q_grams"]), default=0.0)
        branches += [
            _Branch(PREFIX, "p.name LIKE :q_prefix", walk="p.name", check="left(p.name, :q_len) = :q"),
            *([_Branch(PREFIX, _place_in("var_prefix"), check=_place_in("var_prefix"))] if found["var_prefix"] else []),
            _Branch(SUBSTRING, substring, walk="p.name", check="strpos(p.name, :q) > 0",
                    common=share >= WALK_MIN_SHARE),
        ]
        if sum(1 for c in specific if is_han(c)) >= 2:
            # A wrong character that sounds right (店部 for 店埠): names whose pinyin starts like the 专名's.
            sound = search_keys(specific).pinyin
            if sound:
                params["sound_prefix"] = _like_escape(sound) + "%"
                params["sound"], params["sound_len"] = sound, len(sound)
                branches.append(_Branch(FUZZY, "p.pinyin LIKE :sound_prefix", near=False, walk="p.pinyin",
                                        check="left(p.pinyin, :sound_len) = :sound"))
        if alike_keys:  # a name's exact keys (GIN)
            branches.append(_Branch(
                FUZZY, "p.search_keys && (SELECT CAST(:look_alikes AS text[]))", near=False,
                check="EXISTS (SELECT 1 FROM unnest(p.search_keys) k WHERE k = ANY(CAST(:look_alikes AS text[])))"))
        if found["var_alike"]:
            branches.append(_Branch(FUZZY, _place_in("var_alike"), near=False, check=_place_in("var_alike")))
        if fallback and sum(1 for c in specific if is_han(c)) >= 2:
            params["q_specific"] = specific
            branches.append(_Branch(FUZZY, "p.name %> :q_specific", near=False, fallback=True,
                                    check=f"word_similarity(:q_specific, p.name) >= {_WORD_THRESHOLD}"))
    else:
        params["qf_prefix"] = _like_escape(qf) + "%"
        branches += [
            _Branch(PREFIX, "p.pinyin LIKE :qf_prefix", walk="p.pinyin", check="left(p.pinyin, :qf_len) = :qf"),
            _Branch(PREFIX, "p.initials LIKE :qf_prefix", walk="p.initials", check="left(p.initials, :qf_len) = :qf"),
        ]
        if 3 <= len(qf) <= PINYIN_SUBSTRING_MAX_CHARS:
            params["qf_infix"] = "%" + _like_escape(qf) + "%"
            branches.append(_Branch(SUBSTRING, "p.pinyin LIKE :qf_infix", walk="p.pinyin",
                                    check="strpos(p.pinyin, :qf) > 0"))
        if 4 <= len(qf) <= EDIT_VARIANT_MAX_CHARS and qf.isascii() and qf.isalpha():
            # One typo in a stored key (dianbo, diambu → dianbu): GIN lookups of the one-edit variants that could
            # be stored pinyin or initials (typo_variants: ~100, not ~600 on average). Each is one descent of the
            # GIN entry tree — its cost grows with the log of the table, unlike the trigram fallback's posting
            # lists, which grow with the table — so long names (up to 40 letters) are looked up this way too.
            # (Three letters are too short: their variants are half the syllables of Chinese.) The array is
            # handed over as a sub-select: estimated element by element, hundreds of variants look like a
            # large share of the table, and the planner would test them row by row (~20 µs a row) instead.
            params["variants"] = typo_variants(qf)
        if params.get("variants"):
            branches.append(_Branch(
                FUZZY, "p.search_keys && (SELECT CAST(:variants AS text[]))", near=False,
                check="EXISTS (SELECT 1 FROM unnest(p.search_keys) k WHERE k = ANY(CAST(:variants AS text[])))"))
        if fallback and len(qf) >= 4:
            # Worse typos: trigram word similarity with the stored pinyin (pg_trgm), when nothing else matched.
            branches.append(_Branch(FUZZY, "p.pinyin %> :qf", near=False, fallback=True,
                                    check=f"word_similarity(:qf, p.pinyin) >= {_WORD_THRESHOLD}"))

    ctes = []
    if local:
        # The area is read once, through its own index, for every branch to check (at 13M names a county held
        # 21,798 rows: read by each of five branches, 80-140 ms a search; 20 km around a point 6,500 rows, each
        # with a geodesic distance test, read five times).
        ctes.append("area AS MATERIALIZED (SELECT p.id, p.place_id, p.geom, p.name, p.pinyin, p.initials, "
                    f"p.search_keys FROM places p WHERE {' AND '.join(filters)})")
    for i, b in enumerate(branches):
        earlier = [f"SELECT id FROM b{j}" for j in range(i)]
        higher = [f"SELECT id FROM b{j}" for j, o in enumerate(branches[:i]) if o.tier < b.tier]
        if b.fallback:
            gate = f"NOT EXISTS ({' UNION ALL '.join(earlier)}) AND "
        elif higher:
            gate = f"(SELECT count(DISTINCT id) FROM ({' UNION ALL '.join(higher)}) h) < :limit AND "
        else:
            gate = ""
        if local and b.check:
            # A small area (a county, a township, a radius of a few km): its own index (division, GiST)
            # finds at most some thousands of rows (``area``), each checked cheaply (a prefix, a hashed ANY),
            # however common the term is in the country — and a fuzzy condition is never evaluated row by row
            # over a large area. With near, the nearest of them (a top-N sort of the area's rows).
            condition, where, order = b.check, "true", knn if b.near else ""
            source = "area p"
        else:
            source = "places p"
            condition = b.condition
            where = " AND ".join(residual if b.tier == FUZZY else filters)
            order = knn if b.near else ""
            if not knn and b.walk:
                order = f"ORDER BY {b.walk} USING ~<~"
        matches = f"FROM {source} WHERE {gate}({condition}) AND {where}"
        if knn and b.near and not (local and b.check):
            # The nearest :cap. Left to itself the planner picks between walking the GiST index in distance
            # order with a filter and looking the term up, from an estimate of how common the term is — and
            # a wrong guess walks the whole table for a rare prefix. Instead: look the term up, reading at most
            # :lookup_rows matches. Fewer means all are known: the nearest :cap of them, exactly. More means
            # the term is common: walk at most :walk_rows nearest places for it (its matches come soon unless
            # they cluster elsewhere), and only if that found too few take the nearest of those looked up.
            ctes.append(f"a{i} AS MATERIALIZED (SELECT p.id, p.geom, {b.tier} AS tier {matches})")
            ctes.append(f"k{i} AS MATERIALIZED (SELECT id, geom, tier FROM a{i} LIMIT :lookup_rows)")
            walked = (f"(SELECT p.*, p.geom <-> {point} AS walk_key FROM places p "
                      f"ORDER BY walk_key LIMIT :walk_rows) p")
            ctes.append(f"w{i} AS MATERIALIZED (SELECT p.id, {b.tier} AS tier FROM {walked} "
                        f"WHERE (SELECT count(*) FROM k{i}) >= :lookup_rows AND {gate}({condition}) AND {where} "
                        f"ORDER BY walk_key LIMIT :cap)")
            ctes.append(f"b{i} AS MATERIALIZED (SELECT id, tier FROM w{i} UNION ALL (SELECT id, tier FROM k{i} "
                        f"WHERE (SELECT count(*) FROM w{i}) < :cap ORDER BY geom <-> {point} LIMIT :cap))")
        elif b.common is not None and not (local and b.check):
            # A Chinese substring, without near. The planner's choice between walking the name order and
            # looking the term up is unsafe here: matches cluster in any order (华村 is mostly 新华村, all
            # starting with 新), so a walk may meet them only half-way through the table. The share of places
            # holding the pair (the planner's statistics) decides instead: a common pair (≥ WALK_MIN_SHARE)
            # walks at most :walk_rows names and is looked up only if that found too few; a rarer one is
            # looked up at once (its GIN bitmap is small).
            ctes.append(f"a{i} AS MATERIALIZED (SELECT p.id, {b.tier} AS tier {matches})")
            if b.common:
                # the walk key is an output column, so the outer ORDER BY is known to be satisfied already:
                # the walk stops at the :cap-th match instead of reading all :walk_rows to sort them
                walked = (f"(SELECT p.*, {b.walk} AS walk_key FROM places p "
                          f"ORDER BY walk_key USING ~<~ LIMIT :walk_rows) p")
                ctes.append(f"w{i} AS MATERIALIZED (SELECT p.id, {b.tier} AS tier FROM {walked} "
                            f"WHERE {gate}({condition}) AND {where} ORDER BY walk_key USING ~<~ LIMIT :cap)")
                ctes.append(f"b{i} AS MATERIALIZED (SELECT id, tier FROM w{i} UNION ALL (SELECT id, tier FROM a{i} "
                            f"WHERE (SELECT count(*) FROM w{i}) < :cap LIMIT :cap))")
            else:
                ctes.append(f"b{i} AS MATERIALIZED (SELECT id, tier FROM a{i} LIMIT :cap)")
        elif order:
            # The first :cap in an index order: in a local search with near, the nearest (the GiST index
            # answers both the area and the order); otherwise the order of the branch's text_pattern_ops
            # btree, which a prefix branch reads as a range and a pinyin substring may walk with a filter
            # (the planner weighs that walk against the trigram lookup, knowing only :cap rows are wanted).
            ctes.append(f"b{i} AS MATERIALIZED (SELECT p.id, {b.tier} AS tier {matches} {order} LIMIT :cap)")
        else:
            # Exact keys without near, fuzzy branches (loose estimates: hundreds of typo variants, a trigram
            # threshold) and local searches: any :cap matches, planned for full retrieval (a CTE is) so the
            # planner cannot bet on walking a whole index hoping to meet :cap matches early (a clustered term
            # never comes); the condition's own index answers, read lazily under the LIMIT.
            ctes.append(f"a{i} AS MATERIALIZED (SELECT p.id, {b.tier} AS tier {matches})")
            ctes.append(f"b{i} AS MATERIALIZED (SELECT id, tier FROM a{i} LIMIT :cap)")
    union = " UNION ALL ".join(f"SELECT id, tier FROM b{i}" for i in range(len(branches)))

    matched = _matched_sql(han, variants=bool(params.get("var_exact") or params.get("var_prefix")
                                              or params.get("var_alike")), alikes=alike_keys)
    # Within a tier the place's own name comes before a variant's, and a direct hit before a tolerated character.
    first = "(m.matched ->> 'kind') <> 'name', m.matched ? 'via'"
    if query.near is not None:
        distance = f"ST_Distance(p.geom::geography, {point}::geography)"
        rank = f"c.tier, {first}, s.dist NULLS LAST, s.sim DESC, char_length(p.name), p.place_id"
        distance_prop = ", 'distance_m', round(r.dist::numeric, 1)"
    else:
        distance = "CAST(NULL AS float8)"
        rank = f"c.tier, {first}, s.sim DESC, char_length(p.name), p.place_id"
        distance_prop = ""
    sql = f"""
WITH {', '.join(ctes)},
cand AS (SELECT id, min(tier) AS tier FROM ({union}) u GROUP BY id),
ranked AS (
    SELECT p.id, p.place_id, p.name, p.romanized, p.category_code, p.division_code, p.status, p.geom,
           c.tier, s.sim, s.dist, m.matched,
           row_number() OVER (ORDER BY {rank}) AS rn
    FROM cand c
    JOIN places p ON p.id = c.id
    CROSS JOIN LATERAL (
        SELECT greatest(similarity(p.name, :q), similarity(p.pinyin, :q_pinyin),
                        (SELECT max(similarity(k, :qf)) FROM unnest(p.search_keys) k)) AS sim,
               {distance} AS dist
    ) s
    CROSS JOIN LATERAL (SELECT {matched} AS matched OFFSET 0) m  -- OFFSET 0: computed once, not per reference
    ORDER BY rn
    LIMIT :limit
)
SELECT json_build_object(
    'type', 'FeatureCollection',
    'numberReturned', (SELECT count(*) FROM ranked),
    'timeStamp', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    'as_of', CAST(:as_of AS date),
    'features', coalesce((
        SELECT json_agg(json_build_object(
            'type', 'Feature',
            'id', r.place_id,
            'geometry', ST_AsGeoJSON(r.geom, 7, 0)::json,
            'properties', json_build_object(
                'id', r.place_id, 'row_id', r.id, 'name', r.name, 'romanized', r.romanized,
                'category', r.category_code, 'category_name', pc.name_zh, 'status', r.status,
                'division_code', r.division_code,
                'division_name', (SELECT d.name FROM divisions d
                                  WHERE d.code = r.division_code AND d.valid_from <= :as_of
                                    AND (d.valid_to IS NULL OR d.valid_to > :as_of) LIMIT 1),
                'match', (ARRAY['exact', 'prefix', 'substring', 'fuzzy'])[r.tier + 1],
                'matched', r.matched,
                'score', round(((3 - r.tier) * 0.25 + 0.25 * r.sim)::numeric, 4){distance_prop}
            )
        ) ORDER BY r.rn)
        FROM ranked r LEFT JOIN place_categories pc ON pc.code = r.category_code
    ), '[]'::json)
)::text"""
    return sql, params


VARIANT_PROBE = """
WITH v AS (SELECT place_id, name FROM place_variants
           WHERE name LIKE :q_prefix OR name = ANY(CAST(:look_alikes AS text[])) LIMIT :probe_rows)
SELECT coalesce(array_agg(DISTINCT place_id) FILTER (WHERE name = :q), '{}') AS var_exact,
       coalesce(array_agg(DISTINCT place_id) FILTER (WHERE name <> :q AND left(name, :q_len) = :q), '{}')
           AS var_prefix,
       coalesce(array_agg(DISTINCT place_id) FILTER (WHERE left(name, :q_len) <> :q), '{}') AS var_alike,
       cardinality(CAST(:look_alikes AS text[])) > 0
           AND EXISTS (SELECT 1 FROM places WHERE search_keys && CAST(:look_alikes AS text[])) AS alike_keys
FROM v"""
VARIANT_PROBE_ROWS = 1000  # variants a query may match (a former name is rare; a prefix of one can be common)


def _probe_variants(session: Session, params: dict[str, Any]) -> dict[str, Any]:
    """The place_ids whose variants (曾用名, 别名 …) equal the query, start with it or equal a look-alike of it,
    and whether any name's exact key is a look-alike of it — by the variants' btree and the keys' GIN index."""
    row = _execute(session, VARIANT_PROBE, {**params, "probe_rows": VARIANT_PROBE_ROWS}).mappings().one()
    return dict(row)


def _place_in(ids: str) -> str:
    """Places whose place_id is in the bound array ``ids`` (found by ``_probe_variants``)."""
    return f"p.place_id = ANY(CAST(:{ids} AS bigint[]))"


# place_variants.kind (Chinese, domain.md §1.4/1.5) as the API names it in ``matched.kind``.
VARIANT_KINDS = {"曾用名": "former_name", "别名": "alias", "简称": "short_name", "历史名": "historic_name",
                 "图上名称": "map_name"}


def _matched_sql(han: bool, *, variants: bool, alikes: bool) -> str:
    """What a result matched, as jsonb ``{kind, text[, via, read_as]}``: its own name (``kind: name``), a variant
    (``former_name``, ``alias`` …, ``text`` the variant), and ``via: confusable`` when a look-alike or
    same-sounding character was read as the one typed (``read_as``: the key it matched)."""
    own = "jsonb_build_object('kind', 'name', 'text', p.name)"
    if not han or not (variants or alikes):
        return own
    kind = "CASE v.kind " + " ".join(f"WHEN '{zh}' THEN '{en}'" for zh, en in VARIANT_KINDS.items()) + \
        " ELSE 'variant' END"
    alike = "v.name = ANY(CAST(:look_alikes AS text[]))"
    keys = ("(SELECT jsonb_build_object('kind', 'name', 'text', p.name, 'via', 'confusable', 'read_as', k) "
            "FROM unnest(p.search_keys) k WHERE k = ANY(CAST(:look_alikes AS text[])) "
            "ORDER BY char_length(k) DESC LIMIT 1)") if alikes else "NULL"
    variant = f"""(SELECT jsonb_strip_nulls(jsonb_build_object('kind', {kind}, 'text', v.name, 'via',
                CASE WHEN strpos(v.name, :q) > 0 THEN NULL ELSE 'confusable' END))
         FROM place_variants v WHERE v.place_id = p.place_id AND (strpos(v.name, :q) > 0 OR {alike})
         ORDER BY v.name = :q DESC, strpos(v.name, :q) > 0 DESC, v.id LIMIT 1)""" if variants else "NULL"
    return f"""coalesce(
        CASE WHEN strpos(p.name, :q) > 0 OR :qf = ANY(p.search_keys) THEN {own} END,
        {variant}, {keys}, {own})"""


def _envelope(near: tuple[float, float], radius_m: float) -> dict[str, float]:
    """A lon/lat box that surely holds every point within ``radius_m`` (for the GiST index; DWithin decides)."""
    lon, lat = near
    dlat = radius_m / 110_000.0  # a degree of latitude is at least 110.57 km on the ellipsoid
    lat_max = min(89.999, abs(lat) + dlat)
    dlon = radius_m / (111_000.0 * math.cos(math.radians(lat_max)))
    x1, x2 = lon - dlon, lon + dlon
    if x1 < -180 or x2 > 180 or abs(lat) + dlat >= 90:
        x1, x2 = -180.0, 180.0
    return {"bx1": x1, "by1": max(-90.0, lat - dlat), "bx2": x2, "by2": min(90.0, lat + dlat)}


# Sent in front of the search's first statement (one round trip, not one of its own: under load every round trip
# waits for the CPU): remember the setting in a transaction-local custom variable, then switch sequential scans off.
_PLAN_OFF = ("SELECT set_config('diming.search_seqscan', current_setting('enable_seqscan'), true), "
             "set_config('enable_seqscan', 'off', true);\n")
_PLAN_KEY = "diming.search_planning"  # in Session.info: "pending" until _PLAN_OFF went out, then "set"
_RESTORE_KEY = "diming.search_restore"  # in Session.info: statements to send with the restore
# The trigram fallback's time budget (see search_geojson): a savepoint, then statement_timeout for the search's
# statement only (PostgreSQL times each statement of a multi-statement message separately); released and reset
# with the planner setting afterwards, or rolled back to on timeout.
FALLBACK_BUDGET_MS = SearchSettings().fallback_budget_ms  # DIMING_SEARCH_FALLBACK_BUDGET_MS; 0: off (search_geojson)
_BUDGET_SAVEPOINT = "diming_search_budget"
_BUDGET_ON = (f"SAVEPOINT {_BUDGET_SAVEPOINT}; "
              "SELECT set_config('diming.search_timeout', current_setting('statement_timeout'), true), "
              "set_config('statement_timeout', :budget, true);\n")
_BUDGET_OFF = (f"RELEASE SAVEPOINT {_BUDGET_SAVEPOINT}; "
               "SELECT set_config('statement_timeout', current_setting('diming.search_timeout'), true);\n")
_QUERY_CANCELED = "57014"


def _execute(session: Session, sql: str, params: dict[str, Any] | None = None) -> Any:
    """``session.execute`` for the search's statements; the first one inside ``_index_only_planning`` carries
    the planner setting (psycopg2 sends both in one message and returns the last statement's rows)."""
    if session.info.get(_PLAN_KEY) == "pending":
        session.info[_PLAN_KEY] = "set"
        sql = _PLAN_OFF + sql
    return session.execute(text(sql), params or {})


@contextmanager
def _index_only_planning(session: Session) -> Iterator[None]:
    """Price sequential scans out for the search's statements, then restore the previous setting.

    Every branch has an index path; with LIMIT and a loose estimate (hundreds of typo variants, a trigram
    threshold) the planner may still bet on a sequential scan that reads 620k rows to find none.
    """
    session.info[_PLAN_KEY] = "pending"

    def restore() -> None:
        extra = session.info.pop(_RESTORE_KEY, "")
        if session.info.pop(_PLAN_KEY, None) == "set":
            session.execute(text(extra + "SELECT set_config('enable_seqscan', "
                                 "current_setting('diming.search_seqscan'), true)"))
        elif extra:
            session.execute(text(extra + "SELECT 1"))

    try:
        yield
    except DBAPIError:
        # The transaction is aborted: restoring would raise and hide the real error, and the rollback restores
        # the transaction-local setting anyway.
        session.info.pop(_PLAN_KEY, None)
        session.info.pop(_RESTORE_KEY, None)
        raise
    except BaseException:
        restore()
        raise
    restore()


def search_geojson(session: Session, query: SearchQuery) -> str:
    """A FeatureCollection (JSON text) of the places matching ``query``, best first, built by PostgreSQL.

    Each feature's properties carry ``id`` (the stable place_id), ``name``, ``romanized``, ``category``,
    ``category_name``, ``division_code``, ``match`` (exact | prefix | substring | fuzzy), ``score`` (0–1,
    a quarter per tier plus a quarter of the trigram similarity) and, with ``near``, ``distance_m``
    (geodesic, on the CGCS2000 ellipsoid).

    With ``FALLBACK_BUDGET_MS`` > 0 (``DIMING_SEARCH_FALLBACK_BUDGET_MS``; default 0, off), a statement that may
    run the trigram fallback (typos beyond one edit, when nothing else matched) runs under that time budget:
    the fallback reads posting lists that grow with the table (~0.1–1 s at a million names under load), every
    other branch is a bounded index lookup. Over budget, the search answers without it: if the other branches
    found anything the fallback would not have run anyway and the answer is complete; if they found nothing
    the answer says so — ``"partial": true`` with ``partial_reason`` — instead of pretending there is no such
    place. Off by default: the budget is a statement_timeout, and during a benchmark that had it cancel dozens of
    searches a second under load 10–15, one backend of the shared cluster aborted (glibc malloc assertion,
    2026-12-06 12:31:56) — the cause is not established; enable it only where cancellations are known safe.
    """
    with _index_only_planning(session):  # the variant probe of build_sql is planned the same way
        sql, params = build_sql(session, query)
        if FALLBACK_BUDGET_MS <= 0 or not _has_fallback(sql):
            return str(_execute(session, sql, params).scalar_one())
        try:
            body = str(_execute(session, _BUDGET_ON + sql, {**params, "budget": f"{FALLBACK_BUDGET_MS}ms"})
                       .scalar_one())
        except DBAPIError as exc:
            if getattr(exc.orig, "pgcode", None) != _QUERY_CANCELED:
                raise
            # The savepoint undoes the abort and the budget; the planner setting (set before it) stays.
            session.execute(text(f"ROLLBACK TO SAVEPOINT {_BUDGET_SAVEPOINT}; RELEASE SAVEPOINT {_BUDGET_SAVEPOINT}"))
            sql, params = build_sql(session, query, fallback=False)
            body = str(_execute(session, sql, params).scalar_one())
            doc = json.loads(body)
            if not doc["features"]:
                doc["partial"] = True
                doc["partial_reason"] = {
                    "en": f"no exact, prefix, substring or one-edit match; the search for worse typos (trigram "
                          f"similarity) did not finish within {FALLBACK_BUDGET_MS} ms and was skipped",
                    "zh": f"无精确、前缀、包含或一处拼写错误的匹配；更宽松的相似度检索未能在 {FALLBACK_BUDGET_MS} "
                          "毫秒内完成，已略过"}
                body = json.dumps(doc, ensure_ascii=False, separators=(",", ":"))
            return body
        session.info[_RESTORE_KEY] = _BUDGET_OFF  # sent with the planner setting's restore: no round trip of its own
        return body


def _has_fallback(sql: str) -> bool:
    return "%> :" in sql


def explain(session: Session, query: SearchQuery, *, analyze: bool = True) -> list[str]:
    """The plan ``search_geojson`` runs for ``query`` (same planner settings), one line per row."""
    options = "ANALYZE, COSTS OFF, BUFFERS OFF" if analyze else "COSTS OFF"
    with _index_only_planning(session):
        sql, params = build_sql(session, query)
        return [str(r[0]) for r in _execute(session, f"EXPLAIN ({options}) {sql}", params)]
