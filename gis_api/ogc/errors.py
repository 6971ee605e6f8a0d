"""OGC API error: a bad query parameter is a 400 (OGC API – Features Part 1), in the project's error shape."""

from __future__ import annotations

from gis_api.errors import DimingError


class BadRequest(DimingError):
    status = 400
    code = "invalid_parameter"


class NotAcceptable(DimingError):
    status = 406
    code = "not_acceptable"
