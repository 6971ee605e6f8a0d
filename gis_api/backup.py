"""Backups a county can rely on: verified logical backups and point-in-time recovery.

Logical backup (``diming backup FILE`` / ``diming restore FILE``)
    FILE is one tar archive (mode 0600: it holds password hashes) with these members:

    - ``database.dump``: ``pg_dump --format=custom`` of the application database;
    - ``attachments/…``: the attachment files of the dumped rows (gis_api/field/archive.py, checked on restore);
    - ``manifest.json``: when and from what it was taken (server, PostGIS, extensions, alembic revision,
      pg_dump version), the dump's size and SHA-256, the database-level settings, and for every table its
      row count and a content checksum.

    The checksums are computed in the very snapshot pg_dump dumps (``pg_export_snapshot`` +
    ``pg_dump --snapshot``), so they hold even while officers keep editing. A table's checksum is the sum,
    over its rows, of the row's ``md5(row::text)`` read as two 64-bit numbers: it needs no sort, no primary
    key and no collation (so it is the same on any server), and it is not bounded by PostgreSQL's 1 GB
    string limit. It detects lost, added and altered rows; it is an integrity check, not a signature.

    A restore always goes into a NEW database (``diming_restored_<timestamp>`` or ``--into NAME``), which
    is then verified table by table against the manifest; ``--replace`` renames it into place only after
    it verified and only when nothing is connected to the live database.

Point-in-time recovery of the embedded cluster (``DIMING_WAL_ARCHIVE=dir``)
    ``dir/wal`` receives every WAL segment (gzipped) from the server's ``archive_command``;
    ``dir/base/<timestamp>/`` holds base backups from ``pg_basebackup`` (one is taken automatically when
    archiving is first enabled; ``diming backup --base`` takes another). ``diming restore --to-time T``
    unpacks the newest base backup finished before T into a new cluster home, checks it with
    ``pg_verifybackup``, replays the archived WAL up to T on its own socket, promotes it and verifies that
    every table reads back; docs/operations.md says how to swap it in.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.engine import Connection, Engine, make_url

from gis_api.db import database_url, make_engine
from gis_api.embedded_db import DB_NAME_RE, Cluster, EmbeddedDbError, find_bindir, restore_command
from gis_api.field import archive as field_archive
from gis_api.settings import DatabaseSettings

FORMAT = "diming-backup/1"
DUMP_MEMBER = "database.dump"
MANIFEST_MEMBER = "manifest.json"

# Fixed output settings, so a row prints the same text on the backed-up and the restored server.
CHECKSUM_SESSION = (
    "SET LOCAL timezone = 'UTC'",
    "SET LOCAL datestyle = 'ISO, YMD'",
    "SET LOCAL intervalstyle = 'postgres'",
    "SET LOCAL extra_float_digits = 1",
    "SET LOCAL bytea_output = 'hex'",
)

TABLES_SQL = """
SELECT format('%I.%I', n.nspname, c.relname)
FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind = 'r' AND c.relpersistence <> 't'
  AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
  -- tables of extensions (spatial_ref_sys …) are re-created by CREATE EXTENSION, not restored
  AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                  AND d.deptype = 'e')
ORDER BY 1
"""

# Sequences that own a column (serial / identity) with that column, to check no future insert collides.
OWNED_SEQUENCES_SQL = """
SELECT s.oid::regclass::text, t.oid::regclass::text, quote_ident(a.attname)
FROM pg_class s
JOIN pg_sequence q ON q.seqrelid = s.oid AND q.seqincrement > 0
JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid
                AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
