"""The ``diming`` command line: lazy start-up, help text for every command and option, quiet progress."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from collections.abc import Iterator

from gis_api import cli

HEAVY = ("fastapi", "sqlalchemy", "pypinyin", "pyogrio", "geopandas", "shapely", "gis_api.settings")


def _walk(parser: argparse.ArgumentParser, path: str = "diming") -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from _walk(child, f"{path} {name}")


def test_top_level_help_imports_no_framework() -> None:
    """`diming --help` must not pay for FastAPI, SQLAlchemy, pypinyin or GDAL (it took 2–9 s when it did)."""
    code = ("import sys\nfrom gis_api.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            f"print('LOADED:' + ','.join(m for m in {HEAVY!r} if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "campaign" in done.stdout  # the help was printed …
    assert done.stdout.strip().splitlines()[-1] == "LOADED:"  # … and none of the heavy modules was imported


def test_command_help_imports_only_its_area() -> None:
    code = ("import sys\nfrom gis_api.cli import main\n"
            "try:\n    main(['db', '--help'])\nexcept SystemExit:\n    pass\n"
            "print('LOADED:' + ','.join(m for m in ('gis_api.places.cli', 'gis_api.coverage.cli', 'gis_api.io.cli',"
            " 'pypinyin') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "ACTION" in done.stdout
    assert done.stdout.strip().splitlines()[-1] == "LOADED:"


def test_every_command_and_option_has_help() -> None:
    missing = []
    for path, parser in _walk(cli.build_parser("*")):
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                for choice in action._choices_actions:
                    if not (choice.help or "").strip():
                        missing.append(f"{path} {choice.dest}")
                continue
            if not (action.help or "").strip():
                missing.append(f"{path} {'/'.join(action.option_strings) or action.dest}")
    assert missing == []


def test_stub_help_matches_what_the_area_registers() -> None:
    """The one-line help kept in cli.COMMANDS (so `--help` imports nothing) says what the area itself says."""
    full = cli.build_parser("*")
    sub = next(a for a in full._actions if isinstance(a, argparse._SubParsersAction))
    registered = {c.dest: c.help for c in sub._choices_actions}
    assert set(registered) == set(cli.COMMANDS)
    for name, (text, _) in cli.COMMANDS.items():
        assert registered[name] == text, name


def test_export_help_lists_the_collections() -> None:
    from gis_api.ogc.collections import all_collections

    done = subprocess.run([sys.executable, "-m", "gis_api.cli", "export", "--help"], capture_output=True, text=True,
                          check=True, env={**os.environ, "COLUMNS": "200"})
    for c in all_collections():
        assert c.id in done.stdout, c.id


def test_progress_is_quiet_in_a_pipe_and_drawn_on_request() -> None:
    code = ("from gis_api.progress import phases\n"
            "with phases('work', 2) as p:\n    p.step('one')\n    p.step('two')\nprint('result')")
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={k: v for k, v in os.environ.items() if k != "DIMING_PROGRESS"})
    assert quiet.stdout == "result\n" and quiet.stderr == ""
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "DIMING_PROGRESS": "on"})
    assert shown.stdout == "result\n"
    assert "work: 2/2" in shown.stderr and "two" in shown.stderr


def test_long_commands_tick_on_a_terminal_only() -> None:
    assert cli.long_work(["campaign", "run", "--within", "340122100"]) == "checking every name in force"
    assert cli.long_work(["backup", "/tmp/x.tar"]) == "backing up"
    assert cli.long_work(["campaign", "export", "x.csv"]) is None  # quick: no ticker
    code = ("import time\nfrom gis_api.progress import activity\n"
            "with activity('solving'):\n    time.sleep(1.2)\nprint('result')")
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={k: v for k, v in os.environ.items() if k != "DIMING_PROGRESS"})
    assert quiet.stdout == "result\n" and quiet.stderr == ""
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={**os.environ, "DIMING_PROGRESS": "on"})
    assert shown.stdout == "result\n"
    assert "solving … 00:01" in shown.stderr  # the elapsed time ticked while the work ran
