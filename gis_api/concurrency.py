"""Optimistic concurrency for every versioned entity: ETag from (row id, version), If-Match on writes."""

from __future__ import annotations

import json
from collections.abc import Callable

from gis_api.errors import PreconditionFailed, PreconditionRequired


def make_etag(prefix: str, row_id: int, version: int) -> str:
    return f'"{prefix}{row_id}.v{version}"'


def require_if_match(
    current: str, if_match: str | None, *, what: str, what_zh: str, current_body: Callable[[], str]
) -> None:
    """428 without If-Match; 412 with the current representation when the client's ETag is stale."""
    if not if_match:
        raise PreconditionRequired(
            "If-Match with the ETag of the version you edited is required",
            "修改须携带 If-Match 请求头（所编辑版本的 ETag）", field="If-Match",
        )
    offered = [t.strip().removeprefix("W/") for t in if_match.split(",")]
    if current in offered or "*" in offered:
        return
    raise PreconditionFailed(
        f"{what} was changed by someone else (now {current}); reload and merge",
        f"{what_zh}已被他人修改（当前版本 {current}），请重新加载并合并",
        field="If-Match", extra={"current": json.loads(current_body()), "etag": current},
        headers={"ETag": current},
    )
