"""Human names of fields and enumerations, in Chinese and English — one table for errors, exports and the UI.

A request field, an export column or a stored enumeration value is an identifier (``division_code``, ``open``);
people read a label (所在（跨）行政区 / Division, 待处理 / open). Validation errors name the field by its label
(``errors.py``), exports write labelled headings and values when the reader asks for Chinese (``io``), and the map
UI keeps the same words in ``map_ui/static/js/i18n.js``. ``language()`` picks the language of a request from its
``Accept-Language`` header: Chinese unless English is preferred (the bureau works in Chinese).
"""

from __future__ import annotations

from typing import Any, Literal

Lang = Literal["zh", "en"]

# field name -> (Chinese, English). Every field of a request body or query of /api/v1 has one (tested).
FIELDS: dict[str, tuple[str, str]] = {
    "abolished_year": ("废止年份", "year abolished"),
    "accept-language": ("界面语言", "Accept-Language"),
    "active": ("是否启用", "active"),
    "address": ("地址", "address"),
    "adjustment_id": ("区划调整编号", "adjustment"),
    "agreement_ref": ("界线协议书", "boundary agreement"),
    "agreement_signed_on": ("协议签订日期", "agreement signed on"),
    "aliases": ("别名", "aliases"),
    "allow_exclave": ("允许飞地", "allow exclave"),
    "applicant": ("申报单位", "applicant"),
    "applied_on": ("申报日期", "applied on"),
    "approval_authority": ("批准机关", "approving authority"),
    "approval_doc": ("批准文件", "approval document"),
    "approved_on": ("批准日期", "approved on"),
    "approving_authority": ("批准机关", "approving authority"),
    "area": ("区域范围", "area"),
    "area_mode": ("区域计算方式", "area mode"),
    "area_km2": ("面积（平方千米）", "area (km²)"),
    "as_of": ("时点", "as of"),
    "attrs": ("实体规模属性", "entity attributes"),
    "authority": ("批准机关", "authority"),
    "bbox": ("范围框", "bounding box"),
    "both_sides_present": ("双方到场", "both sides present"),
    "buffer_m": ("缓冲距离（米）", "buffer (m)"),
    "candidates": ("候选点", "candidates"),
    "capacity": ("容量", "capacity"),
    "capacity_plots": ("墓位容量", "plot capacity"),
    "caption": ("说明", "caption"),
    "category": ("类别", "category"),
    "category_code": ("类别代码", "category code"),
    "category_name": ("类别", "category name"),
    "cemetery_id": ("公墓编号", "cemetery"),
    "cemetery_type": ("公墓类型", "cemetery type"),
    "census_class": ("普查大类", "census class"),
    "changes": ("待同步的修改", "changes"),
    "class": ("标记类别", "flag class"),
    "cleared": ("已清理", "cleared"),
    "client_id": ("客户端编号", "client id"),
    "client_secret": ("客户端密钥", "client secret"),
    "code": ("代码", "code"),
    "code_property": ("代码属性", "code property"),
    "codes": ("区划代码", "division codes"),
    "collection_id": ("数据集", "collection"),
    "collections": ("图层", "collections"),
    "comment_start": ("公示开始日期", "comment period start"),
    "coord_method": ("测量方法", "coordinate method"),
    "coord_precision_m": ("坐标精度（米）", "coordinate precision (m)"),
    "coord_source": ("坐标来源", "coordinate source"),
    "coord_system": ("坐标系", "coordinate system"),
    "confirmed_by": ("确认人", "confirmed by"),
    "corrections": ("更正", "corrections"),
    "cost_property": ("通行成本属性", "cost property"),
    "crs": ("坐标参照系", "coordinate reference system"),
    "damaged": ("损坏", "damaged"),
    "date": ("日期", "date"),
    "default_radius_m": ("默认服务半径（米）", "default radius (m)"),
    "demand": ("需求图层", "demand layer"),
    "description": ("地理实体描述", "description"),
    "detail_map_ref": ("界线详图", "detail map"),
    "device": ("设备", "device"),
    "directed": ("有向路网", "directed network"),
    "disputes": ("争议与风险", "disputes and risks"),
    "division_code": ("所在（跨）行政区", "division"),
    "division_name": ("所在（跨）行政区名称", "division name"),
    "doc_date": ("文件日期", "document date"),
    "doc_no": ("文号", "document no."),
    "document_id": ("材料编号", "document"),
    "document_no": ("文号", "document no."),
    "documents": ("材料", "documents"),
    "dry_run": ("试运行（不写入）", "dry run"),
    "eco_burials": ("节地生态安葬数", "eco burials"),
    "effective_date": ("变更生效日期", "effective date"),
    "elevation_m": ("高程（米）", "elevation (m)"),
    "encoding": ("文件编码", "encoding"),
    "engine": ("导入方式", "import engine"),
    "entity_nature": ("实体性质", "entity nature"),
    "entity_scale": ("实体规模", "entity scale"),
    "established_year": ("设立年份", "year established"),
    "extent": ("经纬度范围", "extent"),
    "f": ("格式", "format"),
    "facility_id": ("设施编号", "facility"),
    "facility_kind": ("设施类型", "facility kind"),
    "feature_changes": ("要素修改", "feature changes"),
    "features": ("要素", "features"),
    "file": ("文件", "file"),
    "filed_on": ("备案日期", "filed on"),
    "filed_with": ("备案机关", "filed with"),
    "filing_ref": ("备案文号", "filing reference"),
    "findings": ("逐桩检查", "per-marker findings"),
    "flag_id": ("审查标记编号", "review flag"),
    "flags_justification": ("保留理由（存在审查标记时）", "justification despite open flags"),
    "format": ("格式", "format"),
    "from_code": ("原区划代码", "from division"),
    "gcj02": ("GCJ-02 坐标", "GCJ-02 coordinates"),
    "geometry": ("几何", "geometry"),
    "grant_type": ("授权方式", "grant type"),
    "grid_m": ("网格间距（米）", "grid spacing (m)"),
    "history": ("历史沿革", "history"),
    "id": ("编号", "id"),
    "if-match": ("版本标识（If-Match）", "If-Match"),
    "if-none-match": ("版本标识（If-None-Match）", "If-None-Match"),
    "include_planned": ("含规划设施", "include planned"),
    "inspected_on": ("联检日期", "inspected on"),
    "inspection_id": ("联检记录编号", "inspection"),
    "into": ("并入的区划", "merged into"),
    "issue_id": ("问题编号", "issue"),
    "k": ("建议站点数", "number of sites"),
    "key": ("匹配方式", "match key"),
    "kind": ("类型", "kind"),
    "landmarks": ("方位物", "landmarks"),
    "lang": ("语言", "language of the report"),
    "language": ("语种", "language"),
    "last_inspection_on": ("上次联检日期", "last inspection"),
    "lat": ("纬度", "latitude"),
    "lat_field": ("纬度字段", "latitude column"),
    "layer": ("图层", "layer"),
    "layer_id": ("图层编号", "layer"),
    "layers": ("图层", "layers"),
    "leader": ("负责人", "leader"),
    "legible": ("字迹清晰", "legible"),
    "level": ("级别", "level"),
    "limit": ("条数上限", "limit"),
    "line_id": ("界线编号", "boundary line"),
    "line_ids": ("界线编号列表", "boundary lines"),
    "lines": ("界线", "lines"),
    "listed_on": ("列入日期", "listed on"),
    "location_description": ("位置描述", "location description"),
    "lon": ("经度", "longitude"),
    "lon_field": ("经度字段", "longitude column"),
    "marker_no": ("界桩编号", "marker no."),
    "material": ("材质", "material"),
    "max_tiles": ("瓦片数上限", "tile limit"),
    "meaning": ("地名含义", "meaning"),
    "measures": ("保护措施", "protective measures"),
    "measures_recorded_on": ("措施登记日期", "measures recorded on"),
    "members": ("成员", "members"),
    "method": ("方法", "method"),
    "minority_script": ("民族文字", "minority script"),
    "mode": ("修改类型", "kind of change"),
    "moved": ("移位", "moved"),
    "name": ("名称", "name"),
    "name_en": ("英文名称", "English name"),
    "name_property": ("名称属性", "name property"),
    "name_zh": ("中文名称", "Chinese name"),
    "named_on": ("命名时间", "named on"),
    "near": ("中心点（经度,纬度）", "near (lon,lat)"),
    "needs_civil_affairs_opinion": ("须民政部门意见", "needs civil-affairs opinion"),
    "needs_risk_assessment": ("须风险评估", "needs risk assessment"),
    "network": ("路网", "road network"),
    "network_m": ("路网距离（米）", "network distance (m)"),
    "next_inspection_planned_on": ("下次联检计划日期", "next inspection planned on"),
    "new": ("新设区划", "new division"),
    "new_code": ("新区划代码", "new code"),
    "new_parent": ("新上级区划", "new parent"),
    "note": ("说明", "note"),
    "occupied_plots": ("已用墓位", "occupied plots"),
    "offset": ("起始位置", "offset"),
    "old_password": ("原密码", "old password"),
    "one_sided_markers": ("单方界桩", "one-sided markers"),
    "oneway_property": ("单行属性", "one-way property"),
    "opened_on": ("启用日期", "opened on"),
    "opinion_handling": ("意见处理情况", "handling of opinions"),
    "outer": ("外缘", "outer edge"),
    "overdue": ("已逾期", "overdue"),
    "parcel_id": ("地块编号", "parcel"),
    "parcels": ("地块", "parcels"),
    "parent": ("上级区划", "parent"),
    "parent_code": ("上级代码", "parent code"),
    "password": ("密码", "password"),
    "patrol_id": ("巡查记录编号", "patrol"),
    "patrolled_on": ("巡查日期", "patrolled on"),
    "photo": ("照片", "photo"),
    "photos": ("照片", "photos"),
    "place_id": ("地名编号", "place"),
    "plots_capacity": ("墓位容量", "plot capacity"),
    "population": ("人口", "population"),
    "precision_m": ("精度（米）", "precision (m)"),
    "prefix": ("前缀", "prefix"),
    "properties": ("属性", "properties"),
    "present": ("存在", "present"),
    "preset": ("生活圈预设", "life-circle preset"),
    "proposal_id": ("申报编号", "proposal"),
    "q": ("搜索词", "search text"),
    "radius_m": ("半径（米）", "radius (m)"),
    "reason": ("修改原因", "reason"),
    "reasons": ("申报理由", "reasons"),
    "ref": ("参考编号", "reference"),
    "registered_by": ("登记人", "registered by"),
    "registered_on": ("登记时间", "registered on"),
    "registering_unit": ("登记单位", "registering unit"),
    "remarks": ("备注", "remarks"),
    "replace": ("整体替换", "replace"),
    "request": ("请求", "request"),
    "body": ("请求体", "request body"),
    "resolution": ("处理结果", "resolution"),
    "resolved_on": ("解决日期", "resolved on"),
    "responsible_left": ("左侧管理责任单位", "responsible unit (left)"),
    "responsible_right": ("右侧管理责任单位", "responsible unit (right)"),
    "risk": ("风险", "risk"),
    "roles": ("角色", "roles"),
    "romanized": ("罗马字母拼写", "romanisation"),
    "romanized_by": ("拼写人", "spelled by"),
    "row_id": ("版本行号", "row id"),
    "rule": ("规则", "rule"),
    "scope": ("范围", "scope"),
    "scope_kind": ("地名范围", "name scope"),
    "script": ("文字", "script"),
    "seat": ("驻地", "seat"),
    "served_townships": ("服务乡镇", "served townships"),
    "service_areas": ("服务范围", "service areas"),
    "sha256": ("文件校验值", "checksum"),
    "side": ("一侧", "side"),
    "sign_count": ("标牌个数", "signs"),
    "signatures": ("签字", "signatures"),
    "signed_on": ("签订日期", "signed on"),
    "simplify_m": ("简化容差（米）", "simplification (m)"),
    "site_geometry": ("选址几何", "site geometry"),
    "source": ("数据来源", "data source"),
    "sources": ("资料来源", "sources"),
    "spec": ("调整方案", "adjustment plan"),
    "staff": ("人员", "staff"),
    "stage": ("阶段", "stage"),
    "status": ("状态", "status"),
    "structures": ("构筑物", "structures"),
    "survey_method": ("测量方法", "survey method"),
    "surveyed_on": ("测量日期", "surveyed on"),
    "taken_by": ("拍摄人", "taken by"),
    "taken_on": ("拍摄日期", "taken on"),
    "target_share": ("目标覆盖率", "target share"),
    "team_left": ("左侧队伍", "team (left)"),
    "team_right": ("右侧队伍", "team (right)"),
    "time_limit_s": ("计算时限（秒）", "time limit (s)"),
    "title": ("标题", "title"),
    "to": ("目标阶段", "to"),
    "to_code": ("目标区划代码", "to division"),
    "tolerance_m": ("容差（米）", "tolerance (m)"),
    "tones": ("声调", "tones"),
    "tongming": ("通名", "generic part"),
    "tongming_romanized": ("通名罗马字母拼写", "generic romanised"),
    "unit": ("单位", "unit"),
    "type_letter": ("界桩类型", "marker type"),
    "line_no": ("界线编号（序号）", "line no."),
    "length_m": ("长度（米）", "length (m)"),
    "right_code": ("右侧区划代码", "right division"),
    "left_code": ("左侧区划代码", "left division"),
    "url": ("链接", "link"),
    "usage": ("使用时间", "usage"),
    "username": ("用户名", "user name"),
    "valid_from": ("生效日期", "valid from"),
    "valid_to": ("失效日期", "valid to"),
    "variant_id": ("别名编号", "variant"),
    "variants": ("简称、别名、曾用名", "variants"),
    "version": ("记录版本", "version"),
    "villages": ("村（居）", "villages"),
    "weight_label": ("权重说明", "weight label"),
    "weight_property": ("权重属性", "weight property"),
    "within": ("行政区范围", "within"),
    "wkt_field": ("WKT 几何字段", "WKT column"),
    "zhuanming": ("专名", "specific part"),
    "kind_name": ("类型名称", "kind name"),
    "wkt": ("几何", "geometry"),
    "zooms": ("缩放级别范围", "zoom levels"),
    # Name corrections (gis_api/places/routes.py).
    "correction_id": ("更正申请编号", "correction request"),
    "place_etag": ("地名版本标记", "place version tag"),
    # Coverage and accessibility CSV columns (gis_api/coverage/export.py).
    "covered": ("是否覆盖", "covered"),
    "distance_m": ("距离（米）", "distance (m)"),
    "facilities_in_reach": ("可达设施数", "facilities in reach"),
    "nearest_facility": ("最近设施", "nearest facility"),
    "nearest_facility_id": ("最近设施编号", "nearest facility number"),
    "score_2sfca": ("两步移动搜索法得分", "2SFCA score"),
    "score_per_1000": ("每千人得分", "score per 1,000 people"),
    "township": ("乡镇代码", "township code"),
    "township_name": ("乡镇", "township"),
}

