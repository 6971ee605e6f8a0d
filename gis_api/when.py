"""Rule T1 (docs/rules.md): a record of something that happened is not dated after today.

"Today" is the bureau's (``DIMING_TIMEZONE``, ``gis_api.clock``), not the server's. Registrations, namings,
procedure steps, inspections, patrols, surveys, signatures and filings happened on or before today; a date still to
come is a plan and has a field of its own (``valid_from``, ``effective_date``, ``next_inspection_planned_on``).
One function for every area, so the rule and its message cannot drift apart.
"""

from __future__ import annotations

import datetime as dt

from gis_api import clock
from gis_api.errors import InvalidInput
from gis_api.labels import field_label

RULE = "T1"


def not_after_today(value: dt.date | None, field: str, what: str, what_zh: str, *, plan_field: str | None = None
                    ) -> None:
    """422 (rule T1) when ``value`` lies after today; ``what`` names the event recorded ("the inspection")."""
    if value is None:
        return
    today = clock.today()
    if value <= today:
        return
    plan = f"; a planned date goes in {plan_field}" if plan_field else ""
    plan_zh = f"；计划日期请填写“{field_label(plan_field)}”" if plan_field else ""
    raise InvalidInput(
        f"{field} {value} is after today ({today}, {clock.zone().key}): {what} records something that has "
        f"happened, so it cannot be dated in the future{plan}",
        f"{field_label(field.rsplit('.', 1)[-1])} {value} 晚于今天（{today}）：{what_zh}记录的是已经发生的事，"
        f"日期不能在将来{plan_zh}",
        field=field, rule=RULE,
    )