JOIN pg_class t ON t.oid = d.refobjid
JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
WHERE s.relkind = 'S' AND a.atttypid IN ('int2'::regtype, 'int4'::regtype, 'int8'::regtype)
ORDER BY 1
"""


class BackupError(RuntimeError):
    """A backup or restore could not be made or does not match its manifest; the message says why."""


# -- where the server is ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Server:
    """One PostgreSQL server as seen by both SQLAlchemy and the libpq command-line tools."""

    url: str  # SQLAlchemy URL of the application database
    bindir: Path
    cluster: Cluster | None  # the embedded cluster, or None for DIMING_DATABASE_URL

    @property
    def dbname(self) -> str:
        return str(make_url(self.url).database)

    def url_for(self, dbname: str) -> str:
        return make_url(self.url).set(database=dbname).render_as_string(hide_password=False)

    def conninfo(self, dbname: str) -> tuple[str, dict[str, str]]:
        """A libpq connection string for the tools, and the environment carrying the password (so it
        never shows in ``ps``)."""
        url = make_url(self.url)
        params: dict[str, Any] = {k: v for k, v in url.query.items() if isinstance(v, str)}
        if url.host:
            params["host"] = url.host
        if url.port:
            params["port"] = str(url.port)
        if url.username:
            params["user"] = url.username
        params["dbname"] = dbname
        env = dict(os.environ)
        if url.password:
            env["PGPASSWORD"] = str(url.password)
        return " ".join(f"{k}={_conninfo_quote(str(v))}" for k, v in params.items()), env

    def tool(self, name: str) -> str:
        return str(self.bindir / name)


def _conninfo_quote(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("'", "\\'")
    return f"'{escaped}'"


def server_for(settings: DatabaseSettings) -> Server:
    """The application database's server: ``DIMING_DATABASE_URL`` or the embedded cluster (started)."""
    cluster = None
    if not settings.database_url:
        cluster = Cluster.from_settings(settings)
        cluster.up()
        cluster.ensure_database(settings.db_name)
    return Server(url=database_url(settings), bindir=find_bindir(settings.pg_bindir), cluster=cluster)


@contextmanager
def _engine(url: str) -> Iterator[Engine]:
    engine = make_engine(url, 1)
    try:
        yield engine
    finally:
        engine.dispose()