# enumeration -> stored value -> (Chinese, English)
ENUMS: dict[str, dict[str, tuple[str, str]]] = {
    "place_status": {"standard": ("标准地名", "standard"), "pending": ("待审批", "pending"),
                     "non_standard": ("不规范地名", "non-standard"), "historic": ("历史地名", "historic")},
    "flag_status": {"open": ("待处理", "open"), "renamed": ("已更名", "renamed"),
                    "exempted": ("已豁免", "exempted"), "retired": ("已废止", "retired")},
    "stage": {"applied": ("已申报", "applied"), "reviewed": ("已论证", "reviewed"), "approved": ("已批准", "approved"),
              "filed": ("已备案", "filed"), "announced": ("已公告", "announced"), "rejected": ("不予批准", "rejected"),
              "withdrawn": ("已撤回", "withdrawn")},
    "proposal_kind": {"naming": ("命名", "naming"), "renaming": ("更名", "renaming")},
    "marker_status": {"intact": ("完好", "intact"), "damaged": ("损坏", "damaged"), "moved": ("移位", "moved"),
                      "missing": ("丢失", "missing"), "removed": ("撤除", "removed")},
    "level": {"province": ("省级", "province"), "prefecture": ("地级", "prefecture"), "county": ("县级", "county"),
              "township": ("乡级", "township"), "village": ("村级", "village")},
    "scope": {"national": ("全国", "national"), "province": ("本省", "province"), "county": ("本县", "county"),
              "built_up_area": ("本乡镇（建成区）", "township (built-up area)"), "township": ("本乡镇", "township")},
    "source": {"synthetic": ("合成数据（示意）", "synthetic"), "import": ("导入", "import"),
               "demo": ("演示数据", "demo")},
    "romanized_by": {"auto": ("自动拼写", "automatic"), "officer": ("工作人员", "officer")},
    "inspection_state": {"overdue": ("已逾期", "overdue"), "due": ("到期", "due"), "ok": ("正常", "ok")},
    "facility_status": {"planned": ("规划", "planned"), "under_construction": ("在建", "under construction"),
                        "open": ("运营", "open"), "suspended": ("暂停", "suspended"), "closed": ("关闭", "closed")},
    "cemetery_type": {"public": ("公益性公墓", "public"), "rural_public": ("农村公益性墓地", "rural public"),
                      "commercial": ("经营性公墓", "commercial"), "ash_hall": ("骨灰堂", "ash hall")},
    "parcel_status": {"existing": ("现状", "existing"), "planned_extension": ("规划扩建", "planned extension"),
                      "approved": ("已批准", "approved"), "rejected": ("未批准", "rejected")},
    "risk": {"low": ("低", "low"), "medium": ("中", "medium"), "high": ("高", "high")},
    "inspection_kind": {"periodic": ("五年联检", "5-yearly joint inspection"), "flood": ("汛后检查", "after flood"),
                        "works": ("施工后检查", "after works"), "other": ("其他", "other")},
    "usage": {"现今": ("现今", "current"), "历史": ("历史", "historic")},
    # The census's coordinate methods (place register, 坐标获取方式) are stored as these Chinese words.
    "coord_method": {"实测": ("实测", "surveyed"), "图解": ("图解", "read from a map"), "其他": ("其他", "other")},
}

