"""``DIMING_SEARCH_FALLBACK_BUDGET_MS`` is a setting like the others (gis_api/settings.py): validated, with a message
that names the variable, documented in the configuration reference (tests/unit/test_docs.py keeps it current)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from pydantic import ValidationError

from gis_api.settings import CHECKOUT, SearchSettings, load_settings

VAR = "DIMING_SEARCH_FALLBACK_BUDGET_MS"


@pytest.mark.parametrize("value", ["abc", "-5", "1.5", "2s", " 10 ms", "1e3", "true"])
def test_a_bad_budget_is_refused_naming_the_variable(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(VAR, value)
    with pytest.raises(ValidationError) as err:
        SearchSettings()
    assert VAR in str(err.value) and "0 or more" in str(err.value)
    with pytest.raises(ValidationError):
        load_settings()  # the CLI and the server load it with every other setting


@pytest.mark.parametrize(("value", "ms"), [(None, 0), ("", 0), ("0", 0), (" 250 ", 250)])
def test_the_budget_defaults_to_off(value: str | None, ms: int, monkeypatch: pytest.MonkeyPatch) -> None:
    if value is None:
        monkeypatch.delenv(VAR, raising=False)
    else:
        monkeypatch.setenv(VAR, value)
    assert SearchSettings().fallback_budget_ms == ms
    assert load_settings().search.fallback_budget_ms == ms


def _import_search(value: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, VAR: value}
    code = "from gis_api.places import search; print(search.FALLBACK_BUDGET_MS)"
    return subprocess.run([sys.executable, "-c", code], cwd=CHECKOUT, env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def test_the_search_module_takes_the_validated_setting() -> None:
    """search.py reads it through SearchSettings: a negative value (formerly taken silently as 'off') stops the
    process with the variable's name instead of running with a budget nobody meant."""
    bad = _import_search("-5")
    assert bad.returncode != 0 and VAR in bad.stderr, (bad.returncode, bad.stdout, bad.stderr[-500:])
    good = _import_search("250")
    assert good.returncode == 0 and good.stdout.strip() == "250", good.stderr[-500:]
