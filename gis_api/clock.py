""""Today" for valid-time defaults, in the bureau's time zone rather than the server's.

A server clock in UTC would make the default ``as_of`` yesterday between 00:00 and 08:00 Beijing time.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from zoneinfo import ZoneInfo

from pydantic_settings import BaseSettings, SettingsConfigDict


class ClockSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIMING_", extra="ignore")

    timezone: str = "Asia/Shanghai"


@lru_cache(maxsize=1)
def zone() -> ZoneInfo:
    return ZoneInfo(ClockSettings().timezone)


def today() -> dt.date:
    return dt.datetime.now(zone()).date()


def today_sql() -> str:
    """``today()`` as a SQL expression. ``CURRENT_DATE`` is the session's date (UTC here), a day behind the bureau
    from 16:00 to 24:00 UTC: a record changed "today" would not be in force by it until midnight UTC."""
    return f"(now() AT TIME ZONE '{zone().key}')::date"