BOOL = {True: ("是", "yes"), False: ("否", "no")}


def language(accept_language: str | None) -> Lang:
    """The request's language: English only when its Accept-Language prefers English to Chinese."""
    best: tuple[float, Lang] | None = None
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        tag = tag.strip().lower()
        q = 1.0
        for p in params.split(";"):
            k, _, v = p.strip().partition("=")
            if k == "q":
                try:
                    q = float(v)
                except ValueError:
                    q = 0.0
        lang: Lang | None = "zh" if tag.startswith("zh") else "en" if tag.startswith("en") else None
        if lang and q > 0 and (best is None or q > best[0] or (q == best[0] and i == 0)):
            best = (q, lang)
    return best[1] if best else "zh"


def field_label(name: str, lang: Lang = "zh") -> str:
    """The label of a field; an unknown name is returned as is (a test keeps the table complete)."""
    pair = FIELDS.get(name)
    return (pair[0] if lang == "zh" else pair[1]) if pair else name


def enum_label(domain: str, value: Any, lang: Lang = "zh") -> Any:
    pair = ENUMS.get(domain, {}).get(str(value)) if value is not None else None
    return (pair[0] if lang == "zh" else pair[1]) if pair else value


def value_label(value: Any, lang: Lang = "zh") -> Any:
    """A boolean as 是/否 (yes/no); anything else unchanged."""
    if isinstance(value, bool):
        return BOOL[value][0 if lang == "zh" else 1]
    return value


