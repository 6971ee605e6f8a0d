"""The plan's rules as checks (domain.md §6), each answered by one SQL statement over facilities in force:

- every township (乡镇/街道) has a social-work station (target 2025);
- every township has a public cemetery or an ash hall (a cemetery elsewhere that serves it is reported, not
  counted: the target is a facility in the township);
- land-saving (节地生态) burials reach the target share (P: a setting) in every cemetery that has burials.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from gis_api import clock
from gis_api.coverage.config import PlanningSettings

TOWNSHIP_RULE_SQL = """
WITH t AS (
    SELECT d.code, d.name FROM divisions d
    WHERE d.level = 'township' AND d.parent_code = :county
      AND d.valid_from <= :as_of AND (d.valid_to IS NULL OR d.valid_to > :as_of)),
f AS (
    SELECT f.facility_id, f.name, f.kind, f.division_code FROM facilities f
    WHERE f.kind = ANY(:kinds) AND f.status = 'open'
      AND f.valid_from <= :as_of AND (f.valid_to IS NULL OR f.valid_to > :as_of)),
served AS (
    SELECT s.code, json_agg(json_build_object('id', c.facility_id, 'name', fa.name) ORDER BY c.facility_id) AS by
    FROM cemeteries c CROSS JOIN LATERAL unnest(c.served_townships) AS s(code)
    JOIN facilities fa ON fa.facility_id = c.facility_id
      AND fa.valid_from <= :as_of AND (fa.valid_to IS NULL OR fa.valid_to > :as_of)
    WHERE c.valid_from <= :as_of AND (c.valid_to IS NULL OR c.valid_to > :as_of)
    GROUP BY s.code)
SELECT coalesce(json_agg(json_build_object(
    'code', t.code, 'name', t.name,
    'count', (SELECT count(*) FROM f WHERE f.division_code = t.code),
    'facilities', (SELECT coalesce(json_agg(json_build_object('id', f.facility_id, 'name', f.name, 'kind', f.kind)
                                            ORDER BY f.facility_id), '[]'::json)
                   FROM f WHERE f.division_code = t.code),
    'served_by', coalesce((SELECT s.by FROM served s WHERE s.code = t.code), '[]'::json)
) ORDER BY t.code), '[]'::json)::text FROM t"""

ECO_SQL = """
SELECT coalesce(json_agg(json_build_object(
    'id', c.facility_id, 'name', f.name, 'occupied_plots', c.occupied_plots, 'eco_burials', c.eco_burials,
    'eco_share', round(c.eco_burials::numeric / c.occupied_plots, 4)) ORDER BY c.facility_id), '[]'::json)::text
FROM cemeteries c JOIN facilities f ON f.facility_id = c.facility_id
  AND f.valid_from <= :as_of AND (f.valid_to IS NULL OR f.valid_to > :as_of)
WHERE c.occupied_plots > 0 AND c.valid_from <= :as_of AND (c.valid_to IS NULL OR c.valid_to > :as_of)"""


def _township_rule(session: Session, rule_id: str, kinds: list[str], description: str, description_zh: str,
                   county: str, as_of: dt.date) -> dict[str, Any]:
    rows = json.loads(session.execute(text(TOWNSHIP_RULE_SQL),
                                      {"county": county, "as_of": as_of, "kinds": kinds}).scalar_one())
    failing = [{"code": r["code"], "name": r["name"], "served_by": r["served_by"]} for r in rows if r["count"] == 0]
    return {"id": rule_id, "rule": "§6", "description": description, "description_zh": description_zh, "kinds": kinds,
            "passed": bool(rows) and not failing, "townships_total": len(rows),
            "townships_passing": len(rows) - len(failing), "failing": failing, "townships": rows}


def check(session: Session, as_of: dt.date | None = None, settings: PlanningSettings | None = None
          ) -> dict[str, Any]:
    s = settings or PlanningSettings()
    on = as_of or clock.today()
    social = _township_rule(
        session, "social_work_station_per_township", ["township_social_work_station"],
        "every township (乡镇/街道) has an operating social-work station", "每个乡镇（街道）建有社工站",
        s.county, on)
    cemetery = _township_rule(
        session, "cemetery_or_ash_hall_per_township", ["public_cemetery", "ash_hall"],
        "every township has a public cemetery or an ash hall", "每个乡镇至少有一处公益性公墓或骨灰堂", s.county, on)
    cems = json.loads(session.execute(text(ECO_SQL), {"as_of": on}).scalar_one())
    below = [c for c in cems if float(c["eco_share"]) < s.eco_burial_target]
    eco = {"id": "eco_burial_share", "rule": "§6", "status": "P",
           "description": f"land-saving burials are at least {s.eco_burial_target:.0%} of burials in each cemetery",
           "description_zh": f"节地生态安葬占比不低于{s.eco_burial_target:.0%}", "target": s.eco_burial_target,
           "setting": "DIMING_PLANNING_ECO_BURIAL_TARGET", "passed": not below, "failing": below,
           "cemeteries": cems}
    rules = [social, cemetery, eco]
    return {"as_of": on.isoformat(), "county": s.county, "passed": all(r["passed"] for r in rules), "rules": rules}
