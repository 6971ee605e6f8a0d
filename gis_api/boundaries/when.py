"""Rule T1 (domain.md): a record of something that happened is not dated after today.

"Today" is the bureau's (``DIMING_TIMEZONE``, ``gis_api.clock``), not the server's. An inspection, a patrol, a
survey, the erection of a marker, a signature, a filing or the resolution of an issue happened on or before
today; a date still to come is a plan and has a field of its own (``next_inspection_planned_on``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from gis_api import clock
from gis_api.boundaries.schemas import Photo
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


def photos_not_after_today(photos: Sequence[Photo] | None, field: str = "photos") -> None:
    """Each photo's ``taken_on`` (a photo was taken, it is not planned)."""
    for i, p in enumerate(photos or ()):
        not_after_today(p.taken_on, f"{field}.{i}.taken_on", "a photo", "照片")