# Which enumeration a column's values belong to (export columns of the OGC collections and the register);
# a collection may say otherwise for its own columns (a marker's status is not a place's).
COLUMN_ENUMS = {"status": "place_status", "flag_status": "flag_status", "stage": "stage", "level": "level",
                "romanized_by": "romanized_by", "marker_status": "marker_status", "usage": "usage",
                "coord_method": "coord_method",
                "cemetery_type": "cemetery_type", "risk": "risk"}
COLLECTION_ENUMS = {"markers": {"status": "marker_status"}, "facilities": {"status": "facility_status"},
                    "cemeteries": {"status": "facility_status"}, "parcels": {"status": "parcel_status"},
                    "boundary-lines": {"level": "level"}}


def domain_of(column: str, collection: str | None = None) -> str | None:
    return COLLECTION_ENUMS.get(collection or "", {}).get(column) or COLUMN_ENUMS.get(column)


def cell(column: str, value: Any, lang: Lang = "zh", collection: str | None = None) -> Any:
    """An export cell for people: booleans and the values of a known enumeration in the reader's language."""
    if isinstance(value, bool):
        return value_label(value, lang)
    domain = domain_of(column, collection)
    return enum_label(domain, value, lang) if domain else value


def from_label(column: str, value: Any, collection: str | None = None) -> Any:
    """Back from a labelled export cell to the stored value (a re-import of what ``cell`` wrote)."""
    if not isinstance(value, str):
        return value
    domain = domain_of(column, collection)
    for stored, pair in ENUMS.get(domain or "", {}).items():
        if value in pair:
            return stored
    return value


def field_from_label(heading: str) -> str | None:
    """The field a labelled export heading names (Chinese or English label), or None."""
    return _BY_LABEL.get(heading.strip())


# Labels → field, for reading back labelled exports; a label two fields share is left out (ambiguous).
_seen: dict[str, set[str]] = {}
for _name, (_zh, _en) in FIELDS.items():
    for _label in (_zh, _en):
        _seen.setdefault(_label, set()).add(_name)
_BY_LABEL = {label: next(iter(names)) for label, names in _seen.items() if len(names) == 1}