@contextmanager
def _admin(server: Server) -> Iterator[Connection]:
    """An autocommit connection to the maintenance database (CREATE/ALTER DATABASE)."""
    engine = create_engine(server.url_for("postgres"), isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            yield conn
    finally:
        engine.dispose()


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(args, capture_output=True, text=True, env=env, check=False)
    if proc.returncode != 0:
        raise BackupError(f"{Path(args[0]).name} failed (exit {proc.returncode}):\n{proc.stderr.strip()}")
    return proc


def _now_tag() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y%m%d_%H%M%S")


# -- table checksums ----------------------------------------------------------------------------------------

def table_checksums(conn: Connection) -> dict[str, dict[str, Any]]:
    """Row count and content checksum of every table, read in the connection's current transaction."""
    for statement in CHECKSUM_SESSION:
        conn.execute(text(statement))
    out: dict[str, dict[str, Any]] = {}
    for (table,) in conn.execute(text(TABLES_SQL)).all():
        # Two 64-bit halves of each row's md5, summed as numeric (exact, order-free, no overflow).
        rows, high, low = conn.execute(text(
            "SELECT count(*), coalesce(sum(('x' || substr(h, 1, 16))::bit(64)::bigint), 0)::text, "
            "coalesce(sum(('x' || substr(h, 17, 16))::bit(64)::bigint), 0)::text "
            f"FROM (SELECT md5(t::text) AS h FROM {table} t) s"
        )).one()
        checksum = f"{int(high) % 2**64:016x}{int(low) % 2**64:016x}"
        out[str(table)] = {"rows": int(rows), "checksum": checksum}
    return out


def sequence_problems(conn: Connection) -> list[str]:
    """Sequences that would hand out a value already used in the column they feed."""
    problems = []
    for seq, table, column in conn.execute(text(OWNED_SEQUENCES_SQL)).all():
        last, called, top = conn.execute(text(
            f"SELECT (SELECT last_value FROM {seq}), (SELECT is_called FROM {seq}), "
            f"(SELECT max({column}) FROM {table})"
        )).one()
        if top is not None and (last < top or (last == top and not called)):
            problems.append(f"sequence {seq} is at {last} but {table}.{column} already holds {top}")
    return problems


def _server_facts(conn: Connection) -> dict[str, Any]:
    facts: dict[str, Any] = {
        "server_version": conn.execute(text("SHOW server_version")).scalar_one(),
        "extensions": dict(conn.execute(text("SELECT extname, extversion FROM pg_extension ORDER BY 1")).all()),
        "postgis_version": None,
        "alembic_revisions": [],
        "database_settings": [],
    }
    if "postgis" in facts["extensions"]:
        facts["postgis_version"] = conn.execute(text("SELECT postgis_lib_version()")).scalar_one()
    if conn.execute(text("SELECT to_regclass('public.alembic_version') IS NOT NULL")).scalar_one():
        facts["alembic_revisions"] = sorted(
            conn.execute(text("SELECT version_num FROM alembic_version")).scalars().all()
        )
    # ALTER DATABASE … SET (jit = off …) belongs to the database, not to what pg_dump dumps.
    facts["database_settings"] = sorted(conn.execute(text(
        "SELECT unnest(setconfig) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
        "WHERE d.datname = current_database() AND s.setrole = 0"
    )).scalars().all())
    return facts


# -- logical backup -----------------------------------------------------------------------------------------

def _sha256(path: Path) -> str:
    with path.open("rb") as fh:
        return hashlib.file_digest(fh, "sha256").hexdigest()


def create_backup(settings: DatabaseSettings, target: Path) -> dict[str, Any]:
    """Dump the application database into the archive ``target``; return its manifest."""
    server = server_for(settings)
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".diming-backup-") as tmp:
        dump = Path(tmp) / DUMP_MEMBER
        conninfo, env = server.conninfo(server.dbname)
        with _engine(server.url) as engine, engine.connect() as conn:
            conn = conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            with conn.begin():
                snapshot = conn.execute(text("SELECT pg_export_snapshot()")).scalar_one()
                created_at = conn.execute(text("SELECT now()")).scalar_one()
                # pg_dump reads the same snapshot while we checksum it (two cores, one consistent state).
                dump_proc = subprocess.Popen(
                    [server.tool("pg_dump"), "--format=custom", f"--snapshot={snapshot}", "--no-password",
                     "--lock-wait-timeout=60s", f"--file={dump}", f"--dbname={conninfo}"],
                    env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                )
                try:
                    facts = _server_facts(conn)
                    tables = table_checksums(conn)
                    attachments = field_archive.listing(conn)  # the files of this snapshot's rows
                finally:
                    _out, err = dump_proc.communicate()
            if dump_proc.returncode != 0:
                raise BackupError(f"pg_dump failed (exit {dump_proc.returncode}):\n{err.strip()}")
        pg_dump_version = _run([server.tool("pg_dump"), "--version"]).stdout.strip()
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "created_at": created_at.astimezone(dt.UTC).isoformat(),
            "database": server.dbname,
            **facts,
            "pg_dump_version": pg_dump_version,
            "dump": {"member": DUMP_MEMBER, "bytes": dump.stat().st_size, "sha256": _sha256(dump)},
            "tables": tables,
            "total_rows": sum(t["rows"] for t in tables.values()),
            "attachments": field_archive.manifest_entry(attachments),
        }
        manifest_path = Path(tmp) / MANIFEST_MEMBER
        manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=2, default=str) + "\n")
        partial = Path(tmp) / "archive.tar"
        fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            with tarfile.open(fileobj=fh, mode="w", format=tarfile.PAX_FORMAT) as tar:
                tar.add(manifest_path, arcname=MANIFEST_MEMBER)  # first, so a reader finds it quickly
                tar.add(dump, arcname=DUMP_MEMBER)
                field_archive.add_to_tar(tar, manifest["attachments"])
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(partial, target)  # never a half-written backup under the final name
    manifest["seconds"] = round(time.monotonic() - started, 2)
    manifest["file_bytes"] = target.stat().st_size
    return manifest


def read_manifest(path: Path) -> dict[str, Any]:
    try:
        with tarfile.open(path, "r:") as tar:
            member = tar.extractfile(MANIFEST_MEMBER)
            if member is None:
                raise KeyError(MANIFEST_MEMBER)
            manifest: dict[str, Any] = json.loads(member.read().decode("utf-8"))
    except (OSError, tarfile.TarError, KeyError, ValueError) as exc:
        raise BackupError(f"{path} is not a readable Diming backup: {exc}") from exc
    if manifest.get("format") != FORMAT:
        raise BackupError(f"{path}: unknown backup format {manifest.get('format')!r} (expected {FORMAT})")
    return manifest


