"""Where attachment files live: ``DIMING_ATTACHMENTS_DIR``, default ``<DIMING_HOME>/attachments`` (light module:
the backup imports it)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from gis_api.settings import default_home

FILES = ("original", "public", "thumb.jpg")


class AttachmentSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="DIMING_", extra="ignore")

    attachments_dir: Path | None = None  # DIMING_ATTACHMENTS_DIR
    home: Path | None = None  # DIMING_HOME


def root() -> Path:
    """Read at each call: tests and a restore point it elsewhere through the environment."""
    s = AttachmentSettings()
    return s.attachments_dir or ((s.home or default_home()) / "attachments")


def file_dir(sha: str, base: Path | None = None) -> Path:
    return (base or root()) / sha[:2] / sha


def write_atomic(path: Path, data: bytes) -> None:
    """Whole or not at all: write a temporary file beside it, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
