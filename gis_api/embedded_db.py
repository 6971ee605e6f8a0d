"""The embedded PostgreSQL + PostGIS cluster a checkout runs when no ``DIMING_DATABASE_URL`` is set.

- Made with the system's ``initdb``/``pg_ctl``; listens on a Unix socket only (``listen_addresses=''``)
  in a directory of its own, so two checkouts on one machine never collide.
- PostgreSQL refuses to run as root: when invoked as root the server runs as the unprivileged
  ``postgres`` user (created by the Debian package) from a directory it can reach (see
  ``settings.default_home``); root itself may still connect through the socket.
- Authentication is ``trust`` on that socket; access is limited by the socket directory's mode (0700),
  so only the owner of the cluster (and root) can connect.
- With ``DIMING_WAL_ARCHIVE=dir`` the server also archives every WAL segment (gzipped) to ``dir/wal`` and
  keeps base backups in ``dir/base`` (see ``gis_api.backup``); the settings are passed on the server's
  command line, so nothing in the data directory changes and unsetting the variable turns archiving off.
"""

from __future__ import annotations

import glob
import hashlib
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from gis_api.settings import DatabaseSettings

SUPERUSER = "diming"
DB_NAME_RE = re.compile(r"[a-z_][a-z0-9_]{0,62}")  # a database name that needs no quoting anywhere
REPLICA_NAME_RE = re.compile(r"[a-z0-9_]{1,20}")  # also part of its replication slot's name
# Applied to the whole cluster and again per database (see ``tune_database``): small PostGIS queries
# run 2-10x faster here without JIT compilation and parallel workers.
SERVER_CONF = {
    "listen_addresses": "''",
    "unix_socket_permissions": "0700",
    "jit": "off",
    "max_parallel_workers_per_gather": "0",
    "shared_buffers": "256MB",
    "work_mem": "32MB",
    "maintenance_work_mem": "256MB",
    "max_connections": "100",
    "synchronous_commit": "off",
    "logging_collector": "off",
    "timezone": "'UTC'",
}


class EmbeddedDbError(RuntimeError):
    """The embedded cluster could not be set up or reached; the message says what to do."""


def archive_options(archive: Path, timeout_s: int) -> dict[str, str]:
    """Server settings for continuous WAL archiving into ``archive/wal``.

    The command never overwrites an archived segment (it succeeds only if the copy is identical, as the
    PostgreSQL manual asks), writes to a temporary name, fsyncs, then renames, so a crash never leaves a
    truncated segment under a final name.
    """
    if any(ch in str(archive) for ch in "%'\n"):
        raise EmbeddedDbError(f"DIMING_WAL_ARCHIVE must not contain %, quotes or newlines: {archive}")
    wal = shlex.quote(str(archive / "wal"))
    command = (
        f'f={wal}/%f.gz; if [ -f "$f" ]; then gzip -dc "$f" | cmp -s - %p; '
        f'else gzip -1 -c %p > "$f.tmp" && sync "$f.tmp" && mv "$f.tmp" "$f"; fi'
    )
    return {
        "archive_mode": "on",
        "archive_command": command,
        # An idle county office still gets its last edits archived within this many seconds.
        "archive_timeout": str(timeout_s),
        # New segments are zero-filled instead of recycled, so a segment cut short by archive_timeout
        # gzips to a few kB instead of 16 MB.
        "wal_recycle": "off",
    }


def restore_command(archive: Path) -> str:
    wal = shlex.quote(str(archive / "wal"))
    return f'f={wal}/%f.gz; test -f "$f" && gzip -dc "$f" > %p'


def find_bindir(explicit: Path | None = None) -> Path:
    if explicit:
        return explicit
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(p.split("/")[4]), reverse=True
    )
    if candidates:
        return Path(candidates[0]).parent
    which = shutil.which("pg_ctl")
    if which:
        return Path(which).parent
    raise EmbeddedDbError(
        "PostgreSQL server binaries not found (initdb/pg_ctl). On Debian/Ubuntu install: "
        "apt-get install postgresql-15 postgresql-15-postgis-3 postgresql-15-pgrouting"
    )