def _extract_dump(path: Path, manifest: dict[str, Any], into: Path) -> Path:
    """Unpack the dump and check its size and SHA-256 against the manifest before anything is restored."""
    dump = into / DUMP_MEMBER
    digest = hashlib.sha256()
    try:
        with tarfile.open(path, "r:") as tar:
            src = tar.extractfile(DUMP_MEMBER)
            if src is None:
                raise KeyError(DUMP_MEMBER)
            with dump.open("wb") as out:
                for chunk in iter(lambda: src.read(1 << 20), b""):
                    digest.update(chunk)
                    out.write(chunk)
    except (OSError, tarfile.TarError, KeyError) as exc:
        raise BackupError(f"{path}: cannot read the dump: {exc}") from exc
    expected = manifest["dump"]
    if dump.stat().st_size != expected["bytes"] or digest.hexdigest() != expected["sha256"]:
        raise BackupError(
            f"{path}: the dump does not match its manifest (sha256 {digest.hexdigest()[:16]}…, "
            f"expected {str(expected['sha256'])[:16]}…): the file is damaged or was altered; nothing restored"
        )
    return dump


@dataclass
class Verification:
    database: str
    tables: dict[str, dict[str, Any]]
    mismatches: list[str] = field(default_factory=list)
    seconds: float = 0.0
    replaced: str | None = None  # the live database's new name when --replace swapped the restore in

    @property
    def ok(self) -> bool:
        return not self.mismatches

    @property
    def rows(self) -> int:
        return sum(int(t["rows"]) for t in self.tables.values())


def compare(expected: dict[str, dict[str, Any]], actual: dict[str, dict[str, Any]]) -> list[str]:
    problems = []
    for table in sorted(set(expected) | set(actual)):
        want, got = expected.get(table), actual.get(table)
        if want is None:
            problems.append(f"{table}: not in the backup but present after restore")
        elif got is None:
            problems.append(f"{table}: missing after restore")
        elif int(want["rows"]) != int(got["rows"]):
            problems.append(f"{table}: {got['rows']} rows, the backup had {want['rows']}")
        elif want["checksum"] != got["checksum"]:
            problems.append(f"{table}: same row count ({got['rows']}) but different content (checksum)")
    return problems


def verify_database(server: Server, dbname: str, manifest: dict[str, Any]) -> Verification:
    with _engine(server.url_for(dbname)) as engine, engine.connect() as conn, conn.begin():
        tables = table_checksums(conn)
        problems = compare(manifest["tables"], tables) + sequence_problems(conn)
        revisions = _server_facts(conn)["alembic_revisions"]
    if revisions != manifest.get("alembic_revisions", []):
        problems.append(f"alembic revision {revisions}, the backup had {manifest.get('alembic_revisions')}")
    return Verification(database=dbname, tables=tables, mismatches=problems)


def _check_name(name: str) -> str:
    if not DB_NAME_RE.fullmatch(name):
        raise BackupError(f"invalid database name {name!r} (lower-case letters, digits, _; at most 63)")
    return name


def _database_exists(conn: Connection, name: str) -> bool:
    return bool(conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).scalar())


def restore_backup(settings: DatabaseSettings, path: Path, into: str | None = None, replace: bool = False,
                   no_owner: bool = False, jobs: int = 2) -> Verification:
    """Restore ``path`` into a new database, verify it against the manifest, optionally swap it in.

    Never writes into an existing database. On a verification mismatch the restored database is kept for
    inspection and nothing is swapped.
    """
    started = time.monotonic()
    manifest = read_manifest(path)
    server = server_for(settings)
    live = server.dbname
    name = _check_name(into or f"{live}_restored_{_now_tag()}")
    if name == live:
        raise BackupError(
            f"refusing to restore over the live database {live!r}; restore into a new one and use --replace"
        )
    with _admin(server) as admin:
        if _database_exists(admin, name):
            raise BackupError(f"database {name!r} already exists; choose another --into or drop it first")
    with tempfile.TemporaryDirectory(prefix="diming-restore-") as tmp:
        dump = _extract_dump(path, manifest, Path(tmp))
        with _admin(server) as admin:
            admin.execute(text(f'CREATE DATABASE "{name}" TEMPLATE template0 ENCODING \'UTF8\''))
        conninfo, env = server.conninfo(name)
        args = [server.tool("pg_restore"), "--exit-on-error", "--no-password", f"--jobs={max(1, jobs)}",
                f"--dbname={conninfo}"]
        if no_owner:
            args.append("--no-owner")
        try:
            _run([*args, str(dump)], env=env)
        except BackupError as exc:
            with _admin(server) as admin:
                admin.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            raise BackupError(f"{exc}\n(the partly restored database {name!r} was dropped)") from exc
    with _admin(server) as admin:
        for setting in manifest.get("database_settings", []):
            key, _, value = str(setting).partition("=")
            if re.fullmatch(r"[a-z_.]+", key):
                admin.execute(text(f'ALTER DATABASE "{name}" SET {key} = :v'), {"v": value})
    result = verify_database(server, name, manifest)
    result.mismatches += field_archive.restore(path, manifest)  # attachment files, checked by their hashes
    if result.ok and replace:
        result.replaced = swap_in(server, name, live)
    result.seconds = round(time.monotonic() - started, 2)
    return result


