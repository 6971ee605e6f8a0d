"""SQL for "in force today", today being the bureau's date (``gis_api.clock``), as the app takes it.

``CURRENT_DATE`` is the database session's date (UTC here): from 16:00 to 24:00 UTC the bureau (Asia/Shanghai)
is already on the next day, and a place written "from today" was not yet in force by ``CURRENT_DATE``.
"""

from gis_api.clock import today_sql

TODAY = today_sql()
AS_OF = f"valid_from <= {TODAY} AND (valid_to IS NULL OR valid_to > {TODAY})"
