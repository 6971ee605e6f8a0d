"""The documentation stays true to the code: every error rule has an entry in docs/rules.md, the generated parts
(rules index, configuration reference, package graph) are current, and README's links, paths and commands exist.
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import subprocess
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

import pytest

from gis_api.help.anchors import rule_anchor
from gis_api.help.render import render_text

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "docs" / "rules.md"


def _script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"docs_{name}", ROOT / "scripts" / "docs" / f"{name}.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def rules_index() -> ModuleType:
    return _script("rules_index")


@pytest.fixture(scope="module")
def collected(rules_index: ModuleType) -> dict[str, set[str]]:
    found: dict[str, set[str]] = rules_index.collect()
    return found


def _entries(text: str) -> frozenset[str]:
    """Anchors of the hand-written entries (the generated index at the end is left out: it links, not defines)."""
    head, _, rest = text.partition("<!-- rules-index:begin -->")
    _, _, tail = rest.partition("<!-- rules-index:end -->")
    return render_text(head + tail, rules=True).anchors


def _undocumented(collected: dict[str, set[str]], text: str) -> list[str]:
    anchors = _entries(text)
    return sorted(rule for rule in collected if rule_anchor(rule) not in anchors)


def test_every_rule_an_error_can_carry_has_an_entry(collected: dict[str, set[str]]) -> None:
    assert _undocumented(collected, RULES.read_text(encoding="utf-8")) == []


def test_a_missing_entry_is_caught(collected: dict[str, set[str]]) -> None:
    text = RULES.read_text(encoding="utf-8")
    assert "\n### not_self\n" in text and "| `missing` |" in text
    without = text.replace("\n### not_self\n", "\n### (removed)\n").replace("| `missing` |", "| missing |")
    assert _undocumented(collected, without) == ["missing", "not_self"]


def test_the_collector_finds_every_kind_of_rule(collected: dict[str, set[str]]) -> None:
    assert "gis_api/naming/service.py:_naming_proposal" in collected["§1.5"]  # positional rule parameter
    assert any(p.startswith("gis_api/places/namecheck.py:") for p in collected["N7"])  # dataclass field
    assert "gis_api/when.py:not_after_today" in collected["T1"]  # module-level RULE constant
    assert "gis_api/errors.py:Unavailable.__init__" in collected["database_unavailable"]  # setdefault
    assert "gis_api/ogc/routes.py:_in_crs84" in collected["RFC 7946 §3.1"]  # rule= keyword
    assert "gis_api/limits.py:body_limit" in collected["DIMING_LIMIT_JSON_BODY_BYTES"]  # a limit setting
    assert {"missing", "string_too_long", "int_parsing"} <= set(collected)  # pydantic types of errors.py
    assert "ck_places_name_len" in collected  # a text-length constraint
    assert rule_anchor("ck_places_name_len") == rule_anchor("ck_<table>_<column>_len")


def test_rules_index_is_current(rules_index: ModuleType) -> None:
    assert rules_index.main(["--check"]) == 0, "run: python scripts/docs/rules_index.py --write"


def test_configuration_reference_is_current_and_generated_from_the_settings() -> None:
    from gis_api.limits import LimitSettings

    config = _script("config_reference")
    assert config.main(["--check"]) == 0, "run: python scripts/docs/config_reference.py --write"
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    body = text.split(config.BEGIN)[1].split(config.END)[0]
    default = LimitSettings.model_fields["json_body_bytes"].default
    assert f"| `DIMING_LIMIT_JSON_BODY_BYTES` | int | `{default}` |" in body
    names = {c.__name__ for c in config.settings_classes()}
    assert {"LimitSettings", "AuthSettings", "DatabaseSettings", "OgcSettings", "UiSettings"} <= names
    for cls in config.settings_classes():
        assert f"**{cls.__name__}**" in body


def test_package_graph_is_current() -> None:
    graph = _script("package_graph")
    assert graph.main(["--check"]) == 0, "run: python scripts/docs/package_graph.py --write"
    edges = graph.edges()
    assert "divisions" in edges["places"] and "places" not in edges["divisions"]
    assert "app" not in edges and "cli" not in edges


# -- README ------------------------------------------------------------------------------------------------

README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_readme_links_only_to_files_in_the_repository() -> None:
    links = re.findall(r"\]\(([^)\s]+)\)", README)
    assert links
    for link in links:
        assert not re.match(r"^[a-z]+:", link), link
        assert (ROOT / link.split("#")[0]).exists(), link


def test_readme_paths_exist() -> None:
    tops = ("gis_api/", "docs/", "scripts/", "tests/", "map_ui/", "data/", "migrations/")
    paths = {p for p in re.findall(r"`([^`\s]+)`", README) if p.startswith(tops)}
    assert len(paths) > 20
    for path in sorted(paths):
        clean = path.split("::")[0].rstrip(".,")
        assert "{" in clean or "…" in clean or list(ROOT.glob(clean)), path


def _leaf(parser: argparse.ArgumentParser, words: list[str]) -> argparse.ArgumentParser:
    """Walk the sub-commands named by ``words``; assert each exists."""
    for word in words:
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs or not re.fullmatch(r"[a-z][a-z-]*(\|[a-z][a-z-]*)*", word):
            break
        for choice in word.split("|"):
            assert choice in subs[0].choices, (words, choice)
        parser = subs[0].choices[word.split("|")[0]]
    return parser


def test_readme_commands_exist() -> None:
    from gis_api.cli import build_parser

    parser = build_parser("*")
    lines = re.findall(r"diming ([^`\n#]+)", README)
    assert len(lines) > 15
    for line in lines:
        words = [w for w in line.replace(" | ", "|").split() if w not in ("<", ">")]
        leaf = _leaf(parser, words)
        options = {o for a in leaf._actions for o in a.option_strings}
        for word in words:
            opt = word.strip("[]").split("=")[0]
            if opt.startswith("--"):
                assert opt in options, (line, opt)


def test_readme_says_where_versions_are_pinned() -> None:
    assert "pinned versions from `constraints.txt`" in README
    assert "pinned versions from `pyproject.toml`" not in README


def test_no_reference_to_a_shared_docs_folder() -> None:
    needle = "shared" + "/docs"  # not spelled out: this file would find itself
    out = subprocess.run(["git", "grep", "-n", needle, "--", ".", ":!.venv", ":!map_ui/node_modules"],
                         cwd=ROOT, capture_output=True, text=True)
    untracked = subprocess.run(["grep", "-rln", needle, "README.md", "docs", "gis_api", "scripts"],
                               cwd=ROOT, capture_output=True, text=True)
    assert out.stdout == "" and untracked.stdout == ""


def test_readme_api_paths_are_routes() -> None:
    from gis_api.app import create_app
    from gis_api.settings import load_settings

    def walk(routes: Sequence[object], prefix: str = "") -> list[str]:
        out: list[str] = []
        for r in routes:
            inner = getattr(r, "original_router", None)
            if inner is not None:
                out += walk(inner.routes, prefix + (r.include_context.prefix or ""))  # type: ignore[attr-defined]
            elif getattr(r, "path", None) is not None:
                out.append(prefix + r.path)  # type: ignore[attr-defined]
        return out

    app = create_app(load_settings())  # no connection is made
    patterns = [re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(p)) + "$") for p in walk(app.routes)]
    mentioned = set(re.findall(r"(?<![\w./])(/(?:api/v1|ogc)/[^\s`'\"),;|]*)", README))
    assert len(mentioned) > 30
    for path in sorted(mentioned):
        clean = path.split("?")[0].rstrip(".")
        assert "…" in clean or any(p.match(clean) for p in patterns), path
