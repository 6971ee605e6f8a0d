"""Set-up is idempotent: migrate and load-demo twice change nothing; the embedded cluster is per checkout."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from gis_api.cli import main
from gis_api.embedded_db import Cluster, find_bindir
from gis_api.settings import DatabaseSettings, Settings


def _counts(url: str) -> tuple[int, int, int]:
    eng = create_engine(url)
    with eng.connect() as conn:
        row = conn.execute(text(
            "SELECT (SELECT count(*) FROM divisions), (SELECT count(*) FROM audit_log), "
            "(SELECT count(*) FROM users)")).one()
    eng.dispose()
    return int(row[0]), int(row[1]), int(row[2])


def test_migrate_and_load_demo_are_idempotent(settings: Settings, engine: object, tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    url = settings.db.database_url or ""
    monkeypatch.setenv("DIMING_DATABASE_URL", url)
    monkeypatch.setenv("DIMING_HOME", str(tmp_path))
    before = _counts(url)
    assert main(["migrate"]) == 0
    assert main(["load-demo"]) == 0
    out = capsys.readouterr().out
    assert "created nothing new" in out
    assert "already present 285" in out
    after = _counts(url)
    # The first migrate on this database creates the admin (one user, one audit-free row); nothing else moves.
    assert after[0] == before[0] and after[1] == before[1]
    creds = tmp_path / "admin-credentials"
    if after[2] > before[2]:
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        assert "password=" in creds.read_text()
    assert main(["migrate"]) == 0
    assert _counts(url) == after  # no second admin


def _scratch_home() -> Path:
    # As root the server runs as 'postgres', which cannot enter pytest's private tmp dirs.
    base = Path("/var/lib/diming") if os.geteuid() == 0 else Path.home() / ".cache" / "diming-tests"
    home = base / f"test-{uuid.uuid4().hex[:8]}"
    return home


def test_two_embedded_clusters_do_not_collide() -> None:
    homes = [_scratch_home(), _scratch_home()]
    clusters = [Cluster.from_settings(DatabaseSettings(home=h)) for h in homes]
    try:
        for c in clusters:
            c.up()
            c.up()  # idempotent
            c.ensure_database("diming")
        assert clusters[0].socket_dir != clusters[1].socket_dir
        psql = str(find_bindir() / "psql")
        for i, c in enumerate(clusters):
            subprocess.run([psql, *c.libpq_args("diming"), "-c", f"CREATE TABLE mark{i} ()"], check=True,
                           capture_output=True)
        for i, c in enumerate(clusters):
            out = subprocess.run([psql, *c.libpq_args("diming"), "-tAc",
                                  "SELECT string_agg(relname, ',') FROM pg_class WHERE relname LIKE 'mark%'"],
                                 check=True, capture_output=True, text=True).stdout.strip()
            assert out == f"mark{i}"
            status = c.status()
            assert status["running"] is True and status["data_dir"] == str(c.data_dir)
            if os.geteuid() == 0:
                assert status["server_user"] == "postgres"
            settings_out = subprocess.run([psql, *c.libpq_args("diming"), "-tAc", "SHOW listen_addresses"],
                                          check=True, capture_output=True, text=True).stdout.strip()
            assert settings_out == ""  # Unix socket only
    finally:
        for c in clusters:
            c.down()
        for h in homes:
            shutil.rmtree(h, ignore_errors=True)
    assert not any(c.running() for c in clusters)


def test_user_add_reads_password_from_stdin(settings: Settings, engine: object, tmp_path: Path) -> None:
    env = {**os.environ, "DIMING_DATABASE_URL": settings.db.database_url or "", "DIMING_HOME": str(tmp_path)}
    name = f"cli_{uuid.uuid4().hex[:6]}"
    diming = str(Path(sys.executable).parent / "diming")
    r = subprocess.run([diming, "user", "add", name, "--role", "patrol"], input="a long password\n",
                       capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 0, r.stderr
    r = subprocess.run([diming, "user", "add", name, "--role", "patrol"], input="a long password\n",
                       capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 2 and "already exists" in r.stderr
    r = subprocess.run([diming, "user", "add", "x" + name, "--role", "patrol"], input="short\n",
                       capture_output=True, text=True, env=env, check=False)
    assert r.returncode == 2 and '"field": "password"' in r.stderr
    eng = create_engine(settings.db.database_url or "")
    with eng.begin() as conn:
        roles = conn.execute(text("SELECT roles FROM users WHERE username = :n"), {"n": name}).scalar_one()
        conn.execute(text("DELETE FROM users WHERE username = :n"), {"n": name})
    eng.dispose()
    assert roles == ["patrol"]
