"""Backups a county can rely on: a verified logical round trip that notices tampering, swapping a restore in,
and point-in-time recovery from the WAL archive of an embedded cluster of the test's own."""

from __future__ import annotations

import io
import json
import os
import shutil
import tarfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gis_api import backup
from gis_api.cli import main
from gis_api.embedded_db import Cluster
from gis_api.settings import DatabaseSettings, Settings
from tests.conftest import TEST_DB

RESTORED = f"{TEST_DB}_restored"


def _url(settings: Settings, dbname: str) -> str:
    return make_url(settings.db.database_url or "").set(database=dbname).render_as_string(hide_password=False)


def _drop(settings: Settings, *names: str) -> None:
    eng = create_engine(_url(settings, "postgres"), isolation_level="AUTOCOMMIT")
    with eng.connect() as conn:
        for name in names:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    eng.dispose()


def _rows(url: str, sql: str) -> list[str]:
    eng = create_engine(url)
    with eng.connect() as conn:
        out = [str(r[0]) for r in conn.execute(text(sql))]
    eng.dispose()
    return out


def _rewrite(path: Path, manifest: dict[str, object] | None = None, flip_dump_byte: bool = False) -> None:
    """Write the backup again with an edited manifest or one byte of the dump changed."""
    with tarfile.open(path) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}  # type: ignore[union-attr]
    if manifest is not None:
        members[backup.MANIFEST_MEMBER] = json.dumps(manifest).encode()
    if flip_dump_byte:
        dump = bytearray(members[backup.DUMP_MEMBER])
        dump[len(dump) // 2] ^= 0x01
        members[backup.DUMP_MEMBER] = bytes(dump)
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def backup_file(settings: Settings, engine: object, tmp_path: Path) -> Iterator[tuple[Path, dict[str, object]]]:
    path = tmp_path / "diming.backup"
    manifest = backup.create_backup(settings.db, path)
    _drop(settings, RESTORED)
    yield path, manifest
    _drop(settings, RESTORED)


def test_round_trip_gives_identical_tables(settings: Settings, backup_file: tuple[Path, dict[str, object]],
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path, manifest = backup_file
    tables = manifest["tables"]
    assert isinstance(tables, dict)
    source = settings.db.database_url or ""
    assert tables["public.divisions"]["rows"] == int(_rows(source, "SELECT count(*) FROM divisions")[0]) > 280
    assert tables["public.audit_log"]["rows"] > 0
    assert manifest["alembic_revisions"] and manifest["postgis_version"]
    assert os.stat(path).st_mode & 0o077 == 0  # it holds password hashes

    result = backup.restore_backup(settings.db, path, into=RESTORED)
    assert result.ok, result.mismatches
    assert result.tables == tables
    # Independently of the checksum code: the rows read back as the same text, in key order.
    for sql in ("SELECT t::text FROM divisions t ORDER BY id", "SELECT t::text FROM places t ORDER BY id",
                "SELECT t::text FROM audit_log t ORDER BY id"):
        assert _rows(_url(settings, RESTORED), sql) == _rows(source, sql)
    # The database-level tuning that pg_dump leaves out came along.
    assert "jit=off" in _rows(_url(settings, "postgres"),
                              "SELECT unnest(setconfig) FROM pg_db_role_setting s JOIN pg_database d "
                              f"ON d.oid = s.setdatabase WHERE d.datname = '{RESTORED}'")

    # One changed name in the restored copy is caught by the content checksum, not just by counts.
    eng = create_engine(_url(settings, RESTORED))
    with eng.begin() as conn:
        conn.execute(text("ALTER TABLE places DISABLE TRIGGER USER"))
        conn.execute(text("UPDATE places SET name = name || '改' WHERE id = (SELECT min(id) FROM places)"))
    eng.dispose()
    changed = backup.verify_database(backup.server_for(settings.db), RESTORED, manifest)
    assert changed.mismatches == ["public.places: same row count "
                                  f"({tables['public.places']['rows']}) but different content (checksum)"]


def test_restore_refuses_the_live_database_and_an_existing_one(
        settings: Settings, backup_file: tuple[Path, dict[str, object]]) -> None:
    path, _ = backup_file
    with pytest.raises(backup.BackupError, match="refusing to restore over the live database"):
        backup.restore_backup(settings.db, path, into=TEST_DB)
    with pytest.raises(backup.BackupError, match="already exists"):
        backup.restore_backup(settings.db, path, into="postgres")


def test_tampered_manifest_fails_verification(settings: Settings, backup_file: tuple[Path, dict[str, object]],
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    path, manifest = backup_file
    tables = manifest["tables"]
    assert isinstance(tables, dict)
    divisions = tables["public.divisions"]["rows"]
    tables["public.divisions"]["rows"] += 1
    tables["public.places"]["checksum"] = "0" * 32
    _rewrite(path, manifest=manifest)
    monkeypatch.setenv("DIMING_DATABASE_URL", settings.db.database_url or "")
    assert main(["restore", str(path), "--into", RESTORED]) == 1
    out = capsys.readouterr().out
    assert f"MISMATCH public.divisions: {divisions} rows, the backup had {divisions + 1}" in out
    assert "MISMATCH public.places: same row count" in out
    assert "VERIFICATION FAILED: 2 problem(s)" in out


def test_tampered_dump_is_refused_before_restoring(settings: Settings,
                                                   backup_file: tuple[Path, dict[str, object]]) -> None:
    path, _ = backup_file
    _rewrite(path, flip_dump_byte=True)
    with pytest.raises(backup.BackupError, match="does not match its manifest"):
        backup.restore_backup(settings.db, path, into=RESTORED)
    assert _rows(_url(settings, "postgres"), f"SELECT 1 FROM pg_database WHERE datname = '{RESTORED}'") == []


# -- an embedded cluster of this module's own, archiving WAL --------------------------------------------------

def _scratch_home() -> Path:
    # As root the server runs as 'postgres', which cannot enter pytest's private tmp dirs.
    base = Path("/var/lib/diming") if os.geteuid() == 0 else Path.home() / ".cache" / "diming-tests"
    return base / f"test-bk-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="module")
def archiving() -> Iterator[DatabaseSettings]:
    home = _scratch_home()
    db = DatabaseSettings(home=home, wal_archive=home / "archive", database_url=None)
    cluster = Cluster.from_settings(db)
    try:
        cluster.up()  # first start with archiving: takes the first base backup by itself
        cluster.ensure_database("diming")
        yield db
    finally:
        for sub in sorted((home / "pitr").glob("*")) if (home / "pitr").exists() else []:
            Cluster(home=sub, bindir=cluster.bindir, run_as=cluster.run_as).down()
        cluster.down()
        shutil.rmtree(home, ignore_errors=True)


def _env(monkeypatch: pytest.MonkeyPatch, db: DatabaseSettings) -> None:
    monkeypatch.delenv("DIMING_DATABASE_URL", raising=False)
    monkeypatch.setenv("DIMING_HOME", str(db.home))
    monkeypatch.setenv("DIMING_WAL_ARCHIVE", str(db.wal_archive))


def _psql(cluster: Cluster, sql: str, dbname: str = "diming") -> str:
    return backup._sql(cluster, dbname, sql)


def test_unset_archive_changes_nothing() -> None:
    plain = Cluster(home=Path("/x"), bindir=Path("/b"), run_as=None)
    assert plain.server_options() == {"unix_socket_directories": str(plain.socket_dir)}
    archiving = Cluster(home=Path("/x"), bindir=Path("/b"), run_as=None, wal_archive=Path("/arch"))
    assert archiving.server_options()["archive_mode"] == "on"
    assert "/arch/wal/%f.gz" in archiving.server_options()["archive_command"]


def test_backup_and_replace_in_the_embedded_cluster(archiving: DatabaseSettings, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    cluster = Cluster.from_settings(archiving)
    _psql(cluster, "CREATE TABLE IF NOT EXISTS register (id serial PRIMARY KEY, name text NOT NULL); "
                   "TRUNCATE register; INSERT INTO register (name) VALUES ('店埠镇'), ('撮镇镇')")
    _env(monkeypatch, archiving)
    path = tmp_path / "embedded.backup"
    assert main(["backup", str(path)]) == 0
    _psql(cluster, "INSERT INTO register (name) VALUES ('after the backup')")

    # --replace refuses while someone is connected to the live database, and keeps the verified restore.
    eng = create_engine(cluster.url("diming"))
    with eng.connect() as held:
        held.execute(text("SELECT 1"))
        with pytest.raises(backup.BackupError, match="stop the service"):
            backup.restore_backup(archiving, path, into="diming_swap", replace=True)
    eng.dispose()
    assert _psql(cluster, "SELECT count(*) FROM register", "diming_swap") == "2"
    _psql(cluster, "DROP DATABASE diming_swap", "postgres")

    assert main(["restore", str(path), "--replace"]) == 0
    out = capsys.readouterr().out
    assert "swapped in" in out
    assert _psql(cluster, "SELECT string_agg(name, ',' ORDER BY id) FROM register") == "店埠镇,撮镇镇"
    aside = _psql(cluster, "SELECT datname FROM pg_database WHERE datname LIKE 'diming_before_restore_%'", "postgres")
    assert _psql(cluster, "SELECT count(*) FROM register", aside) == "3"  # the old one is kept, not dropped
    # The sequence came along: the next insert does not collide.
    _psql(cluster, "INSERT INTO register (name) VALUES ('next')")


def test_point_in_time_recovery_between_two_edits(archiving: DatabaseSettings, monkeypatch: pytest.MonkeyPatch,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    cluster = Cluster.from_settings(archiving)
    _env(monkeypatch, archiving)
    assert main(["backup", "--base"]) == 0
    base_dir = capsys.readouterr().out.split()[2].rstrip(":")
    _psql(cluster, "CREATE TABLE edits (id int PRIMARY KEY, what text NOT NULL)")
    _psql(cluster, "INSERT INTO edits VALUES (1, 'edit 1: 店埠镇 boundary corrected')")
    moment = _psql(cluster, "SELECT clock_timestamp()")
    time.sleep(0.2)
    _psql(cluster, "INSERT INTO edits VALUES (2, 'edit 2: made after the chosen moment')")

    into = archiving.home / "pitr" / "between"
    assert main(["restore", "--to-time", moment, "--into-dir", str(into)]) == 0
    out = capsys.readouterr().out
    assert f"from base backup {Path(base_dir).name}" in out
    assert "database diming:" in out and "all readable" in out

    # The recovered cluster is stopped; it starts on its own socket next to the live one.
    restored = Cluster(home=into, bindir=cluster.bindir, run_as=cluster.run_as)
    restored.up()
    assert restored.socket_dir != cluster.socket_dir
    assert _psql(restored, "SELECT string_agg(id::text, ',' ORDER BY id) FROM edits") == "1"
    assert _psql(restored, "SELECT pg_is_in_recovery()") == "f"  # promoted: writable
    assert _psql(cluster, "SELECT count(*) FROM edits") == "2"  # the live cluster is untouched
    restored.down()

    # Swap it in: the live cluster now has edit 1 only, and archiving goes on along the new timeline.
    assert main(["restore", "--swap-in", str(into)]) == 0
    assert "new base backup for the new timeline" in capsys.readouterr().out
    assert _psql(cluster, "SELECT string_agg(id::text, ',' ORDER BY id) FROM edits") == "1"
    assert (archiving.wal_archive / "wal" / "00000002.history.gz").exists()  # type: ignore[operator]
    assert len(list(archiving.home.glob("pgdata.before-pitr-*"))) == 1  # the old data is kept
    _psql(cluster, "INSERT INTO edits VALUES (3, 'edit 3: after the swap')")

    # 'latest' replays everything archived, on the new timeline.
    latest = archiving.home / "pitr" / "latest"
    assert main(["restore", "--to-time", "latest", "--into-dir", str(latest), "--keep-running"]) == 0
    assert "timeline 3" in capsys.readouterr().out
    again = Cluster(home=latest, bindir=cluster.bindir, run_as=cluster.run_as)
    assert _psql(again, "SELECT string_agg(id::text, ',' ORDER BY id) FROM edits") == "1,3"
    again.down()


def test_prune_keeps_the_newest_base_backup_and_the_wal_it_needs(archiving: DatabaseSettings,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    archive = archiving.wal_archive
    assert archive is not None
    backups = backup.base_backups(archive)
    assert len(backups) >= 3  # the automatic one, the explicit one, the one after the swap
    newest = Path(backups[-1]["dir"])
    first_needed = backup._start_segment(newest)

    def segments() -> list[str]:
        return sorted(p.name[:24] for p in (archive / "wal").glob("*.gz") if len(p.name) == 27)

    assert segments()[0] < first_needed
    _env(monkeypatch, archiving)
    assert main(["backup", "--prune", "1"]) == 0
    assert [b["dir"] for b in backup.base_backups(archive)] == [str(newest)]
    assert segments()[0][8:] == first_needed[8:]  # older segments gone, the newest backup's WAL kept
    assert (archive / "wal" / "00000002.history.gz").exists()  # history files are never pruned


def test_point_in_time_before_any_base_backup_is_refused(archiving: DatabaseSettings) -> None:
    with pytest.raises(backup.BackupError, match="no base backup"):
        backup.restore_to_time(archiving, backup.parse_target_time("2000-01-01 00:00:00+08", "UTC"))
    with pytest.raises(backup.BackupError, match="in the future"):
        backup.restore_to_time(archiving, backup.parse_target_time("2999-01-01 00:00:00", "Asia/Shanghai"))