def swap_in(server: Server, restored: str, live: str) -> str:
    """Rename ``live`` aside and ``restored`` into its place, in one transaction; return the old one's name."""
    aside = f"{live}_before_restore_{_now_tag()}"[:63]
    with _admin(server) as admin:
        users = admin.execute(text(
            "SELECT count(*), string_agg(DISTINCT coalesce(nullif(application_name, ''), usename), ', ') "
            "FROM pg_stat_activity WHERE datname = :d AND pid <> pg_backend_pid()"), {"d": live}).one()
        if users[0]:
            raise BackupError(
                f"{users[0]} connection(s) to {live!r} ({users[1]}); stop the service (diming serve) first. "
                f"The verified restore stays in {restored!r}."
            )
    # Both renames in one transaction: the live name is never missing, nor taken twice.
    engine = create_engine(server.url_for("postgres"))
    try:
        with engine.begin() as conn:
            if _database_exists(conn, live):
                conn.execute(text(f'ALTER DATABASE "{live}" RENAME TO "{aside}"'))
            conn.execute(text(f'ALTER DATABASE "{restored}" RENAME TO "{live}"'))
    finally:
        engine.dispose()
    return aside


def check_backup(settings: DatabaseSettings, path: Path) -> Verification:
    """Restore into a scratch database, verify, drop it: proves the file can be restored."""
    name = f"diming_check_{_now_tag()}_{os.getpid()}"[:63]
    try:
        return restore_backup(settings, path, into=name)
    finally:
        server = server_for(settings)
        with _admin(server) as admin:
            admin.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# -- WAL archive and base backups ---------------------------------------------------------------------------

def _embedded(settings: DatabaseSettings) -> Cluster:
    if settings.database_url:
        raise BackupError(
            "point-in-time recovery covers the embedded cluster; for DIMING_DATABASE_URL use that server's "
            "own WAL archiving (pgBackRest, Barman …) — 'diming backup FILE' works with any server"
        )
    return Cluster.from_settings(settings)


def _sql(cluster: Cluster, dbname: str, sql: str) -> str:
    psql = [str(cluster.bindir / "psql"), *cluster.libpq_args(dbname), "-tAqX", "-v", "ON_ERROR_STOP=1",
            "-c", sql]
    return _run(psql).stdout.strip()


def base_backups(archive: Path) -> list[dict[str, Any]]:
    """Finished base backups in the archive, oldest first (each with its directory)."""
    found = []
    for info in sorted((archive / "base").glob("*/info.json")):
        try:
            data = json.loads(info.read_text())
        except (OSError, ValueError):
            continue
        data["dir"] = str(info.parent)
        found.append(data)
    return sorted(found, key=lambda d: str(d["finished_at"]))