@dataclass(frozen=True)
class Cluster:
    home: Path
    bindir: Path
    run_as: str | None  # OS user the server runs as when we are root; None = ourselves
    wal_archive: Path | None = None  # DIMING_WAL_ARCHIVE: archive WAL there (None = no archiving)
    archive_timeout_s: int = 60
    # More ``-c name=value`` server settings (a point-in-time recovery passes its recovery target here).
    extra_options: tuple[tuple[str, str], ...] = ()

    @classmethod
    def from_settings(cls, settings: DatabaseSettings) -> Cluster:
        run_as = None
        if os.geteuid() == 0:
            try:
                pwd.getpwnam("postgres")
            except KeyError as exc:
                raise EmbeddedDbError(
                    "running as root needs the unprivileged 'postgres' user (from the postgresql package)"
                ) from exc
            run_as = "postgres"
        return cls(home=settings.home, bindir=find_bindir(settings.pg_bindir), run_as=run_as,
                   wal_archive=settings.wal_archive, archive_timeout_s=settings.wal_archive_timeout_s)

    @property
    def data_dir(self) -> Path:
        return self.home / "pgdata"

    @property
    def socket_dir(self) -> Path:
        # Unix socket paths are limited to ~107 bytes; fall back to a short per-user path.
        candidate = self.home / "run"
        if len(str(candidate)) + len("/.s.PGSQL.5432") < 100:
            return candidate
        digest = hashlib.sha1(str(self.home).encode()).hexdigest()[:10]
        return Path("/tmp") / f"diming-{os.geteuid()}-{digest}"

    @property
    def log_file(self) -> Path:
        return self.home / "log" / "postgresql.log"

    def server_options(self) -> dict[str, str]:
        """Settings given on the server's command line at start (they override the config files)."""
        # The socket follows the home directory, so a restored copy of a data directory (whose config
        # names the original socket) starts on its own socket and can later be moved into place.
        options = {"unix_socket_directories": str(self.socket_dir)}
        if self.wal_archive is not None:
            options.update(archive_options(self.wal_archive, self.archive_timeout_s))
        options.update(dict(self.extra_options))
        return options

    def url(self, dbname: str) -> str:
        return f"postgresql+psycopg2://{SUPERUSER}@/{quote(dbname)}?host={quote(str(self.socket_dir))}"

    def libpq_args(self, dbname: str) -> list[str]:
        return ["-h", str(self.socket_dir), "-U", SUPERUSER, "-d", dbname]

    # -- process helpers -------------------------------------------------------------------------
    def _cmd(self, args: list[str]) -> list[str]:
        if self.run_as:
            return ["runuser", "-u", self.run_as, "--", *args]
        return args

    def _run(self, args: list[str], check: bool = True) -> subprocess.CompletedProcess[str]:
        proc = subprocess.run(
            self._cmd(args), capture_output=True, text=True, cwd=str(self.home), check=False
        )
        if check and proc.returncode != 0:
            raise EmbeddedDbError(f"{' '.join(args[:2])} failed:\n{proc.stdout}\n{proc.stderr}")
        return proc

    def _own(self, path: Path) -> None:
        if self.run_as:
            entry = pwd.getpwnam(self.run_as)
            os.chown(path, entry.pw_uid, entry.pw_gid)

    # -- lifecycle -------------------------------------------------------------------------------
    def initialized(self) -> bool:
        return (self.data_dir / "PG_VERSION").exists()

    def running(self) -> bool:
        if not self.initialized():
            return False
        return self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "status"], False).returncode == 0

    def init(self) -> None:
        for path in (self.home, self.home / "log", self.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o700)
            self._own(path)
        if self.initialized():
            return
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D", str(self.data_dir),
                "-U", SUPERUSER,
                "--auth=trust",
                "-E", "UTF8",
                "--locale=C.UTF-8",
            ]
        )
        conf = "\n".join(f"{k} = {v}" for k, v in SERVER_CONF.items())
        conf += f"\nunix_socket_directories = '{self.socket_dir}'\n"
        auto = self.data_dir / "postgresql.auto.conf"
        self._run(["sh", "-c", f"cat >> '{auto}' <<'EOF'\n# Diming embedded cluster\n{conf}EOF"])

    def up(self) -> None:
        self.init()
        for path in (self.socket_dir, self.home / "log"):
            path.mkdir(parents=True, exist_ok=True)
            self._own(path)
        if self.wal_archive is not None:
            self._prepare_archive(self.wal_archive)
        if self.running():
            if self.wal_archive is not None:
                self._warn_if_not_archiving()
            return
        options = " ".join(f"-c {shlex.quote(f'{k}={v}')}" for k, v in self.server_options().items())
        self._run(
            [str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-l", str(self.log_file), "-w", "-t", "60",
             "-o", options, "start"]
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            ready = subprocess.run(
                [str(self.bindir / "pg_isready"), "-h", str(self.socket_dir), "-U", SUPERUSER, "-q"],
                check=False,
            )
            if ready.returncode == 0:
                if self.wal_archive is not None:
                    from gis_api.backup import ensure_base_backup

                    ensure_base_backup(self)  # archived WAL is useless without a base backup to replay it on
                return
            if ready.returncode == 2 and not self.running():
                break  # the server exited (a failed recovery, say): no point in waiting longer
            time.sleep(0.2)
        raise EmbeddedDbError(f"server did not become ready; see {self.log_file}")

    def _prepare_archive(self, archive: Path) -> None:
        """Create the archive directories, owned by the server's user, and check that it can write them."""
        for path in (archive, archive / "wal", archive / "base"):
            path.mkdir(parents=True, exist_ok=True)
            self._own(path)
        archive.chmod(0o700)
        probe = self._run(["test", "-w", str(archive / "wal"), "-a", "-w", str(archive / "base")], check=False)
        if probe.returncode != 0:
            raise EmbeddedDbError(
                f"the server user {self.run_as or 'running the cluster'} cannot write {archive}/wal; choose a "
                "DIMING_WAL_ARCHIVE it can reach (not under /root, whose mode keeps other users out)"
            )

    def _warn_if_not_archiving(self) -> None:
        psql = [str(self.bindir / "psql"), *self.libpq_args("postgres"), "-tAqc", "SHOW archive_mode"]
        mode = subprocess.run(psql, capture_output=True, text=True, check=False).stdout.strip()
        if mode != "on":
            print(
                "warning: DIMING_WAL_ARCHIVE is set but the running cluster does not archive WAL; restart it "
                "(diming db down && diming db up) when the service can stop",
                file=sys.stderr,
            )

    def down(self) -> None:
        if self.running():
            self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", "fast", "-w", "stop"])

    def ensure_database(self, dbname: str) -> None:
        if not DB_NAME_RE.fullmatch(dbname):
            raise EmbeddedDbError(f"invalid database name {dbname!r}")
        psql = [str(self.bindir / "psql"), *self.libpq_args("postgres"), "-tAq", "-v", "ON_ERROR_STOP=1"]
        exists = subprocess.run(
            [*psql, "-c", f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()
        if exists != "1":
            subprocess.run([*psql, "-c", f'CREATE DATABASE "{dbname}"'], check=True, capture_output=True)

    # -- local streaming replicas (``diming db replica …``) --------------------------------------------------
    @property
    def replicas_dir(self) -> Path:
        return self.home / "replicas"

    def replica(self, name: str) -> Cluster:
        """The local replica ``name``: a cluster of its own under ``replicas/name`` (data, socket, log)."""
        if not REPLICA_NAME_RE.fullmatch(name):
            raise EmbeddedDbError(f"invalid replica name {name!r} (lower-case letters, digits, _; at most 20)")
        return Cluster(home=self.replicas_dir / name, bindir=self.bindir, run_as=self.run_as)

    def replica_names(self) -> list[str]:
        if not self.replicas_dir.is_dir():
            return []
        return sorted(p.name for p in self.replicas_dir.iterdir()
                      if REPLICA_NAME_RE.fullmatch(p.name) and (p / "pgdata" / "PG_VERSION").exists())

    def sql(self, statement: str, dbname: str = "postgres") -> str:
        """One statement through psql on the socket; its result rows as unaligned text."""
        psql = [str(self.bindir / "psql"), *self.libpq_args(dbname), "-tAq", "-v", "ON_ERROR_STOP=1",
                "-c", statement]
        proc = subprocess.run(psql, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise EmbeddedDbError(f"{statement[:60]} failed on {self.socket_dir}:\n{proc.stderr}")
        return proc.stdout.strip()

    def allow_replication(self) -> None:
        """The primary accepts streaming replication over its socket: WAL for standbys (wal_level replica,
        the default), WAL senders, and a pg_hba rule for replication connections (initdb writes one; it is
        added back when missing)."""
        if self.sql("SHOW wal_level") == "minimal" or int(self.sql("SHOW max_wal_senders")) < 1:
            raise EmbeddedDbError("the cluster runs with wal_level=minimal or max_wal_senders=0; set "
                                  "wal_level=replica and max_wal_senders=10 and restart it (diming db down/up)")
        rules = self.sql("SELECT count(*) FROM pg_hba_file_rules WHERE type = 'local' AND error IS NULL "
                         "AND 'replication' = ANY(database)")
        if rules == "0":
            hba = self.data_dir / "pg_hba.conf"
            self._run(["sh", "-c", f"echo 'local replication all trust' >> {shlex.quote(str(hba))}"])
            self.sql("SELECT pg_reload_conf()")

    def add_replica(self, name: str | None = None) -> Cluster:
        """A hot standby of this cluster, made with pg_basebackup (-R: it streams from this cluster through a
        replication slot of its own, so the primary keeps the WAL it has not yet received), and started."""
        if not self.running():
            raise EmbeddedDbError("the cluster is not running; start it first (diming db up)")
        existing = self.replica_names()
        name = name or next(f"r{i}" for i in range(1, 1000) if f"r{i}" not in existing)
        replica = self.replica(name)
        if replica.initialized() or replica.home.exists():
            raise EmbeddedDbError(f"replica {name} already exists ({replica.home}); remove it first")
        self.allow_replication()
        for path in (self.replicas_dir, replica.home, replica.home / "log", replica.socket_dir):
            path.mkdir(parents=True, exist_ok=True)
            path.chmod(0o700)
            self._own(path)
        slot = f"diming_{name}"
        conninfo = f"host={self.socket_dir} user={SUPERUSER} application_name={slot}"
        try:
            self._run([str(self.bindir / "pg_basebackup"), "-d", conninfo, "-D", str(replica.data_dir),
                       "-R", "-X", "stream", "-C", "-S", slot, "-c", "fast"])
            # Long reads on the replica are not cancelled by the primary's VACUUM (at the cost of some bloat).
            auto = replica.data_dir / "postgresql.auto.conf"
            self._run(["sh", "-c", f"echo 'hot_standby_feedback = on' >> {shlex.quote(str(auto))}"])
            replica.up()
        except BaseException:
            self.remove_replica(name)
            raise
        return replica

    def remove_replica(self, name: str) -> None:
        """Stop the replica, drop its replication slot (else the primary keeps WAL for it forever), delete it."""
        replica = self.replica(name)
        replica.down()
        if self.running():
            self.sql(f"SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                     f"WHERE slot_name = 'diming_{name}'")
        shutil.rmtree(replica.home, ignore_errors=True)

    def replica_status(self, name: str, dbname: str) -> dict[str, str | bool]:
        replica = self.replica(name)
        status: dict[str, str | bool] = {"name": name, "running": replica.running(), "url": replica.url(dbname),
                                         "data_dir": str(replica.data_dir)}
        if self.running():
            status["streaming"] = self.sql(
                "SELECT coalesce(max(state || ', replay lag ' || coalesce(replay_lag::text, '0')), 'no') "
                f"FROM pg_stat_replication WHERE application_name = 'diming_{name}'")
        if status["running"]:
            status["replay_lsn"] = replica.sql("SELECT pg_last_wal_replay_lsn()")
        return status

    def status(self) -> dict[str, str | bool]:
        return {
            "initialized": self.initialized(),
            "running": self.running(),
            "data_dir": str(self.data_dir),
            "socket_dir": str(self.socket_dir),
            "log_file": str(self.log_file),
            "server_user": self.run_as or pwd.getpwuid(os.geteuid()).pw_name,
            "bindir": str(self.bindir),
            "wal_archive": str(self.wal_archive) if self.wal_archive else "off",
        }
