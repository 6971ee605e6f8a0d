"""Attachment files in the logical backup (gis_api/backup.py): the files of the rows in the dumped snapshot go
into the tar as ``attachments/<sha[:2]>/<sha>/<file>``, listed in the manifest; a restore checks every original
against its name (its SHA-256) and puts back the files the attachments directory lacks (content-addressed: an
existing file is the same file, so nothing is ever overwritten)."""

from __future__ import annotations

import hashlib
import re
import tarfile
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from gis_api.field.storage import FILES, file_dir, root, write_atomic

PREFIX = "attachments"
MEMBER_RE = re.compile(r"^attachments/([0-9a-f]{2})/([0-9a-f]{64})/(original|public|thumb\.jpg)$")


def listing(conn: Connection) -> list[str]:
    """The attachments of the snapshot ``conn`` reads (none before the field tables existed)."""
    if conn.execute(text("SELECT to_regclass('public.field_attachments')")).scalar() is None:
        return []
    return [str(r[0]) for r in conn.execute(text("SELECT sha256 FROM field_attachments ORDER BY sha256"))]


def manifest_entry(shas: list[str]) -> dict[str, Any]:
    """What the backup holds; a file missing or not matching its hash fails the backup (it could not be restored)."""
    from gis_api.backup import BackupError

    files: dict[str, int] = {}
    bad: list[str] = []
    for sha in shas:
        original = file_dir(sha) / "original"
        try:
            with original.open("rb") as fh:
                ok = hashlib.file_digest(fh, "sha256").hexdigest() == sha
        except OSError:
            ok = False
        if not ok:
            bad.append(sha)
        else:
            files[sha] = original.stat().st_size
    if bad:
        raise BackupError(f"{len(bad)} attachment file(s) missing or damaged under {root()}: "
                          f"{', '.join(s[:12] for s in bad[:10])}…; restore them (or their rows) before backing up")
    return {"dir": PREFIX, "count": len(files), "bytes": sum(files.values()), "files": files}


def add_to_tar(tar: tarfile.TarFile, entry: dict[str, Any]) -> None:
    for sha in entry.get("files", {}):
        d = file_dir(sha)
        for name in FILES:
            if (d / name).is_file():
                tar.add(d / name, arcname=f"{PREFIX}/{sha[:2]}/{sha}/{name}")


def restore(path: Any, manifest: dict[str, Any]) -> list[str]:
    """Put the backup's attachment files back and check them; the problems found (empty: all there and intact)."""
    entry = manifest.get("attachments")
    if not entry:
        return []
    wanted: dict[str, int] = dict(entry.get("files", {}))
    verified: set[str] = set()
    problems: list[str] = []
    base = root()
    with tarfile.open(path, "r:") as tar:
        for member in tar:
            m = MEMBER_RE.match(member.name)
            if m is None or not member.isfile() or m.group(2)[:2] != m.group(1):
                continue
            sha, name = m.group(2), m.group(3)
            src = tar.extractfile(member)
            if src is None:
                continue
            data = src.read()
            if name == "original":
                if hashlib.sha256(data).hexdigest() != sha or len(data) != wanted.get(sha, len(data)):
                    problems.append(f"attachment {sha[:12]}…: the backed-up file does not match its hash")
                    continue
                verified.add(sha)
            target = file_dir(sha, base) / name
            if not target.exists():
                write_atomic(target, data)
    problems += [f"attachment {sha[:12]}…: not in the backup" for sha in sorted(set(wanted) - verified)]
    return problems
