"""Seed rows of the data tables ``facility_kinds`` and ``constraint_layers`` (the migration inserts them).

Default radii and buffer widths are starting values (domain.md §6 status U): planners change them as data.
"""

from __future__ import annotations

from typing import Any

# id, Chinese label, English label, category, default service radius (m; GB 50180 life circles where they fit)
FACILITY_KINDS: tuple[tuple[str, str, str, str, float | None], ...] = (
    ("township_social_work_station", "乡镇(街道)社工站", "township social-work station", "social_work", None),
    ("community_social_work_station", "社区社工站", "community social-work station", "social_work", 1000.0),
    ("elderly_care_center", "养老服务中心", "elderly-care centre", "elderly", 1000.0),
    ("elderly_care_station", "养老服务站", "elderly-care station", "elderly", 500.0),
    ("childrens_home", "儿童之家", "children's home", "children", 500.0),
    ("child_welfare_center", "儿童福利指导中心", "child-welfare guidance centre", "children", None),
    ("minors_protection_center", "未成年人救助保护中心", "minors' protection centre", "children", None),
    ("marriage_registry", "婚姻登记处", "marriage registry", "civil", None),
    ("funeral_home", "殡仪馆", "funeral home", "funeral", None),
    ("public_cemetery", "公益性公墓", "public cemetery", "funeral", None),
    ("ash_hall", "骨灰堂/公祭堂", "ash hall / memorial hall", "funeral", None),
    ("community_service_center", "村(社区)综合服务中心", "village/community service centre", "community", 1000.0),
)


def kind_rows() -> list[dict[str, Any]]:
    return [
        {"code": k, "name_zh": zh, "name_en": en, "category": cat, "default_radius_m": r, "sort_order": i * 10}
        for i, (k, zh, en, cat, r) in enumerate(FACILITY_KINDS, start=1)
    ]


# id, Chinese label, English label, buffer (m), note — the forbidden sites of domain.md §6.
CONSTRAINT_LAYERS: tuple[tuple[str, str, str, float, str], ...] = (
    ("arable_land", "耕地", "arable land", 0.0, "永久基本农田及耕地"),
    ("forest_land", "林地", "forest land", 0.0, ""),
    ("park_scenic", "公园、风景名胜区", "parks and scenic areas", 0.0, ""),
    ("water_source", "水库、河流堤坝、水源保护区", "reservoirs, dams and water-source zones", 0.0, ""),
    ("railway", "铁路沿线", "along main railways", 200.0, "buffer width is a setting (U)"),
    ("highway", "公路沿线", "along main highways", 200.0, "buffer width is a setting (U)"),
)


def constraint_layer_rows() -> list[dict[str, Any]]:
    return [
        {"code": k, "name_zh": zh, "name_en": en, "buffer_m": b, "active": True, "rule": "§6", "note": note or None}
        for k, zh, en, b, note in CONSTRAINT_LAYERS
    ]
