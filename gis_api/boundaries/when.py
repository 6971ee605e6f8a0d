"""Rule T1 on the boundary side (the rule itself is ``gis_api.when``): past events are not dated after today.

"Today" is the bureau's (``DIMING_TIMEZONE``, ``gis_api.clock``), not the server's. An inspection, a patrol, a
survey, the erection of a marker, a signature, a filing or the resolution of an issue happened on or before
today; a date still to come is a plan and has a field of its own (``next_inspection_planned_on``).
"""

from __future__ import annotations

from collections.abc import Sequence

from gis_api.boundaries.schemas import Photo
from gis_api.when import not_after_today


def photos_not_after_today(photos: Sequence[Photo] | None, field: str = "photos") -> None:
    """Each photo's ``taken_on`` (a photo was taken, it is not planned)."""
    for i, p in enumerate(photos or ()):
        not_after_today(p.taken_on, f"{field}.{i}.taken_on", "a photo", "照片")
