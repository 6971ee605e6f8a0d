"""``diming backup`` and ``diming restore`` (see gis_api/backup.py and docs/operations.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gis_api import backup
from gis_api.clock import ClockSettings
from gis_api.embedded_db import EmbeddedDbError
from gis_api.settings import Settings

if TYPE_CHECKING:
    SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    SubParsers = argparse._SubParsersAction


def _mib(n: int) -> str:
    return f"{n / 1048576:.1f} MiB"


def _print_verification(result: backup.Verification) -> None:
    for problem in result.mismatches:
        print(f"MISMATCH {problem}")
    if result.ok:
        print(f"verified: {len(result.tables)} tables, {result.rows} rows — every row count and checksum "
              f"matches the manifest ({result.seconds} s)")
    else:
        print(f"VERIFICATION FAILED: {len(result.mismatches)} problem(s); the restored database "
              f"{result.database!r} was kept for inspection and nothing was swapped in")


def cmd_backup(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.status:
            cluster = backup._embedded(settings.db)
            print(json.dumps(backup.describe(cluster), indent=2, ensure_ascii=False))
            return 0
        if args.prune is not None:
            out = backup.prune(backup._embedded(settings.db), args.prune)
            print(f"kept base backups {', '.join(out['base_backups_kept']) or '-'}; removed "
                  f"{len(out['base_backups_removed'])} older ones and {out['wal_files_removed']} WAL files "
                  "only they needed")
            return 0
        if args.base:
            cluster = backup._embedded(settings.db)
            cluster.up()
            info = backup.base_backup(cluster)
            print(f"base backup {info['dir']}: {_mib(int(info['bytes']))}, finished {info['finished_at']}")
            return 0
        if args.file is None:
            print("error: give a FILE (or --base / --status)", file=sys.stderr)
            return 2
        manifest = backup.create_backup(settings.db, Path(args.file))
        print(f"backup {args.file}: database {manifest['database']}, {len(manifest['tables'])} tables, "
              f"{manifest['total_rows']} rows, {_mib(manifest['file_bytes'])}, {manifest['seconds']} s "
              f"(alembic {', '.join(manifest['alembic_revisions']) or '-'}, PostgreSQL "
              f"{manifest['server_version']}, PostGIS {manifest['postgis_version']})")
        return 0
    except (backup.BackupError, EmbeddedDbError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def cmd_restore(settings: Settings, args: argparse.Namespace) -> int:
    try:
        if args.swap_in is not None:
            out = backup.swap_in_cluster(settings.db, Path(args.swap_in))
            print(f"swapped in: {out['data_dir']} now holds the recovered cluster; the previous data directory "
                  f"is kept in {out['previous_data_dir']} (remove it when you no longer need it)")
            if out["base_backup"]:
                print(f"new base backup for the new timeline: {out['base_backup']}")
            return 0
        if args.to_time is not None:
            if args.file or args.into_db or args.replace or args.check:
                print("error: --to-time restores the whole cluster; it takes no FILE, --into, --replace "
                      "or --check", file=sys.stderr)
                return 2
            return _point_in_time(settings, args)
        if args.file is None:
            print("error: give a backup FILE or --to-time", file=sys.stderr)
            return 2
        path = Path(args.file)
        if args.check:
            result = backup.check_backup(settings.db, path)
            _print_verification(result)
            print("(scratch database dropped)")
            return 0 if result.ok else 1
        manifest = backup.read_manifest(path)
        print(f"restoring {path} (taken {manifest['created_at']} from {manifest['database']}: "
              f"{len(manifest['tables'])} tables, {manifest['total_rows']} rows)")
        result = backup.restore_backup(settings.db, path, into=args.into_db, replace=args.replace,
                                       no_owner=args.no_owner, jobs=args.jobs)
        _print_verification(result)
        if result.ok:
            if result.replaced:
                print(f"swapped in: the restore is now {manifest['database']!r}; the previous database was "
                      f"renamed {result.replaced!r} (drop it when you no longer need it)")
            else:
                print(f"restored into database {result.database!r}; the live database was not touched")
        return 0 if result.ok else 1
    except (backup.BackupError, EmbeddedDbError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


def _point_in_time(settings: Settings, args: argparse.Namespace) -> int:
    target = backup.parse_target_time(args.to_time, ClockSettings().timezone)
    result = backup.restore_to_time(settings.db, target, archive=Path(args.archive) if args.archive else None,
                                    into=Path(args.into_dir) if args.into_dir else None,
                                    keep_running=args.keep_running)
    print(f"recovered to {target.isoformat(sep=' ') if target else 'the end of the archive'} from base backup "
          f"{result.base_backup}: last transaction replayed {result.last_replayed or '(none after the backup)'}, "
          f"timeline {result.timeline}, {result.seconds} s")
    for dbname, tables in result.databases.items():
        rows = sum(int(t["rows"]) for t in tables.values())
        print(f"  database {dbname}: {len(tables)} tables, {rows} rows, all readable")
    state = "running" if result.running else "stopped"
    print(f"the recovered cluster is {state}: home {result.home} (socket {result.socket_dir})")
    print(f"  inspect:  DIMING_HOME={result.home} DIMING_WAL_ARCHIVE= diming db up && "
          f"DIMING_HOME={result.home} diming db psql")
    print(f"  swap in:  stop the service, then: diming restore --swap-in {result.home}")
    return 0


def register(sub: SubParsers) -> None:
    p = sub.add_parser("backup", help="verified logical backup (FILE), or a base backup for point-in-time recovery")
    p.add_argument("file", nargs="?", help="backup file to write (a tar: database.dump + manifest.json)")
    p.add_argument("--base", action="store_true",
                   help="take a base backup into DIMING_WAL_ARCHIVE/base (embedded cluster, archiving on)")
    p.add_argument("--status", action="store_true", help="show the WAL archive: base backups, archiver progress")
    p.add_argument("--prune", type=int, metavar="N",
                   help="keep the newest N base backups; delete older ones and the WAL only they needed")
    p.set_defaults(handler=cmd_backup)

    p = sub.add_parser("restore", help="restore a backup FILE into a new database and verify it, "
                                       "or recover the embedded cluster to a point in time")
    p.add_argument("file", nargs="?", help="backup file written by 'diming backup'")
    p.add_argument("--into", dest="into_db", metavar="NAME",
                   help="name of the new database (default <db>_restored_<time>)")
    p.add_argument("--replace", action="store_true",
                   help="after verification, rename the live database aside and the restore into its place "
                        "(the service must be stopped)")
    p.add_argument("--check", action="store_true", help="restore into a scratch database, verify, drop it")
    p.add_argument("--no-owner", action="store_true", help="do not restore object owners (another server)")
    p.add_argument("--jobs", type=int, default=2, help="parallel pg_restore jobs (default 2)")
    p.add_argument("--to-time", metavar="TIME", help="point-in-time recovery of the embedded cluster: a time such as "
                                     "'2026-12-06 10:00:00+08' (no offset = DIMING_TIMEZONE) or 'latest'")
    p.add_argument("--archive", metavar="DIR", help="WAL archive directory (default DIMING_WAL_ARCHIVE)")
    p.add_argument("--into-dir", metavar="DIR",
                   help="home of the recovered cluster (default <DIMING_HOME>/pitr/<time>)")
    p.add_argument("--keep-running", action="store_true", help="leave the recovered cluster running")
    p.add_argument("--swap-in", metavar="HOME",
                   help="make a recovered cluster (printed by --to-time) the live one; the service must be stopped")
    p.set_defaults(handler=cmd_restore)