def base_backup(cluster: Cluster) -> dict[str, Any]:
    """Take a base backup of the running cluster into ``<archive>/base/<timestamp>``."""
    archive = cluster.wal_archive
    if archive is None:
        raise BackupError("set DIMING_WAL_ARCHIVE=dir (and restart the cluster) before taking base backups")
    if _sql(cluster, "postgres", "SHOW archive_mode") != "on":
        raise BackupError("the running cluster does not archive WAL yet; restart it: diming db down && diming db up")
    tag = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")
    partial, final = archive / "base" / f".{tag}.partial", archive / "base" / tag
    started_at = _sql(cluster, "postgres", "SELECT now()")
    # As the server's user, so the files belong to it and a later recovery can read them.
    cluster._run(["mkdir", "-m", "0700", str(partial)])
    cluster._run([
        str(cluster.bindir / "pg_basebackup"), "-h", str(cluster.socket_dir), "-U", "diming", "--no-password",
        "-D", str(partial), "--format=tar", "--compress=gzip:1", "--wal-method=stream",
        "--checkpoint=fast", f"--label=diming {tag}",
    ])
    finished_at = _sql(cluster, "postgres", "SELECT now()")
    info = {"label": f"diming {tag}", "started_at": started_at, "finished_at": finished_at,
            "server_version": _sql(cluster, "postgres", "SHOW server_version"),
            "bytes": sum(p.stat().st_size for p in partial.iterdir())}
    (partial / "info.json").write_text(json.dumps(info, indent=2) + "\n")
    cluster._own(partial / "info.json")
    partial.rename(final)  # only a complete backup carries a final name
    info["dir"] = str(final)
    return info


def _start_segment(base_dir: Path) -> str:
    """The first WAL segment a base backup needs (from pg_basebackup's backup_manifest)."""
    ranges = json.loads((base_dir / "backup_manifest").read_text())["WAL-Ranges"]
    first = min(ranges, key=lambda r: int(r["Timeline"]))
    high, low = (int(part, 16) for part in str(first["Start-LSN"]).split("/"))
    return f"{int(first['Timeline']):08X}{high:08X}{low >> 24:08X}"  # 16 MB segments (the default)


def prune(cluster: Cluster, keep: int) -> dict[str, Any]:
    """Keep the newest ``keep`` base backups, delete older ones and the WAL only they needed."""
    archive = cluster.wal_archive
    if archive is None:
        raise BackupError("no WAL archive: set DIMING_WAL_ARCHIVE")
    if keep < 1:
        raise BackupError("--prune needs at least 1 base backup to keep")
    backups = base_backups(archive)
    old, kept = backups[:-keep], backups[-keep:]
    before = {p.name for p in (archive / "wal").iterdir()}
    for b in old:
        shutil.rmtree(b["dir"])
    if kept:
        cutoff = min(_start_segment(Path(b["dir"])) for b in kept)
        cluster._run([str(cluster.bindir / "pg_archivecleanup"), "-x", ".gz", str(archive / "wal"), cutoff])
    removed = before - {p.name for p in (archive / "wal").iterdir()}
    return {"base_backups_removed": [Path(b["dir"]).name for b in old], "wal_files_removed": len(removed),
            "base_backups_kept": [Path(b["dir"]).name for b in kept]}


def ensure_base_backup(cluster: Cluster) -> None:
    """Called when the cluster starts with archiving: take the first base backup if there is none."""
    if cluster.wal_archive is not None and not base_backups(cluster.wal_archive):
        try:
            base_backup(cluster)
        except BackupError as exc:
            raise EmbeddedDbError(f"archiving is on but the first base backup failed: {exc}") from exc


def _switch_and_wait(cluster: Cluster, archive: Path, timeout_s: float = 60) -> None:
    """Close the current WAL segment of a running archiving cluster and wait until it is archived, so a
    recovery sees the newest edits."""
    if not cluster.running() or _sql(cluster, "postgres", "SHOW archive_mode") != "on":
        return
    segment = _sql(cluster, "postgres", "SELECT pg_walfile_name(pg_switch_wal())")
    archived = archive / "wal" / f"{segment}.gz"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if archived.exists():  # the archive command renames into place only after a complete copy
            return
        time.sleep(0.2)
    raise BackupError(f"WAL segment {segment} was not archived within {timeout_s:.0f} s; see {cluster.log_file}")


def parse_target_time(value: str, zone: str) -> dt.datetime | None:
    """``latest`` (replay everything archived) or a timestamp; without an offset it is in ``zone``."""
    if value.strip().lower() == "latest":
        return None
    from zoneinfo import ZoneInfo

    try:
        moment = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise BackupError(f"--to-time {value!r} is not a time like '2026-12-06 10:00:00+08' or 'latest'") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=ZoneInfo(zone))
    return moment


@dataclass
class PitrResult:
    home: Path
    data_dir: Path
    socket_dir: Path
    base_backup: str
    target: dt.datetime | None
    last_replayed: str
    timeline: int
    databases: dict[str, dict[str, dict[str, Any]]]
    seconds: float
    running: bool

    @property
    def rows(self) -> int:
        return sum(int(t["rows"]) for tables in self.databases.values() for t in tables.values())


def restore_to_time(settings: DatabaseSettings, target: dt.datetime | None, archive: Path | None = None,
                    into: Path | None = None, keep_running: bool = False, timeout_s: float = 300) -> PitrResult:
    """Recover the embedded cluster as of ``target`` (None: all archived WAL) into a new cluster home."""
    started = time.monotonic()
    if target is not None and target > dt.datetime.now(dt.UTC):
        raise BackupError(f"--to-time {target.isoformat(sep=' ')} is in the future; use 'latest' for everything")
    live = _embedded(settings)
    archive = (archive or settings.wal_archive)
    if archive is None:
        raise BackupError("no WAL archive: set DIMING_WAL_ARCHIVE or pass --archive DIR")
    archive = archive.resolve()
    if live.wal_archive is not None and live.wal_archive.resolve() == archive:
        _switch_and_wait(live, archive)
    candidates = base_backups(archive)
    if target is not None:
        candidates = [b for b in candidates if dt.datetime.fromisoformat(str(b["finished_at"])) <= target]
    if not candidates:
        raise BackupError(
            f"no base backup in {archive}/base finished before {target}; the earliest recoverable time is "
            "the end of the first base backup"
        )
    base = candidates[-1]
    base_dir = Path(base["dir"])
    home = (into or settings.home / "pitr" / dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")).resolve()
    if (home / "pgdata").exists():
        raise BackupError(f"{home}/pgdata already exists; choose another --into")
    options: list[tuple[str, str]] = [("restore_command", restore_command(archive))]
    if target is not None:
        options += [("recovery_target_time", target.isoformat(sep=" ")),
                    ("recovery_target_action", "promote"), ("recovery_target_inclusive", "on")]
    restored = Cluster(home=home, bindir=live.bindir, run_as=live.run_as, extra_options=tuple(options))
    for path in (home, home / "log", restored.socket_dir, restored.data_dir):
        path.mkdir(parents=True, exist_ok=True)
        restored._own(path)
        path.chmod(0o700)
    if restored._run(["test", "-w", str(restored.data_dir)], check=False).returncode != 0:
        raise BackupError(f"the server user cannot reach {home}; choose an --into it can enter (not under /root)")
    # Unpack as the server's user (the files must be its own), then check against pg_basebackup's manifest.
    restored._run(["tar", "-xzf", str(base_dir / "base.tar.gz"), "-C", str(restored.data_dir)])
    restored._run(["tar", "-xzf", str(base_dir / "pg_wal.tar.gz"), "-C", str(restored.data_dir / "pg_wal")])
    verify = restored._run([str(live.bindir / "pg_verifybackup"), "-q", "-m", str(base_dir / "backup_manifest"),
                            str(restored.data_dir)], check=False)
    if verify.returncode != 0:
        raise BackupError(f"base backup {base_dir} failed pg_verifybackup:\n{verify.stderr.strip()}")
    restored._run(["touch", str(restored.data_dir / "recovery.signal")])
    try:
        restored.up()
    except EmbeddedDbError as exc:
        if "recovery ended before configured recovery target" in _log_tail(restored, 40):
            raise _target_not_reached(restored, target) from None
        raise BackupError(f"the recovered cluster did not start: {exc}\n{_log_tail(restored)}") from exc
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if _sql(restored, "postgres", "SELECT pg_is_in_recovery()") == "f":
                break
        except BackupError:
            if restored.running():
                raise
            raise _target_not_reached(restored, target) from None
        if time.monotonic() > deadline:
            raise BackupError(f"recovery did not finish within {timeout_s:.0f} s; see {restored.log_file}")
        time.sleep(0.2)
    last = _sql(restored, "postgres", "SELECT coalesce(pg_last_xact_replay_timestamp()::text, '')")
    timeline = int(_sql(restored, "postgres", "SELECT pg_walfile_name(pg_current_wal_lsn())")[:8], 16)
    databases: dict[str, dict[str, dict[str, Any]]] = {}
    for dbname in _sql(restored, "postgres",
                       "SELECT string_agg(datname, ' ' ORDER BY datname) FROM pg_database "
                       "WHERE datallowconn AND datname NOT IN ('postgres', 'template1')").split():
        # Reading every row of every table proves the recovered pages are readable.
        with _engine(restored.url(dbname)) as engine, engine.connect() as conn, conn.begin():
            databases[dbname] = table_checksums(conn)
    if not keep_running:
        restored.down()
    return PitrResult(home=home, data_dir=restored.data_dir, socket_dir=restored.socket_dir,
                      base_backup=base_dir.name, target=target, last_replayed=last, timeline=timeline,
                      databases=databases, seconds=round(time.monotonic() - started, 2), running=keep_running)


def swap_in_cluster(settings: DatabaseSettings, recovered_home: Path) -> dict[str, Any]:
    """Make a recovered cluster (``restore --to-time``) the live one: stop both, move the live data
    directory aside (kept), move the recovered one into place, start it, and when archiving is on archive
    its timeline history and take a fresh base backup, so later recoveries follow the new timeline."""
    live = _embedded(settings)
    recovered = Cluster(home=recovered_home.resolve(), bindir=live.bindir, run_as=live.run_as)
    if not recovered.initialized():
        raise BackupError(f"{recovered.data_dir} is not a recovered cluster (no PG_VERSION)")
    if (recovered.data_dir / "recovery.signal").exists():
        raise BackupError(f"{recovered.data_dir} has not finished recovery (recovery.signal is still there)")
    if live.running():
        others = _sql(live, "postgres", "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                                        "AND pid <> pg_backend_pid()")
        if others != "0":
            raise BackupError(f"{others} connection(s) to the live cluster; stop the service (diming serve) first")
    recovered.down()
    live.down()
    aside = live.home / f"pgdata.before-pitr-{dt.datetime.now(dt.UTC).strftime('%Y%m%dT%H%M%S')}"
    live.data_dir.rename(aside)
    try:
        shutil.move(str(recovered.data_dir), str(live.data_dir))
    except OSError:
        aside.rename(live.data_dir)  # put the old one back rather than leave no cluster at all
        raise
    live.up()
    out: dict[str, Any] = {"previous_data_dir": str(aside), "data_dir": str(live.data_dir), "base_backup": None}
    if live.wal_archive is not None:
        # The history file of the new timeline was written while archiving was off; without it in the archive
        # a later recovery from an older base backup would not find the branch.
        wal = shlex.quote(str(live.wal_archive / "wal"))
        pg_wal = shlex.quote(str(live.data_dir / "pg_wal"))
        live._run(["sh", "-c", f'for h in {pg_wal}/*.history; do [ -e "$h" ] || continue; '
                               f'f={wal}/$(basename "$h").gz; [ -f "$f" ] || gzip -1 -c "$h" > "$f"; done'])
        out["base_backup"] = base_backup(live)["dir"]
    return out


def _target_not_reached(restored: Cluster, target: dt.datetime | None) -> BackupError:
    # PostgreSQL shuts down when the archive ends before the target (no commit archived after it).
    last = [line for line in _log_tail(restored, 40).splitlines() if "last completed transaction" in line]
    return BackupError(
        f"recovery ended before {target}: no commit after that moment is in the archive "
        f"({last[-1].split('LOG:')[-1].strip() if last else 'no transaction replayed'}); choose an earlier "
        f"time or 'latest'. Log: {restored.log_file}"
    )


def _log_tail(cluster: Cluster, lines: int = 15) -> str:
    try:
        return "\n".join(cluster.log_file.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def describe(cluster: Cluster) -> dict[str, Any]:
    """Archive state for ``diming backup --status``: base backups and the archiver's progress."""
    archive = cluster.wal_archive
    out: dict[str, Any] = {"wal_archive": str(archive) if archive else None}
    if archive is None:
        return out
    out["base_backups"] = [{k: b[k] for k in ("dir", "finished_at", "bytes")} for b in base_backups(archive)]
    wal = list((archive / "wal").glob("*.gz"))
    out["archived_files"] = len(wal)
    out["archived_bytes"] = sum(p.stat().st_size for p in wal)
    if cluster.running():
        out["archiver"] = _sql(cluster, "postgres",
                               "SELECT row_to_json(a)::text FROM (SELECT archived_count, last_archived_wal, "
                               "last_archived_time, failed_count, last_failed_wal FROM pg_stat_archiver) a")
    return out
